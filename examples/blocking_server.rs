//! A blocking submission server: std::net, rustls, one thread per
//! connection, questions answered by the sync `Responder` in one line. No
//! async runtime anywhere — the same `Session` as the tokio example.
//!
//! ```sh
//! cargo run --example blocking_server -- --listen 127.0.0.1:2588
//! swaks --server 127.0.0.1:2588 --tls --auth PLAIN --auth-user alice \
//!       --auth-password wonderland --from alice@example.org --to bob@example.org
//! ```
//!
//! Flags: `--listen ADDR` (127.0.0.1:2588, STARTTLS), `--implicit-tls`
//! (TLS from the first byte instead), `--maildir DIR` (./maildir-blocking),
//! `--max-connections N` (256).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::PrivateKeyDer;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use smtp_auth::authenticator::MemoryStore;
use smtp_auth::policy::SubmissionPolicy;
use smtp_auth::senders::SenderLoginMap;
use smtp_auth::{Answer, Config, Output, Profile, Question, Responder, Session, TlsInfo};

type Backend = Responder<MemoryStore, SubmissionPolicy>;

/// The socket, before or after TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Completes a server handshake on `tcp` and reports what the session needs.
fn handshake(tls: &Arc<ServerConfig>, mut tcp: TcpStream) -> io::Result<(Stream, TlsInfo)> {
    let mut conn = ServerConnection::new(tls.clone()).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    let mut info = TlsInfo::new(
        conn.protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        conn.negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default(),
    );
    let mut exporter = [0u8; 32];
    if conn
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .is_ok()
    {
        info = info.with_tls_exporter(exporter.to_vec());
    }
    Ok((Stream::Tls(Box::new(StreamOwned::new(conn, tcp))), info))
}

/// Writes a finished message into `dir/new` by way of `dir/tmp`.
fn store(dir: &Path, body: &[u8]) -> io::Result<()> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "{}.{}_{}.blocking",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join("tmp").join(&name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(tmp, dir.join("new").join(name))
}

/// One connection, start to end.
fn serve(
    tcp: TcpStream,
    peer: IpAddr,
    config: Arc<Config>,
    tls: Arc<ServerConfig>,
    implicit: bool,
    backend: &Backend,
    maildir: &Path,
) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let (mut stream, info) = if implicit {
        let (s, i) = handshake(&tls, tcp)?;
        (s, Some(i))
    } else {
        (Stream::Plain(tcp), None)
    };
    let mut session = Session::new(config, peer, info, Instant::now());
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        while let Some(output) = session.poll() {
            match output {
                Output::Send(bytes) => out.extend_from_slice(&bytes),
                Output::StartTls => {
                    stream.write_all(&out)?;
                    out.clear();
                    let Stream::Plain(tcp) = stream else {
                        return Ok(());
                    };
                    let (s, i) = handshake(&tls, tcp)?;
                    stream = s;
                    session.tls_established(i);
                }
                Output::Ask { id, question } => {
                    // The whole integration: one line.
                    let decision = backend.answer(&question, SystemTime::now());
                    for event in &decision.events {
                        eprintln!("{event:?}");
                    }
                    let mut answer = decision.answer;
                    if let (Question::Message(_), Answer::Allow) = (&question, &answer) {
                        if store(maildir, &body).is_err() {
                            answer = Answer::Reply(smtp_auth::Reply::LOCAL_ERROR);
                        }
                        body.clear();
                    }
                    if session.answer(id, answer).is_err() {
                        return Ok(());
                    }
                }
                Output::Event(event) => eprintln!("{event:?}"),
                Output::Data(chunk) => body.extend_from_slice(&chunk),
                Output::DiscardData => body.clear(),
                Output::Delay(d) => {
                    stream.write_all(&out)?;
                    out.clear();
                    std::thread::sleep(d);
                }
                Output::Close => {
                    stream.write_all(&out)?;
                    return Ok(());
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?; // one write per batch of replies
            stream.flush()?;
            out.clear();
        }
        // The socket's read timeout follows the session's deadline.
        let wait = session.timeout().map(|t| {
            t.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        stream.tcp().set_read_timeout(wait)?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => session.receive(Instant::now(), &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                session.handle_timeout(Instant::now())
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:2588".parse()?;
    let mut implicit = false;
    let mut maildir = PathBuf::from("maildir-blocking");
    let mut max_connections = 256usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--listen" => listen = args.next().ok_or("--listen ADDR")?.parse()?,
            "--implicit-tls" => implicit = true,
            "--maildir" => maildir = args.next().ok_or("--maildir DIR")?.into(),
            "--max-connections" => {
                max_connections = args.next().ok_or("--max-connections N")?.parse()?
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let tls = Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)?,
    );
    let store = MemoryStore::new()
        .user("alice", "wonderland")
        .user("bob", "builder");
    let senders = SenderLoginMap::parse("alice@example.org alice\nbob@example.org bob\n").0;
    let backend = Responder::new(
        store,
        SubmissionPolicy::builder()
            .sender_login_map(Arc::new(senders))
            .build(),
    );
    let profile = if implicit {
        Profile::ImplicitTls
    } else {
        Profile::Submission
    };
    let config = Arc::new(
        Config::builder("localhost")
            .profile(profile)
            .mechanisms(backend.mechanisms())
            .build(),
    );
    let backend = Arc::new(backend);
    let maildir = Arc::new(maildir);
    let listener = TcpListener::bind(listen)?;
    println!("demo user alice password wonderland; demo user bob password builder");
    println!(
        "listening: {} on {}",
        if implicit { "implicit TLS" } else { "STARTTLS" },
        listener.local_addr()?
    );
    let open = Arc::new(AtomicUsize::new(0));
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let Ok(peer) = tcp.peer_addr() else { continue };
        if open.load(Ordering::Relaxed) >= max_connections {
            // A thread per connection needs a ceiling.
            let _ = (&tcp).write_all(b"421 4.3.2 Too many connections, try again later\r\n");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (config, tls, backend, maildir, open) = (
            config.clone(),
            tls.clone(),
            backend.clone(),
            maildir.clone(),
            open.clone(),
        );
        std::thread::spawn(move || {
            if let Err(e) = serve(tcp, peer.ip(), config, tls, implicit, &backend, &maildir) {
                eprintln!("{peer}: {e}");
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    Ok(())
}
