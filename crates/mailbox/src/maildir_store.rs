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
//!
//! A sync that listed settled directories saves its listing in
//! [`INDEX_FILE`]: a fixed record per message ([`Summary`]: UID, flags,
//! keyword letters, RFC822.SIZE), then the file names. The next open
//! whose stamps (the times of `new/` and `cur/`, the uidlist's identity)
//! are the saved ones lists nothing, reads only the records, and reads
//! the names when a command first needs one.

use crate::modseq::{Info, ModSeqs, MODSEQ_FILE};
use crate::store::{Flags, StoreError};
use crate::uidlist::{UidList, UidListLock, UidRecord};
use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sets and maps keyed by file names or UIDs: a seeded fast hash, since a
/// listing joins thousands of names.
type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The listing saved for the next session, in the control directory
/// (beside dovecot-uidlist; Dovecot ignores it).
pub const INDEX_FILE: &str = "mailsuite-maildir.index";
const INDEX_MAGIC: &str = "mailsuite-maildir-index 3";
/// The bytes of one message's [`Summary`] in [`INDEX_FILE`].
const RECORD_LEN: usize = 16;
/// A [`Summary::vsize`] that is not known.
const NO_SIZE: u32 = u32::MAX;

/// A Maildir file name and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The whole name.
    full: String,
    /// Where the base (everything before the info separator ':') ends.
    base_len: usize,
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
        FileName::from_string(name.to_string())
    }

    /// Parses a file name, keeping the string.
    pub fn from_string(full: String) -> FileName {
        let bytes = full.as_bytes();
        let mut size = None;
        let mut vsize = None;
        // One pass over the base: its `,`-separated fields after the
        // first (`S=`, `W=`), up to the info separator.
        let mut base_len = bytes.len();
        let mut field = None;
        for (i, &c) in bytes.iter().enumerate() {
            if c == b',' || c == b':' {
                if let Some(start) = field {
                    size_field(&bytes[start..i], &mut size, &mut vsize);
                }
                if c == b':' {
                    base_len = i;
                    break;
                }
                field = Some(i + 1);
            }
        }
        if base_len == bytes.len() {
            if let Some(start) = field {
                size_field(&bytes[start..], &mut size, &mut vsize);
            }
        }
        let mut flags = Flags::NONE;
        let mut keywords = String::new();
        let mut has_info = false;
        if let Some(letters) = bytes
            .get(base_len + 1..)
            .and_then(|i| i.strip_prefix(b"2,"))
        {
            has_info = true;
            for &c in letters {
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
            full,
            base_len,
            size,
            vsize,
            flags,
            keywords,
            has_info,
        }
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// Everything before the info separator ':'.
    pub fn base(&self) -> &str {
        self.full.get(..self.base_len).unwrap_or(&self.full)
    }

    /// The keyword letters `a`–`z` as bits (bit 0: `a`), the only ones
    /// `dovecot-keywords` can name.
    pub fn keyword_mask(&self) -> u32 {
        keyword_mask(&self.keywords)
    }

    /// The name with `flags` and the keywords: `BASE:2,FLAGS`.
    pub fn with_flags(&self, flags: Flags) -> String {
        let mut kw: Vec<char> = self.keywords.chars().collect();
        kw.sort_unstable();
        let kw: String = kw.into_iter().collect();
        format!("{}:2,{}{}", self.base(), flags.letters(), kw)
    }
}

/// The letters `a`–`z` among `letters` as bits (bit 0: `a`).
pub fn keyword_mask(letters: &str) -> u32 {
    letters
        .bytes()
        .filter(u8::is_ascii_lowercase)
        .fold(0, |m, c| m | 1 << (c - b'a'))
}

/// `S=N` or `W=N` (other fields are left alone; a bad number is none).
fn size_field(field: &[u8], size: &mut Option<u64>, vsize: &mut Option<u64>) {
    let (slot, digits) = match field {
        [b'S', b'=', d @ ..] => (size, d),
        [b'W', b'=', d @ ..] => (vsize, d),
        _ => return,
    };
    *slot = parse_decimal(digits);
}

/// A non-empty run of ASCII digits as a number (none on overflow).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// One message of an open Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirMessage {
    pub uid: u32,
    /// The file's current name, in `cur/` (or `new/` when `in_new`).
    pub name: FileName,
    pub in_new: bool,
    /// Extensions from the uidlist record (`P` POP3 UIDL…).
    pub ext: Vec<String>,
}

impl MaildirMessage {
    pub fn flags(&self) -> Flags {
        self.name.flags
    }

    /// The file's current name.
    pub fn file_name(&self) -> &str {
        self.name.as_str()
    }

    /// Its flags and keyword letters as the mod-sequence records keep them.
    fn info(&self) -> Info {
        Info::maildir(self.flags(), self.name.keyword_mask())
    }

    /// The uidlist extension `key`.
    pub fn ext(&self, key: char) -> Option<&str> {
        self.ext.iter().find_map(|e| e.strip_prefix(key))
    }

    /// RFC822.SIZE when the name (`W=`) or the uidlist (`W`) gives it.
    fn known_wire_size(&self) -> Option<u64> {
        self.name
            .vsize
            .or_else(|| self.ext('W').and_then(|w| w.parse().ok()))
    }

