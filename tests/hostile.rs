//! The hostile-input suite: a table of attacks, each with the exact reply
//! bytes the session must send and the state it must be in afterwards
//! (closed or not, who is authenticated, and a next command that must get
//! its normal reply). Case names cite the attack class (ATK-nn) and the
//! requirement (R-IDs) of `rfc-checklist.md`.
//!
//! Expected replies are exact, except that a line `334 {challenge}` matches
//! one `334 <base64>` line whose content is not fixed by the case (a SCRAM
//! server-first message, which carries a fresh nonce).

mod common;

use common::{config, tls_info, Driver};
use smtp_auth::random::FixedEntropy;
use smtp_auth::sasl::{encoding, ClientContext, ClientExchange, Credentials, Mechanism};
use smtp_auth::{
    Answer, AnswerErrorKind, BareLineEndings, ConfigBuilder, Event, Output, Profile, Question,
    Reply,
};

/// Where a case starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Submission on 587, plaintext, after `EHLO client.example`.
    Plain,
    /// Implicit TLS (465), after `EHLO client.example`.
    Tls,
    /// `Tls`, then authenticated as alice.
    Authed,
    /// `Authed`, then `MAIL FROM:<alice@example.org>` and one recipient.
    InTransaction,
    /// A relay listener (port 25) with AUTH on, under TLS, after EHLO.
    Relay,
}

