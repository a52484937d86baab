//! The client side of the mechanisms: for submission clients, test
//! harnesses and the round-trip tests of the server side.
//!
//! ```
//! use smtp_auth::random::OsEntropy;
//! use smtp_auth::sasl::{ClientContext, ClientExchange, Credentials, Mechanism};
//!
//! let ctx = ClientContext::new(&OsEntropy);
//! let creds = Credentials::password("tim", "tanstaaf");
//! let mech = creds.best_mechanism(&[Mechanism::Plain, Mechanism::Login], &ctx);
//! assert_eq!(mech, Some(Mechanism::Plain));
//! let mut client = ClientExchange::new(Mechanism::Plain, creds, &ctx).unwrap();
//! assert_eq!(client.initial_response().unwrap(), b"\0tim\0tanstaaf");
//! assert!(client.is_complete());
//! ```

use super::{identity, oauth, ChannelBinding, Mechanism};
use crate::random::Entropy;
use crate::secret::Secret;

/// What a client authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and password: PLAIN, LOGIN, CRAM-MD5, SCRAM.
    Password {
        /// The authentication identity (user name).
        authcid: String,
        /// The password.
        password: Secret<String>,
        /// Act as this identity instead (PLAIN and SCRAM only).
        authzid: Option<String>,
    },
    /// A bearer token: XOAUTH2, OAUTHBEARER.
    Token {
        /// The user the token is for (XOAUTH2 requires it; OAUTHBEARER
        /// sends it as `a=` when not empty).
        user: String,
        /// The OAuth 2.0 access token.
        token: Secret<String>,
    },
    /// The TLS client certificate: EXTERNAL.
    External {
        /// Act as this identity instead of the certificate's.
        authzid: Option<String>,
    },
}

impl Credentials {
    /// Password credentials without an authzid.
    pub fn password(authcid: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Password {
            authcid: authcid.into(),
            password: Secret::new(password.into()),
            authzid: None,
        }
    }

    /// Bearer-token credentials.
    pub fn token(user: impl Into<String>, token: impl Into<String>) -> Self {
        Credentials::Token {
            user: user.into(),
            token: Secret::new(token.into()),
        }
    }

    /// The strongest of the `offered` mechanisms these credentials can use
    /// on this connection, in the order of [`Mechanism::ALL`]. `-PLUS`
    /// mechanisms need channel binding in `ctx`.
    pub fn best_mechanism(
        &self,
        offered: &[Mechanism],
        ctx: &ClientContext<'_>,
    ) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| {
            offered.contains(m)
                && m.usable_with(self)
                && m.is_available()
                && (!m.uses_channel_binding() || ctx.channel_binding.is_some())
        })
    }
}

impl Mechanism {
    /// True when `credentials` are the kind this mechanism takes (a
    /// password, a token or a certificate). LOGIN and CRAM-MD5 cannot carry
    /// an authzid, so password credentials with one do not fit them.
    pub fn usable_with(self, credentials: &Credentials) -> bool {
        match credentials {
            Credentials::Password { authzid, .. } => match self {
                Mechanism::Plain
                | Mechanism::ScramSha1
                | Mechanism::ScramSha1Plus
                | Mechanism::ScramSha256
                | Mechanism::ScramSha256Plus => true,
                Mechanism::Login | Mechanism::CramMd5 => authzid.is_none(),
                _ => false,
            },
            Credentials::Token { .. } => {
                matches!(self, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
            }
            Credentials::External { .. } => self == Mechanism::External,
        }
    }
}

/// What a client exchange needs from its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct ClientContext<'a> {
    /// The source of the SCRAM client nonce.
    pub entropy: &'a dyn Entropy,
    /// The TLS connection's channel binding, if the client has one.
    pub channel_binding: Option<&'a ChannelBinding>,
    /// The server's host name, sent by OAUTHBEARER (`host=`).
    pub host: Option<&'a str>,
    /// The server's port, sent by OAUTHBEARER (`port=`).
    pub port: Option<u16>,
}

impl<'a> ClientContext<'a> {
    /// A context with only an entropy source.
    pub fn new(entropy: &'a dyn Entropy) -> Self {
        Self {
            entropy,
            channel_binding: None,
            host: None,
            port: None,
        }
    }
}

