//! Sender ownership (R6409-6.1, REPLY-18, R6409-3.2.2, RFC 4954 §5): the
//! MAIL FROM address and a trusted `AUTH=` must belong to the
//! authenticated identity, by the Postfix-style sender login map or because
//! the identity is that address; `MAIL FROM:<>` is never refused for it.

mod common;

use std::sync::Arc;

use common::{answerer, auth_plain, config, store, t0, tls_info, Driver, PEER};
use smtp_auth::{Event, MemoryStore, Profile, Responder, SubmissionPolicy};

const OWNED: &str = "250 2.1.0 Sender OK\r\n";
const NOT_OWNED: &str = "550 5.7.1 Sender address not authorized for this user\r\n";

/// An implicit-TLS session authenticated as `user`.
fn logged_in(user: &str, password: &str) -> Driver {
    let mut d = Driver::submission(
        config().profile(Profile::ImplicitTls).build(),
        Some(tls_info()),
    );
    d.line("EHLO client.example");
    assert!(d.says(&auth_plain(user, password)).starts_with("235 "));
    d
}

/// MAIL, then RSET so the next MAIL starts afresh.
fn mail(d: &mut Driver, line: &str) -> String {
    let reply = d.says(line);
    d.line("RSET");
    d.take_sent();
    reply
}

#[test]
fn r6409_6_1_sender_must_be_owned_by_the_identity() {
    let mut d = logged_in("alice", "wonderland");
    assert_eq!(mail(&mut d, "MAIL FROM:<alice@example.org>"), OWNED);
    assert_eq!(
        mail(&mut d, "MAIL FROM:<Alice@EXAMPLE.org>"),
        OWNED,
        "case-insensitive"
    );
    assert_eq!(mail(&mut d, "MAIL FROM:<bob@example.org>"), NOT_OWNED);
    assert_eq!(mail(&mut d, "MAIL FROM:<ceo@example.org>"), NOT_OWNED);
    assert_eq!(
        mail(&mut d, "MAIL FROM:<news@lists.example.org>"),
        OWNED,
        "@domain entry"
    );
    let refused: Vec<_> = d
        .out
        .events
        .iter()
        .filter(|e| matches!(e, Event::SenderRefused { .. }))
        .cloned()
        .collect();
    assert_eq!(
        refused,
        [
            Event::SenderRefused {
                peer: PEER,
                identity: Some("alice".into()),
                sender: "bob@example.org".into(),
                code: 550
            },
            Event::SenderRefused {
                peer: PEER,
                identity: Some("alice".into()),
                sender: "ceo@example.org".into(),
                code: 550
            },
        ]
    );
}

#[test]
fn r6409_3_2_2_null_sender_is_never_refused_for_ownership() {
    let mut d = logged_in("bob", "builder");
    assert_eq!(mail(&mut d, "MAIL FROM:<>"), OWNED);
    assert_eq!(mail(&mut d, "MAIL FROM:<> AUTH=<>"), OWNED);
    // A policy with no map at all still lets <> through.
    let responder = Arc::new(Responder::new(store(), SubmissionPolicy::default()));
    let mut d = Driver::custom(
        config().profile(Profile::ImplicitTls).build(),
        PEER,
        Some(tls_info()),
        answerer(responder),
        t0(),
    );
    d.line("EHLO client.example");
    d.says(&auth_plain("bob", "builder"));
    assert_eq!(mail(&mut d, "MAIL FROM:<>"), OWNED);
    assert_eq!(mail(&mut d, "MAIL FROM:<bob@example.org>"), NOT_OWNED);
}

#[test]
fn r4954_5_trusted_auth_parameter_must_be_owned_too() {
    let mut d = logged_in("alice", "wonderland");
    assert_eq!(
        mail(
            &mut d,
            "MAIL FROM:<alice@example.org> AUTH=alice@example.org"
        ),
        OWNED
    );
    assert_eq!(
        mail(&mut d, "MAIL FROM:<alice@example.org> AUTH=bob@example.org"),
        NOT_OWNED
    );
    assert_eq!(
        mail(&mut d, "MAIL FROM:<> AUTH=bob@example.org"),
        NOT_OWNED,
        "a null sender does not launder a foreign AUTH="
    );
    assert_eq!(mail(&mut d, "MAIL FROM:<alice@example.org> AUTH=<>"), OWNED);
    // xtext-encoded: bob+2Bx@example.org is bob+x@example.org.
    assert_eq!(
        mail(
            &mut d,
            "MAIL FROM:<alice@example.org> AUTH=bob+2Bx@example.org"
        ),
        NOT_OWNED
    );
}

#[test]
fn an_identity_that_is_an_address_owns_that_address() {
    let store = MemoryStore::new().user("carol@example.com", "pw");
    let responder = Arc::new(Responder::new(store, SubmissionPolicy::default()));
    let mut d = Driver::custom(
        config().profile(Profile::ImplicitTls).build(),
        PEER,
        Some(tls_info()),
        answerer(Arc::clone(&responder)),
        t0(),
    );
    d.line("EHLO client.example");
    assert!(d
        .says(&auth_plain("carol@example.com", "pw"))
        .starts_with("235 "));
    assert_eq!(mail(&mut d, "MAIL FROM:<carol@example.com>"), OWNED);
    assert_eq!(mail(&mut d, "MAIL FROM:<CAROL@example.com>"), OWNED);
    assert_eq!(mail(&mut d, "MAIL FROM:<dave@example.com>"), NOT_OWNED);
    // Switched off, only the map counts (there is none here).
    let strict = SubmissionPolicy::builder()
        .identity_owns_itself(false)
        .build();
    let responder = Arc::new(Responder::new(
        MemoryStore::new().user("carol@example.com", "pw"),
        strict,
    ));
    let mut d = Driver::custom(
        config().profile(Profile::ImplicitTls).build(),
        PEER,
        Some(tls_info()),
        answerer(responder),
        t0(),
    );
    d.line("EHLO client.example");
    d.says(&auth_plain("carol@example.com", "pw"));
    assert_eq!(mail(&mut d, "MAIL FROM:<carol@example.com>"), NOT_OWNED);
}

#[test]
fn unknown_mail_parameters_are_refused() {
    let mut d = logged_in("alice", "wonderland");
    assert_eq!(
        mail(&mut d, "MAIL FROM:<alice@example.org> RET=FULL"),
        "555 5.5.4 MAIL FROM/RCPT TO parameters not recognized or not implemented\r\n"
    );
    d.line("MAIL FROM:<alice@example.org>");
    assert_eq!(
        d.says("RCPT TO:<bob@example.net> NOTIFY=NEVER"),
        "555 5.5.4 MAIL FROM/RCPT TO parameters not recognized or not implemented\r\n"
    );
}