    fn summary(&self) -> Summary {
        Summary {
            uid: self.uid,
            flags: self.flags(),
            keywords: self.name.keyword_mask(),
            in_new: self.in_new,
            vsize: self
                .known_wire_size()
                .and_then(|s| u32::try_from(s).ok())
                .filter(|&s| s != NO_SIZE)
                .unwrap_or(NO_SIZE),
        }
    }
}

/// What a session needs of a message before it reads one (SELECT,
/// FETCH FLAGS RFC822.SIZE, STATUS): all of it kept in [`INDEX_FILE`]
/// as a fixed record, so an open of an unchanged Maildir reads no file
/// names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub uid: u32,
    pub flags: Flags,
    /// Keyword letters `a`–`z` as bits ([`FileName::keyword_mask`]).
    pub keywords: u32,
    pub in_new: bool,
    /// RFC822.SIZE, or [`NO_SIZE`].
    vsize: u32,
}

impl Summary {
    /// RFC822.SIZE when known without reading the file.
    pub fn wire_size(&self) -> Option<u64> {
        (self.vsize != NO_SIZE).then_some(u64::from(self.vsize))
    }

    fn to_bytes(self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&self.uid.to_le_bytes());
        b[4..8].copy_from_slice(&self.vsize.to_le_bytes());
        b[8..12].copy_from_slice(&self.keywords.to_le_bytes());
        b[12] = self.flags.0;
        b[13] = u8::from(self.in_new);
        b
    }

    /// A record as [`Self::to_bytes`] wrote it; none if any bit is out
    /// of place.
    fn from_bytes(b: &[u8; RECORD_LEN]) -> Option<Summary> {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let s = Summary {
            uid: word(0),
            vsize: word(4),
            keywords: word(8),
            flags: Flags(b[12]),
            in_new: b[13] == 1,
        };
        let valid = s.uid != 0
            && s.keywords >> 26 == 0
            && s.flags.0 < 64
            && b[13] <= 1
            && b[14..] == [0, 0];
        valid.then_some(s)
    }
}

/// A saved listing whose file names are not read until something needs
/// them (a message's body, a flag change, a rescan).
#[derive(Debug)]
struct Unread {
    /// The records as saved ([`Summary::to_bytes`]; checked at load),
    /// decoded when asked for.
    records: Vec<u8>,
    /// [`INDEX_FILE`] as opened: it is only ever replaced by rename, so
    /// what this handle reads later is what it vouched for.
    file: File,
    /// Where the names begin, and their length.
    names_at: u64,
    names_len: usize,
}

impl Unread {
    fn chunks(&self) -> &[[u8; RECORD_LEN]] {
        self.records.as_chunks().0
    }

    fn len(&self) -> usize {
        self.chunks().len()
    }

    fn get(&self, idx: usize) -> Option<Summary> {
        Summary::from_bytes(self.chunks().get(idx)?)
    }

    fn records(&self) -> impl Iterator<Item = Summary> + '_ {
        self.chunks().iter().filter_map(Summary::from_bytes)
    }

    /// Where the record of `uid` is (the UIDs ascend: checked at load).
    fn position(&self, uid: u32) -> Option<usize> {
        self.chunks()
            .binary_search_by_key(&uid, |r| u32::from_le_bytes([r[0], r[1], r[2], r[3]]))
            .ok()
    }

    /// The messages with their names (`EXT TAB NAME` lines, in record
    /// order); none if the names do not match the records.
    fn read_names(&self) -> Option<Vec<MaildirMessage>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; self.names_len];
        self.file.read_exact_at(&mut buf, self.names_at).ok()?;
        let text = String::from_utf8(buf).ok()?;
        let mut lines = text.split_terminator('\n');
        let mut out = Vec::with_capacity(self.len());
        for r in self.records() {
            let (ext, name) = lines.next()?.split_once('\t')?;
            if name.is_empty() {
                return None;
            }
            let mut m = MaildirMessage {
                uid: r.uid,
                name: FileName::parse(name),
                in_new: r.in_new,
                ext: ext
                    .split(' ')
                    .filter(|e| !e.is_empty())
                    .map(String::from)
                    .collect(),
            };
            if m.known_wire_size().is_none() {
                // Counted from the file by the session that saved this.
                m.name.vsize = r.wire_size();
            }
            if m.summary() != r {
                return None;
            }
            out.push(m);
        }
        lines.next().is_none().then_some(out)
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
    /// The messages with their file names, in UID order: read from the
    /// saved listing only when first needed (see `unread`).
    messages: OnceCell<Vec<MaildirMessage>>,
    /// The saved listing this handle opened with; only its records count
    /// until its names are read ([`Self::messages`]).
    unread: Option<Box<Unread>>,
    /// The saved names turned out not to match their records: the next
    /// sync lists the directories again.
    names_lost: Cell<bool>,
    /// Base names this process moved from `new/` to `cur/` (IMAP's
    /// \Recent), until [`Maildir::take_moved_from_new`].
    moved: Vec<String>,
    /// What `new/`, `cur/` and the uidlist looked like when the last full
    /// sync began, and when that was.
    stamp: Option<(Stamp, std::time::SystemTime)>,
    /// The stamp of the listing saved in [`INDEX_FILE`], as loaded or
    /// last saved by this handle (boxed, as `modseqs`).
    index_stamp: Option<Box<(Stamp, std::time::SystemTime)>>,
    /// The mod-sequences ([`crate::modseq`]) as last read or written;
    /// read only when first needed after an open that found the saved
    /// listing and `mailsuite-modseq` as they were saved together
    /// (boxed: a Maildir handle stays small).
    modseqs: OnceCell<Box<ModSeqs>>,
    /// The identity of `mailsuite-modseq` when `modseqs` was read or
    /// written (it is only ever replaced by rename).
    modseq_id: Cell<FileId>,
    /// Whether `modseqs` records exactly the messages as this handle last
    /// listed them, and the file is the one of `modseq_id` (so a saved
    /// listing can vouch for both).
    modseqs_match: bool,
    /// HIGHESTMODSEQ as the saved listing recorded it, for an open that
    /// has not read the mod-sequences.
    highest_hint: u64,
    /// UIDs this handle renamed or expunged since their mod-sequences
    /// were last numbered.
    dirty: Vec<u32>,
}

