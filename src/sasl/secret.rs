//! Stored-credential formats: what a server keeps instead of a password.
//!
//! * [`CramMd5Secret`]: the two HMAC-MD5 intermediate states Dovecot stores
//!   as `{CRAM-MD5}` (RFC 2104 §4 precomputation). Whoever holds it can log
//!   in with CRAM-MD5, but not read the password directly.
//! * [`ScramCredentials`]: salt, iteration count, StoredKey and ServerKey
//!   (RFC 5802 §3), in Dovecot's `{SCRAM-SHA-1}` / `{SCRAM-SHA-256}` form.
//!
//! Both print `<redacted>` in `Debug`.

use md5::block_api::Md5Core;
use md5::digest::block_api::{Block, CoreProxy, UpdateCore};
use md5::digest::common::hazmat::{SerializableState, SerializedState};
use md5::{Digest, Md5};

use super::crypto::{hex, unhex};
use super::encoding;
use super::ScramHash;

/// Why a stored secret could not be read or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SecretFormatError {
    /// A `{SCHEME}` prefix names another scheme.
    #[error("the stored secret is for another scheme")]
    WrongScheme,
    /// Not the expected number of hex digits, or a non-hex character.
    #[error("invalid hex in stored secret")]
    InvalidHex,
    /// A field is not strict base64.
    #[error("invalid base64 in stored secret")]
    InvalidBase64,
    /// Not exactly `iterations,salt,StoredKey,ServerKey`.
    #[error("stored SCRAM secret does not have four fields")]
    WrongFieldCount,
    /// The iteration count is not a decimal number from 1 to 2^32-1.
    #[error("invalid SCRAM iteration count")]
    InvalidIterations,
    /// The salt is empty.
    #[error("empty SCRAM salt")]
    EmptySalt,
    /// StoredKey or ServerKey does not have the hash's length.
    #[error("SCRAM key length does not match the hash")]
    KeyLength,
}

/// A CRAM-MD5 secret: the HMAC-MD5 inner and outer MD5 states after the
/// key block, as Dovecot's `{CRAM-MD5}` scheme stores them. Enough to
/// answer any CRAM-MD5 challenge (RFC 2195) without the password.
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Secret {
    pub(crate) inner: [u32; 4],
    pub(crate) outer: [u32; 4],
}

impl std::fmt::Debug for CramMd5Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CramMd5Secret(<redacted>)")
    }
}

/// The MD5 state after compressing one key block (`key ^ pad`).
fn state_after(block: [u8; 64]) -> [u32; 4] {
    let mut core = Md5Core::default();
    core.update_blocks(&[Block::<Md5Core>::from(block)]);
    let serialized = core.serialize();
    let mut state = [0u32; 4];
    for (word, bytes) in state.iter_mut().zip(serialized.chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(bytes);
        *word = u32::from_le_bytes(le);
    }
    state
}

/// An MD5 hasher resumed from `state`, as if one 64-byte block had already
/// been hashed: the continuation of an HMAC from its stored state.
fn resume(state: &[u32; 4]) -> Option<Md5> {
    let mut serialized = SerializedState::<Md5Core>::default();
    let block_count = 1u64.to_le_bytes();
    let bytes = state
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .chain(block_count);
    for (dst, src) in serialized.iter_mut().zip(bytes) {
        *dst = src;
    }
    let core = Md5Core::deserialize(&serialized).ok()?;
    Some(Md5::compose(core, Default::default()))
}

impl CramMd5Secret {
    /// Derives the secret from a plaintext password, as `doveadm pw -s
    /// CRAM-MD5` does. The password is used as given (no SASLprep).
    pub fn from_password(password: &str) -> Self {
        Self::from_key(password.as_bytes())
    }

