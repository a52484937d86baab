//! Interop with real mail clients against `examples/submission_server`:
//! Python's smtplib, swaks, curl, gsasl and msmtp, over STARTTLS (587-style)
//! and implicit TLS (465-style), with PLAIN, LOGIN, CRAM-MD5 and SCRAM.
//!
//! These tests are `#[ignore]`d because they need the clients installed and
//! the example built; `.ci/run` installs both and runs them with
//! `--include-ignored`. With `SMTP_AUTH_CI=1` a missing client fails the
//! test; otherwise it is skipped with a loud message.
//!
//! Every row that should succeed must leave exactly one new message in the
//! Maildir (gsasl only authenticates and cannot send one: its rows check
//! the `auth-ok` log line instead). Every client also gets a wrong-password
//! row that must fail with 535.

#[path = "common/example_server.rs"]
mod example_server;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use example_server::{ci, example_binary, start_server, Server};

/// True when `tool` can run; in CI its absence is a failure.
fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!ci(), "{tool} is not installed: .ci/run must install it");
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}

/// Runs a shell command with a 30 s bound; returns (success, output).
fn run(cmd: &str) -> (bool, String) {
    run_for(cmd, Duration::from_secs(30))
}

/// Runs a shell command with a time bound; returns (success, output).
fn run_for(cmd: &str, bound: Duration) -> (bool, String) {
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (status.success(), out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return (false, format!("timed out: {cmd}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tls {
    StartTls,
    Implicit,
}

/// One row: a client command that must send one message (or, for
/// `sends == false`, authenticate), and its wrong-password twin.
fn row(server: &Server, name: &str, cmd: &str, wrong: &str, sends: bool) -> String {
    let before = server.messages();
    let auths = server.auth_ok_lines();
    let (ok, out) = run(cmd);
    assert!(ok, "{name}: {cmd}\n{out}");
    if sends {
        // The message is in new/ before the client saw 250.
        assert_eq!(
            server.messages(),
            before + 1,
            "{name}: one new message\n{out}"
        );
    } else {
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.auth_ok_lines() == auths && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(server.auth_ok_lines() > auths, "{name}: no auth-ok line");
    }
    let (ok, out) = run(wrong);
    assert!(!ok, "{name} with a wrong password must fail\n{out}");
    assert!(
        out.contains("535"),
        "{name} with a wrong password: 535 expected\n{out}"
    );
    assert_eq!(
        server.messages(),
        before + usize::from(sends),
        "{name}: nothing sent with a wrong password"
    );
    format!("{name}: ok")
}

const PYTHON: &str = r#"
import smtplib, ssl, sys
host, port, mode, mech, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL(host, port, context=ctx, timeout=20) if mode == 'ssl' else smtplib.SMTP(host, port, timeout=20)
if mode == 'starttls':
    s.starttls(context=ctx)
s.ehlo()
s.user, s.password = 'alice', password
try:
    code, resp = s.auth(mech, getattr(s, 'auth_' + mech.lower().replace('-', '_')))
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code, e.smtp_error); sys.exit(1)
s.sendmail('alice@example.org', ['bob@example.org'], 'Subject: smtplib ' + mech + '\r\n\r\nhello\r\n')
s.quit()
"#;

#[test]
#[ignore = "needs python3 and the example server; run by .ci/run"]
fn interop_python_smtplib() {
    if !have("python3") {
        return;
    }
    let server = start_server(&[]);
    let script = std::env::temp_dir().join(format!("smtp-auth-smtplib-{}.py", std::process::id()));
    std::fs::write(&script, PYTHON).unwrap();
    let s = script.display();
    for tls in [Tls::StartTls, Tls::Implicit] {
        let (port, mode) = match tls {
            Tls::StartTls => (Server::port(&server.submission), "starttls"),
            Tls::Implicit => (Server::port(&server.implicit), "ssl"),
        };
        for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
            let cmd = format!("python3 {s} 127.0.0.1 {port} {mode} {mech} wonderland");
            let wrong = format!("python3 {s} 127.0.0.1 {port} {mode} {mech} nope");
            eprintln!(
                "{}",
                row(
                    &server,
                    &format!("smtplib {mode} {mech}"),
                    &cmd,
                    &wrong,
                    true
                )
            );
        }
    }
    let _ = std::fs::remove_file(script);
}

#[test]
#[ignore = "needs swaks and the example server; run by .ci/run"]
fn interop_swaks() {
    if !have("swaks") {
        return;
    }
    let server = start_server(&[]);
    for (tls, addr, flag) in [
        (Tls::StartTls, &server.submission, "--tls"),
        (Tls::Implicit, &server.implicit, "--tlsc"),
    ] {
        for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
            let cmd = |pw: &str| {
                format!(
                    "swaks --server {addr} {flag} --auth {mech} --auth-user alice --auth-password {pw} \
                     --from alice@example.org --to bob@example.org --silent 2"
                )
            };
            eprintln!(
                "{}",
                row(
                    &server,
                    &format!("swaks {tls:?} {mech}"),
                    &cmd("wonderland"),
                    &cmd("nope"),
                    true
                )
            );
        }
    }
}

