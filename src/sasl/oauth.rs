//! Bearer-token mechanisms: OAUTHBEARER (RFC 7628) and Google's XOAUTH2.
//!
//! ```text
//! OAUTHBEARER: n,a=user,^Ahost=H^Aport=P^Aauth=Bearer T^A^A   (^A = %x01)
//! XOAUTH2:     user=U^Aauth=Bearer T^A^A
//! ```
//!
//! A refused token is reported in a JSON challenge; the client answers it
//! (`%x01` for OAUTHBEARER, an empty response for XOAUTH2) and the exchange
//! then fails (RFC 7628 §3.2.2, R7628-3.2.3, RXOA2-2).
//!
//! When the client names a user (`a=` or `user=`) that is not the identity
//! the token belongs to, the exchange asks [`Request::Authorize`] with the
//! token's identity as authcid and the named user as authzid: the token,
//! not the claim, decides who logged in (ATK-08), and the embedder decides
//! whether one may act as the other (the safe answer is to refuse).

use super::gs2::{self, CbFlag};
use super::{
    authorize_step, fail, identity, Failure, Mechanism, Misfit, Request, Resolution, Step,
    TokenError, TokenVerdict, Verified, MAX_TOKEN_MESSAGE_LEN,
};
use crate::secret::Secret;

/// The key/value separator, `%x01`.
const KVSEP: u8 = 0x01;

/// A parsed client message.
#[derive(Debug)]
struct Message {
    user: Option<String>,
    token: Secret<String>,
}

/// `value = *(VCHAR / SP / HTAB / CR / LF)` (RFC 7628 §3.1).
fn valid_value(v: &[u8]) -> bool {
    v.iter()
        .all(|&b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// `b64token` of RFC 6750 §2.1: the only token syntax OAUTHBEARER allows.
pub(crate) fn valid_b64token(t: &[u8]) -> bool {
    let body_len = t.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let (body, pad) = t.split_at(body_len);
    !body.is_empty()
        && body.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && pad.iter().all(|&b| b == b'=')
}

/// XOAUTH2 tokens have no formal grammar: any visible ASCII, no spaces.
pub(crate) fn valid_vchar_token(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|&b| (0x21..=0x7e).contains(&b))
}

/// Reads `kvpair* kvsep` up to the end of `input`: each pair is
/// `key=value` ending in `%x01`, and an empty pair ends the list, which
/// must also end the message. Calls `f` for each pair.
fn kvpairs(mut input: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Option<()>) -> Option<()> {
    loop {
        let end = input.iter().position(|&b| b == KVSEP)?;
        let (pair, rest) = input.split_at(end);
        let rest = rest.get(1..)?;
        if pair.is_empty() {
            return rest.is_empty().then_some(());
        }
        let eq = pair.iter().position(|&b| b == b'=')?;
        let (key, value) = pair.split_at(eq);
        let value = value.get(1..)?;
        // key = 1*ALPHA
        if key.is_empty() || !key.iter().all(u8::is_ascii_alphabetic) || !valid_value(value) {
            return None;
        }
        f(key, value)?;
        input = rest;
    }
}

/// `auth=Bearer <token>`: the scheme is case-insensitive, then one or more
/// spaces, then a token accepted by `valid`.
fn bearer(value: &[u8], valid: fn(&[u8]) -> bool) -> Option<Secret<String>> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let rest = value.get(6..)?;
    let token_start = rest.iter().position(|&b| b != b' ')?;
    if token_start == 0 {
        return None;
    }
    let token = rest.get(token_start..)?;
    if !valid(token) {
        return None;
    }
    Some(Secret::new(String::from_utf8(token.to_vec()).ok()?))
}

/// Sets `slot` once; a repeated key is malformed.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// Parses an OAUTHBEARER client response (R7628-3.1.1, R7628-3.1.2).
fn parse_oauthbearer(msg: &[u8]) -> Option<Message> {
    let (header, rest) = gs2::parse(msg).ok()?;
    // No channel binding: only `n` (a `y` or `p=` header is refused).
    if header.flag != CbFlag::No {
        return None;
    }
    let rest = rest.strip_prefix(&[KVSEP])?;
    let (mut token, mut host, mut port) = (None, None, None);
    kvpairs(rest, |key, value| match key {
        b"auth" => once(&mut token, bearer(value, valid_b64token)),
        b"host" => once(&mut host, (!value.is_empty()).then_some(())),
        b"port" => once(
            &mut port,
            (!value.is_empty()
                && value.len() <= 5
                && value.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(value).ok()?.parse::<u16>().is_ok())
            .then_some(()),
        ),
        // Unknown keys are extensions: ignored (RFC 7628 §3.1).
        _ => Some(()),
    })?;
    Some(Message {
        user: header.authzid,
        token: token?,
    })
}

