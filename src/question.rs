//! [`Question`] and [`Answer`]: every decision the session hands to its
//! embedder, because answering it may need I/O (a password database, a
//! fleet-wide rate limiter, a mail queue).
//!
//! The session asks through [`Output::Ask`](crate::Output::Ask) and then
//! pauses: it reads no buffered input and emits nothing more until
//! [`Session::answer`](crate::Session::answer) is called with the same
//! [`QuestionId`]. A sync embedder answers with a
//! `Responder` in one line; an async one answers from
//! its own tasks.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::command::Body;
use crate::reply::Reply;
use crate::sasl::{self, Mechanism};

/// Identifies one question of one session; an answer must carry it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuestionId(pub(crate) u64);

impl fmt::Display for QuestionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// A decision the session needs from its embedder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Question {
    /// A user named themselves and is about to present credentials: may
    /// this client try now? Asked *before* any credential is checked, so a
    /// locked account or address never reaches the credential backend.
    /// Answer [`Answer::Allow`], or [`Answer::Reply`] with a refusal
    /// (normally `454 4.7.0`, [`Reply::AUTH_TEMPORARY_FAILURE`]).
    MayAuthenticate(AuthAttempt),
    /// A SASL mechanism needs the credential backend (check a password,
    /// fetch a stored secret, validate a token, authorize an authzid).
    /// Answer [`Answer::Sasl`].
    Credentials {
        /// Who is connected.
        peer: IpAddr,
        /// What the mechanism asks.
        request: sasl::Request,
    },
    /// An authentication attempt ended; record it (failure counters,
    /// lock-out). Answer [`Answer::Recorded`] with the delay to hold the
    /// reply for (tar-pitting), zero after success.
    AuthResult(AuthResult),
    /// An unauthenticated client on a submission listener began a
    /// transaction: is its address trusted without AUTH (configured
    /// networks, legacy POP-before-SMTP)? Answer [`Answer::Allow`] to
    /// trust it for this session, or [`Answer::Reply`] with the refusal
    /// (normally [`Reply::AUTH_REQUIRED`]).
    Trust {
        /// Who is connected.
        peer: IpAddr,
    },
    /// `MAIL FROM`: may this client use this sender? Answer
    /// [`Answer::Allow`] or [`Answer::Reply`].
    MailFrom(MailFrom),
    /// `RCPT TO`: may this client send to this recipient now? Answer
    /// [`Answer::Allow`] or [`Answer::Reply`].
    RcptTo(RcptTo),
    /// The message body is complete (the [`Output::Data`](crate::Output::Data)
    /// chunks since the last `MAIL`). Answer [`Answer::Allow`] once it is
    /// safely stored, or [`Answer::Reply`] to refuse it. Never answer
    /// `Allow` before the message is durable: the client will delete it.
    Message(MessageInfo),
}

/// The facts of an authentication attempt, before credentials are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    /// Who is connected.
    pub peer: IpAddr,
    /// The mechanism in use.
    pub mechanism: Mechanism,
    /// The user name the client claims.
    pub user: String,
}

/// How an authentication attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// Who is connected.
    pub peer: IpAddr,
    /// The mechanism in use.
    pub mechanism: Mechanism,
    /// The user name the client claimed, if it got that far.
    pub user: Option<String>,
    /// `Ok(identity)` on success, else why it failed.
    pub outcome: Result<String, AuthFailure>,
}

/// Why an authentication attempt failed, for logs, counters and events.
/// The client sees far less (ATK-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// Wrong password, unknown user, bad proof or token.
    BadCredentials,
    /// The credential backend reported that the user does not exist.
    UnknownUser,
    /// The account or client address is locked out; credentials were not checked.
    Locked,
    /// The client cancelled with `*`.
    Cancelled,
    /// The client's data broke the mechanism's or base64's grammar, or the
    /// line was too long.
    Malformed,
    /// A mechanism that reveals the password was tried without TLS.
    EncryptionRequired,
    /// The credential backend could not answer.
    TemporaryFailure,
    /// The authzid was not authorized for the authenticated user.
    NotAuthorized,
    /// Right credentials, but the account is disabled.
    Disabled,
    /// The mechanism could not run on this connection (no client
    /// certificate, no channel binding).
    NotAvailable,
}

