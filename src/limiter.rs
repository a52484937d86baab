//! Counters for lock-out and send quotas, behind the [`Limiter`] trait.
//!
//! The [`SubmissionPolicy`](crate::SubmissionPolicy) keeps no counters of
//! its own: failed guesses, locks, known-good address/account pairs and
//! quota usage live in a `Limiter`, so a fleet of servers can share them
//! (a Redis implementation needs only these four atomic operations, each
//! one round trip). [`MemoryLimiter`] is the in-process implementation:
//! thread-safe, and bounded — entries expire, and a flood of distinct
//! addresses or user names evicts the least valuable entries instead of
//! growing the map. `redis::RedisLimiter` (feature `redis`) keeps the same
//! counters in Redis, shared by a fleet.
//!
//! # Time
//!
//! Every operation takes `now` as a [`SystemTime`] (the crate never reads a
//! clock itself). Wall-clock time, not [`Instant`](std::time::Instant),
//! because counters may be shared between processes and machines, where a
//! process-local `Instant` means nothing; a shared implementation may use
//! its server's clock instead (Redis `TIME` inside a script). Clocks step:
//! implementations treat time that goes backwards as no time passing.
//!
//! # Windows
//!
//! Failures and quota usage are counted in a sliding window approximated by
//! two buckets, as rate limiters commonly do: the count is the current
//! bucket plus the previous bucket weighted by how much of it still lies
//! inside the window. A burst inside one window is counted exactly; a burst
//! that straddles a bucket boundary may count up to one bucket's share low.
//! Each key's first bucket starts at its first event, so "N failures within
//! `window` of each other" is exact for bursts. The
//! [`conformance`] module pins these semantics down for every
//! implementation.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;

#[cfg(feature = "redis")]
pub mod redis;

/// A client network: an address with its host bits cleared. Lock-out
/// counts per network rather than per address because one IPv6 client
/// usually owns a whole /64 and can pick a fresh address for every guess.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// The network of `prefix` bits around `addr` (clamped to 32 for IPv4,
    /// 128 for IPv6). IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are
    /// treated as the IPv4 address they carry.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        match addr {
            IpAddr::V4(v4) => {
                let prefix = prefix.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                let bits = u32::from(v4) & mask;
                Self {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    prefix,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                let bits = u128::from(v6) & mask;
                Self {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    prefix,
                }
            }
        }
    }

    /// The network a client at `addr` is counted in: `/v4_prefix` for IPv4,
    /// `/v6_prefix` for IPv6 (the policy's defaults are 32 and 64).
    pub fn grouping(addr: IpAddr, v4_prefix: u8, v6_prefix: u8) -> Self {
        let canonical = addr.to_canonical();
        let prefix = if canonical.is_ipv4() {
            v4_prefix
        } else {
            v6_prefix
        };
        Self::new(canonical, prefix)
    }

    /// The first address of the network.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        Network::new(ip, self.prefix).addr == self.addr
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Debug for Network {
    /// `192.0.2.0/24`, as in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A network could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a network (expected ADDRESS or ADDRESS/PREFIX)")]
pub struct NetworkParseError;

impl FromStr for Network {
    type Err = NetworkParseError;

    /// `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a host network).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let p: u8 = p.parse().map_err(|_| NetworkParseError)?;
                (a, Some(p))
            }
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| NetworkParseError)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(NetworkParseError);
        }
        Ok(Network::new(addr, prefix))
    }
}

/// What a counter is about. Account names and identities are compared as
/// given; the policy folds them to lower case first, so `Alice` and
/// `alice` share their counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Key {
    /// Failed guesses from one client network (password spraying).
    Network(Network),
    /// Failed guesses against one account, from anywhere (distributed
    /// guessing).
    Account(Box<str>),
    /// Failed guesses against one account from one network; also where a
    /// successful login marks the pair as known good.
    AccountNetwork(Box<str>, Network),
    /// Messages sent by one identity.
    Messages(Box<str>),
    /// Recipients addressed by one identity.
    Recipients(Box<str>),
}

impl fmt::Display for Key {
    /// A stable name, usable as a key in a shared store.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Network(n) => write!(f, "net:{n}"),
            Key::Account(a) => write!(f, "acct:{a}"),
            Key::AccountNetwork(a, n) => write!(f, "pair:{n}:{a}"),
            Key::Messages(i) => write!(f, "msgs:{i}"),
            Key::Recipients(i) => write!(f, "rcpts:{i}"),
        }
    }
}

