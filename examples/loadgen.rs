//! A bounded loopback load generator for a submission server: `--concurrency`
//! connections at a time run `--sessions` sessions in all, each STARTTLS (or
//! implicit TLS) + AUTH PLAIN + one small message (unless `--no-message`) +
//! QUIT. It stops by itself, and reports sessions/s, p50/p99/max latency
//! and, given the server's PID, the server's CPU-seconds per session.
//!
//! ```sh
//! cargo run --release --example submission_server &
//! cargo run --release --example loadgen -- --server 127.0.0.1:2587 --sessions 2000 --concurrency 50
//! ```
//!
//! Flags: `--server ADDR` (127.0.0.1:2587), `--implicit-tls`, `--sessions N`
//! (1000), `--concurrency N` (50), `--user U` (alice), `--password P`
//! (wonderland), `--no-message`, `--server-pid PID`, `--timeout SECS` (60,
//! for the whole run), `--quiet`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[path = "support/insecure_tls.rs"]
mod insecure_tls;
use insecure_tls::connector;

#[derive(Debug, Clone)]
struct Args {
    server: SocketAddr,
    implicit_tls: bool,
    sessions: usize,
    concurrency: usize,
    user: String,
    password: String,
    message: bool,
    server_pid: Option<u32>,
    timeout: Duration,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen [--server ADDR] [--implicit-tls] [--sessions N] [--concurrency N]\n\
         \x20   [--user U] [--password P] [--no-message] [--server-pid PID] [--timeout SECS] [--quiet]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "127.0.0.1:2587".parse().unwrap_or_else(|_| usage()),
        implicit_tls: false,
        sessions: 1000,
        concurrency: 50,
        user: "alice".into(),
        password: "wonderland".into(),
        message: true,
        server_pid: None,
        timeout: Duration::from_secs(60),
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--server" => a.server = value().parse().unwrap_or_else(|_| usage()),
            "--implicit-tls" => a.implicit_tls = true,
            "--sessions" => a.sessions = value().parse().unwrap_or_else(|_| usage()),
            "--concurrency" => a.concurrency = value().parse().unwrap_or_else(|_| usage()),
            "--user" => a.user = value(),
            "--password" => a.password = value(),
            "--no-message" => a.message = false,
            "--server-pid" => a.server_pid = Some(value().parse().unwrap_or_else(|_| usage())),
            "--timeout" => {
                a.timeout = Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            "--quiet" => a.quiet = true,
            _ => usage(),
        }
    }
    a.concurrency = a.concurrency.clamp(1, 10_000);
    a
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Reads one reply (all its lines); fails unless its code starts with `want`.
async fn expect<S: AsyncRead + Unpin>(r: &mut BufReader<S>, want: char) -> Result<String, Error> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err("connection closed".into());
        }
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            break;
        }
    }
    if !reply.starts_with(want) {
        return Err(format!("unexpected reply: {}", reply.trim_end()).into());
    }
    Ok(reply)
}

async fn after_tls<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    a: &Args,
    greeted: bool,
) -> Result<(), Error> {
    let mut r = BufReader::new(s);
    if !greeted {
        expect(&mut r, '2').await?;
    }
    let plain = base64_plain(&a.user, &a.password);
    // EHLO, then AUTH PLAIN with its initial response (R4954-4.27 lets
    // pipelined commands follow it).
    r.get_mut().write_all(b"EHLO loadgen.example\r\n").await?;
    expect(&mut r, '2').await?;
    let mut batch = format!("AUTH PLAIN {plain}\r\n");
    if a.message {
        batch.push_str("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    }
    r.get_mut().write_all(batch.as_bytes()).await?;
    expect(&mut r, '2').await?;
    if a.message {
        expect(&mut r, '2').await?;
        expect(&mut r, '2').await?;
        expect(&mut r, '3').await?;
        r.get_mut()
            .write_all(b"Subject: load\r\n\r\nA small message.\r\n.\r\nQUIT\r\n")
            .await?;
        expect(&mut r, '2').await?;
    } else {
        r.get_mut().write_all(b"QUIT\r\n").await?;
    }
    expect(&mut r, '2').await?;
    Ok(())
}

fn base64_plain(user: &str, password: &str) -> String {
    smtp_auth::sasl::encoding::encode(format!("\0{user}\0{password}").as_bytes())
}

async fn session(a: &Args, tls: &TlsConnector) -> Result<(), Error> {
    let tcp = TcpStream::connect(a.server).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    if a.implicit_tls {
        let s = tls.connect(name, tcp).await?;
        return after_tls(s, a, false).await;
    }
    let mut r = BufReader::new(tcp);
    expect(&mut r, '2').await?;
    r.get_mut().write_all(b"EHLO loadgen.example\r\n").await?;
    expect(&mut r, '2').await?;
    r.get_mut().write_all(b"STARTTLS\r\n").await?;
    expect(&mut r, '2').await?;
    let s = tls.connect(name, r.into_inner()).await?;
    after_tls(s, a, true).await
}

/// utime + stime of a process, in seconds (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = Arc::new(parse_args());
    let tls = connector();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = a.server_pid.and_then(cpu_seconds);
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + a.timeout;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency.min(a.sessions) {
        let (a, tls, next) = (a.clone(), tls.clone(), next.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < a.sessions {
                let t = Instant::now();
                match tokio::time::timeout_at(deadline, session(&a, &tls)).await {
                    Ok(Ok(())) => latencies.push(t.elapsed()),
                    Ok(Err(e)) => errors.push(e.to_string()),
                    Err(_) => {
                        errors.push("run timed out".into());
                        break;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::with_capacity(a.sessions);
    let mut errors = Vec::new();
    while let Some(r) = workers.join_next().await {
        if let Ok((l, e)) = r {
            latencies.extend(l);
            errors.extend(e);
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let ok = latencies.len();
    let cpu = match (cpu_before, a.server_pid.and_then(cpu_seconds)) {
        (Some(b), Some(e)) if ok > 0 => format!(
            " server_cpu_per_session_ms={:.3}",
            (e - b) * 1000.0 / ok as f64
        ),
        _ => String::new(),
    };
    println!(
        "sessions={ok} errors={} elapsed_s={:.3} sessions_per_s={:.1} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}{cpu}",
        errors.len(),
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    if !a.quiet {
        for e in errors.iter().take(10) {
            eprintln!("error: {e}");
        }
    }
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
