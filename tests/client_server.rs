//! The submission client and the probe against this crate's own example
//! server (`examples/submission_server`), over real TCP and rustls.
//!
//! * Every mechanism, over STARTTLS and over implicit TLS: the client (the
//!   probe's engine, which drives `smtp_auth::client::Client` over tokio
//!   and rustls) authenticates and sends a message, which must then be in
//!   the server's Maildir byte for byte.
//! * Every failure class the example server can be configured to cause,
//!   diagnosed by the built probe binary (`target/debug/examples/probe`):
//!   exit status, diagnosis, notes, and that no password or token shows.
//!
//! The certificates come from a CA made here (rcgen): the server's
//! (`--cert`/`--key`), and client certificates for EXTERNAL
//! (`--client-ca`). The tests are `#[ignore]`d because they need the
//! examples built; `.ci/run` builds them (`cargo build --examples`) and runs
//! these with `--include-ignored` and `SMTP_AUTH_CI=1`, which turns the
//! "binary missing" SKIP into a failure.
//!
//! ```sh
//! cargo build --examples
//! cargo test --test client_server -- --include-ignored --nocapture
//! ```

#[path = "../examples/probe/engine.rs"]
mod engine;
#[path = "common/example_server.rs"]
mod example_server;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine::{diagnose, probe, render, Class, Diagnosis, Options, Report};
use example_server::{ci, example_binary, start_server, temp_path, Server};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use smtp_auth::sasl::Mechanism;

const PASSWORD: &str = "wonderland";
const TOKEN: &str = "alice-demo-token";

/// True when the server and the probe are built; a loud SKIP otherwise
/// (a failure with `SMTP_AUTH_CI=1`).
fn built(test: &str) -> bool {
    let missing: Vec<String> = ["submission_server", "probe"]
        .iter()
        .map(|b| example_binary(b))
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "SKIP {test}: {} missing; run `cargo build --examples` first",
        missing.join(", ")
    );
    assert!(!ci(), "{msg} (SMTP_AUTH_CI=1: the examples are required)");
    eprintln!("\n*** {msg} ***\n");
    false
}

// ----- certificates ---------------------------------------------------------

/// A test CA, a server certificate for localhost and 127.0.0.1, and client
/// certificates, as PEM files in a directory removed on drop.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate signed by `issuer`, written as `{stem}.pem` and
/// `{stem}.key`.
fn leaf(
    dir: &Path,
    stem: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

impl Pki {
    fn new() -> Self {
        let dir = temp_path("pki");
        std::fs::create_dir_all(&dir).unwrap();
        let issuer = make_ca("smtp-auth test CA");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, issuer.pem()).unwrap();
        let (server_cert, server_key) = leaf(
            &dir,
            "server",
            &issuer,
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        for user in ["alice", "carol"] {
            leaf(
                &dir,
                user,
                &issuer,
                user,
                &[],
                ExtendedKeyUsagePurpose::ClientAuth,
            );
        }
        // A client certificate for alice from a CA the server does not know.
        let stranger = make_ca("some other CA");
        leaf(
            &dir,
            "alice-other-ca",
            &stranger,
            "alice",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            dir,
            ca,
            server_cert,
            server_key,
        }
    }

    /// The client certificate and key for `stem` (alice, carol,
    /// alice-other-ca).
    fn client(&self, stem: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{stem}.pem")),
            self.dir.join(format!("{stem}.key")),
        )
    }

    fn path(p: &Path) -> &str {
        p.to_str().expect("UTF-8 temporary path")
    }

    /// Starts the example server with this PKI's certificate (and the CA
    /// for client certificates) and `extra` flags.
    fn server(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "--cert",
            Self::path(&self.server_cert),
            "--key",
            Self::path(&self.server_key),
            "--client-ca",
            Self::path(&self.ca),
        ];
        args.extend_from_slice(extra);
        start_server(&args)
    }

    /// The same without `--client-ca`.
    fn server_without_client_ca(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "--cert",
            Self::path(&self.server_cert),
            "--key",
            Self::path(&self.server_key),
        ];
        args.extend_from_slice(extra);
        start_server(&args)
    }
}

