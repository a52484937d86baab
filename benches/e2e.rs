//! End to end on loopback: builds the example server and the load
//! generator (release), starts the server on free loopback ports, and runs
//! bounded loads of STARTTLS + AUTH PLAIN sessions — with one small message
//! and without — reporting sessions/s, p50/p99 latency and the server's
//! CPU-seconds per session. Given another server (`--peer ADDR`, e.g. a
//! Postfix on loopback, with `--peer-pid PID[,PID…]` for its CPU: each
//! PID counts with all its descendants), the runs are
//! interleaved A/B/A/B and the table shows both and their ratio.
//!
//! ```sh
//! cargo bench --bench e2e
//! cargo bench --bench e2e -- --sessions 500 --concurrency 20 --rounds 3
//! cargo bench --bench e2e -- --peer 127.0.0.1:10587 --peer-pid 1234,5678 \
//!     --peer-user alice --peer-password wonderland
//! ```
//!
//! Every load is bounded (sessions and a timeout); the server is stopped by
//! its PID at the end. Skipped under `cargo test --benches`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Args {
    sessions: usize,
    concurrency: usize,
    rounds: usize,
    timeout: u64,
    peer: Option<SocketAddr>,
    /// The peer's processes whose CPU time (with all their descendants)
    /// counts, e.g. Postfix's master and Dovecot's auth master.
    peer_pids: Vec<u32>,
    peer_user: String,
    peer_password: String,
}

fn args() -> Args {
    let mut a = Args {
        sessions: 300,
        concurrency: 16,
        rounds: 2,
        timeout: 60,
        peer: std::env::var("SMTP_AUTH_BENCH_PEER")
            .ok()
            .and_then(|v| v.parse().ok()),
        peer_pids: Vec::new(),
        peer_user: "alice".into(),
        peer_password: "wonderland".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--sessions" => a.sessions = value().parse().unwrap_or(a.sessions),
            "--concurrency" => a.concurrency = value().parse().unwrap_or(a.concurrency),
            "--rounds" => a.rounds = value().parse().unwrap_or(a.rounds).max(1),
            "--timeout" => a.timeout = value().parse().unwrap_or(a.timeout),
            "--peer" => a.peer = value().parse().ok(),
            "--peer-pid" => a.peer_pids.extend(
                value()
                    .split(',')
                    .filter_map(|p| p.trim().parse::<u32>().ok()),
            ),
            "--peer-user" => a.peer_user = value(),
            "--peer-password" => a.peer_password = value(),
            // criterion/libtest flags that cargo passes along.
            _ => {}
        }
    }
    a
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn build() -> Result<(PathBuf, PathBuf), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--example",
            "submission_server",
            "--example",
            "loadgen",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build of the examples failed".into());
    }
    let dir = target_dir().join("release").join("examples");
    Ok((dir.join("submission_server"), dir.join("loadgen")))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// The example server, stopped (by its PID) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    maildir: PathBuf,
}

