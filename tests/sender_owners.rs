//! A `SenderOwners` source (e.g. a directory's addresses) in the default
//! policy (R6409-6.1, REPLY-18): consulted after the identity itself and
//! the sender login map; an owner gets `250`, anyone else `550 5.7.1`, and
//! a source that cannot answer a temporary `451 4.3.0`, never `550`. The
//! null sender never asks it (R6409-3.2.2).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{answerer, auth_plain, config, store, t0, tls_info, Driver, PEER};
use smtp_auth::{Ownership, Profile, Responder, SenderOwners, SubmissionPolicy};

/// alice owns `alias@example.org`; `down@example.org` finds the source down.
#[derive(Debug, Default)]
struct Directory {
    asked: AtomicUsize,
}

impl SenderOwners for Directory {
    async fn ownership(&self, identity: &str, address: &str) -> Ownership {
        self.asked.fetch_add(1, Ordering::SeqCst);
        match (identity, address.to_lowercase().as_str()) {
            (_, "down@example.org") => Ownership::Unavailable,
            ("alice", "alias@example.org") => Ownership::Owned,
            _ => Ownership::NotOwned,
        }
    }
}

fn session(dir: Arc<Directory>) -> Driver {
    let policy = common::policy().sender_owners(dir).build();
    let r = Arc::new(Responder::new(store(), policy));
    let cfg = config()
        .profile(Profile::ImplicitTls)
        .mechanisms(r.mechanisms())
        .build();
    let mut d = Driver::custom(cfg, PEER, Some(tls_info()), answerer(r), t0());
    d.line("EHLO client.example");
    assert!(d
        .says(&auth_plain("alice", "wonderland"))
        .starts_with("235 "));
    d
}

fn mail(d: &mut Driver, line: &str) -> String {
    let reply = d.says(line);
    d.says("RSET");
    reply
}

#[test]
fn r6409_6_1_sender_owners_source_after_map_and_identity() {
    let dir = Arc::new(Directory::default());
    let mut d = session(Arc::clone(&dir));
    let ok = "250 2.1.0 Sender OK\r\n";
    let refused = "550 5.7.1 Sender address not authorized for this user\r\n";
    assert_eq!(mail(&mut d, "MAIL FROM:<alice@example.org>"), ok);
    assert_eq!(dir.asked.load(Ordering::SeqCst), 0, "the map decided");
    assert_eq!(mail(&mut d, "MAIL FROM:<Alias@example.org>"), ok);
    assert_eq!(mail(&mut d, "MAIL FROM:<bob@example.org>"), refused);
    assert_eq!(
        mail(&mut d, "MAIL FROM:<down@example.org>"),
        "451 4.3.0 Local error in processing\r\n"
    );
    assert_eq!(
        mail(
            &mut d,
            "MAIL FROM:<alice@example.org> AUTH=alias@example.org"
        ),
        ok
    );
    assert_eq!(
        mail(&mut d, "MAIL FROM:<alice@example.org> AUTH=bob@example.org"),
        refused
    );
    let asked = dir.asked.load(Ordering::SeqCst);
    assert_eq!(mail(&mut d, "MAIL FROM:<>"), ok);
    assert_eq!(dir.asked.load(Ordering::SeqCst), asked, "<> never asks");
}

#[test]
fn sender_login_map_is_a_sender_owners_source_too() {
    let (map, _) = smtp_auth::SenderLoginMap::parse("shared@example.org alice\n");
    let policy = SubmissionPolicy::builder()
        .sender_owners(Arc::new(map))
        .build();
    let r = Arc::new(Responder::new(store(), policy));
    let cfg = config().profile(Profile::ImplicitTls).build();
    let mut d = Driver::custom(cfg, PEER, Some(tls_info()), answerer(r), t0());
    d.line("EHLO client.example");
    d.says(&auth_plain("alice", "wonderland"));
    assert_eq!(
        d.says("MAIL FROM:<shared@example.org>"),
        "250 2.1.0 Sender OK\r\n"
    );
}
