//! `examples/submission_server` as a child process, for the tests that talk
//! to it over TCP (`tests/interop.rs`, `tests/client_server.rs`). Included
//! with `#[path = "common/example_server.rs"] mod example_server;`, so the
//! tests that use `common/mod.rs` do not compile it.
//!
//! The binary comes from `cargo build --examples` (in `CARGO_TARGET_DIR`,
//! or `SMTP_AUTH_EXAMPLES_DIR` when set). Each server listens on port 0
//! (the `listening:` lines say where), writes to its own Maildir under the
//! temporary directory, and is killed (and its Maildir removed) on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running example server.
pub struct Server {
    pub child: Child,
    /// The STARTTLS submission listener (587 style).
    pub submission: String,
    /// The implicit-TLS listener (465 style).
    pub implicit: String,
    /// The relay listener (25 style), with `--relay`.
    pub relay: Option<String>,
    pub maildir: PathBuf,
    /// Everything the server printed: start-up lines and one log line per
    /// event.
    pub log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// The path of a built example.
pub fn example_binary(name: &str) -> PathBuf {
    if let Ok(p) = std::env::var("SMTP_AUTH_EXAMPLES_DIR") {
        return Path::new(&p).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug/examples").join(name)
}

/// `SMTP_AUTH_CI=1`: a missing tool or binary fails instead of skipping.
pub fn ci() -> bool {
    std::env::var("SMTP_AUTH_CI").is_ok_and(|v| v == "1")
}

/// A fresh path under the temporary directory (not created).
pub fn temp_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "smtp-auth-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ))
}

/// Starts the server with `extra` flags after the defaults (loopback port
/// 0 for both submission listeners, no quota, lock-out after 1000
/// failures: a later `--quota` or `--lockout-after` in `extra` wins), and
/// waits (at most 30 s) until it listens.
pub fn start_server(extra: &[&str]) -> Server {
    let bin = example_binary("submission_server");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --example submission_server` first",
        bin.display()
    );
    let maildir = temp_path("interop");
    let mut child = Command::new(bin)
        .args([
            "--submission",
            "127.0.0.1:0",
            "--implicit-tls",
            "127.0.0.1:0",
        ])
        // Many rows (and every wrong-password row) come from 127.0.0.1 as
        // alice: lock-out and quotas are tested elsewhere.
        .args(["--quota", "0", "--lockout-after", "1000"])
        .arg("--maildir")
        .arg(&maildir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example server");
    let log = Arc::new(Mutex::new(String::new()));
    // The log lines (tracing) go to stdout, after the start-up lines.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let want_relay = extra.contains(&"--relay");
    let (mut submission, mut implicit, mut relay) = (String::new(), String::new(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while submission.is_empty() || implicit.is_empty() || (want_relay && relay.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start ({e}):\n{}", log.lock().unwrap());
            }
        };
        if let Some(a) = line.strip_prefix("listening: submission (STARTTLS) on ") {
            submission = a.to_owned();
        }
        if let Some(a) = line.strip_prefix("listening: submission (implicit TLS) on ") {
            implicit = a.to_owned();
        }
        if let Some(a) = line.strip_prefix("listening: relay (port 25 style) on ") {
            relay = Some(a.to_owned());
        }
    }
    Server {
        child,
        submission,
        implicit,
        relay,
        maildir,
        log,
    }
}

impl Server {
    /// Messages delivered to `new/`.
    pub fn messages(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).map_or(0, |d| d.count())
    }

    /// The port of `HOST:PORT`.
    pub fn port(addr: &str) -> &str {
        addr.rsplit(':').next().unwrap()
    }

    /// `auth-ok` log lines so far.
    pub fn auth_ok_lines(&self) -> usize {
        self.log.lock().unwrap().matches("auth-ok").count()
    }

    /// Waits (at most 5 s) until the log holds `needle` `count` times;
    /// returns how often it does.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.log.lock().unwrap().matches(needle).count();
            if n >= count || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