/// When failures lock a key, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FailureRule {
    /// The failure that brings the count to this many starts a lock.
    pub threshold: u32,
    /// The sliding window failures are counted in.
    pub window: Duration,
    /// The first lock's duration; each further lock doubles it.
    pub lock: Duration,
    /// The longest lock. The back-off level is remembered this long after
    /// the last lock ends, then forgotten.
    pub max_lock: Duration,
}

impl FailureRule {
    /// `threshold` failures within `window` lock for `lock`, doubling on
    /// each repeat up to 16 times `lock`.
    pub fn new(threshold: u32, window: Duration, lock: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            window,
            lock,
            max_lock: lock.saturating_mul(16),
        }
    }

    /// Sets the longest lock (at least the first lock).
    pub fn max_lock(mut self, max: Duration) -> Self {
        self.max_lock = max.max(self.lock);
        self
    }

    /// The duration of the lock at back-off `level` (0 for the first).
    pub fn lock_duration(&self, level: u32) -> Duration {
        let factor = 1u32.checked_shl(level.min(31)).unwrap_or(u32::MAX);
        self.lock.saturating_mul(factor).min(self.max_lock)
    }
}

/// A send quota: at most `limit` units per sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Quota {
    /// Units allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl Quota {
    /// `limit` units per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }

    /// `limit` units per hour.
    pub fn per_hour(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(3600))
    }

    /// `limit` units per day.
    pub fn per_day(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(86_400))
    }
}

/// What [`Limiter::inspect`] found for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KeyState {
    /// The key is locked until then.
    pub locked_until: Option<SystemTime>,
    /// A successful login marked this key as known good, and that has not
    /// expired.
    pub known_good: bool,
    /// A lock on this key ended since the key was last looked at. Reported
    /// once, so the end of a lock-out can be logged.
    pub lock_ended: bool,
    /// Failures in the window now.
    pub failures: u32,
}

/// A lock that a failure started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Lock {
    /// When it ends.
    pub until: SystemTime,
    /// How long it lasts.
    pub duration: Duration,
    /// 0 for the first lock of the key, then 1, 2, … (back-off).
    pub level: u32,
}

/// What [`Limiter::record_failure`] did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Failures {
    /// Failures in the window, this one included.
    pub count: u32,
    /// This failure reached the threshold and started a lock.
    pub lock_started: Option<Lock>,
    /// An earlier lock had ended before this failure (reported once, as in
    /// [`KeyState::lock_ended`]).
    pub lock_ended: bool,
    /// The key is locked until then (after this failure).
    pub locked_until: Option<SystemTime>,
}

/// What [`Limiter::take`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Taken {
    /// The units were taken (`used + amount <= limit`); nothing is taken
    /// otherwise.
    pub allowed: bool,
    /// Units used in the window, after this take.
    pub used: u32,
}

/// The limiter could not answer (a shared store is down). The policy then
/// refuses with a temporary reply (`454 4.7.0`, `451 4.7.1`): never a
/// permanent one, and never without a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimiterError {
    /// The backend is unavailable; the text is for logs.
    #[error("limiter backend unavailable: {0}")]
    Unavailable(String),
}

/// Where failure counts, locks, known-good pairs and quota usage live.
///
/// Each method is one atomic operation, so a shared store (Redis) can run
/// it as one script in one round trip. The methods return futures: an
/// in-memory implementation returns ready ones, a networked one awaits its
/// I/O, and a sync caller drives them with
/// [`block_on`](crate::responder::block_on). Every implementation must
/// pass the [`conformance`] suite.
pub trait Limiter: Send + Sync {
    /// Looks at `keys` and reports their state, in order. Never creates
    /// an entry: looking up a flood of unknown keys costs no memory. Ends
    /// locks whose time has passed (reporting each end once).
    fn inspect(
        &self,
        keys: &[Key],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<KeyState>, LimiterError>> + Send;

    /// Counts one failure against each key under its rule, and starts a
    /// lock on each key whose count reaches the threshold while it is not
    /// already locked (the window then starts afresh). Results in order.
    fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<Failures>, LimiterError>> + Send;

    /// A successful login: forgets the key's failures and marks it known
    /// good for `remember` (nothing is marked for zero).
    fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), LimiterError>> + Send;

    /// Takes `amount` units of `quota` for `key` if they fit; `amount` 0
    /// only reports the usage.
    fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> impl Future<Output = Result<Taken, LimiterError>> + Send;
}

impl<T: Limiter> Limiter for Arc<T> {
    fn inspect(
        &self,
        keys: &[Key],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<KeyState>, LimiterError>> + Send {
        (**self).inspect(keys, now)
    }

    fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<Failures>, LimiterError>> + Send {
        (**self).record_failure(hits, now)
    }

    fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), LimiterError>> + Send {
        (**self).record_success(key, remember, now)
    }

    fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> impl Future<Output = Result<Taken, LimiterError>> + Send {
        (**self).take(key, quota, amount, now)
    }
}

// ----- the in-memory implementation -----

/// Milliseconds since the Unix epoch; 0 before it.
fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn dur_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Two-bucket sliding window (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: u64,
    current: u32,
    previous: u32,
}

impl Window {
    fn advance(&mut self, now: u64, width: u64) {
        if self.current == 0 && self.previous == 0 {
            self.start = now;
            return;
        }
        let elapsed = now.saturating_sub(self.start);
        if elapsed >= width.saturating_mul(2) {
            *self = Window {
                start: now,
                current: 0,
                previous: 0,
            };
        } else if elapsed >= width {
            self.previous = self.current;
            self.current = 0;
            self.start = self.start.saturating_add(width);
        }
    }

    /// The count at `now`, without moving the window.
    fn estimate(&self, now: u64, width: u64) -> u32 {
        let width = width.max(1);
        let elapsed = now.saturating_sub(self.start);
        let (previous, current, into) = if elapsed >= width.saturating_mul(2) {
            return 0;
        } else if elapsed >= width {
            (self.current, 0, elapsed - width)
        } else {
            (self.previous, self.current, elapsed)
        };
        let weighted = u128::from(previous) * u128::from(width - into) / u128::from(width);
        u32::try_from(weighted)
            .unwrap_or(u32::MAX)
            .saturating_add(current)
    }

    /// When nothing of this window counts any more.
    fn fades(&self, width: u64) -> u64 {
        self.start.saturating_add(width.saturating_mul(2))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    window: Window,
    /// When the last lock ends (or ended), in milliseconds; 0 for never.
    lock_until: u64,
    /// The end of the last lock was reported.
    lock_end_reported: bool,
    level: u32,
    good_until: u64,
    /// After this the entry carries no information and may be dropped.
    expires: u64,
    /// The window width (ms) the counts were last taken with, so that
    /// [`Limiter::inspect`], which gets no rule, can report them.
    width: u64,
}

impl Entry {
    /// True once for a lock whose time has passed.
    fn end_lock(&mut self, now: u64) -> bool {
        if self.lock_until != 0 && now >= self.lock_until && !self.lock_end_reported {
            self.lock_end_reported = true;
            true
        } else {
            false
        }
    }

    fn locked_until(&self, now: u64) -> Option<SystemTime> {
        (self.lock_until > now).then(|| time(self.lock_until))
    }

    /// How valuable the entry is to keep, lowest evicted first: expired,
    /// then plain counters (oldest first), then locks and known-good marks.
    fn keep_score(&self, now: u64) -> (u8, u64) {
        if self.expires <= now {
            (0, self.expires)
        } else if self.lock_until > now || self.good_until > now {
            (2, self.expires)
        } else {
            (1, self.expires)
        }
    }
}

#[derive(Debug)]
struct Shard {
    map: IndexMap<Key, Entry>,
    capacity: usize,
    rng: u64,
    evictions: u64,
}

impl Shard {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: cheap and good enough to pick eviction samples.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The entry for `key`, created (evicting another if the shard is
    /// full) when missing.
    fn entry(&mut self, key: &Key, now: u64) -> &mut Entry {
        if let Some(i) = self.map.get_index_of(key) {
            if self.map[i].expires <= now {
                self.map[i] = Entry::default();
            }
            return &mut self.map[i];
        }
        if self.map.len() >= self.capacity {
            self.evict_one(now);
        }
        let (i, _) = self.map.insert_full(key.clone(), Entry::default());
        &mut self.map[i]
    }

    /// Drops the least valuable of a few sampled entries (as Redis's
    /// approximated LRU does): O(1), and locks survive a flood because a
    /// sample of flood entries always holds a cheaper victim.
    fn evict_one(&mut self, now: u64) {
        const SAMPLES: usize = 8;
        let len = self.map.len();
        if len == 0 {
            return;
        }
        let mut victim = None;
        for _ in 0..SAMPLES.min(len) {
            let i = usize::try_from(self.next_random() % len as u64).unwrap_or(0);
            let score = self.map[i].keep_score(now);
            if victim.is_none_or(|(_, best)| score < best) {
                victim = Some((i, score));
            }
        }
        if let Some((i, _)) = victim {
            self.map.swap_remove_index(i);
            self.evictions += 1;
        }
    }

    fn get_live(&mut self, key: &Key, now: u64) -> Option<&mut Entry> {
        let i = self.map.get_index_of(key)?;
        if self.map[i].expires <= now {
            self.map.swap_remove_index(i);
            return None;
        }
        Some(&mut self.map[i])
    }
}

/// The in-memory [`Limiter`]: thread-safe (sharded mutexes) and bounded.
///
/// Entries expire when they carry no information any more (two windows
/// after the last failure, the back-off memory after a lock, the end of a
/// known-good mark). At most [`capacity`](MemoryLimiterBuilder::capacity)
/// entries are kept: a new key in a full shard evicts the least valuable of
/// eight sampled entries — expired first, then plain counters, and locks
/// and known-good marks last — so a flood of distinct addresses or user
/// names cannot grow memory or wash out an attacker's lock.
/// [`inspect`](Limiter::inspect) never creates entries.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

/// Builds a [`MemoryLimiter`].
#[derive(Debug, Clone)]
pub struct MemoryLimiterBuilder {
    capacity: usize,
    shards: usize,
}

impl MemoryLimiterBuilder {
    /// The most entries kept (default 100 000: about 14 MiB, measured by
    /// `tests/limiter_memory.rs` under a flood of a million addresses).
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries.max(1);
        self
    }

