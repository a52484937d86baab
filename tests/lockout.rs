//! Lock-out (ATK-09, REPLY-21, R4954-9.3): failed guesses are counted per
//! account, per client network and per account+network; past a threshold
//! the attempt is refused with `454 4.7.0` before any credential check, the
//! authenticator is not consulted, and after the lock it works again.
//! Driven through real sessions with the default `SubmissionPolicy`.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{answerer, auth_plain, b64, config, t0, tls_info, Counting, Driver, PEER};
use smtp_auth::limiter::{Key, Network};
use smtp_auth::{AuthFailure, Event, Profile, Responder, SubmissionPolicy};

const INVALID: &str = "535 5.7.8 Authentication credentials invalid\r\n";
const LOCKED: &str = "454 4.7.0 Temporary authentication failure\r\n";
const OK: &str = "235 2.7.0 Authentication successful\r\n";
const CLOSING: &str = "421 4.7.0 Too many authentication failures, closing connection\r\n";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct World {
    responder: Arc<Responder<Arc<Counting>, SubmissionPolicy>>,
    backend: Arc<Counting>,
}

impl World {
    fn new(policy: SubmissionPolicy) -> Self {
        let backend = Arc::new(Counting::default());
        let responder = Arc::new(Responder::new(Arc::clone(&backend), policy));
        Self { responder, backend }
    }

    fn default_policy() -> Self {
        Self::new(common::policy().build())
    }

    /// A fresh implicit-TLS connection from `peer` at `at`, after EHLO.
    fn connect(&self, peer: &str, at: SystemTime) -> Driver {
        let config = config().profile(Profile::ImplicitTls).build();
        let peer: IpAddr = peer.parse().unwrap();
        let mut d = Driver::custom(
            config,
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

fn net(s: &str) -> Network {
    s.parse().unwrap()
}

/// The authentication and lock-out events, as `Debug` text.
fn auth_events(d: &Driver) -> Vec<String> {
    d.out
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::AuthFailed { .. }
                    | Event::AuthSucceeded { .. }
                    | Event::LockoutStarted { .. }
                    | Event::LockoutEnded { .. }
            )
        })
        .map(|e| format!("{e:?}"))
        .collect()
}

fn failed(peer: &str, user: &str, reason: AuthFailure) -> String {
    format!(
        "{:?}",
        Event::AuthFailed {
            peer: peer.parse().unwrap(),
            user: Some(user.into()),
            mechanism: Some(smtp_auth::sasl::Mechanism::Plain),
            reason,
        }
    )
}

