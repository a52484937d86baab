//! SCRAM-SHA-1 and SCRAM-SHA-256, with and without `-PLUS` channel binding
//! (RFC 5802, RFC 7677, RFC 9266 `tls-exporter`).
//!
//! ```text
//! C: n,,n=user,r=<cnonce>                         client-first
//! S: r=<cnonce><snonce>,s=<salt>,i=<iterations>   server-first
//! C: c=<b64 gs2 header+cb>,r=<nonce>,p=<proof>    client-final
//! S: v=<server signature>  (or e=<error>)         server-final, a 334 challenge in SMTP
//! C: (empty)
//! ```

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::crypto::{self, ct_eq};
use super::gs2::{self, CbFlag};
use super::secret::ScramCredentials;
use super::{
    authorization_failure, encoding, fail, success, Failure, Lookup, Mechanism, Misfit, Request,
    Resolution, ScramHash, ServerContext, Step, Verified,
};

/// Longest SCRAM message accepted, in octets. Escaped names (255 octets
/// each, up to 3× when escaped), a nonce, channel binding and proof fit
/// well inside; more is an attack on memory (ATK-10).
pub(crate) const MAX_MESSAGE_LEN: usize = 4096;

/// Longest client or server nonce part accepted, in octets.
pub(crate) const MAX_NONCE_LEN: usize = 256;

/// Random bytes in a server nonce: 18 bytes base64 to 24 printable
/// characters without padding or commas (R5802-5.1.4).
const NONCE_BYTES: usize = 18;

/// Iterations announced for users that do not exist (R5802-9.1): the
/// common default, so a fake record looks like most real ones.
const FAKE_ITERATIONS: u32 = 4096;

/// HMAC with the SCRAM hash.
pub(crate) fn hmac(hash: ScramHash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => crypto::hmac::<Sha1>(key, parts),
        ScramHash::Sha256 => crypto::hmac::<Sha256>(key, parts),
    }
}

/// The SCRAM hash function H.
pub(crate) fn h(hash: ScramHash, data: &[u8]) -> Vec<u8> {
    match hash {
        ScramHash::Sha1 => Sha1::digest(data).to_vec(),
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// Hi(password, salt, i) = PBKDF2 with HMAC-H, one block (RFC 5802 §2.2).
pub(crate) fn hi(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0u8; hash.output_len()];
    match hash {
        ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
        ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
    }
    out
}

/// RFC 5802 §2.2 Normalize(): the password after SASLprep (RFC 4013), so
/// that clients and servers that type or store it in different Unicode
/// forms agree. A password SASLprep refuses (control characters, say) is
/// used as given, as PostgreSQL does, rather than locking its owner out.
/// Plain ASCII passwords come back unchanged and unallocated.
pub(crate) fn normalize(password: &str) -> std::borrow::Cow<'_, str> {
    stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password))
}

/// The keys derived from a salted password (RFC 5802 §3).
pub(crate) struct Keys {
    pub(crate) client_key: Vec<u8>,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

impl Keys {
    pub(crate) fn from_password(
        hash: ScramHash,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Self {
        let salted = hi(hash, password, salt, iterations);
        let client_key = hmac(hash, &salted, &[b"Client Key"]);
        Self {
            stored_key: h(hash, &client_key),
            server_key: hmac(hash, &salted, &[b"Server Key"]),
            client_key,
        }
    }
}

/// XOR of two equal-length byte strings.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The `server-error-value`s of RFC 5802 §7 this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramError {
    InvalidEncoding,
    ExtensionsNotSupported,
    InvalidProof,
    ChannelBindingsDontMatch,
    ServerDoesSupportChannelBinding,
    ChannelBindingNotSupported,
    UnsupportedChannelBindingType,
    InvalidUsernameEncoding,
    OtherError,
}

impl ScramError {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            ScramError::InvalidEncoding => "invalid-encoding",
            ScramError::ExtensionsNotSupported => "extensions-not-supported",
            ScramError::InvalidProof => "invalid-proof",
            ScramError::ChannelBindingsDontMatch => "channel-bindings-dont-match",
            ScramError::ServerDoesSupportChannelBinding => "server-does-support-channel-binding",
            ScramError::ChannelBindingNotSupported => "channel-binding-not-supported",
            ScramError::UnsupportedChannelBindingType => "unsupported-channel-binding-type",
            ScramError::InvalidUsernameEncoding => "invalid-username-encoding",
            ScramError::OtherError => "other-error",
        }
    }

    /// How the exchange is recorded once the client has read the error.
    const fn failure(self) -> Failure {
        match self {
            ScramError::InvalidProof => Failure::InvalidCredentials,
            _ => Failure::Malformed,
        }
    }
}

/// `printable` of RFC 5802 §7: %x21-2B / %x2D-7E (no comma).
fn is_printable(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// A valid nonce part: 1..=MAX_NONCE_LEN printable characters.
pub(crate) fn valid_nonce(n: &[u8]) -> bool {
    !n.is_empty() && n.len() <= MAX_NONCE_LEN * 2 && n.iter().all(|&b| is_printable(b))
}

/// An extension `attr-val`: ALPHA "=" 1*value-char (any UTF-8 but NUL and
/// `,`; UTF-8 validity is checked for the whole message up front).
fn valid_extension(field: &[u8]) -> bool {
    match field {
        [a, b'=', value @ ..] => {
            a.is_ascii_alphabetic() && !value.is_empty() && !value.contains(&0)
        }
        _ => false,
    }
}

/// A parsed client-first message.
#[derive(Debug)]
struct ClientFirst {
    header: gs2::Header,
    authcid: String,
    /// `client-first-message-bare`, part of the AuthMessage.
    bare: String,
    client_nonce: String,
}

/// Parses a client-first message and checks its channel-binding flag
/// against the mechanism and connection (RFC 5802 §6, §7).
fn parse_client_first(
    mechanism: Mechanism,
    ctx: &ServerContext<'_>,
    msg: &[u8],
) -> Result<ClientFirst, ScramError> {
    if msg.len() > MAX_MESSAGE_LEN || std::str::from_utf8(msg).is_err() {
        return Err(ScramError::InvalidEncoding);
    }
    let (header, bare) = gs2::parse(msg).map_err(|e| match e {
        gs2::Error::Syntax => ScramError::InvalidEncoding,
        gs2::Error::Name => ScramError::InvalidUsernameEncoding,
    })?;
    match (&header.flag, mechanism.uses_channel_binding()) {
        (CbFlag::No, false) => {}
        // R5802-6.1: `y` while we could have bound = a downgrade.
        (CbFlag::ClientOnly, false) if ctx.channel_binding.is_some() => {
            return Err(ScramError::ServerDoesSupportChannelBinding)
        }
        (CbFlag::ClientOnly, false) => {}
        // R5802-6.2: binding requested on a mechanism without it.
        (CbFlag::Binding(_), false) => return Err(ScramError::ChannelBindingNotSupported),
        (CbFlag::Binding(name), true) => match ctx.channel_binding {
            Some(cb) if cb.kind == *name => {}
            Some(_) => return Err(ScramError::UnsupportedChannelBindingType),
            None => return Err(ScramError::ChannelBindingNotSupported),
        },
        // R5802-6.2: a -PLUS mechanism without binding.
        (CbFlag::No | CbFlag::ClientOnly, true) => {
            return Err(ScramError::ChannelBindingsDontMatch)
        }
    }
    let mut fields = bare.split(|&b| b == b',');
    let user = fields.next().unwrap_or_default();
    if user.starts_with(b"m=") {
        return Err(ScramError::ExtensionsNotSupported);
    }
    let user = user
        .strip_prefix(b"n=")
        .ok_or(ScramError::InvalidEncoding)?;
    let authcid = gs2::unescape(user).ok_or(ScramError::InvalidUsernameEncoding)?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix(b"r="))
        .ok_or(ScramError::InvalidEncoding)?;
    if !valid_nonce(nonce) || nonce.len() > MAX_NONCE_LEN {
        return Err(ScramError::InvalidEncoding);
    }
    for ext in fields {
        if ext.starts_with(b"m=") {
            return Err(ScramError::ExtensionsNotSupported);
        }
        if !valid_extension(ext) {
            return Err(ScramError::InvalidEncoding);
        }
    }
    Ok(ClientFirst {
        header,
        authcid,
        bare: String::from_utf8_lossy(bare).into_owned(),
        client_nonce: String::from_utf8_lossy(nonce).into_owned(),
    })
}

