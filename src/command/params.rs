//! ESMTP parameters on MAIL and RCPT (RFC 5321 §4.1.2 `esmtp-param`).
//!
//! The parameters this crate itself understands on MAIL (`SIZE`, RFC 1870;
//! `BODY`, RFC 6152 / RFC 3030; `AUTH`, RFC 4954 §5; `SMTPUTF8`, RFC 6531)
//! are decoded into fields. Everything else (DSN's `NOTIFY`, `ORCPT`, `RET`,
//! `ENVID`, …) is kept as [`Params`] for the session or policy to accept or
//! refuse with `555`.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::address::{AddressError, Mailbox};
use super::xtext::{self, XtextError};
use crate::reply::Reply;

/// Most parameters accepted on one MAIL or RCPT line. Real clients send a
/// handful; the cap keeps the duplicate check cheap on hostile input.
pub const MAX_PARAMS: usize = 32;

/// The MAIL parameters decoded into [`MailParams`] fields.
const MAIL_KEYWORDS: [&str; 4] = ["SIZE", "BODY", "AUTH", "SMTPUTF8"];

/// Why an ESMTP parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Not `keyword[=value]` (RFC 5321 §4.1.2), e.g. `KEY=` or `=x`.
    #[error("malformed parameter")]
    Syntax,
    /// A parameter value is not valid UTF-8 (RFC 6531 §3.3).
    #[error("parameter is not valid UTF-8")]
    InvalidUtf8,
    /// The same keyword twice (keywords compare case-insensitively).
    #[error("parameter given twice")]
    Duplicate,
    /// More than [`MAX_PARAMS`] parameters.
    #[error("too many parameters")]
    TooMany,
    /// `SIZE` without a decimal value (RFC 1870 §3).
    #[error("SIZE needs a decimal value")]
    Size,
    /// `SIZE` larger than any message this crate can count.
    #[error("SIZE value too large")]
    SizeOverflow,
    /// `BODY` other than `7BIT`, `8BITMIME` or `BINARYMIME`.
    #[error("unknown BODY value")]
    Body,
    /// `SMTPUTF8` with a value (RFC 6531 §3.4 defines none).
    #[error("SMTPUTF8 takes no value")]
    Smtputf8Value,
    /// A malformed `AUTH=` (RFC 4954 §5).
    #[error("malformed AUTH= parameter: {0}")]
    Auth(AuthParamError),
    /// A MAIL-only parameter (`SIZE`, `BODY`, `AUTH`, `SMTPUTF8`) on RCPT.
    #[error("{keyword} is not a RCPT parameter")]
    NotAllowed {
        /// The keyword, upper-case.
        keyword: &'static str,
    },
}

impl ParamError {
    /// The reply for this error: `501 5.5.4` for syntax, the REPLY-19 text
    /// for `AUTH=`, `552 5.3.4` for an impossible SIZE (RFC 1870 §6) and
    /// `555 5.5.4` for a parameter that does not belong on RCPT.
    pub fn reply(&self) -> Reply {
        match self {
            ParamError::SizeOverflow => Reply::SIZE_TOO_LARGE,
            ParamError::Auth(_) => Reply::AUTH_PARAM_MALFORMED,
            ParamError::NotAllowed { .. } => Reply::PARAMETER_NOT_IMPLEMENTED,
            _ => Reply::ARGUMENT_ERROR,
        }
    }
}

/// Why an `AUTH=` value was refused (RFC 4954 §5, R4954-5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuthParamError {
    /// `AUTH` without `=value`.
    #[error("missing value")]
    MissingValue,
    /// The value is not valid xtext.
    #[error("{0}")]
    Xtext(XtextError),
    /// The decoded value is neither `<>` nor a mailbox.
    #[error("not a mailbox or <>: {0}")]
    NotMailbox(AddressError),
}

/// The `BODY=` value (RFC 6152 `8BITMIME`, RFC 3030 `BINARYMIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Body {
    /// `7BIT`.
    SevenBit,
    /// `8BITMIME`.
    EightBitMime,
    /// `BINARYMIME` (only with BDAT, RFC 3030 §3).
    BinaryMime,
}

impl Body {
    /// The keyword value as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

/// The decoded `AUTH=` value on MAIL (RFC 4954 §5). It is only a claim by
/// the client; the policy decides whether to trust it (R4954-5.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthParam<'a> {
    /// `AUTH=<>`: the submitter is unknown or not to be disclosed.
    Null,
    /// An xtext-decoded mailbox; borrows unless `+XX` escapes were decoded.
    Mailbox(Cow<'a, str>),
}

impl AuthParam<'_> {
    /// The mailbox, parsed, unless this is `AUTH=<>`.
    pub fn mailbox(&self) -> Option<Mailbox<'_>> {
        match self {
            AuthParam::Null => None,
            AuthParam::Mailbox(m) => Mailbox::parse(m).ok(),
        }
    }
}

