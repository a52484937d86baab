//! The SMTP server state machine: bytes in, [`Output`]s out.
//!
//! A [`Session`] does no I/O and reads no clock. The driver feeds it what
//! the client sent ([`Session::receive`]), then calls [`Session::poll`]
//! until it returns `None`, acting on each [`Output`]: write bytes, start
//! TLS, answer a question, log an event, store body bytes, wait, close.

mod auth;
mod data;
mod ehlo;
mod envelope;
mod input;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::command::{self, Command};
use crate::config::Config;
use crate::error::{AnswerError, AnswerErrorKind};
use crate::event::{CloseReason, Event};
use crate::question::{Answer, Question, QuestionId};
use crate::reply::Reply;
use crate::sasl::{self, Authenticated};
use crate::tls::TlsInfo;

use self::auth::AuthExchange;
use self::data::DotDecoder;
use self::envelope::Transaction;
use self::input::{Framed, LineReader};

/// The first allocation of the reply batch buffer.
const OUT_BATCH: usize = 512;

/// How much of one [`Session::receive`] call is framed at a time.
const RECEIVE_PIECE: usize = 8 * 1024;

/// Batched replies past this size stop input processing until `poll` hands
/// them out: a pipelined flood of commands with long replies (EHLO answers
/// one 8-byte line with some 250) cannot make the output grow with the input.
const OUT_HIGH_WATER: usize = 32 * 1024;

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "every output must be acted on"]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes to the client, in one write. Replies to pipelined
    /// commands come batched in one `Send` (RFC 2920).
    Send(Bytes),
    /// Start the TLS handshake now (after writing every earlier `Send`),
    /// then call [`Session::tls_established`]. Bytes received until then
    /// are discarded (CVE-2011-0411).
    StartTls,
    /// Answer this question with [`Session::answer`]. The session waits.
    Ask {
        /// Pass it back with the answer.
        id: QuestionId,
        /// What to decide.
        question: Question,
    },
    /// Something happened: log it, count it.
    Event(Event),
    /// A piece of the message body (DATA dot-unstuffed, or BDAT chunk
    /// bytes). Append it to the message being received; the body is
    /// complete when [`Question::Message`] is asked.
    Data(Bytes),
    /// Throw away the body pieces received since the last `MAIL`: the
    /// session refused the message itself (too large, bare line endings,
    /// RSET in the middle of BDAT).
    DiscardData,
    /// Hold the next output for this long (tar-pitting after a failed
    /// authentication). The session never sleeps itself.
    Delay(Duration),
    /// Close the connection (after writing every earlier `Send`).
    Close,
}

/// What stage of the protocol the session is in.
#[derive(Debug)]
enum Phase {
    /// Reading command lines.
    Command,
    /// Inside a SASL exchange, reading the client's response line.
    Auth(Box<AuthExchange>),
    /// Reading a DATA body.
    Data(DataBody),
    /// Reading a BDAT chunk.
    Bdat(BdatChunk),
    /// STARTTLS accepted; waiting for the driver's handshake.
    Handshake,
    /// Closed: everything received is ignored.
    Closed,
}

#[derive(Debug)]
struct DataBody {
    decoder: DotDecoder,
    too_large: bool,
}

#[derive(Debug)]
struct BdatChunk {
    remaining: u64,
    last: bool,
    /// Set when the chunk is being read only to stay in sync: its bytes are
    /// thrown away and this reply goes out at its end.
    refuse: Option<Reply>,
}

/// An answer that did not fit its question, with the question's state.
type Misfit = Box<(Pending, Answer)>;

/// What an open question is for.
#[derive(Debug)]
enum Pending {
    /// The policy gate before the first credential check.
    Gate {
        exchange: Box<AuthExchange>,
        request: sasl::Request,
    },
    /// A SASL request to the credential backend.
    Credentials { exchange: Box<AuthExchange> },
    /// Recording the end of an authentication attempt.
    AuthResult(auth::Finish),
    /// Whether an unauthenticated client is trusted; then the MAIL goes on.
    Trust(Box<crate::question::MailFrom>),
    /// The sender policy.
    MailFrom(Box<Transaction>),
    /// The recipient policy.
    RcptTo(String),
    /// Storing the message.
    Message,
}

