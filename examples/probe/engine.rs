//! The probe's engine: drives `smtp_auth::client::Client` over TCP and
//! rustls, records what the server offered and answered, and says why
//! authentication fails. Shared with `tests/client_postfix.rs`.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use smtp_auth::client::{
    Capabilities, Client, ClientConfig, ClientEvent, ClientOutput, Error, Message, Step, TlsMode,
};
use smtp_auth::reply::ParsedReply;
use smtp_auth::sasl::{Credentials, Mechanism};
use smtp_auth::TlsInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// `HOST:PORT`.
    pub server: String,
    /// TLS before the greeting (port 465).
    pub implicit_tls: bool,
    /// The user name, for password or token credentials.
    pub user: Option<String>,
    /// The password (never printed).
    pub password: Option<String>,
    /// An OAuth bearer token instead of a password (never printed).
    pub token: Option<String>,
    /// Use only this mechanism.
    pub mechanism: Option<Mechanism>,
    /// Send a test message to this address after AUTH.
    pub send_to: Option<String>,
    /// The envelope sender of the test message (default: the user name
    /// when it is an address).
    pub from: Option<String>,
    /// Trust this CA file (PEM) instead of the system roots.
    pub ca: Option<PathBuf>,
    /// A client certificate chain (PEM) to present when the server asks
    /// for one; with `key`. Without a password or token the probe then
    /// authenticates with EXTERNAL (`user`, if any, as the authzid).
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The test message's headers and body (default: a short note that
    /// the probe sent it). Line endings are normalised to CRLF.
    pub content: Option<Vec<u8>>,
    /// Go on when the certificate does not verify (facts still reported).
    pub insecure: bool,
    /// Authenticate without TLS when the server offers none (any
    /// mechanism, PLAIN included). Off: the probe behaves like a mail
    /// client set to STARTTLS and stops.
    pub allow_plaintext: bool,
    /// Longest wait for one reply or the handshake.
    pub timeout: Duration,
    /// The EHLO name.
    pub ehlo: String,
}

impl Options {
    /// Defaults for `server`.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            implicit_tls: false,
            user: None,
            password: None,
            token: None,
            mechanism: None,
            send_to: None,
            from: None,
            ca: None,
            cert: None,
            key: None,
            content: None,
            insecure: false,
            allow_plaintext: false,
            timeout: Duration::from_secs(15),
            ehlo: "smtp-auth-probe.invalid".into(),
        }
    }

    fn host(&self) -> &str {
        let host = match self.server.rsplit_once(':') {
            Some((h, _)) => h,
            None => &self.server,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }

    fn port(&self) -> u16 {
        self.server
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(587)
    }

    fn credentials(&self) -> Option<Credentials> {
        if self.cert.is_some() && self.password.is_none() && self.token.is_none() {
            return Some(Credentials::External {
                authzid: self.user.clone(),
            });
        }
        let user = self.user.clone()?;
        if let Some(token) = &self.token {
            return Some(Credentials::token(user, token.clone()));
        }
        Some(Credentials::password(
            user,
            self.password.clone().unwrap_or_default(),
        ))
    }

    /// EXTERNAL with the client certificate.
    fn external(&self) -> bool {
        matches!(self.credentials(), Some(Credentials::External { .. }))
    }
}

/// Facts about the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The subject DN.
    pub subject: String,
    /// The issuer DN.
    pub issuer: String,
    /// Subject alternative names, `DNS:` / `IP:` prefixed.
    pub san: Vec<String>,
    /// `notAfter`, as text.
    pub not_after: String,
    /// Days until expiry (negative: expired).
    pub days_left: i64,
    /// Issuer equals subject.
    pub self_signed: bool,
    /// `Ok` when it verifies against the trust anchors; else why not.
    pub verified: Result<(), String>,
    /// Which trust anchors: the system's or a file.
    pub anchors: String,
}

/// The TLS session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// How TLS started: `implicit` or `STARTTLS`.
    pub how: &'static str,
}

