//! [`RedisLimiter`]: the [`Limiter`] on Redis, so that every server of a
//! fleet sees the same failure counts, locks, known-good marks and send
//! quotas (feature `redis`).
//!
//! Counted inside each process, a lock-out is useless behind a load
//! balancer: an attacker spreads guesses across the fleet and a stolen
//! account sends its quota once per server. With one `RedisLimiter` per
//! server, all pointing at the same Redis, the fleet counts as one.
//!
//! ```no_run
//! use smtp_auth::limiter::redis::RedisLimiter;
//! use smtp_auth::policy::LimiterFailure;
//! use smtp_auth::SubmissionPolicy;
//!
//! let limiter = RedisLimiter::new("redis://10.0.0.5:6379/")?;
//! let policy = SubmissionPolicy::builder()
//!     .limiter(limiter)
//!     .on_limiter_failure(LimiterFailure::Closed) // the default
//!     .build();
//! # Ok::<(), smtp_auth::limiter::redis::RedisLimiterError>(())
//! ```
//!
//! # Same semantics as the in-memory limiter
//!
//! Each entry is a Redis hash holding exactly the fields of the
//! [`MemoryLimiter`](super::MemoryLimiter)'s entry (two-bucket window,
//! lock end, back-off level, known-good mark, expiry), and each [`Limiter`]
//! method is one Lua script that ports the in-memory code line by line.
//! The [`conformance`](super::conformance) suite runs against both.
//!
//! # Atomicity
//!
//! A Lua script runs atomically in Redis: no other client's command runs
//! between its read and its write, so two servers that record a failure at
//! the same instant both count it, and the failure that reaches the
//! threshold starts exactly one lock. A method is one script call, so one
//! round trip (`EVALSHA`, falling back to `EVAL` once when the server has
//! not seen the script yet). A batched call (the three keys of one attempt)
//! is one script over all its keys; Redis Cluster would need them in one
//! hash slot, so use a standalone Redis (with a replica and Sentinel if you
//! need failover), or a `{…}` hash tag in the [prefix](RedisLimiterBuilder::prefix).
//!
//! # Keys
//!
//! Every key is the prefix (default `smtp-auth:v1:`) followed by the
//! [`Key`]'s stable name: `smtp-auth:v1:net:192.0.2.0/24`,
//! `smtp-auth:v1:acct:alice`, `smtp-auth:v1:pair:192.0.2.7/32:alice`,
//! `smtp-auth:v1:msgs:alice`, `smtp-auth:v1:rcpts:alice`. Every write sets
//! the key's TTL to the moment the entry stops carrying information (two
//! windows after the last count, `max_lock` after a lock for the back-off
//! memory, the end of a known-good mark), so the number of keys is bounded
//! by the activity within those windows; nothing needs sweeping.
//! [`inspect`](Limiter::inspect) and a zero-amount [`take`](Limiter::take)
//! never create a key. Against a flood of distinct names, give Redis a
//! `maxmemory` with `maxmemory-policy volatile-ttl`: the keys closest to
//! their end (plain counters) are evicted first, and locks, which live
//! longer, last.
//!
//! # Time
//!
//! By default ([`Clock::Caller`]) the scripts use the `now` each call is
//! given, as the trait intends: tests stay deterministic, the conformance
//! suite applies unchanged, and the times the limiter reports (a lock's
//! end) are on the same clock as the server's other logs. A fleet's clocks
//! then have to agree; with NTP they agree to milliseconds, far below the
//! minutes of a lock-out window, and the scripts treat time that goes
//! backwards (a caller slightly behind the last writer) as no time
//! passing, so skew can shift a window's edges by the skew and never
//! corrupts a count. Key TTLs are relative (`PEXPIRE`), so they are right
//! whatever the callers' clocks say. If the servers' clocks cannot be
//! trusted, [`Clock::Server`] makes every script read Redis `TIME`
//! instead and ignore the caller's `now`: one clock for the fleet.
//!
//! # Sync and async use
//!
//! The limiter runs its Redis connection (a multiplexed connection that
//! reconnects by itself) on a tokio runtime, and each call is a small task
//! on that runtime; the future a method returns only waits for that task.
//! So the future can be awaited from any executor *or* driven by
//! [`block_on`](crate::responder::block_on) from a plain thread
//! ([`Responder::answer`](crate::Responder::answer)); it never needs the
//! caller to be inside a runtime.
//!
//! By default the limiter owns that runtime: one thread named
//! `smtp-auth-redis`, stopped when the last clone of the limiter is
//! dropped. An async server may hand it its own multi-threaded runtime
//! instead ([`RedisLimiterBuilder::runtime`]) to save the thread and one
//! thread hop per call; it must then use the async path
//! ([`Responder::answer_async`](crate::Responder::answer_async)), because
//! a sync call that blocks the runtime's own threads could wait for a task
//! that needs them. Never block an async runtime's worker on any call.
//!
//! # When Redis is slow or gone
//!
//! Every call is bounded by the [timeout](RedisLimiterBuilder::timeout)
//! (default 250 ms), connecting included: past it, or on any error (refused
//! connection, connection lost, a reply of the wrong shape), the call ends
//! with [`LimiterError::Unavailable`]. The policy then fails closed (`454
//! 4.7.0` before any credential check, the default) or open, as configured
//! with [`on_limiter_failure`](crate::policy::SubmissionPolicyBuilder::on_limiter_failure),
//! and reports [`Event::LimiterUnavailable`](crate::Event::LimiterUnavailable)
//! either way. A call that finds the connection down starts a new
//! connection attempt within its own timeout, so the first call after
//! Redis is back succeeds. A session therefore never waits more than the
//! timeout for its counters. A call that timed out may still have run on
//! the server (the reply was what came late): a count may then be one
//! higher than the caller was told, never lower.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{FailureRule, Failures, Key, KeyState, Limiter, LimiterError, Lock, Quota, Taken};

