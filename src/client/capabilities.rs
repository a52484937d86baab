//! The EHLO reply as a client reads it: the server's name and its service
//! extensions (RFC 5321 §4.1.1.1, §2.2.2).

use crate::reply::ParsedReply;
use crate::sasl::Mechanism;

/// What a server said it supports in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The first line of the reply: the server's name and any greeting text.
    pub greeting: String,
    /// Every extension line after the first, as `(KEYWORD, parameters)`;
    /// the keyword upper-cased, the parameters as sent.
    pub extensions: Vec<(String, String)>,
    /// The SASL mechanism names after `AUTH` (and the old `AUTH=` form),
    /// upper-cased, in the server's order, without duplicates. Names this
    /// crate does not implement are kept: a report should show them.
    pub auth: Vec<String>,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `SIZE` (RFC 1870): `Some(0)` when advertised without a limit.
    pub size: Option<u64>,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
}

impl Capabilities {
    /// Reads a `250` EHLO reply. Lines that are not `KEYWORD [params]`
    /// are kept in [`extensions`](Self::extensions) as they are; nothing
    /// here fails, because an odd extension line must not stop a client
    /// that does not need it.
    pub fn from_ehlo(reply: &ParsedReply) -> Self {
        let mut caps = Capabilities {
            greeting: reply.lines.first().cloned().unwrap_or_default(),
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let line = line.trim();
            let (keyword, params) = match line.find([' ', '\t']) {
                Some(i) => (&line[..i], line[i + 1..].trim()),
                None => (line, ""),
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "AUTH" => caps.add_mechanisms(params),
                // The pre-RFC 4954 form some servers still send for old
                // Outlook versions: `AUTH=LOGIN PLAIN`.
                k if k.starts_with("AUTH=") => {
                    caps.add_mechanisms(&line[5..]);
                }
                "STARTTLS" => caps.starttls = true,
                "SIZE" => {
                    caps.size = Some(params.parse().unwrap_or(0));
                }
                "PIPELINING" => caps.pipelining = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "CHUNKING" => caps.chunking = true,
                _ => {}
            }
            caps.extensions.push((keyword, params.to_owned()));
        }
        caps
    }

    fn add_mechanisms(&mut self, names: &str) {
        for name in names.split_ascii_whitespace() {
            let name = name.to_ascii_uppercase();
            if !self.auth.contains(&name) {
                self.auth.push(name);
            }
        }
    }

    /// The advertised mechanisms this crate implements, in the server's order.
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        self.auth
            .iter()
            .filter_map(|n| Mechanism::from_name(n.as_bytes()))
            .collect()
    }

    /// Whether `mechanism` is advertised.
    pub fn offers(&self, mechanism: Mechanism) -> bool {
        self.auth.iter().any(|n| n == mechanism.name())
    }

    /// Whether an extension keyword (case-insensitive) was advertised.
    pub fn has(&self, keyword: &str) -> bool {
        self.extensions
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(wire: &str) -> Capabilities {
        let (reply, used) = ParsedReply::parse(wire.as_bytes()).unwrap();
        assert_eq!(used, wire.len());
        Capabilities::from_ehlo(&reply)
    }

    #[test]
    fn r5321_4_1_1_1_keywords_and_parameters() {
        let c = parse(
            "250-mx.example.org greets client\r\n250-SIZE 36700160\r\n250-PIPELINING\r\n\
             250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n\
             250-STARTTLS\r\n250 AUTH SCRAM-SHA-256 PLAIN x-unknown\r\n",
        );
        assert_eq!(c.greeting, "mx.example.org greets client");
        assert_eq!(c.size, Some(36_700_160));
        assert!(c.pipelining && c.eight_bit_mime && c.enhanced_status_codes);
        assert!(c.smtputf8 && c.chunking && c.starttls);
        assert_eq!(c.auth, ["SCRAM-SHA-256", "PLAIN", "X-UNKNOWN"]);
        assert_eq!(c.mechanisms(), [Mechanism::ScramSha256, Mechanism::Plain]);
        assert!(c.offers(Mechanism::Plain) && !c.offers(Mechanism::Login));
        assert!(c.has("chunking"));
    }

    #[test]
    fn old_auth_equals_form_and_lower_case() {
        let c = parse("250-mx\r\n250-auth=LOGIN PLAIN\r\n250-AUTH PLAIN login\r\n250 size\r\n");
        assert_eq!(c.auth, ["LOGIN", "PLAIN"]);
        assert_eq!(c.size, Some(0));
        assert!(!c.starttls);
    }

    #[test]
    fn single_line_ehlo_has_no_extensions() {
        let c = parse("250 mx.example.org\r\n");
        assert_eq!(c.greeting, "mx.example.org");
        assert!(c.extensions.is_empty() && c.auth.is_empty());
    }
}
