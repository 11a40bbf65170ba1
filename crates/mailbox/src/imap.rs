//! One IMAP session's view of a Maildir (RFC 3501): the messages in
//! sequence order with UIDs from `dovecot-uidlist`, flags and keywords
//! from the file names (keyword letters `a`–`z` through Dovecot's
//! `dovecot-keywords`), \Recent for the files this session moved out of
//! `new/`, and the changes a rescan finds, in the order the client must
//! be told ([`Change`]).
//!
//! Another session (Dovecot's or ours) and deliveries may change the
//! Maildir at any time: a file renamed under us is found again by its
//! base name, one removed is [`StoreError::Expunged`]. A message another
//! session expunged stays in the view (marked `expunged`) until a sync
//! that may report expunges ([`Selected::sync`] with `allow_expunge`).
//!
//! Errors beyond [`StoreError`]'s own kinds:
//!
//! * changing a read-only (EXAMINEd) mailbox: [`StoreError::Io`] with
//!   `what = "modify"` and an [`io::ErrorKind::PermissionDenied`]
//!   source ("mailbox is read-only");
//! * a 27th keyword in one mailbox (Dovecot's Maildir limit is 26):
//!   [`StoreError::Io`] with `what = "add keyword"` and an
//!   [`io::ErrorKind::QuotaExceeded`] source ("too many keywords");
//!   a keyword name with space or control characters: `what = "add
//!   keyword"`, [`io::ErrorKind::InvalidInput`];
//! * UIDVALIDITY changed under the session (the uidlist was recreated):
//!   [`StoreError::Changed`] from [`Selected::sync`]; the session must
//!   close the mailbox (Dovecot sends BYE).
//!
//! Every message has a mod-sequence and the mailbox a HIGHESTMODSEQ
//! (RFC 7162), shared by all sessions through [`crate::modseq`]: a sync
//! numbers what it finds changed, [`Selected::commit`] what this session
//! changed itself.
//!
//! APPEND and COPY write straight into `cur/` (fsync'd before they are
//! visible) under `dovecot-uidlist.lock`, so their UIDs are known at
//! once; such messages are not \Recent for anyone.

use crate::folders::MailboxPath;
use crate::lock::ReplaceLock;
use crate::maildir_store::{keyword_mask, read_keywords, Maildir, MaildirOpenOptions};
use crate::mbox_store::{FlagUpdate, Mbox, MboxOpenOptions};
use crate::modseq::{Info, ModSeqs};
use crate::store::{Flags, StoreError};
use crate::uidlist::{UidList, UidListLock, UidRecord};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One message as an IMAP session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMessage {
    pub uid: u32,
    /// System flags (Flags::SEEN, REPLIED=\Answered, FLAGGED,
    /// TRASHED=\Deleted, DRAFT; PASSED as found in the file name).
    pub flags: Flags,
    /// Keywords by name (from the file name's a-z letters through
    /// dovecot-keywords).
    pub keywords: Vec<String>,
    /// \Recent: this session is the first to see it (it was in new/ when
    /// this session moved it to cur/; in a read-only session: it is
    /// still in new/).
    pub recent: bool,
    /// Already expunged by someone else, but still in this session's
    /// view because expunges could not be reported yet.
    pub expunged: bool,
}

/// What a sync found, to report to the client in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `* n EXPUNGE`: seq is the sequence number at the moment it is sent.
    Expunge { seq: u32, uid: u32 },
    /// `* n EXISTS` with the new total.
    Exists(u32),
    /// Flags of the message at seq changed on disk (by another session).
    Flags { seq: u32 },
}

/// STORE +FLAGS / -FLAGS / FLAGS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// STATUS of a mailbox that is not (necessarily) selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailboxStatus {
    pub messages: u32,
    pub recent: u32,
    pub unseen: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    /// Sum of RFC822.SIZE (CRLF).
    pub size: u64,
    pub deleted: u32,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
}

impl MailboxStatus {
    /// Counts one message of RFC822.SIZE `size`.
    fn count(&mut self, size: u64, recent: bool, flags: Flags) {
        self.messages += 1;
        self.size += size;
        self.recent += u32::from(recent);
        self.unseen += u32::from(!flags.contains(Flags::SEEN));
        self.deleted += u32::from(flags.contains(Flags::TRASHED));
    }
}

const LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// Dovecot's Maildir keyword limit (letters a–z).
pub const MAX_KEYWORDS: usize = 26;
const KEYWORDS: &str = "dovecot-keywords";

fn read_only_error(dir: &Path) -> StoreError {
    StoreError::Io {
        what: "modify",
        path: dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::PermissionDenied, "mailbox is read-only"),
    }
}

fn keyword_error(dir: &Path, kind: io::ErrorKind, text: &str) -> StoreError {
    StoreError::Io {
        what: "add keyword",
        path: dir.to_path_buf(),
        source: io::Error::new(kind, text.to_string()),
    }
}

/// The keyword names of the letters in `letters` (those the table
/// knows), in letter order.
/// The keywords of the letters `mask` ([`keyword_mask`]).
fn names_of_mask(mask: u32, table: &[(char, String)]) -> Vec<String> {
    if mask == 0 {
        return Vec::new();
    }
    table
        .iter()
        .filter(|(c, _)| c.is_ascii_lowercase() && mask & 1 << (*c as u32 - 'a' as u32) != 0)
        .map(|(_, n)| n.clone())
        .collect()
}

fn letter_of(name: &str, table: &[(char, String)]) -> Option<char> {
    table
        .iter()
        .find(|(_, n)| n == name)
        .or_else(|| table.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)))
        .map(|(c, _)| *c)
}

