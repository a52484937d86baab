//! [`PasswdFile`]: a credential store that reads Dovecot's passwd-file
//! format unchanged, so an existing Dovecot deployment's file works as it
//! is.
//!
//! ```text
//! user:{SCHEME}data[:uid:gid:gecos:home:shell:extra fields]
//! alice:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$…$…
//! bob:{BLF-CRYPT}$2y$05$…:1001:1001::/home/bob::userdb_quota_rule=*:storage=1G
//! carol:{SCRAM-SHA-256}4096,salt,StoredKey,ServerKey
//! ```
//!
//! Schemes, each verified by a maintained RustCrypto-family crate (never
//! our own crypto), and the mechanisms each can serve — a hash that cannot
//! produce a mechanism's secret does not serve it (a bcrypt hash serves
//! neither CRAM-MD5 nor SCRAM):
//!
//! | scheme | verified by | PLAIN, LOGIN | CRAM-MD5 | SCRAM-SHA-1 | SCRAM-SHA-256 |
//! |---|---|---|---|---|---|
//! | `{PLAIN}`, `{CLEAR}`, `{CLEARTEXT}` (also `.b64`, `.hex`) | constant-time compare | yes | yes | yes | yes |
//! | `{ARGON2ID}`, `{ARGON2I}` | `argon2` | yes | | | |
//! | `{BLF-CRYPT}` (`$2y$`, `$2b$`, `$2a$`) | `bcrypt` | yes | | | |
//! | `{SHA512-CRYPT}`, `{SHA256-CRYPT}` | `sha-crypt` | yes | | | |
//! | `{CRAM-MD5}` (`{HMAC-MD5}`) | HMAC-MD5 states | yes | yes | | |
//! | `{SCRAM-SHA-1}` | PBKDF2 | yes | | yes | |
//! | `{SCRAM-SHA-256}` | PBKDF2 | yes | | | yes |
//!
//! A password without a `{SCHEME}` prefix is Dovecot's `CRYPT`: recognised
//! by its `$2y$`, `$5$`, `$6$` or `$argon2…$` prefix. Of the extra fields,
//! `nologin` disables the account (the right password then gives
//! `525 5.7.13`); `nopassword` is refused (the line is skipped); the others
//! are kept for the embedder's userdb but not interpreted here.
//!
//! A malformed line is reported with its line number (never its content)
//! and skipped; the other users stay usable. [`PasswdFile::reload`] and
//! [`PasswdFile::reload_if_changed`] read the file again without a restart;
//! an unreadable file keeps the previous table.
//!
//! Unknown users cost the same work as known ones (ATK-06): a password for
//! an unknown user is verified against a representative hash of the file
//! (the first entry of the most common scheme and cost) and the result is
//! thrown away; SCRAM lookups that find nothing run the same PBKDF2 a
//! `{PLAIN}` user's lookup runs when the file has such users.
//! [`PasswdFile::work`] counts every verification, so this can be tested.
//!
//! Verification is CPU-bound by design (Argon2 with Dovecot's defaults
//! takes tens of milliseconds and 64 MiB): async servers should answer
//! credential questions on a blocking pool (e.g. tokio's `spawn_blocking`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::{ready, Future};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::password_hash::PasswordVerifier as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::authenticator::{ct_eq, Authenticator, Capabilities};
use crate::load::{LineError, LoadReport, Reloadable};
use crate::sasl::encoding;
use crate::sasl::secret::{CramMd5Secret, ScramCredentials};
use crate::sasl::{Lookup, ScramHash, Verdict};
use crate::secret::Secret;

/// SCRAM iterations for credentials derived from a `{PLAIN}` password:
/// Dovecot's default, and what unknown users' fake records announce.
const PLAIN_SCRAM_ITERATIONS: u32 = 4096;

