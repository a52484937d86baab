//! Strict base64 for SASL profiles (RFC 4954 §4, RFC 4648 §4).
//!
//! SMTP carries every SASL challenge and response as base64. Being lenient
//! here is how decoders grew exploitable quirks (ATK-05), and how two
//! parsers came to disagree about the same bytes, so decoding accepts only
//! the canonical encoding: the standard alphabet, no whitespace or line
//! breaks, `=` padding only at the end and only as much as the length needs,
//! and no stray bits in the last symbol (R4954-4.11, R4954-4.12). The single
//! `=` that RFC 4954 uses for an empty initial response decodes to nothing
//! (R4954-4.9).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, DecodeError, Engine as _};

/// The strict engine: canonical padding required, trailing bits rejected.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Why a base64 string was refused. It carries offsets, never the offending
/// byte: the input may be part of a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A byte outside the base64 alphabet (whitespace included), or `=`
    /// somewhere other than the end.
    #[error("invalid base64 symbol at offset {offset}")]
    InvalidSymbol {
        /// Offset of the offending byte in the input.
        offset: usize,
    },
    /// The input length cannot be the encoding of any byte string.
    #[error("invalid base64 length")]
    InvalidLength,
    /// Missing, superfluous or misplaced `=` padding.
    #[error("invalid base64 padding")]
    InvalidPadding,
    /// The last symbol carries bits the decoded bytes do not use: a
    /// non-canonical encoding (e.g. `QR==` instead of `QQ==`).
    #[error("non-canonical base64 encoding")]
    NonCanonical,
}

impl From<DecodeError> for Base64Error {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::InvalidByte(offset, _) => Base64Error::InvalidSymbol { offset },
            DecodeError::InvalidLength(_) => Base64Error::InvalidLength,
            DecodeError::InvalidLastSymbol { .. } => Base64Error::NonCanonical,
            DecodeError::InvalidPadding => Base64Error::InvalidPadding,
        }
    }
}

/// Decodes a SASL response or challenge. `=` alone (RFC 4954's empty
/// initial response) and the empty string both decode to no bytes.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if input == b"=" {
        return Ok(Vec::new());
    }
    Ok(STRICT.decode(input)?)
}

/// Encodes bytes as padded standard base64. Note that an *empty initial
/// response* must go on the wire as `=` (RFC 4954 §4); this returns the
/// empty string, which is right for every other use.
pub fn encode(input: &[u8]) -> String {
    STRICT.encode(input)
}

/// Appends the padded standard base64 of `input` to `out`, so a reply line
/// can be built without an extra allocation.
pub fn encode_into(input: &[u8], out: &mut String) {
    STRICT.encode_string(input, out);
}

/// The exact number of characters [`encode`] produces for `len` bytes,
/// for checking a line limit before encoding.
pub const fn encoded_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4954_4_9_single_equals_is_empty() {
        assert_eq!(decode(b"="), Ok(Vec::new()));
        assert_eq!(decode(b""), Ok(Vec::new()));
    }

    #[test]
    fn decodes_canonical_forms() {
        assert_eq!(decode(b"QQ=="), Ok(b"A".to_vec()));
        assert_eq!(decode(b"QUI="), Ok(b"AB".to_vec()));
        assert_eq!(decode(b"QUJD"), Ok(b"ABC".to_vec()));
        assert_eq!(decode(b"VXNlcm5hbWU6"), Ok(b"Username:".to_vec()));
        assert_eq!(decode(b"+/+/"), Ok(vec![0xfb, 0xff, 0xbf]));
    }

    #[test]
    fn r4954_4_12_padding_only_at_the_end() {
        assert_eq!(
            decode(b"=AAA"),
            Err(Base64Error::InvalidSymbol { offset: 0 })
        );
        assert!(decode(b"AAA=BBB").is_err());
        assert!(decode(b"AAA=BBBB").is_err());
        assert!(decode(b"QQ==QQ==").is_err());
        assert!(decode(b"==").is_err());
        assert!(decode(b"====").is_err());
    }

    #[test]
    fn r4954_4_12_wrong_padding_is_rejected() {
        // Missing padding.
        assert_eq!(decode(b"QQ"), Err(Base64Error::InvalidPadding));
        assert_eq!(decode(b"QUI"), Err(Base64Error::InvalidPadding));
        // Too much padding.
        assert!(decode(b"QUJD====").is_err());
        assert!(decode(b"QUI==").is_err());
        assert!(decode(b"QQ=").is_err());
        assert!(decode(b"Q===").is_err());
        // A lone symbol can never be valid.
        assert!(decode(b"Q").is_err());
    }

    #[test]
    fn r4954_4_12_whitespace_and_foreign_bytes_are_rejected() {
        for bad in [
            &b"QUJD "[..],
            b" QUJD",
            b"QU JD",
            b"QUJD\r\n",
            b"QU\nJD",
            b"QU\tJD",
            b"QUJ-",
            b"QUJ_",
            b"QUJ.",
            b"QUJ\x00",
            b"QUJ\xc3",
            b"*",
        ] {
            assert!(
                matches!(decode(bad), Err(Base64Error::InvalidSymbol { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        assert_eq!(decode(b"QR=="), Err(Base64Error::NonCanonical));
        assert_eq!(decode(b"QUJ="), Err(Base64Error::NonCanonical));
        assert_eq!(decode(b"QUK="), Err(Base64Error::NonCanonical));
        assert_eq!(decode(b"QUI="), Ok(b"AB".to_vec()));
    }

    #[test]
    fn error_never_shows_the_offending_byte() {
        let e = decode(b"abc\x7f").unwrap_err();
        assert_eq!(e.to_string(), "invalid base64 symbol at offset 3");
        assert_eq!(format!("{e:?}"), "InvalidSymbol { offset: 3 }");
    }

    #[test]
    fn encode_is_padded_standard() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"A"), "QQ==");
        assert_eq!(encode(b"Password:"), "UGFzc3dvcmQ6");
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        let mut s = String::from("334 ");
        encode_into(b"Username:", &mut s);
        assert_eq!(s, "334 VXNlcm5hbWU6");
        for n in 0..10 {
            assert_eq!(encoded_len(n), encode(&vec![0u8; n]).len());
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let s = encode(&bytes);
            proptest::prop_assert_eq!(decode(s.as_bytes()), Ok(bytes));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
