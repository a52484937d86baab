//! # smtp-auth
//!
//! The submission side of SMTP for Rust mail servers, sans-IO: STARTTLS and
//! implicit-TLS rules (RFC 3207, RFC 8314), SASL authentication (RFC 4954)
//! and the policy that decides what an authenticated account may send
//! (RFC 6409). Bytes go in; replies, questions and events come out. The
//! crate never touches a socket, a clock or a thread, so a tokio server, a
//! blocking server or a test harness all drive it the same way.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use smtp_auth::sasl::{Mechanism, Request, Resolution, Verdict};
//! use smtp_auth::{Answer, Config, Output, Profile, Question, Session, TlsInfo};
//!
//! // One config per listener; this one is port 465 (TLS before the first byte).
//! let config = Arc::new(
//!     Config::builder("mx.example.org")
//!         .profile(Profile::ImplicitTls)
//!         .mechanisms([Mechanism::Plain])
//!         .build(),
//! );
//! let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
//! let tls = TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256");
//! let mut session = Session::new(config, peer, Some(tls), Instant::now());
//!
//! // What the client sent (normally: what the socket read).
//! session.receive(Instant::now(), b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
//!
//! let mut written = Vec::new();
//! while let Some(output) = session.poll() {
//!     match output {
//!         Output::Send(bytes) => written.extend_from_slice(&bytes), // write to the socket
//!         Output::Ask { id, question } => {
//!             // Decide, from a database, a directory, a rate limiter... or
//!             // use smtp_auth's Responder for the common cases.
//!             let answer = match question {
//!                 Question::Credentials { request: Request::VerifyPassword { authcid, password }, .. } => {
//!                     let ok = authcid == "alice" && password.expose() == "wonderland";
//!                     Answer::Sasl(Resolution::Verdict(if ok { Verdict::Valid } else { Verdict::Invalid }))
//!                 }
//!                 Question::AuthResult(_) => Answer::Recorded { delay: std::time::Duration::ZERO },
//!                 _ => Answer::Allow,
//!             };
//!             session.answer(id, answer).unwrap();
//!         }
//!         Output::Event(event) => { /* log it */ let _ = event; }
//!         _ => {}
//!     }
//! }
//! let written = String::from_utf8(written).unwrap();
//! assert!(written.starts_with("220 mx.example.org ESMTP ready\r\n250-mx.example.org"));
//! assert!(written.ends_with("250 AUTH PLAIN\r\n235 2.7.0 Authentication successful\r\n"));
//! assert_eq!(session.authenticated().unwrap().identity, "alice");
//! assert_eq!(session.received_with(), "ESMTPSA");
//! ```
//!
//! ## The pieces
//!
//! * [`Session`]: one connection's state machine. [`Session::receive`]
//!   takes bytes, [`Session::poll`] yields [`Output`]s, [`Session::answer`]
//!   answers a [`Question`], [`Session::tls_established`] completes STARTTLS,
//!   [`Session::timeout`]/[`Session::handle_timeout`] drive timeouts.
//! * [`Config`]: a listener's [`Profile`] (submission on 587, implicit TLS on
//!   465, relay on 25), [`Limits`], [`Timeouts`] and mechanisms.
//! * [`sasl`]: the mechanisms (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/-256 and
//!   their `-PLUS` variants, XOAUTH2, OAUTHBEARER, EXTERNAL), server and
//!   client side, usable without SMTP (IMAP, POP3, ManageSieve).
//! * [`client`]: the client end of submission, sans-IO as well: greeting,
//!   EHLO, STARTTLS, AUTH with any of the mechanisms, MAIL/RCPT/DATA, QUIT.
//! * [`command`]: the SMTP command grammar, zero-copy.
//! * [`reply`]: replies, their wire encoding and every standard reply.
//! * [`Event`]: what happened, for logs, metrics and fail2ban.
//!
//! ## Cargo features
//!
//! * `scram` (default): SCRAM-SHA-1 and SCRAM-SHA-256 (sha1, sha2, pbkdf2).
//! * `ldap`: [`ldap::LdapAuthenticator`], passwords checked against LDAP or
//!   Active Directory (ldap3, tokio, rustls with ring).
//! * `redis`: `limiter::redis::RedisLimiter`, lock-out and quota counters
//!   in Redis, shared by a fleet of servers (redis, tokio).
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod authenticator;
pub mod client;
pub mod command;
pub mod config;
pub mod error;
pub mod event;
#[cfg(feature = "ldap")]
#[cfg_attr(docsrs, doc(cfg(feature = "ldap")))]
pub mod ldap;
pub mod limiter;
pub mod load;
pub mod manual;
#[cfg(feature = "passwd-file")]
pub mod passwd_file;
pub mod policy;
pub mod question;
pub mod random;
pub mod reply;
pub mod responder;
pub mod sasl;
pub mod secret;
pub mod senders;
mod session;
pub mod tls;

pub use authenticator::{Authenticator, Capabilities, MemoryStore};
pub use config::{BareLineEndings, Config, ConfigBuilder, Limits, Profile, Timeouts};
pub use error::{AnswerError, AnswerErrorKind};
pub use event::{CloseReason, Event, QuotaKind};
pub use limiter::{Limiter, MemoryLimiter, Network};
#[cfg(feature = "passwd-file")]
pub use passwd_file::PasswdFile;
pub use policy::{Decision, Policy, RecentAuthentications, SubmissionPolicy};
pub use question::{Answer, AuthFailure, Question, QuestionId};
pub use reply::{EnhancedCode, Reply};
pub use responder::Responder;
pub use secret::Secret;
pub use senders::{Ownership, SenderLoginMap, SenderOwners};
pub use session::{Output, Session};
pub use tls::TlsInfo;

/// The README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
