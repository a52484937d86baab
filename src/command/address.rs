//! Paths, mailboxes, domains and address literals (RFC 5321 §4.1.2,
//! §4.1.3), with the SMTPUTF8 extensions of RFC 6531 §3.3.
//!
//! The grammar runs over bytes; non-ASCII bytes are accepted where RFC 6531
//! allows `UTF8-non-ascii` (local parts, domain labels) and the result is
//! then checked to be valid UTF-8. Everything borrows from the input.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1, take_while_m_n};
use nom::combinator::recognize;
use nom::multi::many0_count;
use nom::{IResult, Parser};

/// Longest local part accepted, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest domain accepted, in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN_LEN: usize = 255;

type R<'a, O> = IResult<&'a [u8], O>;

/// Why a path, mailbox or domain was refused. The session answers these
/// with `501 5.1.7` (MAIL) or `501 5.1.3` (RCPT); see
/// [`CommandError::reply`](super::CommandError::reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The path is not enclosed in `<` … `>`.
    #[error("address must be enclosed in <>")]
    MissingBracket,
    /// `<>` where a null path is not allowed (RCPT, RFC 5321 §4.1.1.3).
    #[error("null path not allowed here")]
    NullPath,
    /// A source route (`@a,@b:`) that does not follow RFC 5321 §4.1.2.
    #[error("malformed source route")]
    SourceRoute,
    /// The local part is neither a Dot-string nor a Quoted-string.
    #[error("malformed local part")]
    LocalPart,
    /// No `@domain` after the local part.
    #[error("missing @domain")]
    MissingDomain,
    /// The domain is not a sequence of valid sub-domain labels.
    #[error("malformed domain")]
    Domain,
    /// An address literal that is not IPv4, RFC 5321 IPv6 or a general literal.
    #[error("malformed address literal")]
    AddressLiteral,
    /// The local part exceeds 64 octets (RFC 5321 §4.5.3.1.1).
    #[error("local part is {len} octets, more than 64")]
    LocalPartTooLong {
        /// Length of the local part, in octets.
        len: usize,
    },
    /// The domain exceeds 255 octets (RFC 5321 §4.5.3.1.2).
    #[error("domain is {len} octets, more than 255")]
    DomainTooLong {
        /// Length of the domain, in octets.
        len: usize,
    },
    /// Non-ASCII bytes that are not valid UTF-8 (RFC 6531 §3.3).
    #[error("address is not valid UTF-8")]
    InvalidUtf8,
    /// A Unicode control character (C1) in an address (ATK-04).
    #[error("control character in address")]
    ControlCharacter,
    /// Unexpected characters after the address.
    #[error("unexpected characters after the address")]
    TrailingCharacters,
}

/// The domain part of a mailbox, or an EHLO argument: a name or an address
/// literal (RFC 5321 §4.1.3). Literals are decoded so that policy code can
/// compare them with the peer address without parsing again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Domain<'a> {
    /// A domain name as sent, A-labels or U-labels (RFC 6531), not normalised.
    Name(&'a str),
    /// `[192.0.2.1]`.
    Ipv4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`.
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal with a standardized tag.
    General {
        /// The standardized tag before the colon.
        tag: &'a str,
        /// The content after the colon.
        content: &'a str,
    },
}

impl Domain<'_> {
    /// The name, when the domain is not an address literal.
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Domain::Name(n) => Some(n),
            _ => None,
        }
    }
}

/// Writes the RFC 5321 text: the name, or a bracketed literal.
impl fmt::Display for Domain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(n) => f.write_str(n),
            Domain::Ipv4(a) => write!(f, "[{a}]"),
            Domain::Ipv6(a) => write!(f, "[IPv6:{a}]"),
            Domain::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

/// A mailbox `local-part@domain` exactly as the client sent it (RFC 5321
/// §4.1.2), so that logs and policy see the same bytes as the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mailbox<'a> {
    raw: &'a str,
    at: usize,
    domain: Domain<'a>,
}

impl<'a> Mailbox<'a> {
    /// Parses a bare mailbox (no angle brackets), e.g. from configuration or
    /// from a decoded `AUTH=` value, with the same grammar as MAIL and RCPT.
    pub fn parse(input: &'a str) -> Result<Mailbox<'a>, AddressError> {
        let (rest, mailbox) = mailbox(input.as_bytes())?;
        if rest.is_empty() {
            Ok(mailbox)
        } else {
            Err(AddressError::TrailingCharacters)
        }
    }

    /// The local part as sent: a Quoted-string keeps its quotes and
    /// backslashes. Compare mailboxes with this only if you mean "same bytes".
    pub fn local_part(&self) -> &'a str {
        self.raw.get(..self.at).unwrap_or_default()
    }

    /// The local part with the quoting removed (`"a\"b"` → `a"b`); borrows
    /// unless a quoted-pair has to be undone.
    pub fn local_part_unquoted(&self) -> Cow<'a, str> {
        let local = self.local_part();
        let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
            return Cow::Borrowed(local);
        };
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// The domain, decoded (name or address literal).
    pub fn domain(&self) -> &Domain<'a> {
        &self.domain
    }

    /// The domain text as sent, literals with their brackets.
    pub fn domain_str(&self) -> &'a str {
        self.raw.get(self.at + 1..).unwrap_or_default()
    }

    /// The whole mailbox `local@domain` as sent.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True if the mailbox is all ASCII; otherwise MAIL must carry the
    /// `SMTPUTF8` parameter (RFC 6531 §3.4), which the session enforces.
    pub fn is_ascii(&self) -> bool {
        self.raw.is_ascii()
    }

    /// The mailbox as an owned `String`, to keep beyond the input line.
    pub fn to_owned_string(&self) -> String {
        self.raw.to_owned()
    }
}

