//! Published test vectors through the public API, byte for byte, with the
//! base64 of the SMTP profile where the source gives it.

use std::collections::VecDeque;
use std::sync::Mutex;

use smtp_auth::random::Entropy;
use smtp_auth::sasl::encoding;
use smtp_auth::sasl::*;

/// Entropy that yields scripted bytes, then zeros, and a fixed clock.
#[derive(Debug)]
struct Scripted {
    bytes: Mutex<VecDeque<u8>>,
    time: u64,
}

impl Scripted {
    fn new(bytes: &[u8], time: u64) -> Self {
        Self {
            bytes: Mutex::new(bytes.iter().copied().collect()),
            time,
        }
    }
}

impl Entropy for Scripted {
    fn fill(&self, buf: &mut [u8]) {
        let mut q = self.bytes.lock().unwrap();
        for b in buf {
            *b = q.pop_front().unwrap_or(0);
        }
    }

    fn unix_time(&self) -> u64 {
        self.time
    }
}

static KEY: [u8; 32] = [1; 32];

fn ctx<'a>(hostname: &'a str, entropy: &'a dyn Entropy) -> ServerContext<'a> {
    ServerContext {
        hostname,
        entropy,
        channel_binding: None,
        client_certificate: None,
        fake_salt_key: &KEY,
    }
}

#[test]
fn r2195_2_5_server_side_in_base64() {
    // The random part of the challenge is the little-endian u64 1896.
    let entropy = Scripted::new(&1896u64.to_le_bytes(), 697_170_952);
    let ctx = ctx("postoffice.reston.mci.net", &entropy);
    let mut ex = ServerExchange::new(Mechanism::CramMd5);
    let Step::Challenge(c) = ex.step(&ctx, None) else {
        panic!("no challenge")
    };
    assert_eq!(
        encoding::encode(&c),
        "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
    );
    let response = encoding::decode(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw").unwrap();
    let Step::Request(Request::CramMd5Secret { authcid }) = ex.step(&ctx, Some(&response)) else {
        panic!("no request")
    };
    assert_eq!(authcid, "tim");
    // The secret as Dovecot would store it works as well as the password.
    let stored = CramMd5Secret::from_password("tanstaaftanstaaf").to_dovecot_hex();
    let secret = CramMd5Secret::from_dovecot_hex(&format!("{{CRAM-MD5}}{stored}")).unwrap();
    let step = ex
        .resolve(&ctx, Resolution::CramMd5Secret(Lookup::Found(secret)))
        .unwrap();
    assert_eq!(
        step,
        Step::Done(Outcome::Success(Authenticated {
            mechanism: Mechanism::CramMd5,
            authcid: "tim".into(),
            identity: "tim".into(),
        }))
    );
}

#[test]
fn r2195_2_5_client_side() {
    let entropy = Scripted::new(&[], 0);
    let cctx = ClientContext::new(&entropy);
    let mut c = ClientExchange::new(
        Mechanism::CramMd5,
        Credentials::password("tim", "tanstaaftanstaaf"),
        &cctx,
    )
    .unwrap();
    assert_eq!(c.initial_response(), None);
    let r = c
        .respond(b"<1896.697170952@postoffice.reston.mci.net>")
        .unwrap();
    assert_eq!(
        encoding::encode(&r),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    );
    assert!(c.is_complete() && !c.server_verified());
}

#[test]
fn rxoa2_1_client_and_server() {
    let entropy = Scripted::new(&[], 0);
    let cctx = ClientContext::new(&entropy);
    let mut c = ClientExchange::new(
        Mechanism::XOAuth2,
        Credentials::token("user", "mF_9.B5f-4.1JqM"),
        &cctx,
    )
    .unwrap();
    let ir = c.initial_response().unwrap();
    assert_eq!(
        encoding::encode(&ir),
        "dXNlcj11c2VyAWF1dGg9QmVhcmVyIG1GXzkuQjVmLTQuMUpxTQEB"
    );
    let ctx = ctx("mx.example.org", &entropy);
    let mut ex = ServerExchange::new(Mechanism::XOAuth2);
    let Step::Request(Request::ValidateToken {
        mechanism,
        user,
        token,
    }) = ex.step(&ctx, Some(&ir))
    else {
        panic!("no request")
    };
    assert_eq!(mechanism, Mechanism::XOAuth2);
    assert_eq!(user.as_deref(), Some("user"));
    assert_eq!(token.expose(), "mF_9.B5f-4.1JqM");
}

#[test]
fn r7628_4_1_client_message() {
    let entropy = Scripted::new(&[], 0);
    let cctx = ClientContext {
        host: Some("server.example.com"),
        port: Some(143),
        ..ClientContext::new(&entropy)
    };
    let mut c = ClientExchange::new(
        Mechanism::OAuthBearer,
        Credentials::token(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        ),
        &cctx,
    )
    .unwrap();
    assert_eq!(
        c.initial_response().unwrap(),
        b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    );
    // RFC 7628 §4.3: the error challenge is answered with %x01.
    let err = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
    assert_eq!(c.respond(err).unwrap(), b"\x01");
    assert_eq!(c.error_details(), Some(std::str::from_utf8(err).unwrap()));
    assert!(!c.is_complete());
}

#[cfg(feature = "scram")]
#[test]
fn r5802_5_2_client_side_from_entropy() {
    // The RFC's client nonce is 24 base64 characters: exactly the 18
    // random bytes the client draws.
    let nonce = encoding::decode(b"fyko+d2lbbFgONRv9qkxdawL").unwrap();
    let entropy = Scripted::new(&nonce, 0);
    let cctx = ClientContext::new(&entropy);
    let mut c = ClientExchange::new(
        Mechanism::ScramSha1,
        Credentials::password("user", "pencil"),
        &cctx,
    )
    .unwrap();
    assert_eq!(
        c.initial_response().unwrap(),
        b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    );
    let c2 = c
        .respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
        .unwrap();
    assert_eq!(
        c2,
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    );
    assert_eq!(c.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap(), b"");
    assert!(c.server_verified());
}

#[test]
fn rlogin_2_5_prompts_in_base64() {
    let entropy = Scripted::new(&[], 0);
    let ctx = ctx("mx.example.org", &entropy);
    let mut ex = ServerExchange::new(Mechanism::Login);
    let Step::Challenge(c) = ex.step(&ctx, None) else {
        panic!()
    };
    assert_eq!(encoding::encode(&c), "VXNlcm5hbWU6");
    let Step::Challenge(c) = ex.step(&ctx, Some(b"tim")) else {
        panic!()
    };
    assert_eq!(encoding::encode(&c), "UGFzc3dvcmQ6");
}

#[test]
fn r4616_2_plain_client_message() {
    let entropy = Scripted::new(&[], 0);
    let cctx = ClientContext::new(&entropy);
    let creds = Credentials::Password {
        authcid: "tim".into(),
        password: "tanstaaftanstaaf".to_owned().into(),
        authzid: Some("Ursel".into()),
    };
    let mut c = ClientExchange::new(Mechanism::Plain, creds, &cctx).unwrap();
    // RFC 4616 §4 example.
    assert_eq!(
        c.initial_response().unwrap(),
        b"Ursel\0tim\0tanstaaftanstaaf"
    );
    assert_eq!(c.respond(b""), Err(ClientError::UnexpectedChallenge));
}
