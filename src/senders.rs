//! Sender ownership: which identities may use which envelope senders, read
//! from Postfix's `smtpd_sender_login_maps` text form so an existing map
//! works unchanged.
//!
//! ```text
//! # address                 owners (SASL login names), comma or space separated
//! alice@example.org         alice
//! sales@example.org         alice, bob
//! @example.net              carol
//! ```
//!
//! Lookups follow Postfix: the full address first, then (when a recipient
//! delimiter is set) the address without its extension (`alice+news@…` →
//! `alice@…`), then `@domain`. The first key found decides, as in Postfix:
//! an address listed with its own owners is not also open to the owners of
//! its domain. Keys are case-insensitive, and so are owner names
//! (Postfix compares login names case-insensitively too). Lines starting
//! with whitespace continue the previous line; `#` starts a comment line.
//! Keys without `@` (Postfix's local-part-only lookups) and regular
//! expression tables are not supported; such lines are reported and
//! skipped.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::load::{LineError, LoadReport, Reloadable};

#[derive(Debug, Default)]
struct Table {
    addresses: HashMap<String, Vec<String>>,
    domains: HashMap<String, Vec<String>>,
}

impl Table {
    fn entries(&self) -> usize {
        self.addresses.len() + self.domains.len()
    }
}

/// A sender login map (Postfix `smtpd_sender_login_maps`): address or
/// `@domain` → the identities that own it. Reloadable without a restart;
/// shared by reference between sessions.
pub struct SenderLoginMap {
    table: Reloadable<Table>,
    delimiters: String,
}

impl fmt::Debug for SenderLoginMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.current();
        f.debug_struct("SenderLoginMap")
            .field("path", &self.table.path())
            .field("addresses", &t.addresses.len())
            .field("domains", &t.domains.len())
            .field("delimiters", &self.delimiters)
            .finish()
    }
}

fn parse(text: &str) -> (Table, LoadReport) {
    let mut table = Table::default();
    let mut report = LoadReport::default();
    // Join continuation lines first, remembering where each logical line began.
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            match logical.last_mut() {
                Some((_, l)) => {
                    l.push(' ');
                    l.push_str(trimmed);
                }
                None => report.errors.push(LineError::new(
                    i + 1,
                    "continuation line without a line to continue",
                )),
            }
            continue;
        }
        logical.push((i + 1, line.to_owned()));
    }
    for (n, line) in logical {
        let mut parts = line.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or("").to_lowercase();
        let owners: Vec<String> = parts
            .next()
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if owners.is_empty() {
            report
                .errors
                .push(LineError::new(n, "no owner after the key"));
            continue;
        }
        if key.starts_with('/') {
            report.errors.push(LineError::new(
                n,
                "regular expression tables are not supported",
            ));
            continue;
        }
        let target = match key.split_once('@') {
            Some(("", domain)) if !domain.is_empty() && !domain.contains('@') => {
                (&mut table.domains, domain.to_owned())
            }
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                (&mut table.addresses, key.clone())
            }
            _ => {
                report.errors.push(LineError::new(
                    n,
                    "key is neither user@domain nor @domain (local-part-only keys are not supported)",
                ));
                continue;
            }
        };
        let (map, key) = target;
        if map.contains_key(&key) {
            // postmap keeps the first and warns about duplicates.
            report.errors.push(LineError::new(
                n,
                format!("duplicate key {key}, first one kept"),
            ));
            continue;
        }
        map.insert(key, owners);
        report.entries += 1;
    }
    (table, report)
}

impl SenderLoginMap {
    /// A map from text in Postfix's format.
    pub fn parse(text: &str) -> (Self, LoadReport) {
        let (table, report) = Reloadable::from_text(text, parse, Table::entries);
        (Self::from_table(table), report)
    }

    /// Loads a map file. Bad lines are reported and skipped; an unreadable
    /// file is an error.
    pub fn open(path: impl AsRef<Path>) -> io::Result<(Self, LoadReport)> {
        let (table, report) = Reloadable::open(path.as_ref(), parse, Table::entries)?;
        Ok((Self::from_table(table), report))
    }

