//! smtp-auth: the submission side of SMTP, sans-IO.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod command;
pub mod random;
pub mod reply;
pub mod sasl;
pub mod secret;
