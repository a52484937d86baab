//! Shared by the benchmarks: the fixed corpora (generated in code, no
//! external data), the bench-local in-memory responder, the session driver,
//! the smtp-proto transcript, a minimal SCRAM client, and the interleaved
//! side-by-side runner that prints the ratio table.
//!
//! Each bench target includes this file with `#[path]`, so not every target
//! uses every item.
#![allow(dead_code)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smtp_auth::random::Entropy;
use smtp_auth::sasl::secret::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{encoding, Lookup, Mechanism, Request, Resolution, ScramHash, Verdict};
use smtp_auth::{Answer, Config, Output, Profile, Question, Session, TlsInfo};
use subtle::ConstantTimeEq;

pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
pub const HOSTNAME: &str = "mx.example.org";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "wonderland";
pub const SCRAM_SALT: &[u8] = b"NaClNaClNaCl-bench";
pub const SCRAM_ITERATIONS: u32 = 4096;
/// One TCP segment's payload on a 1500-byte MTU.
pub const SEGMENT: usize = 1460;

// ---------------------------------------------------------------------------
// Deterministic pseudo-randomness for the corpora.

/// xorshift64*: enough to mix the corpus, fixed seed, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An entropy source that always gives the same bytes, so every SCRAM
/// server nonce and CRAM-MD5 challenge is the same and client messages can
/// be computed once, outside the timed loop.
#[derive(Debug)]
pub struct ConstEntropy;

impl Entropy for ConstEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
    }

    fn unix_time(&self) -> u64 {
        1_700_000_000
    }
}

// ---------------------------------------------------------------------------
// The command corpus.

/// Number of lines in the command corpus.
pub const CORPUS_LINES: usize = 10_000;

fn b64(bytes: &[u8]) -> String {
    encoding::encode(bytes)
}

/// 10,000 mixed submission command lines, each ending in CRLF, in one
/// buffer. Every line is valid for both our grammar and smtp-proto's (the
/// benches check that before timing). About one line in eight is written
/// in lower case.
pub fn command_corpus() -> Vec<u8> {
    let mut rng = Rng::new(0x5eed_c0de);
    let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
    let domains = [
        "example.org",
        "example.net",
        "mail.example.com",
        "sub.example.co.uk",
    ];
    let mut out = Vec::with_capacity(CORPUS_LINES * 48);
    for i in 0..CORPUS_LINES {
        let u = users[rng.below(users.len() as u64) as usize];
        let d = domains[rng.below(domains.len() as u64) as usize];
        let n = rng.below(10_000);
        let line = match rng.below(100) {
            0..=17 => {
                format!("RCPT TO:<{u}{n}@{d}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{u}{n}@{d}")
            }
            18..=33 => format!("RCPT TO:<{u}.{n}@{d}>"),
            34..=37 => format!("RCPT TO:<{u}@{d}> NOTIFY=NEVER"),
            38..=45 => format!("MAIL FROM:<{u}@{d}> SIZE={} BODY=8BITMIME", 1000 + n * 37),
            46..=49 => format!("MAIL FROM:<{u}@{d}> SIZE={} AUTH=<>", 500 + n),
            50..=51 => format!("MAIL FROM:<{u}@{d}> AUTH={u}@{d}"),
            52..=54 => "MAIL FROM:<> SIZE=2048 AUTH=<>".to_owned(),
            55 => "MAIL FROM:<>".to_owned(),
            56..=58 => format!("AUTH PLAIN {}", b64(format!("\0{u}\0pw{n}").as_bytes())),
            59 => "AUTH PLAIN".to_owned(),
            60 => "AUTH LOGIN".to_owned(),
            61 => format!("AUTH LOGIN {}", b64(u.as_bytes())),
            62 => "AUTH CRAM-MD5".to_owned(),
            63..=68 => format!("EHLO client{n}.{d}"),
            69 => "EHLO [192.0.2.1]".to_owned(),
            70..=71 => format!("HELO host{n}.{d}"),
            72..=77 => "NOOP".to_owned(),
            78..=83 => "DATA".to_owned(),
            84..=87 => "RSET".to_owned(),
            88..=90 => "QUIT".to_owned(),
            91..=93 => "STARTTLS".to_owned(),
            94..=95 => format!("VRFY {u}"),
            _ => format!("RCPT TO:<{u}+tag{n}@{d}>"),
        };
        // Lower case, as some clients send it: the whole line when nothing
        // in it is case-sensitive, else the verb and keywords only.
        let line = if i % 8 == 5 {
            lower_case_command(&line)
        } else {
            line
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn lower_case_command(line: &str) -> String {
    if line.starts_with("AUTH PLAIN ") || line.starts_with("AUTH LOGIN ") {
        // base64 is case-sensitive: only the verb and the mechanism.
        let (head, tail) = line.split_at(10);
        format!("{}{tail}", head.to_ascii_lowercase())
    } else {
        line.to_ascii_lowercase()
    }
}

/// The lines of a CRLF-terminated buffer, without their CRLF, found with
/// `memchr` as a framing layer would.
pub fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let lf = memchr::memchr(b'\n', rest)?;
        let line = &rest[..lf.saturating_sub(1)];
        rest = &rest[lf + 1..];
        Some(line)
    })
}