/// The state of one SMTP connection. See the [crate docs](crate) for the
/// driving loop.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    peer: IpAddr,
    phase: Phase,
    tls: Option<TlsInfo>,
    helo: Option<Helo>,
    authenticated: Option<Authenticated>,
    /// The answer to [`Question::Trust`], once asked.
    trusted: Option<bool>,
    transaction: Option<Box<Transaction>>,
    input: LineReader,
    out: BytesMut,
    queue: VecDeque<Output>,
    awaiting: Option<(QuestionId, Pending)>,
    next_question: u64,
    errors: u32,
    auth_failures: u32,
    plaintext_discarded: u64,
    now: Instant,
    deadline: Option<Instant>,
}

/// The client's HELO or EHLO.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Helo {
    name: Box<str>,
    extended: bool,
}

impl Session {
    /// Starts a session for a client at `peer`. Pass `tls` when TLS is
    /// already up (implicit TLS, port 465). The greeting is queued.
    pub fn new(config: Arc<Config>, peer: IpAddr, tls: Option<TlsInfo>, now: Instant) -> Self {
        let mut s = Session {
            config,
            peer,
            phase: Phase::Command,
            tls,
            helo: None,
            authenticated: None,
            trusted: None,
            transaction: None,
            input: LineReader::default(),
            out: BytesMut::new(),
            queue: VecDeque::new(),
            awaiting: None,
            next_question: 0,
            errors: 0,
            auth_failures: 0,
            plaintext_discarded: 0,
            now,
            deadline: None,
        };
        s.event(Event::Connected {
            peer,
            tls: s.tls.is_some(),
        });
        let config = Arc::clone(&s.config);
        s.reserve_out();
        crate::reply::encode_parts(220, None, &config.greeting, &mut s.out);
        s.send_now();
        s.arm_deadline();
        s
    }

    /// Feeds bytes read from the client, then processes what it can. Call
    /// [`poll`](Self::poll) afterwards. `now` drives the timeouts.
    ///
    /// Bytes are taken a piece at a time and processed as far as they go:
    /// until a question is asked (then at most
    /// [`Limits::buffered_input`](crate::Limits::buffered_input) waits), or
    /// until 32 KiB of replies are batched (then the rest of `data` waits
    /// for [`poll`](Self::poll) to hand them out). What one call holds is
    /// therefore bounded by the size of `data`, plus one line: read in
    /// bounded pieces (4–16 KiB) and poll after each.
    pub fn receive(&mut self, now: Instant, data: &[u8]) {
        self.now = now;
        let mut rest = data;
        // At least once, so an empty read behaves as it always did.
        loop {
            let (piece, tail) = rest.split_at(rest.len().min(RECEIVE_PIECE));
            rest = tail;
            match self.phase {
                Phase::Closed => return,
                Phase::Handshake => self.plaintext_discarded += piece.len() as u64,
                Phase::Data(_) | Phase::Bdat(_) if self.awaiting.is_none() => {
                    self.input.push(piece);
                    self.deadline = Some(now + self.config.timeouts.data_block);
                }
                _ => self.input.push(piece),
            }
            self.drive();
            // After processing, the buffer holds at most one partial line
            // (which the line limit bounds) unless the session is waiting
            // for an answer: pipelined input beyond the bound closes the
            // session.
            if self.awaiting.is_some() && self.input.buffered() > self.config.limits.buffered_input
            {
                self.withdraw_question();
                self.close(&Reply::INPUT_OVERFLOW, CloseReason::InputOverflow);
            }
            if rest.is_empty() {
                break;
            }
        }
    }

