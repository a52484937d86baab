//! The submission client (`smtp_auth::client`) against this crate's own
//! server `Session`, in memory (TLS simulated by `tls_established` on both
//! sides), and against scripted servers for every error path. Client bytes
//! and server replies are asserted exactly.

mod common;

use std::collections::VecDeque;
use std::sync::Arc;

use common::{config, tls_info, Driver, TOKEN};
use smtp_auth::client::{
    Client, ClientConfig, ClientEvent, ClientOutput, Error, Message, MessageError, Step, TlsMode,
};
use smtp_auth::random::FixedEntropy;
use smtp_auth::reply::ParsedReply;
use smtp_auth::sasl::{Credentials, Mechanism};
use smtp_auth::{Config, Profile, TlsInfo};

const ALL_SERVER_MECHANISMS: [Mechanism; 10] = [
    Mechanism::External,
    Mechanism::ScramSha256Plus,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::OAuthBearer,
    Mechanism::XOAuth2,
    Mechanism::CramMd5,
    Mechanism::Plain,
    Mechanism::Login,
];

fn client_config() -> ClientConfig {
    ClientConfig::new("client.example").entropy(Arc::new(FixedEntropy::new(3, 0)))
}

fn reply(wire: &str) -> ParsedReply {
    ParsedReply::parse(wire.as_bytes()).unwrap().0
}

fn alice() -> Credentials {
    Credentials::password("alice", "wonderland")
}

fn message() -> Message {
    Message::new(
        "alice@example.org",
        ["bob@example.net"],
        "Subject: test\r\n\r\nHello.\r\n",
    )
    .unwrap()
}

/// A client and a server session wired together in memory.
struct Pair {
    client: Client,
    server: Driver,
    /// The TLS facts the server gets at the STARTTLS hand-off.
    tls: TlsInfo,
    /// The TLS facts the client gets at the STARTTLS hand-off.
    client_tls: TlsInfo,
    /// Each `Send` of the client, in order.
    writes: Vec<Vec<u8>>,
    events: Vec<ClientEvent>,
    error: Option<Error>,
    done: bool,
    readies: usize,
    /// Messages to queue at the first `Ready`; then QUIT.
    to_send: VecDeque<Message>,
}

impl Pair {
    fn new(server: Config, client: ClientConfig) -> Self {
        Self::build(server, client, None, tls_info())
    }

    /// Implicit TLS on both sides with these facts.
    fn implicit(server: Config, client: ClientConfig, tls: TlsInfo) -> Self {
        let client = client.tls(TlsMode::Implicit(tls.clone()));
        Self::build(server, client, Some(tls.clone()), tls)
    }

    fn build(
        server: Config,
        client: ClientConfig,
        implicit: Option<TlsInfo>,
        tls: TlsInfo,
    ) -> Self {
        Self {
            client: Client::new(client),
            server: Driver::with_tls(server, implicit),
            client_tls: tls.clone(),
            tls,
            writes: Vec::new(),
            events: Vec::new(),
            error: None,
            done: false,
            readies: 0,
            to_send: VecDeque::new(),
        }
    }

    fn send(mut self, m: Message) -> Self {
        self.to_send.push_back(m);
        self
    }

    /// Runs the conversation to its end (bounded).
    fn run(mut self) -> Self {
        for _ in 0..200 {
            let mut progressed = false;
            let from_server = std::mem::take(&mut self.server.out.sent);
            if !from_server.is_empty() {
                progressed = true;
                self.client.receive(&from_server);
            }
            while let Some(output) = self.client.poll() {
                progressed = true;
                match output {
                    ClientOutput::Send(bytes) => {
                        self.writes.push(bytes.to_vec());
                        self.server.feed(&bytes);
                    }
                    ClientOutput::StartTls => {
                        assert_eq!(self.server.out.starttls, 1, "server is in the hand-off");
                        self.server.session.tls_established(self.tls.clone());
                        self.server.pump();
                        self.client.tls_established(self.client_tls.clone());
                    }
                    ClientOutput::Event(e) => self.events.push(e),
                    ClientOutput::Ready => {
                        self.readies += 1;
                        if self.readies == 1 && !self.to_send.is_empty() {
                            while let Some(m) = self.to_send.pop_front() {
                                self.client.send(m).unwrap();
                            }
                        } else {
                            self.client.quit();
                        }
                    }
                    ClientOutput::Done => self.done = true,
                    ClientOutput::Error(e) => self.error = Some(e),
                    _ => {}
                }
            }
            if self.server.out.closed && self.server.out.sent.is_empty() && !self.client.is_closed()
            {
                self.client.connection_closed();
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        self
    }

    fn wire(&self) -> String {
        String::from_utf8(self.writes.concat()).unwrap()
    }

    fn authenticated(&self) -> Option<(Mechanism, bool)> {
        self.events.iter().find_map(|e| match e {
            ClientEvent::Authenticated {
                mechanism,
                server_verified,
            } => Some((*mechanism, *server_verified)),
            _ => None,
        })
    }

    fn replies(&self) -> Vec<(Step, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Replied { step, reply } => Some((*step, reply.to_string())),
                _ => None,
            })
            .collect()
    }

    fn assert_clean_finish(&self) {
        assert_eq!(self.error, None, "{:?}", self.replies());
        assert!(self.done, "client done");
        assert!(self.server.out.closed, "server closed");
    }
}