/// A file's inode, size and modification time (seconds, nanoseconds):
/// for files only ever replaced by rename, the same identity is the same
/// content.
type FileId = (u64, u64, i64, i64);
/// The identity of a missing file.
const NO_FILE: FileId = (0, 0, 0, 0);

/// The modification times of `new/` and `cur/`, and the uidlist's
/// identity and time: when none changed, neither did the Maildir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    new: (i64, i64),
    cur: (i64, i64),
    uidlist: FileId,
}

impl Stamp {
    /// Whether a listing that began at `at` can be trusted while the
    /// stamp stays the same: a change after `at` must give a directory
    /// a newer modification time. The kernel stamps directories from a
    /// clock that lags by up to a tick (a few milliseconds), so the
    /// directories must have been untouched for longer than that when
    /// the listing began: 50 ms where times have nanoseconds, and a
    /// second where they are whole seconds (both exactly 0 ns; Dovecot
    /// keeps such directories "dirty" the same way).
    fn settled_at(&self, at: std::time::SystemTime) -> bool {
        let newest = self.new.max(self.cur);
        let margin = if self.new.1 == 0 && self.cur.1 == 0 {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(50)
        };
        let newest = std::time::UNIX_EPOCH
            + Duration::new(
                u64::try_from(newest.0).unwrap_or(0),
                u32::try_from(newest.1).unwrap_or(0),
            );
        newest + margin < at
    }
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
        if let Ok(n) = ent.file_name().into_string() {
            if !n.starts_with('.') {
                out.push(n);
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
            messages: OnceCell::from(Vec::new()),
            unread: None,
            names_lost: Cell::new(false),
            moved: Vec::new(),
            stamp: None,
            index_stamp: None,
            modseqs: OnceCell::new(),
            modseq_id: Cell::new(NO_FILE),
            modseqs_match: false,
            highest_hint: 0,
            dirty: Vec::new(),
        };
        // A listing an earlier session saved, if the Maildir has not
        // changed since: the sync below then lists nothing.
        let saved_modseq = m.load_index();
        if !m.sync()?.rescanned {
            // The saved listing was current. If mailsuite-modseq is the
            // file saved with it, the two agree and the file is read only
            // when a mod-sequence is asked for; otherwise it is compared
            // with the listing now.
            let path = m.control.join(MODSEQ_FILE);
            match saved_modseq {
                Some((id, highest)) if id != NO_FILE && id == Self::file_identity(&path) => {
                    m.highest_hint = highest;
                }
                _ => m.reconcile_modseqs(true),
            }
        }
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

    /// The messages, in UID order (with their file names: an open that
    /// used the saved listing reads them now).
    pub fn messages(&self) -> &[MaildirMessage] {
        self.messages.get_or_init(|| self.read_names())
    }

    /// [`Self::messages`], to change.
    fn messages_mut(&mut self) -> &mut Vec<MaildirMessage> {
        if self.messages.get().is_none() {
            self.messages = OnceCell::from(self.read_names());
        }
        self.unread = None;
        self.messages
            .get_mut()
            .expect("the messages were just read")
    }

    /// Replaces the messages (after a listing).
    fn set_messages(&mut self, msgs: Vec<MaildirMessage>) {
        self.messages = OnceCell::from(msgs);
        self.unread = None;
    }

    /// The names the saved listing holds. If they do not match its
    /// records (the file was changed in place), the messages keep their
    /// records without names, so that a message's file cannot be found
    /// ([`Self::path`]), and the next sync lists the directories.
    fn read_names(&self) -> Vec<MaildirMessage> {
        let Some(u) = &self.unread else {
            return Vec::new();
        };
        u.read_names().unwrap_or_else(|| {
            self.names_lost.set(true);
            u.records()
                .map(|r| MaildirMessage {
                    uid: r.uid,
                    name: FileName::parse(""),
                    in_new: r.in_new,
                    ext: Vec::new(),
                })
                .collect()
        })
    }

    /// The saved listing while its names are not read: then its records
    /// are the messages.
    fn records_only(&self) -> Option<&Unread> {
        self.unread
            .as_deref()
            .filter(|_| self.messages.get().is_none())
    }

    /// How many messages there are.
    pub fn len(&self) -> usize {
        match self.records_only() {
            Some(u) => u.len(),
            None => self.messages().len(),
        }
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What message `idx` is without its file name: no names are read.
    pub fn summary(&self, idx: usize) -> Option<Summary> {
        match self.records_only() {
            Some(u) => u.get(idx),
            None => self.messages().get(idx).map(MaildirMessage::summary),
        }
    }

    /// Index of the message with `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        match self.records_only() {
            Some(u) => u.position(uid),
            None => self.messages().binary_search_by_key(&uid, |m| m.uid).ok(),
        }
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
                Ok(()) => self.moved.push(base_of(&name).to_string()),
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
        let mut seen: FastSet<&str> =
            FastSet::with_capacity_and_hasher(files.len(), Default::default());
        let keep: Vec<bool> = files
            .iter()
            .rev()
            .map(|(name, _)| seen.insert(base_of(name)))
            .collect();
        drop(seen);
        Ok(files
            .into_iter()
            .rev()
            .zip(keep)
            .filter_map(|(f, keep)| keep.then_some(f))
            .collect())
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
    fn uidlist_identity(&self) -> FileId {
        Self::file_identity(&self.control.join("dovecot-uidlist"))
    }

    /// Whether nothing can have changed since the last full sync: the
    /// stamps are equal, and the directories had settled when that sync
    /// listed them ([`Stamp::settled_at`]: two changes in one clock tick
    /// can share a modification time; those are rescanned, as Dovecot
    /// does). The uidlist needs no such margin: it is only ever replaced,
    /// so an equal inode is the same content.
    fn unchanged(&self, now: &Option<Stamp>) -> bool {
        let (Some(now), Some((last, at))) = (now, &self.stamp) else {
            return false;
        };
        if self.names_lost.get() {
            return false;
        }
        now == last && last.settled_at(*at)
    }

    fn index_path(&self) -> PathBuf {
        self.control.join(INDEX_FILE)
    }

    /// Loads the listing an earlier sync saved ([`INDEX_FILE`]); anything
    /// odd in it and it is ignored (it is a cache: the stamps in it decide
    /// whether it may be used, exactly as for this handle's own last sync).
    /// Only the header and the fixed records are read; the names wait
    /// until something needs them ([`Unread`]). Returns the identity and
    /// HIGHESTMODSEQ of the `mailsuite-modseq` that recorded exactly this
    /// listing (zeros: none did).
    ///
    /// The file: five text lines (the magic; `stamp` with new/'s and
    /// cur/'s times, the uidlist's identity and when the listing began;
    /// `uids` UIDVALIDITY NEXTUID COUNT; `modseq` IDENTITY HIGHEST;
    /// `names` BYTES), COUNT records of [`RECORD_LEN`] bytes
    /// ([`Summary::to_bytes`]), then a line `EXT TAB NAME` per message.
    fn load_index(&mut self) -> Option<(FileId, u64)> {
        use std::os::unix::fs::FileExt;
        let f = File::open(self.index_path()).ok()?;
        let file_len = f.metadata().ok()?.len();
        let mut head = [0u8; 1024];
        let got = f.read_at(&mut head, 0).ok()?;
        let head = head.get(..got)?;
        let mut lines = Vec::with_capacity(5);
        let mut at = 0;
        while lines.len() < 5 {
            let end = at + head.get(at..)?.iter().position(|&c| c == b'\n')?;
            lines.push(std::str::from_utf8(head.get(at..end)?).ok()?);
            at = end + 1;
        }
        if lines[0] != INDEX_MAGIC {
            return None;
        }
        let nums = |l: &str, key: &str, n: usize| -> Option<Vec<i64>> {
            let rest = l.strip_prefix(key)?;
            let v: Vec<i64> = rest
                .split(' ')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            (v.len() == n).then_some(v)
        };
        let st = nums(lines[1], "stamp ", 10)?;
        // UIDVALIDITY, the next UID and how many messages follow.
        let vn = nums(lines[2], "uids ", 3)?;
        // mailsuite-modseq as it was when it recorded exactly this
        // listing (zeros: it did not), and its HIGHESTMODSEQ.
        let ms = nums(lines[3], "modseq ", 5)?;
        let names_len = usize::try_from(nums(lines[4], "names ", 1)?[0]).ok()?;
        let count = usize::try_from(vn[2]).ok()?;
        let records_len = count.checked_mul(RECORD_LEN)?;
        let names_at = at.checked_add(records_len)?;
        if u64::try_from(names_at.checked_add(names_len)?).ok()? != file_len {
            return None;
        }
        let mut records = vec![0u8; records_len];
        f.read_exact_at(&mut records, at as u64).ok()?;
        // Every record valid, UIDs ascending.
        let mut last = 0;
        for r in records.as_chunks::<RECORD_LEN>().0 {
            let uid = Summary::from_bytes(r)?.uid;
            if uid <= last {
                return None;
            }
            last = uid;
        }
        let (Ok(validity), Ok(next)) = (u32::try_from(vn[0]), u32::try_from(vn[1])) else {
            return None;
        };
        let stamp = Stamp {
            new: (st[0], st[1]),
            cur: (st[2], st[3]),
            uidlist: (st[4] as u64, st[5] as u64, st[6], st[7]),
        };
        let at_time = std::time::UNIX_EPOCH
            + Duration::new(
                u64::try_from(st[8]).unwrap_or(0),
                u32::try_from(st[9]).unwrap_or(0),
            );
        self.uid_validity = validity;
        self.next_uid = next;
        let saved_modseq = (
            (ms[0] as u64, ms[1] as u64, ms[2], ms[3]),
            u64::try_from(ms[4]).unwrap_or(0),
        );
        self.messages = OnceCell::new();
        self.unread = Some(Box::new(Unread {
            records,
            file: f,
            names_at: names_at as u64,
            names_len,
        }));
        self.stamp = Some((stamp, at_time));
        self.index_stamp = self.stamp.map(Box::new);
        Some(saved_modseq)
    }

    /// Saves the listing for the next session (temp file and rename; no
    /// fsync: a lost or stale index only costs a listing).
    fn save_index(&mut self) {
        let Some((s, at)) = self.stamp else {
            return;
        };
        let at = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let (ms_id, highest) = match self.modseqs.get() {
            Some(ms) if self.modseqs_match => (self.modseq_id.get(), ms.highest),
            _ => (NO_FILE, 0),
        };
        let msgs = self.messages();
        let mut records = Vec::with_capacity(msgs.len() * RECORD_LEN);
        let mut names = String::with_capacity(msgs.len() * 64);
        for m in msgs {
            if m.file_name().is_empty()
                || m.file_name().bytes().any(|b| b == b'\t' || b == b'\n')
                || m.ext.iter().any(|e| e.contains(['\t', '\n', ' ']))
            {
                return;
            }
            records.extend_from_slice(&m.summary().to_bytes());
            for (i, e) in m.ext.iter().enumerate() {
                if i > 0 {
                    names.push(' ');
                }
                names.push_str(e);
            }
            names.push('\t');
            names.push_str(m.file_name());
            names.push('\n');
        }
        let header = format!(
            "{INDEX_MAGIC}\nstamp {} {} {} {} {} {} {} {} {} {}\nuids {} {} {}\nmodseq {} {} {} {} {}\nnames {}\n",
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
            self.next_uid,
            msgs.len(),
            ms_id.0,
            ms_id.1,
            ms_id.2,
            ms_id.3,
            highest,
            names.len(),
        );
        let path = self.index_path();
        let tmp = self
            .control
            .join(format!("{INDEX_FILE}.{}.tmp", std::process::id()));
        let written = File::create(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(header.as_bytes())?;
            f.write_all(&records)?;
            f.write_all(names.as_bytes())
        });
        if written.is_ok() {
            if fs::rename(&tmp, &path).is_ok() {
                self.index_stamp = self.stamp.map(Box::new);
            } else {
                let _ = fs::remove_file(&tmp);
            }
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
                let known: FastSet<&str> = l.records.iter().map(|r| r.name.as_str()).collect();
                files.iter().any(|(n, _)| !known.contains(base_of(n)))
            }
        };
        let mut files = files;
        // After a uidlist write of our own: the stamp from before the
        // listing under the lock, with the uidlist as we wrote it.
        let mut locked_stamp = None;
        if missing {
            let had_list = list.is_some();
            let lock = UidListLock::acquire(&self.control, self.opts.lock_timeout)?;
            // Under the lock: the list as the last writer left it, and a
            // second listing so a file being renamed is not dropped.
            list = UidList::read(&self.control)?;
            let (pre, pre_at, again) = if had_list || list.is_some() {
                let pre_at = std::time::SystemTime::now();
                (self.current_stamp(), pre_at, self.scan()?)
            } else {
                // No uidlist before the listing nor now: there are no
                // records to drop, so the listing is numbered as it is
                // (a file renamed during it is numbered by the next sync).
                (stamp, started, std::mem::take(&mut files))
            };
            let mut l = list.take().unwrap_or_default();
            if !l.records.is_empty() {
                let present: FastSet<&str> = files
                    .iter()
                    .chain(again.iter())
                    .map(|(n, _)| base_of(n))
                    .collect();
                l.records.retain(|r| present.contains(r.name.as_str()));
            }
            let known: FastSet<&str> = l.records.iter().map(|r| r.name.as_str()).collect();
            let fresh: Vec<String> = again
                .iter()
                .map(|(n, _)| base_of(n))
                .filter(|b| !known.contains(*b))
                .map(str::to_string)
                .collect();
            files = again;
            let fresh = in_delivery_order(fresh);
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
        let by_name: FastMap<&str, &UidRecord> =
            list.records.iter().map(|r| (r.name.as_str(), r)).collect();
        if self.uid_validity != 0 && list.uid_validity != self.uid_validity {
            // UIDVALIDITY changed: everything is new.
            self.set_messages(Vec::new());
        }
        self.uid_validity = list.uid_validity;
        self.next_uid = list.next_uid;
        // The files with a record, in UID order (sorted as small pairs;
        // a UID listed twice keeps its first file).
        let mut order: Vec<(&UidRecord, usize)> = files
            .iter()
            .enumerate()
            .filter_map(|(i, (name, _))| Some((*by_name.get(base_of(name))?, i)))
            .collect();
        order.sort_by_key(|&(rec, _)| rec.uid);
        order.dedup_by_key(|&mut (rec, _)| rec.uid);
        let msgs: Vec<MaildirMessage> = order
            .into_iter()
            .map(|(rec, i)| {
                let (file_name, in_new) = std::mem::take(&mut files[i]);
                MaildirMessage {
                    uid: rec.uid,
                    name: FileName::from_string(file_name),
                    in_new,
                    ext: rec.ext.clone(),
                }
            })
            .collect();
        // The messages as they were (no names needed).
        let old: FastMap<u32, Flags> = (0..self.len())
            .filter_map(|i| self.summary(i))
            .map(|s| (s.uid, s.flags))
            .collect();
        let now: FastSet<u32> = msgs.iter().map(|m| m.uid).collect();
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
        ch.expunged = old.keys().copied().filter(|u| !now.contains(u)).collect();
        ch.expunged.sort_unstable();
        self.set_messages(msgs);
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
        // The listing is saved for the next session when it can be used
        // (the directories had settled) and the saved one cannot: it is
        // of another state, or was saved before that state settled.
        self.reconcile_modseqs(true);
        if let Some((s, at)) = self.stamp {
            let saved_usable = self
                .index_stamp
                .as_deref()
                .is_some_and(|&(i, i_at)| i == s && i.settled_at(i_at));
            if s.settled_at(at) && !saved_usable {
                self.save_index();
            }
        }
        Ok(ch)
    }