/// Why a client exchange could not go on. Never carries a password or a
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The credentials are not the kind the mechanism takes.
    #[error("the credentials do not fit {mechanism}")]
    MechanismMismatch {
        /// The mechanism asked for.
        mechanism: Mechanism,
    },
    /// The mechanism is compiled out of this build.
    #[error("{mechanism} is not available in this build")]
    MechanismUnavailable {
        /// The mechanism asked for.
        mechanism: Mechanism,
    },
    /// A `-PLUS` mechanism without channel-binding data.
    #[error("the mechanism needs TLS channel binding")]
    ChannelBindingRequired,
    /// A credential cannot be sent with this mechanism (empty, too long,
    /// control characters, NUL).
    #[error("invalid {field}")]
    InvalidCredentials {
        /// Which part: `user name`, `password`, `authzid`, `token`, `host`.
        field: &'static str,
    },
    /// The server sent a challenge when none was expected.
    #[error("unexpected challenge from the server")]
    UnexpectedChallenge,
    /// The server's challenge broke the mechanism's grammar.
    #[error("malformed challenge from the server")]
    MalformedChallenge,
    /// The SCRAM server nonce does not extend the client's.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// The SCRAM iteration count is zero or unreasonably high.
    #[error("unacceptable SCRAM iteration count {iterations}")]
    IterationCount {
        /// The count the server asked for.
        iterations: u32,
    },
    /// The SCRAM server signature is wrong: the server does not know the
    /// credentials (or someone is in the middle).
    #[error("the server's SCRAM signature does not verify")]
    ServerSignatureMismatch,
    /// The SCRAM server reported an error (`e=`).
    #[error("SCRAM server error: {error}")]
    ServerError {
        /// The RFC 5802 §7 error name, sanitized.
        error: String,
    },
}

/// The client side of one SASL exchange.
#[derive(Debug)]
pub struct ClientExchange {
    mechanism: Mechanism,
    inner: Inner,
    /// OAuth error JSON from the server, if it refused the token.
    error_details: Option<String>,
}