/// What the server remembers between server-first and client-final.
struct Pending {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    /// False for a fake record: the proof can never verify.
    known: bool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(<redacted>)")
    }
}

/// The server side of SCRAM.
#[derive(Debug)]
pub(crate) struct ScramServer {
    mechanism: Mechanism,
    hash: ScramHash,
    /// A fixed server nonce part (tests replaying published vectors).
    fixed_nonce: Option<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    AwaitClientFirst,
    Fetching(ClientFirst),
    AwaitClientFinal(Box<Pending>),
    Authorizing {
        authcid: String,
        authzid: String,
        server_final: Vec<u8>,
    },
    /// `v=` sent; the client must answer with an empty response.
    AwaitAck {
        authcid: String,
        authzid: Option<String>,
    },
    /// `e=` sent; whatever the client answers, the exchange fails.
    AwaitErrorAck(Failure),
    Done,
}

impl ScramServer {
    pub(crate) fn new(mechanism: Mechanism, fixed_nonce: Option<String>) -> Self {
        Self {
            mechanism,
            hash: mechanism.scram_hash().unwrap_or(ScramHash::Sha256),
            fixed_nonce,
            state: State::Start,
        }
    }

    /// Sends `e=<error>` (R4954-4.18: as a challenge) and fails after the
    /// client's next response.
    fn error(&mut self, e: ScramError) -> Step {
        // A wrong password (or unknown user) fails at once, as Dovecot and
        // Cyrus do: SMTP has no "additional data with failure", and common
        // clients (gsasl, msmtp) cannot read an `e=invalid-proof` challenge,
        // so they would never show the user the 535.
        if e == ScramError::InvalidProof {
            self.state = State::Done;
            return fail(e.failure());
        }
        self.state = State::AwaitErrorAck(e.failure());
        Step::Challenge(format!("e={}", e.name()).into_bytes())
    }

