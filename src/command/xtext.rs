//! xtext (RFC 3461 §4), the encoding of the `AUTH=` parameter on MAIL
//! (RFC 4954 §5) and of DSN's `ORCPT=` / `ENVID=`.
//!
//! ```text
//! xtext   = *( xchar / hexchar )
//! xchar   = any ASCII CHAR between "!" (33) and "~" (126) inclusive, except "+" and "="
//! hexchar = "+" 2(DIGIT / %x41-46)    ; upper-case hex only
//! ```
//!
//! Decoding is strict because the decoded value is an identity that ends up
//! in logs and headers: a decoded control character (NUL, CR, LF, DEL, C1)
//! is refused, which closes the Exim "21Nails" class of bugs (ATK-04).

use std::borrow::Cow;

/// Why an xtext value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum XtextError {
    /// A byte outside `!`..`~`, or a literal `=`, at this offset.
    #[error("character not allowed in xtext at offset {at}")]
    InvalidChar {
        /// Offset of the offending byte in the encoded input.
        at: usize,
    },
    /// A `+` not followed by two upper-case hex digits, at this offset.
    #[error("malformed +XX escape in xtext at offset {at}")]
    BadEscape {
        /// Offset of the `+` in the encoded input.
        at: usize,
    },
    /// The decoded value holds a control character (C0, DEL or C1).
    #[error("decoded xtext contains a control character")]
    ControlCharacter,
    /// The decoded bytes are not UTF-8.
    #[error("decoded xtext is not valid UTF-8")]
    InvalidUtf8,
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_xchar(b: u8) -> bool {
    (33..=126).contains(&b) && b != b'+' && b != b'='
}

/// Decodes xtext. Borrows when the input holds no `+XX` escape, so the
/// common `AUTH=<>` / `AUTH=user@example.com` cost no allocation.
pub fn decode(input: &[u8]) -> Result<Cow<'_, str>, XtextError> {
    // Pass 1: validate the encoding and find out whether anything must change.
    let mut escapes = false;
    let mut pos = 0;
    while let Some(&b) = input.get(pos) {
        if b == b'+' {
            let hi = input.get(pos + 1).copied().and_then(hex_value);
            let lo = input.get(pos + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(XtextError::BadEscape { at: pos });
            };
            let v = hi << 4 | lo;
            if v < 0x20 || v == 0x7f {
                return Err(XtextError::ControlCharacter);
            }
            escapes = true;
            pos += 3;
        } else if is_xchar(b) {
            pos += 1;
        } else {
            return Err(XtextError::InvalidChar { at: pos });
        }
    }
    if !escapes {
        // Only xchars: printable ASCII, hence UTF-8.
        return std::str::from_utf8(input)
            .map(Cow::Borrowed)
            .map_err(|_| XtextError::InvalidUtf8);
    }
    // Pass 2: decode (input validated above).
    let mut out = Vec::with_capacity(input.len());
    let mut pos = 0;
    while let Some(&b) = input.get(pos) {
        if b == b'+' {
            let hi = input.get(pos + 1).copied().and_then(hex_value);
            let lo = input.get(pos + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(XtextError::BadEscape { at: pos });
            };
            out.push(hi << 4 | lo);
            pos += 3;
        } else {
            out.push(b);
            pos += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| XtextError::InvalidUtf8)?;
    if s.chars().any(char::is_control) {
        return Err(XtextError::ControlCharacter);
    }
    Ok(Cow::Owned(s))
}

/// Encodes a string as xtext, e.g. to pass `AUTH=` on when relaying
/// (RFC 4954 §5). Borrows when nothing needs escaping. Every byte outside
/// `!`..`~`, and `+` and `=`, becomes `+XX` (UTF-8 bytes one by one).
/// Control characters are encoded too, but [`decode`] refuses them.
pub fn encode(input: &str) -> Cow<'_, str> {
    if input.bytes().all(is_xchar) {
        return Cow::Borrowed(input);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len() + 8);
    for b in input.bytes() {
        if is_xchar(b) {
            out.push(char::from(b));
        } else {
            out.push('+');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r3461_4_plain_xtext_borrows() {
        assert!(matches!(
            decode(b"user@example.com"),
            Ok(Cow::Borrowed("user@example.com"))
        ));
        assert!(matches!(decode(b"<>"), Ok(Cow::Borrowed("<>"))));
        assert!(matches!(decode(b""), Ok(Cow::Borrowed(""))));
    }

    #[test]
    fn r3461_4_hexchar_decodes() {
        assert_eq!(decode(b"e+3Dmc2@example.com").unwrap(), "e=mc2@example.com");
        assert_eq!(decode(b"a+2Bb@x").unwrap(), "a+b@x");
        assert_eq!(decode(b"+C3+A9@x").unwrap(), "é@x");
        assert!(matches!(decode(b"a+2Bb"), Ok(Cow::Owned(_))));
    }

    #[test]
    fn r3461_4_rejects_bad_escapes() {
        assert_eq!(decode(b"a+2b"), Err(XtextError::BadEscape { at: 1 }));
        assert_eq!(decode(b"a+2"), Err(XtextError::BadEscape { at: 1 }));
        assert_eq!(decode(b"+"), Err(XtextError::BadEscape { at: 0 }));
        assert_eq!(decode(b"+G0"), Err(XtextError::BadEscape { at: 0 }));
    }

    #[test]
    fn r3461_4_rejects_literal_specials() {
        assert_eq!(decode(b"a=b"), Err(XtextError::InvalidChar { at: 1 }));
        assert_eq!(decode(b"a b"), Err(XtextError::InvalidChar { at: 1 }));
        assert_eq!(
            decode("é".as_bytes()),
            Err(XtextError::InvalidChar { at: 0 })
        );
        assert_eq!(decode(b"a\x7f"), Err(XtextError::InvalidChar { at: 1 }));
    }

    #[test]
    fn atk_04_decoded_controls_are_refused() {
        for bad in [&b"a+0Db"[..], b"+0A", b"+00", b"+7F", b"+1F", b"+C2+85"] {
            assert_eq!(decode(bad), Err(XtextError::ControlCharacter), "{bad:?}");
        }
        assert_eq!(decode(b"+FF"), Err(XtextError::InvalidUtf8));
    }

    #[test]
    fn r3461_4_encode() {
        assert!(matches!(encode("user@example.com"), Cow::Borrowed(_)));
        assert_eq!(encode("e=mc2+x y"), "e+3Dmc2+2Bx+20y");
        assert_eq!(encode("é"), "+C3+A9");
        assert_eq!(decode(encode("a+b=c é").as_bytes()).unwrap(), "a+b=c é");
    }
}