// ---------------------------------------------------------------------------
// Every mechanism, both TLS modes, a message each time.

fn credentials_for(m: Mechanism) -> Credentials {
    match m {
        Mechanism::XOAuth2 | Mechanism::OAuthBearer => Credentials::token("alice", TOKEN),
        Mechanism::External => Credentials::External { authzid: None },
        _ => alice(),
    }
}

/// TLS facts with what every mechanism needs: channel binding for -PLUS,
/// a client certificate for EXTERNAL.
fn full_tls() -> TlsInfo {
    tls_info()
        .with_tls_exporter(vec![0x5a; 32])
        .with_client_certificate("alice")
}

fn p_client_config(m: Mechanism) -> ClientConfig {
    client_config()
        .credentials(credentials_for(m))
        .mechanism(m)
        .server("mx.example.org", 587)
}

fn check_mechanism(m: Mechanism, implicit: bool) {
    let server = config()
        .profile(if implicit {
            Profile::ImplicitTls
        } else {
            Profile::Submission
        })
        .mechanisms(ALL_SERVER_MECHANISMS)
        .build();
    // Both ends have the same channel binding, as on a real connection:
    // plain SCRAM asked for by name while the server offers -PLUS declines
    // it (`n`), as tested below.
    let client_tls = full_tls();
    let mut pair = if implicit {
        let mut p = Pair::implicit(server, p_client_config(m), full_tls());
        p.client = Client::new(p_client_config(m).tls(TlsMode::Implicit(client_tls.clone())));
        p
    } else {
        let mut p = Pair::new(server, p_client_config(m));
        p.tls = full_tls();
        p
    };
    pair.client_tls = client_tls;
    let pair = pair.send(message()).run();
    pair.assert_clean_finish();
    let verified = m.scram_hash().is_some();
    assert_eq!(pair.authenticated(), Some((m, verified)), "{m}");
    assert_eq!(
        pair.server.out.messages,
        [b"Subject: test\r\n\r\nHello.\r\n".to_vec()],
        "{m}"
    );
    let wire = pair.wire();
    assert!(
        wire.contains(&format!("\r\nAUTH {}", m.name())),
        "{m}: {wire}"
    );
    assert!(pair.client.tls().is_some());
    let replies = pair.replies();
    assert_eq!(
        replies.last().unwrap(),
        &(Step::Quit, "221 2.0.0 Bye".to_owned())
    );
    assert!(replies.contains(&(
        Step::Auth(m),
        "235 2.7.0 Authentication successful".to_owned()
    )));
    assert!(replies.contains(&(
        Step::Message,
        "250 2.0.0 Message accepted for delivery".to_owned()
    )));
}

#[test]
fn every_mechanism_over_starttls() {
    for m in ALL_SERVER_MECHANISMS {
        check_mechanism(m, false);
    }
}

#[test]
fn every_mechanism_over_implicit_tls() {
    for m in ALL_SERVER_MECHANISMS {
        check_mechanism(m, true);
    }
}

#[test]
fn login_without_initial_response_answers_both_prompts() {
    let pair = Pair::implicit(
        config().profile(Profile::ImplicitTls).build(),
        client_config()
            .credentials(alice())
            .mechanism(Mechanism::Login)
            .login_initial_response(false),
        tls_info(),
    )
    .run();
    pair.assert_clean_finish();
    assert_eq!(
        pair.wire(),
        "EHLO client.example\r\nAUTH LOGIN\r\nYWxpY2U=\r\nd29uZGVybGFuZA==\r\nQUIT\r\n"
    );
}

// ---------------------------------------------------------------------------
// The whole conversation, byte for byte.

#[test]
fn r3207_starttls_plain_and_a_pipelined_message_byte_for_byte() {
    let pair = Pair::new(
        config().mechanisms([Mechanism::Plain]).build(),
        client_config().credentials(alice()),
    )
    .send(
        Message::new(
            "alice@example.org",
            ["bob@example.net", "carol@example.net"],
            "Subject: x\n\n.\n..two\nlast",
        )
        .unwrap(),
    )
    .run();
    pair.assert_clean_finish();
    let writes: Vec<String> = pair
        .writes
        .iter()
        .map(|w| String::from_utf8(w.clone()).unwrap())
        .collect();
    assert_eq!(
        writes,
        [
            "EHLO client.example\r\n",
            "STARTTLS\r\n",
            "EHLO client.example\r\n",
            "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
            // RFC 2920: one write for the whole envelope and DATA.
            "MAIL FROM:<alice@example.org> SIZE=30\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n",
            // CRLF normalisation and dot-stuffing (RFC 5321 §4.5.2).
            "Subject: x\r\n\r\n..\r\n...two\r\nlast\r\n.\r\n",
            "QUIT\r\n",
        ]
    );
    // The server unstuffs back to the normalised message.
    assert_eq!(
        pair.server.out.messages,
        [b"Subject: x\r\n\r\n.\r\n..two\r\nlast\r\n".to_vec()]
    );
    let events: Vec<&ClientEvent> = pair
        .events
        .iter()
        .filter(|e| !matches!(e, ClientEvent::Replied { .. }))
        .collect();
    assert!(
        matches!(events[0], ClientEvent::Capabilities { tls: false, capabilities } if capabilities.starttls && capabilities.auth.is_empty())
    );
    assert!(
        matches!(events[1], ClientEvent::Capabilities { tls: true, capabilities } if !capabilities.starttls && capabilities.auth == ["PLAIN"] && capabilities.size == Some(36_700_160))
    );
    assert_eq!(
        events[2],
        &ClientEvent::Authenticated {
            mechanism: Mechanism::Plain,
            server_verified: false
        }
    );
    assert_eq!(
        events[3],
        &ClientEvent::MessageSent {
            reply: reply("250 2.0.0 Message accepted for delivery\r\n")
        }
    );
}