    /// Derives the secret from a raw HMAC key (a password in any encoding).
    pub fn from_key(key: &[u8]) -> Self {
        // RFC 2104 §2: keys longer than the block are hashed first, then
        // every key is zero-padded to the 64-byte block.
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            let digest = Md5::digest(key);
            for (b, k) in block.iter_mut().zip(digest.iter()) {
                *b = *k;
            }
        } else {
            for (b, k) in block.iter_mut().zip(key) {
                *b = *k;
            }
        }
        let (mut ipad, mut opad) = (block, block);
        ipad.iter_mut().for_each(|b| *b ^= 0x36);
        opad.iter_mut().for_each(|b| *b ^= 0x5c);
        Self {
            inner: state_after(ipad),
            outer: state_after(opad),
        }
    }

    /// Reads Dovecot's stored form: 64 hex digits, the outer then the inner
    /// MD5 state, each as four little-endian 32-bit words (Dovecot's
    /// `hmac_md5_get_cram_context`). A `{CRAM-MD5}` or `{HMAC-MD5}` prefix
    /// is accepted; hex may be upper or lower case.
    pub fn from_dovecot_hex(stored: &str) -> Result<Self, SecretFormatError> {
        let hex_part = strip_scheme(stored, &["CRAM-MD5", "HMAC-MD5"])?;
        let bytes = unhex::<32>(hex_part.as_bytes(), false).ok_or(SecretFormatError::InvalidHex)?;
        let mut words = [0u32; 8];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            let mut le = [0u8; 4];
            le.copy_from_slice(chunk);
            *word = u32::from_le_bytes(le);
        }
        let [o0, o1, o2, o3, i0, i1, i2, i3] = words;
        Ok(Self {
            outer: [o0, o1, o2, o3],
            inner: [i0, i1, i2, i3],
        })
    }

    /// Dovecot's stored form without the `{CRAM-MD5}` prefix: 64 lower-case
    /// hex digits.
    pub fn to_dovecot_hex(&self) -> String {
        let bytes: Vec<u8> = self
            .outer
            .iter()
            .chain(&self.inner)
            .flat_map(|w| w.to_le_bytes())
            .collect();
        hex(&bytes)
    }

    /// HMAC-MD5(key, message) finished from the stored states.
    pub(crate) fn hmac(&self, message: &[u8]) -> Option<[u8; 16]> {
        let mut inner = resume(&self.inner)?;
        inner.update(message);
        let inner_digest = inner.finalize();
        let mut outer = resume(&self.outer)?;
        outer.update(inner_digest);
        let mut out = [0u8; 16];
        out.copy_from_slice(&outer.finalize());
        Some(out)
    }
}

/// Strips an optional `{SCHEME}` prefix (case-insensitive) that must be
/// one of `schemes`.
fn strip_scheme<'a>(stored: &'a str, schemes: &[&str]) -> Result<&'a str, SecretFormatError> {
    let Some(rest) = stored.strip_prefix('{') else {
        return Ok(stored);
    };
    let (scheme, body) = rest.split_once('}').ok_or(SecretFormatError::WrongScheme)?;
    if schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        Ok(body)
    } else {
        Err(SecretFormatError::WrongScheme)
    }
}

/// SCRAM stored credentials (RFC 5802 §3): enough to verify a client
/// without ever knowing its password, and to prove the server knows them.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    hash: ScramHash,
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramCredentials(<redacted>)")
    }
}

