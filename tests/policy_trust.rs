//! Who may submit or relay without AUTH: the Relay profile accepts mail
//! for local domains only (R6409-9.1: no open relay); configured networks
//! are trusted; the legacy "recently authenticated address" adaptor
//! (POP-before-SMTP, R6409-3.3.1) is off unless configured, and expires.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{answerer, config, store, t0, Driver, PEER};
use smtp_auth::{Event, Profile, RecentAuthentications, Responder, SubmissionPolicy};

fn driver(profile: Profile, policy: SubmissionPolicy, at: std::time::SystemTime) -> Driver {
    let responder = Arc::new(Responder::new(store(), policy));
    let mut d = Driver::custom(
        config().profile(profile).build(),
        PEER,
        None,
        answerer(responder),
        at,
    );
    d.line("EHLO client.example");
    d.take_sent();
    d
}

#[test]
fn r6409_9_1_relay_profile_accepts_local_domains_only() {
    let policy = SubmissionPolicy::builder()
        .local_domains(["example.org"])
        .build();
    let mut d = driver(Profile::Relay, policy, t0());
    assert_eq!(
        d.says("MAIL FROM:<someone@remote.example>"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        d.says("RCPT TO:<alice@example.org>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        d.says("RCPT TO:<alice@EXAMPLE.ORG>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(d.says("RCPT TO:<Postmaster>"), "250 2.1.5 Recipient OK\r\n");
    assert_eq!(
        d.says("RCPT TO:<victim@elsewhere.example>"),
        "550 5.7.1 Relay access denied\r\n"
    );
    assert_eq!(
        d.says("RCPT TO:<x@sub.example.org>"),
        "550 5.7.1 Relay access denied\r\n",
        "subdomains are other domains"
    );
    assert!(d.out.events.contains(&Event::RecipientRefused {
        peer: PEER,
        identity: None,
        recipient: "victim@elsewhere.example".into(),
        code: 550
    }));
}

#[test]
fn relay_profile_without_local_domains_accepts_nothing() {
    let mut d = driver(Profile::Relay, SubmissionPolicy::default(), t0());
    d.line("MAIL FROM:<a@b.example>");
    assert_eq!(
        d.says("RCPT TO:<alice@example.org>"),
        "550 5.7.1 Relay access denied\r\n"
    );
}

#[test]
fn trusted_networks_submit_and_relay_without_auth() {
    let policy = SubmissionPolicy::builder()
        .trusted_networks(["192.0.2.0/24".parse().unwrap()])
        .build();
    let mut d = driver(Profile::Submission, policy, t0());
    assert_eq!(
        d.says("MAIL FROM:<anyone@example.org>"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        d.says("RCPT TO:<friend@elsewhere.example>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    d.line("DATA");
    d.feed(b"hi\r\n.\r\n");
    assert!(d
        .take_sent()
        .ends_with("250 2.0.0 Message accepted for delivery\r\n"));
    let policy = SubmissionPolicy::builder()
        .trusted_networks(["198.51.100.0/24".parse().unwrap()])
        .build();
    let mut d = driver(Profile::Submission, policy, t0());
    assert_eq!(
        d.says("MAIL FROM:<anyone@example.org>"),
        "530 5.7.0 Authentication required\r\n"
    );
    // Trusted networks relay on port 25 as well.
    let policy = SubmissionPolicy::builder()
        .trusted_networks(["192.0.2.10".parse().unwrap()])
        .build();
    let mut d = driver(Profile::Relay, policy, t0());
    d.line("MAIL FROM:<a@b.example>");
    assert_eq!(
        d.says("RCPT TO:<friend@elsewhere.example>"),
        "250 2.1.5 Recipient OK\r\n"
    );
}

#[test]
fn r6409_3_3_1_recently_authenticated_addresses_are_off_by_default_and_expire() {
    let recent = Arc::new(RecentAuthentications::new(Duration::from_secs(600)));
    // The IMAP server saw a login from the client's address.
    recent.record(PEER, t0());
    // Without the adaptor configured nothing changes.
    let mut d = driver(Profile::Submission, SubmissionPolicy::default(), t0());
    assert_eq!(
        d.says("MAIL FROM:<alice@example.org>"),
        "530 5.7.0 Authentication required\r\n"
    );
    let policy = || {
        SubmissionPolicy::builder()
            .recent_authentications(Arc::clone(&recent))
            .build()
    };
    let mut d = driver(
        Profile::Submission,
        policy(),
        t0() + Duration::from_secs(60),
    );
    assert_eq!(
        d.says("MAIL FROM:<alice@example.org>"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        d.says("RCPT TO:<friend@elsewhere.example>"),
        "250 2.1.5 Recipient OK\r\n"
    );
    let mut d = driver(
        Profile::Submission,
        policy(),
        t0() + Duration::from_secs(600),
    );
    assert_eq!(
        d.says("MAIL FROM:<alice@example.org>"),
        "530 5.7.0 Authentication required\r\n",
        "the trust expired"
    );
}