/// Everything the probe saw.
#[derive(Debug, Default)]
pub struct Report {
    /// `HOST:PORT`.
    pub server: String,
    /// `--implicit-tls`.
    pub implicit_tls: bool,
    /// Whether credentials were given.
    pub had_credentials: bool,
    /// `--allow-plaintext`.
    pub allow_plaintext: bool,
    /// The TCP connection failed.
    pub connect_error: Option<String>,
    /// The TLS handshake failed.
    pub tls_error: Option<String>,
    /// The TLS session, once up.
    pub tls: Option<TlsFacts>,
    /// The server certificate.
    pub cert: Option<CertFacts>,
    /// The transcript: (what, reply or fact), in order.
    pub steps: Vec<(String, String)>,
    /// Capabilities read without TLS.
    pub caps_plain: Option<Capabilities>,
    /// Capabilities read under TLS.
    pub caps_tls: Option<Capabilities>,
    /// The mechanism that authenticated.
    pub authenticated: Option<Mechanism>,
    /// The mechanism tried, if AUTH was sent.
    pub tried: Option<Mechanism>,
    /// Where the client stopped, and why.
    pub error: Option<Error>,
    /// No reply within the timeout, during this step.
    pub timed_out: Option<Option<Step>>,
    /// The test message's `250`.
    pub message_sent: Option<ParsedReply>,
    /// The server proved it knows the credentials (SCRAM's signature).
    pub server_verified: bool,
    /// A client certificate was configured and the server asked for it
    /// (and got it) during the handshake.
    pub client_cert_requested: bool,
    /// The subject of the configured client certificate.
    pub client_cert: Option<String>,
    /// A read or write on the connection failed (a TLS alert, say).
    pub io_error: Option<String>,
}

/// The failure classes the probe tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Authenticated (and the test message, if any, was accepted).
    Ok,
    /// No AUTH needed to be tried (no credentials) and AUTH is usable.
    AuthAvailable,
    /// TCP connection failed.
    ConnectFailed,
    /// No greeting: probably implicit TLS spoken to in plaintext.
    NoGreeting,
    /// TLS handshake failed (wrong mode, or an untrusted certificate).
    TlsFailed,
    /// AUTH offered neither before nor after TLS: a relay port.
    RelayPort,
    /// No TLS at all on this port.
    NoTls,
    /// STARTTLS advertised, then refused: a downgrade.
    StartTlsRefused,
    /// The mechanism asked for is not offered.
    NoCommonMechanism,
    /// 535: wrong user name or password.
    CredentialsRejected,
    /// 454 or another 4xx: backend or lock-out.
    TemporaryFailure,
    /// 525: account disabled.
    AccountDisabled,
    /// 534 / 432 / 538: the mechanism is not good enough for the account.
    MechanismTooWeak,
    /// Authenticated, but the test message was refused.
    MessageRefused,
    /// The server refused the client certificate in the TLS handshake.
    ClientCertRefused,
    /// Anything else.
    Other,
}

/// The verdict in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The class.
    pub class: Class,
    /// What it means and what to do.
    pub text: String,
    /// Remarks that are not the failure (e.g. PLAIN only after STARTTLS).
    pub notes: Vec<String>,
}

impl Diagnosis {
    /// Whether the probe should exit with success.
    pub fn success(&self) -> bool {
        matches!(self.class, Class::Ok | Class::AuthAvailable)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }
}

/// Records the certificate's facts and the verdict, and enforces it
/// unless `--insecure`.
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    insecure: bool,
    anchors: String,
    seen: Arc<Mutex<Option<CertFacts>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::General("no trust anchors available".into())),
        };
        let mut facts = cert_facts(end_entity);
        facts.verified = verdict.clone().map_err(|e| e.to_string());
        facts.anchors = self.anchors.clone();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(facts);
        }
        match verdict {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(_) if self.insecure => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn cert_facts(der: &CertificateDer<'_>) -> CertFacts {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der.as_ref()) else {
        return CertFacts {
            subject: "(unparsable certificate)".into(),
            issuer: String::new(),
            san: Vec::new(),
            not_after: String::new(),
            days_left: 0,
            self_signed: false,
            verified: Ok(()),
            anchors: String::new(),
        };
    };
    let mut san = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => san.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    san.push(match ip {
                        Some(ip) => format!("IP:{ip}"),
                        None => "IP:?".into(),
                    });
                }
                GeneralName::RFC822Name(m) => san.push(format!("email:{m}")),
                other => san.push(format!("{other:?}")),
            }
        }
    }
    let not_after = cert.validity().not_after;
    let now = ASN1Time::now();
    let days_left = (not_after.timestamp() - now.timestamp()) / 86_400;
    CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        san,
        not_after: not_after.to_string(),
        days_left,
        self_signed: cert.subject() == cert.issuer(),
        verified: Ok(()),
        anchors: String::new(),
    }
}

struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    seen: Arc<Mutex<Option<CertFacts>>>,
    /// The configured client certificate's subject.
    client_cert: Option<String>,
    /// Set when the server asked for the client certificate.
    requested: Arc<AtomicBool>,
}

/// Presents the client certificate when the server asks for one, and
/// remembers that it asked: a server that never asks cannot offer
/// EXTERNAL.
#[derive(Debug)]
struct ClientCert {
    key: Arc<CertifiedKey>,
    requested: Arc<AtomicBool>,
}

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Reads the client certificate chain and key (`--cert`, `--key`).
fn client_cert(
    opts: &Options,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Option<(CertifiedKey, String)>, String> {
    let (cert, key) = match (&opts.cert, &opts.key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => return Err("--cert and --key go together".into()),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read --cert {}: {e}", cert.display()))?;
    let Some(first) = chain.first() else {
        return Err(format!("no certificate in --cert {}", cert.display()));
    };
    let subject = cert_facts(first).subject;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read --key {}: {e}", key.display()))?;
    let certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("--cert and --key do not fit together: {e}"))?;
    Ok(Some((certified, subject)))
}

fn tls_setup(opts: &Options) -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let anchors = match &opts.ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read --ca {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("bad PEM in {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("bad CA certificate in {}: {e}", path.display()))?;
            }
            format!("the CA file {}", path.display())
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            format!("the system trust store ({added} roots)")
        }
    };
    let inner = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| e.to_string())?,
        )
    };
    let seen = Arc::new(Mutex::new(None));
    let verifier = Recording {
        inner,
        provider: provider.clone(),
        insecure: opts.insecure,
        anchors,
        seen: seen.clone(),
    };
    let requested = Arc::new(AtomicBool::new(false));
    let client = client_cert(opts, &provider)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let (config, client_cert) = match client {
        Some((key, subject)) => (
            builder.with_client_cert_resolver(Arc::new(ClientCert {
                key: Arc::new(key),
                requested: requested.clone(),
            })),
            Some(subject),
        ),
        None => (builder.with_no_client_auth(), None),
    };
    let name = ServerName::try_from(opts.host().to_owned())
        .map_err(|e| format!("bad server name {}: {e}", opts.host()))?;
    Ok(Tls {
        connector: TlsConnector::from(Arc::new(config)),
        name,
        seen,
        client_cert,
        requested,
    })
}

