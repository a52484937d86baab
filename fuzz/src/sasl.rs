//! Driving one SASL [`ServerExchange`] against a real client whose messages
//! the fuzzer edits, answering requests with the responder or with
//! arbitrary resolutions.
//!
//! Invariants: no panic; a step while a request is open, or after the end,
//! is `Done(Failure(Malformed))`; a resolution with no open request is
//! handed back; with only honest resolutions, success needs the right
//! credentials (a client with a wrong password or token never gets in, and
//! the identity is the one the credentials name).

use arbitrary::Arbitrary;
use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::{
    ChannelBinding, ClientContext, ClientExchange, Credentials, Failure, Lookup, Mechanism,
    Outcome, Request, Resolution, ScramCredentials, ScramHash, ServerContext, ServerExchange, Step,
    TokenError, TokenVerdict, Verdict,
};
use smtp_auth::Secret;

use crate::{apply, responder, Edit};

/// Users the client may claim, beyond the known ones.
pub const NAMES: &[&str] = &[
    "alice",
    "bob",
    "tim",
    "nobody",
    "admin",
    "locked",
    "down",
    "disabled",
    "a,b=c",
    "jürgen",
    "",
    "u\u{0}ser",
    "tim ",
    "a=2Cb",
];

/// A resolution the script gives.
#[derive(Arbitrary, Debug, Clone)]
pub enum ResolveChoice {
    /// The responder's.
    Responder,
    /// A verdict.
    Verdict(u8),
    /// A CRAM-MD5 secret lookup with this password.
    Cram(u8, String),
    /// A SCRAM lookup: hash, iterations, salt.
    Scram(u8, bool, u8, Vec<u8>),
    /// A token verdict.
    Token(u8, String),
    /// An identity lookup.
    Identity(u8, String),
}

fn lookup<T>(v: u8, found: impl FnOnce() -> Option<T>) -> Lookup<T> {
    match v % 3 {
        0 => match found() {
            Some(t) => Lookup::Found(t),
            None => Lookup::NotFound,
        },
        1 => Lookup::NotFound,
        _ => Lookup::Unavailable,
    }
}

impl ResolveChoice {
    fn resolution(&self, request: &Request) -> Resolution {
        match self {
            ResolveChoice::Responder => responder::resolve(request),
            ResolveChoice::Verdict(v) => Resolution::Verdict(match v % 4 {
                0 => Verdict::Valid,
                1 => Verdict::Invalid,
                2 => Verdict::Disabled,
                _ => Verdict::Unavailable,
            }),
            ResolveChoice::Cram(v, pw) => Resolution::CramMd5Secret(lookup(*v, || {
                Some(smtp_auth::sasl::CramMd5Secret::from_password(pw))
            })),
            ResolveChoice::Scram(v, sha1, iterations, salt) => {
                let hash = if *sha1 {
                    ScramHash::Sha1
                } else {
                    ScramHash::Sha256
                };
                Resolution::ScramCredentials(lookup(*v, || {
                    ScramCredentials::derive(hash, "wonderland", salt, u32::from(*iterations % 8))
                        .ok()
                }))
            }
            ResolveChoice::Token(v, identity) => Resolution::Token(match v % 4 {
                0 => TokenVerdict::Valid {
                    identity: identity.clone(),
                },
                1 => TokenVerdict::Invalid {
                    status: TokenError::InvalidToken,
                    scope: Some(identity.clone()),
                },
                2 => TokenVerdict::Invalid {
                    status: TokenError::InvalidRequest,
                    scope: None,
                },
                _ => TokenVerdict::Unavailable,
            }),
            ResolveChoice::Identity(v, identity) => {
                Resolution::Identity(lookup(*v, || Some(identity.clone())))
            }
        }
    }
}

/// One step of the exchange script.
#[derive(Arbitrary, Debug, Clone)]
pub enum SaslAction {
    /// Send the client's next message with these edits (none: as is).
    Respond(Vec<Edit>),
    /// Send these bytes instead.
    Raw(Vec<u8>),
    /// Step with no response (the first step: no initial response).
    Nothing,
    /// Resolve the open request (or try to when none is open).
    Resolve(ResolveChoice),
    /// The client aborts.
    Cancel,
}

/// The whole input of a SASL target.
#[derive(Arbitrary, Debug)]
pub struct SaslInput {
    /// Which mechanism of the target's family.
    pub mechanism: u8,
    /// Which name the client claims.
    pub user: u8,
    /// The client knows the right password or token.
    pub right_secret: bool,
    /// The client asks to act as this name.
    pub authzid: Option<u8>,
    /// Channel binding on the server / the client (0: none, 1: same, 2: different).
    pub binding: u8,
    /// A client certificate identity is present (EXTERNAL).
    pub certificate: bool,
    /// What happens, in order.
    pub script: Vec<SaslAction>,
}

