//! Driving a whole [`Session`] from fuzzer input, and the invariants every
//! run must keep.
//!
//! Input layout (derived with `arbitrary`): a [`Setup`], a script of
//! [`Action`]s, then the rest of the input is the client's byte stream. An
//! all-zero prefix means "default submission listener, every question
//! answered by the responder, STARTTLS completed at once, the stream fed
//! line by line", so a golden transcript's client bytes behind a few zero
//! bytes are a meaningful seed.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use smtp_auth::random::FixedEntropy;
use smtp_auth::reply::ParsedReply;
use smtp_auth::sasl::{Lookup, Mechanism, Resolution, TokenError, TokenVerdict, Verdict};
use smtp_auth::{
    Answer, BareLineEndings, Config, EnhancedCode, Event, Limits, Output, Profile, Question,
    QuestionId, Reply, Session, TlsInfo,
};

use crate::responder;

/// The peer every session sees.
pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

/// The listener.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileChoice {
    /// Port 587.
    Submission,
    /// Port 465.
    ImplicitTls,
    /// Port 25, AUTH off.
    Relay,
    /// Port 25 with AUTH on.
    RelayWithAuth,
}

/// How the listener is configured and the driver behaves.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Setup {
    /// The profile.
    pub profile: ProfileChoice,
    /// Bit 0: plaintext auth; 1: require TLS; 2: bare line endings pass;
    /// 3: small limits; 4: STARTTLS completed only by a script action;
    /// 5: every mechanism; 6: TLS with channel binding and a client
    /// certificate; 7: a buffered-input limit below the AUTH line limit.
    pub flags: u8,
}

impl Setup {
    fn flag(&self, bit: u8) -> bool {
        self.flags & (1 << bit) != 0
    }

    /// Whether the limits are the small fuzzing ones.
    pub fn small_limits(&self) -> bool {
        self.flag(3)
    }

    /// The configuration this setup describes (fresh entropy each time, so
    /// two runs of one setup see the same nonces).
    pub fn config(&self) -> Config {
        let mut b = Config::builder("mx.example.org")
            .entropy(Arc::new(FixedEntropy::new(42, 1_700_000_000)))
            .fake_salt_key([7; 32]);
        b = match self.profile {
            ProfileChoice::Submission => b.profile(Profile::Submission),
            ProfileChoice::ImplicitTls => b.profile(Profile::ImplicitTls),
            ProfileChoice::Relay => b.profile(Profile::Relay),
            ProfileChoice::RelayWithAuth => b.profile(Profile::Relay).auth_enabled(true),
        };
        if self.flag(0) {
            b = b.allow_plaintext_auth(true);
        }
        if self.flag(1) {
            b = b.require_tls(true);
        }
        if self.flag(2) {
            b = b.bare_line_endings(BareLineEndings::Pass);
        }
        if self.flag(3) || self.flag(7) {
            let mut l = Limits::default();
            if self.flag(3) {
                l.command_line = 128;
                l.auth_line = 256;
                l.recipients = 3;
                l.message_size = 200;
                l.errors = 6;
                l.buffered_input = 2048;
            }
            if self.flag(7) {
                l.buffered_input = l.auth_line / 2;
            }
            b = b.limits(l);
        }
        if self.flag(5) {
            b = b.mechanisms(Mechanism::ALL);
        }
        b.build()
    }

    /// The TLS facts the driver reports.
    pub fn tls_info(&self) -> TlsInfo {
        let t = TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256");
        if self.flag(6) {
            t.with_tls_exporter(vec![0x5a; 32])
                .with_client_certificate("alice")
        } else {
            t
        }
    }

    /// Whether the session starts under TLS.
    pub fn implicit_tls(&self) -> bool {
        self.profile == ProfileChoice::ImplicitTls
    }

    /// Whether STARTTLS waits for a script action.
    pub fn manual_tls(&self) -> bool {
        self.flag(4)
    }

