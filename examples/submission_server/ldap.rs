//! `--ldap-*` flags: check passwords in an LDAP directory or Active
//! Directory instead of a file (needs `--features ldap`).
//!
//! ```sh
//! cargo run --features ldap --example submission_server -- \
//!     --ldap-url ldap://ldap.example.org --ldap-ca /etc/ssl/ldap-ca.pem \
//!     --ldap-base ou=people,dc=example,dc=org \
//!     --ldap-filter '(&(objectClass=inetOrgPerson)(uid=%u))' \
//!     --ldap-bind-dn cn=smtp,ou=services,dc=example,dc=org \
//!     --ldap-bind-password-file /etc/smtp/ldap.password \
//!     --ldap-address-attrs mail,mailLocalAddress --ldap-disabled mailEnabled=FALSE
//! ```

use std::path::PathBuf;

/// The `--ldap-*` flags.
#[derive(Debug, Default)]
pub struct LdapArgs {
    url: Option<String>,
    base: Option<String>,
    filter: Option<String>,
    bind_dn: Option<String>,
    bind_password_file: Option<PathBuf>,
    user_dn_template: Option<String>,
    starttls: Option<bool>,
    ca: Option<PathBuf>,
    address_attrs: Option<Vec<String>>,
    disabled: Vec<String>,
    pool: Option<usize>,
    timeout: Option<u64>,
}

/// The usage lines for the LDAP flags.
pub const USAGE: &str = "\
    [--ldap-url ldap[s]://HOST[:PORT] (--ldap-base DN [--ldap-filter FILTER] | --ldap-user-dn-template DN)\n\
    \x20   [--ldap-bind-dn DN --ldap-bind-password-file FILE] [--ldap-starttls yes|no] [--ldap-ca PEM]\n\
    \x20   [--ldap-address-attrs mail,ATTR...] [--ldap-disabled ad|ATTR=VALUE|ATTR]... [--ldap-pool N] [--ldap-timeout SECS]]";

impl LdapArgs {
    /// Takes one `--ldap-*` flag and its value; `false` for a flag or value
    /// it does not know.
    pub fn set(&mut self, flag: &str, value: String) -> bool {
        match flag {
            "--ldap-url" => self.url = Some(value),
            "--ldap-base" => self.base = Some(value),
            "--ldap-filter" => self.filter = Some(value),
            "--ldap-bind-dn" => self.bind_dn = Some(value),
            "--ldap-bind-password-file" => self.bind_password_file = Some(value.into()),
            "--ldap-user-dn-template" => self.user_dn_template = Some(value),
            "--ldap-starttls" => match value.as_str() {
                "yes" => self.starttls = Some(true),
                "no" => self.starttls = Some(false),
                _ => return false,
            },
            "--ldap-ca" => self.ca = Some(value.into()),
            "--ldap-address-attrs" => {
                self.address_attrs = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "--ldap-disabled" => self.disabled.push(value),
            "--ldap-pool" => match value.parse() {
                Ok(n) => self.pool = Some(n),
                Err(_) => return false,
            },
            "--ldap-timeout" => match value.parse() {
                Ok(n) => self.timeout = Some(n),
                Err(_) => return false,
            },
            _ => return false,
        }
        true
    }

    /// Whether users come from LDAP.
    pub fn enabled(&self) -> bool {
        self.url.is_some()
    }

    /// The authenticator these flags describe.
    #[cfg(feature = "ldap")]
    pub fn build(&self) -> Result<smtp_auth::ldap::LdapAuthenticator, Box<dyn std::error::Error>> {
        use smtp_auth::ldap::{DisabledRule, LdapConfig};
        use smtp_auth::Secret;
        use std::time::Duration;

        let url = self.url.clone().ok_or("--ldap-url is missing")?;
        let mut config = match (&self.user_dn_template, &self.base) {
            (Some(template), None) => LdapConfig::bind_template(url, template),
            (None, Some(base)) => LdapConfig::search(
                url,
                base,
                self.filter
                    .as_deref()
                    .unwrap_or("(&(objectClass=inetOrgPerson)(uid=%u))"),
            ),
            _ => {
                return Err(
                    "give either --ldap-base (search, then bind) or --ldap-user-dn-template".into(),
                )
            }
        };
        match (&self.bind_dn, &self.bind_password_file) {
            (Some(dn), Some(file)) => {
                let password = std::fs::read_to_string(file)
                    .map_err(|e| format!("--ldap-bind-password-file {}: {e}", file.display()))?;
                let password = password.trim_end_matches(['\r', '\n']).to_owned();
                config = config.service_account(dn, Secret::new(password));
            }
            (None, None) => {}
            _ => return Err("--ldap-bind-dn and --ldap-bind-password-file go together".into()),
        }
        if let Some(on) = self.starttls {
            config = config.starttls(on);
        }
        if let Some(ca) = &self.ca {
            config = config.ca_file(ca)?;
        }
        if let Some(attrs) = &self.address_attrs {
            config = config.address_attributes(attrs.iter().cloned());
        }
        for rule in &self.disabled {
            config = config.disabled_when(match rule.split_once('=') {
                _ if rule.eq_ignore_ascii_case("ad") => DisabledRule::ActiveDirectory,
                Some((attr, value)) => DisabledRule::equals(attr, value),
                None => DisabledRule::present(rule.as_str()),
            });
        }
        if let Some(n) = self.pool {
            config = config.pool_size(n);
        }
        if let Some(secs) = self.timeout {
            let t = Duration::from_secs(secs.max(1));
            config = config.connect_timeout(t).operation_timeout(t);
        }
        let config = config.on_problem(|p| tracing::warn!("ldap: {p}"));
        println!("users: LDAP {config:?}");
        Ok(config.build()?)
    }
}