    pub(crate) fn step(&mut self, ctx: &ServerContext<'_>, response: Option<&[u8]>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start | State::AwaitClientFirst
                if self.mechanism.uses_channel_binding() && ctx.channel_binding.is_none() =>
            {
                fail(Failure::NotAvailable)
            }
            State::Start if response.is_none() => {
                self.state = State::AwaitClientFirst;
                Step::Challenge(Vec::new())
            }
            State::Start | State::AwaitClientFirst => {
                match parse_client_first(self.mechanism, ctx, response.unwrap_or_default()) {
                    Ok(first) => {
                        let authcid = first.authcid.clone();
                        self.state = State::Fetching(first);
                        Step::Request(Request::ScramCredentials {
                            authcid,
                            hash: self.hash,
                        })
                    }
                    Err(e) => self.error(e),
                }
            }
            State::AwaitClientFinal(pending) => {
                self.client_final(ctx, *pending, response.unwrap_or_default())
            }
            State::AwaitAck { authcid, authzid } => {
                if response.unwrap_or_default().is_empty() {
                    success(self.mechanism, authcid, authzid)
                } else {
                    fail(Failure::Malformed)
                }
            }
            State::AwaitErrorAck(failure) => fail(failure),
            State::Fetching(_) | State::Authorizing { .. } | State::Done => {
                fail(Failure::Malformed)
            }
        }
    }

    pub(crate) fn resolve(
        &mut self,
        ctx: &ServerContext<'_>,
        resolution: Resolution,
    ) -> Result<Step, Misfit> {
        match (std::mem::replace(&mut self.state, State::Done), resolution) {
            (State::Fetching(first), Resolution::ScramCredentials(lookup)) => {
                Ok(self.server_first(ctx, first, lookup))
            }
            (
                State::Authorizing {
                    authcid,
                    authzid,
                    server_final,
                },
                Resolution::Verdict(v),
            ) => Ok(match authorization_failure(v) {
                None => {
                    self.state = State::AwaitAck {
                        authcid,
                        authzid: Some(authzid),
                    };
                    Step::Challenge(server_final)
                }
                Some(f) => fail(f),
            }),
            (state, resolution) => {
                self.state = state;
                Err(Misfit(resolution))
            }
        }
    }

    fn server_first(
        &mut self,
        ctx: &ServerContext<'_>,
        first: ClientFirst,
        lookup: Lookup<ScramCredentials>,
    ) -> Step {
        let (salt, iterations, stored_key, server_key, known) = match lookup {
            Lookup::Found(c) if c.hash() == self.hash => (
                c.salt().to_vec(),
                c.iterations(),
                c.stored_key().to_vec(),
                c.server_key().to_vec(),
                true,
            ),
            // Credentials for the other hash: a backend error, not a login.
            Lookup::Found(_) | Lookup::Unavailable => return fail(Failure::Unavailable),
            // R5802-9.1, ATK-07: a deterministic fake record, so the salt
            // is the same on every try and the failure comes only after
            // the proof, as `invalid-proof`.
            Lookup::NotFound => {
                let label = self.hash.name().as_bytes();
                let user = first.authcid.as_bytes();
                let fake = |what: &[u8]| {
                    crypto::hmac::<Sha256>(
                        ctx.fake_salt_key,
                        &[b"SCRAM-", label, b"\0", what, b"\0", user],
                    )
                };
                let mut salt = fake(b"salt");
                salt.truncate(16);
                let mut stored = fake(b"stored-key");
                stored.resize(self.hash.output_len(), 0);
                let mut server = fake(b"server-key");
                server.resize(self.hash.output_len(), 0);
                (salt, FAKE_ITERATIONS, stored, server, false)
            }
        };
        let server_nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => {
                let mut random = [0u8; NONCE_BYTES];
                ctx.entropy.fill(&mut random);
                encoding::encode(&random)
            }
        };
        let nonce = format!("{}{}", first.client_nonce, server_nonce);
        let server_first = format!("r={},s={},i={}", nonce, encoding::encode(&salt), iterations);
        let challenge = server_first.clone().into_bytes();
        self.state = State::AwaitClientFinal(Box::new(Pending {
            first,
            server_first,
            nonce,
            stored_key,
            server_key,
            known,
        }));
        Step::Challenge(challenge)
    }

    fn client_final(&mut self, ctx: &ServerContext<'_>, p: Pending, msg: &[u8]) -> Step {
        if msg.len() > MAX_MESSAGE_LEN || std::str::from_utf8(msg).is_err() {
            return self.error(ScramError::InvalidEncoding);
        }
        // The proof is the last attribute; everything before it is signed.
        let Some(comma) = msg.iter().rposition(|&b| b == b',') else {
            return self.error(ScramError::InvalidEncoding);
        };
        let (without_proof, proof_attr) = msg.split_at(comma);
        let mut fields = without_proof.split(|&b| b == b',');
        let (Some(cb), Some(nonce)) = (
            fields.next().and_then(|f| f.strip_prefix(b"c=")),
            fields.next().and_then(|f| f.strip_prefix(b"r=")),
        ) else {
            return self.error(ScramError::InvalidEncoding);
        };
        for ext in fields {
            if !valid_extension(ext) || ext.starts_with(b"m=") {
                return self.error(ScramError::InvalidEncoding);
            }
        }
        let Some(proof) = proof_attr.strip_prefix(b",p=") else {
            return self.error(ScramError::InvalidEncoding);
        };
        let (Ok(cb), Ok(proof)) = (encoding::decode(cb), encoding::decode(proof)) else {
            return self.error(ScramError::InvalidEncoding);
        };
        // R5802-5.1.7: c= repeats the GS2 header, plus the binding data
        // for p=.
        let mut expected = p.first.header.raw.clone();
        if matches!(p.first.header.flag, CbFlag::Binding(_)) {
            match ctx.channel_binding {
                Some(binding) => expected.extend_from_slice(&binding.data),
                None => return self.error(ScramError::ChannelBindingNotSupported),
            }
        }
        if !ct_eq(&cb, &expected) {
            return self.error(ScramError::ChannelBindingsDontMatch);
        }
        // R5802-5.1.5: the nonce must be the combined one we sent.
        if nonce != p.nonce.as_bytes() {
            return self.error(ScramError::OtherError);
        }
        if proof.len() != self.hash.output_len() {
            return self.error(ScramError::InvalidProof);
        }
        let auth_message = [
            p.first.bare.as_bytes(),
            b",",
            p.server_first.as_bytes(),
            b",",
            without_proof,
        ]
        .concat();
        // R5802-5.1.8: ClientKey = proof XOR HMAC(StoredKey, AuthMessage);
        // H(ClientKey) must be StoredKey, compared in constant time.
        let client_signature = hmac(self.hash, &p.stored_key, &[&auth_message]);
        let client_key = xor(&proof, &client_signature);
        let verified = ct_eq(&h(self.hash, &client_key), &p.stored_key) & p.known;
        if !verified {
            if !p.known {
                // The same failure on the wire as a wrong proof (ATK-07);
                // only the outcome tells the logs the user was unknown.
                self.state = State::Done;
                return fail(Failure::UnknownUser);
            }
            return self.error(ScramError::InvalidProof);
        }
        let signature = hmac(self.hash, &p.server_key, &[&auth_message]);
        let server_final = format!("v={}", encoding::encode(&signature)).into_bytes();
        let ClientFirst {
            authcid, header, ..
        } = p.first;
        match header.authzid {
            // RFC 4422 §3.4.1, ATK-08: another identity needs permission
            // before the server proves itself and the exchange succeeds.
            Some(authzid) if authzid != authcid => {
                let step = Verified::request(&authcid, &authzid);
                self.state = State::Authorizing {
                    authcid,
                    authzid,
                    server_final,
                };
                step
            }
            _ => {
                self.state = State::AwaitAck {
                    authcid,
                    authzid: None,
                };
                Step::Challenge(server_final)
            }
        }
    }
}

/// Largest iteration count a client accepts: a hostile server could
/// otherwise make the client spin for minutes (ATK-10).
pub(crate) const MAX_CLIENT_ITERATIONS: u32 = 10_000_000;

/// A random client nonce: 18 bytes, base64.
pub(crate) fn random_nonce(entropy: &dyn crate::random::Entropy) -> String {
    let mut random = [0u8; NONCE_BYTES];
    entropy.fill(&mut random);
    encoding::encode(&random)
}

/// The client side of SCRAM.
pub(crate) struct ScramClient {
    hash: ScramHash,
    /// GS2 header plus channel-binding data: what `c=` carries.
    cbind_input: Vec<u8>,
    /// GS2 header followed by client-first-message-bare.
    client_first: Vec<u8>,
    bare: String,
    client_nonce: String,
    password: crate::secret::Secret<String>,
    state: ClientState,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum ClientState {
    /// client-first not sent yet.
    Initial,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for `v=`.
    SentFinal {
        server_signature: crate::secret::Secret<Vec<u8>>,
    },
    /// The server proved it knows the credentials.
    Verified,
    /// Over without success.
    Failed,
}

use super::client::ClientError;

impl ScramClient {
    /// `binding` is the connection's channel binding if the client has
    /// one: a `-PLUS` mechanism binds to it (`p=`), a plain one announces
    /// `y` (RFC 5802 §6), and without any it is `n`.
    pub(crate) fn new(
        mechanism: Mechanism,
        authcid: &str,
        authzid: Option<&str>,
        password: crate::secret::Secret<String>,
        binding: Option<&super::ChannelBinding>,
        client_nonce: String,
    ) -> Result<Self, ClientError> {
        let hash = mechanism
            .scram_hash()
            .ok_or(ClientError::MechanismMismatch { mechanism })?;
        let mut header = match (mechanism.uses_channel_binding(), binding) {
            (true, Some(cb)) => format!("p={},", cb.kind),
            (true, None) => return Err(ClientError::ChannelBindingRequired),
            (false, Some(_)) => "y,".to_owned(),
            (false, None) => "n,".to_owned(),
        };
        if let Some(z) = authzid {
            header.push_str("a=");
            header.push_str(&gs2::escape(z));
        }
        header.push(',');
        let bare = format!("n={},r={}", gs2::escape(authcid), client_nonce);
        let mut cbind_input = header.clone().into_bytes();
        if let (true, Some(cb)) = (mechanism.uses_channel_binding(), binding) {
            cbind_input.extend_from_slice(&cb.data);
        }
        let client_first = format!("{header}{bare}").into_bytes();
        Ok(Self {
            hash,
            cbind_input,
            client_first,
            bare,
            client_nonce,
            password,
            state: ClientState::Initial,
        })
    }