#[test]
fn r2920_without_pipelining_one_command_per_reply() {
    let pair = Pair::implicit(
        config().profile(Profile::ImplicitTls).build(),
        client_config()
            .credentials(alice())
            .mechanism(Mechanism::Plain)
            .pipelining(false),
        tls_info(),
    )
    .send(message())
    .run();
    pair.assert_clean_finish();
    let writes: Vec<String> = pair
        .writes
        .iter()
        .map(|w| String::from_utf8(w.clone()).unwrap())
        .collect();
    assert_eq!(
        writes[2..5],
        [
            "MAIL FROM:<alice@example.org> SIZE=25\r\n",
            "RCPT TO:<bob@example.net>\r\n",
            "DATA\r\n"
        ]
    );
}

#[test]
fn several_messages_in_one_connection() {
    let pair = Pair::implicit(
        config().profile(Profile::ImplicitTls).build(),
        client_config().credentials(alice()),
        tls_info(),
    )
    .send(message())
    .send(Message::new("", ["bob@example.net"], "second").unwrap())
    .run();
    pair.assert_clean_finish();
    assert_eq!(pair.server.out.messages.len(), 2);
    assert_eq!(pair.server.out.messages[1], b"second\r\n");
    assert!(pair.wire().contains("MAIL FROM:<> SIZE=8\r\n"));
}

// ---------------------------------------------------------------------------
// Mechanism choice and TLS rules.

#[test]
fn strongest_offered_mechanism_is_chosen() {
    // Password credentials: SCRAM-SHA-256 over PLAIN, LOGIN, CRAM-MD5 …
    let pair = Pair::implicit(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms(ALL_SERVER_MECHANISMS)
            .build(),
        client_config().credentials(alice()),
        tls_info(),
    )
    .run();
    pair.assert_clean_finish();
    assert_eq!(pair.authenticated(), Some((Mechanism::ScramSha256, true)));
    // … and -PLUS when the channel has binding data.
    let pair = Pair::implicit(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms(ALL_SERVER_MECHANISMS)
            .build(),
        client_config().credentials(alice()),
        tls_info().with_tls_exporter(vec![1; 32]),
    )
    .run();
    assert_eq!(
        pair.authenticated(),
        Some((Mechanism::ScramSha256Plus, true))
    );
    // A token: OAUTHBEARER before XOAUTH2.
    let pair = Pair::implicit(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms(ALL_SERVER_MECHANISMS)
            .build(),
        client_config().credentials(Credentials::token("alice", TOKEN)),
        tls_info(),
    )
    .run();
    assert_eq!(pair.authenticated(), Some((Mechanism::OAuthBearer, false)));
}

#[test]
fn r4954_4_no_password_mechanism_without_tls() {
    // A test server that offers PLAIN in the clear; the client refuses it.
    let server = || {
        config()
            .mechanisms([Mechanism::Plain, Mechanism::Login])
            .allow_plaintext_auth(true)
            .starttls(false)
            .build()
    };
    let pair = Pair::new(
        server(),
        client_config().tls(TlsMode::Plaintext).credentials(alice()),
    )
    .run();
    assert_eq!(
        pair.error,
        Some(Error::EncryptionRequired {
            mechanism: Mechanism::Plain
        })
    );
    assert_eq!(pair.wire(), "EHLO client.example\r\nQUIT\r\n");
    // Asked for by name: the same refusal.
    let pair = Pair::new(
        server(),
        client_config()
            .tls(TlsMode::Plaintext)
            .credentials(alice())
            .mechanism(Mechanism::Login),
    )
    .run();
    assert_eq!(
        pair.error,
        Some(Error::EncryptionRequired {
            mechanism: Mechanism::Login
        })
    );
    // Explicitly allowed: it goes ahead.
    let pair = Pair::new(
        server(),
        client_config()
            .tls(TlsMode::Plaintext)
            .credentials(alice())
            .allow_plaintext_auth(true),
    )
    .run();
    pair.assert_clean_finish();
    assert_eq!(pair.authenticated(), Some((Mechanism::Plain, false)));
}

#[test]
fn opportunistic_tls_goes_on_in_plaintext_with_a_challenge_response_mechanism() {
    let pair = Pair::new(
        config().starttls(false).build(),
        client_config()
            .tls(TlsMode::StartTlsIfOffered)
            .credentials(alice()),
    )
    .run();
    pair.assert_clean_finish();
    assert!(pair.events.contains(&ClientEvent::TlsNotOffered));
    assert_eq!(pair.authenticated(), Some((Mechanism::ScramSha256, true)));
    assert!(pair.client.tls().is_none());
}

