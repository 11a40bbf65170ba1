//! Dovecot's `dovecot-uidlist`, read and written byte-compatibly, so UIDs
//! and UIDVALIDITY survive moving a Maildir between Dovecot and
//! mailsuite in either direction.
//!
//! Version 3 (what Dovecot 2.x writes):
//!
//! ```text
//! 3 V1700000000 N4 G2b7e1c5e0bd6a16527a20000b2a3c1d0
//! 1 :1700000000.M1P2Q1.host,S=120,W=124
//! 3 W2425 P0a1b :1700000002.M5P6Q1.host,S=2365
//! ```
//!
//! The header is the version, then fields each led by a key letter:
//! `V` UIDVALIDITY, `N` next UID, `G` the mailbox GUID (others kept as
//! they are). A record is the UID, optional extensions each led by a key
//! letter (`W` virtual size, `S` size, `G` message GUID, `P` POP3 UIDL,
//! `O` POP3 order), then ` :` and the file's base name (the name without
//! its `:2,` info). Versions 1 (`1 UIDVALIDITY NEXTUID`, records `UID
//! NAME`) and 2 are read too; version 3 is always written.
//!
//! Writing is Dovecot's: create `dovecot-uidlist.lock` with O_EXCL (that
//! is the lock; a lock untouched for two minutes is stale), write the new
//! list into it, fsync, and rename it over `dovecot-uidlist`. Readers
//! never lock: they see the old file or the new one.

use crate::store::StoreError;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The file name.
pub const UIDLIST: &str = "dovecot-uidlist";
/// The lock (and temporary) file name.
pub const UIDLIST_LOCK: &str = "dovecot-uidlist.lock";
/// Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// One message's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRecord {
    pub uid: u32,
    /// Extensions as written, key letter first (`W2425`, `Pxyz`).
    pub ext: Vec<String>,
    /// The base file name (before `:2,`).
    pub name: String,
}

impl UidRecord {
    /// The value of extension `key` (`'P'` → the POP3 UIDL).
    pub fn ext(&self, key: char) -> Option<&str> {
        self.ext.iter().find_map(|e| e.strip_prefix(key))
    }
}

/// A whole `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidList {
    pub uid_validity: u32,
    pub next_uid: u32,
    /// The mailbox GUID (32 hex digits), if any.
    pub guid: Option<String>,
    /// Other header fields, key letter first, kept as read.
    pub header_ext: Vec<String>,
    /// Records in ascending UID order.
    pub records: Vec<UidRecord>,
}

fn corrupt(path: &Path, line: usize, what: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("line {line}: {what}"),
    }
}

impl UidList {
    /// A new, empty list with UIDVALIDITY from the clock (as Dovecot) and
    /// a random GUID.
    pub fn new() -> UidList {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        UidList {
            uid_validity: u32::try_from(now).unwrap_or(1).max(1),
            next_uid: 1,
            guid: Some(new_guid()),
            header_ext: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Parses the file's contents; `path` only names it in errors.
    pub fn parse(data: &[u8], path: &Path) -> Result<UidList, StoreError> {
        let text = std::str::from_utf8(data).map_err(|_| corrupt(path, 1, "not UTF-8"))?;
        let mut lines = text.lines();
        let header = lines.next().ok_or_else(|| corrupt(path, 1, "empty file"))?;
        let mut words = header.split_ascii_whitespace();
        let version: u32 = words
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(path, 1, "no version"))?;
        let mut list = UidList {
            uid_validity: 0,
            next_uid: 1,
            guid: None,
            header_ext: Vec::new(),
            records: Vec::new(),
        };
        let num = |w: Option<&str>| -> Result<u32, StoreError> {
            w.and_then(|v| v.parse().ok())
                .ok_or_else(|| corrupt(path, 1, "bad number in header"))
        };
        match version {
            1 => {
                list.uid_validity = num(words.next())?;
                list.next_uid = num(words.next())?;
            }
            2 | 3 => {
                for w in words {
                    let mut c = w.chars();
                    match c.next() {
                        Some('V') => list.uid_validity = num(Some(c.as_str()))?,
                        Some('N') => list.next_uid = num(Some(c.as_str()))?,
                        Some('G') => list.guid = Some(c.as_str().to_string()),
                        _ => list.header_ext.push(w.to_string()),
                    }
                }
            }
            v => return Err(corrupt(path, 1, &format!("unsupported version {v}"))),
        }
        if list.uid_validity == 0 {
            return Err(corrupt(path, 1, "no UIDVALIDITY"));
        }
        let mut last = 0u32;
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            if line.is_empty() {
                continue;
            }
            let (uid, rest) = line
                .split_once(' ')
                .ok_or_else(|| corrupt(path, n, "no file name"))?;
            let uid: u32 = uid.parse().map_err(|_| corrupt(path, n, "bad UID"))?;
            if uid == 0 || uid <= last {
                return Err(corrupt(path, n, "UIDs not ascending"));
            }
            last = uid;
            let (ext, name) = if version == 1 {
                (Vec::new(), rest)
            } else if let Some(name) = rest.strip_prefix(':') {
                (Vec::new(), name)
            } else if let Some(i) = rest.find(" :") {
                (
                    rest[..i]
                        .split_ascii_whitespace()
                        .map(String::from)
                        .collect(),
                    &rest[i + 2..],
                )
            } else {
                // Version 2 without extensions wrote the bare name.
                (Vec::new(), rest)
            };
            if name.is_empty() || name.contains('/') {
                return Err(corrupt(path, n, "bad file name"));
            }
            list.records.push(UidRecord {
                uid,
                ext,
                name: name.to_string(),
            });
        }
        if list.next_uid <= last {
            list.next_uid = last.saturating_add(1);
        }
        Ok(list)
    }