/// Runs the handshake; returns the stream and the facts for the client.
async fn handshake(
    tls: &Tls,
    tcp: TcpStream,
    how: &'static str,
    timeout: Duration,
    report: &mut Report,
) -> Option<(Stream, TlsInfo)> {
    let result = tokio::time::timeout(timeout, tls.connector.connect(tls.name.clone(), tcp)).await;
    report.cert = tls.seen.lock().ok().and_then(|s| s.clone());
    if let Some(c) = report.cert.clone() {
        let signed = if c.self_signed { " (self-signed)" } else { "" };
        note(
            report,
            "certificate",
            format!("subject {}; issuer {}{signed}", c.subject, c.issuer),
        );
        let san = if c.san.is_empty() {
            "none".to_owned()
        } else {
            c.san.join(", ")
        };
        note(
            report,
            "",
            format!("SAN {san}; expires {} ({} days)", c.not_after, c.days_left),
        );
        note(
            report,
            "",
            match &c.verified {
                Ok(()) => format!("verifies against {}", c.anchors),
                Err(e) => format!("does NOT verify against {}: {e}", c.anchors),
            },
        );
    }
    if let Some(subject) = &tls.client_cert {
        report.client_cert = Some(subject.clone());
        report.client_cert_requested = tls.requested.load(Ordering::Relaxed);
        note(
            report,
            "client certificate",
            if report.client_cert_requested {
                format!("{subject}: sent, the server asked for one")
            } else {
                format!("{subject}: not sent, the server did not ask for one")
            },
        );
    }
    let stream = match result {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            report.tls_error = Some(e.to_string());
            return None;
        }
        Err(_) => {
            report.tls_error = Some(format!("no TLS handshake within {}s", timeout.as_secs()));
            return None;
        }
    };
    let conn = stream.get_ref().1;
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let mut info = TlsInfo::new(version.clone(), cipher.clone());
    // RFC 9266 tls-exporter (TLS 1.3 only) enables SCRAM-*-PLUS.
    if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
        if let Ok(cb) = conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None) {
            info = info.with_tls_exporter(cb.to_vec());
        }
    }
    note(report, "TLS", format!("{version} {cipher} ({how})"));
    report.tls = Some(TlsFacts {
        version,
        cipher,
        how,
    });
    Some((Stream::Tls(Box::new(stream)), info))
}

fn note(report: &mut Report, what: impl Into<String>, text: impl Into<String>) {
    report.steps.push((what.into(), text.into()));
}

/// Connects, walks greeting → EHLO → STARTTLS → EHLO → AUTH (→ message),
/// and reports. Bounded: at most `timeout` per read and 200 reads.
pub async fn probe(opts: &Options) -> Report {
    let mut report = Report {
        server: opts.server.clone(),
        implicit_tls: opts.implicit_tls,
        had_credentials: opts.credentials().is_some(),
        allow_plaintext: opts.allow_plaintext,
        ..Report::default()
    };
    let tls = match tls_setup(opts) {
        Ok(t) => t,
        Err(e) => {
            report.tls_error = Some(e);
            return report;
        }
    };
    let tcp = match tokio::time::timeout(opts.timeout, TcpStream::connect(&opts.server)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            report.connect_error = Some(e.to_string());
            return report;
        }
        Err(_) => {
            report.connect_error = Some(format!("no answer within {}s", opts.timeout.as_secs()));
            return report;
        }
    };
    note(
        &mut report,
        "connect",
        format!("connected to {}", opts.server),
    );

    let mut config = ClientConfig::new(opts.ehlo.clone()).server(opts.host(), opts.port());
    if let Some(c) = opts.credentials() {
        config = config.credentials(c);
    }
    if let Some(m) = opts.mechanism {
        config = config.mechanism(m);
    }
    let mut stream = if opts.implicit_tls {
        match handshake(&tls, tcp, "implicit", opts.timeout, &mut report).await {
            Some((s, info)) => {
                config = config.tls(TlsMode::Implicit(info));
                s
            }
            None => return report,
        }
    } else if opts.allow_plaintext {
        config = config
            .tls(TlsMode::StartTlsIfOffered)
            .allow_plaintext_auth(true);
        Stream::Plain(tcp)
    } else {
        config = config.tls(TlsMode::StartTls);
        Stream::Plain(tcp)
    };
    let message = match (
        &opts.send_to,
        opts.from.clone().or_else(|| opts.user.clone()),
    ) {
        (Some(to), from) => {
            let from = from.filter(|f| f.contains('@')).unwrap_or_default();
            let body = opts.content.clone().unwrap_or_else(|| {
                format!(
                    "From: <{from}>\r\nTo: <{to}>\r\nSubject: smtp-auth probe test message\r\n\r\nSent by the smtp-auth probe.\r\n"
                )
                .into_bytes()
            });
            match Message::new(from, [to.clone()], body) {
                Ok(m) => Some(m),
                Err(e) => {
                    note(&mut report, "message", format!("not sent: {e}"));
                    None
                }
            }
        }
        _ => None,
    };
    let mut message = message;
    let mut client = Client::new(config);
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..200 {
        while let Some(output) = client.poll() {
            match output {
                ClientOutput::Send(bytes) => {
                    if let Err(e) = stream.write_all(&bytes).await {
                        note(&mut report, "write", format!("failed: {e}"));
                        report.io_error = Some(e.to_string());
                        client.connection_closed();
                    }
                }
                ClientOutput::StartTls => {
                    let Stream::Plain(tcp) = stream else {
                        return report;
                    };
                    match handshake(&tls, tcp, "STARTTLS", opts.timeout, &mut report).await {
                        Some((s, info)) => {
                            stream = s;
                            client.tls_established(info);
                        }
                        None => return report,
                    }
                }
                ClientOutput::Event(e) => record(&mut report, e),
                ClientOutput::Ready => match message.take() {
                    Some(m) if client.authenticated().is_some() => {
                        let _ = client.send(m);
                    }
                    _ => client.quit(),
                },
                ClientOutput::Done => return report,
                ClientOutput::Error(e) => {
                    report.tried = report.tried.or(match &e {
                        Error::Rejected {
                            step: Step::Auth(m),
                            ..
                        }
                        | Error::Sasl { mechanism: m, .. } => Some(*m),
                        _ => None,
                    });
                    report.error = Some(e);
                    // Send the polite QUIT the client queued, then stop.
                    while let Some(ClientOutput::Send(b)) = client.poll() {
                        let _ = stream.write_all(&b).await;
                    }
                    return report;
                }
                _ => {}
            }
        }
        let read = tokio::time::timeout(opts.timeout, stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) => client.connection_closed(),
            Ok(Err(e)) => {
                note(&mut report, "read", format!("failed: {e}"));
                report.io_error = Some(e.to_string());
                client.connection_closed();
            }
            Ok(Ok(n)) => client.receive(&buf[..n]),
            Err(_) => {
                report.timed_out = Some(client.step());
                return report;
            }
        }
    }
    report
}

