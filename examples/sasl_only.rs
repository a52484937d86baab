//! The `sasl` module alone, outside SMTP: an IMAP `AUTHENTICATE` exchange
//! (RFC 9051 §6.2.2) with IMAP's own framing — `+ <base64>` continuation
//! requests and a tagged `OK`/`NO` — driven by the same server and client
//! mechanisms the SMTP session uses.
//!
//! Run it with `cargo run --example sasl_only`.

use smtp_auth::random::OsEntropy;
use smtp_auth::sasl::client::{ClientContext, ClientExchange, Credentials};
use smtp_auth::sasl::secret::ScramCredentials;
use smtp_auth::sasl::{
    encoding, Lookup, Mechanism, Outcome, Request, Resolution, ScramHash, ServerContext,
    ServerExchange, Step, Verdict,
};

/// The IMAP server's user database: one user, with SCRAM keys stored
/// instead of the password, as a real server would keep them.
struct Users {
    scram: ScramCredentials,
}

impl Users {
    fn resolve(&self, request: &Request) -> Resolution {
        match request {
            Request::VerifyPassword { authcid, password } => {
                let ok = authcid == "alice" && password.expose() == "wonderland";
                Resolution::Verdict(if ok { Verdict::Valid } else { Verdict::Invalid })
            }
            Request::ScramCredentials { authcid, .. } if authcid == "alice" => {
                Resolution::ScramCredentials(Lookup::Found(self.scram.clone()))
            }
            Request::ScramCredentials { .. } => Resolution::ScramCredentials(Lookup::NotFound),
            _ => Resolution::Verdict(Verdict::Invalid),
        }
    }
}

/// Runs `A1 AUTHENTICATE <mechanism>` between an IMAP client and server,
/// printing the wire lines. Returns the authenticated identity.
fn authenticate(users: &Users, mechanism: Mechanism, password: &str) -> Option<String> {
    let entropy = OsEntropy;
    let key = [0x5a; 32];
    let server_ctx = ServerContext {
        hostname: "imap.example.org",
        entropy: &entropy,
        channel_binding: None,
        client_certificate: None,
        fake_salt_key: &key,
    };
    let client_ctx = ClientContext::new(&entropy);
    let mut client = ClientExchange::new(
        mechanism,
        Credentials::password("alice", password),
        &client_ctx,
    )
    .expect("PLAIN and SCRAM take a password");
    let mut server = ServerExchange::new(mechanism);

    // RFC 4959 SASL-IR: the initial response rides on the command.
    let initial = client.initial_response();
    let ir = initial.as_deref().map(encoding::encode);
    println!(
        "C: A1 AUTHENTICATE {}{}",
        mechanism.name(),
        ir.as_deref().map(|r| format!(" {r}")).unwrap_or_default()
    );
    let mut step = server.step(&server_ctx, initial.as_deref());
    loop {
        step = match step {
            Step::Request(request) => {
                let resolution = users.resolve(&request);
                server
                    .resolve(&server_ctx, resolution)
                    .expect("the resolution fits")
            }
            Step::Challenge(challenge) => {
                println!("S: + {}", encoding::encode(&challenge));
                let response = client.respond(&challenge).unwrap_or_default();
                let line = encoding::encode(&response);
                println!("C: {line}");
                server.step(&server_ctx, Some(&response))
            }
            Step::Done(Outcome::Success(who)) => {
                println!(
                    "S: A1 OK [CAPABILITY IMAP4rev2] {} authenticated",
                    who.identity
                );
                return Some(who.identity);
            }
            Step::Done(Outcome::Failure(why)) => {
                println!(
                    "S: A1 NO [AUTHENTICATIONFAILED] Authentication failed ({why:?} in logs only)"
                );
                return None;
            }
            _ => return None,
        };
    }
}

fn main() {
    let salt = b"imap-example-salt";
    let users = Users {
        scram: ScramCredentials::derive(ScramHash::Sha256, "wonderland", salt, 4096)
            .expect("a valid salt and iteration count"),
    };
    assert_eq!(
        authenticate(&users, Mechanism::Plain, "wonderland").as_deref(),
        Some("alice")
    );
    println!();
    assert_eq!(
        authenticate(&users, Mechanism::ScramSha256, "wonderland").as_deref(),
        Some("alice")
    );
    println!();
    assert_eq!(authenticate(&users, Mechanism::ScramSha256, "guess"), None);
}
