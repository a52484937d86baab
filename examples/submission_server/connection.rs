//! One connection: the receive / poll / answer loop over tokio and rustls.
//! Replies are written once per batch (with TCP_NODELAY set, so nothing
//! waits for Nagle), reads stop while the session does not want input, and
//! every deadline comes from `Session::timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use smtp_auth::{Answer, Config, Output, Question, Reply, Session};

use crate::backend::Backend;
use crate::log::event_line;
use crate::maildir::{received_header, Delivery, Maildir};
use crate::tls;

/// What every connection shares.
pub struct Shared {
    pub acceptor: TlsAcceptor,
    pub backend: Backend,
    pub maildir: Maildir,
    pub hostname: String,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Gone => Ok(0),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Gone => Ok(()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
            Stream::Gone => Ok(()),
        };
    }
}

/// Serves one client until it quits, times out, vanishes or the server
/// shuts down.
pub async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    implicit_tls: bool,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let (mut stream, tls) = if implicit_tls {
        match tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(tcp)).await {
            Ok(Ok(s)) => {
                let info = tls::info(s.get_ref().1);
                (Stream::Tls(Box::new(s)), Some(info))
            }
            _ => return,
        }
    } else {
        (Stream::Plain(tcp), None)
    };
    let mut session = Session::new(config, peer.ip(), tls, Instant::now());
    let mut conn = Connection {
        shared,
        out: Vec::with_capacity(1024),
        delivery: None,
        id: 0,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let mut draining = false;
    loop {
        if !conn.run_outputs(&mut session, &mut stream).await {
            break;
        }
        if draining && !session.is_receiving_body() {
            session.shutdown();
            continue;
        }
        let deadline = session.timeout().map(tokio::time::Instant::from_std);
        let read = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, stream.read(&mut buf)).await.ok(),
                None => Some(stream.read(&mut buf).await),
            }
        };
        tokio::select! {
            r = read => match r {
                Some(Ok(0)) | Some(Err(_)) => break, // the client vanished
                Some(Ok(n)) => session.receive(Instant::now(), &buf[..n]),
                None => session.handle_timeout(Instant::now()),
            },
            _ = shutdown.changed(), if !draining => draining = true,
        }
    }
    // Whatever was not committed is not delivered.
    if let Some(d) = conn.delivery.take() {
        conn.shared.maildir.abort(d);
    }
    stream.shutdown().await;
}

struct Connection {
    shared: Arc<Shared>,
    out: Vec<u8>,
    delivery: Option<Delivery>,
    id: u64,
}

impl Connection {
    /// Acts on every pending output; false once the connection must end.
    async fn run_outputs(&mut self, session: &mut Session, stream: &mut Stream) -> bool {
        while let Some(output) = session.poll() {
            match output {
                Output::Send(bytes) => self.out.extend_from_slice(&bytes),
                Output::StartTls => {
                    if !self.flush(stream).await {
                        return false;
                    }
                    let Stream::Plain(tcp) = std::mem::replace(stream, Stream::Gone) else {
                        return false;
                    };
                    let accept = self.shared.acceptor.accept(tcp);
                    match tokio::time::timeout(self.shared.handshake_timeout, accept).await {
                        Ok(Ok(tls)) => {
                            let info = tls::info(tls.get_ref().1);
                            *stream = Stream::Tls(Box::new(tls));
                            session.tls_established(info);
                        }
                        _ => return false,
                    }
                }
                Output::Ask { id, question } => {
                    let answer = self.decide(session, question).await;
                    if session.answer(id, answer).is_err() {
                        return false;
                    }
                }
                Output::Event(event @ smtp_auth::Event::AuthFailed { .. }) => {
                    tracing::warn!("{}", event_line(&event))
                }
                Output::Event(event) => tracing::info!("{}", event_line(&event)),
                Output::Data(chunk) if !self.body(session, &chunk) => return false,
                Output::Data(_) => {}
                Output::DiscardData => {
                    if let Some(d) = self.delivery.take() {
                        self.shared.maildir.abort(d);
                    }
                }
                Output::Delay(delay) => {
                    if !self.flush(stream).await {
                        return false;
                    }
                    tokio::time::sleep(delay).await;
                }
                Output::Close => {
                    self.flush(stream).await;
                    return false;
                }
                _ => {}
            }
        }
        self.flush(stream).await
    }

    /// Writes the batched replies in one write.
    async fn flush(&mut self, stream: &mut Stream) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let write = stream.write_all(&self.out);
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(60), write).await,
            Ok(Ok(()))
        );
        self.out.clear();
        ok
    }

    fn begin(&mut self, session: &Session) -> std::io::Result<Delivery> {
        self.id += 1;
        let header = received_header(
            session.helo_name().unwrap_or("unknown"),
            session.peer(),
            session.authenticated().map(|a| a.identity.as_str()),
            &self.shared.hostname,
            session.received_with(),
            &format!("{:x}{:x}", std::process::id(), self.id),
        );
        self.shared.maildir.begin(&header)
    }

    fn body(&mut self, session: &Session, chunk: &[u8]) -> bool {
        if self.delivery.is_none() {
            match self.begin(session) {
                Ok(d) => self.delivery = Some(d),
                Err(e) => {
                    tracing::error!("maildir: {e}");
                    return false;
                }
            }
        }
        match self.delivery.as_mut().map(|d| d.write(chunk)) {
            Some(Err(e)) => {
                tracing::error!("maildir: {e}");
                false
            }
            _ => true,
        }
    }

    async fn decide(&mut self, session: &Session, question: Question) -> Answer {
        let decision = if matches!(question, Question::Credentials { .. }) {
            // Password hashes are slow on purpose: keep them off the
            // runtime's worker threads.
            let shared = self.shared.clone();
            let q = question.clone();
            match tokio::task::spawn_blocking(move || shared.backend.answer(&q)).await {
                Ok(d) => d,
                Err(_) => {
                    return Answer::Sasl(smtp_auth::sasl::Resolution::Verdict(
                        smtp_auth::sasl::Verdict::Unavailable,
                    ))
                }
            }
        } else {
            self.shared.backend.answer_async(&question).await
        };
        for event in &decision.events {
            tracing::info!("{}", event_line(event));
        }
        let answer = decision.answer;
        let Question::Message(_) = question else {
            return answer;
        };
        // The policy said yes: store the message, and only then say 250.
        if !matches!(answer, Answer::Allow) {
            if let Some(d) = self.delivery.take() {
                self.shared.maildir.abort(d);
            }
            return answer;
        }
        let delivery = match self.delivery.take() {
            Some(d) => Ok(d),
            None => self.begin(session), // an empty body (BDAT 0 LAST)
        };
        match delivery.and_then(|d| self.shared.maildir.commit(d)) {
            Ok(_) => Answer::Allow,
            Err(e) => {
                tracing::error!("maildir: {e}");
                Answer::Reply(Reply::LOCAL_ERROR)
            }
        }
    }
}
