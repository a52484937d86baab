//! Hostile load against a submission server on loopback, bounded in count
//! and time, reporting what the server did. Four scenarios:
//!
//! * `idle N`: hold N implicit-TLS connections open after the greeting and
//!   report the server's resident memory per connection (`--server-pid`).
//! * `trickle K`: K clients send a command one byte every few seconds; the
//!   command timeout must drop them (run the server with a short
//!   `--command-timeout`), while normal sessions keep completing.
//! * `flood C`: C connections send garbage as fast as they can for
//!   `--seconds`, while normal sessions run; reports their p99 and the
//!   server's memory.
//! * `vanish N`: N sessions that hang up at a random point (mid-handshake,
//!   mid-AUTH, mid-DATA, after the final dot); afterwards every message the
//!   server acknowledged with 250 must be in `--maildir`/new exactly once
//!   and nothing else, and `tmp/` must be empty.
//!
//! ```sh
//! cargo run --release --example submission_server -- --command-timeout 10 &
//! cargo run --release --example hostile_load -- idle 10000 --server-pid $!
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[path = "support/insecure_tls.rs"]
mod insecure_tls;
use insecure_tls::connector;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Opts {
    submission: SocketAddr,
    implicit: SocketAddr,
    server_pid: Option<u32>,
    maildir: std::path::PathBuf,
    seconds: u64,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Result<String, Error> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err("closed".into());
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(all);
        }
    }
}

async fn tls(addr: SocketAddr) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(connector()
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?)
}