// ---------------------------------------------------------------------------
// The submission transcript.

/// The 1 KiB body, dot-stuffed as it goes on the wire (without the final
/// `.` line): headers, text, and lines that begin with a dot.
pub fn wire_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(
        b"From: Alice <alice@example.org>\r\n\
          To: bob@example.net, carol@example.net, dave@example.net\r\n\
          Subject: Quarterly figures\r\n\
          Message-ID: <20240101.1234@example.org>\r\n\
          Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n\
          MIME-Version: 1.0\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let mut i = 0;
    while body.len() < 1024 - 64 {
        if i % 4 == 1 {
            // Dot-stuffed: the client doubled a leading dot.
            body.extend_from_slice(b"..leading dot on this line, stuffed by the client\r\n");
        } else {
            body.extend_from_slice(
                b"The quick brown fox jumps over the lazy dog; figures follow.\r\n",
            );
        }
        i += 1;
    }
    while body.len() < 1024 - 2 {
        body.push(b'x');
    }
    body.extend_from_slice(b"\r\n");
    assert_eq!(body.len(), 1024);
    body
}

/// Everything the client sends: EHLO, AUTH PLAIN with an initial response,
/// MAIL with SIZE and AUTH=<>, three RCPT, DATA, the 1 KiB body with
/// dot-stuffed lines, `.`, QUIT.
pub fn transcript_client_bytes() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"EHLO client.example.com\r\n");
    t.extend_from_slice(
        format!(
            "AUTH PLAIN {}\r\n",
            b64(format!("\0{USER}\0{PASSWORD}").as_bytes())
        )
        .as_bytes(),
    );
    t.extend_from_slice(b"MAIL FROM:<alice@example.org> SIZE=1024 AUTH=<>\r\n");
    t.extend_from_slice(b"RCPT TO:<bob@example.net>\r\n");
    t.extend_from_slice(b"RCPT TO:<carol@example.net>\r\n");
    t.extend_from_slice(b"RCPT TO:<dave@example.net>\r\n");
    t.extend_from_slice(b"DATA\r\n");
    t.extend_from_slice(&wire_body());
    t.extend_from_slice(b".\r\n");
    t.extend_from_slice(b"QUIT\r\n");
    t
}

/// The listener: implicit TLS (port 465), the four mechanisms benchmarked,
/// constant entropy.
pub fn config() -> Arc<Config> {
    Arc::new(
        Config::builder(HOSTNAME)
            .profile(Profile::ImplicitTls)
            .mechanisms([
                Mechanism::ScramSha256,
                Mechanism::CramMd5,
                Mechanism::Plain,
                Mechanism::Login,
            ])
            .entropy(Arc::new(ConstEntropy))
            .fake_salt_key([7; 32])
            .build(),
    )
}

pub fn tls_info() -> TlsInfo {
    TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256")
}

// ---------------------------------------------------------------------------
// The bench-local responder.

