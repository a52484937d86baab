//! [`Authenticator`]: the credential backend, and [`MemoryStore`], an
//! in-memory one for tests and examples.
//!
//! An authenticator answers what the SASL mechanisms ask
//! ([`Request`](crate::sasl::Request)): check a password, hand out a stored
//! secret, validate a bearer token, map a client certificate, authorize an
//! authzid. Each method defaults to "not supported"; [`capabilities`]
//! says which are, and [`Capabilities::mechanisms`] turns that into the
//! list to put in the [`Config`](crate::Config), so EHLO offers exactly the
//! mechanisms the backend can serve.
//!
//! The methods return futures, so one trait serves both kinds of driver: a
//! database or LDAP client awaits its I/O, a sync backend returns at once
//! (write `async fn` in the `impl`), and the sync
//! [`Responder::answer`](crate::Responder::answer) drives either.
//!
//! Rules every implementation keeps (DESIGN.md §3, ATK-06, ATK-07):
//! * a backend that cannot answer says `Unavailable` (`454 4.7.0`), never
//!   `Invalid` (which would make clients ask the user for a new password);
//! * an unknown user costs the same work as a known one (verify against a
//!   dummy hash) and is reported as [`Verdict::UnknownUser`] or
//!   [`Lookup::NotFound`], which the client cannot tell from a wrong
//!   password;
//! * secrets are compared in constant time.
//!
//! [`capabilities`]: Authenticator::capabilities

use std::collections::HashMap;
use std::fmt;
use std::future::{ready, Future};
use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::sasl::secret::{CramMd5Secret, ScramCredentials};
use crate::sasl::{Lookup, Mechanism, ScramHash, TokenError, TokenVerdict, Verdict};
use crate::secret::Secret;

/// Which kinds of credentials a backend can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities {
    passwords: bool,
    cram_md5: bool,
    scram_sha1: bool,
    scram_sha256: bool,
    tokens: bool,
    certificates: bool,
}

impl Capabilities {
    /// Nothing: no mechanism is offered.
    pub const NONE: Capabilities = Capabilities {
        passwords: false,
        cram_md5: false,
        scram_sha1: false,
        scram_sha256: false,
        tokens: false,
        certificates: false,
    };

    /// Adds password checks: PLAIN and LOGIN.
    pub const fn passwords(mut self) -> Self {
        self.passwords = true;
        self
    }

    /// Adds CRAM-MD5 secrets.
    pub const fn cram_md5(mut self) -> Self {
        self.cram_md5 = true;
        self
    }

    /// Adds SCRAM credentials for `hash`: SCRAM-SHA-1 or SCRAM-SHA-256,
    /// and their `-PLUS` variants.
    pub const fn scram(mut self, hash: ScramHash) -> Self {
        match hash {
            ScramHash::Sha1 => self.scram_sha1 = true,
            ScramHash::Sha256 => self.scram_sha256 = true,
        }
        self
    }

    /// Adds bearer tokens: XOAUTH2 and OAUTHBEARER.
    pub const fn tokens(mut self) -> Self {
        self.tokens = true;
        self
    }

    /// Adds client-certificate mapping: EXTERNAL.
    pub const fn certificates(mut self) -> Self {
        self.certificates = true;
        self
    }

    /// Both sets together.
    pub const fn union(self, other: Capabilities) -> Self {
        Capabilities {
            passwords: self.passwords || other.passwords,
            cram_md5: self.cram_md5 || other.cram_md5,
            scram_sha1: self.scram_sha1 || other.scram_sha1,
            scram_sha256: self.scram_sha256 || other.scram_sha256,
            tokens: self.tokens || other.tokens,
            certificates: self.certificates || other.certificates,
        }
    }

    /// Whether a backend with these capabilities can serve `mechanism`
    /// (and this build implements it).
    pub const fn supports(self, mechanism: Mechanism) -> bool {
        let served = match mechanism {
            Mechanism::Plain | Mechanism::Login => self.passwords,
            Mechanism::CramMd5 => self.cram_md5,
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => self.scram_sha1,
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => self.scram_sha256,
            Mechanism::XOAuth2 | Mechanism::OAuthBearer => self.tokens,
            Mechanism::External => self.certificates,
        };
        served && mechanism.is_available()
    }

