//! The full authenticated submission transcript through `Session` (EHLO,
//! AUTH PLAIN, MAIL with SIZE and AUTH=<>, 3 RCPT, DATA with a 1 KiB
//! dot-stuffed body, QUIT; questions answered by the bench-local in-memory
//! responder), fed whole and in 1,460-byte reads; side by side with
//! smtp-proto parsing the same bytes (parse only: no replies, no state, no
//! questions) and the floor, a newline scan.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use criterion::Throughput;

use support::{
    check_transcript, config, contender, run_transcript, side_by_side, smtp_proto_transcript,
    tls_info, transcript_client_bytes, Sink, Store, SEGMENT,
};

fn main() {
    let input = transcript_client_bytes();
    let config = config();
    let store = Store::new();
    let tls = tls_info();
    let now = Instant::now();
    let mut sink = Sink::default();
    for chunk in [input.len(), SEGMENT, 1] {
        run_transcript(&config, tls.clone(), &input, chunk, &store, now, &mut sink);
        check_transcript(&sink);
    }
    let mut body = Vec::new();
    // 9 requests: EHLO, AUTH, MAIL, 3 RCPT, DATA, QUIT, and the body.
    assert_eq!(smtp_proto_transcript(&input, input.len(), &mut body), 8);
    assert_eq!(smtp_proto_transcript(&input, SEGMENT, &mut body), 8);
    assert_eq!(body.len(), sink.body.len());

    if support::run_criterion() {
        let mut c = support::criterion();
        let mut g = c.benchmark_group("session/transcript");
        g.throughput(Throughput::Elements(1));
        for (name, chunk) in [("whole", input.len()), ("1460-byte reads", SEGMENT)] {
            g.bench_function(format!("ours/{name}"), |b| {
                let mut sink = Sink::default();
                b.iter(|| {
                    run_transcript(&config, tls.clone(), &input, chunk, &store, now, &mut sink);
                    black_box(sink.sent.len())
                })
            });
            g.bench_function(format!("smtp-proto/{name}"), |b| {
                let mut body = Vec::new();
                b.iter(|| black_box(smtp_proto_transcript(&input, chunk, &mut body)))
            });
        }
        g.bench_function("floor-memchr", |b| {
            b.iter(|| memchr::memchr_iter(b'\n', black_box(&input)).count())
        });
        g.finish();
        c.final_summary();
    }
    if support::only_listing() && support::profile_filter().is_none() {
        return;
    }
    println!(
        "\ntranscript: {} client bytes, {} reply bytes, {} body bytes after unstuffing",
        input.len(),
        sink.sent.len(),
        sink.body.len()
    );
    for (name, chunk) in [("fed whole", input.len()), ("1460-byte reads", SEGMENT)] {
        let mut sink_ours = Sink::default();
        let mut body_peer = Vec::new();
        let tls = &tls;
        side_by_side(
            &format!("session: full transcript, {name}"),
            ("transcript", 1.0),
            Some(input.len()),
            vec![
                contender("ours", "smtp-auth Session + responder", || {
                    run_transcript(
                        &config,
                        tls.clone(),
                        &input,
                        chunk,
                        &store,
                        now,
                        &mut sink_ours,
                    );
                    black_box(sink_ours.sent.len());
                }),
                contender("peer", "smtp-proto receivers (parse only)", || {
                    black_box(smtp_proto_transcript(&input, chunk, &mut body_peer));
                }),
                contender("floor", "memchr newline scan", || {
                    black_box(memchr::memchr_iter(b'\n', black_box(&input)).count());
                }),
            ],
        );
    }
}