// ----- the client, in process -----------------------------------------------

fn run_engine(opts: &Options) -> (Report, Diagnosis) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(probe(opts));
    let diagnosis = diagnose(&report, opts);
    let text = render(&report, &diagnosis);
    for secret in [opts.password.as_deref(), opts.token.as_deref()]
        .into_iter()
        .flatten()
    {
        assert!(!text.contains(secret), "the report shows a secret:\n{text}");
    }
    (report, diagnosis)
}

/// The Maildir's `new/` entries.
fn delivered(server: &Server) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(server.maildir.join("new"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Checks one delivered file: the server's `Received:` header for alice
/// (RFC 3848 `ESMTPSA`), then exactly `body`.
fn assert_stored(file: &Path, body: &[u8], what: &str) {
    let stored = std::fs::read(file).unwrap();
    let prefix: &[u8] = b"Received: from smtp-auth-probe.invalid ([127.0.0.1])\r\n\t(Authenticated sender: alice)\r\n\tby localhost (smtp-auth) with ESMTPSA id ";
    assert!(
        stored.starts_with(prefix),
        "{what}: {}",
        String::from_utf8_lossy(&stored)
    );
    let rest = &stored[prefix.len()..];
    let id_end = rest
        .windows(4)
        .position(|w| w == b";\r\n\t")
        .expect("id; CRLF TAB date");
    assert!(
        id_end > 0 && rest[..id_end].iter().all(u8::is_ascii_hexdigit),
        "{what}: queue id {:?}",
        String::from_utf8_lossy(&rest[..id_end])
    );
    let rest = &rest[id_end + 4..];
    let date_end = rest.windows(2).position(|w| w == b"\r\n").expect("date");
    assert!(
        rest[..date_end].ends_with(b" +0000"),
        "{what}: date {:?}",
        String::from_utf8_lossy(&rest[..date_end])
    );
    assert_eq!(
        String::from_utf8_lossy(&rest[date_end + 2..]),
        String::from_utf8_lossy(body),
        "{what}: the stored message differs from what was sent"
    );
}

/// The message each row sends: mixed line endings, lines that start with
/// a dot, 8-bit text and no final line ending.
fn content(mechanism: Mechanism, mode: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "From: <alice@example.org>\r\nTo: <bob@example.org>\r\nSubject: {mechanism} over {mode}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    let sent = format!(
        "{head}.a line that starts with a dot\n..two dots\r\n.\nGrüße aus dem Wunderland\rbare CR above\nno line ending at the end"
    );
    // CRLF everywhere, the dots as written (stuffed by the client,
    // unstuffed by the server), a CRLF added at the end.
    let stored = format!(
        "{head}.a line that starts with a dot\r\n..two dots\r\n.\r\nGrüße aus dem Wunderland\r\nbare CR above\r\nno line ending at the end\r\n"
    );
    (sent.into_bytes(), stored.into_bytes())
}

/// What alice authenticates with for `mechanism`.
fn alice(opts: &mut Options, pki: &Pki, mechanism: Mechanism) {
    match mechanism {
        Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
            opts.user = Some("alice".into());
            opts.token = Some(TOKEN.into());
        }
        Mechanism::External => {
            let (cert, key) = pki.client("alice");
            opts.cert = Some(cert);
            opts.key = Some(key);
        }
        _ => {
            opts.user = Some("alice".into());
            opts.password = Some(PASSWORD.into());
        }
    }
}

const EVERY_MECHANISM: [Mechanism; 10] = [
    Mechanism::Plain,
    Mechanism::Login,
    Mechanism::CramMd5,
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256Plus,
    Mechanism::XOAuth2,
    Mechanism::OAuthBearer,
    Mechanism::External,
];