    /// The mechanisms to enable, strongest first: pass them to
    /// [`ConfigBuilder::mechanisms`](crate::ConfigBuilder::mechanisms).
    /// Which are offered on a connection still follows the TLS rules
    /// (PLAIN, LOGIN and the token mechanisms only under TLS, `-PLUS` only
    /// with channel binding, EXTERNAL only with a client certificate).
    pub fn mechanisms(self) -> Vec<Mechanism> {
        const ORDER: [Mechanism; 10] = [
            Mechanism::External,
            Mechanism::ScramSha256Plus,
            Mechanism::ScramSha256,
            Mechanism::ScramSha1Plus,
            Mechanism::ScramSha1,
            Mechanism::CramMd5,
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::OAuthBearer,
            Mechanism::XOAuth2,
        ];
        ORDER.into_iter().filter(|&m| self.supports(m)).collect()
    }
}

/// The credential backend. Every method has a default meaning "not
/// supported"; override those your backend serves and say so in
/// [`capabilities`](Self::capabilities).
///
/// ```
/// use smtp_auth::authenticator::{Authenticator, Capabilities};
/// use smtp_auth::sasl::Verdict;
/// use smtp_auth::Secret;
///
/// struct OneUser;
///
/// impl Authenticator for OneUser {
///     fn capabilities(&self) -> Capabilities {
///         Capabilities::NONE.passwords()
///     }
///
///     async fn verify_password(&self, user: &str, password: &Secret<String>) -> Verdict {
///         // A real backend compares a hash, in constant time.
///         match (user, password.expose().as_str()) {
///             ("alice", "wonderland") => Verdict::Valid,
///             ("alice", _) => Verdict::Invalid,
///             _ => Verdict::UnknownUser,
///         }
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync {
    /// What this backend can serve; decides the mechanisms offered.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// PLAIN, LOGIN: is `password` right for `user`? Answer
    /// [`Verdict::UnknownUser`] for a user that does not exist (after the
    /// same work as for one that does), [`Verdict::Disabled`] only for
    /// right credentials of a disabled account. Default: unavailable.
    fn verify_password(
        &self,
        user: &str,
        password: &Secret<String>,
    ) -> impl Future<Output = Verdict> + Send {
        let _ = (user, password);
        ready(Verdict::Unavailable)
    }

    /// CRAM-MD5: the user's stored secret, or [`Lookup::NotFound`] when the
    /// user is unknown or their stored scheme cannot serve CRAM-MD5.
    /// Default: unavailable.
    fn cram_md5_secret(&self, user: &str) -> impl Future<Output = Lookup<CramMd5Secret>> + Send {
        let _ = user;
        ready(Lookup::Unavailable)
    }

    /// SCRAM: the user's credentials for `hash`, or [`Lookup::NotFound`]
    /// (the mechanism then answers with a fake salt, R5802-9.1). Default:
    /// unavailable.
    fn scram_credentials(
        &self,
        user: &str,
        hash: ScramHash,
    ) -> impl Future<Output = Lookup<ScramCredentials>> + Send {
        let _ = (user, hash);
        ready(Lookup::Unavailable)
    }

    /// XOAUTH2, OAUTHBEARER: is `token` valid, and whose is it? `user` is
    /// the name the client gave, if any: when it differs from the token's
    /// identity the session asks [`authorize`](Self::authorize). Default:
    /// unavailable.
    fn validate_token(
        &self,
        mechanism: Mechanism,
        user: Option<&str>,
        token: &Secret<String>,
    ) -> impl Future<Output = TokenVerdict> + Send {
        let _ = (mechanism, user, token);
        ready(TokenVerdict::Unavailable)
    }

    /// EXTERNAL: the identity a verified client certificate maps to. When
    /// the client asked for `authzid` and may act as it, answer exactly
    /// `authzid`. Default: unavailable.
    fn map_certificate(
        &self,
        certificate: &str,
        authzid: Option<&str>,
    ) -> impl Future<Output = Lookup<String>> + Send {
        let _ = (certificate, authzid);
        ready(Lookup::Unavailable)
    }

    /// May `authcid` (verified) act as `authzid` (RFC 4422 §3.4.1)?
    /// Default: no — the safe answer (ATK-08).
    fn authorize(&self, authcid: &str, authzid: &str) -> impl Future<Output = Verdict> + Send {
        let _ = (authcid, authzid);
        ready(Verdict::Invalid)
    }
}

