//! The deterministic responder the fuzz targets answer with: the same users
//! and token as `tests/common/mod.rs`, with SCRAM credentials derived once
//! (and with few iterations, so a fuzz run spends its time in our code, not
//! in PBKDF2).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use smtp_auth::sasl::secret::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{Lookup, Request, Resolution, ScramHash, TokenError, TokenVerdict, Verdict};
use smtp_auth::{Answer, Question, Reply};

/// The users every target knows: (name, password).
pub const USERS: &[(&str, &str)] = &[
    ("alice", "wonderland"),
    ("bob", "builder"),
    ("tim", "tanstaaftanstaaf"),
];

/// A valid bearer token for alice.
pub const TOKEN: &str = "mF_9.B5f-4.1JqM";

/// SCRAM iteration count of the known users (low on purpose: speed).
pub const SCRAM_ITERATIONS: u32 = 16;

/// The salt of the known users.
pub const SCRAM_SALT: &[u8] = b"NaClNaClNaCl";

/// The password of a known user.
pub fn password(user: &str) -> Option<&'static str> {
    USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p)
}

fn scram(user: &str, hash: ScramHash) -> Option<ScramCredentials> {
    static CACHE: OnceLock<Mutex<HashMap<(String, u8), ScramCredentials>>> = OnceLock::new();
    let pw = password(user)?;
    let key = (
        user.to_owned(),
        match hash {
            ScramHash::Sha1 => 1,
            _ => 2,
        },
    );
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    Some(
        map.entry(key)
            .or_insert_with(|| {
                ScramCredentials::derive(hash, pw, SCRAM_SALT, SCRAM_ITERATIONS)
                    .expect("valid parameters")
            })
            .clone(),
    )
}

/// Answers a SASL request the way a correct credential backend would.
pub fn resolve(request: &Request) -> Resolution {
    match request {
        Request::VerifyPassword {
            authcid,
            password: pw,
        } => {
            if authcid == "down" {
                return Resolution::Verdict(Verdict::Unavailable);
            }
            if authcid == "disabled" {
                return Resolution::Verdict(Verdict::Disabled);
            }
            Resolution::Verdict(match password(authcid) {
                Some(p) if p == pw.expose() => Verdict::Valid,
                _ => Verdict::Invalid,
            })
        }
        Request::CramMd5Secret { authcid } => Resolution::CramMd5Secret(match password(authcid) {
            Some(p) => Lookup::Found(CramMd5Secret::from_password(p)),
            None if authcid == "down" => Lookup::Unavailable,
            None => Lookup::NotFound,
        }),
        Request::ScramCredentials { authcid, hash } => {
            Resolution::ScramCredentials(match scram(authcid, *hash) {
                Some(c) => Lookup::Found(c),
                None if authcid == "down" => Lookup::Unavailable,
                None => Lookup::NotFound,
            })
        }
        Request::ValidateToken { token, .. } => Resolution::Token(if token.expose() == TOKEN {
            TokenVerdict::Valid {
                identity: "alice".into(),
            }
        } else if token.expose() == "down" {
            TokenVerdict::Unavailable
        } else {
            TokenVerdict::Invalid {
                status: TokenError::InvalidToken,
                scope: Some("mail".into()),
            }
        }),
        Request::ExternalIdentity { certificate, .. } => {
            Resolution::Identity(Lookup::Found(certificate.clone()))
        }
        // Only "admin" may act as someone else.
        Request::Authorize { authcid, .. } => Resolution::Verdict(if authcid == "admin" {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }),
        _ => Resolution::Verdict(Verdict::Unavailable),
    }
}

/// Answers any question like a sane submission policy.
pub fn respond(question: &Question) -> Answer {
    match question {
        Question::MayAuthenticate(a) if a.user == "locked" => {
            Answer::Reply(Reply::AUTH_TEMPORARY_FAILURE)
        }
        Question::MayAuthenticate(_) => Answer::Allow,
        Question::Credentials { request, .. } => Answer::Sasl(resolve(request)),
        Question::AuthResult(r) if r.outcome.is_err() => Answer::Recorded {
            delay: Duration::from_millis(10),
        },
        Question::AuthResult(_) => Answer::Recorded {
            delay: Duration::ZERO,
        },
        Question::Trust { .. } => Answer::Reply(Reply::AUTH_REQUIRED),
        Question::MailFrom(m) if m.sender.starts_with("spoof@") => {
            Answer::Reply(Reply::SENDER_NOT_OWNED)
        }
        Question::RcptTo(r) if r.recipient.starts_with("nobody@") => {
            Answer::Reply(Reply::new(550, None, "No such user"))
        }
        _ => Answer::Allow,
    }
}
