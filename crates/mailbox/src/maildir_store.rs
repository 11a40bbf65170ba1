//! Reading a Maildir as Dovecot does: messages in `new/` and `cur/`, UIDs
//! from `dovecot-uidlist` ([`crate::uidlist`]), flags in the `:2,` info.
//!
//! Opening (and [`Maildir::sync`]) without `read_only` moves every file
//! in `new/` to `cur/NAME:2,` as Dovecot does when a session opens the
//! mailbox, then lists `cur/`; a file that another session moved first
//! is simply found in `cur/`, and one delivered during the scan is seen
//! by the next sync. Files without a UID get the next UIDs, in name
//! order, under `dovecot-uidlist.lock`; the uidlist is read again under
//! the lock so two sessions never hand out the same UID. Records whose
//! file is missing from two listings (one under the lock) are dropped.
//!
//! File names: `BASE[:2,FLAGS]`, where BASE may carry `,S=SIZE` (bytes)
//! and `,W=VSIZE` (bytes with CRLF line ends). FLAGS are the letters
//! `DFPRST` (system flags, ASCII order) and `a`–`z` (Dovecot keywords,
//! kept as they are).

use crate::modseq::{info_key, ModSeqs, MODSEQ_FILE};
use crate::store::{Flags, StoreError};
use crate::uidlist::{UidList, UidListLock, UidRecord};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The listing saved for the next session, in the control directory
/// (beside dovecot-uidlist; Dovecot ignores it).
pub const INDEX_FILE: &str = "mailsuite-maildir.index";
const INDEX_MAGIC: &str = "mailsuite-maildir-index 1";

/// The parts of a Maildir file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// Everything before the info separator ':'.
    pub base: String,
    /// `S=` from the base.
    pub size: Option<u64>,
    /// `W=` from the base.
    pub vsize: Option<u64>,
    /// System flags from `:2,`.
    pub flags: Flags,
    /// Other letters after `:2,` (Dovecot keywords a–z), in order.
    pub keywords: String,
    /// Whether the name had a `:2,` info at all.
    pub has_info: bool,
}

impl FileName {
    /// Parses a file name (no directory part).
    pub fn parse(name: &str) -> FileName {
        let (base, info) = match name.split_once(':') {
            Some((b, i)) => (b, Some(i)),
            None => (name, None),
        };
        let mut size = None;
        let mut vsize = None;
        for field in base.split(',').skip(1) {
            if let Some(v) = field.strip_prefix("S=") {
                size = v.parse().ok();
            } else if let Some(v) = field.strip_prefix("W=") {
                vsize = v.parse().ok();
            }
        }
        let mut flags = Flags::NONE;
        let mut keywords = String::new();
        let mut has_info = false;
        if let Some(letters) = info.and_then(|i| i.strip_prefix("2,")) {
            has_info = true;
            for c in letters.bytes() {
                match Flags::from_letter(c) {
                    Some(f) => flags = flags.union(f),
                    None if c.is_ascii_graphic() && c != b'/' && !keywords.contains(c as char) => {
                        keywords.push(c as char)
                    }
                    None => {}
                }
            }
        }
        FileName {
            base: base.to_string(),
            size,
            vsize,
            flags,
            keywords,
            has_info,
        }
    }

    /// The name with `flags` and the keywords: `BASE:2,FLAGS`.
    pub fn with_flags(&self, flags: Flags) -> String {
        let mut kw: Vec<char> = self.keywords.chars().collect();
        kw.sort_unstable();
        let kw: String = kw.into_iter().collect();
        format!("{}:2,{}{}", self.base, flags.letters(), kw)
    }
}

/// One message of an open Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirMessage {
    pub uid: u32,
    /// The file's current name, in `cur/` (or `new/` when `in_new`).
    pub file_name: String,
    pub in_new: bool,
    /// Parsed from the name.
    pub name: FileName,
    /// Extensions from the uidlist record (`P` POP3 UIDL…).
    pub ext: Vec<String>,
}

impl MaildirMessage {
    pub fn flags(&self) -> Flags {
        self.name.flags
    }

    /// The uidlist extension `key`.
    pub fn ext(&self, key: char) -> Option<&str> {
        self.ext.iter().find_map(|e| e.strip_prefix(key))
    }
}

/// How to open a Maildir.
#[derive(Debug, Clone)]
pub struct MaildirOpenOptions {
    /// Leave `new/` alone (an EXAMINE, a read-only POP3 session). UIDs
    /// are still assigned and written.
    pub read_only: bool,
    /// Where `dovecot-uidlist` lives (`CONTROL=`); the Maildir itself by
    /// default.
    pub control_dir: Option<PathBuf>,
    /// How long to wait for `dovecot-uidlist.lock`.
    pub lock_timeout: Duration,
    /// Create the Maildir (`tmp/new/cur`, mode 0700) when missing, as
    /// Dovecot does for a user's INBOX at first login.
    pub create: bool,
}

