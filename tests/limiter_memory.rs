//! The in-memory limiter's memory bound under a flood: one million failed
//! logins, each from a distinct client address *and* for a distinct user
//! name (three new counter keys each: network, account, account+network),
//! answered through the Responder and the default SubmissionPolicy as a
//! server would. Heap bytes are measured with a counting global allocator.
//!
//! Ignored by default (it takes a while in a debug build); `.ci/run` runs
//! it and prints the figures:
//!
//! ```text
//! cargo test --test limiter_memory -- --ignored --nocapture
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_auth::question::{AuthAttempt, AuthResult};
use smtp_auth::sasl::Mechanism;
use smtp_auth::{
    Answer, AuthFailure, MemoryLimiter, MemoryStore, Question, Responder, SubmissionPolicy,
};

struct Measuring;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// only addition is two atomic counters, which never allocate.
unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Measuring = Measuring;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The i-th flood address: alternately IPv4 and IPv6, each in its own
/// counting network (a distinct /32 or /64).
fn address(i: u32) -> IpAddr {
    if i % 2 == 0 {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i))
    } else {
        let net = 0x2001_0db8_0000_0000_u128 << 64 | u128::from(i) << 64;
        IpAddr::V6(Ipv6Addr::from(net | 0x1234))
    }
}

#[test]
#[ignore = "a flood of one million logins; run by .ci/run"]
fn memory_limiter_stays_bounded_under_a_million_distinct_addresses() {
    const FLOOD: u32 = 1_000_000;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let baseline = LIVE.load(Ordering::Relaxed);
    let limiter = Arc::new(MemoryLimiter::new());
    let policy = SubmissionPolicy::builder()
        .limiter(Arc::clone(&limiter))
        .build();
    let responder = Responder::new(MemoryStore::new(), policy);

    // An attacker locked out before the flood: the lock must survive it.
    let attacker: IpAddr = "203.0.113.66".parse().unwrap();
    let fail = |peer: IpAddr, user: String, now: SystemTime| {
        let gate = Question::MayAuthenticate(AuthAttempt {
            peer,
            mechanism: Mechanism::Plain,
            user: user.clone(),
        });
        let allowed = responder.answer(&gate, now).answer == Answer::Allow;
        let result = Question::AuthResult(AuthResult {
            peer,
            mechanism: Mechanism::Plain,
            user: Some(user),
            outcome: Err(if allowed {
                AuthFailure::UnknownUser
            } else {
                AuthFailure::Locked
            }),
        });
        let _ = responder.answer(&result, now);
        allowed
    };
    for i in 0..20 {
        fail(attacker, format!("sprayed{i}"), t0);
    }
    assert!(
        !fail(attacker, "victim".into(), t0),
        "locked before the flood"
    );

    let mut samples = Vec::new();
    let mut peak_during = 0;
    for i in 0..FLOOD {
        let now = t0 + Duration::from_micros(500 * u64::from(i));
        fail(address(i), format!("user{i}"), now);
        if (i + 1) % 100_000 == 0 {
            let live = LIVE.load(Ordering::Relaxed) - baseline;
            peak_during = peak_during.max(live);
            samples.push((i + 1, limiter.len(), live));
        }
    }
    let end = t0 + Duration::from_micros(500 * u64::from(FLOOD));
    let live = LIVE.load(Ordering::Relaxed) - baseline;
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    let entries = limiter.len();

    println!("logins  entries  heap (MiB)");
    for (n, len, bytes) in &samples {
        println!("{n:>7}  {len:>7}  {:>10.2}", mib(*bytes));
    }
    println!(
        "after {FLOOD} distinct addresses and user names ({} keys offered): \
         {entries} entries (capacity {}), {} evicted, {:.2} MiB live, {:.2} MiB peak, \
         {:.0} bytes per entry",
        3 * u64::from(FLOOD),
        MemoryLimiter::DEFAULT_CAPACITY,
        limiter.evictions(),
        mib(live),
        mib(peak),
        live as f64 / entries as f64,
    );

    assert!(entries <= MemoryLimiter::DEFAULT_CAPACITY, "{entries}");
    assert!(limiter.evictions() >= u64::from(3 * FLOOD) - MemoryLimiter::DEFAULT_CAPACITY as u64);
    assert!(peak < 32 * 1024 * 1024, "peak {:.2} MiB", mib(peak));
    // Flat: the last sample is no larger than the first full one.
    let first_full = samples[1].2;
    assert!(
        live <= first_full + first_full / 10,
        "grew from {first_full} to {live}"
    );
    // The attacker's lock survived the flood of cheap entries.
    assert!(
        !fail(attacker, "victim".into(), end),
        "the lock was washed out"
    );
}
