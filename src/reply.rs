//! SMTP replies: code, enhanced status code and text, their wire encoding,
//! and every standard reply this crate sends, named in one place.
//!
//! The named constants follow the REPLY table of the project's RFC
//! checklist (`REPLY-01` … `REPLY-28`); keeping them here means a reply's
//! bytes can be audited and tested in one file.

use std::borrow::Cow;
use std::fmt;

/// Longest reply line on the wire, CRLF included (RFC 5321 §4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// An enhanced status code `class.subject.detail` (RFC 3463, RFC 2034).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient) or 5 (permanent).
    pub class: u8,
    /// The subject, e.g. 7 for security or policy status.
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedCode {
    /// Builds a code from its three parts.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply: a three-digit code, an optional enhanced status code and
/// text. Text lines are separated by `\n`; the encoder writes each as its own
/// reply line (`250-…` then `250 …`), repeats the enhanced code on each line
/// (RFC 2034 §4) and wraps lines that would exceed 512 octets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    text: Cow<'static, str>,
}

const fn ec(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
    Some(EnhancedCode::new(class, subject, detail))
}

const fn r(code: u16, enhanced: Option<EnhancedCode>, text: &'static str) -> Reply {
    Reply {
        code,
        enhanced,
        text: Cow::Borrowed(text),
    }
}