    /// How many independently locked shards (default 16).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n.clamp(1, 1024);
        self
    }

    /// Builds the limiter.
    pub fn build(self) -> MemoryLimiter {
        let shards = self.shards.min(self.capacity);
        let per_shard = self.capacity.div_ceil(shards);
        let hasher = RandomState::new();
        let shards = (0..shards)
            .map(|i| {
                Mutex::new(Shard {
                    map: IndexMap::new(),
                    capacity: per_shard,
                    rng: hasher.hash_one(i) | 1,
                    evictions: 0,
                })
            })
            .collect();
        MemoryLimiter { shards, hasher }
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    /// The default capacity (entries).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A limiter with the default capacity.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Starts a configuration.
    pub fn builder() -> MemoryLimiterBuilder {
        MemoryLimiterBuilder {
            capacity: Self::DEFAULT_CAPACITY,
            shards: 16,
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        let n = self.shards.len() as u64;
        let i = usize::try_from(self.hasher.hash_one(key) % n).unwrap_or(0);
        // A panic while holding the lock leaves counters, not broken
        // invariants: keep going with them.
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Entries held now (expired ones included until dropped).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .map_or_else(|p| p.into_inner().map.len(), |g| g.map.len())
            })
            .sum()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted to stay within the capacity so far (a flood shows
    /// here first).
    pub fn evictions(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .map_or_else(|p| p.into_inner().evictions, |g| g.evictions)
            })
            .sum()
    }

    /// Drops every expired entry now (they are otherwise dropped when met).
    pub fn purge(&self, now: SystemTime) {
        let now = millis(now);
        for shard in self.shards.iter() {
            let mut s = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            s.map.retain(|_, e| e.expires > now);
        }
    }

    fn inspect_now(&self, keys: &[Key], now: SystemTime) -> Vec<KeyState> {
        let now_ms = millis(now);
        keys.iter()
            .map(|key| {
                let mut shard = self.shard(key);
                let Some(e) = shard.get_live(key, now_ms) else {
                    return KeyState::default();
                };
                let lock_ended = e.end_lock(now_ms);
                KeyState {
                    locked_until: e.locked_until(now_ms),
                    known_good: e.good_until > now_ms,
                    lock_ended,
                    failures: e.window.estimate(now_ms, e.width.max(1)),
                }
            })
            .collect()
    }

    fn failure_now(&self, key: &Key, rule: &FailureRule, now: SystemTime) -> Failures {
        let now_ms = millis(now);
        let width = dur_ms(rule.window);
        let mut shard = self.shard(key);
        let e = shard.entry(key, now_ms);
        let lock_ended = e.end_lock(now_ms);
        if e.level > 0 && now_ms >= e.lock_until.saturating_add(dur_ms(rule.max_lock)) {
            // The back-off is forgotten max_lock after the last lock.
            e.level = 0;
        }
        e.window.advance(now_ms, width);
        e.window.current = e.window.current.saturating_add(1);
        let count = e.window.estimate(now_ms, width);
        let mut lock_started = None;
        if e.lock_until <= now_ms && count >= rule.threshold {
            let duration = rule.lock_duration(e.level);
            e.lock_until = now_ms.saturating_add(dur_ms(duration));
            e.lock_end_reported = false;
            lock_started = Some(Lock {
                until: time(e.lock_until),
                duration,
                level: e.level,
            });
            e.level = e.level.saturating_add(1);
            e.window = Window {
                start: now_ms,
                current: 0,
                previous: 0,
            };
        }
        let memory = if e.level > 0 {
            e.lock_until.saturating_add(dur_ms(rule.max_lock))
        } else {
            0
        };
        e.expires = e
            .window
            .fades(width)
            .max(e.lock_until)
            .max(memory)
            .max(e.good_until);
        e.width = width;
        Failures {
            count,
            lock_started,
            lock_ended,
            locked_until: e.locked_until(now_ms),
        }
    }

