//! A runnable submission server: port 587-style STARTTLS and 465-style
//! implicit TLS on loopback, real TLS (rustls), a Maildir for accepted
//! messages, one log line per event.
//!
//! ```sh
//! cargo run --example submission_server
//! swaks --server 127.0.0.1:2587 --tls --auth PLAIN --auth-user alice \
//!       --auth-password wonderland --from alice@example.org --to bob@example.org
//! ```
//!
//! Flags: `--submission ADDR` (default 127.0.0.1:2587), `--implicit-tls
//! ADDR` (127.0.0.1:2465), `--hostname NAME`, `--cert PEM --key PEM`,
//! `--users FILE` (Dovecot passwd-file), `--senders FILE` (Postfix
//! sender-login map), `--maildir DIR` (./maildir), `--command-timeout SECS`,
//! `--data-timeout SECS`, `--quota N` (messages per user and hour; 0 for no
//! limit), `--lockout-after N` (failed logins per account and client
//! address before a lock-out; default 5), `--relay ADDR` (also listen as a
//! port-25 relay: no AUTH, mail for `--local-domains` only), `--local-domains
//! LIST` (example.org), `--no-starttls` (the submission listener offers no
//! TLS), `--mechanisms LIST` (offer only these, comma-separated),
//! `--client-ca PEM` (accept client certificates from this CA, for SASL
//! EXTERNAL). LDAP instead of a file (with
//! `--features ldap`): `--ldap-url`, `--ldap-base`/`--ldap-filter` or
//! `--ldap-user-dn-template`, `--ldap-bind-dn`, `--ldap-bind-password-file`,
//! `--ldap-starttls`, `--ldap-ca`, `--ldap-address-attrs`, `--ldap-disabled`
//! (see `ldap.rs`).

mod backend;
mod connection;
mod ldap;
mod log;
mod maildir;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use smtp_auth::authenticator::MemoryStore;
use smtp_auth::limiter::{FailureRule, Quota};
use smtp_auth::policy::SubmissionPolicy;
use smtp_auth::sasl::Mechanism;
use smtp_auth::senders::SenderLoginMap;
use smtp_auth::{Config, Profile, Timeouts};

use crate::connection::Shared;

#[derive(Debug)]
struct Args {
    submission: SocketAddr,
    implicit_tls: SocketAddr,
    hostname: String,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    users: Option<PathBuf>,
    senders: Option<PathBuf>,
    maildir: PathBuf,
    command_timeout: Duration,
    data_timeout: Duration,
    quota: u32,
    lockout_after: u32,
    relay: Option<SocketAddr>,
    local_domains: Vec<String>,
    starttls: bool,
    mechanisms: Option<Vec<Mechanism>>,
    client_ca: Option<PathBuf>,
    ldap: ldap::LdapArgs,
}

fn usage() -> ! {
    eprintln!(
        "usage: submission_server [--submission ADDR] [--implicit-tls ADDR] [--hostname NAME]\n\
         \x20   [--cert PEM --key PEM] [--users FILE] [--senders FILE] [--maildir DIR]\n\
         \x20   [--command-timeout SECS] [--data-timeout SECS]\n{}",
        ldap::USAGE
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        submission: "127.0.0.1:2587".parse().unwrap_or_else(|_| usage()),
        implicit_tls: "127.0.0.1:2465".parse().unwrap_or_else(|_| usage()),
        hostname: "localhost".into(),
        cert: None,
        key: None,
        users: None,
        senders: None,
        maildir: PathBuf::from("maildir"),
        command_timeout: Duration::from_secs(300),
        data_timeout: Duration::from_secs(180),
        quota: 200,
        lockout_after: 5,
        relay: None,
        local_domains: vec!["example.org".into()],
        starttls: true,
        mechanisms: None,
        client_ca: None,
        ldap: ldap::LdapArgs::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--submission" => a.submission = value().parse().unwrap_or_else(|_| usage()),
            "--implicit-tls" => a.implicit_tls = value().parse().unwrap_or_else(|_| usage()),
            "--hostname" => a.hostname = value(),
            "--cert" => a.cert = Some(value().into()),
            "--key" => a.key = Some(value().into()),
            "--users" => a.users = Some(value().into()),
            "--senders" => a.senders = Some(value().into()),
            "--maildir" => a.maildir = value().into(),
            "--command-timeout" => {
                a.command_timeout = Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            "--data-timeout" => {
                a.data_timeout = Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            "--quota" => a.quota = value().parse().unwrap_or_else(|_| usage()),
            "--lockout-after" => a.lockout_after = value().parse().unwrap_or_else(|_| usage()),
            "--relay" => a.relay = Some(value().parse().unwrap_or_else(|_| usage())),
            "--local-domains" => a.local_domains = value().split(',').map(str::to_owned).collect(),
            "--no-starttls" => a.starttls = false,
            "--mechanisms" => {
                let list = value()
                    .split(',')
                    .map(|m| m.parse().unwrap_or_else(|_| usage()))
                    .collect();
                a.mechanisms = Some(list);
            }
            "--client-ca" => a.client_ca = Some(value().into()),
            f if f.starts_with("--ldap-") => {
                if !a.ldap.set(f, value()) {
                    usage()
                }
            }
            _ => usage(),
        }
    }
    a
}

/// The credential store: `--users FILE`, or demo users printed at start.
fn store(args: &Args) -> Result<backend::Store, Box<dyn std::error::Error>> {
    if args.ldap.enabled() {
        #[cfg(feature = "ldap")]
        return Ok(backend::Store::Ldap(args.ldap.build()?));
        #[cfg(not(feature = "ldap"))]
        return Err("--ldap-url needs the ldap feature: cargo run --features ldap --example submission_server".into());
    }
    if let Some(path) = &args.users {
        #[cfg(feature = "passwd-file")]
        {
            let (file, report) = smtp_auth::passwd_file::PasswdFile::open(path)?;
            println!("users: {} from {} ({report:?})", file.len(), path.display());
            return Ok(backend::Store::File(file));
        }
        #[cfg(not(feature = "passwd-file"))]
        return Err(format!(
            "--users {} needs the passwd-file feature: cargo run --features passwd-file --example submission_server",
            path.display()
        )
        .into());
    }
    let mut store = MemoryStore::new();
    for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
        println!("demo user {user} password {password} (owns {user}@example.org)");
        // A bearer token (XOAUTH2, OAUTHBEARER) and a client certificate
        // whose identity is the user name (EXTERNAL, with --client-ca).
        let token = format!("{user}-demo-token");
        println!("demo user {user} bearer token {token}");
        store = store
            .user(user, password)
            .token(token, user)
            .certificate(user, user);
    }
    Ok(backend::Store::Memory(store))
}

