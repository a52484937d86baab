//! The whole Session: arbitrary bytes in arbitrary chunks, interleaved with
//! arbitrary answers (right, wrong, stale, unasked), TLS events, timeouts
//! and shutdown. Invariants: see `fuzz_support::session::Driver`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = fuzz_support::session::SessionInput::from_bytes(data);
    let _ = fuzz_support::session::run(&input);
});