    /// The client-first message (the initial response); `None` once sent.
    pub(crate) fn client_first(&mut self) -> Option<Vec<u8>> {
        match self.state {
            ClientState::Initial => {
                self.state = ClientState::SentFirst;
                Some(self.client_first.clone())
            }
            _ => None,
        }
    }

    pub(crate) fn is_verified(&self) -> bool {
        matches!(self.state, ClientState::Verified)
    }

    pub(crate) fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        let state = std::mem::replace(&mut self.state, ClientState::Failed);
        if let Some(error) = challenge.strip_prefix(b"e=") {
            return Err(ClientError::ServerError {
                error: sanitize_error(error),
            });
        }
        match state {
            // No initial response was sent: the server's empty challenge
            // asks for client-first.
            ClientState::Initial if challenge.is_empty() => {
                self.state = ClientState::SentFirst;
                Ok(self.client_first.clone())
            }
            ClientState::SentFirst => self.client_final(challenge),
            ClientState::SentFinal { server_signature } => {
                let v = challenge
                    .strip_prefix(b"v=")
                    .ok_or(ClientError::MalformedChallenge)?;
                let v = encoding::decode(v).map_err(|_| ClientError::MalformedChallenge)?;
                if ct_eq(&v, server_signature.expose()) {
                    self.state = ClientState::Verified;
                    Ok(Vec::new())
                } else {
                    Err(ClientError::ServerSignatureMismatch)
                }
            }
            ClientState::Initial | ClientState::Verified | ClientState::Failed => {
                Err(ClientError::UnexpectedChallenge)
            }
        }
    }

    fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ClientError> {
        if server_first.len() > MAX_MESSAGE_LEN {
            return Err(ClientError::MalformedChallenge);
        }
        let text =
            std::str::from_utf8(server_first).map_err(|_| ClientError::MalformedChallenge)?;
        let mut fields = text.split(',');
        if text.starts_with("m=") {
            return Err(ClientError::MalformedChallenge);
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (
            fields.next().and_then(|f| f.strip_prefix("r=")),
            fields.next().and_then(|f| f.strip_prefix("s=")),
            fields.next().and_then(|f| f.strip_prefix("i=")),
        ) else {
            return Err(ClientError::MalformedChallenge);
        };
        if !fields.all(|f| valid_extension(f.as_bytes()) && !f.starts_with("m=")) {
            return Err(ClientError::MalformedChallenge);
        }
        // The combined nonce must extend ours (R5802-5.1.4).
        if !valid_nonce(nonce.as_bytes())
            || nonce.len() <= self.client_nonce.len()
            || !nonce.starts_with(self.client_nonce.as_str())
        {
            return Err(ClientError::NonceMismatch);
        }
        let salt =
            encoding::decode(salt.as_bytes()).map_err(|_| ClientError::MalformedChallenge)?;
        if salt.is_empty() {
            return Err(ClientError::MalformedChallenge);
        }
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClientError::MalformedChallenge);
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ClientError::MalformedChallenge)?;
        if iterations == 0 || iterations > MAX_CLIENT_ITERATIONS {
            return Err(ClientError::IterationCount { iterations });
        }
        let keys = Keys::from_password(
            self.hash,
            normalize(self.password.expose()).as_bytes(),
            &salt,
            iterations,
        );
        let without_proof = format!("c={},r={}", encoding::encode(&self.cbind_input), nonce);
        let auth_message = format!("{},{},{}", self.bare, text, without_proof);
        let client_signature = hmac(self.hash, &keys.stored_key, &[auth_message.as_bytes()]);
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = hmac(self.hash, &keys.server_key, &[auth_message.as_bytes()]);
        self.state = ClientState::SentFinal {
            server_signature: crate::secret::Secret::new(server_signature),
        };
        Ok(format!("{},p={}", without_proof, encoding::encode(&proof)).into_bytes())
    }
}

