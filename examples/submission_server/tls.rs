//! TLS for the example: a certificate from PEM files, or a self-signed one
//! made at start (rcgen), and the facts the session needs after a handshake.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConnection;
use sha2::{Digest, Sha256};
use smtp_auth::TlsInfo;

/// A server TLS configuration and the SHA-256 fingerprint of its certificate.
pub struct Certificate {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
    pub self_signed: bool,
}

/// Loads `cert` and `key` (PEM), or makes a self-signed certificate for
/// `hostname`, `localhost` and 127.0.0.1.
pub fn load_or_generate(
    hostname: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Certificate, Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key, self_signed): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, bool) =
        match (cert, key) {
            (Some(cert), Some(key)) => {
                use rustls::pki_types::pem::PemObject;
                let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_file(key)?;
                (chain, key, false)
            }
            (None, None) => {
                let names = vec![
                    hostname.to_owned(),
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                ];
                let generated = rcgen::generate_simple_self_signed(names)?;
                let der = generated.cert.der().clone();
                let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
                (vec![der], key, true)
            }
            _ => return Err("--cert and --key go together".into()),
        };
    let fingerprint = chain
        .first()
        .map(|c| {
            Sha256::digest(c.as_ref())
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // Keep per-connection memory small: sessions are short.
    config.send_tls13_tickets = 0;
    Ok(Certificate {
        config: Arc::new(config),
        fingerprint,
        self_signed,
    })
}

/// What the session learns from a finished handshake, including the RFC
/// 9266 `tls-exporter` channel binding for SCRAM-PLUS.
pub fn info(conn: &ServerConnection) -> TlsInfo {
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let mut info = TlsInfo::new(version, cipher);
    let mut exporter = [0u8; 32];
    if conn
        .export_keying_material(&mut exporter, b"EXPORTER-Channel-Binding", None)
        .is_ok()
    {
        info = info.with_tls_exporter(exporter.to_vec());
    }
    info
}