fn is_scram(m: Mechanism) -> bool {
    matches!(
        m,
        Mechanism::ScramSha1
            | Mechanism::ScramSha256
            | Mechanism::ScramSha1Plus
            | Mechanism::ScramSha256Plus
    )
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn client_every_mechanism_over_starttls_and_implicit_tls_delivers_byte_for_byte() {
    if !built("every_mechanism") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let mut rows = 0;
    for (implicit, addr, mode) in [
        (false, &server.submission, "STARTTLS"),
        (true, &server.implicit, "implicit TLS"),
    ] {
        for mechanism in EVERY_MECHANISM {
            if !mechanism.is_available() {
                eprintln!("SKIP {mechanism}: not built (the scram feature is off)");
                continue;
            }
            let what = format!("{mechanism} over {mode}");
            let (sent, stored) = content(mechanism, mode);
            let mut o = Options::new(addr.as_str());
            o.implicit_tls = implicit;
            o.ca = Some(pki.ca.clone());
            o.timeout = Duration::from_secs(10);
            o.mechanism = Some(mechanism);
            o.from = Some("alice@example.org".into());
            o.send_to = Some("bob@example.org".into());
            o.content = Some(sent);
            alice(&mut o, &pki, mechanism);
            let before = delivered(&server);
            let auth_ok = format!("user=\"alice\" mechanism={mechanism}\n");
            let seen = server.log.lock().unwrap().matches(&auth_ok).count();

            let (report, diagnosis) = run_engine(&o);

            assert_eq!(
                (diagnosis.class, diagnosis.text.as_str()),
                (
                    Class::Ok,
                    format!(
                        "authenticated with {mechanism}; the test message was accepted (250 2.0.0 Message accepted for delivery)"
                    )
                    .as_str()
                ),
                "{what}: {:?}",
                report.steps
            );
            assert_eq!(report.error, None, "{what}");
            assert_eq!(report.authenticated, Some(mechanism), "{what}");
            assert_eq!(report.server_verified, is_scram(mechanism), "{what}");
            let tls = report.tls.as_ref().expect("TLS facts");
            assert_eq!(
                (tls.version.as_str(), tls.how),
                ("TLSv1_3", if implicit { "implicit" } else { "STARTTLS" }),
                "{what}"
            );
            assert_eq!(
                report.cert.as_ref().map(|c| c.verified.clone()),
                Some(Ok(()))
            );
            // The server asks every client for a certificate (--client-ca);
            // only the EXTERNAL rows have one.
            assert_eq!(
                report.client_cert_requested,
                mechanism == Mechanism::External,
                "{what}"
            );
            // Exactly one new message, stored as sent.
            let after = delivered(&server);
            let new: Vec<&PathBuf> = after.iter().filter(|p| !before.contains(p)).collect();
            assert_eq!(new.len(), 1, "{what}: {new:?}");
            assert_stored(new[0], &stored, &what);
            // The server logged the same identity and mechanism.
            assert_eq!(server.wait_for_log(&auth_ok, seen + 1), seen + 1, "{what}");
            rows += 1;
        }
    }
    let expected = 2 * EVERY_MECHANISM.iter().filter(|m| m.is_available()).count();
    assert_eq!(rows, expected);
    assert_eq!(delivered(&server).len(), expected);
}

/// Without `--mechanism` the client takes the strongest mechanism its
/// credentials fit: EXTERNAL with a certificate, SCRAM-SHA-256-PLUS with a
/// password (TLS 1.3 gives it `tls-exporter`), OAUTHBEARER with a token.
#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn client_default_choice_is_the_strongest_mechanism() {
    if !built("default_choice") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let scram = if Mechanism::ScramSha256Plus.is_available() {
        Mechanism::ScramSha256Plus
    } else {
        Mechanism::CramMd5
    };
    for (implicit, addr) in [(false, &server.submission), (true, &server.implicit)] {
        for (credentials, want) in [
            (Mechanism::External, Mechanism::External),
            (Mechanism::Plain, scram),
            (Mechanism::XOAuth2, Mechanism::OAuthBearer),
        ] {
            let mut o = Options::new(addr.as_str());
            o.implicit_tls = implicit;
            o.ca = Some(pki.ca.clone());
            o.timeout = Duration::from_secs(10);
            alice(&mut o, &pki, credentials);
            let (report, diagnosis) = run_engine(&o);
            assert_eq!(
                (diagnosis.class, report.authenticated),
                (Class::Ok, Some(want)),
                "{}",
                diagnosis.text
            );
        }
    }
}