#[test]
fn r3207_starttls_required_but_not_offered() {
    let pair = Pair::new(
        config().starttls(false).build(),
        client_config().credentials(alice()),
    )
    .run();
    assert_eq!(pair.error, Some(Error::StartTlsNotOffered));
    assert_eq!(pair.wire(), "EHLO client.example\r\nQUIT\r\n");
}

#[test]
fn atk_12_relay_profile_offers_no_auth() {
    let pair = Pair::new(
        config().profile(Profile::Relay).build(),
        client_config().credentials(alice()),
    )
    .run();
    assert_eq!(pair.error, Some(Error::AuthNotOffered { tls: true }));
    // Without credentials the relay is fine: greet, TLS, quit.
    let pair = Pair::new(config().profile(Profile::Relay).build(), client_config()).run();
    pair.assert_clean_finish();
    assert_eq!(
        pair.wire(),
        "EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\nQUIT\r\n"
    );
}

#[test]
fn mechanism_not_offered_names_what_is() {
    let pair = Pair::implicit(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms([Mechanism::Plain, Mechanism::Login])
            .build(),
        client_config()
            .credentials(alice())
            .mechanism(Mechanism::CramMd5),
        tls_info(),
    )
    .run();
    let error = pair.error.unwrap();
    assert_eq!(
        error,
        Error::MechanismNotOffered {
            mechanism: Mechanism::CramMd5,
            offered: vec!["PLAIN".into(), "LOGIN".into()]
        }
    );
    assert_eq!(
        error.to_string(),
        "the server does not offer CRAM-MD5; it offers PLAIN LOGIN"
    );
    // Credentials that fit nothing offered.
    let pair = Pair::implicit(
        config()
            .profile(Profile::ImplicitTls)
            .mechanisms([Mechanism::Plain])
            .build(),
        client_config().credentials(Credentials::token("alice", TOKEN)),
        tls_info(),
    )
    .run();
    assert_eq!(
        pair.error,
        Some(Error::NoCommonMechanism {
            offered: vec!["PLAIN".into()]
        })
    );
}

#[test]
fn r4954_6_wrong_password_and_backend_failures() {
    for (creds, mech, expected) in [
        (
            Credentials::password("alice", "wrong"),
            Mechanism::ScramSha256,
            "535 5.7.8 Authentication credentials invalid",
        ),
        (
            Credentials::password("alice", "wrong"),
            Mechanism::Plain,
            "535 5.7.8 Authentication credentials invalid",
        ),
        (
            Credentials::password("locked", "whatever"),
            Mechanism::Plain,
            "454 4.7.0 Temporary authentication failure",
        ),
        (
            Credentials::password("down", "whatever"),
            Mechanism::Plain,
            "454 4.7.0 Temporary authentication failure",
        ),
        (
            Credentials::token("alice", "not-the-token"),
            Mechanism::OAuthBearer,
            "535 5.7.8 Authentication credentials invalid",
        ),
    ] {
        let pair = Pair::implicit(
            config()
                .profile(Profile::ImplicitTls)
                .mechanisms(ALL_SERVER_MECHANISMS)
                .build(),
            client_config().credentials(creds).mechanism(mech),
            tls_info(),
        )
        .run();
        assert_eq!(
            pair.error,
            Some(Error::Rejected {
                step: Step::Auth(mech),
                reply: reply(&format!("{expected}\r\n"))
            }),
            "{mech}"
        );
        assert!(pair.wire().ends_with("QUIT\r\n"));
    }
}

/// RFC 5802 §6: plain SCRAM on a channel with binding data. Asked for by
/// name while the server offers the -PLUS variant, the client declines
/// binding (`n`): `y` ("you do not seem to offer -PLUS") would trip the
/// server's downgrade check and fail with the right password. Where the
/// server offers no -PLUS, `y` is what lets a server that could bind
/// notice that -PLUS was stripped.
#[test]
fn r5802_6_plain_scram_next_to_plus_declines_binding_and_says_y_without_it() {
    if !Mechanism::ScramSha256.is_available() {
        return;
    }
    let plain_only = [Mechanism::ScramSha256, Mechanism::ScramSha1];
    for (offered, flag) in [
        (&ALL_SERVER_MECHANISMS[..], "n,,"),
        (&plain_only[..], "y,,"),
    ] {
        for m in plain_only {
            let pair = Pair::implicit(
                config()
                    .profile(Profile::ImplicitTls)
                    .mechanisms(offered.iter().copied())
                    .build(),
                client_config().credentials(alice()).mechanism(m),
                tls_info().with_tls_exporter(vec![7; 32]),
            )
            .run();
            pair.assert_clean_finish();
            assert_eq!(pair.authenticated(), Some((m, true)), "{m}");
            let wire = pair.wire();
            let prefix = format!("AUTH {m} ");
            let first = wire
                .split("\r\n")
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap();
            let first = smtp_auth::sasl::encoding::decode(first.as_bytes()).unwrap();
            assert!(
                first.starts_with(format!("{flag}n=alice,r=").as_bytes()),
                "{m} next to {offered:?}: {}",
                String::from_utf8_lossy(&first)
            );
        }
    }
}

