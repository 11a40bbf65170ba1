//! Delivery to a UNIX mbox file, by Postfix local(8)'s rules
//! (`local/mailbox.c`, `local/file.c`, `global/mbox_open.c`,
//! `util/safe_open.c`, `global/mail_copy.c`).
//!
//! 1. Open the file write-only, append-only, non-blocking (a FIFO cannot
//!    hang us) and without following a symlink. A symlink is refused
//!    unless root owns it (Postfix's exception for system files such as
//!    `/dev/null` links); an existing file must have exactly one hard link
//!    and must still be what the path names after opening. A missing file
//!    is created with O_EXCL and mode 0600, as the caller's (recipient's)
//!    uid and gid.
//! 2. A mailbox must be a regular file ("destination … is not a regular
//!    file", 5.2.0); a delivery to a /file may allow other files such as
//!    `/dev/null` ([`MboxOptions::allow_non_regular`]). Optionally the file
//!    must be owned by the recipient (`strict_mailbox_ownership`, 4.2.0).
//! 3. Lock: dotlock, then the kernel locks (see [`crate::lock`]), then
//!    check that nobody replaced or linked the file meanwhile.
//! 4. Append `From SENDER  DATE` (asctime format, two spaces, local time;
//!    `MAILER-DAEMON` for the null sender), the message with `>` before
//!    every line that begins with "From ", a line end if the message lacks
//!    its last one, and an empty line. fsync.
//! 5. On any failure after the first byte, truncate the file back to its
//!    size before the delivery, still under the lock, so the mailbox is
//!    exactly as it was; then report.
//!
//! `mailbox_size_limit` caps the file's size after the append (0: no
//! limit); exceeding it is Postfix's EFBIG, "error writing message: File
//! too large", 5.2.2.
//!
//! The caller must already run as the recipient (seteuid/setegid) so the
//! file is created with the right owner and quotas apply.

use crate::copy::{copy, CopySpec, Fault};
use crate::error::{DeliveryError, ErrorKind};
use crate::lock::{self, KernelLock, LockMethods, LockPolicy};
use crate::source::MessageSource;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// How to deliver to an mbox file.
#[derive(Debug, Clone)]
pub struct MboxOptions {
    /// `mailbox_delivery_lock`.
    pub locks: LockMethods,
    /// `deliver_lock_attempts`, `deliver_lock_delay`, `stale_lock_time`.
    pub lock_policy: LockPolicy,
    /// `mailbox_size_limit`: the most bytes the file may hold after the
    /// delivery; 0 for no limit.
    pub size_limit: u64,
    /// Permission bits for a file this delivery creates (0600).
    pub create_mode: u32,
    /// Carry on with only a warning when the dotlock cannot be created for
    /// a reason other than a lock being held (Postfix does this for /file
    /// deliveries into directories the user cannot write).
    pub dotlock_may_fail: bool,
    /// Deliver to files that are not regular files (/dev/null); they are
    /// neither locked, nor truncated, nor fsync'd. False for mailboxes.
    pub allow_non_regular: bool,
    /// Refuse a regular file with any execute bit ("file is executable",
    /// 5.7.1), as local(8) does for /file deliveries.
    pub refuse_executable: bool,
    /// `strict_mailbox_ownership`: the uid that must own the file.
    pub owner: Option<u32>,
    /// Status for errors opening or locking the file that errno does not
    /// single out (Postfix local: 5.2.0).
    pub def_status: &'static str,
    /// Status for write and fsync errors that errno does not single out.
    /// Postfix's `mail_copy()` says 5.3.0; mailsuite defers (4.3.0) so an
    /// I/O error never loses mail.
    pub write_error_status: &'static str,
    /// Failure injection for tests.
    pub fault: Option<Fault>,
}

impl Default for MboxOptions {
    fn default() -> Self {
        MboxOptions {
            locks: LockMethods::default(),
            lock_policy: LockPolicy::default(),
            size_limit: 51_200_000,
            create_mode: 0o600,
            dotlock_may_fail: false,
            allow_non_regular: false,
            refuse_executable: false,
            owner: None,
            def_status: "5.2.0",
            write_error_status: "4.3.0",
            fault: None,
        }
    }
}

/// A successful mbox delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MboxDelivered {
    /// Where the new message's `From ` line starts (for biff: `user@offset`).
    pub offset: u64,
    /// Bytes appended, `From ` line and trailing empty line included.
    pub size: u64,
}