    /// The next thing to do, or `None` when the session needs more input
    /// or an answer. Call it until it returns `None` after every
    /// [`receive`](Self::receive), [`answer`](Self::answer) and
    /// [`tls_established`](Self::tls_established).
    pub fn poll(&mut self) -> Option<Output> {
        loop {
            if let Some(o) = self.queue.pop_front() {
                return Some(o);
            }
            // While a question is open, replies stay batched: the whole
            // pipelined group goes out in one Send (RFC 2920).
            if self.awaiting.is_some() {
                return None;
            }
            if self.out.len() >= OUT_HIGH_WATER {
                return Some(Output::Send(self.out.split().freeze()));
            }
            if !self.step() {
                break;
            }
        }
        if self.out.is_empty() {
            // Idle until more input or an answer: hold no buffers, so an
            // idle connection costs little more than `size_of::<Session>()`.
            if self.queue.capacity() > 0 {
                self.queue = VecDeque::new();
            }
            if self.out.capacity() > 0 {
                self.out = BytesMut::new();
            }
            None
        } else {
            Some(Output::Send(self.out.split().freeze()))
        }
    }

    /// Answers the open question `id`. A stale or unknown id, or an answer
    /// of the wrong kind, is handed back unchanged and nothing happens.
    pub fn answer(&mut self, id: QuestionId, answer: Answer) -> Result<(), AnswerError> {
        let Some((open, _)) = &self.awaiting else {
            return Err(AnswerError::new(AnswerErrorKind::NothingAsked, answer));
        };
        if *open != id {
            return Err(AnswerError::new(AnswerErrorKind::WrongId, answer));
        }
        let Some((_, pending)) = self.awaiting.take() else {
            return Err(AnswerError::new(AnswerErrorKind::NothingAsked, answer));
        };
        match self.resume(pending, answer) {
            Ok(()) => {
                self.arm_deadline();
                self.drive();
                Ok(())
            }
            Err(misfit) => {
                let (pending, answer) = *misfit;
                self.awaiting = Some((id, pending));
                Err(AnswerError::new(AnswerErrorKind::WrongKind, answer))
            }
        }
    }

    /// The TLS handshake that [`Output::StartTls`] asked for is done. The
    /// session forgets everything the client said before (RFC 3207 §4.2):
    /// no EHLO, no transaction, not authenticated.
    pub fn tls_established(&mut self, info: TlsInfo) {
        if !matches!(self.phase, Phase::Handshake) {
            return;
        }
        self.event(Event::TlsEstablished {
            peer: self.peer,
            version: info.version.clone(),
            cipher: info.cipher.clone(),
        });
        if self.plaintext_discarded > 0 {
            self.event(Event::PlaintextDiscarded {
                peer: self.peer,
                bytes: self.plaintext_discarded,
            });
        }
        self.plaintext_discarded = 0;
        self.tls = Some(info);
        self.helo = None;
        self.authenticated = None;
        self.trusted = None;
        // Body pieces already handed out (BDAT chunks before STARTTLS)
        // are void: they must not join a message sent under TLS.
        self.reset_transaction();
        self.phase = Phase::Command;
        self.arm_deadline();
    }

    /// When the driver should call [`handle_timeout`](Self::handle_timeout)
    /// if no input arrives before. `None` while waiting for an answer or
    /// after close.
    pub fn timeout(&self) -> Option<Instant> {
        if self.awaiting.is_some() || matches!(self.phase, Phase::Closed) {
            None
        } else {
            self.deadline
        }
    }

