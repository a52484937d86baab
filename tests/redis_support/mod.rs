//! Finding a Redis for the tests, and starting a private one a test may
//! stop.
//!
//! * `SMTP_AUTH_REDIS_URL` (e.g. `redis://127.0.0.1:16379/`): a Redis the
//!   tests share; each test uses key prefixes of its own, so runs never
//!   collide. `.ci/run` starts one.
//! * The outage tests stop a Redis mid-run, so they start a private
//!   `redis-server` (from `SMTP_AUTH_REDIS_SERVER`, or `redis-server` on
//!   the `PATH`) on a free loopback port and stop it by its PID.
//!
//! Without them the Redis tests skip, saying so on stderr past the test
//! harness's capture; with `SMTP_AUTH_CI=1` a missing Redis fails them.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_auth::limiter::redis::RedisLimiter;

/// The variable naming the shared Redis.
pub const URL_VAR: &str = "SMTP_AUTH_REDIS_URL";
/// The variable naming the `redis-server` binary for private servers.
pub const SERVER_VAR: &str = "SMTP_AUTH_REDIS_SERVER";

fn ci() -> bool {
    std::env::var("SMTP_AUTH_CI").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Writes to the real stderr: the harness captures `eprintln!`, not this.
pub fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

fn missing(test: &str, what: &str) {
    let message = format!(
        "SKIPPED {test}: {what}. Start one (`redis-server --bind 127.0.0.1 --port 16379 \
         --save '' --appendonly no`) and set {URL_VAR}=redis://127.0.0.1:16379/ to run it."
    );
    assert!(!ci(), "SMTP_AUTH_CI is set and {what}: {message}");
    loud(&message);
}

/// The shared Redis URL, or `None` (after a loud skip note) without one.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            missing(test, &format!("{URL_VAR} is not set"));
            None
        }
    }
}

/// A key prefix no other test, run or process uses.
pub fn prefix(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "smtp-auth-test:{}:{nanos}:{}:{tag}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A limiter on the shared Redis with a fresh prefix, or `None` after a
/// loud skip.
pub fn limiter(test: &str) -> Option<RedisLimiter> {
    let url = url(test)?;
    Some(
        RedisLimiter::builder(url)
            .prefix(prefix(test))
            .timeout(Duration::from_secs(2))
            .build()
            .expect("a valid SMTP_AUTH_REDIS_URL"),
    )
}

/// A `redis-server` of the test's own, on a free loopback port; killed
/// (by PID) when dropped.
pub struct PrivateRedis {
    binary: String,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one, or `None` (after a loud skip) when the shared Redis is
    /// not configured or no `redis-server` binary is found.
    pub fn start(test: &str) -> Option<Self> {
        url(test)?;
        let binary = std::env::var(SERVER_VAR).unwrap_or_else(|_| "redis-server".into());
        let found = Command::new(&binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            missing(
                test,
                &format!("no redis-server binary ({SERVER_VAR} or redis-server on the PATH)"),
            );
            return None;
        }
        let port = free_port();
        let mut r = PrivateRedis {
            binary,
            port,
            child: None,
        };
        r.restart();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the server (again, on the same port) and waits until it
    /// accepts connections (at most 10 s).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&self.addr(), Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL, by PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing
    /// answers. What a Redis stuck in a long command or a swap storm looks
    /// like to its clients.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // SIGKILL ends a paused (SIGSTOPped) server too.
        self.stop();
    }
}

/// A port nothing listens on now (bound and released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}