    /// The largest input the session may buffer while a question is open.
    pub fn buffered_input(&self) -> usize {
        self.config().limits().buffered_input
    }
}

/// An answer the script gives instead of the responder's.
#[derive(Arbitrary, Debug, Clone)]
pub enum AnswerChoice {
    /// What the responder would say.
    Responder,
    /// `Allow`.
    Allow,
    /// A reply of the embedder's choosing.
    Reply {
        /// Any code, even a nonsensical one.
        code: u16,
        /// With an enhanced code?
        enhanced: Option<(u8, u16, u16)>,
        /// Any text, even with line breaks and control characters.
        text: String,
    },
    /// `Recorded` with this delay in milliseconds.
    Recorded(u16),
    /// A password verdict.
    Verdict(u8),
    /// A CRAM-MD5 secret lookup.
    Cram(u8, String),
    /// A SCRAM lookup.
    Scram(u8),
    /// A token verdict.
    Token(u8, String),
    /// An EXTERNAL identity lookup.
    Identity(u8, String),
}

fn verdict(v: u8) -> Verdict {
    match v % 4 {
        0 => Verdict::Valid,
        1 => Verdict::Invalid,
        2 => Verdict::Disabled,
        _ => Verdict::Unavailable,
    }
}

fn lookup<T>(v: u8, found: impl FnOnce() -> T) -> Lookup<T> {
    match v % 3 {
        0 => Lookup::Found(found()),
        1 => Lookup::NotFound,
        _ => Lookup::Unavailable,
    }
}

impl AnswerChoice {
    /// The answer for `question` (which may be `None` when nothing is open).
    pub fn answer(&self, question: Option<&Question>) -> Answer {
        match self {
            AnswerChoice::Responder => match question {
                Some(q) => responder::respond(q),
                None => Answer::Allow,
            },
            AnswerChoice::Allow => Answer::Allow,
            AnswerChoice::Reply {
                code,
                enhanced,
                text,
            } => Answer::Reply(Reply::new(
                *code,
                enhanced.map(|(c, s, d)| EnhancedCode::new(c, s, d)),
                text.clone(),
            )),
            AnswerChoice::Recorded(ms) => Answer::Recorded {
                delay: Duration::from_millis(u64::from(*ms)),
            },
            AnswerChoice::Verdict(v) => Answer::Sasl(Resolution::Verdict(verdict(*v))),
            AnswerChoice::Cram(v, pw) => {
                Answer::Sasl(Resolution::CramMd5Secret(lookup(*v, || {
                    smtp_auth::sasl::CramMd5Secret::from_password(pw)
                })))
            }
            AnswerChoice::Scram(v) => {
                let creds = smtp_auth::sasl::ScramCredentials::derive(
                    smtp_auth::sasl::ScramHash::Sha256,
                    "wonderland",
                    responder::SCRAM_SALT,
                    1,
                )
                .expect("valid parameters");
                Answer::Sasl(Resolution::ScramCredentials(lookup(*v, || creds)))
            }
            AnswerChoice::Token(v, identity) => Answer::Sasl(Resolution::Token(match v % 4 {
                0 => TokenVerdict::Valid {
                    identity: identity.clone(),
                },
                1 => TokenVerdict::Invalid {
                    status: TokenError::InvalidToken,
                    scope: Some(identity.clone()),
                },
                2 => TokenVerdict::Invalid {
                    status: TokenError::InsufficientScope,
                    scope: None,
                },
                _ => TokenVerdict::Unavailable,
            })),
            AnswerChoice::Identity(v, identity) => {
                Answer::Sasl(Resolution::Identity(lookup(*v, || identity.clone())))
            }
        }
    }
}

