//! Test support: a session driver answering questions with the crate's own
//! [`Responder`], a test clock, and an ordered log of everything that
//! happened.
//!
//! Two answerers: [`fixture`] (the default of [`Driver::new`] and
//! [`Driver::with_tls`]) gives the session tests fixed, easy-to-read policy
//! answers (user `locked` is locked, user `down` finds the backend down,
//! `spoof@…` senders are refused, everything else is allowed); [`responder`]
//! (used by [`Driver::submission`]) is the real [`SubmissionPolicy`].
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_auth::policy::SubmissionPolicyBuilder;
use smtp_auth::question::{AuthAttempt, MailFrom};
use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{Lookup, Mechanism, ScramHash, TokenVerdict, Verdict};
use smtp_auth::{
    Authenticator, Capabilities, Config, Decision, Event, MemoryStore, Output, Policy, Question,
    QuestionId, Reply, Responder, Secret, SenderLoginMap, Session, SubmissionPolicy, TlsInfo,
};

pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

/// The users every test knows: (name, password).
pub const USERS: &[(&str, &str)] = &[
    ("alice", "wonderland"),
    ("bob", "builder"),
    ("tim", "tanstaaftanstaaf"),
];
/// A valid bearer token for alice.
pub const TOKEN: &str = "mF_9.B5f-4.1JqM";

/// Who owns which senders (Postfix `smtpd_sender_login_maps` form).
pub const SENDERS: &str = "\
alice@example.org  alice
bob@example.org    bob
tim@example.org    tim
@lists.example.org alice, bob
";

/// The wall-clock start of every test: sessions and policy share it.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The shared store (deriving SCRAM secrets costs PBKDF2: do it once).
/// Its SCRAM salt is fixed so the golden transcripts can show it.
pub fn store() -> Arc<MemoryStore> {
    static STORE: OnceLock<Arc<MemoryStore>> = OnceLock::new();
    Arc::clone(STORE.get_or_init(|| {
        let mut s = MemoryStore::new()
            .scram_salt(&b"NaClNaClNaCl"[..])
            .token(TOKEN, "alice")
            .certificate("alice@example.org", "alice");
        for (u, p) in USERS {
            s = s.user(*u, *p);
        }
        Arc::new(s)
    }))
}

pub fn senders() -> Arc<SenderLoginMap> {
    let (map, report) = SenderLoginMap::parse(SENDERS);
    assert!(report.is_clean(), "{report:?}");
    Arc::new(map)
}

/// The default submission policy, with the test sender map.
pub fn policy() -> SubmissionPolicyBuilder {
    SubmissionPolicy::builder().sender_login_map(senders())
}

/// Answers a question at a wall-clock time.
pub type Answerer = Box<dyn FnMut(&Question, SystemTime) -> Decision>;

/// An answerer over a shared responder (several sessions, one policy).
pub fn answerer<A, P>(r: Arc<Responder<A, P>>) -> Answerer
where
    A: Authenticator + 'static,
    P: Policy + 'static,
{
    Box::new(move |q, now| r.answer(q, now))
}

/// A fresh responder: the shared store and a default policy.
pub fn responder() -> Answerer {
    answerer(Arc::new(Responder::new(store(), policy().build())))
}

/// The fixture backend: the shared store, plus a user `down` whose backend
/// is down, and any client certificate naming its own identity.
#[derive(Debug, Default)]
pub struct FixtureStore;

impl Authenticator for FixtureStore {
    fn capabilities(&self) -> Capabilities {
        store().capabilities().certificates()
    }

