//! The Session outside AUTH: STARTTLS, limits, BDAT, timeouts, profiles.

mod common;

use std::time::Duration;

use common::{config, tls_info, Driver};
use smtp_auth::{CloseReason, Event, Profile, Question};

const LOGIN: &[u8] = b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n";

/// Implicit TLS, authenticated as alice, replies so far discarded.
fn authed() -> Driver {
    let mut d = Driver::with_tls(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.feed(LOGIN);
    d.take_sent();
    d
}

#[test]
fn r3207_4_1_starttls_replies() {
    let mut d = Driver::new(config().build());
    d.take_sent();
    d.feed(b"STARTTLS now\r\n");
    assert_eq!(d.take_sent(), "501 5.5.4 Syntax: STARTTLS\r\n");
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    assert!(d.take_sent().ends_with("250-STARTTLS\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n220 2.0.0 Ready to start TLS\r\n"));
    assert_eq!(d.out.starttls, 1);
    d.tls();
    // R3207-4.2.4: no STARTTLS after TLS, and a second one is refused.
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    let sent = d.take_sent();
    assert!(!sent.contains("STARTTLS\r\n250"), "{sent}");
    assert!(sent.ends_with("250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN\r\n503 5.5.1 TLS already active\r\n"));
    // Implicit TLS never offers STARTTLS.
    let mut d = Driver::with_tls(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    let sent = d.take_sent();
    assert!(!sent.contains("250-STARTTLS"));
    assert!(sent.ends_with("503 5.5.1 TLS already active\r\n"));
    // A listener without TLS configured says so (REPLY-27).
    let mut d = Driver::new(config().starttls(false).build());
    d.feed(b"EHLO c\r\nSTARTTLS\r\n");
    assert!(d
        .take_sent()
        .ends_with("454 4.7.0 TLS not available due to temporary reason\r\n"));
}

#[test]
fn r3207_4_2_1_tls_forgets_the_plaintext_session() {
    // Authenticated before TLS (CRAM-MD5 is allowed in plaintext) and in a
    // transaction: after STARTTLS all of it is gone.
    let mut d = Driver::with_tls(
        config().profile(Profile::Relay).auth_enabled(true).build(),
        None,
    );
    d.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRSET\r\nSTARTTLS\r\n");
    d.take_sent();
    d.tls();
    assert_eq!(d.session.helo_name(), None);
    d.feed(b"RCPT TO:<b@example.org>\r\n");
    assert_eq!(d.take_sent(), "503 5.5.1 Need MAIL command first\r\n");
    assert_eq!(d.session.received_with(), "SMTP");
}

#[test]
fn reply_06_require_tls() {
    let mut d = Driver::new(config().require_tls(true).build());
    d.take_sent();
    d.feed(b"EHLO c\r\nAUTH CRAM-MD5\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\nSTARTTLS\r\n");
    let sent = d.take_sent();
    assert!(!sent.contains("AUTH "), "no AUTH before TLS: {sent}");
    assert!(sent.ends_with(
        "250 STARTTLS\r\n530 5.7.0 Must issue a STARTTLS command first\r\n530 5.7.0 Must issue a STARTTLS command first\r\n250 2.0.0 OK\r\n220 2.0.0 Ready to start TLS\r\n"
    ), "{sent}");
}

#[test]
fn r5321_4_5_3_1_8_recipient_limit() {
    let mut d = Driver::with_tls(
        config()
            .profile(Profile::ImplicitTls)
            .max_recipients(2)
            .build(),
        Some(tls_info()),
    );
    d.feed(LOGIN);
    d.take_sent();
    d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\nDATA\r\nhi\r\n.\r\n");
    assert_eq!(
        d.take_sent(),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n452 4.5.3 Too many recipients\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Message accepted for delivery\r\n"
    );
    let Some(Question::Message(m)) = d.out.questions.last() else {
        panic!()
    };
    assert_eq!(m.recipients, ["a@x.example", "b@x.example"]);
}

#[test]
fn r5321_4_1_4_sequence_errors() {
    let mut d = authed();
    d.feed(b"RCPT TO:<a@x.example>\r\nDATA\r\nMAIL FROM:<alice@example.org>\r\nMAIL FROM:<alice@example.org>\r\nDATA\r\nBDAT 0 LAST\r\n");
    assert_eq!(
        d.take_sent(),
        "503 5.5.1 Need MAIL command first\r\n503 5.5.1 Need MAIL command first\r\n250 2.1.0 Sender OK\r\n503 5.5.1 Sender already specified\r\n554 5.5.1 No valid recipients\r\n554 5.5.1 No valid recipients\r\n"
    );
    // The transaction survived all of that.
    d.feed(b"RCPT TO:<a@x.example>\r\n");
    assert_eq!(d.take_sent(), "250 2.1.5 Recipient OK\r\n");
}

#[test]
fn too_many_errors_close_the_session() {
    let mut d = authed();
    d.feed(&b"BOGUS\r\n".repeat(12));
    let sent = d.take_sent();
    assert_eq!(
        sent,
        format!(
            "{}421 4.7.0 Too many errors, closing connection\r\n",
            "500 5.5.1 Command unrecognized\r\n".repeat(9)
        )
    );
    assert!(d.out.events.contains(&Event::Closed {
        peer: common::PEER,
        reason: CloseReason::TooManyErrors
    }));
}

#[test]
fn rfc3030_bdat_chunks() {
    let mut d = authed();
    d.feed(b"MAIL FROM:<alice@example.org> BODY=BINARYMIME\r\nRCPT TO:<b@x.example>\r\nDATA\r\nBDAT 5\r\nab\r\ncBDAT 3 LAST\r\nxyzDATA\r\n");
    assert_eq!(
        d.take_sent(),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n503 5.5.1 BINARYMIME requires BDAT\r\n250 2.0.0 Chunk received\r\n250 2.0.0 Message accepted for delivery\r\n503 5.5.1 Need MAIL command first\r\n"
    );
    assert_eq!(d.out.messages, [b"ab\r\ncxyz".to_vec()]);
    let Some(Question::Message(m)) = d.out.questions.last() else {
        panic!()
    };
    assert!(m.chunked);
    assert_eq!(m.size, 8);
    // BDAT 0 LAST ends an (empty-so-far) body; DATA after BDAT is refused.
    d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x.example>\r\nBDAT 2\r\nhiDATA\r\nBDAT 0 LAST\r\n");
    assert_eq!(
        d.take_sent(),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 Chunk received\r\n503 5.5.1 DATA not allowed after BDAT\r\n250 2.0.0 Message accepted for delivery\r\n"
    );
    assert_eq!(d.out.messages.last().unwrap(), b"hi");
}

#[test]
fn bdat_refused_chunks_are_still_read_in_step() {
    let mut d = authed();
    // No transaction: the 8 chunk bytes (which look like a command) are
    // read and thrown away, never executed.
    d.feed(b"BDAT 8\r\nQUIT\r\n\r\nNOOP\r\n");
    assert_eq!(
        d.take_sent(),
        "503 5.5.1 Need MAIL command first\r\n250 2.0.0 OK\r\n"
    );
    assert!(!d.session.is_closed());
}

#[test]
fn bdat_over_the_size_limit_is_read_and_refused() {
    let mut d = Driver::with_tls(
        config()
            .profile(Profile::ImplicitTls)
            .max_message_size(4)
            .build(),
        Some(tls_info()),
    );
    d.feed(LOGIN);
    d.take_sent();
    d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x.example>\r\nBDAT 3\r\nabcBDAT 3 LAST\r\ndefNOOP\r\n");
    assert_eq!(
        d.take_sent(),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 Chunk received\r\n552 5.3.4 Message size exceeds limit\r\n250 2.0.0 OK\r\n"
    );
    assert_eq!(d.out.discarded, 1);
    assert!(d.out.messages.is_empty());
}

#[test]
fn rset_mid_bdat_discards_the_partial_body() {
    let mut d = authed();
    d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x.example>\r\nBDAT 2\r\nhiRSET\r\n");
    assert!(d
        .take_sent()
        .ends_with("250 2.0.0 Chunk received\r\n250 2.0.0 Reset OK\r\n"));
    assert_eq!(d.out.discarded, 1);
}

#[test]
fn r6531_non_ascii_addresses_need_smtputf8() {
    let mut d = authed();
    d.feed("MAIL FROM:<jörg@example.org>\r\nMAIL FROM:<jörg@example.org> SMTPUTF8\r\nRCPT TO:<用户@例子.广告>\r\n".as_bytes());
    assert_eq!(
        d.take_sent(),
        "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
    );
}

#[test]
fn relay_profile_needs_no_auth_and_asks_the_policy() {
    let mut d = Driver::with_tls(config().profile(Profile::Relay).build(), None);
    d.feed(b"EHLO mx.other.example\r\nMAIL FROM:<spoof@x.example>\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@example.org>\r\n");
    assert!(d.take_sent().ends_with(
        "550 5.7.1 Sender address not authorized for this user\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
    ));
    let Some(Question::RcptTo(r)) = d.out.questions.last() else {
        panic!()
    };
    assert_eq!(
        (r.identity.as_deref(), r.recipient.as_str()),
        (None, "b@example.org")
    );
}

#[test]
fn trust_is_asked_once_for_unauthenticated_mail() {
    let mut d = Driver::with_tls(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO c\r\nMAIL FROM:<a@x.example>\r\nMAIL FROM:<a@x.example>\r\n");
    assert!(d
        .take_sent()
        .ends_with("530 5.7.0 Authentication required\r\n530 5.7.0 Authentication required\r\n"));
    let trust = d
        .out
        .questions
        .iter()
        .filter(|q| matches!(q, Question::Trust { .. }))
        .count();
    assert_eq!(trust, 1);
}

#[test]
fn r5321_4_5_3_2_command_timeout_runs_from_the_start_of_the_line() {
    let mut d = authed();
    let start = d.now;
    let deadline = d.session.timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(300));
    // A byte every 10 s does not move the deadline.
    for i in 1..=29 {
        d.now = start + Duration::from_secs(10 * i);
        d.feed(b"N");
        assert_eq!(d.session.timeout(), Some(deadline));
        d.session.handle_timeout(d.now);
    }
    assert!(!d.session.is_closed());
    d.session.handle_timeout(deadline);
    d.pump();
    assert_eq!(d.take_sent(), "421 4.4.2 Timeout, closing connection\r\n");
    assert!(d.session.is_closed());
    assert!(d.out.events.contains(&Event::Closed {
        peer: common::PEER,
        reason: CloseReason::Timeout
    }));
}

#[test]
fn data_timeout_is_inactivity_and_discards_the_body() {
    let mut d = authed();
    d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x.example>\r\nDATA\r\npart\r\n");
    d.take_sent();
    d.now += Duration::from_secs(170);
    d.feed(b"more\r\n");
    assert_eq!(d.session.timeout(), Some(d.now + Duration::from_secs(180)));
    d.now += Duration::from_secs(181);
    d.session.handle_timeout(d.now);
    d.pump();
    assert_eq!(d.take_sent(), "421 4.4.2 Timeout, closing connection\r\n");
    assert_eq!(d.out.discarded, 1);
    assert!(d.out.messages.is_empty());
}

#[test]
fn no_timeout_while_a_question_is_open() {
    let mut d = authed();
    d.auto_answer = false;
    d.feed(b"MAIL FROM:<alice@example.org>\r\n");
    assert_eq!(d.session.timeout(), None);
}

#[test]
fn pipelined_input_past_the_bound_closes_cleanly() {
    let mut d = authed();
    d.auto_answer = false;
    d.feed(b"MAIL FROM:<alice@example.org>\r\n");
    assert!(!d.unanswered.is_empty());
    assert!(d.session.wants_read());
    d.feed(b"RCPT TO:<b@x.example>\r\n");
    assert!(!d.session.wants_read());
    // A driver that ignores wants_read() cannot make the session buffer
    // more than Limits::buffered_input.
    let junk = b"RCPT TO:<b@x.example>\r\n".repeat(4000);
    d.feed(&junk);
    assert_eq!(
        d.take_sent(),
        "421 4.7.0 Too much pipelined input, closing connection\r\n"
    );
    assert!(d.session.is_closed());
    assert!(d.session.buffered_bytes() < 4096);
}

#[test]
fn shutdown_says_421_and_closes() {
    let mut d = authed();
    d.session.shutdown();
    d.pump();
    assert_eq!(
        d.take_sent(),
        "421 4.3.2 Service shutting down, closing connection\r\n"
    );
    assert!(d.out.closed);
}

#[test]
fn received_with_follows_rfc_3848() {
    let mut d = Driver::new(config().build());
    assert_eq!(d.session.received_with(), "SMTP");
    d.feed(b"EHLO c\r\n");
    assert_eq!(d.session.received_with(), "ESMTP");
    d.feed(b"STARTTLS\r\n");
    d.tls();
    d.feed(b"EHLO c\r\n");
    assert_eq!(d.session.received_with(), "ESMTPS");
    d.feed(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
    assert_eq!(d.session.received_with(), "ESMTPSA");
    // R5321-4.1.1.1.1: a new EHLO keeps AUTH.
    d.feed(b"EHLO c\r\nRSET\r\n");
    assert_eq!(d.session.authenticated().unwrap().identity, "alice");
}
