//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd` in one message.

use super::{
    authorize_step, credential_failure, fail, identity, password, Failure, Mechanism, Misfit,
    Request, Resolution, Step, Verified, MAX_IDENTITY_LEN, MAX_PASSWORD_LEN,
};

/// The server side of PLAIN.
#[derive(Debug)]
pub(crate) struct PlainServer {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Nothing received yet.
    Start,
    /// Sent the empty challenge; waiting for the message.
    AwaitMessage,
    /// Asked to verify the password.
    Verifying {
        authcid: String,
        authzid: Option<String>,
    },
    /// Asked whether authcid may act as authzid.
    Authorizing {
        authcid: String,
        authzid: String,
    },
    Done,
}

/// The parts of a PLAIN message, validated.
#[derive(Debug)]
struct Message {
    authzid: Option<String>,
    authcid: String,
    password: crate::secret::Secret<String>,
}

/// Splits and validates a PLAIN message: exactly two NULs (R4616-2.1),
/// UTF-8 (R4616-2.2), non-empty authcid and password, each field at most
/// 255 octets (R4616-2.3), no control characters in identities (ATK-04).
fn parse(msg: &[u8]) -> Option<Message> {
    if msg.len() > 2 * MAX_IDENTITY_LEN + MAX_PASSWORD_LEN + 2 {
        return None;
    }
    let mut fields = msg.split(|&b| b == 0);
    let (authzid, authcid, passwd) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    let authzid = if authzid.is_empty() {
        None
    } else {
        Some(identity(authzid)?)
    };
    Some(Message {
        authzid,
        authcid: identity(authcid)?,
        password: password(passwd, false)?,
    })
}

