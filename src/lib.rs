//! smtp-auth: the submission side of SMTP, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod command;
pub mod config;
pub mod error;
pub mod event;
pub mod manual;
pub mod question;
pub mod random;
pub mod reply;
pub mod sasl;
pub mod secret;
mod session;
pub mod tls;

pub use config::{BareLineEndings, Config, ConfigBuilder, Limits, Profile, Timeouts};
pub use error::{AnswerError, AnswerErrorKind};
pub use event::{CloseReason, Event};
pub use question::{Answer, AuthFailure, Question, QuestionId};
pub use reply::{EnhancedCode, Reply};
pub use secret::Secret;
pub use session::{Output, Session};
pub use tls::TlsInfo;