/// The `From ` line for `sender` at `time`, with its LF:
/// `From sender  Thu Nov 24 18:22:48 1986`. Postfix uses the time of
/// delivery (now) in the local time zone.
pub fn from_line(sender: &str, time: SystemTime) -> String {
    let who = if sender.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        addr::external(sender).into_owned()
    };
    format!("From {who}  {}\n", asctime(time))
}

/// C's `asctime()` without its newline, in local time:
/// "Thu Nov  4 08:02:03 2024".
pub fn asctime(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as libc::time_t,
        Err(e) => -(e.duration().as_secs() as libc::time_t),
    };
    // SAFETY: an all-zero tm is valid; localtime_r fills it and only
    // reads `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return "Thu Jan  1 00:00:00 1970".to_string();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS.get(tm.tm_wday as usize).copied().unwrap_or("???");
    let mon = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    format!(
        "{day} {mon}{:3} {:02}:{:02}:{:02} {}",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        i64::from(tm.tm_year) + 1900
    )
}

fn err(kind: ErrorKind, status: &'static str, reason: impl Into<String>) -> DeliveryError {
    DeliveryError::new(kind, status, reason)
}

/// Checks an opened existing file as Postfix's `safe_open_exist()`.
fn check_existing(
    path: &Path,
    f: &File,
    via_root_symlink: bool,
) -> Result<Metadata, DeliveryError> {
    let st = f
        .metadata()
        .map_err(|e| DeliveryError::from_io("cannot open file", e, "4.2.0"))?;
    if st.nlink() != 1 {
        return Err(err(
            ErrorKind::HardLinks,
            "5.2.0",
            format!("file has {} hard links", st.nlink()),
        ));
    }
    if st.is_dir() {
        return Err(err(
            ErrorKind::NotRegularFile,
            "5.2.0",
            "file is a directory",
        ));
    }
    if via_root_symlink {
        return Ok(st);
    }
    match fs::symlink_metadata(path) {
        Ok(l) if l.dev() == st.dev() && l.ino() == st.ino() && l.nlink() == st.nlink() => Ok(st),
        Ok(_) => Err(err(
            ErrorKind::LockBusy,
            "4.2.0",
            "file status changed unexpectedly",
        )),
        Err(e) => Err(DeliveryError::from_io(
            "file status changed unexpectedly",
            e,
            "4.2.0",
        )),
    }
}

fn open_flags(follow: bool) -> OpenOptions {
    let mut o = OpenOptions::new();
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    o.append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY | nofollow);
    o
}

