//! CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client
//! answers `user SP hex(HMAC-MD5(secret, challenge))`.

use super::crypto::{ct_eq, unhex};
use super::secret::CramMd5Secret;
use super::{
    fail, identity, success, Failure, Lookup, Mechanism, Misfit, Request, Resolution,
    ServerContext, Step, MAX_IDENTITY_LEN,
};

/// The stand-in secret for unknown users: arbitrary fixed states, so the
/// HMAC for a missing user costs exactly what a real one does (ATK-06) and
/// building it costs nothing. It never authenticates anyone: the result is
/// discarded.
const DUMMY_SECRET: CramMd5Secret = CramMd5Secret {
    inner: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
    outer: [0x1032_5476, 0x98ba_dcfe, 0xefcd_ab89, 0x6745_2301],
};

/// The server side of CRAM-MD5.
#[derive(Debug)]
pub(crate) struct CramMd5Server {
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    /// Challenge sent; waiting for `user digest`.
    AwaitResponse {
        challenge: Vec<u8>,
    },
    /// Asked for the user's secret.
    Fetching {
        challenge: Vec<u8>,
        authcid: String,
        digest: [u8; 16],
    },
    Done,
}

/// The challenge `<digits.timestamp@hostname>` (R2195-2.2): 64 random
/// bits as decimal, so it is unique per attempt and unpredictable, and the
/// clock so it reads like the RFC's msg-id.
pub(crate) fn make_challenge(ctx: &ServerContext<'_>) -> Vec<u8> {
    let mut random = [0u8; 8];
    ctx.entropy.fill(&mut random);
    format!(
        "<{}.{}@{}>",
        u64::from_le_bytes(random),
        ctx.entropy.unix_time(),
        ctx.hostname
    )
    .into_bytes()
}

/// Splits `user SP digest` on the last space (RCRAMD-2.1: user names may
/// hold spaces); the digest is exactly 32 lower-case hex digits (R2195-2.3).
fn parse(response: &[u8]) -> Option<(String, [u8; 16])> {
    if response.len() > MAX_IDENTITY_LEN + 33 {
        return None;
    }
    let space = response.iter().rposition(|&b| b == b' ')?;
    let (user, rest) = response.split_at(space);
    let digest = unhex::<16>(rest.get(1..)?, true)?;
    Some((identity(user)?, digest))
}

