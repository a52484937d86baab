//! [`LdapAuthenticator`]: PLAIN and LOGIN passwords checked against an
//! LDAP directory or Active Directory (feature `ldap`).
//!
//! Two ways to find the user's entry:
//!
//! * **search, then bind** ([`LdapConfig::search`]): a service account
//!   ([`LdapConfig::service_account`]; anonymous when none is set) searches
//!   `base` with a filter such as `(&(objectClass=inetOrgPerson)(uid=%u))`,
//!   and the password is checked by a simple bind as the entry found;
//! * **bind-DN template** ([`LdapConfig::bind_template`]): the password is
//!   checked by a bind as e.g. `uid=%u,ou=people,dc=example,dc=org`.
//!
//! `%u` stands for the login name, escaped for where it goes: RFC 4515 in a
//! filter ([`escape_filter_value`]), RFC 4514 in a DN ([`escape_dn_value`]),
//! so a name like `*)(uid=*` or `admin,ou=admins` is only ever a value.
//! `%%` is a literal `%`.
//!
//! # Outcomes
//!
//! | what happened | [`Verdict`] | client sees |
//! |---|---|---|
//! | bind succeeded | `Valid` | `235` |
//! | bind refused (`invalidCredentials`) | `Invalid` | `535 5.7.8` |
//! | search found no entry (after a bind that must fail, so the work is the same) | `UnknownUser` | `535 5.7.8` |
//! | empty password (never sent: it would be an unauthenticated bind, RFC 4513 §5.1.2) | `Invalid` | `535 5.7.8` |
//! | bind succeeded, but a [`DisabledRule`] matches the entry, or AD answered `data 533`/`data 701` | `Disabled` | `525 5.7.13` |
//! | server unreachable, TLS failure, timeout, pool busy, service bind refused, search error | `Unavailable` | `454 4.7.0` |
//!
//! A disabled account is reported only after its password was proven
//! right; a wrong password on a disabled account is `Invalid`, so nobody
//! learns which accounts are disabled. With a bind-DN template an unknown
//! user cannot be told from a wrong password (the server answers
//! `invalidCredentials` to both): both are `Invalid`.
//!
//! # Transport
//!
//! `ldaps://` is TLS from the first byte; `ldap://` uses StartTLS unless
//! [`LdapConfig::starttls`] turns it off (for a directory on loopback only:
//! passwords then cross the wire in clear). Certificates are verified with
//! rustls (ring) against [`LdapConfig::ca_pem`] or, without one, the
//! system's roots.
//!
//! # How the I/O runs (sync and async drivers alike)
//!
//! `ldap3` is tokio-based. The authenticator runs every LDAP operation on a
//! tokio runtime of its own — one thread, named `smtp-auth-ldap`, started by
//! [`LdapConfig::build`] and stopped when the last clone of the
//! authenticator is dropped — or on one the embedder hands it
//! ([`LdapConfig::runtime`]). The futures it returns only wait on a channel
//! from that runtime, so they complete under any executor: inside a tokio
//! task (without blocking a worker, even on a current-thread runtime) and
//! under [`Responder::answer`](crate::Responder::answer)'s `block_on` on a
//! plain thread.
//!
//! # Pool and timeouts
//!
//! At most [`LdapConfig::pool_size`] connections exist; idle ones are kept
//! for reuse (re-binding as the service account when needed). A check that
//! finds every connection busy waits [`LdapConfig::pool_wait`], then gives
//! `Unavailable`. Connecting (TCP, StartTLS and the TLS handshake) is
//! bounded by [`LdapConfig::connect_timeout`], every operation by
//! [`LdapConfig::operation_timeout`]; a connection that timed out is never
//! reused. A reused connection that turns out to be dead is replaced once.
//!
//! # Sender addresses
//!
//! After a successful bind the values of [`LdapConfig::address_attributes`]
//! (default `mail`) are kept for [`LdapConfig::address_cache`]'s time to
//! live. [`LdapAuthenticator`] implements [`SenderOwners`], so
//! [`SubmissionPolicyBuilder::sender_owners`](crate::policy::SubmissionPolicyBuilder::sender_owners)
//! lets an account send as any address its entry lists. When the cached
//! entry has expired and a service account is configured, the entry is read
//! again; without one the address is not owned.
//!
//! ```no_run
//! use std::sync::Arc;
//! use smtp_auth::ldap::{DisabledRule, LdapConfig};
//! use smtp_auth::{Responder, Secret, SubmissionPolicy};
//!
//! let ldap = LdapConfig::search(
//!     "ldap://ldap.example.org",
//!     "ou=people,dc=example,dc=org",
//!     "(&(objectClass=inetOrgPerson)(uid=%u))",
//! )
//! .service_account("cn=smtp,ou=services,dc=example,dc=org", Secret::new("s3cret".to_owned()))
//! .address_attributes(["mail", "mailLocalAddress"])
//! .disabled_when(DisabledRule::equals("mailEnabled", "FALSE"))
//! .build()?;
//! let policy = SubmissionPolicy::builder().sender_owners(ldap.clone()).build();
//! let responder = Responder::new(ldap, policy);
//! # Ok::<(), smtp_auth::ldap::LdapConfigError>(())
//! ```

mod escape;

pub use escape::{escape_dn_value, escape_filter_value};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldap3::asn1::StructureTag;
use ldap3::result::LdapError;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Scope, SearchOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, Semaphore};

