//! Golden transcripts (`tests/transcripts/*.txt`) driven through the
//! Session, each re-run with its input split at every byte boundary, one
//! byte at a time and in random chunks: all runs must produce identical
//! output (DESIGN.md §5).
//!
//! Format, one item per line:
//! * `# …` comment; `! key value` configuration (before the first exchange);
//! * `C: text` client line (CRLF appended); `C~ text` raw client bytes with
//!   escapes `\r \n \t \\ \xHH` and no CRLF appended;
//! * `S: text` expected server line (CRLF appended);
//! * `-- tls` the client completes STARTTLS here (a segment boundary: input
//!   is never split across it);
//! * `-- closed` the session must have closed by the end;
//! * `M~ text` the body of the next stored message (escapes as `C~`);
//! * `E: text` an event whose `Debug` form is exactly `text` must occur.
//!
//! Options: `profile`, `plaintext-auth`, `require-tls`, `auth`,
//! `max-message-size`, `max-recipients`, `bare-line-endings`, `mechanisms`,
//! and for the implicit-TLS connection `client-certificate IDENTITY` and
//! `tls-exporter HEX` (channel binding).

// The transcripts list SCRAM in EHLO: they describe the default build.
#![cfg(feature = "scram")]

mod common;

use std::path::Path;

use common::{config, Driver};
use smtp_auth::{BareLineEndings, Profile};

#[derive(Debug, Default)]
struct Segment {
    input: Vec<u8>,
    expected: Vec<u8>,
    then_tls: bool,
}

#[derive(Debug, Default)]
struct Golden {
    name: String,
    options: Vec<(String, String)>,
    segments: Vec<Segment>,
    messages: Vec<Vec<u8>>,
    events: Vec<String>,
    closed: bool,
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn load(path: &Path) -> Golden {
    let text = std::fs::read_to_string(path).unwrap();
    let mut g = Golden {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        ..Golden::default()
    };
    let mut seg = Segment::default();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (tag, rest) = line.split_at(line.len().min(3));
        match tag {
            "C: " => {
                seg.input.extend_from_slice(rest.as_bytes());
                seg.input.extend_from_slice(b"\r\n");
            }
            "C~ " => seg.input.extend_from_slice(&unescape(rest)),
            "S: " => {
                seg.expected.extend_from_slice(rest.as_bytes());
                seg.expected.extend_from_slice(b"\r\n");
            }
            "M~ " => g.messages.push(unescape(rest)),
            "E: " => g.events.push(rest.to_owned()),
            _ if line == "-- tls" => {
                seg.then_tls = true;
                g.segments.push(std::mem::take(&mut seg));
            }
            _ if line == "-- closed" => g.closed = true,
            _ if line.starts_with("! ") => {
                let mut parts = line[2..].splitn(2, ' ');
                let key = parts.next().unwrap().to_owned();
                let value = parts.next().unwrap_or("").to_owned();
                g.options.push((key, value));
            }
            _ => panic!("{}:{n}: cannot read {line:?}", g.name),
        }
    }
    g.segments.push(seg);
    g
}

fn driver(g: &Golden) -> Driver {
    let mut b = config();
    let mut implicit = false;
    let mut tls = common::tls_info();
    for (k, v) in &g.options {
        b = match (k.as_str(), v.as_str()) {
            ("profile", "submission") => b.profile(Profile::Submission),
            ("profile", "relay") => b.profile(Profile::Relay),
            ("profile", "implicit-tls") => {
                implicit = true;
                b.profile(Profile::ImplicitTls)
            }
            ("plaintext-auth", "on") => b.allow_plaintext_auth(true),
            ("require-tls", "on") => b.require_tls(true),
            ("auth", "on") => b.auth_enabled(true),
            ("max-message-size", n) => b.max_message_size(n.parse().unwrap()),
            ("max-recipients", n) => b.max_recipients(n.parse().unwrap()),
            ("bare-line-endings", "pass") => b.bare_line_endings(BareLineEndings::Pass),
            ("mechanisms", list) => b.mechanisms(list.split(' ').map(|m| m.parse().unwrap())),
            // Facts of the implicit-TLS connection.
            ("client-certificate", identity) => {
                tls = tls.with_client_certificate(identity);
                b
            }
            ("tls-exporter", hex) => {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                tls = tls.with_tls_exporter(bytes);
                b
            }
            other => panic!("{}: unknown option {other:?}", g.name),
        };
    }
    Driver::submission(b.build(), implicit.then_some(tls))
}

/// What one run produced, per segment, for comparison across splits.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    sent: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    events: Vec<String>,
    closed: bool,
}

fn run(g: &Golden, split: &mut dyn FnMut(usize, usize) -> Vec<usize>) -> Run {
    let mut d = driver(g);
    let mut sent = Vec::new();
    for (i, seg) in g.segments.iter().enumerate() {
        let mut cuts = split(i, seg.input.len());
        cuts.retain(|&c| c > 0 && c < seg.input.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut start = 0;
        for c in cuts.into_iter().chain(std::iter::once(seg.input.len())) {
            d.feed(&seg.input[start..c]);
            start = c;
        }
        sent.push(std::mem::take(&mut d.out.sent));
        if seg.then_tls {
            assert_eq!(
                d.out.starttls, 1,
                "{}: STARTTLS expected before -- tls",
                g.name
            );
            d.out.starttls = 0;
            d.tls();
        }
    }
    Run {
        sent,
        messages: d.out.messages.clone(),
        events: d.out.events.iter().map(|e| format!("{e:?}")).collect(),
        closed: d.out.closed,
    }
}

fn check(path: &Path) {
    let g = load(path);
    let whole = run(&g, &mut |_, _| Vec::new());
    for (i, (seg, got)) in g.segments.iter().zip(&whole.sent).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&seg.expected),
            "{}: segment {i} replies",
            g.name
        );
    }
    assert_eq!(
        whole.messages.len(),
        g.messages.len(),
        "{}: message count",
        g.name
    );
    for (got, want) in whole.messages.iter().zip(&g.messages) {
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(want),
            "{}: message body",
            g.name
        );
    }
    for e in &g.events {
        assert!(
            whole.events.contains(e),
            "{}: missing event {e}\nhave: {:#?}",
            g.name,
            whole.events
        );
    }
    assert_eq!(whole.closed, g.closed, "{}: closed", g.name);

    // Every single split point, in every segment.
    for (i, seg) in g.segments.iter().enumerate() {
        for cut in 1..seg.input.len() {
            let r = run(&g, &mut |s, _| if s == i { vec![cut] } else { Vec::new() });
            assert_eq!(r, whole, "{}: segment {i} split at byte {cut}", g.name);
        }
    }
    // One byte at a time.
    let r = run(&g, &mut |_, len| (1..len).collect());
    assert_eq!(r, whole, "{}: byte at a time", g.name);
    // Random chunks (xorshift, fixed seeds).
    for seed in 1..=8u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let r = run(&g, &mut |_, len| {
            let mut cuts = Vec::new();
            let mut at = 0;
            while at < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                at += 1 + (x % 97) as usize;
                cuts.push(at);
            }
            cuts
        });
        assert_eq!(r, whole, "{}: random chunks seed {seed}", g.name);
    }
}

#[test]
fn golden_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "expected the transcript suite in {dir:?}"
    );
    for p in &paths {
        check(p);
    }
}
