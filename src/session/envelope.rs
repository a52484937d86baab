//! The mail transaction: MAIL, RCPT, DATA, BDAT and RSET, with the policy
//! questions each of them asks.

use bytes::Bytes;

use crate::command::{AuthParam, Body, ForwardPath, MailParams, Params, RcptParams, ReversePath};
use crate::config::BareLineEndings;
use crate::event::Event;
use crate::question::{Answer, MailFrom, MessageInfo, Question, RcptTo};
use crate::reply::Reply;

use super::data::DotDecoder;
use super::{BdatChunk, DataBody, Misfit, Output, Pending, Phase, Session};

/// An open mail transaction (after an accepted MAIL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Transaction {
    sender: String,
    auth: Option<String>,
    body: Option<Body>,
    smtputf8: bool,
    recipients: Vec<String>,
    /// BDAT was used (DATA is then refused, RFC 3030 §2).
    chunked: bool,
    /// Body octets received so far.
    received: u64,
    /// The body outgrew the size limit; it is read but thrown away.
    too_large: bool,
}

fn owned_params(params: &Params<'_>) -> Vec<(String, Option<String>)> {
    params
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.map(str::to_owned)))
        .collect()
}

impl Session {
    /// `MAIL FROM:<reverse-path> [params]`.
    pub(super) fn mail(&mut self, from: ReversePath<'_>, params: MailParams<'_>) {
        if self.helo.is_none() {
            return self.error(&Reply::HELLO_FIRST);
        }
        if self.needs_auth() && self.trusted == Some(false) {
            // RFC 4954 §6 / RFC 6409 §4: 530 (REPLY-17).
            return self.error(&Reply::AUTH_REQUIRED);
        }
        if self.transaction.is_some() {
            return self.error(&Reply::NESTED_MAIL);
        }
        if params
            .size
            .is_some_and(|s| s > self.config.limits.message_size)
        {
            // RFC 1870 §6: the declared size is over the fixed maximum.
            return self.reply(&Reply::SIZE_TOO_LARGE);
        }
        let sender = match &from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => {
                if !m.is_ascii() && !params.smtputf8 {
                    return self.error(&Reply::SMTPUTF8_REQUIRED);
                }
                m.as_str().to_owned()
            }
        };
        // RFC 4954 §5: an untrusted client's AUTH= counts as <>, and is
        // passed on only for an authenticated session.
        let auth = match (&params.auth, self.authenticated.is_some()) {
            (Some(AuthParam::Null), true) => Some(String::new()),
            (Some(AuthParam::Mailbox(m)), true) => Some(m.to_string()),
            _ => None,
        };
        let mail = MailFrom {
            peer: self.peer,
            identity: self.identity(),
            sender,
            auth,
            size: params.size,
            body: params.body,
            smtputf8: params.smtputf8,
            other: owned_params(&params.other),
        };
        if self.needs_auth() {
            // Not authenticated: only a trusted address may go on.
            self.ask(
                Question::Trust { peer: self.peer },
                Pending::Trust(Box::new(mail)),
            );
        } else {
            self.ask_mail(mail);
        }
    }

    fn ask_mail(&mut self, mail: MailFrom) {
        let tx = Box::new(Transaction {
            sender: mail.sender.clone(),
            auth: mail.auth.clone(),
            body: mail.body,
            smtputf8: mail.smtputf8,
            recipients: Vec::new(),
            chunked: false,
            received: 0,
            too_large: false,
        });
        self.ask(Question::MailFrom(mail), Pending::MailFrom(tx));
    }

    pub(super) fn resume_trust(
        &mut self,
        mail: Box<MailFrom>,
        answer: Answer,
    ) -> Result<(), Misfit> {
        match answer {
            Answer::Allow => {
                self.trusted = Some(true);
                self.ask_mail(*mail);
            }
            Answer::Reply(reply) if reply.is_positive() => {
                self.trusted = Some(true);
                self.ask_mail(*mail);
            }
            Answer::Reply(reply) => {
                self.trusted = Some(false);
                self.error(&reply);
            }
            other => return Err(Box::new((Pending::Trust(mail), other))),
        }
        Ok(())
    }

    pub(super) fn resume_mail(
        &mut self,
        tx: Box<Transaction>,
        answer: Answer,
    ) -> Result<(), Misfit> {
        match answer {
            Answer::Allow => {
                self.transaction = Some(tx);
                self.reply(&Reply::SENDER_OK);
            }
            Answer::Reply(reply) if reply.is_positive() => {
                self.transaction = Some(tx);
                self.reply(&reply);
            }
            Answer::Reply(reply) => {
                self.event(Event::SenderRefused {
                    peer: self.peer,
                    identity: self.identity(),
                    sender: tx.sender,
                    code: reply.code(),
                });
                self.reply(&reply);
            }
            other => return Err(Box::new((Pending::MailFrom(tx), other))),
        }
        Ok(())
    }

    /// `RCPT TO:<forward-path> [params]`.
    pub(super) fn rcpt(&mut self, to: ForwardPath<'_>, params: RcptParams<'_>) {
        if self.needs_auth() {
            return self.error(&Reply::AUTH_REQUIRED);
        }
        let Some(tx) = &self.transaction else {
            return self.error(&Reply::MAIL_FIRST);
        };
        if tx.recipients.len() >= self.config.limits.recipients {
            // RFC 5321 §4.5.3.1.10: 452, and the client goes on with the rest.
            return self.reply(&Reply::TOO_MANY_RECIPIENTS);
        }
        let recipient = match &to {
            ForwardPath::Postmaster => "Postmaster".to_owned(),
            ForwardPath::Mailbox(m) => {
                if !m.is_ascii() && !tx.smtputf8 {
                    return self.error(&Reply::SMTPUTF8_REQUIRED);
                }
                m.as_str().to_owned()
            }
        };
        let question = Question::RcptTo(RcptTo {
            peer: self.peer,
            identity: self.identity(),
            sender: tx.sender.clone(),
            recipient: recipient.clone(),
            accepted: tx.recipients.len(),
            other: owned_params(&params.other),
        });
        self.ask(question, Pending::RcptTo(recipient));
    }

    pub(super) fn resume_rcpt(&mut self, recipient: String, answer: Answer) -> Result<(), Misfit> {
        let reply = match answer {
            Answer::Allow => Reply::RECIPIENT_OK,
            Answer::Reply(reply) => reply,
            other => return Err(Box::new((Pending::RcptTo(recipient), other))),
        };
        if reply.is_positive() {
            if let Some(tx) = &mut self.transaction {
                tx.recipients.push(recipient);
            }
        } else {
            self.event(Event::RecipientRefused {
                peer: self.peer,
                identity: self.identity(),
                recipient,
                code: reply.code(),
            });
        }
        self.reply(&reply);
        Ok(())
    }

    /// The checks DATA and BDAT share; the reply that refuses, if any.
    fn body_refusal(&self) -> Option<Reply> {
        if self.needs_auth() {
            return Some(Reply::AUTH_REQUIRED);
        }
        let Some(tx) = &self.transaction else {
            return Some(Reply::MAIL_FIRST);
        };
        if tx.recipients.is_empty() {
            return Some(Reply::NO_VALID_RECIPIENTS);
        }
        None
    }

    /// `DATA`.
    pub(super) fn data(&mut self) {
        if let Some(reply) = self.body_refusal() {
            return self.error(&reply);
        }
        if let Some(tx) = &self.transaction {
            if tx.chunked {
                return self.error(&Reply::DATA_AFTER_BDAT);
            }
            if tx.body == Some(Body::BinaryMime) {
                // RFC 3030 §3: BINARYMIME bodies come only by BDAT.
                return self.error(&Reply::BINARYMIME_NEEDS_BDAT);
            }
        }
        self.reply(&Reply::START_DATA);
        self.send_now();
        self.phase = Phase::Data(DataBody {
            decoder: DotDecoder::new(),
            too_large: false,
        });
        self.arm_deadline();
    }

    /// Decodes buffered DATA body bytes. Returns false when none are buffered.
    pub(super) fn step_data(&mut self) -> bool {
        let Phase::Data(body) = &mut self.phase else {
            return false;
        };
        let input = self.input.bytes();
        if input.is_empty() {
            return false;
        }
        let was_too_large = body.too_large;
        let before = body.decoder.size();
        // Unstuffing only shrinks: one allocation for the whole piece.
        let mut chunk = if was_too_large {
            Vec::new()
        } else {
            Vec::with_capacity(input.len())
        };
        let decoded = body
            .decoder
            .decode(input, (!was_too_large).then_some(&mut chunk));
        let limit = self.config.limits.message_size;
        if body.decoder.size() > limit {
            body.too_large = true;
            // Exactly the first `limit` octets are handed out before the
            // body is refused, however the input was split.
            let room = limit.saturating_sub(before);
            chunk.truncate(usize::try_from(room).unwrap_or(usize::MAX));
        }
        self.input.consume(decoded.consumed);
        if !was_too_large && !chunk.is_empty() {
            self.queue.push_back(Output::Data(Bytes::from(chunk)));
        }
        if decoded.finished {
            self.end_of_data();
        }
        true
    }

    fn end_of_data(&mut self) {
        let Phase::Data(body) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        self.arm_deadline();
        if body.too_large {
            // RFC 5321 §4.5.3.1.10 / RFC 1870: 552, body consumed.
            return self.refuse_body(Reply::MESSAGE_TOO_LARGE);
        }
        if body.decoder.saw_bare_line_ending()
            && self.config.bare_line_endings == BareLineEndings::Reject
        {
            return self.refuse_body(Reply::BARE_LINE_ENDING);
        }
        if let Some(tx) = &mut self.transaction {
            tx.received = body.decoder.size();
        }
        self.ask_message(body.decoder.size(), false);
    }

    /// The session itself refuses the body it has read.
    fn refuse_body(&mut self, reply: Reply) {
        self.queue.push_back(Output::DiscardData);
        self.transaction = None;
        self.event(Event::MessageRefused {
            peer: self.peer,
            code: reply.code(),
        });
        self.reply(&reply);
    }

    fn ask_message(&mut self, size: u64, chunked: bool) {
        let Some(tx) = &self.transaction else {
            return;
        };
        let question = Question::Message(MessageInfo {
            peer: self.peer,
            identity: self.identity(),
            sender: tx.sender.clone(),
            auth: tx.auth.clone(),
            recipients: tx.recipients.clone(),
            size,
            chunked,
        });
        self.ask(question, Pending::Message);
    }

    pub(super) fn resume_message(&mut self, answer: Answer) -> Result<(), Misfit> {
        let reply = match answer {
            Answer::Allow => Reply::MESSAGE_ACCEPTED,
            Answer::Reply(reply) => reply,
            other => return Err(Box::new((Pending::Message, other))),
        };
        let tx = self.transaction.take();
        if reply.is_positive() {
            self.event(Event::MessageAccepted {
                peer: self.peer,
                identity: self.identity(),
                size: tx.as_ref().map_or(0, |t| t.received),
                recipients: tx.as_ref().map_or(0, |t| t.recipients.len()),
            });
        } else {
            self.event(Event::MessageRefused {
                peer: self.peer,
                code: reply.code(),
            });
        }
        self.reply(&reply);
        Ok(())
    }

    /// `BDAT size [LAST]` (RFC 3030). The chunk is always read, even when
    /// it is refused, so the session stays in step with the client.
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let limit = self.config.limits.message_size;
        let refuse = self.body_refusal();
        if refuse.is_none() {
            if let Some(tx) = &mut self.transaction {
                tx.chunked = true;
                if tx.received.saturating_add(size) > limit {
                    tx.too_large = true;
                }
            }
        }
        self.phase = Phase::Bdat(BdatChunk {
            remaining: size,
            last,
            refuse,
        });
        self.arm_deadline();
    }

    /// Reads buffered BDAT chunk bytes. Returns false when it needs input.
    pub(super) fn step_bdat(&mut self) -> bool {
        let Phase::Bdat(chunk) = &mut self.phase else {
            return false;
        };
        if chunk.remaining > 0 {
            let input = self.input.bytes();
            if input.is_empty() {
                return false;
            }
            let n = usize::try_from(chunk.remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            chunk.remaining -= n as u64;
            let keep = chunk.refuse.is_none();
            if keep {
                if let Some(tx) = &mut self.transaction {
                    tx.received += n as u64;
                    if !tx.too_large {
                        let piece = Bytes::copy_from_slice(&input[..n]);
                        self.queue.push_back(Output::Data(piece));
                    }
                }
            }
            self.input.consume(n);
            if chunk.remaining > 0 {
                return true;
            }
        }
        self.end_of_chunk();
        true
    }

    fn end_of_chunk(&mut self) {
        let Phase::Bdat(chunk) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        self.arm_deadline();
        if let Some(reply) = chunk.refuse {
            return self.error(&reply);
        }
        let (too_large, size) = match &self.transaction {
            Some(tx) => (tx.too_large, tx.received),
            None => return,
        };
        if too_large {
            // RFC 3030 §2: a 5xx to a chunk fails the whole transaction.
            return self.refuse_body(Reply::MESSAGE_TOO_LARGE);
        }
        if chunk.last {
            self.ask_message(size, true);
        } else {
            self.reply(&Reply::CHUNK_OK);
        }
    }

    /// Ends the transaction (RSET, EHLO, HELO); body pieces already handed
    /// out are void.
    pub(super) fn reset_transaction(&mut self) {
        if let Some(tx) = self.transaction.take() {
            if tx.received > 0 {
                self.queue.push_back(Output::DiscardData);
            }
        }
    }

    fn identity(&self) -> Option<String> {
        self.authenticated.as_ref().map(|a| a.identity.clone())
    }
}