/// A server's `e=` value, reduced to the characters error names use, so it
/// can go into an error message and a log line safely.
fn sanitize_error(raw: &[u8]) -> String {
    let clean: String = raw
        .iter()
        .take(64)
        .map(|&b| char::from(b))
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if clean.is_empty() {
        "other-error".to_owned()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    const SHA1_C1: &str = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    const SHA1_S1: &str = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_C2: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SHA1_S2: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    const SHA256_C1: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SHA256_S1: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SHA256_C2: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SHA256_S2: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn creds(hash: ScramHash, salt_b64: &str) -> ScramCredentials {
        let salt = encoding::decode(salt_b64.as_bytes()).unwrap();
        ScramCredentials::derive(hash, "pencil", &salt, 4096).unwrap()
    }

    fn sha1_creds() -> ScramCredentials {
        creds(ScramHash::Sha1, "QSXCR+Q6sek8bf92")
    }

    fn sha256_creds() -> ScramCredentials {
        creds(ScramHash::Sha256, "W22ZaJ0SNY7soEsUEjb6gQ==")
    }

    /// Runs the server through server-first for `client_first`.
    fn to_server_first(
        mech: Mechanism,
        nonce: &str,
        ctx: &ServerContext<'_>,
        client_first: &[u8],
        lookup: Lookup<ScramCredentials>,
    ) -> (ServerExchange, Vec<u8>) {
        let mut ex = ServerExchange::with_scram_nonce(mech, nonce);
        let r = request(ex.step(ctx, Some(client_first)));
        assert!(matches!(r, Request::ScramCredentials { .. }), "{r:?}");
        let s1 = challenge(
            ex.resolve(ctx, Resolution::ScramCredentials(lookup))
                .unwrap(),
        );
        (ex, s1)
    }

    fn rfc_server(
        mech: Mechanism,
        nonce: &str,
        c1: &str,
        c2: &str,
        creds: ScramCredentials,
    ) -> Step {
        let (mut ex, _) = to_server_first(mech, nonce, &ctx(), c1.as_bytes(), Lookup::Found(creds));
        ex.step(&ctx(), Some(c2.as_bytes()))
    }

    #[test]
    fn r5802_5_2_sha1_server_exchange_byte_for_byte() {
        let mut ex = ServerExchange::with_scram_nonce(Mechanism::ScramSha1, "3rfcNHYJY1ZVvWVs7j");
        let r = request(ex.step(&ctx(), Some(SHA1_C1.as_bytes())));
        assert_eq!(
            r,
            Request::ScramCredentials {
                authcid: "user".into(),
                hash: ScramHash::Sha1
            }
        );
        let s1 = ex
            .resolve(
                &ctx(),
                Resolution::ScramCredentials(Lookup::Found(sha1_creds())),
            )
            .unwrap();
        assert_eq!(challenge(s1), SHA1_S1.as_bytes());
        assert_eq!(
            challenge(ex.step(&ctx(), Some(SHA1_C2.as_bytes()))),
            SHA1_S2.as_bytes()
        );
        // R4954-4.18: the client acknowledges v= with an empty response.
        assert_eq!(
            done(ex.step(&ctx(), Some(b""))),
            ok(Mechanism::ScramSha1, "user")
        );
    }

    #[test]
    fn r7677_3_1_sha256_server_exchange_byte_for_byte() {
        let mut ex = ServerExchange::with_scram_nonce(
            Mechanism::ScramSha256,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        let _ = request(ex.step(&ctx(), Some(SHA256_C1.as_bytes())));
        let s1 = ex
            .resolve(
                &ctx(),
                Resolution::ScramCredentials(Lookup::Found(sha256_creds())),
            )
            .unwrap();
        assert_eq!(challenge(s1), SHA256_S1.as_bytes());
        let s2 = ex.step(&ctx(), Some(SHA256_C2.as_bytes()));
        assert_eq!(challenge(s2), SHA256_S2.as_bytes());
        assert_eq!(
            done(ex.step(&ctx(), Some(b""))),
            ok(Mechanism::ScramSha256, "user")
        );
    }

    #[test]
    fn r5802_5_2_sha1_client_exchange_byte_for_byte() {
        let cctx = ClientContext::new(&ENTROPY);
        let mut c = ClientExchange::with_scram_nonce(
            Mechanism::ScramSha1,
            Credentials::password("user", "pencil"),
            &cctx,
            "fyko+d2lbbFgONRv9qkxdawL",
        )
        .unwrap();
        assert_eq!(c.initial_response().unwrap(), SHA1_C1.as_bytes());
        assert_eq!(c.respond(SHA1_S1.as_bytes()).unwrap(), SHA1_C2.as_bytes());
        assert!(!c.is_complete() && !c.server_verified());
        assert_eq!(c.respond(SHA1_S2.as_bytes()).unwrap(), b"");
        assert!(c.is_complete() && c.server_verified());
        assert_eq!(c.respond(b""), Err(ClientError::UnexpectedChallenge));
    }

    #[test]
    fn r7677_3_1_sha256_client_exchange_byte_for_byte() {
        let cctx = ClientContext::new(&ENTROPY);
        let mut c = ClientExchange::with_scram_nonce(
            Mechanism::ScramSha256,
            Credentials::password("user", "pencil"),
            &cctx,
            "rOprNGfwEbeRWgbNEkqO",
        )
        .unwrap();
        assert_eq!(c.initial_response().unwrap(), SHA256_C1.as_bytes());
        assert_eq!(
            c.respond(SHA256_S1.as_bytes()).unwrap(),
            SHA256_C2.as_bytes()
        );
        assert_eq!(c.respond(SHA256_S2.as_bytes()).unwrap(), b"");
        assert!(c.server_verified());
    }

    #[test]
    fn r5802_5_1_9_client_rejects_wrong_server_signature_and_errors() {
        let cctx = ClientContext::new(&ENTROPY);
        let start = || {
            let mut c = ClientExchange::with_scram_nonce(
                Mechanism::ScramSha1,
                Credentials::password("user", "pencil"),
                &cctx,
                "fyko+d2lbbFgONRv9qkxdawL",
            )
            .unwrap();
            let _ = c.initial_response();
            let _ = c.respond(SHA1_S1.as_bytes()).unwrap();
            c
        };
        let mut c = start();
        assert_eq!(
            c.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="[..].to_vec().as_slice()),
            Ok(vec![])
        );
        let mut c2 = start();
        assert_eq!(
            c2.respond(b"v=AmF9pqV8S7suAoZWja4dJRkFsKQ="),
            Err(ClientError::ServerSignatureMismatch)
        );
        assert!(!c2.is_complete() && !c2.server_verified());
        let mut c3 = start();
        assert_eq!(
            c3.respond(b"e=invalid-proof"),
            Err(ClientError::ServerError {
                error: "invalid-proof".into()
            })
        );
        let mut c4 = start();
        assert_eq!(c4.respond(b"x=1"), Err(ClientError::MalformedChallenge));
        assert!(c.server_verified());
    }

    #[test]
    fn r5802_5_1_4_client_rejects_bad_server_first() {
        let cctx = ClientContext::new(&ENTROPY);
        for (s1, err) in [
            (
                "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
                ClientError::NonceMismatch,
            ),
            (
                "r=zzzz+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
                ClientError::NonceMismatch,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf9,i=4096",
                ClientError::MalformedChallenge,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",
                ClientError::MalformedChallenge,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0",
                ClientError::IterationCount { iterations: 0 },
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4000000000",
                ClientError::IterationCount {
                    iterations: 4_000_000_000,
                },
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1",
                ClientError::MalformedChallenge,
            ),
            (
                "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92",
                ClientError::MalformedChallenge,
            ),
            (
                "m=x,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1",
                ClientError::MalformedChallenge,
            ),
            (
                "e=other-error",
                ClientError::ServerError {
                    error: "other-error".into(),
                },
            ),
        ] {
            let mut c = ClientExchange::with_scram_nonce(
                Mechanism::ScramSha1,
                Credentials::password("user", "pencil"),
                &cctx,
                "fyko+d2lbbFgONRv9qkxdawL",
            )
            .unwrap();
            let _ = c.initial_response();
            assert_eq!(c.respond(s1.as_bytes()), Err(err), "{s1}");
        }
    }

    /// The server's `e=` challenge, then failure after any response.
    fn expect_error(step: Step, ex: &mut ServerExchange, name: &str, f: Failure) {
        assert_eq!(challenge(step), format!("e={name}").as_bytes());
        assert_eq!(failure(ex.step(&ctx(), Some(b""))), f);
    }

    #[test]
    fn r5802_5_1_5_nonce_mismatch_fails() {
        let c2 = SHA1_C2.replace("Vs7j,", "Vs7k,");
        assert_ne!(c2, SHA1_C2);
        let (mut ex, _) = to_server_first(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        let s = ex.step(&ctx(), Some(c2.as_bytes()));
        expect_error(s, &mut ex, "other-error", Failure::Malformed);
    }

    #[test]
    fn r5802_5_1_5_replayed_client_final_fails_on_a_fresh_nonce() {
        // A second attempt gets a different server nonce; the recorded
        // client-final no longer fits.
        let (mut ex, s1) = to_server_first(
            Mechanism::ScramSha1,
            "freshNonce123",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        assert_ne!(s1, SHA1_S1.as_bytes());
        let s = ex.step(&ctx(), Some(SHA1_C2.as_bytes()));
        expect_error(s, &mut ex, "other-error", Failure::Malformed);
    }

    #[test]
    fn r5802_5_1_9_client_final_sent_twice_fails() {
        let (mut ex, _) = to_server_first(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        assert_eq!(
            challenge(ex.step(&ctx(), Some(SHA1_C2.as_bytes()))),
            SHA1_S2.as_bytes()
        );
        // Anything but an empty acknowledgement of v= fails.
        assert_eq!(
            failure(ex.step(&ctx(), Some(SHA1_C2.as_bytes()))),
            Failure::Malformed
        );
    }

    #[test]
    fn r5802_5_1_8_tampered_proof_fails_with_invalid_proof() {
        let c2 = SHA1_C2.replace("p=v0X8", "p=v1X8");
        let (mut ex, _) = to_server_first(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        let s = ex.step(&ctx(), Some(c2.as_bytes()));
        // A wrong proof fails at once, without an `e=` round trip.
        assert_eq!(failure(s), Failure::InvalidCredentials);
        // A proof of the wrong length.
        let c2 = SHA1_C2.replace(
            "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "p=v0X8v3Bz2T0CJGbJQyF0X+HI",
        );
        let (mut ex, _) = to_server_first(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        let s = ex.step(&ctx(), Some(c2.as_bytes()));
        // A wrong proof fails at once, without an `e=` round trip.
        assert_eq!(failure(s), Failure::InvalidCredentials);
    }

    #[test]
    fn r5802_5_1_8_wrong_password_fails_with_invalid_proof() {
        let salt = encoding::decode(b"QSXCR+Q6sek8bf92").unwrap();
        let other = ScramCredentials::derive(ScramHash::Sha1, "pencil2", &salt, 4096).unwrap();
        let s = rfc_server(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            SHA1_C1,
            SHA1_C2,
            other,
        );
        assert_eq!(failure(s), Failure::InvalidCredentials);
    }

    #[test]
    fn r5802_5_1_7_altered_channel_binding_attribute_fails() {
        for (c2, name) in [
            // c= of `y,,` instead of `n,,`.
            (
                SHA1_C2.replace("c=biws", "c=eSws"),
                "channel-bindings-dont-match",
            ),
            (SHA1_C2.replace("c=biws", "c=biw"), "invalid-encoding"),
            (SHA1_C2.replace("c=biws", "c=bi ws"), "invalid-encoding"),
        ] {
            let (mut ex, _) = to_server_first(
                Mechanism::ScramSha1,
                "3rfcNHYJY1ZVvWVs7j",
                &ctx(),
                SHA1_C1.as_bytes(),
                Lookup::Found(sha1_creds()),
            );
            let s = ex.step(&ctx(), Some(c2.as_bytes()));
            expect_error(s, &mut ex, name, Failure::Malformed);
        }
    }

    #[test]
    fn r5802_7_1_malformed_client_final_fails() {
        let nonce = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        for c2 in [
            String::new(),
            format!("c=biws,r={nonce}"),
            format!("r={nonce},c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            "c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=".to_owned(),
            format!("c=biws,r={nonce},p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts"),
            format!("c=biws,r={nonce},p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=1"),
            format!("c=biws,r={nonce},1=x,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            format!("c=biws,r={nonce},m=x,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            format!("c=biws,r={nonce},P=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="),
            format!("c=biws,r={nonce},p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=\u{1}"),
            "c=biws,".repeat(1000),
        ] {
            let (mut ex, _) = to_server_first(
                Mechanism::ScramSha1,
                "3rfcNHYJY1ZVvWVs7j",
                &ctx(),
                SHA1_C1.as_bytes(),
                Lookup::Found(sha1_creds()),
            );
            let s = ex.step(&ctx(), Some(c2.as_bytes()));
            expect_error(s, &mut ex, "invalid-encoding", Failure::Malformed);
        }
        // Unknown extensions before the proof are allowed (and signed).
        let (mut ex, _) = to_server_first(
            Mechanism::ScramSha1,
            "3rfcNHYJY1ZVvWVs7j",
            &ctx(),
            SHA1_C1.as_bytes(),
            Lookup::Found(sha1_creds()),
        );
        let c2 = format!("c=biws,r={nonce},x=1,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        // Still a valid message, but the proof no longer covers it.
        assert_eq!(
            failure(ex.step(&ctx(), Some(c2.as_bytes()))),
            Failure::InvalidCredentials
        );
    }

    #[test]
    fn r5802_7_1_malformed_client_first_fails() {
        for (c1, name) in [
            ("", "invalid-encoding"),
            ("n,,", "invalid-encoding"),
            ("n,,r=abc", "invalid-encoding"),
            ("n,,n=user", "invalid-encoding"),
            ("n,,n=user,r=", "invalid-encoding"),
            ("n,,n=user,r=a b", "invalid-encoding"),
            ("n,,n=user,s=abc", "invalid-encoding"),
            ("n,,n=user,r=abc,1=x", "invalid-encoding"),
            ("n,,n=user,r=abc,x=", "invalid-encoding"),
            ("x,,n=user,r=abc", "invalid-encoding"),
            ("n,x=y,n=user,r=abc", "invalid-encoding"),
            ("n,,n=us\u{7f}er,r=abc", "invalid-username-encoding"),
            ("n,,n=us=er,r=abc", "invalid-username-encoding"),
            ("n,,n=us=2cer,r=abc", "invalid-username-encoding"),
            ("n,,n=,r=abc", "invalid-username-encoding"),
            ("n,a=x=4,n=user,r=abc", "invalid-username-encoding"),
            ("n,,m=ext,n=user,r=abc", "extensions-not-supported"),
            ("n,,n=user,r=abc,m=ext", "extensions-not-supported"),
            (
                "p=tls-exporter,,n=user,r=abc",
                "channel-binding-not-supported",
            ),
        ] {
            let mut ex = ServerExchange::new(Mechanism::ScramSha256);
            let s = ex.step(&ctx(), Some(c1.as_bytes()));
            expect_error(s, &mut ex, name, Failure::Malformed);
        }
        let long_user = format!("n,,n={},r=abc", "u".repeat(256));
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let s = ex.step(&ctx(), Some(long_user.as_bytes()));
        expect_error(s, &mut ex, "invalid-username-encoding", Failure::Malformed);
        let huge = format!("n,,n=user,r={}", "a".repeat(5000));
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let s = ex.step(&ctx(), Some(huge.as_bytes()));
        expect_error(s, &mut ex, "invalid-encoding", Failure::Malformed);
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let s = ex.step(&ctx(), Some(b"n,,n=user,r=abc\xff"));
        expect_error(s, &mut ex, "invalid-encoding", Failure::Malformed);
    }

    #[test]
    fn r5802_5_1_2_escaped_user_name_is_decoded() {
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let r = request(ex.step(&ctx(), Some("n,,n=a=2Cb=3Dc jürgen,r=abc".as_bytes())));
        assert_eq!(r.authcid(), Some("a,b=c jürgen"));
    }

    #[test]
    fn r5802_6_1_y_flag_while_server_supports_binding_fails() {
        let cb = ChannelBinding {
            kind: "tls-exporter".into(),
            data: vec![9; 32],
        };
        let tls = ServerContext {
            channel_binding: Some(&cb),
            ..ctx()
        };
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let s = ex.step(&tls, Some(b"y,,n=user,r=abc"));
        assert_eq!(challenge(s), b"e=server-does-support-channel-binding");
        assert_eq!(failure(ex.step(&tls, Some(b""))), Failure::Malformed);
        // Without binding on our side, `y` is fine.
        let mut ex = ServerExchange::new(Mechanism::ScramSha256);
        let _ = request(ex.step(&ctx(), Some(b"y,,n=user,r=abc")));
    }

    #[test]
    fn r5802_6_2_flags_that_do_not_fit_the_mechanism_fail() {
        let cb = ChannelBinding {
            kind: "tls-exporter".into(),
            data: vec![9; 32],
        };
        let tls = ServerContext {
            channel_binding: Some(&cb),
            ..ctx()
        };
        for (mech, c1, name) in [
            (
                Mechanism::ScramSha256,
                "p=tls-exporter,,n=user,r=abc",
                "channel-binding-not-supported",
            ),
            (
                Mechanism::ScramSha256Plus,
                "n,,n=user,r=abc",
                "channel-bindings-dont-match",
            ),
            (
                Mechanism::ScramSha256Plus,
                "y,,n=user,r=abc",
                "channel-bindings-dont-match",
            ),
            (
                Mechanism::ScramSha256Plus,
                "p=tls-unique,,n=user,r=abc",
                "unsupported-channel-binding-type",
            ),
        ] {
            let mut ex = ServerExchange::new(mech);
            let s = ex.step(&tls, Some(c1.as_bytes()));
            assert_eq!(challenge(s), format!("e={name}").as_bytes(), "{c1}");
        }
        // -PLUS on a connection without binding data is not available.
        let mut ex = ServerExchange::new(Mechanism::ScramSha1Plus);
        assert_eq!(
            failure(ex.step(&ctx(), Some(b"p=tls-exporter,,n=user,r=abc"))),
            Failure::NotAvailable
        );
    }

    fn plus_round_trip(
        server_cb: &ChannelBinding,
        client_cb: &ChannelBinding,
    ) -> Result<Outcome, Vec<u8>> {
        let sctx = ServerContext {
            channel_binding: Some(server_cb),
            ..ctx()
        };
        let cctx = ClientContext {
            channel_binding: Some(client_cb),
            ..ClientContext::new(&ENTROPY)
        };
        let mut c = ClientExchange::new(
            Mechanism::ScramSha256Plus,
            Credentials::password("user", "pencil"),
            &cctx,
        )
        .unwrap();
        let mut ex = ServerExchange::new(Mechanism::ScramSha256Plus);
        let c1 = c.initial_response().unwrap();
        assert!(c1.starts_with(format!("p={},,", client_cb.kind).as_bytes()));
        let _ = request(ex.step(&sctx, Some(&c1)));
        let s1 = challenge(
            ex.resolve(
                &sctx,
                Resolution::ScramCredentials(Lookup::Found(sha256_creds())),
            )
            .unwrap(),
        );
        let c2 = c.respond(&s1).unwrap();
        let s2 = challenge(ex.step(&sctx, Some(&c2)));
        if s2.starts_with(b"e=") {
            return Err(s2);
        }
        let c3 = c.respond(&s2).unwrap();
        assert!(c.server_verified());
        Ok(done(ex.step(&sctx, Some(&c3))))
    }

    #[test]
    fn r9266_tls_exporter_binding_round_trip() {
        let cb = ChannelBinding {
            kind: "tls-exporter".into(),
            data: (0..32).collect(),
        };
        assert_eq!(
            plus_round_trip(&cb, &cb),
            Ok(ok(Mechanism::ScramSha256Plus, "user"))
        );
        // A man in the middle has a different TLS channel: the data differ.
        let other = ChannelBinding {
            kind: "tls-exporter".into(),
            data: vec![0; 32],
        };
        assert_eq!(
            plus_round_trip(&cb, &other),
            Err(b"e=channel-bindings-dont-match".to_vec())
        );
    }

    #[test]
    fn atk_07_unknown_user_gets_stable_fake_salt_and_invalid_proof() {
        let first = |user: &str| {
            let c1 = format!("n,,n={user},r=abc");
            let (ex, s1) = to_server_first(
                Mechanism::ScramSha256,
                "srv",
                &ctx(),
                c1.as_bytes(),
                Lookup::NotFound,
            );
            (ex, String::from_utf8(s1).unwrap())
        };
        let (mut ex, s1) = first("ghost");
        let (_, again) = first("ghost");
        let (_, other) = first("phantom");
        assert_eq!(s1, again);
        assert_ne!(s1, other);
        assert!(
            s1.starts_with("r=abcsrv,s=") && s1.ends_with(",i=4096"),
            "{s1}"
        );
        let salt = s1.split(',').nth(1).unwrap().strip_prefix("s=").unwrap();
        assert_eq!(encoding::decode(salt.as_bytes()).unwrap().len(), 16);
        // Another server key gives another salt.
        let key2 = [8u8; 32];
        let ctx2 = ServerContext {
            fake_salt_key: &key2,
            ..ctx()
        };
        let (_, s1b) = to_server_first(
            Mechanism::ScramSha256,
            "srv",
            &ctx2,
            b"n,,n=ghost,r=abc",
            Lookup::NotFound,
        );
        assert_ne!(s1.as_bytes(), &s1b[..]);
        // The client goes on as usual and fails only at the proof.
        let c2 = "c=biws,r=abcsrv,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let s = ex.step(&ctx(), Some(c2.as_bytes()));
        // A wrong proof fails at once, without an `e=` round trip; the
        // outcome (not the wire) tells the logs the user was unknown.
        assert_eq!(failure(s), Failure::UnknownUser);
    }

    #[test]
    fn atk_07_unknown_user_fails_even_with_a_proof_for_the_fake_keys() {
        // Nothing derived from the fake record may ever log in.
        let cctx = ClientContext::new(&ENTROPY);
        let mut c = ClientExchange::new(
            Mechanism::ScramSha1,
            Credentials::password("ghost", "x"),
            &cctx,
        )
        .unwrap();
        let c1 = c.initial_response().unwrap();
        let (mut ex, s1) =
            to_server_first(Mechanism::ScramSha1, "srv", &ctx(), &c1, Lookup::NotFound);
        let c2 = c.respond(&s1).unwrap();
        assert_eq!(failure(ex.step(&ctx(), Some(&c2))), Failure::UnknownUser);
    }

    #[test]
    fn lookup_unavailable_or_wrong_hash_is_unavailable() {
        let mut ex = ServerExchange::new(Mechanism::ScramSha1);
        let _ = request(ex.step(&ctx(), Some(SHA1_C1.as_bytes())));
        let s = ex
            .resolve(&ctx(), Resolution::ScramCredentials(Lookup::Unavailable))
            .unwrap();
        assert_eq!(failure(s), Failure::Unavailable);
        let mut ex = ServerExchange::new(Mechanism::ScramSha1);
        let _ = request(ex.step(&ctx(), Some(SHA1_C1.as_bytes())));
        let s = ex
            .resolve(
                &ctx(),
                Resolution::ScramCredentials(Lookup::Found(sha256_creds())),
            )
            .unwrap();
        assert_eq!(failure(s), Failure::Unavailable);
    }

    #[test]
    fn r4954_4_7_no_initial_response_gets_empty_challenge() {
        let mut ex = ServerExchange::with_scram_nonce(Mechanism::ScramSha1, "3rfcNHYJY1ZVvWVs7j");
        assert_eq!(challenge(ex.step(&ctx(), None)), b"");
        let _ = request(ex.step(&ctx(), Some(SHA1_C1.as_bytes())));
        let s1 = ex
            .resolve(
                &ctx(),
                Resolution::ScramCredentials(Lookup::Found(sha1_creds())),
            )
            .unwrap();
        assert_eq!(challenge(s1), SHA1_S1.as_bytes());
    }

    #[test]
    fn r4422_3_4_1_2_authzid_is_authorized_before_v_is_sent() {
        let cctx = ClientContext::new(&ENTROPY);
        let creds = Credentials::Password {
            authcid: "user".into(),
            password: Secret::new("pencil".into()),
            authzid: Some("admin,x".into()),
        };
        for (verdict, expect) in [
            (Verdict::Valid, None),
            (Verdict::Invalid, Some(Failure::NotAuthorized)),
            (Verdict::Unavailable, Some(Failure::Unavailable)),
        ] {
            let mut c = ClientExchange::new(Mechanism::ScramSha256, creds.clone(), &cctx).unwrap();
            let c1 = c.initial_response().unwrap();
            assert!(c1.starts_with(b"n,a=admin=2Cx,n=user,r="));
            let (mut ex, s1) = to_server_first(
                Mechanism::ScramSha256,
                "srv",
                &ctx(),
                &c1,
                Lookup::Found(sha256_creds()),
            );
            let c2 = c.respond(&s1).unwrap();
            let r = request(ex.step(&ctx(), Some(&c2)));
            assert_eq!(
                r,
                Request::Authorize {
                    authcid: "user".into(),
                    authzid: "admin,x".into()
                }
            );
            let s = ex.resolve(&ctx(), Resolution::Verdict(verdict)).unwrap();
            match expect {
                None => {
                    let c3 = c.respond(&challenge(s)).unwrap();
                    assert!(c.server_verified());
                    assert_eq!(
                        done(ex.step(&ctx(), Some(&c3))),
                        Outcome::Success(Authenticated {
                            mechanism: Mechanism::ScramSha256,
                            authcid: "user".into(),
                            identity: "admin,x".into()
                        })
                    );
                }
                Some(f) => assert_eq!(failure(s), f),
            }
        }
    }

    #[test]
    fn misfit_and_cancel() {
        let mut ex = ServerExchange::new(Mechanism::ScramSha1);
        let _ = request(ex.step(&ctx(), Some(SHA1_C1.as_bytes())));
        let wrong = Resolution::Verdict(Verdict::Valid);
        assert_eq!(ex.resolve(&ctx(), wrong.clone()), Err(Misfit(wrong)));
        let s = ex
            .resolve(
                &ctx(),
                Resolution::ScramCredentials(Lookup::Found(sha1_creds())),
            )
            .unwrap();
        let _ = challenge(s);
        assert_eq!(ex.cancel(), Outcome::Failure(Failure::Cancelled));
    }

    #[test]
    fn server_nonces_are_fresh_printable_and_long() {
        let nonce = |ex: &mut ServerExchange| {
            let _ = request(ex.step(&ctx(), Some(b"n,,n=user,r=abc")));
            let s1 = challenge(
                ex.resolve(
                    &ctx(),
                    Resolution::ScramCredentials(Lookup::Found(sha1_creds())),
                )
                .unwrap(),
            );
            let s1 = String::from_utf8(s1).unwrap();
            s1.split(',')
                .next()
                .unwrap()
                .strip_prefix("r=abc")
                .unwrap()
                .to_owned()
        };
        let a = nonce(&mut ServerExchange::new(Mechanism::ScramSha1));
        let b = nonce(&mut ServerExchange::new(Mechanism::ScramSha1));
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b','));
    }
}

#[cfg(test)]
mod saslprep_tests {
    use super::*;

    #[test]
    fn r5802_2_2_passwords_are_saslprepped() {
        // RFC 4013 §3 examples: soft hyphen maps to nothing, a non-ASCII
        // space to a space, and the ligature under NFKC.
        assert_eq!(normalize("I\u{00AD}X"), "IX");
        assert_eq!(normalize("a\u{00A0}b"), "a b");
        assert_eq!(normalize("\u{2168}"), "IX");
        assert_eq!(normalize("user"), "user");
        assert!(matches!(normalize("pencil"), std::borrow::Cow::Borrowed(_)));
        // Prohibited (a control character): used as given.
        assert_eq!(normalize("a\u{0007}b"), "a\u{0007}b");
        // Stored keys and client proofs agree across Unicode forms.
        let salt = b"salt-salt-salt";
        let a = ScramCredentials::derive(ScramHash::Sha256, "I\u{00AD}X", salt, 4096).unwrap();
        let b = ScramCredentials::derive(ScramHash::Sha256, "IX", salt, 4096).unwrap();
        assert_eq!(a.stored_key(), b.stored_key());
    }
}