/// Millisecond values sent to the scripts are capped here (about 35 000
/// years), so that sums of them stay exact in Lua's doubles (2^53).
const MAX_MS: i64 = 1 << 50;

/// Which clock the scripts count time by (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Clock {
    /// The `now` each call is given (the default): deterministic, and on
    /// the same clock as the caller's logs. The fleet's clocks must agree
    /// (NTP).
    #[default]
    Caller,
    /// Redis `TIME`, read inside each script; the caller's `now` is
    /// ignored. One clock for the whole fleet.
    Server,
}

/// A [`RedisLimiter`] could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisLimiterError {
    /// The URL is not a Redis URL this build can use
    /// (`redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `redis+unix:///PATH`;
    /// `rediss://` needs TLS, which this crate does not enable).
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// The limiter's runtime thread could not be started.
    #[error("cannot start the Redis limiter's runtime: {0}")]
    Runtime(String),
}

/// Builds a [`RedisLimiter`]; see [`RedisLimiter::builder`].
#[derive(Clone)]
pub struct RedisLimiterBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    clock: Clock,
    runtime: Option<Handle>,
}

impl fmt::Debug for RedisLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiterBuilder")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("clock", &self.clock)
            .field("runtime", &self.runtime.as_ref().map(|_| "caller's"))
            .finish()
    }
}