/// What a real in-memory store would answer: passwords compared in
/// constant time (`subtle`), stored CRAM-MD5 and SCRAM secrets cloned out
/// of the store, every policy question allowed, no delay.
pub struct Store {
    pub password: String,
    pub cram: CramMd5Secret,
    pub scram: ScramCredentials,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Store {
            password: PASSWORD.to_owned(),
            cram: CramMd5Secret::from_password(PASSWORD),
            scram: ScramCredentials::derive(
                ScramHash::Sha256,
                PASSWORD,
                SCRAM_SALT,
                SCRAM_ITERATIONS,
            )
            .expect("derive"),
        }
    }

    /// Constant-time password check, as a store would do it.
    pub fn check(&self, user: &str, password: &[u8]) -> bool {
        let user_ok = user.as_bytes().ct_eq(USER.as_bytes());
        let pw_ok = password.ct_eq(self.password.as_bytes());
        bool::from(user_ok & pw_ok)
    }

    pub fn resolve(&self, request: &Request) -> Resolution {
        match request {
            Request::VerifyPassword { authcid, password } => {
                Resolution::Verdict(if self.check(authcid, password.expose().as_bytes()) {
                    Verdict::Valid
                } else {
                    Verdict::Invalid
                })
            }
            Request::CramMd5Secret { authcid } if authcid == USER => {
                Resolution::CramMd5Secret(Lookup::Found(self.cram.clone()))
            }
            Request::ScramCredentials { authcid, .. } if authcid == USER => {
                Resolution::ScramCredentials(Lookup::Found(self.scram.clone()))
            }
            Request::CramMd5Secret { .. } => Resolution::CramMd5Secret(Lookup::NotFound),
            Request::ScramCredentials { .. } => Resolution::ScramCredentials(Lookup::NotFound),
            _ => Resolution::Verdict(Verdict::Invalid),
        }
    }

    pub fn respond(&self, question: &Question) -> Answer {
        match question {
            Question::Credentials { request, .. } => Answer::Sasl(self.resolve(request)),
            Question::AuthResult(_) => Answer::Recorded {
                delay: Duration::ZERO,
            },
            _ => Answer::Allow,
        }
    }
}

// ---------------------------------------------------------------------------
// Driving a session.

/// What the driver collects; reused across transcripts.
#[derive(Default)]
pub struct Sink {
    pub sent: Vec<u8>,
    pub body: Vec<u8>,
    pub events: usize,
    pub closed: bool,
}

impl Sink {
    pub fn clear(&mut self) {
        self.sent.clear();
        self.body.clear();
        self.events = 0;
        self.closed = false;
    }
}

pub fn pump(session: &mut Session, store: &Store, sink: &mut Sink) {
    while let Some(output) = session.poll() {
        match output {
            Output::Send(bytes) => sink.sent.extend_from_slice(&bytes),
            Output::Ask { id, question } => {
                let answer = store.respond(&question);
                session.answer(id, answer).expect("answer fits");
            }
            Output::Data(bytes) => sink.body.extend_from_slice(&bytes),
            Output::Event(_) => sink.events += 1,
            Output::Close => sink.closed = true,
            _ => {}
        }
    }
}

/// One whole transcript through a fresh session, fed in `chunk`-byte reads.
pub fn run_transcript(
    config: &Arc<Config>,
    tls: TlsInfo,
    input: &[u8],
    chunk: usize,
    store: &Store,
    now: Instant,
    sink: &mut Sink,
) {
    sink.clear();
    let mut session = Session::new(config.clone(), PEER, Some(tls), now);
    pump(&mut session, store, sink);
    for piece in input.chunks(chunk) {
        session.receive(now, piece);
        pump(&mut session, store, sink);
    }
}

/// Checks that the transcript did what it should, once, before timing.
pub fn check_transcript(sink: &Sink) {
    let sent = String::from_utf8_lossy(&sink.sent);
    for want in [
        "220 mx.example.org",
        "235 2.7.0",
        "250 2.1.0",
        "250 2.1.5",
        "354 ",
        "250 2.0.0 Message accepted",
        "221 2.0.0",
    ] {
        assert!(sent.contains(want), "missing {want:?} in:\n{sent}");
    }
    assert_eq!(sent.matches("250 2.1.5").count(), 3, "{sent}");
    assert!(sink.closed);
    let body = wire_body();
    let unstuffed = body.len() - body.windows(3).filter(|w| w == b"\n..").count();
    assert_eq!(sink.body.len(), unstuffed);
}

