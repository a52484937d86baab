//! One client stream fed line by line and in arbitrary chunks must give the
//! same replies, events, questions and body bytes (RFC 2920: nothing lost,
//! nothing reordered), up to the first STARTTLS.
#![no_main]

use fuzz_support::session::{next_line, run_chunked, ChunksInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = ChunksInput::from_bytes(data);
    let stream = input.stream;
    // Reads stay within what the session may buffer behind a question
    // (`Session::wants_read`), in both runs.
    let limit = (input.setup.buffered_input() / 2).max(1);
    let lines = run_chunked(input.setup, stream, &mut |rest| {
        let mut r = rest;
        next_line(&mut r).len().min(limit)
    });
    let mut i = 0usize;
    let chunks = &input.chunks;
    let cut = run_chunked(input.setup, stream, &mut |_| {
        let n = chunks.get(i % chunks.len().max(1)).copied().unwrap_or(1);
        i += 1;
        usize::from(n).clamp(1, limit)
    });
    assert_eq!(
        String::from_utf8_lossy(&lines.sent),
        String::from_utf8_lossy(&cut.sent),
        "replies differ"
    );
    assert_eq!(lines.norm, cut.norm, "outputs differ");
});