impl RedisLimiterBuilder {
    /// The prefix of every key (default `smtp-auth:v1:`). Servers that
    /// must share counters use the same prefix; separate fleets (or tests)
    /// sharing one Redis use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The most one call may take, connecting included (default 250 ms,
    /// at least 1 ms). Past it the call fails with
    /// [`LimiterError::Unavailable`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Which clock the scripts count time by (default [`Clock::Caller`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs the connection on this (multi-threaded) tokio runtime instead
    /// of a thread of the limiter's own. Then answer questions with
    /// [`Responder::answer_async`](crate::Responder::answer_async) only:
    /// see the [module docs](self#sync-and-async-use).
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Builds the limiter. It connects lazily, on its first call, so
    /// building succeeds while Redis is down (the calls fail until it is
    /// up); use [`RedisLimiter::ping`] to check at start.
    pub fn build(self) -> Result<RedisLimiter, RedisLimiterError> {
        let client = Client::open(self.url.as_str())
            .map_err(|e| RedisLimiterError::Url(format!("{}: {e}", redact(&self.url))))?;
        let address = client.get_connection_info().addr().to_string();
        let (handle, thread) = match self.runtime {
            Some(handle) => (handle, None),
            None => {
                let (handle, thread) = RuntimeThread::start()
                    .map_err(|e| RedisLimiterError::Runtime(e.to_string()))?;
                (handle, Some(thread))
            }
        };
        // Fail fast while Redis is down: one connection attempt per call,
        // bounded by the call's timeout, and a new one in the background.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(self.timeout);
        let conn = {
            let _inside = handle.enter();
            ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisLimiterError::Url(e.to_string()))?
        };
        Ok(RedisLimiter {
            inner: Arc::new(Inner {
                conn,
                scripts: Arc::new(Scripts::new()),
                prefix: self.prefix.into_boxed_str(),
                address,
                timeout: self.timeout,
                clock: self.clock,
                handle,
                _thread: thread,
            }),
        })
    }
}

/// The [`Limiter`] on Redis; see the [module docs](self). Cheap to clone
/// (clones share the connection).
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    prefix: Box<str>,
    /// Host and port only (never the password), for `Debug`.
    address: String,
    timeout: Duration,
    clock: Clock,
    handle: Handle,
    _thread: Option<RuntimeThread>,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("address", &self.inner.address)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("clock", &self.inner.clock)
            .field("own_runtime", &self.inner._thread.is_some())
            .finish()
    }
}

impl RedisLimiter {
    /// The default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "smtp-auth:v1:";
    /// The default bound on one call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

    /// Starts a configuration for the Redis at `url`
    /// (`redis://[:PASSWORD@]HOST[:PORT][/DB]`).
    pub fn builder(url: impl Into<String>) -> RedisLimiterBuilder {
        RedisLimiterBuilder {
            url: url.into(),
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            clock: Clock::Caller,
            runtime: None,
        }
    }

    /// A limiter with the defaults, on its own runtime thread.
    pub fn new(url: impl Into<String>) -> Result<Self, RedisLimiterError> {
        Self::builder(url).build()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The bound on one call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The Redis key that holds `key`'s entry (for operators: `redis-cli
    /// HGETALL`, `TTL`).
    pub fn key_name(&self, key: &Key) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    /// Checks that Redis answers (`PING`) within the timeout; for a
    /// readiness check at start. Works from sync code through
    /// [`block_on`](crate::responder::block_on) like every call.
    pub fn ping(&self) -> impl Future<Output = Result<(), LimiterError>> + Send + 'static {
        let mut conn = self.inner.conn.clone();
        let timeout = self.inner.timeout;
        let task = self.inner.handle.spawn(async move {
            let cmd = ::redis::cmd("PING");
            let ping = async {
                match cmd.query_async::<String>(&mut conn).await {
                    Err(e) if e.is_connection_refusal() => cmd.query_async(&mut conn).await,
                    other => other,
                }
            };
            match tokio::time::timeout(timeout, ping).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(unavailable(&e)),
                Err(_) => Err(timed_out(timeout)),
            }
        });
        Call(task)
    }

    fn now_arg(&self, now: SystemTime) -> i64 {
        match self.inner.clock {
            Clock::Caller => at_ms(now),
            Clock::Server => -1,
        }
    }

    /// Runs one script on the limiter's runtime, bounded by the timeout.
    fn call(
        &self,
        script: fn(&Scripts) -> &Script,
        keys: Vec<String>,
        args: Vec<i64>,
    ) -> Call<Vec<i64>> {
        let mut conn = self.inner.conn.clone();
        let scripts = Arc::clone(&self.inner.scripts);
        let timeout = self.inner.timeout;
        let task = self.inner.handle.spawn(async move {
            let mut invocation = script(&scripts).prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            for arg in &args {
                invocation.arg(*arg);
            }
            let run = async {
                match invocation.invoke_async::<Vec<i64>>(&mut conn).await {
                    // A refusal never sent the script. It may be the
                    // stale result of the attempt made while Redis was
                    // down; it started a new one, which this awaits.
                    Err(e) if e.is_connection_refusal() => {
                        invocation.invoke_async::<Vec<i64>>(&mut conn).await
                    }
                    other => other,
                }
            };
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(values)) => Ok(values),
                Ok(Err(e)) => Err(unavailable(&e)),
                Err(_) => Err(timed_out(timeout)),
            }
        });
        Call(task)
    }
}