    fn from_table(table: Reloadable<Table>) -> Self {
        Self {
            table,
            delimiters: String::new(),
        }
    }

    /// Sets Postfix's `recipient_delimiter`: `alice+news@example.org` is
    /// then also looked up as `alice@example.org`. Empty (the default)
    /// turns it off.
    pub fn recipient_delimiters(mut self, delimiters: &str) -> Self {
        self.delimiters = delimiters.to_owned();
        self
    }

    /// Reads the file again and swaps the new table in; lookups in flight
    /// keep the old one. On an I/O error the old table stays.
    pub fn reload(&self) -> io::Result<LoadReport> {
        self.table.reload()
    }

    /// Reloads when the file changed (size, time or inode) since it was
    /// last read; `None` when it did not. Call it from a timer or on
    /// SIGHUP.
    pub fn reload_if_changed(&self) -> io::Result<Option<LoadReport>> {
        self.table.reload_if_changed()
    }

    fn current(&self) -> Arc<Table> {
        self.table.current()
    }

    /// Keys (addresses and domains) in the map.
    pub fn len(&self) -> usize {
        self.current().entries()
    }

    /// True when the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owners of `address`, by the first key that matches; `None` when
    /// no key does.
    pub fn owners(&self, address: &str) -> Option<Vec<String>> {
        let t = self.current();
        let address = address.to_lowercase();
        if let Some(o) = t.addresses.get(&address) {
            return Some(o.clone());
        }
        let (local, domain) = address.rsplit_once('@')?;
        if !self.delimiters.is_empty() {
            if let Some(i) = local.find(|c| self.delimiters.contains(c)) {
                let base = format!("{}@{}", &local[..i], domain);
                if let Some(o) = t.addresses.get(&base) {
                    return Some(o.clone());
                }
            }
        }
        t.domains.get(domain).cloned()
    }

    /// Whether `identity` owns `address`.
    pub fn owns(&self, identity: &str, address: &str) -> bool {
        let identity = identity.to_lowercase();
        self.owners(address)
            .is_some_and(|o| o.iter().any(|o| o.to_lowercase() == identity))
    }
}

/// Whether an identity owns a sender address, as a [`SenderOwners`]
/// source answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ownership {
    /// The identity owns the address.
    Owned,
    /// It does not (or the source knows nothing of the identity).
    NotOwned,
    /// The source could not answer now (a directory down or timed out):
    /// the sender is refused with a temporary error, never a `550`.
    Unavailable,
}

/// A source of sender ownership that may need I/O: e.g. the addresses a
/// directory lists for an account (the LDAP authenticator's `mail` and
/// alternate-address attributes). [`SubmissionPolicy`](crate::SubmissionPolicy)
/// asks it, through
/// [`SubmissionPolicyBuilder::sender_owners`](crate::policy::SubmissionPolicyBuilder::sender_owners),
/// after the identity itself and the [`SenderLoginMap`] have not shown
/// ownership.
///
/// ```
/// use smtp_auth::senders::{Ownership, SenderOwners};
///
/// struct Aliases;
///
/// impl SenderOwners for Aliases {
///     async fn ownership(&self, identity: &str, address: &str) -> Ownership {
///         if identity == "alice" && address.eq_ignore_ascii_case("postmaster@example.org") {
///             Ownership::Owned
///         } else {
///             Ownership::NotOwned
///         }
///     }
/// }
/// ```
pub trait SenderOwners: Send + Sync {
    /// Does `identity` (the authenticated identity) own `address` (a
    /// non-empty envelope sender or `AUTH=` mailbox)?
    fn ownership(&self, identity: &str, address: &str) -> impl Future<Output = Ownership> + Send;
}

impl<T: SenderOwners + ?Sized> SenderOwners for Arc<T> {
    fn ownership(&self, identity: &str, address: &str) -> impl Future<Output = Ownership> + Send {
        (**self).ownership(identity, address)
    }
}