// ---------------------------------------------------------------------------
// The same transcript through smtp-proto (parse only).

/// Parses the client side of the transcript with smtp-proto's receivers:
/// command lines with `RequestReceiver`, the body with `DataReceiver`
/// (dot-unstuffed into `body`). Returns the number of requests parsed.
pub fn smtp_proto_transcript(input: &[u8], chunk: usize, body: &mut Vec<u8>) -> usize {
    use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
    use smtp_proto::{Error, Request};
    body.clear();
    let mut requests = 0;
    let mut rx = RequestReceiver::default();
    let mut data: Option<DataReceiver> = None;
    for piece in input.chunks(chunk) {
        let mut it = piece.iter();
        loop {
            if let Some(d) = &mut data {
                if d.ingest(&mut it, body) {
                    data = None;
                    continue;
                }
                break;
            }
            match rx.ingest(&mut it) {
                Ok(request) => {
                    requests += 1;
                    if matches!(request, Request::Data) {
                        data = Some(DataReceiver::new());
                    }
                    black_box(&request);
                }
                Err(Error::NeedsMoreData { .. }) => break,
                Err(e) => panic!("smtp-proto refused the transcript: {e:?}"),
            }
        }
    }
    requests
}

// ---------------------------------------------------------------------------
// SASL helpers.

pub fn server_context() -> smtp_auth::sasl::ServerContext<'static> {
    static ENTROPY: ConstEntropy = ConstEntropy;
    static KEY: [u8; 32] = [7; 32];
    smtp_auth::sasl::ServerContext {
        hostname: HOSTNAME,
        entropy: &ENTROPY,
        channel_binding: None,
        client_certificate: None,
        fake_salt_key: &KEY,
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// A minimal SCRAM-SHA-256 client that knows ClientKey already (as a
/// client that cached its SaltedPassword does): what both servers are
/// driven with when their nonce is random.
pub struct ScramClient {
    pub client_key: [u8; 32],
    pub stored_key: [u8; 32],
}

pub const SCRAM_CLIENT_FIRST: &[u8] = b"n,,n=alice,r=rOprNGfwEbeRWgbNEkqO";
pub const SCRAM_CLIENT_FIRST_BARE: &[u8] = b"n=alice,r=rOprNGfwEbeRWgbNEkqO";

impl ScramClient {
    pub fn new() -> Self {
        let salted = {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                PASSWORD.as_bytes(),
                SCRAM_SALT,
                SCRAM_ITERATIONS,
                &mut out,
            );
            out
        };
        let client_key = hmac_sha256(&salted, &[b"Client Key"]);
        ScramClient {
            client_key,
            stored_key: sha256(&client_key),
        }
    }

    /// The client-final message (raw, not base64) for a server-first message.
    pub fn client_final(&self, server_first: &[u8]) -> Vec<u8> {
        let nonce_end = server_first
            .iter()
            .position(|&b| b == b',')
            .unwrap_or(server_first.len());
        let nonce = &server_first[2..nonce_end];
        let mut msg = Vec::with_capacity(128);
        msg.extend_from_slice(b"c=biws,r=");
        msg.extend_from_slice(nonce);
        let signature = hmac_sha256(
            &self.stored_key,
            &[SCRAM_CLIENT_FIRST_BARE, b",", server_first, b",", &msg],
        );
        let mut proof = self.client_key;
        for (p, s) in proof.iter_mut().zip(signature) {
            *p ^= s;
        }
        msg.extend_from_slice(b",p=");
        msg.extend_from_slice(encoding::encode(&proof).as_bytes());
        msg
    }
}

impl Default for ScramClient {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// The side-by-side runner.

/// One contender in a side-by-side comparison.
pub struct Contender<'a> {
    /// `ours`, `peer` or `floor`.
    pub role: &'static str,
    pub name: &'static str,
    pub run: Box<dyn FnMut() + 'a>,
}

pub fn contender<'a>(
    role: &'static str,
    name: &'static str,
    run: impl FnMut() + 'a,
) -> Contender<'a> {
    Contender {
        role,
        name,
        run: Box::new(run),
    }
}

