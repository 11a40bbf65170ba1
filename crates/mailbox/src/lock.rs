//! mbox locking as Postfix does it (`global/dot_lockfile.c`,
//! `global/deliver_flock.c`, `global/mbox_open.c`), so that Postfix,
//! Dovecot, mutt and s-nail working on the same file all respect it.
//!
//! * **dotlock**: `PATH.lock` created with O_CREAT|O_EXCL (which never
//!   follows a symlink) and mode 0, tried `deliver_lock_attempts` times
//!   `deliver_lock_delay` apart; a lock file whose ctime is older than
//!   `stale_lock_time` is removed as stale.
//! * **fcntl**: an exclusive write lock on the whole file, tried the same
//!   number of times. On Linux it is an open file description lock
//!   (F_OFD_SETLK), which conflicts with the classic POSIX locks other
//!   programs take and, unlike them, also excludes other threads of this
//!   process.
//! * **flock**: an exclusive flock(2), tried likewise.
//!
//! `mailbox_delivery_lock` names the set ([`LockMethods::parse`]); Debian's
//! Postfix uses "fcntl, dotlock".
//!
//! And Dovecot's way of replacing a small control file
//! (`dovecot-uidlist`, `dovecot-keywords`, `subscriptions`, our modseqs):
//! `ReplaceLock` takes `NAME.lock` with O_EXCL, the new contents are
//! written into it and it is renamed over `NAME`.

use crate::error::{strerror, DeliveryError, ErrorKind};
use crate::store::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which locks to take, as `mailbox_delivery_lock` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockMethods {
    pub dotlock: bool,
    pub fcntl: bool,
    pub flock: bool,
}

impl Default for LockMethods {
    /// "fcntl, dotlock", Debian's `mailbox_delivery_lock`.
    fn default() -> Self {
        LockMethods {
            dotlock: true,
            fcntl: true,
            flock: false,
        }
    }
}

impl LockMethods {
    /// No locking at all.
    pub const NONE: LockMethods = LockMethods {
        dotlock: false,
        fcntl: false,
        flock: false,
    };

    /// Parses a `mailbox_delivery_lock` value ("fcntl, dotlock"; commas
    /// and/or spaces between names). An unknown name is an error naming it.
    pub fn parse(value: &str) -> Result<LockMethods, String> {
        let mut m = LockMethods::NONE;
        for name in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            match name {
                "dotlock" => m.dotlock = true,
                "fcntl" => m.fcntl = true,
                "flock" => m.flock = true,
                other => return Err(format!("unknown mailbox lock method: {other}")),
            }
        }
        Ok(m)
    }
}

/// How hard to try for a lock (`deliver_lock_attempts`,
/// `deliver_lock_delay`, `stale_lock_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPolicy {
    pub attempts: u32,
    pub delay: Duration,
    pub stale_after: Duration,
}

impl Default for LockPolicy {
    /// Postfix's defaults: 20 attempts, 1s apart, stale after 500s.
    fn default() -> Self {
        LockPolicy {
            attempts: 20,
            delay: Duration::from_secs(1),
            stale_after: Duration::from_secs(500),
        }
    }
}

/// The name of `path`'s dotlock file: `path` with ".lock" appended.
pub fn dotlock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// A held dotlock; dropping it removes the lock file.
#[derive(Debug)]
pub struct DotLock {
    path: PathBuf,
}

impl DotLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `path.lock` exclusively, as Postfix's `dot_lockfile()`. Fails
/// with EEXIST when a fresh lock is still there after every attempt; other
/// errors (EACCES…) end the attempts at once.
pub fn dotlock(path: &Path, policy: &LockPolicy) -> io::Result<DotLock> {
    let lock = dotlock_path(path);
    let mut count = 1u32;
    loop {
        let err = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&lock)
        {
            Ok(_) => return Ok(DotLock { path: lock }),
            Err(e) => e,
        };
        if count >= policy.attempts.max(1) || err.kind() != io::ErrorKind::AlreadyExists {
            return Err(err);
        }
        if let Ok(md) = fs::symlink_metadata(&lock) {
            let ctime = UNIX_EPOCH
                + Duration::new(
                    u64::try_from(md.ctime()).unwrap_or(0),
                    u32::try_from(md.ctime_nsec()).unwrap_or(0),
                );
            if SystemTime::now() > ctime + policy.stale_after {
                match fs::remove_file(&lock) {
                    Ok(()) => {
                        maillog::warning!("{}: removed stale lock file", lock.display());
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => return Err(err),
                }
            }
        }
        std::thread::sleep(policy.delay);
        count += 1;
    }
}

/// Which kernel lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLock {
    Fcntl,
    Flock,
}

