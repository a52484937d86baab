//! The client API's refusals, mechanism choice, and that no `Debug` output
//! anywhere in the SASL API shows a password or token (ATK-11).

use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::*;
use smtp_auth::secret::Secret;

static ENTROPY: FixedEntropy = FixedEntropy::new(5, 1_700_000_000);
static KEY: [u8; 32] = [2; 32];

const PASSWORD: &str = "hunter2-Pässwörd";
const TOKEN: &str = "ya29.SECRET-TOKEN";

fn cctx() -> ClientContext<'static> {
    ClientContext::new(&ENTROPY)
}

#[test]
fn credentials_must_fit_the_mechanism() {
    let token = Credentials::token("u", "t");
    for mech in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::External,
    ] {
        assert_eq!(
            ClientExchange::new(mech, token.clone(), &cctx()).unwrap_err(),
            ClientError::MechanismMismatch { mechanism: mech }
        );
    }
    let pw = Credentials::password("u", "p");
    for mech in [
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
        Mechanism::External,
    ] {
        assert!(matches!(
            ClientExchange::new(mech, pw.clone(), &cctx()),
            Err(ClientError::MechanismMismatch { .. })
        ));
    }
    // LOGIN and CRAM-MD5 cannot carry an authzid.
    let with_authzid = Credentials::Password {
        authcid: "u".into(),
        password: Secret::new("p".into()),
        authzid: Some("z".into()),
    };
    assert!(!Mechanism::Login.usable_with(&with_authzid));
    assert!(!Mechanism::CramMd5.usable_with(&with_authzid));
    assert!(Mechanism::Plain.usable_with(&with_authzid));
}

#[test]
fn unencodable_credentials_are_refused_without_echoing_them() {
    for (mech, creds, field) in [
        (
            Mechanism::Plain,
            Credentials::password("", "p"),
            "user name",
        ),
        (
            Mechanism::Plain,
            Credentials::password("u\0x", "p"),
            "user name",
        ),
        (Mechanism::Plain, Credentials::password("u", ""), "password"),
        (
            Mechanism::Plain,
            Credentials::password("u", "p\0w"),
            "password",
        ),
        (
            Mechanism::Login,
            Credentials::password("u", "p\r\nw"),
            "password",
        ),
        (
            Mechanism::Login,
            Credentials::password("u\nx", "p"),
            "user name",
        ),
        (Mechanism::XOAuth2, Credentials::token("u", "t t"), "token"),
        (Mechanism::XOAuth2, Credentials::token("", "t"), "user name"),
        (
            Mechanism::OAuthBearer,
            Credentials::token("u", "t=t"),
            "token",
        ),
        (Mechanism::OAuthBearer, Credentials::token("u", ""), "token"),
    ] {
        let err = ClientExchange::new(mech, creds, &cctx()).unwrap_err();
        assert_eq!(err, ClientError::InvalidCredentials { field }, "{mech}");
        assert!(!err.to_string().contains("p\0w"));
    }
    let bad_host = ClientContext {
        host: Some("exa mple"),
        ..cctx()
    };
    assert_eq!(
        ClientExchange::new(
            Mechanism::OAuthBearer,
            Credentials::token("u", "t"),
            &bad_host
        )
        .unwrap_err(),
        ClientError::InvalidCredentials { field: "host" }
    );
}

#[cfg(feature = "scram")]
#[test]
fn plus_needs_channel_binding() {
    assert_eq!(
        ClientExchange::new(
            Mechanism::ScramSha256Plus,
            Credentials::password("u", "p"),
            &cctx()
        )
        .unwrap_err(),
        ClientError::ChannelBindingRequired
    );
}

#[test]
fn best_mechanism_prefers_the_strongest_usable() {
    let pw = Credentials::password("u", "p");
    let offered = [
        Mechanism::Login,
        Mechanism::Plain,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
        Mechanism::ScramSha256Plus,
        Mechanism::XOAuth2,
    ];
    let scram = if cfg!(feature = "scram") {
        Some(Mechanism::ScramSha256)
    } else {
        Some(Mechanism::CramMd5)
    };
    assert_eq!(pw.best_mechanism(&offered, &cctx()), scram);
    let cb = ChannelBinding {
        kind: "tls-exporter".into(),
        data: vec![0; 32],
    };
    let tls = ClientContext {
        channel_binding: Some(&cb),
        ..cctx()
    };
    if cfg!(feature = "scram") {
        assert_eq!(
            pw.best_mechanism(&offered, &tls),
            Some(Mechanism::ScramSha256Plus)
        );
    }
    assert_eq!(
        pw.best_mechanism(&[Mechanism::Login, Mechanism::Plain], &cctx()),
        Some(Mechanism::Plain)
    );
    assert_eq!(
        Credentials::token("u", "t").best_mechanism(&offered, &cctx()),
        Some(Mechanism::XOAuth2)
    );
    assert_eq!(
        Credentials::External { authzid: None }.best_mechanism(&offered, &cctx()),
        None
    );
}

