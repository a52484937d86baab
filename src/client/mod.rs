//! The client end of submission, sans-IO: the mirror image of
//! [`Session`](crate::Session).
//!
//! A [`Client`] reads the server's bytes ([`Client::receive`]) and says
//! what to do next ([`Client::poll`]): bytes to write, a TLS handshake to
//! start, events to report (each reply, the capability list, the outcome of
//! AUTH and of each message), or that it is done or has failed. It never
//! touches a socket or a clock.
//!
//! It walks greeting → EHLO → STARTTLS → EHLO → AUTH → messages → QUIT:
//!
//! * **TLS**: [`TlsMode`] chooses implicit TLS (port 465), required
//!   STARTTLS (the default), opportunistic STARTTLS, or none. A server that
//!   advertises STARTTLS and then refuses it is not talked to any further in
//!   plaintext (the downgrade a man in the middle would cause), and bytes that
//!   arrive between the `220` and the handshake end the connection (STARTTLS
//!   response injection, the client half of CVE-2011-0411).
//! * **AUTH**: the strongest advertised mechanism the credentials fit
//!   ([`Credentials::best_mechanism`](crate::sasl::Credentials::best_mechanism)),
//!   or the one asked for; a mechanism that reveals the password or token is
//!   never used without TLS unless
//!   [`ClientConfig::allow_plaintext_auth`] says so. SCRAM's server
//!   signature must verify before a `235` is believed.
//! * **Messages**: `MAIL`/`RCPT`/`DATA`, pipelined when the server offers
//!   `PIPELINING` (RFC 2920), with CRLF normalisation and dot-stuffing.
//! * Every reply that does not fit the step it answers is an [`Error`]
//!   naming that step.
//!
//! ```
//! use smtp_auth::client::{Client, ClientConfig, ClientEvent, ClientOutput, TlsMode};
//! use smtp_auth::sasl::{Credentials, Mechanism};
//! use smtp_auth::TlsInfo;
//!
//! let tls = TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256");
//! let config = ClientConfig::new("client.example")
//!     .tls(TlsMode::Implicit(tls))
//!     .credentials(Credentials::password("alice", "wonderland"));
//! let mut client = Client::new(config);
//!
//! let mut written = Vec::new();
//! let mut authenticated = None;
//! for server in [
//!     &b"220 mx.example.org ESMTP\r\n"[..],
//!     b"250-mx.example.org\r\n250 AUTH PLAIN LOGIN\r\n",
//!     b"235 2.7.0 Authentication successful\r\n",
//! ] {
//!     client.receive(server);
//!     while let Some(output) = client.poll() {
//!         match output {
//!             ClientOutput::Send(bytes) => written.extend_from_slice(&bytes),
//!             ClientOutput::Event(ClientEvent::Authenticated { mechanism, .. }) => {
//!                 authenticated = Some(mechanism)
//!             }
//!             ClientOutput::Ready => client.quit(),
//!             ClientOutput::Error(e) => panic!("{e}"),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(authenticated, Some(Mechanism::Plain));
//! assert_eq!(
//!     written,
//!     b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nQUIT\r\n"
//! );
//! ```

mod body;
mod capabilities;
mod message;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::random::{Entropy, OsEntropy};
use crate::reply::{ParsedReply, ReplyParseError};
use crate::sasl::{self, encoding, ClientContext, ClientExchange, Credentials, Mechanism};
use crate::tls::TlsInfo;

pub use body::{encode_body, DotStuffer};
pub use capabilities::Capabilities;
pub use message::{Message, MessageError};

/// The longest reply the client buffers, in octets: a multi-line EHLO
/// reply or a long `334` challenge fits many times over; a server that
/// sends more without completing a reply is refused
/// ([`Error::ReplyTooLong`]).
pub const MAX_REPLY: usize = 64 * 1024;

/// How the connection gets TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMode {
    /// TLS is already up before the greeting (port 465, RFC 8314). The
    /// facts include channel binding (for the SCRAM `-PLUS` mechanisms) and
    /// whether a client certificate was presented (for EXTERNAL).
    Implicit(TlsInfo),
    /// STARTTLS is required (RFC 3207, port 587): a server that does not
    /// offer it is an error. The default.
    StartTls,
    /// STARTTLS when offered, plaintext otherwise
    /// ([`ClientEvent::TlsNotOffered`]). Passwords still need TLS unless
    /// [`ClientConfig::allow_plaintext_auth`] is set. A server that offers
    /// STARTTLS and then refuses it is an error even here.
    StartTlsIfOffered,
    /// No TLS (tests over loopback, or a channel secured otherwise).
    Plaintext,
}