/// One step of the script.
#[derive(Arbitrary, Debug, Clone)]
pub enum Action {
    /// Feed the next `n` lines (at least one), one `receive` each.
    Lines(u8),
    /// Feed the next `n` bytes in one `receive`.
    Bytes(u16),
    /// Stop answering questions automatically (`true`) or resume.
    Hold(bool),
    /// Answer the open question (or, if none, try to) with this.
    Answer(AnswerChoice),
    /// Answer with an id seen earlier (stale or current).
    OldId(u8),
    /// Report a TLS handshake now, asked for or not.
    Tls,
    /// Let this many seconds pass, then handle timeouts.
    Wait(u16),
    /// Shut the server down.
    Shutdown,
}

/// The whole input of the `session` target.
#[derive(Debug)]
pub struct SessionInput<'a> {
    /// Listener and driver behaviour.
    pub setup: Setup,
    /// What to do before the rest of the stream is fed line by line.
    pub script: Vec<Action>,
    /// The client's bytes: the rest of the input, verbatim.
    pub stream: &'a [u8],
}

impl<'a> SessionInput<'a> {
    /// Reads the setup and script with `arbitrary`; the rest is the stream.
    pub fn from_bytes(data: &'a [u8]) -> Self {
        let mut u = Unstructured::new(data);
        let setup = Setup::arbitrary(&mut u).unwrap_or(Setup {
            profile: ProfileChoice::Submission,
            flags: 0,
        });
        let script = Vec::<Action>::arbitrary(&mut u).unwrap_or_default();
        SessionInput {
            setup,
            script,
            stream: u.take_rest(),
        }
    }
}

/// A session output with the split-dependent parts (how replies and body
/// bytes were cut into `Send` and `Data`) taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Norm {
    /// An event, by its `Debug` form.
    Event(String),
    /// A question, by its `Debug` form.
    Ask(String),
    /// `StartTls`.
    StartTls,
    /// Body bytes (consecutive `Data` outputs joined).
    Data(Vec<u8>),
    /// `DiscardData`.
    Discard,
    /// `Delay`.
    Delay(Duration),
    /// `Close`.
    Close,
}

/// A driven session and what it produced, with invariant checks on every
/// output.
pub struct Driver {
    /// The session.
    pub session: Session,
    /// The setup it runs with.
    pub setup: Setup,
    config: Arc<Config>,
    now: Instant,
    /// Every `Send`, concatenated.
    pub sent: Vec<u8>,
    /// Everything else, normalised.
    pub norm: Vec<Norm>,
    /// Questions are answered by the responder as they come.
    pub auto_answer: bool,
    /// Only the responder answered so far (no scripted answer).
    pub honest: bool,
    open: Option<(QuestionId, Question)>,
    seen_ids: Vec<QuestionId>,
    /// `StartTls` was output and no handshake was reported since.
    pub handshake_pending: bool,
    /// `Close` was output.
    pub closed: bool,
    auth_successes: u32,
    body: Vec<u8>,
    max_chunk: usize,
    /// The largest `buffered_bytes()` seen.
    pub peak_buffered: usize,
}

impl Driver {
    /// Starts a session for `setup`.
    pub fn new(setup: Setup) -> Self {
        let config = Arc::new(setup.config());
        let now = Instant::now();
        let tls = setup.implicit_tls().then(|| setup.tls_info());
        let session = Session::new(config.clone(), PEER, tls, now);
        let mut d = Driver {
            session,
            setup,
            config,
            now,
            sent: Vec::new(),
            norm: Vec::new(),
            auto_answer: true,
            honest: true,
            open: None,
            seen_ids: Vec::new(),
            handshake_pending: false,
            closed: false,
            auth_successes: 0,
            body: Vec::new(),
            max_chunk: 0,
            peak_buffered: 0,
        };
        d.pump();
        d
    }

    /// The heap the session may hold, from its limits and the largest
    /// chunk fed: the line or pipelining buffer, the chunk just received,
    /// and the replies and body pieces that chunk can produce before the
    /// driver polls (a reply is never more than 64 times the input that
    /// caused it, and the EHLO reply is the largest single one).
    pub fn memory_bound(&self) -> usize {
        let l = self.config.limits();
        let line = l.auth_line.max(l.command_line + 500);
        2 * (line + l.buffered_input) + 64 * self.max_chunk + 64 * 1024
    }