/// Opens or creates the mailbox as Postfix's `safe_open(O_CREAT)`.
fn safe_open(path: &Path, opts: &MboxOptions) -> Result<(File, Metadata), DeliveryError> {
    for _ in 0..2 {
        match open_flags(false).open(path) {
            Ok(f) => {
                let st = check_existing(path, &f, false)?;
                return Ok((f, st));
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                let l = fs::symlink_metadata(path)
                    .map_err(|e| DeliveryError::from_io("cannot open file", e, opts.def_status))?;
                if !l.file_type().is_symlink() {
                    return Err(DeliveryError::from_io(
                        "cannot open file",
                        e,
                        opts.def_status,
                    ));
                }
                if l.uid() != 0 {
                    return Err(err(ErrorKind::Symlink, "5.2.0", "file is a symbolic link"));
                }
                let f = open_flags(true)
                    .open(path)
                    .map_err(|e| DeliveryError::from_io("cannot open file", e, opts.def_status))?;
                let st = check_existing(path, &f, true)?;
                return Ok((f, st));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut o = open_flags(false);
                o.create_new(true).mode(opts.create_mode);
                match o.open(path) {
                    Ok(f) => {
                        let st = f.metadata().map_err(|e| {
                            DeliveryError::from_io("cannot create file exclusively", e, "4.2.0")
                        })?;
                        return Ok((f, st));
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        return Err(DeliveryError::from_io(
                            "cannot create file exclusively",
                            e,
                            opts.def_status,
                        ))
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                return Err(err(
                    ErrorKind::NotRegularFile,
                    "5.2.0",
                    "file is a directory",
                ))
            }
            Err(e) => {
                return Err(DeliveryError::from_io(
                    "cannot open file",
                    e,
                    opts.def_status,
                ))
            }
        }
    }
    Err(err(
        ErrorKind::LockBusy,
        "4.2.0",
        "file status changed unexpectedly",
    ))
}

fn clear_nonblock(f: &File) {
    let _ = util::fd::set_nonblocking(f.as_raw_fd(), false);
}

/// Appends `message` to the mbox at `path` with a `From ` line for
/// `sender` (the envelope sender, "" for the null sender) dated `time`.
/// See the module documentation for every step and check.
pub fn deliver(
    path: &Path,
    sender: &str,
    time: SystemTime,
    message: &mut dyn MessageSource,
    opts: &MboxOptions,
) -> Result<MboxDelivered, DeliveryError> {
    let (file, st) = safe_open(path, opts)?;
    let regular = st.file_type().is_file();
    if !regular && !opts.allow_non_regular {
        return Err(err(
            ErrorKind::NotRegularFile,
            "5.2.0",
            format!("destination {} is not a regular file", path.display()),
        ));
    }
    if regular && opts.refuse_executable && st.mode() & 0o111 != 0 {
        return Err(err(ErrorKind::Executable, "5.7.1", "file is executable"));
    }
    if let Some(uid) = opts.owner {
        if st.uid() != uid {
            return Err(err(
                ErrorKind::NotOwned,
                "4.2.0",
                format!("destination {} is not owned by recipient", path.display()),
            ));
        }
    }
    if st.file_type().is_fifo() || st.file_type().is_socket() {
        // Writing to these could block or go nowhere useful.
        return Err(err(
            ErrorKind::NotRegularFile,
            "5.2.0",
            format!("destination {} is not a regular file", path.display()),
        ));
    }
    clear_nonblock(&file);

    let mut dotlock = None;
    if regular {
        if opts.locks.dotlock {
            match lock::dotlock(path, &opts.lock_policy) {
                Ok(l) => dotlock = Some(l),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists || !opts.dotlock_may_fail => {
                    return Err(lock::dotlock_error(path, e, opts.def_status))
                }
                Err(e) => {
                    maillog::warning!("{}", lock::dotlock_error(path, e, opts.def_status));
                }
            }
        }
        for (wanted, how) in [
            (opts.locks.flock, KernelLock::Flock),
            (opts.locks.fcntl, KernelLock::Fcntl),
        ] {
            if wanted {
                lock::kernel_lock(&file, how, &opts.lock_policy)
                    .map_err(|e| lock::kernel_lock_error(e, opts.def_status))?;
            }
        }
        // Someone (GNU pop3d, a user) may have replaced or linked the file
        // between our open and our lock.
        let now = file
            .metadata()
            .map_err(|e| DeliveryError::from_io("fstat", e, "4.2.0"))?;
        let same = fs::metadata(path)
            .map(|m| m.dev() == now.dev() && m.ino() == now.ino())
            .unwrap_or(false);
        if now.nlink() != 1 || !same {
            maillog::warning!("{}: file status changed unexpectedly", path.display());
            return Err(err(
                ErrorKind::LockBusy,
                "4.2.0",
                "target file status changed unexpectedly",
            ));
        }
    }

    let orig_len = if regular {
        file.metadata()
            .map_err(|e| DeliveryError::from_io("fstat", e, "4.2.0"))?
            .len()
    } else {
        0
    };
    let budget = match opts.size_limit {
        0 => None,
        limit if regular => Some(limit.saturating_sub(orig_len)),
        _ => None,
    };
    if budget == Some(0) {
        return Err(DeliveryError::size_limit());
    }
    let prefix = from_line(sender, time);
    let spec = CopySpec {
        prefix: prefix.as_bytes(),
        quote_from: true,
        blank_line: true,
        budget,
        def_status: opts.write_error_status,
        fault: opts.fault,
        sync: regular,
    };
    let result = copy(message, &file, &spec);
    let result = match result {
        Ok(c) => Ok(MboxDelivered {
            offset: orig_len,
            size: c.size,
        }),
        Err(e) => {
            if regular {
                if let Err(te) = file.set_len(orig_len) {
                    maillog::warning!(
                        "{}: cannot truncate to {} bytes after failed delivery: {}",
                        path.display(),
                        orig_len,
                        crate::error::strerror(&te)
                    );
                }
            }
            Err(e)
        }
    };
    // The kernel locks go with the descriptor, then the dotlock.
    drop(file);
    drop(dotlock);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn asctime_shape() {
        let s = asctime(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(s.len(), 24, "{s:?}");
        let b = s.as_bytes();
        assert_eq!(
            (b[3], b[7], b[10], b[13], b[16], b[19]),
            (b' ', b' ', b' ', b':', b':', b' ')
        );
    }

    #[test]
    fn from_line_forms() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(from_line("", t).starts_with("From MAILER-DAEMON  "));
        assert!(from_line("a b@example.com", t).starts_with("From \"a b\"@example.com  "));
        assert!(from_line("a@b", t).ends_with('\n'));
    }
}