/// What one client connection should do. Unlike the server's shared
/// [`Config`](crate::Config) it holds this connection's credentials.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    ehlo_name: String,
    tls: TlsMode,
    credentials: Option<Credentials>,
    mechanism: Option<Mechanism>,
    allow_plaintext_auth: bool,
    pipelining: bool,
    login_initial_response: bool,
    server_host: Option<String>,
    server_port: Option<u16>,
    entropy: Arc<dyn Entropy>,
}

impl ClientConfig {
    /// A configuration that says `EHLO ehlo_name` (a domain or an address
    /// literal such as `[192.0.2.1]`; characters that cannot appear in one
    /// are dropped, and an empty name becomes `localhost`), requires
    /// STARTTLS and does not authenticate.
    pub fn new(ehlo_name: impl Into<String>) -> Self {
        let name: String = ehlo_name
            .into()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
            .take(255)
            .collect();
        Self {
            ehlo_name: if name.is_empty() {
                "localhost".to_owned()
            } else {
                name
            },
            tls: TlsMode::StartTls,
            credentials: None,
            mechanism: None,
            allow_plaintext_auth: false,
            pipelining: true,
            login_initial_response: true,
            server_host: None,
            server_port: None,
            entropy: Arc::new(OsEntropy),
        }
    }

    /// Sets how TLS is reached.
    #[must_use]
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    /// Authenticate with these credentials after EHLO (after STARTTLS when
    /// there is one).
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Use this mechanism and no other (the default picks the strongest
    /// advertised one the credentials fit). Plain SCRAM asked for while the
    /// server also offers its `-PLUS` variant declines channel binding
    /// (GS2 flag `n`, RFC 5802 §6).
    #[must_use]
    pub fn mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Allows mechanisms that reveal the password or token (PLAIN, LOGIN,
    /// XOAUTH2, OAUTHBEARER) without TLS. Off by default, and off it should
    /// stay but for a loopback test server.
    #[must_use]
    pub fn allow_plaintext_auth(mut self, on: bool) -> Self {
        self.allow_plaintext_auth = on;
        self
    }

    /// Whether to pipeline `MAIL`, `RCPT` and `DATA` when the server
    /// offers `PIPELINING` (on by default).
    #[must_use]
    pub fn pipelining(mut self, on: bool) -> Self {
        self.pipelining = on;
        self
    }

    /// Whether LOGIN sends the user name with the AUTH command (on by
    /// default, as most clients do) or waits for the `Username:` prompt.
    #[must_use]
    pub fn login_initial_response(mut self, on: bool) -> Self {
        self.login_initial_response = on;
        self
    }

    /// The server's host name and port, which OAUTHBEARER sends
    /// (RFC 7628 §3.1).
    #[must_use]
    pub fn server(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server_host = Some(host.into());
        self.server_port = Some(port);
        self
    }

    /// Replaces the source of SCRAM client nonces (the OS by default).
    #[must_use]
    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }
}

/// A step of the conversation: what a reply answers, and where an
/// [`Error`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// The server's `220` greeting.
    Greeting,
    /// The first EHLO.
    Ehlo,
    /// The STARTTLS command and the handshake that follows.
    StartTls,
    /// The EHLO after STARTTLS (RFC 3207 §4.2).
    EhloAfterTls,
    /// The AUTH exchange with this mechanism.
    Auth(Mechanism),
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO`.
    Rcpt,
    /// The `DATA` command.
    Data,
    /// The message content and its final `.`.
    Message,
    /// `QUIT`.
    Quit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Greeting => f.write_str("the greeting"),
            Step::Ehlo => f.write_str("EHLO"),
            Step::StartTls => f.write_str("STARTTLS"),
            Step::EhloAfterTls => f.write_str("EHLO after STARTTLS"),
            Step::Auth(m) => write!(f, "AUTH {m}"),
            Step::Mail => f.write_str("MAIL FROM"),
            Step::Rcpt => f.write_str("RCPT TO"),
            Step::Data => f.write_str("DATA"),
            Step::Message => f.write_str("the end of the message"),
            Step::Quit => f.write_str("QUIT"),
        }
    }
}

/// Why the client stopped. Never carries a password or a token; reply
/// texts are the server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered a step with a failure (`4xx`, `5xx`).
    #[error("the server refused {step}: {reply}")]
    Rejected {
        /// The step refused.
        step: Step,
        /// The server's reply.
        reply: ParsedReply,
    },
    /// A reply code that does not fit the step (e.g. `334` to `MAIL`).
    #[error("unexpected reply to {step}: {reply}")]
    UnexpectedReply {
        /// The step answered.
        step: Step,
        /// The server's reply.
        reply: ParsedReply,
    },
    /// The server sent a reply while the client had asked nothing.
    #[error("reply without a command: {reply}")]
    Unsolicited {
        /// The server's reply.
        reply: ParsedReply,
    },
    /// Bytes that are not an SMTP reply.
    #[error("malformed reply to {step}")]
    MalformedReply {
        /// The step answered.
        step: Step,
    },
    /// A reply longer than [`MAX_REPLY`].
    #[error("the reply to {step} is longer than {MAX_REPLY} octets")]
    ReplyTooLong {
        /// The step answered.
        step: Step,
    },
    /// The server closed the connection.
    #[error("the connection closed {}", match step { Some(s) => format!("during {s}"), None => "while idle".to_owned() })]
    ConnectionClosed {
        /// The step under way, `None` when the client was idle.
        step: Option<Step>,
    },
    /// [`TlsMode::StartTls`] and the server does not offer STARTTLS.
    #[error("the server does not offer STARTTLS")]
    StartTlsNotOffered,
    /// The server offered STARTTLS, then refused it: going on in plaintext
    /// is what a downgrade attack wants.
    #[error("the server offered STARTTLS but refused it: {reply}")]
    StartTlsRefused {
        /// The server's reply.
        reply: ParsedReply,
    },
    /// Bytes arrived after the STARTTLS `220` and before the handshake: a
    /// response injection (the client half of CVE-2011-0411).
    #[error("the server sent plaintext after its STARTTLS reply")]
    StartTlsInjection,
    /// The server does not advertise AUTH at all.
    #[error("the server does not offer AUTH{}", if *tls { " (under TLS)" } else { " (without TLS)" })]
    AuthNotOffered {
        /// Whether TLS was up.
        tls: bool,
    },
    /// The mechanism would reveal the password or token, and there is no
    /// TLS.
    #[error("{mechanism} would reveal the credentials without TLS")]
    EncryptionRequired {
        /// The mechanism that was offered or asked for.
        mechanism: Mechanism,
    },
    /// The mechanism asked for is not advertised.
    #[error("the server does not offer {mechanism}; it offers {}", list(offered))]
    MechanismNotOffered {
        /// The mechanism asked for.
        mechanism: Mechanism,
        /// What the server advertises.
        offered: Vec<String>,
    },
    /// No advertised mechanism fits the credentials.
    #[error(
        "no advertised mechanism fits the credentials; the server offers {}",
        list(offered)
    )]
    NoCommonMechanism {
        /// What the server advertises.
        offered: Vec<String>,
    },
    /// The SASL exchange failed on the client side (bad challenge, SCRAM
    /// signature mismatch, credentials the mechanism cannot carry).
    #[error("{mechanism}: {error}")]
    Sasl {
        /// The mechanism.
        mechanism: Mechanism,
        /// What went wrong.
        error: sasl::ClientError,
    },
    /// The server said `235` before proving it knows the credentials
    /// (SCRAM) or before the client had said everything.
    #[error("the server accepted {mechanism} without completing the exchange")]
    ServerNotVerified {
        /// The mechanism.
        mechanism: Mechanism,
    },
    /// The envelope has non-ASCII addresses and the server lacks
    /// `SMTPUTF8` (RFC 6531).
    #[error("the server does not offer SMTPUTF8, which the addresses need")]
    SmtpUtf8Unsupported,
    /// The message has 8-bit content and the server lacks `8BITMIME`.
    #[error("the server does not offer 8BITMIME, which the message needs")]
    EightBitUnsupported,
    /// The message is larger than the server's `SIZE`.
    #[error("the message ({size} octets) exceeds the server's SIZE {limit}")]
    MessageTooLarge {
        /// The message size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(" ")
    }
}

/// Something the embedder should know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's reply to a step (every reply, `334` challenges
    /// included), for logs and reports.
    Replied {
        /// What the reply answers.
        step: Step,
        /// The reply.
        reply: ParsedReply,
    },
    /// The capabilities from an EHLO reply.
    Capabilities {
        /// Whether TLS was up when they were read.
        tls: bool,
        /// The capabilities.
        capabilities: Capabilities,
    },
    /// [`TlsMode::StartTlsIfOffered`] and no STARTTLS: going on in plaintext.
    TlsNotOffered,
    /// AUTH succeeded.
    Authenticated {
        /// The mechanism used.
        mechanism: Mechanism,
        /// True when the server proved it knows the credentials (SCRAM).
        server_verified: bool,
    },
    /// A recipient was refused; the message goes to the others.
    RecipientRefused {
        /// The recipient.
        recipient: String,
        /// The server's reply.
        reply: ParsedReply,
    },
    /// The server took the message.
    MessageSent {
        /// Its `250` reply (often with a queue id).
        reply: ParsedReply,
    },
}

/// What the driver must do next.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "every output must be acted on"]
#[non_exhaustive]
pub enum ClientOutput {
    /// Write these bytes to the server.
    Send(Bytes),
    /// Write every earlier `Send`, do the TLS handshake, then call
    /// [`Client::tls_established`].
    StartTls,
    /// Something happened.
    Event(ClientEvent),
    /// The client is idle: greeted, TLS as configured, authenticated if it
    /// had credentials, every queued message done. Queue a message with
    /// [`Client::send`] or end with [`Client::quit`].
    Ready,
    /// The server answered QUIT (or closed after it): close the connection.
    Done,
    /// The conversation failed: write every earlier `Send` (a polite
    /// `QUIT` or `*` when the server is still listening), then close.
    Error(Error),
}

/// `Send` shows its length only: client bytes carry credentials.
impl fmt::Debug for ClientOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientOutput::Send(b) => write!(f, "Send(<{} bytes>)", b.len()),
            ClientOutput::StartTls => f.write_str("StartTls"),
            ClientOutput::Event(e) => f.debug_tuple("Event").field(e).finish(),
            ClientOutput::Ready => f.write_str("Ready"),
            ClientOutput::Done => f.write_str("Done"),
            ClientOutput::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

#[derive(Debug)]
enum State {
    Greeting,
    Ehlo,
    StartTls,
    Handshake,
    Auth(Box<AuthState>),
    Ready,
    Transaction(Box<Transaction>),
    Quit,
    Closed,
}

#[derive(Debug)]
struct AuthState {
    exchange: ClientExchange,
    /// The client sent `*`; this is reported once the server answers.
    cancelled: Option<Error>,
}

#[derive(Debug)]
struct Transaction {
    message: Message,
    expect: VecDeque<Expect>,
    pipelined: bool,
    accepted: usize,
    last_refusal: Option<ParsedReply>,
    failure: Option<Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Mail,
    Rcpt(usize),
    Data,
    Body,
}

#[derive(Debug)]
enum Job {
    Message(Box<Message>),
    Quit,
}

/// How to leave the server when failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// The server waits for a command: say QUIT.
    Quit,
    /// Out of step, or the server is closing: just close.
    Close,
}

/// One submission client connection. See the [module docs](self).
pub struct Client {
    config: ClientConfig,
    state: State,
    tls: Option<TlsInfo>,
    after_starttls: bool,
    capabilities: Option<Capabilities>,
    authenticated: Option<Mechanism>,
    input: Vec<u8>,
    out: Vec<u8>,
    queue: VecDeque<ClientOutput>,
    jobs: VecDeque<Job>,
    quitting: bool,
}

/// Shows the state, never the buffers (they carry credentials).
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("step", &self.step())
            .field("tls", &self.tls.is_some())
            .field("authenticated", &self.authenticated)
            .field("queued_jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that waits for the server's greeting.
    pub fn new(config: ClientConfig) -> Self {
        let tls = match &config.tls {
            TlsMode::Implicit(info) => Some(info.clone()),
            _ => None,
        };
        Self {
            config,
            state: State::Greeting,
            tls,
            after_starttls: false,
            capabilities: None,
            authenticated: None,
            input: Vec::new(),
            out: Vec::new(),
            queue: VecDeque::new(),
            jobs: VecDeque::new(),
            quitting: false,
        }
    }

    /// Feeds bytes read from the server, then processes every complete
    /// reply. Call [`poll`](Self::poll) afterwards.
    pub fn receive(&mut self, data: &[u8]) {
        match self.state {
            State::Closed => return,
            State::Handshake if !data.is_empty() => {
                self.fail(Error::StartTlsInjection, Leave::Close);
                return;
            }
            _ => {}
        }
        self.input.extend_from_slice(data);
        loop {
            match self.state {
                State::Closed => {
                    self.input.clear();
                    return;
                }
                State::Handshake => {
                    if !self.input.is_empty() {
                        self.fail(Error::StartTlsInjection, Leave::Close);
                    }
                    return;
                }
                _ => {}
            }
            match ParsedReply::parse(&self.input) {
                Ok((reply, used)) => {
                    self.input.drain(..used);
                    self.on_reply(reply);
                }
                Err(ReplyParseError::Incomplete) => {
                    if self.input.len() > MAX_REPLY {
                        let step = self.step().unwrap_or(Step::Quit);
                        self.fail(Error::ReplyTooLong { step }, Leave::Close);
                    }
                    return;
                }
                Err(_) => {
                    let step = self.step().unwrap_or(Step::Quit);
                    self.fail(Error::MalformedReply { step }, Leave::Close);
                    return;
                }
            }
        }
    }

    /// The next thing to do, or `None` when the client waits for the
    /// server (or for [`send`](Self::send) / [`quit`](Self::quit) after
    /// [`ClientOutput::Ready`]). Call it until `None` after every
    /// `receive`, `tls_established`, `send`, `quit` and `connection_closed`.
    pub fn poll(&mut self) -> Option<ClientOutput> {
        if let Some(o) = self.queue.pop_front() {
            return Some(o);
        }
        if self.out.is_empty() {
            None
        } else {
            Some(ClientOutput::Send(Bytes::from(std::mem::take(
                &mut self.out,
            ))))
        }
    }

    /// The handshake that [`ClientOutput::StartTls`] asked for is done.
    /// The client forgets the capabilities it read in plaintext and says
    /// EHLO again (RFC 3207 §4.2). Ignored at any other time.
    pub fn tls_established(&mut self, info: TlsInfo) {
        if !matches!(self.state, State::Handshake) {
            return;
        }
        self.tls = Some(info);
        self.after_starttls = true;
        self.capabilities = None;
        self.ehlo();
    }

    /// The server closed the connection (the socket read returned 0).
    pub fn connection_closed(&mut self) {
        match self.state {
            State::Closed => {}
            State::Quit => {
                self.state = State::Closed;
                self.push(ClientOutput::Done);
            }
            _ => {
                let step = self.step();
                self.fail(Error::ConnectionClosed { step }, Leave::Close);
            }
        }
    }

    /// Queues a message; it is sent once the client is ready (at once if
    /// it is idle). Handed back when the client has closed or QUIT was
    /// queued.
    pub fn send(&mut self, message: Message) -> Result<(), Message> {
        if self.quitting || matches!(self.state, State::Closed) {
            return Err(message);
        }
        self.jobs.push_back(Job::Message(Box::new(message)));
        if matches!(self.state, State::Ready) {
            self.next_job();
        }
        Ok(())
    }

    /// Queues QUIT after any queued messages. The client then emits
    /// [`ClientOutput::Done`] when the server answers.
    pub fn quit(&mut self) {
        if self.quitting || matches!(self.state, State::Closed) {
            return;
        }
        self.quitting = true;
        self.jobs.push_back(Job::Quit);
        if matches!(self.state, State::Ready) {
            self.next_job();
        }
    }

    /// The step whose reply the client waits for; `None` when idle or
    /// closed.
    pub fn step(&self) -> Option<Step> {
        Some(match &self.state {
            State::Greeting => Step::Greeting,
            State::Ehlo if self.after_starttls => Step::EhloAfterTls,
            State::Ehlo => Step::Ehlo,
            State::StartTls | State::Handshake => Step::StartTls,
            State::Auth(a) => Step::Auth(a.exchange.mechanism()),
            State::Transaction(tx) => match tx.expect.front() {
                Some(Expect::Mail) => Step::Mail,
                Some(Expect::Rcpt(_)) => Step::Rcpt,
                Some(Expect::Data) => Step::Data,
                Some(Expect::Body) | None => Step::Message,
            },
            State::Quit => Step::Quit,
            State::Ready | State::Closed => return None,
        })
    }

    /// The capabilities of the last EHLO reply (after STARTTLS, the new
    /// ones).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// The TLS facts, when TLS is up.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The mechanism the client authenticated with.
    pub fn authenticated(&self) -> Option<Mechanism> {
        self.authenticated
    }

    /// True once the client has finished ([`ClientOutput::Done`] or
    /// [`ClientOutput::Error`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    // ----- internals -----

    fn push(&mut self, output: ClientOutput) {
        if !self.out.is_empty() {
            let bytes = Bytes::from(std::mem::take(&mut self.out));
            self.queue.push_back(ClientOutput::Send(bytes));
        }
        self.queue.push_back(output);
    }

    fn event(&mut self, event: ClientEvent) {
        self.push(ClientOutput::Event(event));
    }

    fn write_line(&mut self, parts: &[&[u8]]) {
        for p in parts {
            self.out.extend_from_slice(p);
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn fail(&mut self, error: Error, leave: Leave) {
        if leave == Leave::Quit {
            self.out.extend_from_slice(b"QUIT\r\n");
        }
        self.push(ClientOutput::Error(error));
        self.state = State::Closed;
        self.input.clear();
        self.jobs.clear();
    }

    /// A failure reply ends the step; any other code does not fit it.
    fn refused(step: Step, reply: ParsedReply) -> Error {
        if reply.code >= 400 {
            Error::Rejected { step, reply }
        } else {
            Error::UnexpectedReply { step, reply }
        }
    }

    fn on_reply(&mut self, reply: ParsedReply) {
        let Some(step) = self.step() else {
            self.fail(Error::Unsolicited { reply }, Leave::Close);
            return;
        };
        self.event(ClientEvent::Replied {
            step,
            reply: reply.clone(),
        });
        // 421: the server is closing the connection, whatever the step.
        if reply.code == 421 && step != Step::Quit {
            self.fail(Error::Rejected { step, reply }, Leave::Close);
            return;
        }
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Greeting => {
                if reply.code == 220 {
                    self.ehlo();
                } else {
                    let leave = if reply.code >= 400 {
                        Leave::Quit
                    } else {
                        Leave::Close
                    };
                    self.fail(Self::refused(step, reply), leave);
                }
            }
            State::Ehlo => {
                if reply.code == 250 {
                    let capabilities = Capabilities::from_ehlo(&reply);
                    self.event(ClientEvent::Capabilities {
                        tls: self.tls.is_some(),
                        capabilities: capabilities.clone(),
                    });
                    self.capabilities = Some(capabilities);
                    self.after_ehlo();
                } else {
                    self.fail(Self::refused(step, reply), Leave::Quit);
                }
            }
            State::StartTls => {
                if reply.code == 220 && !self.input.is_empty() {
                    // More bytes in the same read: they would be taken as
                    // coming over TLS (response injection).
                    self.fail(Error::StartTlsInjection, Leave::Close);
                } else if reply.code == 220 {
                    self.state = State::Handshake;
                    self.push(ClientOutput::StartTls);
                } else if reply.code >= 400 {
                    self.fail(Error::StartTlsRefused { reply }, Leave::Quit);
                } else {
                    self.fail(Self::refused(step, reply), Leave::Close);
                }
            }
            State::Auth(auth) => self.auth_reply(auth, step, reply),
            State::Transaction(tx) => self.transaction_reply(tx, reply),
            State::Quit => {
                self.state = State::Closed;
                if reply.code == 221 || reply.is_completion() {
                    self.push(ClientOutput::Done);
                } else {
                    self.fail(Self::refused(step, reply), Leave::Close);
                }
            }
            State::Handshake | State::Ready | State::Closed => {
                self.fail(Error::Unsolicited { reply }, Leave::Close);
            }
        }
    }

    fn ehlo(&mut self) {
        let name = std::mem::take(&mut self.config.ehlo_name);
        self.write_line(&[b"EHLO ", name.as_bytes()]);
        self.config.ehlo_name = name;
        self.state = State::Ehlo;
    }

    fn after_ehlo(&mut self) {
        let starttls = self.capabilities.as_ref().is_some_and(|c| c.starttls);
        if self.tls.is_none() {
            match self.config.tls {
                TlsMode::StartTls | TlsMode::StartTlsIfOffered if starttls => {
                    self.write_line(&[b"STARTTLS"]);
                    self.state = State::StartTls;
                    return;
                }
                TlsMode::StartTls => {
                    self.fail(Error::StartTlsNotOffered, Leave::Quit);
                    return;
                }
                TlsMode::StartTlsIfOffered => self.event(ClientEvent::TlsNotOffered),
                TlsMode::Plaintext | TlsMode::Implicit(_) => {}
            }
        }
        if self.config.credentials.is_some() {
            self.start_auth();
        } else {
            self.next_job();
        }
    }

    /// Picks the mechanism: the one asked for, or the strongest that the
    /// server offers, the credentials fit and the channel allows.
    fn choose_mechanism(
        &self,
        credentials: &Credentials,
        ctx: &ClientContext<'_>,
    ) -> Result<Mechanism, Error> {
        let tls = self.tls.is_some();
        let caps = self.capabilities.as_ref();
        let advertised = caps.map(|c| c.auth.clone()).unwrap_or_default();
        if advertised.is_empty() {
            return Err(Error::AuthNotOffered { tls });
        }
        let allowed = |m: Mechanism| tls || !m.reveals_secret() || self.config.allow_plaintext_auth;
        let offered = caps.map(Capabilities::mechanisms).unwrap_or_default();
        if let Some(m) = self.config.mechanism {
            if !offered.contains(&m) {
                return Err(Error::MechanismNotOffered {
                    mechanism: m,
                    offered: advertised,
                });
            }
            if !allowed(m) {
                return Err(Error::EncryptionRequired { mechanism: m });
            }
            return Ok(m);
        }
        let usable: Vec<Mechanism> = offered.iter().copied().filter(|&m| allowed(m)).collect();
        if let Some(m) = credentials.best_mechanism(&usable, ctx) {
            return Ok(m);
        }
        // Would one fit with TLS? Then that is the problem to report.
        match credentials.best_mechanism(&offered, ctx) {
            Some(m) if !allowed(m) => Err(Error::EncryptionRequired { mechanism: m }),
            _ => Err(Error::NoCommonMechanism {
                offered: advertised,
            }),
        }
    }

    fn start_auth(&mut self) {
        let Some(credentials) = self.config.credentials.clone() else {
            self.next_job();
            return;
        };
        let tls = self.tls.as_ref();
        let ctx = ClientContext {
            entropy: &*self.config.entropy,
            channel_binding: tls.and_then(|t| t.channel_binding.as_ref()),
            host: self.config.server_host.as_deref(),
            port: self.config.server_port,
        };
        let mechanism = match self.choose_mechanism(&credentials, &ctx) {
            Ok(m) => m,
            Err(e) => {
                self.fail(e, Leave::Quit);
                return;
            }
        };
        // RFC 5802 §6: a SCRAM client that could bind but uses the plain
        // variant says `y` ("you do not seem to offer -PLUS"), and a server
        // that does offer it must then fail (downgrade detection). When the
        // -PLUS variant is advertised and the plain one was asked for by
        // name, the client declines binding with `n` instead.
        let ctx = if self.plus_variant_offered(mechanism) {
            ClientContext {
                channel_binding: None,
                ..ctx
            }
        } else {
            ctx
        };
        let exchange = match ClientExchange::new(mechanism, credentials, &ctx) {
            Ok(x) => x.login_initial_response(self.config.login_initial_response),
            Err(error) => {
                self.fail(Error::Sasl { mechanism, error }, Leave::Quit);
                return;
            }
        };
        let mut exchange = exchange;
        match exchange.initial_response() {
            Some(ir) if ir.is_empty() => {
                self.write_line(&[b"AUTH ", mechanism.name().as_bytes(), b" ="]);
            }
            Some(ir) => {
                let b64 = encoding::encode(&ir);
                self.write_line(&[b"AUTH ", mechanism.name().as_bytes(), b" ", b64.as_bytes()]);
            }
            None => self.write_line(&[b"AUTH ", mechanism.name().as_bytes()]),
        }
        self.state = State::Auth(Box::new(AuthState {
            exchange,
            cancelled: None,
        }));
    }

    /// True for SCRAM without channel binding when the server advertises
    /// the same SCRAM with it (`-PLUS`).
    fn plus_variant_offered(&self, mechanism: Mechanism) -> bool {
        let plus = match mechanism {
            Mechanism::ScramSha1 => Mechanism::ScramSha1Plus,
            Mechanism::ScramSha256 => Mechanism::ScramSha256Plus,
            _ => return false,
        };
        self.capabilities
            .as_ref()
            .is_some_and(|c| c.mechanisms().contains(&plus))
    }

    fn auth_reply(&mut self, mut auth: Box<AuthState>, step: Step, reply: ParsedReply) {
        let mechanism = auth.exchange.mechanism();
        if let Some(error) = auth.cancelled.take() {
            // The server's answer to `*`: in step again, so say QUIT.
            self.fail(error, Leave::Quit);
            return;
        }
        match reply.code {
            235 => {
                if !auth.exchange.is_complete() {
                    self.fail(Error::ServerNotVerified { mechanism }, Leave::Quit);
                    return;
                }
                self.authenticated = Some(mechanism);
                self.event(ClientEvent::Authenticated {
                    mechanism,
                    server_verified: auth.exchange.server_verified(),
                });
                self.next_job();
            }
            334 => {
                let text = reply.lines.concat();
                let response = encoding::decode(text.trim_end().as_bytes())
                    .map_err(|_| sasl::ClientError::MalformedChallenge)
                    .and_then(|challenge| auth.exchange.respond(&challenge));
                match response {
                    Ok(response) => {
                        let b64 = if response.is_empty() {
                            String::new()
                        } else {
                            encoding::encode(&response)
                        };
                        self.write_line(&[b64.as_bytes()]);
                    }
                    Err(sasl::ClientError::ServerError { .. }) => {
                        // SCRAM's `e=` (RFC 5802 §7): answer with an empty
                        // response; the server then sends its failure reply,
                        // which is the error reported.
                        self.write_line(&[]);
                    }
                    Err(error) => {
                        // RFC 4954 §4: `*` cancels; the server answers 501.
                        self.write_line(&[b"*"]);
                        auth.cancelled = Some(Error::Sasl { mechanism, error });
                    }
                }
                self.state = State::Auth(auth);
            }
            _ => self.fail(Self::refused(step, reply), Leave::Quit),
        }
    }

    fn next_job(&mut self) {
        match self.jobs.pop_front() {
            Some(Job::Message(m)) => self.start_transaction(*m),
            Some(Job::Quit) => {
                self.write_line(&[b"QUIT"]);
                self.state = State::Quit;
            }
            None => {
                self.state = State::Ready;
                self.push(ClientOutput::Ready);
            }
        }
    }

    fn start_transaction(&mut self, message: Message) {
        let caps = self.capabilities.clone().unwrap_or_default();
        if message.utf8_addresses && !caps.smtputf8 {
            self.fail(Error::SmtpUtf8Unsupported, Leave::Quit);
            return;
        }
        if message.eight_bit && !caps.eight_bit_mime && !caps.smtputf8 {
            self.fail(Error::EightBitUnsupported, Leave::Quit);
            return;
        }
        if let Some(limit) = caps.size.filter(|&l| l > 0) {
            if message.size > limit {
                self.fail(
                    Error::MessageTooLarge {
                        size: message.size,
                        limit,
                    },
                    Leave::Quit,
                );
                return;
            }
        }
        let mut mail = format!("MAIL FROM:<{}>", message.from);
        if caps.size.is_some() {
            mail.push_str(&format!(" SIZE={}", message.size));
        }
        if message.eight_bit && caps.eight_bit_mime {
            mail.push_str(" BODY=8BITMIME");
        }
        if message.utf8_addresses {
            mail.push_str(" SMTPUTF8");
        }
        self.write_line(&[mail.as_bytes()]);
        let pipelined = self.config.pipelining && caps.pipelining;
        let mut expect = VecDeque::from([Expect::Mail]);
        if pipelined {
            for (i, rcpt) in message.to.iter().enumerate() {
                self.write_line(&[b"RCPT TO:<", rcpt.as_bytes(), b">"]);
                expect.push_back(Expect::Rcpt(i));
            }
            self.write_line(&[b"DATA"]);
            expect.push_back(Expect::Data);
        }
        self.state = State::Transaction(Box::new(Transaction {
            message,
            expect,
            pipelined,
            accepted: 0,
            last_refusal: None,
            failure: None,
        }));
    }

    fn transaction_reply(&mut self, mut tx: Box<Transaction>, reply: ParsedReply) {
        let Some(expect) = tx.expect.pop_front() else {
            self.fail(Error::Unsolicited { reply }, Leave::Close);
            return;
        };
        let positive = reply.is_completion();
        let unexpected = |step, reply| Error::UnexpectedReply { step, reply };
        match expect {
            Expect::Mail => {
                if positive {
                    if !tx.pipelined {
                        self.rcpt(&mut tx, 0);
                    }
                } else if reply.code >= 400 {
                    tx.failure = Some(Error::Rejected {
                        step: Step::Mail,
                        reply,
                    });
                } else {
                    self.fail(unexpected(Step::Mail, reply), Leave::Close);
                    return;
                }
            }
            Expect::Rcpt(i) => {
                if positive {
                    tx.accepted += 1;
                } else if reply.code >= 400 {
                    if tx.failure.is_none() {
                        let recipient = tx.message.to.get(i).cloned().unwrap_or_default();
                        self.event(ClientEvent::RecipientRefused {
                            recipient,
                            reply: reply.clone(),
                        });
                    }
                    tx.last_refusal = Some(reply);
                } else {
                    self.fail(unexpected(Step::Rcpt, reply), Leave::Close);
                    return;
                }
                if !tx.pipelined && tx.failure.is_none() {
                    if i + 1 < tx.message.to.len() {
                        self.rcpt(&mut tx, i + 1);
                    } else if tx.accepted > 0 {
                        self.write_line(&[b"DATA"]);
                        tx.expect.push_back(Expect::Data);
                    }
                }
                if tx.failure.is_none() && tx.expect.is_empty() && tx.accepted == 0 {
                    tx.failure = tx.last_refusal.take().map(|reply| Error::Rejected {
                        step: Step::Rcpt,
                        reply,
                    });
                }
            }
            Expect::Data => {
                // With pipelining the refusals came first; the root cause is
                // the sender or the recipients, not DATA.
                if tx.failure.is_none() && tx.accepted == 0 {
                    tx.failure = tx.last_refusal.take().map(|reply| Error::Rejected {
                        step: Step::Rcpt,
                        reply,
                    });
                }
                if reply.code == 354 {
                    if tx.failure.is_some() {
                        // RFC 2920 §3.1: DATA accepted with no valid
                        // recipient; end the empty message at once.
                        self.write_line(&[b"."]);
                    } else {
                        let wire = std::mem::take(&mut tx.message.wire);
                        self.out.extend_from_slice(&wire);
                    }
                    tx.expect.push_back(Expect::Body);
                } else if reply.code >= 400 {
                    if tx.failure.is_none() {
                        tx.failure = Some(Error::Rejected {
                            step: Step::Data,
                            reply,
                        });
                    }
                } else {
                    self.fail(unexpected(Step::Data, reply), Leave::Close);
                    return;
                }
            }
            Expect::Body => {
                if tx.failure.is_none() {
                    if positive {
                        self.event(ClientEvent::MessageSent { reply });
                    } else if reply.code >= 400 {
                        tx.failure = Some(Error::Rejected {
                            step: Step::Message,
                            reply,
                        });
                    } else {
                        self.fail(unexpected(Step::Message, reply), Leave::Close);
                        return;
                    }
                }
            }
        }
        if !tx.expect.is_empty() {
            self.state = State::Transaction(tx);
            return;
        }
        match tx.failure.take() {
            Some(error) => self.fail(error, Leave::Quit),
            None => self.next_job(),
        }
    }

    fn rcpt(&mut self, tx: &mut Transaction, i: usize) {
        if let Some(rcpt) = tx.message.to.get(i) {
            let rcpt = rcpt.clone();
            self.write_line(&[b"RCPT TO:<", rcpt.as_bytes(), b">"]);
            tx.expect.push_back(Expect::Rcpt(i));
        }
    }
}