    /// Feeds one chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.max_chunk = self.max_chunk.max(bytes.len());
        self.session.receive(self.now, bytes);
        self.pump();
    }

    /// Reports the TLS handshake.
    pub fn tls(&mut self) {
        let was_pending = self.handshake_pending;
        self.session.tls_established(self.setup.tls_info());
        self.handshake_pending = false;
        if was_pending && !self.closed {
            // RFC 3207 §4.2: everything from before the handshake is gone.
            assert!(self.session.helo_name().is_none(), "EHLO survived STARTTLS");
            assert!(
                self.session.authenticated().is_none(),
                "AUTH survived STARTTLS"
            );
            assert!(self.session.tls().is_some());
            self.auth_successes = 0;
        }
        self.pump();
    }

    /// Polls until the session has nothing more, checking each output.
    pub fn pump(&mut self) {
        let mut budget = 1_000_000u32;
        while let Some(o) = self.session.poll() {
            budget = budget.checked_sub(1).expect("poll never ends");
            self.output(o);
        }
        let buffered = self.session.buffered_bytes();
        self.peak_buffered = self.peak_buffered.max(buffered);
        assert!(
            buffered <= self.memory_bound(),
            "session holds {buffered} bytes, bound {}",
            self.memory_bound()
        );
        if self.closed {
            assert!(self.session.is_closed());
            assert!(self.session.awaiting().is_none());
            assert!(!self.session.wants_read());
        }
    }

    fn output(&mut self, o: Output) {
        assert!(!self.closed, "output after Close: {o:?}");
        match o {
            Output::Send(bytes) => {
                // ATK-01: nothing is answered between STARTTLS and the handshake.
                assert!(
                    !self.handshake_pending,
                    "reply sent during the TLS hand-over: {:?}",
                    String::from_utf8_lossy(&bytes)
                );
                check_replies(&bytes);
                self.sent.extend_from_slice(&bytes);
            }
            Output::StartTls => {
                assert!(!self.handshake_pending);
                assert!(self.session.tls().is_none(), "STARTTLS under TLS");
                self.norm.push(Norm::StartTls);
                self.handshake_pending = true;
                if !self.setup.manual_tls() {
                    self.tls();
                }
            }
            Output::Ask { id, question } => {
                assert!(self.open.is_none(), "two questions open");
                assert_eq!(self.session.awaiting(), Some(id));
                self.norm.push(Norm::Ask(format!("{question:?}")));
                if let Question::Message(info) = &question {
                    self.check_message(info.size, info.chunked);
                }
                self.seen_ids.push(id);
                if self.auto_answer {
                    let answer = responder::respond(&question);
                    self.session
                        .answer(id, answer)
                        .expect("the responder's answer fits");
                } else {
                    self.open = Some((id, question));
                }
            }
            Output::Event(e) => {
                if let Event::AuthSucceeded { identity, .. } = &e {
                    self.auth_successes += 1;
                    // R4954-4.2: one successful AUTH per session (per TLS epoch).
                    assert_eq!(self.auth_successes, 1, "second successful AUTH");
                    assert_eq!(
                        self.session.authenticated().map(|a| a.identity.as_str()),
                        Some(identity.as_str())
                    );
                    if self.honest {
                        assert!(
                            responder::password(identity).is_some(),
                            "{identity:?} authenticated with only honest answers"
                        );
                    }
                }
                self.norm.push(Norm::Event(format!("{e:?}")));
            }
            Output::Data(bytes) => {
                assert!(!bytes.is_empty(), "empty Data output");
                self.body.extend_from_slice(&bytes);
                match self.norm.last_mut() {
                    Some(Norm::Data(d)) => d.extend_from_slice(&bytes),
                    _ => self.norm.push(Norm::Data(bytes.to_vec())),
                }
            }
            Output::DiscardData => {
                self.body.clear();
                self.norm.push(Norm::Discard);
            }
            Output::Delay(d) => self.norm.push(Norm::Delay(d)),
            Output::Close => {
                self.closed = true;
                // A close (input overflow, shutdown) drops the open question.
                self.open = None;
                self.norm.push(Norm::Close);
            }
            other => panic!("unknown output {other:?}"),
        }
    }

    /// A complete message: its size is what was handed out, and a DATA
    /// body with bare line endings refused has none (ATK-03; BDAT bodies
    /// are binary and carry any octets).
    fn check_message(&mut self, size: u64, chunked: bool) {
        let body = std::mem::take(&mut self.body);
        assert_eq!(
            size,
            body.len() as u64,
            "message size differs from its Data"
        );
        if self.config_bare_reject() && !chunked {
            let mut prev = 0u8;
            for (i, &b) in body.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(prev, b'\r', "bare LF in an accepted body");
                }
                if prev == b'\r' {
                    assert_eq!(b, b'\n', "bare CR in an accepted body");
                }
                prev = b;
                let _ = i;
            }
            assert_ne!(prev, b'\r', "body ends in a bare CR");
        }
    }

    fn config_bare_reject(&self) -> bool {
        self.setup.flags & (1 << 2) == 0
    }

    /// Runs one scripted action; `stream` is what is left of the input.
    pub fn act(&mut self, action: &Action, stream: &mut &[u8]) {
        match action {
            Action::Lines(n) => {
                for _ in 0..(*n).max(1) {
                    if stream.is_empty() {
                        break;
                    }
                    let line = next_line(stream);
                    self.feed(line);
                }
            }
            Action::Bytes(n) => {
                let limit = (self.setup.buffered_input() / 2).max(1);
                let n = usize::from(*n).min(stream.len()).min(limit);
                let (chunk, rest) = stream.split_at(n);
                *stream = rest;
                self.feed(chunk);
            }
            Action::Hold(on) => {
                self.auto_answer = !*on;
                if self.auto_answer {
                    if let Some((id, q)) = self.open.take() {
                        let a = responder::respond(&q);
                        self.session
                            .answer(id, a)
                            .expect("the responder's answer fits");
                        self.pump();
                    }
                }
            }
            Action::Answer(choice) => {
                if !matches!(choice, AnswerChoice::Responder) {
                    self.honest = false;
                }
                match self.open.take() {
                    Some((id, q)) => {
                        let answer = choice.answer(Some(&q));
                        if let Err(e) = self.session.answer(id, answer) {
                            // A misfit leaves the question open and the
                            // answer handed back.
                            assert_eq!(self.session.awaiting(), Some(id));
                            let _ = e.into_answer();
                            self.open = Some((id, q));
                        }
                        self.pump();
                    }
                    None => {
                        if let Some(&id) = self.seen_ids.last() {
                            let r = self.session.answer(id, choice.answer(None));
                            assert!(r.is_err(), "an answer with nothing asked was taken");
                        }
                    }
                }
            }
            Action::OldId(k) => {
                if self.seen_ids.is_empty() {
                    return;
                }
                let id = self.seen_ids[usize::from(*k) % self.seen_ids.len()];
                let current = self.open.as_ref().map(|(i, _)| *i);
                if Some(id) != current {
                    let r = self.session.answer(id, Answer::Allow);
                    assert!(r.is_err(), "a stale id was taken");
                    assert_eq!(self.session.awaiting(), current);
                }
            }
            Action::Tls => self.tls(),
            Action::Wait(s) => {
                self.now += Duration::from_secs(u64::from(*s));
                self.session.handle_timeout(self.now);
                self.pump();
            }
            Action::Shutdown => {
                self.session.shutdown();
                self.open = None;
                self.pump();
                assert!(self.session.is_closed());
            }
        }
    }

    /// Feeds whatever is left, line by line, answering as the responder.
    pub fn finish(&mut self, mut stream: &[u8]) {
        if let Some((id, q)) = self.open.take() {
            let a = responder::respond(&q);
            let _ = self.session.answer(id, a);
        }
        self.auto_answer = true;
        self.pump();
        if self.handshake_pending {
            self.tls();
        }
        while !stream.is_empty() {
            let line = next_line(&mut stream);
            self.feed(line);
            if self.handshake_pending {
                self.tls();
            }
        }
    }
}

