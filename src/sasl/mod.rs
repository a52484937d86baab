//! SASL (RFC 4422), independent of SMTP: an IMAP, POP3 or ManageSieve server
//! can use this module alone.
//!
//! A server exchange is stepped one client response at a time. Each step
//! yields a challenge to send, a [`Request`] the embedder must answer (check
//! a password, fetch a stored secret, validate a token, authorize an
//! authzid), or the final [`Outcome`]. Nothing here does I/O or reads a
//! clock or the OS random source: nonces come from the [`Entropy`] in the
//! [`ServerContext`].
//!
//! Responses and challenges are the *decoded* bytes; the protocol profile
//! (SMTP's `334`, IMAP's `+`) does the base64 with [`encoding`].

use std::fmt;
use std::str::FromStr;

use crate::random::Entropy;
use crate::secret::Secret;

pub mod client;
mod cram_md5;
mod crypto;
pub mod encoding;
mod external;
mod gs2;
mod login;
mod oauth;
mod plain;
#[cfg(feature = "scram")]
mod scram;
pub mod secret;

pub use client::{ClientContext, ClientError, ClientExchange, Credentials};
pub use encoding::Base64Error;
pub use secret::{CramMd5Secret, ScramCredentials, SecretFormatError};

/// Longest authcid, authzid or user name accepted, in octets. RFC 4616 §2
/// requires at least 255 and allows refusing more; one bound for every
/// mechanism keeps memory and log lines small (ATK-10).
pub const MAX_IDENTITY_LEN: usize = 255;

/// Longest password accepted by PLAIN and LOGIN, in octets (RFC 4616 §2).
pub const MAX_PASSWORD_LEN: usize = 255;

/// Longest decoded XOAUTH2 / OAUTHBEARER message, in octets. Bearer tokens
/// reach several KiB (JWTs with many claims); an SMTP AUTH line of 12288
/// octets (R4954-4.13) decodes to 9216, so this leaves room without letting
/// a client make us hold megabytes.
pub const MAX_TOKEN_MESSAGE_LEN: usize = 16 * 1024;