impl Server {
    fn start(bin: &Path) -> Result<Server, String> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let implicit = format!("127.0.0.1:{}", free_port()?);
        let maildir = target_dir().join(format!("e2e-maildir-{}", std::process::id()));
        let child = Command::new(bin)
            .args(["--submission", &addr.to_string()])
            .args(["--implicit-tls", &implicit])
            .arg("--maildir")
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let server = Server {
            child,
            addr,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err("the server did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// utime + stime + cutime + cstime, in seconds, of `roots` and all their
/// descendants (Linux `/proc`): a multi-process server (Postfix: master,
/// smtpd, cleanup, qmgr…) is counted whole; children that exited were
/// already added to their parent's cutime/cstime.
fn tree_cpu(roots: &[u32]) -> Option<f64> {
    if roots.is_empty() {
        return None;
    }
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let ppid = f.get(1).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        procs.push((pid, ppid, num(11) + num(12) + num(13) + num(14)));
    }
    let mut inside: std::collections::HashSet<u32> = roots.iter().copied().collect();
    loop {
        let before = inside.len();
        for (pid, ppid, _) in &procs {
            if inside.contains(ppid) {
                inside.insert(*pid);
            }
        }
        if inside.len() == before {
            break;
        }
    }
    let ticks: f64 = procs
        .iter()
        .filter(|(pid, _, _)| inside.contains(pid))
        .map(|(_, _, t)| t)
        .sum();
    Some(ticks / 100.0)
}

#[derive(Debug, Clone, Default)]
struct Run {
    ok: f64,
    errors: f64,
    per_s: f64,
    p50: f64,
    p99: f64,
    cpu_ms: Option<f64>,
}

fn field(line: &str, name: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

#[allow(clippy::too_many_arguments)]
fn load(
    loadgen: &Path,
    server: SocketAddr,
    pids: &[u32],
    message: bool,
    user: &str,
    password: &str,
    a: &Args,
) -> Result<Run, String> {
    let mut cmd = Command::new(loadgen);
    cmd.args(["--server", &server.to_string()])
        .args(["--sessions", &a.sessions.to_string()])
        .args(["--concurrency", &a.concurrency.to_string()])
        .args(["--timeout", &a.timeout.to_string()])
        .args(["--user", user, "--password", password, "--quiet"]);
    if !message {
        cmd.arg("--no-message");
    }
    let cpu_before = tree_cpu(pids);
    let out = cmd
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("loadgen: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("sessions="))
        .ok_or_else(|| format!("loadgen printed no result: {text}"))?;
    let ok = field(line, "sessions").unwrap_or(0.0);
    let cpu_ms = match (cpu_before, tree_cpu(pids)) {
        (Some(b), Some(a)) if ok > 0.0 => Some((a - b) * 1000.0 / ok),
        _ => None,
    };
    Ok(Run {
        ok,
        errors: field(line, "errors").unwrap_or(0.0),
        per_s: field(line, "sessions_per_s").unwrap_or(0.0),
        p50: field(line, "p50_ms").unwrap_or(0.0),
        p99: field(line, "p99_ms").unwrap_or(0.0),
        cpu_ms,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(v: &[f64]) -> f64 {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    (hi - lo) / median(v.to_vec()) * 100.0
}

fn main() {
    let listing = std::env::args().any(|a| a == "--list" || a == "--test")
        || !std::env::args().any(|a| a == "--bench");
    if listing {
        return;
    }
    let a = args();
    if let Err(e) = run(&a) {
        eprintln!("e2e: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), String> {
    let (server_bin, loadgen) = build()?;
    let server = Server::start(&server_bin)?;
    let ours_pids = [server.child.id()];
    println!(
        "\n== end to end on loopback: STARTTLS + AUTH PLAIN, {} sessions per run, concurrency {}, {} round(s){} ==",
        a.sessions,
        a.concurrency,
        a.rounds,
        if a.peer.is_some() {
            ", interleaved A/B"
        } else {
            ""
        }
    );
    let mut rows = Vec::new();
    for message in [true, false] {
        let scenario = if message {
            "with a message"
        } else {
            "AUTH only, no message"
        };
        let mut ours = Vec::new();
        let mut peer = Vec::new();
        // A small warm-up batch, so TLS keys and the maildir exist.
        let mut warm = a.clone();
        warm.sessions = a.concurrency;
        let _ = load(
            &loadgen,
            server.addr,
            &[],
            message,
            "alice",
            "wonderland",
            &warm,
        );
        if let Some(p) = a.peer {
            let _ = load(
                &loadgen,
                p,
                &[],
                message,
                &a.peer_user,
                &a.peer_password,
                &warm,
            );
        }
        for _ in 0..a.rounds {
            ours.push(load(
                &loadgen,
                server.addr,
                &ours_pids,
                message,
                "alice",
                "wonderland",
                a,
            )?);
            if let Some(p) = a.peer {
                peer.push(load(
                    &loadgen,
                    p,
                    &a.peer_pids,
                    message,
                    &a.peer_user,
                    &a.peer_password,
                    a,
                )?);
            }
        }
        rows.push((scenario, "smtp-auth example server", ours));
        if a.peer.is_some() {
            rows.push((scenario, "peer server", peer));
        }
    }
    println!(
        "{:<24} {:<26} {:>11} {:>8} {:>9} {:>9} {:>14} {:>7}",
        "scenario",
        "server",
        "sessions/s",
        "spread",
        "p50 ms",
        "p99 ms",
        "CPU ms/session",
        "errors"
    );
    for (scenario, name, runs) in &rows {
        let per_s: Vec<f64> = runs.iter().map(|r| r.per_s).collect();
        let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_ms).collect();
        let errors: f64 = runs.iter().map(|r| r.errors).sum();
        let ok: f64 = runs.iter().map(|r| r.ok).sum();
        let cpu_text = if cpu.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.3}", median(cpu.clone()))
        };
        println!(
            "{:<24} {:<26} {:>11.1} {:>7.1}% {:>9.2} {:>9.2} {:>14} {:>7}",
            scenario,
            name,
            median(per_s.clone()),
            spread(&per_s),
            median(runs.iter().map(|r| r.p50).collect()),
            median(runs.iter().map(|r| r.p99).collect()),
            cpu_text,
            errors
        );
        println!(
            "E2E\t{scenario}\t{name}\t{:.2}\t{:.2}\t{:.3}\t{:.3}\t{}\t{ok}\t{errors}",
            median(per_s.clone()),
            spread(&per_s),
            median(runs.iter().map(|r| r.p50).collect()),
            median(runs.iter().map(|r| r.p99).collect()),
            cpu_text
        );
    }
    if a.peer.is_none() {
        println!(
            "(no peer server given: pass `-- --peer ADDR [--peer-pid PID]` or SMTP_AUTH_BENCH_PEER to compare)"
        );
    }
    drop(server);
    Ok(())
}
