//! Limiter calls per second: the in-memory limiter against `RedisLimiter`
//! on a loopback Redis, for the three calls a login and a message make
//! (`inspect` of three keys before AUTH, `record_failure` of three keys
//! after a wrong password, `take` of one quota unit), plus a floor: one
//! `PING` through the same limiter (runtime hop and round trip, no
//! script), and Redis under 32 concurrent callers (the multiplexed
//! connection pipelines them).
//!
//! ```sh
//! redis-server --bind 127.0.0.1 --port 16379 --save '' --appendonly no &
//! SMTP_AUTH_REDIS_URL=redis://127.0.0.1:16379/ cargo bench --features redis --bench limiter
//! ```
//!
//! Without the `redis` feature or without `SMTP_AUTH_REDIS_URL` only the
//! in-memory rows run, and the bench says so on stderr. Throughput is
//! reported as elements (calls) per second.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use smtp_auth::limiter::{FailureRule, Key, Limiter, MemoryLimiter, Network, Quota};
use smtp_auth::responder::block_on;

/// Distinct accounts the calls rotate over (a realistic working set, and
/// no single hot key).
const ACCOUNTS: usize = 1024;

struct Workload {
    gate_keys: Vec<[Key; 3]>,
    hits: Vec<Vec<(Key, FailureRule)>>,
    quota_keys: Vec<Key>,
}

impl Workload {
    fn new() -> Self {
        // Failures never lock (threshold out of reach), so every call
        // does the full count-and-write path.
        let rule = FailureRule::new(u32::MAX, Duration::from_secs(900), Duration::from_secs(300));
        let mut w = Workload {
            gate_keys: Vec::new(),
            hits: Vec::new(),
            quota_keys: Vec::new(),
        };
        for i in 0..ACCOUNTS {
            let ip = IpAddr::V4(Ipv4Addr::from(0xc000_0200 | (i as u32 & 0xff)));
            let net = Network::new(ip, 32);
            let user: Box<str> = format!("user{i}").into();
            let keys = [
                Key::Network(net),
                Key::Account(user.clone()),
                Key::AccountNetwork(user.clone(), net),
            ];
            w.hits
                .push(keys.iter().map(|k| (k.clone(), rule)).collect());
            w.gate_keys.push(keys);
            w.quota_keys.push(Key::Messages(user));
        }
        w
    }
}

/// One row per call, each iteration one call on the next account.
fn calls<L: Limiter>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    l: &L,
    w: &Workload,
) {
    // Effectively unlimited: every take is allowed and writes.
    let quota = Quota::new(u32::MAX, Duration::from_secs(3600));
    let mut i = 0usize;
    group.bench_function(format!("{name}/inspect-3"), |b| {
        b.iter(|| {
            i = (i + 1) % ACCOUNTS;
            black_box(block_on(l.inspect(&w.gate_keys[i], SystemTime::now())).expect("answers"))
        })
    });
    group.bench_function(format!("{name}/record_failure-3"), |b| {
        b.iter(|| {
            i = (i + 1) % ACCOUNTS;
            black_box(block_on(l.record_failure(&w.hits[i], SystemTime::now())).expect("answers"))
        })
    });
    group.bench_function(format!("{name}/take-1"), |b| {
        b.iter(|| {
            i = (i + 1) % ACCOUNTS;
            black_box(
                block_on(l.take(&w.quota_keys[i], quota, 1, SystemTime::now())).expect("answers"),
            )
        })
    });
}

fn bench(c: &mut Criterion) {
    let w = Workload::new();
    let mut group = c.benchmark_group("limiter");
    group.throughput(Throughput::Elements(1));
    calls(&mut group, "memory", &MemoryLimiter::new(), &w);
    redis_rows(&mut group, &w);
    group.finish();
}

#[cfg(not(feature = "redis"))]
fn redis_rows(_: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, _: &Workload) {
    eprintln!(
        "SKIPPED the Redis rows: built without the `redis` feature \
         (cargo bench --features redis --bench limiter, with SMTP_AUTH_REDIS_URL set)"
    );
}

#[cfg(feature = "redis")]
fn redis_rows(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, w: &Workload) {
    use smtp_auth::limiter::redis::RedisLimiter;
    use std::sync::Arc;

    let Some(url) = std::env::var("SMTP_AUTH_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "SKIPPED the Redis rows: SMTP_AUTH_REDIS_URL is not set \
             (start `redis-server --bind 127.0.0.1 --port 16379 --save '' --appendonly no` \
             and set SMTP_AUTH_REDIS_URL=redis://127.0.0.1:16379/)"
        );
        return;
    };
    let prefix = format!("smtp-auth-bench:{}:", std::process::id());
    let l = RedisLimiter::builder(&url)
        .prefix(&prefix)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a valid SMTP_AUTH_REDIS_URL");
    block_on(l.ping()).expect("Redis answers");

    // The floor: a round trip through the limiter's runtime and
    // connection, no script.
    group.bench_function("redis/ping (floor)", |b| {
        b.iter(|| block_on(l.ping()).expect("answers"))
    });
    calls(group, "redis", &l, w);

    // Many sessions at once: 32 callers awaiting from a tokio runtime,
    // pipelined on the one connection.
    const CONCURRENT: u64 = 32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let shared = Arc::new(l);
    let hits = Arc::new(w.hits.clone());
    group.throughput(Throughput::Elements(CONCURRENT));
    let mut i = 0usize;
    group.bench_function("redis/record_failure-3 x32 concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..CONCURRENT {
                    i = (i + 1) % ACCOUNTS;
                    let (l, hits, n) = (Arc::clone(&shared), Arc::clone(&hits), i);
                    tasks.spawn(async move {
                        l.record_failure(&hits[n], SystemTime::now())
                            .await
                            .expect("answers")
                    });
                }
                while let Some(r) = tasks.join_next().await {
                    black_box(r.expect("task"));
                }
            })
        })
    });
    group.throughput(Throughput::Elements(1));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
