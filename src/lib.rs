//! smtp-auth: the submission side of SMTP, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod authenticator;
pub mod command;
pub mod config;
pub mod error;
pub mod event;
pub mod limiter;
pub mod load;
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
pub use senders::SenderLoginMap;
pub use session::{Output, Session};
pub use tls::TlsInfo;