fn try_kernel_lock(fd: RawFd, how: KernelLock) -> io::Result<()> {
    let rc = match how {
        KernelLock::Flock => {
            // SAFETY: flock on a descriptor we own; no memory is passed.
            unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }
        }
        KernelLock::Fcntl => {
            // SAFETY: zeroed flock is a valid value for every field.
            let mut fl: libc::flock = unsafe { std::mem::zeroed() };
            fl.l_type = libc::F_WRLCK as _;
            fl.l_whence = libc::SEEK_SET as _;
            fl.l_start = 0;
            fl.l_len = 0;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let cmd = libc::F_OFD_SETLK;
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let cmd = libc::F_SETLK;
            // SAFETY: fl lives across the call and matches the command.
            unsafe { libc::fcntl(fd, cmd, &fl) }
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Takes an exclusive kernel lock on `fd`, as Postfix's `deliver_flock()`:
/// up to `policy.attempts` non-blocking tries, `policy.delay` apart. The
/// lock goes when the file is closed.
pub fn kernel_lock(fd: &impl AsRawFd, how: KernelLock, policy: &LockPolicy) -> io::Result<()> {
    let mut i = 0u32;
    loop {
        match try_kernel_lock(fd.as_raw_fd(), how) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let busy = matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN) | Some(libc::EACCES) | Some(libc::EINTR)
                );
                i += 1;
                if !busy || i >= policy.attempts.max(1) {
                    return Err(e);
                }
            }
        }
        std::thread::sleep(policy.delay);
    }
}

/// The error for a kernel lock that could not be had, with Postfix's text.
pub(crate) fn kernel_lock_error(e: io::Error, def_status: &'static str) -> DeliveryError {
    if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
        // EACCES is what some systems return for a held fcntl lock.
        let e = io::Error::from_raw_os_error(libc::EAGAIN);
        return DeliveryError::new(
            ErrorKind::LockBusy,
            "4.2.0",
            format!("unable to lock for exclusive access: {}", strerror(&e)),
        );
    }
    DeliveryError::from_io("unable to lock for exclusive access", e, def_status)
}

/// The error for a dotlock that could not be created.
pub(crate) fn dotlock_error(path: &Path, e: io::Error, def_status: &'static str) -> DeliveryError {
    let what = format!(
        "unable to create lock file {}",
        dotlock_path(path).display()
    );
    if e.kind() == io::ErrorKind::AlreadyExists {
        return DeliveryError::new(
            ErrorKind::LockBusy,
            "4.2.0",
            format!("{what}: {}", strerror(&e)),
        );
    }
    DeliveryError::from_io(what, e, def_status)
}

/// A file replaced under a dotlock: `NAME.lock` is created with O_EXCL
/// (the lock), the new contents are written into it, fsync'd, and it is
/// renamed over `NAME`. Dropped uncommitted, the lock file is removed.
pub(crate) struct ReplaceLock {
    lock: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl ReplaceLock {
    /// Takes `target.lock`, retrying up to `timeout`; a lock not touched
    /// for `stale` is removed.
    pub(crate) fn acquire(
        target: &Path,
        timeout: Duration,
        stale: Duration,
    ) -> Result<ReplaceLock, StoreError> {
        let mut lock = target.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let start = Instant::now();
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&lock)
            {
                Ok(f) => {
                    return Ok(ReplaceLock {
                        lock,
                        target: target.to_path_buf(),
                        file: Some(f),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let is_stale = fs::symlink_metadata(&lock)
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > stale);
                    if is_stale {
                        maillog::warning!("{}: removed stale lock file", lock.display());
                        let _ = fs::remove_file(&lock);
                        continue;
                    }
                    if start.elapsed() >= timeout {
                        return Err(StoreError::LockBusy(lock));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(StoreError::io("create", &lock, e)),
            }
        }
    }

    /// Writes `data`, fsyncs, renames over the target (releasing the lock).
    pub(crate) fn commit(self, data: &[u8]) -> Result<(), StoreError> {
        self.commit_with(data, true)
    }

    /// [`Self::commit`], fsyncing first only when `sync`.
    pub(crate) fn commit_with(mut self, data: &[u8], sync: bool) -> Result<(), StoreError> {
        let Some(mut f) = self.file.take() else {
            return Err(StoreError::Changed(self.lock.clone()));
        };
        let res = f
            .write_all(data)
            .and_then(|()| if sync { f.sync_all() } else { Ok(()) })
            .map_err(|e| StoreError::io("write", &self.lock, e))
            .and_then(|()| {
                fs::rename(&self.lock, &self.target)
                    .map_err(|e| StoreError::io("rename", &self.lock, e))
            });
        if res.is_err() {
            let _ = fs::remove_file(&self.lock);
        }
        res
    }
}

impl Drop for ReplaceLock {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_methods() {
        assert_eq!(
            LockMethods::parse("fcntl, dotlock"),
            Ok(LockMethods::default())
        );
        assert_eq!(
            LockMethods::parse("flock"),
            Ok(LockMethods {
                dotlock: false,
                fcntl: false,
                flock: true
            })
        );
        assert_eq!(LockMethods::parse(""), Ok(LockMethods::NONE));
        assert!(LockMethods::parse("fcntl,lockf").is_err());
    }

    #[test]
    fn lock_path() {
        assert_eq!(
            dotlock_path(Path::new("/var/mail/bob")),
            PathBuf::from("/var/mail/bob.lock")
        );
    }
}