impl PlainServer {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    pub(crate) fn step(&mut self, response: Option<&[u8]>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            // No initial response: RFC 4954 §4 wants an empty challenge.
            State::Start if response.is_none() => {
                self.state = State::AwaitMessage;
                Step::Challenge(Vec::new())
            }
            State::Start | State::AwaitMessage => {
                let Some(m) = parse(response.unwrap_or_default()) else {
                    return fail(Failure::Malformed);
                };
                let request = Request::VerifyPassword {
                    authcid: m.authcid.clone(),
                    password: m.password,
                };
                self.state = State::Verifying {
                    authcid: m.authcid,
                    authzid: m.authzid,
                };
                Step::Request(request)
            }
            _ => fail(Failure::Malformed),
        }
    }

    pub(crate) fn resolve(&mut self, resolution: Resolution) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            (State::Verifying { authcid, authzid }, Resolution::Verdict(v)) => {
                if let Some(f) = credential_failure(v) {
                    return Ok(fail(f));
                }
                Ok(match Verified::new(Mechanism::Plain, authcid, authzid) {
                    Verified::Done(step) => step,
                    Verified::Authorize { authcid, authzid } => {
                        let step = Verified::request(&authcid, &authzid);
                        self.state = State::Authorizing { authcid, authzid };
                        step
                    }
                })
            }
            (State::Authorizing { authcid, authzid }, Resolution::Verdict(v)) => {
                Ok(authorize_step(Mechanism::Plain, authcid, authzid, v))
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

    fn verify(authcid: &str, pw: &str) -> Request {
        Request::VerifyPassword {
            authcid: authcid.into(),
            password: Secret::new(pw.into()),
        }
    }

    #[test]
    fn r4616_2_1_initial_response_then_valid() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        let r = request(ex.step(&ctx(), Some(b"\0tim\0tanstaaf")));
        assert_eq!(r, verify("tim", "tanstaaf"));
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::Plain, "tim"));
        assert!(ex.is_finished());
    }

    #[test]
    fn r4954_4_7_no_initial_response_gets_empty_challenge() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        assert_eq!(challenge(ex.step(&ctx(), None)), b"");
        let r = request(ex.step(&ctx(), Some(b"\0u\0p")));
        assert_eq!(r, verify("u", "p"));
    }

    #[test]
    fn r4954_4_9_empty_initial_response_is_malformed_not_a_challenge() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        assert_eq!(failure(ex.step(&ctx(), Some(b""))), Failure::Malformed);
    }

    #[test]
    fn r4616_2_1_nul_count_and_empty_fields() {
        for bad in [
            &b"tim"[..],
            b"\0tim",
            b"tim\0pw",
            b"\0tim\0pw\0",
            b"a\0tim\0pw\0x",
            b"\0\0pw",
            b"\0tim\0",
            b"\0\0",
            b"zid\0\0pw",
        ] {
            let mut ex = ServerExchange::new(Mechanism::Plain);
            assert_eq!(
                failure(ex.step(&ctx(), Some(bad))),
                Failure::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn r4616_2_2_invalid_utf8_is_malformed() {
        for bad in [&b"\0t\xffm\0pw"[..], b"\0tim\0p\xc3", b"\xc0\xaf\0tim\0pw"] {
            let mut ex = ServerExchange::new(Mechanism::Plain);
            assert_eq!(failure(ex.step(&ctx(), Some(bad))), Failure::Malformed);
        }
    }

    #[test]
    fn r4616_2_3_fields_up_to_255_octets_and_no_more() {
        let max = "é".repeat(127) + "x"; // 255 octets
        assert_eq!(max.len(), 255);
        let msg = format!("{max}\0{max}\0{max}");
        let mut ex = ServerExchange::new(Mechanism::Plain);
        assert_eq!(
            request(ex.step(&ctx(), Some(msg.as_bytes()))),
            verify(&max, &max)
        );

        let long = "a".repeat(256);
        for msg in [
            format!("{long}\0u\0p"),
            format!("\0{long}\0p"),
            format!("\0u\0{long}"),
            format!("\0u\0{}", "p".repeat(100_000)),
        ] {
            let mut ex = ServerExchange::new(Mechanism::Plain);
            assert_eq!(
                failure(ex.step(&ctx(), Some(msg.as_bytes()))),
                Failure::Malformed
            );
        }
    }

    #[test]
    fn atk_04_control_characters_in_identities_are_refused() {
        for bad in [
            &b"\0ti\rm\0pw"[..],
            b"\0tim\n\0pw",
            b"\0\x1btim\0pw",
            b"ad\x7fmin\0tim\0pw",
            b"\0tim\xc2\x85\0pw", // U+0085 NEL
        ] {
            let mut ex = ServerExchange::new(Mechanism::Plain);
            assert_eq!(
                failure(ex.step(&ctx(), Some(bad))),
                Failure::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn r4616_2_8_authzid_equal_to_authcid_needs_no_authorization() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        let _ = request(ex.step(&ctx(), Some(b"tim\0tim\0pw")));
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::Plain, "tim"));
    }

    #[test]
    fn atk_08_other_authzid_is_asked_and_never_the_login_name() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        // The password is checked for the authcid, not the authzid.
        let r = request(ex.step(&ctx(), Some(b"admin\0tim\0pw")));
        assert_eq!(r, verify("tim", "pw"));
        let r = request(
            ex.resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
                .unwrap(),
        );
        assert_eq!(
            r,
            Request::Authorize {
                authcid: "tim".into(),
                authzid: "admin".into()
            }
        );
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(
            done(s),
            Outcome::Success(Authenticated {
                mechanism: Mechanism::Plain,
                authcid: "tim".into(),
                identity: "admin".into()
            })
        );

        let mut ex = ServerExchange::new(Mechanism::Plain);
        let _ = ex.step(&ctx(), Some(b"admin\0tim\0pw"));
        let _ = ex.resolve(&ctx(), Resolution::Verdict(Verdict::Valid));
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Invalid))
            .unwrap();
        assert_eq!(failure(s), Failure::NotAuthorized);
    }

    #[test]
    fn atk_08_empty_authcid_with_authzid_fails() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"admin\0\0pw"))),
            Failure::Malformed
        );
    }

    #[test]
    fn verdicts_map_to_failures() {
        for (v, f) in [
            (Verdict::Invalid, Failure::InvalidCredentials),
            (Verdict::Disabled, Failure::Disabled),
            (Verdict::Unavailable, Failure::Unavailable),
        ] {
            let mut ex = ServerExchange::new(Mechanism::Plain);
            let _ = ex.step(&ctx(), Some(b"\0u\0p"));
            assert_eq!(
                failure(ex.resolve(&ctx(), Resolution::Verdict(v)).unwrap()),
                f
            );
        }
    }

    #[test]
    fn misfit_leaves_state_unchanged() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        let wrong = Resolution::Identity(Lookup::NotFound);
        assert_eq!(
            ex.resolve(&ctx(), wrong.clone()),
            Err(Misfit(wrong.clone()))
        );
        let _ = ex.step(&ctx(), Some(b"\0u\0p"));
        assert_eq!(ex.resolve(&ctx(), wrong.clone()), Err(Misfit(wrong)));
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::Plain, "u"));
        // Nothing open any more.
        let v = Resolution::Verdict(Verdict::Valid);
        assert_eq!(ex.resolve(&ctx(), v.clone()), Err(Misfit(v)));
    }

    #[test]
    fn step_after_done_or_while_awaiting_is_malformed() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        let _ = ex.step(&ctx(), Some(b"\0u\0p"));
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"\0u\0p"))),
            Failure::Malformed
        );
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"\0u\0p"))),
            Failure::Malformed
        );
        let mut ex = ServerExchange::new(Mechanism::Plain);
        assert_eq!(failure(ex.step(&ctx(), Some(b"x"))), Failure::Malformed);
        assert_eq!(failure(ex.step(&ctx(), None)), Failure::Malformed);
    }

    #[test]
    fn r4954_4_6_cancel() {
        let mut ex = ServerExchange::new(Mechanism::Plain);
        let _ = ex.step(&ctx(), None);
        assert_eq!(ex.cancel(), Outcome::Failure(Failure::Cancelled));
        assert!(ex.is_finished());
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"\0u\0p"))),
            Failure::Malformed
        );
    }
}