#[test]
fn sender_refused_by_policy_names_mail_from() {
    let pair = Pair::implicit(
        config().profile(Profile::ImplicitTls).build(),
        client_config().credentials(alice()),
        tls_info(),
    )
    .send(Message::new("spoof@example.org", ["bob@example.net"], "x").unwrap())
    .run();
    assert_eq!(
        pair.error,
        Some(Error::Rejected {
            step: Step::Mail,
            reply: reply("550 5.7.1 Sender address not authorized for this user\r\n")
        })
    );
    assert!(pair.server.out.messages.is_empty());
}

// ---------------------------------------------------------------------------
// Scripted servers: exact client bytes for each server reply.

/// Runs `client` against a script of (server bytes, expected client bytes
/// afterwards) steps; returns the outputs other than `Send`.
fn script(config: ClientConfig, steps: &[(&str, &str)]) -> (Client, Vec<ClientOutput>) {
    let mut client = Client::new(config);
    let mut others = Vec::new();
    for (i, (server, expected)) in steps.iter().enumerate() {
        if *server == "<close>" {
            client.connection_closed();
        } else if *server == "<tls>" {
            client.tls_established(tls_info());
        } else {
            client.receive(server.as_bytes());
        }
        let mut sent = Vec::new();
        while let Some(o) = client.poll() {
            match o {
                ClientOutput::Send(b) => sent.extend_from_slice(&b),
                other => others.push(other),
            }
        }
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            *expected,
            "step {i}: {server:?}"
        );
    }
    (client, others)
}

fn last_error(outputs: &[ClientOutput]) -> Error {
    match outputs.last() {
        Some(ClientOutput::Error(e)) => e.clone(),
        other => panic!("no error at the end: {other:?}"),
    }
}

const EHLO_TLS: &str =
    "250-mx.example.org\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH SCRAM-SHA-256\r\n";

#[test]
fn atk_02_starttls_advertised_then_refused_is_a_downgrade() {
    let (_, out) = script(
        client_config()
            .tls(TlsMode::StartTlsIfOffered)
            .credentials(alice()),
        &[
            ("220 mx ESMTP\r\n", "EHLO client.example\r\n"),
            (EHLO_TLS, "STARTTLS\r\n"),
            // A man in the middle answers for the server.
            (
                "454 4.7.0 TLS not available due to temporary reason\r\n",
                "QUIT\r\n",
            ),
        ],
    );
    assert_eq!(
        last_error(&out),
        Error::StartTlsRefused {
            reply: reply("454 4.7.0 TLS not available due to temporary reason\r\n")
        }
    );
}

#[test]
fn atk_01_plaintext_after_the_starttls_reply_is_refused() {
    // In the same segment as the 220.
    let (client, out) = script(
        client_config().credentials(alice()),
        &[
            ("220 mx ESMTP\r\n", "EHLO client.example\r\n"),
            (EHLO_TLS, "STARTTLS\r\n"),
            (
                "220 2.0.0 Ready to start TLS\r\n250-injected\r\n250 AUTH PLAIN\r\n",
                "",
            ),
        ],
    );
    assert!(!out.contains(&ClientOutput::StartTls));
    assert_eq!(last_error(&out), Error::StartTlsInjection);
    assert!(client.is_closed());
    assert!(client.tls().is_none());
    // In a later read, before the handshake.
    let (_, out) = script(
        client_config().credentials(alice()),
        &[
            ("220 mx ESMTP\r\n", "EHLO client.example\r\n"),
            (EHLO_TLS, "STARTTLS\r\n"),
            ("220 2.0.0 Ready to start TLS\r\n", ""),
            ("250 OK\r\n", ""),
        ],
    );
    assert_eq!(out[out.len() - 2], ClientOutput::StartTls);
    assert_eq!(last_error(&out), Error::StartTlsInjection);
}

#[test]
fn r3207_4_2_capabilities_are_read_again_after_tls() {
    let (client, _) = script(
        client_config().credentials(alice()),
        &[
            ("220 mx ESMTP\r\n", "EHLO client.example\r\n"),
            (
                "250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
                "STARTTLS\r\n",
            ),
            ("220 go ahead\r\n", ""),
            ("<tls>", "EHLO client.example\r\n"),
            ("250-mx\r\n250 AUTH LOGIN\r\n", "AUTH LOGIN YWxpY2U=\r\n"),
            ("334 UGFzc3dvcmQ6\r\n", "d29uZGVybGFuZA==\r\n"),
            ("235 2.7.0 ok\r\n", ""),
        ],
    );
    // The plaintext list (PLAIN) is forgotten; LOGIN was used.
    assert_eq!(client.capabilities().unwrap().auth, ["LOGIN"]);
    assert_eq!(client.authenticated(), Some(Mechanism::Login));
}

/// (name, config, script steps, the error at the end).
type Case = (
    &'static str,
    ClientConfig,
    Vec<(&'static str, &'static str)>,
    Error,
);

