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
    client_ca: Option<&Path>,
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
                let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
                if !names.iter().any(|n| n == hostname) {
                    names.insert(0, hostname.to_owned());
                }
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
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match client_ca {
        // Client certificates are optional: they enable SASL EXTERNAL for
        // clients that have one; everyone else authenticates as usual.
        Some(ca) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)? {
                roots.add(c?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
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
    // rustls verified the chain against --client-ca: the identity is the
    // certificate's first e-mail SAN, else its common name.
    if let Some(identity) = conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| certificate_identity(cert.as_ref()))
    {
        info = info.with_client_certificate(identity);
    }
    info
}

/// The first rfc822Name SAN, else the subject's common name.
fn certificate_identity(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::RFC822Name(email) = name {
                return Some((*email).to_owned());
            }
        }
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    common_name
}
