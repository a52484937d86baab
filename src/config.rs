//! [`Config`]: one listener's profile, limits, mechanisms and TLS rules.
//!
//! A `Config` is built once per listener and shared by its sessions through
//! an `Arc`. Every default is the safe one for its profile.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::random::{Entropy, OsEntropy};
use crate::sasl::Mechanism;

/// What a listener is for (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// Message submission on port 587 (RFC 6409): STARTTLS offered, AUTH
    /// offered, AUTH required before `MAIL`.
    Submission,
    /// Submission over implicit TLS on port 465 (RFC 8314): TLS before the
    /// first byte, AUTH required before `MAIL`.
    ImplicitTls,
    /// Server-to-server relay on port 25: STARTTLS offered, AUTH not offered
    /// unless enabled, no AUTH required (the policy decides which recipients
    /// are local).
    Relay,
}

impl Profile {
    /// True when `MAIL` needs authentication (or a trusted address).
    pub const fn requires_auth(self) -> bool {
        matches!(self, Profile::Submission | Profile::ImplicitTls)
    }
}

/// What to do with a bare CR or bare LF inside a DATA body. Neither ever
/// ends a message: only `<CRLF>.<CRLF>` does (SMTP smuggling,
/// CVE-2023-51764/5/6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BareLineEndings {
    /// Receive the whole body, then refuse it with `550 5.6.11` (the default,
    /// as Postfix's `smtpd_forbid_bare_newline = normalize` is not: refusing
    /// is the only choice that cannot be smuggled through a lenient relay).
    #[default]
    Reject,
    /// Pass them through unchanged, as ordinary body bytes.
    Pass,
}

/// Size and count limits. Each bounds a buffer or a counter, so a hostile
/// client costs at most these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4: 512).
    /// `MAIL` lines may be 500 octets longer for `AUTH=` (RFC 4954 §3).
    pub command_line: usize,
    /// Longest AUTH command or SASL response line, CRLF included
    /// (RFC 4954 §4: at least 12288).
    pub auth_line: usize,
    /// Recipients per transaction (RFC 5321 §4.5.3.1.8: at least 100).
    pub recipients: usize,
    /// Largest message body in octets, advertised as `SIZE`.
    pub message_size: u64,
    /// Error replies before the session is closed with `421 4.7.0`.
    pub errors: u32,
    /// Failed authentications before the session is closed with
    /// `421 4.7.0` (RFC 4954 §9 allows it after at least 3).
    pub auth_failures: u32,
    /// Unprocessed input the session holds while it waits for an answer
    /// (pipelining); more closes the session with `421 4.7.0`.
    pub buffered_input: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            command_line: 512,
            auth_line: 12_288,
            recipients: 100,
            message_size: 35 * 1024 * 1024,
            errors: 10,
            auth_failures: 3,
            buffered_input: 64 * 1024,
        }
    }
}

/// Timeouts (RFC 5321 §4.5.3.2). The session never reads a clock: the
/// driver passes `now` and asks [`Session::timeout`](crate::Session::timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Timeouts {
    /// Waiting for a complete command line, counted from when the session
    /// became ready for it — not from the last byte, so a client trickling
    /// one byte at a time is still dropped (RFC 5321 §4.5.3.2.7: 5 minutes).
    pub command: Duration,
    /// Waiting for a complete SASL response line after a `334` challenge.
    pub auth_response: Duration,
    /// Inactivity inside a DATA or BDAT body (RFC 5321 §4.5.3.2.5: 3 minutes).
    pub data_block: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(300),
            auth_response: Duration::from_secs(120),
            data_block: Duration::from_secs(180),
        }
    }
}