#[test]
fn login_client_follows_the_prompts() {
    let mut c = ClientExchange::new(
        Mechanism::Login,
        Credentials::password("tim", "pw"),
        &cctx(),
    )
    .unwrap()
    .login_initial_response(false);
    assert_eq!(c.initial_response(), None);
    assert_eq!(c.respond(b"Username:").unwrap(), b"tim");
    assert!(!c.is_complete());
    assert_eq!(c.respond(b"Password:").unwrap(), b"pw");
    assert!(c.is_complete());
    assert_eq!(
        c.respond(b"Password:"),
        Err(ClientError::UnexpectedChallenge)
    );

    let mut c = ClientExchange::new(
        Mechanism::Login,
        Credentials::password("tim", "pw"),
        &cctx(),
    )
    .unwrap();
    assert_eq!(c.initial_response().unwrap(), b"tim");
    assert_eq!(c.initial_response(), None);
    assert_eq!(c.respond(b"Password:").unwrap(), b"pw");
}

#[test]
fn single_message_clients_answer_an_empty_challenge_once() {
    let mut c =
        ClientExchange::new(Mechanism::Plain, Credentials::password("u", "p"), &cctx()).unwrap();
    assert_eq!(c.respond(b"").unwrap(), b"\0u\0p");
    assert_eq!(c.initial_response(), None);
    assert_eq!(c.respond(b""), Err(ClientError::UnexpectedChallenge));

    let mut c = ClientExchange::new(
        Mechanism::External,
        Credentials::External { authzid: None },
        &cctx(),
    )
    .unwrap();
    assert_eq!(c.initial_response().unwrap(), b"");
    assert!(c.is_complete());

    let mut c =
        ClientExchange::new(Mechanism::XOAuth2, Credentials::token("u", "t"), &cctx()).unwrap();
    let _ = c.initial_response();
    assert_eq!(
        c.respond(br#"{"status":"401","schemes":"bearer"}"#)
            .unwrap(),
        b""
    );
    assert_eq!(c.respond(b"x"), Err(ClientError::UnexpectedChallenge));
}

#[test]
fn cram_md5_client_needs_a_challenge() {
    let mut c =
        ClientExchange::new(Mechanism::CramMd5, Credentials::password("u", "p"), &cctx()).unwrap();
    assert_eq!(c.respond(b""), Err(ClientError::MalformedChallenge));
}

/// Formats everything that could hold a secret and checks that neither
/// the password nor the token shows.
#[test]
fn atk_11_debug_output_never_shows_secrets() {
    let mut shown = Vec::new();
    let pw_creds = Credentials::password("tim", PASSWORD);
    let token_creds = Credentials::token("tim", TOKEN);
    shown.push(format!("{pw_creds:?} {token_creds:?}"));
    shown.push(format!(
        "{:?}",
        Request::VerifyPassword {
            authcid: "tim".into(),
            password: Secret::new(PASSWORD.into())
        }
    ));
    shown.push(format!(
        "{:?}",
        Request::ValidateToken {
            mechanism: Mechanism::XOAuth2,
            user: None,
            token: Secret::new(TOKEN.into())
        }
    ));
    let cram = CramMd5Secret::from_password(PASSWORD);
    let cram_hex = cram.to_dovecot_hex();
    shown.push(format!(
        "{:?}",
        Resolution::CramMd5Secret(Lookup::Found(cram.clone()))
    ));
    #[cfg(feature = "scram")]
    let scram_keys = {
        let c = ScramCredentials::derive(ScramHash::Sha256, PASSWORD, b"salt", 16).unwrap();
        shown.push(format!(
            "{:?}",
            Resolution::ScramCredentials(Lookup::Found(c.clone()))
        ));
        vec![
            encoding::encode(c.stored_key()),
            encoding::encode(c.server_key()),
        ]
    };
    #[cfg(not(feature = "scram"))]
    let scram_keys: Vec<String> = Vec::new();

    // Exchanges in flight, on both sides.
    let sctx = ServerContext {
        hostname: "mx",
        entropy: &ENTROPY,
        channel_binding: None,
        client_certificate: None,
        fake_salt_key: &KEY,
    };
    for (mech, creds) in [
        (Mechanism::Plain, pw_creds.clone()),
        (Mechanism::Login, pw_creds.clone()),
        (Mechanism::CramMd5, pw_creds.clone()),
        (Mechanism::ScramSha256, pw_creds.clone()),
        (Mechanism::XOAuth2, token_creds.clone()),
        (Mechanism::OAuthBearer, token_creds.clone()),
    ] {
        if !mech.is_available() {
            continue;
        }
        let mut client = ClientExchange::new(mech, creds, &cctx()).unwrap();
        let mut server = ServerExchange::new(mech);
        let ir = client.initial_response();
        let step = server.step(&sctx, ir.as_deref());
        shown.push(format!("{client:?} {server:?} {step:?}"));
        if let Step::Challenge(c) = step {
            let r = client.respond(&c);
            shown.push(format!("{client:?} {r:?}"));
            if let Ok(r) = r {
                let step = server.step(&sctx, Some(&r));
                shown.push(format!("{client:?} {server:?} {step:?}"));
            }
        }
    }
    let all = shown.join("\n");
    assert!(all.contains("<redacted>"));
    for secret in [PASSWORD, TOKEN, &cram_hex]
        .into_iter()
        .chain(scram_keys.iter().map(String::as_str))
    {
        assert!(!all.contains(secret), "{secret} leaked in:\n{all}");
    }
    assert!(!all.contains("hunter2"));
    assert!(!all.contains("SECRET-TOKEN"));
}