#[test]
#[ignore = "needs curl and the example server; run by .ci/run"]
fn interop_curl() {
    if !have("curl") {
        return;
    }
    let server = start_server(&[]);
    for (tls, url) in [
        (
            Tls::StartTls,
            format!("smtp://{} --ssl-reqd", server.submission),
        ),
        (Tls::Implicit, format!("smtps://{}", server.implicit)),
    ] {
        for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
            let cmd = |pw: &str| {
                format!(
                    "printf 'Subject: curl\\r\\n\\r\\nhello\\r\\n' | curl -sS -k --url {url} \
                     --login-options AUTH={mech} --user alice:{pw} --mail-from alice@example.org \
                     --mail-rcpt bob@example.org -T - -v 2>&1"
                )
            };
            eprintln!(
                "{}",
                row(
                    &server,
                    &format!("curl {tls:?} {mech}"),
                    &cmd("wonderland"),
                    &cmd("nope"),
                    true
                )
            );
        }
    }
}

#[test]
#[ignore = "needs gsasl and the example server; run by .ci/run"]
fn interop_gsasl() {
    if !have("gsasl") {
        return;
    }
    let server = start_server(&[]);
    // gsasl has no implicit-TLS mode: STARTTLS only. Its SCRAM needs
    // --no-cb for the non-PLUS variants (it would insist on binding).
    for (mech, extra) in [
        ("PLAIN", ""),
        ("LOGIN", ""),
        ("CRAM-MD5", ""),
        ("SCRAM-SHA-1", "--no-cb"),
        ("SCRAM-SHA-256", "--no-cb"),
        ("SCRAM-SHA-256-PLUS", ""),
    ] {
        let cmd = |pw: &str| {
            format!(
                "gsasl --smtp --connect={} -m {mech} -a alice -p {pw} --x509-ca-file= {extra} </dev/null 2>&1",
                server.submission
            )
        };
        eprintln!(
            "{}",
            row(
                &server,
                &format!("gsasl {mech}"),
                &cmd("wonderland"),
                &cmd("nope"),
                false
            )
        );
    }
}