    /// Reads `dir/dovecot-uidlist`; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<UidList>, StoreError> {
        let path = dir.join(UIDLIST);
        match fs::read(&path) {
            Ok(data) => UidList::parse(&data, &path).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    /// The file's contents in version 3.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("3 V{} N{}", self.uid_validity, self.next_uid);
        if let Some(g) = &self.guid {
            s.push_str(" G");
            s.push_str(g);
        }
        for e in &self.header_ext {
            s.push(' ');
            s.push_str(e);
        }
        s.push('\n');
        s.reserve(self.records.iter().map(|r| r.name.len() + 16).sum());
        for r in &self.records {
            let _ = write!(s, "{}", r.uid);
            for e in &r.ext {
                s.push(' ');
                s.push_str(e);
            }
            s.push_str(" :");
            s.push_str(&r.name);
            s.push('\n');
        }
        s.into_bytes()
    }

    /// The record for base name `name`.
    pub fn find(&self, name: &str) -> Option<&UidRecord> {
        self.records.iter().find(|r| r.name == name)
    }
}

impl Default for UidList {
    fn default() -> Self {
        UidList::new()
    }
}

/// 32 hex digits from the kernel's random source (time and pid if it
/// cannot be read).
pub fn new_guid() -> String {
    util::random::hex::<16>()
}

/// A held `dovecot-uidlist.lock`. [`Self::commit`] writes the new list
/// and renames it into place (which also releases the lock); dropping
/// it uncommitted removes the lock file.
pub struct UidListLock {
    dir: PathBuf,
    lock: crate::lock::ReplaceLock,
}

impl std::fmt::Debug for UidListLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UidListLock")
            .field("dir", &self.dir)
            .finish()
    }
}

impl UidListLock {
    /// Takes the lock in `dir`, retrying every 10 ms up to `timeout`; a
    /// lock file not modified for [`STALE_AFTER`] is removed.
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<UidListLock, StoreError> {
        Ok(UidListLock {
            dir: dir.to_path_buf(),
            lock: crate::lock::ReplaceLock::acquire(&dir.join(UIDLIST), timeout, STALE_AFTER)?,
        })
    }

    /// Writes `list` into the lock file, fsyncs it, renames it to
    /// `dovecot-uidlist` and fsyncs the directory.
    pub fn commit(self, list: &UidList) -> Result<(), StoreError> {
        self.lock.commit(&list.to_bytes())?;
        util::safe_file::sync_dir(&self.dir).map_err(|e| StoreError::io("fsync", &self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_round_trip_and_v1() {
        let p = Path::new("x");
        let text = "3 V1276528579 N14 G3085f01b7f11094c501100008c4a11c1\n\
                    12 :1276528579.M983337P28004.mail,S=3227,W=3293\n\
                    13 W2425 P0000000d4c1a :1276528580.M1P2.mail,S=2365\n";
        let l = UidList::parse(text.as_bytes(), p).expect("parse");
        assert_eq!((l.uid_validity, l.next_uid), (1276528579, 14));
        assert_eq!(l.records[1].ext('W'), Some("2425"));
        assert_eq!(l.records[1].ext('P'), Some("0000000d4c1a"));
        assert_eq!(l.to_bytes(), text.as_bytes());
        let l1 = UidList::parse(b"1 1133215464 5\n1 a.b.c\n3 d.e.f\n", p).expect("v1");
        assert_eq!(l1.records[1].uid, 3);
        assert_eq!(l1.records[1].name, "d.e.f");
        for bad in [
            &b""[..],
            b"x\n",
            b"3 N4\n",
            b"3 V1 N4\n2 :a\n1 :b\n",
            b"3 V1 N4\nz :a\n",
            b"9 V1\n",
            b"3 V1 N2\n1 :a/b\n",
        ] {
            assert!(UidList::parse(bad, p).is_err(), "{bad:?}");
        }
        // next_uid never below the last UID + 1.
        let l = UidList::parse(b"3 V1 N2\n7 :a\n", p).expect("parse");
        assert_eq!(l.next_uid, 8);
    }
}