/// Writes the mailbox as sent; it parses back to an equal [`Mailbox`].
impl fmt::Display for Mailbox<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// The MAIL FROM path: a mailbox, or the null path `<>` used for bounces
/// (RFC 5321 §4.5.5), which submission must never refuse for ownership alone
/// (RFC 6409 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReversePath<'a> {
    /// `<>`.
    Null,
    /// `<mailbox>`; a source route, if any, was dropped.
    Mailbox(Mailbox<'a>),
}

impl<'a> ReversePath<'a> {
    /// The mailbox, unless this is the null path.
    pub fn mailbox(&self) -> Option<&Mailbox<'a>> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => Some(m),
        }
    }
}

/// Writes `<>` or `<mailbox>`.
impl fmt::Display for ReversePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The RCPT TO path: a mailbox, or the bare `<Postmaster>` that every server
/// must accept without a domain (RFC 5321 §4.1.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardPath<'a> {
    /// `<Postmaster>`, any case, no domain.
    Postmaster,
    /// `<mailbox>`; a source route, if any, was dropped.
    Mailbox(Mailbox<'a>),
}

impl<'a> ForwardPath<'a> {
    /// The mailbox, unless this is the bare `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox<'a>> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Mailbox(m) => Some(m),
        }
    }
}

/// Writes `<Postmaster>` or `<mailbox>`.
impl fmt::Display for ForwardPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

// ---------------------------------------------------------------------------
// Character classes (RFC 5321 §4.1.2, RFC 5322 §3.2.3, RFC 6531 §3.3).

/// atext (RFC 5322 §3.2.3) plus UTF8-non-ascii, as a table: the local
/// part is scanned byte by byte on every MAIL and RCPT.
const ATEXT: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c >= 0x80;
        b += 1;
    }
    let specials = b"!#$%&'*+-/=?^_`{|}~";
    let mut k = 0;
    while k < specials.len() {
        t[specials[k] as usize] = true;
        k += 1;
    }
    t
};

fn is_atext(b: u8) -> bool {
    ATEXT[b as usize]
}

/// qtextSMTP: %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii.
fn is_qtext(b: u8) -> bool {
    matches!(b, 32 | 33 | 35..=91 | 93..=126) || b >= 0x80
}

/// The second octet of quoted-pairSMTP: %d32-126.
fn is_quoted_pair_char(b: u8) -> bool {
    (32..=126).contains(&b)
}

/// Let-dig and "-", plus UTF8-non-ascii for U-labels.
fn is_label_char(b: u8) -> bool {
    LABEL[b as usize]
}

/// Let-dig, "-" and UTF8-non-ascii, as a table for the label scan.
const LABEL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c >= 0x80;
        b += 1;
    }
    t
};

/// dcontent: %d33-90 / %d94-126.
fn is_dcontent(b: u8) -> bool {
    matches!(b, 33..=90 | 94..=126)
}

// ---------------------------------------------------------------------------
// Token parsers (nom).