// ----- the probe binary -----------------------------------------------------

/// One run of the probe binary.
struct ProbeRun {
    status: i32,
    stdout: String,
    stderr: String,
}

impl ProbeRun {
    /// The `diagnosis:` line's text.
    fn diagnosis(&self) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("diagnosis: "))
            .unwrap_or_else(|| panic!("no diagnosis:\n{}", self.stdout))
    }

    /// The `note:` lines' texts.
    fn notes(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("note: "))
            .collect()
    }

    /// The transcript line for `what` (`  {what:<22} {text}`), as text.
    fn step(&self, what: &str) -> Vec<&str> {
        let prefix = format!("  {what:<22} ");
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
    }
}

/// Runs the probe with `args` (and `SMTP_PROBE_PASSWORD` when `env_password`
/// is given), bounded to 60 s; prints the report; checks that no secret
/// shows in its output.
fn run_probe(args: &[&str], env_password: Option<&str>, secrets: &[&str]) -> ProbeRun {
    let mut cmd = Command::new(example_binary("probe"));
    // A later --timeout in `args` wins.
    cmd.args(["--timeout", "10"])
        .args(args)
        .env_remove("SMTP_PROBE_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = env_password {
        cmd.env("SMTP_PROBE_PASSWORD", p);
    }
    let mut child = cmd.spawn().expect("start the probe");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the probe did not finish within 60 s: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = ProbeRun {
        status: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    // The report goes to the test log: one per failure class. The command
    // line as typed, secrets masked.
    let shown: Vec<&str> = args
        .iter()
        .enumerate()
        .map(|(i, a)| match i.checked_sub(1).map(|p| args[p]) {
            Some("--password" | "--token") => "***",
            _ => a,
        })
        .collect();
    println!(
        "$ probe {} (exit {})\n{}{}",
        shown.join(" "),
        run.status,
        run.stdout,
        run.stderr
    );
    for secret in env_password.iter().chain(secrets) {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the probe printed a secret"
        );
    }
    run
}

fn ca_arg(pki: &Pki) -> &str {
    Pki::path(&pki.ca)
}

/// The note every probe of a STARTTLS listener with the default mechanisms
/// makes.
fn only_after_starttls(listed: &str, addr: &str) -> String {
    format!(
        "the server offers {listed} only after STARTTLS: a client that tries to authenticate before STARTTLS (or is set to \"no encryption\") is told \"the server does not support AUTH\"; set it to STARTTLS on port {}",
        Server::port(addr)
    )
}