#[test]
fn error_paths_name_the_step() {
    let plain_tls = || {
        client_config()
            .tls(TlsMode::Implicit(tls_info()))
            .credentials(alice())
            .mechanism(Mechanism::Plain)
    };
    const EHLO: &str = "250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN SCRAM-SHA-256\r\n";
    const AUTH: &str = "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n";
    let cases: Vec<Case> = vec![
        (
            "greeting refused",
            plain_tls(),
            vec![("554 5.7.0 No service\r\n", "QUIT\r\n")],
            Error::Rejected {
                step: Step::Greeting,
                reply: reply("554 5.7.0 No service\r\n"),
            },
        ),
        (
            "greeting with the wrong code",
            plain_tls(),
            vec![("250 hello\r\n", "")],
            Error::UnexpectedReply {
                step: Step::Greeting,
                reply: reply("250 hello\r\n"),
            },
        ),
        (
            "EHLO refused",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                ("502 5.5.1 Command not implemented\r\n", "QUIT\r\n"),
            ],
            Error::Rejected {
                step: Step::Ehlo,
                reply: reply("502 5.5.1 Command not implemented\r\n"),
            },
        ),
        (
            "malformed reply",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                ("hello there\r\n", ""),
            ],
            Error::MalformedReply { step: Step::Ehlo },
        ),
        (
            "mixed codes in a multi-line reply",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                ("250-mx\r\n251 x\r\n", ""),
            ],
            Error::MalformedReply { step: Step::Ehlo },
        ),
        (
            "connection closed during AUTH",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (EHLO, AUTH),
                ("<close>", ""),
            ],
            Error::ConnectionClosed {
                step: Some(Step::Auth(Mechanism::Plain)),
            },
        ),
        (
            "421 closes without QUIT",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (EHLO, AUTH),
                ("421 4.7.0 Too many errors\r\n", ""),
            ],
            Error::Rejected {
                step: Step::Auth(Mechanism::Plain),
                reply: reply("421 4.7.0 Too many errors\r\n"),
            },
        ),
        (
            "AUTH answered with 250",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (EHLO, AUTH),
                ("250 ok\r\n", "QUIT\r\n"),
            ],
            Error::UnexpectedReply {
                step: Step::Auth(Mechanism::Plain),
                reply: reply("250 ok\r\n"),
            },
        ),
        (
            "an unexpected challenge is cancelled with *",
            plain_tls(),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (EHLO, AUTH),
                ("334 \r\n", "*\r\n"),
                ("501 5.7.0 Authentication cancelled\r\n", "QUIT\r\n"),
            ],
            Error::Sasl {
                mechanism: Mechanism::Plain,
                error: smtp_auth::sasl::ClientError::UnexpectedChallenge,
            },
        ),
        (
            "a challenge that is not base64",
            client_config()
                .tls(TlsMode::Implicit(tls_info()))
                .credentials(alice())
                .mechanism(Mechanism::CramMd5),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                ("250-mx\r\n250 AUTH CRAM-MD5\r\n", "AUTH CRAM-MD5\r\n"),
                ("334 not base64!\r\n", "*\r\n"),
                ("501 5.7.0 Authentication cancelled\r\n", "QUIT\r\n"),
            ],
            Error::Sasl {
                mechanism: Mechanism::CramMd5,
                error: smtp_auth::sasl::ClientError::MalformedChallenge,
            },
        ),
        (
            "SCRAM success without the server signature",
            client_config()
                .tls(TlsMode::Implicit(tls_info()))
                .credentials(alice())
                .mechanism(Mechanism::ScramSha256),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (
                    EHLO,
                    "AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPTdZOEIyK1FVQ3gySnFZRjdpbTlHc3dIZA==\r\n",
                ),
                ("235 2.7.0 ok\r\n", "QUIT\r\n"),
            ],
            Error::ServerNotVerified {
                mechanism: Mechanism::ScramSha256,
            },
        ),
        (
            "QUIT answered with a failure",
            client_config().tls(TlsMode::Implicit(tls_info())),
            vec![
                ("220 mx\r\n", "EHLO client.example\r\n"),
                (EHLO, ""),
                ("<quit>", "QUIT\r\n"),
                ("500 what\r\n", ""),
            ],
            Error::Rejected {
                step: Step::Quit,
                reply: reply("500 what\r\n"),
            },
        ),
    ];
    for (name, config, steps, expected) in cases {
        let mut client = Client::new(config);
        let mut outputs = Vec::new();
        for (i, (server, want)) in steps.iter().enumerate() {
            match *server {
                "<close>" => client.connection_closed(),
                "<quit>" => client.quit(),
                s => client.receive(s.as_bytes()),
            }
            let mut sent = Vec::new();
            while let Some(o) = client.poll() {
                match o {
                    ClientOutput::Send(b) => sent.extend_from_slice(&b),
                    other => outputs.push(other),
                }
            }
            assert_eq!(String::from_utf8(sent).unwrap(), *want, "{name}, step {i}");
        }
        assert_eq!(last_error(&outputs), expected, "{name}");
        assert!(client.is_closed(), "{name}");
        // Closed: more input changes nothing.
        client.receive(b"250 late\r\n");
        assert!(client.poll().is_none(), "{name}");
    }
}

const READY: &[(&str, &str)] = &[
    ("220 mx\r\n", "EHLO client.example\r\n"),
    (
        "250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
        "",
    ),
];

fn idle_client(pipelining: bool) -> Client {
    let mut client = Client::new(
        client_config()
            .tls(TlsMode::Implicit(tls_info()))
            .pipelining(pipelining),
    );
    for (server, _) in READY {
        client.receive(server.as_bytes());
    }
    let mut ready = false;
    while let Some(o) = client.poll() {
        ready |= o == ClientOutput::Ready;
    }
    assert!(ready);
    client
}