/// A password scheme of Dovecot's that this store reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scheme {
    /// `{PLAIN}` and its aliases: the password itself.
    Plain,
    /// `{ARGON2I}`.
    Argon2i,
    /// `{ARGON2ID}`.
    Argon2id,
    /// `{BLF-CRYPT}`: bcrypt.
    BlfCrypt,
    /// `{SHA256-CRYPT}`: `$5$`.
    Sha256Crypt,
    /// `{SHA512-CRYPT}`: `$6$`.
    Sha512Crypt,
    /// `{CRAM-MD5}`: the HMAC-MD5 states.
    CramMd5,
    /// `{SCRAM-SHA-1}`.
    ScramSha1,
    /// `{SCRAM-SHA-256}`.
    ScramSha256,
}

impl Scheme {
    /// Dovecot's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Scheme::Plain => "PLAIN",
            Scheme::Argon2i => "ARGON2I",
            Scheme::Argon2id => "ARGON2ID",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::CramMd5 => "CRAM-MD5",
            Scheme::ScramSha1 => "SCRAM-SHA-1",
            Scheme::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// What a user stored in this scheme can use (see the module table).
    pub const fn capabilities(self) -> Capabilities {
        let c = Capabilities::NONE.passwords();
        match self {
            Scheme::Plain => c.cram_md5().scram(ScramHash::Sha1).scram(ScramHash::Sha256),
            Scheme::CramMd5 => c.cram_md5(),
            Scheme::ScramSha1 => c.scram(ScramHash::Sha1),
            Scheme::ScramSha256 => c.scram(ScramHash::Sha256),
            _ => c,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kind of verification work: a scheme and its cost parameters (for
/// Argon2 `m=…,t=…,p=…`, for bcrypt the cost, for SHA-crypt `rounds=…`,
/// for SCRAM `i=…`). [`PasswdFile::work`] counts verifications by kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Work {
    /// The scheme.
    pub scheme: Scheme,
    /// Its cost parameters, as written in the hash.
    pub cost: String,
}

/// A stored password, parsed.
#[derive(Clone)]
enum Stored {
    Plain(Secret<String>),
    Argon2(String),
    Bcrypt(String),
    ShaCrypt(String),
    CramMd5(CramMd5Secret),
    Scram(ScramCredentials),
}

#[derive(Clone)]
struct Entry {
    work: Work,
    stored: Stored,
    disabled: bool,
}

#[derive(Default)]
struct Table {
    users: HashMap<String, Entry>,
    /// What an unknown user's password is verified against.
    dummy: Option<Entry>,
    has_plain: bool,
    capabilities: Capabilities,
}

impl Table {
    fn entries(&self) -> usize {
        self.users.len()
    }
}

/// Dovecot's passwd-file as a credential store. See the [module
/// docs](self). `Debug` shows counts only.
pub struct PasswdFile {
    table: Reloadable<Table>,
    salt_key: [u8; 32],
    work: Mutex<BTreeMap<Work, u64>>,
}

impl fmt::Debug for PasswdFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.current();
        f.debug_struct("PasswdFile")
            .field("path", &self.table.path())
            .field("users", &t.users.len())
            .field("capabilities", &t.capabilities)
            .finish_non_exhaustive()
    }
}

fn unsupported(what: impl fmt::Display) -> String {
    format!("unsupported password scheme {what}")
}

/// Reads a crypt(3)-style hash whose scheme is known or guessed.
fn parse_crypt(scheme: Option<Scheme>, body: &str) -> Result<(Work, Stored), String> {
    let scheme = match scheme {
        Some(s) => s,
        None if body.starts_with("$argon2id$") => Scheme::Argon2id,
        None if body.starts_with("$argon2i$") => Scheme::Argon2i,
        None if ["$2y$", "$2b$", "$2a$", "$2x$"]
            .iter()
            .any(|p| body.starts_with(p)) =>
        {
            Scheme::BlfCrypt
        }
        None if body.starts_with("$6$") => Scheme::Sha512Crypt,
        None if body.starts_with("$5$") => Scheme::Sha256Crypt,
        None => {
            return Err(unsupported(
                "CRYPT (only $2y$, $5$, $6$ and $argon2…$ hashes)",
            ))
        }
    };
    match scheme {
        Scheme::Argon2i | Scheme::Argon2id => {
            let hash =
                argon2::PasswordHash::new(body).map_err(|_| "malformed Argon2 hash".to_owned())?;
            let expected = if scheme == Scheme::Argon2id {
                "argon2id"
            } else {
                "argon2i"
            };
            if hash.algorithm.as_str() != expected {
                return Err(format!("{scheme} scheme holds another Argon2 variant"));
            }
            argon2::Params::try_from(&hash).map_err(|_| "invalid Argon2 parameters".to_owned())?;
            if hash.salt.is_none() || hash.hash.is_none() {
                return Err("Argon2 hash without salt or output".to_owned());
            }
            let cost = hash.params.to_string();
            Ok((Work { scheme, cost }, Stored::Argon2(body.to_owned())))
        }
        Scheme::BlfCrypt => {
            let parts: bcrypt::HashParts = body
                .parse()
                .map_err(|_| "malformed bcrypt hash".to_owned())?;
            let cost = parts.get_cost().to_string();
            Ok((Work { scheme, cost }, Stored::Bcrypt(body.to_owned())))
        }
        Scheme::Sha256Crypt | Scheme::Sha512Crypt => {
            let hash = sha_crypt::PasswordHashRef::new(body)
                .map_err(|_| "malformed SHA-crypt hash".to_owned())?;
            let id = if scheme == Scheme::Sha512Crypt {
                "6"
            } else {
                "5"
            };
            if hash.id() != id {
                return Err(format!("{scheme} scheme holds another crypt variant"));
            }
            let fields: Vec<&str> = hash.fields().map(|f| f.as_str()).collect();
            let (cost, rest) = match fields.first() {
                Some(p) if p.starts_with("rounds=") => {
                    let params: sha_crypt::Params = p
                        .parse()
                        .map_err(|_| "invalid SHA-crypt rounds".to_owned())?;
                    (params.to_string(), &fields[1..])
                }
                _ => (
                    format!("rounds={}", sha_crypt::Params::RECOMMENDED_ROUNDS),
                    &fields[..],
                ),
            };
            if rest.len() != 2 {
                return Err("malformed SHA-crypt hash".to_owned());
            }
            Ok((Work { scheme, cost }, Stored::ShaCrypt(body.to_owned())))
        }
        other => Err(unsupported(other)),
    }
}

/// Reads the password field.
fn parse_password(field: &str) -> Result<(Work, Stored), String> {
    let (name, body) = match field.strip_prefix('{') {
        Some(rest) => match rest.split_once('}') {
            Some((name, body)) => (Some(name.to_ascii_uppercase()), body),
            None => return Err("unterminated {SCHEME} prefix".to_owned()),
        },
        None => (None, field),
    };
    let Some(name) = name else {
        return parse_crypt(None, body);
    };
    let (base, encoding_suffix) = match name.split_once('.') {
        Some((b, e)) => (b.to_owned(), Some(e.to_owned())),
        None => (name.clone(), None),
    };
    let plain_work = || Work {
        scheme: Scheme::Plain,
        cost: String::new(),
    };
    let scheme = match base.as_str() {
        "PLAIN" | "CLEAR" | "CLEARTEXT" => {
            let bytes = match encoding_suffix.as_deref() {
                None => body.as_bytes().to_vec(),
                Some("B64" | "BASE64") => encoding::decode(body.as_bytes())
                    .map_err(|_| "invalid base64 in {PLAIN.b64}".to_owned())?,
                Some("HEX") => decode_hex(body).ok_or("invalid hex in {PLAIN.hex}")?,
                Some(e) => return Err(format!("unsupported encoding .{e}")),
            };
            let text = String::from_utf8(bytes).map_err(|_| "password is not UTF-8".to_owned())?;
            if text.is_empty() {
                return Err("empty password".to_owned());
            }
            return Ok((plain_work(), Stored::Plain(Secret::new(text))));
        }
        _ if encoding_suffix.is_some() => {
            return Err(format!(
                "encoding suffix only supported for PLAIN, not {base}"
            ));
        }
        "ARGON2ID" => Scheme::Argon2id,
        "ARGON2I" => Scheme::Argon2i,
        "BLF-CRYPT" => Scheme::BlfCrypt,
        "SHA512-CRYPT" => Scheme::Sha512Crypt,
        "SHA256-CRYPT" => Scheme::Sha256Crypt,
        "CRYPT" => return parse_crypt(None, body),
        "CRAM-MD5" | "HMAC-MD5" => {
            let secret = CramMd5Secret::from_dovecot_hex(body)
                .map_err(|e| format!("invalid CRAM-MD5 secret: {e}"))?;
            let work = Work {
                scheme: Scheme::CramMd5,
                cost: String::new(),
            };
            return Ok((work, Stored::CramMd5(secret)));
        }
        "SCRAM-SHA-1" | "SCRAM-SHA-256" => {
            let (hash, scheme) = if base == "SCRAM-SHA-1" {
                (ScramHash::Sha1, Scheme::ScramSha1)
            } else {
                (ScramHash::Sha256, Scheme::ScramSha256)
            };
            let creds = ScramCredentials::from_dovecot(hash, body)
                .map_err(|e| format!("invalid {base} secret: {e}"))?;
            let work = Work {
                scheme,
                cost: format!("i={}", creds.iterations()),
            };
            return Ok((work, Stored::Scram(creds)));
        }
        other => return Err(unsupported(format_args!("{{{other}}}"))),
    };
    parse_crypt(Some(scheme), body)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

fn parse(text: &str) -> (Table, LoadReport) {
    let mut table = Table::default();
    let mut report = LoadReport::default();
    let mut order: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        // user:password:uid:gid:gecos:home:shell:extra — the extra fields
        // may themselves contain ':' (Dovecot rejoins them).
        let fields: Vec<&str> = line.splitn(8, ':').collect();
        let user = fields[0];
        if user.is_empty() || user.chars().any(|c| c.is_control() || c.is_whitespace()) {
            report
                .errors
                .push(LineError::new(n, "empty or invalid user name"));
            continue;
        }
        let password = fields.get(1).copied().unwrap_or("");
        if password.is_empty() {
            report.errors.push(LineError::new(
                n,
                "no password (userdb-only lines are not logins)",
            ));
            continue;
        }
        let extra: Vec<&str> = fields
            .get(7)
            .map(|e| e.split_whitespace().collect())
            .unwrap_or_default();
        if extra.iter().any(|f| f.eq_ignore_ascii_case("nopassword")) {
            report
                .errors
                .push(LineError::new(n, "nopassword is not supported"));
            continue;
        }
        let disabled = extra.iter().any(|f| f.eq_ignore_ascii_case("nologin"));
        let (work, stored) = match parse_password(password) {
            Ok(p) => p,
            Err(reason) => {
                report.errors.push(LineError::new(n, reason));
                continue;
            }
        };
        if table.users.contains_key(user) {
            // Dovecot keeps the first and logs the duplicate.
            report
                .errors
                .push(LineError::new(n, "user listed again, first entry kept"));
            continue;
        }
        table.has_plain |= work.scheme == Scheme::Plain;
        table.capabilities = table.capabilities.union(work.scheme.capabilities());
        table.users.insert(
            user.to_owned(),
            Entry {
                work,
                stored,
                disabled,
            },
        );
        order.push(user.to_owned());
        report.entries += 1;
    }
    table.capabilities = table.capabilities.union(Capabilities::NONE.passwords());
    // The dummy: the first entry of the most common kind of work.
    let mut counts: HashMap<&Work, (usize, usize)> = HashMap::new();
    for (pos, user) in order.iter().enumerate() {
        if let Some(e) = table.users.get(user) {
            counts.entry(&e.work).or_insert((0, pos)).0 += 1;
        }
    }
    let pick = counts
        .into_iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(_, (_, pos))| pos);
    table.dummy = pick
        .and_then(|pos| order.get(pos))
        .and_then(|u| table.users.get(u))
        .cloned();
    (table, report)
}