impl Reply {
    // --- Authentication (RFC 4954 §6, REPLY-01 … REPLY-24) ---
    /// REPLY-01: `235 2.7.0` (RFC 4954 §6).
    pub const AUTH_SUCCEEDED: Reply = r(235, ec(2, 7, 0), "Authentication successful");
    /// REPLY-02/03: `535 5.7.8`, the same bytes for unknown user, wrong
    /// password and malformed credentials (ATK-07).
    pub const AUTH_INVALID: Reply = r(535, ec(5, 7, 8), "Authentication credentials invalid");
    /// REPLY-04: `504 5.5.4` unknown or not-offered mechanism.
    pub const AUTH_UNKNOWN_MECHANISM: Reply =
        r(504, ec(5, 5, 4), "Unrecognized authentication mechanism");
    /// REPLY-05: `504 5.5.4` password-revealing mechanism before TLS.
    pub const AUTH_ENCRYPTION_REQUIRED: Reply = r(
        504,
        ec(5, 5, 4),
        "Encryption required for requested authentication mechanism",
    );
    /// REPLY-06: `530 5.7.0` TLS required first (RFC 3207 §4).
    pub const STARTTLS_FIRST: Reply = r(530, ec(5, 7, 0), "Must issue a STARTTLS command first");
    /// REPLY-07: `503 5.5.1` AUTH after a successful AUTH (RFC 4954 §4).
    pub const AUTH_ALREADY: Reply = r(503, ec(5, 5, 1), "Already authenticated");
    /// REPLY-08: `503 5.5.1` AUTH inside a mail transaction (RFC 4954 §4).
    pub const AUTH_IN_TRANSACTION: Reply = r(
        503,
        ec(5, 5, 1),
        "AUTH not permitted during a mail transaction",
    );
    /// REPLY-09: `503 5.5.1` AUTH before EHLO.
    pub const AUTH_EHLO_FIRST: Reply = r(503, ec(5, 5, 1), "Send EHLO first");
    /// REPLY-10: `503 5.5.1` AUTH on a listener that does not offer it.
    pub const AUTH_NOT_ENABLED: Reply = r(503, ec(5, 5, 1), "Authentication not enabled");
    /// REPLY-11: `501 5.5.4` AUTH syntax error.
    pub const AUTH_SYNTAX: Reply = r(
        501,
        ec(5, 5, 4),
        "Syntax: AUTH mechanism [initial-response]",
    );
    /// REPLY-12: `501 5.7.0` the client cancelled with `*` (RFC 4954 §4).
    pub const AUTH_CANCELLED: Reply = r(501, ec(5, 7, 0), "Authentication cancelled");
    /// REPLY-13: `501 5.5.2` invalid base64 (RFC 4954 §4).
    pub const AUTH_BAD_BASE64: Reply = r(501, ec(5, 5, 2), "Invalid base64 data");
    /// REPLY-14: `501 5.7.0` initial response for a server-first mechanism.
    pub const AUTH_NO_INITIAL_RESPONSE: Reply = r(
        501,
        ec(5, 7, 0),
        "Initial response not allowed for this mechanism",
    );
    /// REPLY-15: `500 5.5.6` authentication line too long (RFC 4954 §4).
    pub const AUTH_LINE_TOO_LONG: Reply =
        r(500, ec(5, 5, 6), "Authentication exchange line is too long");
    /// REPLY-16: `500 5.5.2` command line too long (RFC 5321 §4.5.3.1.4).
    pub const LINE_TOO_LONG: Reply = r(500, ec(5, 5, 2), "Line too long");
    /// REPLY-17: `530 5.7.0` authentication required (RFC 4954 §6, RFC 6409 §4).
    pub const AUTH_REQUIRED: Reply = r(530, ec(5, 7, 0), "Authentication required");
    /// REPLY-18: `550 5.7.1` sender not owned by the identity (RFC 6409 §6.1).
    pub const SENDER_NOT_OWNED: Reply = r(
        550,
        ec(5, 7, 1),
        "Sender address not authorized for this user",
    );
    /// REPLY-19: `501 5.5.4` malformed `AUTH=` on MAIL (RFC 4954 §5).
    pub const AUTH_PARAM_MALFORMED: Reply = r(501, ec(5, 5, 4), "Malformed AUTH= parameter");
    /// REPLY-20/21: `454 4.7.0` temporary failure: backend down, throttled or
    /// locked out; sent without running the credential check (RFC 4954 §6).
    pub const AUTH_TEMPORARY_FAILURE: Reply =
        r(454, ec(4, 7, 0), "Temporary authentication failure");
    /// REPLY-22: `421 4.7.0` too many failures, then close (RFC 4954 §9).
    pub const AUTH_TOO_MANY_FAILURES: Reply = r(
        421,
        ec(4, 7, 0),
        "Too many authentication failures, closing connection",
    );
    /// REPLY-23: `525 5.7.13` account disabled (after correct credentials only).
    pub const ACCOUNT_DISABLED: Reply = r(525, ec(5, 7, 13), "User account disabled");
    /// REPLY-24: `534 5.7.9` mechanism too weak for this user.
    pub const AUTH_MECHANISM_TOO_WEAK: Reply =
        r(534, ec(5, 7, 9), "Authentication mechanism is too weak");
    /// REPLY-24: `432 4.7.12` a password transition is needed.
    pub const PASSWORD_TRANSITION: Reply = r(432, ec(4, 7, 12), "A password transition is needed");
    /// REPLY-25: `451 4.7.1` sending rate exceeded.
    pub const RATE_LIMITED: Reply = r(
        451,
        ec(4, 7, 1),
        "Sending rate limit exceeded, try again later",
    );
    /// REPLY-26: `552 5.3.4` message too large.
    pub const MESSAGE_TOO_LARGE: Reply = r(552, ec(5, 3, 4), "Message size exceeds limit");
    /// REPLY-26: `550 5.7.1` message refused by policy.
    pub const MESSAGE_REFUSED: Reply = r(550, ec(5, 7, 1), "Message refused by policy");
    /// REPLY-27: `220 2.0.0` STARTTLS accepted (RFC 3207 §4).
    pub const STARTTLS_READY: Reply = r(220, ec(2, 0, 0), "Ready to start TLS");
    /// REPLY-27: `501 5.5.4` STARTTLS with an argument.
    pub const STARTTLS_SYNTAX: Reply = r(501, ec(5, 5, 4), "Syntax: STARTTLS");
    /// REPLY-27: `454 4.7.0` TLS not available.
    pub const STARTTLS_UNAVAILABLE: Reply = r(
        454,
        ec(4, 7, 0),
        "TLS not available due to temporary reason",
    );
    /// REPLY-27: `503 5.5.1` STARTTLS when TLS is already active (RFC 3207 §4.2).
    pub const TLS_ALREADY_ACTIVE: Reply = r(503, ec(5, 5, 1), "TLS already active");
    /// REPLY-28: `334 ` the empty challenge (RFC 4954 §4).
    pub const EMPTY_CHALLENGE: Reply = r(334, None, "");
    /// REPLY-28: LOGIN's `334 VXNlcm5hbWU6` ("Username:").
    pub const LOGIN_USERNAME: Reply = r(334, None, "VXNlcm5hbWU6");
    /// REPLY-28: LOGIN's `334 UGFzc3dvcmQ6` ("Password:").
    pub const LOGIN_PASSWORD: Reply = r(334, None, "UGFzc3dvcmQ6");

