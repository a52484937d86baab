//! [`Message`]: an envelope and a body, checked before anything is sent.

use crate::command::Mailbox;

use super::body::encode_body;

/// One message to submit: the envelope (RFC 5321 `MAIL FROM` and
/// `RCPT TO`) and the message itself (headers and body, any line endings).
///
/// The addresses are checked with the same grammar the server side uses,
/// so a CR, LF, space or `>` can never reach a command line.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// The DATA bytes: normalised, dot-stuffed, terminator included.
    pub(crate) wire: Vec<u8>,
    pub(crate) size: u64,
    pub(crate) eight_bit: bool,
    pub(crate) utf8_addresses: bool,
}

/// Why a [`Message`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The sender is not a valid RFC 5321 mailbox (nor empty, the null
    /// reverse-path).
    #[error("invalid sender address")]
    InvalidSender,
    /// A recipient is not a valid RFC 5321 mailbox.
    #[error("invalid recipient address (number {index})")]
    InvalidRecipient {
        /// Its position in the list, from 0.
        index: usize,
    },
    /// No recipients.
    #[error("a message needs at least one recipient")]
    NoRecipients,
}

impl Message {
    /// A message from `from` (empty for the null sender `<>`) to each of
    /// `to`, with `content` as headers and body. Line endings are
    /// normalised to CRLF and leading dots doubled when it is sent.
    pub fn new<I, S>(
        from: impl Into<String>,
        to: I,
        content: impl AsRef<[u8]>,
    ) -> Result<Self, MessageError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let from = from.into();
        if !from.is_empty() && Mailbox::parse(&from).is_err() {
            return Err(MessageError::InvalidSender);
        }
        let to: Vec<String> = to.into_iter().map(Into::into).collect();
        if to.is_empty() {
            return Err(MessageError::NoRecipients);
        }
        for (index, rcpt) in to.iter().enumerate() {
            if Mailbox::parse(rcpt).is_err() {
                return Err(MessageError::InvalidRecipient { index });
            }
        }
        let content = content.as_ref();
        let (wire, size) = encode_body(content);
        Ok(Self {
            utf8_addresses: !from.is_ascii() || to.iter().any(|t| !t.is_ascii()),
            eight_bit: !content.is_ascii(),
            from,
            to,
            wire,
            size,
        })
    }

    /// The envelope sender (empty for `<>`).
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The envelope recipients.
    pub fn to(&self) -> &[String] {
        &self.to
    }

    /// The size `SIZE=` declares: the message with CRLF line endings.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Shows the envelope and the size; message content can be private.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}