fn unavailable(e: &::redis::RedisError) -> LimiterError {
    LimiterError::Unavailable(format!("redis: {e}"))
}

fn timed_out(timeout: Duration) -> LimiterError {
    LimiterError::Unavailable(format!("redis: no answer within {timeout:?}"))
}

fn malformed() -> LimiterError {
    LimiterError::Unavailable("redis: unexpected reply from the limiter script".into())
}

/// The future of one call: the task's result. Dropping it cancels the
/// task (the script may still run once on the server).
struct Call<T>(JoinHandle<Result<T, LimiterError>>);

impl<T> Future for Call<T> {
    type Output = Result<T, LimiterError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(LimiterError::Unavailable(format!(
                    "redis: the limiter's task ended: {e}"
                )))
            })
        })
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The limiter's own current-thread runtime, on a thread that runs until
/// this is dropped.
struct RuntimeThread {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl RuntimeThread {
    fn start() -> std::io::Result<(Handle, Self)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("smtp-auth-redis".into())
            .spawn(move || {
                // Runs the spawned calls until every limiter clone is gone.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok((handle, Self { _stop: stop }))
    }
}

// ----- conversions -----

/// Milliseconds since the Unix epoch (0 before it), capped at `MAX_MS`.
fn at_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(MAX_MS).min(MAX_MS))
        .unwrap_or(0)
}

/// A duration in whole milliseconds, at least 1 (as the in-memory
/// limiter counts), capped at `MAX_MS`.
fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis())
        .unwrap_or(MAX_MS)
        .clamp(1, MAX_MS)
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn count(v: i64) -> Result<u32, LimiterError> {
    u32::try_from(v).map_err(|_| malformed())
}

fn flag(v: i64) -> Result<bool, LimiterError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(malformed()),
    }
}

/// A time the script reported, 0 meaning none.
fn moment(v: i64) -> Result<Option<SystemTime>, LimiterError> {
    match v {
        0 => Ok(None),
        v if v > 0 => Ok(Some(time(v))),
        _ => Err(malformed()),
    }
}

/// The lock duration of each back-off level, in milliseconds, up to the
/// first that reaches `max_lock` (or level 31, where doubling stops):
/// the script uses the last for any higher level. Precomputed here so the
/// script's durations are exactly [`FailureRule::lock_duration`]'s.
fn lock_ladder(rule: &FailureRule) -> Vec<i64> {
    let mut ladder = Vec::new();
    for level in 0..=31 {
        let d = rule.lock_duration(level);
        ladder.push(dur_ms(d));
        if d >= rule.max_lock {
            break;
        }
    }
    ladder
}