/// Length of the run of bytes at the start of `i` that satisfy `f`.
fn run(i: &[u8], f: impl Fn(u8) -> bool) -> usize {
    i.iter().position(|&b| !f(b)).unwrap_or(i.len())
}

fn fail(i: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Verify))
}

/// Dot-string = Atom *("." Atom). Hand-written (it runs on every MAIL and
/// RCPT); the same grammar as the nom reference in the tests.
fn dot_string(i: &[u8]) -> R<'_, &[u8]> {
    let mut n = run(i, is_atext);
    if n == 0 {
        return Err(fail(i));
    }
    while let Some((b'.', rest)) = i.get(n..).and_then(<[u8]>::split_first) {
        let atom = run(rest, is_atext);
        if atom == 0 {
            break;
        }
        n += 1 + atom;
    }
    Ok((
        i.get(n..).unwrap_or_default(),
        i.get(..n).unwrap_or_default(),
    ))
}

/// Quoted-string = DQUOTE *QcontentSMTP DQUOTE
fn quoted_string(i: &[u8]) -> R<'_, &[u8]> {
    let quoted_pair = recognize((tag("\\"), take_while_m_n(1, 1, is_quoted_pair_char)));
    let content = alt((take_while1(is_qtext), quoted_pair));
    recognize((tag("\""), many0_count(content), tag("\""))).parse(i)
}

fn local_part(i: &[u8]) -> R<'_, &[u8]> {
    alt((dot_string, quoted_string)).parse(i)
}

/// sub-domain = Let-dig [Ldh-str]: the longest run of label characters,
/// refused if it starts or ends with a hyphen (no backtracking to a shorter
/// label). With `underscore`, `_` is allowed too (EHLO from Windows hosts).
fn label_len(i: &[u8], underscore: bool) -> Option<usize> {
    let n = run(i, |b| is_label_char(b) || (underscore && b == b'_'));
    let label = i.get(..n)?;
    match (label.first(), label.last()) {
        (Some(&first), Some(&last)) if first != b'-' && last != b'-' => Some(n),
        _ => None,
    }
}

/// Domain = sub-domain *("." sub-domain). Hand-written, like [`dot_string`].
fn domain_name(i: &[u8], underscore: bool) -> R<'_, &[u8]> {
    let mut n = label_len(i, underscore).ok_or_else(|| fail(i))?;
    while let Some((b'.', rest)) = i.get(n..).and_then(<[u8]>::split_first) {
        match label_len(rest, underscore) {
            Some(l) => n += 1 + l,
            None => break,
        }
    }
    Ok((
        i.get(n..).unwrap_or_default(),
        i.get(..n).unwrap_or_default(),
    ))
}

/// `"[" 1*dcontent "]"`, returning the content.
fn literal_content(i: &[u8]) -> R<'_, &[u8]> {
    let (i, _) = tag("[")(i)?;
    let (i, content) = take_while1(is_dcontent)(i)?;
    let (i, _) = tag("]")(i)?;
    Ok((i, content))
}

// ---------------------------------------------------------------------------
// Address literals (RFC 5321 §4.1.3).

/// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT, 0..=255.
fn ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for octet in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = p.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        *octet = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Number of `IPv6-hex` groups in a `:`-separated list ("" is zero groups).
fn hex_groups(s: &[u8]) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    for g in s.split(|&b| b == b':') {
        if g.is_empty() || g.len() > 4 || !g.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The four IPv6-addr forms of RFC 5321 §4.1.3. Stricter than RFC 4291:
/// `::` stands for at least two groups, so `1:2:3:4:5:6:7::` is refused.
fn ipv6_grammar(s: &[u8]) -> bool {
    // (hex part, groups allowed besides "::", groups of the full form)
    let (hex, max_comp, full) = if s.contains(&b'.') {
        let Some(colon) = s.iter().rposition(|&b| b == b':') else {
            return false;
        };
        let (head, v4) = s.split_at(colon + 1);
        if ipv4(v4).is_none() {
            return false;
        }
        // IPv6v4-full ends "h:" before the IPv4 part, IPv6v4-comp "::" or "h:".
        let hex = if head.ends_with(b"::") {
            head
        } else {
            match head.split_last() {
                Some((_, h)) => h,
                None => return false,
            }
        };
        (hex, 4, 6)
    } else {
        (s, 6, 8)
    };
    match find(hex, b"::") {
        Some(p) => {
            let (left, right) = (hex.get(..p), hex.get(p + 2..));
            let (Some(left), Some(right)) = (left, right) else {
                return false;
            };
            match (hex_groups(left), hex_groups(right)) {
                (Some(l), Some(r)) => l + r <= max_comp,
                _ => false,
            }
        }
        None => hex_groups(hex) == Some(full),
    }
}

/// RFC 5321 grammar first, then std's parser for the value.
fn ipv6(s: &[u8]) -> Option<Ipv6Addr> {
    if !ipv6_grammar(s) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
fn is_ldh_str(s: &[u8]) -> bool {
    s.last().is_some_and(u8::is_ascii_alphanumeric)
        && s.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

fn address_literal(content: &[u8]) -> Result<Domain<'_>, AddressError> {
    let err = AddressError::AddressLiteral;
    let Some(colon) = content.iter().position(|&b| b == b':') else {
        return ipv4(content).map(Domain::Ipv4).ok_or(err);
    };
    let (tag, rest) = content.split_at(colon);
    let rest = rest.get(1..).unwrap_or_default();
    if tag.eq_ignore_ascii_case(b"IPv6") {
        return ipv6(rest).map(Domain::Ipv6).ok_or(err);
    }
    if !is_ldh_str(tag) || rest.is_empty() {
        return Err(err);
    }
    // Both are ASCII by the dcontent grammar.
    let tag = std::str::from_utf8(tag).map_err(|_| err)?;
    let content = std::str::from_utf8(rest).map_err(|_| err)?;
    Ok(Domain::General { tag, content })
}

// ---------------------------------------------------------------------------
// Domains, mailboxes, paths.

/// `Domain / address-literal`; returns the rest, the raw text and the value.
fn domain_part(i: &[u8], underscore: bool) -> Result<(&[u8], &[u8], Domain<'_>), AddressError> {
    let (rest, raw, literal) = domain_scan(i, underscore)?;
    let domain = match literal {
        Some(literal) => literal,
        None => Domain::Name(std::str::from_utf8(raw).map_err(|_| AddressError::InvalidUtf8)?),
    };
    Ok((rest, raw, domain))
}

/// What [`domain_scan`] found: the rest, the raw text, and the decoded
/// literal (`None` for a name).
type Scanned<'a> = (&'a [u8], &'a [u8], Option<Domain<'a>>);

/// [`domain_part`] without the UTF-8 check of a name: returns the rest,
/// the raw text, and the decoded literal (`None` for a name), so that
/// [`mailbox`] validates its whole text as UTF-8 once.
fn domain_scan(i: &[u8], underscore: bool) -> Result<Scanned<'_>, AddressError> {
    if i.first() == Some(&b'[') {
        let (rest, content) = literal_content(i).map_err(|_| AddressError::AddressLiteral)?;
        let raw = i.get(..i.len() - rest.len()).unwrap_or_default();
        if raw.len() > MAX_DOMAIN_LEN {
            return Err(AddressError::DomainTooLong { len: raw.len() });
        }
        return Ok((rest, raw, Some(address_literal(content)?)));
    }
    let (rest, raw) = domain_name(i, underscore).map_err(|_| AddressError::Domain)?;
    // A label that stopped early (trailing dot, trailing hyphen, bad char).
    if let Some(&b) = rest.first() {
        if b == b'.' || b == b'_' || b == b'[' || is_label_char(b) {
            return Err(AddressError::Domain);
        }
    }
    if raw.len() > MAX_DOMAIN_LEN {
        return Err(AddressError::DomainTooLong { len: raw.len() });
    }
    Ok((rest, raw, None))
}

/// Mailbox = Local-part "@" ( Domain / address-literal )
fn mailbox(i: &[u8]) -> Result<(&[u8], Mailbox<'_>), AddressError> {
    let (rest, local) = local_part(i).map_err(|_| AddressError::LocalPart)?;
    let rest = match rest.split_first() {
        Some((b'@', rest)) => rest,
        None | Some((b'>', _)) => return Err(AddressError::MissingDomain),
        Some(_) => return Err(AddressError::LocalPart),
    };
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(AddressError::LocalPartTooLong { len: local.len() });
    }
    let (rest, domain_raw, literal) = domain_scan(rest, false)?;
    let raw = i
        .get(..local.len() + 1 + domain_raw.len())
        .ok_or(AddressError::LocalPart)?;
    let raw = std::str::from_utf8(raw).map_err(|_| AddressError::InvalidUtf8)?;
    if !raw.is_ascii() && raw.chars().any(char::is_control) {
        return Err(AddressError::ControlCharacter);
    }
    let domain = match literal {
        Some(literal) => literal,
        // After the ASCII `@`, so on a character boundary.
        None => Domain::Name(
            raw.get(local.len() + 1..)
                .ok_or(AddressError::InvalidUtf8)?,
        ),
    };
    Ok((
        rest,
        Mailbox {
            raw,
            at: local.len(),
            domain,
        },
    ))
}