/// Runs `input` against a mechanism of `family`.
pub fn run(family: &[Mechanism], input: &SaslInput) {
    let mechanism = family[usize::from(input.mechanism) % family.len()];
    let user = NAMES[usize::from(input.user) % NAMES.len()];
    let authzid = input
        .authzid
        .map(|a| NAMES[usize::from(a) % NAMES.len()].to_owned());
    let entropy = FixedEntropy::new(7, 1_700_000_000);
    let client_entropy = FixedEntropy::new(9, 1_700_000_000);
    let key = [7u8; 32];
    let cb = ChannelBinding {
        kind: "tls-exporter".to_owned(),
        data: vec![0x5a; 32],
    };
    let other_cb = ChannelBinding {
        kind: "tls-exporter".to_owned(),
        data: vec![0xa5; 32],
    };
    let server_cb = (!input.binding.is_multiple_of(3)).then_some(&cb);
    let client_cb = match input.binding % 3 {
        0 => None,
        1 => Some(&cb),
        _ => Some(&other_cb),
    };
    let ctx = ServerContext {
        hostname: "mx.example.org",
        entropy: &entropy,
        channel_binding: server_cb,
        client_certificate: input.certificate.then_some("alice"),
        fake_salt_key: &key,
    };
    let real_password = responder::password(user);
    let client_password = match (input.right_secret, real_password) {
        (true, Some(p)) => p.to_owned(),
        _ => "not-the-password".to_owned(),
    };
    let token = if input.right_secret {
        responder::TOKEN
    } else {
        "wrong-token"
    };
    let credentials = match mechanism {
        Mechanism::XOAuth2 | Mechanism::OAuthBearer => Credentials::token(user, token),
        Mechanism::External => Credentials::External {
            authzid: authzid.clone(),
        },
        _ => Credentials::Password {
            authcid: user.to_owned(),
            password: Secret::new(client_password.clone()),
            authzid: authzid.clone(),
        },
    };
    let mut cctx = ClientContext::new(&client_entropy);
    cctx.channel_binding = client_cb;
    cctx.host = Some("mx.example.org");
    cctx.port = Some(587);
    let mut client = ClientExchange::new(mechanism, credentials, &cctx).ok();

    let mut server = ServerExchange::new(mechanism);
    let mut started = false;
    let mut challenge: Option<Vec<u8>> = None;
    let mut open: Option<Request> = None;
    let mut done: Option<Outcome> = None;
    let mut honest = true;
    let mut granted = false;
    let mut authorized = false;

    for action in input.script.iter().take(16) {
        let step = match action {
            SaslAction::Respond(edits) => {
                let mut msg = client_message(&mut client, started, challenge.as_deref());
                apply(&mut msg, edits);
                started = true;
                Some(server.step(&ctx, Some(&msg)))
            }
            SaslAction::Raw(bytes) => {
                started = true;
                Some(server.step(&ctx, Some(bytes)))
            }
            SaslAction::Nothing => {
                started = true;
                Some(server.step(&ctx, None))
            }
            SaslAction::Cancel => {
                let outcome = server.cancel();
                assert_eq!(outcome, Outcome::Failure(Failure::Cancelled));
                assert!(server.is_finished());
                open = None;
                done.get_or_insert(outcome);
                None
            }
            SaslAction::Resolve(choice) => match open.take() {
                Some(request) => {
                    if !matches!(choice, ResolveChoice::Responder) {
                        honest = false;
                    }
                    let resolution = choice.resolution(&request);
                    if resolution_grants(&request, &resolution) {
                        granted = true;
                    }
                    if matches!(request, Request::Authorize { .. })
                        && resolution == Resolution::Verdict(Verdict::Valid)
                    {
                        authorized = true;
                    }
                    match server.resolve(&ctx, resolution.clone()) {
                        Ok(step) => Some(step),
                        Err(misfit) => {
                            // Handed back unchanged; the request stays open.
                            assert_eq!(misfit.0, resolution);
                            open = Some(request);
                            None
                        }
                    }
                }
                None => {
                    let r = server.resolve(&ctx, Resolution::Verdict(Verdict::Valid));
                    assert!(r.is_err(), "a resolution with no request open was taken");
                    None
                }
            },
        };
        let Some(step) = step else { continue };
        if done.is_some() || (open.is_some() && !matches!(action, SaslAction::Resolve(_))) {
            // Misuse: stepping after the end or while a request is open.
            assert_eq!(step, Step::Done(Outcome::Failure(Failure::Malformed)));
            assert!(server.is_finished());
            open = None;
            done.get_or_insert(Outcome::Failure(Failure::Malformed));
            continue;
        }
        match step {
            Step::Challenge(c) => {
                assert!(!server.is_finished());
                challenge = Some(c);
            }
            Step::Request(r) => {
                check_request(&r, honest);
                open = Some(r);
            }
            Step::Done(outcome) => {
                assert!(server.is_finished());
                if let Outcome::Success(a) = &outcome {
                    assert_eq!(a.mechanism, mechanism);
                    if honest {
                        assert!(!a.identity.is_empty() && !a.authcid.is_empty());
                        assert!(granted, "success without a granted credential check");
                        if !authorized {
                            assert_eq!(
                                a.identity, a.authcid,
                                "identity changed without authorization"
                            );
                        }
                        if matches!(
                            mechanism,
                            Mechanism::XOAuth2 | Mechanism::OAuthBearer | Mechanism::External
                        ) {
                            assert_eq!(a.authcid, "alice");
                        }
                        if matches!(
                            mechanism,
                            Mechanism::CramMd5
                                | Mechanism::ScramSha1
                                | Mechanism::ScramSha1Plus
                                | Mechanism::ScramSha256
                                | Mechanism::ScramSha256Plus
                        ) {
                            // The server checked a proof made from the
                            // client's password: it must be the real one.
                            assert_eq!(
                                responder::password(&a.authcid),
                                Some(client_password.as_str()),
                                "proof accepted for the wrong password"
                            );
                        }
                    }
                }
                done = Some(outcome);
            }
            other => panic!("unknown step {other:?}"),
        }
    }
    if done.is_some() {
        assert!(server.is_finished());
        assert_eq!(
            server.step(&ctx, Some(b"x")),
            Step::Done(Outcome::Failure(Failure::Malformed))
        );
        assert!(server
            .resolve(&ctx, Resolution::Verdict(Verdict::Valid))
            .is_err());
    }
}

