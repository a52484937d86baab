//! Answers the session's questions with the crate's `Responder`: a
//! credential store (demo users in memory, or a Dovecot passwd-file) and
//! the default `SubmissionPolicy` (lock-out, sender ownership, quotas).

use std::time::SystemTime;

use smtp_auth::authenticator::{Authenticator, Capabilities, MemoryStore};
#[cfg(feature = "ldap")]
use smtp_auth::ldap::LdapAuthenticator;
#[cfg(feature = "passwd-file")]
use smtp_auth::passwd_file::PasswdFile;
use smtp_auth::policy::{Decision, SubmissionPolicy};
use smtp_auth::sasl::secret::{CramMd5Secret, ScramCredentials};
use smtp_auth::sasl::{Lookup, Mechanism, ScramHash, TokenVerdict, Verdict};
use smtp_auth::{Ownership, Question, Responder, Secret, SenderOwners};

use crate::fleet::Counters;

/// Where users come from.
pub enum Store {
    /// Demo users, made at start.
    Memory(MemoryStore),
    /// A Dovecot passwd-file (`--users`), reloaded when it changes.
    #[cfg(feature = "passwd-file")]
    File(PasswdFile),
    /// An LDAP directory or Active Directory (`--ldap-*`).
    #[cfg(feature = "ldap")]
    Ldap(LdapAuthenticator),
}

impl Store {
    /// Where sender addresses come from besides the sender map.
    pub fn owners(&self) -> Owners {
        #[cfg(feature = "ldap")]
        if let Store::Ldap(l) = self {
            return Owners::Directory(l.clone());
        }
        Owners::Nobody
    }
}

/// A source of sender addresses for the policy: the directory's entries
/// (`mail` and the alternate-address attributes), when users come from LDAP.
pub enum Owners {
    /// Only the sender map decides.
    Nobody,
    /// The LDAP authenticator's addresses.
    #[cfg(feature = "ldap")]
    Directory(LdapAuthenticator),
}

impl SenderOwners for Owners {
    async fn ownership(&self, identity: &str, address: &str) -> Ownership {
        let _ = (identity, address);
        match self {
            Owners::Nobody => Ownership::NotOwned,
            #[cfg(feature = "ldap")]
            Owners::Directory(l) => l.ownership(identity, address).await,
        }
    }
}

impl Authenticator for Store {
    fn capabilities(&self) -> Capabilities {
        match self {
            Store::Memory(s) => s.capabilities(),
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.capabilities(),
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.capabilities(),
        }
    }

    async fn verify_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        match self {
            Store::Memory(s) => s.verify_password(user, password).await,
            #[cfg(feature = "passwd-file")]
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.verify_password(user, password).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.verify_password(user, password).await,
        }
    }

    async fn cram_md5_secret(&self, user: &str) -> Lookup<CramMd5Secret> {
        match self {
            Store::Memory(s) => s.cram_md5_secret(user).await,
            #[cfg(feature = "passwd-file")]
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.cram_md5_secret(user).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.cram_md5_secret(user).await,
        }
    }

    async fn scram_credentials(&self, user: &str, hash: ScramHash) -> Lookup<ScramCredentials> {
        match self {
            Store::Memory(s) => s.scram_credentials(user, hash).await,
            #[cfg(feature = "passwd-file")]
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.scram_credentials(user, hash).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.scram_credentials(user, hash).await,
        }
    }

    async fn validate_token(
        &self,
        mechanism: Mechanism,
        user: Option<&str>,
        token: &Secret<String>,
    ) -> TokenVerdict {
        match self {
            Store::Memory(s) => s.validate_token(mechanism, user, token).await,
            #[cfg(feature = "passwd-file")]
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.validate_token(mechanism, user, token).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.validate_token(mechanism, user, token).await,
        }
    }

    async fn map_certificate(&self, certificate: &str, authzid: Option<&str>) -> Lookup<String> {
        match self {
            Store::Memory(s) => s.map_certificate(certificate, authzid).await,
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.map_certificate(certificate, authzid).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.map_certificate(certificate, authzid).await,
        }
    }

    async fn authorize(&self, authcid: &str, authzid: &str) -> Verdict {
        match self {
            Store::Memory(s) => s.authorize(authcid, authzid).await,
            #[cfg(feature = "passwd-file")]
            Store::File(s) => s.authorize(authcid, authzid).await,
            #[cfg(feature = "ldap")]
            Store::Ldap(s) => s.authorize(authcid, authzid).await,
        }
    }
}

/// The responder every connection shares.
pub struct Backend {
    responder: Responder<Store, SubmissionPolicy<Counters>>,
}

impl Backend {
    pub fn new(store: Store, policy: SubmissionPolicy<Counters>) -> Self {
        Self {
            responder: Responder::new(store, policy),
        }
    }

    /// The mechanisms the store can serve: what EHLO offers.
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        self.responder.mechanisms()
    }

    /// Answers a question. Password checks against a passwd-file run a
    /// deliberately slow hash; call this from a blocking-capable thread for
    /// `Question::Credentials` (the connection does).
    pub fn answer(&self, question: &Question) -> Decision {
        #[cfg(feature = "passwd-file")]
        if let Store::File(file) = self.responder.authenticator() {
            // Pick up edits to the passwd-file without a restart.
            if let Ok(Some(report)) = file.reload_if_changed() {
                tracing::info!("users reloaded: {report:?}");
            }
        }
        self.responder.answer(question, SystemTime::now())
    }

    /// Answers a policy question (anything but `Question::Credentials`)
    /// from async code: with `--redis` the counters are a network call
    /// away, awaited here instead of blocking a runtime thread.
    pub async fn answer_async(&self, question: &Question) -> Decision {
        self.responder
            .answer_async(question, SystemTime::now())
            .await
    }
}