/// The keyword table of the Maildir whose control directory is
/// `control`, with every name in `names` defined (added under
/// `dovecot-keywords.lock` where missing).
fn ensure_keywords(control: &Path, names: &[String]) -> Result<Vec<(char, String)>, StoreError> {
    let table = read_keywords(control)?;
    if names.iter().all(|n| letter_of(n, &table).is_some()) {
        return Ok(table);
    }
    for n in names {
        if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(keyword_error(
                control,
                io::ErrorKind::InvalidInput,
                "invalid keyword",
            ));
        }
    }
    let lock = ReplaceLock::acquire(
        &control.join(KEYWORDS),
        LOCK_TIMEOUT,
        Duration::from_secs(30),
    )?;
    let mut table = read_keywords(control)?;
    for n in names {
        if letter_of(n, &table).is_some() {
            continue;
        }
        let Some(free) = (b'a'..=b'z')
            .map(char::from)
            .find(|c| !table.iter().any(|(t, _)| t == c))
        else {
            return Err(keyword_error(
                control,
                io::ErrorKind::QuotaExceeded,
                "too many keywords",
            ));
        };
        table.push((free, n.clone()));
    }
    table.sort();
    let mut text = String::new();
    for (c, n) in &table {
        text.push_str(&format!("{} {}\n", *c as u8 - b'a', n));
    }
    lock.commit(text.as_bytes())?;
    Ok(table)
}

/// The letters for `names` in `table` (all defined), sorted.
fn letters_for(names: &[String], table: &[(char, String)]) -> String {
    let mut v: Vec<char> = names.iter().filter_map(|n| letter_of(n, table)).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().collect()
}

/// The store behind a selected mailbox.
#[derive(Debug)]
enum Backend {
    Maildir(Maildir),
    Mbox(MboxSel),
}

/// An mbox as a selected mailbox: the file's messages ([`Mbox`]), the
/// flag changes not written yet, and the mod-sequences (in the
/// mailbox's index directory, `~/mail/.imap/NAME/mailsuite-modseq`).
#[derive(Debug)]
struct MboxSel {
    mb: Mbox,
    index: Option<PathBuf>,
    modseqs: ModSeqs,
    /// STOREs of this command, written by [`Selected::commit`] (one
    /// rewrite per command) or with an expunge.
    pending: HashMap<u32, FlagUpdate>,
    /// The message list changed since the view was last brought up to
    /// date (a read found the file rewritten and synced).
    stale: bool,
}

/// Where mod-sequences go and how to open an mbox at `file` with the
/// index directory `index`.
fn mbox_options(index: Option<&Path>, read_only: bool) -> MboxOpenOptions {
    let _ = read_only;
    MboxOpenOptions {
        index_path: index.map(|d| d.join("mailsuite-mbox.index")),
        ..MboxOpenOptions::default()
    }
}

fn open_mbox(file: &Path, index: Option<&Path>, read_only: bool) -> Result<Mbox, StoreError> {
    if let Some(d) = index {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(d);
    }
    Mbox::open(file, mbox_options(index, read_only))
}

/// The modseq record of an mbox message: flag letters, then keywords.
fn mbox_info(flags: Flags, keywords: &[String]) -> Info {
    let mut kw: Vec<&str> = keywords.iter().map(String::as_str).collect();
    kw.sort_unstable();
    kw.dedup();
    let mut s = flags.letters();
    for k in kw {
        s.push(' ');
        s.push_str(k);
    }
    Info::from_text(&s)
}

/// Numbers what changed in `current` (UID-ordered (UID, info)) against
/// the mod-sequences in `index` (as [`crate::modseq`] describes, under
/// `mailsuite-modseq.lock`), keeping `cache` as the file now is.
fn reconcile_mbox_modseqs(
    index: Option<&Path>,
    cache: &mut ModSeqs,
    uid_validity: u32,
    current: &[(u32, Info)],
) {
    if !cache.needs_update(uid_validity, current) {
        return;
    }
    let Some(dir) = index else {
        cache.apply(uid_validity, current);
        return;
    };
    let path = dir.join(crate::modseq::MODSEQ_FILE);
    let lock = match ReplaceLock::acquire(&path, LOCK_TIMEOUT, Duration::from_secs(120)) {
        Ok(l) => l,
        Err(e) => {
            maillog::warning!("{}: {e}", path.display());
            cache.apply(uid_validity, current);
            return;
        }
    };
    let mut fresh = ModSeqs::read(dir).unwrap_or_default();
    fresh.highest = fresh.highest.max(cache.highest);
    if fresh.apply(uid_validity, current) {
        if let Err(e) = lock.commit(fresh.to_text().as_bytes()) {
            maillog::warning!("{}: {e}", path.display());
        }
    }
    *cache = fresh;
}

impl MboxSel {
    /// (UID, info) of every message as it is on disk with the pending
    /// changes.
    fn current(&self) -> Vec<(u32, Info)> {
        self.mb
            .messages()
            .iter()
            .map(|m| {
                let info = match self.pending.get(&m.uid) {
                    Some(u) => mbox_info(u.flags, &u.keywords),
                    None => mbox_info(m.flags, &m.keywords),
                };
                (m.uid, info)
            })
            .collect()
    }

    fn reconcile(&mut self) {
        let current = self.current();
        let v = self.mb.uid_validity();
        reconcile_mbox_modseqs(self.index.as_deref(), &mut self.modseqs, v, &current);
    }

    /// Writes the pending flag changes (and expunges `expunge`).
    fn flush(&mut self, expunge: &[u32]) -> Result<(), StoreError> {
        if self.pending.is_empty() && expunge.is_empty() {
            return Ok(());
        }
        // A message gone meanwhile has nothing to write.
        self.pending
            .retain(|uid, _| self.mb.position(*uid).is_some());
        self.mb.rewrite(&self.pending, expunge)?;
        self.pending.clear();
        self.stale = true;
        Ok(())
    }