impl Default for MaildirOpenOptions {
    fn default() -> Self {
        MaildirOpenOptions {
            read_only: false,
            control_dir: None,
            lock_timeout: Duration::from_secs(30),
            create: true,
        }
    }
}

/// What a sync found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// UIDs new since the last sync.
    pub new: Vec<u32>,
    /// UIDs gone since the last sync.
    pub expunged: Vec<u32>,
    /// UIDs whose flags changed on disk.
    pub flags_changed: Vec<u32>,
    /// Whether the directories were listed again (false: nothing on disk
    /// had changed since the last sync, and nothing was looked at).
    pub rescanned: bool,
}

/// An open Maildir (one folder).
#[derive(Debug)]
pub struct Maildir {
    dir: PathBuf,
    control: PathBuf,
    opts: MaildirOpenOptions,
    uid_validity: u32,
    next_uid: u32,
    messages: Vec<MaildirMessage>,
    /// Base names this process moved from `new/` to `cur/` (IMAP's
    /// \Recent), until [`Maildir::take_moved_from_new`].
    moved: Vec<String>,
    /// What `new/`, `cur/` and the uidlist looked like when the last full
    /// sync began, and when that was.
    stamp: Option<(Stamp, std::time::SystemTime)>,
    /// The mod-sequences ([`crate::modseq`]) as last read or written
    /// (boxed: a Maildir handle stays small).
    modseqs: Box<ModSeqs>,
    /// The identity of `mailsuite-modseq` when `modseqs` was read or
    /// written (it is only ever replaced by rename).
    modseq_id: (u64, u64, i64, i64),
    /// UIDs this handle renamed or expunged since their mod-sequences
    /// were last numbered.
    dirty: Vec<u32>,
}

/// The modification times of `new/` and `cur/`, and the uidlist's
/// identity and time: when none changed, neither did the Maildir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    new: (i64, i64),
    cur: (i64, i64),
    uidlist: (u64, u64, i64, i64),
}

/// A directory entry's time as (seconds, nanoseconds).
fn mtime(m: &fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (m.mtime(), m.mtime_nsec())
}

/// The part of a file name before the info (`:2,…`), without allocating.
fn base_of(name: &str) -> &str {
    name.split_once(':').map_or(name, |(b, _)| b)
}

fn list_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("read directory", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| StoreError::io("read directory", dir, e))?;
        if let Some(n) = ent.file_name().to_str() {
            if !n.starts_with('.') {
                out.push(n.to_string());
            }
        }
    }
    Ok(out)
}