    /// The identity (inode, size, time) of a file that is only ever
    /// replaced by rename; zeros when it does not exist.
    fn file_identity(path: &Path) -> FileId {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path)
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
            .unwrap_or(NO_FILE)
    }

    /// The messages as the mod-sequence records key them.
    fn current_infos(&self) -> Vec<(u32, Info)> {
        self.messages().iter().map(|m| (m.uid, m.info())).collect()
    }

    /// The records of `base` with the messages `dirty` as this handle
    /// has them now (gone: expunged), in UID order.
    fn overlay(&self, base: &ModSeqs, dirty: &[u32]) -> Vec<(u32, Info)> {
        let mut now: BTreeMap<u32, Option<Info>> = BTreeMap::new();
        for uid in dirty {
            let m = self.position(*uid).and_then(|p| self.messages().get(p));
            now.insert(*uid, m.map(MaildirMessage::info));
        }
        let mut v: Vec<(u32, Info)> = base
            .msgs
            .iter()
            .filter(|r| !now.contains_key(&r.uid))
            .map(|r| (r.uid, r.info.clone()))
            .collect();
        // Two sorted runs: the sort merges them.
        v.extend(now.into_iter().filter_map(|(uid, info)| Some((uid, info?))));
        v.sort_by_key(|c| c.0);
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
        let ms = match self.modseqs.take() {
            Some(ms) if id == self.modseq_id.get() => ms,
            _ => self.read_modseqs(id),
        };
        let (ms, matched) = self.reconcile_with(ms, full, &path);
        self.modseqs = OnceCell::from(ms);
        if full {
            self.modseqs_match = matched;
        }
    }

    /// [`Self::reconcile_modseqs`] on `ms` as read; returns it as it is
    /// now and whether the file records exactly this handle's listing.
    fn reconcile_with(
        &mut self,
        mut ms: Box<ModSeqs>,
        full: bool,
        path: &Path,
    ) -> (Box<ModSeqs>, bool) {
        let dirty = std::mem::take(&mut self.dirty);
        let current = if full || ms.uid_validity != self.uid_validity {
            self.current_infos()
        } else {
            if dirty.is_empty() {
                return (ms, false);
            }
            // The records as they are, with this handle's own changes.
            self.overlay(&ms, &dirty)
        };
        if !ms.needs_update(self.uid_validity, &current) {
            return (ms, true);
        }
        let lock = match crate::lock::ReplaceLock::acquire(
            path,
            self.opts.lock_timeout,
            Duration::from_secs(120),
        ) {
            Ok(l) => l,
            Err(e) => {
                maillog::warning!("{}: {e}", path.display());
                ms.apply(self.uid_validity, &current);
                return (ms, false);
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
        fresh.highest = fresh.highest.max(ms.highest);
        let mut written = true;
        // The first numbering of a mailbox is not fsynced: lost in a
        // crash, the next listing numbers the same messages the same way
        // (in UID order from 1). Every later change is.
        let first = fresh.highest == 0 && fresh.msgs.is_empty() && fresh.expunged.is_empty();
        if fresh.apply(self.uid_validity, &current) {
            if let Err(e) = lock.commit_with(fresh.to_text().as_bytes(), !first) {
                maillog::warning!("{}: {e}", path.display());
                written = false;
            }
        }
        self.modseq_id.set(Self::file_identity(path));
        (Box::new(fresh), written)
    }

    /// The mod-sequences, read now if this handle has not yet.
    fn loaded_modseqs(&self) -> &ModSeqs {
        self.modseqs
            .get_or_init(|| self.read_modseqs(Self::file_identity(&self.control.join(MODSEQ_FILE))))
    }

    /// Reads `mailsuite-modseq`, whose identity is `id` (empty records
    /// when it is missing or unreadable).
    fn read_modseqs(&self, id: FileId) -> Box<ModSeqs> {
        self.modseq_id.set(id);
        Box::new(ModSeqs::read(&self.control).unwrap_or_default())
    }

    /// HIGHESTMODSEQ.
    pub fn highest_modseq(&self) -> u64 {
        match self.modseqs.get() {
            Some(ms) => ms.highest.max(1),
            None if self.highest_hint > 0 => self.highest_hint,
            None => self.loaded_modseqs().highest.max(1),
        }
    }

    /// The mod-sequence of message `uid`.
    pub fn modseq(&self, uid: u32) -> u64 {
        self.loaded_modseqs().of(uid)
    }

    /// The mod-sequences (expunged UIDs for QRESYNC).
    pub fn modseqs(&self) -> &ModSeqs {
        self.loaded_modseqs()
    }

    fn path_of(&self, m: &MaildirMessage) -> PathBuf {
        self.dir
            .join(if m.in_new { "new" } else { "cur" })
            .join(m.file_name())
    }

    /// The current path of message `idx`.
    pub fn path(&self, idx: usize) -> Result<PathBuf, StoreError> {
        let m = self
            .messages()
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?;
        if m.file_name().is_empty() {
            // A saved name that could not be read (Self::read_names).
            return Err(StoreError::Changed(self.dir.clone()));
        }
        Ok(self.path_of(m))
    }

    /// Finds where message `idx`'s file went (another session moved it to
    /// cur/ or changed its flags) and updates the entry.
    fn relocate(&mut self, idx: usize) -> Result<(), StoreError> {
        let base = match self.messages().get(idx) {
            Some(m) => m.name.base().to_string(),
            None => return Err(StoreError::NoSuchMessage(idx)),
        };
        for (sub, in_new) in [("cur", false), ("new", true)] {
            for name in list_dir(&self.dir.join(sub))? {
                if base_of(&name) == base {
                    if let Some(m) = self.messages_mut().get_mut(idx) {
                        m.in_new = in_new;
                        m.name = FileName::from_string(name);
                    }
                    return Ok(());
                }
            }
        }
        let uid = self.summary(idx).map_or(0, |s| s.uid);
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
        if let Some(s) = self.messages().get(idx).and_then(|m| m.name.size) {
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
        if let Some(s) = self.summary(idx).and_then(|s| s.wire_size()) {
            return Ok(s);
        }
        if let Some(s) = self
            .messages()
            .get(idx)
            .and_then(MaildirMessage::known_wire_size)
        {
            return Ok(s);
        }
        let mut f = self.open_message(idx)?;
        let p = self.path(idx)?;
        let n = crate::wire::wire_size(&mut f).map_err(|e| StoreError::io("read", &p, e))?;
        if let Some(m) = self.messages_mut().get_mut(idx) {
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
                .messages()
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
            let from = self.path(idx)?;
            let new_name = name.with_flags(flags);
            let to = self.dir.join("cur").join(&new_name);
            match fs::rename(&from, &to) {
                Ok(()) => {
                    if let Some(m) = self.messages_mut().get_mut(idx) {
                        m.name = FileName::from_string(new_name);
                        m.in_new = false;
                        let uid = m.uid;
                        self.dirty.push(uid);
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
            .summary(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?
            .flags;
        self.set_flags(idx, cur.union(add).minus(remove))
    }

    /// Removes message `idx`'s file and drops it from the list. A file
    /// already gone counts as expunged.
    pub fn expunge(&mut self, idx: usize) -> Result<(), StoreError> {
        for _ in 0..3 {
            let p = self.path(idx)?;
            match fs::remove_file(&p) {
                Ok(()) => {
                    let m = self.messages_mut().remove(idx);
                    self.dirty.push(m.uid);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match self.relocate(idx) {
                    Err(StoreError::Expunged(_)) => {
                        let m = self.messages_mut().remove(idx);
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

/// `names` in the order new files get their UIDs, as Dovecot orders
/// them: by the delivery time in the name, `SECS.M<usec>…` compared as
/// numbers (a plain string sort puts `M123` before `M45` within one
/// second), then by the whole name; names without a time come last.
/// Duplicates are dropped.
fn in_delivery_order(names: Vec<String>) -> Vec<String> {
    let mut keyed: Vec<((bool, u64, u64), String)> =
        names.into_iter().map(|n| (delivery_key(&n), n)).collect();
    keyed.sort_unstable();
    keyed.dedup();
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// The time in a Maildir name as `in_delivery_order` compares it.
fn delivery_key(name: &str) -> (bool, u64, u64) {
    let time = name.split_once('.').and_then(|(secs, rest)| {
        let secs = secs.parse().ok()?;
        let usec = rest
            .strip_prefix('M')
            .map(|r| {
                let end = r
                    .bytes()
                    .position(|c| !c.is_ascii_digit())
                    .unwrap_or(r.len());
                r[..end].parse().unwrap_or(0)
            })
            .unwrap_or(0);
        Some((secs, usec))
    });
    match time {
        Some((s, u)) => (false, s, u),
        None => (true, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = FileName::parse("1700.M1P2Q3.host,S=120,W=124:2,SRab");
        assert_eq!(n.base(), "1700.M1P2Q3.host,S=120,W=124");
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
        // A change within a clock tick or so of the last sync is never
        // trusted to the stamp alone.
        assert!(md.sync().expect("sync").rescanned);
        fs::remove_dir_all(&d).expect("cleanup");
    }

    /// The listing saved with mailsuite-modseq: a later open reads
    /// neither the directories nor the mod-sequences until one is asked
    /// for; a mod-sequence file replaced meanwhile is compared again.
    #[test]
    fn a_saved_listing_vouches_for_the_mod_sequences_saved_with_it() {
        let d = std::env::temp_dir().join(format!("mailsuite-index-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        crate::maildir::make_maildir(&d).expect("maildir");
        for i in 0..3 {
            fs::write(d.join(format!("cur/17000000{i}.M{i}P1.h:2,")), "x\n").expect("msg");
        }
        for sub in ["new", "cur"] {
            age(&d.join(sub), 10);
        }
        let first = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        let highest = first.highest_modseq();
        assert!(highest >= 3);
        let index = fs::read(d.join(INDEX_FILE)).expect("index saved");
        let index = String::from_utf8_lossy(&index);
        assert!(index.contains(&format!(" {highest}\nnames ")), "{index}");

        let second = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        assert!(second.modseqs.get().is_none(), "mod-sequences read at open");
        assert!(second.messages.get().is_none(), "names read at open");
        assert_eq!(
            second.summary(1),
            Some(first.messages()[1].summary()),
            "the saved record"
        );
        assert_eq!(second.highest_modseq(), highest);
        assert!(second.modseqs.get().is_none());
        assert_eq!(
            second.modseq(second.messages()[0].uid),
            first.modseq(first.messages()[0].uid)
        );
        assert!(second.modseqs.get().is_some());

        // Another process rewrote mailsuite-modseq (lost its records):
        // the next open compares and numbers the messages again.
        fs::write(
            d.join(MODSEQ_FILE),
            format!(
                "mailsuite-modseq 1\nV{} H{} F0\n",
                first.uid_validity(),
                highest
            ),
        )
        .expect("rewrite");
        let third = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        assert!(third.modseqs.get().is_some());
        assert_eq!(third.highest_modseq(), highest + 3);
        fs::remove_dir_all(&d).expect("cleanup");
    }

    /// The names wait in the saved listing until a message is read or
    /// changed; names that do not match their records (the file changed
    /// in place) reach no file, and the next sync lists the directories.
    #[test]
    fn saved_names_are_read_when_needed_and_checked_against_the_records() {
        let d = std::env::temp_dir().join(format!("mailsuite-names-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        crate::maildir::make_maildir(&d).expect("maildir");
        fs::write(d.join("cur/1700000001.M1P1.h,S=2,W=3:2,S"), "x\n").expect("msg");
        fs::write(d.join("cur/1700000002.M2P1.h:2,Fb"), "yy\n").expect("msg");
        for sub in ["new", "cur"] {
            age(&d.join(sub), 10);
        }
        drop(Maildir::open(&d, MaildirOpenOptions::default()).expect("open"));

        let mut md = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        assert!(md.messages.get().is_none());
        assert_eq!(md.len(), 2);
        let s = md.summary(1).expect("record");
        assert_eq!(
            (s.flags, s.keywords, s.wire_size()),
            (Flags::FLAGGED, 0b10, None)
        );
        assert_eq!(md.wire_size(0).expect("W="), 3);
        assert!(md.messages.get().is_none(), "W= came from the record");
        assert_eq!(md.read_message(1).expect("read"), b"yy\n");
        assert!(md.messages.get().is_some(), "names read for the body");

        // The same length, another name: the record's flags disagree.
        let path = d.join(INDEX_FILE);
        let mut bytes = fs::read(&path).expect("index");
        let at = bytes.windows(5).position(|w| w == b":2,Fb").expect("name");
        bytes[at + 3] = b'S';
        fs::write(&path, bytes).expect("tamper");
        let mut md = Maildir::open(&d, MaildirOpenOptions::default()).expect("open");
        assert!(matches!(md.read_message(1), Err(StoreError::Changed(_))));
        assert!(md.sync().expect("sync").rescanned);
        assert_eq!(md.read_message(1).expect("read"), b"yy\n");
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn directories_settle_after_a_tick_or_after_a_second_without_nanoseconds() {
        use std::time::UNIX_EPOCH;
        let at = |secs: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms);
        let fine = Stamp {
            new: (1_700_000_000, 0),
            cur: (1_700_000_000, 250_000_000),
            uidlist: NO_FILE,
        };
        assert!(!fine.settled_at(at(1_700_000_000, 260)));
        assert!(fine.settled_at(at(1_700_000_000, 320)));
        let whole = Stamp {
            cur: (1_700_000_000, 0),
            ..fine
        };
        assert!(!whole.settled_at(at(1_700_000_000, 900)));
        assert!(whole.settled_at(at(1_700_000_001, 100)));
    }

    #[test]
    fn new_files_get_uids_in_delivery_order() {
        let names = in_delivery_order(
            [
                "odd-name",
                "1700000001.M123P9Q1.host",
                "1700000001.M45P9Q2.host",
                "1700000000.M999999P9Q3.host",
                "1700000001.M45P9Q2.host",
            ]
            .map(String::from)
            .to_vec(),
        );
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