impl Limiter for RedisLimiter {
    fn inspect(
        &self,
        keys: &[Key],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<KeyState>, LimiterError>> + Send {
        let n = keys.len();
        let names = keys.iter().map(|k| self.key_name(k)).collect();
        let call = (n > 0).then(|| self.call(|s| &s.inspect, names, vec![self.now_arg(now)]));
        async move {
            let Some(call) = call else {
                return Ok(Vec::new());
            };
            let raw = call.await?;
            if raw.len() != 4 * n {
                return Err(malformed());
            }
            raw.chunks_exact(4)
                .map(|v| {
                    Ok(KeyState {
                        locked_until: moment(v[0])?,
                        known_good: flag(v[1])?,
                        lock_ended: flag(v[2])?,
                        failures: count(v[3])?,
                    })
                })
                .collect()
        }
    }

    fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<Failures>, LimiterError>> + Send {
        let rules: Vec<FailureRule> = hits.iter().map(|(_, r)| *r).collect();
        let names = hits.iter().map(|(k, _)| self.key_name(k)).collect();
        let mut args = vec![self.now_arg(now)];
        for rule in &rules {
            let ladder = lock_ladder(rule);
            args.push(i64::from(rule.threshold));
            args.push(dur_ms(rule.window));
            args.push(dur_ms(rule.max_lock));
            args.push(i64::try_from(ladder.len()).unwrap_or(0));
            args.extend(ladder);
        }
        let call = (!rules.is_empty()).then(|| self.call(|s| &s.failure, names, args));
        async move {
            let Some(call) = call else {
                return Ok(Vec::new());
            };
            let raw = call.await?;
            if raw.len() != 5 * rules.len() {
                return Err(malformed());
            }
            raw.chunks_exact(5)
                .zip(&rules)
                .map(|(v, rule)| {
                    let level = count(v[2])?;
                    let locked_until = moment(v[3])?;
                    let lock_started = if flag(v[1])? {
                        Some(Lock {
                            until: locked_until.ok_or_else(malformed)?,
                            duration: rule.lock_duration(level),
                            level,
                        })
                    } else {
                        None
                    };
                    Ok(Failures {
                        count: count(v[0])?,
                        lock_started,
                        lock_ended: flag(v[4])?,
                        locked_until,
                    })
                })
                .collect()
        }
    }

    fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), LimiterError>> + Send {
        let remember = if remember.is_zero() {
            0
        } else {
            dur_ms(remember)
        };
        let call = self.call(
            |s| &s.success,
            vec![self.key_name(key)],
            vec![self.now_arg(now), remember],
        );
        async move { call.await.map(|_| ()) }
    }

    fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> impl Future<Output = Result<Taken, LimiterError>> + Send {
        let call = self.call(
            |s| &s.take,
            vec![self.key_name(key)],
            vec![
                self.now_arg(now),
                i64::from(quota.limit),
                dur_ms(quota.window),
                i64::from(amount),
            ],
        );
        async move {
            match call.await?.as_slice() {
                &[allowed, used] => Ok(Taken {
                    allowed: flag(allowed)?,
                    used: count(used)?,
                }),
                _ => Err(malformed()),
            }
        }
    }
}

/// `redis://user:secret@host/` → `redis://user:***@host/`, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

// ----- the scripts -----

struct Scripts {
    inspect: Script,
    failure: Script,
    success: Script,
    take: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        Self {
            inspect: script(INSPECT),
            failure: script(FAILURE),
            success: script(SUCCESS),
            take: script(TAKE),
        }
    }
}

/// Shared by every script: the clock, the entry (a hash with the
/// in-memory `Entry`'s fields) and the two-bucket window, ported from the
/// in-memory limiter.
const PRELUDE: &str = r#"
local U32 = 4294967295
local function sat32(x) if x > U32 then return U32 end return x end
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local FIELDS = {'ws', 'cur', 'prev', 'lu', 'ler', 'lvl', 'gu', 'exp', 'w'}
local function fresh()
  return {ws = 0, cur = 0, prev = 0, lu = 0, ler = 0, lvl = 0, gu = 0, exp = 0, w = 0}
end
-- The stored entry, or nil when there is none.
local function load(key)
  local v = redis.call('HMGET', key, unpack(FIELDS))
  if not v[8] then return nil end
  local e = {}
  for i, f in ipairs(FIELDS) do e[f] = tonumber(v[i]) or 0 end
  return e
