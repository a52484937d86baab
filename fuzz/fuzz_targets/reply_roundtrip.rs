//! Reply encode → parse round trip (RFC 5321 §4.2, §4.5.3.1.5; RFC 2034),
//! and the reply parser on raw bytes.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use smtp_auth::reply::{ParsedReply, MAX_REPLY_LINE};
use smtp_auth::{EnhancedCode, Reply};

#[derive(Arbitrary, Debug)]
struct Head {
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
}

struct Input {
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    text: String,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(head) = Head::arbitrary(&mut u) else {
        return;
    };
    // The rest of the input is the reply text (lossily UTF-8) and, verbatim,
    // the parser's input.
    let raw = u.take_rest();
    let input = Input {
        code: head.code,
        enhanced: head.enhanced,
        text: String::from_utf8_lossy(raw).into_owned(),
    };
    let enhanced = input.enhanced.map(|(c, s, d)| EnhancedCode::new(c, s, d));
    let reply = Reply::new(input.code, enhanced, input.text.clone());
    let bytes = reply.to_bytes();
    let (parsed, used) = ParsedReply::parse(&bytes).expect("our own reply parses");
    assert_eq!(used, bytes.len(), "one reply, all of it");
    assert_eq!(parsed.code, input.code.min(999));
    let text_lines = input.text.split('\n').count();
    assert!(parsed.lines.len() >= text_lines);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        assert!(
            line.len() <= MAX_REPLY_LINE,
            "line of {} octets",
            line.len()
        );
        assert!(line.ends_with(b"\r\n"));
        let body = &line[..line.len() - 2];
        assert!(!body.contains(&b'\r') && !body.contains(&b'\n'));
    }
    // Clean replies come back exactly.
    let valid_enhanced = enhanced.is_some_and(|e| {
        (2..=5).contains(&e.class)
            && u16::from(e.class) == input.code / 100
            && e.subject <= 999
            && e.detail <= 999
    });
    let prefix = 4 + enhanced.map_or(0, |e| e.to_string().len() + 1);
    let clean = (100..=999).contains(&input.code)
        && (enhanced.is_none() || valid_enhanced)
        && !input
            .text
            .chars()
            .any(|c| c != '\n' && (c < ' ' || c == '\u{7f}'))
        && input
            .text
            .split('\n')
            .all(|l| l.len() + prefix + 2 <= MAX_REPLY_LINE)
        && (enhanced.is_some()
            || input
                .text
                .split('\n')
                .all(|l| !l.starts_with(|c: char| c.is_ascii_digit())));
    if clean {
        assert_eq!(parsed.to_reply(), reply, "round trip");
    }
    // The parser on raw bytes: no panic; what it reads re-encodes and
    // parses again.
    if let Ok((p, used)) = ParsedReply::parse(raw) {
        assert!(used <= raw.len());
        let again = p.to_reply().to_bytes();
        let (q, _) = ParsedReply::parse(&again).expect("re-encoded reply parses");
        assert_eq!(q.code, p.code.min(999));
    }
});
