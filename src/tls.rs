//! [`TlsInfo`]: what the driver tells the session about a TLS connection.

use crate::sasl::ChannelBinding;

/// Facts about an established TLS connection, given to
/// [`Session::tls_established`](crate::Session::tls_established) after
/// STARTTLS or to [`Session::new`](crate::Session::new) for implicit TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1_3` (for logs and events).
    pub version: String,
    /// The cipher suite (for logs and events).
    pub cipher: String,
    /// Channel-binding data (RFC 9266 `tls-exporter`), which enables the
    /// SCRAM `-PLUS` mechanisms.
    pub channel_binding: Option<ChannelBinding>,
    /// The identity the driver derived from a *verified* client certificate
    /// (for example its subject's e-mail address), which enables EXTERNAL.
    pub client_certificate: Option<String>,
}

impl TlsInfo {
    /// Facts with version and cipher only.
    pub fn new(version: impl Into<String>, cipher: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            cipher: cipher.into(),
            channel_binding: None,
            client_certificate: None,
        }
    }

    /// Adds `tls-exporter` channel-binding data (32 bytes exported with the
    /// label `EXPORTER-Channel-Binding` and no context, RFC 9266 §2).
    pub fn with_tls_exporter(mut self, data: Vec<u8>) -> Self {
        self.channel_binding = Some(ChannelBinding {
            kind: "tls-exporter".to_owned(),
            data,
        });
        self
    }

    /// Adds the identity of a verified client certificate.
    pub fn with_client_certificate(mut self, identity: impl Into<String>) -> Self {
        self.client_certificate = Some(identity.into());
        self
    }
}