/// A SASL mechanism this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616). Reveals the password: TLS only by default.
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login). Reveals the password.
    Login,
    /// `CRAM-MD5` (RFC 2195). Legacy challenge-response.
    CramMd5,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802, channel binding `tls-exporter`, RFC 9266).
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-256-PLUS` (RFC 7677, channel binding `tls-exporter`).
    ScramSha256Plus,
    /// `XOAUTH2` (Google's bearer-token mechanism). Reveals the token.
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628). Reveals the token.
    OAuthBearer,
    /// `EXTERNAL` (RFC 4422 App. A): identity from the TLS client certificate.
    External,
}

impl Mechanism {
    /// Every mechanism, strongest first (the order a client prefers).
    pub const ALL: [Mechanism; 10] = [
        Mechanism::External,
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// The registered name, upper-case.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::External => "EXTERNAL",
        }
    }

    /// Looks a name up case-insensitively (RFC 4954 §8). Names that are not
    /// valid SASL names (RFC 4422 §3.1) or that we do not implement give `None`.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// True when the exchange shows the password or bearer token to anyone
    /// who can read the connection: such mechanisms are TLS only by default
    /// (RFC 4954 §4, RFC 4616 §5, RFC 7628 §5).
    pub const fn reveals_secret(self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::XOAuth2 | Mechanism::OAuthBearer
        )
    }

    /// True when the client must not send an initial response (the server
    /// speaks first): an initial response is then refused (RFC 4954 §4).
    pub const fn is_server_first(self) -> bool {
        matches!(self, Mechanism::CramMd5)
    }

    /// True for the `-PLUS` variants, which need TLS channel-binding data.
    pub const fn uses_channel_binding(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }

    /// The hash of a SCRAM mechanism, `None` for the others.
    pub const fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Some(ScramHash::Sha1),
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    /// True when this build can run the mechanism: the SCRAM family needs
    /// the `scram` cargo feature. Advertise only available mechanisms; an
    /// exchange for an unavailable one fails with [`Failure::NotAvailable`].
    pub const fn is_available(self) -> bool {
        cfg!(feature = "scram") || self.scram_hash().is_none()
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a mechanism this crate implements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SASL mechanism")]
pub struct UnknownMechanism;

impl FromStr for Mechanism {
    type Err = UnknownMechanism;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s.as_bytes()).ok_or(UnknownMechanism)
    }
}

/// TLS channel-binding data for the `-PLUS` SCRAM variants.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The binding type name, e.g. `tls-exporter` (RFC 9266).
    pub kind: String,
    /// The binding data (for `tls-exporter`: 32 bytes of keying material).
    pub data: Vec<u8>,
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

/// What a server exchange needs from its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct ServerContext<'a> {
    /// The server's host name, used in CRAM-MD5 challenges.
    pub hostname: &'a str,
    /// Nonces, challenges and clock for CRAM-MD5 timestamps.
    pub entropy: &'a dyn Entropy,
    /// Channel-binding data of the TLS connection, if any.
    pub channel_binding: Option<&'a ChannelBinding>,
    /// The identity the driver derived from a verified TLS client
    /// certificate, for EXTERNAL.
    pub client_certificate: Option<&'a str>,
    /// A server-wide secret key that makes SCRAM's fake salts for unknown
    /// users deterministic and unguessable (RFC 5802 §9).
    pub fake_salt_key: &'a [u8; 32],
}

/// What one step of a server exchange produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Send this challenge (raw bytes; the protocol encodes them) and feed
    /// the client's reply to [`ServerExchange::step`]. An empty challenge is
    /// SMTP's `334 `.
    Challenge(Vec<u8>),
    /// Ask the embedder; pass its answer to [`ServerExchange::resolve`].
    Request(Request),
    /// The exchange is over.
    Done(Outcome),
}

/// A decision the embedder must make for the exchange to go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// PLAIN, LOGIN: is `password` right for `authcid`? Answer with
    /// [`Resolution::Verdict`].
    VerifyPassword {
        /// The authentication identity (user name) as the client sent it.
        authcid: String,
        /// The password.
        password: Secret<String>,
    },
    /// CRAM-MD5: the stored secret of `authcid`. Answer with
    /// [`Resolution::CramMd5Secret`].
    CramMd5Secret {
        /// The user name.
        authcid: String,
    },
    /// SCRAM: the stored credentials of `authcid`. Answer with
    /// [`Resolution::ScramCredentials`].
    ScramCredentials {
        /// The user name.
        authcid: String,
        /// Which hash the credentials must be for.
        hash: ScramHash,
    },
    /// XOAUTH2, OAUTHBEARER: is `token` valid, and whose is it? Answer with
    /// [`Resolution::Token`].
    ValidateToken {
        /// The mechanism (XOAUTH2 or OAUTHBEARER).
        mechanism: Mechanism,
        /// The user the client claims (`user=` or `a=`), if it gave one.
        user: Option<String>,
        /// The bearer token.
        token: Secret<String>,
    },
    /// EXTERNAL: which identity does this certificate identity map to?
    /// Answer with [`Resolution::Identity`].
    ExternalIdentity {
        /// The identity the driver derived from the client certificate.
        certificate: String,
        /// The authorization identity the client asked for, if any.
        authzid: Option<String>,
    },
    /// Credentials are verified: may `authcid` act as `authzid`
    /// (RFC 4422 §3.4.1)? Answer with [`Resolution::Verdict`]; the safe
    /// default is to refuse.
    Authorize {
        /// The verified authentication identity.
        authcid: String,
        /// The requested authorization identity (non-empty, differs from `authcid`).
        authzid: String,
    },
}

impl Request {
    /// The user name this request concerns, when known: what lock-out and
    /// rate limits are counted against before any credential is checked.
    pub fn authcid(&self) -> Option<&str> {
        match self {
            Request::VerifyPassword { authcid, .. }
            | Request::CramMd5Secret { authcid }
            | Request::ScramCredentials { authcid, .. }
            | Request::Authorize { authcid, .. } => Some(authcid),
            Request::ValidateToken { user, .. } => user.as_deref(),
            Request::ExternalIdentity { certificate, .. } => Some(certificate),
        }
    }
}

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScramHash {
    /// SHA-1 (SCRAM-SHA-1).
    Sha1,
    /// SHA-256 (SCRAM-SHA-256).
    Sha256,
}

impl ScramHash {
    /// Digest length in octets: the length of StoredKey, ServerKey, the
    /// proof and the signature (20 for SHA-1, 32 for SHA-256).
    pub const fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// The hash part of the mechanism and scheme names (`SHA-1`, `SHA-256`).
    pub const fn name(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SHA-1",
            ScramHash::Sha256 => "SHA-256",
        }
    }
}

/// The embedder's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Answers [`Request::VerifyPassword`] and [`Request::Authorize`].
    Verdict(Verdict),
    /// Answers [`Request::CramMd5Secret`].
    CramMd5Secret(Lookup<secret::CramMd5Secret>),
    /// Answers [`Request::ScramCredentials`].
    ScramCredentials(Lookup<secret::ScramCredentials>),
    /// Answers [`Request::ValidateToken`].
    Token(TokenVerdict),
    /// Answers [`Request::ExternalIdentity`]: the identity to authenticate as.
    Identity(Lookup<String>),
}

/// A yes/no credential decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The credentials are right (or the authorization is allowed).
    Valid,
    /// Wrong password, or not authorized: `535 5.7.8`.
    Invalid,
    /// No such user. The client sees exactly what [`Verdict::Invalid`]
    /// gives (`535 5.7.8`, ATK-07); only logs and lock-out counting can
    /// tell them apart ([`Failure::UnknownUser`]).
    UnknownUser,
    /// Right credentials, but the account is disabled: `525 5.7.13`.
    Disabled,
    /// The backend could not decide (down, timed out): `454 4.7.0`.
    Unavailable,
}

/// The result of looking something up in a credential store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookup<T> {
    /// Found.
    Found(T),
    /// No such user (answered exactly like a wrong password).
    NotFound,
    /// The backend could not answer: `454 4.7.0`.
    Unavailable,
}

/// The answer to a bearer-token validation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenVerdict {
    /// The token is valid and belongs to `identity`.
    Valid {
        /// Who the token authenticates.
        identity: String,
    },
    /// The token is not valid; the mechanism reports `status` to the client
    /// in its JSON failure challenge (RFC 7628 §3.2.2).
    Invalid {
        /// `invalid_token`, `invalid_request` or `insufficient_scope`.
        status: TokenError,
        /// The scope the client should request, if any.
        scope: Option<String>,
    },
    /// The token could not be checked now: `454 4.7.0`.
    Unavailable,
}

/// Why a bearer token was refused (RFC 6750 §3.1 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenError {
    /// Expired, revoked, malformed or otherwise invalid.
    InvalidToken,
    /// The request was malformed.
    InvalidRequest,
    /// The token lacks the scope needed.
    InsufficientScope,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Authenticated.
    Success(Authenticated),
    /// Not authenticated.
    Failure(Failure),
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authenticated {
    /// The mechanism used.
    pub mechanism: Mechanism,
    /// The authentication identity (whose credentials were checked).
    pub authcid: String,
    /// The identity the session now acts as: the authzid when one was
    /// requested and authorized, else the authcid.
    pub identity: String,
}

/// Why an exchange failed. The wire reply hides most of this (ATK-07); the
/// detail is for logs and lock-out counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// Wrong password, bad proof or digest, invalid token.
    InvalidCredentials,
    /// The backend knows no such user ([`Verdict::UnknownUser`], or
    /// [`Lookup::NotFound`] for a stored secret or certificate). The
    /// exchange runs and fails exactly as for a wrong password; only the
    /// outcome differs, for logs.
    UnknownUser,
    /// The decoded client data broke the mechanism's grammar.
    Malformed,
    /// The client cancelled (SMTP `*`, or OAUTHBEARER's abort).
    Cancelled,
    /// The authzid was not authorized for the authcid.
    NotAuthorized,
    /// Right credentials, but the account is disabled.
    Disabled,
    /// The backend could not decide.
    Unavailable,
    /// The exchange needs something this connection or build lacks (no TLS
    /// channel binding, no client certificate, SCRAM compiled out).
    NotAvailable,
    /// The client sent an initial response to a server-first mechanism
    /// (CRAM-MD5). SMTP answers `501 5.7.0` (R4954-4.10, REPLY-14) rather
    /// than `535`.
    InitialResponseNotAllowed,
}

/// An answer that does not fit the exchange's open request (or there is
/// none), handed back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer does not fit the open request")]
pub struct Misfit(pub Resolution);

/// The server side of one SASL exchange.
///
/// Feed it the client's decoded responses with [`step`](Self::step); answer
/// each [`Step::Request`] with [`resolve`](Self::resolve). It holds no
/// borrowed data: the [`ServerContext`] is passed on every call, so an
/// exchange can live inside a session across `await` points. Every path ends
/// in exactly one [`Step::Done`]; calling it again afterwards yields
/// `Done(Failure(Malformed))`, never a panic.
pub struct ServerExchange {
    mechanism: Mechanism,
    inner: Inner,
    /// A [`Step::Request`] is open and waits for [`ServerExchange::resolve`].
    awaiting: bool,
    /// The exchange has produced its [`Step::Done`].
    finished: bool,
}

/// The per-mechanism state machines.
enum Inner {
    Plain(plain::PlainServer),
    Login(login::LoginServer),
    CramMd5(cram_md5::CramMd5Server),
    #[cfg(feature = "scram")]
    Scram(scram::ScramServer),
    OAuth(oauth::OAuthServer),
    External(external::ExternalServer),
    /// The mechanism is compiled out: the first step fails.
    Unavailable,
}

impl fmt::Debug for ServerExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the inner state: it may hold nonces, keys or user names.
        f.debug_struct("ServerExchange")
            .field("mechanism", &self.mechanism)
            .field("awaiting", &self.awaiting)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ServerExchange {
    /// Starts an exchange for `mechanism`. Nothing is sent yet: call
    /// [`step`](Self::step) with the initial response, if any.
    pub fn new(mechanism: Mechanism) -> Self {
        let inner = match mechanism {
            Mechanism::Plain => Inner::Plain(plain::PlainServer::new()),
            Mechanism::Login => Inner::Login(login::LoginServer::new()),
            Mechanism::CramMd5 => Inner::CramMd5(cram_md5::CramMd5Server::new()),
            #[cfg(feature = "scram")]
            Mechanism::ScramSha1
            | Mechanism::ScramSha1Plus
            | Mechanism::ScramSha256
            | Mechanism::ScramSha256Plus => Inner::Scram(scram::ScramServer::new(mechanism, None)),
            Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
                Inner::OAuth(oauth::OAuthServer::new(mechanism))
            }
            Mechanism::External => Inner::External(external::ExternalServer::new()),
            #[allow(unreachable_patterns)]
            _ => Inner::Unavailable,
        };
        Self {
            mechanism,
            inner,
            awaiting: false,
            finished: false,
        }
    }

    /// A SCRAM exchange whose server nonce part is `nonce` instead of fresh
    /// randomness, so the published RFC 5802 / RFC 7677 exchanges can be
    /// replayed byte for byte.
    #[cfg(all(test, feature = "scram"))]
    pub(crate) fn with_scram_nonce(mechanism: Mechanism, nonce: &str) -> Self {
        let mut ex = Self::new(mechanism);
        if mechanism.scram_hash().is_some() {
            ex.inner = Inner::Scram(scram::ScramServer::new(mechanism, Some(nonce.to_owned())));
        }
        ex
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// True once the exchange has produced its [`Step::Done`] (or was
    /// cancelled).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds the next decoded client response.
    ///
    /// On the first call, `None` means the client sent no initial response
    /// and `Some(b"")` an empty one (SMTP's `=`, R4954-4.9); later calls
    /// treat `None` like an empty response. Calling this while a
    /// [`Step::Request`] is still open, or after [`Step::Done`], is a misuse
    /// that ends the exchange with `Done(Failure(Malformed))`.
    pub fn step(&mut self, ctx: &ServerContext<'_>, response: Option<&[u8]>) -> Step {
        if self.finished || self.awaiting {
            self.finished = true;
            self.awaiting = false;
            return Step::Done(Outcome::Failure(Failure::Malformed));
        }
        let step = match &mut self.inner {
            Inner::Plain(m) => m.step(response),
            Inner::Login(m) => m.step(response),
            Inner::CramMd5(m) => m.step(ctx, response),
            #[cfg(feature = "scram")]
            Inner::Scram(m) => m.step(ctx, response),
            Inner::OAuth(m) => m.step(response),
            Inner::External(m) => m.step(ctx, response),
            Inner::Unavailable => Step::Done(Outcome::Failure(Failure::NotAvailable)),
        };
        self.track(step)
    }

    /// Answers the open [`Step::Request`]. A resolution of the wrong kind,
    /// or one given when no request is open, is handed back in [`Misfit`]
    /// and leaves the exchange exactly as it was.
    pub fn resolve(
        &mut self,
        ctx: &ServerContext<'_>,
        resolution: Resolution,
    ) -> Result<Step, Misfit> {
        if !self.awaiting || self.finished {
            return Err(Misfit(resolution));
        }
        let step = match &mut self.inner {
            Inner::Plain(m) => m.resolve(resolution),
            Inner::Login(m) => m.resolve(resolution),
            Inner::CramMd5(m) => m.resolve(resolution),
            #[cfg(feature = "scram")]
            Inner::Scram(m) => m.resolve(ctx, resolution),
            Inner::OAuth(m) => m.resolve(resolution),
            Inner::External(m) => m.resolve(resolution),
            Inner::Unavailable => Err(Misfit(resolution)),
        }?;
        // Only SCRAM needs the context here (fake salts, nonces).
        let _ = ctx;
        Ok(self.track(step))
    }

    /// The client aborted (SMTP `*`, R4954-4.6): the exchange is over.
    pub fn cancel(&mut self) -> Outcome {
        self.finished = true;
        self.awaiting = false;
        Outcome::Failure(Failure::Cancelled)
    }

    fn track(&mut self, step: Step) -> Step {
        self.awaiting = matches!(step, Step::Request(_));
        self.finished = matches!(step, Step::Done(_));
        step
    }
}

/// The outcome of a failed exchange, as a step.
pub(crate) fn fail(failure: Failure) -> Step {
    Step::Done(Outcome::Failure(failure))
}

/// How a credential [`Verdict`] ends the exchange when it is not `Valid`.
pub(crate) fn credential_failure(verdict: Verdict) -> Option<Failure> {
    match verdict {
        Verdict::Valid => None,
        Verdict::Invalid => Some(Failure::InvalidCredentials),
        Verdict::UnknownUser => Some(Failure::UnknownUser),
        Verdict::Disabled => Some(Failure::Disabled),
        Verdict::Unavailable => Some(Failure::Unavailable),
    }
}

/// How an [`Request::Authorize`] verdict ends the exchange when it is not
/// `Valid`: a refusal is [`Failure::NotAuthorized`].
pub(crate) fn authorization_failure(verdict: Verdict) -> Option<Failure> {
    match verdict {
        Verdict::Valid => None,
        Verdict::Invalid | Verdict::UnknownUser => Some(Failure::NotAuthorized),
        Verdict::Disabled => Some(Failure::Disabled),
        Verdict::Unavailable => Some(Failure::Unavailable),
    }
}

/// What follows verified credentials: success, or a question whether
/// `authcid` may act as a different `authzid` (RFC 4422 §3.4.1, ATK-08).
pub(crate) enum Verified {
    /// Authenticated; nothing more to ask.
    Done(Step),
    /// Ask [`Request::Authorize`]; remember the pair for the answer.
    Authorize {
        /// The verified identity.
        authcid: String,
        /// The identity it wants to act as.
        authzid: String,
    },
}

impl Verified {
    /// Credentials for `authcid` are right; `authzid` is what the client
    /// asked to act as, if anything. An authzid equal to the authcid needs
    /// no authorization.
    pub(crate) fn new(mechanism: Mechanism, authcid: String, authzid: Option<String>) -> Self {
        match authzid {
            Some(authzid) if authzid != authcid => Verified::Authorize { authcid, authzid },
            _ => Verified::Done(success(mechanism, authcid, None)),
        }
    }

    /// The request to send for [`Verified::Authorize`].
    pub(crate) fn request(authcid: &str, authzid: &str) -> Step {
        Step::Request(Request::Authorize {
            authcid: authcid.to_owned(),
            authzid: authzid.to_owned(),
        })
    }
}

/// A successful outcome; the identity is the authorized authzid if any.
pub(crate) fn success(mechanism: Mechanism, authcid: String, authzid: Option<String>) -> Step {
    let identity = authzid.unwrap_or_else(|| authcid.clone());
    Step::Done(Outcome::Success(Authenticated {
        mechanism,
        authcid,
        identity,
    }))
}

/// The answer to [`Request::Authorize`] as the final step.
pub(crate) fn authorize_step(
    mechanism: Mechanism,
    authcid: String,
    authzid: String,
    verdict: Verdict,
) -> Step {
    match authorization_failure(verdict) {
        None => success(mechanism, authcid, Some(authzid)),
        Some(f) => fail(f),
    }
}

/// A decoded identity (authcid, authzid, user name) as the mechanisms
/// accept it: UTF-8, 1 to [`MAX_IDENTITY_LEN`] octets, and no control
/// characters at all, so CR, LF and NUL can never reach a log line, a
/// header or a backend query (ATK-04).
pub(crate) fn identity(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.len() > MAX_IDENTITY_LEN {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(s.to_owned())
}

/// A decoded password: UTF-8, 1 to [`MAX_PASSWORD_LEN`] octets, no NUL;
/// `no_line_breaks` also refuses CR and LF (LOGIN, RLOGIN-2.2).
pub(crate) fn password(bytes: &[u8], no_line_breaks: bool) -> Option<Secret<String>> {
    if bytes.is_empty() || bytes.len() > MAX_PASSWORD_LEN {
        return None;
    }
    if bytes
        .iter()
        .any(|&b| b == 0 || (no_line_breaks && (b == b'\r' || b == b'\n')))
    {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    Some(Secret::new(s.to_owned()))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the mechanism tests.

    use super::*;
    use crate::random::FixedEntropy;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Entropy that yields scripted bytes first (then zeros) and a fixed
    /// clock: reproduces published challenges exactly.
    #[derive(Debug)]
    pub(crate) struct Scripted {
        bytes: Mutex<VecDeque<u8>>,
        time: u64,
    }

    impl Scripted {
        pub(crate) fn new(bytes: &[u8], time: u64) -> Self {
            Self {
                bytes: Mutex::new(bytes.iter().copied().collect()),
                time,
            }
        }
    }

    impl Entropy for Scripted {
        fn fill(&self, buf: &mut [u8]) {
            let mut q = match self.bytes.lock() {
                Ok(q) => q,
                Err(p) => p.into_inner(),
            };
            for b in buf {
                *b = q.pop_front().unwrap_or(0);
            }
        }

        fn unix_time(&self) -> u64 {
            self.time
        }
    }

    pub(crate) static ENTROPY: FixedEntropy = FixedEntropy::new(42, 1_700_000_000);
    pub(crate) static KEY: [u8; 32] = [7u8; 32];

    /// A context without TLS extras.
    pub(crate) fn ctx() -> ServerContext<'static> {
        ServerContext {
            hostname: "mx.example.org",
            entropy: &ENTROPY,
            channel_binding: None,
            client_certificate: None,
            fake_salt_key: &KEY,
        }
    }

    /// Unwraps a challenge or fails the test with the step.
    pub(crate) fn challenge(step: Step) -> Vec<u8> {
        match step {
            Step::Challenge(c) => c,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// Unwraps a request or fails the test with the step.
    pub(crate) fn request(step: Step) -> Request {
        match step {
            Step::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Unwraps an outcome or fails the test with the step.
    pub(crate) fn done(step: Step) -> Outcome {
        match step {
            Step::Done(o) => o,
            other => panic!("expected done, got {other:?}"),
        }
    }

    /// The failure of a finished step.
    pub(crate) fn failure(step: Step) -> Failure {
        match done(step) {
            Outcome::Failure(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn exchanges_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ServerExchange>();
        check::<ClientExchange>();
        check::<Step>();
    }

    #[cfg(not(feature = "scram"))]
    #[test]
    fn scram_without_the_feature_is_not_available() {
        for m in [Mechanism::ScramSha1, Mechanism::ScramSha256Plus] {
            assert!(!m.is_available());
            let mut ex = ServerExchange::new(m);
            assert_eq!(
                failure(ex.step(&ctx(), Some(b"n,,n=u,r=x"))),
                Failure::NotAvailable
            );
        }
    }

    /// Answers any request with a plausible resolution.
    fn answer(r: &Request) -> Resolution {
        match r {
            Request::VerifyPassword { .. } | Request::Authorize { .. } => {
                Resolution::Verdict(Verdict::Valid)
            }
            Request::CramMd5Secret { .. } => {
                Resolution::CramMd5Secret(Lookup::Found(secret::CramMd5Secret::from_password("pw")))
            }
            Request::ScramCredentials { hash, .. } => {
                let keys = vec![0u8; hash.output_len()];
                Resolution::ScramCredentials(Lookup::Found(
                    match secret::ScramCredentials::new(*hash, 1, vec![1], keys.clone(), keys) {
                        Ok(c) => c,
                        Err(e) => panic!("{e}"),
                    },
                ))
            }
            Request::ValidateToken { .. } => Resolution::Token(TokenVerdict::Invalid {
                status: TokenError::InvalidToken,
                scope: None,
            }),
            Request::ExternalIdentity { .. } => Resolution::Identity(Lookup::Found("x".into())),
        }
    }

    proptest::proptest! {
        /// Whatever a client sends, every exchange ends in a bounded number
        /// of steps with a `Done`, and never panics (ATK-05).
        #[test]
        fn arbitrary_responses_always_terminate(
            ir in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)),
            responses in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..6),
        ) {
            let cb = ChannelBinding { kind: "tls-exporter".into(), data: vec![1; 32] };
            let sctx = ServerContext {
                channel_binding: Some(&cb),
                client_certificate: Some("CN=x"),
                ..ctx()
            };
            for m in Mechanism::ALL {
                let mut ex = ServerExchange::new(m);
                let mut step = ex.step(&sctx, ir.as_deref());
                let mut inputs = responses.iter();
                for _ in 0..20 {
                    step = match step {
                        Step::Challenge(_) => ex.step(&sctx, Some(inputs.next().map_or(&b""[..], Vec::as_slice))),
                        Step::Request(r) => match ex.resolve(&sctx, answer(&r)) {
                            Ok(s) => s,
                            Err(m) => panic!("misfit {m:?} for {r:?}"),
                        },
                        Step::Done(_) => break,
                    };
                }
                proptest::prop_assert!(ex.is_finished(), "{} did not finish", m);
                let again = ex.step(&sctx, Some(b""));
                proptest::prop_assert_eq!(again, Step::Done(Outcome::Failure(Failure::Malformed)));
            }
        }
    }

    /// A success for `identity` via `mechanism`, authcid = identity.
    pub(crate) fn ok(mechanism: Mechanism, who: &str) -> Outcome {
        Outcome::Success(Authenticated {
            mechanism,
            authcid: who.to_owned(),
            identity: who.to_owned(),
        })
    }
}