/// Feeds replies one by one; returns the client bytes after each and the
/// other outputs.
fn feed(client: &mut Client, replies: &[&str]) -> (Vec<String>, Vec<ClientOutput>) {
    let mut sent = Vec::new();
    let mut others = Vec::new();
    for r in replies {
        client.receive(r.as_bytes());
        let mut bytes = Vec::new();
        while let Some(o) = client.poll() {
            match o {
                ClientOutput::Send(b) => bytes.extend_from_slice(&b),
                other => others.push(other),
            }
        }
        sent.push(String::from_utf8(bytes).unwrap());
    }
    (sent, others)
}

fn sent_now(client: &mut Client) -> String {
    let mut bytes = Vec::new();
    while let Some(o) = client.poll() {
        if let ClientOutput::Send(b) = o {
            bytes.extend_from_slice(&b);
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn r2920_3_1_partial_recipient_refusal_and_all_refused() {
    // One of two refused: the message goes to the other.
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org", "c@x.org"], "hi").unwrap())
        .unwrap();
    assert_eq!(
        sent_now(&mut client),
        "MAIL FROM:<a@x.org> SIZE=4\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\nDATA\r\n"
    );
    let (sent, out) = feed(
        &mut client,
        &[
            "250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n",
            "250 2.0.0 queued as X\r\n",
        ],
    );
    assert_eq!(sent, ["hi\r\n.\r\n", ""]);
    assert!(
        out.contains(&ClientOutput::Event(ClientEvent::RecipientRefused {
            recipient: "b@x.org".into(),
            reply: reply("550 5.1.1 no such user\r\n")
        }))
    );
    assert!(out.contains(&ClientOutput::Event(ClientEvent::MessageSent {
        reply: reply("250 2.0.0 queued as X\r\n")
    })));
    assert_eq!(out.last(), Some(&ClientOutput::Ready));

    // All refused, and DATA accepted anyway: an empty message ends at once.
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], "hi").unwrap())
        .unwrap();
    sent_now(&mut client);
    let (sent, out) = feed(
        &mut client,
        &[
            "250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n",
            "554 5.5.1 No valid recipients\r\n",
        ],
    );
    assert_eq!(sent, [".\r\n", "QUIT\r\n"]);
    assert_eq!(
        last_error(&out),
        Error::Rejected {
            step: Step::Rcpt,
            reply: reply("550 5.1.1 no such user\r\n")
        }
    );

    // Sender refused: the pipelined RCPT and DATA replies are consumed, the
    // sender named.
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], "hi").unwrap())
        .unwrap();
    sent_now(&mut client);
    let (sent, out) = feed(
        &mut client,
        &[
            "553 5.7.1 not yours\r\n503 5.5.1 need MAIL\r\n",
            "503 5.5.1 need RCPT\r\n",
        ],
    );
    assert_eq!(sent, ["", "QUIT\r\n"]);
    assert_eq!(
        last_error(&out),
        Error::Rejected {
            step: Step::Mail,
            reply: reply("553 5.7.1 not yours\r\n")
        }
    );
}

#[test]
fn without_pipelining_all_recipients_refused_stops_before_data() {
    let mut client = idle_client(false);
    client
        .send(Message::new("a@x.org", ["b@x.org", "c@x.org"], "hi").unwrap())
        .unwrap();
    assert_eq!(sent_now(&mut client), "MAIL FROM:<a@x.org> SIZE=4\r\n");
    let (sent, out) = feed(
        &mut client,
        &["250 ok\r\n", "550 no\r\n", "450 4.2.0 later\r\n"],
    );
    assert_eq!(
        sent,
        ["RCPT TO:<b@x.org>\r\n", "RCPT TO:<c@x.org>\r\n", "QUIT\r\n"]
    );
    assert_eq!(
        last_error(&out),
        Error::Rejected {
            step: Step::Rcpt,
            reply: reply("450 4.2.0 later\r\n")
        }
    );
}

#[test]
fn message_refused_after_the_body_and_unexpected_data_reply() {
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], "hi").unwrap())
        .unwrap();
    sent_now(&mut client);
    let (sent, out) = feed(
        &mut client,
        &["250 ok\r\n250 ok\r\n354 go\r\n", "552 5.3.4 too big\r\n"],
    );
    assert_eq!(sent, ["hi\r\n.\r\n", "QUIT\r\n"]);
    assert_eq!(
        last_error(&out),
        Error::Rejected {
            step: Step::Message,
            reply: reply("552 5.3.4 too big\r\n")
        }
    );

    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], "hi").unwrap())
        .unwrap();
    sent_now(&mut client);
    let (_, out) = feed(&mut client, &["250 ok\r\n250 ok\r\n250 what\r\n"]);
    assert_eq!(
        last_error(&out),
        Error::UnexpectedReply {
            step: Step::Data,
            reply: reply("250 what\r\n")
        }
    );
}

#[test]
fn message_checks_against_the_capabilities() {
    // SIZE 1000 from READY.
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], vec![b'a'; 2000]).unwrap())
        .unwrap();
    assert_eq!(sent_now(&mut client), "QUIT\r\n");
    assert!(client.is_closed());
    // 8-bit content with 8BITMIME offered: BODY=8BITMIME.
    let mut client = idle_client(true);
    client
        .send(Message::new("a@x.org", ["b@x.org"], "caf\u{e9}").unwrap())
        .unwrap();
    assert!(sent_now(&mut client).starts_with("MAIL FROM:<a@x.org> SIZE=7 BODY=8BITMIME\r\n"));
    // Non-ASCII addresses without SMTPUTF8: refused before sending.
    let mut client = idle_client(true);
    client
        .send(Message::new("j\u{f6}rg@x.org", ["b@x.org"], "x").unwrap())
        .unwrap();
    let mut out = Vec::new();
    while let Some(o) = client.poll() {
        out.push(o);
    }
    assert_eq!(last_error(&out), Error::SmtpUtf8Unsupported);
}

