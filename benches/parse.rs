//! Command parsing: 10,000 mixed submission command lines through our
//! grammar, through smtp-proto's, and the floor — a newline scan over the
//! same bytes. Lines/s and bytes/s.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::Throughput;
use smtp_auth::command;

use support::{command_corpus, contender, lines, side_by_side, CORPUS_LINES};

/// Ours: frame each line (memchr for LF, as a framing layer would), parse it.
fn ours(corpus: &[u8]) -> usize {
    let mut ok = 0;
    for line in lines(corpus) {
        if black_box(command::parse(black_box(line))).is_ok() {
            ok += 1;
        }
    }
    ok
}

/// smtp-proto: `Request::parse` finds the line end itself.
fn smtp_proto(corpus: &[u8]) -> usize {
    let mut ok = 0;
    let mut it = corpus.iter();
    while !it.as_slice().is_empty() {
        if black_box(smtp_proto::Request::parse(black_box(&mut it))).is_ok() {
            ok += 1;
        }
    }
    ok
}

/// The floor: count the newlines.
fn floor(corpus: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', black_box(corpus)).count()
}

fn check(corpus: &[u8]) {
    assert_eq!(floor(corpus), CORPUS_LINES);
    for line in lines(corpus) {
        if let Err(e) = command::parse(line) {
            panic!("ours refused {:?}: {e}", String::from_utf8_lossy(line));
        }
        let mut with_crlf = line.to_vec();
        with_crlf.extend_from_slice(b"\r\n");
        if let Err(e) = smtp_proto::Request::parse(&mut with_crlf.iter()) {
            panic!(
                "smtp-proto refused {:?}: {e:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    assert_eq!(ours(corpus), CORPUS_LINES);
    assert_eq!(smtp_proto(corpus), CORPUS_LINES);
}

fn main() {
    let corpus = command_corpus();
    check(&corpus);
    if support::run_criterion() {
        let mut c = support::criterion();
        let mut g = c.benchmark_group("parse/corpus-bytes");
        g.throughput(Throughput::Bytes(corpus.len() as u64));
        g.bench_function("ours", |b| b.iter(|| ours(&corpus)));
        g.bench_function("smtp-proto", |b| b.iter(|| smtp_proto(&corpus)));
        g.bench_function("floor-memchr", |b| b.iter(|| floor(&corpus)));
        g.finish();
        let mut g = c.benchmark_group("parse/corpus-lines");
        g.throughput(Throughput::Elements(CORPUS_LINES as u64));
        g.bench_function("ours", |b| b.iter(|| ours(&corpus)));
        g.bench_function("smtp-proto", |b| b.iter(|| smtp_proto(&corpus)));
        g.finish();
        c.final_summary();
    }
    if support::only_listing() && support::profile_filter().is_none() {
        return;
    }
    println!(
        "\ncommand corpus: {CORPUS_LINES} lines, {} bytes ({:.1} bytes/line)",
        corpus.len(),
        corpus.len() as f64 / CORPUS_LINES as f64
    );
    side_by_side(
        "parse: command corpus",
        ("line", CORPUS_LINES as f64),
        Some(corpus.len()),
        vec![
            contender("ours", "smtp-auth command::parse", || {
                black_box(ours(&corpus));
            }),
            contender("peer", "smtp-proto Request::parse", || {
                black_box(smtp_proto(&corpus));
            }),
            contender("floor", "memchr newline scan", || {
                black_box(floor(&corpus));
            }),
        ],
    );
}