    async fn verify_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        if user == "down" {
            return Verdict::Unavailable;
        }
        store().verify_password(user, password).await
    }

    async fn cram_md5_secret(&self, user: &str) -> Lookup<CramMd5Secret> {
        store().cram_md5_secret(user).await
    }

    async fn scram_credentials(&self, user: &str, hash: ScramHash) -> Lookup<ScramCredentials> {
        store().scram_credentials(user, hash).await
    }

    async fn validate_token(
        &self,
        mechanism: Mechanism,
        user: Option<&str>,
        token: &Secret<String>,
    ) -> TokenVerdict {
        store().validate_token(mechanism, user, token).await
    }

    async fn map_certificate(&self, certificate: &str, _authzid: Option<&str>) -> Lookup<String> {
        Lookup::Found(certificate.to_owned())
    }
}

/// The fixture policy: `locked` is locked, `spoof@…` senders are refused,
/// unauthenticated clients are not trusted, everything else is allowed.
#[derive(Debug, Default)]
pub struct FixturePolicy;

impl Policy for FixturePolicy {
    async fn may_authenticate(&self, attempt: &AuthAttempt, _now: SystemTime) -> Decision {
        if attempt.user == "locked" {
            Decision::reply(Reply::AUTH_TEMPORARY_FAILURE)
        } else {
            Decision::allow()
        }
    }

    async fn mail_from(&self, mail: &MailFrom, _now: SystemTime) -> Decision {
        if mail.sender.starts_with("spoof@") {
            Decision::reply(Reply::SENDER_NOT_OWNED)
        } else {
            Decision::allow()
        }
    }
}

/// The fixture answerer, through the real Responder.
pub fn fixture() -> Answerer {
    answerer(Arc::new(Responder::new(FixtureStore, FixturePolicy)))
}

/// Answers one question as the fixture does, for tests that drive a
/// `Session` by hand.
pub fn respond(question: &Question) -> smtp_auth::Answer {
    static FIXTURE: OnceLock<Responder<FixtureStore, FixturePolicy>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| Responder::new(FixtureStore, FixturePolicy))
        .answer(question, t0())
        .answer
}

/// Everything a driven session produced, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// All `Send` bytes, concatenated.
    pub sent: Vec<u8>,
    /// Session and policy events, in the order they happened.
    pub events: Vec<Event>,
    pub questions: Vec<Question>,
    /// Completed message bodies (those the embedder was asked to store).
    pub messages: Vec<Vec<u8>>,
    /// Bodies thrown away by `DiscardData`.
    pub discarded: usize,
    pub starttls: usize,
    pub closed: bool,
    pub delays: Vec<Duration>,
    /// A readable log: `C:`/`S:` lines, `Q:` questions, `A:` answers,
    /// `E:` events, `D:` delays, in order.
    pub log: Vec<String>,
}

/// A deterministic test driver around one session.
pub struct Driver {
    pub session: Session,
    pub now: Instant,
    pub wall: SystemTime,
    pub out: Transcript,
    body: Vec<u8>,
    /// Answer questions automatically.
    pub auto_answer: bool,
    /// Questions left open when `auto_answer` is off.
    pub unanswered: Vec<(QuestionId, Question)>,
    answer: Answerer,
}

pub fn config() -> smtp_auth::ConfigBuilder {
    Config::builder("mx.example.org")
        .entropy(Arc::new(FixedEntropy::new(42, 1_700_000_000)))
        .fake_salt_key([7; 32])
}

pub fn tls_info() -> TlsInfo {
    TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256")
}

impl Driver {
    pub fn new(config: Config) -> Self {
        Self::with_tls(config, None)
    }

    /// A session answered by the [`fixture`] answerer.
    pub fn with_tls(config: Config, tls: Option<TlsInfo>) -> Self {
        Self::custom(config, PEER, tls, fixture(), t0())
    }

    /// A session answered by the real submission policy ([`responder`]).
    pub fn submission(config: Config, tls: Option<TlsInfo>) -> Self {
        Self::custom(config, PEER, tls, responder(), t0())
    }

