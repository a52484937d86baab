//! LOGIN (draft-murchison-sasl-login-00): user name and password in two
//! prompts. Obsolete but what Outlook, .NET and many scripts still use.

use super::{
    credential_failure, fail, identity, password, success, Failure, Mechanism, Misfit, Request,
    Resolution, Step,
};

/// The user-name prompt, exactly as strict clients match it (RLOGIN-2.5):
/// no trailing NUL, base64 `VXNlcm5hbWU6`.
pub(crate) const USERNAME_PROMPT: &[u8] = b"Username:";
/// The password prompt, base64 `UGFzc3dvcmQ6`.
pub(crate) const PASSWORD_PROMPT: &[u8] = b"Password:";

/// The server side of LOGIN.
#[derive(Debug)]
pub(crate) struct LoginServer {
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitUser,
    /// Waiting for the password. `None` when the user name was unusable:
    /// the password is still asked for, so the flow never tells a bad
    /// name from a bad password (RLOGIN-2.7, ATK-07).
    AwaitPassword(Option<String>),
    Verifying(String),
    Done,
}

impl LoginServer {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    pub(crate) fn step(&mut self, response: Option<&[u8]>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start if response.is_none() => {
                self.state = State::AwaitUser;
                Step::Challenge(USERNAME_PROMPT.to_vec())
            }
            // The user name may come as the initial response (RLOGIN-2.6).
            State::Start | State::AwaitUser => {
                self.state = State::AwaitPassword(identity(response.unwrap_or_default()));
                Step::Challenge(PASSWORD_PROMPT.to_vec())
            }
            State::AwaitPassword(user) => {
                let pw = password(response.unwrap_or_default(), true);
                match (user, pw) {
                    (Some(authcid), Some(password)) => {
                        self.state = State::Verifying(authcid.clone());
                        Step::Request(Request::VerifyPassword { authcid, password })
                    }
                    _ => fail(Failure::Malformed),
                }
            }
            State::Verifying(_) | State::Done => fail(Failure::Malformed),
        }
    }

    pub(crate) fn resolve(&mut self, resolution: Resolution) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            // LOGIN has no authzid: the user name is both (RLOGIN-2.1).
            (State::Verifying(authcid), Resolution::Verdict(v)) => {
                Ok(match credential_failure(v) {
                    None => success(Mechanism::Login, authcid, None),
                    Some(f) => fail(f),
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

    #[test]
    fn rlogin_2_5_prompts_are_exact() {
        assert_eq!(encoding::encode(super::USERNAME_PROMPT), "VXNlcm5hbWU6");
        assert_eq!(encoding::encode(super::PASSWORD_PROMPT), "UGFzc3dvcmQ6");
    }

    #[test]
    fn rlogin_2_4_two_prompts_then_verify() {
        let mut ex = ServerExchange::new(Mechanism::Login);
        assert_eq!(challenge(ex.step(&ctx(), None)), b"Username:");
        assert_eq!(challenge(ex.step(&ctx(), Some(b"tim"))), b"Password:");
        let r = request(ex.step(&ctx(), Some(b"tanstaaf")));
        assert_eq!(
            r,
            Request::VerifyPassword {
                authcid: "tim".into(),
                password: Secret::new("tanstaaf".into())
            }
        );
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::Login, "tim"));
    }

    #[test]
    fn rlogin_2_6_user_name_as_initial_response() {
        let mut ex = ServerExchange::new(Mechanism::Login);
        assert_eq!(
            challenge(ex.step(&ctx(), Some("jürgen".as_bytes()))),
            b"Password:"
        );
        let r = request(ex.step(&ctx(), Some("pässwörd".as_bytes())));
        assert_eq!(r.authcid(), Some("jürgen"));
    }

    #[test]
    fn rlogin_2_7_bad_user_name_still_asks_for_password() {
        let long = vec![b'a'; 256];
        for bad in [&b""[..], b"t\r\nim", b"\xff", b"ti\0m", &long] {
            let mut ex = ServerExchange::new(Mechanism::Login);
            assert_eq!(challenge(ex.step(&ctx(), None)), b"Username:");
            assert_eq!(challenge(ex.step(&ctx(), Some(bad))), b"Password:");
            assert_eq!(failure(ex.step(&ctx(), Some(b"pw"))), Failure::Malformed);
        }
    }

    #[test]
    fn rlogin_2_2_password_without_nul_cr_lf_and_bounded() {
        let long = vec![b'p'; 256];
        for bad in [&b""[..], b"p\0w", b"p\rw", b"p\nw", b"\xc3", &long] {
            let mut ex = ServerExchange::new(Mechanism::Login);
            let _ = ex.step(&ctx(), Some(b"tim"));
            assert_eq!(failure(ex.step(&ctx(), Some(bad))), Failure::Malformed);
        }
        let mut ex = ServerExchange::new(Mechanism::Login);
        let _ = ex.step(&ctx(), Some(b"tim"));
        let _ = request(ex.step(&ctx(), Some(&[b'p'; 255])));
    }

    #[test]
    fn verdicts_map_to_failures() {
        for (v, f) in [
            (Verdict::Invalid, Failure::InvalidCredentials),
            (Verdict::Disabled, Failure::Disabled),
            (Verdict::Unavailable, Failure::Unavailable),
        ] {
            let mut ex = ServerExchange::new(Mechanism::Login);
            let _ = ex.step(&ctx(), Some(b"u"));
            let _ = ex.step(&ctx(), Some(b"p"));
            assert_eq!(
                failure(ex.resolve(&ctx(), Resolution::Verdict(v)).unwrap()),
                f
            );
        }
    }

    #[test]
    fn misfit_is_handed_back() {
        let mut ex = ServerExchange::new(Mechanism::Login);
        let _ = ex.step(&ctx(), Some(b"u"));
        let _ = ex.step(&ctx(), Some(b"p"));
        let wrong = Resolution::Token(TokenVerdict::Unavailable);
        assert_eq!(ex.resolve(&ctx(), wrong.clone()), Err(Misfit(wrong)));
        let s = ex
            .resolve(&ctx(), Resolution::Verdict(Verdict::Valid))
            .unwrap();
        assert_eq!(done(s), ok(Mechanism::Login, "u"));
    }
}
