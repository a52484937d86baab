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

pub mod secret;

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
#[derive(Debug)]
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
    /// Wrong password, unknown user, or not authorized: `535 5.7.8`.
    Invalid,
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
    /// Wrong password, unknown user, bad proof or digest, invalid token.
    InvalidCredentials,
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
    /// The exchange needs something this connection lacks (no TLS channel
    /// binding, no client certificate).
    NotAvailable,
}

/// An answer that does not fit the exchange's open request (or there is
/// none), handed back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer does not fit the open request")]
pub struct Misfit(pub Resolution);