/// What the client does.
enum Input {
    /// These bytes in one read.
    Bytes(&'static [u8]),
    /// These bytes in one read.
    Gen(fn() -> Vec<u8>),
    /// A scripted exchange (STARTTLS hand-overs, SCRAM clients, answers).
    Script(fn(&mut Driver)),
}

/// The replies the case must produce, exactly.
enum Expect {
    Text(&'static str),
    Gen(fn() -> String),
}

/// The state after the case.
struct After {
    closed: bool,
    /// The authenticated identity, if any.
    user: Option<&'static str>,
    /// A command that must then get exactly this reply (skipped when closed).
    next: Option<(&'static [u8], &'static str)>,
    /// Further checks on events, questions and messages.
    check: Option<fn(&Driver)>,
}

struct Case {
    name: &'static str,
    start: Start,
    config: fn(ConfigBuilder) -> ConfigBuilder,
    input: Input,
    expect: Expect,
    after: After,
}

// --- replies used in many cases -----------------------------------------

const OK: &str = "250 2.0.0 OK\r\n";
const INVALID: &str = "535 5.7.8 Authentication credentials invalid\r\n";
const BAD_B64: &str = "501 5.5.2 Invalid base64 data\r\n";
const SUCCESS: &str = "235 2.7.0 Authentication successful\r\n";
const BARE: &str = "550 5.6.11 Bare CR or LF in message body is not allowed\r\n";
const SYNTAX: &str = "500 5.5.2 Syntax error\r\n";
/// alice / wonderland, PLAIN.
const PLAIN_ALICE: &[u8] = b"AGFsaWNlAHdvbmRlcmxhbmQ=";

fn same(b: ConfigBuilder) -> ConfigBuilder {
    b
}

fn all_mechanisms(b: ConfigBuilder) -> ConfigBuilder {
    b.mechanisms(Mechanism::ALL)
}

const fn after(closed: bool, user: Option<&'static str>) -> After {
    After {
        closed,
        user,
        next: None,
        check: None,
    }
}

const fn open_then(user: Option<&'static str>, next: &'static [u8], reply: &'static str) -> After {
    After {
        closed: false,
        user,
        next: Some((next, reply)),
        check: None,
    }
}

const fn with_check(mut a: After, check: fn(&Driver)) -> After {
    a.check = Some(check);
    a
}

const NOOP: &[u8] = b"NOOP\r\n";

// --- helpers for scripted cases -------------------------------------------

fn b64(bytes: &[u8]) -> String {
    encoding::encode(bytes)
}

fn auth_line(mechanism: &str, ir: &[u8]) -> Vec<u8> {
    format!("AUTH {mechanism} {}\r\n", b64(ir)).into_bytes()
}

/// The decoded text of the last `334` challenge sent.
fn last_challenge(d: &Driver) -> Vec<u8> {
    let text = String::from_utf8_lossy(&d.out.sent);
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("334 "))
        .expect("a 334 challenge");
    encoding::decode(line.as_bytes()).expect("base64 challenge")
}

/// A SCRAM-SHA-256 client for alice with a deterministic nonce.
fn scram_client(password: &str) -> ClientExchange {
    static ENTROPY: FixedEntropy = FixedEntropy::new(1234, 0);
    let ctx = ClientContext::new(&ENTROPY);
    ClientExchange::new(
        Mechanism::ScramSha256,
        Credentials::password("alice", password),
        &ctx,
    )
    .expect("SCRAM client")
}

/// Sends client-first, returns the client and the client-final the real
/// client computes for the server-first it got.
fn scram_until_final(
    d: &mut Driver,
    tamper_first: fn(&str) -> String,
) -> (ClientExchange, Vec<u8>) {
    let mut c = scram_client("wonderland");
    let first = c.initial_response().expect("client-first");
    d.feed(&auth_line("SCRAM-SHA-256", &first));
    let server_first = String::from_utf8(last_challenge(d)).expect("UTF-8");
    let seen = tamper_first(&server_first);
    let fin = c.respond(seen.as_bytes()).expect("client-final");
    (c, fin)
}

fn untouched(s: &str) -> String {
    s.to_owned()
}

fn no_credentials_asked(d: &Driver) {
    assert!(
        !d.out
            .questions
            .iter()
            .any(|q| matches!(q, Question::Credentials { .. })),
        "the credential backend was consulted: {:?}",
        d.out.questions
    );
}

fn no_policy_questions(d: &Driver) {
    assert!(
        d.out.questions.iter().all(|q| matches!(
            q,
            Question::AuthResult(_) | Question::MayAuthenticate(_) | Question::Credentials { .. }
        )),
        "{:?}",
        d.out.questions
    );
}

fn discarded_plaintext(d: &Driver) -> u64 {
    d.out
        .events
        .iter()
        .find_map(|e| match e {
            Event::PlaintextDiscarded { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .unwrap_or(0)
}

fn no_message_stored(d: &Driver) {
    assert!(d.out.messages.is_empty(), "a message was stored");
    assert!(
        !d.out
            .questions
            .iter()
            .any(|q| matches!(q, Question::Message(_))),
        "the message was offered for storage"
    );
}

fn body_discarded(d: &Driver) {
    no_message_stored(d);
    assert!(d.out.discarded >= 1, "the body pieces were not voided");
}

fn one_mail_question(d: &Driver) {
    let mails = d
        .out
        .questions
        .iter()
        .filter(|q| matches!(q, Question::MailFrom(_)))
        .count();
    assert_eq!(mails, 0, "a smuggled MAIL reached the policy");
}

// --- the table ------------------------------------------------------------

fn cases() -> Vec<Case> {
    vec![
        // ===== STARTTLS injection (ATK-01, R3207-4.2.2, R3207-6.1) =====
        Case {
            name: "atk_01_r3207_4_2_2_ehlo_pipelined_after_starttls_is_discarded",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"STARTTLS\r\nEHLO evil.example\r\n");
                d.tls();
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n"),
            after: with_check(
                open_then(
                    None,
                    b"MAIL FROM:<alice@example.org>\r\n",
                    "503 5.5.1 Send EHLO or HELO first\r\n",
                ),
                |d| {
                    assert_eq!(discarded_plaintext(d), 19);
                    assert_eq!(d.session.helo_name(), None);
                },
            ),
        },
        Case {
            name: "atk_01_r3207_4_2_2_auth_pipelined_after_starttls_never_reaches_the_backend",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                let mut v = b"STARTTLS\r\nAUTH PLAIN ".to_vec();
                v.extend_from_slice(PLAIN_ALICE);
                v.extend_from_slice(b"\r\n");
                d.feed(&v);
                d.tls();
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n"),
            after: with_check(
                open_then(None, b"AUTH PLAIN\r\n", "503 5.5.1 Send EHLO first\r\n"),
                no_credentials_asked,
            ),
        },
        Case {
            name: "atk_01_r3207_6_1_whole_transaction_pipelined_after_starttls_is_discarded",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"STARTTLS\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\nevil\r\n.\r\n");
                d.tls();
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n"),
            after: with_check(
                open_then(None, b"DATA\r\n", "530 5.7.0 Authentication required\r\n"),
                |d| {
                    no_message_stored(d);
                    assert!(d.out.questions.is_empty(), "{:?}", d.out.questions);
                },
            ),
        },
        Case {
            name: "atk_01_bytes_arriving_during_the_handshake_are_discarded",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"STARTTLS\r\n");
                d.feed(b"EHLO evil.example\r\n");
                d.feed(b"NOOP\r\n");
                d.tls();
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n"),
            after: with_check(
                open_then(None, NOOP, OK),
                |d| assert_eq!(discarded_plaintext(d), 25),
            ),
        },
        Case {
            name: "atk_01_partial_line_before_the_handshake_does_not_prefix_the_next",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"STARTTLS\r\nRS");
                d.tls();
                d.feed(b"ET\r\n");
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n500 5.5.1 Command unrecognized\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_01_r5321_2_3_8_starttls_ended_by_bare_lf_is_not_a_command",
            start: Start::Plain,
            config: same,
            input: Input::Bytes(b"STARTTLS\nEHLO evil.example\r\n"),
            expect: Expect::Text(SYNTAX),
            after: with_check(open_then(None, NOOP, OK), |d| {
                assert_eq!(d.out.starttls, 0);
                assert!(d.session.tls().is_none());
            }),
        },
        Case {
            name: "r3207_4_1_starttls_with_an_argument_is_refused",
            start: Start::Plain,
            config: same,
            input: Input::Bytes(b"STARTTLS now\r\n"),
            expect: Expect::Text("501 5.5.4 Syntax: STARTTLS\r\n"),
            after: with_check(open_then(None, NOOP, OK), |d| assert_eq!(d.out.starttls, 0)),
        },
        Case {
            name: "r3207_4_2_4_second_starttls_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"STARTTLS\r\nNOOP\r\n"),
            expect: Expect::Text("503 5.5.1 TLS already active\r\n250 2.0.0 OK\r\n"),
            after: with_check(open_then(None, NOOP, OK), |d| assert_eq!(d.out.starttls, 0)),
        },
        Case {
            name: "atk_01_r3207_4_2_1_authentication_before_starttls_is_forgotten",
            start: Start::Plain,
            config: |b| b.mechanisms([Mechanism::ScramSha256]),
            input: Input::Script(|d| {
                let (mut c, fin) = scram_until_final(d, untouched);
                d.feed(format!("{}\r\n", b64(&fin)).as_bytes());
                let v = last_challenge(d);
                assert!(c.respond(&v).expect("server verified").is_empty());
                d.feed(b"\r\n");
                assert!(d.session.authenticated().is_some());
                d.feed(b"STARTTLS\r\n");
                d.tls();
            }),
            expect: Expect::Text("334 {challenge}\r\n334 {challenge}\r\n235 2.7.0 Authentication successful\r\n220 2.0.0 Ready to start TLS\r\n"),
            after: open_then(
                None,
                b"EHLO c\r\nMAIL FROM:<alice@example.org>\r\n",
                "250-mx.example.org greets c\r\n250-SIZE 36700160\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 AUTH SCRAM-SHA-256\r\n530 5.7.0 Authentication required\r\n",
            ),
        },
        // ===== SMTP smuggling (ATK-03, R5321-2.3.8.1) =====
        Case {
            name: "atk_03_lf_dot_lf_does_not_end_data",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"DATA\r\nSubject: a\r\n\r\nhi\n.\nMAIL FROM:<spoof@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: forged\r\n.\r\n"),
            expect: Expect::Gen(|| format!("354 Start mail input; end with <CRLF>.<CRLF>\r\n{BARE}")),
            after: with_check(open_then(Some("alice"), NOOP, OK), |d| {
                body_discarded(d);
                one_mail_question(d);
            }),
        },
        Case {
            name: "atk_03_cr_dot_cr_does_not_end_data",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"DATA\r\nhi\r.\rMAIL FROM:<spoof@example.org>\r\n.\r\n"),
            expect: Expect::Gen(|| format!("354 Start mail input; end with <CRLF>.<CRLF>\r\n{BARE}")),
            after: with_check(open_then(Some("alice"), NOOP, OK), |d| {
                body_discarded(d);
                one_mail_question(d);
            }),
        },
        Case {
            name: "atk_03_lf_dot_crlf_does_not_end_data",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"DATA\r\nhi\n.\r\nMAIL FROM:<spoof@example.org>\r\n.\r\n"),
            expect: Expect::Gen(|| format!("354 Start mail input; end with <CRLF>.<CRLF>\r\n{BARE}")),
            after: with_check(open_then(Some("alice"), NOOP, OK), |d| {
                body_discarded(d);
                one_mail_question(d);
            }),
        },
        Case {
            name: "atk_03_crlf_dot_lf_does_not_end_data",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"DATA\r\nhi\r\n.\nMAIL FROM:<spoof@example.org>\r\n.\r\n"),
            expect: Expect::Gen(|| format!("354 Start mail input; end with <CRLF>.<CRLF>\r\n{BARE}")),
            after: with_check(open_then(Some("alice"), NOOP, OK), |d| {
                body_discarded(d);
                one_mail_question(d);
            }),
        },
        Case {
            name: "atk_03_bare_cr_inside_a_body_line_refuses_the_message",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"DATA\r\nSubject: a\rb\r\n.\r\n"),
            expect: Expect::Gen(|| format!("354 Start mail input; end with <CRLF>.<CRLF>\r\n{BARE}")),
            after: with_check(open_then(Some("alice"), NOOP, OK), body_discarded),
        },
        Case {
            name: "atk_03_pass_mode_keeps_the_smuggled_lines_inside_one_message",
            start: Start::InTransaction,
            config: |b| b.bare_line_endings(BareLineEndings::Pass),
            input: Input::Bytes(b"DATA\r\nhi\n.\nMAIL FROM:<spoof@example.org>\r\n.\r\n"),
            expect: Expect::Text("354 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Message accepted for delivery\r\n"),
            after: with_check(open_then(Some("alice"), NOOP, OK), |d| {
                assert_eq!(d.out.messages, vec![b"hi\n.\nMAIL FROM:<spoof@example.org>\r\n".to_vec()]);
                one_mail_question(d);
            }),
        },
        Case {
            name: "atk_03_r5321_2_3_8_bare_lf_does_not_end_a_command",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"NOOP\nRSET\r\n"),
            expect: Expect::Text(SYNTAX),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_03_r5321_2_3_8_bare_cr_does_not_end_a_command",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"RSET\rNOOP\r\n"),
            expect: Expect::Text(SYNTAX),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_03_atk_13_bare_lf_does_not_end_an_auth_response",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN\r\nAGFsaWNl\nAHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Gen(|| format!("334 \r\n{BAD_B64}")),
            after: open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS),
        },
        // ===== NUL and control characters (ATK-04, ATK-08, R4616-2.1) =====
        Case {
            name: "atk_04_nul_in_a_command_is_a_syntax_error",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"NO\0OP\r\n"),
            expect: Expect::Text(SYNTAX),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_04_nul_in_a_mail_from_address_is_refused",
            start: Start::Authed,
            config: same,
            input: Input::Bytes(b"MAIL FROM:<ali\0ce@example.org>\r\n"),
            expect: Expect::Text(SYNTAX),
            after: with_check(
                open_then(Some("alice"), b"RCPT TO:<bob@example.net>\r\n", "503 5.5.1 Need MAIL command first\r\n"),
                no_policy_questions,
            ),
        },
        Case {
            name: "atk_04_r4616_2_1_nul_inside_the_plain_authcid_fails",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("PLAIN", b"\0al\0ice\0wonderland")),
            expect: Expect::Text(INVALID),
            after: with_check(open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS), no_credentials_asked),
        },
        Case {
            name: "atk_04_r4616_2_2_nul_inside_the_plain_password_fails",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("PLAIN", b"\0alice\0wonder\0land")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "atk_08_r4616_2_8_empty_authcid_never_falls_back_to_the_authzid",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("PLAIN", b"alice\0\0wonderland")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "atk_08_r4422_3_4_1_2_authzid_of_another_user_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("PLAIN", b"bob\0alice\0wonderland")),
            expect: Expect::Text(INVALID),
            after: after(false, None),
        },
        Case {
            name: "atk_04_control_character_in_the_login_user_name_fails",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                let mut v = auth_line("LOGIN", b"alice\r\nX-Injected: 1");
                v.extend_from_slice(format!("{}\r\n", b64(b"wonderland")).as_bytes());
                v
            }),
            expect: Expect::Gen(|| format!("334 UGFzc3dvcmQ6\r\n{INVALID}")),
            after: with_check(after(false, None), no_credentials_asked),
        },
        // ===== invalid UTF-8 in SMTPUTF8 addresses (ATK-04, RFC 6531) =====
        Case {
            name: "atk_04_invalid_utf8_in_an_smtputf8_sender_is_refused",
            start: Start::Authed,
            config: same,
            input: Input::Bytes(b"MAIL FROM:<j\xffrgen@example.org> SMTPUTF8\r\n"),
            expect: Expect::Text("501 5.1.7 Bad sender address syntax\r\n"),
            after: with_check(open_then(Some("alice"), NOOP, OK), no_policy_questions),
        },
        Case {
            name: "atk_04_truncated_utf8_in_an_smtputf8_recipient_is_refused",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"RCPT TO:<j\xc3@example.net>\r\n"),
            expect: Expect::Text("501 5.1.3 Bad recipient address syntax\r\n"),
            after: open_then(Some("alice"), NOOP, OK),
        },
        Case {
            name: "atk_04_overlong_utf8_slash_in_an_address_is_refused",
            start: Start::Authed,
            config: same,
            input: Input::Bytes(b"MAIL FROM:<a\xc0\xafb@example.org> SMTPUTF8\r\n"),
            expect: Expect::Text("501 5.1.7 Bad sender address syntax\r\n"),
            after: open_then(Some("alice"), NOOP, OK),
        },
        Case {
            name: "atk_04_utf8_c1_control_in_an_address_is_refused",
            start: Start::Authed,
            config: same,
            input: Input::Bytes(b"MAIL FROM:<a\xc2\x85b@example.org> SMTPUTF8\r\n"),
            expect: Expect::Text(SYNTAX),
            after: open_then(Some("alice"), NOOP, OK),
        },
        // ===== line limits (ATK-10, R5321-4.5.3.1.4.1, R4954-4.13/4.14) =====
        Case {
            name: "atk_10_r5321_4_5_3_1_4_a_100_kb_line_is_refused_once",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                let mut v = vec![b'N'; 100 * 1024];
                v.extend_from_slice(b"\r\nNOOP\r\n");
                v
            }),
            expect: Expect::Text("500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_10_ten_megabytes_without_crlf_cost_one_line_buffer",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                let piece = vec![b'x'; 64 * 1024];
                for _ in 0..160 {
                    d.feed(&piece);
                    assert!(d.session.buffered_bytes() <= 64 * 1024, "{}", d.session.buffered_bytes());
                }
                assert!(d.out.sent.is_empty());
                d.feed(b"\r\n");
            }),
            expect: Expect::Text("500 5.5.2 Line too long\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_10_ten_megabytes_without_crlf_in_one_read",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                let mut v = vec![b'x'; 10 * 1024 * 1024];
                v.extend_from_slice(b"\r\n");
                v
            }),
            expect: Expect::Text("500 5.5.2 Line too long\r\n"),
            after: with_check(open_then(None, NOOP, OK), |d| {
                assert!(d.session.buffered_bytes() <= 64 * 1024, "{}", d.session.buffered_bytes());
            }),
        },
        Case {
            name: "r4954_4_13_auth_line_of_exactly_12288_octets_is_read",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line_of(12_288)),
            // Read and decoded: the PLAIN message is just too large (255
            // octets per field) — a credentials failure, not a line error.
            expect: Expect::Text(INVALID),
            after: open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS),
        },
        Case {
            name: "r4954_4_14_reply_15_auth_line_of_12289_octets_is_too_long",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line_of(12_289)),
            expect: Expect::Text("500 5.5.6 Authentication exchange line is too long\r\n"),
            after: with_check(
                open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS),
                no_credentials_asked,
            ),
        },
        Case {
            name: "r4954_4_14_reply_15_a_100_kb_auth_line_is_too_long",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line_of(100 * 1024)),
            expect: Expect::Text("500 5.5.6 Authentication exchange line is too long\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r4954_4_13_auth_response_of_12286_octets_is_decoded",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                // The longest line that can be base64: 12284 symbols + CRLF.
                let mut v = b"AUTH PLAIN\r\n".to_vec();
                v.extend_from_slice(&b64_line_of(12_286));
                v
            }),
            expect: Expect::Gen(|| format!("334 \r\n{INVALID}")),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r4954_4_13_auth_response_of_exactly_12288_octets_is_read",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                // 12286 symbols cannot be base64: read, then refused as such.
                let mut v = b"AUTH PLAIN\r\n".to_vec();
                v.extend_from_slice(&b64_line_of(12_288));
                v
            }),
            expect: Expect::Gen(|| format!("334 \r\n{BAD_B64}")),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r4954_4_14_reply_15_auth_response_of_12289_octets_is_too_long",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                let mut v = b"AUTH PLAIN\r\n".to_vec();
                v.extend_from_slice(&b64_line_of(12_289));
                v
            }),
            expect: Expect::Text("334 \r\n500 5.5.6 Authentication exchange line is too long\r\n"),
            after: open_then(None, NOOP, OK),
        },
        // ===== strict base64 (ATK-05, R4954-4.11, R4954-4.12) =====
        Case {
            name: "r4954_4_12_base64_with_a_space_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN\r\nAGFsaWNl AHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Gen(|| format!("334 \r\n{BAD_B64}")),
            after: with_check(open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS), no_credentials_asked),
        },
        Case {
            name: "r4954_4_12_base64_with_a_tab_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN\r\nAGFsaWNl\tAHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Gen(|| format!("334 \r\n{BAD_B64}")),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r4954_4_11_initial_response_with_missing_padding_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ\r\n"),
            expect: Expect::Text(BAD_B64),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r4954_4_12_padding_in_the_middle_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNl=AHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Text(BAD_B64),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r4954_4_12_non_canonical_trailing_bits_are_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmR=\r\n"),
            expect: Expect::Text(BAD_B64),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r4954_4_12_url_safe_alphabet_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNl-Hdv_mRlcmxhbmQ=\r\n"),
            expect: Expect::Text(BAD_B64),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r4954_4_12_non_ascii_byte_in_base64_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN\r\nAGFsaWNl\xc3\xa9HdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Gen(|| format!("334 \r\n{BAD_B64}")),
            after: with_check(after(false, None), no_credentials_asked),
        },
        // ===== SCRAM (ATK-05, R5802-5.1.5, R5802-5.1.8) =====
        Case {
            name: "r5802_5_1_5_client_final_with_a_wrong_nonce_fails",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                let (_, fin) = scram_until_final(d, untouched);
                let fin = String::from_utf8(fin).unwrap();
                // Drop the server's part of the nonce: r=<cnonce> only.
                let r = fin.split(',').find(|a| a.starts_with("r=")).unwrap();
                let forged = fin.replacen(r, &r[..r.len() - 4], 1);
                d.feed(format!("{}\r\n", b64(forged.as_bytes())).as_bytes());
                d.feed(b"\r\n");
            }),
            expect: Expect::Gen(|| format!("334 {{challenge}}\r\n334 {}\r\n{INVALID}", b64(b"e=other-error"))),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r5802_5_1_8_client_final_with_an_altered_proof_fails",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                let (_, fin) = scram_until_final(d, untouched);
                let fin = String::from_utf8(fin).unwrap();
                let (head, proof) = fin.rsplit_once(",p=").unwrap();
                let mut raw = encoding::decode(proof.as_bytes()).unwrap();
                raw[0] ^= 1;
                let forged = format!("{head},p={}", b64(&raw));
                d.feed(format!("{}\r\n", b64(forged.as_bytes())).as_bytes());
            }),
            // A wrong proof fails at once (no `e=invalid-proof` round trip).
            expect: Expect::Gen(|| format!("334 {{challenge}}\r\n{INVALID}")),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r5802_5_1_5_replayed_client_final_from_an_earlier_exchange_fails",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                // Exchange 1: the client computes its final message, then
                // cancels; an eavesdropper keeps the message.
                let (_, old_final) = scram_until_final(d, untouched);
                d.feed(b"*\r\n");
                // Exchange 2: a fresh server nonce; the old final replayed.
                let mut c = scram_client("wonderland");
                let first = c.initial_response().unwrap();
                d.feed(&auth_line("SCRAM-SHA-256", &first));
                d.feed(format!("{}\r\n", b64(&old_final)).as_bytes());
                d.feed(b"\r\n");
            }),
            expect: Expect::Gen(|| {
                format!(
                    "334 {{challenge}}\r\n501 5.7.0 Authentication cancelled\r\n334 {{challenge}}\r\n334 {}\r\n{INVALID}",
                    b64(b"e=other-error")
                )
            }),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r5802_5_1_6_tampered_iteration_count_fails_the_proof",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                // A man in the middle lowers i= in server-first; the client's
                // proof then covers a message the server never sent.
                let (_, fin) = scram_until_final(d, |s| s.replace(",i=4096", ",i=1"));
                d.feed(format!("{}\r\n", b64(&fin)).as_bytes());
            }),
            // A wrong proof fails at once (no `e=invalid-proof` round trip).
            expect: Expect::Gen(|| format!("334 {{challenge}}\r\n{INVALID}")),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r5802_5_1_3_reserved_m_extension_fails",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("SCRAM-SHA-256", b"n,,m=ext,n=alice,r=abcdefghijklmnop")),
            expect: Expect::Gen(|| format!("334 {}\r\n", b64(b"e=extensions-not-supported"))),
            after: open_then(None, b"\r\n", INVALID),
        },
        Case {
            name: "atk_07_r5802_9_1_unknown_user_gets_a_salt_and_fails_like_a_wrong_password",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                let mut c = {
                    static ENTROPY: FixedEntropy = FixedEntropy::new(99, 0);
                    ClientExchange::new(
                        Mechanism::ScramSha256,
                        Credentials::password("mallory", "x"),
                        &ClientContext::new(&ENTROPY),
                    )
                    .unwrap()
                };
                let first = c.initial_response().unwrap();
                d.feed(&auth_line("SCRAM-SHA-256", &first));
                let sf = last_challenge(d);
                assert!(String::from_utf8_lossy(&sf).contains(",i=4096"));
                let fin = c.respond(&sf).unwrap();
                d.feed(format!("{}\r\n", b64(&fin)).as_bytes());
            }),
            // A wrong proof fails at once (no `e=invalid-proof` round trip).
            expect: Expect::Gen(|| format!("334 {{challenge}}\r\n{INVALID}")),
            after: open_then(None, NOOP, OK),
        },
        // ===== OAUTHBEARER GS2 header (R7628-3.1.1, R7628-3.1.2) =====
        Case {
            name: "r7628_3_1_1_oauthbearer_with_an_unknown_gs2_flag_fails",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"x,,\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")),
            expect: Expect::Text(INVALID),
            after: with_check(open_then(None, NOOP, OK), no_credentials_asked),
        },
        Case {
            name: "r7628_3_1_2_oauthbearer_with_channel_binding_fails",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"p=tls-exporter,,\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r7628_3_1_1_oauthbearer_with_an_unescaped_comma_in_the_authzid_fails",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"n,a=al,ice,\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r7628_3_1_1_oauthbearer_without_the_gs2_header_fails",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r7628_3_1_2_oauthbearer_without_the_final_separator_fails",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"n,,\x01auth=Bearer mF_9.B5f-4.1JqM\x01")),
            expect: Expect::Text(INVALID),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r7628_3_1_1_well_formed_oauthbearer_succeeds",
            start: Start::Tls,
            config: all_mechanisms,
            input: Input::Gen(|| auth_line("OAUTHBEARER", b"n,a=alice,\x01host=mx.example.org\x01port=587\x01auth=Bearer mF_9.B5f-4.1JqM\x01\x01")),
            expect: Expect::Text(SUCCESS),
            after: after(false, Some("alice")),
        },
        // ===== pipelining floods (ATK-10, R2920-3.2.1, R5321-4.5.3.1.10) =====
        Case {
            name: "r5321_4_5_3_1_10_thousands_of_pipelined_rcpt_past_the_limit",
            start: Start::Authed,
            config: same,
            input: Input::Script(|d| {
                let mut v = b"MAIL FROM:<alice@example.org>\r\n".to_vec();
                for i in 0..5000 {
                    v.extend_from_slice(format!("RCPT TO:<r{i}@example.net>\r\n").as_bytes());
                }
                // Read as a network stack delivers it: 4 KiB at a time.
                for piece in v.chunks(4096) {
                    d.feed(piece);
                }
            }),
            expect: Expect::Gen(|| {
                let mut s = String::from("250 2.1.0 Sender OK\r\n");
                s.push_str(&"250 2.1.5 Recipient OK\r\n".repeat(100));
                s.push_str(&"452 4.5.3 Too many recipients\r\n".repeat(4900));
                s
            }),
            after: with_check(open_then(Some("alice"), b"RSET\r\n", "250 2.0.0 Reset OK\r\n"), |d| {
                let rcpts = d.out.questions.iter().filter(|q| matches!(q, Question::RcptTo(_))).count();
                assert_eq!(rcpts, 100, "the policy saw more than the limit");
            }),
        },
        Case {
            name: "r2920_pipelined_input_behind_an_open_question_is_capped",
            start: Start::Authed,
            config: same,
            input: Input::Script(|d| {
                d.auto_answer = false;
                let mut v = b"MAIL FROM:<alice@example.org>\r\n".to_vec();
                while v.len() < 70 * 1024 {
                    v.extend_from_slice(b"RCPT TO:<bob@example.net>\r\n");
                }
                d.feed(&v);
            }),
            expect: Expect::Text("421 4.7.0 Too much pipelined input, closing connection\r\n"),
            after: with_check(after(true, Some("alice")), |d| {
                // The MAIL question the close withdrew is never handed out.
                assert!(d.out.questions.is_empty(), "{:?}", d.out.questions);
                assert!(d.session.awaiting().is_none());
            }),
        },
        Case {
            name: "r3030_2_bdat_with_a_size_past_u64_is_a_syntax_error",
            start: Start::InTransaction,
            config: same,
            input: Input::Bytes(b"BDAT 99999999999999999999999 LAST\r\n"),
            expect: Expect::Text("501 5.5.4 Syntax error in parameters or arguments\r\n"),
            after: open_then(Some("alice"), NOOP, OK),
        },
        Case {
            name: "atk_10_r3030_2_bdat_with_a_huge_size_streams_and_holds_nothing",
            start: Start::InTransaction,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"BDAT 18446744073709551615 LAST\r\n");
                let piece = vec![b'x'; 64 * 1024];
                for _ in 0..32 {
                    d.feed(&piece);
                    assert!(d.session.buffered_bytes() <= 64 * 1024);
                }
            }),
            // Over the SIZE limit from the start: nothing is handed out, and
            // the reply comes when the chunk ends (RFC 3030 §2).
            expect: Expect::Text(""),
            after: with_check(after(false, Some("alice")), |d| {
                no_message_stored(d);
                assert!(!d.session.is_closed());
            }),
        },
        Case {
            name: "r3030_2_bdat_over_the_size_limit_is_read_then_refused",
            start: Start::InTransaction,
            config: |b| b.max_message_size(1000),
            input: Input::Gen(|| {
                let mut v = b"BDAT 5000 LAST\r\n".to_vec();
                v.extend(std::iter::repeat_n(b'x', 5000));
                v
            }),
            expect: Expect::Text("552 5.3.4 Message size exceeds limit\r\n"),
            after: with_check(
                open_then(Some("alice"), b"RCPT TO:<bob@example.net>\r\n", "503 5.5.1 Need MAIL command first\r\n"),
                no_message_stored,
            ),
        },
        // ===== AUTH floods and lock-out (ATK-09, R4954-9.3, REPLY-22) =====
        Case {
            name: "atk_09_r4954_9_3_third_failure_closes_with_421",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Gen(|| format!("{INVALID}{INVALID}421 4.7.0 Too many authentication failures, closing connection\r\n")),
            after: with_check(after(true, None), |d| {
                let checks = d.out.questions.iter().filter(|q| matches!(q, Question::Credentials { .. })).count();
                assert_eq!(checks, 3, "the fourth attempt reached the backend");
            }),
        },
        Case {
            name: "atk_09_auth_flood_of_a_thousand_lines_stops_at_the_limit",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| b"AUTH LOGIN\r\n*\r\n".repeat(1000)),
            expect: Expect::Text("334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n334 VXNlcm5hbWU6\r\n421 4.7.0 Too many authentication failures, closing connection\r\n"),
            after: after(true, None),
        },
        Case {
            name: "atk_09_reply_21_locked_account_is_refused_without_a_credential_check",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| auth_line("PLAIN", b"\0locked\0secret")),
            expect: Expect::Text("454 4.7.0 Temporary authentication failure\r\n"),
            after: with_check(open_then(None, b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n", SUCCESS), no_credentials_asked),
        },
        Case {
            name: "atk_07_rlogin_2_7_unknown_user_and_wrong_password_look_the_same",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| {
                let mut v = auth_line("LOGIN", b"nobody");
                v.extend_from_slice(format!("{}\r\n", b64(b"wonderland")).as_bytes());
                v.extend_from_slice(&auth_line("LOGIN", b"alice"));
                v.extend_from_slice(format!("{}\r\n", b64(b"wrong")).as_bytes());
                v
            }),
            expect: Expect::Gen(|| format!("334 UGFzc3dvcmQ6\r\n{INVALID}334 UGFzc3dvcmQ6\r\n{INVALID}")),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "r4954_4_2_second_auth_after_success_is_refused",
            start: Start::Authed,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGJvYgBidWlsZGVy\r\n"),
            expect: Expect::Text("503 5.5.1 Already authenticated\r\n"),
            after: with_check(after(false, Some("alice")), no_credentials_asked),
        },
        Case {
            name: "r4954_4_3_auth_inside_a_transaction_is_refused",
            start: Start::Relay,
            config: same,
            input: Input::Bytes(b"MAIL FROM:<bob@example.org>\r\nAUTH PLAIN AGJvYgBidWlsZGVy\r\n"),
            expect: Expect::Text("250 2.1.0 Sender OK\r\n503 5.5.1 AUTH not permitted during a mail transaction\r\n"),
            after: with_check(
                open_then(None, b"RSET\r\nAUTH PLAIN AGJvYgBidWlsZGVy\r\n", "250 2.0.0 Reset OK\r\n235 2.7.0 Authentication successful\r\n"),
                no_credentials_asked,
            ),
        },
        Case {
            name: "atk_13_star_outside_an_exchange_is_just_a_bad_command",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"*\r\n"),
            expect: Expect::Text("500 5.5.1 Command unrecognized\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "atk_13_commands_inside_an_exchange_are_sasl_responses",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH LOGIN\r\nMAIL FROM:<alice@example.org>\r\n"),
            expect: Expect::Gen(|| format!("334 VXNlcm5hbWU6\r\n{BAD_B64}")),
            after: with_check(open_then(None, NOOP, OK), no_credentials_asked),
        },
        Case {
            name: "reply_05_plain_before_tls_is_refused_without_reading_the_password",
            start: Start::Plain,
            config: same,
            input: Input::Bytes(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n"),
            expect: Expect::Text("504 5.5.4 Encryption required for requested authentication mechanism\r\n"),
            after: with_check(after(false, None), no_credentials_asked),
        },
        Case {
            name: "r2195_2_1_cram_md5_with_an_initial_response_is_refused",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH CRAM-MD5 dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"),
            expect: Expect::Text("501 5.7.0 Initial response not allowed for this mechanism\r\n"),
            after: with_check(open_then(None, NOOP, OK), no_credentials_asked),
        },
        Case {
            name: "r4422_3_1_1_overlong_mechanism_name_is_a_syntax_error",
            start: Start::Tls,
            config: same,
            input: Input::Bytes(b"AUTH SCRAM-SHA-256-PLUS-EXTRA-LONG-NAME\r\n"),
            expect: Expect::Text("501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
            after: open_then(None, NOOP, OK),
        },
        Case {
            name: "error_flood_closes_after_the_error_limit",
            start: Start::Tls,
            config: same,
            input: Input::Gen(|| b"XYZZY\r\n".repeat(1000)),
            expect: Expect::Gen(|| {
                let mut s = "500 5.5.1 Command unrecognized\r\n".repeat(9);
                s.push_str("421 4.7.0 Too many errors, closing connection\r\n");
                s
            }),
            after: after(true, None),
        },
        // ===== answers given when nothing was asked (DESIGN §1) =====
        Case {
            name: "answers_when_nothing_was_asked_are_handed_back",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                d.auto_answer = false;
                d.feed(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
                let id = d.session.awaiting().expect("MayAuthenticate open");
                // Wrong kind: refused, question still open.
                let e = d.session.answer(id, Answer::Recorded { delay: Default::default() }).unwrap_err();
                assert_eq!(e.kind(), AnswerErrorKind::WrongKind);
                assert_eq!(d.session.awaiting(), Some(id));
                // Answered properly, then answered again: stale.
                d.session.answer(id, Answer::Allow).unwrap();
                let e = d.session.answer(id, Answer::Allow).unwrap_err();
                assert_eq!(e.kind(), AnswerErrorKind::WrongId);
                assert_eq!(e.into_answer(), Answer::Allow);
                // The rest answered by the responder as it comes.
                d.auto_answer = true;
                d.pump();
                assert!(d.session.awaiting().is_none());
                // Nothing open: every answer comes back.
                let e = d.session.answer(id, Answer::Allow).unwrap_err();
                assert_eq!(e.kind(), AnswerErrorKind::NothingAsked);
                let e = d.session.answer(id, Answer::Reply(Reply::OK)).unwrap_err();
                assert_eq!(e.kind(), AnswerErrorKind::NothingAsked);
            }),
            expect: Expect::Text(SUCCESS),
            after: open_then(Some("alice"), NOOP, OK),
        },
        Case {
            name: "answers_from_a_closed_session_are_handed_back",
            start: Start::Tls,
            config: same,
            input: Input::Script(|d| {
                d.auto_answer = false;
                d.feed(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
                let id = d.session.awaiting().unwrap();
                d.session.shutdown();
                d.pump();
                let e = d.session.answer(id, Answer::Allow).unwrap_err();
                assert_eq!(e.kind(), AnswerErrorKind::NothingAsked);
            }),
            expect: Expect::Text("421 4.3.2 Service shutting down, closing connection\r\n"),
            after: with_check(after(true, None), no_credentials_asked),
        },
        Case {
            name: "atk_01_shutdown_during_the_tls_handover_sends_no_plaintext",
            start: Start::Plain,
            config: same,
            input: Input::Script(|d| {
                d.feed(b"STARTTLS\r\n");
                d.session.shutdown();
                d.pump();
            }),
            expect: Expect::Text("220 2.0.0 Ready to start TLS\r\n"),
            after: after(true, None),
        },
    ]
}

