//! What the reading side (Maildir and mbox stores) shares: its error
//! type and message flags.

use crate::error::strerror;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a mailbox could not be read or changed.
#[derive(Debug)]
pub enum StoreError {
    /// A system call failed on `path`.
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A lock (`dovecot-uidlist.lock`, the mbox dotlock or fcntl lock)
    /// stayed held by someone else.
    LockBusy(PathBuf),
    /// A file mailsuite reads had something it cannot use.
    Corrupt { path: PathBuf, reason: String },
    /// The message is gone (expunged by another session).
    Expunged(u32),
    /// The mailbox changed under us in a way that needs a new sync.
    Changed(PathBuf),
    /// There is no message with that number.
    NoSuchMessage(usize),
}

impl StoreError {
    pub(crate) fn io(what: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    /// True for conditions a later retry may clear (a busy lock, a
    /// mailbox that changed, ENOSPC…): POP3's `[IN-USE]`/`[SYS/TEMP]`.
    pub fn is_temporary(&self) -> bool {
        match self {
            StoreError::LockBusy(_) | StoreError::Changed(_) => true,
            StoreError::Io { source, .. } => !matches!(
                source.raw_os_error(),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOTDIR)
            ),
            _ => false,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { what, path, source } => {
                write!(f, "{what} {}: {}", path.display(), strerror(source))
            }
            StoreError::LockBusy(p) => {
                write!(f, "{}: lock is held by another process", p.display())
            }
            StoreError::Corrupt { path, reason } => {
                write!(f, "{}: corrupted: {reason}", path.display())
            }
            StoreError::Expunged(uid) => write!(f, "message UID {uid} has been expunged"),
            StoreError::Changed(p) => write!(f, "{}: mailbox changed unexpectedly", p.display()),
            StoreError::NoSuchMessage(n) => write!(f, "no such message: {n}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The system flags a Maildir file name carries (`:2,DFPRST`) and IMAP
/// knows as `\Draft \Flagged \Answered \Seen \Deleted`, plus `P`
/// (passed, "forwarded").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const DRAFT: Flags = Flags(1);
    pub const FLAGGED: Flags = Flags(2);
    pub const PASSED: Flags = Flags(4);
    pub const REPLIED: Flags = Flags(8);
    pub const SEEN: Flags = Flags(16);
    pub const TRASHED: Flags = Flags(32);
    pub const NONE: Flags = Flags(0);

    const LETTERS: [(u8, Flags); 6] = [
        (b'D', Flags::DRAFT),
        (b'F', Flags::FLAGGED),
        (b'P', Flags::PASSED),
        (b'R', Flags::REPLIED),
        (b'S', Flags::SEEN),
        (b'T', Flags::TRASHED),
    ];

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub fn minus(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// The flag for a Maildir info letter.
    pub fn from_letter(c: u8) -> Option<Flags> {
        Flags::LETTERS
            .iter()
            .find(|(l, _)| *l == c)
            .map(|(_, f)| *f)
    }

    /// The letters in ASCII order, as the Maildir spec wants them.
    pub fn letters(self) -> String {
        self.letter_chars().collect()
    }

    /// [`Self::letters`] one at a time, without allocating.
    pub fn letter_chars(self) -> impl Iterator<Item = char> {
        Flags::LETTERS
            .into_iter()
            .filter(move |(_, f)| self.contains(*f))
            .map(|(l, _)| char::from(l))
    }
}