/// The parameters of a MAIL command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MailParams<'a> {
    /// `SIZE=` declared message size in octets (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// `AUTH=` (RFC 4954 §5).
    pub auth: Option<AuthParam<'a>>,
    /// `SMTPUTF8` was given (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// Every other parameter, for the session or policy to judge.
    pub other: Params<'a>,
}

/// The parameters of a RCPT command; none is decoded here (DSN's `NOTIFY`
/// and `ORCPT` are policy matters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RcptParams<'a> {
    /// All parameters, for the session or policy to judge.
    pub other: Params<'a>,
}

/// Parameters not decoded by this crate, without allocating: the validated
/// parameter text is kept and re-scanned on [`Params::iter`]. Two values are
/// equal when they yield the same `(keyword, value)` pairs.
#[derive(Clone, Copy, Default)]
pub struct Params<'a> {
    raw: &'a str,
    skip_mail_keywords: bool,
}

impl<'a> Params<'a> {
    /// Each parameter as `(keyword, value)`, in the order sent, keyword case
    /// as sent.
    pub fn iter(&self) -> ParamsIter<'a> {
        ParamsIter {
            tokens: self.raw.split(' '),
            skip_mail_keywords: self.skip_mail_keywords,
        }
    }

    /// True if there are no such parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Looks a keyword up, case-insensitively: `None` if absent,
    /// `Some(None)` if given without a value.
    pub fn get(&self, keyword: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v)
    }
}

impl<'a> IntoIterator for &Params<'a> {
    type Item = (&'a str, Option<&'a str>);
    type IntoIter = ParamsIter<'a>;

    fn into_iter(self) -> ParamsIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Params<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Params<'_> {}

impl Hash for Params<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for pair in self.iter() {
            pair.hash(state);
        }
        self.len().hash(state);
    }
}

/// Iterator over [`Params`], yielding `(keyword, value)`.
#[derive(Debug, Clone)]
pub struct ParamsIter<'a> {
    tokens: std::str::Split<'a, char>,
    skip_mail_keywords: bool,
}

impl<'a> Iterator for ParamsIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let token = self.tokens.next()?;
            if token.is_empty() {
                continue;
            }
            let (keyword, value) = split_param(token);
            if self.skip_mail_keywords && is_mail_keyword(keyword).is_some() {
                continue;
            }
            return Some((keyword, value));
        }
    }
}

fn split_param(token: &str) -> (&str, Option<&str>) {
    match token.as_bytes().iter().position(|&b| b == b'=') {
        // `=` is ASCII, so both sides are on character boundaries.
        Some(eq) => (token.get(..eq).unwrap_or_default(), token.get(eq + 1..)),
        None => (token, None),
    }
}

fn is_mail_keyword(keyword: &str) -> Option<&'static str> {
    if keyword.len() != 4 && keyword.len() != 8 {
        return None;
    }
    MAIL_KEYWORDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(keyword))
        .copied()
}

/// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii (RFC 6531).
fn is_value_byte(b: u8) -> bool {
    matches!(b, 33..=60 | 62..=126) || b >= 0x80
}

/// esmtp-param = esmtp-keyword ["=" esmtp-value];
/// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
#[cfg(test)]
fn esmtp_param(i: &[u8]) -> bool {
    let Some((&first, rest)) = i.split_first() else {
        return false;
    };
    if !first.is_ascii_alphanumeric() {
        return false;
    }
    let keyword = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(rest.len());
    match rest.get(keyword..).and_then(<[u8]>::split_first) {
        None => true,
        Some((b'=', value)) => !value.is_empty() && value.iter().all(|&b| is_value_byte(b)),
        Some(_) => false,
    }
}

/// Validates every parameter and checks for duplicates; calls `each` for
/// every `(keyword, value)`.
fn scan<'a>(
    raw: &'a [u8],
    mut each: impl FnMut(&'a str, Option<&'a str>) -> Result<(), ParamError>,
) -> Result<&'a str, ParamError> {
    let text = std::str::from_utf8(raw).map_err(|_| ParamError::InvalidUtf8)?;
    let mut seen: [&str; MAX_PARAMS] = [""; MAX_PARAMS];
    let mut count = 0;
    let at = |i: usize| raw.get(i).copied();
    let mut i = 0;
    // One pass over the bytes: each space-separated token must be a whole
    // esmtp-param (the grammar of `esmtp_param`), then it is sliced out of
    // the validated text (spaces and `=` are ASCII: character boundaries).
    while let Some(b) = at(i) {
        if b == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        if !b.is_ascii_alphanumeric() {
            return Err(ParamError::Syntax);
        }
        i += 1;
        while at(i).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-') {
            i += 1;
        }
        let keyword_end = i;
        let mut value_start = None;
        if at(i) == Some(b'=') {
            i += 1;
            value_start = Some(i);
            while at(i).is_some_and(is_value_byte) {
                i += 1;
            }
            if Some(i) == value_start {
                return Err(ParamError::Syntax);
            }
        }
        if at(i).is_some_and(|b| b != b' ') {
            return Err(ParamError::Syntax);
        }
        let keyword = text.get(start..keyword_end).ok_or(ParamError::Syntax)?;
        let value = match value_start {
            Some(v) => Some(text.get(v..i).ok_or(ParamError::InvalidUtf8)?),
            None => None,
        };
        let earlier = seen.get(..count).unwrap_or_default();
        if earlier.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
            return Err(ParamError::Duplicate);
        }
        let slot = seen.get_mut(count).ok_or(ParamError::TooMany)?;
        *slot = keyword;
        count += 1;
        each(keyword, value)?;
    }
    Ok(text)
}