end
-- A live entry, or nil (an expired one is deleted): never creates.
local function get_live(key)
  local e = load(key)
  if e == nil then return nil end
  if e.exp <= now then
    redis.call('DEL', key)
    return nil
  end
  return e
end
-- The entry to update: a live one, or a fresh one.
local function entry(key)
  local e = load(key)
  if e == nil or e.exp <= now then return fresh() end
  return e
end
-- Writes every field; the key lives until the entry expires.
local function save(key, e)
  redis.call('HSET', key, 'ws', e.ws, 'cur', e.cur, 'prev', e.prev, 'lu', e.lu,
    'ler', e.ler, 'lvl', e.lvl, 'gu', e.gu, 'exp', e.exp, 'w', e.w)
  local ttl = e.exp - now
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', key, ttl)
end
-- True once for a lock whose time has passed.
local function end_lock(e)
  if e.lu ~= 0 and now >= e.lu and e.ler == 0 then
    e.ler = 1
    return 1
  end
  return 0
end
local function advance(e, width)
  if e.cur == 0 and e.prev == 0 then
    e.ws = now
    return
  end
  local elapsed = math.max(now - e.ws, 0)
  if elapsed >= 2 * width then
    e.ws = now
    e.cur = 0
    e.prev = 0
  elseif elapsed >= width then
    e.prev = e.cur
    e.cur = 0
    e.ws = e.ws + width
  end
end
local function estimate(e, width)
  width = math.max(width, 1)
  local elapsed = math.max(now - e.ws, 0)
  local prev, cur, into
  if elapsed >= 2 * width then
    return 0
  elseif elapsed >= width then
    prev, cur, into = e.cur, 0, elapsed - width
  else
    prev, cur, into = e.prev, e.cur, elapsed
  end
  return sat32(sat32(math.floor(prev * (width - into) / width)) + cur)
end
"#;

