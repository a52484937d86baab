//! `--redis URL`: keep the lock-out and quota counters in Redis, where
//! every server of a fleet sees them, instead of in this process.
//!
//! Behind a load balancer, counters inside each process let an attacker
//! spread guesses over the servers and let a stolen account send its quota
//! once per server. With `--redis`, all servers given the same URL count
//! together. If Redis is down or slower than 250 ms, logins are refused
//! with `454 4.7.0` (the authenticator is not asked) and quota checks with
//! `451 4.3.0`, each logged as `limiter-unavailable`, until it is back.

use std::time::{Duration, SystemTime};

use smtp_auth::limiter::{
    FailureRule, Failures, Key, KeyState, Limiter, LimiterError, MemoryLimiter, Quota, Taken,
};

/// Where the counters live.
pub enum Counters {
    /// In this process (the default).
    Memory(MemoryLimiter),
    /// In Redis, shared by the fleet (`--redis URL`).
    #[cfg(feature = "redis")]
    Redis(smtp_auth::limiter::redis::RedisLimiter),
}

/// The counters for `--redis URL`, or in memory without it.
pub fn counters(redis: Option<&str>) -> Result<Counters, Box<dyn std::error::Error>> {
    let Some(url) = redis else {
        return Ok(Counters::Memory(MemoryLimiter::new()));
    };
    #[cfg(feature = "redis")]
    {
        let limiter = smtp_auth::limiter::redis::RedisLimiter::new(url)?;
        println!("counters: in Redis ({limiter:?})");
        // Say at start whether Redis answers, without holding up start-up.
        let probe = limiter.clone();
        tokio::spawn(async move {
            match probe.ping().await {
                Ok(()) => println!("redis: reachable"),
                Err(e) => println!("redis: not reachable yet ({e}); logins get 454 until it is"),
            }
        });
        Ok(Counters::Redis(limiter))
    }
    #[cfg(not(feature = "redis"))]
    Err(format!(
        "--redis {url} needs the redis feature: cargo run --features redis --example submission_server"
    )
    .into())
}

impl Limiter for Counters {
    async fn inspect(&self, keys: &[Key], now: SystemTime) -> Result<Vec<KeyState>, LimiterError> {
        match self {
            Counters::Memory(l) => l.inspect(keys, now).await,
            #[cfg(feature = "redis")]
            Counters::Redis(l) => l.inspect(keys, now).await,
        }
    }

    async fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> Result<Vec<Failures>, LimiterError> {
        match self {
            Counters::Memory(l) => l.record_failure(hits, now).await,
            #[cfg(feature = "redis")]
            Counters::Redis(l) => l.record_failure(hits, now).await,
        }
    }

    async fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> Result<(), LimiterError> {
        match self {
            Counters::Memory(l) => l.record_success(key, remember, now).await,
            #[cfg(feature = "redis")]
            Counters::Redis(l) => l.record_success(key, remember, now).await,
        }
    }

    async fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> Result<Taken, LimiterError> {
        match self {
            Counters::Memory(l) => l.take(key, quota, amount, now).await,
            #[cfg(feature = "redis")]
            Counters::Redis(l) => l.take(key, quota, amount, now).await,
        }
    }
}
