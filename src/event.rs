//! [`Event`]: what happened in a session, for logs, metrics and audit.
//!
//! Events name past facts. None carries a password, token or SASL payload:
//! user names are the *claimed* names, which an operator needs to see
//! (fail2ban, audit), and nothing more.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::limiter::Key;
use crate::question::AuthFailure;
use crate::sasl::Mechanism;

/// Something that happened, reported through
/// [`Output::Event`](crate::Output::Event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session started (the greeting is queued).
    Connected {
        /// Who connected.
        peer: IpAddr,
        /// Whether TLS was already active (implicit TLS, RFC 8314).
        tls: bool,
    },
    /// STARTTLS completed.
    TlsEstablished {
        /// Who is connected.
        peer: IpAddr,
        /// The protocol version, as the driver reported it.
        version: String,
        /// The cipher suite, as the driver reported it.
        cipher: String,
    },
    /// Bytes that arrived after `STARTTLS` and before the handshake were
    /// thrown away (CVE-2011-0411): a client or attacker tried to inject
    /// commands into the TLS session.
    PlaintextDiscarded {
        /// Who is connected.
        peer: IpAddr,
        /// How many bytes were discarded.
        bytes: u64,
    },
    /// A client authenticated.
    AuthSucceeded {
        /// Who is connected.
        peer: IpAddr,
        /// The identity the session now acts as.
        identity: String,
        /// The mechanism used.
        mechanism: Mechanism,
    },
    /// An authentication attempt failed.
    AuthFailed {
        /// Who is connected.
        peer: IpAddr,
        /// The user name the client claimed, if it got that far.
        user: Option<String>,
        /// The mechanism tried, if it was one we know.
        mechanism: Option<Mechanism>,
        /// Why.
        reason: AuthFailure,
    },
    /// The policy refused a sender.
    SenderRefused {
        /// Who is connected.
        peer: IpAddr,
        /// The authenticated identity, if any.
        identity: Option<String>,
        /// The refused reverse path.
        sender: String,
        /// The reply code sent.
        code: u16,
    },
    /// The policy refused a recipient.
    RecipientRefused {
        /// Who is connected.
        peer: IpAddr,
        /// The authenticated identity, if any.
        identity: Option<String>,
        /// The refused recipient.
        recipient: String,
        /// The reply code sent.
        code: u16,
    },
    /// A message was accepted (the embedder answered `Allow`).
    MessageAccepted {
        /// Who is connected.
        peer: IpAddr,
        /// The authenticated identity, if any.
        identity: Option<String>,
        /// The body size in octets.
        size: u64,
        /// The number of recipients.
        recipients: usize,
    },
    /// A message body was refused after it was received (too large, bare
    /// line endings, or the embedder said no).
    MessageRefused {
        /// Who is connected.
        peer: IpAddr,
        /// The reply code sent.
        code: u16,
    },
    /// Failed guesses reached a threshold: attempts that `key` covers are
    /// refused with `454 4.7.0` until `until`, without consulting the
    /// credential backend (REPLY-21). Reported by the
    /// [`Policy`](crate::Policy), through the [`Responder`](crate::Responder)'s
    /// [`Decision`](crate::Decision).
    LockoutStarted {
        /// The client whose failure started it.
        peer: IpAddr,
        /// What is locked: a client network, an account, or an account
        /// from one network.
        key: Key,
        /// Failures counted in the window.
        failures: u32,
        /// How long the lock lasts (it doubles on each repeat).
        duration: Duration,
        /// When it ends.
        until: SystemTime,
    },
    /// A lock-out is over. Reported by the policy when it next consults the
    /// key after the lock ended (not at the instant it ends).
    LockoutEnded {
        /// The client whose attempt found the lock over.
        peer: IpAddr,
        /// What was locked.
        key: Key,
    },
    /// An identity used up a send quota or exceeded its size limit; the
    /// command was refused (`451 4.7.1`, `452 4.5.3` or `552 5.3.4`).
    QuotaReached {
        /// Who is connected.
        peer: IpAddr,
        /// The identity whose quota it is.
        identity: String,
        /// Which quota.
        quota: QuotaKind,
        /// The limit that was reached (units per window, or octets).
        limit: u64,
    },
    /// The policy's [`Limiter`](crate::Limiter) could not answer (a shared
    /// store such as Redis is down, or slower than its timeout). Reported
    /// by the [`SubmissionPolicy`](crate::SubmissionPolicy) each time it
    /// happens, whether it then refused
    /// ([`LimiterFailure::Closed`](crate::policy::LimiterFailure::Closed),
    /// the default) or went on without the counters
    /// ([`LimiterFailure::Open`](crate::policy::LimiterFailure::Open)).
    LimiterUnavailable {
        /// Who is connected.
        peer: IpAddr,
        /// What the policy needed the counters for.
        check: LimiterCheck,
        /// Why, for the log (never a password).
        error: String,
        /// The command was refused because of it (`454 4.7.0` for AUTH,
        /// `451 4.3.0` for a quota check); false when the policy went on.
        refused: bool,
    },
    /// The session closed the connection.
    Closed {
        /// Who was connected.
        peer: IpAddr,
        /// Why.
        reason: CloseReason,
    },
}

/// Which quota an [`Event::QuotaReached`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaKind {
    /// Messages per window (`451 4.7.1`).
    Messages,
    /// Recipients per window (`452 4.5.3`).
    Recipients,
    /// The largest message the identity may send (`552 5.3.4`).
    MessageSize,
}

/// What an [`Event::LimiterUnavailable`] interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimiterCheck {
    /// Looking up locks before a credential check (`AUTH`).
    Authenticate,
    /// Counting a failed attempt.
    AuthFailure,
    /// Recording a successful login (known-good mark).
    AuthSuccess,
    /// The message quota (`MAIL FROM`, end of data).
    MessageQuota,
    /// The recipient quota (`RCPT TO`).
    RecipientQuota,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// Too many authentication failures in this session (RFC 4954 §9).
    TooManyAuthFailures,
    /// Too many errors in this session.
    TooManyErrors,
    /// A command or data timeout expired.
    Timeout,
    /// The client sent more pipelined input than the session may buffer.
    InputOverflow,
    /// The embedder shut the session down.
    Shutdown,
}