fn record(report: &mut Report, event: ClientEvent) {
    match event {
        ClientEvent::Replied { step, reply } => {
            if let Step::Auth(m) = step {
                report.tried = Some(m);
            }
            let text = if reply.code == 334 {
                "334 (challenge)".to_owned()
            } else {
                reply.to_string()
            };
            note(report, step.to_string(), text);
        }
        ClientEvent::Capabilities { tls, capabilities } => {
            let what = if tls {
                "offered (TLS)"
            } else {
                "offered (plaintext)"
            };
            note(report, what, describe_caps(&capabilities));
            if tls {
                report.caps_tls = Some(capabilities);
            } else {
                report.caps_plain = Some(capabilities);
            }
        }
        ClientEvent::TlsNotOffered => note(report, "STARTTLS", "not offered"),
        ClientEvent::Authenticated {
            mechanism,
            server_verified,
        } => {
            report.authenticated = Some(mechanism);
            report.server_verified = server_verified;
        }
        ClientEvent::MessageSent { reply } => report.message_sent = Some(reply),
        ClientEvent::RecipientRefused { recipient, reply } => {
            note(report, "recipient", format!("{recipient} refused: {reply}"));
        }
        _ => {}
    }
}

fn describe_caps(c: &Capabilities) -> String {
    let auth = if c.auth.is_empty() {
        "AUTH: none".to_owned()
    } else {
        format!("AUTH: {}", c.auth.join(" "))
    };
    let others: Vec<&str> = c
        .extensions
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "AUTH" && !k.starts_with("AUTH="))
        .collect();
    format!("{auth}; {}", others.join(" "))
}

