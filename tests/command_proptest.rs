//! Property tests for the command grammar: no input makes it panic (it is
//! fed raw network bytes, ATK-05), and what it prints it reads back.

use std::net::Ipv6Addr;

use proptest::prelude::*;
use smtp_auth::command::{
    parse, xtext, AuthParam, Command, Domain, ForwardPath, Mailbox, ReversePath,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn atk_05_parse_never_panics_on_arbitrary_bytes(line in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = parse(&line) {
            let reply = e.reply();
            prop_assert!((500..=555).contains(&reply.code()));
        }
    }

    /// Random sequences of SMTP-shaped tokens reach far deeper into the
    /// grammar than random bytes.
    #[test]
    fn atk_05_parse_never_panics_on_smtp_shaped_input(
        parts in prop::collection::vec(prop::sample::select(TOKENS), 0..40)
    ) {
        let line: Vec<u8> = parts.concat();
        if let Ok(cmd) = parse(&line) {
            // Whatever parses has a verb and a Debug form.
            let _ = format!("{:?} {}", cmd, cmd.verb());
        }
    }

    #[test]
    fn r5321_4_1_2_mailbox_display_reparses_equal(mailbox in mailbox()) {
        let line = format!("MAIL FROM:<{mailbox}> SMTPUTF8");
        let cmd = parse(line.as_bytes());
        let Ok(Command::Mail { from: ReversePath::Mailbox(m), .. }) = cmd else {
            return Err(TestCaseError::fail(format!("{line:?} → {cmd:?}")));
        };
        prop_assert_eq!(m.as_str(), mailbox.as_str());
        prop_assert_eq!(Mailbox::parse(&mailbox), Ok(m));

        // Path Display → parse → equal.
        let again = format!("RCPT TO:{}", ForwardPath::Mailbox(m));
        let Ok(Command::Rcpt { to, .. }) = parse(again.as_bytes()) else {
            return Err(TestCaseError::fail(again));
        };
        prop_assert_eq!(to, ForwardPath::Mailbox(m));

        // Domain Display → parse → equal value (literals are canonicalised).
        let canonical = format!("{}@{}", m.local_part(), m.domain());
        let reparsed = Mailbox::parse(&canonical);
        prop_assert_eq!(reparsed.map(|r| *r.domain()), Ok(*m.domain()));

        // xtext-encoded as AUTH=, it decodes back to the same mailbox.
        let line = format!("MAIL FROM:<> AUTH={}", xtext::encode(m.as_str()));
        let Ok(Command::Mail { params, .. }) = parse(line.as_bytes()) else {
            return Err(TestCaseError::fail(line));
        };
        prop_assert_eq!(params.auth, Some(AuthParam::Mailbox(mailbox.clone().into())));
    }

    /// Every IPv6 address as std prints it is an RFC 5321 IPv6 literal that
    /// parses back to the same address.
    #[test]
    fn r5321_4_1_3_ipv6_literal_round_trip(addr in any::<Ipv6Addr>()) {
        let line = format!("RCPT TO:<a@[IPv6:{addr}]>");
        let Ok(Command::Rcpt { to: ForwardPath::Mailbox(m), .. }) = parse(line.as_bytes()) else {
            return Err(TestCaseError::fail(line));
        };
        prop_assert_eq!(m.domain(), &Domain::Ipv6(addr));
    }

    #[test]
    fn r3461_4_xtext_round_trip(s in "\\PC*") {
        let encoded = xtext::encode(&s);
        prop_assert!(encoded.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
        let decoded = xtext::decode(encoded.as_bytes());
        prop_assert_eq!(decoded.as_deref(), Ok(s.as_str()));
    }

    #[test]
    fn r3461_4_xtext_decode_never_panics(input in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(s) = xtext::decode(&input) {
            prop_assert!(!s.chars().any(char::is_control));
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"MAIL",
    b"RCPT",
    b"EHLO",
    b"AUTH",
    b"BDAT",
    b"STARTTLS",
    b"DATA",
    b"VRFY",
    b"HELP",
    b" ",
    b"  ",
    b"FROM:",
    b"TO:",
    b"<",
    b">",
    b"<>",
    b"@",
    b".",
    b",",
    b":",
    b"\"",
    b"\\",
    b"[",
    b"]",
    b"IPv6:",
    b"::",
    b"1",
    b"255",
    b"256",
    b"ffff",
    b"a",
    b"-",
    b"_",
    b"Postmaster",
    b"SIZE=",
    b"BODY=",
    b"AUTH=",
    b"SMTPUTF8",
    b"=",
    b"+",
    b"+2B",
    b"+0A",
    b"+FF",
    b"LAST",
    b"example.com",
    b"\xc3\xa9",
    b"\xff",
    b"\xc2\x85",
    b"\t",
    b"\0",
    b"99999999999999999999",
];

/// An RFC 5321 mailbox string, within the length limits.
fn mailbox() -> impl Strategy<Value = String> {
    let atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,6}|[a-zé用]{1,3}";
    let dot_string = prop::collection::vec(atom, 1..4).prop_map(|atoms| atoms.join("."));
    let quoted = prop::collection::vec(
        prop_oneof!["[ !#-\\[\\]-~]{1,4}", "\\\\[ -~]", "[é用]",],
        0..5,
    )
    .prop_map(|parts| format!("\"{}\"", parts.concat()));
    let local = prop_oneof![3 => dot_string, 1 => quoted]
        .prop_filter("local part ≤ 64 octets", |l| l.len() <= 64);
    let label = "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?|[a-zü]{1,3}";
    let name = prop::collection::vec(label, 1..5).prop_map(|labels| labels.join("."));
    let domain = prop_oneof![
        4 => name,
        1 => any::<[u8; 4]>().prop_map(|o| format!("[{}.{}.{}.{}]", o[0], o[1], o[2], o[3])),
        1 => any::<Ipv6Addr>().prop_map(|a| format!("[IPv6:{a}]")),
        1 => "x[a-z0-9-]{0,5}[a-z0-9]:[!-Z^-~]{1,10}".prop_map(|g| format!("[{g}]")),
    ];
    (local, domain).prop_map(|(l, d)| format!("{l}@{d}"))
}