/// What the default server offers only under TLS (EXTERNAL only to a
/// client with a certificate).
const AFTER_TLS_DEFAULT: &str =
    "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS PLAIN LOGIN OAUTHBEARER XOAUTH2";

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_success_over_starttls_and_implicit_tls_delivers_the_test_message() {
    if !built("probe_success") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let ca = ca_arg(&pki);
    // The password from the environment (as the docs advise), STARTTLS.
    let before = server.messages();
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--ca",
            ca,
            "--send-to",
            "bob@example.org",
            "--from",
            "alice@example.org",
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 0);
    assert_eq!(
        run.diagnosis(),
        "authenticated with SCRAM-SHA-256-PLUS; the test message was accepted (250 2.0.0 Message accepted for delivery)"
    );
    assert_eq!(
        run.notes(),
        [only_after_starttls(AFTER_TLS_DEFAULT, &server.submission)]
    );
    assert_eq!(
        run.step("AUTH SCRAM-SHA-256-PLUS"),
        [
            "334 (challenge)",
            "334 (challenge)",
            "235 2.7.0 Authentication successful"
        ]
    );
    assert_eq!(
        run.step("offered (plaintext)"),
        ["AUTH: SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5; SIZE PIPELINING 8BITMIME ENHANCEDSTATUSCODES SMTPUTF8 CHUNKING BINARYMIME STARTTLS"]
    );
    assert_eq!(
        run.step("certificate"),
        ["subject CN=localhost; issuer CN=smtp-auth test CA"]
    );
    assert_eq!(server.messages(), before + 1);
    // The password on the command line, implicit TLS, PLAIN.
    let run = run_probe(
        &[
            "--server",
            &server.implicit,
            "--implicit-tls",
            "--user",
            "alice",
            "--password",
            PASSWORD,
            "--mechanism",
            "PLAIN",
            "--ca",
            ca,
            "--send-to",
            "bob@example.org",
            "--from",
            "alice@example.org",
        ],
        None,
        &[PASSWORD],
    );
    assert_eq!(run.status, 0);
    assert_eq!(
        run.diagnosis(),
        "authenticated with PLAIN; the test message was accepted (250 2.0.0 Message accepted for delivery)"
    );
    assert_eq!(run.notes(), Vec::<&str>::new());
    assert_eq!(server.messages(), before + 2);
    // A bearer token.
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--token",
            TOKEN,
            "--ca",
            ca,
            "--send-to",
            "bob@example.org",
            "--from",
            "alice@example.org",
        ],
        None,
        &[TOKEN],
    );
    assert_eq!(run.status, 0);
    assert_eq!(
        run.diagnosis(),
        "authenticated with OAUTHBEARER; the test message was accepted (250 2.0.0 Message accepted for delivery)"
    );
    assert_eq!(server.messages(), before + 3);
    // Every message is the probe's test message.
    for file in delivered(&server) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.ends_with("From: <alice@example.org>\r\nTo: <bob@example.org>\r\nSubject: smtp-auth probe test message\r\n\r\nSent by the smtp-auth probe.\r\n"),
            "{text}"
        );
    }
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_external_with_a_client_certificate() {
    if !built("probe_external") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let ca = ca_arg(&pki);
    let (cert, key) = pki.client("alice");
    let before = server.messages();
    for implicit in [false, true] {
        let addr = if implicit {
            &server.implicit
        } else {
            &server.submission
        };
        let mut args = vec![
            "--server",
            addr,
            "--cert",
            Pki::path(&cert),
            "--key",
            Pki::path(&key),
            "--ca",
            ca,
            "--send-to",
            "bob@example.org",
            "--from",
            "alice@example.org",
        ];
        if implicit {
            args.push("--implicit-tls");
        }
        let run = run_probe(&args, None, &[]);
        assert_eq!(run.status, 0);
        assert_eq!(
            run.diagnosis(),
            "authenticated with EXTERNAL; the test message was accepted (250 2.0.0 Message accepted for delivery)"
        );
        assert_eq!(
            run.step("client certificate"),
            ["CN=alice: sent, the server asked for one"]
        );
        assert_eq!(
            run.step("AUTH EXTERNAL"),
            ["235 2.7.0 Authentication successful"]
        );
    }
    assert_eq!(server.messages(), before + 2);
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_a_relay_port() {
    if !built("probe_relay") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&["--relay", "127.0.0.1:0"]);
    let relay = server.relay.clone().expect("relay listener");
    let run = run_probe(
        &["--server", &relay, "--user", "alice", "--ca", ca_arg(&pki)],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "AUTH is not offered on this port before or after TLS: this looks like a relay port (25), which takes mail for its own domains only; use the submission port 587 (STARTTLS) or 465 (implicit TLS)"
    );
    assert_eq!(run.notes(), Vec::<&str>::new());
    assert_eq!(
        run.step("offered (plaintext)"),
        ["AUTH: none; SIZE PIPELINING 8BITMIME ENHANCEDSTATUSCODES SMTPUTF8 CHUNKING BINARYMIME STARTTLS"]
    );
    assert_eq!(
        run.step("offered (TLS)"),
        ["AUTH: none; SIZE PIPELINING 8BITMIME ENHANCEDSTATUSCODES SMTPUTF8 CHUNKING BINARYMIME"]
    );
    assert_eq!(
        run.step("stopped"),
        ["the server does not offer AUTH (under TLS)"]
    );
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_no_tls() {
    if !built("probe_no_tls") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&["--no-starttls"]);
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--ca",
            ca_arg(&pki),
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "this port offers no TLS: no STARTTLS and not implicit TLS; it offers AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 without encryption, which keeps the password from anyone on the path but not the message, and a client set to require TLS will not use it (this probe sent nothing; --allow-plaintext would). A mail client set to require encryption says \"unencrypted connections are not allowed\" or \"the server does not support STARTTLS\": use port 587 with STARTTLS or 465 with SSL/TLS (--implicit-tls), or enable TLS on the server"
    );
    assert_eq!(run.notes(), Vec::<&str>::new());
    assert_eq!(run.step("stopped"), ["the server does not offer STARTTLS"]);
    // Nothing was tried: no AUTH reached the server.
    assert!(!run.stdout.contains("  AUTH "), "{}", run.stdout);
    assert_eq!(server.log.lock().unwrap().matches(" auth-").count(), 0);
    // --allow-plaintext: SCRAM keeps the password safe, and the report
    // says the session was unencrypted.
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--allow-plaintext",
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 0);
    assert_eq!(run.diagnosis(), "authenticated with SCRAM-SHA-256");
    assert_eq!(
        run.notes(),
        ["this connection had no TLS: the conversation and the message travelled unencrypted"]
    );
}