/// One normal session (implicit TLS, AUTH PLAIN, one message); its latency.
async fn normal(addr: SocketAddr) -> Result<Duration, Error> {
    let t = Instant::now();
    let mut r = BufReader::new(tls(addr).await?);
    reply(&mut r).await?;
    r.get_mut()
        .write_all(b"EHLO n\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        .await?;
    for want in ['2', '2', '2', '2', '3'] {
        let got = reply(&mut r).await?;
        if !got.starts_with(want) {
            return Err(got.into());
        }
    }
    r.get_mut().write_all(b"hi\r\n.\r\nQUIT\r\n").await?;
    reply(&mut r).await?;
    reply(&mut r).await?;
    Ok(t.elapsed())
}

async fn idle(o: &Opts, n: usize) {
    let before = o.server_pid.and_then(rss_kib);
    let mut held = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        match tls(o.implicit).await {
            Ok(s) => {
                let mut r = BufReader::new(s);
                if reply(&mut r).await.is_ok() {
                    held.push(r);
                }
            }
            Err(e) => {
                eprintln!("connect failed after {}: {e}", held.len());
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = o.server_pid.and_then(rss_kib);
    print!(
        "idle: held={} in {:.1}s",
        held.len(),
        start.elapsed().as_secs_f64()
    );
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.saturating_sub(b)) as f64 / held.len().max(1) as f64;
        print!(" server_rss_before_kib={b} after_kib={a} per_connection_kib={per:.1}");
    }
    println!();
}

async fn trickle(o: &Opts, k: usize) {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..k {
        let (addr, dropped, secs) = (o.submission, dropped.clone(), o.seconds);
        tasks.spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return;
            };
            let start = Instant::now();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await; // greeting
            for b in b"EHLO slow.client.example\r\n".iter().cycle() {
                if start.elapsed() > Duration::from_secs(secs) {
                    return;
                }
                if s.write_all(&[*b]).await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) if String::from_utf8_lossy(&buf[..n]).contains("421") => {
                        // Wait for the close that follows the 421.
                        let _ =
                            tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
                        break;
                    }
                    _ => {}
                }
            }
            dropped.fetch_add(1, Ordering::Relaxed);
        });
    }
    // Meanwhile normal sessions must keep completing.
    let mut ok = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(o.seconds) && !tasks.is_empty() {
        if normal(o.implicit).await.is_ok() {
            ok += 1;
        }
        while let Some(r) = tasks.try_join_next() {
            let _ = r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while tasks.join_next().await.is_some() {}
    println!(
        "trickle: clients={k} dropped_by_server={} normal_sessions_meanwhile={ok} in {:.1}s",
        dropped.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
}

async fn flood(o: &Opts, c: usize) {
    let stop = Instant::now() + Duration::from_secs(o.seconds);
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..c {
        let (addr, sent) = (o.implicit, sent.clone());
        tasks.spawn(async move {
            // Half send long lines without CRLF, half send junk commands.
            let junk: Vec<u8> = if i % 2 == 0 {
                vec![b'A'; 64 * 1024]
            } else {
                b"NOT A COMMAND \x00\xff\r\n".repeat(2048)
            };
            while Instant::now() < stop {
                let Ok(s) = tls(addr).await else { return };
                let (mut rd, mut wr) = tokio::io::split(s);
                let mut sink = [0u8; 4096];
                while Instant::now() < stop {
                    tokio::select! {
                        w = wr.write_all(&junk) => match w {
                            Ok(()) => { sent.fetch_add(junk.len(), Ordering::Relaxed); }
                            Err(_) => break,
                        },
                        r = rd.read(&mut sink) => if matches!(r, Ok(0) | Err(_)) { break },
                    }
                }
            }
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut peak = 0;
    while Instant::now() < stop {
        match normal(o.implicit).await {
            Ok(l) => latencies.push(l),
            Err(_) => errors += 1,
        }
        if let Some(kib) = o.server_pid.and_then(rss_kib) {
            peak = peak.max(kib);
        }
    }
    tasks.abort_all();
    latencies.sort_unstable();
    let p = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "flood: garbage_connections={c} garbage_mib={:.0} normal_sessions={} errors={errors} p50_ms={:.1} p99_ms={:.1} server_peak_rss_kib={peak}",
        sent.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
        latencies.len(),
        p(0.5),
        p(0.99)
    );
}

/// Where a vanishing client hangs up.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Handshake,
    Auth,
    Data,
    AfterDot,
    Complete,
}

async fn vanish_one(addr: SocketAddr, cut: Cut) -> Result<bool, Error> {
    let tcp = TcpStream::connect(addr).await?;
    if let Cut::Handshake = cut {
        let mut tcp = tcp;
        tcp.write_all(b"\x16\x03\x01\x00").await?; // half a ClientHello
        return Ok(false);
    }
    let s = connector()
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let mut r = BufReader::new(s);
    reply(&mut r).await?;
    r.get_mut().write_all(b"EHLO v\r\nAUTH PLAIN\r\n").await?;
    reply(&mut r).await?;
    reply(&mut r).await?;
    if let Cut::Auth = cut {
        r.get_mut().write_all(b"AGFsaWNl").await?;
        return Ok(false);
    }
    r.get_mut()
        .write_all(b"AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        .await?;
    for _ in 0..4 {
        reply(&mut r).await?;
    }
    r.get_mut()
        .write_all(b"Subject: v\r\n\r\nhalf a bo")
        .await?;
    if let Cut::Data = cut {
        return Ok(false);
    }
    r.get_mut().write_all(b"dy\r\n.\r\n").await?;
    if let Cut::AfterDot = cut {
        // Gone before reading the 250: the server may or may not have
        // stored it; what it acknowledged must exist exactly once. Here the
        // acknowledgement is never read, so this session does not count.
        return Ok(false);
    }
    let done = reply(&mut r).await?;
    Ok(done.starts_with("250"))
}

async fn vanish(o: &Opts, n: usize) {
    let before = count(&o.maildir.join("new"));
    let cuts = [
        Cut::Handshake,
        Cut::Auth,
        Cut::Data,
        Cut::AfterDot,
        Cut::Complete,
    ];
    let mut acknowledged = 0;
    let mut after_dot = 0;
    for i in 0..n {
        let cut = cuts[i % cuts.len()];
        if let Ok(true) = vanish_one(o.implicit, cut).await {
            acknowledged += 1;
        }
        if let Cut::AfterDot = cut {
            after_dot += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = count(&o.maildir.join("new")) - before;
    let tmp = count(&o.maildir.join("tmp"));
    println!(
        "vanish: sessions={n} acknowledged={acknowledged} stored={stored} (acknowledged + up to {after_dot} hung up after the final dot) tmp_left={tmp}"
    );
    let ok = stored >= acknowledged && stored <= acknowledged + after_dot && tmp == 0;
    if !ok {
        println!("vanish: FAILED");
        std::process::exit(1);
    }
}

fn count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: hostile_load (idle N | trickle K | flood C | vanish N) [--submission ADDR] [--implicit-tls ADDR] [--server-pid PID] [--maildir DIR] [--seconds S]";
    let scenario = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    let mut o = Opts {
        submission: "127.0.0.1:2587".parse().expect("address"),
        implicit: "127.0.0.1:2465".parse().expect("address"),
        server_pid: None,
        maildir: "maildir".into(),
        seconds: 30,
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--submission" => o.submission = value.parse().expect("--submission ADDR"),
            "--implicit-tls" => o.implicit = value.parse().expect("--implicit-tls ADDR"),
            "--server-pid" => o.server_pid = value.parse().ok(),
            "--maildir" => o.maildir = value.into(),
            "--seconds" => o.seconds = value.parse::<u64>().expect("--seconds S").min(600),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2)
            }
        }
    }
    let n = n.min(50_000);
    match scenario.as_str() {
        "idle" => idle(&o, n).await,
        "trickle" => trickle(&o, n).await,
        "flood" => flood(&o, n).await,
        "vanish" => vanish(&o, n).await,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    }
}
