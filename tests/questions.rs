//! The question/answer contract (DESIGN.md §1) as the Responder uses it:
//! the session waits in an explicit awaiting state, consumes no buffered
//! input, buffers a bounded amount; an answer with the wrong id or of the
//! wrong kind is handed back. EHLO offers exactly what the authenticator
//! can serve. Every mechanism runs against the MemoryStore. Nothing
//! printable carries a secret (ATK-11).

mod common;

use std::sync::Arc;

use common::{auth_plain, b64, client_auth, config, store, t0, tls_info, Driver, PEER, TOKEN};
use smtp_auth::authenticator::Capabilities;
use smtp_auth::sasl::{Credentials, Mechanism, Verdict};
use smtp_auth::{
    Answer, AnswerErrorKind, AuthFailure, Authenticator, Event, MemoryStore, Output, Profile,
    Question, Responder, Secret, SubmissionPolicy, TlsInfo,
};

fn implicit() -> smtp_auth::Config {
    config().profile(Profile::ImplicitTls).build()
}

/// Polls until the session asks something; returns the id and question.
fn next_question(d: &mut Driver) -> (smtp_auth::QuestionId, Question) {
    while let Some(o) = d.session.poll() {
        match o {
            Output::Ask { id, question } => return (id, question),
            Output::Send(b) => d.out.sent.extend_from_slice(&b),
            _ => {}
        }
    }
    panic!("no question asked");
}

#[test]
fn design_1_the_session_waits_without_consuming_input() {
    let mut d = Driver::submission(implicit(), Some(tls_info()));
    d.auto_answer = false;
    d.take_sent();
    let pipelined = format!(
        "EHLO client.example\r\n{}\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n",
        auth_plain("alice", "wonderland")
    );
    d.session.receive(d.now, pipelined.as_bytes());
    let (id, q) = next_question(&mut d);
    assert!(matches!(q, Question::MayAuthenticate(_)), "{q:?}");
    // Waiting: nothing more comes out, not even the EHLO reply (the batch
    // is held), and more input is only buffered.
    assert_eq!(d.session.awaiting(), Some(id));
    assert_eq!(d.session.poll(), None);
    assert!(d.out.sent.is_empty());
    assert!(!d.session.wants_read(), "input is buffered: stop reading");
    d.session.receive(d.now, b"NOOP\r\n");
    assert_eq!(d.session.poll(), None);
    assert_eq!(
        d.session.timeout(),
        None,
        "no timeout while the embedder decides"
    );

    // An id from elsewhere and a misfit answer are handed back untouched.
    let err = d.session.answer(other_id(), Answer::Allow).unwrap_err();
    assert_eq!(err.kind(), AnswerErrorKind::WrongId);
    assert_eq!(err.into_answer(), Answer::Allow);
    let err = d
        .session
        .answer(
            id,
            Answer::Recorded {
                delay: Default::default(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), AnswerErrorKind::WrongKind);
    assert_eq!(
        d.session.awaiting(),
        Some(id),
        "still waiting for the same question"
    );

    // The responder answers everything; the pipelined group comes out in
    // one batch, in order.
    let responder = Responder::new(store(), common::policy().build());
    let mut next = Some((id, q));
    while let Some((id, q)) = next.take() {
        let decision = responder.answer(&q, t0());
        d.session.answer(id, decision.answer).expect("fits");
        loop {
            match d.session.poll() {
                Some(Output::Ask { id, question }) => {
                    next = Some((id, question));
                    break;
                }
                Some(Output::Send(b)) => d.out.sent.extend_from_slice(&b),
                Some(_) => {}
                None => break,
            }
        }
    }
    let sent = d.take_sent();
    assert!(
        sent.starts_with("250-mx.example.org greets client.example\r\n"),
        "{sent}"
    );
    assert!(
        sent.ends_with(
            "235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.0.0 OK\r\n"
        ),
        "{sent}"
    );
    // Nothing is open now: even the old id is refused.
    assert_eq!(
        d.session.answer(id, Answer::Allow).unwrap_err().kind(),
        AnswerErrorKind::NothingAsked
    );
}

/// The id of another session's second question: not the open one here.
fn other_id() -> smtp_auth::QuestionId {
    let now = std::time::Instant::now();
    let c = config().profile(Profile::Relay).build();
    let mut s = smtp_auth::Session::new(Arc::new(c), PEER, None, now);
    s.receive(
        now,
        b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
    );
    let mut asked = 0;
    loop {
        match s.poll() {
            Some(Output::Ask { id, .. }) => {
                asked += 1;
                if asked == 2 {
                    return id;
                }
                s.answer(id, Answer::Allow).expect("fits");
            }
            Some(_) => {}
            None => panic!("no second question"),
        }
    }
}

#[test]
fn design_1_buffered_input_while_waiting_is_bounded() {
    let mut d = Driver::submission(implicit(), Some(tls_info()));
    d.auto_answer = false;
    d.line("EHLO client.example");
    d.line(&auth_plain("alice", "wonderland"));
    assert!(d.session.awaiting().is_some());
    let flood = "NOOP\r\n".repeat(20_000);
    d.feed(flood.as_bytes());
    let sent = d.take_sent();
    assert!(
        sent.ends_with("421 4.7.0 Too much pipelined input, closing connection\r\n"),
        "{sent}"
    );
    assert!(d.out.closed);
}

/// A backend that can only check passwords.
struct PasswordsOnly;

impl Authenticator for PasswordsOnly {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.passwords()
    }

    async fn verify_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        store().verify_password(user, password).await
    }
}