const LOCKED: &str = "temporary failure (454 4.7.0): the server's credential backend is down, or the account or your address is locked out after failed attempts; try later, and check the server's authentication service";

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_a_locked_account() {
    if !built("probe_locked") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&["--lockout-after", "2"]);
    let ca = ca_arg(&pki);
    let wrong = "not-the-password-3f9a";
    let args = |mechanism: &'static str| {
        vec![
            "--server",
            server.submission.as_str(),
            "--user",
            "alice",
            "--mechanism",
            mechanism,
            "--ca",
            ca,
        ]
    };
    for _ in 0..2 {
        let run = run_probe(&args("PLAIN"), Some(wrong), &[PASSWORD]);
        assert_eq!(run.status, 1);
        assert_eq!(
            run.step("AUTH PLAIN"),
            ["535 5.7.8 Authentication credentials invalid"]
        );
    }
    // The right password, from the same address: refused without a check.
    let run = run_probe(&args("PLAIN"), Some(PASSWORD), &[wrong]);
    assert_eq!(run.status, 1);
    assert_eq!(run.diagnosis(), LOCKED);
    assert_eq!(
        run.step("AUTH PLAIN"),
        ["454 4.7.0 Temporary authentication failure"]
    );
    // SCRAM too: the lock is on the account, not the mechanism.
    let run = run_probe(&args("SCRAM-SHA-256"), Some(PASSWORD), &[]);
    assert_eq!(run.status, 1);
    assert_eq!(run.diagnosis(), LOCKED);
    assert_eq!(
        run.step("AUTH SCRAM-SHA-256"),
        ["454 4.7.0 Temporary authentication failure"]
    );
    // Another account from the same address is not locked.
    let run = run_probe(
        &["--server", &server.submission, "--user", "bob", "--ca", ca],
        Some("builder"),
        &[],
    );
    assert_eq!(run.status, 0);
    assert_eq!(run.diagnosis(), "authenticated with SCRAM-SHA-256-PLUS");
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_a_removed_mechanism() {
    if !built("probe_no_common_mechanism") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&["--mechanisms", "PLAIN,LOGIN"]);
    let ca = ca_arg(&pki);
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--mechanism",
            "CRAM-MD5",
            "--ca",
            ca,
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "no common mechanism: the server offers PLAIN LOGIN, you asked for CRAM-MD5; drop --mechanism or choose one of those (and set the mail client's authentication method to match, e.g. \"normal password\" for PLAIN/LOGIN, \"encrypted password\" for CRAM-MD5/SCRAM)"
    );
    assert_eq!(
        run.notes(),
        [only_after_starttls("PLAIN LOGIN", &server.submission)]
    );
    assert_eq!(server.log.lock().unwrap().matches(" auth-").count(), 0);
    // As the diagnosis says: without --mechanism it works.
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--ca",
            ca,
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 0);
    assert_eq!(run.diagnosis(), "authenticated with PLAIN");
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_a_wrong_password() {
    if !built("probe_wrong_password") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let wrong = "not-the-password-3f9a";
    for (mechanism, implicit) in [
        ("SCRAM-SHA-256", false),
        ("PLAIN", false),
        ("CRAM-MD5", true),
    ] {
        let addr = if implicit {
            &server.implicit
        } else {
            &server.submission
        };
        let mut args = vec![
            "--server",
            addr,
            "--user",
            "alice",
            "--mechanism",
            mechanism,
            "--ca",
            ca_arg(&pki),
        ];
        if implicit {
            args.push("--implicit-tls");
        }
        let run = run_probe(&args, Some(wrong), &[PASSWORD]);
        assert_eq!(run.status, 1);
        assert_eq!(
            run.diagnosis(),
            format!("credentials rejected (535 5.7.8) with {mechanism}: check the user name (often the full address) and the password, or whether the account needs an app password (accounts with two-factor sign-in usually do)")
        );
        assert_eq!(
            run.step("stopped"),
            [format!(
                "the server refused AUTH {mechanism}: 535 5.7.8 Authentication credentials invalid"
            )]
        );
    }
    // An unknown user reads the same.
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "mallory",
            "--mechanism",
            "PLAIN",
            "--ca",
            ca_arg(&pki),
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "credentials rejected (535 5.7.8) with PLAIN: check the user name (often the full address) and the password, or whether the account needs an app password (accounts with two-factor sign-in usually do)"
    );
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_a_refused_sender() {
    if !built("probe_refused_sender") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let run = run_probe(
        &[
            "--server",
            &server.submission,
            "--user",
            "alice",
            "--ca",
            ca_arg(&pki),
            "--from",
            "bob@example.org",
            "--send-to",
            "carol@example.net",
        ],
        Some(PASSWORD),
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "authenticated with SCRAM-SHA-256-PLUS, but the test message was refused at MAIL FROM: 550 5.7.1 Sender address not authorized for this user"
    );
    assert_eq!(server.messages(), 0);
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_external_failures() {
    if !built("probe_external_failures") {
        return;
    }
    let pki = Pki::new();
    let ca = ca_arg(&pki);
    let with_ca = pki.server(&[]);
    let cert_args = |server: &str, stem: &str| {
        let (cert, key) = pki.client(stem);
        (
            server.to_owned(),
            cert.to_str().unwrap().to_owned(),
            key.to_str().unwrap().to_owned(),
        )
    };
    let probe_cert = |(server, cert, key): (String, String, String)| {
        run_probe(
            &[
                "--server", &server, "--cert", &cert, "--key", &key, "--ca", ca,
            ],
            None,
            &[],
        )
    };
    // A certificate the server trusts, for nobody it knows.
    let run = probe_cert(cert_args(&with_ca.submission, "carol"));
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "the client certificate (CN=carol) passed TLS, but the server maps it to no account (535 5.7.8): ask the administrator to map the certificate's identity (its e-mail address or common name) to the account"
    );
    // A certificate from a CA the server does not trust: over STARTTLS
    // and implicit TLS, the first read after the handshake has the alert.
    for implicit in [false, true] {
        let (server, cert, key) = if implicit {
            cert_args(&with_ca.implicit, "alice-other-ca")
        } else {
            cert_args(&with_ca.submission, "alice-other-ca")
        };
        let mut args = vec![
            "--server", &server, "--cert", &cert, "--key", &key, "--ca", ca,
        ];
        if implicit {
            args.push("--implicit-tls");
        }
        let run = run_probe(&args, None, &[]);
        assert_eq!(run.status, 1);
        assert_eq!(
            run.diagnosis(),
            "the server ended the connection right after the TLS handshake (received fatal alert: UnknownCA): it refused the client certificate (CN=alice); check that it is issued by a CA the server trusts for client certificates, and that it has not expired"
        );
        assert_eq!(
            run.step("read"),
            ["failed: received fatal alert: UnknownCA"]
        );
    }
    // A server that takes no client certificates.
    let without = pki.server_without_client_ca(&[]);
    let run = probe_cert(cert_args(&without.submission, "alice"));
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "no common mechanism: the server offers SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN OAUTHBEARER XOAUTH2, none of which fits your credentials (EXTERNAL needs a client certificate, and the server did not ask for one: it takes no client certificates on this port)"
    );
    assert_eq!(
        run.step("client certificate"),
        ["CN=alice: not sent, the server did not ask for one"]
    );
}

