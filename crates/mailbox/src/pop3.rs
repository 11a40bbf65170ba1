//! One POP3 session's view of a mailbox, Maildir or mbox (RFC 1939):
//! the messages numbered from 1 as they were at login, their sizes as
//! sent (CRLF), their UIDLs, deletion marks applied only at QUIT
//! ([`Pop3Mailbox::commit`]), so a message delivered during the session
//! is never touched.
//!
//! UIDLs are Dovecot's default `pop3_uidl_format = %08Xu%08Xv`
//! ([`crate::wire::pop3_uidl`]); a Maildir message whose uidlist record
//! carries a `P` extension (a UIDL Dovecot kept from a migration) keeps
//! that one, as Dovecot does.
//!
//! [`SessionLock`] keeps a second session off the same mailbox: an
//! exclusive flock(2) on a lock file, which the kernel drops if the
//! process dies.

use crate::maildir_store::{Maildir, MaildirOpenOptions};
use crate::mbox_store::{Mbox, MboxOpenOptions};
use crate::store::{Flags, StoreError};
use crate::wire::{pop3_uidl, Part, WireReader};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The store behind a session.
#[derive(Debug)]
pub enum Store {
    Maildir(Maildir),
    Mbox(Mbox),
}

/// One message as the session numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Message {
    pub uid: u32,
    /// Octets as RETR sends them (before dot-stuffing).
    pub size: u64,
    pub uidl: String,
    pub deleted: bool,
    /// RETR'd (or TOP'd) in this session: marked \Seen at commit.
    pub retrieved: bool,
}

/// A mailbox opened for a POP3 session.
#[derive(Debug)]
pub struct Pop3Mailbox {
    store: Store,
    msgs: Vec<Pop3Message>,
}

impl Pop3Mailbox {
    /// Opens a Maildir (moving new/ to cur/, assigning UIDs).
    pub fn open_maildir(dir: &Path, opts: MaildirOpenOptions) -> Result<Pop3Mailbox, StoreError> {
        Pop3Mailbox::from_store(Store::Maildir(Maildir::open(dir, opts)?))
    }

    /// Opens an mbox file.
    pub fn open_mbox(path: &Path, opts: MboxOpenOptions) -> Result<Pop3Mailbox, StoreError> {
        Pop3Mailbox::from_store(Store::Mbox(Mbox::open(path, opts)?))
    }

    /// Builds the session's list from an opened store.
    pub fn from_store(mut store: Store) -> Result<Pop3Mailbox, StoreError> {
        let mut msgs = Vec::new();
        match &mut store {
            Store::Maildir(md) => {
                let v = md.uid_validity();
                for i in 0..md.messages().len() {
                    let size = match md.wire_size(i) {
                        Ok(s) => s,
                        // Expunged by another session meanwhile: skip.
                        Err(StoreError::Expunged(_)) => continue,
                        Err(e) => return Err(e),
                    };
                    let Some(m) = md.messages().get(i) else {
                        continue;
                    };
                    let uidl = m
                        .ext('P')
                        .map(str::to_string)
                        .unwrap_or_else(|| pop3_uidl(m.uid, v));
                    msgs.push(Pop3Message {
                        uid: m.uid,
                        size,
                        uidl,
                        deleted: false,
                        retrieved: false,
                    });
                }
            }
            Store::Mbox(mb) => {
                let v = mb.uid_validity();
                for m in mb.messages() {
                    msgs.push(Pop3Message {
                        uid: m.uid,
                        size: m.wire_size,
                        uidl: pop3_uidl(m.uid, v),
                        deleted: false,
                        retrieved: false,
                    });
                }
            }
        }
        Ok(Pop3Mailbox { store, msgs })
    }

    /// Every message, deleted or not, in session order (number = index+1).
    pub fn messages(&self) -> &[Pop3Message] {
        &self.msgs
    }

    /// Message number `n` (from 1) unless out of range or deleted.
    pub fn get(&self, n: usize) -> Option<&Pop3Message> {
        n.checked_sub(1)
            .and_then(|i| self.msgs.get(i))
            .filter(|m| !m.deleted)
    }

    /// STAT: count and total size of the messages not marked deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.msgs
            .iter()
            .filter(|m| !m.deleted)
            .fold((0, 0), |(c, s), m| (c + 1, s + m.size))
    }

    /// DELE n: false when there is no such (undeleted) message.
    pub fn mark_deleted(&mut self, n: usize) -> bool {
        match n.checked_sub(1).and_then(|i| self.msgs.get_mut(i)) {
            Some(m) if !m.deleted => {
                m.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// RSET: unmark every deletion.
    pub fn reset(&mut self) {
        for m in &mut self.msgs {
            m.deleted = false;
        }
    }

    /// RETR n (`Part::Whole`) or TOP n m (`Part::Top(m)`): the message as
    /// CRLF text, not yet dot-stuffed.
    pub fn reader(&mut self, n: usize, part: Part) -> Result<Box<dyn Read + Send>, StoreError> {
        let uid = self.get(n).ok_or(StoreError::NoSuchMessage(n))?.uid;
        if let Some(m) = n.checked_sub(1).and_then(|i| self.msgs.get_mut(i)) {
            m.retrieved |= part == Part::Whole;
        }
        match &mut self.store {
            Store::Maildir(md) => {
                let i = md.position(uid).ok_or(StoreError::Expunged(uid))?;
                let f = md.open_message(i)?;
                Ok(Box::new(WireReader::new(f, part, false)))
            }
            Store::Mbox(mb) => {
                let i = mb.position(uid).ok_or(StoreError::Expunged(uid))?;
                Ok(Box::new(mb.reader(i, part)?))
            }
        }
    }

    /// QUIT in the TRANSACTION state: removes the messages marked deleted
    /// (and, in a Maildir, marks the retrieved ones \Seen as Dovecot
    /// does). Returns how many were removed.
    pub fn commit(self) -> Result<usize, StoreError> {
        self.commit_with(true)
    }

    /// As [`Pop3Mailbox::commit`]; `mark_seen = false` leaves flags alone
    /// (Dovecot's pop3_no_flag_updates).
    pub fn commit_with(mut self, mark_seen: bool) -> Result<usize, StoreError> {
        let deleted: Vec<u32> = self
            .msgs
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect();
        match &mut self.store {
            Store::Maildir(md) => {
                let seen = self
                    .msgs
                    .iter()
                    .filter(|m| mark_seen && m.retrieved && !m.deleted);
                for m in seen {
                    if let Some(i) = md.position(m.uid) {
                        match md.change_flags(i, Flags::SEEN, Flags::NONE) {
                            Ok(()) | Err(StoreError::Expunged(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                md.expunge_uids(&deleted)?;
                // IMAP's mod-sequences move on for these changes too.
                md.commit_modseqs();
            }
            Store::Mbox(mb) => mb.expunge_uids(&deleted)?,
        }
        Ok(deleted.len())
    }

    /// The store, for callers that need more.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// An exclusive per-mailbox session lock (flock on a lock file).
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    /// The lock file Maildir sessions use: `DIR/mailsuite-pop3.lock`.
    pub fn maildir_path(dir: &Path) -> PathBuf {
        dir.join("mailsuite-pop3.lock")
    }

    /// Takes the lock on `path` (created 0600 if missing) without waiting;
    /// [`StoreError::LockBusy`] when another session holds it.
    pub fn acquire(path: &Path) -> Result<SessionLock, StoreError> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| StoreError::io("open", path, e))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(StoreError::LockBusy(path.to_path_buf()));
            }
            return Err(StoreError::io("lock", path, e));
        }
        Ok(SessionLock {
            _file: f,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
