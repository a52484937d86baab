//! Properties of the whole Session (proptest):
//!
//! * R2920-3.2.1: any byte stream split into any chunks gives the same
//!   outputs — the same reply bytes, and the same events, questions, body
//!   bytes, discards, delays and close, in the same order (how replies are
//!   batched into `Send`s and bodies cut into `Data` may differ; what they
//!   carry may not). Under STARTTLS the comparison stops at the hand-over,
//!   where bytes pipelined behind the command are discarded by design
//!   (R3207-4.2.2).
//! * After any input, however hostile, a new session on the same `Config`
//!   works exactly as the first one would have.
//!
//! The heap bound is checked in `tests/heap_bound.rs`, which has the
//! counting allocator.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smtp_auth::{Config, Output, Profile, Session};

/// A session output with the split-dependent cuts taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Norm {
    Event(String),
    Ask(String),
    StartTls,
    Data(Vec<u8>),
    Discard,
    Delay(Duration),
    Close,
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    sent: Vec<u8>,
    outputs: Vec<Norm>,
}

/// Plaintext AUTH is allowed so that submission sessions get as deep as
/// implicit-TLS ones before any STARTTLS, and the error limits are high so
/// that random streams are not cut short by `421`.
fn config(profile: Profile) -> Config {
    common::config()
        .profile(profile)
        .allow_plaintext_auth(true)
        .max_errors(100_000)
        .max_auth_failures(100_000)
        .build()
}

/// Feeds `stream` cut at `cuts` (sorted offsets), answering every question
/// with the test responder, until the first STARTTLS.
fn run(profile: Profile, stream: &[u8], cuts: &[usize]) -> Run {
    let tls = (profile == Profile::ImplicitTls).then(common::tls_info);
    let mut s = Session::new(Arc::new(config(profile)), common::PEER, tls, Instant::now());
    let now = Instant::now();
    let mut r = Run {
        sent: Vec::new(),
        outputs: Vec::new(),
    };
    let mut handover = false;
    let pump = |s: &mut Session, r: &mut Run, handover: &mut bool| {
        while let Some(o) = s.poll() {
            match o {
                Output::Send(b) => r.sent.extend_from_slice(&b),
                Output::Ask { id, question } => {
                    r.outputs.push(Norm::Ask(format!("{question:?}")));
                    s.answer(id, common::respond(&question)).expect("fits");
                }
                Output::Event(e) => r.outputs.push(Norm::Event(format!("{e:?}"))),
                Output::Data(b) => match r.outputs.last_mut() {
                    Some(Norm::Data(d)) => d.extend_from_slice(&b),
                    _ => r.outputs.push(Norm::Data(b.to_vec())),
                },
                Output::DiscardData => r.outputs.push(Norm::Discard),
                Output::Delay(d) => r.outputs.push(Norm::Delay(d)),
                Output::StartTls => {
                    r.outputs.push(Norm::StartTls);
                    *handover = true;
                }
                Output::Close => r.outputs.push(Norm::Close),
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    pump(&mut s, &mut r, &mut handover);
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
        if handover {
            break;
        }
        s.receive(now, &stream[start..c]);
        start = c;
        pump(&mut s, &mut r, &mut handover);
    }
    r
}

/// Client streams: often a good start (EHLO, AUTH) so that the session gets
/// deep, then commands, body lines, stray line-ending bytes and a little
/// noise; STARTTLS and QUIT only at the end.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let tokens: Vec<&'static [u8]> = common::STREAM_TOKENS
        .iter()
        .copied()
        .filter(|t| *t != b"QUIT\r\n" && *t != b"STARTTLS\r\n")
        .collect();
    let start = prop_oneof![
        Just(Vec::new()),
        Just(b"EHLO client.example\r\n".to_vec()),
        Just(b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n".to_vec()),
        Just(
            b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
                .to_vec()
        ),
    ];
    let body = prop::collection::vec(
        prop_oneof![
            30 => prop::sample::select(tokens).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ],
        0..120,
    );
    (start, body, any::<u8>()).prop_map(|(mut s, parts, end)| {
        s.extend(parts.concat());
        // Sometimes STARTTLS (with a command pipelined behind it), QUIT.
        if end & 1 != 0 {
            s.extend_from_slice(b"STARTTLS\r\nNOOP\r\n");
        }
        if end & 2 != 0 {
            s.extend_from_slice(b"QUIT\r\n");
        }
        s
    })
}

fn cuts(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut c: Vec<usize> = raw
        .iter()
        .map(|&x| if len == 0 { 0 } else { x % len })
        .filter(|&x| x > 0)
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// The happy path on a fresh session: the exact replies.
const HAPPY: &[u8] = b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\nSubject: hi\r\n\r\nHello.\r\n.\r\nQUIT\r\n";
const HAPPY_REPLIES: &str = "220 mx.example.org ESMTP ready\r\n250-mx.example.org greets client.example\r\n250-SIZE 36700160\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Message accepted for delivery\r\n221 2.0.0 Bye\r\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// R2920-3.2.1: nothing lost, nothing reordered, whatever the chunks.
    #[test]
    fn r2920_3_2_1_any_split_gives_the_same_outputs(
        stream in stream(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..40),
        implicit in any::<bool>(),
    ) {
        let profile = if implicit { Profile::ImplicitTls } else { Profile::Submission };
        let whole = run(profile, &stream, &[]);
        let cut = run(profile, &stream, &cuts(stream.len(), &raw_cuts));
        prop_assert_eq!(
            String::from_utf8_lossy(&whole.sent),
            String::from_utf8_lossy(&cut.sent)
        );
        prop_assert_eq!(&whole.outputs, &cut.outputs);
        let bytes: Vec<usize> = (1..stream.len()).collect();
        let one_by_one = run(profile, &stream, &bytes);
        prop_assert_eq!(&whole, &one_by_one);
    }

    /// After any input on one session, a new session on the same config
    /// replies to the happy path exactly.
    #[test]
    fn any_input_then_a_new_session_works(
        stream in stream(),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let config = Arc::new(config(Profile::ImplicitTls));
        let now = Instant::now();
        let mut first = Session::new(config.clone(), common::PEER, Some(common::tls_info()), now);
        let mut start = 0;
        for c in cuts(stream.len(), &raw_cuts).into_iter().chain(std::iter::once(stream.len())) {
            first.receive(now, &stream[start..c]);
            start = c;
            while let Some(o) = first.poll() {
                if let Output::Ask { id, question } = o {
                    first.answer(id, common::respond(&question)).expect("fits");
                }
            }
        }
        let mut d = common::Driver::with_tls(
            common::config().profile(Profile::ImplicitTls).build(),
            Some(common::tls_info()),
        );
        // Same Config object as the hostile session, not a copy.
        d.session = Session::new(config, common::PEER, Some(common::tls_info()), now);
        d.out = Default::default();
        d.pump();
        d.feed(HAPPY);
        prop_assert_eq!(d.take_sent(), HAPPY_REPLIES);
        prop_assert_eq!(&d.out.messages, &vec![b"Subject: hi\r\n\r\nHello.\r\n".to_vec()]);
        prop_assert!(d.out.closed);
    }
}