fn decimal(value: &str) -> Result<u64, ParamError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::Size);
    }
    value.bytes().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(ParamError::SizeOverflow)
    })
}

fn auth_param(value: Option<&str>) -> Result<AuthParam<'_>, AuthParamError> {
    let value = value.ok_or(AuthParamError::MissingValue)?;
    let decoded = xtext::decode(value.as_bytes()).map_err(AuthParamError::Xtext)?;
    if decoded == "<>" {
        return Ok(AuthParam::Null);
    }
    Mailbox::parse(&decoded).map_err(AuthParamError::NotMailbox)?;
    Ok(AuthParam::Mailbox(decoded))
}

/// Parses the parameters after the MAIL path.
pub(crate) fn mail_params(raw: &[u8]) -> Result<MailParams<'_>, ParamError> {
    let mut params = MailParams::default();
    let raw = scan(raw, |keyword, value| {
        match is_mail_keyword(keyword) {
            Some("SIZE") => params.size = Some(decimal(value.ok_or(ParamError::Size)?)?),
            Some("BODY") => {
                let value = value.ok_or(ParamError::Body)?;
                params.body = Some(
                    [Body::SevenBit, Body::EightBitMime, Body::BinaryMime]
                        .into_iter()
                        .find(|b| b.as_str().eq_ignore_ascii_case(value))
                        .ok_or(ParamError::Body)?,
                );
            }
            Some("AUTH") => params.auth = Some(auth_param(value).map_err(ParamError::Auth)?),
            Some("SMTPUTF8") => {
                if value.is_some() {
                    return Err(ParamError::Smtputf8Value);
                }
                params.smtputf8 = true;
            }
            _ => {}
        }
        Ok(())
    })?;
    params.other = Params {
        raw,
        skip_mail_keywords: true,
    };
    Ok(params)
}

/// Parses the parameters after the RCPT path.
pub(crate) fn rcpt_params(raw: &[u8]) -> Result<RcptParams<'_>, ParamError> {
    let raw = scan(raw, |keyword, _| match is_mail_keyword(keyword) {
        Some(keyword) => Err(ParamError::NotAllowed { keyword }),
        None => Ok(()),
    })?;
    Ok(RcptParams {
        other: Params {
            raw,
            skip_mail_keywords: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nom grammar `esmtp_param` replaced, kept as its oracle.
    fn reference(i: &[u8]) -> bool {
        use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
        use nom::combinator::{all_consuming, opt, recognize};
        use nom::sequence::preceded;
        use nom::{IResult, Parser};
        let keyword = recognize((
            take_while_m_n(1, 1, |b: u8| b.is_ascii_alphanumeric()),
            take_while(|b: u8| b.is_ascii_alphanumeric() || b == b'-'),
        ));
        let value = opt(preceded(tag("="), take_while1(is_value_byte)));
        let parsed: IResult<&[u8], _> = all_consuming((keyword, value)).parse(i);
        parsed.is_ok()
    }

    /// `scan` on one token accepts exactly what the grammar accepts.
    fn scan_accepts(token: &[u8]) -> bool {
        // Only tokens without spaces: `scan` splits on them.
        scan(token, |_, _| Ok(())).is_ok()
    }

    proptest::proptest! {
        #[test]
        fn scan_matches_the_nom_grammar(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"aZ09-=;,+<>\x7f\x1f\xc3\xa9".to_vec()),
                1..16,
            )
        ) {
            let utf8 = std::str::from_utf8(&bytes).is_ok();
            proptest::prop_assert_eq!(scan_accepts(&bytes), utf8 && reference(&bytes));
        }

        #[test]
        fn esmtp_param_matches_the_nom_grammar(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"aZ09-=;,+ <>\x7f\x1f\xc3\xa9".to_vec()),
                0..16,
            )
        ) {
            proptest::prop_assert_eq!(esmtp_param(&bytes), reference(&bytes));
        }
    }
}