#[test]
fn unsolicited_replies_and_misuse() {
    let mut client = idle_client(true);
    let (_, out) = feed(&mut client, &["250 surprise\r\n"]);
    assert_eq!(
        last_error(&out),
        Error::Unsolicited {
            reply: reply("250 surprise\r\n")
        }
    );
    // Sending after close hands the message back.
    assert_eq!(client.send(message()), Err(message()));
    // tls_established without STARTTLS is ignored.
    let mut client = idle_client(true);
    client.tls_established(tls_info());
    assert!(client.poll().is_none());
    // A reply longer than MAX_REPLY without an end.
    let mut client = idle_client(true);
    client.quit();
    sent_now(&mut client);
    let long = "221-".to_owned() + &"x".repeat(smtp_auth::client::MAX_REPLY) + "\r\n";
    let (_, out) = feed(&mut client, &[long.as_str()]);
    assert_eq!(last_error(&out), Error::ReplyTooLong { step: Step::Quit });
    // A closed connection while idle.
    let mut client = idle_client(true);
    client.connection_closed();
    assert_eq!(
        client.poll(),
        Some(ClientOutput::Error(Error::ConnectionClosed { step: None }))
    );
}

#[test]
fn quit_then_close_is_done() {
    let mut client = idle_client(true);
    client.quit();
    assert_eq!(sent_now(&mut client), "QUIT\r\n");
    client.connection_closed();
    assert_eq!(client.poll(), Some(ClientOutput::Done));
    assert!(client.is_closed());
}

#[test]
fn replies_split_at_every_byte_give_the_same_conversation() {
    let server = "220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n235 2.7.0 ok\r\n";
    for cut in 0..server.len() {
        let mut client = Client::new(
            client_config()
                .tls(TlsMode::Implicit(tls_info()))
                .credentials(alice()),
        );
        let mut sent = Vec::new();
        let mut ready = false;
        for part in [&server[..cut], &server[cut..]] {
            for b in part.as_bytes().chunks(7) {
                client.receive(b);
                while let Some(o) = client.poll() {
                    match o {
                        ClientOutput::Send(b) => sent.extend_from_slice(&b),
                        ClientOutput::Ready => ready = true,
                        ClientOutput::Error(e) => panic!("{e}"),
                        _ => {}
                    }
                }
            }
        }
        assert!(ready, "cut {cut}");
        assert_eq!(
            sent, b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n",
            "cut {cut}"
        );
    }
}

#[test]
fn atk_11_no_debug_output_shows_credentials() {
    let mut client = Client::new(
        client_config()
            .tls(TlsMode::Implicit(tls_info()))
            .credentials(Credentials::password("alice", "hunter2-secret")),
    );
    client.receive(b"220 mx\r\n250-mx\r\n250 AUTH PLAIN\r\n");
    let mut debug = format!("{client:?}");
    let mut wire = Vec::new();
    while let Some(o) = client.poll() {
        debug.push_str(&format!("{o:?}"));
        if let ClientOutput::Send(b) = o {
            wire.extend_from_slice(&b);
        }
    }
    let config = client_config().credentials(Credentials::password("alice", "hunter2-secret"));
    debug.push_str(&format!("{config:?}"));
    let b64 = smtp_auth::sasl::encoding::encode(b"\0alice\0hunter2-secret");
    assert!(String::from_utf8(wire).unwrap().contains(&b64));
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains(&b64), "{debug}");
}

#[test]
fn message_envelope_is_checked() {
    assert_eq!(
        Message::new("a b@x.org", ["b@x.org"], "").unwrap_err(),
        MessageError::InvalidSender
    );
    assert_eq!(
        Message::new("a@x.org", ["b@x.org", "c@x.org>\r\nRCPT TO:<d@x.org"], "").unwrap_err(),
        MessageError::InvalidRecipient { index: 1 }
    );
    assert_eq!(
        Message::new("a@x.org", Vec::<String>::new(), "").unwrap_err(),
        MessageError::NoRecipients
    );
    let m = Message::new("", ["b@x.org"], "x\ny").unwrap();
    assert_eq!(
        (m.from(), m.to(), m.size()),
        ("", &["b@x.org".to_owned()][..], 6)
    );
}

#[test]
fn ehlo_name_cannot_inject_a_command() {
    let mut client =
        Client::new(ClientConfig::new("evil\r\nMAIL FROM:<x>").tls(TlsMode::Plaintext));
    client.receive(b"220 mx\r\n");
    assert_eq!(sent_now(&mut client), "EHLO evilMAILFROM:x\r\n");
    let mut client = Client::new(ClientConfig::new("\r\n").tls(TlsMode::Plaintext));
    client.receive(b"220 mx\r\n");
    assert_eq!(sent_now(&mut client), "EHLO localhost\r\n");
}