use crate::authenticator::{Authenticator, Capabilities};
use crate::sasl::Verdict;
use crate::secret::Secret;
use crate::senders::{Ownership, SenderOwners};

/// Login names longer than this are unknown without asking the server.
const MAX_USER_LEN: usize = 1024;

/// The RDN of the entry an unknown user's password is bound against: it
/// does not exist, so the bind fails, and costs what a real one does.
const DUMMY_RDN: &str = "cn=smtp-auth nonexistent user";

/// How the user's entry is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    Search { base: String, filter: String },
    Template(String),
}

/// When an account counts as disabled. Checked only after the user's bind
/// succeeded, on the attributes of the user's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisabledRule {
    /// Active Directory: bit `0x2` (`ACCOUNTDISABLE`) of
    /// `userAccountControl`. An unreadable value counts as disabled.
    ActiveDirectory,
    /// `attribute` has `value` (ASCII case-insensitive), e.g.
    /// `mailEnabled: FALSE`.
    Equals {
        /// The attribute.
        attribute: String,
        /// The value that disables.
        value: String,
    },
    /// `attribute` is present with any value, e.g. OpenLDAP's
    /// `pwdAccountLockedTime`.
    Present(String),
}

impl DisabledRule {
    /// [`DisabledRule::Equals`].
    pub fn equals(attribute: impl Into<String>, value: impl Into<String>) -> Self {
        DisabledRule::Equals {
            attribute: attribute.into(),
            value: value.into(),
        }
    }

    /// [`DisabledRule::Present`].
    pub fn present(attribute: impl Into<String>) -> Self {
        DisabledRule::Present(attribute.into())
    }

    fn attribute(&self) -> &str {
        match self {
            DisabledRule::ActiveDirectory => "userAccountControl",
            DisabledRule::Equals { attribute, .. } | DisabledRule::Present(attribute) => attribute,
        }
    }

    fn matches(&self, entry: &Entry) -> bool {
        let values = entry.values(self.attribute());
        match self {
            DisabledRule::ActiveDirectory => values
                .iter()
                .any(|v| v.trim().parse::<i64>().map_or(true, |uac| uac & 0x2 != 0)),
            DisabledRule::Equals { value, .. } => {
                values.iter().any(|v| v.trim().eq_ignore_ascii_case(value))
            }
            DisabledRule::Present(_) => !values.is_empty(),
        }
    }
}

/// Why a directory could not answer: passed to [`LdapConfig::on_problem`]
/// for logs. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LdapProblem {
    /// Connecting (TCP, StartTLS, the TLS handshake) failed.
    Connect(String),
    /// An operation failed on an open connection (I/O, connection closed).
    Connection(String),
    /// The client library refused an operation (e.g. a filter that does not
    /// parse: check the configured filter).
    Protocol(String),
    /// Connecting or an operation took longer than its timeout.
    Timeout,
    /// Every connection of the pool stayed busy for longer than the wait
    /// bound.
    PoolBusy,
    /// The service account's bind was refused, with this result code.
    ServiceBind(u32),
    /// A search ended with this result code.
    Search(u32),
    /// The user filter matched more than one entry; the login was refused
    /// as unknown. Make the filter unique.
    AmbiguousUser,
    /// A user's bind ended with a result code that says nothing about the
    /// password (e.g. `busy`, `unavailable`).
    UserBind(u32),
}

impl fmt::Display for LdapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdapProblem::Connect(e) => write!(f, "LDAP connect failed: {e}"),
            LdapProblem::Connection(e) => write!(f, "LDAP connection failed: {e}"),
            LdapProblem::Protocol(e) => write!(f, "LDAP request refused by the client: {e}"),
            LdapProblem::Timeout => f.write_str("LDAP timeout"),
            LdapProblem::PoolBusy => f.write_str("LDAP connection pool busy"),
            LdapProblem::ServiceBind(rc) => write!(f, "LDAP service bind refused (rc={rc})"),
            LdapProblem::Search(rc) => write!(f, "LDAP search failed (rc={rc})"),
            LdapProblem::AmbiguousUser => f.write_str("LDAP user filter matched several entries"),
            LdapProblem::UserBind(rc) => write!(f, "LDAP user bind failed (rc={rc})"),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LdapConfigError {
    /// The URL is not `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`.
    #[error("LDAP URL must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]")]
    Url,
    /// The user filter lacks `%u` or does not parse as an LDAP filter.
    #[error("the user filter must contain %u and parse as an LDAP filter (RFC 4515)")]
    Filter,
    /// The bind-DN template lacks `%u`, or has a `%` sequence other than
    /// `%u` and `%%`.
    #[error("the template must contain %u (other % sequences: only %%)")]
    Template,
    /// The service account's password is empty (that would be an
    /// unauthenticated bind).
    #[error("the service account password is empty")]
    EmptyServicePassword,
    /// The CA certificates could not be read.
    #[error("CA certificates: {0}")]
    Ca(String),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The background runtime could not be started.
    #[error("LDAP runtime: {0}")]
    Runtime(std::io::Error),
}

/// A hook that receives every [`LdapProblem`].
type ProblemHook = Arc<dyn Fn(&LdapProblem) + Send + Sync>;