/// A backend that serves nothing (every method at its default).
struct Nothing;
impl Authenticator for Nothing {}

fn ehlo_auth_line(sent: &str) -> Option<&str> {
    sent.lines().find_map(|l| {
        l.strip_prefix("250 AUTH ")
            .or_else(|| l.strip_prefix("250-AUTH "))
    })
}

#[test]
#[cfg(feature = "scram")] // the lists include SCRAM
fn r2195_2_4_ehlo_offers_exactly_what_the_authenticator_supports() {
    let check = |mechanisms: Vec<Mechanism>, tls: Option<TlsInfo>| {
        let c = config()
            .profile(Profile::ImplicitTls)
            .mechanisms(mechanisms)
            .build();
        let mut d = Driver::submission(c, tls);
        d.take_sent();
        let sent = d.says("EHLO client.example");
        ehlo_auth_line(&sent).map(str::to_owned)
    };
    let r = Responder::new(PasswordsOnly, SubmissionPolicy::default());
    assert_eq!(
        check(r.mechanisms(), Some(tls_info())).as_deref(),
        Some("PLAIN LOGIN")
    );
    let r = Responder::new(Nothing, SubmissionPolicy::default());
    assert_eq!(
        check(r.mechanisms(), Some(tls_info())),
        None,
        "no AUTH at all"
    );
    let all = MemoryStore::new()
        .user("alice", "x")
        .token("t", "alice")
        .certificate("c", "alice");
    let r = Responder::new(all, SubmissionPolicy::default());
    let cert = tls_info().with_client_certificate("c");
    assert_eq!(
        check(r.mechanisms(), Some(cert)).as_deref(),
        Some("EXTERNAL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN OAUTHBEARER XOAUTH2")
    );
    let cb = tls_info().with_tls_exporter(vec![1; 32]);
    assert_eq!(
        check(r.mechanisms(), Some(cb)).as_deref(),
        Some("SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN OAUTHBEARER XOAUTH2")
    );
    // And a mechanism not offered is refused as unknown (REPLY-04).
    let c = config()
        .profile(Profile::ImplicitTls)
        .mechanisms(Responder::new(PasswordsOnly, SubmissionPolicy::default()).mechanisms())
        .build();
    let mut d = Driver::submission(c, Some(tls_info()));
    d.line("EHLO client.example");
    assert_eq!(
        d.says("AUTH CRAM-MD5"),
        "504 5.5.4 Unrecognized authentication mechanism\r\n"
    );
}

fn reason(d: &Driver) -> Option<AuthFailure> {
    d.out.events.iter().rev().find_map(|e| match e {
        Event::AuthFailed { reason, .. } => Some(*reason),
        _ => None,
    })
}

fn all_mechanisms_config() -> smtp_auth::Config {
    config()
        .profile(Profile::ImplicitTls)
        .mechanisms(store().capabilities().mechanisms())
        .build()
}

#[test]
#[cfg(feature = "scram")] // the lists include SCRAM
fn every_mechanism_runs_against_the_memory_store() {
    let ok = "235 2.7.0 Authentication successful\r\n";
    let invalid = "535 5.7.8 Authentication credentials invalid\r\n";
    let cases: &[(Mechanism, &str, &str, &str, Option<AuthFailure>)] = &[
        (Mechanism::Plain, "alice", "wonderland", ok, None),
        (Mechanism::Login, "bob", "builder", ok, None),
        (Mechanism::CramMd5, "tim", "tanstaaftanstaaf", ok, None),
        (Mechanism::ScramSha1, "alice", "wonderland", ok, None),
        (Mechanism::ScramSha256, "bob", "builder", ok, None),
        (
            Mechanism::Plain,
            "alice",
            "nope",
            invalid,
            Some(AuthFailure::BadCredentials),
        ),
        (
            Mechanism::Login,
            "ghost",
            "nope",
            invalid,
            Some(AuthFailure::UnknownUser),
        ),
        (
            Mechanism::CramMd5,
            "tim",
            "nope",
            invalid,
            Some(AuthFailure::BadCredentials),
        ),
        (
            Mechanism::CramMd5,
            "ghost",
            "nope",
            invalid,
            Some(AuthFailure::UnknownUser),
        ),
        (
            Mechanism::ScramSha256,
            "bob",
            "nope",
            invalid,
            Some(AuthFailure::BadCredentials),
        ),
        (
            Mechanism::ScramSha256,
            "ghost",
            "nope",
            invalid,
            Some(AuthFailure::UnknownUser),
        ),
    ];
    for (mechanism, user, password, reply, failure) in cases {
        let mut d = Driver::submission(all_mechanisms_config(), Some(tls_info()));
        d.line("EHLO client.example");
        let got = client_auth(&mut d, *mechanism, Credentials::password(*user, *password));
        assert_eq!(&got, reply, "{mechanism} {user}");
        assert_eq!(reason(&d), *failure, "{mechanism} {user}");
    }
    // Bearer tokens.
    let mut d = Driver::submission(all_mechanisms_config(), Some(tls_info()));
    d.line("EHLO client.example");
    let got = client_auth(
        &mut d,
        Mechanism::XOAuth2,
        Credentials::token("alice", TOKEN),
    );
    assert_eq!(got, ok);
    let mut d = Driver::submission(all_mechanisms_config(), Some(tls_info()));
    d.line("EHLO client.example");
    let got = client_auth(
        &mut d,
        Mechanism::OAuthBearer,
        Credentials::token("alice", "stolen"),
    );
    assert_eq!(got, invalid);
    // A client certificate.
    let cert = tls_info().with_client_certificate("alice@example.org");
    let mut d = Driver::submission(all_mechanisms_config(), Some(cert));
    d.line("EHLO client.example");
    assert_eq!(d.says("AUTH EXTERNAL ="), ok);
    assert!(d.out.events.contains(&Event::AuthSucceeded {
        peer: PEER,
        identity: "alice".into(),
        mechanism: Mechanism::External
    }));
}