/// `AUTH PLAIN <ir>` of exactly `total` octets with CRLF, the IR valid
/// base64: extra spaces after `AUTH` (which the grammar allows) make up
/// the length base64 cannot.
fn auth_line_of(total: usize) -> Vec<u8> {
    let spaces = 1 + (total - 13) % 4;
    let mut v = b"AUTH".to_vec();
    v.extend(std::iter::repeat_n(b' ', spaces));
    v.extend_from_slice(b"PLAIN ");
    let rest = total - v.len();
    v.extend_from_slice(&b64_line_of(rest));
    assert_eq!(v.len(), total);
    v
}

/// A base64 line of exactly `total` octets with its CRLF. When `total - 2`
/// is not a multiple of 4 it ends in a stray `A`: the length decides
/// whether it is read at all, and both outcomes are fixed by the cases.
fn b64_line_of(total: usize) -> Vec<u8> {
    let text = total - 2;
    let whole = text / 4 * 3;
    let mut v = encoding::encode(&vec![b'a'; whole]).into_bytes();
    while v.len() < text {
        v.push(b'A');
    }
    v.extend_from_slice(b"\r\n");
    v
}

/// Lines of `expected` must equal lines of `got`, except that an expected
/// `334 {challenge}` matches any `334 <base64>` line.
fn matches(expected: &str, got: &str) -> bool {
    let e: Vec<&str> = expected.split_inclusive("\r\n").collect();
    let g: Vec<&str> = got.split_inclusive("\r\n").collect();
    e.len() == g.len()
        && e.iter().zip(&g).all(|(e, g)| {
            if *e == "334 {challenge}\r\n" {
                g.strip_prefix("334 ")
                    .and_then(|r| r.strip_suffix("\r\n"))
                    .is_some_and(|b| !b.is_empty() && encoding::decode(b.as_bytes()).is_ok())
            } else {
                e == g
            }
        })
}

