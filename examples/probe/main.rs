//! Why does authentication fail? Connects to a submission server, walks
//! greeting → EHLO → STARTTLS → EHLO → AUTH (→ a test message), and
//! explains what it saw in plain words.
//!
//! ```sh
//! cargo run --example probe -- --server mail.example.org:587 --user alice@example.org
//! cargo run --example probe -- --server mail.example.org:465 --implicit-tls --user alice@example.org
//! ```
//!
//! The password comes from `--password`, or better from the environment
//! variable `SMTP_PROBE_PASSWORD` (it stays out of the shell history). It
//! is never printed. With `--cert` and `--key` the probe presents a TLS
//! client certificate and, without a password or token, authenticates with
//! EXTERNAL (then `--user`, if given, is the identity to act as, and
//! `SMTP_PROBE_PASSWORD` is not read). The exit status is 0 when
//! authentication (and the test message, with `--send-to`) succeeded, or
//! without credentials when AUTH is available; 1 otherwise; 2 for a usage
//! error.

mod engine;

use std::path::PathBuf;
use std::time::Duration;

use engine::{diagnose, probe, render, Options};
use smtp_auth::sasl::Mechanism;

const USAGE: &str = "usage: probe --server HOST:PORT [--implicit-tls] [--user U] [--password P | --token T] [--cert PEM --key PEM] [--mechanism M] [--send-to ADDR] [--from ADDR] [--ca FILE] [--insecure] [--allow-plaintext] [--timeout SECS]

  --server HOST:PORT   the server (587: STARTTLS submission, 465: implicit TLS, 25: relay)
  --implicit-tls       TLS before the greeting (port 465)
  --user U             the account to test (often the full e-mail address)
  --password P         its password (or set SMTP_PROBE_PASSWORD; never printed)
  --token T            an OAuth 2.0 access token instead (XOAUTH2 / OAUTHBEARER)
  --cert PEM --key PEM a TLS client certificate and its key; without a password or
                       token: authenticate with EXTERNAL (--user: the identity to act as)
  --mechanism M        use only this SASL mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, ...)
  --send-to ADDR       after AUTH, send a short test message to ADDR
  --from ADDR          the test message's sender (default: the user name)
  --ca FILE            trust this CA (PEM) instead of the system roots
  --insecure           go on when the certificate does not verify (facts are still shown)
  --allow-plaintext    authenticate even without TLS (otherwise the probe stops, as a client set to STARTTLS does)
  --timeout SECS       longest wait for one reply (default 15)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts: Option<Options> = None;
    let mut rest = Options::new("");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--server" => opts = Some(Options::new(value("--server")?)),
            "--implicit-tls" => rest.implicit_tls = true,
            "--user" => rest.user = Some(value("--user")?),
            "--password" => rest.password = Some(value("--password")?),
            "--token" => rest.token = Some(value("--token")?),
            "--mechanism" => {
                let m = value("--mechanism")?;
                rest.mechanism = Some(
                    m.parse::<Mechanism>()
                        .map_err(|_| format!("unknown mechanism {m}"))?,
                );
            }
            "--send-to" => rest.send_to = Some(value("--send-to")?),
            "--from" => rest.from = Some(value("--from")?),
            "--ca" => rest.ca = Some(PathBuf::from(value("--ca")?)),
            "--cert" => rest.cert = Some(PathBuf::from(value("--cert")?)),
            "--key" => rest.key = Some(PathBuf::from(value("--key")?)),
            "--insecure" => rest.insecure = true,
            "--allow-plaintext" => rest.allow_plaintext = true,
            "--timeout" => {
                let t = value("--timeout")?;
                let secs: u64 = t.parse().map_err(|_| format!("bad --timeout {t}"))?;
                rest.timeout = Duration::from_secs(secs.clamp(1, 300));
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let Some(server) = opts else {
        return Err("--server is required".into());
    };
    if !server.server.contains(':') {
        return Err("--server needs HOST:PORT".into());
    }
    if rest.cert.is_some() != rest.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    if rest.password.is_none() && rest.token.is_none() && rest.user.is_some() && rest.cert.is_none()
    {
        rest.password = std::env::var("SMTP_PROBE_PASSWORD").ok();
        if rest.password.is_none() {
            return Err("--user needs --password, --token or SMTP_PROBE_PASSWORD".into());
        }
    }
    Ok(Options {
        server: server.server,
        ..rest
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("probe: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("probe: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let report = runtime.block_on(probe(&opts));
    let diagnosis = diagnose(&report, &opts);
    print!("{}", render(&report, &diagnosis));
    std::process::exit(if diagnosis.success() { 0 } else { 1 });
}