#[test]
fn r4422_3_4_1_2_authzid_needs_a_grant() {
    let store = MemoryStore::new()
        .user("admin", "pw")
        .grant("admin", "alice");
    let responder = Arc::new(Responder::new(store, SubmissionPolicy::default()));
    let mut d = Driver::custom(
        implicit(),
        PEER,
        Some(tls_info()),
        common::answerer(Arc::clone(&responder)),
        t0(),
    );
    d.line("EHLO client.example");
    let ir = |z: &str| format!("AUTH PLAIN {}", b64(format!("{z}\0admin\0pw").as_bytes()));
    assert_eq!(
        d.says(&ir("bob")),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(reason(&d), Some(AuthFailure::NotAuthorized));
    assert_eq!(
        d.says(&ir("alice")),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        d.session.authenticated().map(|a| a.identity.as_str()),
        Some("alice")
    );
}

#[test]
fn r4954_6_3_an_authenticator_that_cannot_answer_gives_454() {
    // Wrong configuration: mechanisms offered that the backend cannot
    // serve. The client is told to come back, not to change its password.
    let responder = Arc::new(Responder::new(Nothing, SubmissionPolicy::default()));
    let mut d = Driver::custom(
        implicit(),
        PEER,
        Some(tls_info()),
        common::answerer(responder),
        t0(),
    );
    d.line("EHLO client.example");
    assert_eq!(
        d.says(&auth_plain("alice", "wonderland")),
        "454 4.7.0 Temporary authentication failure\r\n"
    );
    assert_eq!(reason(&d), Some(AuthFailure::TemporaryFailure));
}

#[test]
fn atk_11_no_event_question_answer_or_debug_output_carries_a_secret() {
    let mut log = Vec::new();
    let secrets = ["wonderland", TOKEN, "builder"];
    // PLAIN, LOGIN, XOAUTH2, failed and successful, with their encodings.
    let mut d = Driver::submission(all_mechanisms_config(), Some(tls_info()));
    d.line("EHLO client.example");
    d.line(&auth_plain("alice", "wonderland-wrong"));
    let _ = client_auth(
        &mut d,
        Mechanism::Login,
        Credentials::password("bob", "builder"),
    );
    log.extend(d.out.log.clone());
    let mut d = Driver::submission(all_mechanisms_config(), Some(tls_info()));
    d.line("EHLO client.example");
    let _ = client_auth(
        &mut d,
        Mechanism::XOAuth2,
        Credentials::token("alice", TOKEN),
    );
    d.line(&auth_plain("alice", "wonderland"));
    log.extend(d.out.log.clone());
    let printed: Vec<String> = log
        .into_iter()
        .filter(|l| !l.starts_with("C: ") && !l.starts_with("S: "))
        .collect();
    assert!(printed.iter().any(|l| l.starts_with("Q: Credentials")));
    let encoded: Vec<String> = [
        b64(b"\0alice\0wonderland"),
        b64(b"builder"),
        b64(format!("user=alice\x01auth=Bearer {TOKEN}\x01\x01").as_bytes()),
    ]
    .into();
    for line in &printed {
        for s in secrets
            .iter()
            .map(|s| s.to_string())
            .chain(encoded.iter().cloned())
        {
            assert!(!line.contains(&s), "{line} shows {s}");
        }
    }
    for s in secrets {
        let debug = format!("{:?}", store());
        assert!(!debug.contains(s), "{debug}");
        let responder = Responder::new(store(), SubmissionPolicy::default());
        let debug = format!("{responder:?}");
        assert!(!debug.contains(s), "{debug}");
    }
}