    // --- Session and envelope ---
    /// `250 2.0.0 OK`.
    pub const OK: Reply = r(250, ec(2, 0, 0), "OK");
    /// `250 2.1.0` sender accepted.
    pub const SENDER_OK: Reply = r(250, ec(2, 1, 0), "Sender OK");
    /// `250 2.1.5` recipient accepted.
    pub const RECIPIENT_OK: Reply = r(250, ec(2, 1, 5), "Recipient OK");
    /// `250 2.0.0` reset done.
    pub const RESET_OK: Reply = r(250, ec(2, 0, 0), "Reset OK");
    /// `250 2.0.0` message accepted for delivery.
    pub const MESSAGE_ACCEPTED: Reply = r(250, ec(2, 0, 0), "Message accepted for delivery");
    /// `250 2.0.0` a non-final BDAT chunk was received.
    pub const CHUNK_OK: Reply = r(250, ec(2, 0, 0), "Chunk received");
    /// `354` start mail input (no enhanced code: it is not a completion).
    pub const START_DATA: Reply = r(354, None, "Start mail input; end with <CRLF>.<CRLF>");
    /// `221 2.0.0` closing after QUIT.
    pub const BYE: Reply = r(221, ec(2, 0, 0), "Bye");
    /// `252 2.5.0` VRFY is not answered (RFC 5321 §3.5.3).
    pub const VRFY_REFUSED: Reply = r(
        252,
        ec(2, 5, 0),
        "Cannot VRFY user, but will accept message and attempt delivery",
    );
    /// `502 5.5.1` EXPN is not supported.
    pub const EXPN_REFUSED: Reply = r(502, ec(5, 5, 1), "EXPN not supported");
    /// `214 2.0.0` HELP.
    pub const HELP: Reply = r(214, ec(2, 0, 0), "See RFC 5321, RFC 4954 and RFC 6409");
    /// `500 5.5.1` unrecognised command.
    pub const UNKNOWN_COMMAND: Reply = r(500, ec(5, 5, 1), "Command unrecognized");
    /// `500 5.5.2` syntax error in a command line.
    pub const SYNTAX_ERROR: Reply = r(500, ec(5, 5, 2), "Syntax error");
    /// `501 5.5.4` syntax error in parameters or arguments.
    pub const ARGUMENT_ERROR: Reply =
        r(501, ec(5, 5, 4), "Syntax error in parameters or arguments");
    /// `501 5.1.7` malformed sender address.
    pub const BAD_SENDER_SYNTAX: Reply = r(501, ec(5, 1, 7), "Bad sender address syntax");
    /// `501 5.1.3` malformed recipient address.
    pub const BAD_RECIPIENT_SYNTAX: Reply = r(501, ec(5, 1, 3), "Bad recipient address syntax");
    /// `555 5.5.4` unknown or unsupported MAIL/RCPT parameter (RFC 5321 §4.1.1.11).
    pub const PARAMETER_NOT_IMPLEMENTED: Reply = r(
        555,
        ec(5, 5, 4),
        "MAIL FROM/RCPT TO parameters not recognized or not implemented",
    );
    /// `503 5.5.1` bad sequence of commands.
    pub const BAD_SEQUENCE: Reply = r(503, ec(5, 5, 1), "Bad sequence of commands");
    /// `503 5.5.1` MAIL before EHLO/HELO.
    pub const HELLO_FIRST: Reply = r(503, ec(5, 5, 1), "Send EHLO or HELO first");
    /// `503 5.5.1` MAIL inside a transaction.
    pub const NESTED_MAIL: Reply = r(503, ec(5, 5, 1), "Sender already specified");
    /// `503 5.5.1` RCPT before MAIL.
    pub const MAIL_FIRST: Reply = r(503, ec(5, 5, 1), "Need MAIL command first");
    /// `503 5.5.1` DATA or BDAT without recipients.
    pub const RCPT_FIRST: Reply = r(503, ec(5, 5, 1), "Need RCPT command first");
    /// `503 5.5.1` DATA after BDAT in the same transaction (RFC 3030 §2).
    pub const DATA_AFTER_BDAT: Reply = r(503, ec(5, 5, 1), "DATA not allowed after BDAT");
    /// `554 5.5.1` DATA or BDAT without any accepted recipient.
    pub const NO_VALID_RECIPIENTS: Reply = r(554, ec(5, 5, 1), "No valid recipients");
    /// `503 5.5.1` DATA for a `BODY=BINARYMIME` transaction (RFC 3030 §3).
    pub const BINARYMIME_NEEDS_BDAT: Reply = r(503, ec(5, 5, 1), "BINARYMIME requires BDAT");
    /// `553 5.6.7` a non-ASCII address without `SMTPUTF8` (RFC 6531 §3.5).
    pub const SMTPUTF8_REQUIRED: Reply = r(
        553,
        ec(5, 6, 7),
        "Non-ASCII address requires the SMTPUTF8 parameter",
    );
    /// `452 4.5.3` too many recipients (RFC 5321 §4.5.3.1.10).
    pub const TOO_MANY_RECIPIENTS: Reply = r(452, ec(4, 5, 3), "Too many recipients");
    /// `452 4.5.3` recipient quota of the identity used up (REPLY-25).
    pub const RECIPIENT_QUOTA: Reply = r(
        452,
        ec(4, 5, 3),
        "Recipient quota exceeded, try again later",
    );
    /// `552 5.3.4` declared SIZE exceeds the limit (RFC 1870 §6).
    pub const SIZE_TOO_LARGE: Reply = r(
        552,
        ec(5, 3, 4),
        "Message size exceeds fixed maximum message size",
    );
    /// `550 5.6.11` bare CR or LF in a message body (SMTP smuggling defence).
    pub const BARE_LINE_ENDING: Reply = r(
        550,
        ec(5, 6, 11),
        "Bare CR or LF in message body is not allowed",
    );
    /// `550 5.7.1` relay refused (Relay profile, non-local recipient).
    pub const RELAY_DENIED: Reply = r(550, ec(5, 7, 1), "Relay access denied");
    /// `451 4.3.0` the embedder could not take the message.
    pub const LOCAL_ERROR: Reply = r(451, ec(4, 3, 0), "Local error in processing");
    /// `421 4.4.2` command or data timeout (RFC 5321 §4.5.3.2).
    pub const TIMEOUT: Reply = r(421, ec(4, 4, 2), "Timeout, closing connection");
    /// `421 4.7.0` too many errors in this session.
    pub const TOO_MANY_ERRORS: Reply = r(421, ec(4, 7, 0), "Too many errors, closing connection");
    /// `421 4.7.0` more pipelined input than the session may buffer.
    pub const INPUT_OVERFLOW: Reply = r(
        421,
        ec(4, 7, 0),
        "Too much pipelined input, closing connection",
    );
    /// `554 5.7.0` the embedder refused the connection.
    pub const CONNECTION_REFUSED: Reply = r(554, ec(5, 7, 0), "Connection refused");
    /// `421 4.3.2` the server is shutting down.
    pub const SHUTTING_DOWN: Reply = r(
        421,
        ec(4, 3, 2),
        "Service shutting down, closing connection",
    );

