//! Why a command could not be parsed, and the answer to give.

use std::fmt;

use crate::response::{Code, StatusResponse};

/// What was wrong with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command's text (with its literals, except APPEND's message
    /// data) is longer than [`crate::ParserConfig::max_line_length`]. The
    /// parser drops the rest of the line; Dovecot answers
    /// `* BYE Too long argument.` and disconnects.
    LineTooLong,
    /// The tag is missing, empty, or has characters RFC 3501 forbids
    /// (`+`, `*`, `%`, `(`, `)`, `{`, `"`, `\`, controls, 8-bit).
    BadTag,
    /// A tag and nothing else.
    MissingCommand,
    /// A command this parser does not know ([`CommandError::command`]
    /// holds its name).
    UnknownCommand,
    /// A literal larger than allowed: for APPEND answer `NO [TOOBIG]`.
    LiteralTooBig { size: u64, max: u64 },
    /// A non-synchronising literal (`{n+}`) larger than
    /// [`crate::ParserConfig::max_nonsync_literal`] (LITERAL-, RFC 7888).
    NonSyncLiteralTooBig { size: u64, max: u64 },
    /// A literal whose size is not a number or does not fit in 64 bits.
    BadLiteral,
    /// Invalid arguments; the text says what (Dovecot style, ending in `.`).
    Syntax(String),
    /// The client sent a line other than `DONE` while idling.
    ExpectedDone,
}

/// A command that is not one, with its tag and name where they were read,
/// so the server can answer `TAG BAD ...` (see [`CommandError::response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub tag: Option<String>,
    /// The command name, upper-cased (`UID FETCH` for UID commands).
    pub command: Option<String>,
    pub kind: ErrorKind,
}

impl CommandError {
    pub(crate) fn new(kind: ErrorKind) -> CommandError {
        CommandError {
            tag: None,
            command: None,
            kind,
        }
    }

    /// The text of the error, without prefix.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::LineTooLong => "Too long argument.".into(),
            ErrorKind::BadTag => "Invalid tag.".into(),
            ErrorKind::MissingCommand => "Missing command.".into(),
            ErrorKind::UnknownCommand => "Unknown command.".into(),
            ErrorKind::LiteralTooBig { .. } => "Literal too large.".into(),
            ErrorKind::NonSyncLiteralTooBig { max, .. } => {
                format!("Non-synchronizing literal larger than {max} octets.")
            }
            ErrorKind::BadLiteral => "Invalid literal size.".into(),
            ErrorKind::Syntax(s) => s.clone(),
            ErrorKind::ExpectedDone => "Expected DONE.".into(),
        }
    }

    /// Whether the answer is `NO [TOOBIG]` rather than `BAD` (an APPEND
    /// literal over the limit, RFC 7889).
    pub fn is_too_big(&self) -> bool {
        matches!(self.kind, ErrorKind::LiteralTooBig { .. })
            && self.command.as_deref() == Some("APPEND")
    }

    /// The tagged answer (untagged `*` when no valid tag was read):
    /// `TAG BAD Error in IMAP command NAME: text` as Dovecot's imap writes
    /// it, `TAG BAD Error in IMAP command received by server.` when no
    /// command name was read (Dovecot's imap-login wording), or
    /// `TAG NO [TOOBIG] ...` for an APPEND literal over the limit.
    pub fn response(&self) -> StatusResponse {
        let tag = self.tag.clone();
        if self.is_too_big() {
            return StatusResponse::no(tag, "Mail too large.").with_code(Code::TooBig);
        }
        let text = match (&self.command, &self.kind) {
            (_, ErrorKind::ExpectedDone) => self.message(),
            (_, ErrorKind::LineTooLong) => self.message(),
            (Some(c), _) => format!("Error in IMAP command {c}: {}", self.message()),
            (None, _) => "Error in IMAP command received by server.".into(),
        };
        StatusResponse::bad(tag, text)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.command {
            Some(c) => write!(f, "{c}: {}", self.message()),
            None => f.write_str(&self.message()),
        }
    }
}

impl std::error::Error for CommandError {}
