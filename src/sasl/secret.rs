//! Stored-credential formats: what a server keeps instead of a password.

/// A CRAM-MD5 secret: the HMAC-MD5 inner and outer MD5 states after the
/// key block, as Dovecot's `{CRAM-MD5}` scheme stores them.
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

/// SCRAM stored credentials (RFC 5802 §3): enough to verify a client
/// without ever knowing its password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub(crate) iterations: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramCredentials(<redacted>)")
    }
}