    /// Builds a reply with owned or static text. `text` lines are separated
    /// by `\n`; CR and other control characters are replaced when encoding,
    /// so text can never inject a reply line.
    pub fn new(
        code: u16,
        enhanced: Option<EnhancedCode>,
        text: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// The three-digit reply code.
    pub const fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, if the reply has one.
    pub const fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The reply text; lines are separated by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }

    /// True for 2xx and 3xx replies.
    pub const fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// True for 5xx replies.
    pub const fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the wire form to `out`: one line per text line (wrapped to
    /// 512 octets), every line but the last as `code-`, CRLF endings, the
    /// enhanced code repeated on every line.
    pub fn encode_into(&self, out: &mut impl ReplySink) {
        encode_parts(self.code, self.enhanced, &self.text, out);
    }

    /// The wire form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.text.len() + 16);
        self.encode_into(&mut v);
        v
    }
}

/// [`Reply::encode_into`] for borrowed text, so that a reply whose text
/// lives elsewhere (the configured greeting) is encoded without copying it
/// into a `Reply` first.
pub(crate) fn encode_parts(
    code: u16,
    enhanced: Option<EnhancedCode>,
    text: &str,
    out: &mut impl ReplySink,
) {
    {
        let code = code.min(999);
        let digits = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ];
        let mut enhanced_buf = [0u8; 16];
        let enhanced: &[u8] = match enhanced {
            Some(e) => {
                let n = format_enhanced(e, &mut enhanced_buf);
                &enhanced_buf[..n]
            }
            None => &[],
        };
        // Room per line for text: 512 - code(3) - sep(1) - enhanced+space - CRLF(2).
        let prefix = 4 + if enhanced.is_empty() {
            0
        } else {
            enhanced.len() + 1
        };
        let room = MAX_REPLY_LINE - prefix - 2;
        let mut pieces = Wrapped::new(text, room).peekable();
        while let Some(piece) = pieces.next() {
            out.put(&digits);
            out.put(if pieces.peek().is_some() { b"-" } else { b" " });
            if !enhanced.is_empty() {
                out.put(enhanced);
                out.put(b" ");
            }
            put_sanitized(out, piece.as_bytes());
            out.put(b"\r\n");
        }
    }
}

