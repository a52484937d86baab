//! The SMTP command grammar: one command line in, a typed [`Command`] out.
//!
//! Covers RFC 5321 §4.1 (with the RFC 6531 SMTPUTF8 address extensions),
//! `AUTH` (RFC 4954), `STARTTLS` (RFC 3207), `BDAT` (RFC 3030) and the MAIL
//! parameters `SIZE`, `BODY`, `AUTH=` and `SMTPUTF8`. The grammar knows
//! nothing about session state: whether a command is allowed *now* is the
//! session's business.
//!
//! Parsing is zero-copy: a [`Command`] borrows from the line, and nothing is
//! allocated unless an `AUTH=` value has `+XX` escapes to decode. Every
//! failure is a [`CommandError`] whose [`reply`](CommandError::reply) is the
//! reply to send, so bad input is never a panic and never a dropped
//! connection.
//!
//! ```
//! use smtp_auth::command::{parse, Command, ReversePath};
//!
//! let cmd = parse(b"MAIL FROM:<alice@example.org> SIZE=1024").unwrap();
//! let Command::Mail { from: ReversePath::Mailbox(from), params } = cmd else { panic!() };
//! assert_eq!(from.as_str(), "alice@example.org");
//! assert_eq!(params.size, Some(1024));
//!
//! let err = parse(b"MAIL FROM:<alice@>").unwrap_err();
//! assert_eq!(err.reply().code(), 501);
//! ```
//!
//! Leniency, as most servers have it: verbs and keywords in any case,
//! several spaces between tokens, leading spaces, trailing spaces and tabs,
//! and a space after `MAIL FROM:` / `RCPT TO:`. Strictness, for safety:
//! control characters (C0, DEL, C1) anywhere in the line are refused
//! (ATK-04), and so is invalid UTF-8 in any text the caller receives.

use std::fmt;

use nom::bytes::complete::{tag_no_case, take_till, take_while};
use nom::{IResult, Parser};

use crate::reply::Reply;

mod address;
mod params;
pub mod xtext;

pub use address::{
    AddressError, Domain, ForwardPath, Mailbox, ReversePath, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN,
};
pub use params::{
    AuthParam, AuthParamError, Body, MailParams, ParamError, Params, ParamsIter, RcptParams,
    MAX_PARAMS,
};

/// Longest SASL mechanism name (RFC 4422 §3.1).
pub const MAX_MECHANISM_LEN: usize = 20;

/// The command verb alone, cheap to copy into logs, metrics and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verb {
    /// `EHLO`
    Ehlo,
    /// `HELO`
    Helo,
    /// `STARTTLS` (RFC 3207)
    StartTls,
    /// `AUTH` (RFC 4954)
    Auth,
    /// `MAIL`
    Mail,
    /// `RCPT`
    Rcpt,
    /// `DATA`
    Data,
    /// `BDAT` (RFC 3030)
    Bdat,
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `QUIT`
    Quit,
    /// `VRFY`
    Vrfy,
    /// `EXPN`
    Expn,
    /// `HELP`
    Help,
}

impl Verb {
    #[cfg(test)]
    const ALL: [Verb; 14] = [
        Verb::Ehlo,
        Verb::Helo,
        Verb::StartTls,
        Verb::Auth,
        Verb::Mail,
        Verb::Rcpt,
        Verb::Data,
        Verb::Bdat,
        Verb::Rset,
        Verb::Noop,
        Verb::Quit,
        Verb::Vrfy,
        Verb::Expn,
        Verb::Help,
    ];