/// The policy: lock-out, quotas, and who may send as whom (`--senders`, or
/// each demo user owns user@example.org).
fn policy(
    args: &Args,
    store: &backend::Store,
) -> Result<SubmissionPolicy, Box<dyn std::error::Error>> {
    let senders = match &args.senders {
        Some(path) => {
            let (map, report) = SenderLoginMap::open(path)?;
            println!(
                "senders: {} entries from {} ({report:?})",
                map.len(),
                path.display()
            );
            map
        }
        // Directory users own the addresses their entries list.
        None if args.ldap.enabled() => SenderLoginMap::parse("").0,
        None => SenderLoginMap::parse("alice@example.org alice\nbob@example.org bob\n").0,
    };
    let window = Duration::from_secs(15 * 60);
    let lock = Duration::from_secs(5 * 60);
    let n = args.lockout_after.max(1);
    let quota = (args.quota > 0).then(|| Quota::per_hour(args.quota));
    Ok(SubmissionPolicy::builder()
        .sender_login_map(Arc::new(senders))
        .sender_owners(store.owners())
        .lock_account_network(Some(FailureRule::new(n, window, lock)))
        .lock_account(Some(FailureRule::new(n.saturating_mul(2), window, lock)))
        .lock_network(Some(FailureRule::new(
            n.saturating_mul(4),
            window,
            lock.saturating_mul(3),
        )))
        .local_domains(args.local_domains.clone())
        .message_quota(quota)
        .recipient_quota(quota.map(|q| Quota::per_hour(q.limit.saturating_mul(5))))
        .build())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let args = parse_args();

    let cert = tls::load_or_generate(
        &args.hostname,
        args.cert.as_deref(),
        args.key.as_deref(),
        args.client_ca.as_deref(),
    )?;
    if cert.self_signed {
        println!(
            "self-signed certificate for {}, SHA-256 {}",
            args.hostname, cert.fingerprint
        );
    }
    let store = store(&args)?;
    let policy = policy(&args, &store)?;
    let backend = backend::Backend::new(store, policy);
    let mut mechanisms = backend.mechanisms();
    if let Some(only) = &args.mechanisms {
        mechanisms.retain(|m| only.contains(m));
    }
    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(cert.config.clone()),
        backend,
        maildir: maildir::Maildir::open(&args.maildir, &args.hostname)?,
        hostname: args.hostname.clone(),
        handshake_timeout: Duration::from_secs(30),
    });
    let timeouts = {
        let mut t = Timeouts::default();
        t.command = args.command_timeout;
        t.data_block = args.data_timeout;
        t
    };
    // EHLO offers exactly what the store can serve.
    let base = Config::builder(args.hostname.clone())
        .timeouts(timeouts)
        .mechanisms(mechanisms);
    let submission = Arc::new(
        base.clone()
            .profile(Profile::Submission)
            .starttls(args.starttls)
            .build(),
    );
    let implicit = Arc::new(base.clone().profile(Profile::ImplicitTls).build());
    let relay = Arc::new(base.profile(Profile::Relay).build());

    let sub_listener = TcpListener::bind(args.submission).await?;
    let tls_listener = TcpListener::bind(args.implicit_tls).await?;
    println!(
        "listening: submission (STARTTLS) on {}",
        sub_listener.local_addr()?
    );
    println!(
        "listening: submission (implicit TLS) on {}",
        tls_listener.local_addr()?
    );
    let relay_listener = match args.relay {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            println!("listening: relay (port 25 style) on {}", l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    println!("messages go to {}", args.maildir.display());

    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    loop {
        let (tcp, peer, config, implicit_tls) = tokio::select! {
            r = sub_listener.accept() => match r { Ok((t, p)) => (t, p, submission.clone(), false), Err(_) => continue },
            r = tls_listener.accept() => match r { Ok((t, p)) => (t, p, implicit.clone(), true), Err(_) => continue },
            r = accept(relay_listener.as_ref()) => match r { Ok((t, p)) => (t, p, relay.clone(), false), Err(_) => continue },
            _ = tokio::signal::ctrl_c() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let shared = shared.clone();
        let stopped = stopped.clone();
        tasks.spawn(connection::serve(
            tcp,
            peer,
            config,
            implicit_tls,
            shared,
            stopped,
        ));
    }
    // Graceful shutdown: no new connections; sessions in DATA finish, the
    // others are told 421 and closed.
    println!("shutting down: {} sessions open", tasks.len());
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// Accepts on an optional listener; pending forever without one.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
