//! The Session's heap stays within the bound its `Config` implies
//! (DESIGN.md §5, ATK-10), measured with a counting global allocator.
//!
//! The bound, for a session whose driver feeds reads of at most `R` bytes
//! and polls until `None` after each (see [`bound`]):
//!
//! * input: one line (`max(auth_line, command_line + 500)`), or while a
//!   question is open `buffered_input`, plus the read being processed
//!   (`R`: processing pauses while 32 KiB of replies wait for `poll`);
//! * output: what one read can produce before the driver polls — the body
//!   bytes of that read (`R`), and at most 32 KiB of batched replies plus
//!   one reply;
//! * state: the transaction's recipients (`recipients` × 1 KiB) and a fixed
//!   16 KiB for the rest (SASL exchange, EHLO name, sender).
//!
//! A client that sends 10 MB of garbage therefore costs about one line
//! buffer, however the driver reads it.
//!
//! One global allocator per test binary: the counters are per thread, so
//! the tests of this file may run in parallel.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;
use smtp_auth::{Config, Output, Session};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v);
            }
        });
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the wrapper only
// counts sizes in thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with this layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the peak of live heap bytes above the start.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    let peak = PEAK.with(Cell::get);
    (peak - base).max(0) as usize
}

/// The heap bound for `config` and reads of at most `read` bytes (see the
/// module docs).
fn bound(config: &Config, read: usize) -> usize {
    let l = config.limits();
    let line = l.auth_line.max(l.command_line + 500);
    line.max(l.buffered_input) + 2 * read + 33 * 1024 + l.recipients * 1024 + 16 * 1024
}

/// Drives a session through `reads`, polling and dropping every output, and
/// answering every question with the test responder. Returns the peak heap
/// (the session's own allocations: the reads are allocated beforehand) and
/// what was sent.
fn drive(config: Config, reads: &[&[u8]]) -> (usize, Vec<u8>) {
    let config = Arc::new(config);
    let now = Instant::now();
    let mut sent = Vec::with_capacity(1 << 20);
    let peak = peak_during(|| {
        let mut s = Session::new(config, common::PEER, Some(common::tls_info()), now);
        for read in reads {
            s.receive(now, read);
            while let Some(o) = s.poll() {
                match o {
                    Output::Send(b) if sent.len() + b.len() <= sent.capacity() => {
                        sent.extend_from_slice(&b);
                    }
                    Output::Ask { id, question } => {
                        let a = common::respond(&question);
                        s.answer(id, a).expect("fits");
                    }
                    _ => {}
                }
            }
        }
    });
    (peak, sent)
}

const MB10: usize = 10 * 1024 * 1024;

fn cfg() -> Config {
    common::config().build()
}

fn chunks(data: &[u8], size: usize) -> Vec<&[u8]> {
    data.chunks(size).collect()
}

