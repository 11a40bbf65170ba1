//! Typed delivery errors, each carrying the enhanced status code and the
//! text Postfix's local(8) would report.
//!
//! The codes follow Postfix's `mbox_dsn()` (`global/mbox_open.c`): EAGAIN
//! and ESTALE (someone else holds the mailbox) are 4.2.0, ENOSPC (mail
//! system full) 4.3.0, EDQUOT and EFBIG (mailbox full, which is also how
//! `mailbox_size_limit` shows) 5.2.2, and anything else the default the
//! caller gives, 5.2.0 for mailbox delivery. A message that cannot be
//! read from the queue is 4.3.0: the queue file is at fault, not the
//! mailbox, and the delivery is tried again.
//!
//! [`DeliveryError`]'s `Display` is the reason alone, as Postfix keeps it
//! in `why->reason` (`error writing message: File too large`);
//! [`DeliveryError::mbox_text`] and [`DeliveryError::maildir_text`] put
//! local(8)'s prefixes in front (`cannot update mailbox /var/mail/bob for
//! user bob. …`, `maildir delivery failed: …`).

use std::fmt;
use std::io;

/// What went wrong, in terms the caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another process holds the mailbox lock (dotlock or kernel lock)
    /// after every attempt, or the mailbox changed under us. Temporary.
    LockBusy,
    /// The file system is full (ENOSPC). Temporary.
    MailSystemFull,
    /// `mailbox_size_limit` would be exceeded, or a quota (EDQUOT, EFBIG).
    /// Permanent (5.2.2).
    MailboxFull,
    /// The mailbox path names a directory, device, FIFO… Permanent.
    NotRegularFile,
    /// The mailbox path is a symbolic link not owned by root. Permanent.
    Symlink,
    /// The mailbox file has more than one hard link. Permanent.
    HardLinks,
    /// The mailbox file is not owned by the recipient
    /// (`strict_mailbox_ownership`). Temporary, as in Postfix.
    NotOwned,
    /// The destination file is executable (delivery to a /file). Permanent.
    Executable,
    /// The message could not be read from its source (queue file). Temporary.
    Source,
    /// Any other system error; temporary or permanent by its errno.
    Io,
}

/// A failed delivery: kind, enhanced status code and reason text.
#[derive(Debug)]
pub struct DeliveryError {
    kind: ErrorKind,
    status: &'static str,
    reason: String,
    source: Option<io::Error>,
}

impl DeliveryError {
    /// An error with an explicit status code and reason.
    pub fn new(kind: ErrorKind, status: &'static str, reason: impl Into<String>) -> Self {
        DeliveryError {
            kind,
            status,
            reason: reason.into(),
            source: None,
        }
    }

    /// An error caused by a system call: the status comes from the errno
    /// as Postfix's `mbox_dsn(errno, def_status)` maps it, the reason is
    /// `what: strerror`.
    pub fn from_io(what: impl fmt::Display, err: io::Error, def_status: &'static str) -> Self {
        let (kind, status) = classify(&err, def_status);
        DeliveryError {
            kind,
            status,
            reason: format!("{what}: {}", strerror(&err)),
            source: Some(err),
        }
    }

    /// Reading the message failed (Postfix: "error reading message: …").
    pub fn source_failed(err: SourceError) -> Self {
        DeliveryError::new(
            ErrorKind::Source,
            "4.3.0",
            format!("error reading message: {}", err.0),
        )
    }

    /// The size limit was reached: Postfix's EFBIG text.
    pub(crate) fn size_limit() -> Self {
        DeliveryError {
            kind: ErrorKind::MailboxFull,
            status: "5.2.2",
            reason: "error writing message: File too large".to_string(),
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The RFC 3463 enhanced status code, e.g. "4.2.0" or "5.2.2".
    pub fn status(&self) -> &'static str {
        self.status
    }

    /// True when the delivery should be tried again later (4.x.x), false
    /// when the message should bounce (5.x.x).
    pub fn is_temporary(&self) -> bool {
        self.status.starts_with('4')
    }

    /// The reason text, without local(8)'s prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The system error behind this one, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }

    /// The text local(8) reports for a failed mbox delivery:
    /// `cannot update mailbox PATH for user USER. REASON`.
    pub fn mbox_text(&self, mailbox: &std::path::Path, user: &str) -> String {
        format!(
            "cannot update mailbox {} for user {}. {}",
            mailbox.display(),
            user,
            self.reason
        )
    }

    /// The text local(8) reports for a failed Maildir delivery:
    /// `maildir delivery failed: REASON`.
    pub fn maildir_text(&self) -> String {
        format!("maildir delivery failed: {}", self.reason)
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a [`crate::MessageSource`] could not produce the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceError {}

impl From<queue::QueueError> for SourceError {
    fn from(e: queue::QueueError) -> Self {
        SourceError(e.to_string())
    }
}

impl From<io::Error> for SourceError {
    fn from(e: io::Error) -> Self {
        SourceError(strerror(&e))
    }
}

/// Postfix's `mbox_dsn()`: the status for an errno, with `def_status` for
/// errors it does not single out.
pub fn mbox_dsn(err: &io::Error, def_status: &'static str) -> &'static str {
    classify(err, def_status).1
}

fn classify(err: &io::Error, def_status: &'static str) -> (ErrorKind, &'static str) {
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ESTALE) => (ErrorKind::LockBusy, "4.2.0"),
        Some(libc::ENOSPC) => (ErrorKind::MailSystemFull, "4.3.0"),
        Some(libc::EDQUOT) | Some(libc::EFBIG) => (ErrorKind::MailboxFull, "5.2.2"),
        _ => (ErrorKind::Io, def_status),
    }
}

pub use util::strerror;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping_is_postfix_mbox_dsn() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(mbox_dsn(&e(libc::EAGAIN), "5.2.0"), "4.2.0");
        assert_eq!(mbox_dsn(&e(libc::ENOSPC), "5.2.0"), "4.3.0");
        assert_eq!(mbox_dsn(&e(libc::EFBIG), "5.2.0"), "5.2.2");
        assert_eq!(mbox_dsn(&e(libc::EDQUOT), "5.2.0"), "5.2.2");
        assert_eq!(mbox_dsn(&e(libc::EACCES), "5.2.0"), "5.2.0");
    }

    #[test]
    fn texts() {
        let err = DeliveryError::from_io(
            "error writing message",
            io::Error::from_raw_os_error(libc::ENOSPC),
            "5.2.0",
        );
        assert_eq!(
            err.reason(),
            "error writing message: No space left on device"
        );
        assert!(err.is_temporary());
        assert_eq!(err.kind(), ErrorKind::MailSystemFull);
        assert_eq!(
            DeliveryError::size_limit().mbox_text(std::path::Path::new("/var/mail/bob"), "bob"),
            "cannot update mailbox /var/mail/bob for user bob. error writing message: File too large"
        );
        assert_eq!(
            DeliveryError::size_limit().maildir_text(),
            "maildir delivery failed: error writing message: File too large"
        );
    }
}