/// Skips `A-d-l ":"` (RFC 5321 §4.1.2, Appendix C): accepted, validated and
/// ignored.
fn skip_source_route(i: &[u8]) -> Result<&[u8], AddressError> {
    if i.first() != Some(&b'@') {
        return Ok(i);
    }
    let mut rest = i;
    loop {
        rest = rest.strip_prefix(b"@").ok_or(AddressError::SourceRoute)?;
        let (after, _, _) = domain_part(rest, false).map_err(|_| AddressError::SourceRoute)?;
        match after.split_first() {
            Some((b',', r)) => rest = r,
            Some((b':', r)) => return Ok(r),
            _ => return Err(AddressError::SourceRoute),
        }
    }
}

/// `[ A-d-l ":" ] Mailbox ">"`, after the opening bracket.
fn path_body(i: &[u8]) -> Result<(&[u8], Mailbox<'_>), AddressError> {
    let i = skip_source_route(i)?;
    let (rest, mailbox) = mailbox(i)?;
    match rest.split_first() {
        Some((b'>', rest)) => Ok((rest, mailbox)),
        None => Err(AddressError::MissingBracket),
        Some(_) => Err(AddressError::TrailingCharacters),
    }
}

/// Reverse-path = Path / "<>"; returns what follows the closing bracket.
pub(crate) fn reverse_path(i: &[u8]) -> Result<(&[u8], ReversePath<'_>), AddressError> {
    let inner = i.strip_prefix(b"<").ok_or(AddressError::MissingBracket)?;
    if let Some(rest) = inner.strip_prefix(b">") {
        return Ok((rest, ReversePath::Null));
    }
    let (rest, mailbox) = path_body(inner)?;
    Ok((rest, ReversePath::Mailbox(mailbox)))
}

/// Forward-path = Path, or `<Postmaster>` (any case); returns what follows
/// the closing bracket.
pub(crate) fn forward_path(i: &[u8]) -> Result<(&[u8], ForwardPath<'_>), AddressError> {
    let inner = i.strip_prefix(b"<").ok_or(AddressError::MissingBracket)?;
    if inner.first() == Some(&b'>') {
        return Err(AddressError::NullPath);
    }
    let postmaster: R<'_, &[u8]> = tag_no_case("postmaster>")(inner);
    if let Ok((rest, _)) = postmaster {
        return Ok((rest, ForwardPath::Postmaster));
    }
    let (rest, mailbox) = path_body(inner)?;
    Ok((rest, ForwardPath::Mailbox(mailbox)))
}