    /// The message at `pos` as stored; a file rewritten since the last
    /// sync is synced first.
    fn read(&mut self, uid: u32) -> Result<Vec<u8>, StoreError> {
        for _ in 0..3 {
            let pos = self.mb.position(uid).ok_or(StoreError::Expunged(uid))?;
            match self.mb.read_message(pos) {
                Ok(data) => return Ok(crate::mbox_store::strip_managed_headers(&data)),
                Err(StoreError::Changed(_)) => {
                    self.mb.sync()?;
                    self.stale = true;
                }
                r => return r,
            }
        }
        Err(StoreError::Changed(self.mb.path().to_path_buf()))
    }
}

/// A selected mailbox.
#[derive(Debug)]
pub struct Selected {
    store: Backend,
    read_only: bool,
    view: Vec<ImapMessage>,
    keywords: Vec<(char, String)>,
    /// The highest UID ever put in the view: a message with a UID not
    /// above it that the view lacks is never added (sequence numbers
    /// must follow UID order).
    max_uid: u32,
}

impl Selected {
    /// SELECT (read_only = false) / EXAMINE (true: new/ is left alone,
    /// nothing is renamed, no flags change). The Maildir must exist.
    pub fn open(dir: &Path, read_only: bool) -> Result<Selected, StoreError> {
        let md = Maildir::open(
            dir,
            MaildirOpenOptions {
                read_only,
                create: false,
                ..MaildirOpenOptions::default()
            },
        )?;
        Selected::with_store(Backend::Maildir(md), read_only)
    }

    /// SELECT / EXAMINE of a Maildir or an mbox (a missing mbox file is
    /// an empty mailbox).
    pub fn open_at(at: &MailboxPath, read_only: bool) -> Result<Selected, StoreError> {
        match at {
            MailboxPath::Maildir(dir) => Selected::open(dir, read_only),
            MailboxPath::Mbox { file, index } => {
                let mb = open_mbox(file, index.as_deref(), read_only)?;
                let modseqs = index.as_deref().and_then(ModSeqs::read).unwrap_or_default();
                Selected::with_store(
                    Backend::Mbox(MboxSel {
                        mb,
                        index: index.clone(),
                        modseqs,
                        pending: HashMap::new(),
                        stale: false,
                    }),
                    read_only,
                )
            }
        }
    }