    fn success_now(&self, key: &Key, remember: Duration, now: SystemTime) {
        let now_ms = millis(now);
        let mut shard = self.shard(key);
        if remember.is_zero() {
            if let Some(e) = shard.get_live(key, now_ms) {
                e.window = Window::default();
            }
            return;
        }
        let e = shard.entry(key, now_ms);
        e.window = Window::default();
        e.good_until = now_ms.saturating_add(dur_ms(remember));
        e.expires = e.expires.max(e.good_until);
    }

    fn take_now(&self, key: &Key, quota: Quota, amount: u32, now: SystemTime) -> Taken {
        let now_ms = millis(now);
        let width = dur_ms(quota.window);
        let mut shard = self.shard(key);
        if amount == 0 {
            let used = shard
                .get_live(key, now_ms)
                .map_or(0, |e| e.window.estimate(now_ms, width));
            return Taken {
                allowed: true,
                used,
            };
        }
        let e = shard.entry(key, now_ms);
        e.window.advance(now_ms, width);
        let used = e.window.estimate(now_ms, width);
        let allowed = used.saturating_add(amount) <= quota.limit;
        if allowed {
            e.window.current = e.window.current.saturating_add(amount);
        }
        e.expires = e.window.fades(width);
        e.width = width;
        Taken {
            allowed,
            used: e.window.estimate(now_ms, width),
        }
    }
}

impl Limiter for MemoryLimiter {
    fn inspect(
        &self,
        keys: &[Key],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<KeyState>, LimiterError>> + Send {
        std::future::ready(Ok(self.inspect_now(keys, now)))
    }

    fn record_failure(
        &self,
        hits: &[(Key, FailureRule)],
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<Failures>, LimiterError>> + Send {
        let out = hits
            .iter()
            .map(|(key, rule)| self.failure_now(key, rule, now))
            .collect();
        std::future::ready(Ok(out))
    }

    fn record_success(
        &self,
        key: &Key,
        remember: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), LimiterError>> + Send {
        self.success_now(key, remember, now);
        std::future::ready(Ok(()))
    }

    fn take(
        &self,
        key: &Key,
        quota: Quota,
        amount: u32,
        now: SystemTime,
    ) -> impl Future<Output = Result<Taken, LimiterError>> + Send {
        std::future::ready(Ok(self.take_now(key, quota, amount, now)))
    }
}

pub mod conformance {
    //! The semantics every [`Limiter`] must have, as a suite of checks any
    //! implementation can run: the in-memory one runs it in this crate's
    //! tests, a shared one (Redis) runs the same functions against its
    //! server. Each check takes a fresh limiter (or one whose keys cannot
    //! collide with another check's) and a start time, and panics with a
    //! message on the first violation.
    //!
    //! ```
    //! use smtp_auth::limiter::{conformance, MemoryLimiter};
    //! use smtp_auth::responder::block_on;
    //! use std::time::{Duration, UNIX_EPOCH};
    //!
    //! let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    //! block_on(conformance::run_all(MemoryLimiter::new, start));
    //! ```

    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, SystemTime};

    use super::{FailureRule, Key, Limiter, Network, Quota};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn net() -> Network {
        Network::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 32)
    }

    /// 3 failures within a minute lock for 10 s, doubling up to 40 s.
    fn rule() -> FailureRule {
        FailureRule::new(3, secs(60), secs(10)).max_lock(secs(40))
    }

    async fn fail<L: Limiter>(l: &L, key: &Key, at: SystemTime) -> super::Failures {
        let r = l
            .record_failure(&[(key.clone(), rule())], at)
            .await
            .expect("limiter answers");
        assert_eq!(r.len(), 1, "one result per hit");
        r[0]
    }

    async fn state<L: Limiter>(l: &L, key: &Key, at: SystemTime) -> super::KeyState {
        let r = l
            .inspect(std::slice::from_ref(key), at)
            .await
            .expect("limiter answers");
        assert_eq!(r.len(), 1, "one state per key");
        r[0]
    }