/// One listener's configuration. Build it with [`Config::builder`].
#[derive(Clone)]
pub struct Config {
    pub(crate) hostname: String,
    pub(crate) greeting: String,
    pub(crate) profile: Profile,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) mechanisms: Vec<Mechanism>,
    pub(crate) plaintext_auth: bool,
    pub(crate) auth_enabled: bool,
    pub(crate) starttls: bool,
    pub(crate) require_tls: bool,
    pub(crate) bare_line_endings: BareLineEndings,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) fake_salt_key: [u8; 32],
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hostname", &self.hostname)
            .field("profile", &self.profile)
            .field("limits", &self.limits)
            .field("timeouts", &self.timeouts)
            .field("mechanisms", &self.mechanisms)
            .field("plaintext_auth", &self.plaintext_auth)
            .field("auth_enabled", &self.auth_enabled)
            .field("starttls", &self.starttls)
            .field("require_tls", &self.require_tls)
            .field("bare_line_endings", &self.bare_line_endings)
            .field("entropy", &self.entropy)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Starts a configuration for the host name used in the greeting, EHLO
    /// and CRAM-MD5 challenges. The profile defaults to
    /// [`Profile::Submission`].
    pub fn builder(hostname: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder::new(hostname.into())
    }

    /// The host name.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The timeouts.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The mechanisms enabled, in advertisement order; which are offered
    /// on a given connection also depends on TLS (see
    /// [`Config::offers`]).
    pub fn mechanisms(&self) -> &[Mechanism] {
        &self.mechanisms
    }

    /// Whether AUTH is offered at all on this listener.
    pub fn auth_enabled(&self) -> bool {
        self.auth_enabled
    }

    /// Whether `mechanism` is offered on a connection with this TLS state:
    /// enabled, AUTH on, secret-revealing mechanisms only under TLS (unless
    /// plaintext auth was explicitly allowed), `-PLUS` only with channel
    /// binding, EXTERNAL only with a client certificate.
    pub fn offers(
        &self,
        mechanism: Mechanism,
        tls: bool,
        channel_binding: bool,
        client_cert: bool,
    ) -> bool {
        self.auth_enabled
            && self.mechanisms.contains(&mechanism)
            && (tls || !mechanism.reveals_secret() || self.plaintext_auth)
            && (!mechanism.uses_channel_binding() || channel_binding)
            && (mechanism != Mechanism::External || client_cert)
            && (tls || !self.require_tls)
    }

    /// The source of nonces and challenge timestamps.
    pub fn entropy(&self) -> &dyn Entropy {
        &*self.entropy
    }
}

/// Builds a [`Config`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
    auth_set: bool,
    starttls_set: bool,
    fake_salt_key_set: bool,
}

impl ConfigBuilder {
    fn new(hostname: String) -> Self {
        let greeting = format!("{hostname} ESMTP ready");
        Self {
            config: Config {
                hostname,
                greeting,
                profile: Profile::Submission,
                limits: Limits::default(),
                timeouts: Timeouts::default(),
                mechanisms: vec![
                    Mechanism::ScramSha256Plus,
                    Mechanism::ScramSha256,
                    Mechanism::ScramSha1,
                    Mechanism::CramMd5,
                    Mechanism::Plain,
                    Mechanism::Login,
                ],
                plaintext_auth: false,
                auth_enabled: true,
                starttls: true,
                require_tls: false,
                bare_line_endings: BareLineEndings::Reject,
                entropy: Arc::new(OsEntropy),
                fake_salt_key: [0; 32],
            },
            auth_set: false,
            starttls_set: false,
            fake_salt_key_set: false,
        }
    }

