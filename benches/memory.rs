//! Memory per idle session and allocations per transcript, counted by a
//! counting global allocator (no dependency). Not timed: it prints one
//! table, and `MEM` lines for `benches/summarize.py`.
//!
//! * `size_of::<Session>()` and the heap a session holds after its greeting
//!   was polled (live bytes allocated by `Session::new` + `poll`, measured;
//!   and `Session::buffered_bytes()`, as the session reports it);
//! * allocations and bytes allocated per full transcript (fed whole and in
//!   1,460-byte reads), ours and smtp-proto's parse-only transcript;
//! * allocations per command line over the 10,000-line corpus, both parsers;
//! * allocations per SASL server exchange, ours and rsasl.

#[path = "support/mod.rs"]
mod support;

#[path = "support/rsasl_peer.rs"]
mod rsasl_peer;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use smtp_auth::{command, Output, Session};

use support::{
    check_transcript, command_corpus, config, lines, run_transcript, smtp_proto_transcript,
    tls_info, transcript_client_bytes, Sink, Store, CORPUS_LINES, PEER, SEGMENT,
};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// additions are relaxed atomic counters, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size, Relaxed);
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes allocated) during `f`.
fn count<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let (a, b) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let out = f();
    (out, ALLOCS.load(Relaxed) - a, BYTES.load(Relaxed) - b)
}

fn row(what: &str, value: f64, unit: &str) {
    println!("{what:<64} {value:>12.1} {unit}");
    println!("MEM\t{what}\t{value:.2}\t{unit}");
}

fn main() {
    // Runs as part of `cargo bench`; nothing to do for `cargo test --benches`.
    if support::only_listing() {
        return;
    }
    let config = config();
    let store = Store::new();
    let now = Instant::now();

    println!("\n== memory and allocations (counting global allocator) ==");
    // --- idle session ---
    let live_before = LIVE.load(Relaxed);
    let (session, allocs, _) = count(|| {
        // The TLS facts the driver hands over belong to the session.
        let tls = tls_info();
        let mut s = Session::new(config.clone(), PEER, Some(tls), now);
        while let Some(o) = s.poll() {
            // The driver writes the greeting and drops it.
            if let Output::Send(b) = o {
                black_box(b.len());
            }
        }
        s
    });
    let live = LIVE.load(Relaxed) - live_before;
    row(
        "size_of::<Session>() (bytes)",
        std::mem::size_of::<Session>() as f64,
        "B",
    );
    row(
        "idle session heap after greeting, measured (TlsInfo included)",
        live as f64,
        "B",
    );
    row(
        "idle session total: size_of + measured heap",
        (std::mem::size_of::<Session>() as isize + live) as f64,
        "B",
    );
    row(
        "idle session Session::buffered_bytes()",
        session.buffered_bytes() as f64,
        "B",
    );
    row(
        "allocations by TlsInfo + Session::new + greeting poll",
        allocs as f64,
        "allocs",
    );
    drop(session);
    let tls = tls_info();
    let (_, tls_allocs, tls_bytes) = count(|| black_box(tls.clone()));
    row(
        "of which TlsInfo (driver-owned, cloned per session)",
        tls_allocs as f64,
        "allocs",
    );
    let _ = tls_bytes;

    // --- full transcript ---
    let input = transcript_client_bytes();
    let mut sink = Sink::default();
    // Warm the sink's buffers so only the session's allocations count.
    run_transcript(
        &config,
        tls.clone(),
        &input,
        input.len(),
        &store,
        now,
        &mut sink,
    );
    check_transcript(&sink);
    for (name, chunk) in [("fed whole", input.len()), ("1460-byte reads", SEGMENT)] {
        let tls_copy = tls.clone();
        let (_, allocs, bytes) = count(|| {
            run_transcript(&config, tls_copy, &input, chunk, &store, now, &mut sink);
        });
        row(
            &format!("ours: allocations per transcript, {name}"),
            allocs as f64,
            "allocs",
        );
        row(
            &format!("ours: bytes allocated per transcript, {name}"),
            bytes as f64,
            "B",
        );
        let mut body = Vec::with_capacity(4096);
        let (_, allocs, bytes) = count(|| smtp_proto_transcript(&input, chunk, &mut body));
        row(
            &format!("smtp-proto: allocations per transcript (parse only), {name}"),
            allocs as f64,
            "allocs",
        );
        row(
            &format!("smtp-proto: bytes allocated per transcript, {name}"),
            bytes as f64,
            "B",
        );
    }

    // --- command parsing ---
    let corpus = command_corpus();
    let (ok, allocs, _) = count(|| {
        lines(&corpus)
            .filter(|l| black_box(command::parse(l)).is_ok())
            .count()
    });
    assert_eq!(ok, CORPUS_LINES);
    row(
        "ours: allocations per command line (corpus)",
        allocs as f64 / CORPUS_LINES as f64,
        "allocs",
    );
    let (ok, allocs, _) = count(|| {
        let mut it = corpus.iter();
        let mut ok = 0;
        while !it.as_slice().is_empty() {
            if black_box(smtp_proto::Request::parse(&mut it)).is_ok() {
                ok += 1;
            }
        }
        ok
    });
    assert_eq!(ok, CORPUS_LINES);
    row(
        "smtp-proto: allocations per command line (corpus)",
        allocs as f64 / CORPUS_LINES as f64,
        "allocs",
    );

    // --- SASL exchanges ---
    let ex = support::Exchanges::new();
    let peer = rsasl_peer::Peer::new();
    let client = support::ScramClient::new();
    let mut out = Vec::with_capacity(256);
    for (name, ours) in [
        ("PLAIN", &mut || ex.plain(&store) as usize as f64),
        ("LOGIN", &mut || ex.login(&store) as usize as f64),
        ("CRAM-MD5", &mut || ex.cram_md5(&store) as usize as f64),
        ("SCRAM-SHA-256", &mut || ex.scram(&store) as usize as f64),
    ] as [(&str, &mut dyn FnMut() -> f64); 4]
    {
        assert_eq!(ours(), 1.0);
        let (_, allocs, _) = count(&mut *ours);
        row(
            &format!("ours: allocations per {name} exchange"),
            allocs as f64,
            "allocs",
        );
    }
    for name in ["PLAIN", "LOGIN", "SCRAM-SHA-256"] {
        let mut run = || match name {
            "PLAIN" => peer.plain(&mut out),
            "LOGIN" => peer.login(&mut out),
            _ => peer.scram(&client, &mut out),
        };
        assert!(run());
        let (_, allocs, _) = count(&mut run);
        let note = if name == "SCRAM-SHA-256" {
            " (incl. bench client)"
        } else {
            ""
        };
        row(
            &format!("rsasl: allocations per {name} exchange{note}"),
            allocs as f64,
            "allocs",
        );
    }
}
