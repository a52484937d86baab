//! Thin wrappers over the RustCrypto primitives the mechanisms share:
//! HMAC over several parts, constant-time comparison and hex.

use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// A keyed HMAC instance. HMAC takes keys of every length (RFC 2104 §2), so
/// `new_from_slice` cannot fail; the fallback only exists so that no panic
/// path is left, and a zero key makes every verification fail safely.
#[cfg_attr(not(feature = "scram"), allow(dead_code))]
fn keyed<D: EagerHash>(key: &[u8]) -> Hmac<D> {
    match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => <Hmac<D> as KeyInit>::new(&Default::default()),
    }
}

/// HMAC-`D`(key, concatenation of `parts`).
#[cfg_attr(not(feature = "scram"), allow(dead_code))]
pub(crate) fn hmac<D: EagerHash>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = keyed::<D>(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time equality (ATK-06). Lengths are not secret and a length
/// mismatch is simply unequal.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Lower-case hex, as CRAM-MD5 digests and Dovecot secrets are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The value of one hex digit; `lower_only` refuses `A`–`F`.
pub(crate) fn hex_value(c: u8, lower_only: bool) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if !lower_only => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex into exactly `N` bytes.
pub(crate) fn unhex<const N: usize>(s: &[u8], lower_only: bool) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (hex_value(*hi, lower_only)?, hex_value(*lo, lower_only)?),
            _ => return None,
        };
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_rfc2104_vector() {
        // RFC 2104 appendix / RFC 2202 test case 2.
        let mac = hmac::<md5::Md5>(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex(&mac), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex::<3>(b"00abff", true), Some([0x00, 0xab, 0xff]));
        assert_eq!(unhex::<3>(b"00ABFF", true), None);
        assert_eq!(unhex::<3>(b"00ABFF", false), Some([0x00, 0xab, 0xff]));
        assert_eq!(unhex::<3>(b"00abf", false), None);
        assert_eq!(unhex::<3>(b"00abfg", false), None);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