/// KEYS: the entries. Returns per key: locked until (ms, 0: not locked),
/// known good, lock ended, failures.
const INSPECT: &str = r#"
local out = {}
for _, key in ipairs(KEYS) do
  local e = get_live(key)
  if e == nil then
    for _ = 1, 4 do out[#out + 1] = 0 end
  else
    local ended = end_lock(e)
    if ended == 1 then redis.call('HSET', key, 'ler', 1) end
    local locked = 0
    if e.lu > now then locked = e.lu end
    local good = 0
    if e.gu > now then good = 1 end
    out[#out + 1] = locked
    out[#out + 1] = good
    out[#out + 1] = ended
    out[#out + 1] = estimate(e, math.max(e.w, 1))
  end
end
return out
"#;

/// KEYS: the entries. ARGV after now, per key: threshold, window,
/// max_lock, n, then the n lock durations of the back-off levels. Returns
/// per key: count, lock started, its level, locked until (0: not locked),
/// lock ended.
const FAILURE: &str = r#"
local out = {}
local a = 2
for _, key in ipairs(KEYS) do
  local threshold = tonumber(ARGV[a])
  local width = tonumber(ARGV[a + 1])
  local max_lock = tonumber(ARGV[a + 2])
  local n = tonumber(ARGV[a + 3])
  local ladder = a + 3
  a = a + 4 + n
  local e = entry(key)
  local ended = end_lock(e)
  if e.lvl > 0 and now >= e.lu + max_lock then e.lvl = 0 end
  advance(e, width)
  e.cur = sat32(e.cur + 1)
  local count = estimate(e, width)
  local started, level = 0, 0
  if e.lu <= now and count >= threshold then
    local step = math.min(e.lvl + 1, n)
    e.lu = now + tonumber(ARGV[ladder + step])
    e.ler = 0
    started, level = 1, e.lvl
    e.lvl = sat32(e.lvl + 1)
    e.ws, e.cur, e.prev = now, 0, 0
  end
  local memory = 0
  if e.lvl > 0 then memory = e.lu + max_lock end
  e.exp = math.max(e.ws + 2 * width, e.lu, memory, e.gu)
  e.w = width
  save(key, e)
  local locked = 0
  if e.lu > now then locked = e.lu end
  out[#out + 1] = count
  out[#out + 1] = started
  out[#out + 1] = level
  out[#out + 1] = locked
  out[#out + 1] = ended
end
return out
"#;

/// KEYS[1]: the entry. ARGV after now: how long to remember it as known
/// good (ms, 0: not at all).
const SUCCESS: &str = r#"
local key = KEYS[1]
local remember = tonumber(ARGV[2])
if remember == 0 then
  if get_live(key) ~= nil then redis.call('HSET', key, 'ws', 0, 'cur', 0, 'prev', 0) end
  return {}
end
local e = entry(key)
e.ws, e.cur, e.prev = 0, 0, 0
e.gu = now + remember
e.exp = math.max(e.exp, e.gu)
save(key, e)
return {}
"#;

/// KEYS[1]: the entry. ARGV after now: limit, window, amount. Returns
/// allowed, used.
const TAKE: &str = r#"
local key = KEYS[1]
local limit = tonumber(ARGV[2])
local width = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
if amount == 0 then
  local e = get_live(key)
  local used = 0
  if e ~= nil then used = estimate(e, width) end
  return {1, used}
end
local e = entry(key)
advance(e, width)
local used = estimate(e, width)
local allowed = 0
if sat32(used + amount) <= limit then
  allowed = 1
  e.cur = sat32(e.cur + amount)
end
e.exp = e.ws + 2 * width
e.w = width
save(key, e)
return {allowed, estimate(e, width)}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_match_the_rule_and_stop_at_the_cap() {
        let rule = FailureRule::new(3, Duration::from_secs(60), Duration::from_secs(10))
            .max_lock(Duration::from_secs(40));
        assert_eq!(lock_ladder(&rule), [10_000, 20_000, 40_000]);
        let never = FailureRule::new(3, Duration::from_secs(60), Duration::from_millis(1))
            .max_lock(Duration::MAX);
        let ladder = lock_ladder(&never);
        assert_eq!(ladder.len(), 32, "doubling stops at level 31");
        assert_eq!(ladder[31], 1 << 31);
        let sub_ms = FailureRule::new(3, Duration::from_secs(1), Duration::from_micros(1500));
        assert_eq!(
            lock_ladder(&sub_ms)[..3],
            [1, 3, 6],
            "whole ms of each level"
        );
    }

    #[test]
    fn times_and_durations_stay_exact_in_lua() {
        assert_eq!(dur_ms(Duration::ZERO), 1);
        assert_eq!(dur_ms(Duration::MAX), MAX_MS);
        assert_eq!(at_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            at_ms(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            1_700_000_000_123
        );
        assert!((MAX_MS as f64) * 2.0 + (MAX_MS as f64) < 2f64.powi(53));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("redis://:hunter2@10.0.0.5:6379/0"),
            "redis://:***@10.0.0.5:6379/0"
        );
        assert_eq!(redact("redis://app:hunter2@h/"), "redis://app:***@h/");
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        let e = RedisLimiter::new("redis://:hunter2@%zz/").map(|_| ());
        if let Err(e) = e {
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn a_limiter_without_redis_fails_fast_and_bounded() {
        // Nothing listens on port 1; the call ends well within the timeout.
        let l = RedisLimiter::builder("redis://127.0.0.1:1/")
            .timeout(Duration::from_millis(300))
            .build()
            .expect("a valid URL");
        let started = std::time::Instant::now();
        let r =
            crate::responder::block_on(l.inspect(&[Key::Account("a".into())], SystemTime::now()));
        assert!(matches!(r, Err(LimiterError::Unavailable(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(crate::responder::block_on(l.ping()).is_err());
    }
}
