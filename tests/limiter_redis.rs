//! `RedisLimiter` beyond the shared conformance suite: key names and
//! expiry, atomicity across connections, use from sync and async code, and
//! what happens when Redis is unreachable, frozen or stopped mid-run.
//! Needs `SMTP_AUTH_REDIS_URL` (see `tests/redis_support`); skips loudly
//! without it, fails without it under `SMTP_AUTH_CI=1`.
#![cfg(feature = "redis")]

mod redis_support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_support::{limiter, prefix, url, PrivateRedis};
use smtp_auth::limiter::redis::RedisLimiter;
use smtp_auth::limiter::{FailureRule, Key, Limiter, LimiterError, Quota};
use smtp_auth::responder::block_on;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A plain (sync) connection, to look at what the limiter wrote.
struct Raw(std::sync::Mutex<redis::Connection>);

fn raw(url: &str) -> Raw {
    let client = redis::Client::open(url).unwrap();
    Raw(std::sync::Mutex::new(client.get_connection().unwrap()))
}

fn query<T: redis::FromRedisValue>(conn: &Raw, cmd: redis::Cmd) -> T {
    cmd.query(&mut *conn.0.lock().unwrap()).unwrap()
}

fn cmd(name: &str, args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(name);
    for a in args {
        c.arg(*a);
    }
    c
}

#[test]
fn keys_are_namespaced_bounded_by_expiry_and_never_created_by_lookups() {
    let Some(url) = url("keys_are_namespaced_bounded_by_expiry_and_never_created_by_lookups")
    else {
        return;
    };
    let p = prefix("keys");
    let l = RedisLimiter::builder(&url).prefix(&p).build().unwrap();
    let conn = raw(&url);
    let rule = FailureRule::new(3, secs(900), secs(300)).max_lock(secs(3600));
    let key = Key::AccountNetwork("alice".into(), "192.0.2.7".parse().unwrap());
    assert_eq!(
        l.key_name(&key),
        format!("{p}pair:192.0.2.7/32:alice"),
        "prefix + the key's stable name"
    );

    // Lookups of unknown keys create nothing.
    for i in 0..50 {
        let k = Key::Account(format!("nobody{i}").into());
        block_on(l.inspect(&[k], t0())).unwrap();
        block_on(l.take(
            &Key::Messages(format!("nobody{i}").into()),
            Quota::per_hour(5),
            0,
            t0(),
        ))
        .unwrap();
    }
    let found: Vec<String> = query(&conn, cmd("KEYS", &[&format!("{p}*")]));
    assert!(found.is_empty(), "{found:?}");

    // A failure: one key, living two windows.
    block_on(l.record_failure(&[(key.clone(), rule)], t0())).unwrap();
    let ttl: i64 = query(&conn, cmd("PTTL", &[&l.key_name(&key)]));
    assert!(
        ttl > 1_790_000 && ttl <= 1_800_000,
        "two 15-minute windows: {ttl}"
    );
    // A lock: the key lives until max_lock after the lock ends (back-off
    // memory).
    block_on(l.record_failure(&[(key.clone(), rule)], t0())).unwrap();
    let f = block_on(l.record_failure(&[(key.clone(), rule)], t0())).unwrap();
    assert!(f[0].lock_started.is_some());
    let ttl: i64 = query(&conn, cmd("PTTL", &[&l.key_name(&key)]));
    assert!(
        ttl > 3_890_000 && ttl <= 3_900_000,
        "lock 300 s + memory 3600 s: {ttl}"
    );
    // A known-good mark lives as long as it is remembered.
    block_on(l.record_success(&key, secs(30 * 86_400), t0())).unwrap();
    let ttl: i64 = query(&conn, cmd("PTTL", &[&l.key_name(&key)]));
    assert!(ttl > 2_591_000_000, "30 days: {ttl}");
    // A quota key lives two quota windows.
    let q = Key::Messages("alice".into());
    block_on(l.take(&q, Quota::per_hour(10), 1, t0())).unwrap();
    let ttl: i64 = query(&conn, cmd("PTTL", &[&l.key_name(&q)]));
    assert!(ttl > 7_190_000 && ttl <= 7_200_000, "two hours: {ttl}");

    let mut found: Vec<String> = query(&conn, cmd("KEYS", &[&format!("{p}*")]));
    found.sort();
    assert_eq!(
        found,
        [
            format!("{p}msgs:alice"),
            format!("{p}pair:192.0.2.7/32:alice")
        ]
    );
    // Every key of the limiter has a TTL.
    for k in &found {
        let ttl: i64 = query(&conn, cmd("PTTL", &[k]));
        assert!(ttl > 0, "{k} expires");
    }
}