macro_rules! forward_authenticator {
    ($($ty:ty),*) => {$(
        impl<T: Authenticator + ?Sized> Authenticator for $ty {
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            fn verify_password(
                &self,
                user: &str,
                password: &Secret<String>,
            ) -> impl Future<Output = Verdict> + Send {
                (**self).verify_password(user, password)
            }
            fn cram_md5_secret(
                &self,
                user: &str,
            ) -> impl Future<Output = Lookup<CramMd5Secret>> + Send {
                (**self).cram_md5_secret(user)
            }
            fn scram_credentials(
                &self,
                user: &str,
                hash: ScramHash,
            ) -> impl Future<Output = Lookup<ScramCredentials>> + Send {
                (**self).scram_credentials(user, hash)
            }
            fn validate_token(
                &self,
                mechanism: Mechanism,
                user: Option<&str>,
                token: &Secret<String>,
            ) -> impl Future<Output = TokenVerdict> + Send {
                (**self).validate_token(mechanism, user, token)
            }
            fn map_certificate(
                &self,
                certificate: &str,
                authzid: Option<&str>,
            ) -> impl Future<Output = Lookup<String>> + Send {
                (**self).map_certificate(certificate, authzid)
            }
            fn authorize(
                &self,
                authcid: &str,
                authzid: &str,
            ) -> impl Future<Output = Verdict> + Send {
                (**self).authorize(authcid, authzid)
            }
        }
    )*};
}

forward_authenticator!(Arc<T>, &T, Box<T>);

/// Constant-time equality of two byte strings (length may differ).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// One user of a [`MemoryStore`].
#[derive(Clone)]
struct MemoryUser {
    password: Secret<String>,
    cram_md5: CramMd5Secret,
    scram: Vec<ScramCredentials>,
    disabled: bool,
}

/// An in-memory credential store for tests, examples and small setups:
/// users with passwords (serving PLAIN, LOGIN, CRAM-MD5 and SCRAM, whose
/// stored forms are derived when a user is added), static bearer tokens,
/// certificate mappings and authzid grants. `Debug` shows user names only.
///
/// SCRAM salts are derived from the user name, so transcripts are
/// reproducible: fine for tests, not for a production password database
/// (use a real store, e.g. [`PasswdFile`](crate::PasswdFile)).
#[derive(Clone, Default)]
pub struct MemoryStore {
    users: HashMap<String, MemoryUser>,
    scram_salt: Option<Vec<u8>>,
    tokens: Vec<(Secret<String>, String)>,
    certificates: HashMap<String, String>,
    grants: HashMap<String, Vec<String>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut users: Vec<&str> = self.users.keys().map(String::as_str).collect();
        users.sort_unstable();
        f.debug_struct("MemoryStore")
            .field("users", &users)
            .field("tokens", &self.tokens.len())
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

/// The dummy password an unknown user's guess is compared with, so that
/// it costs the same as a known user's (ATK-06).
const DUMMY_PASSWORD: &str = "smtp-auth dummy password for unknown users";

/// SCRAM iterations for [`MemoryStore`] users (the RFC 7677 minimum).
const MEMORY_SCRAM_ITERATIONS: u32 = 4096;

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a user with a password.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.insert_user(name.into(), password.into(), false);
        self
    }

    /// Adds a user whose account is disabled: the right password gives
    /// `525 5.7.13`, a wrong one `535`.
    pub fn disabled_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.insert_user(name.into(), password.into(), true);
        self
    }

    /// Uses `salt` for the SCRAM credentials of the users added after
    /// this call, instead of one derived from each user name: for tests
    /// that replay a published or recorded exchange. Never share one salt
    /// between users of a real store.
    pub fn scram_salt(mut self, salt: impl Into<Vec<u8>>) -> Self {
        self.scram_salt = Some(salt.into()).filter(|s: &Vec<u8>| !s.is_empty());
        self
    }

    fn insert_user(&mut self, name: String, password: String, disabled: bool) {
        let cram_md5 = CramMd5Secret::from_password(&password);
        let scram = Self::derive_scram(&name, &password, self.scram_salt.as_deref());
        self.users.insert(
            name,
            MemoryUser {
                password: Secret::new(password),
                cram_md5,
                scram,
                disabled,
            },
        );
    }

    #[cfg(feature = "scram")]
    fn derive_scram(name: &str, password: &str, salt: Option<&[u8]>) -> Vec<ScramCredentials> {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest([b"smtp-auth memory store salt\0", name.as_bytes()].concat());
        let salt = salt.unwrap_or(&digest[..16]);
        [ScramHash::Sha1, ScramHash::Sha256]
            .into_iter()
            .filter_map(|h| {
                ScramCredentials::derive(h, password, salt, MEMORY_SCRAM_ITERATIONS).ok()
            })
            .collect()
    }

    #[cfg(not(feature = "scram"))]
    fn derive_scram(_name: &str, _password: &str, _salt: Option<&[u8]>) -> Vec<ScramCredentials> {
        let _ = MEMORY_SCRAM_ITERATIONS;
        Vec::new()
    }

    /// Adds a static bearer token that authenticates `identity` (XOAUTH2,
    /// OAUTHBEARER). Tokens are compared in constant time.
    pub fn token(mut self, token: impl Into<String>, identity: impl Into<String>) -> Self {
        self.tokens
            .push((Secret::new(token.into()), identity.into()));
        self
    }

    /// Maps a client-certificate identity to a user (EXTERNAL).
    pub fn certificate(mut self, certificate: impl Into<String>, user: impl Into<String>) -> Self {
        self.certificates.insert(certificate.into(), user.into());
        self
    }

    /// Lets `authcid` act as `authzid` (RFC 4422 §3.4.1).
    pub fn grant(mut self, authcid: impl Into<String>, authzid: impl Into<String>) -> Self {
        self.grants
            .entry(authcid.into())
            .or_default()
            .push(authzid.into());
        self
    }

    fn granted(&self, authcid: &str, authzid: &str) -> bool {
        self.grants
            .get(authcid)
            .is_some_and(|z| z.iter().any(|z| z == authzid))
    }

    fn check_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        match self.users.get(user) {
            Some(u) => {
                if !ct_eq(u.password.expose().as_bytes(), password.expose().as_bytes()) {
                    Verdict::Invalid
                } else if u.disabled {
                    Verdict::Disabled
                } else {
                    Verdict::Valid
                }
            }
            None => {
                // The same comparison as for a known user (ATK-06).
                let _ = ct_eq(DUMMY_PASSWORD.as_bytes(), password.expose().as_bytes());
                Verdict::UnknownUser
            }
        }
    }

    fn live_user(&self, user: &str) -> Option<&MemoryUser> {
        self.users.get(user).filter(|u| !u.disabled)
    }
}

