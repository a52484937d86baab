//! Shared support for the `smtp-auth` fuzz targets: the deterministic
//! responder, the session driver with its invariants, an SMTP alphabet and
//! byte-level edits for near-valid SASL messages.

pub mod alphabet;
pub mod responder;
pub mod session;

use arbitrary::Arbitrary;

/// One edit of a message produced by a correct client, so a target explores
/// the grammar around valid messages rather than random bytes.
#[derive(Arbitrary, Debug, Clone)]
pub enum Edit {
    /// Overwrite the byte at `at` (modulo the length).
    Set(u16, u8),
    /// Insert bytes at `at`.
    Insert(u16, Vec<u8>),
    /// Remove `len` bytes from `at`.
    Remove(u16, u8),
    /// Cut the message to `at` bytes.
    Truncate(u16),
    /// Replace the message.
    Replace(Vec<u8>),
}

/// Applies `edits` to `msg`, in order.
pub fn apply(msg: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits.iter().take(8) {
        match e {
            Edit::Set(at, b) => {
                if !msg.is_empty() {
                    let i = usize::from(*at) % msg.len();
                    msg[i] = *b;
                }
            }
            Edit::Insert(at, bytes) => {
                let i = usize::from(*at) % (msg.len() + 1);
                msg.splice(i..i, bytes.iter().copied());
            }
            Edit::Remove(at, len) => {
                if !msg.is_empty() {
                    let i = usize::from(*at) % msg.len();
                    let end = (i + usize::from(*len).max(1)).min(msg.len());
                    msg.drain(i..end);
                }
            }
            Edit::Truncate(at) => msg.truncate(usize::from(*at)),
            Edit::Replace(bytes) => *msg = bytes.clone(),
        }
    }
}

use smtp_auth::command::{self, Command, ForwardPath, ReversePath};

/// The command grammar on one line: never a panic; an error is a reply in
/// the 5xx range; the AUTH initial response never shows in `Debug`
/// (ATK-11); a parsed path prints to a path that parses back the same.
pub fn check_command(line: &[u8]) {
    match command::parse(line) {
        Err(e) => {
            let reply = e.reply();
            assert!((500..=555).contains(&reply.code()), "{e:?} → {reply:?}");
            let _ = reply.to_bytes();
            let _ = e.to_string();
        }
        Ok(cmd) => {
            let _ = format!("{cmd:?} {}", cmd.verb());
            match &cmd {
                Command::Auth {
                    mechanism,
                    initial_response: Some(ir),
                } => {
                    // The Debug form depends on the initial response's
                    // length only, never on its content.
                    let other = vec![
                        if ir.first() == Some(&b'#') {
                            b'%'
                        } else {
                            b'#'
                        };
                        ir.len()
                    ];
                    let masked = Command::Auth {
                        mechanism,
                        initial_response: Some(&other),
                    };
                    assert_eq!(
                        format!("{cmd:?}"),
                        format!("{masked:?}"),
                        "initial response shows in Debug"
                    );
                }
                Command::Mail {
                    from: ReversePath::Mailbox(m),
                    ..
                } => {
                    let again = format!("MAIL FROM:{}", ReversePath::Mailbox(*m));
                    match command::parse(again.as_bytes()) {
                        Ok(Command::Mail {
                            from: ReversePath::Mailbox(m2),
                            ..
                        }) => assert_eq!(m2.as_str(), m.as_str()),
                        other => panic!("{again:?} does not parse back: {other:?}"),
                    }
                }
                Command::Rcpt {
                    to: ForwardPath::Mailbox(m),
                    ..
                } => {
                    let again = format!("RCPT TO:{}", ForwardPath::Mailbox(*m));
                    match command::parse(again.as_bytes()) {
                        Ok(Command::Rcpt {
                            to: ForwardPath::Mailbox(m2),
                            ..
                        }) => assert_eq!(m2.as_str(), m.as_str()),
                        other => panic!("{again:?} does not parse back: {other:?}"),
                    }
                }
                _ => {}
            }
        }
    }
}

pub mod sasl;
