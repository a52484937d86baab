//! A fleet on one Redis (issue 7), through real sessions: two independent
//! "servers" — each its own `Responder`, `SubmissionPolicy` and
//! `RedisLimiter` (its own connection), as two processes behind a load
//! balancer have — share lock-outs and quotas; and a session's replies when
//! Redis is stopped mid-run, failing closed (REPLY-20: `454 4.7.0` without
//! asking the authenticator) or open (with an event).
//!
//! Needs `SMTP_AUTH_REDIS_URL` (and `redis-server` for the outage tests);
//! see `tests/redis_support`.
#![cfg(feature = "redis")]

mod common;
mod redis_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{answerer, auth_plain, config, t0, tls_info, Counting, Driver};
use redis_support::{prefix, url, PrivateRedis};
use smtp_auth::event::LimiterCheck;
use smtp_auth::limiter::redis::RedisLimiter;
use smtp_auth::limiter::{Key, Quota};
use smtp_auth::policy::LimiterFailure;
use smtp_auth::{Event, Profile, QuotaKind, Responder, SubmissionPolicy};

const INVALID: &str = "535 5.7.8 Authentication credentials invalid\r\n";
const LOCKED: &str = "454 4.7.0 Temporary authentication failure\r\n";
const OK: &str = "235 2.7.0 Authentication successful\r\n";
const ACCEPTED: &str = "250 2.0.0 Message accepted for delivery\r\n";
const RATE_LIMITED: &str = "451 4.7.1 Sending rate limit exceeded, try again later\r\n";
const LOCAL_ERROR: &str = "451 4.3.0 Local error in processing\r\n";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One submission server of the fleet.
struct Server {
    responder: Arc<Responder<Arc<Counting>, SubmissionPolicy<RedisLimiter>>>,
    backend: Arc<Counting>,
}

impl Server {
    fn new(limiter: RedisLimiter, on_failure: LimiterFailure) -> Self {
        let policy = common::policy()
            .message_quota(Some(Quota::per_hour(2)))
            .on_limiter_failure(on_failure)
            .limiter(limiter)
            .build();
        let backend = Arc::new(Counting::default());
        let responder = Arc::new(Responder::new(Arc::clone(&backend), policy));
        Self { responder, backend }
    }

    /// A fresh implicit-TLS connection from `peer` at `at`, after EHLO.
    fn connect(&self, peer: &str, at: SystemTime) -> Driver {
        let peer: IpAddr = peer.parse().unwrap();
        let mut d = Driver::custom(
            config().profile(Profile::ImplicitTls).build(),
            peer,
            Some(tls_info()),
            answerer(Arc::clone(&self.responder)),
            at,
        );
        d.line("EHLO client.example");
        d.take_sent();
        d
    }
}

/// Two servers sharing one Redis under one prefix.
fn fleet(url: &str, on_failure: LimiterFailure, timeout: Duration) -> (Server, Server) {
    let p = prefix("fleet");
    let limiter = || {
        RedisLimiter::builder(url)
            .prefix(&p)
            .timeout(timeout)
            .build()
            .expect("valid URL")
    };
    (
        Server::new(limiter(), on_failure),
        Server::new(limiter(), on_failure),
    )
}

/// MAIL, one RCPT, DATA and a body; the final reply.
fn send(d: &mut Driver) -> String {
    d.take_sent();
    let mail = d.says("MAIL FROM:<alice@example.org>");
    if !mail.starts_with("250") {
        return mail;
    }
    d.line("RCPT TO:<bob@example.net>");
    d.line("DATA");
    d.take_sent();
    d.feed(b"Subject: hi\r\n\r\nhello\r\n.\r\n");
    d.take_sent()
}