#[test]
fn short_windows_really_expire_in_redis() {
    let Some(url) = url("short_windows_really_expire_in_redis") else {
        return;
    };
    let l = RedisLimiter::builder(&url)
        .prefix(prefix("expire"))
        .build()
        .unwrap();
    let conn = raw(&url);
    let rule = FailureRule::new(10, Duration::from_millis(100), secs(1));
    let key = Key::Network("198.51.100.0/24".parse().unwrap());
    block_on(l.record_failure(&[(key.clone(), rule)], SystemTime::now())).unwrap();
    let exists: i64 = query(&conn, cmd("EXISTS", &[&l.key_name(&key)]));
    assert_eq!(exists, 1);
    let deadline = Instant::now() + secs(5);
    loop {
        let exists: i64 = query(&conn, cmd("EXISTS", &[&l.key_name(&key)]));
        if exists == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the key outlived two windows");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two limiters (two connections, as two servers have) hammer one key
/// from eight threads: every failure is counted, and exactly one of them
/// starts the lock.
#[test]
fn concurrent_failures_through_two_connections_are_counted_exactly_once() {
    let Some(url) = url("concurrent_failures_through_two_connections_are_counted_exactly_once")
    else {
        return;
    };
    let p = prefix("atomic");
    let a = Arc::new(RedisLimiter::builder(&url).prefix(&p).build().unwrap());
    let b = Arc::new(RedisLimiter::builder(&url).prefix(&p).build().unwrap());
    let rule = FailureRule::new(50, secs(3600), secs(3600));
    let key = Key::Account("shared".into());
    let locks = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let l = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            let (key, locks) = (key.clone(), Arc::clone(&locks));
            std::thread::spawn(move || {
                for _ in 0..40 {
                    let f =
                        block_on(l.record_failure(&[(key.clone(), rule)], t0())).expect("answers");
                    if f[0].lock_started.is_some() {
                        locks.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(locks.load(Ordering::SeqCst), 1, "one lock for the fleet");
    // 320 failures: the 50th locked and restarted the window; 270 since.
    let s = block_on(a.inspect(&[key], t0())).unwrap();
    assert_eq!(s[0].failures, 270);
}

/// Awaited from tokio tasks, with the limiter's own runtime and with the
/// application's.
#[test]
fn async_callers_on_either_runtime() {
    let Some(url) = url("async_callers_on_either_runtime") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let p = prefix("async");
    let own = Arc::new(RedisLimiter::builder(&url).prefix(&p).build().unwrap());
    let shared = Arc::new(
        RedisLimiter::builder(&url)
            .prefix(&p)
            .runtime(rt.handle().clone())
            .build()
            .unwrap(),
    );
    let q = Quota::new(100, secs(3600));
    let key = Key::Messages("async".into());
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..150u32 {
            let l = if i % 2 == 0 {
                Arc::clone(&own)
            } else {
                Arc::clone(&shared)
            };
            let key = key.clone();
            tasks.spawn(async move { l.take(&key, q, 1, t0()).await.expect("answers") });
        }
        let mut allowed = 0;
        while let Some(t) = tasks.join_next().await {
            allowed += u32::from(t.unwrap().allowed);
        }
        assert_eq!(allowed, 100, "exactly the quota, across both");
    });
    // The same limiters from plain threads.
    let used = block_on(own.take(&key, q, 0, t0())).unwrap().used;
    assert_eq!(used, 100);
}

#[test]
fn unreachable_redis_fails_at_once() {
    if url("unreachable_redis_fails_at_once").is_none() {
        return;
    }
    let port = redis_support::free_port();
    let l = RedisLimiter::builder(format!("redis://127.0.0.1:{port}/"))
        .timeout(secs(2))
        .build()
        .expect("building never connects");
    for _ in 0..3 {
        let started = Instant::now();
        let r = block_on(l.inspect(&[Key::Account("a".into())], t0()));
        assert!(matches!(r, Err(LimiterError::Unavailable(_))), "{r:?}");
        assert!(started.elapsed() < secs(1), "refused, not timed out");
    }
}

/// A server that accepts and never answers: no call outlasts the
/// timeout, sync or async.
#[test]
fn a_silent_server_costs_one_timeout_per_call() {
    if url("a_silent_server_costs_one_timeout_per_call").is_none() {
        return;
    }
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Accept a few connections and hold them open, silent.
        let mut conns = Vec::new();
        hole.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + secs(10);
        while Instant::now() < deadline && conns.len() < 8 {
            match hole.accept() {
                Ok((c, _)) => conns.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        conns
    });
    let l = RedisLimiter::builder(format!("redis://127.0.0.1:{port}/"))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let r = block_on(l.take(&Key::Messages("a".into()), Quota::per_hour(1), 1, t0()));
        let took = started.elapsed();
        assert!(matches!(r, Err(LimiterError::Unavailable(_))), "{r:?}");
        // At most the timeout (a call may fail sooner, when it joins a
        // connection attempt that is already failing).
        assert!(took < Duration::from_millis(1000), "{took:?} {r:?}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let r = l.inspect(&[Key::Account("a".into())], t0()).await;
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_millis(1500));
    });
    drop(l);
    drop(held);
}

/// Stopped mid-run: calls fail within the timeout; restarted: the next
/// call reconnects and works (the counters are gone with the killed,
/// non-persistent server).
#[test]
fn stopped_mid_run_then_restarted() {
    let Some(mut redis) = PrivateRedis::start("stopped_mid_run_then_restarted") else {
        return;
    };
    let l = RedisLimiter::builder(redis.url())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    block_on(l.ping()).expect("up");
    let rule = FailureRule::new(5, secs(60), secs(60));
    let key = Key::Account("outage".into());
    let f = block_on(l.record_failure(&[(key.clone(), rule)], t0())).unwrap();
    assert_eq!(f[0].count, 1);

    redis.stop();
    for _ in 0..5 {
        let started = Instant::now();
        let r = block_on(l.record_failure(&[(key.clone(), rule)], t0()));
        assert!(matches!(r, Err(LimiterError::Unavailable(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(1000), "bounded");
    }

    redis.restart();
    let f = block_on(l.record_failure(&[(key.clone(), rule)], t0()))
        .expect("the first call after the restart reconnects");
    assert_eq!(f[0].count, 1, "a fresh server");
}

/// Frozen mid-run (SIGSTOP): the open connection stays up but nothing
/// answers; each call ends at the timeout. Thawed: the next calls work.
#[test]
fn frozen_mid_run_then_thawed() {
    let Some(redis) = PrivateRedis::start("frozen_mid_run_then_thawed") else {
        return;
    };
    let l = RedisLimiter::builder(redis.url())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let q = Quota::new(10, secs(3600));
    let key = Key::Recipients("frozen".into());
    assert!(block_on(l.take(&key, q, 1, t0())).unwrap().allowed);
    redis.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let r = block_on(l.take(&key, q, 1, t0()));
        assert!(r.is_err(), "{r:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }
    redis.resume();
    let deadline = Instant::now() + secs(10);
    loop {
        if let Ok(t) = block_on(l.take(&key, q, 0, t0())) {
            // The timed-out takes may or may not have run on the frozen
            // server: at least the first, at most all four.
            assert!((1..=4).contains(&t.used), "{t:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_shared_helper_builds_working_limiters() {
    let Some(l) = limiter("the_shared_helper_builds_working_limiters") else {
        return;
    };
    block_on(l.ping()).expect("the configured Redis answers");
    assert!(format!("{l:?}").contains("smtp-auth-test:"));
}