impl Authenticator for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::NONE
            .passwords()
            .cram_md5()
            .scram(ScramHash::Sha1)
            .scram(ScramHash::Sha256);
        if !self.tokens.is_empty() {
            c = c.tokens();
        }
        if !self.certificates.is_empty() {
            c = c.certificates();
        }
        c
    }

    fn verify_password(
        &self,
        user: &str,
        password: &Secret<String>,
    ) -> impl Future<Output = Verdict> + Send {
        ready(self.check_password(user, password))
    }

    fn cram_md5_secret(&self, user: &str) -> impl Future<Output = Lookup<CramMd5Secret>> + Send {
        ready(match self.live_user(user) {
            Some(u) => Lookup::Found(u.cram_md5.clone()),
            None => Lookup::NotFound,
        })
    }

    fn scram_credentials(
        &self,
        user: &str,
        hash: ScramHash,
    ) -> impl Future<Output = Lookup<ScramCredentials>> + Send {
        ready(
            match self
                .live_user(user)
                .and_then(|u| u.scram.iter().find(|c| c.hash() == hash))
            {
                Some(c) => Lookup::Found(c.clone()),
                None => Lookup::NotFound,
            },
        )
    }

    fn validate_token(
        &self,
        _mechanism: Mechanism,
        _user: Option<&str>,
        token: &Secret<String>,
    ) -> impl Future<Output = TokenVerdict> + Send {
        // Compare with every token, so the time does not depend on which
        // one matched.
        let mut found = None;
        for (t, identity) in &self.tokens {
            if ct_eq(t.expose().as_bytes(), token.expose().as_bytes()) {
                found = Some(identity.clone());
            }
        }
        ready(match found {
            Some(identity) => TokenVerdict::Valid { identity },
            None => TokenVerdict::Invalid {
                status: TokenError::InvalidToken,
                scope: None,
            },
        })
    }

    fn map_certificate(
        &self,
        certificate: &str,
        authzid: Option<&str>,
    ) -> impl Future<Output = Lookup<String>> + Send {
        ready(match self.certificates.get(certificate) {
            Some(user) => match authzid {
                Some(z) if z != user && self.granted(user, z) => Lookup::Found(z.to_owned()),
                _ => Lookup::Found(user.clone()),
            },
            None => Lookup::NotFound,
        })
    }

    fn authorize(&self, authcid: &str, authzid: &str) -> impl Future<Output = Verdict> + Send {
        ready(if self.granted(authcid, authzid) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::block_on;

    #[test]
    fn default_methods_are_not_supported() {
        struct Nothing;
        impl Authenticator for Nothing {}
        let n = Nothing;
        assert_eq!(n.capabilities().mechanisms(), Vec::<Mechanism>::new());
        let pw = Secret::new("x".to_owned());
        assert_eq!(block_on(n.verify_password("a", &pw)), Verdict::Unavailable);
        assert_eq!(block_on(n.cram_md5_secret("a")), Lookup::Unavailable);
        assert_eq!(
            block_on(n.scram_credentials("a", ScramHash::Sha256)),
            Lookup::Unavailable
        );
        assert_eq!(
            block_on(n.validate_token(Mechanism::XOAuth2, None, &pw)),
            TokenVerdict::Unavailable
        );
        assert_eq!(block_on(n.map_certificate("c", None)), Lookup::Unavailable);
        assert_eq!(block_on(n.authorize("a", "b")), Verdict::Invalid);
    }

    #[test]
    fn capabilities_decide_the_mechanisms() {
        let c = Capabilities::NONE.passwords();
        assert_eq!(c.mechanisms(), [Mechanism::Plain, Mechanism::Login]);
        let c = c.cram_md5().tokens();
        assert_eq!(
            c.mechanisms(),
            [
                Mechanism::CramMd5,
                Mechanism::Plain,
                Mechanism::Login,
                Mechanism::OAuthBearer,
                Mechanism::XOAuth2
            ]
        );
        let all = c
            .union(Capabilities::NONE.certificates())
            .scram(ScramHash::Sha256);
        assert!(all.supports(Mechanism::External));
        assert_eq!(
            all.supports(Mechanism::ScramSha256Plus),
            cfg!(feature = "scram")
        );
        assert!(!all.supports(Mechanism::ScramSha1));
    }

    #[test]
    fn memory_store_verdicts() {
        let s = MemoryStore::new()
            .user("alice", "wonderland")
            .disabled_user("carol", "secret");
        let pw = |p: &str| Secret::new(p.to_owned());
        assert_eq!(
            block_on(s.verify_password("alice", &pw("wonderland"))),
            Verdict::Valid
        );
        assert_eq!(
            block_on(s.verify_password("alice", &pw("x"))),
            Verdict::Invalid
        );
        assert_eq!(
            block_on(s.verify_password("bob", &pw("wonderland"))),
            Verdict::UnknownUser
        );
        assert_eq!(
            block_on(s.verify_password("carol", &pw("secret"))),
            Verdict::Disabled
        );
        assert_eq!(
            block_on(s.verify_password("carol", &pw("x"))),
            Verdict::Invalid
        );
        assert_eq!(block_on(s.cram_md5_secret("carol")), Lookup::NotFound);
        assert_eq!(
            block_on(s.cram_md5_secret("alice")),
            Lookup::Found(CramMd5Secret::from_password("wonderland"))
        );
        let dbg = format!("{s:?}");
        assert!(
            dbg.contains("alice") && !dbg.contains("wonderland"),
            "{dbg}"
        );
    }

    #[test]
    fn memory_store_tokens_certificates_and_grants() {
        let s = MemoryStore::new()
            .user("alice", "pw")
            .token("tok-1", "alice")
            .certificate("CN=Alice", "alice")
            .grant("alice", "shared@example.org");
        let tok = Secret::new("tok-1".to_owned());
        assert_eq!(
            block_on(s.validate_token(Mechanism::XOAuth2, None, &tok)),
            TokenVerdict::Valid {
                identity: "alice".into()
            }
        );
        let bad = Secret::new("tok-2".to_owned());
        assert!(matches!(
            block_on(s.validate_token(Mechanism::OAuthBearer, None, &bad)),
            TokenVerdict::Invalid { .. }
        ));
        assert_eq!(
            block_on(s.map_certificate("CN=Alice", None)),
            Lookup::Found("alice".into())
        );
        assert_eq!(
            block_on(s.map_certificate("CN=Alice", Some("shared@example.org"))),
            Lookup::Found("shared@example.org".into())
        );
        assert_eq!(
            block_on(s.map_certificate("CN=Alice", Some("root"))),
            Lookup::Found("alice".into())
        );
        assert_eq!(
            block_on(s.map_certificate("CN=Eve", None)),
            Lookup::NotFound
        );
        assert_eq!(
            block_on(s.authorize("alice", "shared@example.org")),
            Verdict::Valid
        );
        assert_eq!(block_on(s.authorize("alice", "root")), Verdict::Invalid);
        assert!(s.capabilities().supports(Mechanism::External));
        assert!(s.capabilities().supports(Mechanism::XOAuth2));
    }
}