/// The settings of an [`LdapAuthenticator`]. Start with
/// [`LdapConfig::search`] or [`LdapConfig::bind_template`], finish with
/// [`LdapConfig::build`].
#[derive(Clone)]
pub struct LdapConfig {
    url: String,
    starttls: bool,
    ca_pem: Option<Vec<u8>>,
    lookup: Lookup,
    service: Option<(String, Secret<String>)>,
    address_attributes: Vec<String>,
    disabled: Vec<DisabledRule>,
    pool_size: usize,
    pool_wait: Duration,
    connect_timeout: Duration,
    operation_timeout: Duration,
    idle_timeout: Duration,
    address_ttl: Duration,
    address_capacity: usize,
    runtime: Option<Handle>,
    on_problem: Option<ProblemHook>,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .field("lookup", &self.lookup)
            .field("service_dn", &self.service.as_ref().map(|(dn, _)| dn))
            .field("address_attributes", &self.address_attributes)
            .field("disabled", &self.disabled)
            .field("pool_size", &self.pool_size)
            .field("pool_wait", &self.pool_wait)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("address_ttl", &self.address_ttl)
            .finish_non_exhaustive()
    }
}

impl LdapConfig {
    fn new(url: impl Into<String>, lookup: Lookup) -> Self {
        Self {
            url: url.into(),
            starttls: true,
            ca_pem: None,
            lookup,
            service: None,
            address_attributes: vec!["mail".to_owned()],
            disabled: Vec::new(),
            pool_size: 8,
            pool_wait: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            address_ttl: Duration::from_secs(600),
            address_capacity: 100_000,
            runtime: None,
            on_problem: None,
        }
    }

    /// Search-then-bind: find the user's entry under `base` with `filter`
    /// (`%u` is the login name, RFC 4515-escaped), then bind as it.
    pub fn search(
        url: impl Into<String>,
        base: impl Into<String>,
        filter: impl Into<String>,
    ) -> Self {
        Self::new(
            url,
            Lookup::Search {
                base: base.into(),
                filter: filter.into(),
            },
        )
    }

    /// Direct bind: bind as `template` with `%u` replaced by the login
    /// name (RFC 4514-escaped), e.g. `uid=%u,ou=people,dc=example,dc=org`.
    pub fn bind_template(url: impl Into<String>, template: impl Into<String>) -> Self {
        Self::new(url, Lookup::Template(template.into()))
    }

    /// The account that searches for users (search mode) and re-reads
    /// sender addresses whose cache expired. Without one, searches are
    /// anonymous.
    pub fn service_account(mut self, dn: impl Into<String>, password: Secret<String>) -> Self {
        self.service = Some((dn.into(), password));
        self
    }

    /// For `ldap://` URLs: negotiate TLS with StartTLS (default `true`).
    /// `false` sends passwords in clear: only for a directory on loopback.
    pub fn starttls(mut self, on: bool) -> Self {
        self.starttls = on;
        self
    }

    /// Trusts the CA certificates in `pem` (instead of the system's roots).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Trusts the CA certificates in the PEM file at `path`.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, LdapConfigError> {
        let pem = std::fs::read(path.as_ref()).map_err(|e| LdapConfigError::Ca(e.to_string()))?;
        Ok(self.ca_pem(pem))
    }

    /// The attributes holding the user's own addresses (default `mail`),
    /// e.g. `["mail", "mailLocalAddress"]` or, for Active Directory,
    /// `["mail", "proxyAddresses"]` (an `smtp:` prefix is removed).
    pub fn address_attributes<S: Into<String>>(
        mut self,
        attrs: impl IntoIterator<Item = S>,
    ) -> Self {
        self.address_attributes = attrs.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a rule that marks an account disabled (any rule matching
    /// disables it).
    pub fn disabled_when(mut self, rule: DisabledRule) -> Self {
        self.disabled.push(rule);
        self
    }

    /// At most this many connections (default 8, at least 1).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// How long a check waits for a free connection before giving up as
    /// `Unavailable` (default 2 s).
    pub fn pool_wait(mut self, d: Duration) -> Self {
        self.pool_wait = d;
        self
    }

    /// The longest connecting may take, TLS included (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The longest one operation (bind, search) may take (default 5 s).
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }

    /// Idle connections older than this are closed rather than reused
    /// (default 60 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Keep each user's addresses for `ttl` after a successful bind
    /// (default 10 min; zero: never cached), for at most `capacity` users
    /// (default 100 000).
    pub fn address_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.address_ttl = ttl;
        self.address_capacity = capacity.max(1);
        self
    }

    /// Runs the LDAP I/O on this tokio runtime (which must have I/O and
    /// time enabled) instead of a thread of the authenticator's own.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Calls `hook` with every problem that made a check `Unavailable` (or
    /// refused an ambiguous user), for the embedder's log.
    pub fn on_problem(mut self, hook: impl Fn(&LdapProblem) + Send + Sync + 'static) -> Self {
        self.on_problem = Some(Arc::new(hook));
        self
    }

    /// Checks the configuration and starts the authenticator (and its
    /// runtime thread, unless [`runtime`](Self::runtime) gave one). No
    /// connection is opened until the first check.
    pub fn build(self) -> Result<LdapAuthenticator, LdapConfigError> {
        let tls = validate_url(&self.url)?;
        match &self.lookup {
            Lookup::Search { filter, .. } => {
                let probe = expand(filter, "x").ok_or(LdapConfigError::Filter)?;
                if ldap3::parse_filter(probe).is_err() {
                    return Err(LdapConfigError::Filter);
                }
            }
            Lookup::Template(t) => {
                expand(t, "x").ok_or(LdapConfigError::Template)?;
            }
        }
        if self
            .service
            .as_ref()
            .is_some_and(|(_, pw)| pw.expose().is_empty())
        {
            return Err(LdapConfigError::EmptyServicePassword);
        }
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.connect_timeout);
        if tls != Transport::Plain || self.starttls {
            settings = settings
                .set_config(tls_config(self.ca_pem.as_deref())?)
                .set_starttls(tls == Transport::Plain && self.starttls);
        }
        let mut attributes: Vec<String> = Vec::new();
        for a in self
            .address_attributes
            .iter()
            .map(String::as_str)
            .chain(self.disabled.iter().map(DisabledRule::attribute))
        {
            if !attributes.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                attributes.push(a.to_owned());
            }
        }
        if attributes.is_empty() {
            attributes.push("1.1".to_owned()); // RFC 4511 §4.5.1.8: no attributes
        }
        let runtime = match self.runtime {
            Some(handle) => RuntimeHandle {
                handle,
                _stop: None,
            },
            None => RuntimeHandle::start().map_err(LdapConfigError::Runtime)?,
        };
        let shared = Shared {
            url: self.url,
            settings,
            lookup: self.lookup,
            service: self.service,
            address_attributes: self.address_attributes,
            attributes,
            disabled: self.disabled,
            operation_timeout: self.operation_timeout,
            connect_timeout: self.connect_timeout,
            pool: Pool {
                slots: Arc::new(Semaphore::new(self.pool_size)),
                idle: Mutex::new(Vec::new()),
                size: self.pool_size,
                wait: self.pool_wait,
                idle_timeout: self.idle_timeout,
            },
            cache: AddressCache {
                ttl: self.address_ttl,
                capacity: self.address_capacity,
                map: Mutex::new(HashMap::new()),
            },
            stats: Counters::default(),
            on_problem: self.on_problem,
        };
        Ok(LdapAuthenticator {
            shared: Arc::new(shared),
            runtime: Arc::new(runtime),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Plain,
    Ldaps,
}

fn validate_url(url: &str) -> Result<Transport, LdapConfigError> {
    let (transport, rest) = if let Some(rest) = url.strip_prefix("ldap://") {
        (Transport::Plain, rest)
    } else if let Some(rest) = url.strip_prefix("ldaps://") {
        (Transport::Ldaps, rest)
    } else {
        return Err(LdapConfigError::Url);
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() {
                if !authority.starts_with('[') {
                    return Err(LdapConfigError::Url);
                }
                authority
            } else {
                h
            }
        }
        _ => authority,
    };
    if host.is_empty() || host.contains(['@', ' ', '?', '#']) {
        return Err(LdapConfigError::Url);
    }
    Ok(transport)
}

fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, LdapConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| LdapConfigError::Ca(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| LdapConfigError::Ca(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(LdapConfigError::Ca("no certificate in the PEM".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(LdapConfigError::Ca(
                    "no system CA certificates found; give a CA file".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Replaces `%u` with `value` and `%%` with `%`; `None` when `template`
/// has no `%u` or another `%` sequence.
fn expand(template: &str, value: &str) -> Option<String> {
    let mut out = String::with_capacity(template.len() + value.len());
    let mut chars = template.chars();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                out.push_str(value);
                used = true;
            }
            Some('%') => out.push('%'),
            _ => return None,
        }
    }
    used.then_some(out)
}

/// The authenticator's runtime: its own thread, or the embedder's.
struct RuntimeHandle {
    handle: Handle,
    /// Dropping it stops the runtime thread (own runtime only).
    _stop: Option<oneshot::Sender<()>>,
}

impl RuntimeHandle {
    fn start() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("smtp-auth-ldap".into())
            .spawn(move || {
                // Runs the spawned LDAP tasks until the authenticator is
                // dropped; the runtime (and any task left) ends here, on
                // its own thread.
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            _stop: Some(stop),
        })
    }
}

/// Counts what the authenticator did, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LdapStats {
    /// Connections opened.
    pub connections_opened: u64,
    /// Binds as the service account.
    pub service_binds: u64,
    /// Binds as a user (with the password being checked).
    pub user_binds: u64,
    /// Binds for unknown users against a DN that does not exist.
    pub dummy_binds: u64,
    /// Searches.
    pub searches: u64,
    /// Passwords refused as empty without any I/O.
    pub empty_passwords: u64,
    /// Checks refused because the pool stayed busy.
    pub pool_busy: u64,
    /// Timeouts (connect or operation).
    pub timeouts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections_opened: AtomicU64,
    service_binds: AtomicU64,
    user_binds: AtomicU64,
    dummy_binds: AtomicU64,
    searches: AtomicU64,
    empty_passwords: AtomicU64,
    pool_busy: AtomicU64,
    timeouts: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whom a connection is bound as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Anonymous,
    Service,
    /// A user, or a failed bind: not fit for anonymous searches.
    Other,
}

/// One pooled connection.
struct Conn {
    ldap: Ldap,
    driver: tokio::task::JoinHandle<()>,
    bound: Bound,
    last_used: Instant,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// At most `size` connections: a permit per connection in use, idle ones
/// kept for reuse.
struct Pool {
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Conn>>,
    size: usize,
    wait: Duration,
    idle_timeout: Duration,
}

/// A user's entry: its DN and the attributes read (names lower-cased).
#[derive(Debug, Default)]
struct Entry {
    dn: String,
    attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    fn values(&self, attribute: &str) -> &[String] {
        self.attrs
            .get(&attribute.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Parses a SearchResultEntry (RFC 4511 §4.5.2) without trusting it:
    /// `None` for anything malformed, values that are not UTF-8 skipped.
    fn parse(tag: StructureTag) -> Option<Entry> {
        let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
        let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        for attr in parts.next()?.expect_constructed()? {
            let mut attr = attr.expect_constructed()?.into_iter();
            let name = String::from_utf8(attr.next()?.expect_primitive()?).ok()?;
            let values = attr.next()?.expect_constructed()?;
            let slot = attrs.entry(name.to_ascii_lowercase()).or_default();
            for v in values {
                if let Some(s) = v.expect_primitive().and_then(|b| String::from_utf8(b).ok()) {
                    slot.push(s);
                }
            }
        }
        Some(Entry { dn, attrs })
    }
}

enum Found {
    None,
    One(Entry),
    Many,
}

/// One user's addresses and when they expire.
type Cached = (Arc<[String]>, Instant);

/// Users' addresses, read at bind time, kept for a while.
struct AddressCache {
    ttl: Duration,
    capacity: usize,
    map: Mutex<HashMap<String, Cached>>,
}

impl AddressCache {
    fn get(&self, user: &str) -> Option<Arc<[String]>> {
        let map = lock(&self.map);
        map.get(&user.to_lowercase())
            .filter(|(_, until)| *until > Instant::now())
            .map(|(a, _)| Arc::clone(a))
    }

    fn insert(&self, user: &str, addresses: Vec<String>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = lock(&self.map);
        if map.len() >= self.capacity {
            map.retain(|_, (_, until)| *until > now);
        }
        while map.len() >= self.capacity {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(user.to_lowercase(), (addresses.into(), now + self.ttl));
    }
}

/// Everything the runtime's tasks share.
struct Shared {
    url: String,
    settings: LdapConnSettings,
    lookup: Lookup,
    service: Option<(String, Secret<String>)>,
    address_attributes: Vec<String>,
    attributes: Vec<String>,
    disabled: Vec<DisabledRule>,
    operation_timeout: Duration,
    connect_timeout: Duration,
    pool: Pool,
    cache: AddressCache,
    stats: Counters,
    on_problem: Option<ProblemHook>,
}

/// What a task does with a connection.
enum Job<'a> {
    Verify {
        user: &'a str,
        password: &'a Secret<String>,
    },
    Addresses {
        user: &'a str,
    },
}

enum Done {
    Verdict(Verdict),
    Addresses(Option<Vec<String>>),
}

/// AD's sub-codes of `invalidCredentials` that it sends only for a right
/// password: 533 account disabled, 701 account expired.
fn ad_disabled(diagnostic: &str) -> bool {
    let d = diagnostic.to_ascii_lowercase();
    d.contains("data 533") || d.contains("data 701")
}

fn classify(e: LdapError) -> LdapProblem {
    match e {
        LdapError::Timeout { .. } => LdapProblem::Timeout,
        LdapError::Io { .. }
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::EndOfStream => LdapProblem::Connection(e.to_string()),
        other => LdapProblem::Protocol(other.to_string()),
    }
}

impl Shared {
    fn report(&self, problem: &LdapProblem) {
        match problem {
            LdapProblem::Timeout => bump(&self.stats.timeouts),
            LdapProblem::PoolBusy => bump(&self.stats.pool_busy),
            _ => {}
        }
        if let Some(hook) = &self.on_problem {
            hook(problem);
        }
    }

    /// The longest one check can take: every bound added up.
    fn deadline(&self) -> Duration {
        self.pool.wait + self.connect_timeout * 2 + self.operation_timeout * 8
    }

    async fn verify(&self, user: &str, password: &Secret<String>) -> Verdict {
        if user.is_empty() || user.len() > MAX_USER_LEN {
            return Verdict::UnknownUser;
        }
        match self.execute(Job::Verify { user, password }).await {
            Ok(Done::Verdict(v)) => v,
            Ok(Done::Addresses(_)) => Verdict::Unavailable,
            Err(problem) => {
                self.report(&problem);
                Verdict::Unavailable
            }
        }
    }

    async fn addresses(&self, user: &str) -> Result<Option<Vec<String>>, ()> {
        if user.is_empty() || user.len() > MAX_USER_LEN {
            return Ok(None);
        }
        match self.execute(Job::Addresses { user }).await {
            Ok(Done::Addresses(a)) => {
                if let Some(a) = &a {
                    self.cache.insert(user, a.clone());
                }
                Ok(a)
            }
            Ok(Done::Verdict(_)) => Err(()),
            Err(problem) => {
                self.report(&problem);
                Err(())
            }
        }
    }

    /// Runs `job` on a pooled connection, within the overall deadline.
    async fn execute(&self, job: Job<'_>) -> Result<Done, LdapProblem> {
        match tokio::time::timeout(self.deadline(), self.execute_pooled(&job)).await {
            Ok(r) => r,
            Err(_) => Err(LdapProblem::Timeout),
        }
    }

    async fn execute_pooled(&self, job: &Job<'_>) -> Result<Done, LdapProblem> {
        let slots = Arc::clone(&self.pool.slots);
        let _permit = match tokio::time::timeout(self.pool.wait, slots.acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return Err(LdapProblem::PoolBusy),
        };
        let idle = {
            let mut idle = lock(&self.pool.idle);
            let mut found = None;
            while let Some(mut c) = idle.pop() {
                if !c.ldap.is_closed() && c.last_used.elapsed() < self.pool.idle_timeout {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = self.run(&mut conn, job).await;
        if reused && matches!(result, Err(LdapProblem::Connection(_))) {
            // The server closed an idle connection: one fresh try.
            drop(conn);
            conn = self.connect().await?;
            result = self.run(&mut conn, job).await;
        }
        let anonymous_search =
            matches!(self.lookup, Lookup::Search { .. }) && self.service.is_none();
        if result.is_ok() && !(anonymous_search && conn.bound == Bound::Other) {
            conn.last_used = Instant::now();
            let mut idle = lock(&self.pool.idle);
            if idle.len() < self.pool.size {
                idle.push(conn);
            }
        }
        result
    }

    async fn connect(&self) -> Result<Conn, LdapProblem> {
        let open = LdapConnAsync::with_settings(self.settings.clone(), &self.url);
        let (conn, ldap) = match tokio::time::timeout(self.connect_timeout, open).await {
            Err(_) => return Err(LdapProblem::Timeout),
            Ok(Err(LdapError::Timeout { .. })) => return Err(LdapProblem::Timeout),
            Ok(Err(e)) => return Err(LdapProblem::Connect(e.to_string())),
            Ok(Ok(pair)) => pair,
        };
        bump(&self.stats.connections_opened);
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        Ok(Conn {
            ldap,
            driver,
            bound: Bound::Anonymous,
            last_used: Instant::now(),
        })
    }

    async fn run(&self, conn: &mut Conn, job: &Job<'_>) -> Result<Done, LdapProblem> {
        match *job {
            Job::Verify { user, password } => self
                .verify_on(conn, user, password)
                .await
                .map(Done::Verdict),
            Job::Addresses { user } => self.addresses_on(conn, user).await.map(Done::Addresses),
        }
    }

    /// One operation under the operation timeout.
    async fn op<T>(
        &self,
        fut: impl Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, LdapProblem> {
        match tokio::time::timeout(self.operation_timeout, fut).await {
            Err(_) => Err(LdapProblem::Timeout),
            Ok(Err(e)) => Err(classify(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// The only place a bind is sent. An empty password or DN never gets
    /// here (it would be an unauthenticated or anonymous bind, which a
    /// server may accept, RFC 4513 §5.1); should one, it is answered as
    /// `invalidCredentials` without asking the server.
    async fn bind(
        &self,
        conn: &mut Conn,
        dn: &str,
        password: &Secret<String>,
        counter: &AtomicU64,
        service: bool,
    ) -> Result<LdapResult, LdapProblem> {
        if dn.is_empty() || password.expose().is_empty() {
            return Ok(LdapResult {
                rc: 49,
                matched: String::new(),
                text: String::new(),
                refs: Vec::new(),
                ctrls: Vec::new(),
            });
        }
        bump(counter);
        conn.bound = Bound::Other;
        let result = self
            .op(conn.ldap.simple_bind(dn, password.expose()))
            .await?;
        if service && result.rc == 0 {
            conn.bound = Bound::Service;
        }
        Ok(result)
    }

    async fn bind_service(&self, conn: &mut Conn) -> Result<(), LdapProblem> {
        let Some((dn, password)) = &self.service else {
            return Ok(());
        };
        if conn.bound == Bound::Service {
            return Ok(());
        }
        let r = self
            .bind(conn, dn, password, &self.stats.service_binds, true)
            .await?;
        if r.rc != 0 {
            return Err(LdapProblem::ServiceBind(r.rc));
        }
        Ok(())
    }

    /// Searches `base` for `filter`, asking for at most two entries (two
    /// means "ambiguous").
    async fn search(
        &self,
        conn: &mut Conn,
        base: &str,
        scope: Scope,
        filter: &str,
    ) -> Result<Found, LdapProblem> {
        bump(&self.stats.searches);
        conn.ldap
            .with_search_options(SearchOptions::new().sizelimit(2));
        let r = self
            .op(conn.ldap.search(base, scope, filter, &self.attributes))
            .await?;
        match r.1.rc {
            0 | 4 => {}                                           // success, sizeLimitExceeded
            32 if scope == Scope::Base => return Ok(Found::None), // noSuchObject
            rc => return Err(LdapProblem::Search(rc)),
        }
        let mut entries = r.0.into_iter().filter_map(|e| Entry::parse(e.0));
        Ok(match (entries.next(), entries.next()) {
            (None, _) => Found::None,
            (Some(e), None) if r.1.rc == 0 => Found::One(e),
            _ => Found::Many,
        })
    }

    /// The user's entry, by the configured search or (template mode) the
    /// DN itself.
    async fn find(&self, conn: &mut Conn, user: &str) -> Result<Found, LdapProblem> {
        match &self.lookup {
            Lookup::Search { base, filter } => {
                let filter = expand(filter, &escape_filter_value(user))
                    .ok_or_else(|| LdapProblem::Protocol("bad filter template".into()))?;
                self.search(conn, base, Scope::Subtree, &filter).await
            }
            Lookup::Template(_) => {
                let dn = self.user_dn(user)?;
                self.search(conn, &dn, Scope::Base, "(objectClass=*)").await
            }
        }
    }

    fn user_dn(&self, user: &str) -> Result<String, LdapProblem> {
        match &self.lookup {
            Lookup::Template(t) => expand(t, &escape_dn_value(user))
                .ok_or_else(|| LdapProblem::Protocol("bad DN template".into())),
            Lookup::Search { .. } => Err(LdapProblem::Protocol("no DN template".into())),
        }
    }

    async fn verify_on(
        &self,
        conn: &mut Conn,
        user: &str,
        password: &Secret<String>,
    ) -> Result<Verdict, LdapProblem> {
        let (dn, entry) = match &self.lookup {
            Lookup::Search { base, .. } => {
                self.bind_service(conn).await?;
                match self.find(conn, user).await? {
                    Found::One(e) if !e.dn.is_empty() => (e.dn.clone(), Some(e)),
                    found => {
                        if matches!(found, Found::Many) {
                            self.report(&LdapProblem::AmbiguousUser);
                        }
                        // The same work as for a known user (ATK-06): a
                        // bind, against an entry that does not exist.
                        let dummy = format!("{DUMMY_RDN},{base}");
                        self.bind(conn, &dummy, password, &self.stats.dummy_binds, false)
                            .await?;
                        return Ok(Verdict::UnknownUser);
                    }
                }
            }
            Lookup::Template(_) => (self.user_dn(user)?, None),
        };
        let r = self
            .bind(conn, &dn, password, &self.stats.user_binds, false)
            .await?;
        match r.rc {
            0 => {}
            // invalidCredentials; AD adds why, and says "disabled" only to
            // the right password.
            49 if ad_disabled(&r.text) => return Ok(Verdict::Disabled),
            // invalidCredentials, inappropriateAuthentication,
            // insufficientAccessRights
            48..=50 => return Ok(Verdict::Invalid),
            rc => return Err(LdapProblem::UserBind(rc)),
        }
        // The password is right: now the entry may say "disabled".
        let entry = match entry {
            Some(e) => e,
            None => match self.find(conn, user).await? {
                Found::One(e) => e,
                _ => Entry::default(),
            },
        };
        if self.disabled.iter().any(|rule| rule.matches(&entry)) {
            return Ok(Verdict::Disabled);
        }
        self.cache.insert(user, self.addresses_of(&entry));
        Ok(Verdict::Valid)
    }

    async fn addresses_on(
        &self,
        conn: &mut Conn,
        user: &str,
    ) -> Result<Option<Vec<String>>, LdapProblem> {
        self.bind_service(conn).await?;
        Ok(match self.find(conn, user).await? {
            Found::One(e) => Some(self.addresses_of(&e)),
            Found::None | Found::Many => None,
        })
    }

    /// The entry's addresses, lower-cased; AD `proxyAddresses`' `smtp:`
    /// prefix removed, other prefixed forms (`x500:`…) skipped.
    fn addresses_of(&self, entry: &Entry) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for attr in &self.address_attributes {
            for v in entry.values(attr) {
                let v = v.trim();
                let v = match v.split_once(':') {
                    Some((prefix, rest)) if prefix.eq_ignore_ascii_case("smtp") => rest,
                    Some(_) => continue,
                    None => v,
                };
                let v = v.to_lowercase();
                if v.contains('@') && !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

/// Checks PLAIN and LOGIN passwords against an LDAP directory; see the
/// [module docs](self). Cheap to clone (all clones share one pool, cache
/// and runtime).
#[derive(Clone)]
pub struct LdapAuthenticator {
    shared: Arc<Shared>,
    runtime: Arc<RuntimeHandle>,
}

impl fmt::Debug for LdapAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("LdapAuthenticator")
            .field("url", &s.url)
            .field("lookup", &s.lookup)
            .field("service_dn", &s.service.as_ref().map(|(dn, _)| dn))
            .field("pool_size", &s.pool.size)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LdapAuthenticator {
    /// What the authenticator has done so far.
    pub fn stats(&self) -> LdapStats {
        let c = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LdapStats {
            connections_opened: get(&c.connections_opened),
            service_binds: get(&c.service_binds),
            user_binds: get(&c.user_binds),
            dummy_binds: get(&c.dummy_binds),
            searches: get(&c.searches),
            empty_passwords: get(&c.empty_passwords),
            pool_busy: get(&c.pool_busy),
            timeouts: get(&c.timeouts),
        }
    }

    /// The addresses cached for `user` from their last successful bind (or
    /// re-read), lower-cased; `None` when nothing is cached or it expired.
    pub fn cached_addresses(&self, user: &str) -> Option<Vec<String>> {
        self.shared.cache.get(user).map(|a| a.to_vec())
    }

    /// Runs `job` on the authenticator's runtime; the receiver completes
    /// under any executor.
    fn spawn<T: Send + 'static>(
        &self,
        job: impl Future<Output = T> + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        self.runtime.handle.spawn(async move {
            let _ = tx.send(job.await);
        });
        rx
    }
}

impl Authenticator for LdapAuthenticator {
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.passwords()
    }

    fn verify_password(
        &self,
        user: &str,
        password: &Secret<String>,
    ) -> impl Future<Output = Verdict> + Send {
        let job = if password.expose().is_empty() {
            // Never a bind: with an empty password it would be an
            // unauthenticated bind, which servers may let succeed.
            bump(&self.shared.stats.empty_passwords);
            None
        } else {
            let shared = Arc::clone(&self.shared);
            let (user, password) = (user.to_owned(), password.clone());
            Some(self.spawn(async move { shared.verify(&user, &password).await }))
        };
        async move {
            match job {
                None => Verdict::Invalid,
                Some(rx) => rx.await.unwrap_or(Verdict::Unavailable),
            }
        }
    }
}

impl SenderOwners for LdapAuthenticator {
    fn ownership(&self, identity: &str, address: &str) -> impl Future<Output = Ownership> + Send {
        fn decide(list: &[String], address: &str) -> Ownership {
            if list.iter().any(|a| *a == address) {
                Ownership::Owned
            } else {
                Ownership::NotOwned
            }
        }
        let address = address.to_lowercase();
        let pending = match self.shared.cache.get(identity) {
            Some(list) => Ok(decide(&list, &address)),
            None if self.shared.service.is_some() => {
                let shared = Arc::clone(&self.shared);
                let user = identity.to_owned();
                Err(self.spawn(async move { shared.addresses(&user).await }))
            }
            None => Ok(Ownership::NotOwned),
        };
        async move {
            match pending {
                Ok(o) => o,
                Err(rx) => match rx.await {
                    Ok(Ok(Some(list))) => decide(&list, &address),
                    Ok(Ok(None)) => Ownership::NotOwned,
                    Ok(Err(())) | Err(_) => Ownership::Unavailable,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_only_percent_u() {
        assert_eq!(expand("(uid=%u)", "a").as_deref(), Some("(uid=a)"));
        assert_eq!(
            expand("(&(uid=%u)(x=100%%))", "a").as_deref(),
            Some("(&(uid=a)(x=100%))")
        );
        assert_eq!(
            expand("(uid=%u)(mail=%u)", "a").as_deref(),
            Some("(uid=a)(mail=a)")
        );
        assert_eq!(expand("(uid=x)", "a"), None);
        assert_eq!(expand("(uid=%s)", "a"), None);
        assert_eq!(expand("(uid=%u)%", "a"), None);
        // The value is not scanned for % sequences.
        assert_eq!(expand("%u", "%u%%").as_deref(), Some("%u%%"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            validate_url("ldap://127.0.0.1:389").ok(),
            Some(Transport::Plain)
        );
        assert_eq!(
            validate_url("ldaps://ldap.example.org").ok(),
            Some(Transport::Ldaps)
        );
        assert_eq!(
            validate_url("ldap://[::1]:389/").ok(),
            Some(Transport::Plain)
        );
        for bad in [
            "ldap://",
            "ldap:///",
            "http://x",
            "ldapi:///run/x",
            "ldap://x:y",
            "ldap://u@x",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_errors() {
        let url = "ldap://127.0.0.1:1";
        let e = |c: LdapConfig| c.starttls(false).build().err().map(|e| e.to_string());
        assert!(e(LdapConfig::search(url, "dc=x", "(uid=x)")).is_some());
        assert!(e(LdapConfig::search(url, "dc=x", "(uid=%u")).is_some());
        assert!(e(LdapConfig::bind_template(url, "uid=x,dc=x")).is_some());
        assert!(e(LdapConfig::search(url, "dc=x", "(uid=%u)")
            .service_account("cn=s", Secret::new(String::new())))
        .is_some());
        assert!(e(LdapConfig::search(url, "dc=x", "(uid=%u)")).is_none());
        let c = LdapConfig::search(url, "dc=x", "(uid=%u)")
            .service_account("cn=s", Secret::new("hunter2".to_owned()));
        assert!(!format!("{c:?}").contains("hunter2"));
        let a = c.starttls(false).build().unwrap();
        assert!(!format!("{a:?}").contains("hunter2"));
        assert!(LdapConfig::search(url, "dc=x", "(uid=%u)")
            .ca_pem("not a pem")
            .build()
            .is_err());
    }

    #[test]
    fn disabled_rules() {
        let mut e = Entry::default();
        e.attrs
            .insert("useraccountcontrol".into(), vec!["514".into()]);
        e.attrs.insert("mailenabled".into(), vec!["FALSE".into()]);
        assert!(DisabledRule::ActiveDirectory.matches(&e));
        assert!(DisabledRule::equals("mailEnabled", "false").matches(&e));
        assert!(!DisabledRule::equals("mailEnabled", "TRUE").matches(&e));
        assert!(!DisabledRule::present("pwdAccountLockedTime").matches(&e));
        e.attrs
            .insert("useraccountcontrol".into(), vec!["512".into()]);
        assert!(!DisabledRule::ActiveDirectory.matches(&e));
        e.attrs
            .insert("useraccountcontrol".into(), vec!["garbage".into()]);
        assert!(DisabledRule::ActiveDirectory.matches(&e), "fails closed");
        assert!(ad_disabled(
            "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 533, v3839"
        ));
        assert!(!ad_disabled(
            "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 52e, v3839"
        ));
    }

    #[test]
    fn address_cache_expires_and_stays_bounded() {
        let c = AddressCache {
            ttl: Duration::from_secs(60),
            capacity: 3,
            map: Mutex::new(HashMap::new()),
        };
        c.insert("Alice", vec!["alice@example.org".into()]);
        assert_eq!(
            c.get("alice").as_deref(),
            Some(&["alice@example.org".to_owned()][..])
        );
        for i in 0..10 {
            c.insert(&format!("u{i}"), Vec::new());
        }
        assert!(lock(&c.map).len() <= 3);
        let z = AddressCache {
            ttl: Duration::ZERO,
            capacity: 3,
            map: Mutex::new(HashMap::new()),
        };
        z.insert("alice", Vec::new());
        assert!(z.get("alice").is_none());
    }
}