/// Takes the next line (through CRLF, or everything) off `stream`.
pub fn next_line<'a>(stream: &mut &'a [u8]) -> &'a [u8] {
    let end = stream
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(stream.len(), |p| p + 2);
    let (line, rest) = stream.split_at(end);
    *stream = rest;
    line
}

/// Every `Send` is a run of complete, well-formed replies (RFC 5321 §4.2),
/// no line but a `334` challenge longer than 512 octets (§4.5.3.1.5).
pub fn check_replies(mut bytes: &[u8]) {
    assert!(!bytes.is_empty(), "empty Send");
    while !bytes.is_empty() {
        let (reply, used) = match ParsedReply::parse(bytes) {
            Ok(r) => r,
            Err(e) => panic!("malformed reply {e}: {:?}", String::from_utf8_lossy(bytes)),
        };
        for line in bytes[..used].split_inclusive(|&b| b == b'\n') {
            assert!(line.ends_with(b"\r\n"));
            assert!(
                !line[..line.len() - 2].contains(&b'\r')
                    && !line[..line.len() - 2].contains(&b'\n'),
                "bare line ending inside a reply line"
            );
            if reply.code != 334 {
                assert!(line.len() <= 512, "reply line of {} octets", line.len());
            }
        }
        bytes = &bytes[used..];
    }
}