impl CramMd5Server {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    pub(crate) fn step(&mut self, ctx: &ServerContext<'_>, response: Option<&[u8]>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            // Server-first: any initial response, even empty, is refused
            // (R2195-2.1, R4954-4.10).
            State::Start => match response {
                Some(_) => fail(Failure::InitialResponseNotAllowed),
                None => {
                    let challenge = make_challenge(ctx);
                    self.state = State::AwaitResponse {
                        challenge: challenge.clone(),
                    };
                    Step::Challenge(challenge)
                }
            },
            State::AwaitResponse { challenge } => {
                let Some((authcid, digest)) = parse(response.unwrap_or_default()) else {
                    return fail(Failure::Malformed);
                };
                self.state = State::Fetching {
                    challenge,
                    authcid: authcid.clone(),
                    digest,
                };
                Step::Request(Request::CramMd5Secret { authcid })
            }
            State::Fetching { .. } | State::Done => fail(Failure::Malformed),
        }
    }

    pub(crate) fn resolve(&mut self, resolution: Resolution) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            (
                State::Fetching {
                    challenge,
                    authcid,
                    digest,
                },
                Resolution::CramMd5Secret(lookup),
            ) => {
                let (secret, known) = match lookup {
                    Lookup::Found(secret) => (secret, true),
                    // An unknown user costs the same HMAC as a known one and
                    // fails like a wrong digest (ATK-06, ATK-07).
                    Lookup::NotFound => (DUMMY_SECRET, false),
                    Lookup::Unavailable => return Ok(fail(Failure::Unavailable)),
                };
                let matches = secret
                    .hmac(&challenge)
                    .is_some_and(|mac| ct_eq(&mac, &digest));
                Ok(if matches && known {
                    success(Mechanism::CramMd5, authcid, None)
                } else if known {
                    fail(Failure::InvalidCredentials)
                } else {
                    fail(Failure::UnknownUser)
                })
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

    const CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";

    fn rfc_ctx(entropy: &Scripted) -> ServerContext<'_> {
        ServerContext {
            hostname: "postoffice.reston.mci.net",
            entropy,
            ..ctx()
        }
    }

    #[test]
    fn r2195_2_5_published_exchange_byte_for_byte() {
        // 1896 = 0x0768 as the little-endian random u64.
        let entropy = Scripted::new(&[0x68, 0x07, 0, 0, 0, 0, 0, 0], 697_170_952);
        let ctx = rfc_ctx(&entropy);
        let mut ex = ServerExchange::new(Mechanism::CramMd5);
        let c = challenge(ex.step(&ctx, None));
        assert_eq!(c, CHALLENGE);
        assert_eq!(
            encoding::encode(&c),
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        );
        let response =
            encoding::decode(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw").unwrap();
        assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
        let r = request(ex.step(&ctx, Some(&response)));
        assert_eq!(
            r,
            Request::CramMd5Secret {
                authcid: "tim".into()
            }
        );
        let secret = CramMd5Secret::from_password("tanstaaftanstaaf");
        let s = ex
            .resolve(&ctx, Resolution::CramMd5Secret(Lookup::Found(secret)))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::CramMd5, "tim"));
    }

    fn run(response: &[u8], lookup: Lookup<CramMd5Secret>) -> Step {
        let entropy = Scripted::new(&[0x68, 0x07], 697_170_952);
        let ctx = rfc_ctx(&entropy);
        let mut ex = ServerExchange::new(Mechanism::CramMd5);
        let _ = challenge(ex.step(&ctx, None));
        let _ = request(ex.step(&ctx, Some(response)));
        ex.resolve(&ctx, Resolution::CramMd5Secret(lookup)).unwrap()
    }

    #[test]
    fn r2195_2_3_wrong_digest_and_unknown_user_fail_alike() {
        let secret = CramMd5Secret::from_password("tanstaaftanstaaf");
        let wrong = b"tim b913a602c7eda7a495b4e6e7334d3891";
        assert_eq!(
            failure(run(wrong, Lookup::Found(secret.clone()))),
            Failure::InvalidCredentials
        );
        let right = b"tim b913a602c7eda7a495b4e6e7334d3890";
        assert_eq!(failure(run(right, Lookup::NotFound)), Failure::UnknownUser);
        assert_eq!(
            failure(run(right, Lookup::Unavailable)),
            Failure::Unavailable
        );
        let other = CramMd5Secret::from_password("other");
        assert_eq!(
            failure(run(right, Lookup::Found(other))),
            Failure::InvalidCredentials
        );
    }

    #[test]
    fn rcramd_2_1_user_name_with_spaces_splits_on_last_space() {
        let secret = CramMd5Secret::from_password("pw");
        let mac = secret.hmac(CHALLENGE).unwrap();
        let response = format!("tim the enchanter {}", crypto::hex(&mac));
        let s = run(response.as_bytes(), Lookup::Found(secret));
        assert_eq!(done(s), ok(Mechanism::CramMd5, "tim the enchanter"));
    }

    #[test]
    fn r2195_2_1_initial_response_is_refused() {
        for ir in [&b""[..], b"tim b913a602c7eda7a495b4e6e7334d3890"] {
            let mut ex = ServerExchange::new(Mechanism::CramMd5);
            assert_eq!(
                failure(ex.step(&ctx(), Some(ir))),
                Failure::InitialResponseNotAllowed
            );
        }
    }

    #[test]
    fn r2195_2_2_challenges_are_fresh_per_attempt() {
        let a = challenge(ServerExchange::new(Mechanism::CramMd5).step(&ctx(), None));
        let b = challenge(ServerExchange::new(Mechanism::CramMd5).step(&ctx(), None));
        assert_ne!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.starts_with('<') && text.ends_with("@mx.example.org>"),
            "{text}"
        );
        let inner = &text[1..text.len() - "@mx.example.org>".len()];
        let (digits, time) = inner.split_once('.').unwrap();
        assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty());
        assert_eq!(time, "1700000000");
    }

    #[test]
    fn r2195_2_3_malformed_responses() {
        let long_user = format!("{} b913a602c7eda7a495b4e6e7334d3890", "u".repeat(256));
        for bad in [
            &b""[..],
            b"tim",
            b"tim ",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim B913A602C7EDA7A495B4E6E7334D3890",
            b"tim b913a602c7eda7a495b4e6e7334d389",
            b"tim b913a602c7eda7a495b4e6e7334d38900",
            b"tim b913a602c7eda7a495b4e6e7334d389g",
            b"tim\tb913a602c7eda7a495b4e6e7334d3890",
            b"t\nim b913a602c7eda7a495b4e6e7334d3890",
            b"\xff b913a602c7eda7a495b4e6e7334d3890",
            long_user.as_bytes(),
        ] {
            let mut ex = ServerExchange::new(Mechanism::CramMd5);
            let _ = challenge(ex.step(&ctx(), None));
            assert_eq!(
                failure(ex.step(&ctx(), Some(bad))),
                Failure::Malformed,
                "{bad:?}"
            );
        }
    }
}
