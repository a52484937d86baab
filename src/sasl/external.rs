//! EXTERNAL (RFC 4422 Appendix A): the identity comes from outside SASL,
//! here from the verified TLS client certificate the driver reports in
//! [`ServerContext::client_certificate`]. The client's only message is the
//! authzid it wants, or nothing to take the one the certificate maps to.

use super::{
    fail, identity, Authenticated, Failure, Lookup, Mechanism, Misfit, Outcome, Request,
    Resolution, ServerContext, Step,
};

/// The server side of EXTERNAL.
#[derive(Debug)]
pub(crate) struct ExternalServer {
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitAuthzid {
        certificate: String,
    },
    Mapping {
        certificate: String,
        authzid: Option<String>,
    },
    Done,
}

impl ExternalServer {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    pub(crate) fn step(&mut self, ctx: &ServerContext<'_>, response: Option<&[u8]>) -> Step {
        let certificate = match std::mem::replace(&mut self.state, State::Done) {
            State::Start => match ctx.client_certificate {
                None => return fail(Failure::NotAvailable),
                Some(c) => c.to_owned(),
            },
            State::AwaitAuthzid { certificate } => certificate,
            State::Mapping { .. } | State::Done => return fail(Failure::Malformed),
        };
        let Some(response) = response else {
            self.state = State::AwaitAuthzid { certificate };
            return Step::Challenge(Vec::new());
        };
        // Empty: "derive the authzid from the credentials" (RFC 4422 §3.4.1).
        let authzid = if response.is_empty() {
            None
        } else {
            match identity(response) {
                Some(z) => Some(z),
                None => return fail(Failure::Malformed),
            }
        };
        self.state = State::Mapping {
            certificate: certificate.clone(),
            authzid: authzid.clone(),
        };
        Step::Request(Request::ExternalIdentity {
            certificate,
            authzid,
        })
    }

    /// The embedder answers with the identity to log in as. When the client
    /// asked for an authzid, answering with exactly that identity grants
    /// it; any other identity means the authzid was refused.
    pub(crate) fn resolve(&mut self, resolution: Resolution) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            (
                State::Mapping {
                    certificate,
                    authzid,
                },
                Resolution::Identity(lookup),
            ) => Ok(match lookup {
                // A backend identity must pass the same rules as a client's
                // (ATK-04): an empty or control-character mapping is a
                // backend fault, not a login.
                Lookup::Found(identity) if super::identity(identity.as_bytes()).is_none() => {
                    fail(Failure::Unavailable)
                }
                Lookup::Found(identity) => match authzid {
                    Some(z) if z != identity => fail(Failure::NotAuthorized),
                    _ => Step::Done(Outcome::Success(Authenticated {
                        mechanism: Mechanism::External,
                        authcid: certificate,
                        identity,
                    })),
                },
                Lookup::NotFound => fail(Failure::UnknownUser),
                Lookup::Unavailable => fail(Failure::Unavailable),
            }),
            (state, resolution) => {
                self.state = state;
                Err(Misfit(resolution))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn atk_04_a_bad_identity_from_the_backend_never_authenticates() {
        for bad in ["", "alice\r\nRCPT TO:<x>", "a\0b", &"x".repeat(300)] {
            let mut ex = ServerExchange::new(Mechanism::External);
            let _ = request(ex.step(&tls_ctx(), Some(b"")));
            let s = ex
                .resolve(
                    &tls_ctx(),
                    Resolution::Identity(Lookup::Found(bad.to_owned())),
                )
                .unwrap();
            assert_eq!(failure(s), Failure::Unavailable, "{bad:?}");
        }
    }

    use super::super::testing::*;
    use super::super::*;

    fn tls_ctx() -> ServerContext<'static> {
        ServerContext {
            client_certificate: Some("CN=tim,O=Example"),
            ..ctx()
        }
    }

    #[test]
    fn r4422_a_without_certificate_is_not_available() {
        let mut ex = ServerExchange::new(Mechanism::External);
        assert_eq!(failure(ex.step(&ctx(), Some(b""))), Failure::NotAvailable);
    }

    #[test]
    fn r4422_a_empty_authzid_derives_identity() {
        let mut ex = ServerExchange::new(Mechanism::External);
        let r = request(ex.step(&tls_ctx(), Some(b"")));
        assert_eq!(
            r,
            Request::ExternalIdentity {
                certificate: "CN=tim,O=Example".into(),
                authzid: None
            }
        );
        let s = ex
            .resolve(
                &tls_ctx(),
                Resolution::Identity(Lookup::Found("tim".into())),
            )
            .unwrap();
        assert_eq!(
            done(s),
            Outcome::Success(Authenticated {
                mechanism: Mechanism::External,
                authcid: "CN=tim,O=Example".into(),
                identity: "tim".into()
            })
        );
    }

    #[test]
    fn r4422_a_no_initial_response_gets_empty_challenge() {
        let mut ex = ServerExchange::new(Mechanism::External);
        assert_eq!(challenge(ex.step(&tls_ctx(), None)), b"");
        let r = request(ex.step(&tls_ctx(), Some(b"tim")));
        assert_eq!(
            r,
            Request::ExternalIdentity {
                certificate: "CN=tim,O=Example".into(),
                authzid: Some("tim".into())
            }
        );
    }

    #[test]
    fn r4422_3_4_1_2_authzid_must_be_granted() {
        let mut ex = ServerExchange::new(Mechanism::External);
        let _ = ex.step(&tls_ctx(), Some(b"admin"));
        let s = ex
            .resolve(
                &tls_ctx(),
                Resolution::Identity(Lookup::Found("tim".into())),
            )
            .unwrap();
        assert_eq!(failure(s), Failure::NotAuthorized);

        let mut ex = ServerExchange::new(Mechanism::External);
        let _ = ex.step(&tls_ctx(), Some(b"admin"));
        let s = ex
            .resolve(
                &tls_ctx(),
                Resolution::Identity(Lookup::Found("admin".into())),
            )
            .unwrap();
        assert!(matches!(done(s), Outcome::Success(a) if a.identity == "admin"));
    }

    #[test]
    fn lookups_map_to_failures() {
        for (l, f) in [
            (Lookup::NotFound, Failure::UnknownUser),
            (Lookup::Unavailable, Failure::Unavailable),
        ] {
            let mut ex = ServerExchange::new(Mechanism::External);
            let _ = ex.step(&tls_ctx(), Some(b""));
            assert_eq!(
                failure(ex.resolve(&tls_ctx(), Resolution::Identity(l)).unwrap()),
                f
            );
        }
    }

    #[test]
    fn atk_04_bad_authzid_is_malformed() {
        for bad in [&b"ad\nmin"[..], b"\xff", &[b'a'; 256]] {
            let mut ex = ServerExchange::new(Mechanism::External);
            assert_eq!(failure(ex.step(&tls_ctx(), Some(bad))), Failure::Malformed);
        }
    }
}