    /// A session from `peer` at wall-clock `wall`, answered by `answer`.
    pub fn custom(
        config: Config,
        peer: IpAddr,
        tls: Option<TlsInfo>,
        answer: Answerer,
        wall: SystemTime,
    ) -> Self {
        let now = Instant::now();
        let session = Session::new(Arc::new(config), peer, tls, now);
        let mut d = Driver {
            session,
            now,
            wall,
            out: Transcript::default(),
            body: Vec::new(),
            auto_answer: true,
            unanswered: Vec::new(),
            answer,
        };
        d.pump();
        d
    }

    /// Moves both clocks on.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.wall += by;
    }

    /// Feeds bytes and runs the session until it needs more.
    pub fn feed(&mut self, bytes: &[u8]) {
        for line in String::from_utf8_lossy(bytes).split_terminator("\r\n") {
            self.out.log.push(format!("C: {line}"));
        }
        self.session.receive(self.now, bytes);
        self.pump();
    }

    /// Feeds one command line (CRLF appended).
    pub fn line(&mut self, line: &str) {
        self.feed(format!("{line}\r\n").as_bytes());
    }

    /// Feeds one line and returns what the server sent in reply.
    pub fn says(&mut self, line: &str) -> String {
        self.take_sent();
        self.line(line);
        self.take_sent()
    }

    /// Polls until the session has nothing more, acting on each output.
    pub fn pump(&mut self) {
        while let Some(o) = self.session.poll() {
            match o {
                Output::Send(b) => {
                    for line in String::from_utf8_lossy(&b).split_terminator("\r\n") {
                        self.out.log.push(format!("S: {line}"));
                    }
                    self.out.sent.extend_from_slice(&b);
                }
                Output::StartTls => {
                    self.out.log.push("-- starttls".into());
                    self.out.starttls += 1;
                }
                Output::Ask { id, question } => {
                    if matches!(question, Question::Message(_)) {
                        let body = std::mem::take(&mut self.body);
                        self.out.messages.push(body);
                    }
                    self.out.log.push(format!("Q: {question:?}"));
                    self.out.questions.push(question.clone());
                    if self.auto_answer {
                        let decision = (self.answer)(&question, self.wall);
                        self.record_decision(&decision);
                        self.session
                            .answer(id, decision.answer)
                            .expect("answer fits");
                    } else {
                        self.unanswered.push((id, question));
                    }
                }
                Output::Event(e) => {
                    self.out.log.push(format!("E: {e:?}"));
                    self.out.events.push(e);
                }
                Output::Data(b) => self.body.extend_from_slice(&b),
                Output::DiscardData => {
                    self.out.discarded += 1;
                    self.body.clear();
                }
                Output::Delay(d) => {
                    self.out.log.push(format!("D: {d:?}"));
                    self.out.delays.push(d);
                }
                Output::Close => {
                    self.out.log.push("-- close".into());
                    self.out.closed = true;
                }
                _ => {}
            }
        }
    }

    /// Logs a decision made outside [`pump`](Self::pump).
    pub fn record_decision(&mut self, decision: &Decision) {
        self.out.log.push(format!("A: {:?}", decision.answer));
        for e in &decision.events {
            self.out.log.push(format!("E: {e:?}"));
            self.out.events.push(e.clone());
        }
    }

    /// Completes a STARTTLS hand-over.
    pub fn tls(&mut self) {
        self.session.tls_established(tls_info());
        self.pump();
    }

    /// Takes the bytes sent so far as text.
    pub fn take_sent(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.out.sent)).into_owned()
    }
}

/// base64 of `s` (for AUTH lines in tests).
pub fn b64(s: &[u8]) -> String {
    smtp_auth::sasl::encoding::encode(s)
}

/// `AUTH PLAIN` with an initial response for `user`/`password`.
pub fn auth_plain(user: &str, password: &str) -> String {
    format!(
        "AUTH PLAIN {}",
        b64(format!("\0{user}\0{password}").as_bytes())
    )
}