/// ATK-10, R5321-4.5.3.1.4.1: 10 MB without a CRLF in ONE read costs one
/// line buffer, not 10 MB; the line is refused once it ends.
#[test]
fn atk_10_ten_megabytes_without_crlf_in_one_read() {
    let mut data = vec![b'A'; MB10];
    data.extend_from_slice(b"\r\nNOOP\r\n");
    let config = cfg();
    let b = bound(&config, 8 * 1024);
    let (peak, sent) = drive(config, &[b"EHLO c\r\n", &data]);
    eprintln!("10 MB in one read: peak {peak} bytes, bound {b}");
    assert!(peak <= b, "peak {peak} > bound {b}");
    assert!(sent.ends_with(b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"));
}

/// ATK-10: the same 10 MB in 64 KiB reads.
#[test]
fn atk_10_ten_megabytes_without_crlf_in_64k_reads() {
    let mut data = vec![b'A'; MB10];
    data.extend_from_slice(b"\r\nNOOP\r\n");
    let config = cfg();
    let b = bound(&config, 64 * 1024);
    let (peak, sent) = drive(config, &chunks(&data, 64 * 1024));
    eprintln!("10 MB in 64 KiB reads: peak {peak} bytes, bound {b}");
    assert!(peak <= b, "peak {peak} > bound {b}");
    assert!(sent.ends_with(b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"));
}

/// A 10 MB message body in 64 KiB reads: the body is handed out as it
/// comes, never held.
#[test]
fn ten_megabyte_body_is_streamed_not_held() {
    let mut data = b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n".to_vec();
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n";
    while data.len() < MB10 {
        data.extend_from_slice(line);
    }
    data.extend_from_slice(b".\r\nQUIT\r\n");
    let config = cfg();
    let b = bound(&config, 64 * 1024);
    let mut reads = vec![&b"EHLO c\r\n"[..]];
    reads.extend(chunks(&data, 64 * 1024));
    let (peak, sent) = drive(config, &reads);
    eprintln!("10 MB body in 64 KiB reads: peak {peak} bytes, bound {b}");
    assert!(peak <= b, "peak {peak} > bound {b}");
    assert!(sent.ends_with(b"250 2.0.0 Message accepted for delivery\r\n221 2.0.0 Bye\r\n"));
}

/// The reply batch: 10 MB of pipelined EHLO (the largest reply per input
/// octet) in 64 KiB reads.
#[test]
fn pipelined_ehlo_flood_output_is_bounded_per_read() {
    let data = b"EHLO x\r\n".repeat(MB10 / 8);
    let config = cfg();
    let b = bound(&config, 64 * 1024);
    let (peak, _) = drive(config, &chunks(&data, 64 * 1024));
    eprintln!("EHLO flood in 64 KiB reads: peak {peak} bytes, bound {b}");
    assert!(peak <= b, "peak {peak} > bound {b}");
}

/// Pipelined input while a question is open is held up to
/// `buffered_input`, then the session closes (RFC 2920; ATK-10).
#[test]
fn pipelining_behind_an_open_question_is_capped() {
    let config = Arc::new(cfg());
    let limit = config.limits().buffered_input;
    let now = Instant::now();
    let rcpts = b"RCPT TO:<bob@example.net>\r\n".repeat(MB10 / 27);
    let mut closed = false;
    let peak = peak_during(|| {
        let mut s = Session::new(config.clone(), common::PEER, Some(common::tls_info()), now);
        s.receive(now, b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
        // Answer everything until MAIL's question, then keep it open.
        while let Some(o) = s.poll() {
            if let Output::Ask { id, question } = o {
                s.answer(id, common::respond(&question)).unwrap();
            }
        }
        let mut open = None;
        s.receive(now, b"MAIL FROM:<alice@example.org>\r\n");
        while let Some(o) = s.poll() {
            if let Output::Ask { id, .. } = o {
                open = Some(id);
            }
        }
        assert!(open.is_some());
        for read in rcpts.chunks(64 * 1024) {
            s.receive(now, read);
            while let Some(o) = s.poll() {
                if matches!(o, Output::Close) {
                    closed = true;
                }
            }
            if closed {
                break;
            }
        }
    });
    assert!(closed, "the session must close past buffered_input");
    let b = limit + 64 * 1024 + 32 * 1024;
    eprintln!("pipelining behind a question: peak {peak} bytes, bound {b}");
    assert!(peak <= b, "peak {peak} > bound {b}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any SMTP-shaped stream in any reads of at most 4 KiB: the heap stays
    /// within the bound.
    #[test]
    fn atk_10_heap_within_bound_for_any_stream(
        parts in prop::collection::vec(prop::sample::select(common::STREAM_TOKENS), 0..400),
        cut in 1usize..4096,
    ) {
        let stream: Vec<u8> = parts.concat();
        // High error limits, so random streams get deep before any `421`.
        let config = common::config()
            .max_errors(100_000)
            .max_auth_failures(100_000)
            .build();
        let b = bound(&config, cut);
        let reads = chunks(&stream, cut);
        let (peak, _) = drive(config, &reads);
        prop_assert!(peak <= b, "peak {} > bound {}", peak, b);
    }
}