    /// The verb in upper case, as RFC 5321 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
        }
    }

    /// Recognises a verb in any case (R5321-2.4.1).
    pub fn from_bytes(verb: &[u8]) -> Option<Verb> {
        // Every verb is 4 letters but STARTTLS. For letters, OR 0x20
        // lower-cases exactly, and only the other case of the same letter
        // maps onto a lower-case letter, so the compare is exact.
        match *verb {
            [a, b, c, d] => Some(match u32::from_le_bytes([a, b, c, d]) | 0x2020_2020 {
                x if x == u32::from_le_bytes(*b"ehlo") => Verb::Ehlo,
                x if x == u32::from_le_bytes(*b"helo") => Verb::Helo,
                x if x == u32::from_le_bytes(*b"auth") => Verb::Auth,
                x if x == u32::from_le_bytes(*b"mail") => Verb::Mail,
                x if x == u32::from_le_bytes(*b"rcpt") => Verb::Rcpt,
                x if x == u32::from_le_bytes(*b"data") => Verb::Data,
                x if x == u32::from_le_bytes(*b"bdat") => Verb::Bdat,
                x if x == u32::from_le_bytes(*b"rset") => Verb::Rset,
                x if x == u32::from_le_bytes(*b"noop") => Verb::Noop,
                x if x == u32::from_le_bytes(*b"quit") => Verb::Quit,
                x if x == u32::from_le_bytes(*b"vrfy") => Verb::Vrfy,
                x if x == u32::from_le_bytes(*b"expn") => Verb::Expn,
                x if x == u32::from_le_bytes(*b"help") => Verb::Help,
                _ => return None,
            }),
            _ if verb.eq_ignore_ascii_case(b"STARTTLS") => Some(Verb::StartTls),
            _ => None,
        }
    }
}

/// Writes the upper-case verb.
impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parsed command line, borrowing from it.
///
/// `Debug` redacts the AUTH initial response: it is a credential (ATK-11).
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain` or `EHLO [literal]`; the argument as sent.
    Ehlo {
        /// Domain or address literal, raw text.
        domain: &'a str,
    },
    /// `HELO domain`; the argument as sent.
    Helo {
        /// Domain or address literal, raw text.
        domain: &'a str,
    },
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// Mechanism name as sent (1–20 of `A-Z a-z 0-9 - _`); compare
        /// case-insensitively (R4954-8.1).
        mechanism: &'a str,
        /// The initial response, raw: still base64, or `=` for an empty one
        /// (R4954-4.9). `None` when absent.
        initial_response: Option<&'a [u8]>,
    },
    /// `MAIL FROM:<reverse-path> [params]`.
    Mail {
        /// The sender, or `<>`.
        from: ReversePath<'a>,
        /// ESMTP parameters.
        params: MailParams<'a>,
    },
    /// `RCPT TO:<forward-path> [params]`.
    Rcpt {
        /// The recipient, or `<Postmaster>`.
        to: ForwardPath<'a>,
        /// ESMTP parameters.
        params: RcptParams<'a>,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030 §2).
    Bdat {
        /// Octets of the chunk that follows the line.
        size: u64,
        /// `LAST` was given: this chunk ends the message.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP`; an argument is ignored (RFC 5321 §4.1.1.9).
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy {
        /// The argument as sent.
        argument: &'a str,
    },
    /// `EXPN string`.
    Expn {
        /// The argument as sent.
        argument: &'a str,
    },
    /// `HELP [topic]`.
    Help {
        /// The topic as sent, if any.
        topic: Option<&'a str>,
    },
}

impl Command<'_> {
    /// The verb of this command.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Ehlo { .. } => Verb::Ehlo,
            Command::Helo { .. } => Verb::Helo,
            Command::StartTls => Verb::StartTls,
            Command::Auth { .. } => Verb::Auth,
            Command::Mail { .. } => Verb::Mail,
            Command::Rcpt { .. } => Verb::Rcpt,
            Command::Data => Verb::Data,
            Command::Bdat { .. } => Verb::Bdat,
            Command::Rset => Verb::Rset,
            Command::Noop => Verb::Noop,
            Command::Quit => Verb::Quit,
            Command::Vrfy { .. } => Verb::Vrfy,
            Command::Expn { .. } => Verb::Expn,
            Command::Help { .. } => Verb::Help,
        }
    }
}