impl AuthFailure {
    /// A short stable name for logs and metrics, e.g. `bad-credentials`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::BadCredentials => "bad-credentials",
            AuthFailure::UnknownUser => "unknown-user",
            AuthFailure::Locked => "locked",
            AuthFailure::Cancelled => "cancelled",
            AuthFailure::Malformed => "malformed",
            AuthFailure::EncryptionRequired => "encryption-required",
            AuthFailure::TemporaryFailure => "temporary-failure",
            AuthFailure::NotAuthorized => "not-authorized",
            AuthFailure::Disabled => "disabled",
            AuthFailure::NotAvailable => "not-available",
        }
    }

    /// True when the failure should count towards lock-out: a guess that
    /// was actually checked (or would have been).
    pub const fn counts_as_guess(self) -> bool {
        matches!(
            self,
            AuthFailure::BadCredentials
                | AuthFailure::UnknownUser
                | AuthFailure::Malformed
                | AuthFailure::NotAuthorized
        )
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `MAIL FROM` as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    /// Who is connected.
    pub peer: IpAddr,
    /// The authenticated identity, if any.
    pub identity: Option<String>,
    /// The reverse path; empty for the null sender `<>`.
    pub sender: String,
    /// The `AUTH=` mailbox, only when the client is authenticated (RFC 4954
    /// §5: an untrusted client's value is treated as `<>`). `Some("")` is an
    /// explicit `AUTH=<>`.
    pub auth: Option<String>,
    /// The declared `SIZE=`, if any.
    pub size: Option<u64>,
    /// The declared `BODY=`, if any.
    pub body: Option<Body>,
    /// Whether `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// Other ESMTP parameters, as `(KEYWORD, value)`; the default policy
    /// refuses any it does not know (`555 5.5.4`).
    pub other: Vec<(String, Option<String>)>,
}

/// `RCPT TO` as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptTo {
    /// Who is connected.
    pub peer: IpAddr,
    /// The authenticated identity, if any.
    pub identity: Option<String>,
    /// The transaction's reverse path (empty for `<>`).
    pub sender: String,
    /// The recipient (`Postmaster` for a bare `<Postmaster>`).
    pub recipient: String,
    /// How many recipients the transaction already has.
    pub accepted: usize,
    /// ESMTP parameters, as `(KEYWORD, value)`.
    pub other: Vec<(String, Option<String>)>,
}

/// A complete message, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Who is connected.
    pub peer: IpAddr,
    /// The authenticated identity, if any.
    pub identity: Option<String>,
    /// The reverse path (empty for `<>`).
    pub sender: String,
    /// The trusted `AUTH=` mailbox to pass on when relaying (RFC 4954 §5).
    pub auth: Option<String>,
    /// The accepted recipients, in order.
    pub recipients: Vec<String>,
    /// The body size in octets, after dot-unstuffing.
    pub size: u64,
    /// Whether the body came by BDAT rather than DATA.
    pub chunked: bool,
}

/// The embedder's answer to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Yes: the attempt may go on, the sender or recipient is accepted, the
    /// message is stored, the client is trusted.
    Allow,
    /// Answer with this reply instead. A 2xx reply accepts (with your own
    /// text, e.g. a queue id); a 4xx or 5xx reply refuses.
    Reply(Reply),
    /// Answers [`Question::Credentials`].
    Sasl(sasl::Resolution),
    /// Answers [`Question::AuthResult`]: hold the reply this long.
    Recorded {
        /// The delay before the reply (zero after success).
        delay: Duration,
    },
}
