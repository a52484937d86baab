//! Test support: a session driver with a small deterministic responder,
//! and the golden-transcript runner.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::secret::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{Lookup, Request, Resolution, Verdict};
use smtp_auth::sasl::{TokenError, TokenVerdict};
use smtp_auth::{Answer, Config, Event, Output, Question, Reply, Session, TlsInfo};

pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

/// The users every test knows: (name, password).
pub const USERS: &[(&str, &str)] = &[
    ("alice", "wonderland"),
    ("bob", "builder"),
    ("tim", "tanstaaftanstaaf"),
];
/// A valid bearer token for alice.
pub const TOKEN: &str = "mF_9.B5f-4.1JqM";

/// Everything a driven session produced, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// All `Send` bytes, concatenated.
    pub sent: Vec<u8>,
    pub events: Vec<Event>,
    pub questions: Vec<Question>,
    /// Completed message bodies (those the embedder was asked to store).
    pub messages: Vec<Vec<u8>>,
    /// Bodies thrown away by `DiscardData`.
    pub discarded: usize,
    pub starttls: usize,
    pub closed: bool,
    pub delays: usize,
}

/// A deterministic test driver around one session.
pub struct Driver {
    pub session: Session,
    pub now: Instant,
    pub out: Transcript,
    body: Vec<u8>,
    /// Answer questions automatically.
    pub auto_answer: bool,
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

    pub fn with_tls(config: Config, tls: Option<TlsInfo>) -> Self {
        let now = Instant::now();
        let session = Session::new(Arc::new(config), PEER, tls, now);
        let mut d = Driver {
            session,
            now,
            out: Transcript::default(),
            body: Vec::new(),
            auto_answer: true,
        };
        d.pump();
        d
    }

    /// Feeds bytes and runs the session until it needs more.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.session.receive(self.now, bytes);
        self.pump();
    }

    /// Polls until the session has nothing more, acting on each output.
    pub fn pump(&mut self) {
        while let Some(o) = self.session.poll() {
            match o {
                Output::Send(b) => self.out.sent.extend_from_slice(&b),
                Output::StartTls => self.out.starttls += 1,
                Output::Ask { id, question } => {
                    if matches!(question, Question::Message(_)) {
                        let body = std::mem::take(&mut self.body);
                        self.out.messages.push(body);
                    }
                    self.out.questions.push(question.clone());
                    if self.auto_answer {
                        let answer = respond(&question);
                        self.session.answer(id, answer).expect("answer fits");
                    }
                }
                Output::Event(e) => self.out.events.push(e),
                Output::Data(b) => self.body.extend_from_slice(&b),
                Output::DiscardData => {
                    self.out.discarded += 1;
                    self.body.clear();
                }
                Output::Delay(_) => self.out.delays += 1,
                Output::Close => self.out.closed = true,
                _ => {}
            }
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

/// The deterministic test responder: USERS, TOKEN, everything else allowed.
pub fn respond(question: &Question) -> Answer {
    match question {
        Question::MayAuthenticate(a) if a.user == "locked" => {
            Answer::Reply(Reply::AUTH_TEMPORARY_FAILURE)
        }
        Question::MayAuthenticate(_) => Answer::Allow,
        Question::Credentials { request, .. } => Answer::Sasl(resolve(request)),
        Question::AuthResult(_) => Answer::Recorded {
            delay: std::time::Duration::ZERO,
        },
        Question::Trust { .. } => Answer::Reply(Reply::AUTH_REQUIRED),
        Question::MailFrom(m) if m.sender.starts_with("spoof@") => {
            Answer::Reply(Reply::SENDER_NOT_OWNED)
        }
        _ => Answer::Allow,
    }
}

fn password(user: &str) -> Option<&'static str> {
    USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
}

pub fn resolve(request: &Request) -> Resolution {
    match request {
        Request::VerifyPassword {
            authcid,
            password: pw,
        } => {
            if authcid == "down" {
                return Resolution::Verdict(Verdict::Unavailable);
            }
            Resolution::Verdict(match password(authcid) {
                Some(p) if p == pw.expose() => Verdict::Valid,
                _ => Verdict::Invalid,
            })
        }
        Request::CramMd5Secret { authcid } => Resolution::CramMd5Secret(match password(authcid) {
            Some(p) => Lookup::Found(CramMd5Secret::from_password(p)),
            None => Lookup::NotFound,
        }),
        Request::ScramCredentials { authcid, hash } => {
            Resolution::ScramCredentials(match password(authcid) {
                Some(p) => Lookup::Found(
                    ScramCredentials::derive(*hash, p, b"NaClNaClNaCl", 4096).unwrap(),
                ),
                None => Lookup::NotFound,
            })
        }
        Request::ValidateToken { token, .. } => Resolution::Token(if token.expose() == TOKEN {
            TokenVerdict::Valid {
                identity: "alice".into(),
            }
        } else {
            TokenVerdict::Invalid {
                status: TokenError::InvalidToken,
                scope: None,
            }
        }),
        Request::ExternalIdentity { certificate, .. } => {
            Resolution::Identity(Lookup::Found(certificate.clone()))
        }
        Request::Authorize { .. } => Resolution::Verdict(Verdict::Invalid),
        _ => Resolution::Verdict(Verdict::Unavailable),
    }
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