    /// Runs every check, each with a fresh limiter from `make`.
    pub async fn run_all<L: Limiter, F: Fn() -> L>(make: F, start: SystemTime) {
        threshold_starts_a_lock(&make(), start).await;
        lock_end_is_reported_once(&make(), start).await;
        back_off_doubles_up_to_the_cap_and_is_forgotten(&make(), start).await;
        window_slides(&make(), start).await;
        keys_are_independent(&make(), start).await;
        success_forgets_failures_and_marks_known_good(&make(), start).await;
        inspect_of_unknown_keys_is_empty(&make(), start).await;
        quota_takes_within_the_limit(&make(), start).await;
        clock_going_backwards_is_harmless(&make(), start).await;
        results_follow_the_order_of_the_keys(&make(), start).await;
    }

    /// The failure that reaches the threshold starts a lock; earlier ones
    /// do not; the lock is visible to `inspect` until it ends.
    pub async fn threshold_starts_a_lock<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Account("threshold".into());
        let f1 = fail(l, &key, t).await;
        assert_eq!((f1.count, f1.lock_started), (1, None), "first failure");
        let f2 = fail(l, &key, t + secs(1)).await;
        assert_eq!((f2.count, f2.lock_started), (2, None), "second failure");
        let f3 = fail(l, &key, t + secs(2)).await;
        assert_eq!(f3.count, 3, "third failure is counted");
        let lock = f3.lock_started.expect("the third failure locks");
        assert_eq!(lock.duration, secs(10));
        assert_eq!(lock.until, t + secs(12));
        assert_eq!(lock.level, 0);
        assert_eq!(f3.locked_until, Some(t + secs(12)));
        let s = state(l, &key, t + secs(11)).await;
        assert_eq!(s.locked_until, Some(t + secs(12)), "still locked at 11 s");
        // A failure during the lock is counted but starts no new lock.
        let f4 = fail(l, &key, t + secs(11)).await;
        assert_eq!(f4.lock_started, None, "no lock while locked");
        assert_eq!(f4.locked_until, Some(t + secs(12)));
        let s = state(l, &key, t + secs(12)).await;
        assert_eq!(s.locked_until, None, "unlocked when the time is up");
    }

    /// The end of a lock is reported once, by whichever operation sees it
    /// first.
    pub async fn lock_end_is_reported_once<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Network(net());
        for i in 0..3 {
            let _ = fail(l, &key, t + secs(i)).await;
        }
        let s = state(l, &key, t + secs(5)).await;
        assert!(!s.lock_ended, "not ended while locked");
        let s = state(l, &key, t + secs(13)).await;
        assert!(s.lock_ended, "ended after 10 s");
        assert_eq!(s.locked_until, None);
        let s = state(l, &key, t + secs(14)).await;
        assert!(!s.lock_ended, "reported only once");

        let key = Key::Account("end-by-failure".into());
        for i in 0..3 {
            let _ = fail(l, &key, t + secs(i)).await;
        }
        let f = fail(l, &key, t + secs(20)).await;
        assert!(f.lock_ended, "a failure after the lock reports its end");
        let s = state(l, &key, t + secs(21)).await;
        assert!(!s.lock_ended, "and only once");
    }

    /// Each further lock doubles, up to `max_lock`; the level is forgotten
    /// `max_lock` after the last lock ends.
    pub async fn back_off_doubles_up_to_the_cap_and_is_forgotten<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Account("backoff".into());
        let mut at = t;
        let mut durations = Vec::new();
        for _ in 0..4 {
            let mut started = None;
            for _ in 0..3 {
                let f = fail(l, &key, at).await;
                if f.lock_started.is_some() {
                    started = f.lock_started;
                }
                at += secs(1);
            }
            let lock = started.expect("every third failure locks");
            durations.push(lock.duration);
            at = lock.until + secs(1);
        }
        assert_eq!(durations, [secs(10), secs(20), secs(40), secs(40)]);
        // Quiet for longer than max_lock after the last lock ended.
        at += secs(120);
        let mut started = None;
        for _ in 0..3 {
            let f = fail(l, &key, at).await;
            started = started.or(f.lock_started);
            at += secs(1);
        }
        assert_eq!(started.map(|s| (s.duration, s.level)), Some((secs(10), 0)));
    }

    /// Failures more than two windows apart never add up; failures inside
    /// one window do.
    pub async fn window_slides<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Account("sparse".into());
        for i in 0..10u64 {
            let f = fail(l, &key, t + secs(i * 121)).await;
            assert_eq!(f.count, 1, "failure {i} two minutes after the last");
            assert_eq!(f.lock_started, None);
        }
        let key = Key::Account("dense".into());
        let _ = fail(l, &key, t).await;
        let _ = fail(l, &key, t + secs(30)).await;
        let f = fail(l, &key, t + secs(59)).await;
        assert!(f.lock_started.is_some(), "3 failures within 59 s lock");
        // The previous bucket fades: after 2 windows nothing is left.
        let s = state(l, &Key::Account("sparse".into()), t + secs(9 * 121 + 120)).await;
        assert_eq!(s.failures, 0, "faded after two windows");
    }

    /// Keys of different kinds or names never share counts.
    pub async fn keys_are_independent<L: Limiter>(l: &L, t: SystemTime) {
        let keys = [
            Key::Network(net()),
            Key::Account("198.51.100.7/32".into()),
            Key::AccountNetwork("x".into(), net()),
            Key::AccountNetwork("y".into(), net()),
            Key::Account("X".into()),
        ];
        for (i, k) in keys.iter().enumerate() {
            for _ in 0..=i {
                let _ = fail(l, k, t).await;
            }
        }
        for (i, k) in keys.iter().enumerate() {
            let s = state(l, k, t).await;
            // The third failure locks and starts the window afresh.
            let n = i as u32 + 1;
            let expected = if n >= 3 { n - 3 } else { n };
            assert_eq!(s.failures, expected, "{k}");
            assert_eq!(s.locked_until.is_some(), n >= 3, "{k}");
        }
    }

    /// A success forgets the key's failures and marks it known good for
    /// the time given.
    pub async fn success_forgets_failures_and_marks_known_good<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::AccountNetwork("good".into(), net());
        let _ = fail(l, &key, t).await;
        let _ = fail(l, &key, t).await;
        l.record_success(&key, secs(3600), t + secs(1))
            .await
            .expect("limiter answers");
        let s = state(l, &key, t + secs(2)).await;
        assert!(s.known_good, "known good after a success");
        assert_eq!(s.failures, 0, "failures forgotten");
        let f = fail(l, &key, t + secs(3)).await;
        assert_eq!(f.count, 1);
        let _ = fail(l, &key, t + secs(4)).await;
        let s = state(l, &key, t + secs(3601)).await;
        assert!(!s.known_good, "the mark expires");
        // Zero remembers nothing but still forgets failures.
        let other = Key::AccountNetwork("plain".into(), net());
        let _ = fail(l, &other, t).await;
        l.record_success(&other, Duration::ZERO, t)
            .await
            .expect("limiter answers");
        let s = state(l, &other, t).await;
        assert_eq!((s.failures, s.known_good), (0, false));
    }

    /// Looking at keys never seen gives the empty state.
    pub async fn inspect_of_unknown_keys_is_empty<L: Limiter>(l: &L, t: SystemTime) {
        let s = state(l, &Key::Account("nobody".into()), t).await;
        assert_eq!(s, super::KeyState::default());
    }

    /// Units are taken only while they fit; 0 reports the usage; the
    /// window slides.
    pub async fn quota_takes_within_the_limit<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Messages("quota".into());
        let q = Quota::new(3, secs(3600));
        for i in 1..=3 {
            let taken = l.take(&key, q, 1, t).await.expect("limiter answers");
            assert!(taken.allowed, "unit {i} fits");
            assert_eq!(taken.used, i);
        }
        let taken = l.take(&key, q, 1, t).await.expect("limiter answers");
        assert!(!taken.allowed, "the fourth does not");
        assert_eq!(taken.used, 3, "a refused take takes nothing");
        let peek = l.take(&key, q, 0, t).await.expect("limiter answers");
        assert_eq!(peek.used, 3);
        let big = l
            .take(&Key::Recipients("quota".into()), q, 4, t)
            .await
            .expect("limiter answers");
        assert!(!big.allowed, "more than the limit at once never fits");
        assert_eq!(big.used, 0, "recipients are counted apart from messages");
        let later = l
            .take(&key, q, 1, t + secs(7200))
            .await
            .expect("limiter answers");
        assert!(later.allowed, "two windows later the quota is back");
        assert_eq!(later.used, 1);
    }

    /// Time that goes backwards counts as no time passing.
    pub async fn clock_going_backwards_is_harmless<L: Limiter>(l: &L, t: SystemTime) {
        let key = Key::Account("clock".into());
        let _ = fail(l, &key, t + secs(100)).await;
        let f = fail(l, &key, t).await;
        assert_eq!(f.count, 2);
        let f = fail(l, &key, t + secs(50)).await;
        assert!(f.lock_started.is_some());
        let s = state(l, &key, t).await;
        assert!(s.locked_until.is_some(), "still locked in the past");
    }

    /// Batched operations answer per key, in order.
    pub async fn results_follow_the_order_of_the_keys<L: Limiter>(l: &L, t: SystemTime) {
        let a = Key::Account("order-a".into());
        let b = Key::Account("order-b".into());
        let _ = fail(l, &b, t).await;
        let r = l
            .record_failure(&[(a.clone(), rule()), (b.clone(), rule())], t)
            .await
            .expect("limiter answers");
        assert_eq!(r.iter().map(|f| f.count).collect::<Vec<_>>(), [1, 2]);
        let s = l.inspect(&[b, a], t).await.expect("limiter answers");
        assert_eq!(s.iter().map(|s| s.failures).collect::<Vec<_>>(), [2, 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::block_on;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn memory_limiter_passes_the_conformance_suite() {
        block_on(conformance::run_all(MemoryLimiter::new, t0()));
        // Tiny shards and capacity must not change the semantics.
        block_on(conformance::run_all(
            || MemoryLimiter::builder().capacity(64).shards(1).build(),
            t0(),
        ));
    }

    #[test]
    fn networks_group_ipv6_by_prefix_and_canonicalise_mapped_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let n = Network::grouping(a, 32, 64);
        assert_eq!(n, Network::grouping(b, 32, 64));
        assert_ne!(n, Network::grouping(c, 32, 64));
        assert_eq!(n.to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap();
        let v4: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(
            Network::grouping(mapped, 32, 64),
            Network::grouping(v4, 32, 64)
        );
        assert_eq!(Network::grouping(v4, 24, 64).to_string(), "192.0.2.0/24");
        let trusted: Network = "192.0.2.0/24".parse().unwrap();
        assert!(trusted.contains(v4));
        assert!(trusted.contains(mapped));
        assert!(!trusted.contains(c));
        assert_eq!("10.0.0.1".parse::<Network>().unwrap().prefix(), 32);
        assert_eq!("::/0".parse::<Network>().unwrap().prefix(), 0);
        assert!("::/0".parse::<Network>().unwrap().contains(c));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "2001:db8::/129"] {
            assert_eq!(bad.parse::<Network>(), Err(NetworkParseError), "{bad}");
        }
    }

    #[test]
    fn a_flood_stays_within_capacity_and_locks_survive_it() {
        let l = MemoryLimiter::builder().capacity(1000).shards(4).build();
        let rule = FailureRule::new(3, Duration::from_secs(900), Duration::from_secs(600));
        let attacker = Key::Network("203.0.113.9".parse().unwrap());
        let t = t0();
        for _ in 0..3 {
            let _ = block_on(l.record_failure(&[(attacker.clone(), rule)], t));
        }
        for i in 0..50_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i));
            let key = Key::Network(Network::new(ip, 32));
            let _ = block_on(l.record_failure(&[(key, rule)], t + Duration::from_secs(1)));
        }
        assert!(l.len() <= 1000, "len {}", l.len());
        assert!(l.evictions() >= 49_000);
        let s = block_on(l.inspect(&[attacker], t + Duration::from_secs(2))).unwrap();
        assert!(s[0].locked_until.is_some(), "the lock survived the flood");
    }

    #[test]
    fn inspecting_a_flood_of_unknown_keys_allocates_no_entries() {
        let l = MemoryLimiter::new();
        for i in 0..10_000u32 {
            let key = Key::Account(format!("user{i}").into());
            let _ = block_on(l.inspect(&[key], t0()));
            let _ = block_on(l.take(
                &Key::Messages(format!("u{i}").into()),
                Quota::per_hour(1),
                0,
                t0(),
            ));
        }
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn expired_entries_are_dropped() {
        let l = MemoryLimiter::new();
        let rule = FailureRule::new(5, Duration::from_secs(60), Duration::from_secs(60));
        for i in 0..100u32 {
            let key = Key::Account(format!("u{i}").into());
            let _ = block_on(l.record_failure(&[(key, rule)], t0()));
        }
        assert_eq!(l.len(), 100);
        l.purge(t0() + Duration::from_secs(60));
        assert_eq!(l.len(), 100, "still inside two windows");
        l.purge(t0() + Duration::from_secs(121));
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn concurrent_failures_from_many_threads_are_all_counted() {
        let l = Arc::new(MemoryLimiter::new());
        let rule = FailureRule::new(u32::MAX, Duration::from_secs(3600), Duration::from_secs(1));
        let key = Key::Account("shared".into());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                let key = key.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let _ = block_on(l.record_failure(&[(key.clone(), rule)], t0()));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = block_on(l.inspect(&[key], t0())).unwrap();
        assert_eq!(s[0].failures, 4000);
    }
}
