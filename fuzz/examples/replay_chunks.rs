//! Prints both runs of a `session_chunks` input, for debugging.
use fuzz_support::session::{next_line, ChunksInput};
fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let input = ChunksInput::from_bytes(&data);
    println!("{:?} chunks {:?}", input.setup, input.chunks);
    let mut r = input.stream;
    while !r.is_empty() {
        let l = next_line(&mut r);
        println!("line {:?}", String::from_utf8_lossy(l));
    }
}
