//! Regression tests for what the fuzz targets found (`fuzz/`, issue 5).
//! Each names the target and the saved input in `fuzz/regressions/`, which
//! the fuzz smoke run in CI replays as well.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{config, Driver};
use smtp_auth::{Limits, Output, Profile, Session};

/// `session_chunks`, `regressions/session_chunks/partial-line-over-buffered-input`:
/// with `buffered_input` below the AUTH line limit, a long AUTH line that
/// arrived in pieces closed the session with `421 … pipelined input`,
/// though no question was open and the same line in one read was fine.
/// The pipelining bound applies only while a question is open; a partial
/// line is bounded by the line limit.
#[test]
fn fuzz_session_chunks_partial_line_is_not_pipelined_input() {
    let mut limits = Limits::default();
    limits.buffered_input = 1024;
    let c = config()
        .profile(Profile::ImplicitTls)
        .limits(limits)
        .build();
    let mut line = b"AUTH PLAIN ".to_vec();
    line.extend(std::iter::repeat_n(b'A', 4000));
    line.extend_from_slice(b"\r\n");
    let mut whole = Driver::with_tls(c.clone(), Some(common::tls_info()));
    whole.feed(b"EHLO c\r\n");
    whole.take_sent();
    whole.feed(&line);
    let mut pieces = Driver::with_tls(c, Some(common::tls_info()));
    pieces.feed(b"EHLO c\r\n");
    pieces.take_sent();
    for p in line.chunks(100) {
        pieces.feed(p);
    }
    let expected = "535 5.7.8 Authentication credentials invalid\r\n";
    assert_eq!(whole.take_sent(), expected);
    assert_eq!(pieces.take_sent(), expected);
    assert!(!pieces.session.is_closed());
}

/// `session`, `regressions/session/shutdown-during-tls-handover`: a
/// shutdown between `220 Ready to start TLS` and the handshake wrote a
/// plaintext `421` into what the client reads as its TLS handshake (and
/// broke the rule that nothing is answered during the hand-over, ATK-01).
#[test]
fn fuzz_session_shutdown_during_the_handover_sends_nothing() {
    let mut d = Driver::new(config().build());
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    d.take_sent();
    assert_eq!(d.out.starttls, 1);
    d.session.shutdown();
    d.pump();
    assert_eq!(d.take_sent(), "");
    assert!(d.out.closed && d.session.is_closed());
}

/// `session_chunks`, `regressions/session_chunks/data-over-size-limit-split`:
/// the `Data` handed out before a too-large body was refused depended on
/// how the input was split (the piece that crossed the limit was dropped
/// whole). Now exactly the first `message_size` octets are handed out,
/// whatever the split, then `DiscardData`.
#[test]
fn fuzz_session_chunks_data_before_a_size_refusal_is_split_invariant() {
    let c = config()
        .profile(Profile::ImplicitTls)
        .max_message_size(10)
        .build();
    let input = b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n0123456789abcdefghij\r\nklmn\r\n.\r\nNOOP\r\n";
    let run = |step: usize| {
        let mut s = Session::new(
            Arc::new(c.clone()),
            common::PEER,
            Some(common::tls_info()),
            Instant::now(),
        );
        let mut data = Vec::new();
        let mut sent = Vec::new();
        let mut discards = 0;
        for piece in input.chunks(step) {
            s.receive(Instant::now(), piece);
            while let Some(o) = s.poll() {
                match o {
                    Output::Send(b) => sent.extend_from_slice(&b),
                    Output::Data(b) => data.extend_from_slice(&b),
                    Output::DiscardData => discards += 1,
                    Output::Ask { id, question } => {
                        s.answer(id, common::respond(&question)).unwrap();
                    }
                    _ => {}
                }
            }
        }
        (data, discards, String::from_utf8(sent).unwrap())
    };
    let whole = run(input.len());
    assert_eq!(whole.0, b"0123456789");
    assert_eq!(whole.1, 1);
    assert!(whole
        .2
        .ends_with("552 5.3.4 Message size exceeds limit\r\n250 2.0.0 OK\r\n"));
    for step in 1..input.len() {
        assert_eq!(run(step), whole, "split every {step} bytes");
    }
}

/// `session`, `regressions/session/bdat-chunk-before-starttls`: BDAT
/// chunks handed out as `Data` before STARTTLS were not voided by the
/// handshake, so plaintext bytes (an attacker's, ATK-01) were prepended to
/// the next message sent under TLS. The handshake now ends the transaction
/// with `DiscardData`.
#[test]
fn fuzz_session_bdat_chunks_before_starttls_never_join_a_later_message() {
    let c = config().profile(Profile::Relay).auth_enabled(true).build();
    let mut d = Driver::new(c);
    d.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 5\r\nevil!");
    d.feed(b"STARTTLS\r\n");
    d.tls();
    assert_eq!(d.out.discarded, 1, "the pre-TLS chunk must be voided");
    d.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 3 LAST\r\nnew");
    assert_eq!(d.out.messages, vec![b"new".to_vec()]);
    assert!(d
        .take_sent()
        .ends_with("250 2.0.0 Message accepted for delivery\r\n"));
}

/// `session_chunks`, `regressions/session_chunks/ask-after-overflow-close`:
/// when one read both opened a question and overflowed the pipelining
/// bound, the session closed but still handed out the `Ask`; answering it
/// failed with `NothingAsked`. A question withdrawn by a close is no longer
/// handed out.
#[test]
fn fuzz_session_chunks_no_ask_for_a_question_withdrawn_by_a_close() {
    let c = config().profile(Profile::ImplicitTls).build();
    let mut s = Session::new(
        Arc::new(c),
        common::PEER,
        Some(common::tls_info()),
        Instant::now(),
    );
    s.receive(
        Instant::now(),
        b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
    );
    while let Some(o) = s.poll() {
        if let Output::Ask { id, question } = o {
            s.answer(id, common::respond(&question)).unwrap();
        }
    }
    let mut read = b"MAIL FROM:<alice@example.org>\r\n".to_vec();
    read.extend(std::iter::repeat_n(b'x', 70 * 1024));
    s.receive(Instant::now(), &read);
    let mut outputs = Vec::new();
    while let Some(o) = s.poll() {
        outputs.push(o);
    }
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Ask { .. })),
        "{outputs:?}"
    );
    assert_eq!(
        outputs.first(),
        Some(&Output::Send(
            "421 4.7.0 Too much pipelined input, closing connection\r\n"
                .as_bytes()
                .to_vec()
                .into()
        ))
    );
    assert_eq!(outputs.last(), Some(&Output::Close));
    assert!(s.awaiting().is_none() && s.is_closed());
}
