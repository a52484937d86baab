//! AUTH in the Session (RFC 4954): every reply asserted byte for byte, and
//! every mechanism driven end to end by this crate's own SASL clients.

mod common;

use common::{config, tls_info, Driver, TOKEN};
use smtp_auth::question::{AuthFailure, Question};
use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::client::{ClientContext, ClientExchange, Credentials};
use smtp_auth::sasl::{encoding, Mechanism};
use smtp_auth::{AnswerErrorKind, Event, Profile};

/// An implicit-TLS session after EHLO, ready for AUTH.
fn ready() -> Driver {
    let mut d = Driver::with_tls(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO client.example\r\n");
    d.take_sent();
    d
}

/// A STARTTLS submission session after EHLO, before TLS.
fn plaintext() -> Driver {
    let mut d = Driver::new(config().build());
    d.feed(b"EHLO client.example\r\n");
    d.take_sent();
    d
}

fn b64(s: &[u8]) -> String {
    encoding::encode(s)
}

/// Runs a whole exchange with our own client; returns the replies the
/// session sent, one per line.
fn authenticate(d: &mut Driver, mechanism: Mechanism, credentials: Credentials) -> Vec<String> {
    let entropy = FixedEntropy::new(99, 0);
    let ctx = ClientContext::new(&entropy);
    let mut client = ClientExchange::new(mechanism, credentials, &ctx).unwrap();
    let mut line = format!("AUTH {}", mechanism.name());
    if !mechanism.is_server_first() {
        if let Some(ir) = client.initial_response() {
            line.push(' ');
            let ir = if ir.is_empty() {
                "=".to_owned()
            } else {
                b64(&ir)
            };
            line.push_str(&ir);
        }
    }
    line.push_str("\r\n");
    d.feed(line.as_bytes());
    let mut replies = Vec::new();
    for _ in 0..6 {
        let sent = d.take_sent();
        let mut challenge = None;
        for l in sent.lines() {
            replies.push(l.to_owned());
            if let Some(c) = l.strip_prefix("334 ") {
                challenge = Some(encoding::decode(c.as_bytes()).unwrap());
            }
        }
        let Some(challenge) = challenge else { break };
        let response = match client.respond(&challenge) {
            Ok(r) => b64(&r),
            Err(_) => "*".to_owned(),
        };
        d.feed(format!("{}\r\n", if response.is_empty() { "" } else { &response }).as_bytes());
    }
    replies
}

#[test]
fn r4954_4_every_mechanism_authenticates_end_to_end() {
    let cases = [
        (
            Mechanism::Plain,
            Credentials::password("alice", "wonderland"),
        ),
        (
            Mechanism::Login,
            Credentials::password("alice", "wonderland"),
        ),
        (
            Mechanism::CramMd5,
            Credentials::password("alice", "wonderland"),
        ),
        (
            Mechanism::ScramSha1,
            Credentials::password("alice", "wonderland"),
        ),
        (
            Mechanism::ScramSha256,
            Credentials::password("alice", "wonderland"),
        ),
        (Mechanism::XOAuth2, Credentials::token("alice", TOKEN)),
        (Mechanism::OAuthBearer, Credentials::token("alice", TOKEN)),
    ];
    for (mechanism, credentials) in cases {
        if !mechanism.is_available() {
            continue; // SCRAM without the `scram` feature
        }
        let mut d = Driver::with_tls(
            config()
                .profile(Profile::ImplicitTls)
                .mechanisms([mechanism])
                .build(),
            Some(tls_info()),
        );
        d.feed(b"EHLO c\r\n");
        let ehlo = d.take_sent();
        assert!(
            ehlo.ends_with(&format!("250 AUTH {}\r\n", mechanism.name())),
            "{mechanism}: {ehlo}"
        );
        let replies = authenticate(&mut d, mechanism, credentials);
        assert_eq!(
            replies.last().map(String::as_str),
            Some("235 2.7.0 Authentication successful"),
            "{mechanism}: {replies:?}"
        );
        // Every challenge is `334 <base64>` and nothing else (R4954-4.5).
        for r in &replies[..replies.len() - 1] {
            let c = r
                .strip_prefix("334 ")
                .unwrap_or_else(|| panic!("{mechanism}: {r}"));
            assert!(encoding::decode(c.as_bytes()).is_ok(), "{mechanism}: {r}");
        }
        let a = d.session.authenticated().unwrap();
        assert_eq!((a.identity.as_str(), a.mechanism), ("alice", mechanism));
        assert_eq!(d.session.received_with(), "ESMTPSA");
    }
}

#[test]
fn external_uses_the_client_certificate() {
    let tls = tls_info().with_client_certificate("alice");
    let mut d = Driver::with_tls(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms([Mechanism::External, Mechanism::Plain])
            .build(),
        Some(tls),
    );
    d.feed(b"EHLO c\r\n");
    assert!(d.take_sent().ends_with("250 AUTH EXTERNAL PLAIN\r\n"));
    d.feed(b"AUTH EXTERNAL =\r\n");
    assert_eq!(d.take_sent(), "235 2.7.0 Authentication successful\r\n");
    assert_eq!(d.session.authenticated().unwrap().identity, "alice");
    // Without a certificate EXTERNAL is neither offered nor accepted.
    let mut d = Driver::with_tls(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms([Mechanism::External, Mechanism::Plain])
            .build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO c\r\nAUTH EXTERNAL =\r\n");
    let sent = d.take_sent();
    assert!(
        sent.ends_with("250 AUTH PLAIN\r\n504 5.5.4 Unrecognized authentication mechanism\r\n"),
        "{sent}"
    );
}

#[test]
fn r4954_6_5_wrong_password_and_unknown_user_give_identical_bytes() {
    let mut a = ready();
    a.feed(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0nope")).as_bytes());
    let mut b = ready();
    b.feed(format!("AUTH PLAIN {}\r\n", b64(b"\0nobody\0nope")).as_bytes());
    let (a, b) = (a.take_sent(), b.take_sent());
    assert_eq!(a, "535 5.7.8 Authentication credentials invalid\r\n");
    assert_eq!(a, b);
    // The same for LOGIN, which asks for the password even for unknown
    // users (RLOGIN-2.7).
    let mut d = ready();
    d.feed(format!("AUTH LOGIN {}\r\n", b64(b"nobody")).as_bytes());
    assert_eq!(d.take_sent(), "334 UGFzc3dvcmQ6\r\n");
    d.feed(format!("{}\r\n", b64(b"x")).as_bytes());
    assert_eq!(
        d.take_sent(),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
}

#[test]
fn reply_28_login_prompts_and_empty_challenge() {
    let mut d = ready();
    d.feed(b"AUTH LOGIN\r\n");
    assert_eq!(d.take_sent(), "334 VXNlcm5hbWU6\r\n");
    d.feed(format!("{}\r\n", b64(b"alice")).as_bytes());
    assert_eq!(d.take_sent(), "334 UGFzc3dvcmQ6\r\n");
    d.feed(format!("{}\r\n", b64(b"wonderland")).as_bytes());
    assert_eq!(d.take_sent(), "235 2.7.0 Authentication successful\r\n");
    // R4954-4.7: PLAIN without an initial response gets `334 ` exactly.
    let mut d = ready();
    d.feed(b"AUTH PLAIN\r\n");
    assert_eq!(d.take_sent(), "334 \r\n");
    d.feed(format!("{}\r\n", b64(b"\0alice\0wonderland")).as_bytes());
    assert_eq!(d.take_sent(), "235 2.7.0 Authentication successful\r\n");
}

/// Each case: the lines the client sends after EHLO (on implicit TLS), and
/// the exact bytes the session answers.
#[test]
fn r4954_replies_table() {
    let ok = b64(b"\0alice\0wonderland");
    let table: Vec<(&str, String, &str)> = vec![
        (
            "R4954-4.9 `=` is an empty initial response; PLAIN refuses it",
            "AUTH PLAIN =\r\n".into(),
            "535 5.7.8 Authentication credentials invalid\r\n",
        ),
        (
            "R4954-4.6 / REPLY-12 `*` cancels",
            "AUTH PLAIN\r\n*\r\n".into(),
            "334 \r\n501 5.7.0 Authentication cancelled\r\n",
        ),
        (
            "R4954-4.11 / REPLY-13 undecodable response",
            "AUTH PLAIN\r\n!!!!\r\n".into(),
            "334 \r\n501 5.5.2 Invalid base64 data\r\n",
        ),
        (
            "R4954-4.12 whitespace inside base64",
            format!("AUTH PLAIN {}\r\n", "AGFs aWNl"),
            "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n",
        ),
        (
            "R4954-4.12 whitespace inside a response line",
            "AUTH PLAIN\r\nAGFs aWNl\r\n".into(),
            "334 \r\n501 5.5.2 Invalid base64 data\r\n",
        ),
        (
            "R4954-4.12 padding in the middle",
            "AUTH PLAIN AA==AA==\r\n".into(),
            "501 5.5.2 Invalid base64 data\r\n",
        ),
        (
            "R4954-4.12 `=` first",
            "AUTH PLAIN =AAA\r\n".into(),
            "501 5.5.2 Invalid base64 data\r\n",
        ),
        (
            "R4954-4.2 / REPLY-07 AUTH twice",
            format!("AUTH PLAIN {ok}\r\nAUTH PLAIN {ok}\r\n"),
            "235 2.7.0 Authentication successful\r\n503 5.5.1 Already authenticated\r\n",
        ),
        (
            "R4954-4.4 / REPLY-04 unknown mechanism",
            "AUTH DIGEST-MD5\r\n".into(),
            "504 5.5.4 Unrecognized authentication mechanism\r\n",
        ),
        (
            "R4954-8.1 mechanism names are case-insensitive",
            format!("auth plain {ok}\r\n"),
            "235 2.7.0 Authentication successful\r\n",
        ),
        (
            "R4422-3.1.1 / REPLY-11 invalid mechanism characters",
            "AUTH PL@IN\r\n".into(),
            "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n",
        ),
        (
            "REPLY-11 no mechanism",
            "AUTH\r\n".into(),
            "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n",
        ),
        (
            "R4954-4.10 / REPLY-14 initial response to CRAM-MD5",
            "AUTH CRAM-MD5 AAAA\r\n".into(),
            "501 5.7.0 Initial response not allowed for this mechanism\r\n",
        ),
        (
            "R4954-6.3 / REPLY-20 backend outage is 454, never 535",
            format!("AUTH PLAIN {}\r\n", b64(b"\0down\0x")),
            "454 4.7.0 Temporary authentication failure\r\n",
        ),
        (
            "REPLY-21 locked: refused before the credential check",
            format!("AUTH PLAIN {}\r\n", b64(b"\0locked\0x")),
            "454 4.7.0 Temporary authentication failure\r\n",
        ),
        (
            "REPLY-03 PLAIN with one NUL",
            format!("AUTH PLAIN {}\r\n", b64(b"alice\0wonderland")),
            "535 5.7.8 Authentication credentials invalid\r\n",
        ),
        (
            "ATK-08 authzid other than authcid is refused by default",
            format!("AUTH PLAIN {}\r\n", b64(b"bob\0alice\0wonderland")),
            "535 5.7.8 Authentication credentials invalid\r\n",
        ),
    ];
    for (name, input, expected) in table {
        let mut d = ready();
        d.feed(input.as_bytes());
        assert_eq!(d.take_sent(), expected, "{name}");
        assert!(!d.session.is_closed(), "{name}");
        // R4954-4.22: after a failed AUTH the client may try again.
        if d.session.authenticated().is_none() {
            d.feed(format!("AUTH PLAIN {ok}\r\n").as_bytes());
            assert_eq!(
                d.take_sent(),
                "235 2.7.0 Authentication successful\r\n",
                "{name}: retry"
            );
        }
    }
}

#[test]
fn r4954_4_3_auth_in_a_transaction_and_before_ehlo() {
    let mut d = Driver::with_tls(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.feed(b"AUTH PLAIN\r\n");
    assert_eq!(
        d.take_sent(),
        "220 mx.example.org ESMTP ready\r\n503 5.5.1 Send EHLO first\r\n"
    );
    d.feed(b"HELO client.example\r\nAUTH PLAIN\r\n");
    assert_eq!(
        d.take_sent(),
        "250 mx.example.org greets client.example\r\n503 5.5.1 Send EHLO first\r\n"
    );
    // A transaction is open only for a trusted or authenticated client, so
    // use the relay profile with AUTH on.
    let mut d = Driver::with_tls(
        config().profile(Profile::Relay).auth_enabled(true).build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nAUTH PLAIN\r\n");
    assert!(d.take_sent().ends_with(
        "250 2.1.0 Sender OK\r\n503 5.5.1 AUTH not permitted during a mail transaction\r\n"
    ));
    d.feed(b"RSET\r\nAUTH PLAIN\r\n");
    assert_eq!(d.take_sent(), "250 2.0.0 Reset OK\r\n334 \r\n");
}

#[test]
fn reply_05_password_mechanisms_before_tls() {
    let mut d = plaintext();
    for m in ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"] {
        let mut d2 = Driver::new(
            config()
                .mechanisms([
                    Mechanism::Plain,
                    Mechanism::Login,
                    Mechanism::XOAuth2,
                    Mechanism::OAuthBearer,
                ])
                .build(),
        );
        d2.feed(b"EHLO c\r\n");
        let ehlo = d2.take_sent();
        assert!(
            !ehlo.contains("AUTH"),
            "R4954-4.23: nothing to offer before TLS: {ehlo}"
        );
        d2.feed(format!("AUTH {m}\r\n").as_bytes());
        assert_eq!(
            d2.take_sent(),
            "504 5.5.4 Encryption required for requested authentication mechanism\r\n",
            "{m}"
        );
        assert!(d2.out.events.contains(&Event::AuthFailed {
            peer: common::PEER,
            user: None,
            mechanism: Some(m.parse().unwrap()),
            reason: AuthFailure::EncryptionRequired,
        }));
    }
    // SCRAM and CRAM-MD5 do not reveal the password: offered before TLS.
    d.feed(b"AUTH CRAM-MD5\r\n");
    assert!(d.take_sent().starts_with("334 "));
}

#[test]
fn reply_10_auth_on_the_relay_port_is_off() {
    let mut d = Driver::with_tls(config().profile(Profile::Relay).build(), Some(tls_info()));
    d.feed(b"EHLO c\r\nAUTH PLAIN\r\n");
    let sent = d.take_sent();
    assert!(!sent.contains("AUTH "), "{sent}");
    assert!(
        sent.ends_with("250 BINARYMIME\r\n503 5.5.1 Authentication not enabled\r\n"),
        "{sent}"
    );
}

#[test]
fn r4954_9_3_three_failures_close_with_421() {
    let mut d = ready();
    let bad = format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0nope"));
    d.feed(bad.as_bytes());
    d.feed(bad.as_bytes());
    assert_eq!(
        d.take_sent(),
        "535 5.7.8 Authentication credentials invalid\r\n".repeat(2)
    );
    assert!(!d.session.is_closed());
    d.feed(bad.as_bytes());
    assert_eq!(
        d.take_sent(),
        "421 4.7.0 Too many authentication failures, closing connection\r\n"
    );
    assert!(d.out.closed && d.session.is_closed());
    // Nothing more is read.
    d.feed(b"NOOP\r\n");
    assert_eq!(d.take_sent(), "");
}

#[test]
fn auth_param_on_mail_is_trusted_only_after_auth() {
    // R4954-5.2/5.4: accepted from anyone, passed on only when authenticated.
    let mut d = Driver::with_tls(
        config().profile(Profile::Relay).auth_enabled(true).build(),
        Some(tls_info()),
    );
    d.feed(b"EHLO c\r\nMAIL FROM:<a@example.org> AUTH=a@example.org\r\n");
    assert!(d.take_sent().ends_with("250 2.1.0 Sender OK\r\n"));
    let Some(Question::MailFrom(m)) = d.out.questions.last() else {
        panic!()
    };
    assert_eq!(m.auth, None);
    let mut d = ready();
    d.feed(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0wonderland")).as_bytes());
    d.feed(b"MAIL FROM:<alice@example.org> AUTH=alice+2Bx@example.org\r\nRSET\r\nMAIL FROM:<> AUTH=<>\r\n");
    assert_eq!(
        d.take_sent(),
        "235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n250 2.0.0 Reset OK\r\n250 2.1.0 Sender OK\r\n"
    );
    let auths: Vec<_> = d
        .out
        .questions
        .iter()
        .filter_map(|q| match q {
            Question::MailFrom(m) => Some(m.auth.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        auths,
        [Some("alice+x@example.org".to_owned()), Some(String::new())]
    );
    // R4954-5.1 / REPLY-19: malformed AUTH=.
    d.feed(b"RSET\r\nMAIL FROM:<alice@example.org> AUTH=not-a-mailbox\r\n");
    assert_eq!(
        d.take_sent(),
        "250 2.0.0 Reset OK\r\n501 5.5.4 Malformed AUTH= parameter\r\n"
    );
}

#[test]
fn answers_that_do_not_fit_are_handed_back() {
    use smtp_auth::sasl::{Resolution, Verdict};
    use smtp_auth::Answer;
    let mut d = ready();
    d.auto_answer = false;
    d.feed(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0wonderland")).as_bytes());
    let (gate, q) = d.unanswered.pop().unwrap();
    assert!(
        matches!(q, Question::MayAuthenticate(ref a) if a.user == "alice"),
        "{q:?}"
    );
    // While the question is open the session reads nothing and says nothing.
    d.feed(b"NOOP\r\n");
    assert_eq!(d.take_sent(), "");
    assert!(!d.session.wants_read());
    // The wrong kind of answer comes back unchanged; the question stays open.
    let wrong = Answer::Sasl(Resolution::Verdict(Verdict::Valid));
    let err = d.session.answer(gate, wrong.clone()).unwrap_err();
    assert_eq!(err.kind(), AnswerErrorKind::WrongKind);
    assert_eq!(err.into_answer(), wrong);
    assert_eq!(d.session.awaiting(), Some(gate));
    d.session.answer(gate, Answer::Allow).unwrap();
    d.pump();
    let (check, q) = d.unanswered.pop().unwrap();
    assert!(matches!(q, Question::Credentials { .. }), "{q:?}");
    // A stale id (the gate's) is refused.
    let err = d.session.answer(gate, Answer::Allow).unwrap_err();
    assert_eq!(err.kind(), AnswerErrorKind::WrongId);
    d.session
        .answer(check, Answer::Sasl(Resolution::Verdict(Verdict::Valid)))
        .unwrap();
    d.pump();
    let (recorded, _) = d.unanswered.pop().unwrap();
    d.session
        .answer(
            recorded,
            Answer::Recorded {
                delay: std::time::Duration::ZERO,
            },
        )
        .unwrap();
    d.pump();
    assert_eq!(
        d.take_sent(),
        "235 2.7.0 Authentication successful\r\n250 2.0.0 OK\r\n"
    );
    // Nothing is open now.
    let err = d.session.answer(recorded, Answer::Allow).unwrap_err();
    assert_eq!(err.kind(), AnswerErrorKind::NothingAsked);
}