/// Like the derived `Debug`, except that the AUTH initial response shows only
/// its length, so that logging a command never logs a password.
impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo { domain } => f.debug_struct("Ehlo").field("domain", domain).finish(),
            Command::Helo { domain } => f.debug_struct("Helo").field("domain", domain).finish(),
            Command::StartTls => f.write_str("StartTls"),
            Command::Auth {
                mechanism,
                initial_response,
            } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field(
                    "initial_response",
                    &initial_response.map(|ir| Redacted(ir.len())),
                )
                .finish(),
            Command::Mail { from, params } => f
                .debug_struct("Mail")
                .field("from", from)
                .field("params", params)
                .finish(),
            Command::Rcpt { to, params } => f
                .debug_struct("Rcpt")
                .field("to", to)
                .field("params", params)
                .finish(),
            Command::Data => f.write_str("Data"),
            Command::Bdat { size, last } => f
                .debug_struct("Bdat")
                .field("size", size)
                .field("last", last)
                .finish(),
            Command::Rset => f.write_str("Rset"),
            Command::Noop => f.write_str("Noop"),
            Command::Quit => f.write_str("Quit"),
            Command::Vrfy { argument } => {
                f.debug_struct("Vrfy").field("argument", argument).finish()
            }
            Command::Expn { argument } => {
                f.debug_struct("Expn").field("argument", argument).finish()
            }
            Command::Help { topic } => f.debug_struct("Help").field("topic", topic).finish(),
        }
    }
}

struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0)
    }
}

/// Why an `AUTH` command line was refused; all answer `501 5.5.4`
/// (REPLY-11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuthSyntaxError {
    /// `AUTH` without a mechanism.
    #[error("missing mechanism")]
    MissingMechanism,
    /// A mechanism name that is not 1–20 of `A-Z a-z 0-9 - _` (RFC 4422 §3.1).
    #[error("invalid mechanism name")]
    InvalidMechanism,
    /// More than a mechanism and an initial response.
    #[error("too many arguments")]
    TooManyArguments,
}

/// Why a command line could not be parsed. Each maps to the reply the
/// session sends ([`CommandError::reply`]); none carries input bytes, so
/// errors are safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// An empty (or all-space) line: `500 5.5.2`.
    #[error("empty command line")]
    Empty,
    /// A verb this crate does not know: `500 5.5.1`.
    #[error("unknown command")]
    UnknownCommand,
    /// A control character (C0 other than a trailing tab, DEL, or C1) in the
    /// line: `500 5.5.2` (ATK-04).
    #[error("control character in command line")]
    ControlCharacter,
    /// A verb that needs an argument got none: `501 5.5.4`.
    #[error("{verb} needs an argument")]
    MissingArgument {
        /// The verb.
        verb: Verb,
    },
    /// A verb that takes no argument got one: `501 5.5.4`, or for STARTTLS
    /// `501 5.5.4 Syntax: STARTTLS` (RFC 3207 §4).
    #[error("{verb} takes no argument")]
    UnexpectedArgument {
        /// The verb.
        verb: Verb,
    },
    /// A malformed argument (`MAIL` without `FROM:`, a bad BDAT size, text
    /// that is not UTF-8): `501 5.5.4`.
    #[error("invalid {verb} argument")]
    InvalidArgument {
        /// The verb.
        verb: Verb,
    },
    /// The EHLO/HELO argument is not a domain or address literal:
    /// `501 5.5.4`.
    #[error("invalid {verb} domain: {error}")]
    InvalidHelloDomain {
        /// `EHLO` or `HELO`.
        verb: Verb,
        /// What is wrong with it.
        error: AddressError,
    },
    /// AUTH syntax: `501 5.5.4 Syntax: AUTH mechanism [initial-response]`.
    #[error("AUTH syntax: {0}")]
    Auth(AuthSyntaxError),
    /// Bad MAIL FROM path: `501 5.1.7`.
    #[error("bad sender address: {0}")]
    Sender(AddressError),
    /// Bad RCPT TO path: `501 5.1.3`.
    #[error("bad recipient address: {0}")]
    Recipient(AddressError),
    /// Bad MAIL/RCPT parameter: see [`ParamError::reply`].
    #[error("bad parameter: {0}")]
    Param(ParamError),
}