#[test]
fn atk_09_lockout_story_end_to_end() {
    let w = World::default_policy();
    let peer = "192.0.2.10";
    let pair = Key::AccountNetwork("alice".into(), net("192.0.2.10/32"));

    // Session 1: three wrong guesses; the session closes after the third
    // (R4954-9.3, REPLY-22), each reply held a little longer.
    let mut s1 = w.connect(peer, t0());
    assert_eq!(s1.says(&auth_plain("alice", "guess-1")), INVALID);
    assert_eq!(s1.says(&auth_plain("alice", "guess-2")), INVALID);
    assert_eq!(s1.says(&auth_plain("alice", "guess-3")), CLOSING);
    assert!(s1.out.closed);
    assert_eq!(s1.out.delays, [secs(1), secs(2), secs(4)]);
    assert_eq!(w.backend.calls(), 3);

    // Session 2, a minute later: the fifth failure locks alice for this
    // network for 5 minutes.
    let mut s2 = w.connect(peer, t0() + secs(60));
    assert_eq!(s2.says(&auth_plain("alice", "guess-4")), INVALID);
    assert_eq!(s2.says(&auth_plain("alice", "guess-5")), INVALID);
    assert_eq!(s2.out.delays, [secs(8), secs(8)]);
    let started = Event::LockoutStarted {
        peer: PEER,
        key: pair.clone(),
        failures: 5,
        duration: secs(300),
        until: t0() + secs(360),
    };
    assert_eq!(
        auth_events(&s2),
        [
            failed(peer, "alice", AuthFailure::BadCredentials),
            format!("{started:?}"),
            failed(peer, "alice", AuthFailure::BadCredentials),
        ]
    );
    assert_eq!(w.backend.calls(), 5);

    // Session 3: the right password is refused too, and the authenticator
    // is not asked (REPLY-21).
    let mut s3 = w.connect(peer, t0() + secs(120));
    assert_eq!(s3.says(&auth_plain("alice", "wonderland")), LOCKED);
    assert_eq!(w.backend.calls(), 5, "the backend was not consulted");
    assert_eq!(
        auth_events(&s3),
        [failed(peer, "alice", AuthFailure::Locked)]
    );
    assert!(s3.out.delays.is_empty(), "a refusal is not a guess");
    // LOGIN asks for the password as usual (RLOGIN-2.7), then refuses.
    assert_eq!(
        s3.says(&format!("AUTH LOGIN {}", b64(b"alice"))),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(s3.says(&b64(b"wonderland")), LOCKED);
    assert_eq!(w.backend.calls(), 5);

    // Session 4, after the lock: it works, and the end is reported.
    let mut s4 = w.connect(peer, t0() + secs(361));
    assert_eq!(s4.says(&auth_plain("alice", "wonderland")), OK);
    assert_eq!(w.backend.calls(), 6);
    let ended = Event::LockoutEnded {
        peer: PEER,
        key: pair,
    };
    assert_eq!(
        auth_events(&s4),
        [
            format!("{ended:?}"),
            format!(
                "{:?}",
                Event::AuthSucceeded {
                    peer: PEER,
                    identity: "alice".into(),
                    mechanism: smtp_auth::sasl::Mechanism::Plain
                }
            ),
        ]
    );

    // The closing note's transcript.
    for (i, s) in [&s1, &s2, &s3, &s4].iter().enumerate() {
        println!("--- session {} ---", i + 1);
        for line in &s.out.log {
            if !line.starts_with("Q: ") {
                println!("{line}");
            }
        }
    }
}

#[test]
fn atk_09_lock_duration_backs_off_exponentially() {
    let w = World::default_policy();
    let mut at = t0();
    let mut durations = Vec::new();
    for _round in 0..4 {
        let mut d = w.connect("192.0.2.10", at);
        for i in 0..5 {
            if d.out.closed {
                d = w.connect("192.0.2.10", at);
            }
            let _ = d.says(&auth_plain("alice", &format!("guess-{i}")));
        }
        let until = d
            .out
            .events
            .iter()
            .find_map(|e| match e {
                Event::LockoutStarted {
                    key: Key::AccountNetwork(..),
                    duration,
                    until,
                    ..
                } => {
                    durations.push(*duration);
                    Some(*until)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("a lock started: {:#?}", d.out.log));
        at = until + secs(1);
    }
    assert_eq!(durations, [secs(300), secs(600), secs(1200), secs(2400)]);
}

#[test]
fn atk_09_password_spraying_locks_the_client_network() {
    // Many accounts from one address: the per-network rule (20 in 15 min).
    let w = World::default_policy();
    let attacker = "203.0.113.5";
    let mut d = w.connect(attacker, t0());
    for i in 0..20 {
        if d.out.closed {
            d = w.connect(attacker, t0());
        }
        let reply = d.says(&auth_plain(&format!("user{i}"), "Summer2024!"));
        assert!(reply == INVALID || reply == CLOSING, "{reply}");
    }
    let started = d.out.events.iter().any(|e| {
        matches!(e, Event::LockoutStarted { key: Key::Network(n), failures: 20, duration, .. }
            if *n == net("203.0.113.5/32") && *duration == secs(900))
    });
    assert!(started, "{:#?}", d.out.events);
    let calls = w.backend.calls();
    // A real account with its real password, from the sprayer: refused
    // without asking the backend.
    let mut d = w.connect(attacker, t0() + secs(10));
    assert_eq!(d.says(&auth_plain("bob", "builder")), LOCKED);
    assert_eq!(w.backend.calls(), calls);
    // Another client is not affected.
    let mut other = w.connect("198.51.100.77", t0() + secs(10));
    assert_eq!(other.says(&auth_plain("bob", "builder")), OK);
}

#[test]
fn atk_09_ipv6_clients_are_grouped_by_slash_64() {
    let w = World::default_policy();
    // A fresh address from the same /64 for every guess.
    for i in 0..5 {
        let peer = format!("2001:db8:5:6::{:x}", 0x100 + i);
        let mut d = w.connect(&peer, t0());
        assert_eq!(d.says(&auth_plain("alice", "guess")), INVALID);
    }
    let calls = w.backend.calls();
    let mut d = w.connect("2001:db8:5:6:ffff::1", t0() + secs(1));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), LOCKED);
    assert_eq!(w.backend.calls(), calls);
    // The next /64 is another client.
    let mut d = w.connect("2001:db8:5:7::1", t0() + secs(1));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
}

#[test]
fn atk_09_distributed_guessing_locks_the_account_but_not_its_known_good_network() {
    let w = World::default_policy();
    // Bob logs in from home: that network becomes known good for bob.
    let mut home = w.connect("198.51.100.1", t0());
    assert_eq!(home.says(&auth_plain("bob", "builder")), OK);
    // Ten addresses guess once each (per-account rule: 10 in 15 min).
    for i in 1..=10 {
        let mut d = w.connect(&format!("203.0.113.{i}"), t0() + secs(i));
        assert_eq!(d.says(&auth_plain("bob", "guess")), INVALID);
        let locked = d.out.events.iter().any(|e| {
            matches!(e, Event::LockoutStarted { key: Key::Account(a), failures: 10, .. } if &**a == "bob")
        });
        assert_eq!(locked, i == 10, "guess {i}");
    }
    let calls = w.backend.calls();
    // An eleventh address, even with the right password: refused unasked.
    let mut d = w.connect("203.0.113.99", t0() + secs(20));
    assert_eq!(d.says(&auth_plain("bob", "builder")), LOCKED);
    // A new network of bob's own (a hotel) is refused as well.
    let mut hotel = w.connect("192.0.2.200", t0() + secs(20));
    assert_eq!(hotel.says(&auth_plain("bob", "builder")), LOCKED);
    assert_eq!(w.backend.calls(), calls);
    // But bob at home is not locked out by the attack (Mailu #2880).
    let mut home = w.connect("198.51.100.1", t0() + secs(20));
    assert_eq!(home.says(&auth_plain("bob", "builder")), OK);
    // After the lock, the hotel works too.
    let mut hotel = w.connect("192.0.2.200", t0() + secs(10 + 301));
    assert_eq!(hotel.says(&auth_plain("bob", "builder")), OK);
}

#[test]
fn atk_07_unknown_users_look_and_lock_like_known_ones() {
    let w = World::default_policy();
    let mut a = w.connect("192.0.2.10", t0());
    let mut g = w.connect("192.0.2.11", t0());
    let known = a.says(&auth_plain("alice", "nope"));
    let unknown = g.says(&auth_plain("ghost", "nope"));
    assert_eq!(known, unknown, "the same bytes (REPLY-02)");
    assert_eq!(
        auth_events(&a),
        [failed("192.0.2.10", "alice", AuthFailure::BadCredentials)]
    );
    assert_eq!(
        auth_events(&g),
        [failed("192.0.2.11", "ghost", AuthFailure::UnknownUser)]
    );
    // An unknown account locks exactly like a known one, so the lock-out
    // reveals nothing either.
    for _ in 0..4 {
        if g.out.closed {
            g = w.connect("192.0.2.11", t0());
        }
        let _ = g.says(&auth_plain("ghost", "nope"));
    }
    let mut g = w.connect("192.0.2.11", t0() + secs(1));
    assert_eq!(g.says(&auth_plain("ghost", "nope")), LOCKED);
}

#[test]
fn account_names_are_counted_case_insensitively() {
    let w = World::default_policy();
    let mut d = w.connect("192.0.2.10", t0());
    for user in ["alice", "Alice", "ALICE", "aLiCe", "alicE"] {
        if d.out.closed {
            d = w.connect("192.0.2.10", t0());
        }
        let _ = d.says(&auth_plain(user, "nope"));
    }
    let mut d = w.connect("192.0.2.10", t0() + secs(1));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), LOCKED);
}

