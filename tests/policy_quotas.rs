//! Per-identity quotas (REPLY-25, REPLY-26, R6409-6.2/6.3): messages and
//! recipients per window, and the message size, each with a
//! `QuotaReached` event.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{answerer, auth_plain, config, store, t0, tls_info, Driver, PEER};
use smtp_auth::limiter::Quota;
use smtp_auth::{Event, Profile, QuotaKind, Responder, SubmissionPolicy};

fn session(
    policy: &Arc<Responder<Arc<smtp_auth::MemoryStore>, SubmissionPolicy>>,
    at: std::time::SystemTime,
) -> Driver {
    let mut d = Driver::custom(
        config().profile(Profile::ImplicitTls).build(),
        PEER,
        Some(tls_info()),
        answerer(Arc::clone(policy)),
        at,
    );
    d.line("EHLO client.example");
    assert!(d
        .says(&auth_plain("alice", "wonderland"))
        .starts_with("235 "));
    d
}

fn responder(
    policy: SubmissionPolicy,
) -> Arc<Responder<Arc<smtp_auth::MemoryStore>, SubmissionPolicy>> {
    Arc::new(Responder::new(store(), policy))
}

fn send(d: &mut Driver, recipients: usize) -> String {
    d.take_sent();
    d.line("MAIL FROM:<alice@example.org>");
    let mail = d.take_sent();
    if !mail.starts_with("250") {
        return mail;
    }
    for i in 0..recipients {
        d.line(&format!("RCPT TO:<r{i}@example.net>"));
    }
    d.line("DATA");
    d.feed(b"Subject: hi\r\n\r\nhello\r\n.\r\n");
    d.take_sent()
}

fn quota_events(d: &Driver) -> Vec<Event> {
    d.out
        .events
        .iter()
        .filter(|e| matches!(e, Event::QuotaReached { .. }))
        .cloned()
        .collect()
}

#[test]
fn reply_25_message_quota_per_identity() {
    let r = responder(
        common::policy()
            .message_quota(Some(Quota::per_hour(2)))
            .build(),
    );
    let mut d = session(&r, t0());
    assert!(send(&mut d, 1).ends_with("250 2.0.0 Message accepted for delivery\r\n"));
    // The quota is the identity's, across sessions.
    let mut d = session(&r, t0() + Duration::from_secs(60));
    assert!(send(&mut d, 1).ends_with("250 2.0.0 Message accepted for delivery\r\n"));
    assert_eq!(
        send(&mut d, 1),
        "451 4.7.1 Sending rate limit exceeded, try again later\r\n"
    );
    assert_eq!(
        quota_events(&d),
        [Event::QuotaReached {
            peer: PEER,
            identity: "alice".into(),
            quota: QuotaKind::Messages,
            limit: 2
        }]
    );
    assert!(d.out.events.contains(&Event::SenderRefused {
        peer: PEER,
        identity: Some("alice".into()),
        sender: "alice@example.org".into(),
        code: 451
    }));
    // Two hours later the window has passed.
    let mut d = session(&r, t0() + Duration::from_secs(2 * 3600 + 60));
    assert!(send(&mut d, 1).ends_with("250 2.0.0 Message accepted for delivery\r\n"));
}

#[test]
fn reply_25_recipient_quota_per_identity() {
    let r = responder(
        common::policy()
            .recipient_quota(Some(Quota::per_hour(3)))
            .build(),
    );
    let mut d = session(&r, t0());
    d.line("MAIL FROM:<alice@example.org>");
    d.take_sent();
    for i in 0..3 {
        assert_eq!(
            d.says(&format!("RCPT TO:<r{i}@example.net>")),
            "250 2.1.5 Recipient OK\r\n"
        );
    }
    assert_eq!(
        d.says("RCPT TO:<r3@example.net>"),
        "452 4.5.3 Recipient quota exceeded, try again later\r\n"
    );
    assert_eq!(
        quota_events(&d),
        [Event::QuotaReached {
            peer: PEER,
            identity: "alice".into(),
            quota: QuotaKind::Recipients,
            limit: 3
        }]
    );
    assert!(d.out.events.contains(&Event::RecipientRefused {
        peer: PEER,
        identity: Some("alice".into()),
        recipient: "r3@example.net".into(),
        code: 452
    }));
    // The three accepted recipients still get the message.
    d.line("DATA");
    d.feed(b"hello\r\n.\r\n");
    assert!(d
        .take_sent()
        .ends_with("250 2.0.0 Message accepted for delivery\r\n"));
    assert!(d.out.events.contains(&Event::MessageAccepted {
        peer: PEER,
        identity: Some("alice".into()),
        size: 7,
        recipients: 3
    }));
}

#[test]
fn reply_26_message_size_per_identity() {
    let r = responder(common::policy().max_message_size(Some(100)).build());
    let mut d = session(&r, t0());
    assert_eq!(
        d.says("MAIL FROM:<alice@example.org> SIZE=200"),
        "552 5.3.4 Message size exceeds limit\r\n"
    );
    assert_eq!(
        d.says("MAIL FROM:<alice@example.org> SIZE=100"),
        "250 2.1.0 Sender OK\r\n"
    );
    d.line("RCPT TO:<bob@example.net>");
    d.line("DATA");
    d.take_sent();
    let body = format!("{}\r\n.\r\n", "x".repeat(150));
    d.feed(body.as_bytes());
    assert_eq!(d.take_sent(), "552 5.3.4 Message size exceeds limit\r\n");
    let size_event = Event::QuotaReached {
        peer: PEER,
        identity: "alice".into(),
        quota: QuotaKind::MessageSize,
        limit: 100,
    };
    assert_eq!(quota_events(&d), [size_event.clone(), size_event]);
    assert!(d.out.events.contains(&Event::MessageRefused {
        peer: PEER,
        code: 552
    }));
}

#[test]
fn refused_messages_do_not_use_the_message_quota() {
    let r = responder(
        common::policy()
            .message_quota(Some(Quota::per_hour(1)))
            .max_message_size(Some(10))
            .build(),
    );
    let mut d = session(&r, t0());
    d.line("MAIL FROM:<alice@example.org>");
    d.line("RCPT TO:<bob@example.net>");
    d.line("DATA");
    d.feed(b"far too long for ten octets\r\n.\r\n");
    assert!(d
        .take_sent()
        .ends_with("552 5.3.4 Message size exceeds limit\r\n"));
    d.line("MAIL FROM:<alice@example.org>");
    d.line("RCPT TO:<bob@example.net>");
    d.line("DATA");
    d.feed(b"short\r\n.\r\n");
    assert!(d
        .take_sent()
        .ends_with("250 2.0.0 Message accepted for delivery\r\n"));
}