impl CommandError {
    /// The reply to send for this error, with its enhanced status code.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Empty | CommandError::ControlCharacter => Reply::SYNTAX_ERROR,
            CommandError::UnknownCommand => Reply::UNKNOWN_COMMAND,
            CommandError::UnexpectedArgument {
                verb: Verb::StartTls,
            } => Reply::STARTTLS_SYNTAX,
            CommandError::MissingArgument { .. }
            | CommandError::UnexpectedArgument { .. }
            | CommandError::InvalidArgument { .. }
            | CommandError::InvalidHelloDomain { .. } => Reply::ARGUMENT_ERROR,
            CommandError::Auth(_) => Reply::AUTH_SYNTAX,
            CommandError::Sender(_) => Reply::BAD_SENDER_SYNTAX,
            CommandError::Recipient(_) => Reply::BAD_RECIPIENT_SYNTAX,
            CommandError::Param(e) => e.reply(),
        }
    }
}

// ---------------------------------------------------------------------------

/// Parses one command line **without** its CRLF.
///
/// Zero-copy: the result borrows from `line`, and nothing is allocated
/// unless an `AUTH=` parameter holds `+XX` escapes. Never panics.
pub fn parse(line: &[u8]) -> Result<Command<'_>, CommandError> {
    let line = trim(line);
    if line.is_empty() {
        return Err(CommandError::Empty);
    }
    if has_control(line) {
        return Err(CommandError::ControlCharacter);
    }
    let (args, verb) = verb_token(line).map_err(|_| CommandError::UnknownCommand)?;
    let verb = Verb::from_bytes(verb).ok_or(CommandError::UnknownCommand)?;
    let args = skip_spaces(args);
    match verb {
        Verb::Ehlo | Verb::Helo => {
            if args.is_empty() {
                return Err(CommandError::MissingArgument { verb });
            }
            let domain = address::hello_domain(args)
                .map_err(|error| CommandError::InvalidHelloDomain { verb, error })?;
            Ok(if verb == Verb::Ehlo {
                Command::Ehlo { domain }
            } else {
                Command::Helo { domain }
            })
        }
        Verb::StartTls => no_argument(verb, args, Command::StartTls),
        Verb::Data => no_argument(verb, args, Command::Data),
        Verb::Rset => no_argument(verb, args, Command::Rset),
        Verb::Quit => no_argument(verb, args, Command::Quit),
        Verb::Noop => Ok(Command::Noop),
        Verb::Auth => auth(args),
        Verb::Mail => {
            let path = path_argument(verb, args, "FROM:")?;
            let (rest, from) = address::reverse_path(path).map_err(CommandError::Sender)?;
            let rest =
                after_path(rest).ok_or(CommandError::Sender(AddressError::TrailingCharacters))?;
            let params = params::mail_params(rest).map_err(CommandError::Param)?;
            Ok(Command::Mail { from, params })
        }
        Verb::Rcpt => {
            let path = path_argument(verb, args, "TO:")?;
            let (rest, to) = address::forward_path(path).map_err(CommandError::Recipient)?;
            let rest = after_path(rest)
                .ok_or(CommandError::Recipient(AddressError::TrailingCharacters))?;
            let params = params::rcpt_params(rest).map_err(CommandError::Param)?;
            Ok(Command::Rcpt { to, params })
        }
        Verb::Bdat => bdat(args),
        Verb::Vrfy | Verb::Expn => {
            if args.is_empty() {
                return Err(CommandError::MissingArgument { verb });
            }
            let argument = text(verb, args)?;
            Ok(if verb == Verb::Vrfy {
                Command::Vrfy { argument }
            } else {
                Command::Expn { argument }
            })
        }
        Verb::Help => {
            let topic = if args.is_empty() {
                None
            } else {
                Some(text(verb, args)?)
            };
            Ok(Command::Help { topic })
        }
    }
}

/// Drops leading spaces and trailing spaces and tabs.
fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    skip_spaces(line)
}

fn skip_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

/// C0 controls, DEL, and C1 controls (UTF-8 `C2 80`–`C2 9F`).
fn has_control(line: &[u8]) -> bool {
    // One branch-free pass (it vectorizes) finds whether any byte could be
    // a control or a C1 lead byte; only then look closer.
    let suspect = line.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    suspect
        && line.iter().enumerate().any(|(i, &b)| {
            b < 0x20
                || b == 0x7f
                || (b == 0xc2 && line.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
        })
}

/// The verb: the bytes up to the first space.
fn verb_token(line: &[u8]) -> IResult<&[u8], &[u8]> {
    take_till(|b| b == b' ')(line)
}

fn no_argument<'a>(verb: Verb, args: &[u8], cmd: Command<'a>) -> Result<Command<'a>, CommandError> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(CommandError::UnexpectedArgument { verb })
    }
}