/// Parses an XOAUTH2 client response (RXOA2-1): exactly `user` and `auth`.
fn parse_xoauth2(msg: &[u8]) -> Option<Message> {
    let (mut user, mut token) = (None, None);
    kvpairs(msg, |key, value| match key {
        b"user" => once(&mut user, identity(value)),
        b"auth" => once(&mut token, bearer(value, valid_vchar_token)),
        _ => None,
    })?;
    Some(Message {
        user: Some(user?),
        token: token?,
    })
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The failure challenge: RFC 7628 §3.2.2 for OAUTHBEARER, Google's form
/// with HTTP-like status codes for XOAUTH2 (as Dovecot sends it).
pub(crate) fn error_json(mechanism: Mechanism, status: TokenError, scope: Option<&str>) -> Vec<u8> {
    let mut out = String::from("{\"status\":");
    if mechanism == Mechanism::XOAuth2 {
        let code = match status {
            TokenError::InvalidToken => "401",
            TokenError::InsufficientScope => "403",
            TokenError::InvalidRequest => "400",
        };
        json_string(&mut out, code);
        out.push_str(",\"schemes\":\"bearer\"");
    } else {
        let name = match status {
            TokenError::InvalidToken => "invalid_token",
            TokenError::InvalidRequest => "invalid_request",
            TokenError::InsufficientScope => "insufficient_scope",
        };
        json_string(&mut out, name);
    }
    if let Some(scope) = scope {
        out.push_str(",\"scope\":");
        json_string(&mut out, scope);
    }
    out.push('}');
    out.into_bytes()
}

/// The OAUTHBEARER client response.
pub(crate) fn oauthbearer_message(
    user: Option<&str>,
    token: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> Vec<u8> {
    let mut m = String::from("n,");
    if let Some(user) = user {
        m.push_str("a=");
        m.push_str(&gs2::escape(user));
    }
    m.push_str(",\x01");
    if let Some(host) = host {
        m.push_str("host=");
        m.push_str(host);
        m.push('\x01');
    }
    if let Some(port) = port {
        m.push_str(&format!("port={port}\x01"));
    }
    m.push_str("auth=Bearer ");
    m.push_str(token);
    m.push_str("\x01\x01");
    m.into_bytes()
}

/// The XOAUTH2 client response.
pub(crate) fn xoauth2_message(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// The server side of OAUTHBEARER and XOAUTH2.
#[derive(Debug)]
pub(crate) struct OAuthServer {
    mechanism: Mechanism,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitMessage,
    Validating {
        user: Option<String>,
    },
    Authorizing {
        authcid: String,
        authzid: String,
    },
    /// The JSON error was sent; the client's answer ends the exchange.
    AwaitErrorAck,
    Done,
}

impl OAuthServer {
    pub(crate) fn new(mechanism: Mechanism) -> Self {
        Self {
            mechanism,
            state: State::Start,
        }
    }

    pub(crate) fn step(&mut self, response: Option<&[u8]>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start if response.is_none() => {
                self.state = State::AwaitMessage;
                Step::Challenge(Vec::new())
            }
            State::Start | State::AwaitMessage => {
                let msg = response.unwrap_or_default();
                let parsed = if msg.len() > MAX_TOKEN_MESSAGE_LEN {
                    None
                } else if self.mechanism == Mechanism::XOAuth2 {
                    parse_xoauth2(msg)
                } else {
                    parse_oauthbearer(msg)
                };
                let Some(Message { user, token }) = parsed else {
                    return fail(Failure::Malformed);
                };
                self.state = State::Validating { user: user.clone() };
                Step::Request(Request::ValidateToken {
                    mechanism: self.mechanism,
                    user,
                    token,
                })
            }
            // R7628-3.2.3: the expected answer is `%x01` (XOAUTH2: empty);
            // anything else fails too. Either way the token was refused.
            State::AwaitErrorAck => fail(Failure::InvalidCredentials),
            State::Validating { .. } | State::Authorizing { .. } | State::Done => {
                fail(Failure::Malformed)
            }
        }
    }

    pub(crate) fn resolve(&mut self, resolution: Resolution) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            (State::Validating { user }, Resolution::Token(verdict)) => Ok(match verdict {
                TokenVerdict::Valid { identity } => {
                    match Verified::new(self.mechanism, identity, user) {
                        Verified::Done(step) => step,
                        Verified::Authorize { authcid, authzid } => {
                            let step = Verified::request(&authcid, &authzid);
                            self.state = State::Authorizing { authcid, authzid };
                            step
                        }
                    }
                }
                TokenVerdict::Invalid { status, scope } => {
                    self.state = State::AwaitErrorAck;
                    Step::Challenge(error_json(self.mechanism, status, scope.as_deref()))
                }
                TokenVerdict::Unavailable => fail(Failure::Unavailable),
            }),
            (State::Authorizing { authcid, authzid }, Resolution::Verdict(v)) => {
                Ok(authorize_step(self.mechanism, authcid, authzid, v))
            }
            (state, resolution) => {
                self.state = state;
                Err(Misfit(resolution))
            }
        }
    }
}
