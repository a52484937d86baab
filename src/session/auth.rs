//! The AUTH command (RFC 4954): mechanism choice, the SASL exchange over
//! `334` challenges, the policy gate before any credential check, and the
//! replies for every way it can end.

use crate::event::{CloseReason, Event};
use crate::question::{Answer, AuthAttempt, AuthFailure, AuthResult, Question};
use crate::reply::Reply;
use crate::sasl::{self, encoding, Authenticated, Failure, Mechanism, ServerExchange, Step};

use super::{Misfit, Pending, Phase, Session};

/// One SASL exchange in progress.
#[derive(Debug)]
pub(super) struct AuthExchange {
    exchange: ServerExchange,
    mechanism: Mechanism,
    /// The user name the client claimed, once known.
    user: Option<String>,
    /// Whether the policy gate was already asked for this exchange.
    gated: bool,
}

/// How an exchange ended, kept while the policy records it.
#[derive(Debug)]
pub(super) enum Finish {
    Success(Authenticated),
    Failure {
        mechanism: Mechanism,
        user: Option<String>,
        reason: AuthFailure,
        reply: Reply,
    },
}

impl Session {
    /// What the SASL exchange may use of this connection.
    fn sasl_context(&self) -> sasl::ServerContext<'_> {
        let tls = self.tls.as_ref();
        // Channel binding is offered only when a -PLUS mechanism is
        // enabled; otherwise a `y` GS2 flag is not a downgrade.
        let plus = self
            .config
            .mechanisms
            .iter()
            .any(|m| m.uses_channel_binding());
        sasl::ServerContext {
            hostname: &self.config.hostname,
            entropy: &*self.config.entropy,
            channel_binding: tls
                .and_then(|t| t.channel_binding.as_ref())
                .filter(|_| plus),
            client_certificate: tls.and_then(|t| t.client_certificate.as_deref()),
            fake_salt_key: &self.config.fake_salt_key,
        }
    }

    /// `AUTH mechanism [initial-response]`.
    pub(super) fn auth_command(&mut self, name: &str, initial: Option<&[u8]>) {
        if !self.config.auth_enabled {
            return self.error(&Reply::AUTH_NOT_ENABLED);
        }
        if self.authenticated.is_some() {
            return self.error(&Reply::AUTH_ALREADY);
        }
        if self.transaction.is_some() {
            return self.error(&Reply::AUTH_IN_TRANSACTION);
        }
        if !self.helo.as_ref().is_some_and(|h| h.extended) {
            return self.error(&Reply::AUTH_EHLO_FIRST);
        }
        let Some(mechanism) = Mechanism::from_name(name.as_bytes()) else {
            return self.error(&Reply::AUTH_UNKNOWN_MECHANISM);
        };
        if !self.offered_mechanisms().any(|m| m == mechanism) {
            // RFC 4954 §4 / REPLY-05: a password mechanism tried before TLS.
            let would_offer_under_tls = self.tls.is_none()
                && mechanism.reveals_secret()
                && self.config.offers(mechanism, true, true, true);
            if would_offer_under_tls {
                self.event(Event::AuthFailed {
                    peer: self.peer,
                    user: None,
                    mechanism: Some(mechanism),
                    reason: AuthFailure::EncryptionRequired,
                });
                return self.error(&Reply::AUTH_ENCRYPTION_REQUIRED);
            }
            return self.error(&Reply::AUTH_UNKNOWN_MECHANISM);
        }
        if mechanism.is_server_first() && initial.is_some() {
            // RFC 4954 §4: 501, and 5.7.0 (REPLY-14).
            return self.error(&Reply::AUTH_NO_INITIAL_RESPONSE);
        }
        let mut exchange = Box::new(AuthExchange {
            exchange: ServerExchange::new(mechanism),
            mechanism,
            user: None,
            gated: false,
        });
        let decoded = match initial.map(encoding::decode).transpose() {
            Ok(d) => d,
            Err(_) => {
                return self.auth_failed(&exchange, AuthFailure::Malformed, Reply::AUTH_BAD_BASE64);
            }
        };
        let step = exchange
            .exchange
            .step(&self.sasl_context(), decoded.as_deref());
        self.auth_step(exchange, step);
    }

    /// A client response line inside an exchange.
    pub(super) fn auth_response(&mut self, line: &[u8]) {
        let Phase::Auth(mut exchange) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        self.arm_deadline();
        if line == b"*" {
            // RFC 4954 §4: `*` cancels; 501 (REPLY-12).
            let _ = exchange.exchange.cancel();
            return self.auth_failed(&exchange, AuthFailure::Cancelled, Reply::AUTH_CANCELLED);
        }
        match encoding::decode(line) {
            Ok(decoded) => {
                let step = exchange.exchange.step(&self.sasl_context(), Some(&decoded));
                self.auth_step(exchange, step);
            }
            // RFC 4954 §4: undecodable → 501 5.5.2 (REPLY-13).
            Err(_) => self.auth_failed(&exchange, AuthFailure::Malformed, Reply::AUTH_BAD_BASE64),
        }
    }

    /// A response line longer than the AUTH limit ended the exchange.
    pub(super) fn auth_line_too_long(&mut self) {
        let Phase::Auth(exchange) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        self.arm_deadline();
        // RFC 4954 §4: 500 5.5.6 (REPLY-15); the session stays usable.
        self.auth_failed(&exchange, AuthFailure::Malformed, Reply::AUTH_LINE_TOO_LONG);
    }

    fn auth_step(&mut self, mut exchange: Box<AuthExchange>, step: Step) {
        match step {
            Step::Challenge(bytes) => {
                // RFC 4954 §4: `334 <base64>` and nothing else.
                self.out.extend_from_slice(b"334 ");
                self.out
                    .extend_from_slice(encoding::encode(&bytes).as_bytes());
                self.out.extend_from_slice(b"\r\n");
                self.send_now();
                self.phase = Phase::Auth(exchange);
                self.arm_deadline();
            }
            Step::Request(request) => {
                if exchange.user.is_none() {
                    exchange.user = request.authcid().map(str::to_owned);
                }
                match request.authcid() {
                    Some(user) if !exchange.gated => {
                        exchange.gated = true;
                        let question = Question::MayAuthenticate(AuthAttempt {
                            peer: self.peer,
                            mechanism: exchange.mechanism,
                            user: user.to_owned(),
                        });
                        self.ask(question, Pending::Gate { exchange, request });
                    }
                    _ => self.ask_credentials(exchange, request),
                }
            }
            Step::Done(sasl::Outcome::Success(authenticated)) => {
                let question = Question::AuthResult(AuthResult {
                    peer: self.peer,
                    mechanism: exchange.mechanism,
                    user: Some(authenticated.authcid.clone()),
                    outcome: Ok(authenticated.identity.clone()),
                });
                self.ask(
                    question,
                    Pending::AuthResult(Finish::Success(authenticated)),
                );
            }
            Step::Done(sasl::Outcome::Failure(failure)) => {
                let (reason, reply) = failure_reply(failure);
                self.auth_failed(&exchange, reason, reply);
            }
        }
    }

    fn ask_credentials(&mut self, exchange: Box<AuthExchange>, request: sasl::Request) {
        let question = Question::Credentials {
            peer: self.peer,
            request,
        };
        self.ask(question, Pending::Credentials { exchange });
    }

    /// The exchange failed: the policy records it, then the reply goes out.
    fn auth_failed(&mut self, exchange: &AuthExchange, reason: AuthFailure, reply: Reply) {
        let question = Question::AuthResult(AuthResult {
            peer: self.peer,
            mechanism: exchange.mechanism,
            user: exchange.user.clone(),
            outcome: Err(reason),
        });
        let finish = Finish::Failure {
            mechanism: exchange.mechanism,
            user: exchange.user.clone(),
            reason,
            reply,
        };
        self.ask(question, Pending::AuthResult(finish));
    }

    pub(super) fn resume_gate(
        &mut self,
        exchange: Box<AuthExchange>,
        request: sasl::Request,
        answer: Answer,
    ) -> Result<(), Misfit> {
        match answer {
            Answer::Allow => self.ask_credentials(exchange, request),
            Answer::Reply(reply) if reply.is_positive() => self.ask_credentials(exchange, request),
            // REPLY-21: refused without running the credential check.
            Answer::Reply(reply) => self.auth_failed(&exchange, AuthFailure::Locked, reply),
            other => return Err(Box::new((Pending::Gate { exchange, request }, other))),
        }
        Ok(())
    }

    pub(super) fn resume_credentials(
        &mut self,
        mut exchange: Box<AuthExchange>,
        answer: Answer,
    ) -> Result<(), Misfit> {
        let Answer::Sasl(resolution) = answer else {
            return Err(Box::new((Pending::Credentials { exchange }, answer)));
        };
        let ctx = self.sasl_context();
        match exchange.exchange.resolve(&ctx, resolution) {
            Ok(step) => {
                self.auth_step(exchange, step);
                Ok(())
            }
            Err(sasl::Misfit(resolution)) => Err(Box::new((
                Pending::Credentials { exchange },
                Answer::Sasl(resolution),
            ))),
        }
    }

    pub(super) fn resume_auth_result(
        &mut self,
        finish: Finish,
        answer: Answer,
    ) -> Result<(), Misfit> {
        let delay = match answer {
            Answer::Recorded { delay } => delay,
            Answer::Allow => std::time::Duration::ZERO,
            other => return Err(Box::new((Pending::AuthResult(finish), other))),
        };
        match finish {
            Finish::Success(authenticated) => {
                self.event(Event::AuthSucceeded {
                    peer: self.peer,
                    identity: authenticated.identity.clone(),
                    mechanism: authenticated.mechanism,
                });
                self.authenticated = Some(authenticated);
                self.reply(&Reply::AUTH_SUCCEEDED);
            }
            Finish::Failure {
                mechanism,
                user,
                reason,
                reply,
            } => {
                self.event(Event::AuthFailed {
                    peer: self.peer,
                    user,
                    mechanism: Some(mechanism),
                    reason,
                });
                // A backend outage is not the client's fault.
                if reason != AuthFailure::TemporaryFailure {
                    self.auth_failures += 1;
                }
                self.send_now();
                if !delay.is_zero() {
                    self.queue.push_back(super::Output::Delay(delay));
                }
                if self.auth_failures >= self.config.limits.auth_failures {
                    // RFC 4954 §9 (after at least 3) and REPLY-22.
                    self.close(
                        &Reply::AUTH_TOO_MANY_FAILURES,
                        CloseReason::TooManyAuthFailures,
                    );
                } else {
                    self.reply(&reply);
                }
            }
        }
        Ok(())
    }
}