/// How many interleaved rounds the side-by-side tables use
/// (`SMTP_AUTH_BENCH_ROUNDS`, default 31).
fn rounds() -> usize {
    std::env::var("SMTP_AUTH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(31)
        .max(3)
}

fn batch_size(f: &mut dyn FnMut(), target: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let e = t.elapsed();
        if e >= target / 4 || n >= 1 << 30 {
            let per = e.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per.max(1e-9)) as u64).max(1);
        }
        n *= 2;
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the contenders interleaved — round after round, each contender one
/// batch of about 5 ms per round, the order rotating — so that a noisy
/// neighbour slows them all alike; then prints, per contender, the median
/// time per iteration over the rounds, the spread (interquartile range over
/// rounds, as a percentage of the median), the throughput, and the ratio to the first
/// `ours` contender. `units` names what one iteration processes
/// (`("line", 10_000.0)`) and `bytes` how many input bytes it reads.
///
/// Also prints one tab-separated `SIDE` line per contender for
/// `benches/summarize.py`.
pub fn side_by_side(
    group: &str,
    units: (&str, f64),
    bytes: Option<usize>,
    mut contenders: Vec<Contender<'_>>,
) {
    if let Some(filter) = profile_filter() {
        // Under callgrind: run the matching contenders a fixed number of
        // times, nothing else, so instruction counts can be compared.
        let iters: u64 = std::env::var("SMTP_AUTH_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        for c in contenders.iter_mut().filter(|c| c.name.contains(&*filter)) {
            for _ in 0..iters {
                (c.run)();
            }
            println!("PROFILED\t{group}\t{}\t{iters}", c.name);
        }
        return;
    }
    let rounds = rounds();
    let target = Duration::from_millis(5);
    let batches: Vec<u64> = contenders
        .iter_mut()
        .map(|c| {
            // Warm up, then size the batch.
            (c.run)();
            batch_size(&mut *c.run, target)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); contenders.len()];
    for r in 0..rounds {
        for k in 0..contenders.len() {
            let i = (k + r) % contenders.len();
            let t = Instant::now();
            for _ in 0..batches[i] {
                (contenders[i].run)();
            }
            samples[i].push(t.elapsed().as_secs_f64() * 1e9 / batches[i] as f64);
        }
    }
    let ours = contenders.iter().position(|c| c.role == "ours");
    // Per contender: median ns/iter, spread (interquartile range over
    // rounds, % of the median), and the median over rounds of its time / ours in the same
    // round (neighbours in time share the machine's noise).
    let stats: Vec<(f64, f64, f64)> = (0..contenders.len())
        .map(|i| {
            let mut s = samples[i].clone();
            let m = median(&mut s);
            // `s` is sorted now: the interquartile range.
            let (lo, hi) = (s[s.len() / 4], s[s.len() * 3 / 4]);
            let ratio = ours.map_or(f64::NAN, |o| {
                let mut r: Vec<f64> = samples[i]
                    .iter()
                    .zip(&samples[o])
                    .map(|(a, b)| a / b)
                    .collect();
                median(&mut r)
            });
            (m, (hi - lo) / m * 100.0, ratio)
        })
        .collect();
    println!();
    println!(
        "== side by side: {group} ({rounds} interleaved rounds; median ns per iteration; spread = IQR over rounds; ratio = median of per-round time/ours) =="
    );
    println!(
        "{:<6} {:<36} {:>14} {:>8} {:>14} {:>10} {:>10}",
        "role",
        "implementation",
        "ns/iter",
        "spread",
        format!("{}s/s", units.0),
        "MiB/s",
        "time/ours"
    );
    for (c, (m, spread, ratio)) in contenders.iter().zip(&stats) {
        let per_s = units.1 * 1e9 / m;
        let mib = bytes.map_or("-".to_owned(), |b| {
            format!("{:.1}", b as f64 * 1e9 / m / (1024.0 * 1024.0))
        });
        println!(
            "{:<6} {:<36} {:>14.1} {:>7.1}% {:>14.0} {:>10} {:>10.3}",
            c.role, c.name, m, spread, per_s, mib, ratio
        );
    }
    for (c, (m, spread, ratio)) in contenders.iter().zip(&stats) {
        println!(
            "SIDE\t{group}\t{}\t{}\t{m:.3}\t{spread:.2}\t{ratio:.4}\t{}\t{}",
            c.role,
            c.name,
            units.1,
            bytes.unwrap_or(0)
        );
    }
}