#[test]
fn failures_split_across_two_servers_lock_the_account_on_both() {
    let Some(url) = url("failures_split_across_two_servers_lock_the_account_on_both") else {
        return;
    };
    let (a, b) = fleet(&url, LimiterFailure::Closed, secs(2));
    // Distributed guessing: ten networks, one wrong guess each, spread
    // over both servers. Each server alone has seen five: under the
    // account threshold (10 in 15 min). Together they reach it.
    let mut at = t0();
    let mut started = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let mut d = server.connect(&format!("203.0.113.{}", i + 1), at);
        assert_eq!(d.says(&auth_plain("alice", "guess")), INVALID, "guess {i}");
        started.extend(d.out.events.iter().filter_map(|e| match e {
            Event::LockoutStarted { key, failures, .. } => Some((key.clone(), *failures)),
            _ => None,
        }));
        at += secs(5);
    }
    assert_eq!(a.backend.calls() + b.backend.calls(), 10);
    assert_eq!(
        started,
        [(Key::Account("alice".into()), 10)],
        "the tenth failure, on the second server, locked the account"
    );

    // The right password, from a fresh network, on either server: refused
    // before the credential check (REPLY-21).
    let calls = (a.backend.calls(), b.backend.calls());
    for server in [&a, &b] {
        let mut d = server.connect("198.51.100.99", at);
        assert_eq!(d.says(&auth_plain("alice", "wonderland")), LOCKED);
    }
    assert_eq!((a.backend.calls(), b.backend.calls()), calls, "not asked");

    // Five minutes later the lock is over on both.
    at += secs(301);
    for server in [&a, &b] {
        let mut d = server.connect("198.51.100.99", at);
        assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
    }
}

#[test]
fn failures_from_one_client_split_across_two_servers_lock_the_pair_on_both() {
    let Some(url) = url("failures_from_one_client_split_across_two_servers_lock_the_pair_on_both")
    else {
        return;
    };
    let (a, b) = fleet(&url, LimiterFailure::Closed, secs(2));
    let peer = "192.0.2.10";
    // Three on A (the session closes after the third), two on B: the
    // fifth failure of alice from this address locks the pair.
    let mut d = a.connect(peer, t0());
    for _ in 0..2 {
        assert_eq!(d.says(&auth_plain("alice", "guess")), INVALID);
    }
    assert!(d
        .says(&auth_plain("alice", "guess"))
        .starts_with("421 4.7.0"));
    let mut d = b.connect(peer, t0() + secs(10));
    assert_eq!(d.says(&auth_plain("alice", "guess")), INVALID);
    assert_eq!(d.says(&auth_plain("alice", "guess")), INVALID);
    assert!(
        d.out.events.iter().any(|e| matches!(
            e,
            Event::LockoutStarted {
                key: Key::AccountNetwork(..),
                failures: 5,
                ..
            }
        )),
        "{:?}",
        d.out.events
    );
    let calls = a.backend.calls() + b.backend.calls();
    for server in [&a, &b] {
        let mut d = server.connect(peer, t0() + secs(20));
        assert_eq!(d.says(&auth_plain("alice", "wonderland")), LOCKED);
    }
    assert_eq!(a.backend.calls() + b.backend.calls(), calls);
}

#[test]
fn a_quota_used_up_on_one_server_is_used_up_on_the_other() {
    let Some(url) = url("a_quota_used_up_on_one_server_is_used_up_on_the_other") else {
        return;
    };
    let (a, b) = fleet(&url, LimiterFailure::Closed, secs(2));
    // Two messages an hour: one through each server.
    let mut da = a.connect("192.0.2.10", t0());
    assert_eq!(da.says(&auth_plain("alice", "wonderland")), OK);
    assert!(send(&mut da).ends_with(ACCEPTED));
    let mut db = b.connect("192.0.2.11", t0() + secs(60));
    assert_eq!(db.says(&auth_plain("alice", "wonderland")), OK);
    assert!(send(&mut db).ends_with(ACCEPTED));
    // The third is refused on both, at MAIL FROM.
    for d in [&mut da, &mut db] {
        assert_eq!(send(d), RATE_LIMITED);
        assert!(d.out.events.iter().any(|e| matches!(
            e,
            Event::QuotaReached {
                quota: QuotaKind::Messages,
                limit: 2,
                ..
            }
        )));
    }
    // Two windows later, the quota is back on both.
    let later = t0() + secs(2 * 3600 + 60);
    for server in [&a, &b] {
        let mut d = server.connect("192.0.2.10", later);
        assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
        assert!(send(&mut d).ends_with(ACCEPTED));
    }
}

fn limiter_events(d: &Driver) -> Vec<(LimiterCheck, bool)> {
    d.out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::LimiterUnavailable { check, refused, .. } => Some((*check, *refused)),
            _ => None,
        })
        .collect()
}