/// Space-separated tokens (several spaces count as one).
fn tokens(args: &[u8]) -> impl Iterator<Item = &[u8]> {
    args.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

fn text(verb: Verb, args: &[u8]) -> Result<&str, CommandError> {
    std::str::from_utf8(args).map_err(|_| CommandError::InvalidArgument { verb })
}

fn auth(args: &[u8]) -> Result<Command<'_>, CommandError> {
    let mut tokens = tokens(args);
    let mechanism = tokens
        .next()
        .ok_or(CommandError::Auth(AuthSyntaxError::MissingMechanism))?;
    let valid = (1..=MAX_MECHANISM_LEN).contains(&mechanism.len())
        && mechanism
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let mechanism = std::str::from_utf8(mechanism)
        .ok()
        .filter(|_| valid)
        .ok_or(CommandError::Auth(AuthSyntaxError::InvalidMechanism))?;
    let initial_response = tokens.next();
    if tokens.next().is_some() {
        return Err(CommandError::Auth(AuthSyntaxError::TooManyArguments));
    }
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

fn bdat(args: &[u8]) -> Result<Command<'_>, CommandError> {
    let verb = Verb::Bdat;
    let mut tokens = tokens(args);
    let size = tokens
        .next()
        .ok_or(CommandError::MissingArgument { verb })?;
    if !size.iter().all(u8::is_ascii_digit) {
        return Err(CommandError::InvalidArgument { verb });
    }
    let size = size
        .iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(CommandError::InvalidArgument { verb })?;
    let last = match tokens.next() {
        None => false,
        Some(t) if t.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Err(CommandError::InvalidArgument { verb }),
    };
    if tokens.next().is_some() {
        return Err(CommandError::InvalidArgument { verb });
    }
    Ok(Command::Bdat { size, last })
}

/// `FROM:` / `TO:` (any case), then optional spaces (the common
/// `MAIL FROM: <a@b>`), then the path and whatever follows it.
fn path_argument<'a>(verb: Verb, args: &'a [u8], keyword: &str) -> Result<&'a [u8], CommandError> {
    if args.is_empty() {
        return Err(CommandError::MissingArgument { verb });
    }
    let parsed: IResult<&[u8], &[u8]> = tag_no_case(keyword)(args);
    let (rest, _) = parsed.map_err(|_| CommandError::InvalidArgument { verb })?;
    let (rest, _) = take_while::<_, _, nom::error::Error<&[u8]>>(|b| b == b' ')
        .parse(rest)
        .map_err(|_| CommandError::InvalidArgument { verb })?;
    if rest.is_empty() {
        return Err(CommandError::MissingArgument { verb });
    }
    Ok(rest)
}

/// After the closing `>`: nothing, or spaces and parameters.
fn after_path(rest: &[u8]) -> Option<&[u8]> {
    match rest {
        [] => Some(rest),
        [b' ', ..] => Some(skip_spaces(rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5321_2_4_every_verb_in_any_case() {
        for v in Verb::ALL {
            let upper = v.as_str();
            assert_eq!(Verb::from_bytes(upper.as_bytes()), Some(v));
            assert_eq!(
                Verb::from_bytes(upper.to_ascii_lowercase().as_bytes()),
                Some(v)
            );
            let mut mixed = upper.as_bytes().to_vec();
            mixed[1] = mixed[1].to_ascii_lowercase();
            assert_eq!(Verb::from_bytes(&mixed), Some(v));
        }
        for bad in [
            &b""[..],
            b"EHL",
            b"EHLOO",
            b"STARTTL",
            b"STARTTLSX",
            b"\xc3\xa9HLO",
        ] {
            assert_eq!(Verb::from_bytes(bad), None);
        }
    }
}