impl fmt::Display for Reply {
    /// The reply as one line of text, as a log would show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text.replace('\n', " / "))?;
        }
        Ok(())
    }
}

/// Where encoded reply bytes go: a `Vec<u8>` or a `bytes::BytesMut`.
pub trait ReplySink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl ReplySink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl ReplySink for bytes::BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn format_enhanced(e: EnhancedCode, buf: &mut [u8; 16]) -> usize {
    let mut n = 0;
    let push_num = |v: u32, buf: &mut [u8; 16], n: &mut usize| {
        let mut tmp = [0u8; 5];
        let mut len = 0;
        let mut v = v;
        loop {
            tmp[len] = b'0' + (v % 10) as u8;
            len += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in (0..len).rev() {
            buf[*n] = tmp[i];
            *n += 1;
        }
    };
    push_num(u32::from(e.class.min(9)), buf, &mut n);
    buf[n] = b'.';
    n += 1;
    push_num(u32::from(e.subject.min(999)), buf, &mut n);
    buf[n] = b'.';
    n += 1;
    push_num(u32::from(e.detail.min(999)), buf, &mut n);
    n
}

/// Control characters in reply text become spaces: a reply can never carry a
/// CR or LF that would end a line early.
fn put_sanitized(out: &mut impl ReplySink, text: &[u8]) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b < 0x20 || b == 0x7f {
            out.put(&text[start..i]);
            out.put(b" ");
            start = i + 1;
        }
    }
    out.put(&text[start..]);
}

/// Splits text on `\n`, then each line into pieces of at most `room` octets,
/// breaking at a char boundary (at a space when one is near).
struct Wrapped<'a> {
    lines: std::str::Split<'a, char>,
    rest: Option<&'a str>,
    room: usize,
}

impl<'a> Wrapped<'a> {
    fn new(text: &'a str, room: usize) -> Self {
        Self {
            lines: text.split('\n'),
            rest: None,
            room,
        }
    }
}

impl<'a> Iterator for Wrapped<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let line = match self.rest.take() {
            Some(rest) => rest,
            None => self.lines.next()?,
        };
        if line.len() <= self.room {
            return Some(line);
        }
        let mut cut = self.room;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = line[..cut].rfind(' ') {
            if space > self.room / 2 {
                cut = space;
            }
        }
        let (head, tail) = line.split_at(cut);
        self.rest = Some(tail.strip_prefix(' ').unwrap_or(tail));
        Some(head)
    }
}

/// A reply read from the wire, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced code, when every line carries the same one.
    pub enhanced: Option<EnhancedCode>,
    /// The text lines, enhanced code removed.
    pub lines: Vec<String>,
}

/// Why reply bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyParseError {
    /// More bytes are needed to complete the reply.
    #[error("incomplete reply")]
    Incomplete,
    /// A line does not start with a three-digit code and `-` or space.
    #[error("malformed reply line")]
    Malformed,
    /// The lines of a multi-line reply carry different codes.
    #[error("reply lines carry different codes")]
    MixedCodes,
}