/// Runs a whole `session` input.
pub fn run(input: &SessionInput) -> Driver {
    let mut d = Driver::new(input.setup);
    let mut stream: &[u8] = input.stream;
    for action in input.script.iter().take(256) {
        d.act(action, &mut stream);
    }
    d.finish(stream);
    d
}

/// Input of the `session_chunks` target: one stream fed twice, line by line
/// and in the chunks given, which must produce the same outputs (up to the
/// first STARTTLS, whose discard depends on the chunking by design).
#[derive(Debug)]
pub struct ChunksInput<'a> {
    /// Listener.
    pub setup: Setup,
    /// Chunk sizes, used in turn (0 means 1).
    pub chunks: Vec<u16>,
    /// The client's bytes: the rest of the input, verbatim.
    pub stream: &'a [u8],
}

impl<'a> ChunksInput<'a> {
    /// Reads the setup and chunk sizes with `arbitrary`; the rest is the stream.
    pub fn from_bytes(data: &'a [u8]) -> Self {
        let mut u = Unstructured::new(data);
        let setup = Setup::arbitrary(&mut u).unwrap_or(Setup {
            profile: ProfileChoice::Submission,
            flags: 0,
        });
        let chunks = Vec::<u16>::arbitrary(&mut u).unwrap_or_default();
        ChunksInput {
            setup,
            chunks,
            stream: u.take_rest(),
        }
    }
}

/// What a run produced, for comparison.
#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Every reply byte.
    pub sent: Vec<u8>,
    /// The other outputs.
    pub norm: Vec<Norm>,
}

/// Feeds `stream` cut at `cuts` (chunk lengths, cycled) and stops at the
/// first STARTTLS.
pub fn run_chunked(
    setup: Setup,
    stream: &[u8],
    cuts: &mut dyn FnMut(&[u8]) -> usize,
) -> Transcript {
    let mut setup = setup;
    // STARTTLS is where the comparison stops; never wait for a script.
    setup.flags &= !(1 << 4);
    let mut d = Driver::new(setup);
    d.setup.flags |= 1 << 4; // do not complete the handshake
    let mut rest = stream;
    while !rest.is_empty() && !d.handshake_pending && !d.closed {
        let n = cuts(rest).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        d.feed(chunk);
    }
    Transcript {
        sent: d.sent,
        norm: d.norm,
    }
}