#[test]
#[ignore = "needs the examples built; run by .ci/run"]
fn probe_diagnoses_the_wrong_tls_mode_and_an_untrusted_certificate() {
    if !built("probe_tls_mode") {
        return;
    }
    let pki = Pki::new();
    let server = pki.server(&[]);
    let ca = ca_arg(&pki);
    // Plaintext to the implicit-TLS port: no greeting.
    let run = run_probe(
        &["--server", &server.implicit, "--ca", ca, "--timeout", "2"],
        None,
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "no greeting within 2s: this looks like an implicit-TLS port (465) that waits for a TLS handshake; add --implicit-tls (and set the mail client to SSL/TLS, not STARTTLS)"
    );
    // TLS at once to the STARTTLS port.
    let run = run_probe(
        &["--server", &server.submission, "--implicit-tls", "--ca", ca],
        None,
        &[],
    );
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "the TLS handshake failed (received corrupt message of type InvalidContentType): if this port speaks plaintext first (587, 25), it uses STARTTLS: drop --implicit-tls"
    );
    // Our CA is not in the system trust store.
    let run = run_probe(&["--server", &server.submission], None, &[]);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        "the server's TLS certificate is not trusted (invalid peer certificate: UnknownIssuer); mail clients report this as a certificate error or \"cannot connect securely\": install a certificate from a public CA for the host name, or for a private CA pass --ca FILE (or --insecure to look further)"
    );
    // Nothing listens: connect failed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // What this OS says (Linux: "Connection refused (os error 111)").
    let refused = std::net::TcpStream::connect(&closed)
        .unwrap_err()
        .to_string();
    let run = run_probe(&["--server", &closed], None, &[]);
    assert_eq!(run.status, 1);
    assert_eq!(
        run.diagnosis(),
        format!("cannot connect to {closed} ({refused}): nothing listens there, or a firewall drops it; check the host and the port (submission is 587 with STARTTLS or 465 with implicit TLS)")
    );
}
