//! [`Responder`]: answers every [`Question`] from one [`Authenticator`] and
//! one [`Policy`], from sync code ([`Responder::answer`]) or async code
//! ([`Responder::answer_async`]).
//!
//! The driving loop of a sync server:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Instant, SystemTime};
//! use smtp_auth::{Config, MemoryStore, Output, Responder, Session, SubmissionPolicy};
//!
//! let store = MemoryStore::new().user("alice", "wonderland");
//! let responder = Responder::new(store, SubmissionPolicy::default());
//! let config = Config::builder("mx.example.org")
//!     .mechanisms(responder.mechanisms())
//!     .build();
//! let mut session = Session::new(Arc::new(config), "192.0.2.1".parse().unwrap(), None, Instant::now());
//! session.receive(Instant::now(), b"EHLO client.example\r\n");
//! while let Some(output) = session.poll() {
//!     match output {
//!         Output::Ask { id, question } => {
//!             let decision = responder.answer(&question, SystemTime::now());
//!             for event in decision.events {
//!                 // log it, like the session's own Output::Event
//!                 let _ = event;
//!             }
//!             session.answer(id, decision.answer).expect("the open question");
//!         }
//!         Output::Send(bytes) => { /* write to the socket */ let _ = bytes; }
//!         _ => {}
//!     }
//! }
//! ```
//!
//! Events the policy reports (a lock-out started or ended, a quota reached)
//! travel in the [`Decision`] next to the answer, so they reach the same
//! log as the session's events, at the point in the conversation where
//! they happened, with no shared state between the two.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::SystemTime;

use crate::authenticator::Authenticator;
use crate::policy::{Decision, Policy};
use crate::question::{Answer, Question};
use crate::sasl::{Mechanism, Request, Resolution};

/// Answers a session's questions from an [`Authenticator`] (credential
/// questions) and a [`Policy`] (all others). Stateless between questions,
/// so one responder serves every session of a listener (share it by
/// reference or in an `Arc`).
#[derive(Debug, Clone)]
pub struct Responder<A, P> {
    authenticator: A,
    policy: P,
}

impl<A: Authenticator, P: Policy> Responder<A, P> {
    /// Combines a credential backend and a policy.
    pub fn new(authenticator: A, policy: P) -> Self {
        Self {
            authenticator,
            policy,
        }
    }

    /// The credential backend.
    pub fn authenticator(&self) -> &A {
        &self.authenticator
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The mechanisms the authenticator can serve, for
    /// [`ConfigBuilder::mechanisms`](crate::ConfigBuilder::mechanisms): EHLO
    /// then offers exactly these (subject to the TLS rules).
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        self.authenticator.capabilities().mechanisms()
    }

    /// Answers `question` now, blocking the thread while the backend works.
    /// Don't call it from async code (the task would block its executor
    /// thread): use [`answer_async`](Self::answer_async) there.
    ///
    /// For [`Question::Message`], `Allow` means the policy accepts the
    /// message: store it durably before passing the answer to the session.
    pub fn answer(&self, question: &Question, now: SystemTime) -> Decision {
        block_on(self.answer_async(question, now))
    }

    /// Answers `question`, awaiting the backend.
    pub async fn answer_async(&self, question: &Question, now: SystemTime) -> Decision {
        match question {
            Question::MayAuthenticate(attempt) => self.policy.may_authenticate(attempt, now).await,
            Question::Credentials { request, .. } => {
                Decision::new(Answer::Sasl(self.resolve(request).await))
            }
            Question::AuthResult(result) => self.policy.auth_result(result, now).await,
            Question::Trust { peer } => self.policy.trust(*peer, now).await,
            Question::MailFrom(mail) => self.policy.mail_from(mail, now).await,
            Question::RcptTo(rcpt) => self.policy.rcpt_to(rcpt, now).await,
            Question::Message(message) => self.policy.message(message, now).await,
        }
    }

    /// Answers a SASL [`Request`] from the authenticator alone (for an IMAP
    /// or POP3 server that uses the [`sasl`](crate::sasl) module without a
    /// session).
    pub async fn resolve(&self, request: &Request) -> Resolution {
        let a = &self.authenticator;
        match request {
            Request::VerifyPassword { authcid, password } => {
                Resolution::Verdict(a.verify_password(authcid, password).await)
            }
            Request::CramMd5Secret { authcid } => {
                Resolution::CramMd5Secret(a.cram_md5_secret(authcid).await)
            }
            Request::ScramCredentials { authcid, hash } => {
                Resolution::ScramCredentials(a.scram_credentials(authcid, *hash).await)
            }
            Request::ValidateToken {
                mechanism,
                user,
                token,
            } => Resolution::Token(a.validate_token(*mechanism, user.as_deref(), token).await),
            Request::ExternalIdentity {
                certificate,
                authzid,
            } => Resolution::Identity(a.map_certificate(certificate, authzid.as_deref()).await),
            Request::Authorize { authcid, authzid } => {
                Resolution::Verdict(a.authorize(authcid, authzid).await)
            }
        }
    }
}

/// Wakes a parked thread.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread, parking it while the
/// future waits. This is how sync code drives the crate's future-returning
/// traits: the in-memory implementations complete at once, a backend that
/// does blocking I/O completes when its I/O does. A future that needs an
/// async runtime's reactor (a tokio socket) must be awaited inside that
/// runtime instead.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn block_on_waits_for_a_wake_from_another_thread() {
        struct Flag(Arc<AtomicBool>, bool);
        impl Future for Flag {
            type Output = u8;
            fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
                if self.0.load(Ordering::SeqCst) {
                    return Poll::Ready(7);
                }
                if !self.1 {
                    self.1 = true;
                    let (flag, waker) = (Arc::clone(&self.0), cx.waker().clone());
                    thread::spawn(move || {
                        thread::sleep(std::time::Duration::from_millis(5));
                        flag.store(true, Ordering::SeqCst);
                        waker.wake();
                    });
                }
                Poll::Pending
            }
        }
        assert_eq!(block_on(Flag(Arc::new(AtomicBool::new(false)), false)), 7);
    }
}
