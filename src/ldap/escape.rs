//! Escaping of user-supplied values for LDAP search filters (RFC 4515) and
//! distinguished names (RFC 4514).
//!
//! Both functions are total: every `&str` (NUL, non-ASCII, control
//! characters and filter or DN syntax included) becomes a value that the
//! server reads back as exactly the original characters, never as syntax.

use std::fmt::Write as _;

/// Escapes `value` for use as an assertion value in a search filter
/// (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL — the characters the grammar
/// reserves — and, so that filters stay printable ASCII, every other
/// control character and every non-ASCII byte, as `\XX` (two lower-case
/// hex digits, one escape per byte of the UTF-8 encoding).
///
/// ```
/// use smtp_auth::ldap::escape_filter_value;
/// assert_eq!(escape_filter_value("*)(uid=*"), r"\2a\29\28uid=\2a");
/// assert_eq!(escape_filter_value("Lučić"), r"Lu\c4\8di\c4\87");
/// ```
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value.as_bytes() {
        let reserved = matches!(b, b'*' | b'(' | b')' | b'\\' | 0);
        if reserved || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\{b:02x}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Escapes `value` for use as an attribute value in a distinguished name
/// string (RFC 4514 §2.4): `"`, `+`, `,`, `;`, `<`, `>`, `\` and `=` with a
/// backslash, a leading space or `#` and a trailing space likewise, NUL and
/// other control characters as `\XX`. Other characters (UTF-8 included)
/// stand for themselves, as §2.4 allows.
///
/// ```
/// use smtp_auth::ldap::escape_dn_value;
/// assert_eq!(escape_dn_value(r#"James "Jim" Smith, III"#), r#"James \"Jim\" Smith\, III"#);
/// assert_eq!(escape_dn_value("admin,ou=admins"), r"admin\,ou\=admins");
/// ```
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4515 §4's examples, value by value.
    #[test]
    fn r4515_4_examples() {
        assert_eq!(
            escape_filter_value("Parens R Us (for all your parenthetical needs)"),
            r"Parens R Us \28for all your parenthetical needs\29"
        );
        assert_eq!(escape_filter_value("*"), r"\2a");
        assert_eq!(escape_filter_value(r"C:\MyFile"), r"C:\5cMyFile");
        assert_eq!(escape_filter_value("\0\0\0\u{4}"), r"\00\00\00\04");
        assert_eq!(escape_filter_value("Lučić"), r"Lu\c4\8di\c4\87");
        assert_eq!(escape_filter_value("Babs Jensen"), "Babs Jensen");
    }

    #[test]
    fn r4515_3_injection_payloads_stay_values() {
        for (input, escaped) in [
            ("*)(uid=*", r"\2a\29\28uid=\2a"),
            ("admin)(|(uid=*", r"admin\29\28|\28uid=\2a"),
            ("a\0b", r"a\00b"),
            (r"\2a", r"\5c2a"),
            ("x\r\ny", r"x\0d\0ay"),
            ("jürgen", r"j\c3\bcrgen"),
        ] {
            let e = escape_filter_value(input);
            assert_eq!(e, escaped, "{input:?}");
            assert!(!e.contains(['*', '(', ')', '\0']), "{e}");
            let f = format!("(uid={e})");
            assert!(ldap3::parse_filter(&f).is_ok(), "{f} parses");
        }
    }

    /// RFC 4514 §4's examples, value by value.
    #[test]
    fn r4514_4_examples() {
        assert_eq!(escape_dn_value("Steve Kille"), "Steve Kille");
        assert_eq!(
            escape_dn_value(r#"James "Jim" Smith, III"#),
            r#"James \"Jim\" Smith\, III"#
        );
        assert_eq!(escape_dn_value("Before\rAfter"), r"Before\0dAfter");
        assert_eq!(escape_dn_value("Lučić"), "Lučić");
        assert_eq!(escape_dn_value("J.  Smith"), "J.  Smith");
    }

    #[test]
    fn r4514_2_4_specials_leading_and_trailing() {
        assert_eq!(escape_dn_value(r#",+"\<>;="#), r#"\,\+\"\\\<\>\;\="#);
        assert_eq!(escape_dn_value(" x "), r"\ x\ ");
        assert_eq!(escape_dn_value(" "), r"\ ");
        assert_eq!(escape_dn_value("#x#"), r"\#x#");
        assert_eq!(escape_dn_value("a\0b"), r"a\00b");
        assert_eq!(escape_dn_value("*)(uid=*"), r"*)(uid\=*");
        assert_eq!(escape_dn_value(""), "");
    }
}
