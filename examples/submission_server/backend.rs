//! Answers the session's questions. (Interim: demo users in memory; the
//! crate's Responder replaces this.)

use std::time::{Duration, Instant};

use smtp_auth::sasl::secret::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{Lookup, Request, Resolution, Verdict};
use smtp_auth::{Answer, Question, Reply};

pub struct Backend {
    users: Vec<(String, String)>,
}

impl Backend {
    pub fn demo(users: Vec<(String, String)>) -> Self {
        Self { users }
    }

    fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }

    pub fn answer(&self, question: &Question, _now: Instant) -> Answer {
        match question {
            Question::Credentials { request, .. } => Answer::Sasl(match request {
                Request::VerifyPassword { authcid, password } => Resolution::Verdict(
                    if self.password(authcid) == Some(password.expose().as_str()) {
                        Verdict::Valid
                    } else {
                        Verdict::Invalid
                    },
                ),
                Request::CramMd5Secret { authcid } => {
                    Resolution::CramMd5Secret(match self.password(authcid) {
                        Some(p) => Lookup::Found(CramMd5Secret::from_password(p)),
                        None => Lookup::NotFound,
                    })
                }
                Request::ScramCredentials { authcid, hash } => Resolution::ScramCredentials(
                    match self
                        .password(authcid)
                        .map(|p| ScramCredentials::derive(*hash, p, authcid.as_bytes(), 4096))
                    {
                        Some(Ok(c)) => Lookup::Found(c),
                        _ => Lookup::NotFound,
                    },
                ),
                _ => Resolution::Verdict(Verdict::Invalid),
            }),
            Question::AuthResult(r) => Answer::Recorded {
                delay: if r.outcome.is_ok() {
                    Duration::ZERO
                } else {
                    Duration::from_millis(500)
                },
            },
            Question::Trust { .. } => Answer::Reply(Reply::AUTH_REQUIRED),
            _ => Answer::Allow,
        }
    }
}