/// Criterion settings for every bench target: shorter than the defaults
/// so that `cargo bench` as a whole stays within a few minutes on two
/// shared cores; command-line flags still override them.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .without_plots()
        .configure_from_args()
}

/// `SMTP_AUTH_BENCH_PROFILE=<substring>`: run only the side-by-side
/// contenders whose name contains it, `SMTP_AUTH_BENCH_ITERS` times (for
/// `valgrind --tool=callgrind`), and skip criterion.
pub fn profile_filter() -> Option<String> {
    std::env::var("SMTP_AUTH_BENCH_PROFILE").ok()
}

/// Whether to run criterion's own measurements: not under
/// `SMTP_AUTH_BENCH_PROFILE`, nor with `SMTP_AUTH_BENCH_SIDE_ONLY=1` (only
/// the side-by-side tables, for quick repeated runs).
pub fn run_criterion() -> bool {
    profile_filter().is_none() && std::env::var_os("SMTP_AUTH_BENCH_SIDE_ONLY").is_none()
}

/// True when criterion was asked only to list or test the benchmarks
/// (`cargo test --benches`, `--list`): skip the side-by-side tables then.
pub fn only_listing() -> bool {
    std::env::args().any(|a| a == "--list" || a == "--test" || a == "--exact")
        || !std::env::args().any(|a| a == "--bench")
}

/// Frees a `Bytes` (used to keep the compiler from eliding Output payloads).
pub fn consume(b: Bytes) -> usize {
    b.len()
}

// ---------------------------------------------------------------------------
// Our SASL server exchanges, base64 included.

/// The client messages for each mechanism (base64, as on the wire),
/// computed once; with [`ConstEntropy`] every CRAM-MD5 challenge and SCRAM
/// server nonce is the same, so they stay valid.
pub struct Exchanges {
    pub ctx: smtp_auth::sasl::ServerContext<'static>,
    pub plain_ir: Vec<u8>,
    pub login_user: Vec<u8>,
    pub login_password: Vec<u8>,
    pub cram_response: Vec<u8>,
    pub scram_first: Vec<u8>,
    pub scram_final: Vec<u8>,
}