impl Maildir {
    /// Opens and syncs the Maildir `dir`.
    pub fn open(dir: &Path, opts: MaildirOpenOptions) -> Result<Maildir, StoreError> {
        if opts.create && !dir.join("cur").exists() {
            crate::maildir::make_maildir(dir).map_err(|e| StoreError::io("create", dir, e))?;
        }
        let md = fs::metadata(dir.join("cur")).map_err(|e| StoreError::io("open", dir, e))?;
        if !md.is_dir() {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                reason: "cur is not a directory".into(),
            });
        }
        let control = opts
            .control_dir
            .clone()
            .unwrap_or_else(|| dir.to_path_buf());
        let mut m = Maildir {
            dir: dir.to_path_buf(),
            control,
            opts,
            uid_validity: 0,
            next_uid: 1,
            messages: Vec::new(),
            moved: Vec::new(),
            stamp: None,
            modseqs: Box::default(),
            modseq_id: (0, 0, 0, 0),
            dirty: Vec::new(),
        };
        // A listing an earlier session saved, if the Maildir has not
        // changed since: the sync below then lists nothing.
        m.load_index();
        m.sync()?;
        // When the sync listed nothing, the mod-sequences still have to
        // be read (one file; no listing).
        m.reconcile_modseqs(true);
        Ok(m)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    pub fn next_uid(&self) -> u32 {
        self.next_uid
    }

    /// The messages, in UID order.
    pub fn messages(&self) -> &[MaildirMessage] {
        &self.messages
    }

    /// Index of the message with `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Where `dovecot-uidlist` (and `dovecot-keywords`) live.
    pub fn control_dir(&self) -> &Path {
        &self.control
    }

    /// The base names of the files this handle moved from `new/` to
    /// `cur/` itself (so it is the first to see them: IMAP's \Recent)
    /// since the last call.
    pub fn take_moved_from_new(&mut self) -> Vec<String> {
        std::mem::take(&mut self.moved)
    }

    fn scan(&mut self) -> Result<Vec<(String, bool)>, StoreError> {
        let new_dir = self.dir.join("new");
        let cur_dir = self.dir.join("cur");
        let mut files = Vec::new();
        for name in list_dir(&new_dir)? {
            if self.opts.read_only {
                files.push((name, true));
                continue;
            }
            let target = if name.contains(':') {
                name.clone()
            } else {
                format!("{name}:2,")
            };
            match fs::rename(new_dir.join(&name), cur_dir.join(&target)) {
                Ok(()) => self.moved.push(FileName::parse(&name).base),
                // Another session moved it; the cur/ listing finds it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("rename", &new_dir.join(&name), e)),
            }
        }
        for name in list_dir(&cur_dir)? {
            files.push((name, false));
        }
        // A file both in new/ (read-only listing) and cur/ (moved
        // meanwhile): keep the cur/ one.
        let mut seen: HashSet<String> = HashSet::with_capacity(files.len());
        let mut out = Vec::with_capacity(files.len());
        for (name, in_new) in files.into_iter().rev() {
            if seen.insert(base_of(&name).to_string()) {
                out.push((name, in_new));
            }
        }
        Ok(out)
    }

    fn current_stamp(&self) -> Option<Stamp> {
        let new = fs::metadata(self.dir.join("new")).ok()?;
        let cur = fs::metadata(self.dir.join("cur")).ok()?;
        Some(Stamp {
            new: mtime(&new),
            cur: mtime(&cur),
            uidlist: self.uidlist_identity(),
        })
    }

    /// The uidlist's inode, size and time (zeros when it does not exist).
    /// It is always replaced by rename, so the same inode is the same file.
    fn uidlist_identity(&self) -> (u64, u64, i64, i64) {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(self.control.join("dovecot-uidlist"))
            .map(|ul| (ul.ino(), ul.len(), ul.mtime(), ul.mtime_nsec()))
            .unwrap_or((0, 0, 0, 0))
    }

    /// Whether nothing can have changed since the last full sync: the
    /// stamps are equal, and the directories had not been touched for a
    /// second when that sync listed them (two changes in one clock tick
    /// can share a modification time: those are rescanned, as Dovecot
    /// does). The uidlist needs no such margin: it is only ever replaced,
    /// so an equal inode is the same content.
    fn unchanged(&self, now: &Option<Stamp>) -> bool {
        let (Some(now), Some((last, at))) = (now, &self.stamp) else {
            return false;
        };
        if now != last {
            return false;
        }
        let newest = now.new.max(now.cur);
        let newest = std::time::UNIX_EPOCH
            + Duration::new(
                u64::try_from(newest.0).unwrap_or(0),
                u32::try_from(newest.1).unwrap_or(0),
            );
        newest + Duration::from_secs(1) < *at
    }

    fn index_path(&self) -> PathBuf {
        self.control.join(INDEX_FILE)
    }

    /// Loads the listing an earlier sync saved ([`INDEX_FILE`]); anything
    /// odd in it and it is ignored (it is a cache: the stamps in it decide
    /// whether it may be used, exactly as for this handle's own last sync).
    fn load_index(&mut self) {
        let Ok(text) = fs::read_to_string(self.index_path()) else {
            return;
        };
        let mut lines = text.lines();
        if lines.next() != Some(INDEX_MAGIC) {
            return;
        }
        let nums = |l: Option<&str>, key: &str, n: usize| -> Option<Vec<i64>> {
            let rest = l?.strip_prefix(key)?;
            let v: Vec<i64> = rest
                .split(' ')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            (v.len() == n).then_some(v)
        };
        let Some(st) = nums(lines.next(), "stamp ", 10) else {
            return;
        };
        let Some(vn) = nums(lines.next(), "uids ", 2) else {
            return;
        };
        let mut msgs = Vec::new();
        for l in lines {
            let mut f = l.splitn(4, '\t');
            let (Some(uid), Some(where_), Some(ext), Some(file_name)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                return;
            };
            if msgs.last().is_some_and(|m: &MaildirMessage| m.uid >= uid) || file_name.is_empty() {
                return;
            }
            msgs.push(MaildirMessage {
                uid,
                file_name: file_name.to_string(),
                in_new: where_ == "n",
                name: FileName::parse(file_name),
                ext: ext
                    .split(' ')
                    .filter(|e| !e.is_empty())
                    .map(String::from)
                    .collect(),
            });
        }
        let (Ok(validity), Ok(next)) = (u32::try_from(vn[0]), u32::try_from(vn[1])) else {
            return;
        };
        let stamp = Stamp {
            new: (st[0], st[1]),
            cur: (st[2], st[3]),
            uidlist: (st[4] as u64, st[5] as u64, st[6], st[7]),
        };
        let at = std::time::UNIX_EPOCH
            + Duration::new(
                u64::try_from(st[8]).unwrap_or(0),
                u32::try_from(st[9]).unwrap_or(0),
            );
        self.uid_validity = validity;
        self.next_uid = next;
        self.messages = msgs;
        self.stamp = Some((stamp, at));
    }

    /// Saves the listing for the next session (temp file and rename; no
    /// fsync: a lost or stale index only costs a listing).
    fn save_index(&self) {
        let Some((s, at)) = &self.stamp else {
            return;
        };
        let at = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut out = format!(
            "{INDEX_MAGIC}\nstamp {} {} {} {} {} {} {} {} {} {}\nuids {} {}\n",
            s.new.0,
            s.new.1,
            s.cur.0,
            s.cur.1,
            s.uidlist.0,
            s.uidlist.1,
            s.uidlist.2,
            s.uidlist.3,
            at.as_secs(),
            at.subsec_nanos(),
            self.uid_validity,
            self.next_uid
        );
        for m in &self.messages {
            if m.file_name.contains(['\t', '\n'])
                || m.ext.iter().any(|e| e.contains(['\t', '\n', ' ']))
            {
                return;
            }
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                m.uid,
                if m.in_new { "n" } else { "c" },
                m.ext.join(" "),
                m.file_name
            ));
        }
        let path = self.index_path();
        let tmp = self
            .control
            .join(format!("{INDEX_FILE}.{}.tmp", std::process::id()));
        if fs::write(&tmp, out).is_ok() && fs::rename(&tmp, &path).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }

    /// Rescans `new/` and `cur/` and the uidlist; returns what changed.
    pub fn sync(&mut self) -> Result<SyncChanges, StoreError> {
        let stamp = self.current_stamp();
        // Nothing moved in new/ or cur/ and the uidlist is the same: the
        // view is current (a second SELECT need not list 5,000 files).
        if self.unchanged(&stamp) {
            return Ok(SyncChanges::default());
        }
        let started = std::time::SystemTime::now();
        let files = self.scan()?;
        let mut list = UidList::read(&self.control)?;
        let missing = match &list {
            None => true,
            Some(l) => {
                let known: HashSet<&str> = l.records.iter().map(|r| r.name.as_str()).collect();
                files.iter().any(|(n, _)| !known.contains(base_of(n)))
            }
        };
        let mut files = files;
        // After a uidlist write of our own: the stamp from before the
        // listing under the lock, with the uidlist as we wrote it.
        let mut locked_stamp = None;
        if missing {
            let lock = UidListLock::acquire(&self.control, self.opts.lock_timeout)?;
            // Under the lock: the list as the last writer left it, and a
            // second listing so a file being renamed is not dropped.
            list = UidList::read(&self.control)?;
            let pre_at = std::time::SystemTime::now();
            let pre = self.current_stamp();
            let again = self.scan()?;
            let mut l = list.take().unwrap_or_default();
            let present: HashSet<&str> = files
                .iter()
                .chain(again.iter())
                .map(|(n, _)| base_of(n))
                .collect();
            l.records.retain(|r| present.contains(r.name.as_str()));
            let known: HashSet<String> = l.records.iter().map(|r| r.name.clone()).collect();
            let mut fresh: Vec<String> = again
                .iter()
                .map(|(n, _)| base_of(n))
                .filter(|b| !known.contains(*b))
                .map(str::to_string)
                .collect();
            files = again;
            fresh.sort_by_cached_key(|b| delivery_key(b));
            fresh.dedup();
            for base in fresh {
                l.records.push(UidRecord {
                    uid: l.next_uid,
                    ext: Vec::new(),
                    name: base,
                });
                l.next_uid = l.next_uid.saturating_add(1);
            }
            lock.commit(&l)?;
            let written = self.uidlist_identity();
            locked_stamp = Some((
                pre.map(|s| Stamp {
                    uidlist: written,
                    ..s
                }),
                pre_at,
            ));
            list = Some(l);
        }
        let Some(list) = list else {
            return Err(StoreError::Changed(self.control.clone()));
        };
        let by_name: HashMap<&str, &UidRecord> =
            list.records.iter().map(|r| (r.name.as_str(), r)).collect();
        if self.uid_validity != 0 && list.uid_validity != self.uid_validity {
            // UIDVALIDITY changed: everything is new.
            self.messages.clear();
        }
        self.uid_validity = list.uid_validity;
        self.next_uid = list.next_uid;
        let mut msgs: Vec<MaildirMessage> = files
            .into_iter()
            .filter_map(|(file_name, in_new)| {
                let rec = by_name.get(base_of(&file_name))?;
                let name = FileName::parse(&file_name);
                Some(MaildirMessage {
                    uid: rec.uid,
                    file_name,
                    in_new,
                    name,
                    ext: rec.ext.clone(),
                })
            })
            .collect();
        msgs.sort_by_key(|m| m.uid);
        msgs.dedup_by_key(|m| m.uid);
        let old: HashMap<u32, Flags> = self.messages.iter().map(|m| (m.uid, m.flags())).collect();
        let now: HashSet<u32> = msgs.iter().map(|m| m.uid).collect();
        let mut ch = SyncChanges {
            rescanned: true,
            ..SyncChanges::default()
        };
        for m in &msgs {
            match old.get(&m.uid) {
                None => ch.new.push(m.uid),
                Some(f) if *f != m.flags() => ch.flags_changed.push(m.uid),
                _ => {}
            }
        }
        ch.expunged = self
            .messages
            .iter()
            .map(|m| m.uid)
            .filter(|u| !now.contains(u))
            .collect();
        self.messages = msgs;
        // The stamp from before the listing: a change during it shows as
        // a difference next time. After files of our own moved out of
        // new/, the directories are too fresh to be trusted next time
        // anyway; take the stamp again so it at least matches.
        let (stamp, at) = match locked_stamp {
            Some(x) => x,
            None if !self.moved.is_empty() => (self.current_stamp(), started),
            None => (stamp, started),
        };
        self.stamp = stamp.map(|s| (s, at));
        let changed = !ch.new.is_empty() || !ch.expunged.is_empty() || !ch.flags_changed.is_empty();
        if changed || !self.index_path().exists() {
            self.save_index();
        }
        self.reconcile_modseqs(true);
        Ok(ch)
    }

    /// The identity (inode, size, time) of a file that is only ever
    /// replaced by rename; zeros when it does not exist.
    fn file_identity(path: &Path) -> (u64, u64, i64, i64) {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path)
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
            .unwrap_or((0, 0, 0, 0))
    }

    /// The messages as the mod-sequence records key them.
    fn current_infos(&self) -> Vec<(u32, String)> {
        self.messages
            .iter()
            .map(|m| (m.uid, info_key(m.flags(), &m.name.keywords)))
            .collect()
    }

    /// The records of `base` with the messages `dirty` as this handle
    /// has them now (gone: expunged), in UID order.
    fn overlay(&self, base: &ModSeqs, dirty: &[u32]) -> Vec<(u32, String)> {
        let mut cur: HashMap<u32, String> = base
            .msgs
            .iter()
            .map(|(u, (_, i))| (*u, i.clone()))
            .collect();
        for uid in dirty {
            match self.position(*uid).and_then(|p| self.messages.get(p)) {
                Some(m) => cur.insert(*uid, info_key(m.flags(), &m.name.keywords)),
                None => cur.remove(uid),
            };
        }
        let mut v: Vec<(u32, String)> = cur.into_iter().collect();
        v.sort_unstable();
        v
    }

    /// Numbers the changes this handle made itself (renames, expunges)
    /// since the last sync or call, and re-reads the numbers other
    /// processes gave (see [`Self::reconcile_modseqs`]). Only these
    /// messages are compared: the rest of this handle's listing may be
    /// older than the file.
    pub fn commit_modseqs(&mut self) {
        self.reconcile_modseqs(false);
    }

    /// Brings the mod-sequences in line with the messages as this handle
    /// last listed them (`full`, right after a listing) or with its own
    /// renames and expunges since (not `full`): reads `mailsuite-modseq`
    /// again if another process replaced it, and where a message's
    /// flags, a new message or an expunge is not recorded yet, numbers
    /// it under `mailsuite-modseq.lock` (see [`crate::modseq`]). Costs
    /// one stat when nothing changed. A file that cannot be written (a
    /// read-only mailbox) is logged, and the numbers are kept in memory
    /// for this handle.
    fn reconcile_modseqs(&mut self, full: bool) {
        let path = self.control.join(MODSEQ_FILE);
        let id = Self::file_identity(&path);
        if id != self.modseq_id {
            *self.modseqs = ModSeqs::read(&self.control).unwrap_or_default();
            self.modseq_id = id;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let current = if full || self.modseqs.uid_validity != self.uid_validity {
            self.current_infos()
        } else {
            if dirty.is_empty() {
                return;
            }
            // The records as they are, with this handle's own changes.
            self.overlay(&self.modseqs, &dirty)
        };
        if !self.modseqs.needs_update(self.uid_validity, &current) {
            return;
        }
        let lock = match crate::lock::ReplaceLock::acquire(
            &path,
            self.opts.lock_timeout,
            Duration::from_secs(120),
        ) {
            Ok(l) => l,
            Err(e) => {
                maillog::warning!("{}: {e}", path.display());
                self.modseqs.apply(self.uid_validity, &current);
                return;
            }
        };
        let mut fresh = ModSeqs::read(&self.control).unwrap_or_default();
        let current = if full || fresh.uid_validity != self.uid_validity {
            current
        } else {
            // Another process may have written since: apply this
            // handle's own changes to what it wrote.
            self.overlay(&fresh, &dirty)
        };
        // The file may have lost records an older one had (removed by
        // hand): never let HIGHESTMODSEQ go back.
        fresh.highest = fresh.highest.max(self.modseqs.highest);
        if fresh.apply(self.uid_validity, &current) {
            if let Err(e) = lock.commit(fresh.to_text().as_bytes()) {
                maillog::warning!("{}: {e}", path.display());
            }
        }
        *self.modseqs = fresh;
        self.modseq_id = Self::file_identity(&path);
    }

    /// HIGHESTMODSEQ.
    pub fn highest_modseq(&self) -> u64 {
        self.modseqs.highest.max(1)
    }

    /// The mod-sequence of message `uid`.
    pub fn modseq(&self, uid: u32) -> u64 {
        self.modseqs.of(uid)
    }

    /// The mod-sequences (expunged UIDs for QRESYNC).
    pub fn modseqs(&self) -> &ModSeqs {
        &self.modseqs
    }

    fn path_of(&self, m: &MaildirMessage) -> PathBuf {
        self.dir
            .join(if m.in_new { "new" } else { "cur" })
            .join(&m.file_name)
    }

    /// The current path of message `idx`.
    pub fn path(&self, idx: usize) -> Result<PathBuf, StoreError> {
        let m = self
            .messages
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?;
        Ok(self.path_of(m))
    }

    /// Finds where message `idx`'s file went (another session moved it to
    /// cur/ or changed its flags) and updates the entry.
    fn relocate(&mut self, idx: usize) -> Result<(), StoreError> {
        let base = match self.messages.get(idx) {
            Some(m) => m.name.base.clone(),
            None => return Err(StoreError::NoSuchMessage(idx)),
        };
        for (sub, in_new) in [("cur", false), ("new", true)] {
            for name in list_dir(&self.dir.join(sub))? {
                let parsed = FileName::parse(&name);
                if parsed.base == base {
                    if let Some(m) = self.messages.get_mut(idx) {
                        m.file_name = name;
                        m.in_new = in_new;
                        m.name = parsed;
                    }
                    return Ok(());
                }
            }
        }
        let uid = self.messages.get(idx).map(|m| m.uid).unwrap_or(0);
        Err(StoreError::Expunged(uid))
    }

    /// Opens message `idx` for reading, following a rename by another
    /// session. [`StoreError::Expunged`] when it is gone.
    pub fn open_message(&mut self, idx: usize) -> Result<File, StoreError> {
        for _ in 0..3 {
            let p = self.path(idx)?;
            match File::open(&p) {
                Ok(f) => return Ok(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(idx)?,
                Err(e) => return Err(StoreError::io("open", &p, e)),
            }
        }
        Err(StoreError::Changed(self.dir.clone()))
    }

    /// The message's size in bytes: `S=`, else stat.
    pub fn size(&mut self, idx: usize) -> Result<u64, StoreError> {
        if let Some(s) = self.messages.get(idx).and_then(|m| m.name.size) {
            return Ok(s);
        }
        let f = self.open_message(idx)?;
        let p = self.path(idx)?;
        f.metadata()
            .map(|m| m.len())
            .map_err(|e| StoreError::io("stat", &p, e))
    }

    /// The size with CRLF line ends (POP3's and IMAP's RFC822.SIZE):
    /// `W=` in the name, else the uidlist's `W` extension (where Dovecot
    /// keeps it for names without one), else counted from the file and
    /// remembered.
    pub fn wire_size(&mut self, idx: usize) -> Result<u64, StoreError> {
        if let Some(m) = self.messages.get(idx) {
            if let Some(s) = m
                .name
                .vsize
                .or_else(|| m.ext('W').and_then(|w| w.parse().ok()))
            {
                return Ok(s);
            }
        }
        let mut f = self.open_message(idx)?;
        let p = self.path(idx)?;
        let n = crate::wire::wire_size(&mut f).map_err(|e| StoreError::io("read", &p, e))?;
        if let Some(m) = self.messages.get_mut(idx) {
            m.name.vsize = Some(n);
        }
        Ok(n)
    }

    /// Sets message `idx`'s system flags to `flags` by renaming its file
    /// (moving it to cur/ if it was still in new/). Keywords are kept.
    pub fn set_flags(&mut self, idx: usize, flags: Flags) -> Result<(), StoreError> {
        self.set_info(idx, flags, None)
    }

    /// Sets message `idx`'s system flags and, when `keywords` is given,
    /// its keyword letters (`a`–`z`, any order) by renaming its file.
    pub fn set_info(
        &mut self,
        idx: usize,
        flags: Flags,
        keywords: Option<&str>,
    ) -> Result<(), StoreError> {
        for _ in 0..3 {
            let m = self
                .messages
                .get(idx)
                .ok_or(StoreError::NoSuchMessage(idx))?;
            let mut name = m.name.clone();
            if let Some(k) = keywords {
                let mut kw: Vec<char> = k.chars().collect();
                kw.sort_unstable();
                kw.dedup();
                name.keywords = kw.into_iter().collect();
            }
            if m.flags() == flags
                && !m.in_new
                && m.name.has_info
                && m.name.keywords == name.keywords
            {
                return Ok(());
            }
            let from = self.path_of(m);
            let new_name = name.with_flags(flags);
            let to = self.dir.join("cur").join(&new_name);
            match fs::rename(&from, &to) {
                Ok(()) => {
                    if let Some(m) = self.messages.get_mut(idx) {
                        m.name = FileName::parse(&new_name);
                        m.file_name = new_name;
                        m.in_new = false;
                        self.dirty.push(m.uid);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(idx)?,
                Err(e) => return Err(StoreError::io("rename", &from, e)),
            }
        }
        Err(StoreError::Changed(self.dir.clone()))
    }

    /// Adds and removes flags on message `idx`.
    pub fn change_flags(
        &mut self,
        idx: usize,
        add: Flags,
        remove: Flags,
    ) -> Result<(), StoreError> {
        let cur = self
            .messages
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?
            .flags();
        self.set_flags(idx, cur.union(add).minus(remove))
    }

    /// Removes message `idx`'s file and drops it from the list. A file
    /// already gone counts as expunged.
    pub fn expunge(&mut self, idx: usize) -> Result<(), StoreError> {
        for _ in 0..3 {
            let p = self.path(idx)?;
            match fs::remove_file(&p) {
                Ok(()) => {
                    let m = self.messages.remove(idx);
                    self.dirty.push(m.uid);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match self.relocate(idx) {
                    Err(StoreError::Expunged(_)) => {
                        let m = self.messages.remove(idx);
                        self.dirty.push(m.uid);
                        return Ok(());
                    }
                    r => r?,
                },
                Err(e) => return Err(StoreError::io("unlink", &p, e)),
            }
        }
        Err(StoreError::Changed(self.dir.clone()))
    }

    /// Expunges every message whose UID is in `uids` (POP3's QUIT, IMAP's
    /// EXPUNGE); the messages delivered meanwhile are untouched.
    pub fn expunge_uids(&mut self, uids: &[u32]) -> Result<(), StoreError> {
        for &uid in uids {
            if let Some(i) = self.position(uid) {
                self.expunge(i)?;
            }
        }
        Ok(())
    }

    /// Reads the whole message (small messages, tests).
    pub fn read_message(&mut self, idx: usize) -> Result<Vec<u8>, StoreError> {
        let mut f = self.open_message(idx)?;
        let p = self.path(idx)?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)
            .map_err(|e| StoreError::io("read", &p, e))?;
        Ok(v)
    }
}

/// The Maildir++ folders under `root`: directories named `.NAME` (with or
/// without the `maildirfolder` marker) that have a `cur/`, as their
/// names without the leading dot (`Sent`, `Archive.2024`), sorted. INBOX
/// (the root itself) is not listed.
pub fn list_folders(root: &Path) -> Result<Vec<String>, StoreError> {
    let rd = fs::read_dir(root).map_err(|e| StoreError::io("read directory", root, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| StoreError::io("read directory", root, e))?;
        let Some(name) = ent.file_name().to_str().map(String::from) else {
            continue;
        };
        let Some(folder) = name.strip_prefix('.') else {
            continue;
        };
        if folder.is_empty() || folder == "." {
            continue;
        }
        if ent.path().join("cur").is_dir() {
            out.push(folder.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Dovecot's `dovecot-keywords`: which keyword name each letter after
/// `:2,` stands for (`a` is line `0`, `b` line `1`…, up to `z`).
/// Missing file: no keywords.
pub fn read_keywords(control: &Path) -> Result<Vec<(char, String)>, StoreError> {
    let path = control.join("dovecot-keywords");
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("read", &path, e)),
    };
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        let Some((n, name)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u8>() else {
            continue;
        };
        if n < 26 && !name.is_empty() {
            out.push(((b'a' + n) as char, name.to_string()));
        }
    }
    Ok(out)
}

/// Removes files in `tmp/` not changed for `older_than` (Dovecot: 36
/// hours), left by deliveries that crashed. Returns how many.
pub fn clean_tmp(dir: &Path, older_than: Duration) -> Result<usize, StoreError> {
    let tmp = dir.join("tmp");
    let mut n = 0;
    for name in list_dir(&tmp)? {
        let p = tmp.join(&name);
        let old = fs::symlink_metadata(&p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if old && fs::remove_file(&p).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// The order new files get their UIDs in, as Dovecot orders them:
/// by the delivery time in the name, `SECS.M<usec>…` compared as numbers
/// (a plain string sort puts `M123` before `M45` within one second), then
/// by the whole name; names without a time come last.
/// The order new files get UIDs in: seconds, then microseconds, as
/// numbers, then the name.
fn delivery_key(name: &str) -> (bool, u64, u64, String) {
    let time = name.split_once('.').and_then(|(secs, rest)| {
        let secs = secs.parse().ok()?;
        let usec = rest
            .strip_prefix('M')
            .map(|r| {
                let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .unwrap_or(0);
        Some((secs, usec))
    });
    match time {
        Some((s, u)) => (false, s, u, name.to_string()),
        None => (true, 0, 0, name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = FileName::parse("1700.M1P2Q3.host,S=120,W=124:2,SRab");
        assert_eq!(n.base, "1700.M1P2Q3.host,S=120,W=124");
        assert_eq!((n.size, n.vsize), (Some(120), Some(124)));
        assert_eq!(n.flags, Flags::SEEN.union(Flags::REPLIED));
        assert_eq!(n.keywords, "ab");
        assert_eq!(
            n.with_flags(Flags::FLAGGED.union(Flags::DRAFT)),
            "1700.M1P2Q3.host,S=120,W=124:2,DFab"
        );
        let n = FileName::parse("plain");
        assert!(!n.has_info);
        assert_eq!(n.with_flags(Flags::NONE), "plain:2,");
        let d = std::env::temp_dir().join(format!("mailsuite-kw-{}", std::process::id()));
        let _ = fs::create_dir_all(d.join("tmp"));
        fs::write(
            d.join("dovecot-keywords"),
            "0 $Forwarded\n1 Junk\nbad\n30 x\n",
        )
        .expect("write");
        assert_eq!(
            read_keywords(&d).expect("kw"),
            vec![('a', "$Forwarded".to_string()), ('b', "Junk".to_string())]
        );
        fs::write(d.join("tmp/stale"), "x").expect("write");
        assert_eq!(clean_tmp(&d, Duration::from_secs(3600)).expect("clean"), 0);
        assert_eq!(clean_tmp(&d, Duration::ZERO).expect("clean"), 1);
        let _ = fs::remove_dir_all(&d);
        let n = FileName::parse("x,S=abc:1,junk");
        assert_eq!(n.size, None);
        assert_eq!(n.flags, Flags::NONE);
    }

    /// Sets a path's times `secs` into the past.
    fn age(p: &Path, secs: i64) {
        use nix::sys::stat::{utimensat, UtimensatFlags};
        use nix::sys::time::TimeSpec;
        let t = TimeSpec::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs() as i64
                - secs,
            0,
        );
        utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &t,
            &t,
            UtimensatFlags::FollowSymlink,
        )
        .expect("utimensat");
    }

    #[test]
    fn an_unchanged_maildir_is_not_listed_again() {
        let d = std::env::temp_dir().join(format!("mailsuite-stamp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        crate::maildir::make_maildir(&d).expect("maildir");
        for i in 0..5 {
            fs::write(d.join(format!("cur/17000000{i}.M{i}P1.h:2,S")), "x\n").expect("msg");
        }
        let mut md = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        assert_eq!(md.messages().len(), 5);
        for sub in ["new", "cur", "dovecot-uidlist"] {
            age(&d.join(sub), 10);
        }
        // The first sync after the change of times lists again and takes
        // the stamp; the next finds nothing changed and lists nothing.
        assert!(md.sync().expect("sync").rescanned);
        let ch = md.sync().expect("sync");
        assert!(!ch.rescanned, "{ch:?}");
        // A delivery changes new/: listed again, found.
        fs::write(d.join("new/1700000099.M9P1.h"), "y\n").expect("deliver");
        let ch = md.sync().expect("sync");
        assert!(ch.rescanned && ch.new.len() == 1, "{ch:?}");
        // A change within the same second as the last sync is never
        // trusted to the stamp alone.
        assert!(md.sync().expect("sync").rescanned);
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn new_files_get_uids_in_delivery_order() {
        let mut names = vec![
            "1700000001.M123P9Q1.host",
            "1700000001.M45P9Q2.host",
            "1700000000.M999999P9Q3.host",
            "odd-name",
        ];
        names.sort_by_cached_key(|n| delivery_key(n));
        assert_eq!(
            names,
            [
                "1700000000.M999999P9Q3.host",
                "1700000001.M45P9Q2.host",
                "1700000001.M123P9Q1.host",
                "odd-name"
            ]
        );
    }
}
