//! The client and the probe against a real Postfix with Dovecot as its
//! SASL backend, over TCP and rustls. Started by `.ci/postfix-dovecot.sh`,
//! found through the `SMTP_AUTH_POSTFIX_*` variables it writes.
//!
//! ```sh
//! .ci/postfix-dovecot.sh install
//! .ci/postfix-dovecot.sh start /tmp/smtp-auth-postfix && . /tmp/smtp-auth-postfix/env
//! cargo test --test client_postfix -- --include-ignored
//! .ci/postfix-dovecot.sh stop /tmp/smtp-auth-postfix
//! ```
//!
//! Without the variables each test prints a SKIP line and passes, unless
//! `SMTP_AUTH_CI=1`: in CI a missing setup fails.

#[path = "../examples/probe/engine.rs"]
mod engine;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::{diagnose, probe, render, Class, Diagnosis, Options, Report};
use smtp_auth::sasl::Mechanism;

/// One test at a time, so that the reports in the log stay readable and
/// the servers' per-client limits are not reached.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The setup's variables, or `None` after a loud SKIP (a panic in CI).
fn setup(test: &str) -> Option<Setup> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let names = [
        "SMTP_AUTH_POSTFIX_SUBMISSION",
        "SMTP_AUTH_POSTFIX_SUBMISSIONS",
        "SMTP_AUTH_POSTFIX_RELAY",
        "SMTP_AUTH_POSTFIX_PLAINTEXT",
        "SMTP_AUTH_POSTFIX_NOCRAM",
        "SMTP_AUTH_POSTFIX_LOCKED",
        "SMTP_AUTH_POSTFIX_CA",
        "SMTP_AUTH_POSTFIX_MAILDIR",
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| get(n)).collect();
    if values.iter().any(Option::is_none) {
        let missing: Vec<&str> = names
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        let msg = format!(
            "SKIP {test}: Postfix + Dovecot not running ({} unset); start .ci/postfix-dovecot.sh and source its env file",
            missing.join(", ")
        );
        assert!(
            std::env::var("SMTP_AUTH_CI").as_deref() != Ok("1"),
            "{msg} (SMTP_AUTH_CI=1: the setup is required)"
        );
        eprintln!("\n*** {msg} ***\n");
        return None;
    }
    let v: Vec<String> = values.into_iter().flatten().collect();
    Some(Setup {
        _serial: SERIAL.lock().unwrap_or_else(|e| e.into_inner()),
        submission: v[0].clone(),
        submissions: v[1].clone(),
        relay: v[2].clone(),
        plaintext: v[3].clone(),
        nocram: v[4].clone(),
        locked: v[5].clone(),
        ca: PathBuf::from(&v[6]),
        maildir: PathBuf::from(&v[7]),
    })
}

struct Setup {
    _serial: std::sync::MutexGuard<'static, ()>,
    submission: String,
    submissions: String,
    relay: String,
    plaintext: String,
    nocram: String,
    locked: String,
    ca: PathBuf,
    maildir: PathBuf,
}

impl Setup {
    fn opts(&self, server: &str, user: &str, password: &str) -> Options {
        let mut o = Options::new(server);
        o.user = Some(user.into());
        o.password = Some(password.into());
        o.ca = Some(self.ca.clone());
        // Dovecot delays the next check from an address after failures
        // (its auth penalty, up to 15 s); the failure tests cause some.
        o.timeout = Duration::from_secs(30);
        o
    }
}

fn run(opts: &Options) -> (Report, Diagnosis) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(probe(opts));
    let diagnosis = diagnose(&report, opts);
    let text = render(&report, &diagnosis);
    // The report goes to the test log: one per failure class.
    println!("$ probe --server {} ...\n{text}", opts.server);
    if let Some(p) = &opts.password {
        assert!(!text.contains(p.as_str()), "the report shows the password");
    }
    (report, diagnosis)
}