impl PasswdFile {
    /// A store read from text in passwd-file format (tests, or a file
    /// you read yourself).
    pub fn parse(text: &str) -> (Self, LoadReport) {
        let (table, report) = Reloadable::from_text(text, parse, Table::entries);
        (Self::from_table(table), report)
    }

    /// Loads a passwd-file. Bad lines are reported and skipped; an
    /// unreadable file is an error.
    pub fn open(path: impl AsRef<Path>) -> io::Result<(Self, LoadReport)> {
        let (table, report) = Reloadable::open(path.as_ref(), parse, Table::entries)?;
        Ok((Self::from_table(table), report))
    }

    fn from_table(table: Reloadable<Table>) -> Self {
        let mut salt_key = [0u8; 32];
        // Without OS randomness, a fixed key still gives per-user salts.
        let _ = getrandom::fill(&mut salt_key);
        Self {
            table,
            salt_key,
            work: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets the key that derives SCRAM salts for `{PLAIN}` users (random
    /// by default). Give every server of a fleet the same key, so a user's
    /// salt is the same on all of them, as an unknown user's fake salt is
    /// (with the same [`ConfigBuilder::fake_salt_key`](crate::ConfigBuilder::fake_salt_key)).
    pub fn with_salt_key(mut self, key: [u8; 32]) -> Self {
        self.salt_key = key;
        self
    }

    /// Reads the file again and swaps the new table in; verifications in
    /// flight finish with the old one. On an I/O error the old table stays.
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

    /// Users loaded.
    pub fn len(&self) -> usize {
        self.current().entries()
    }

    /// True when no user is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scheme `user` is stored in, if the user exists.
    pub fn scheme(&self, user: &str) -> Option<Scheme> {
        self.current().users.get(user).map(|e| e.work.scheme)
    }

    /// Verifications done so far, by kind of work (dummy ones for unknown
    /// users included): what makes "unknown users cost the same" testable
    /// without timing anything.
    pub fn work(&self) -> BTreeMap<Work, u64> {
        self.work.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn count(&self, work: &Work) {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        *w.entry(work.clone()).or_insert(0) += 1;
    }

    /// Runs the scheme's verification of `password` (counted).
    fn verify(&self, entry: &Entry, password: &str) -> bool {
        self.count(&entry.work);
        let pw = password.as_bytes();
        match &entry.stored {
            Stored::Plain(p) => ct_eq(p.expose().as_bytes(), pw),
            Stored::Argon2(h) => argon2::PasswordHash::new(h)
                .is_ok_and(|h| argon2::Argon2::default().verify_password(pw, &h).is_ok()),
            Stored::Bcrypt(h) => bcrypt::verify(pw, h).unwrap_or(false),
            Stored::ShaCrypt(h) => sha_crypt::PasswordHashRef::new(h).is_ok_and(|h| {
                sha_crypt::PasswordVerifier::verify_password(&sha_crypt::ShaCrypt::default(), pw, h)
                    .is_ok()
            }),
            Stored::CramMd5(s) => ct_eq(
                CramMd5Secret::from_password(password)
                    .to_dovecot_hex()
                    .as_bytes(),
                s.to_dovecot_hex().as_bytes(),
            ),
            Stored::Scram(c) => {
                ScramCredentials::derive(c.hash(), password, c.salt(), c.iterations())
                    .is_ok_and(|d| ct_eq(d.stored_key(), c.stored_key()))
            }
        }
    }

    fn plain_scram_salt(&self, user: &str, hash: ScramHash) -> Vec<u8> {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.salt_key) {
            Ok(m) => m,
            Err(_) => <Hmac<Sha256> as KeyInit>::new(&Default::default()),
        };
        mac.update(b"smtp-auth passwd-file SCRAM salt\0");
        mac.update(hash.name().as_bytes());
        mac.update(b"\0");
        mac.update(user.as_bytes());
        mac.finalize().into_bytes()[..16].to_vec()
    }

    /// SCRAM credentials derived from a `{PLAIN}` password (counted).
    fn derive_scram(
        &self,
        user: &str,
        password: &str,
        hash: ScramHash,
    ) -> Option<ScramCredentials> {
        let scheme = match hash {
            ScramHash::Sha1 => Scheme::ScramSha1,
            _ => Scheme::ScramSha256,
        };
        self.count(&Work {
            scheme,
            cost: format!("i={PLAIN_SCRAM_ITERATIONS}"),
        });
        let salt = self.plain_scram_salt(user, hash);
        ScramCredentials::derive(hash, password, &salt, PLAIN_SCRAM_ITERATIONS).ok()
    }

    fn check_password(&self, user: &str, password: &Secret<String>) -> Verdict {
        let table = self.current();
        match table.users.get(user) {
            Some(entry) => {
                if !self.verify(entry, password.expose()) {
                    Verdict::Invalid
                } else if entry.disabled {
                    Verdict::Disabled
                } else {
                    Verdict::Valid
                }
            }
            None => {
                // ATK-06: the same work as a typical known user.
                if let Some(dummy) = &table.dummy {
                    let _ = self.verify(dummy, password.expose());
                }
                Verdict::UnknownUser
            }
        }
    }

    fn lookup_scram(&self, user: &str, hash: ScramHash) -> Lookup<ScramCredentials> {
        let table = self.current();
        let found = match table.users.get(user).filter(|e| !e.disabled) {
            Some(Entry {
                stored: Stored::Scram(c),
                ..
            }) if c.hash() == hash => Some(c.clone()),
            Some(Entry {
                stored: Stored::Plain(p),
                ..
            }) => self.derive_scram(user, p.expose(), hash),
            _ => None,
        };
        match found {
            Some(c) => Lookup::Found(c),
            None => {
                // Nothing usable: cost what a {PLAIN} user's lookup costs.
                if table.has_plain {
                    let _ = self.derive_scram(user, "smtp-auth dummy", hash);
                }
                Lookup::NotFound
            }
        }
    }

    fn lookup_cram(&self, user: &str) -> Lookup<CramMd5Secret> {
        match self.current().users.get(user).filter(|e| !e.disabled) {
            Some(Entry {
                stored: Stored::CramMd5(s),
                ..
            }) => Lookup::Found(s.clone()),
            Some(Entry {
                stored: Stored::Plain(p),
                ..
            }) => Lookup::Found(CramMd5Secret::from_password(p.expose())),
            _ => Lookup::NotFound,
        }
    }
}

impl Authenticator for PasswdFile {
    fn capabilities(&self) -> Capabilities {
        self.current().capabilities
    }

    fn verify_password(
        &self,
        user: &str,
        password: &Secret<String>,
    ) -> impl Future<Output = Verdict> + Send {
        ready(self.check_password(user, password))
    }

    fn cram_md5_secret(&self, user: &str) -> impl Future<Output = Lookup<CramMd5Secret>> + Send {
        ready(self.lookup_cram(user))
    }

    fn scram_credentials(
        &self,
        user: &str,
        hash: ScramHash,
    ) -> impl Future<Output = Lookup<ScramCredentials>> + Send {
        ready(self.lookup_scram(user, hash))
    }
}