    fn with_store(store: Backend, read_only: bool) -> Result<Selected, StoreError> {
        let mut s = Selected {
            store,
            read_only,
            view: Vec::new(),
            keywords: Vec::new(),
            max_uid: 0,
        };
        s.apply(true)?;
        Ok(s)
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    fn dir(&self) -> &Path {
        match &self.store {
            Backend::Maildir(md) => md.dir(),
            Backend::Mbox(m) => m.mb.path(),
        }
    }

    pub fn uid_validity(&self) -> u32 {
        match &self.store {
            Backend::Maildir(md) => md.uid_validity(),
            Backend::Mbox(m) => m.mb.uid_validity(),
        }
    }

    /// UIDNEXT.
    pub fn uid_next(&self) -> u32 {
        let n = match &self.store {
            Backend::Maildir(md) => md.next_uid(),
            Backend::Mbox(m) => m.mb.next_uid(),
        };
        n.max(self.max_uid.saturating_add(1))
    }

    /// The view, in sequence order (index + 1 = sequence number).
    pub fn messages(&self) -> &[ImapMessage] {
        &self.view
    }

    /// Every keyword defined for this mailbox (mbox: those its messages
    /// carry).
    pub fn keywords(&self) -> Vec<String> {
        match &self.store {
            Backend::Maildir(_) => self.keywords.iter().map(|(_, n)| n.clone()).collect(),
            Backend::Mbox(_) => {
                let mut v: Vec<String> = Vec::new();
                for m in &self.view {
                    for k in &m.keywords {
                        if !v.contains(k) {
                            v.push(k.clone());
                        }
                    }
                }
                v
            }
        }
    }

    /// Sequence number (1-based) of a UID in the view.
    pub fn seq_of_uid(&self, uid: u32) -> Option<u32> {
        self.view
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    /// Rescans the Maildir or the mbox (see [`Change`] for the order).
    /// With `allow_expunge = false` messages expunged by others stay in
    /// the view, marked `expunged`; a later `sync(true)` reports them.
    ///
    /// The rescan is skipped when new/, cur/ and the uidlist are as the
    /// last one found them (and had settled then; [`Maildir::sync`]), so a
    /// client that sends one command per message (mbsync fetching bodies)
    /// does not pay for a listing of the whole Maildir each time. An
    /// mbox unchanged since is one stat; one that only grew (a delivery)
    /// has only its new tail read.
    pub fn sync(&mut self, allow_expunge: bool) -> Result<Vec<Change>, StoreError> {
        let old_validity = self.uid_validity();
        let rescanned = match &mut self.store {
            Backend::Maildir(md) => md.sync()?.rescanned,
            Backend::Mbox(m) => {
                let kind = m.mb.sync()?;
                let stale = std::mem::take(&mut m.stale);
                stale || kind != crate::mbox_store::SyncKind::Unchanged
            }
        };
        if !self.view.is_empty() && self.uid_validity() != old_validity {
            return Err(StoreError::Changed(self.dir().to_path_buf()));
        }
        // Nothing on disk changed: only expunges held back earlier may be
        // due now.
        if !(rescanned || allow_expunge && self.view.iter().any(|v| v.expunged)) {
            return Ok(Vec::new());
        }
        self.apply(allow_expunge)
    }

    /// (uid, flags, keywords, recent if new to the view), UID order, as
    /// the store's last sync found them.
    fn on_disk(&mut self) -> Result<Vec<ImapMessage>, StoreError> {
        let read_only = self.read_only;
        match &mut self.store {
            Backend::Maildir(md) => {
                let moved: HashSet<String> = md.take_moved_from_new().into_iter().collect();
                self.keywords = read_keywords(md.control_dir())?;
                // From the summaries: an unchanged Maildir opened from its
                // saved listing reads no file names. Files this handle
                // moved out of new/ came from a listing, which has them.
                let mut view = Vec::with_capacity(md.len());
                view.extend((0..md.len()).filter_map(|i| {
                    let s = md.summary(i)?;
                    let recent = if read_only {
                        s.in_new
                    } else {
                        !moved.is_empty()
                            && md
                                .messages()
                                .get(i)
                                .is_some_and(|m| moved.contains(m.name.base()))
                    };
                    Some(ImapMessage {
                        uid: s.uid,
                        flags: s.flags,
                        keywords: names_of_mask(s.keywords, &self.keywords),
                        recent,
                        expunged: false,
                    })
                }));
                Ok(view)
            }
            Backend::Mbox(s) => {
                s.stale = false;
                Ok(s.mb
                    .messages()
                    .iter()
                    .map(|m| {
                        let (flags, keywords) = match s.pending.get(&m.uid) {
                            Some(u) => (u.flags, u.keywords.clone()),
                            None => (m.flags, m.keywords.clone()),
                        };
                        ImapMessage {
                            uid: m.uid,
                            flags,
                            keywords,
                            recent: !m.old,
                            expunged: false,
                        }
                    })
                    .collect())
            }
        }
    }

    /// Brings the view in line with the store's last sync.
    fn apply(&mut self, allow_expunge: bool) -> Result<Vec<Change>, StoreError> {
        let disk = self.on_disk()?;
        let mut changes = Vec::new();
        if self.view.is_empty() {
            // The first sync (or an empty view): every message is new.
            return Ok(self.add_new(disk, changes));
        }
        let on_disk: HashMap<u32, usize> =
            disk.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
        // Expunges, numbered as they are sent.
        let mut removed = 0u32;
        let mut kept = Vec::with_capacity(self.view.len());
        for (i, mut v) in std::mem::take(&mut self.view).into_iter().enumerate() {
            if on_disk.contains_key(&v.uid) && !v.expunged {
                kept.push(v);
            } else if allow_expunge {
                let seq = u32::try_from(i + 1).unwrap_or(u32::MAX) - removed;
                changes.push(Change::Expunge { seq, uid: v.uid });
                removed += 1;
            } else {
                v.expunged = true;
                kept.push(v);
            }
        }
        self.view = kept;
        // Flag changes by others.
        let mut flag_changed = Vec::new();
        for (i, v) in self.view.iter_mut().enumerate() {
            if v.expunged {
                continue;
            }
            let Some(m) = on_disk.get(&v.uid).and_then(|&p| disk.get(p)) else {
                continue;
            };
            if m.flags != v.flags || m.keywords != v.keywords {
                v.flags = m.flags;
                v.keywords = m.keywords.clone();
                flag_changed.push(i);
            }
        }
        let mut changes = self.add_new(disk, changes);
        for i in flag_changed {
            changes.push(Change::Flags {
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
        Ok(changes)
    }

    /// Adds the messages of `disk` above the view's highest UID, with an
    /// EXISTS in `changes` when there are any.
    fn add_new(&mut self, disk: Vec<ImapMessage>, mut changes: Vec<Change>) -> Vec<Change> {
        let before = self.view.len();
        if self.view.is_empty() && disk.first().is_none_or(|m| m.uid > self.max_uid) {
            // All of it, as it is (in UID order).
            self.max_uid = disk.last().map_or(self.max_uid, |m| m.uid);
            self.view = disk;
        } else {
            for m in disk {
                if m.uid <= self.max_uid {
                    continue;
                }
                self.max_uid = m.uid;
                self.view.push(m);
            }
        }
        if self.view.len() != before {
            changes.push(Change::Exists(
                u32::try_from(self.view.len()).unwrap_or(u32::MAX),
            ));
        }
        if let Backend::Mbox(s) = &mut self.store {
            s.reconcile();
        }
        changes
    }

    /// The UID of view entry `idx`, unless expunged.
    fn live_uid(&self, idx: usize) -> Result<u32, StoreError> {
        let v = self.view.get(idx).ok_or(StoreError::NoSuchMessage(idx))?;
        if v.expunged {
            return Err(StoreError::Expunged(v.uid));
        }
        Ok(v.uid)
    }

    /// The position in the Maildir (or mbox) of view entry `idx`.
    fn md_pos(&self, idx: usize) -> Result<usize, StoreError> {
        let uid = self.live_uid(idx)?;
        match &self.store {
            Backend::Maildir(md) => md.position(uid),
            Backend::Mbox(m) => m.mb.position(uid),
        }
        .ok_or(StoreError::Expunged(uid))
    }

    /// STORE on the message at view index `idx`; returns the new flags
    /// and keywords. On an mbox the change is written by [`Self::commit`]
    /// (the session calls it after each command).
    pub fn store(
        &mut self,
        idx: usize,
        op: FlagOp,
        flags: Flags,
        keywords: &[String],
    ) -> Result<(Flags, Vec<String>), StoreError> {
        if self.read_only {
            return Err(read_only_error(self.dir()));
        }
        let pos = self.md_pos(idx)?;
        if let Backend::Mbox(s) = &mut self.store {
            for n in keywords {
                if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(keyword_error(
                        s.mb.path(),
                        io::ErrorKind::InvalidInput,
                        "invalid keyword",
                    ));
                }
            }
            let v = self
                .view
                .get_mut(idx)
                .ok_or(StoreError::NoSuchMessage(idx))?;
            let (cur_flags, cur_kw) = (v.flags, v.keywords.clone());
            let (new_flags, new_kw) = match op {
                FlagOp::Add => {
                    let mut n = cur_kw;
                    for k in keywords {
                        if !n.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                            n.push(k.clone());
                        }
                    }
                    (cur_flags.union(flags), n)
                }
                FlagOp::Remove => (
                    cur_flags.minus(flags),
                    cur_kw
                        .into_iter()
                        .filter(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)))
                        .collect(),
                ),
                FlagOp::Replace => {
                    let mut n: Vec<String> = Vec::new();
                    for k in keywords {
                        if !n.contains(k) {
                            n.push(k.clone());
                        }
                    }
                    (flags.union(Flags(cur_flags.0 & Flags::PASSED.0)), n)
                }
            };
            let _ = pos;
            let on_disk = s.mb.messages().get(pos);
            if on_disk.is_some_and(|m| m.flags == new_flags && m.keywords == new_kw) {
                s.pending.remove(&v.uid);
            } else {
                s.pending.insert(
                    v.uid,
                    FlagUpdate {
                        flags: new_flags,
                        keywords: new_kw.clone(),
                    },
                );
            }
            v.flags = new_flags;
            v.keywords = new_kw.clone();
            return Ok((new_flags, new_kw));
        }
        let Backend::Maildir(md) = &mut self.store else {
            return Err(StoreError::NoSuchMessage(idx));
        };
        let (cur_flags, cur_letters) = match md.messages().get(pos) {
            Some(m) => (m.flags(), m.name.keywords.clone()),
            None => return Err(StoreError::NoSuchMessage(idx)),
        };
        if !keywords.is_empty() {
            self.keywords = ensure_keywords(md.control_dir(), keywords)?;
        }
        let cur_names = names_of_mask(keyword_mask(&cur_letters), &self.keywords);
        let (new_flags, new_names) = match op {
            FlagOp::Add => {
                let mut n = cur_names.clone();
                n.extend(keywords.iter().cloned());
                (cur_flags.union(flags), n)
            }
            FlagOp::Remove => {
                let drop: Vec<char> = keywords
                    .iter()
                    .filter_map(|k| letter_of(k, &self.keywords))
                    .collect();
                let n = cur_names
                    .iter()
                    .filter(|k| letter_of(k, &self.keywords).is_none_or(|c| !drop.contains(&c)))
                    .cloned()
                    .collect();
                (cur_flags.minus(flags), n)
            }
            FlagOp::Replace => (
                flags.union(Flags(cur_flags.0 & Flags::PASSED.0)),
                keywords.to_vec(),
            ),
        };
        // Letters the table does not know are kept as they are.
        let unknown: String = cur_letters
            .chars()
            .filter(|c| !self.keywords.iter().any(|(t, _)| t == c))
            .collect();
        let letters = format!("{}{unknown}", letters_for(&new_names, &self.keywords));
        md.set_info(pos, new_flags, Some(&letters))?;
        let (f, kw) = match md.messages().get(pos) {
            Some(m) => (
                m.flags(),
                names_of_mask(m.name.keyword_mask(), &self.keywords),
            ),
            None => return Err(StoreError::NoSuchMessage(idx)),
        };
        if let Some(v) = self.view.get_mut(idx) {
            v.flags = f;
            v.keywords = kw.clone();
        }
        Ok((f, kw))
    }

    /// The mod-sequence of the message at view index `idx` (RFC 7162).
    pub fn modseq(&self, idx: usize) -> u64 {
        let Some(v) = self.view.get(idx) else {
            return self.highest_modseq();
        };
        match &self.store {
            Backend::Maildir(md) => md.modseq(v.uid),
            Backend::Mbox(m) => m.modseqs.of(v.uid),
        }
    }

    /// HIGHESTMODSEQ.
    pub fn highest_modseq(&self) -> u64 {
        match &self.store {
            Backend::Maildir(md) => md.highest_modseq(),
            Backend::Mbox(m) => m.modseqs.highest.max(1),
        }
    }

    /// The UIDs expunged after mod-sequence `since` (QRESYNC), and
    /// whether that list is complete (see
    /// [`crate::modseq::ModSeqs::vanished_since`]).
    pub fn vanished_since(&self, since: u64) -> (Vec<u32>, bool) {
        match &self.store {
            Backend::Maildir(md) => md.modseqs().vanished_since(since),
            Backend::Mbox(m) => m.modseqs.vanished_since(since),
        }
    }

    /// Gives this session's flag changes since the last call (or sync)
    /// their mod-sequences, shared with every other session; also
    /// re-reads the numbers other sessions gave. [`Self::store`] leaves
    /// this to the caller, so a STORE on many messages writes the
    /// mod-sequence file once. On an mbox this is also when the STOREs
    /// are written into the file (one rewrite for the command); a
    /// failure is logged and retried at the next commit.
    pub fn commit(&mut self) {
        match &mut self.store {
            Backend::Maildir(md) => md.commit_modseqs(),
            Backend::Mbox(s) => {
                if let Err(e) = s.flush(&[]) {
                    maillog::warning!("{}: writing flags: {e}", s.mb.path().display());
                }
                s.reconcile();
            }
        }
    }

    /// Removes the view entries at `targets` (ascending view indexes)
    /// from disk and from the view; returns the (EXPUNGE seq, UID) pairs
    /// to send.
    fn expunge_indexes(&mut self, targets: &[usize]) -> Result<Vec<(u32, u32)>, StoreError> {
        if let Backend::Mbox(s) = &mut self.store {
            let uids: Vec<u32> = targets
                .iter()
                .filter_map(|&i| self.view.get(i).map(|v| v.uid))
                .collect();
            s.flush(&uids)?;
            let mut seqs = Vec::new();
            for (removed, &i) in targets.iter().enumerate() {
                if let Some(v) = self.view.get(i) {
                    seqs.push((u32::try_from(i + 1 - removed).unwrap_or(u32::MAX), v.uid));
                }
            }
            for &i in targets.iter().rev() {
                if i < self.view.len() {
                    self.view.remove(i);
                }
            }
            s.stale = true;
            s.reconcile();
            return Ok(seqs);
        }
        let Backend::Maildir(md) = &mut self.store else {
            return Ok(Vec::new());
        };
        let mut seqs = Vec::new();
        let mut removed = 0usize;
        let mut done = Vec::new();
        let mut result = Ok(());
        for &i in targets {
            let Some(v) = self.view.get(i) else { continue };
            if let Some(pos) = md.position(v.uid) {
                if let Err(e) = md.expunge(pos) {
                    result = Err(e);
                    break;
                }
            }
            seqs.push((u32::try_from(i + 1 - removed).unwrap_or(u32::MAX), v.uid));
            removed += 1;
            done.push(i);
        }
        for &i in done.iter().rev() {
            self.view.remove(i);
        }
        if !done.is_empty() {
            md.commit_modseqs();
        }
        result.map(|()| seqs)
    }

    /// EXPUNGE (uids = None) or UID EXPUNGE: removes the messages flagged
    /// \Deleted; returns the `* n EXPUNGE` seqs in sending order.
    pub fn expunge(&mut self, uids: Option<&[u32]>) -> Result<Vec<u32>, StoreError> {
        Ok(self
            .expunge_with_uids(uids)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// As [`Self::expunge`], with each seq's UID (QRESYNC's VANISHED).
    pub fn expunge_with_uids(
        &mut self,
        uids: Option<&[u32]>,
    ) -> Result<Vec<(u32, u32)>, StoreError> {
        if self.read_only {
            return Err(read_only_error(self.dir()));
        }
        let wanted: Option<HashSet<u32>> = uids.map(|u| u.iter().copied().collect());
        let targets: Vec<usize> = self
            .view
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                !v.expunged
                    && v.flags.contains(Flags::TRASHED)
                    && wanted.as_ref().is_none_or(|w| w.contains(&v.uid))
            })
            .map(|(i, _)| i)
            .collect();
        self.expunge_indexes(&targets)
    }

    /// Expunges the messages at `idxs` whatever their flags (MOVE after
    /// [`Self::copy_to`]): returns the EXPUNGE seqs to send.
    pub fn remove(&mut self, idxs: &[usize]) -> Result<Vec<u32>, StoreError> {
        Ok(self
            .remove_with_uids(idxs)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// As [`Self::remove`], with each seq's UID.
    pub fn remove_with_uids(&mut self, idxs: &[usize]) -> Result<Vec<(u32, u32)>, StoreError> {
        if self.read_only {
            return Err(read_only_error(self.dir()));
        }
        let mut targets: Vec<usize> = idxs
            .iter()
            .copied()
            .filter(|&i| i < self.view.len())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        self.expunge_indexes(&targets)
    }

    /// The message's bytes as stored (mbox: `>From ` quoting undone).
    pub fn read(&mut self, idx: usize) -> Result<Vec<u8>, StoreError> {
        let uid = self.live_uid(idx)?;
        if let Backend::Mbox(s) = &mut self.store {
            return s.read(uid);
        }
        let pos = self.md_pos(idx)?;
        match &mut self.store {
            Backend::Maildir(md) => md.read_message(pos),
            Backend::Mbox(_) => Err(StoreError::NoSuchMessage(idx)),
        }
    }

    /// RFC822.SIZE: the size with CRLF line ends (`W=` when present).
    pub fn size(&mut self, idx: usize) -> Result<u64, StoreError> {
        let pos = self.md_pos(idx)?;
        match &mut self.store {
            Backend::Maildir(md) => md.wire_size(pos),
            Backend::Mbox(s) => {
                s.mb.messages()
                    .get(pos)
                    .map(|m| m.wire_size - m.hidden.min(m.wire_size))
                    .ok_or(StoreError::NoSuchMessage(idx))
            }
        }
    }

    /// INTERNALDATE as Unix time: the file's mtime (mbox: the date of
    /// the `From ` line).
    pub fn internal_date(&mut self, idx: usize) -> Result<i64, StoreError> {
        let pos = self.md_pos(idx)?;
        let md = match &mut self.store {
            Backend::Maildir(md) => md,
            Backend::Mbox(s) => return s.mb.from_line_date(pos),
        };
        let f = md.open_message(pos)?;
        let p = md.path(pos)?;
        let m = f
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|e| StoreError::io("stat", &p, e))?;
        Ok(unix_time(m))
    }

    /// COPY into a Maildir or an mbox (the same format as this one):
    /// see [`Self::copy_to`]; into an mbox each message is appended with
    /// its flags and keywords and its `From ` line date, all or nothing.
    pub fn copy_to_at(
        &mut self,
        idxs: &[usize],
        dest: &MailboxPath,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        match dest {
            MailboxPath::Maildir(d) => self.copy_to(idxs, d),
            MailboxPath::Mbox { file, index } => {
                let mut out = open_mbox(file, index.as_deref(), false)?;
                let mut made: Vec<(u32, u32)> = Vec::new();
                let res = (|| -> Result<(), StoreError> {
                    for &i in idxs {
                        let data = self.read(i)?;
                        let date = self.internal_date(i).ok();
                        let v = self.view.get(i).ok_or(StoreError::NoSuchMessage(i))?;
                        let u = FlagUpdate {
                            flags: v.flags,
                            keywords: v.keywords.clone(),
                        };
                        let src = v.uid;
                        let uid = out.append(&data, &u, date)?;
                        made.push((src, uid));
                    }
                    Ok(())
                })();
                if let Err(e) = res {
                    let uids: Vec<u32> = made.iter().map(|(_, d)| *d).collect();
                    let _ = out.rewrite(&HashMap::new(), &uids);
                    return Err(e);
                }
                Ok((out.uid_validity(), made))
            }
        }
    }

    /// COPY: copies the messages at `idxs` (view order) into the Maildir
    /// `dest` (hard link when possible, else a copy; flags and keywords
    /// kept, keywords remapped to dest's table); returns dest's
    /// UIDVALIDITY and the (source uid, dest uid) pairs. All or nothing:
    /// on an error the copies made so far are removed.
    pub fn copy_to(
        &mut self,
        idxs: &[usize],
        dest: &Path,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        if !dest.join("cur").is_dir() {
            return Err(StoreError::io(
                "open",
                dest,
                io::Error::from(io::ErrorKind::NotFound),
            ));
        }
        let mut poss = Vec::with_capacity(idxs.len());
        for &i in idxs {
            poss.push((i, self.md_pos(i)?));
        }
        let Backend::Maildir(md) = &mut self.store else {
            return Err(StoreError::io(
                "open",
                dest,
                io::Error::new(io::ErrorKind::Unsupported, "copy from mbox into a Maildir"),
            ));
        };
        // Every keyword the copies need, defined in dest first.
        let mut names: Vec<String> = Vec::new();
        for &(_, pos) in &poss {
            if let Some(m) = md.messages().get(pos) {
                for n in names_of_mask(m.name.keyword_mask(), &self.keywords) {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        let dest_table = ensure_keywords(dest, &names)?;
        let lock = UidListLock::acquire(dest, LOCK_TIMEOUT)?;
        let mut made: Vec<(u32, String, PathBuf)> = Vec::new();
        let res = (|| -> Result<(), StoreError> {
            for &(i, pos) in &poss {
                let size = md.size(pos)?;
                let vsize = md.wire_size(pos)?;
                let (uid, flags, kw) = match md.messages().get(pos) {
                    Some(m) => (
                        m.uid,
                        m.flags(),
                        letters_for(
                            &names_of_mask(m.name.keyword_mask(), &self.keywords),
                            &dest_table,
                        ),
                    ),
                    None => return Err(StoreError::NoSuchMessage(i)),
                };
                let base = format!(
                    "{},S={size},W={vsize}",
                    crate::maildir::unique_name(crate::maildir::default_hostname())
                );
                let target = dest
                    .join("cur")
                    .join(format!("{base}:2,{}{kw}", flags.letters()));
                let mut linked = false;
                for _ in 0..3 {
                    let src = md.path(pos)?;
                    match fs::hard_link(&src, &target) {
                        Ok(()) => {
                            linked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            // Renamed by another session: find it again.
                            drop(md.open_message(pos)?);
                        }
                        Err(_) => break,
                    }
                }
                if !linked {
                    let mut src = md.open_message(pos)?;
                    let mtime = src.metadata().and_then(|m| m.modified()).ok();
                    write_via_tmp(dest, &base, &target, mtime, |f| {
                        io::copy(&mut src, f).map(|_| ())
                    })?;
                }
                made.push((uid, base, target));
            }
            Ok(())
        })();
        if let Err(e) = res {
            for (_, _, p) in &made {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        let cur = dest.join("cur");
        util::safe_file::sync_dir(&cur).map_err(|e| StoreError::io("fsync", &cur, e))?;
        let bases: Vec<String> = made.iter().map(|(_, b, _)| b.clone()).collect();
        let (validity, uids) = assign_uids(lock, dest, &bases)?;
        let pairs = made
            .iter()
            .zip(uids)
            .map(|((src, _, _), d)| (*src, d))
            .collect();
        Ok((validity, pairs))
    }
}

fn unix_time(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn from_unix_time(t: i64) -> SystemTime {
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    }
}

/// Writes `tmp/BASE` with `fill`, sets its mtime, fsyncs it and links it
/// to `target` (never replacing), then removes the tmp name.
fn write_via_tmp(
    dir: &Path,
    base: &str,
    target: &Path,
    mtime: Option<SystemTime>,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = dir.join("tmp").join(base);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| StoreError::io("create", &tmp, e))?;
    let res = fill(&mut f)
        .and_then(|()| f.flush())
        .and_then(|()| match mtime {
            Some(t) => f.set_modified(t),
            None => Ok(()),
        })
        .and_then(|()| f.sync_all())
        .map_err(|e| StoreError::io("write", &tmp, e))
        .and_then(|()| fs::hard_link(&tmp, target).map_err(|e| StoreError::io("link", target, e)));
    let _ = fs::remove_file(&tmp);
    res
}

/// Gives `bases` (files already in `dir`'s cur/) the next UIDs under the
/// held `lock` (a base another session already numbered keeps its UID);
/// returns UIDVALIDITY and the UIDs.
fn assign_uids(
    lock: UidListLock,
    dir: &Path,
    bases: &[String],
) -> Result<(u32, Vec<u32>), StoreError> {
    let mut list = UidList::read(dir)?.unwrap_or_default();
    let mut uids = Vec::with_capacity(bases.len());
    for b in bases {
        if let Some(r) = list.find(b) {
            uids.push(r.uid);
            continue;
        }
        let uid = list.next_uid;
        list.next_uid = list.next_uid.saturating_add(1);
        list.records.push(UidRecord {
            uid,
            ext: Vec::new(),
            name: b.clone(),
        });
        uids.push(uid);
    }
    lock.commit(&list)?;
    Ok((list.uid_validity, uids))
}

/// APPEND: writes `message` into the Maildir `dir` (CRLF line ends
/// stored as LF, as Dovecot's default `mail_save_crlf = no`; tmp → cur,
/// fsync'd before it is visible, `,S=` and `,W=`, flags and keyword
/// letters in `:2,`), mtime = `internal_date` when given, UID from
/// dovecot-uidlist; returns (UIDVALIDITY, UID).
pub fn append(
    dir: &Path,
    message: &[u8],
    flags: Flags,
    keywords: &[String],
    internal_date: Option<i64>,
) -> Result<(u32, u32), StoreError> {
    if !dir.join("cur").is_dir() {
        return Err(StoreError::io(
            "open",
            dir,
            io::Error::from(io::ErrorKind::NotFound),
        ));
    }
    let mut data = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < message.len() {
        if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        data.push(message[i]);
        i += 1;
    }
    let vsize =
        crate::wire::wire_size(&mut &data[..]).map_err(|e| StoreError::io("read", dir, e))?;
    let table = ensure_keywords(dir, keywords)?;
    let kw = letters_for(keywords, &table);
    let base = format!(
        "{},S={},W={vsize}",
        crate::maildir::unique_name(crate::maildir::default_hostname()),
        data.len()
    );
    let target = dir
        .join("cur")
        .join(format!("{base}:2,{}{kw}", flags.letters()));
    let lock = UidListLock::acquire(dir, LOCK_TIMEOUT)?;
    write_via_tmp(
        dir,
        &base,
        &target,
        internal_date.map(from_unix_time),
        |f| f.write_all(&data),
    )?;
    let cur = dir.join("cur");
    if let Err(e) = util::safe_file::sync_dir(&cur) {
        let _ = fs::remove_file(&target);
        return Err(StoreError::io("fsync", &cur, e));
    }
    let (v, uids) = assign_uids(lock, dir, std::slice::from_ref(&base))?;
    let uid = uids
        .first()
        .copied()
        .ok_or(StoreError::Changed(dir.to_path_buf()))?;
    Ok((v, uid))
}

/// STATUS without selecting: counts from a sync of the Maildir that does
/// not move new/ files (files in new/ count as \Recent).
pub fn status(dir: &Path) -> Result<MailboxStatus, StoreError> {
    let mut md = Maildir::open(
        dir,
        MaildirOpenOptions {
            read_only: true,
            create: false,
            ..MaildirOpenOptions::default()
        },
    )?;
    let mut st = MailboxStatus {
        uid_next: md.next_uid(),
        uid_validity: md.uid_validity(),
        highest_modseq: md.highest_modseq(),
        ..MailboxStatus::default()
    };
    for i in 0..md.len() {
        let size = match md.wire_size(i) {
            Ok(s) => s,
            Err(StoreError::Expunged(_)) => continue,
            Err(e) => return Err(e),
        };
        let Some(m) = md.summary(i) else {
            continue;
        };
        st.count(size, m.in_new, m.flags);
    }
    Ok(st)
}

/// The bytes the messages of the Maildir `dir` take (`,S=` from the
/// names, else the files' sizes), for QUOTA's STORAGE. A file gone
/// meanwhile counts nothing.
pub fn storage_size(dir: &Path) -> Result<u64, StoreError> {
    let mut total = 0u64;
    for sub in ["new", "cur"] {
        let d = dir.join(sub);
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("read directory", &d, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("read directory", &d, e))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            total += match crate::maildir_store::FileName::parse(name).size {
                Some(s) => s,
                None => ent.metadata().map(|m| m.len()).unwrap_or(0),
            };
        }
    }
    Ok(total)
}

/// APPEND into a Maildir ([`append`]) or an mbox ([`Mbox::append`]:
/// under the write locks, with `Status:`/`X-Status:`/`X-Keywords:` and
/// `X-UID:`); returns (UIDVALIDITY, UID).
pub fn append_at(
    at: &MailboxPath,
    message: &[u8],
    flags: Flags,
    keywords: &[String],
    internal_date: Option<i64>,
) -> Result<(u32, u32), StoreError> {
    match at {
        MailboxPath::Maildir(dir) => append(dir, message, flags, keywords, internal_date),
        MailboxPath::Mbox { file, index } => {
            for n in keywords {
                if n.is_empty() || n.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(keyword_error(
                        file,
                        io::ErrorKind::InvalidInput,
                        "invalid keyword",
                    ));
                }
            }
            let mut mb = open_mbox(file, index.as_deref(), false)?;
            let u = FlagUpdate {
                flags,
                keywords: keywords.to_vec(),
            };
            let uid = mb.append(message, &u, internal_date)?;
            Ok((mb.uid_validity(), uid))
        }
    }
}

/// STATUS of a Maildir ([`status`]) or an mbox (\Recent: messages
/// without `Status: O`).
pub fn status_at(at: &MailboxPath) -> Result<MailboxStatus, StoreError> {
    match at {
        MailboxPath::Maildir(dir) => status(dir),
        MailboxPath::Mbox { file, index } => {
            let mb = open_mbox(file, index.as_deref(), true)?;
            let mut modseqs = index.as_deref().and_then(ModSeqs::read).unwrap_or_default();
            let current: Vec<(u32, Info)> = mb
                .messages()
                .iter()
                .map(|m| (m.uid, mbox_info(m.flags, &m.keywords)))
                .collect();
            reconcile_mbox_modseqs(index.as_deref(), &mut modseqs, mb.uid_validity(), &current);
            let mut st = MailboxStatus {
                uid_next: mb.next_uid(),
                uid_validity: mb.uid_validity(),
                highest_modseq: modseqs.highest.max(1),
                ..MailboxStatus::default()
            };
            for m in mb.messages() {
                st.count(m.wire_size - m.hidden.min(m.wire_size), !m.old, m.flags);
            }
            Ok(st)
        }
    }
}

/// The bytes a mailbox takes (QUOTA): [`storage_size`], or the mbox
/// file's size.
pub fn storage_size_at(at: &MailboxPath) -> Result<u64, StoreError> {
    match at {
        MailboxPath::Maildir(dir) => storage_size(dir),
        MailboxPath::Mbox { file, .. } => match fs::metadata(file) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::io("stat", file, e)),
        },
    }
}