fn start(case: &Case) -> Driver {
    let b = (case.config)(config());
    let mut d = match case.start {
        Start::Plain => Driver::new(b.build()),
        Start::Relay => Driver::with_tls(
            b.profile(Profile::Relay).auth_enabled(true).build(),
            Some(tls_info()),
        ),
        _ => Driver::with_tls(b.profile(Profile::ImplicitTls).build(), Some(tls_info())),
    };
    d.feed(b"EHLO client.example\r\n");
    if let Start::Authed | Start::InTransaction = case.start {
        d.feed(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
        assert!(d.take_sent().ends_with(SUCCESS));
    }
    if let Start::InTransaction = case.start {
        d.feed(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n");
        assert!(d.take_sent().ends_with("250 2.1.5 Recipient OK\r\n"));
    }
    d.out = Default::default();
    d
}

/// Runs one case; the reason it failed, if it did.
fn run(case: &Case) -> Result<(), String> {
    let mut d = start(case);
    match &case.input {
        Input::Bytes(b) => d.feed(b),
        Input::Gen(f) => d.feed(&f()),
        Input::Script(f) => f(&mut d),
    }
    let got = d.take_sent();
    let expected = match &case.expect {
        Expect::Text(t) => (*t).to_owned(),
        Expect::Gen(f) => f(),
    };
    if !matches(&expected, &got) {
        return Err(format!(
            "replies\n  expected {expected:?}\n  got      {got:?}"
        ));
    }
    let a = &case.after;
    if d.session.is_closed() != a.closed || d.out.closed != a.closed {
        return Err(format!("closed is {}", d.session.is_closed()));
    }
    let user = d.session.authenticated().map(|x| x.identity.as_str());
    if user != a.user {
        return Err(format!("authenticated as {user:?}"));
    }
    if let Some(check) = a.check {
        check(&d);
    }
    if let Some((next, reply)) = a.next {
        assert!(!a.closed);
        d.feed(next);
        let got = d.take_sent();
        if got != reply {
            return Err(format!(
                "next command\n  expected {reply:?}\n  got      {got:?}"
            ));
        }
    }
    // A closed session ignores everything.
    if a.closed {
        d.feed(b"NOOP\r\n");
        assert!(d.take_sent().is_empty());
        assert!(d.session.poll().is_none());
    }
    Ok(())
}

#[test]
fn hostile_cases() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)))
            .unwrap_or_else(|e| {
                Err(e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned()))
            });
        if let Err(why) = outcome {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} hostile cases passed", cases.len());
}

/// Keeps `Output` in use for readers of this file: every case drives the
/// session only through the public API.
#[allow(dead_code)]
fn _uses(_: Output) {}
