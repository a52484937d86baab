//! Errors for embedder misuse. Protocol outcomes are never errors: a wrong
//! password is a `535` reply, a syntax error a `501`.

use crate::question::Answer;

/// An [`Answer`] the session could not take, handed back unchanged
/// (the imap-next habit): answers can never be crossed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct AnswerError {
    kind: AnswerErrorKind,
    answer: Answer,
}

/// Why an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerErrorKind {
    /// No question is open.
    #[error("no question is open")]
    NothingAsked,
    /// The id is not the open question's (stale or from another session).
    #[error("the answer's id is not the open question's")]
    WrongId,
    /// The answer does not fit the open question.
    #[error("the answer does not fit the open question")]
    WrongKind,
}

impl AnswerError {
    pub(crate) fn new(kind: AnswerErrorKind, answer: Answer) -> Self {
        Self { kind, answer }
    }

    /// Why the answer was refused.
    pub fn kind(&self) -> AnswerErrorKind {
        self.kind
    }

    /// The refused answer.
    pub fn into_answer(self) -> Answer {
        self.answer
    }
}
