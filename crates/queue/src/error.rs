//! The queue's typed errors.

use crate::record::{ReadError, RecordError};
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a queue file is not valid. Every variant names the offset of the
/// record at fault, so a warning can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Broken framing: truncated record, bad or oversized length.
    Record(RecordError),
    /// A type byte mailsuite does not know.
    UnknownType { offset: u64, rtype: u8 },
    /// A known type where it may not appear (wrong segment, or repeated).
    Misplaced {
        offset: u64,
        rtype: u8,
        segment: &'static str,
    },
    /// A payload that does not parse (bad number, not UTF-8, no '=' …).
    BadPayload { offset: u64, rtype: u8, why: String },
    /// A required record is absent.
    Missing { what: &'static str },
    /// DSN/original-recipient records not followed by their recipient.
    Dangling { offset: u64 },
    /// The file ends before the end record.
    NoEnd,
    /// Bytes after the end record.
    TrailingData { offset: u64 },
    /// The size record disagrees with what the file holds.
    SizeMismatch {
        field: &'static str,
        recorded: u64,
        actual: u64,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |b: &u8| {
            if b.is_ascii_graphic() {
                format!("'{}'", char::from(*b))
            } else {
                format!("0x{b:02x}")
            }
        };
        match self {
            FormatError::Record(e) => e.fmt(f),
            FormatError::UnknownType { offset, rtype } => {
                write!(f, "unknown record type {} at offset {offset}", t(rtype))
            }
            FormatError::Misplaced {
                offset,
                rtype,
                segment,
            } => write!(
                f,
                "record type {} not allowed here in the {segment} segment, at offset {offset}",
                t(rtype)
            ),
            FormatError::BadPayload { offset, rtype, why } => {
                write!(f, "bad record type {} at offset {offset}: {why}", t(rtype))
            }
            FormatError::Missing { what } => write!(f, "missing {what} record"),
            FormatError::Dangling { offset } => write!(
                f,
                "recipient attributes without a recipient, at offset {offset}"
            ),
            FormatError::NoEnd => write!(f, "no message end record"),
            FormatError::TrailingData { offset } => {
                write!(f, "data after the message end record, at offset {offset}")
            }
            FormatError::SizeMismatch {
                field,
                recorded,
                actual,
            } => write!(
                f,
                "size record mismatch: {field} is {recorded}, file has {actual}"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// Everything that can go wrong with a queue file.
#[derive(Debug)]
pub enum QueueError {
    /// An I/O error, with what we were doing.
    Io { context: String, source: io::Error },
    /// The file is not a valid queue file.
    Format(FormatError),
    /// A queue ID with characters that cannot be a file name in the queue.
    BadId(String),
    /// A queue name that is not 1-100 letters and digits.
    BadQueueName(String),
    /// A value the writer will not store (NUL byte, too long, '=' in a name…).
    BadValue { what: &'static str, why: String },
    /// `mark_done` found no recipient record at that offset.
    NotARecipient { path: PathBuf, offset: u64 },
    /// A failure injected through `MAILSUITE_FAIL_POINT` (tests).
    Injected(&'static str),
}

impl QueueError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> QueueError {
        QueueError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the file itself is bad (quarantine it), false when the
    /// failure is the system's (try again later).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, QueueError::Format(_))
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Io { context, source } => write!(f, "{context}: {source}"),
            QueueError::Format(e) => e.fmt(f),
            QueueError::BadId(id) => write!(f, "bad mail queue ID: {id}"),
            QueueError::BadQueueName(n) => write!(f, "bad mail queue name: {n}"),
            QueueError::BadValue { what, why } => write!(f, "bad {what}: {why}"),
            QueueError::NotARecipient { path, offset } => write!(
                f,
                "{}: no recipient record at offset {offset}",
                path.display()
            ),
            QueueError::Injected(step) => write!(f, "injected failure at {step}"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Io { source, .. } => Some(source),
            QueueError::Format(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FormatError> for QueueError {
    fn from(e: FormatError) -> QueueError {
        QueueError::Format(e)
    }
}

impl From<ReadError> for QueueError {
    fn from(e: ReadError) -> QueueError {
        match e {
            ReadError::Io(e) => QueueError::io("read queue file", e),
            ReadError::Record(r) => QueueError::Format(FormatError::Record(r)),
        }
    }
}