#[test]
fn r4954_6_3_backend_outage_is_454_and_never_counts_as_a_guess() {
    let w = World::default_policy();
    let mut d = w.connect("192.0.2.10", t0());
    for _ in 0..6 {
        assert_eq!(d.says(&auth_plain("down", "whatever")), LOCKED);
    }
    assert!(!d.out.closed, "outages are not the client's failures");
    assert!(d.out.delays.is_empty());
    assert!(d
        .out
        .events
        .iter()
        .all(|e| !matches!(e, Event::LockoutStarted { .. })));
    assert_eq!(
        auth_events(&d)[0],
        failed("192.0.2.10", "down", AuthFailure::TemporaryFailure)
    );
}

#[test]
fn a_success_forgets_the_failures_of_its_account_and_network() {
    let w = World::default_policy();
    let mut d = w.connect("192.0.2.10", t0());
    assert_eq!(d.says(&auth_plain("alice", "typo-1")), INVALID);
    assert_eq!(d.says(&auth_plain("alice", "typo-2")), INVALID);
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
    for i in 0..4 {
        let mut d = w.connect("192.0.2.10", t0() + secs(10 + i));
        assert_eq!(d.says(&auth_plain("alice", "typo")), INVALID, "typo {i}");
    }
    // 2 + 4 failures, but the success in between reset the pair's count.
    let mut d = w.connect("192.0.2.10", t0() + secs(20));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
}

#[test]
fn thresholds_and_durations_are_configurable() {
    use smtp_auth::limiter::FailureRule;
    let policy = common::policy()
        .lock_account_network(Some(FailureRule::new(3, secs(60), secs(30))))
        .lock_account(None)
        .lock_network(None)
        .failure_delay(Duration::ZERO, Duration::ZERO)
        .build();
    let w = World::new(policy);
    let mut d = w.connect("192.0.2.10", t0());
    for _ in 0..3 {
        let _ = d.says(&auth_plain("alice", "nope"));
    }
    assert!(d.out.delays.is_empty());
    let mut d = w.connect("192.0.2.10", t0() + secs(29));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), LOCKED);
    let mut d = w.connect("192.0.2.10", t0() + secs(30));
    assert_eq!(d.says(&auth_plain("alice", "wonderland")), OK);
}