#[derive(Debug)]
enum Inner {
    /// Message-once mechanisms: PLAIN, XOAUTH2, OAUTHBEARER, EXTERNAL.
    Single {
        message: Secret<Vec<u8>>,
        state: SingleState,
    },
    Login {
        user: String,
        password: Secret<String>,
        send_user_first: bool,
        state: LoginState,
    },
    CramMd5 {
        user: String,
        password: Secret<String>,
        sent: bool,
    },
    #[cfg(feature = "scram")]
    Scram(Box<super::scram::ScramClient>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SingleState {
    Initial,
    Sent,
    /// The server refused the token; the error was acknowledged.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginState {
    Initial,
    SentUser,
    SentPassword,
}

fn checked_identity(s: &str, field: &'static str) -> Result<String, ClientError> {
    identity(s.as_bytes()).ok_or(ClientError::InvalidCredentials { field })
}

fn checked_authzid(z: Option<&str>) -> Result<Option<String>, ClientError> {
    z.filter(|z| !z.is_empty())
        .map(|z| checked_identity(z, "authzid"))
        .transpose()
}

/// A password that the mechanism can carry: not empty, no NUL (and for
/// LOGIN no CR or LF either, RLOGIN-2.2).
fn checked_password(p: &Secret<String>, no_line_breaks: bool) -> Result<(), ClientError> {
    let bytes = p.expose().as_bytes();
    if bytes.is_empty()
        || bytes
            .iter()
            .any(|&b| b == 0 || (no_line_breaks && (b == b'\r' || b == b'\n')))
    {
        return Err(ClientError::InvalidCredentials { field: "password" });
    }
    Ok(())
}

impl ClientExchange {
    /// Prepares an exchange. Fails when the credentials do not fit the
    /// mechanism or cannot be encoded by it.
    pub fn new(
        mechanism: Mechanism,
        credentials: Credentials,
        ctx: &ClientContext<'_>,
    ) -> Result<Self, ClientError> {
        #[cfg(feature = "scram")]
        let nonce = super::scram::random_nonce(ctx.entropy);
        #[cfg(not(feature = "scram"))]
        let nonce = String::new();
        Self::build(mechanism, credentials, ctx, nonce)
    }

    /// An exchange with a fixed SCRAM client nonce, to replay the published
    /// RFC 5802 / RFC 7677 exchanges.
    #[cfg(all(test, feature = "scram"))]
    pub(crate) fn with_scram_nonce(
        mechanism: Mechanism,
        credentials: Credentials,
        ctx: &ClientContext<'_>,
        nonce: &str,
    ) -> Result<Self, ClientError> {
        Self::build(mechanism, credentials, ctx, nonce.to_owned())
    }

    fn build(
        mechanism: Mechanism,
        credentials: Credentials,
        ctx: &ClientContext<'_>,
        nonce: String,
    ) -> Result<Self, ClientError> {
        if !mechanism.usable_with(&credentials) {
            return Err(ClientError::MechanismMismatch { mechanism });
        }
        if !mechanism.is_available() {
            return Err(ClientError::MechanismUnavailable { mechanism });
        }
        #[cfg(not(feature = "scram"))]
        let _ = &nonce;
        let single = |message: Vec<u8>| Inner::Single {
            message: Secret::new(message),
            state: SingleState::Initial,
        };
        let inner = match (mechanism, credentials) {
            (
                Mechanism::Plain,
                Credentials::Password {
                    authcid,
                    password,
                    authzid,
                },
            ) => {
                let authcid = checked_identity(&authcid, "user name")?;
                let authzid = checked_authzid(authzid.as_deref())?;
                checked_password(&password, false)?;
                let mut m = authzid.unwrap_or_default().into_bytes();
                m.push(0);
                m.extend_from_slice(authcid.as_bytes());
                m.push(0);
                m.extend_from_slice(password.expose().as_bytes());
                single(m)
            }
            (
                Mechanism::Login,
                Credentials::Password {
                    authcid, password, ..
                },
            ) => {
                checked_password(&password, true)?;
                Inner::Login {
                    user: checked_identity(&authcid, "user name")?,
                    password,
                    send_user_first: true,
                    state: LoginState::Initial,
                }
            }
            (
                Mechanism::CramMd5,
                Credentials::Password {
                    authcid, password, ..
                },
            ) => {
                checked_password(&password, false)?;
                Inner::CramMd5 {
                    user: checked_identity(&authcid, "user name")?,
                    password,
                    sent: false,
                }
            }
            #[cfg(feature = "scram")]
            (
                Mechanism::ScramSha1
                | Mechanism::ScramSha1Plus
                | Mechanism::ScramSha256
                | Mechanism::ScramSha256Plus,
                Credentials::Password {
                    authcid,
                    password,
                    authzid,
                },
            ) => {
                let authcid = checked_identity(&authcid, "user name")?;
                let authzid = checked_authzid(authzid.as_deref())?;
                checked_password(&password, false)?;
                Inner::Scram(Box::new(super::scram::ScramClient::new(
                    mechanism,
                    &authcid,
                    authzid.as_deref(),
                    password,
                    ctx.channel_binding,
                    nonce,
                )?))
            }
            (Mechanism::XOAuth2, Credentials::Token { user, token }) => {
                let user = checked_identity(&user, "user name")?;
                if !oauth::valid_vchar_token(token.expose().as_bytes()) {
                    return Err(ClientError::InvalidCredentials { field: "token" });
                }
                single(oauth::xoauth2_message(&user, token.expose()))
            }
            (Mechanism::OAuthBearer, Credentials::Token { user, token }) => {
                let user = checked_authzid(Some(&user))?;
                if !oauth::valid_b64token(token.expose().as_bytes()) {
                    return Err(ClientError::InvalidCredentials { field: "token" });
                }
                if let Some(host) = ctx.host {
                    if host.is_empty() || !host.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                        return Err(ClientError::InvalidCredentials { field: "host" });
                    }
                }
                single(oauth::oauthbearer_message(
                    user.as_deref(),
                    token.expose(),
                    ctx.host,
                    ctx.port,
                ))
            }
            (Mechanism::External, Credentials::External { authzid }) => {
                let authzid = checked_authzid(authzid.as_deref())?;
                single(authzid.unwrap_or_default().into_bytes())
            }
            (mechanism, _) => return Err(ClientError::MechanismMismatch { mechanism }),
        };
        Ok(Self {
            mechanism,
            inner,
            error_details: None,
        })
    }

    /// Whether LOGIN sends the user name as its initial response
    /// (`AUTH LOGIN dGlt`, as Python's smtplib and .NET do; the default) or
    /// waits for the `Username:` prompt. Other mechanisms ignore it.
    #[must_use]
    pub fn login_initial_response(mut self, send: bool) -> Self {
        if let Inner::Login {
            send_user_first, ..
        } = &mut self.inner
        {
            *send_user_first = send;
        }
        self
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The initial response to put on the AUTH line, for mechanisms that
    /// have one; `None` for CRAM-MD5 (server-first) and once the exchange
    /// has started. `Some(vec![])` is an empty response, sent as `=`.
    pub fn initial_response(&mut self) -> Option<Vec<u8>> {
        match &mut self.inner {
            Inner::Single { message, state } if *state == SingleState::Initial => {
                *state = SingleState::Sent;
                Some(message.expose().clone())
            }
            Inner::Login {
                user,
                send_user_first: true,
                state,
                ..
            } if *state == LoginState::Initial => {
                *state = LoginState::SentUser;
                Some(user.clone().into_bytes())
            }
            #[cfg(feature = "scram")]
            Inner::Scram(s) => s.client_first(),
            _ => None,
        }
    }

    /// Answers a decoded server challenge.
    ///
    /// SCRAM checks the server signature in `v=` and fails on a mismatch or
    /// an `e=` error. When a bearer token is refused, the JSON challenge is
    /// answered as the mechanisms require (`%x01` for OAUTHBEARER, empty for
    /// XOAUTH2) and kept in [`error_details`](Self::error_details); the
    /// server then fails the exchange.
    ///
    /// On `Err` the exchange is over: cancel it (SMTP `*`) or, after a
    /// SCRAM `e=`, send an empty response and expect the failure reply.
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mechanism = self.mechanism;
        match &mut self.inner {
            Inner::Single { message, state } => match *state {
                SingleState::Initial => {
                    *state = SingleState::Sent;
                    Ok(message.expose().clone())
                }
                SingleState::Sent
                    if matches!(mechanism, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
                        && !challenge.is_empty() =>
                {
                    *state = SingleState::Refused;
                    let text = String::from_utf8_lossy(challenge);
                    self.error_details = Some(text.chars().take(1024).collect());
                    Ok(if mechanism == Mechanism::OAuthBearer {
                        vec![0x01]
                    } else {
                        Vec::new()
                    })
                }
                _ => Err(ClientError::UnexpectedChallenge),
            },
            Inner::Login {
                user,
                password,
                state,
                ..
            } => match *state {
                LoginState::Initial => {
                    *state = LoginState::SentUser;
                    Ok(user.clone().into_bytes())
                }
                LoginState::SentUser => {
                    *state = LoginState::SentPassword;
                    Ok(password.expose().clone().into_bytes())
                }
                LoginState::SentPassword => Err(ClientError::UnexpectedChallenge),
            },
            Inner::CramMd5 {
                user,
                password,
                sent,
            } => {
                if *sent {
                    return Err(ClientError::UnexpectedChallenge);
                }
                if challenge.is_empty() {
                    return Err(ClientError::MalformedChallenge);
                }
                *sent = true;
                let secret = super::secret::CramMd5Secret::from_password(password.expose());
                let mac = secret
                    .hmac(challenge)
                    .ok_or(ClientError::MalformedChallenge)?;
                Ok(format!("{user} {}", super::crypto::hex(&mac)).into_bytes())
            }
            #[cfg(feature = "scram")]
            Inner::Scram(s) => s.respond(challenge),
        }
    }

    /// True when the client has said everything and a success reply from
    /// the server is to be believed. For SCRAM that means the server's
    /// signature has verified: a server that reports success without it
    /// must be treated as failed.
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::Single { state, .. } => *state == SingleState::Sent,
            Inner::Login { state, .. } => *state == LoginState::SentPassword,
            Inner::CramMd5 { sent, .. } => *sent,
            #[cfg(feature = "scram")]
            Inner::Scram(s) => s.is_verified(),
        }
    }

    /// True only when the server proved it knows the credentials (SCRAM's
    /// verified `v=`); no other mechanism authenticates the server.
    pub fn server_verified(&self) -> bool {
        match &self.inner {
            #[cfg(feature = "scram")]
            Inner::Scram(s) => s.is_verified(),
            _ => false,
        }
    }

    /// The server's JSON error when it refused a bearer token (RFC 7628
    /// §3.2.2), for the user or the log. Not secret, but server-controlled:
    /// at most 1024 characters.
    pub fn error_details(&self) -> Option<&str> {
        self.error_details.as_deref()
    }
}
