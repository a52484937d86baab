//! Writes seed corpora for every target into `fuzz/corpus/<target>/` from
//! the golden transcripts in `tests/transcripts/` (client bytes, command
//! lines, AUTH payloads, server replies) and from complete SASL exchanges.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --example seed`.
//! Every seed is decoded again the way its target reads it, so a change to
//! an input type cannot silently turn the seeds into noise.

use std::fs;
use std::path::{Path, PathBuf};

use fuzz_support::sasl::SaslInput;
use fuzz_support::session::{ChunksInput, SessionInput};

/// The `u32` that `arbitrary`'s derived enums read as variant `i` of `n`.
fn variant(i: u32, n: u32) -> [u8; 4] {
    let v = ((u64::from(i) << 32).div_ceil(u64::from(n))) as u32;
    v.to_le_bytes()
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
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

struct Golden {
    name: String,
    /// Client bytes per segment (split at `-- tls`).
    segments: Vec<Vec<u8>>,
    replies: Vec<u8>,
    lines: Vec<Vec<u8>>,
    profile: u32,
    flags: u8,
}

fn load(path: &Path) -> Golden {
    let text = fs::read_to_string(path).expect("readable transcript");
    let mut g = Golden {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        segments: vec![Vec::new()],
        replies: Vec::new(),
        lines: Vec::new(),
        profile: 0,
        flags: 0,
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("C: ") {
            let seg = g.segments.last_mut().unwrap();
            seg.extend_from_slice(rest.as_bytes());
            seg.extend_from_slice(b"\r\n");
            g.lines.push(rest.as_bytes().to_vec());
        } else if let Some(rest) = line.strip_prefix("C~ ") {
            g.segments.last_mut().unwrap().extend(unescape(rest));
        } else if let Some(rest) = line.strip_prefix("S: ") {
            g.replies.extend_from_slice(rest.as_bytes());
            g.replies.extend_from_slice(b"\r\n");
        } else if line == "-- tls" {
            g.segments.push(Vec::new());
        } else if let Some(opt) = line.strip_prefix("! ") {
            match opt {
                "profile implicit-tls" => g.profile = 1,
                "profile relay" => g.profile = 2,
                "plaintext-auth on" => g.flags |= 1,
                "require-tls on" => g.flags |= 2,
                "bare-line-endings pass" => g.flags |= 4,
                _ if opt.starts_with("mechanisms") => g.flags |= 32,
                _ => {}
            }
        }
    }
    g
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("corpus directory");
    fs::write(d.join(name), bytes).expect("seed written");
}

fn session_seed(profile: u32, flags: u8, stream: &[u8]) -> Vec<u8> {
    let mut s = variant(profile, 4).to_vec();
    s.push(flags);
    s.push(0); // empty script: the stream goes line by line
    s.extend_from_slice(stream);
    let decoded = SessionInput::from_bytes(&s);
    assert!(decoded.script.is_empty(), "{decoded:?}");
    assert_eq!(decoded.stream, stream);
    assert_eq!(decoded.setup.flags, flags);
    s
}

fn chunks_seed(profile: u32, flags: u8, chunk: u16, stream: &[u8]) -> Vec<u8> {
    let mut s = variant(profile, 4).to_vec();
    s.push(flags);
    s.push(1);
    s.extend_from_slice(&chunk.to_le_bytes());
    s.push(0);
    s.extend_from_slice(stream);
    let decoded = ChunksInput::from_bytes(&s);
    assert_eq!(decoded.chunks, vec![chunk]);
    assert_eq!(decoded.stream, stream);
    s
}

/// A complete exchange: respond, resolve, respond, resolve, … with the
/// responder's answers.
fn sasl_seed(mechanism: u8, user: u8, right: bool, binding: u8, cert: bool) -> Vec<u8> {
    let mut s = vec![mechanism, user, u8::from(right), 0, binding, u8::from(cert)];
    for _ in 0..4 {
        s.push(1);
        s.extend_from_slice(&variant(0, 5)); // Respond
        s.push(0); // no edits
        s.push(1);
        s.extend_from_slice(&variant(3, 5)); // Resolve
        s.extend_from_slice(&variant(0, 6)); // Responder
    }
    s.push(0);
    let mut u = arbitrary::Unstructured::new(&s);
    let decoded: SaslInput = arbitrary::Arbitrary::arbitrary(&mut u).expect("decodes");
    assert_eq!(decoded.script.len(), 8, "{decoded:?}");
    s
}

/// code 250, no enhanced code, then the raw replies.
fn reply_seed(raw: &[u8]) -> Vec<u8> {
    let mut s = vec![0xfa, 0, 0];
    s.extend_from_slice(raw);
    s
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let transcripts = root.join("../tests/transcripts");
    let corpus = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("corpus"));
    let mut paths: Vec<_> = fs::read_dir(&transcripts)
        .expect("tests/transcripts")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    let mut count = 0;
    for path in &paths {
        let g = load(path);
        let stream: Vec<u8> = g.segments.concat();
        write(
            &corpus,
            "session",
            &g.name,
            &session_seed(g.profile, g.flags, &stream),
        );
        write(
            &corpus,
            "session",
            &format!("{}-small-limits", g.name),
            &session_seed(g.profile, g.flags | 8, &stream),
        );
        // Up to the first STARTTLS is what session_chunks compares.
        write(
            &corpus,
            "session_chunks",
            &g.name,
            &chunks_seed(g.profile, g.flags, 7, &g.segments[0]),
        );
        write(&corpus, "reply_roundtrip", &g.name, &reply_seed(&g.replies));
        for (i, line) in g.lines.iter().enumerate() {
            let name = format!("{}-{i}", g.name);
            write(&corpus, "command_raw", &name, line);
            write(
                &corpus,
                "command_alphabet",
                &name,
                &fuzz_support::alphabet::unmap(line),
            );
            // AUTH payloads and base64 responses for the decoders; AUTH=
            // values for xtext.
            let text = String::from_utf8_lossy(line);
            let last = text.rsplit(' ').next().unwrap_or_default();
            if let Some(v) = last.strip_prefix("AUTH=") {
                write(&corpus, "decoders", &name, v.as_bytes());
            } else if !last.is_empty()
                && last.len() <= 4096
                && last
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            {
                write(&corpus, "decoders", &name, last.as_bytes());
            }
            count += 1;
        }
    }
    // SASL: every mechanism of each family, right and wrong secrets, known
    // and unknown users, with and without channel binding.
    for (target, mechs) in [("sasl_password", 3u8), ("sasl_scram", 4), ("sasl_token", 3)] {
        for m in 0..mechs {
            for (user, right) in [(0u8, true), (2, true), (0, false), (3, false)] {
                for binding in [0u8, 1, 2] {
                    let name = format!("m{m}-u{user}-{right}-b{binding}");
                    write(
                        &corpus,
                        target,
                        &name,
                        &sasl_seed(m, user, right, binding, true),
                    );
                }
            }
        }
    }
    println!(
        "seeded {} transcripts ({count} command lines) into {}",
        paths.len(),
        corpus.display()
    );
}
