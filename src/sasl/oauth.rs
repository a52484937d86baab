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
/// must also end the message. Calls `f` for each pair. `ascii_values`
/// applies RFC 7628's value grammar; XOAUTH2 has none and carries UTF-8
/// user names, which its own checks validate.
fn kvpairs(
    mut input: &[u8],
    ascii_values: bool,
    mut f: impl FnMut(&[u8], &[u8]) -> Option<()>,
) -> Option<()> {
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
        if key.is_empty()
            || !key.iter().all(u8::is_ascii_alphabetic)
            || (ascii_values && !valid_value(value))
        {
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
    kvpairs(rest, true, |key, value| match key {
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
    kvpairs(msg, false, |key, value| match key {
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
                // A backend identity must pass the same rules as a client's
                // (ATK-04): an empty or control-character name from a buggy
                // token service is a backend fault, not a login.
                TokenVerdict::Valid { identity }
                    if super::identity(identity.as_bytes()).is_none() =>
                {
                    fail(Failure::Unavailable)
                }
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn validate(user: Option<&str>, token: &str, mech: Mechanism) -> Request {
        Request::ValidateToken {
            mechanism: mech,
            user: user.map(str::to_owned),
            token: Secret::new(token.to_owned()),
        }
    }

    #[test]
    fn rxoa2_1_published_example() {
        let msg =
            encoding::decode(b"dXNlcj11c2VyAWF1dGg9QmVhcmVyIG1GXzkuQjVmLTQuMUpxTQEB").unwrap();
        assert_eq!(msg, b"user=user\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01");
        let mut ex = ServerExchange::new(Mechanism::XOAuth2);
        let r = request(ex.step(&ctx(), Some(&msg)));
        assert_eq!(
            r,
            validate(Some("user"), "mF_9.B5f-4.1JqM", Mechanism::XOAuth2)
        );
        let s = ex
            .resolve(
                &ctx(),
                Resolution::Token(TokenVerdict::Valid {
                    identity: "user".into(),
                }),
            )
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::XOAuth2, "user"));
    }

    #[test]
    fn r7628_3_1_1_published_example() {
        // RFC 7628 §4.1.
        let msg = b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
        let mut ex = ServerExchange::new(Mechanism::OAuthBearer);
        let r = request(ex.step(&ctx(), Some(msg)));
        assert_eq!(
            r,
            validate(
                Some("user@example.com"),
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                Mechanism::OAuthBearer
            )
        );
        let s = ex
            .resolve(
                &ctx(),
                Resolution::Token(TokenVerdict::Valid {
                    identity: "user@example.com".into(),
                }),
            )
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::OAuthBearer, "user@example.com"));
    }

    #[test]
    fn r7628_3_1_2_minimal_and_case_insensitive_bearer() {
        for msg in [
            &b"n,,\x01auth=Bearer abc\x01\x01"[..],
            b"n,,\x01auth=bearer abc\x01\x01",
            b"n,,\x01auth=BEARER   abc\x01\x01",
            b"n,,\x01future=x y\x01auth=Bearer abc\x01\x01",
        ] {
            let mut ex = ServerExchange::new(Mechanism::OAuthBearer);
            let r = request(ex.step(&ctx(), Some(msg)));
            assert_eq!(r, validate(None, "abc", Mechanism::OAuthBearer), "{msg:?}");
        }
    }

    #[test]
    fn r7628_3_1_2_malformed_messages_fail() {
        let big = format!(
            "n,,\x01auth=Bearer {}\x01\x01",
            "a".repeat(MAX_TOKEN_MESSAGE_LEN)
        );
        for bad in [
            // Broken GS2 headers.
            &b""[..],
            b"\x01",
            b"n,\x01auth=Bearer abc\x01\x01",
            b"n\x01auth=Bearer abc\x01\x01",
            b"y,,\x01auth=Bearer abc\x01\x01",
            b"p=tls-exporter,,\x01auth=Bearer abc\x01\x01",
            b"n,a=,\x01auth=Bearer abc\x01\x01",
            b"n,a=us=er,\x01auth=Bearer abc\x01\x01",
            b"n,b=user,\x01auth=Bearer abc\x01\x01",
            // Missing or bad auth.
            b"n,,\x01\x01",
            b"n,,\x01host=h\x01\x01",
            b"n,,\x01auth=abc\x01\x01",
            b"n,,\x01auth=Basic abc\x01\x01",
            b"n,,\x01auth=Bearerabc\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01auth=Bearer a b\x01\x01",
            b"n,,\x01auth=Bearer a=b\x01\x01",
            b"n,,\x01auth=Bearer a,b\x01\x01",
            b"n,,\x01auth=Bearer abc\x01auth=Bearer abc\x01\x01",
            // Bad kvpairs and framing.
            b"n,,auth=Bearer abc\x01\x01",
            b"n,,\x01auth=Bearer abc\x01",
            b"n,,\x01auth=Bearer abc",
            b"n,,\x01auth=Bearer abc\x01\x01\x01",
            b"n,,\x01auth=Bearer abc\x01\x01x",
            b"n,,\x01=x\x01auth=Bearer abc\x01\x01",
            b"n,,\x01ho1st=x\x01auth=Bearer abc\x01\x01",
            b"n,,\x01hostx\x01auth=Bearer abc\x01\x01",
            b"n,,\x01host=\x00\x01auth=Bearer abc\x01\x01",
            b"n,,\x01host=\xc3\xa9\x01auth=Bearer abc\x01\x01",
            b"n,,\x01port=99999\x01auth=Bearer abc\x01\x01",
            b"n,,\x01port=x\x01auth=Bearer abc\x01\x01",
            b"n,,\x01port=1\x01port=2\x01auth=Bearer abc\x01\x01",
            big.as_bytes(),
        ] {
            let mut ex = ServerExchange::new(Mechanism::OAuthBearer);
            assert_eq!(
                failure(ex.step(&ctx(), Some(bad))),
                Failure::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rxoa2_1_malformed_messages_fail() {
        for bad in [
            &b""[..],
            b"user=u\x01\x01",
            b"auth=Bearer t\x01\x01",
            b"user=u\x01auth=Bearer t\x01",
            b"user=u\x01auth=Bearer t",
            b"user=u\x01auth=t\x01\x01",
            b"user=u\x01auth=Bearer t t\x01\x01",
            b"user=\x01auth=Bearer t\x01\x01",
            b"user=u\r\n\x01auth=Bearer t\x01\x01",
            b"user=u\x01auth=Bearer t\x01other=x\x01\x01",
            b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
            b"n,,\x01user=u\x01auth=Bearer t\x01\x01",
        ] {
            let mut ex = ServerExchange::new(Mechanism::XOAuth2);
            assert_eq!(
                failure(ex.step(&ctx(), Some(bad))),
                Failure::Malformed,
                "{bad:?}"
            );
        }
        // UTF-8 user names (SMTPUTF8 addresses) are fine.
        let mut ex = ServerExchange::new(Mechanism::XOAuth2);
        let r = request(ex.step(
            &ctx(),
            Some("user=jürgen@bücher.de\x01auth=Bearer t\x01\x01".as_bytes()),
        ));
        assert_eq!(
            r,
            validate(Some("jürgen@bücher.de"), "t", Mechanism::XOAuth2)
        );
        // Order does not matter, Bearer case does not either.
        let mut ex = ServerExchange::new(Mechanism::XOAuth2);
        let r = request(ex.step(&ctx(), Some(b"auth=bearer t!k\x01user=u\x01\x01")));
        assert_eq!(r, validate(Some("u"), "t!k", Mechanism::XOAuth2));
    }

    fn refused(
        mech: Mechanism,
        msg: &[u8],
        status: TokenError,
        scope: Option<&str>,
    ) -> (ServerExchange, Vec<u8>) {
        let mut ex = ServerExchange::new(mech);
        let _ = request(ex.step(&ctx(), Some(msg)));
        let s = ex
            .resolve(
                &ctx(),
                Resolution::Token(TokenVerdict::Invalid {
                    status,
                    scope: scope.map(str::to_owned),
                }),
            )
            .unwrap();
        (ex, challenge(s))
    }

    const OB: &[u8] = b"n,,\x01auth=Bearer abc\x01\x01";
    const XO: &[u8] = b"user=u\x01auth=Bearer abc\x01\x01";

    #[test]
    fn r7628_3_2_2_error_challenge_then_x01_fails() {
        let (mut ex, c) = refused(Mechanism::OAuthBearer, OB, TokenError::InvalidToken, None);
        assert_eq!(c, br#"{"status":"invalid_token"}"#);
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"\x01"))),
            Failure::InvalidCredentials
        );

        let (_, c) = refused(
            Mechanism::OAuthBearer,
            OB,
            TokenError::InsufficientScope,
            Some("mail \"send\"\n"),
        );
        assert_eq!(
            c,
            br#"{"status":"insufficient_scope","scope":"mail \"send\"\u000a"}"#
        );
        let (_, c) = refused(Mechanism::OAuthBearer, OB, TokenError::InvalidRequest, None);
        assert_eq!(c, br#"{"status":"invalid_request"}"#);
    }

    #[test]
    fn r7628_3_2_3_any_other_reply_also_fails() {
        for reply in [
            &b""[..],
            b"\x01\x01",
            b"\x01x",
            b"n,,\x01auth=Bearer abc\x01\x01",
        ] {
            let (mut ex, _) = refused(Mechanism::OAuthBearer, OB, TokenError::InvalidToken, None);
            assert_eq!(
                failure(ex.step(&ctx(), Some(reply))),
                Failure::InvalidCredentials
            );
            assert_eq!(failure(ex.step(&ctx(), Some(b"\x01"))), Failure::Malformed);
        }
    }

    #[test]
    fn rxoa2_2_error_challenge_then_empty_reply_fails() {
        let (mut ex, c) = refused(
            Mechanism::XOAuth2,
            XO,
            TokenError::InvalidToken,
            Some("https://mail.google.com/"),
        );
        assert_eq!(
            c,
            br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#
        );
        assert_eq!(
            failure(ex.step(&ctx(), Some(b""))),
            Failure::InvalidCredentials
        );
        let (_, c) = refused(Mechanism::XOAuth2, XO, TokenError::InsufficientScope, None);
        assert_eq!(c, br#"{"status":"403","schemes":"bearer"}"#);
        let (_, c) = refused(Mechanism::XOAuth2, XO, TokenError::InvalidRequest, None);
        assert_eq!(c, br#"{"status":"400","schemes":"bearer"}"#);
    }

    #[test]
    fn unavailable_fails_without_challenge() {
        let mut ex = ServerExchange::new(Mechanism::XOAuth2);
        let _ = request(ex.step(&ctx(), Some(XO)));
        let s = ex
            .resolve(&ctx(), Resolution::Token(TokenVerdict::Unavailable))
            .unwrap();
        assert_eq!(failure(s), Failure::Unavailable);
    }

    #[test]
    fn atk_04_a_bad_token_owner_from_the_backend_never_authenticates() {
        for mech in [Mechanism::XOAuth2, Mechanism::OAuthBearer] {
            let msg: &[u8] = if mech == Mechanism::XOAuth2 {
                b"user=tim\x01auth=Bearer abc\x01\x01"
            } else {
                b"n,,\x01auth=Bearer abc\x01\x01"
            };
            for bad in ["", "tim\r\nX", "a\0b"] {
                let mut ex = ServerExchange::new(mech);
                let _ = request(ex.step(&ctx(), Some(msg)));
                let valid = Resolution::Token(TokenVerdict::Valid {
                    identity: bad.into(),
                });
                let s = ex.resolve(&ctx(), valid).unwrap();
                assert_eq!(failure(s), Failure::Unavailable, "{mech} {bad:?}");
            }
        }
    }

    #[test]
    fn r7628_3_1_3_claimed_user_other_than_token_owner_needs_authorization() {
        for (mech, msg) in [
            (
                Mechanism::XOAuth2,
                &b"user=admin\x01auth=Bearer abc\x01\x01"[..],
            ),
            (
                Mechanism::OAuthBearer,
                b"n,a=admin,\x01auth=Bearer abc\x01\x01",
            ),
        ] {
            let mut ex = ServerExchange::new(mech);
            let _ = request(ex.step(&ctx(), Some(msg)));
            let valid = Resolution::Token(TokenVerdict::Valid {
                identity: "tim".into(),
            });
            let r = request(ex.resolve(&ctx(), valid.clone()).unwrap());
            assert_eq!(
                r,
                Request::Authorize {
                    authcid: "tim".into(),
                    authzid: "admin".into()
                }
            );
            let s = ex
                .resolve(&ctx(), Resolution::Verdict(Verdict::Invalid))
                .unwrap();
            assert_eq!(failure(s), Failure::NotAuthorized);

            let mut ex = ServerExchange::new(mech);
            let _ = request(ex.step(&ctx(), Some(msg)));
            let _ = request(ex.resolve(&ctx(), valid).unwrap());
            let s = ex
                .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
                .unwrap();
            assert_eq!(
                done(s),
                Outcome::Success(Authenticated {
                    mechanism: mech,
                    authcid: "tim".into(),
                    identity: "admin".into()
                })
            );
        }
    }

    #[test]
    fn no_initial_response_gets_empty_challenge() {
        let mut ex = ServerExchange::new(Mechanism::OAuthBearer);
        assert_eq!(challenge(ex.step(&ctx(), None)), b"");
        let _ = request(ex.step(&ctx(), Some(OB)));
    }

    #[test]
    fn token_up_to_the_bound_is_accepted() {
        let token = "a".repeat(MAX_TOKEN_MESSAGE_LEN - 32);
        let msg = format!("n,,\x01auth=Bearer {token}\x01\x01");
        let mut ex = ServerExchange::new(Mechanism::OAuthBearer);
        let r = request(ex.step(&ctx(), Some(msg.as_bytes())));
        assert_eq!(r, validate(None, &token, Mechanism::OAuthBearer));
    }
}