impl ParsedReply {
    /// Parses one complete reply from the front of `input`; returns it and
    /// the number of bytes it used.
    pub fn parse(input: &[u8]) -> Result<(ParsedReply, usize), ReplyParseError> {
        let mut pos = 0;
        let mut code = None;
        let mut lines = Vec::new();
        let mut enhanced: Option<Option<EnhancedCode>> = None;
        loop {
            let rest = &input[pos..];
            let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                return Err(ReplyParseError::Incomplete);
            };
            let line = &rest[..end];
            pos += end + 2;
            if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Err(ReplyParseError::Malformed);
            }
            let this_code = line[..3]
                .iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
            if *code.get_or_insert(this_code) != this_code {
                return Err(ReplyParseError::MixedCodes);
            }
            let (last, text) = match line.get(3) {
                None => (true, &[][..]),
                Some(b' ') => (true, &line[4..]),
                Some(b'-') => (false, &line[4..]),
                Some(_) => return Err(ReplyParseError::Malformed),
            };
            let text = String::from_utf8_lossy(text);
            let (line_enhanced, text) = split_enhanced(&text, this_code);
            enhanced = Some(match enhanced {
                None => line_enhanced,
                Some(prev) if prev == line_enhanced => prev,
                Some(_) => None,
            });
            lines.push(text.to_owned());
            if last {
                break;
            }
        }
        Ok((
            ParsedReply {
                code: code.unwrap_or_default(),
                enhanced: enhanced.flatten(),
                lines,
            },
            pos,
        ))
    }

    /// The reply as a [`Reply`], lines joined with `\n`.
    pub fn to_reply(&self) -> Reply {
        Reply::new(self.code, self.enhanced, self.lines.join("\n"))
    }

    /// True for `2xx`, a positive completion (RFC 5321 §4.2.1).
    pub const fn is_completion(&self) -> bool {
        self.code >= 200 && self.code < 300
    }

    /// True for `3xx`, a positive intermediate reply (`334`, `354`).
    pub const fn is_intermediate(&self) -> bool {
        self.code >= 300 && self.code < 400
    }

    /// True for `4xx`, a transient failure: trying later may work.
    pub const fn is_transient(&self) -> bool {
        self.code >= 400 && self.code < 500
    }

    /// True for `5xx`, a permanent failure.
    pub const fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