fn challenge(step: smtp_auth::sasl::Step) -> Vec<u8> {
    match step {
        smtp_auth::sasl::Step::Challenge(c) => c,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn request(step: smtp_auth::sasl::Step) -> Option<Request> {
    match step {
        smtp_auth::sasl::Step::Request(r) => Some(r),
        _ => None,
    }
}

fn succeeded(step: Result<smtp_auth::sasl::Step, smtp_auth::sasl::Misfit>) -> bool {
    matches!(
        step,
        Ok(smtp_auth::sasl::Step::Done(
            smtp_auth::sasl::Outcome::Success(_)
        ))
    )
}

impl Exchanges {
    pub fn new() -> Self {
        use smtp_auth::sasl::ServerExchange;
        let ctx = server_context();
        // CRAM-MD5: the challenge is fixed; answer it once.
        let mut ex = ServerExchange::new(Mechanism::CramMd5);
        let c = challenge(ex.step(&ctx, None));
        let digest = {
            use hmac::{KeyInit, Mac};
            let mut mac =
                <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(PASSWORD.as_bytes()).unwrap();
            mac.update(&c);
            mac.finalize().into_bytes()
        };
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let cram_response = b64(format!("{USER} {hex}").as_bytes()).into_bytes();
        // SCRAM: the server-first is fixed; compute the client-final once.
        let store = Store::new();
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let req = request(ex.step(&ctx, Some(SCRAM_CLIENT_FIRST))).expect("request");
        let server_first = challenge(ex.resolve(&ctx, store.resolve(&req)).unwrap());
        let client_final = ScramClient::new().client_final(&server_first);
        Exchanges {
            ctx,
            plain_ir: b64(format!("\0{USER}\0{PASSWORD}").as_bytes()).into_bytes(),
            login_user: b64(USER.as_bytes()).into_bytes(),
            login_password: b64(PASSWORD.as_bytes()).into_bytes(),
            cram_response,
            scram_first: b64(SCRAM_CLIENT_FIRST).into_bytes(),
            scram_final: b64(&client_final).into_bytes(),
        }
    }

    /// `AUTH PLAIN <ir>`: decode, parse, verify, succeed.
    pub fn plain(&self, store: &Store) -> bool {
        let mut ex = smtp_auth::sasl::ServerExchange::new(Mechanism::Plain);
        let ir = encoding::decode(&self.plain_ir).unwrap();
        let Some(req) = request(ex.step(&self.ctx, Some(&ir))) else {
            return false;
        };
        succeeded(ex.resolve(&self.ctx, store.resolve(&req)))
    }

    /// `AUTH LOGIN`, two prompts (encoded), two answers (decoded).
    pub fn login(&self, store: &Store) -> bool {
        let mut ex = smtp_auth::sasl::ServerExchange::new(Mechanism::Login);
        black_box(encoding::encode(&challenge(ex.step(&self.ctx, None))));
        let user = encoding::decode(&self.login_user).unwrap();
        black_box(encoding::encode(&challenge(
            ex.step(&self.ctx, Some(&user)),
        )));
        let password = encoding::decode(&self.login_password).unwrap();
        let Some(req) = request(ex.step(&self.ctx, Some(&password))) else {
            return false;
        };
        succeeded(ex.resolve(&self.ctx, store.resolve(&req)))
    }

    /// `AUTH CRAM-MD5`: challenge (encoded), response (decoded), stored
    /// secret, HMAC-MD5.
    pub fn cram_md5(&self, store: &Store) -> bool {
        let mut ex = smtp_auth::sasl::ServerExchange::new(Mechanism::CramMd5);
        black_box(encoding::encode(&challenge(ex.step(&self.ctx, None))));
        let response = encoding::decode(&self.cram_response).unwrap();
        let Some(req) = request(ex.step(&self.ctx, Some(&response))) else {
            return false;
        };
        succeeded(ex.resolve(&self.ctx, store.resolve(&req)))
    }

    /// `AUTH SCRAM-SHA-256 <client-first>` from stored keys: server-first
    /// (encoded), client-final (decoded, proof checked), server-final
    /// (encoded), the client's empty response.
    pub fn scram(&self, store: &Store) -> bool {
        self.scram_with(store, |_| self.scram_final.clone())
    }

    /// As [`Exchanges::scram`], with the client-final computed by the
    /// bench-local client from the server-first, as rsasl needs.
    pub fn scram_with_client(&self, store: &Store, client: &ScramClient) -> bool {
        self.scram_with(store, |server_first| {
            encoding::encode(&client.client_final(server_first)).into_bytes()
        })
    }

    fn scram_with(&self, store: &Store, client_final: impl FnOnce(&[u8]) -> Vec<u8>) -> bool {
        let mut ex = smtp_auth::sasl::ServerExchange::new(Mechanism::ScramSha256);
        let first = encoding::decode(&self.scram_first).unwrap();
        let Some(req) = request(ex.step(&self.ctx, Some(&first))) else {
            return false;
        };
        let server_first = challenge(ex.resolve(&self.ctx, store.resolve(&req)).unwrap());
        let wire = encoding::encode(&server_first);
        let final_b64 = client_final(&encoding::decode(wire.as_bytes()).unwrap());
        let client_final = encoding::decode(&final_b64).unwrap();
        let server_final = challenge(ex.step(&self.ctx, Some(&client_final)));
        black_box(encoding::encode(&server_final));
        succeeded(Ok(ex.step(&self.ctx, Some(b""))))
    }
}

impl Default for Exchanges {
    fn default() -> Self {
        Self::new()
    }
}

/// Base64 helpers for the peer modules (our strict engine: the wire format).
pub fn encoding_encode(bytes: &[u8]) -> Vec<u8> {
    encoding::encode(bytes).into_bytes()
}

pub fn encoding_decode(text: &[u8]) -> Vec<u8> {
    encoding::decode(text).expect("base64")
}
