//! The SMTP command grammar against RFC examples and malformed input. Test
//! names cite the requirement IDs of `rfc-checklist.md` or RFC sections.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use smtp_auth::command::{
    parse, xtext, AddressError, AuthParam, AuthParamError, AuthSyntaxError, Body, Command,
    CommandError, Domain, ForwardPath, Mailbox, ParamError, ReversePath, Verb,
};
use smtp_auth::reply::{EnhancedCode, Reply};

fn ok(line: &str) -> Command<'_> {
    parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?} failed: {e}"))
}

fn err(line: &[u8]) -> CommandError {
    match parse(line) {
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

/// Asserts the reply code and enhanced code of a refused line.
fn refused(line: &[u8], code: u16, enhanced: (u8, u16, u16)) -> CommandError {
    let e = err(line);
    let r = e.reply();
    let (c, s, d) = enhanced;
    assert_eq!(
        (r.code(), r.enhanced()),
        (code, Some(EnhancedCode::new(c, s, d))),
        "{:?} → {e:?}",
        String::from_utf8_lossy(line)
    );
    e
}

fn mail_from(line: &str) -> Mailbox<'_> {
    match ok(line) {
        Command::Mail {
            from: ReversePath::Mailbox(m),
            ..
        } => m,
        other => panic!("{line:?} → {other:?}"),
    }
}

fn rcpt_to(line: &str) -> Mailbox<'_> {
    match ok(line) {
        Command::Rcpt {
            to: ForwardPath::Mailbox(m),
            ..
        } => m,
        other => panic!("{line:?} → {other:?}"),
    }
}

fn mail_params(line: &str) -> smtp_auth::command::MailParams<'_> {
    match ok(line) {
        Command::Mail { params, .. } => params,
        other => panic!("{line:?} → {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Verbs

#[test]
fn r5321_2_4_1_verbs_are_case_insensitive() {
    assert_eq!(
        ok("ehlo client.example"),
        Command::Ehlo {
            domain: "client.example"
        }
    );
    assert_eq!(
        ok("HeLo client.example"),
        Command::Helo {
            domain: "client.example"
        }
    );
    assert_eq!(ok("starttls"), Command::StartTls);
    assert_eq!(ok("data"), Command::Data);
    assert_eq!(ok("rset"), Command::Rset);
    assert_eq!(ok("quit"), Command::Quit);
    assert_eq!(ok("noop"), Command::Noop);
    assert_eq!(
        ok("bdat 10 last"),
        Command::Bdat {
            size: 10,
            last: true
        }
    );
    assert_eq!(mail_from("mail from:<a@b.example>").as_str(), "a@b.example");
    assert_eq!(mail_from("Mail From:<a@b.example>").as_str(), "a@b.example");
    assert_eq!(rcpt_to("rcpt to:<a@b.example>").as_str(), "a@b.example");
    assert_eq!(rcpt_to("RcPt tO:<a@b.example>").as_str(), "a@b.example");
    assert!(matches!(
        ok("auth plain"),
        Command::Auth {
            mechanism: "plain",
            ..
        }
    ));
}

#[test]
fn verb_of_every_command() {
    let cases: &[(&str, Verb)] = &[
        ("EHLO x", Verb::Ehlo),
        ("HELO x", Verb::Helo),
        ("STARTTLS", Verb::StartTls),
        ("AUTH PLAIN", Verb::Auth),
        ("MAIL FROM:<>", Verb::Mail),
        ("RCPT TO:<Postmaster>", Verb::Rcpt),
        ("DATA", Verb::Data),
        ("BDAT 1", Verb::Bdat),
        ("RSET", Verb::Rset),
        ("NOOP", Verb::Noop),
        ("QUIT", Verb::Quit),
        ("VRFY x", Verb::Vrfy),
        ("EXPN x", Verb::Expn),
        ("HELP", Verb::Help),
    ];
    for (line, verb) in cases {
        assert_eq!(ok(line).verb(), *verb, "{line}");
        assert!(line.starts_with(verb.as_str()));
        assert_eq!(verb.to_string(), verb.as_str());
    }
}

#[test]
fn r5321_4_2_4_unknown_verb_is_500_5_5_1() {
    for line in [
        &b"TURN"[..],
        b"XYZZY",
        b"ETRN example.com",
        b"MAILFROM:<a@b>",
        b"EHLOx",
        b"\xff\xfe",
    ] {
        assert_eq!(refused(line, 500, (5, 5, 1)), CommandError::UnknownCommand);
    }
    assert_eq!(err(b"TURN").reply(), Reply::UNKNOWN_COMMAND);
}

#[test]
fn r5321_4_2_4_empty_line_is_500_5_5_2() {
    assert_eq!(refused(b"", 500, (5, 5, 2)), CommandError::Empty);
    assert_eq!(refused(b"    ", 500, (5, 5, 2)), CommandError::Empty);
    assert_eq!(refused(b" \t", 500, (5, 5, 2)), CommandError::Empty);
}

#[test]
fn lenient_spacing_like_common_servers() {
    assert_eq!(ok("  NOOP"), Command::Noop);
    assert_eq!(ok("QUIT   "), Command::Quit);
    assert_eq!(ok("DATA \t"), Command::Data);
    assert_eq!(
        ok("EHLO   client.example  "),
        Command::Ehlo {
            domain: "client.example"
        }
    );
    let p = mail_params("MAIL  FROM:<a@b.example>   SIZE=10    BODY=8BITMIME  ");
    assert_eq!((p.size, p.body), (Some(10), Some(Body::EightBitMime)));
    assert_eq!(
        ok("AUTH   PLAIN    AGEAYg=="),
        Command::Auth {
            mechanism: "PLAIN",
            initial_response: Some(b"AGEAYg==")
        }
    );
}

// ---------------------------------------------------------------------------
// EHLO / HELO

#[test]
fn r5321_4_1_1_1_ehlo_domain_and_literals() {
    assert_eq!(
        ok("EHLO mail.example.com"),
        Command::Ehlo {
            domain: "mail.example.com"
        }
    );
    assert_eq!(
        ok("EHLO [192.0.2.1]"),
        Command::Ehlo {
            domain: "[192.0.2.1]"
        }
    );
    assert_eq!(
        ok("EHLO [IPv6:2001:db8::1]"),
        Command::Ehlo {
            domain: "[IPv6:2001:db8::1]"
        }
    );
    assert_eq!(
        ok("EHLO localhost"),
        Command::Ehlo {
            domain: "localhost"
        }
    );
    assert_eq!(
        ok("HELO 192.0.2.1"),
        Command::Helo {
            domain: "192.0.2.1"
        }
    );
}

#[test]
fn r5321_4_1_1_1_ehlo_tolerates_underscore_for_windows_clients() {
    assert_eq!(
        ok("EHLO DESKTOP-AB_12"),
        Command::Ehlo {
            domain: "DESKTOP-AB_12"
        }
    );
    assert_eq!(
        ok("HELO my_host.lan"),
        Command::Helo {
            domain: "my_host.lan"
        }
    );
    // ...but only in EHLO/HELO, not in addresses.
    assert_eq!(
        refused(b"MAIL FROM:<a@my_host.lan>", 501, (5, 1, 7)),
        CommandError::Sender(AddressError::Domain)
    );
}

#[test]
fn r5321_4_1_1_1_ehlo_without_argument_is_501_5_5_4() {
    for (line, verb) in [
        (&b"EHLO"[..], Verb::Ehlo),
        (b"HELO", Verb::Helo),
        (b"ehlo   ", Verb::Ehlo),
    ] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::MissingArgument { verb }
        );
    }
}