impl<T: SenderOwners + ?Sized> SenderOwners for Box<T> {
    fn ownership(&self, identity: &str, address: &str) -> impl Future<Output = Ownership> + Send {
        (**self).ownership(identity, address)
    }
}

impl SenderOwners for SenderLoginMap {
    fn ownership(&self, identity: &str, address: &str) -> impl Future<Output = Ownership> + Send {
        std::future::ready(if self.owns(identity, address) {
            Ownership::Owned
        } else {
            Ownership::NotOwned
        })
    }
}

/// A boxed [`SenderOwners`], so the policy can hold any source without a
/// type parameter.
pub(crate) type BoxedOwnership<'a> = Pin<Box<dyn Future<Output = Ownership> + Send + 'a>>;

/// The object-safe face of [`SenderOwners`].
pub(crate) trait DynSenderOwners: Send + Sync {
    fn owns_boxed<'a>(&'a self, identity: &'a str, address: &'a str) -> BoxedOwnership<'a>;
}

impl<T: SenderOwners> DynSenderOwners for T {
    fn owns_boxed<'a>(&'a self, identity: &'a str, address: &'a str) -> BoxedOwnership<'a> {
        Box::pin(self.ownership(identity, address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "\
# Postfix smtpd_sender_login_maps
alice@example.org    alice
Sales@Example.org    alice, bob
                     carol
@example.net         dave,erin
postmaster@example.net frank
bad-key              alice
/^(.*)@x$/           ${1}
nobody@example.org
";

    #[test]
    fn r6409_6_1_postfix_map_lookups() {
        let (m, report) = SenderLoginMap::parse(MAP);
        assert_eq!(report.entries, 4);
        assert_eq!(
            report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [7, 8, 9]
        );
        assert!(m.owns("alice", "alice@example.org"));
        assert!(m.owns("ALICE", "Alice@EXAMPLE.org"), "case-insensitive");
        assert!(!m.owns("bob", "alice@example.org"));
        assert!(m.owns("bob", "sales@example.org"));
        assert!(m.owns("carol", "sales@example.org"), "continuation line");
        assert!(m.owns("erin", "anything@example.net"), "@domain");
        assert!(
            !m.owns("dave", "postmaster@example.net"),
            "first match wins"
        );
        assert!(m.owns("frank", "postmaster@example.net"));
        assert!(!m.owns("alice", "alice@example.com"));
        assert_eq!(m.owners("unknown@example.com"), None);
        assert!(
            !m.owns("alice", "alice+news@example.org"),
            "no delimiter set"
        );
        let m = m.recipient_delimiters("+-");
        assert!(m.owns("alice", "alice+news@example.org"));
        assert!(m.owns("alice", "alice-list@example.org"));
    }

    #[test]
    fn errors_never_show_line_content() {
        let (_, report) = SenderLoginMap::parse("secret-looking-key\n  \n");
        assert_eq!(report.errors.len(), 1);
        let text = report.errors[0].to_string();
        assert!(!text.contains("secret-looking-key"), "{text}");
        assert!(text.starts_with("line 1: "), "{text}");
    }

    #[test]
    fn reloads_when_the_file_changes() {
        let dir = std::env::temp_dir().join(format!("smtp-auth-senders-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sender_login");
        std::fs::write(&path, "a@example.org alice\n").unwrap();
        let (m, _) = SenderLoginMap::open(&path).unwrap();
        assert!(m.owns("alice", "a@example.org"));
        assert_eq!(m.reload_if_changed().unwrap(), None);
        std::fs::write(&path, "a@example.org bob\nb@example.org bob\n").unwrap();
        let report = m.reload_if_changed().unwrap().expect("changed");
        assert_eq!(report.entries, 2);
        assert!(!m.owns("alice", "a@example.org"));
        assert!(m.owns("bob", "a@example.org"));
        std::fs::remove_file(&path).unwrap();
        assert!(m.reload().is_err());
        assert!(m.owns("bob", "b@example.org"), "the old table stays");
        let _ = std::fs::remove_dir(&dir);
    }
}