/// The client's next message (empty when the client cannot go on).
fn client_message(
    client: &mut Option<ClientExchange>,
    started: bool,
    challenge: Option<&[u8]>,
) -> Vec<u8> {
    let Some(c) = client else {
        return Vec::new();
    };
    if !started {
        return c.initial_response().unwrap_or_default();
    }
    let challenge = challenge.unwrap_or_default();
    // A SCRAM client runs PBKDF2 with the server's count: keep that cheap.
    if let Some(i) = iterations(challenge) {
        if i > 64 {
            return b"c=biws,r=x,p=AAAA".to_vec();
        }
    }
    c.respond(challenge).unwrap_or_default()
}

fn iterations(challenge: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(challenge).ok()?;
    let i = text.split(',').find_map(|a| a.strip_prefix("i="))?;
    i.parse().ok().or(Some(u64::MAX))
}

/// Whether a resolution says "these credentials are good".
fn resolution_grants(request: &Request, resolution: &Resolution) -> bool {
    match (request, resolution) {
        (Request::Authorize { .. }, _) => false,
        (_, Resolution::Verdict(Verdict::Valid)) => true,
        (_, Resolution::CramMd5Secret(Lookup::Found(_))) => true,
        (_, Resolution::ScramCredentials(Lookup::Found(_))) => true,
        (_, Resolution::Token(TokenVerdict::Valid { .. })) => true,
        (_, Resolution::Identity(Lookup::Found(_))) => true,
        _ => false,
    }
}

/// Requests carry clean identities: no control characters (ATK-04), no
/// more than 255 octets.
fn check_request(r: &Request, honest: bool) {
    let clean = |s: &str| {
        assert!(
            !s.is_empty() && s.len() <= 255,
            "identity length {} in {r:?}",
            s.len()
        );
        assert!(
            !s.chars().any(char::is_control),
            "control character in {s:?}"
        );
    };
    match r {
        Request::VerifyPassword { authcid, password } => {
            clean(authcid);
            assert!(!password.expose().is_empty());
            assert!(!password.expose().contains('\0'));
        }
        Request::CramMd5Secret { authcid } | Request::ScramCredentials { authcid, .. } => {
            clean(authcid)
        }
        Request::ValidateToken { user, token, .. } => {
            if let Some(u) = user {
                clean(u);
            }
            assert!(!token.expose().is_empty());
        }
        Request::ExternalIdentity {
            authzid: Some(a), ..
        } => clean(a),
        // The authcid of an authorization comes from the backend's answer.
        Request::Authorize { authcid, authzid } if honest => {
            clean(authcid);
            clean(authzid);
            assert_ne!(authcid, authzid);
        }
        _ => {}
    }
}