/// The wire reply for each SASL failure. Everything that is about the
/// credentials gets the same `535 5.7.8` bytes (ATK-07).
fn failure_reply(failure: Failure) -> (AuthFailure, Reply) {
    match failure {
        Failure::InvalidCredentials => (AuthFailure::BadCredentials, Reply::AUTH_INVALID),
        // The same bytes as a wrong password (ATK-07); only the event differs.
        Failure::UnknownUser => (AuthFailure::UnknownUser, Reply::AUTH_INVALID),
        Failure::Malformed => (AuthFailure::Malformed, Reply::AUTH_INVALID),
        Failure::Cancelled => (AuthFailure::Cancelled, Reply::AUTH_CANCELLED),
        Failure::NotAuthorized => (AuthFailure::NotAuthorized, Reply::AUTH_INVALID),
        Failure::Disabled => (AuthFailure::Disabled, Reply::ACCOUNT_DISABLED),
        Failure::Unavailable => (AuthFailure::TemporaryFailure, Reply::AUTH_TEMPORARY_FAILURE),
        Failure::NotAvailable => (AuthFailure::NotAvailable, Reply::AUTH_INVALID),
        Failure::InitialResponseNotAllowed => {
            (AuthFailure::Malformed, Reply::AUTH_NO_INITIAL_RESPONSE)
        }
    }
}