/// An authenticator that counts how often it is consulted, and answers
/// `Unavailable` for the user `down` (a backend outage).
#[derive(Debug, Default)]
pub struct Counting {
    pub calls: std::sync::atomic::AtomicUsize,
}

impl Counting {
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn hit(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Authenticator for Counting {
    fn capabilities(&self) -> smtp_auth::Capabilities {
        store().capabilities()
    }

    async fn verify_password(
        &self,
        user: &str,
        password: &smtp_auth::Secret<String>,
    ) -> smtp_auth::sasl::Verdict {
        self.hit();
        if user == "down" {
            return smtp_auth::sasl::Verdict::Unavailable;
        }
        store().verify_password(user, password).await
    }

    async fn cram_md5_secret(
        &self,
        user: &str,
    ) -> smtp_auth::sasl::Lookup<smtp_auth::sasl::CramMd5Secret> {
        self.hit();
        store().cram_md5_secret(user).await
    }

    async fn scram_credentials(
        &self,
        user: &str,
        hash: smtp_auth::sasl::ScramHash,
    ) -> smtp_auth::sasl::Lookup<smtp_auth::sasl::ScramCredentials> {
        self.hit();
        store().scram_credentials(user, hash).await
    }
}

/// Runs a whole SASL exchange with the crate's client side and returns the
/// server's final reply.
pub fn client_auth(
    d: &mut Driver,
    mechanism: smtp_auth::sasl::Mechanism,
    credentials: smtp_auth::sasl::Credentials,
) -> String {
    use smtp_auth::sasl::{encoding, ClientContext, ClientExchange};
    static CLIENT_ENTROPY: FixedEntropy = FixedEntropy::new(99, 1_700_000_000);
    let ctx = ClientContext::new(&CLIENT_ENTROPY);
    let mut c = ClientExchange::new(mechanism, credentials, &ctx).expect("client exchange");
    let first = match c.initial_response() {
        Some(ir) if ir.is_empty() => format!("AUTH {} =", mechanism.name()),
        Some(ir) => format!("AUTH {} {}", mechanism.name(), b64(&ir)),
        None => format!("AUTH {}", mechanism.name()),
    };
    let mut reply = d.says(&first);
    while let Some(challenge) = reply.strip_prefix("334 ") {
        let challenge = encoding::decode(challenge.trim_end().as_bytes()).expect("base64");
        let response = c.respond(&challenge).unwrap_or_default();
        reply = d.says(&b64(&response));
    }
    reply
}

/// Pieces of client streams for property tests: whole commands, AUTH
/// exchanges, body lines and stray line-ending bytes.
pub const STREAM_TOKENS: &[&[u8]] = &[
    b"EHLO client.example\r\n",
    b"HELO client.example\r\n",
    b"NOOP\r\n",
    b"RSET\r\n",
    b"HELP\r\n",
    b"VRFY alice\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
    b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n",
    b"AUTH PLAIN\r\n",
    b"AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH LOGIN YWxpY2U=\r\n",
    b"YWxpY2U=\r\n",
    b"d29uZGVybGFuZA==\r\n",
    b"AUTH CRAM-MD5\r\n",
    b"AUTH FOO\r\n",
    b"*\r\n",
    b"=\r\n",
    b"MAIL FROM:<alice@example.org>\r\n",
    b"MAIL FROM:<spoof@example.org>\r\n",
    b"MAIL FROM:<> SIZE=100\r\n",
    b"RCPT TO:<bob@example.net>\r\n",
    b"RCPT TO:<Postmaster>\r\n",
    b"DATA\r\n",
    b"Subject: x\r\n",
    b"..stuffed\r\n",
    b".\r\n",
    b"BDAT 10\r\n",
    b"BDAT 4 LAST\r\n",
    b"0123456789",
    b"\r\n",
    b"\r",
    b"\n",
    b".",
    b"\0",
    b"x",
    b"QUIT\r\n",
];