#[test]
fn r5321_4_1_1_1_ehlo_bad_domain_is_501_5_5_4() {
    let cases: &[(&[u8], AddressError)] = &[
        (b"EHLO -bad.example", AddressError::Domain),
        (b"EHLO bad-.example", AddressError::Domain),
        (b"EHLO bad..example", AddressError::Domain),
        (b"EHLO trailing.dot.", AddressError::Domain),
        (b"EHLO two words", AddressError::TrailingCharacters),
        (b"EHLO [300.1.1.1]", AddressError::AddressLiteral),
        (b"EHLO [192.0.2.1", AddressError::AddressLiteral),
        (b"EHLO \xc3(", AddressError::InvalidUtf8),
    ];
    for (line, error) in cases {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::InvalidHelloDomain {
                verb: Verb::Ehlo,
                error: *error
            },
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

// ---------------------------------------------------------------------------
// MAIL / RCPT paths

#[test]
fn r5321_4_1_1_2_mail_from_null_reverse_path() {
    let Command::Mail { from, params } = ok("MAIL FROM:<>") else {
        panic!()
    };
    assert_eq!(from, ReversePath::Null);
    assert_eq!(from.to_string(), "<>");
    assert!(from.mailbox().is_none());
    assert!(params.other.is_empty());
    assert_eq!(params.size, None);
    let Command::Mail { from, params } = ok("MAIL FROM:<> SIZE=100") else {
        panic!()
    };
    assert_eq!((from, params.size), (ReversePath::Null, Some(100)));
}

#[test]
fn r5321_4_1_1_2_mail_from_rfc_example() {
    let m = mail_from("MAIL FROM:<Smith@bar.com>");
    assert_eq!(m.local_part(), "Smith");
    assert_eq!(m.domain(), &Domain::Name("bar.com"));
    assert_eq!(m.domain_str(), "bar.com");
    assert_eq!(m.as_str(), "Smith@bar.com");
    assert_eq!(m.to_owned_string(), "Smith@bar.com");
    assert_eq!(m.to_string(), "Smith@bar.com");
    assert!(m.is_ascii());
}

#[test]
fn postfix_compat_space_after_colon() {
    assert_eq!(
        mail_from("MAIL FROM: <a@b.example>").as_str(),
        "a@b.example"
    );
    assert_eq!(
        mail_from("MAIL FROM:   <a@b.example> SIZE=5").as_str(),
        "a@b.example"
    );
    assert_eq!(rcpt_to("RCPT TO: <c@d.example>").as_str(), "c@d.example");
}

#[test]
fn r5321_4_1_1_3_rcpt_postmaster_any_case() {
    for line in [
        "RCPT TO:<Postmaster>",
        "RCPT TO:<postmaster>",
        "rcpt to:<POSTMASTER>",
    ] {
        let Command::Rcpt { to, params } = ok(line) else {
            panic!()
        };
        assert_eq!(to, ForwardPath::Postmaster, "{line}");
        assert!(to.mailbox().is_none());
        assert!(params.other.is_empty());
    }
    assert_eq!(ForwardPath::Postmaster.to_string(), "<Postmaster>");
    // With a domain it is an ordinary mailbox.
    let m = rcpt_to("RCPT TO:<Postmaster@example.com>");
    assert_eq!(
        (m.local_part(), m.domain_str()),
        ("Postmaster", "example.com")
    );
    // Postmaster without brackets around only itself is not special.
    assert_eq!(
        refused(b"RCPT TO:<Postmasterx>", 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::MissingDomain)
    );
}

#[test]
fn r5321_4_1_1_3_rcpt_null_path_is_refused() {
    assert_eq!(
        refused(b"RCPT TO:<>", 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::NullPath)
    );
}

#[test]
fn r5321_4_1_2_quoted_local_parts() {
    let m = mail_from(r#"MAIL FROM:<"john doe"@example.com>"#);
    assert_eq!(m.local_part(), r#""john doe""#);
    assert_eq!(m.local_part_unquoted(), "john doe");
    assert!(matches!(m.local_part_unquoted(), Cow::Borrowed(_)));

    let m = rcpt_to(r#"RCPT TO:<"a\"b\\c"@example.com>"#);
    assert_eq!(m.local_part(), r#""a\"b\\c""#);
    assert_eq!(m.local_part_unquoted(), r#"a"b\c"#);
    assert!(matches!(m.local_part_unquoted(), Cow::Owned(_)));

    // A '>' and '@' inside quotes do not end the path or the local part.
    let m = rcpt_to(r#"RCPT TO:<"x>y@z"@example.com> NOTIFY=NEVER"#);
    assert_eq!(m.local_part_unquoted(), "x>y@z");
    assert_eq!(m.domain_str(), "example.com");

    // The empty quoted string is a valid local part.
    assert_eq!(
        mail_from(r#"MAIL FROM:<""@example.com>"#).local_part_unquoted(),
        ""
    );
    // Unquoted is identity for dot-strings.
    assert_eq!(mail_from("MAIL FROM:<a.b@c>").local_part_unquoted(), "a.b");
}

#[test]
fn r5321_4_1_2_malformed_quoted_local_parts() {
    for line in [
        &br#"MAIL FROM:<"unterminated@example.com>"#[..],
        br#"MAIL FROM:<"a"b@example.com>"#,
        br#"MAIL FROM:<a"b"@example.com>"#,
    ] {
        assert_eq!(
            refused(line, 501, (5, 1, 7)),
            CommandError::Sender(AddressError::LocalPart),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_2_dot_string_local_parts() {
    assert_eq!(
        mail_from("MAIL FROM:<first.last+tag@example.com>").local_part(),
        "first.last+tag"
    );
    assert_eq!(
        mail_from("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.com>").local_part(),
        "!#$%&'*+-/=?^_`{|}~"
    );
    for line in [
        &b"MAIL FROM:<.a@example.com>"[..],
        b"MAIL FROM:<a.@example.com>",
        b"MAIL FROM:<a..b@example.com>",
        b"MAIL FROM:<a b@example.com>",
        b"MAIL FROM:<a(b)@example.com>",
        b"MAIL FROM:<@example.com>",
    ] {
        let e = refused(line, 501, (5, 1, 7));
        assert!(
            matches!(
                e,
                CommandError::Sender(AddressError::LocalPart | AddressError::SourceRoute)
            ),
            "{} → {e:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_2_domains() {
    assert_eq!(mail_from("MAIL FROM:<a@x>").domain(), &Domain::Name("x"));
    assert_eq!(
        mail_from("MAIL FROM:<a@1.2.3.example>").domain_str(),
        "1.2.3.example"
    );
    assert_eq!(
        mail_from("MAIL FROM:<a@xn--bcher-kva.example>").domain_str(),
        "xn--bcher-kva.example"
    );
    for line in [
        &b"MAIL FROM:<a@-x.example>"[..],
        b"MAIL FROM:<a@x-.example>",
        b"MAIL FROM:<a@x..example>",
        b"MAIL FROM:<a@.example>",
        b"MAIL FROM:<a@example.>",
        b"MAIL FROM:<a@exa mple>",
        b"MAIL FROM:<a@>",
    ] {
        let e = refused(line, 501, (5, 1, 7));
        assert!(
            matches!(
                e,
                CommandError::Sender(AddressError::Domain | AddressError::TrailingCharacters)
            ),
            "{} → {e:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_3_address_literals() {
    assert_eq!(
        mail_from("MAIL FROM:<a@[192.0.2.1]>").domain(),
        &Domain::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
    );
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let m = rcpt_to("RCPT TO:<a@[IPv6:2001:db8::1]>");
    assert_eq!(m.domain(), &Domain::Ipv6(v6));
    assert_eq!(m.domain_str(), "[IPv6:2001:db8::1]");
    assert_eq!(m.domain().to_string(), "[IPv6:2001:db8::1]");
    // The tag is case-insensitive (RFC 5234 strings).
    assert_eq!(
        rcpt_to("RCPT TO:<a@[ipv6:2001:DB8::1]>").domain(),
        &Domain::Ipv6(v6)
    );
    // Full form and IPv4-embedded forms.
    assert_eq!(
        rcpt_to("RCPT TO:<a@[IPv6:2001:db8:0:0:0:0:0:1]>").domain(),
        &Domain::Ipv6(v6)
    );
    assert_eq!(
        rcpt_to("RCPT TO:<a@[IPv6:::ffff:192.0.2.1]>").domain(),
        &Domain::Ipv6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped())
    );
    assert_eq!(
        rcpt_to("RCPT TO:<a@[IPv6:0:0:0:0:0:ffff:192.0.2.1]>").domain(),
        &Domain::Ipv6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped())
    );
    // General-address-literal.
    assert_eq!(
        rcpt_to("RCPT TO:<a@[x-foo:some:thing]>").domain(),
        &Domain::General {
            tag: "x-foo",
            content: "some:thing"
        }
    );
}

#[test]
fn r5321_4_1_3_malformed_address_literals() {
    for line in [
        &b"MAIL FROM:<a@[300.1.1.1]>"[..],
        b"MAIL FROM:<a@[1.2.3]>",
        b"MAIL FROM:<a@[IPv6:1:2:3:4:5:6:7::]>",
        b"MAIL FROM:<a@[IPv6:zz::1]>",
        b"MAIL FROM:<a@[IPv6:192.0.2.1]>",
        b"MAIL FROM:<a@[]>",
        b"MAIL FROM:<a@[tag:]>",
        b"MAIL FROM:<a@[-:x]>",
        b"MAIL FROM:<a@[1.2.3.4>",
        b"MAIL FROM:<a@[a[b]>",
    ] {
        assert_eq!(
            refused(line, 501, (5, 1, 7)),
            CommandError::Sender(AddressError::AddressLiteral),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_2_source_routes_are_accepted_and_ignored() {
    let Command::Rcpt { to, .. } = ok("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>") else {
        panic!()
    };
    let m = to.mailbox().unwrap();
    assert_eq!(m.as_str(), "userc@d.bar.org");
    assert_eq!(to.to_string(), "<userc@d.bar.org>");
    assert_eq!(
        mail_from("MAIL FROM:<@a.example:u@b.example>").as_str(),
        "u@b.example"
    );
    for line in [
        &b"MAIL FROM:<@a.example u@b.example>"[..],
        b"MAIL FROM:<@a.example,u@b.example>",
        b"MAIL FROM:<@:u@b.example>",
        b"MAIL FROM:<@a.example,:u@b.example>",
    ] {
        assert_eq!(
            refused(line, 501, (5, 1, 7)),
            CommandError::Sender(AddressError::SourceRoute),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_2_path_brackets() {
    let cases: &[(&[u8], AddressError)] = &[
        (b"MAIL FROM:a@b.example", AddressError::MissingBracket),
        (b"MAIL FROM:<a@b.example", AddressError::MissingBracket),
        (b"MAIL FROM:<a>", AddressError::MissingDomain),
        (
            b"MAIL FROM:<a@b.example>>",
            AddressError::TrailingCharacters,
        ),
        (
            b"MAIL FROM:<a@b.example>SIZE=1",
            AddressError::TrailingCharacters,
        ),
        (
            b"MAIL FROM:<a@[1.2.3.4]x>",
            AddressError::TrailingCharacters,
        ),
        (b"MAIL FROM:<>x", AddressError::TrailingCharacters),
    ];
    for (line, error) in cases {
        assert_eq!(
            refused(line, 501, (5, 1, 7)),
            CommandError::Sender(*error),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(
        refused(b"RCPT TO:c@d.example", 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::MissingBracket)
    );
}

#[test]
fn r5321_4_1_1_2_mail_rcpt_keyword_errors_are_501_5_5_4() {
    let cases: &[(&[u8], CommandError)] = &[
        (b"MAIL", CommandError::MissingArgument { verb: Verb::Mail }),
        (
            b"MAIL FROM:",
            CommandError::MissingArgument { verb: Verb::Mail },
        ),
        (
            b"MAIL FROM:   ",
            CommandError::MissingArgument { verb: Verb::Mail },
        ),
        (
            b"MAIL TO:<a@b>",
            CommandError::InvalidArgument { verb: Verb::Mail },
        ),
        (
            b"MAIL FROM :<a@b>",
            CommandError::InvalidArgument { verb: Verb::Mail },
        ),
        (
            b"MAIL <a@b>",
            CommandError::InvalidArgument { verb: Verb::Mail },
        ),
        (b"RCPT", CommandError::MissingArgument { verb: Verb::Rcpt }),
        (
            b"RCPT TO:",
            CommandError::MissingArgument { verb: Verb::Rcpt },
        ),
        (
            b"RCPT FROM:<a@b>",
            CommandError::InvalidArgument { verb: Verb::Rcpt },
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(refused(line, 501, (5, 5, 4)), *expected);
    }
}

#[test]
fn r5321_4_5_3_1_1_local_part_at_most_64_octets() {
    let ok64 = format!("MAIL FROM:<{}@example.com>", "a".repeat(64));
    assert_eq!(mail_from(&ok64).local_part().len(), 64);
    let bad = format!("MAIL FROM:<{}@example.com>", "a".repeat(65));
    assert_eq!(
        refused(bad.as_bytes(), 501, (5, 1, 7)),
        CommandError::Sender(AddressError::LocalPartTooLong { len: 65 })
    );
    // Quotes count: they are part of the local part as sent.
    let bad = format!("RCPT TO:<\"{}\"@example.com>", "a".repeat(63));
    assert_eq!(
        refused(bad.as_bytes(), 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::LocalPartTooLong { len: 65 })
    );
}

#[test]
fn r5321_4_5_3_1_2_domain_at_most_255_octets() {
    let label = "a".repeat(63);
    let d255 = format!("{label}.{label}.{label}.{}", "b".repeat(63)); // 4*63+3 = 255
    assert_eq!(d255.len(), 255);
    let line = format!("RCPT TO:<u@{d255}>");
    assert_eq!(rcpt_to(&line).domain_str().len(), 255);
    let d256 = format!("{d255}c");
    let line = format!("RCPT TO:<u@{d256}>");
    assert_eq!(
        refused(line.as_bytes(), 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::DomainTooLong { len: 256 })
    );
    let line = format!("EHLO {d256}");
    assert_eq!(
        refused(line.as_bytes(), 501, (5, 5, 4)),
        CommandError::InvalidHelloDomain {
            verb: Verb::Ehlo,
            error: AddressError::DomainTooLong { len: 256 }
        }
    );
}

// ---------------------------------------------------------------------------
// SMTPUTF8 (RFC 6531)

#[test]
fn r6531_3_3_utf8_mailboxes() {
    let Command::Mail { from, params } = ok("MAIL FROM:<用户@例子.广告> SMTPUTF8") else {
        panic!()
    };
    let m = from.mailbox().unwrap();
    assert_eq!(m.local_part(), "用户");
    assert_eq!(m.domain(), &Domain::Name("例子.广告"));
    assert!(!m.is_ascii());
    assert!(params.smtputf8);
    // The grammar accepts UTF-8 without the parameter: the session decides.
    assert!(!rcpt_to("RCPT TO:<josé@bücher.example>").is_ascii());
    assert_eq!(
        rcpt_to("RCPT TO:<\"jo sé\"@example.com>").local_part_unquoted(),
        "jo sé"
    );
    assert!(mail_from("MAIL FROM:<ascii@example.com>").is_ascii());
}

#[test]
fn r6531_3_3_invalid_utf8_is_refused() {
    assert_eq!(
        refused(b"MAIL FROM:<\xff@example.com>", 501, (5, 1, 7)),
        CommandError::Sender(AddressError::InvalidUtf8)
    );
    assert_eq!(
        refused(b"RCPT TO:<a@\xc3\x28.example>", 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::InvalidUtf8)
    );
    assert_eq!(
        refused(b"RCPT TO:<\"\xe2\x82\"@example>", 501, (5, 1, 3)),
        CommandError::Recipient(AddressError::InvalidUtf8)
    );
    assert_eq!(
        refused(b"MAIL FROM:<a@b> X=\xff", 501, (5, 5, 4)),
        CommandError::Param(ParamError::InvalidUtf8)
    );
    assert_eq!(
        refused(b"VRFY \xff", 501, (5, 5, 4)),
        CommandError::InvalidArgument { verb: Verb::Vrfy }
    );
}

#[test]
fn atk_04_control_characters_are_refused_everywhere() {
    for line in [
        &b"MAIL FROM:<a\0b@example.com>"[..],
        b"MAIL FROM:<a@example.com>\r",
        b"MAIL FROM:<a@exa\nmple.com>",
        b"MAIL FROM:<\"a\rb\"@example.com>",
        b"RCPT TO:<a@b> NOTIFY=\x7f",
        b"EHLO a\x1bb",
        b"NOOP \0",
        b"VRFY a\tb",
        b"\0",
        b"QUIT\r\n",
        b"AUTH PLAIN AAAA\0",
        // C1 controls (U+0085 NEL, U+009B CSI) in UTF-8.
        "RCPT TO:<a\u{85}b@example.com>".as_bytes(),
        "EHLO a\u{9b}b".as_bytes(),
    ] {
        assert_eq!(
            refused(line, 500, (5, 5, 2)),
            CommandError::ControlCharacter,
            "{line:?}"
        );
    }
    // U+00A0 (C2 A0) is not a control character.
    assert!(parse("RCPT TO:<\"a\u{a0}b\"@example.com>".as_bytes()).is_ok());
}

// ---------------------------------------------------------------------------
// MAIL parameters

#[test]
fn r1870_size_parameter() {
    assert_eq!(mail_params("MAIL FROM:<a@b> SIZE=0").size, Some(0));
    assert_eq!(mail_params("MAIL FROM:<a@b> size=12345").size, Some(12345));
    assert_eq!(
        mail_params("MAIL FROM:<a@b> SIZE=18446744073709551615").size,
        Some(u64::MAX)
    );
    assert_eq!(
        refused(b"MAIL FROM:<a@b> SIZE=18446744073709551616", 552, (5, 3, 4)),
        CommandError::Param(ParamError::SizeOverflow)
    );
    assert_eq!(
        err(b"MAIL FROM:<a@b> SIZE=99999999999999999999999").reply(),
        Reply::SIZE_TOO_LARGE
    );
    for line in [
        &b"MAIL FROM:<a@b> SIZE"[..],
        b"MAIL FROM:<a@b> SIZE=abc",
        b"MAIL FROM:<a@b> SIZE=+1",
        b"MAIL FROM:<a@b> SIZE=-1",
        b"MAIL FROM:<a@b> SIZE=1k",
    ] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::Param(ParamError::Size)
        );
    }
}

#[test]
fn r6152_body_parameter() {
    assert_eq!(
        mail_params("MAIL FROM:<a@b> BODY=7BIT").body,
        Some(Body::SevenBit)
    );
    assert_eq!(
        mail_params("MAIL FROM:<a@b> body=8bitmime").body,
        Some(Body::EightBitMime)
    );
    assert_eq!(
        mail_params("MAIL FROM:<a@b> BODY=BINARYMIME").body,
        Some(Body::BinaryMime)
    );
    assert_eq!(Body::EightBitMime.as_str(), "8BITMIME");
    for line in [&b"MAIL FROM:<a@b> BODY=8BIT"[..], b"MAIL FROM:<a@b> BODY"] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::Param(ParamError::Body)
        );
    }
}

#[test]
fn r6531_3_4_smtputf8_parameter() {
    assert!(mail_params("MAIL FROM:<a@b> SMTPUTF8").smtputf8);
    assert!(mail_params("MAIL FROM:<a@b> smtputf8").smtputf8);
    assert!(!mail_params("MAIL FROM:<a@b>").smtputf8);
    assert_eq!(
        refused(b"MAIL FROM:<a@b> SMTPUTF8=yes", 501, (5, 5, 4)),
        CommandError::Param(ParamError::Smtputf8Value)
    );
}

#[test]
fn r4954_5_1_auth_param_xtext() {
    // RFC 4954 §5 examples.
    assert_eq!(
        mail_params("MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com").auth,
        Some(AuthParam::Mailbox(Cow::Owned("e=mc2@example.com".into())))
    );
    assert_eq!(
        mail_params("MAIL FROM:<> AUTH=<>").auth,
        Some(AuthParam::Null)
    );
    // `+2B` is '+'.
    let p = mail_params("MAIL FROM:<a+b@example.com> AUTH=a+2Bb@example.com");
    let Some(AuthParam::Mailbox(decoded)) = &p.auth else {
        panic!()
    };
    assert_eq!(decoded, "a+b@example.com");
    assert!(matches!(decoded, Cow::Owned(_)));
    assert_eq!(
        p.auth.as_ref().unwrap().mailbox().unwrap().local_part(),
        "a+b"
    );
    // Without escapes it borrows from the line.
    let p = mail_params("MAIL FROM:<u@example.com> auth=u@example.com");
    assert!(matches!(
        p.auth,
        Some(AuthParam::Mailbox(Cow::Borrowed("u@example.com")))
    ));
    // UTF-8 via escapes.
    assert_eq!(
        mail_params("MAIL FROM:<a@b> AUTH=jos+C3+A9@example.com").auth,
        Some(AuthParam::Mailbox(Cow::Owned("josé@example.com".into())))
    );
    // The AUTH= parameter is not part of `other`.
    assert!(p.other.is_empty());
    assert!(AuthParam::Null.mailbox().is_none());
}

#[test]
fn r4954_5_1_malformed_auth_param_is_501_5_5_4() {
    let cases: &[(&[u8], AuthParamError)] = &[
        (b"MAIL FROM:<a@b> AUTH", AuthParamError::MissingValue),
        (
            b"MAIL FROM:<a@b> AUTH=nobody",
            AuthParamError::NotMailbox(AddressError::MissingDomain),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=<a@b>",
            AuthParamError::NotMailbox(AddressError::LocalPart),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=a@b+20x",
            AuthParamError::NotMailbox(AddressError::TrailingCharacters),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=a+2bb@x",
            AuthParamError::Xtext(xtext::XtextError::BadEscape { at: 1 }),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=a+2",
            AuthParamError::Xtext(xtext::XtextError::BadEscape { at: 1 }),
        ),
        // ATK-04 / CVE-2020-28021: a newline smuggled through xtext.
        (
            b"MAIL FROM:<a@b> AUTH=a+0D+0Ab@x",
            AuthParamError::Xtext(xtext::XtextError::ControlCharacter),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=a+00@x",
            AuthParamError::Xtext(xtext::XtextError::ControlCharacter),
        ),
        (
            b"MAIL FROM:<a@b> AUTH=+FF@x",
            AuthParamError::Xtext(xtext::XtextError::InvalidUtf8),
        ),
    ];
    for (line, expected) in cases {
        let e = refused(line, 501, (5, 5, 4));
        assert_eq!(
            e,
            CommandError::Param(ParamError::Auth(*expected)),
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(e.reply(), Reply::AUTH_PARAM_MALFORMED);
        assert_eq!(e.reply().text(), "Malformed AUTH= parameter");
    }
    // '=' inside a value is not esmtp-value syntax at all.
    assert_eq!(
        refused(b"MAIL FROM:<a@b> AUTH=a=b@x", 501, (5, 5, 4)),
        CommandError::Param(ParamError::Syntax)
    );
}

#[test]
fn r5321_4_1_2_unknown_params_are_kept_zero_copy() {
    let p = mail_params("MAIL FROM:<a@b> SIZE=1 RET=HDRS BODY=8BITMIME ENVID=QQ314159 X-FLAG");
    let other: Vec<_> = p.other.iter().collect();
    assert_eq!(
        other,
        [
            ("RET", Some("HDRS")),
            ("ENVID", Some("QQ314159")),
            ("X-FLAG", None)
        ]
    );
    assert_eq!(p.other.len(), 3);
    assert_eq!(p.other.get("ret"), Some(Some("HDRS")));
    assert_eq!(p.other.get("x-flag"), Some(None));
    assert_eq!(p.other.get("size"), None);
    assert_eq!(
        format!("{:?}", p.other),
        r#"{"RET": Some("HDRS"), "ENVID": Some("QQ314159"), "X-FLAG": None}"#
    );

    let Command::Rcpt { params, .. } =
        ok("RCPT TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.example")
    else {
        panic!()
    };
    let other: Vec<_> = (&params.other).into_iter().collect();
    assert_eq!(
        other,
        [
            ("NOTIFY", Some("SUCCESS,FAILURE")),
            ("ORCPT", Some("rfc822;a+40b.example"))
        ]
    );
    // Equality compares the parameters, not the spacing.
    let a = mail_params("MAIL FROM:<a@b> X=1  Y");
    let b = mail_params("MAIL FROM:<a@b> SIZE=3 X=1 Y");
    assert_eq!(a.other, b.other);
    assert_ne!(a.other, mail_params("MAIL FROM:<a@b> X=2 Y").other);
    // UTF-8 values are allowed (RFC 6531 esmtp-value).
    assert_eq!(
        mail_params("MAIL FROM:<a@b> X=é").other.get("x"),
        Some(Some("é"))
    );
}

#[test]
fn r5321_4_1_2_param_syntax_errors_are_501_5_5_4() {
    for line in [
        &b"MAIL FROM:<a@b> KEY="[..],
        b"MAIL FROM:<a@b> =value",
        b"MAIL FROM:<a@b> -KEY",
        b"MAIL FROM:<a@b> K_EY=1",
        b"MAIL FROM:<a@b> KEY=a=b",
        b"RCPT TO:<a@b> NOTIFY==",
        b"RCPT TO:<a@b> =",
    ] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::Param(ParamError::Syntax),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn r5321_4_1_2_duplicate_params_are_refused() {
    for line in [
        &b"MAIL FROM:<a@b> SIZE=1 SIZE=2"[..],
        b"MAIL FROM:<a@b> SIZE=1 size=1",
        b"MAIL FROM:<a@b> X-A=1 x-a",
        b"MAIL FROM:<a@b> AUTH=<> AUTH=<>",
        b"RCPT TO:<a@b> NOTIFY=NEVER notify=NEVER",
    ] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::Param(ParamError::Duplicate)
        );
    }
}

#[test]
fn too_many_params_are_refused() {
    let many: String = (0..33).map(|i| format!(" P{i}=1")).collect();
    let line = format!("MAIL FROM:<a@b>{many}");
    assert_eq!(
        refused(line.as_bytes(), 501, (5, 5, 4)),
        CommandError::Param(ParamError::TooMany)
    );
    let enough: String = (0..32).map(|i| format!(" P{i}=1")).collect();
    assert_eq!(
        mail_params(&format!("MAIL FROM:<a@b>{enough}")).other.len(),
        32
    );
}

#[test]
fn r5321_4_1_1_11_mail_only_params_on_rcpt_are_555() {
    for (line, keyword) in [
        (&b"RCPT TO:<a@b> SIZE=10"[..], "SIZE"),
        (b"RCPT TO:<a@b> body=8BITMIME", "BODY"),
        (b"RCPT TO:<a@b> AUTH=<>", "AUTH"),
        (b"RCPT TO:<a@b> SMTPUTF8", "SMTPUTF8"),
    ] {
        let e = refused(line, 555, (5, 5, 4));
        assert_eq!(e, CommandError::Param(ParamError::NotAllowed { keyword }));
        assert_eq!(e.reply(), Reply::PARAMETER_NOT_IMPLEMENTED);
    }
}

// ---------------------------------------------------------------------------
// AUTH

#[test]
fn r4954_4_1_auth_syntax() {
    assert_eq!(
        ok("AUTH PLAIN"),
        Command::Auth {
            mechanism: "PLAIN",
            initial_response: None
        }
    );
    assert_eq!(
        ok("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="),
        Command::Auth {
            mechanism: "PLAIN",
            initial_response: Some(b"dGVzdAB0ZXN0AHRlc3Q=")
        }
    );
    assert_eq!(ok("AUTH SCRAM-SHA-256-PLUS").verb(), Verb::Auth);
    assert_eq!(ok("AUTH X_MECH").verb(), Verb::Auth);
}

#[test]
fn r4954_4_9_empty_initial_response_is_equals_sign() {
    assert_eq!(
        ok("auth plain ="),
        Command::Auth {
            mechanism: "plain",
            initial_response: Some(b"=")
        }
    );
}

#[test]
fn r4422_3_1_1_mechanism_names() {
    let m20 = format!("AUTH {}", "A".repeat(20));
    assert!(matches!(ok(&m20), Command::Auth { .. }));
    let m21 = format!("AUTH {}", "A".repeat(21));
    for line in [
        m21.as_bytes(),
        b"AUTH PL@IN",
        b"AUTH PLAIN.",
        "AUTH PLÄIN".as_bytes(),
    ] {
        let e = refused(line, 501, (5, 5, 4));
        assert_eq!(e, CommandError::Auth(AuthSyntaxError::InvalidMechanism));
        assert_eq!(e.reply(), Reply::AUTH_SYNTAX);
    }
}

#[test]
fn reply_11_auth_syntax_errors() {
    let cases: &[(&[u8], AuthSyntaxError)] = &[
        (b"AUTH", AuthSyntaxError::MissingMechanism),
        (b"AUTH   ", AuthSyntaxError::MissingMechanism),
        (b"AUTH PLAIN abc def", AuthSyntaxError::TooManyArguments),
        (b"AUTH PLAIN = =", AuthSyntaxError::TooManyArguments),
    ];
    for (line, expected) in cases {
        let e = refused(line, 501, (5, 5, 4));
        assert_eq!(e, CommandError::Auth(*expected));
        assert_eq!(e.reply(), Reply::AUTH_SYNTAX);
    }
}

#[test]
fn r4954_4_13_long_initial_response_is_borrowed() {
    let ir = "A".repeat(12_288);
    let line = format!("AUTH XOAUTH2 {ir}");
    let Command::Auth {
        initial_response: Some(got),
        ..
    } = ok(&line)
    else {
        panic!()
    };
    assert_eq!(got, ir.as_bytes());
    assert!(std::ptr::eq(got.as_ptr(), line.as_bytes()[13..].as_ptr()));
}

#[test]
fn atk_11_debug_redacts_initial_response() {
    let cmd = ok("AUTH PLAIN AHVzZXIAaHVudGVyMg==");
    let debug = format!("{cmd:?}");
    assert!(!debug.contains("AHVzZXIAaHVudGVyMg"), "{debug}");
    assert!(debug.contains("PLAIN"), "{debug}");
    assert!(debug.contains("redacted 20 bytes"), "{debug}");
}

// ---------------------------------------------------------------------------
// STARTTLS, DATA, RSET, QUIT, NOOP, BDAT, VRFY, EXPN, HELP

#[test]
fn r3207_4_1_starttls_takes_no_parameters() {
    assert_eq!(ok("STARTTLS"), Command::StartTls);
    let e = refused(b"STARTTLS now", 501, (5, 5, 4));
    assert_eq!(
        e,
        CommandError::UnexpectedArgument {
            verb: Verb::StartTls
        }
    );
    assert_eq!(e.reply(), Reply::STARTTLS_SYNTAX);
}

#[test]
fn r5321_4_1_1_commands_without_arguments() {
    for (line, verb) in [
        (&b"DATA x"[..], Verb::Data),
        (b"RSET all", Verb::Rset),
        (b"QUIT now", Verb::Quit),
    ] {
        let e = refused(line, 501, (5, 5, 4));
        assert_eq!(e, CommandError::UnexpectedArgument { verb });
        assert_eq!(e.reply(), Reply::ARGUMENT_ERROR);
    }
}

#[test]
fn r5321_4_1_1_9_noop_argument_is_ignored() {
    assert_eq!(ok("NOOP"), Command::Noop);
    assert_eq!(ok("NOOP anything at all"), Command::Noop);
    assert_eq!(parse(b"NOOP \xff\xfe"), Ok(Command::Noop));
}

#[test]
fn r3030_2_bdat() {
    assert_eq!(
        ok("BDAT 86"),
        Command::Bdat {
            size: 86,
            last: false
        }
    );
    assert_eq!(
        ok("BDAT 0 LAST"),
        Command::Bdat {
            size: 0,
            last: true
        }
    );
    assert_eq!(
        ok("bdat 5 last"),
        Command::Bdat {
            size: 5,
            last: true
        }
    );
    assert_eq!(
        ok("BDAT 18446744073709551615"),
        Command::Bdat {
            size: u64::MAX,
            last: false
        }
    );
    assert_eq!(
        refused(b"BDAT", 501, (5, 5, 4)),
        CommandError::MissingArgument { verb: Verb::Bdat }
    );
    for line in [
        &b"BDAT x"[..],
        b"BDAT -1",
        b"BDAT +1",
        b"BDAT 1 FIRST",
        b"BDAT 1 LAST x",
        b"BDAT 18446744073709551616",
    ] {
        assert_eq!(
            refused(line, 501, (5, 5, 4)),
            CommandError::InvalidArgument { verb: Verb::Bdat }
        );
    }
}

#[test]
fn r5321_4_1_1_6_vrfy_expn_help() {
    assert_eq!(ok("VRFY Smith"), Command::Vrfy { argument: "Smith" });
    assert_eq!(
        ok("EXPN Example-People"),
        Command::Expn {
            argument: "Example-People"
        }
    );
    assert_eq!(ok("VRFY <a@b>  "), Command::Vrfy { argument: "<a@b>" });
    assert_eq!(ok("HELP"), Command::Help { topic: None });
    assert_eq!(
        ok("HELP MAIL"),
        Command::Help {
            topic: Some("MAIL")
        }
    );
    assert_eq!(
        refused(b"VRFY", 501, (5, 5, 4)),
        CommandError::MissingArgument { verb: Verb::Vrfy }
    );
    assert_eq!(
        refused(b"EXPN ", 501, (5, 5, 4)),
        CommandError::MissingArgument { verb: Verb::Expn }
    );
    assert_eq!(
        refused(b"HELP \xc3", 501, (5, 5, 4)),
        CommandError::InvalidArgument { verb: Verb::Help }
    );
}

/// Every `CommandError` variant, with the exact reply it produces.
#[test]
fn every_error_variant_has_its_reply() {
    let table: &[(&[u8], Reply)] = &[
        (b"", Reply::SYNTAX_ERROR),
        (b"FOO", Reply::UNKNOWN_COMMAND),
        (b"NOOP \0", Reply::SYNTAX_ERROR),
        (b"EHLO", Reply::ARGUMENT_ERROR),
        (b"DATA x", Reply::ARGUMENT_ERROR),
        (b"STARTTLS x", Reply::STARTTLS_SYNTAX),
        (b"BDAT x", Reply::ARGUMENT_ERROR),
        (b"EHLO -x", Reply::ARGUMENT_ERROR),
        (b"AUTH", Reply::AUTH_SYNTAX),
        (b"MAIL FROM:<x>", Reply::BAD_SENDER_SYNTAX),
        (b"RCPT TO:<x>", Reply::BAD_RECIPIENT_SYNTAX),
        (b"MAIL FROM:<> FOO=", Reply::ARGUMENT_ERROR),
        (b"MAIL FROM:<> AUTH=x", Reply::AUTH_PARAM_MALFORMED),
        (
            b"MAIL FROM:<> SIZE=99999999999999999999",
            Reply::SIZE_TOO_LARGE,
        ),
        (b"RCPT TO:<a@b> SIZE=1", Reply::PARAMETER_NOT_IMPLEMENTED),
    ];
    let mut wire = Vec::new();
    for (line, reply) in table {
        let e = err(line);
        assert_eq!(
            &e.reply(),
            reply,
            "{:?} → {e:?}",
            String::from_utf8_lossy(line)
        );
        // Errors display without echoing input.
        assert!(!e.to_string().is_empty());
        wire.clear();
        e.reply().encode_into(&mut wire);
        assert!(wire.ends_with(b"\r\n"));
    }
    assert_eq!(
        err(b"MAIL FROM:<x>").reply().to_bytes(),
        b"501 5.1.7 Bad sender address syntax\r\n"
    );
    assert_eq!(
        err(b"RCPT TO:<x>").reply().to_bytes(),
        b"501 5.1.3 Bad recipient address syntax\r\n"
    );
}

#[test]
fn mailbox_parse_is_public_for_policy_code() {
    let m = Mailbox::parse("postmaster@[IPv6:::1]").unwrap();
    assert_eq!(m.domain(), &Domain::Ipv6(Ipv6Addr::LOCALHOST));
    assert_eq!(m.domain().as_name(), None);
    assert_eq!(Mailbox::parse("a@b").unwrap().domain().as_name(), Some("b"));
    assert_eq!(Mailbox::parse("<a@b>"), Err(AddressError::LocalPart));
}
