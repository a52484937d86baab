//! Bytes mapped onto an SMTP alphabet: each input byte below 0xC0 picks one
//! character that matters to the grammar, each byte from 0xC0 picks a whole
//! token (a verb, a parameter, a mechanism name). Random input then reads
//! like a command line, so the fuzzer reaches the deep grammar at once.

/// Single characters, chosen by `byte % CHARS.len()` for bytes below 0xC0.
pub const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 <>@:.,=+-_[]\"\\/!#$%&'*?^`{|}~()\t\r\n\0\x7f\x01";

/// Tokens, chosen by `byte - 0xC0` (modulo the count).
pub const TOKENS: &[&str] = &[
    "EHLO ",
    "HELO ",
    "MAIL FROM:",
    "RCPT TO:",
    "DATA",
    "BDAT ",
    "RSET",
    "NOOP",
    "QUIT",
    "VRFY ",
    "EXPN ",
    "HELP",
    "STARTTLS",
    "AUTH ",
    "LAST",
    " SIZE=",
    " BODY=8BITMIME",
    " BODY=BINARYMIME",
    " BODY=7BIT",
    " AUTH=",
    " SMTPUTF8",
    " NOTIFY=",
    " ORCPT=rfc822;",
    " RET=HDRS",
    " ENVID=",
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256-PLUS",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
    "<>",
    "<Postmaster>",
    "alice@example.org",
    "[192.0.2.1]",
    "[IPv6:2001:db8::1]",
    "[IPv6:::ffff:1.2.3.4]",
    "\"quoted local\"",
    "@relay.example:",
    "jürgen@例え.jp",
    "+2B",
    "+3D",
    "xn--",
    ".",
    "..",
    "<a@b>",
    "AGFsaWNlAHdvbmRlcmxhbmQ=",
    "=",
    "*",
    "99999999999999999999",
    "18446744073709551615",
    "0",
    "\r\n",
    "example.org",
    "localhost",
    "mx.example.org",
];

/// Maps fuzzer bytes to an SMTP-shaped line.
pub fn map(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2);
    for &b in data {
        if b >= 0xC0 {
            out.extend_from_slice(TOKENS[usize::from(b - 0xC0) % TOKENS.len()].as_bytes());
        } else {
            out.push(CHARS[usize::from(b) % CHARS.len()]);
        }
    }
    out
}

/// The inverse of [`map`] for seeding: tokens where they match, single
/// characters otherwise (bytes outside the alphabet are dropped).
pub fn unmap(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    'outer: while i < line.len() {
        for (t, tok) in TOKENS.iter().enumerate().take(64) {
            if tok.len() > 1 && line[i..].starts_with(tok.as_bytes()) {
                out.push(0xC0 + t as u8);
                i += tok.len();
                continue 'outer;
            }
        }
        if let Some(c) = CHARS.iter().position(|&c| c == line[i]) {
            out.push(c as u8);
        }
        i += 1;
    }
    out
}