/// The EHLO/HELO argument: exactly one `Domain / address-literal`, with `_`
/// tolerated in labels. Returns the raw text.
pub(crate) fn hello_domain(i: &[u8]) -> Result<&str, AddressError> {
    let (rest, raw, _) = domain_scan(i, true)?;
    // The UTF-8 check first, as for any domain, then what follows it.
    let text = std::str::from_utf8(raw).map_err(|_| AddressError::InvalidUtf8)?;
    if !rest.is_empty() {
        return Err(AddressError::TrailingCharacters);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nom grammar that `dot_string`, `label_len` and `domain_name`
    /// replaced, kept as the oracle they are checked against.
    mod reference {
        use super::super::{is_atext, is_label_char, R};
        use nom::bytes::complete::{tag, take_while1};
        use nom::combinator::{recognize, verify};
        use nom::multi::many0_count;
        use nom::Parser;

        fn atom(i: &[u8]) -> R<'_, &[u8]> {
            take_while1(is_atext)(i)
        }

        pub(super) fn dot_string(i: &[u8]) -> R<'_, &[u8]> {
            recognize((atom, many0_count((tag("."), atom)))).parse(i)
        }

        fn label(underscore: bool) -> impl FnMut(&[u8]) -> R<'_, &[u8]> {
            move |i| {
                verify(
                    take_while1(move |b| is_label_char(b) || (underscore && b == b'_')),
                    |l: &[u8]| l.first() != Some(&b'-') && l.last() != Some(&b'-'),
                )
                .parse(i)
            }
        }

        pub(super) fn domain_name(i: &[u8], underscore: bool) -> R<'_, &[u8]> {
            recognize((
                label(underscore),
                many0_count((tag("."), label(underscore))),
            ))
            .parse(i)
        }
    }

    fn same(a: R<'_, &[u8]>, b: R<'_, &[u8]>) -> bool {
        match (a, b) {
            (Ok(x), Ok(y)) => x == y,
            (Err(_), Err(_)) => true,
            _ => false,
        }
    }

    proptest::proptest! {
        #[test]
        fn hand_written_scanners_match_the_nom_grammar(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"aZ09-._@!#~\"[]<> :\xc3\xa9\x80\x7f\x00".to_vec()),
                0..24,
            )
        ) {
            proptest::prop_assert!(same(dot_string(&bytes), reference::dot_string(&bytes)));
            for u in [false, true] {
                proptest::prop_assert!(same(domain_name(&bytes, u), reference::domain_name(&bytes, u)));
            }
        }
    }

    #[test]
    fn label_table_matches_the_definition() {
        for b in 0..=255u8 {
            let def = b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80;
            assert_eq!(is_label_char(b), def, "{b:#x}");
        }
    }

    #[test]
    fn atext_table_matches_the_definition() {
        for b in 0..=255u8 {
            let def = b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80;
            assert_eq!(is_atext(b), def, "{b:#x}");
        }
    }

    fn v6(s: &str) -> Option<Ipv6Addr> {
        ipv6(s.as_bytes())
    }

    #[test]
    fn r5321_4_1_3_ipv6_forms() {
        // IPv6-full
        assert!(v6("2001:db8:0:0:0:0:0:1").is_some());
        // IPv6-comp
        assert_eq!(v6("2001:db8::1"), "2001:db8::1".parse().ok());
        assert!(v6("::").is_some());
        assert!(v6("::1").is_some());
        assert!(v6("1::").is_some());
        assert!(v6("1:2:3::6:7:8").is_some()); // 6 groups besides "::"
                                               // IPv6v4-full and IPv6v4-comp
        assert!(v6("0:0:0:0:0:ffff:192.0.2.1").is_some());
        assert_eq!(v6("::ffff:192.0.2.1"), "::ffff:192.0.2.1".parse().ok());
        assert!(v6("::192.0.2.1").is_some());
        assert!(v6("1:2::3:4:192.0.2.1").is_some());
    }

    #[test]
    fn r5321_4_1_3_ipv6_rejects() {
        for bad in [
            "",
            ":",
            ":::",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::", // "::" must stand for at least 2 groups
            "::1:2:3:4:5:6:7",
            "1::2::3",
            "12345::",
            "g::",
            "1:::2",
            "::ffff:1.2.3",
            "::ffff:1.2.3.256",
            "1:2:3:4:5::1.2.3.4", // more than 4 groups besides "::" in v4-comp
            "1:2:3:4:5:1.2.3.4",
            ":1.2.3.4",
            "1:::1.2.3.4",
        ] {
            assert_eq!(v6(bad), None, "{bad}");
        }
    }

    #[test]
    fn r5321_4_1_3_ipv4_snum() {
        assert_eq!(ipv4(b"192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(ipv4(b"010.0.0.255"), Some(Ipv4Addr::new(10, 0, 0, 255)));
        for bad in [
            &b"1.2.3"[..],
            b"1.2.3.4.5",
            b"256.1.1.1",
            b"1..2.3",
            b"1.2.3.0001",
            b"",
        ] {
            assert_eq!(ipv4(bad), None);
        }
    }

    #[test]
    fn r5321_4_1_2_mailbox_parse_exact() {
        let m = Mailbox::parse("user@example.com").unwrap();
        assert_eq!(m.local_part(), "user");
        assert_eq!(m.domain_str(), "example.com");
        assert_eq!(
            Mailbox::parse("user@example.com x"),
            Err(AddressError::TrailingCharacters)
        );
        assert_eq!(Mailbox::parse("user"), Err(AddressError::MissingDomain));
        assert_eq!(Mailbox::parse(""), Err(AddressError::LocalPart));
        assert_eq!(
            Mailbox::parse("a\u{85}b@x"),
            Err(AddressError::ControlCharacter)
        );
    }
}