    /// Closes the session with `421 4.4.2` if its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if let Some(deadline) = self.timeout() {
            if now >= deadline {
                if matches!(self.phase, Phase::Data(_) | Phase::Bdat(_)) {
                    self.queue.push_back(Output::DiscardData);
                }
                self.close(&Reply::TIMEOUT, CloseReason::Timeout);
            }
        }
    }

    /// Closes the session now with `421 4.3.2` (server shutting down).
    /// During the TLS hand-over nothing is sent: the client expects a
    /// handshake, and a plaintext reply would land in it.
    pub fn shutdown(&mut self) {
        match self.phase {
            Phase::Closed => {}
            Phase::Handshake => self.finish(CloseReason::Shutdown),
            _ => {
                if matches!(self.phase, Phase::Data(_) | Phase::Bdat(_)) {
                    self.queue.push_back(Output::DiscardData);
                }
                self.withdraw_question();
                self.close(&Reply::SHUTTING_DOWN, CloseReason::Shutdown);
            }
        }
    }

    /// The client's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The TLS facts, when TLS is active.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Who the client authenticated as, and with which mechanism.
    pub fn authenticated(&self) -> Option<&Authenticated> {
        self.authenticated.as_ref()
    }

    /// The name the client gave in HELO or EHLO.
    pub fn helo_name(&self) -> Option<&str> {
        self.helo.as_ref().map(|h| &*h.name)
    }

    /// The `with` protocol for a `Received:` header (RFC 3848): `ESMTPSA`
    /// under TLS with AUTH, `ESMTPA`, `ESMTPS`, `ESMTP`, or `SMTP` after HELO.
    pub fn received_with(&self) -> &'static str {
        match (
            self.helo.as_ref().is_some_and(|h| h.extended),
            self.tls.is_some(),
            self.authenticated.is_some(),
        ) {
            (_, true, true) => "ESMTPSA",
            (_, false, true) => "ESMTPA",
            (true, true, false) => "ESMTPS",
            (true, false, false) => "ESMTP",
            (false, _, false) => "SMTP",
        }
    }

    /// The open question, if the session is waiting for an answer.
    pub fn awaiting(&self) -> Option<QuestionId> {
        self.awaiting.as_ref().map(|(id, _)| *id)
    }

    /// False while the driver should not read more from the client: the
    /// session waits for an answer with input already buffered, is in the
    /// TLS hand-over, or is closed. Reading anyway is safe up to
    /// [`Limits::buffered_input`](crate::Limits::buffered_input).
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Closed => false,
            Phase::Handshake => false,
            _ => self.awaiting.is_none() || self.input.buffered() == 0,
        }
    }

    /// True while a DATA or BDAT body is being received: a graceful
    /// shutdown lets such a session finish before closing it.
    pub fn is_receiving_body(&self) -> bool {
        matches!(self.phase, Phase::Data(_) | Phase::Bdat(_))
            || matches!(self.awaiting, Some((_, Pending::Message)))
    }

    /// True once the session has closed (after [`Output::Close`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Heap bytes the session holds in its buffers now (input, output and
    /// queued outputs' payloads), for memory accounting.
    pub fn buffered_bytes(&self) -> usize {
        self.input.capacity()
            + self.out.capacity()
            + self
                .queue
                .iter()
                .map(|o| match o {
                    Output::Send(b) | Output::Data(b) => b.len(),
                    _ => 0,
                })
                .sum::<usize>()
    }

    // ----- internals -----

    /// Processes input until it runs out or the session must wait.
    fn drive(&mut self) {
        while self.awaiting.is_none() && self.out.len() < OUT_HIGH_WATER && self.step() {}
    }

    /// Processes one unit of input (a line or a body piece). Returns false
    /// when there is nothing to do.
    fn step(&mut self) -> bool {
        match &mut self.phase {
            Phase::Closed | Phase::Handshake => false,
            Phase::Data(_) => self.step_data(),
            Phase::Bdat(_) => self.step_bdat(),
            Phase::Auth(_) => match self.input.next_line(self.config.limits.auth_line) {
                Framed::Incomplete => false,
                Framed::TooLong => {
                    self.auth_line_too_long();
                    true
                }
                Framed::Line(line) => {
                    self.arm_deadline();
                    self.auth_response(&line);
                    true
                }
            },
            Phase::Command => {
                let limit = self
                    .config
                    .limits
                    .auth_line
                    .max(self.config.limits.command_line + 500);
                match self.input.next_line(limit) {
                    Framed::Incomplete => false,
                    Framed::TooLong => {
                        // R4954-4.14: an AUTH line past the AUTH limit is
                        // `500 5.5.6`, any other line `500 5.5.2`.
                        let reply = if self.input.long_line_was_auth() {
                            Reply::AUTH_LINE_TOO_LONG
                        } else {
                            Reply::LINE_TOO_LONG
                        };
                        self.error(&reply);
                        self.arm_deadline();
                        true
                    }
                    Framed::Line(line) => {
                        self.arm_deadline();
                        self.command_line(&line);
                        true
                    }
                }
            }
        }
    }

    fn command_line(&mut self, line: &[u8]) {
        let limits = self.config.limits;
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                // An AUTH line may be long; others may not.
                if line.len() + 2 > limits.command_line + 500 {
                    self.error(&Reply::LINE_TOO_LONG);
                } else {
                    self.error(&e.reply());
                }
                return;
            }
        };
        let max = match command {
            Command::Auth { .. } => limits.auth_line,
            Command::Mail { .. } => limits.command_line + 500,
            _ => limits.command_line,
        };
        if line.len() + 2 > max {
            let reply = if matches!(command, Command::Auth { .. }) {
                Reply::AUTH_LINE_TOO_LONG
            } else {
                Reply::LINE_TOO_LONG
            };
            self.error(&reply);
            return;
        }
        self.dispatch(command);
    }

    fn dispatch(&mut self, command: Command<'_>) {
        let tls = self.tls.is_some();
        // RFC 3207 §4: with TLS required, only these may come first.
        if self.config.require_tls
            && !tls
            && !matches!(
                command,
                Command::Ehlo { .. }
                    | Command::Helo { .. }
                    | Command::Noop
                    | Command::Rset
                    | Command::StartTls
                    | Command::Quit
            )
        {
            self.error(&Reply::STARTTLS_FIRST);
            return;
        }
        match command {
            Command::Ehlo { domain } => self.hello(domain, true),
            Command::Helo { domain } => self.hello(domain, false),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth_command(mechanism, initial_response),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.reply(&Reply::RESET_OK);
            }
            Command::Noop => self.reply(&Reply::OK),
            Command::Quit => {
                self.reply(&Reply::BYE);
                self.finish(CloseReason::Quit);
            }
            Command::Vrfy { .. } => {
                if self.needs_auth() {
                    self.error(&Reply::AUTH_REQUIRED);
                } else {
                    self.reply(&Reply::VRFY_REFUSED);
                }
            }
            Command::Expn { .. } => {
                if self.needs_auth() {
                    self.error(&Reply::AUTH_REQUIRED);
                } else {
                    self.error(&Reply::EXPN_REFUSED);
                }
            }
            Command::Help { .. } => self.reply(&Reply::HELP),
        }
    }

    fn hello(&mut self, domain: &str, extended: bool) {
        // RFC 5321 §4.1.4: a new EHLO resets like RSET; AUTH state stays.
        self.reset_transaction();
        self.helo = Some(Helo {
            name: domain.into(),
            extended,
        });
        if extended {
            self.write_ehlo(domain);
        } else {
            let text = format!("{} greets {}", self.config.hostname, domain);
            self.reply(&Reply::new(250, None, text));
        }
    }

    fn starttls(&mut self) {
        if self.tls.is_some() {
            self.error(&Reply::TLS_ALREADY_ACTIVE);
            return;
        }
        if !self.config.starttls {
            self.error(&Reply::STARTTLS_UNAVAILABLE);
            return;
        }
        self.reply(&Reply::STARTTLS_READY);
        // CVE-2011-0411: nothing the client sent after STARTTLS counts.
        self.plaintext_discarded = self.input.clear() as u64;
        self.send_now();
        self.queue.push_back(Output::StartTls);
        self.phase = Phase::Handshake;
        self.deadline = None;
    }

    /// True when this listener requires AUTH and the client has neither
    /// authenticated nor been trusted.
    fn needs_auth(&self) -> bool {
        self.config.profile.requires_auth()
            && self.authenticated.is_none()
            && self.trusted != Some(true)
    }

    /// Drops the open question when the session closes under it, and its
    /// `Ask` if the driver has not polled it yet: a question is never
    /// handed out that can no longer be answered.
    fn withdraw_question(&mut self) {
        if let Some((id, _)) = self.awaiting.take() {
            self.queue
                .retain(|o| !matches!(o, Output::Ask { id: open, .. } if *open == id));
        }
    }

    fn ask(&mut self, question: Question, pending: Pending) {
        let id = QuestionId(self.next_question);
        self.next_question += 1;
        self.queue.push_back(Output::Ask { id, question });
        self.awaiting = Some((id, pending));
    }

    fn resume(&mut self, pending: Pending, answer: Answer) -> Result<(), Misfit> {
        match pending {
            Pending::Gate { exchange, request } => self.resume_gate(exchange, request, answer),
            Pending::Credentials { exchange } => self.resume_credentials(exchange, answer),
            Pending::AuthResult(finish) => self.resume_auth_result(finish, answer),
            Pending::Trust(mail) => self.resume_trust(mail, answer),
            Pending::MailFrom(tx) => self.resume_mail(tx, answer),
            Pending::RcptTo(recipient) => self.resume_rcpt(recipient, answer),
            Pending::Message => self.resume_message(answer),
        }
    }

    fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    /// Queues a reply in the current batch.
    fn reply(&mut self, reply: &Reply) {
        self.reserve_out();
        reply.encode_into(&mut self.out);
    }

    /// One allocation for a batch of replies (an EHLO reply, a pipelined
    /// group) instead of a chain of small regrowths.
    fn reserve_out(&mut self) {
        if self.out.capacity() == 0 {
            self.out.reserve(OUT_BATCH);
        }
    }

    /// Queues an error reply and counts it; too many close the session.
    fn error(&mut self, reply: &Reply) {
        self.errors += 1;
        if self.errors >= self.config.limits.errors {
            self.close(&Reply::TOO_MANY_ERRORS, CloseReason::TooManyErrors);
        } else {
            self.reply(reply);
        }
    }

    /// Moves the batched replies into the output queue now, so that what
    /// is queued next (StartTls, Data, Delay, Close) comes after them: the
    /// reply to a command that changes the connection (STARTTLS, DATA,
    /// BDAT, an AUTH challenge, QUIT) is out before anything that follows
    /// it (RFC 2920 §3.1).
    fn send_now(&mut self) {
        if !self.out.is_empty() {
            self.queue
                .push_back(Output::Send(self.out.split().freeze()));
        }
    }

    /// Sends `reply`, then closes.
    fn close(&mut self, reply: &Reply, reason: CloseReason) {
        self.reply(reply);
        self.finish(reason);
    }

    /// Sends what is batched, then closes.
    fn finish(&mut self, reason: CloseReason) {
        self.send_now();
        self.event(Event::Closed {
            peer: self.peer,
            reason,
        });
        self.queue.push_back(Output::Close);
        self.phase = Phase::Closed;
        self.input.clear();
        self.deadline = None;
    }

    /// Sets the deadline for the next line in the current phase.
    fn arm_deadline(&mut self) {
        let t = &self.config.timeouts;
        self.deadline = match self.phase {
            Phase::Command => Some(self.now + t.command),
            Phase::Auth(_) => Some(self.now + t.auth_response),
            Phase::Data(_) | Phase::Bdat(_) => Some(self.now + t.data_block),
            Phase::Handshake | Phase::Closed => None,
        };
    }
}