#[test]
#[ignore = "needs msmtp and the example server; run by .ci/run"]
fn interop_msmtp() {
    if !have("msmtp") {
        return;
    }
    let server = start_server(&[]);
    let rc = std::env::temp_dir().join(format!("smtp-auth-msmtprc-{}", std::process::id()));
    std::fs::write(
        &rc,
        format!(
            "defaults\ntls on\ntls_certcheck off\nlogfile -\nfrom alice@example.org\nuser alice\n\
             account starttls\nhost 127.0.0.1\nport {}\ntls_starttls on\n\
             account implicit\nhost 127.0.0.1\nport {}\ntls_starttls off\n",
            Server::port(&server.submission),
            Server::port(&server.implicit)
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for account in ["starttls", "implicit"] {
        for mech in ["plain", "login", "cram-md5", "scram-sha-256"] {
            let cmd = |pw: &str| {
                format!(
                    "printf 'Subject: msmtp\\n\\nhello\\n' | msmtp -C {} -a {account} --auth={mech} \
                     --passwordeval='echo {pw}' bob@example.org 2>&1",
                    rc.display()
                )
            };
            eprintln!(
                "{}",
                row(
                    &server,
                    &format!("msmtp {account} {mech}"),
                    &cmd("wonderland"),
                    &cmd("nope"),
                    true
                )
            );
        }
    }
    let _ = std::fs::remove_file(rc);
}

#[test]
#[ignore = "needs fail2ban-regex, python3 and the example server; run by .ci/run"]
fn fail2ban_filter_matches_the_failed_auth_line() {
    if !have("fail2ban-regex") || !have("python3") {
        return;
    }
    let server = start_server(&[]);
    let script = std::env::temp_dir().join(format!("smtp-auth-f2b-{}.py", std::process::id()));
    std::fs::write(&script, PYTHON).unwrap();
    let port = Server::port(&server.implicit);
    for password in ["nope", "nope", "wonderland"] {
        let _ = run(&format!(
            "python3 {} 127.0.0.1 {port} ssl PLAIN {password}",
            script.display()
        ));
    }
    // Wait for the log to hold the three results.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.log.lock().unwrap().matches("auth-").count() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.log.lock().unwrap().clone();
    let logfile = std::env::temp_dir().join(format!("smtp-auth-f2b-{}.log", std::process::id()));
    std::fs::write(&logfile, &log).unwrap();
    let filter =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/fail2ban/filter.d/smtp-auth.conf");
    let (ok, out) = run(&format!(
        "fail2ban-regex --print-all-matched {} {}",
        logfile.display(),
        filter.display()
    ));
    assert!(ok, "{out}");
    // Exactly the two failures match, with the client's address.
    assert!(
        out.contains("Failregex: 2 total"),
        "{out}\n--- log ---\n{log}"
    );
    assert!(out.contains("127.0.0.1"), "{out}");
    let _ = std::fs::remove_file(script);
    let _ = std::fs::remove_file(logfile);
}

#[test]
#[ignore = "needs the example server and load generator built; run by .ci/run"]
fn load_500_concurrent_sessions_all_delivered() {
    let server = start_server(&[]);
    let loadgen = example_binary("loadgen");
    assert!(
        loadgen.exists(),
        "{} is missing: cargo build --examples",
        loadgen.display()
    );
    // A generous bound: on a loaded CI machine 500 simultaneous debug-build
    // TLS handshakes can queue for a while; what matters is that all 500
    // complete and deliver.
    let (ok, out) = run_for(
        &format!(
            "{} --server {} --sessions 500 --concurrency 500 --timeout 120",
            loadgen.display(),
            server.submission
        ),
        Duration::from_secs(150),
    );
    assert!(ok, "{out}");
    assert!(out.contains("sessions=500 errors=0"), "{out}");
    // Every accepted message is in new/ exactly once, and nothing is left
    // half-written in tmp/.
    assert_eq!(server.messages(), 500, "{out}");
    let tmp = std::fs::read_dir(server.maildir.join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0);
    eprintln!("{out}");
}

/// Ctrl-C (SIGINT) while one client is in the middle of DATA and another is
/// idle: the idle one is told `421 4.3.2` and closed, the one in DATA
/// finishes, gets its `250`, and its message is in the Maildir.
#[test]
#[ignore = "needs the example server built; run by .ci/run"]
#[cfg(unix)]
fn graceful_shutdown_lets_data_finish() {
    use std::io::Write as _;
    use std::net::TcpStream;
    if !have("kill") {
        return;
    }
    let mut server = start_server(&[]);
    let addr = server.submission.clone();
    let read_reply = |s: &mut TcpStream| -> String {
        let mut all = String::new();
        let mut buf = [0u8; 1];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    all.push(buf[0] as char);
                    if all.ends_with("\r\n") {
                        let last = all
                            .trim_end()
                            .rsplit("\r\n")
                            .next()
                            .unwrap_or("")
                            .to_owned();
                        if last.len() >= 4 && last.as_bytes()[3] == b' ' {
                            break;
                        }
                    }
                }
            }
        }
        all
    };
    let connect = || {
        let s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Session 1 goes into DATA. CRAM-MD5 reveals no password, so it is
    // offered before TLS and the test needs no TLS client.
    let mut busy = connect();
    read_reply(&mut busy);
    busy.write_all(b"EHLO a\r\n").unwrap();
    read_reply(&mut busy);
    busy.write_all(b"AUTH CRAM-MD5\r\n").unwrap();
    let challenge = read_reply(&mut busy);
    let challenge =
        smtp_auth::sasl::encoding::decode(&challenge.trim_end().as_bytes()[4..]).unwrap();
    let entropy = smtp_auth::random::OsEntropy;
    let mut client = smtp_auth::sasl::client::ClientExchange::new(
        smtp_auth::sasl::Mechanism::CramMd5,
        smtp_auth::sasl::client::Credentials::password("alice", "wonderland"),
        &smtp_auth::sasl::client::ClientContext::new(&entropy),
    )
    .unwrap();
    let response = smtp_auth::sasl::encoding::encode(&client.respond(&challenge).unwrap());
    busy.write_all(format!("{response}\r\n").as_bytes())
        .unwrap();
    let r = read_reply(&mut busy);
    assert!(r.starts_with("235"), "{r}");
    busy.write_all(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        .unwrap();
    for want in ["250", "250", "354"] {
        let r = read_reply(&mut busy);
        assert!(r.starts_with(want), "{r}");
    }
    busy.write_all(b"Subject: in flight\r\n\r\nfirst half ")
        .unwrap();
    // Session 2 is idle after EHLO.
    let mut idle = connect();
    read_reply(&mut idle);
    idle.write_all(b"EHLO b\r\n").unwrap();
    read_reply(&mut idle);
    let before = server.messages();
    // Ctrl-C.
    let pid = server.child.id();
    assert!(Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let bye = read_reply(&mut idle);
    assert_eq!(
        bye,
        "421 4.3.2 Service shutting down, closing connection\r\n"
    );
    // The busy session finishes its message.
    busy.write_all(b"second half\r\n.\r\n").unwrap();
    let done = read_reply(&mut busy);
    assert_eq!(done, "250 2.0.0 Message accepted for delivery\r\n");
    assert_eq!(server.messages(), before + 1);
    let bye = read_reply(&mut busy);
    assert_eq!(
        bye,
        "421 4.3.2 Service shutting down, closing connection\r\n"
    );
    // And the server exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
