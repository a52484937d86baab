//! One conformance suite, two limiters: every check of
//! `smtp_auth::limiter::conformance` runs against the in-memory limiter
//! and, with the `redis` feature, against `RedisLimiter` on a real Redis
//! (`SMTP_AUTH_REDIS_URL`; see `tests/redis_support`). The same generic
//! module is instantiated for both, so they are held to the same
//! semantics, check by check.

#[cfg(feature = "redis")]
mod redis_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_auth::limiter::{conformance, Limiter, MemoryLimiter};
use smtp_auth::responder::block_on;

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The suite for one implementation: `$make` returns `Some(fresh
/// limiter)`, or `None` when the implementation cannot run here (and has
/// said so).
macro_rules! conformance_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            fn limiter() -> Option<impl Limiter> {
                ($make)()
            }

            conformance_suite!(@checks
                threshold_starts_a_lock,
                lock_end_is_reported_once,
                back_off_doubles_up_to_the_cap_and_is_forgotten,
                window_slides,
                keys_are_independent,
                success_forgets_failures_and_marks_known_good,
                inspect_of_unknown_keys_is_empty,
                quota_takes_within_the_limit,
                clock_going_backwards_is_harmless,
                results_follow_the_order_of_the_keys,
            );

            /// `run_all` too, so a check added to the suite later runs
            /// here before it is listed above.
            #[test]
            fn run_all() {
                if limiter().is_none() {
                    return;
                }
                block_on(conformance::run_all(
                    || limiter().expect("available a moment ago"),
                    start(),
                ));
            }
        }
    };
    (@checks $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let Some(l) = limiter() else { return };
                block_on(conformance::$check(&l, start()));
            }
        )*
    };
}

conformance_suite!(memory, || Some(MemoryLimiter::new()));

conformance_suite!(memory_tiny, || Some(
    MemoryLimiter::builder().capacity(64).shards(1).build()
));

#[cfg(feature = "redis")]
conformance_suite!(redis, || redis_support::limiter(
    "limiter_conformance::redis"
));

/// Redis counting time by its own clock cannot run the suite (the suite
/// moves time by hand); this pins what changes: the caller's `now` is
/// ignored.
#[cfg(feature = "redis")]
#[test]
fn redis_server_clock_ignores_the_callers_now() {
    use smtp_auth::limiter::redis::{Clock, RedisLimiter};
    use smtp_auth::limiter::{FailureRule, Key};
    let Some(url) = redis_support::url("redis_server_clock_ignores_the_callers_now") else {
        return;
    };
    let l = RedisLimiter::builder(url)
        .prefix(redis_support::prefix("server-clock"))
        .clock(Clock::Server)
        .build()
        .expect("valid URL");
    let rule = FailureRule::new(2, Duration::from_secs(60), Duration::from_secs(600));
    let key = Key::Account("clock".into());
    // Years apart by the caller's clock, the same minute by Redis's.
    let _ = block_on(l.record_failure(&[(key.clone(), rule)], start())).expect("answers");
    let far = start() + Duration::from_secs(10 * 365 * 86_400);
    let f = block_on(l.record_failure(&[(key.clone(), rule)], far)).expect("answers");
    let lock = f[0]
        .lock_started
        .expect("two failures within a minute of Redis time");
    let wall = SystemTime::now();
    let until = lock.until;
    assert!(
        until > wall + Duration::from_secs(590) && until < wall + Duration::from_secs(610),
        "the lock ends 10 minutes from Redis's now: {until:?} vs {wall:?}"
    );
    let s = block_on(l.inspect(&[key], start())).expect("answers");
    assert_eq!(s[0].locked_until, Some(until));
}

/// Says loudly, once, that the Redis half of the suite is not built.
#[cfg(not(feature = "redis"))]
#[test]
fn redis_suite_needs_the_redis_feature() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED the Redis limiter's conformance suite: built without the `redis` feature \
         (run `cargo test --features redis` with SMTP_AUTH_REDIS_URL set)"
    );
}