fn password_mechs(caps: Option<&Capabilities>) -> Vec<String> {
    caps.map(|c| {
        c.mechanisms()
            .into_iter()
            .filter(|m| m.reveals_secret())
            .map(|m| m.name().to_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// Explains the report in plain words, with the fix.
pub fn diagnose(report: &Report, opts: &Options) -> Diagnosis {
    let mut notes = Vec::new();
    let port = opts.port();
    // Plaintext vs TLS lists: PLAIN only after STARTTLS.
    if let (Some(before), Some(after)) = (&report.caps_plain, &report.caps_tls) {
        let only_after: Vec<String> = after
            .auth
            .iter()
            .filter(|m| !before.auth.contains(m))
            .cloned()
            .collect();
        if !only_after.is_empty() {
            notes.push(format!(
                "the server offers {} only after STARTTLS: a client that tries to authenticate before STARTTLS (or is set to \"no encryption\") is told \"the server does not support AUTH\"; set it to STARTTLS on port {port}",
                only_after.join(" ")
            ));
        }
    }
    if let Some(c) = &report.cert {
        if let Err(e) = &c.verified {
            notes.push(format!(
                "the certificate does not verify against {} ({e}){}: mail clients will warn or refuse",
                c.anchors,
                if c.self_signed { ", it is self-signed" } else { "" }
            ));
        }
        if c.days_left < 0 {
            notes.push(format!("the certificate expired on {}", c.not_after));
        } else if c.days_left < 14 {
            notes.push(format!("the certificate expires in {} day(s)", c.days_left));
        }
    }
    let d = |class, text: String, notes: Vec<String>| Diagnosis { class, text, notes };

    if let Some(e) = &report.connect_error {
        return d(
            Class::ConnectFailed,
            format!("cannot connect to {} ({e}): nothing listens there, or a firewall drops it; check the host and the port (submission is 587 with STARTTLS or 465 with implicit TLS)", opts.server),
            notes,
        );
    }
    if let Some(e) = &report.tls_error {
        let text = if report.cert.as_ref().is_some_and(|c| c.verified.is_err()) {
            let c = report
                .cert
                .as_ref()
                .map(|c| c.verified.clone().err().unwrap_or_default())
                .unwrap_or_default();
            format!("the server's TLS certificate is not trusted ({c}); mail clients report this as a certificate error or \"cannot connect securely\": install a certificate from a public CA for the host name, or for a private CA pass --ca FILE (or --insecure to look further)")
        } else if report.implicit_tls {
            format!("the TLS handshake failed ({e}): if this port speaks plaintext first (587, 25), it uses STARTTLS: drop --implicit-tls")
        } else {
            format!("the STARTTLS handshake failed ({e}): the server's TLS setup is broken (certificate, key or protocol versions)")
        };
        return d(Class::TlsFailed, text, notes);
    }
    if let Some(step) = report.timed_out {
        if step == Some(Step::Greeting) && !report.implicit_tls {
            return d(
                Class::NoGreeting,
                format!("no greeting within {}s: this looks like an implicit-TLS port (465) that waits for a TLS handshake; add --implicit-tls (and set the mail client to SSL/TLS, not STARTTLS)", opts.timeout.as_secs()),
                notes,
            );
        }
        let at = step.map_or("idle".to_owned(), |s| s.to_string());
        return d(
            Class::Other,
            format!("no reply within {}s during {at}", opts.timeout.as_secs()),
            notes,
        );
    }
    let tls_up = report.tls.is_some();
    let auth_before = report
        .caps_plain
        .as_ref()
        .is_some_and(|c| !c.auth.is_empty());
    let auth_after = report.caps_tls.as_ref().is_some_and(|c| !c.auth.is_empty());
    match &report.error {
        None => {}
        Some(Error::StartTlsRefused { reply }) => {
            return d(Class::StartTlsRefused, format!("the server advertised STARTTLS but refused it ({reply}): a firewall or \"SMTP inspection\" between you and the server may be stripping TLS, or the server's TLS is misconfigured; a client that went on would send the password in the clear"), notes);
        }
        Some(Error::StartTlsInjection) => {
            return d(Class::StartTlsRefused, "plaintext arrived between the STARTTLS reply and the TLS handshake: something on the path is injecting replies; do not use this network for mail".into(), notes);
        }
        Some(Error::StartTlsNotOffered)
        | Some(Error::AuthNotOffered { .. })
        | Some(Error::EncryptionRequired { .. })
            if !tls_up =>
        {
            let clear = if auth_before {
                let all = report
                    .caps_plain
                    .as_ref()
                    .map(|c| c.auth.join(" "))
                    .unwrap_or_default();
                let revealing = password_mechs(report.caps_plain.as_ref());
                if revealing.is_empty() {
                    // CRAM-MD5 and SCRAM keep the password, not the session.
                    format!("; it offers AUTH {all} without encryption, which keeps the password from anyone on the path but not the message, and a client set to require TLS will not use it (this probe sent nothing; --allow-plaintext would)")
                } else {
                    format!("; it offers AUTH {all} without encryption, where {} shows the password to anyone on the path (this probe sent nothing; --allow-plaintext would)", revealing.join(" "))
                }
            } else {
                String::new()
            };
            return d(Class::NoTls, format!("this port offers no TLS: no STARTTLS and not implicit TLS{clear}. A mail client set to require encryption says \"unencrypted connections are not allowed\" or \"the server does not support STARTTLS\": use port 587 with STARTTLS or 465 with SSL/TLS (--implicit-tls), or enable TLS on the server"), notes);
        }
        Some(Error::AuthNotOffered { .. }) => {
            let relay = if port == 25 { " (it is port 25)" } else { "" };
            return d(Class::RelayPort, format!("AUTH is not offered on this port before or after TLS: this looks like a relay port (25){relay}, which takes mail for its own domains only; use the submission port 587 (STARTTLS) or 465 (implicit TLS)"), notes);
        }
        Some(Error::MechanismNotOffered { mechanism, offered }) => {
            return d(Class::NoCommonMechanism, format!("no common mechanism: the server offers {}, you asked for {mechanism}; drop --mechanism or choose one of those (and set the mail client's authentication method to match, e.g. \"normal password\" for PLAIN/LOGIN, \"encrypted password\" for CRAM-MD5/SCRAM){}", offered.join(" "), external_hint(report, opts)), notes);
        }
        Some(Error::NoCommonMechanism { offered }) => {
            let hint = if opts.external() {
                external_hint(report, opts)
            } else if opts.token.is_some() {
                " (a token needs XOAUTH2 or OAUTHBEARER)".to_owned()
            } else {
                String::new()
            };
            return d(Class::NoCommonMechanism, format!("no common mechanism: the server offers {}, none of which fits your credentials{hint}", offered.join(" ")), notes);
        }
        Some(Error::Rejected {
            step: Step::Auth(m),
            reply,
        }) => {
            let code = match reply.enhanced {
                Some(e) => format!("{} {e}", reply.code),
                None => reply.code.to_string(),
            };
            let (class, text) = match reply.code {
                535 if *m == Mechanism::External => (Class::CredentialsRejected, format!("the client certificate ({}) passed TLS, but the server maps it to no account{} ({code}): ask the administrator to map the certificate's identity (its e-mail address or common name) to the account", report.client_cert.as_deref().unwrap_or("?"), opts.user.as_deref().map_or(String::new(), |u| format!(" that may act as {u}")))),
                535 => (Class::CredentialsRejected, format!("credentials rejected ({code}) with {m}: check the user name (often the full address) and the password, or whether the account needs an app password (accounts with two-factor sign-in usually do)")),
                525 => (Class::AccountDisabled, format!("the account is disabled ({code}): the password was right; ask the administrator")),
                534 | 538 | 432 => (Class::MechanismTooWeak, format!("the server refuses {m} for this account ({code}): try another mechanism with --mechanism, or change the password so the server can store it for the mechanism")),
                400..=499 => (Class::TemporaryFailure, format!("temporary failure ({code}): the server's credential backend is down, or the account or your address is locked out after failed attempts; try later, and check the server's authentication service")),
                504 => (Class::NoCommonMechanism, format!("the server refused the mechanism {m} ({code}): it is not offered here, or only after STARTTLS")),
                _ => (Class::Other, format!("AUTH {m} failed: {reply}")),
            };
            return d(class, text, notes);
        }
        Some(Error::Rejected {
            step: step @ (Step::Mail | Step::Rcpt | Step::Data | Step::Message),
            reply,
        }) => {
            return d(
                Class::MessageRefused,
                format!(
                    "authenticated with {}, but the test message was refused at {step}: {reply}",
                    report.authenticated.map_or("?".into(), |m| m.to_string())
                ),
                notes,
            );
        }
        // The first read after a handshake with a client certificate fails:
        // the server's alert about it (TLS 1.3 reports it only then).
        Some(Error::ConnectionClosed {
            step: Some(Step::Greeting | Step::EhloAfterTls),
        }) if report.client_cert_requested && report.io_error.is_some() => {
            return d(Class::ClientCertRefused, format!("the server ended the connection right after the TLS handshake ({}): it refused the client certificate ({}); check that it is issued by a CA the server trusts for client certificates, and that it has not expired", report.io_error.as_deref().unwrap_or_default(), report.client_cert.as_deref().unwrap_or("?")), notes);
        }
        Some(e) => return d(Class::Other, format!("{e}"), notes),
    }
    if !tls_up && report.caps_plain.is_some() {
        notes.push(
            "this connection had no TLS: the conversation and the message travelled unencrypted"
                .into(),
        );
    }
    if report.authenticated.is_some() {
        let m = report
            .authenticated
            .map_or(String::new(), |m| m.to_string());
        let sent = match &report.message_sent {
            Some(r) => format!("; the test message was accepted ({r})"),
            None => String::new(),
        };
        return d(Class::Ok, format!("authenticated with {m}{sent}"), notes);
    }
    // No credentials given: can a client authenticate here at all?
    if !report.had_credentials {
        if auth_after || (auth_before && tls_up) {
            return d(
                Class::AuthAvailable,
                format!(
                    "AUTH is offered ({}); run again with --user to test an account",
                    report
                        .caps_tls
                        .as_ref()
                        .or(report.caps_plain.as_ref())
                        .map(|c| c.auth.join(" "))
                        .unwrap_or_default()
                ),
                notes,
            );
        }
        if !tls_up {
            return d(Class::NoTls, "this port offers no TLS: no STARTTLS and not implicit TLS. A mail client set to require encryption says \"unencrypted connections are not allowed\": use port 587 with STARTTLS or 465 with SSL/TLS".into(), notes);
        }
        return d(Class::RelayPort, "AUTH is not offered on this port before or after TLS: this looks like a relay port (25); use the submission port 587 or 465".into(), notes);
    }
    d(Class::Other, "the conversation ended early".into(), notes)
}

/// Why EXTERNAL is not on offer, when the credentials are a certificate.
fn external_hint(report: &Report, opts: &Options) -> String {
    if !opts.external() {
        String::new()
    } else if !report.client_cert_requested {
        " (EXTERNAL needs a client certificate, and the server did not ask for one: it takes no client certificates on this port)".to_owned()
    } else {
        " (the server asked for the client certificate and got it, but does not offer EXTERNAL: it does not use certificates for SASL here)".to_owned()
    }
}

/// The report as text. Never contains the password or token.
pub fn render(report: &Report, diagnosis: &Diagnosis) -> String {
    let mut out = String::new();
    let mode = if report.implicit_tls {
        "implicit TLS"
    } else if report.allow_plaintext {
        "STARTTLS if offered"
    } else {
        "STARTTLS"
    };
    let _ = writeln!(out, "smtp-auth probe: {} ({mode})", report.server);
    for (what, text) in &report.steps {
        let _ = writeln!(out, "  {what:<22} {text}");
    }
    if let Some(e) = &report.connect_error {
        let _ = writeln!(out, "  {:<22} {e}", "connect failed");
    }
    if let Some(e) = &report.tls_error {
        let _ = writeln!(out, "  {:<22} {e}", "TLS failed");
    }
    if let Some(e) = &report.error {
        let _ = writeln!(out, "  {:<22} {e}", "stopped");
    }
    let _ = writeln!(out, "diagnosis: {}", diagnosis.text);
    for n in &diagnosis.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}