/// Waits (bounded) for a delivered message that mentions `needle`.
fn delivered(maildir: &Path, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(entries) = std::fs::read_dir(maildir.join("new")) {
            for e in entries.flatten() {
                if std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle)) {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn every_mechanism_authenticates_and_sends_over_starttls_and_implicit_tls() {
    let Some(s) = setup("every_mechanism") else {
        return;
    };
    // alice's password is stored in clear, bob's as CRAM-MD5, carol's as
    // SCRAM-SHA-256: each scheme serves the mechanisms it can.
    let cases = [
        ("alice", "wonderland", Mechanism::Plain),
        ("alice", "wonderland", Mechanism::Login),
        ("alice", "wonderland", Mechanism::CramMd5),
        ("alice", "wonderland", Mechanism::ScramSha256),
        ("bob", "builder", Mechanism::CramMd5),
        ("carol", "carolpass", Mechanism::ScramSha256),
        ("carol", "carolpass", Mechanism::Plain),
    ];
    for (implicit, server) in [(false, &s.submission), (true, &s.submissions)] {
        for (i, (user, password, mechanism)) in cases.iter().enumerate() {
            let to = format!(
                "rcpt-{}-{i}-{}@example.test",
                if implicit { "465" } else { "587" },
                std::process::id()
            );
            let mut o = s.opts(server, user, password);
            o.implicit_tls = implicit;
            o.mechanism = Some(*mechanism);
            o.send_to = Some(to.clone());
            o.from = Some(format!("{user}@smtp-auth.test"));
            let (report, diagnosis) = run(&o);
            assert_eq!(
                diagnosis.class,
                Class::Ok,
                "{mechanism}: {}",
                diagnosis.text
            );
            assert_eq!(report.authenticated, Some(*mechanism));
            let sent = report.message_sent.expect("250 for the message");
            assert_eq!(
                (sent.code, sent.enhanced.map(|e| e.to_string())),
                (250, Some("2.0.0".into()))
            );
            assert!(
                delivered(&s.maildir, &to),
                "{to} not delivered to {}",
                s.maildir.display()
            );
            let tls = report.tls.expect("TLS facts");
            assert_eq!(tls.how, if implicit { "implicit" } else { "STARTTLS" });
            assert_eq!(report.cert.expect("certificate facts").verified, Ok(()));
        }
    }
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn default_choice_is_the_strongest_mechanism() {
    let Some(s) = setup("default_choice") else {
        return;
    };
    let (report, diagnosis) = run(&s.opts(&s.submission, "alice", "wonderland"));
    assert_eq!(diagnosis.class, Class::Ok);
    assert_eq!(report.authenticated, Some(Mechanism::ScramSha256));
    // Postfix (smtpd_tls_auth_only) offers AUTH only under TLS: noted.
    assert_eq!(
        report.caps_plain.expect("plaintext EHLO").auth,
        Vec::<String>::new()
    );
    assert_eq!(
        report.caps_tls.expect("TLS EHLO").auth,
        ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]
    );
    assert!(
        diagnosis.notes.iter().any(|n| n
            .contains("the server offers PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 only after STARTTLS")),
        "{:?}",
        diagnosis.notes
    );
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_credentials_rejected() {
    let Some(s) = setup("credentials_rejected") else {
        return;
    };
    for m in [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::CramMd5] {
        let mut o = s.opts(&s.submission, "alice", "not-the-password");
        o.mechanism = Some(m);
        let (_, d) = run(&o);
        assert_eq!(d.class, Class::CredentialsRejected, "{m}");
        assert!(
            d.text.starts_with(&format!(
                "credentials rejected (535 5.7.8) with {m}: check the user name"
            )),
            "{}",
            d.text
        );
        assert!(!d.success());
    }
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_temporary_failure() {
    let Some(s) = setup("temporary_failure") else {
        return;
    };
    let mut o = s.opts(&s.locked, "alice", "wonderland");
    o.mechanism = Some(Mechanism::Plain);
    let (_, d) = run(&o);
    assert_eq!(d.class, Class::TemporaryFailure);
    assert!(
        d.text
            .starts_with("temporary failure (454 4.7.0): the server's credential backend"),
        "{}",
        d.text
    );
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_relay_port() {
    let Some(s) = setup("relay_port") else {
        return;
    };
    let (report, d) = run(&s.opts(&s.relay, "alice", "wonderland"));
    assert_eq!(d.class, Class::RelayPort);
    assert!(report.tls.is_some(), "STARTTLS was done first");
    assert!(
        d.text.starts_with("AUTH is not offered on this port before or after TLS: this looks like a relay port (25)"),
        "{}",
        d.text
    );
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_no_tls() {
    let Some(s) = setup("no_tls") else {
        return;
    };
    let (report, d) = run(&s.opts(&s.plaintext, "alice", "wonderland"));
    assert_eq!(d.class, Class::NoTls);
    assert!(report.tried.is_none(), "no AUTH without TLS");
    assert!(
        d.text.contains("unencrypted connections are not allowed"),
        "{}",
        d.text
    );
    assert!(
        d.text
            .contains("it offers AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 without encryption"),
        "{}",
        d.text
    );
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_no_common_mechanism() {
    let Some(s) = setup("no_common_mechanism") else {
        return;
    };
    let mut o = s.opts(&s.nocram, "alice", "wonderland");
    o.mechanism = Some(Mechanism::CramMd5);
    let (_, d) = run(&o);
    assert_eq!(d.class, Class::NoCommonMechanism);
    assert!(
        d.text.starts_with(
            "no common mechanism: the server offers PLAIN LOGIN, you asked for CRAM-MD5"
        ),
        "{}",
        d.text
    );
}

#[test]
#[ignore = "needs Postfix + Dovecot: .ci/postfix-dovecot.sh"]
fn diagnosis_wrong_tls_mode_and_untrusted_certificate() {
    let Some(s) = setup("tls_mode") else {
        return;
    };
    // Plaintext to the implicit-TLS port: no greeting.
    let mut o = s.opts(&s.submissions, "alice", "wonderland");
    o.timeout = Duration::from_secs(2);
    let (_, d) = run(&o);
    assert_eq!(d.class, Class::NoGreeting);
    assert!(d.text.contains("add --implicit-tls"), "{}", d.text);
    // Implicit TLS to the STARTTLS port.
    let mut o = s.opts(&s.submission, "alice", "wonderland");
    o.implicit_tls = true;
    let (_, d) = run(&o);
    assert_eq!(d.class, Class::TlsFailed);
    assert!(d.text.contains("drop --implicit-tls"), "{}", d.text);
    // The test CA is not in the system trust store.
    let mut o = s.opts(&s.submission, "alice", "wonderland");
    o.ca = None;
    let (report, d) = run(&o);
    assert_eq!(d.class, Class::TlsFailed);
    assert!(
        d.text
            .starts_with("the server's TLS certificate is not trusted"),
        "{}",
        d.text
    );
    let cert = report.cert.expect("facts even when untrusted");
    assert_eq!(cert.subject, "CN=localhost");
    assert_eq!(cert.san, ["DNS:localhost", "IP:127.0.0.1"]);
    assert!(!cert.self_signed && cert.days_left > 20);
}