    /// Sets the profile. [`Profile::Relay`] turns AUTH off unless
    /// [`auth_enabled`](Self::auth_enabled) is set explicitly;
    /// [`Profile::ImplicitTls`] turns STARTTLS off.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.config.profile = profile;
        self
    }

    /// Replaces the greeting text (after the code: `220 <text>`).
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.config.greeting = text.into();
        self
    }

    /// Sets all limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Sets the largest message size (advertised as `SIZE`).
    pub fn max_message_size(mut self, octets: u64) -> Self {
        self.config.limits.message_size = octets;
        self
    }

    /// Sets the recipient limit per transaction.
    pub fn max_recipients(mut self, n: usize) -> Self {
        self.config.limits.recipients = n.max(1);
        self
    }

    /// Sets the command line limit (CRLF included; at least 512).
    pub fn max_command_line(mut self, octets: usize) -> Self {
        self.config.limits.command_line = octets.max(512);
        self
    }

    /// Sets the AUTH line limit (CRLF included; at least 12288, RFC 4954 §4).
    pub fn max_auth_line(mut self, octets: usize) -> Self {
        self.config.limits.auth_line = octets.max(12_288);
        self
    }

    /// Sets the number of failed authentications after which the session
    /// is closed (at least 3, RFC 4954 §9).
    pub fn max_auth_failures(mut self, n: u32) -> Self {
        self.config.limits.auth_failures = n.max(3);
        self
    }

    /// Sets the number of error replies after which the session is closed.
    pub fn max_errors(mut self, n: u32) -> Self {
        self.config.limits.errors = n.max(1);
        self
    }

    /// Sets the timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Sets the enabled mechanisms, in advertisement order (duplicates are
    /// dropped). Offer only what your credential backend can serve: a
    /// bcrypt hash cannot serve CRAM-MD5 or SCRAM.
    pub fn mechanisms(mut self, mechanisms: impl IntoIterator<Item = Mechanism>) -> Self {
        let mut list = Vec::new();
        for m in mechanisms {
            if !list.contains(&m) {
                list.push(m);
            }
        }
        self.config.mechanisms = list;
        self
    }

    /// Turns AUTH on or off for this listener (off by default on
    /// [`Profile::Relay`], ATK-12).
    pub fn auth_enabled(mut self, on: bool) -> Self {
        self.config.auth_enabled = on;
        self.auth_set = true;
        self
    }

    /// Allows mechanisms that reveal the password (PLAIN, LOGIN, XOAUTH2,
    /// OAUTHBEARER) without TLS. Off by default and off it should stay
    /// (RFC 4954 §4, RFC 8314): only for a loopback-only test listener.
    pub fn allow_plaintext_auth(mut self, on: bool) -> Self {
        self.config.plaintext_auth = on;
        self
    }

    /// Whether STARTTLS is offered (the driver must then be able to do a
    /// TLS handshake). On by default except for [`Profile::ImplicitTls`].
    pub fn starttls(mut self, on: bool) -> Self {
        self.config.starttls = on;
        self.starttls_set = true;
        self
    }

    /// Refuse every command but EHLO, HELO, NOOP, RSET, STARTTLS and QUIT
    /// until TLS is active (`530 5.7.0`, RFC 3207 §4). Off by default;
    /// RFC 8314 recommends it for submission.
    pub fn require_tls(mut self, on: bool) -> Self {
        self.config.require_tls = on;
        self
    }

    /// What to do with bare CR and LF in DATA bodies.
    pub fn bare_line_endings(mut self, handling: BareLineEndings) -> Self {
        self.config.bare_line_endings = handling;
        self
    }

    /// Replaces the source of nonces and CRAM-MD5 timestamps (e.g. a
    /// [`FixedEntropy`](crate::random::FixedEntropy) in tests).
    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.config.entropy = entropy;
        self
    }

    /// Sets the key that derives SCRAM's fake salts for unknown users. Use
    /// the same key on every server of a fleet, so an unknown user gets the
    /// same salt everywhere (RFC 5802 §9). Drawn from the entropy source
    /// when not set.
    pub fn fake_salt_key(mut self, key: [u8; 32]) -> Self {
        self.config.fake_salt_key = key;
        self.fake_salt_key_set = true;
        self
    }

    /// Finishes the configuration.
    pub fn build(mut self) -> Config {
        let c = &mut self.config;
        if !self.auth_set && c.profile == Profile::Relay {
            c.auth_enabled = false;
        }
        if !self.starttls_set && c.profile == Profile::ImplicitTls {
            c.starttls = false;
        }
        if c.profile == Profile::ImplicitTls {
            c.require_tls = false;
        }
        if !self.fake_salt_key_set {
            let mut key = [0u8; 32];
            c.entropy.fill(&mut key);
            c.fake_salt_key = key;
        }
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atk_12_relay_profile_has_auth_off_by_default() {
        let c = Config::builder("mx").profile(Profile::Relay).build();
        assert!(!c.auth_enabled());
        assert!(!c.offers(Mechanism::ScramSha256, true, false, false));
        let c = Config::builder("mx")
            .profile(Profile::Relay)
            .auth_enabled(true)
            .build();
        assert!(c.offers(Mechanism::ScramSha256, true, false, false));
    }

    #[test]
    fn r4954_4_23_password_mechanisms_need_tls_by_default() {
        let c = Config::builder("mx").build();
        for m in [Mechanism::Plain, Mechanism::Login] {
            assert!(!c.offers(m, false, false, false), "{m}");
            assert!(c.offers(m, true, false, false), "{m}");
        }
        assert!(c.offers(Mechanism::ScramSha256, false, false, false));
        assert!(!c.offers(Mechanism::ScramSha256Plus, true, false, false));
        assert!(c.offers(Mechanism::ScramSha256Plus, true, true, false));
        let c = Config::builder("mx").allow_plaintext_auth(true).build();
        assert!(c.offers(Mechanism::Plain, false, false, false));
    }

    #[test]
    fn limits_cannot_go_below_the_rfc_floors() {
        let c = Config::builder("mx")
            .max_auth_line(100)
            .max_command_line(10)
            .max_auth_failures(1)
            .build();
        assert_eq!(c.limits().auth_line, 12_288);
        assert_eq!(c.limits().command_line, 512);
        assert_eq!(c.limits().auth_failures, 3);
    }
}