/// The reply on one line, as a log or a report shows it: `code`, the
/// enhanced code, then the lines joined by ` / `. Server-controlled text:
/// control characters are shown as `?`, so a reply cannot move a terminal's
/// cursor or forge a log line.
impl fmt::Display for ParsedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        for (i, line) in self.lines.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { " / " })?;
            for c in line.chars() {
                if c.is_control() {
                    f.write_str("?")?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

/// Splits a leading `x.y.z ` enhanced code whose class matches the reply code.
fn split_enhanced(text: &str, code: u16) -> (Option<EnhancedCode>, &str) {
    let (head, rest) = match text.find(' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let mut parts = head.split('.');
    // RFC 3463 §2: 1 digit, then 1 to 3 digits twice. Digits only:
    // `str::parse` alone would also take a sign (`+2.8.0`).
    fn digits(part: Option<&str>, max: usize) -> Option<&str> {
        part.filter(|p| (1..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    }
    let parsed = (|| {
        let class: u8 = digits(parts.next(), 1)?.parse().ok()?;
        let subject: u16 = digits(parts.next(), 3)?.parse().ok()?;
        let detail: u16 = digits(parts.next(), 3)?.parse().ok()?;
        if parts.next().is_some() || u16::from(class) != code / 100 || !(2..=5).contains(&class) {
            return None;
        }
        Some(EnhancedCode::new(class, subject, detail))
    })();
    match parsed {
        Some(e) => (Some(e), rest),
        None => (None, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        String::from_utf8(r.to_bytes()).unwrap()
    }

    #[test]
    fn single_line_with_enhanced_code() {
        assert_eq!(
            wire(&Reply::AUTH_SUCCEEDED),
            "235 2.7.0 Authentication successful\r\n"
        );
    }

    #[test]
    fn r5321_4_2_1_multiline_repeats_code_and_enhanced_code() {
        let r = Reply::new(250, Some(EnhancedCode::new(2, 0, 0)), "one\ntwo\nthree");
        assert_eq!(
            wire(&r),
            "250-2.0.0 one\r\n250-2.0.0 two\r\n250 2.0.0 three\r\n"
        );
    }

    #[test]
    fn r4954_4_5_challenge_has_no_enhanced_code() {
        assert_eq!(wire(&Reply::EMPTY_CHALLENGE), "334 \r\n");
        assert_eq!(wire(&Reply::LOGIN_USERNAME), "334 VXNlcm5hbWU6\r\n");
        assert_eq!(wire(&Reply::LOGIN_PASSWORD), "334 UGFzc3dvcmQ6\r\n");
    }

    #[test]
    fn r5321_4_5_3_1_5_long_text_is_wrapped_to_512_octets() {
        let text = "word ".repeat(300);
        let r = Reply::new(
            250,
            Some(EnhancedCode::new(2, 0, 0)),
            text.trim_end().to_owned(),
        );
        let bytes = r.to_bytes();
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        assert!(lines.len() > 1);
        for (i, l) in lines.iter().enumerate() {
            assert!(l.len() <= MAX_REPLY_LINE, "line {i} is {} octets", l.len());
            assert!(l.ends_with(b"\r\n"));
            let sep = if i + 1 == lines.len() { b' ' } else { b'-' };
            assert_eq!(&l[..4], &[b'2', b'5', b'0', sep]);
        }
        let (parsed, used) = ParsedReply::parse(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(parsed.lines.join(" "), text.trim_end());
    }

    #[test]
    fn control_characters_cannot_inject_lines() {
        let r = Reply::new(550, None, "evil\r250 ok\u{0}");
        assert_eq!(wire(&r), "550 evil 250 ok \r\n");
    }

    #[test]
    fn parse_round_trip() {
        let r = Reply::new(250, Some(EnhancedCode::new(2, 1, 0)), "a\nb");
        let bytes = r.to_bytes();
        let (p, used) = ParsedReply::parse(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(p.to_reply(), r);
        assert_eq!(
            ParsedReply::parse(b"250-a\r\n"),
            Err(ReplyParseError::Incomplete)
        );
        assert_eq!(
            ParsedReply::parse(b"250-a\r\n251 b\r\n"),
            Err(ReplyParseError::MixedCodes)
        );
        assert_eq!(
            ParsedReply::parse(b"25x a\r\n"),
            Err(ReplyParseError::Malformed)
        );
        let (p, _) = ParsedReply::parse(b"334 \r\n").unwrap();
        assert_eq!((p.code, p.enhanced, p.lines[0].as_str()), (334, None, ""));
    }

    /// Found by the `reply_roundtrip` fuzz target: `str::parse` took the sign
    /// in `+2.8.0`, so reply text starting with it lost its first word.
    #[test]
    fn r3463_2_enhanced_code_is_digits_only() {
        for text in [
            "+2.8.0 R.Le",
            "2.+8.0 x",
            "2.8.-0 x",
            "2.1000.0 x",
            "22.0.0 x",
            "2..0 x",
        ] {
            let bytes = format!("250 {text}\r\n");
            let (p, _) = ParsedReply::parse(bytes.as_bytes()).unwrap();
            assert_eq!((p.enhanced, p.lines[0].as_str()), (None, text), "{text}");
        }
        let (p, _) = ParsedReply::parse(b"250 2.1.5 ok\r\n").unwrap();
        assert_eq!(p.enhanced, Some(EnhancedCode::new(2, 1, 5)));
        let r = Reply::new(250, None, "+2.8.0 R.Le\n");
        let (p, _) = ParsedReply::parse(&r.to_bytes()).unwrap();
        assert_eq!(p.to_reply(), r);
    }

    /// Every entry of the checklist's REPLY table, byte for byte.
    #[test]
    fn reply_table_01_to_28() {
        let table: &[(&str, &Reply, &str)] = &[
            (
                "REPLY-01",
                &Reply::AUTH_SUCCEEDED,
                "235 2.7.0 Authentication successful",
            ),
            (
                "REPLY-02",
                &Reply::AUTH_INVALID,
                "535 5.7.8 Authentication credentials invalid",
            ),
            (
                "REPLY-04",
                &Reply::AUTH_UNKNOWN_MECHANISM,
                "504 5.5.4 Unrecognized authentication mechanism",
            ),
            (
                "REPLY-05",
                &Reply::AUTH_ENCRYPTION_REQUIRED,
                "504 5.5.4 Encryption required for requested authentication mechanism",
            ),
            (
                "REPLY-06",
                &Reply::STARTTLS_FIRST,
                "530 5.7.0 Must issue a STARTTLS command first",
            ),
            (
                "REPLY-07",
                &Reply::AUTH_ALREADY,
                "503 5.5.1 Already authenticated",
            ),
            (
                "REPLY-08",
                &Reply::AUTH_IN_TRANSACTION,
                "503 5.5.1 AUTH not permitted during a mail transaction",
            ),
            (
                "REPLY-09",
                &Reply::AUTH_EHLO_FIRST,
                "503 5.5.1 Send EHLO first",
            ),
            (
                "REPLY-10",
                &Reply::AUTH_NOT_ENABLED,
                "503 5.5.1 Authentication not enabled",
            ),
            (
                "REPLY-11",
                &Reply::AUTH_SYNTAX,
                "501 5.5.4 Syntax: AUTH mechanism [initial-response]",
            ),
            (
                "REPLY-12",
                &Reply::AUTH_CANCELLED,
                "501 5.7.0 Authentication cancelled",
            ),
            (
                "REPLY-13",
                &Reply::AUTH_BAD_BASE64,
                "501 5.5.2 Invalid base64 data",
            ),
            (
                "REPLY-14",
                &Reply::AUTH_NO_INITIAL_RESPONSE,
                "501 5.7.0 Initial response not allowed for this mechanism",
            ),
            (
                "REPLY-15",
                &Reply::AUTH_LINE_TOO_LONG,
                "500 5.5.6 Authentication exchange line is too long",
            ),
            ("REPLY-16", &Reply::LINE_TOO_LONG, "500 5.5.2 Line too long"),
            (
                "REPLY-17",
                &Reply::AUTH_REQUIRED,
                "530 5.7.0 Authentication required",
            ),
            (
                "REPLY-18",
                &Reply::SENDER_NOT_OWNED,
                "550 5.7.1 Sender address not authorized for this user",
            ),
            (
                "REPLY-19",
                &Reply::AUTH_PARAM_MALFORMED,
                "501 5.5.4 Malformed AUTH= parameter",
            ),
            (
                "REPLY-20",
                &Reply::AUTH_TEMPORARY_FAILURE,
                "454 4.7.0 Temporary authentication failure",
            ),
            (
                "REPLY-22",
                &Reply::AUTH_TOO_MANY_FAILURES,
                "421 4.7.0 Too many authentication failures, closing connection",
            ),
            (
                "REPLY-23",
                &Reply::ACCOUNT_DISABLED,
                "525 5.7.13 User account disabled",
            ),
            (
                "REPLY-24",
                &Reply::AUTH_MECHANISM_TOO_WEAK,
                "534 5.7.9 Authentication mechanism is too weak",
            ),
            (
                "REPLY-24",
                &Reply::PASSWORD_TRANSITION,
                "432 4.7.12 A password transition is needed",
            ),
            (
                "REPLY-25",
                &Reply::RATE_LIMITED,
                "451 4.7.1 Sending rate limit exceeded, try again later",
            ),
            (
                "REPLY-26",
                &Reply::MESSAGE_TOO_LARGE,
                "552 5.3.4 Message size exceeds limit",
            ),
            (
                "REPLY-26",
                &Reply::MESSAGE_REFUSED,
                "550 5.7.1 Message refused by policy",
            ),
            (
                "REPLY-27",
                &Reply::STARTTLS_READY,
                "220 2.0.0 Ready to start TLS",
            ),
            (
                "REPLY-27",
                &Reply::STARTTLS_SYNTAX,
                "501 5.5.4 Syntax: STARTTLS",
            ),
            (
                "REPLY-27",
                &Reply::STARTTLS_UNAVAILABLE,
                "454 4.7.0 TLS not available due to temporary reason",
            ),
            (
                "REPLY-27",
                &Reply::TLS_ALREADY_ACTIVE,
                "503 5.5.1 TLS already active",
            ),
            ("REPLY-28", &Reply::LOGIN_USERNAME, "334 VXNlcm5hbWU6"),
            ("REPLY-28", &Reply::LOGIN_PASSWORD, "334 UGFzc3dvcmQ6"),
            ("REPLY-28", &Reply::EMPTY_CHALLENGE, "334 "),
        ];
        for (id, reply, expected) in table {
            assert_eq!(wire(reply), format!("{expected}\r\n"), "{id}");
            // R3463-2.1: the enhanced class agrees with the code's first digit.
            if let Some(e) = reply.enhanced() {
                assert_eq!(u16::from(e.class), reply.code() / 100, "{id}");
            }
        }
        // REPLY-03 and REPLY-21 reuse REPLY-02 and REPLY-20 by design (ATK-07).
    }
}