/// The default: fail closed. Redis is killed between two commands of an
/// authenticated session and before another client's AUTH. The AUTH gets
/// `454 4.7.0` without the authenticator being asked; MAIL FROM, whose
/// quota cannot be checked, gets `451 4.3.0`; each within the timeout.
#[test]
fn redis_stopped_mid_run_fails_closed() {
    let Some(mut redis) = PrivateRedis::start("redis_stopped_mid_run_fails_closed") else {
        return;
    };
    let timeout = Duration::from_millis(250);
    let (a, _b) = fleet(&redis.url(), LimiterFailure::Closed, timeout);

    let mut s1 = a.connect("192.0.2.10", t0());
    assert_eq!(s1.says(&auth_plain("alice", "wonderland")), OK);
    assert!(send(&mut s1).ends_with(ACCEPTED));

    redis.stop();

    let started = Instant::now();
    assert_eq!(send(&mut s1), LOCAL_ERROR, "the quota cannot be checked");
    assert!(started.elapsed() < secs(2));
    assert_eq!(
        limiter_events(&s1),
        [(LimiterCheck::MessageQuota, true)],
        "reported"
    );

    let calls = a.backend.calls();
    let mut s2 = a.connect("192.0.2.20", t0() + secs(1));
    let started = Instant::now();
    assert_eq!(s2.says(&auth_plain("alice", "wonderland")), LOCKED);
    assert!(started.elapsed() < secs(2), "bounded by the timeout");
    assert_eq!(a.backend.calls(), calls, "the authenticator was not asked");
    assert_eq!(limiter_events(&s2), [(LimiterCheck::Authenticate, true)]);
    // The session goes on; a client may retry (and the 454 is not counted
    // as a failure).
    assert_eq!(s2.says("NOOP"), "250 2.0.0 OK\r\n");

    // Redis is back: the next attempt of the same session works (the
    // limiter reconnects within the call).
    redis.restart();
    assert_eq!(s2.says(&auth_plain("alice", "wonderland")), OK);
    show("fail closed: Redis stopped mid-run", &[&s1, &s2]);
}

/// Prints the sessions' logs (seen with `--nocapture`).
fn show(title: &str, sessions: &[&Driver]) {
    println!("=== {title}");
    for (i, d) in sessions.iter().enumerate() {
        println!("--- session {}", i + 1);
        for line in &d.out.log {
            println!("{line}");
        }
    }
}

/// Fail open: the same outage lets the client in (the authenticator
/// decides alone) and the message through, with an event each time.
#[test]
fn redis_stopped_mid_run_fails_open_when_configured() {
    let Some(mut redis) = PrivateRedis::start("redis_stopped_mid_run_fails_open_when_configured")
    else {
        return;
    };
    let (a, _b) = fleet(
        &redis.url(),
        LimiterFailure::Open,
        Duration::from_millis(250),
    );
    let mut s1 = a.connect("192.0.2.10", t0());
    assert_eq!(s1.says(&auth_plain("alice", "wonderland")), OK);
    redis.stop();
    assert!(send(&mut s1).ends_with(ACCEPTED));
    assert_eq!(
        limiter_events(&s1),
        [
            (LimiterCheck::MessageQuota, false),
            (LimiterCheck::RecipientQuota, false),
            (LimiterCheck::MessageQuota, false)
        ],
        "MAIL FROM, RCPT TO and the end of data"
    );

    let calls = a.backend.calls();
    let mut s2 = a.connect("192.0.2.20", t0() + secs(1));
    assert_eq!(s2.says(&auth_plain("alice", "wonderland")), OK);
    assert_eq!(a.backend.calls(), calls + 1, "the authenticator decided");
    assert_eq!(
        limiter_events(&s2)[..2],
        [
            (LimiterCheck::Authenticate, false),
            (LimiterCheck::AuthSuccess, false)
        ]
    );
    // A wrong password still fails, and is not counted.
    let mut s3 = a.connect("192.0.2.30", t0() + secs(2));
    assert_eq!(s3.says(&auth_plain("alice", "guess")), INVALID);
    assert_eq!(
        limiter_events(&s3),
        [
            (LimiterCheck::Authenticate, false),
            (LimiterCheck::AuthFailure, false)
        ]
    );
}
