//! A whole submission conversation driven in memory, printed as it happens:
//! the receive / poll / answer loop with no network at all.
//!
//! Run it with `cargo run --example walkthrough`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use smtp_auth::sasl::{Mechanism, Request, Resolution, Verdict};
use smtp_auth::{Answer, Config, Output, Profile, Question, Session, TlsInfo};

/// Answers every question: one user, `alice` / `wonderland`, owns
/// `alice@example.org`; every message is "stored" by printing it.
fn decide(question: &Question, body: &mut Vec<u8>) -> Answer {
    match question {
        Question::Credentials {
            request: Request::VerifyPassword { authcid, password },
            ..
        } => {
            let ok = authcid == "alice" && password.expose() == "wonderland";
            Answer::Sasl(Resolution::Verdict(if ok {
                Verdict::Valid
            } else {
                Verdict::Invalid
            }))
        }
        Question::Credentials { .. } => Answer::Sasl(Resolution::Verdict(Verdict::Unavailable)),
        Question::AuthResult(_) => Answer::Recorded {
            delay: std::time::Duration::ZERO,
        },
        Question::Message(info) => {
            println!(
                "   [stored {} octets from {} for {:?}]",
                info.size, info.sender, info.recipients
            );
            print!("{}", String::from_utf8_lossy(body));
            body.clear();
            Answer::Allow
        }
        _ => Answer::Allow,
    }
}

fn main() {
    // Port 465: TLS is up before the first byte (RFC 8314).
    let config = Arc::new(
        Config::builder("mx.example.org")
            .profile(Profile::ImplicitTls)
            // Offer only what `decide` can check: it knows plaintext passwords.
            .mechanisms([Mechanism::Plain, Mechanism::Login])
            .build(),
    );
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let tls = TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256");
    let mut session = Session::new(config, peer, Some(tls), Instant::now());

    let client: &[&str] = &[
        "EHLO client.example\r\n",
        // PLAIN's initial response: base64("\0alice\0wonderland").
        "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n",
        "Subject: hello\r\n\r\n..a dot-stuffed line\r\n.\r\n",
        "QUIT\r\n",
    ];
    let mut body = Vec::new();
    let mut lines = client.iter();
    loop {
        while let Some(output) = session.poll() {
            match output {
                Output::Send(bytes) => print!("{}", prefixed("S: ", &bytes)),
                Output::Ask { id, question } => {
                    let answer = decide(&question, &mut body);
                    session
                        .answer(id, answer)
                        .expect("the answer fits its question");
                }
                Output::Event(event) => println!("   [event {event:?}]"),
                Output::Data(chunk) => body.extend_from_slice(&chunk),
                Output::DiscardData => body.clear(),
                Output::Close => return,
                other => println!("   [{other:?}]"),
            }
        }
        let Some(line) = lines.next() else { return };
        print!("{}", prefixed("C: ", line.as_bytes()));
        session.receive(Instant::now(), line.as_bytes());
    }
}

/// Each CRLF-ended line of `bytes`, prefixed for display.
fn prefixed(prefix: &str, bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_inclusive("\r\n")
        .map(|line| format!("{prefix}{}\n", line.trim_end()))
        .collect()
}