impl ScramCredentials {
    /// Builds credentials from stored parts. StoredKey and ServerKey must
    /// have the hash's output length; the salt must not be empty and the
    /// iteration count not zero. RFC 5802 §5.1 / RFC 7677 §4 recommend at
    /// least 4096 iterations; that choice is the caller's.
    pub fn new(
        hash: ScramHash,
        iterations: u32,
        salt: Vec<u8>,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    ) -> Result<Self, SecretFormatError> {
        if iterations == 0 {
            return Err(SecretFormatError::InvalidIterations);
        }
        if salt.is_empty() {
            return Err(SecretFormatError::EmptySalt);
        }
        if stored_key.len() != hash.output_len() || server_key.len() != hash.output_len() {
            return Err(SecretFormatError::KeyLength);
        }
        Ok(Self {
            hash,
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Derives credentials from a password (RFC 5802 §3): SaltedPassword =
    /// PBKDF2-HMAC(password, salt, iterations), then StoredKey =
    /// H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
    /// HMAC(SaltedPassword, "Server Key"). The password is prepared with
    /// SASLprep first (RFC 5802 §2.2), as SCRAM clients prepare it.
    #[cfg(feature = "scram")]
    pub fn derive(
        hash: ScramHash,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, SecretFormatError> {
        if iterations == 0 {
            return Err(SecretFormatError::InvalidIterations);
        }
        if salt.is_empty() {
            return Err(SecretFormatError::EmptySalt);
        }
        let password = super::scram::normalize(password);
        let keys = super::scram::Keys::from_password(hash, password.as_bytes(), salt, iterations);
        Self::new(
            hash,
            iterations,
            salt.to_vec(),
            keys.stored_key,
            keys.server_key,
        )
    }

    /// The hash these credentials are for.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The PBKDF2 iteration count sent to the client.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt sent to the client.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// StoredKey = H(ClientKey): verifies client proofs.
    pub fn stored_key(&self) -> &[u8] {
        &self.stored_key
    }

    /// ServerKey: signs the server's final message.
    pub fn server_key(&self) -> &[u8] {
        &self.server_key
    }

    /// Reads Dovecot's form `iterations,salt,StoredKey,ServerKey` (each
    /// binary field base64), with or without the `{SCRAM-SHA-1}` /
    /// `{SCRAM-SHA-256}` prefix, which must then match `hash`.
    pub fn from_dovecot(hash: ScramHash, stored: &str) -> Result<Self, SecretFormatError> {
        let scheme = match hash {
            ScramHash::Sha1 => "SCRAM-SHA-1",
            ScramHash::Sha256 => "SCRAM-SHA-256",
        };
        let body = strip_scheme(stored, &[scheme])?;
        let mut fields = body.split(',');
        let (Some(iter), Some(salt), Some(stored_key), Some(server_key), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(SecretFormatError::WrongFieldCount);
        };
        if iter.is_empty() || iter.len() > 10 || !iter.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SecretFormatError::InvalidIterations);
        }
        let iterations = iter
            .parse::<u32>()
            .map_err(|_| SecretFormatError::InvalidIterations)?;
        let b64 =
            |s: &str| encoding::decode(s.as_bytes()).map_err(|_| SecretFormatError::InvalidBase64);
        Self::new(
            hash,
            iterations,
            b64(salt)?,
            b64(stored_key)?,
            b64(server_key)?,
        )
    }

    /// Dovecot's form without the scheme prefix:
    /// `iterations,salt,StoredKey,ServerKey`.
    pub fn to_dovecot(&self) -> String {
        format!(
            "{},{},{},{}",
            self.iterations,
            encoding::encode(&self.salt),
            encoding::encode(&self.stored_key),
            encoding::encode(&self.server_key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::crypto;
    use proptest::prelude::*;

    #[test]
    fn r2195_2_5_vector_from_stored_states() {
        let secret = CramMd5Secret::from_password("tanstaaftanstaaf");
        let mac = secret
            .hmac(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(crypto::hex(&mac), "b913a602c7eda7a495b4e6e7334d3890");
    }

    #[test]
    fn dovecot_cram_md5_known_value() {
        // `doveadm pw -s CRAM-MD5 -p password`
        const STORED: &str = "9186d855e11eba527a7a52ca82b313e180d62234f0acc9051b527243d41e2740";
        let secret = CramMd5Secret::from_password("password");
        assert_eq!(secret.to_dovecot_hex(), STORED);
        let parsed = CramMd5Secret::from_dovecot_hex(&format!("{{CRAM-MD5}}{STORED}")).unwrap();
        assert_eq!(parsed, secret);
        let upper = CramMd5Secret::from_dovecot_hex(&STORED.to_uppercase()).unwrap();
        assert_eq!(upper, secret);
        assert_eq!(CramMd5Secret::from_dovecot_hex(STORED).unwrap(), secret);
    }

    #[test]
    fn dovecot_cram_md5_rejects_bad_forms() {
        let good = "9186d855e11eba527a7a52ca82b313e180d62234f0acc9051b527243d41e2740";
        assert_eq!(
            CramMd5Secret::from_dovecot_hex(&good[1..]),
            Err(SecretFormatError::InvalidHex)
        );
        assert_eq!(
            CramMd5Secret::from_dovecot_hex(&format!("{good}0")),
            Err(SecretFormatError::InvalidHex)
        );
        assert_eq!(
            CramMd5Secret::from_dovecot_hex(&good.replace('9', "g")),
            Err(SecretFormatError::InvalidHex)
        );
        assert_eq!(
            CramMd5Secret::from_dovecot_hex(&format!("{{PLAIN}}{good}")),
            Err(SecretFormatError::WrongScheme)
        );
        assert_eq!(
            CramMd5Secret::from_dovecot_hex("{CRAM-MD5"),
            Err(SecretFormatError::WrongScheme)
        );
    }

    #[test]
    fn long_keys_are_hashed_first() {
        let long = "x".repeat(100);
        let secret = CramMd5Secret::from_password(&long);
        let expected = crypto::hmac::<Md5>(long.as_bytes(), &[b"<1.2@h>"]);
        assert_eq!(secret.hmac(b"<1.2@h>").unwrap().to_vec(), expected);
    }

    proptest! {
        #[test]
        fn stored_states_match_hmac_md5(
            key in proptest::collection::vec(any::<u8>(), 0..150),
            msg in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let secret = CramMd5Secret::from_key(&key);
            let expected = crypto::hmac::<Md5>(&key, &[&msg]);
            prop_assert_eq!(secret.hmac(&msg).unwrap().to_vec(), expected);
            let again = CramMd5Secret::from_dovecot_hex(&secret.to_dovecot_hex()).unwrap();
            prop_assert_eq!(again, secret);
        }
    }

    #[test]
    fn debug_is_redacted() {
        let c = CramMd5Secret::from_password("hunter2");
        assert_eq!(format!("{c:?}"), "CramMd5Secret(<redacted>)");
        let s = ScramCredentials::new(ScramHash::Sha1, 4096, vec![1], vec![2; 20], vec![3; 20])
            .unwrap();
        assert_eq!(format!("{s:?}"), "ScramCredentials(<redacted>)");
    }

    #[test]
    fn scram_new_validates() {
        use SecretFormatError::*;
        let h = ScramHash::Sha256;
        assert_eq!(
            ScramCredentials::new(h, 0, vec![1], vec![0; 32], vec![0; 32]),
            Err(InvalidIterations)
        );
        assert_eq!(
            ScramCredentials::new(h, 1, vec![], vec![0; 32], vec![0; 32]),
            Err(EmptySalt)
        );
        assert_eq!(
            ScramCredentials::new(h, 1, vec![1], vec![0; 20], vec![0; 32]),
            Err(KeyLength)
        );
        assert_eq!(
            ScramCredentials::new(h, 1, vec![1], vec![0; 32], vec![0; 31]),
            Err(KeyLength)
        );
    }

    #[test]
    fn scram_dovecot_round_trip_and_errors() {
        use SecretFormatError::*;
        let c = ScramCredentials::new(
            ScramHash::Sha1,
            4096,
            b"salt".to_vec(),
            vec![1; 20],
            vec![2; 20],
        )
        .unwrap();
        let body = c.to_dovecot();
        assert_eq!(
            body,
            "4096,c2FsdA==,AQEBAQEBAQEBAQEBAQEBAQEBAQE=,AgICAgICAgICAgICAgICAgICAgI="
        );
        assert_eq!(
            ScramCredentials::from_dovecot(ScramHash::Sha1, &body),
            Ok(c.clone())
        );
        assert_eq!(
            ScramCredentials::from_dovecot(ScramHash::Sha1, &format!("{{SCRAM-SHA-1}}{body}")),
            Ok(c)
        );
        let h = ScramHash::Sha1;
        assert_eq!(
            ScramCredentials::from_dovecot(h, &format!("{{SCRAM-SHA-256}}{body}")),
            Err(WrongScheme)
        );
        assert_eq!(
            ScramCredentials::from_dovecot(ScramHash::Sha256, &body),
            Err(KeyLength)
        );
        assert_eq!(
            ScramCredentials::from_dovecot(h, "4096,c2FsdA=="),
            Err(WrongFieldCount)
        );
        assert_eq!(
            ScramCredentials::from_dovecot(h, &format!("{body},x")),
            Err(WrongFieldCount)
        );
        for bad_iter in ["", "-1", "+5", "0", "4294967296", "12a", " 4096"] {
            let s = body.replacen("4096", bad_iter, 1);
            assert_eq!(
                ScramCredentials::from_dovecot(h, &s),
                Err(InvalidIterations),
                "{s}"
            );
        }
        assert_eq!(
            ScramCredentials::from_dovecot(h, &body.replace("c2FsdA==", "c2FsdA")),
            Err(InvalidBase64)
        );
    }

    #[cfg(feature = "scram")]
    #[test]
    fn r5802_5_2_derived_keys_give_the_published_exchange() {
        // RFC 5802 §5: password "pencil", salt QSXCR+Q6sek8bf92, 4096.
        let salt = encoding::decode(b"QSXCR+Q6sek8bf92").unwrap();
        let c = ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, 4096).unwrap();
        assert_eq!(c.iterations(), 4096);
        assert_eq!(c.salt(), &salt[..]);
        assert_eq!(c.hash(), ScramHash::Sha1);
        // Round trip through Dovecot's form.
        let again = ScramCredentials::from_dovecot(ScramHash::Sha1, &c.to_dovecot()).unwrap();
        assert_eq!(again, c);
        assert_eq!(
            ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, 0),
            Err(SecretFormatError::InvalidIterations)
        );
        assert_eq!(
            ScramCredentials::derive(ScramHash::Sha1, "pencil", b"", 1),
            Err(SecretFormatError::EmptySalt)
        );
    }
}
