//! Reading an mbox file: messages split at `From ` lines, `>From `
//! quoting undone, sizes as POP3/IMAP count them, flags in headers
//! (changed in place where they fit), expunge by rewriting, and an
//! index so a large mbox is not parsed on every open.
//!
//! * **Splitting**: a message starts at a line beginning `From ` at the
//!   start of the file or after an empty line; the empty line before the
//!   next `From ` (and the one at the end of the file) is the separator
//!   delivery wrote, not part of the message. Bytes before the first
//!   `From ` line are kept but are no message.
//! * **Locks**: reading takes `read_locks` (default: a shared fcntl lock,
//!   as Dovecot's `mbox_read_locks = fcntl`); expunging takes
//!   `write_locks` (default: dotlock then exclusive fcntl, the same as
//!   delivery's `mailbox_delivery_lock`), so a delivery waits for a
//!   rewrite and the other way round. A [`MessageReader`] keeps its
//!   shared lock until dropped.
//! * **Expunge** writes the kept bytes, byte for byte, to a temporary
//!   file beside the mbox with the mbox's owner, group and mode, fsyncs
//!   it and renames it over the mbox, all under the write locks; where
//!   the directory is not writable (`/var/mail` for a user outside group
//!   mail) it compacts the file in place and truncates it, as Dovecot.
//! * **Flags** (IMAP) are headers, as mutt, s-nail and Dovecot keep
//!   them: `Status:` (R \Seen, O old), `X-Status:` (A F T D),
//!   `X-Keywords:`; `X-UID:` (and Dovecot's `X-IMAPbase:` when there is
//!   no index yet) give UIDs that survive a reparse and a migration.
//!   [`Mbox::rewrite`] writes them for changed messages under the write
//!   locks; [`Mbox::append`] for APPEND. As Dovecot, mailsuite ends
//!   the `X-Keywords:` it writes with [`KEYWORDS_PADDING`] spaces (which
//!   readers take as nothing), so a later flag change usually fits in
//!   the message's header block: then only those bytes are overwritten
//!   (pwrite, fsync; no message changes length, the file keeps its
//!   inode, and its mtime is made to move on so other sessions see the
//!   change). A change that does not fit, or an expunge, rewrites the
//!   file (temp + rename, or in place).
//! * **RENAME INBOX** ([`Mbox::move_all_to`]): the messages are copied
//!   into the new mbox and the file is cut back, under the write locks.
//! * **Index** (`mailsuite-mbox-index 2`; version 1 is read): UIDVALIDITY, next UID, the
//!   file's size, mtime and inode, and per message its UID, offsets,
//!   sizes and an identity hash. When the file is unchanged the index is
//!   used as is; when it only grew (a delivery) only the new tail is
//!   parsed; otherwise the file is parsed again and messages keep their
//!   UIDs where their `From ` line and sizes match, in order.

use crate::lock::{self, KernelLock, LockMethods, LockPolicy};
use crate::store::{Flags, StoreError};
use crate::wire::{Part, WireReader};
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The index file's name in a mailbox's index directory
/// ([`crate::location::Location::mbox_index_path`]).
pub const INDEX_FILE: &str = "mailsuite-mbox.index";

/// How to open an mbox.
#[derive(Debug, Clone)]
pub struct MboxOpenOptions {
    /// Locks for reading (Dovecot `mbox_read_locks`): fcntl → shared.
    pub read_locks: LockMethods,
    /// Locks for rewriting (Dovecot `mbox_write_locks`).
    pub write_locks: LockMethods,
    pub lock_policy: LockPolicy,
    /// The index file; `None` for no index. Without one, UIDs are
    /// numbered 1… on every open and UIDVALIDITY is the time of the open,
    /// so POP3 UIDLs are not stable: pop3d and imapd must give one
    /// ([`crate::location::Location::mbox_index_path`]).
    pub index_path: Option<PathBuf>,
    /// Undo `>From ` quoting in what readers see (and in sizes).
    pub unquote_from: bool,
}

impl Default for MboxOpenOptions {
    fn default() -> Self {
        MboxOpenOptions {
            read_locks: LockMethods {
                dotlock: false,
                fcntl: true,
                flock: false,
            },
            write_locks: LockMethods::default(),
            lock_policy: LockPolicy::default(),
            index_path: None,
            unquote_from: true,
        }
    }
}

/// One message of an mbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    pub uid: u32,
    /// Where its `From ` line starts.
    pub from_offset: u64,
    /// Where its headers start (after the `From ` line).
    pub body_offset: u64,
    /// Where it ends (the separator line, if any, starts here).
    pub end: u64,
    /// Bytes with quoting undone, line ends as stored.
    pub size: u64,
    /// Bytes as POP3/IMAP send them: quoting undone, CRLF line ends.
    pub wire_size: u64,
    /// A hash of the `From ` line (to check an append).
    pub hash: u64,
    /// Identity across rewrites: a hash of the `From ` line and the
    /// first lines of the message.
    pub id: u64,
    /// Flags from `Status:` (R = \Seen) and `X-Status:` (A = \Answered,
    /// F = \Flagged, T = \Draft, D = \Deleted), as mutt, s-nail and
    /// Dovecot write them.
    pub flags: Flags,
    /// `Status: O`: some reader has seen it (not \Recent).
    pub old: bool,
    /// `X-Keywords:` names.
    pub keywords: Vec<String>,
    /// `X-UID:` as found by the last parse (0: none; not kept in the
    /// index).
    pub xuid: u32,
    /// Wire bytes of the managed headers ([`is_managed_header`]), which
    /// IMAP does not show ([`strip_managed_headers`]), as Dovecot.
    pub hidden: u64,
}

/// What identifies a version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ino: u64,
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp {
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ino: m.ino(),
        }
    }
}

/// An open mbox.
#[derive(Debug)]
pub struct Mbox {
    path: PathBuf,
    opts: MboxOpenOptions,
    uid_validity: u32,
    next_uid: u32,
    messages: Vec<MboxMessage>,
    stamp: Stamp,
    /// Bytes before the first `From ` line.
    prefix_end: u64,
    /// How the last open/sync got its list (for tests and logs).
    last_sync: SyncKind,
}

/// How [`Mbox::sync`] brought the message list up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Nothing changed (or the index matched).
    Unchanged,
    /// Only the part appended since was parsed.
    Appended,
    /// The whole file was parsed.
    Full,
}

fn fnv(bytes: &[u8]) -> u64 {
    fnv_more(0xcbf2_9ce4_8422_2325, bytes)
}

const HEAD_MAX: usize = 1000;

/// The hash of the `From ` line at `off`, as [`parse`] computes it.
fn from_line_hash(f: &File, off: u64) -> Option<u64> {
    let mut b = vec![0u8; HEAD_MAX];
    let n = f.read_at(&mut b, off).ok()?;
    b.truncate(n);
    if let Some(i) = b.iter().position(|&c| c == b'\n') {
        b.truncate(i + 1);
    }
    Some(fnv(&b))
}

/// The parse of a range of the file.
struct Parsed {
    /// (message without uid yet)
    messages: Vec<MboxMessage>,
    prefix_end: u64,
    /// `X-IMAPbase: UIDVALIDITY NEXTUID` of the first message (Dovecot).
    imapbase: Option<(u32, u32)>,
}

/// How many content lines go into a message's identity hash.
const ID_LINES: u32 = 16;

/// The line-by-line state of [`parse`].
struct Scanner {
    unquote: bool,
    out: Parsed,
    cur: Option<MboxMessage>,
    /// Content lines hashed into `cur`'s `id`.
    hashed: u32,
    prev_empty: bool,
    prev_start: u64,
    prev_len: u64,
    /// Still in `cur`'s header.
    in_headers: bool,
    /// The last header line was a managed one (for its continuations).
    in_managed: bool,
    /// Whether this parse starts at the beginning of the file.
    from_start: bool,
    /// `cur` is Dovecot's "DON'T DELETE THIS MESSAGE" pseudo message
    /// (`X-IMAP:` in the first message): kept, but as part of the prefix.
    pseudo: bool,
    /// The pseudo message was closed: the prefix runs to the next `From `.
    pseudo_done: bool,
}

impl Scanner {
    /// Ends `cur`, leaving out the separator line before `next`.
    fn close(&mut self) {
        if let Some(mut m) = self.cur.take() {
            if self.prev_empty && self.prev_start >= m.body_offset {
                m.end = self.prev_start;
                m.size -= self.prev_len;
                m.wire_size -= 2;
            }
            if self.pseudo {
                self.pseudo = false;
                self.pseudo_done = true;
                self.out.prefix_end = m.end;
                return;
            }
            self.out.messages.push(m);
        }
    }

    /// A header line of `cur` (the managed ones: flags, keywords, UIDs);
    /// true for those, which are left out of the identity hash.
    fn header(&mut self, head: &[u8]) -> bool {
        if self.cur.is_none() {
            return false;
        }
        let Some(colon) = head.iter().position(|&b| b == b':') else {
            return false;
        };
        if is_managed_header(head) {
            self.managed(head, colon);
            return true;
        }
        self.other_header(head, colon);
        false
    }

    fn managed(&mut self, head: &[u8], colon: usize) {
        let Some(m) = self.cur.as_mut() else { return };
        let name = &head[..colon];
        let value = String::from_utf8_lossy(&head[colon + 1..]);
        let value = value.trim();
        if name.eq_ignore_ascii_case(b"Status") {
            for c in value.bytes() {
                match c {
                    b'R' => m.flags = m.flags.union(Flags::SEEN),
                    b'O' => m.old = true,
                    _ => {}
                }
            }
        } else if name.eq_ignore_ascii_case(b"X-Status") {
            for c in value.bytes() {
                let f = match c {
                    b'A' => Flags::REPLIED,
                    b'F' => Flags::FLAGGED,
                    b'T' => Flags::DRAFT,
                    b'D' => Flags::TRASHED,
                    _ => Flags::NONE,
                };
                m.flags = m.flags.union(f);
            }
        } else if name.eq_ignore_ascii_case(b"X-Keywords") {
            for k in value.split(|c: char| c.is_whitespace() || c == ',') {
                if !k.is_empty() && !m.keywords.iter().any(|x| x == k) {
                    m.keywords.push(k.to_string());
                }
            }
        } else if name.eq_ignore_ascii_case(b"X-UID") {
            m.xuid = value.parse().unwrap_or(0);
        }
    }

    fn other_header(&mut self, head: &[u8], colon: usize) {
        let name = &head[..colon];
        let value = String::from_utf8_lossy(&head[colon + 1..]);
        let value = value.trim();
        if self.from_start && self.out.messages.is_empty() {
            if name.eq_ignore_ascii_case(b"X-IMAPbase") {
                let mut w = value.split_whitespace().map(|x| x.parse::<u32>().ok());
                if let (Some(Some(v)), Some(Some(n))) = (w.next(), w.next()) {
                    if v != 0 {
                        self.out.imapbase = Some((v, n));
                    }
                }
            } else if name.eq_ignore_ascii_case(b"X-IMAP") && !self.pseudo_done {
                self.pseudo = true;
                if let Some((v, n)) = value.split_once(' ').and_then(|(v, n)| {
                    Some((
                        v.parse::<u32>().ok()?,
                        n.split_whitespace().next()?.parse().ok()?,
                    ))
                }) {
                    self.out.imapbase = Some((v, n));
                }
            }
        }
    }

    /// One line: where it starts, its length, its first bytes, whether
    /// it ends in CRLF, whether it ends at all.
    fn line(&mut self, start: u64, len: u64, head: &[u8], crlf: bool, terminated: bool) {
        let empty = terminated && len == 1 + u64::from(crlf);
        if head.starts_with(b"From ") && self.prev_empty {
            self.close();
            if self.pseudo_done && self.out.messages.is_empty() {
                self.out.prefix_end = start;
            }
            self.in_headers = true;
            let h = fnv(head);
            self.cur = Some(MboxMessage {
                uid: 0,
                from_offset: start,
                body_offset: start + len,
                end: start + len,
                size: 0,
                wire_size: 0,
                hash: h,
                id: h,
                flags: Flags::NONE,
                old: false,
                keywords: Vec::new(),
                xuid: 0,
                hidden: 0,
            });
            self.hashed = 0;
        } else if self.cur.is_some() {
            let mut managed = false;
            if self.in_headers {
                if empty || !terminated {
                    self.in_headers = false;
                } else if matches!(head.first(), Some(b' ') | Some(b'\t')) {
                    managed = self.in_managed;
                } else {
                    managed = self.header(head);
                    self.in_managed = managed;
                }
            }
            let Some(m) = self.cur.as_mut() else { return };
            let quoted = u64::from(self.unquote && head.starts_with(b">From "));
            let eol = match (terminated, crlf) {
                (false, _) => 0,
                (true, true) => 2,
                (true, false) => 1,
            };
            m.size += len - quoted;
            m.wire_size += len - quoted - eol + if terminated { 2 } else { 0 };
            if managed {
                m.hidden += len - quoted - eol + if terminated { 2 } else { 0 };
            }
            m.end = start + len;
            if self.hashed < ID_LINES && !managed {
                self.hashed += 1;
                m.id = fnv_more(m.id, head);
            }
        } else {
            self.out.prefix_end = start + len;
        }
        self.prev_empty = empty;
        self.prev_start = start;
        self.prev_len = len;
    }
}

/// The headers mailsuite (and Dovecot) rewrite for flags and UIDs:
/// `Status:`, `X-Status:`, `X-Keywords:`, `X-UID:`.
pub fn is_managed_header(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    [&b"Status"[..], b"X-Status", b"X-Keywords", b"X-UID"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

fn fnv_more(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Parses `r` (positioned at `start`, which is 0 or the start of a `From `
/// line after a separator) to its end.
fn parse(r: &mut dyn Read, start: u64, unquote: bool) -> io::Result<Parsed> {
    let mut br = BufReader::with_capacity(65536, r);
    let mut sc = Scanner {
        unquote,
        out: Parsed {
            messages: Vec::new(),
            prefix_end: start,
            imapbase: None,
        },
        cur: None,
        hashed: 0,
        // `start` is the beginning of the file or just after a separator.
        prev_empty: true,
        prev_start: start,
        prev_len: 0,
        in_headers: false,
        in_managed: false,
        from_start: start == 0,
        pseudo: false,
        pseudo_done: false,
    };
    let mut line_start = start;
    let mut head: Vec<u8> = Vec::new();
    // The line in progress: its length and its last byte so far.
    let mut len = 0u64;
    let mut last = 0u8;
    loop {
        let buf = br.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut i = 0;
        while i < n {
            let rest = &buf[i..];
            let (take, eol) = match rest.iter().position(|&b| b == b'\n') {
                Some(j) => (j + 1, true),
                None => (rest.len(), false),
            };
            let room = HEAD_MAX.saturating_sub(head.len());
            head.extend_from_slice(&rest[..take.min(room)]);
            len += take as u64;
            if eol {
                // The byte before the LF: in this chunk, or the last one
                // of the previous chunk.
                let before_lf = if take >= 2 { rest[take - 2] } else { last };
                let crlf = len >= 2 && before_lf == b'\r';
                sc.line(line_start, len, &head, crlf, true);
                head.clear();
                line_start += len;
                len = 0;
                last = 0;
            } else if take > 0 {
                last = rest[take - 1];
            }
            i += take;
        }
        br.consume(n);
    }
    if len > 0 {
        sc.line(line_start, len, &head, false, false);
        line_start += len;
    }
    sc.close();
    if sc.pseudo_done && sc.out.messages.is_empty() {
        sc.out.prefix_end = line_start;
    }
    Ok(sc.out)
}

/// A rename-rewrite refused for want of permission on the directory (or a
/// read-only file system): the file is rewritten in place instead.
fn not_permitted(e: &StoreError) -> bool {
    matches!(e, StoreError::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)))
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |e| StoreError::io(what, path, e)
}

/// Takes a shared (read) fcntl or flock lock, non-blocking, retried by
/// `policy` like [`lock::kernel_lock`].
fn shared_lock(f: &File, methods: LockMethods, policy: &LockPolicy) -> io::Result<()> {
    for (wanted, how) in [
        (methods.flock, KernelLock::Flock),
        (methods.fcntl, KernelLock::Fcntl),
    ] {
        if !wanted {
            continue;
        }
        let mut i = 0u32;
        loop {
            let fd = f.as_raw_fd();
            let rc = match how {
                // SAFETY: flock on a descriptor we own.
                KernelLock::Flock => unsafe { libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) },
                KernelLock::Fcntl => {
                    // SAFETY: an all-zero flock is valid for every field.
                    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
                    fl.l_type = libc::F_RDLCK as _;
                    fl.l_whence = libc::SEEK_SET as _;
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    let cmd = libc::F_OFD_SETLK;
                    #[cfg(not(any(target_os = "linux", target_os = "android")))]
                    let cmd = libc::F_SETLK;
                    // SAFETY: fl lives across the call and matches cmd.
                    unsafe { libc::fcntl(fd, cmd, &fl) }
                }
            };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            let busy = matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN) | Some(libc::EACCES) | Some(libc::EINTR)
            );
            i += 1;
            if !busy || i >= policy.attempts.max(1) {
                return Err(e);
            }
            std::thread::sleep(policy.delay);
        }
    }
    Ok(())
}

fn lock_err(path: &Path, e: io::Error) -> StoreError {
    if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
        || e.kind() == io::ErrorKind::AlreadyExists
    {
        StoreError::LockBusy(path.to_path_buf())
    } else {
        StoreError::io("lock", path, e)
    }
}

/// A message being read: CRLF text with quoting undone (see
/// [`crate::wire::WireReader`]); holds the read lock until dropped.
pub type MessageReader = WireReader<io::Take<File>>;

impl Mbox {
    /// Opens `path` (a missing file is an empty mailbox) and brings the
    /// message list up to date (index, then file).
    pub fn open(path: &Path, opts: MboxOpenOptions) -> Result<Mbox, StoreError> {
        let mut m = Mbox {
            path: path.to_path_buf(),
            opts,
            uid_validity: 0,
            next_uid: 1,
            messages: Vec::new(),
            stamp: Stamp::default(),
            prefix_end: 0,
            last_sync: SyncKind::Full,
        };
        m.load_index();
        m.sync()?;
        Ok(m)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    pub fn next_uid(&self) -> u32 {
        self.next_uid
    }

    pub fn messages(&self) -> &[MboxMessage] {
        &self.messages
    }

    /// How the last sync went.
    pub fn last_sync(&self) -> SyncKind {
        self.last_sync
    }

    /// Index of the message with `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    fn open_read(&self) -> Result<Option<(File, Metadata)>, StoreError> {
        let f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&self.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open", &self.path, e)),
        };
        let _ = util::fd::set_nonblocking(f.as_raw_fd(), false);
        let md = f.metadata().map_err(io_err("stat", &self.path))?;
        if !md.is_file() {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                reason: "not a regular file".into(),
            });
        }
        shared_lock(&f, self.opts.read_locks, &self.opts.lock_policy)
            .map_err(|e| lock_err(&self.path, e))?;
        let md = f.metadata().map_err(io_err("stat", &self.path))?;
        Ok(Some((f, md)))
    }

    /// Re-reads what changed in the file since the last look; returns how.
    pub fn sync(&mut self) -> Result<SyncKind, StoreError> {
        let _dot = if self.opts.read_locks.dotlock {
            Some(
                lock::dotlock(&self.path, &self.opts.lock_policy)
                    .map_err(|e| lock_err(&self.path, e))?,
            )
        } else {
            None
        };
        let Some((mut f, md)) = self.open_read()? else {
            if self.uid_validity == 0 {
                self.uid_validity = new_uid_validity();
            }
            self.messages.clear();
            self.stamp = Stamp::default();
            self.prefix_end = 0;
            self.last_sync = SyncKind::Unchanged;
            return Ok(self.last_sync);
        };
        let kind = self.refresh(&mut f, &md)?;
        drop(f);
        if kind != SyncKind::Unchanged {
            self.save_index();
        }
        self.last_sync = kind;
        Ok(kind)
    }

    /// Brings the list up to date from `f` (already locked).
    fn refresh(&mut self, f: &mut File, md: &Metadata) -> Result<SyncKind, StoreError> {
        let stamp = Stamp::of(md);
        if self.uid_validity != 0 && stamp == self.stamp {
            return Ok(SyncKind::Unchanged);
        }
        let fresh = self.uid_validity == 0;
        if fresh {
            self.uid_validity = new_uid_validity();
        }
        let old = self.stamp;
        // Appended only: same file, larger, and a `From ` line (after an
        // empty line) right where the old data ended.
        let appended = self.uid_validity != 0
            && old.ino == stamp.ino
            && old.size >= 2
            && stamp.size > old.size
            && {
                let mut b = [0u8; 7];
                f.read_exact_at(&mut b, old.size - 2).is_ok() && &b == b"\n\nFrom "
            }
            && self
                .messages
                .last()
                .is_none_or(|m| from_line_hash(f, m.from_offset) == Some(m.hash));
        if appended {
            f.seek(SeekFrom::Start(old.size))
                .map_err(io_err("seek", &self.path))?;
            let p =
                parse(f, old.size, self.opts.unquote_from).map_err(io_err("read", &self.path))?;
            let mut last_uid = self.messages.last().map_or(0, |m| m.uid);
            for mut m in p.messages {
                // An X-UID (APPEND and rewrites write one) above the last
                // UID is the message's UID for every session.
                m.uid = if m.xuid > last_uid {
                    m.xuid
                } else {
                    self.next_uid.max(last_uid + 1)
                };
                last_uid = m.uid;
                self.next_uid = self.next_uid.max(m.uid.saturating_add(1));
                self.messages.push(m);
            }
            self.stamp = stamp;
            return Ok(SyncKind::Appended);
        }
        f.seek(SeekFrom::Start(0))
            .map_err(io_err("seek", &self.path))?;
        let p = parse(f, 0, self.opts.unquote_from).map_err(io_err("read", &self.path))?;
        if let (true, Some((v, n))) = (fresh, p.imapbase) {
            // No index yet: Dovecot's UIDVALIDITY and next UID.
            self.uid_validity = v;
            self.next_uid = self.next_uid.max(n);
        }
        let mut known: HashMap<u64, VecDeque<u32>> = HashMap::new();
        for m in &self.messages {
            known.entry(m.id).or_default().push_back(m.uid);
        }
        let mut last_uid = 0;
        let mut msgs = Vec::with_capacity(p.messages.len());
        for mut m in p.messages {
            if m.xuid > last_uid && (fresh || m.xuid < self.next_uid.saturating_add(1_000_000)) {
                m.uid = m.xuid;
                if let Some(q) = known.get_mut(&m.id) {
                    q.retain(|&u| u != m.xuid);
                }
                last_uid = m.uid;
                self.next_uid = self.next_uid.max(m.uid.saturating_add(1));
                msgs.push(m);
                continue;
            }
            let reuse = known.get_mut(&m.id).and_then(|q| {
                while let Some(u) = q.pop_front() {
                    if u > last_uid {
                        return Some(u);
                    }
                }
                None
            });
            m.uid = match reuse {
                Some(u) => u,
                None => {
                    let u = self.next_uid.max(last_uid + 1);
                    self.next_uid = u.saturating_add(1);
                    u
                }
            };
            last_uid = m.uid;
            msgs.push(m);
        }
        self.messages = msgs;
        self.prefix_end = p.prefix_end;
        self.stamp = stamp;
        Ok(SyncKind::Full)
    }

    /// Opens message `idx` for streaming (RETR, TOP, FETCH BODY[]). The
    /// reader holds the read lock; [`StoreError::Changed`] when the file
    /// was rewritten since the last sync.
    pub fn reader(&self, idx: usize, part: Part) -> Result<MessageReader, StoreError> {
        let m = self
            .messages
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?;
        let Some((mut f, md)) = self.open_read()? else {
            return Err(StoreError::Changed(self.path.clone()));
        };
        if md.ino() != self.stamp.ino || md.len() < self.stamp.size {
            return Err(StoreError::Changed(self.path.clone()));
        }
        let mut head = [0u8; 5];
        if f.read_exact_at(&mut head, m.from_offset).is_err() || &head != b"From " {
            return Err(StoreError::Changed(self.path.clone()));
        }
        f.seek(SeekFrom::Start(m.body_offset))
            .map_err(io_err("seek", &self.path))?;
        Ok(WireReader::new(
            f.take(m.end - m.body_offset),
            part,
            self.opts.unquote_from,
        ))
    }

    /// The message as stored (quoting undone, line ends as stored).
    pub fn read_message(&self, idx: usize) -> Result<Vec<u8>, StoreError> {
        let m = self
            .messages
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?;
        let Some((f, md)) = self.open_read()? else {
            return Err(StoreError::Changed(self.path.clone()));
        };
        if md.ino() != self.stamp.ino || md.len() < self.stamp.size {
            return Err(StoreError::Changed(self.path.clone()));
        }
        let len = usize::try_from(m.end - m.body_offset)
            .map_err(|_| StoreError::Changed(self.path.clone()))?;
        let mut raw = vec![0u8; len];
        f.read_exact_at(&mut raw, m.body_offset)
            .map_err(io_err("read", &self.path))?;
        if !self.opts.unquote_from {
            return Ok(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        for line in raw.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(
                line.strip_prefix(b">")
                    .filter(|l| l.starts_with(b"From "))
                    .unwrap_or(line),
            );
        }
        Ok(out)
    }

    /// INTERNALDATE of message `idx`: the date of its `From ` line (in
    /// local time, as delivery writes it), else the file's mtime.
    pub fn from_line_date(&self, idx: usize) -> Result<i64, StoreError> {
        let m = self
            .messages
            .get(idx)
            .ok_or(StoreError::NoSuchMessage(idx))?;
        let f = File::open(&self.path).map_err(io_err("open", &self.path))?;
        let mut b = vec![0u8; 256];
        let n = f.read_at(&mut b, m.from_offset).unwrap_or(0);
        b.truncate(n);
        let line = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
        if let Some(t) = parse_asctime(&String::from_utf8_lossy(line)) {
            return Ok(t);
        }
        let md = f.metadata().map_err(io_err("stat", &self.path))?;
        Ok(md.mtime())
    }

    /// Each message with the offset where it ends: where the next one
    /// begins, or `size` (the file's) for the last.
    fn with_ends(&self, size: u64) -> impl Iterator<Item = (&MboxMessage, u64)> {
        let starts = self.messages.iter().skip(1).map(|x| x.from_offset);
        self.messages
            .iter()
            .zip(starts.chain(std::iter::once(size)))
    }

    /// Removes the messages with these UIDs by rewriting the file under
    /// the write locks (see the module documentation). Messages
    /// delivered since the last sync are kept.
    pub fn expunge_uids(&mut self, uids: &[u32]) -> Result<(), StoreError> {
        if uids.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let (_dot, mut f, md) = self.lock_for_write(false)?;
        self.refresh(&mut f, &md)?;
        let size = md.len();
        // The byte ranges to keep.
        let mut keep: Vec<(u64, u64)> = Vec::new();
        if self.prefix_end > 0 {
            keep.push((0, self.prefix_end));
        }
        let n = self.messages.len();
        let mut kept = Vec::with_capacity(n);
        for (m, next) in self.with_ends(size) {
            if uids.contains(&m.uid) {
                continue;
            }
            match keep.last_mut() {
                Some(r) if r.1 == m.from_offset => r.1 = next,
                _ => keep.push((m.from_offset, next)),
            }
            kept.push(m.clone());
        }
        if kept.len() == n {
            drop(f);
            self.save_index();
            return Ok(());
        }
        // New offsets.
        let mut shift_at: Vec<(u64, u64)> = Vec::new(); // (old start, new start)
        let mut w = 0u64;
        for &(a, b) in &keep {
            shift_at.push((a, w));
            w += b - a;
        }
        let new_len = w;
        for m in &mut kept {
            let Some(&(a, na)) = shift_at.iter().rev().find(|(a, _)| *a <= m.from_offset) else {
                continue;
            };
            let d = a - na;
            m.from_offset -= d;
            m.body_offset -= d;
            m.end -= d;
        }
        match self.rewrite_by_rename(&f, &md, &keep) {
            Ok(()) => {}
            Err(e) if not_permitted(&e) => {
                self.rewrite_in_place(&f, &keep, new_len)?;
            }
            Err(e) => return Err(e),
        }
        let md2 = fs::metadata(&path).map_err(io_err("stat", &path))?;
        self.messages = kept;
        self.stamp = Stamp::of(&md2);
        drop(f);
        self.save_index();
        Ok(())
    }

    /// RENAME INBOX: moves every message into the new mbox `dest`,
    /// leaving this one empty (not removed). All under this mbox's
    /// write locks, so a delivery waits until it is done and lands in
    /// the emptied mbox: the messages are copied, byte for byte, into a
    /// temporary file beside `dest`, fsynced, renamed to `dest` (an
    /// `AlreadyExists` error when that exists), and then this mbox is
    /// cut back to the bytes before its first message. Anything written
    /// meanwhile by a writer that ignores the locks is kept. The messages
    /// keep their UIDs, flags and keywords in `dest`, which gets this
    /// mbox's UIDVALIDITY and an index (`dest_opts.index_path`) as the
    /// uidlist copy of a Maildir's RENAME INBOX does; this one keeps its
    /// UIDVALIDITY and next UID, so UIDs are never reused. A missing
    /// file gives an empty `dest`. Returns how many messages moved.
    pub fn move_all_to(
        &mut self,
        dest: &Path,
        dest_opts: MboxOpenOptions,
    ) -> Result<usize, StoreError> {
        let (_dot, mut f, md) = match self.lock_for_write(false) {
            Ok(l) => l,
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                copy_into_new_mbox(None, 0, 0, dest)?;
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        self.refresh(&mut f, &md)?;
        let size = md.len();
        let start = self.messages.first().map_or(size, |m| m.from_offset);
        let dmd = copy_into_new_mbox(Some((&f, &self.path)), start, size, dest)?;
        let moved = Mbox {
            path: dest.to_path_buf(),
            opts: dest_opts,
            uid_validity: self.uid_validity,
            next_uid: self.next_uid,
            messages: self
                .messages
                .iter()
                .map(|m| MboxMessage {
                    from_offset: m.from_offset - start,
                    body_offset: m.body_offset - start,
                    end: m.end - start,
                    ..m.clone()
                })
                .collect(),
            stamp: Stamp::of(&dmd),
            prefix_end: 0,
            last_sync: SyncKind::Full,
        };
        moved.save_index();
        // Cut back to the prefix (Dovecot's pseudo message, if any),
        // keeping what was written past the end meanwhile.
        let now = f.metadata().map_err(io_err("stat", &self.path))?;
        let mut keep: Vec<(u64, u64)> = Vec::new();
        let prefix = self.prefix_end.min(start);
        if prefix > 0 {
            keep.push((0, prefix));
        }
        if now.len() > size {
            keep.push((size, now.len()));
        }
        let new_len = keep.iter().map(|(a, b)| b - a).sum();
        self.rewrite_in_place(&f, &keep, new_len)?;
        let count = self.messages.len();
        self.messages.clear();
        let md2 = f.metadata().map_err(io_err("stat", &self.path))?;
        self.refresh(&mut f, &md2)?;
        drop(f);
        self.save_index();
        Ok(count)
    }

    /// Takes the write locks (dotlock, then the kernel locks) and opens
    /// the file read-write; checks it is still the one the path names.
    /// `create`: a missing file is created (0600) first.
    fn lock_for_write(
        &self,
        create: bool,
    ) -> Result<(Option<lock::DotLock>, File, Metadata), StoreError> {
        let path = &self.path;
        let dot = if self.opts.write_locks.dotlock {
            Some(lock::dotlock(path, &self.opts.lock_policy).map_err(|e| lock_err(path, e))?)
        } else {
            None
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(io_err("open", path))?;
        let _ = util::fd::set_nonblocking(f.as_raw_fd(), false);
        for (wanted, how) in [
            (self.opts.write_locks.flock, KernelLock::Flock),
            (self.opts.write_locks.fcntl, KernelLock::Fcntl),
        ] {
            if wanted {
                lock::kernel_lock(&f, how, &self.opts.lock_policy)
                    .map_err(|e| lock_err(path, e))?;
            }
        }
        let md = f.metadata().map_err(io_err("stat", path))?;
        let same =
            fs::symlink_metadata(path).is_ok_and(|l| l.ino() == md.ino() && l.dev() == md.dev());
        if !same || !md.is_file() || md.nlink() != 1 {
            return Err(StoreError::Changed(path.clone()));
        }
        Ok((dot, f, md))
    }

    /// Rewrites the file under the write locks: the messages with UIDs
    /// in `expunge` are left out, those in `updates` get new `Status:`,
    /// `X-Status:`, `X-Keywords:` and `X-UID:` headers (every other byte
    /// is kept as it is). Messages delivered since the last sync are
    /// kept untouched.
    ///
    /// Flag changes alone are written in place when each message's new
    /// headers fit in its header block (the padding of `X-Keywords:`
    /// takes up the difference): only those bytes are overwritten, no
    /// message changes length, and the file keeps its inode. Otherwise
    /// the whole file is written to a temporary file renamed over the
    /// mbox (owner, group and mode kept), or where the directory is not
    /// writable, in place (see the module documentation).
    pub fn rewrite(
        &mut self,
        updates: &HashMap<u32, FlagUpdate>,
        expunge: &[u32],
    ) -> Result<(), StoreError> {
        if updates.is_empty() && expunge.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let (_dot, mut f, md) = self.lock_for_write(false)?;
        self.refresh(&mut f, &md)?;
        if expunge.is_empty() {
            if let Some(patches) = self.in_place_patches(&f, updates)? {
                let res = self.write_patches(&f, &md, patches);
                drop(f);
                self.save_index();
                return res;
            }
        }
        let size = md.len();
        let mut out: Vec<u8> = Vec::new();
        let mut kept: Vec<u32> = Vec::new();
        let copy = |out: &mut Vec<u8>, a: u64, b: u64| -> Result<(), StoreError> {
            let len = usize::try_from(b.saturating_sub(a))
                .map_err(|_| StoreError::Changed(path.clone()))?;
            let start = out.len();
            out.resize(start + len, 0);
            f.read_exact_at(&mut out[start..], a)
                .map_err(io_err("read", &path))
        };
        copy(&mut out, 0, self.prefix_end)?;
        let n = self.messages.len();
        for (m, next) in self.with_ends(size) {
            if expunge.contains(&m.uid) {
                continue;
            }
            kept.push(m.uid);
            match updates.get(&m.uid) {
                None => copy(&mut out, m.from_offset, next)?,
                Some(u) => {
                    let mut raw = Vec::new();
                    copy(&mut raw, m.from_offset, next)?;
                    let head_len = usize::try_from(m.body_offset - m.from_offset)
                        .map_err(|_| StoreError::Changed(path.clone()))?;
                    out.extend_from_slice(&raw[..head_len.min(raw.len())]);
                    out.extend_from_slice(&with_flag_headers(
                        raw.get(head_len..).unwrap_or(&[]),
                        m.uid,
                        u,
                    ));
                }
            }
        }
        if kept.len() == n && updates.is_empty() {
            drop(f);
            self.save_index();
            return Ok(());
        }
        let whole = [(0u64, out.len() as u64)];
        let src = MemFile(&out);
        match self.rewrite_by_rename(&src, &md, &whole) {
            Ok(()) => {}
            Err(e) if not_permitted(&e) => {
                f.write_all_at(&out, 0)
                    .map_err(io_err("write", &self.path))?;
                f.set_len(out.len() as u64)
                    .map_err(io_err("truncate", &self.path))?;
                f.sync_all().map_err(io_err("fsync", &self.path))?;
            }
            Err(e) => return Err(e),
        }
        // The new list: the same messages in the same order.
        let mut r: &[u8] = &out;
        let p = parse(&mut r, 0, self.opts.unquote_from).map_err(io_err("read", &path))?;
        if p.messages.len() != kept.len() {
            // Cannot happen unless a header rewrite made a new `From `
            // boundary; the next sync parses the file again.
            self.stamp = Stamp::default();
            return Err(StoreError::Changed(path));
        }
        let md2 = fs::metadata(&path).map_err(io_err("stat", &path))?;
        self.messages = p
            .messages
            .into_iter()
            .zip(kept)
            .map(|(mut m, uid)| {
                m.uid = uid;
                m
            })
            .collect();
        self.prefix_end = p.prefix_end;
        self.stamp = Stamp::of(&md2);
        drop(f);
        self.save_index();
        Ok(())
    }

    /// The header block of `m` (from after its `From ` line through
    /// the empty line ending the header), read from `f`; `None` when
    /// there is none in the message's first [`IN_PLACE_HEADER_MAX`]
    /// bytes.
    fn header_block(&self, f: &File, m: &MboxMessage) -> Result<Option<Vec<u8>>, StoreError> {
        let limit = m.end.min(m.body_offset.saturating_add(IN_PLACE_HEADER_MAX));
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut off = m.body_offset;
        let mut line_start = 0usize;
        loop {
            while let Some(i) = buf[line_start..].iter().position(|&b| b == b'\n') {
                let end = line_start + i + 1;
                if matches!(&buf[line_start..end], b"\n" | b"\r\n") {
                    buf.truncate(end);
                    return Ok(Some(buf));
                }
                line_start = end;
            }
            if off >= limit {
                return Ok(None);
            }
            let want =
                usize::try_from((limit - off).min(chunk.len() as u64)).unwrap_or(chunk.len());
            let n = f
                .read_at(&mut chunk[..want], off)
                .map_err(io_err("read", &self.path))?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
            off += n as u64;
        }
    }

    /// The in-place writes for `updates` (see [`Self::rewrite`]), or
    /// `None` when one of them does not fit. `f` is locked for writing
    /// and the list is up to date with it.
    fn in_place_patches(
        &self,
        f: &File,
        updates: &HashMap<u32, FlagUpdate>,
    ) -> Result<Option<Vec<Patch>>, StoreError> {
        let mut uids: Vec<u32> = updates.keys().copied().collect();
        uids.sort_unstable();
        let mut out = Vec::new();
        for uid in uids {
            let (Some(pos), Some(u)) = (self.position(uid), updates.get(&uid)) else {
                continue;
            };
            let m = &self.messages[pos];
            let Some(old) = self.header_block(f, m)? else {
                return Ok(None);
            };
            let Some(new) = fitted_flag_headers(&old, uid, u) else {
                return Ok(None);
            };
            if new == old {
                continue;
            }
            let from_len = usize::try_from(m.body_offset - m.from_offset)
                .map_err(|_| StoreError::Changed(self.path.clone()))?;
            let mut from_line = vec![0u8; from_len];
            f.read_exact_at(&mut from_line, m.from_offset)
                .map_err(io_err("read", &self.path))?;
            let one = |block: &[u8]| -> Result<Option<MboxMessage>, StoreError> {
                let mut data = from_line.clone();
                data.extend_from_slice(block);
                let mut r: &[u8] = &data;
                let mut p = parse(&mut r, m.from_offset, self.opts.unquote_from)
                    .map_err(io_err("read", &self.path))?;
                Ok((p.messages.len() == 1).then(|| p.messages.remove(0)))
            };
            let (Some(before), Some(after)) = (one(&old)?, one(&new)?) else {
                return Ok(None);
            };
            // The new headers must not move the message's boundaries nor
            // change what identifies it (the parse of the whole file
            // would then differ from the list kept here).
            if before.body_offset != after.body_offset
                || before.end != after.end
                || before.id != after.id
                || before.size != after.size
            {
                return Ok(None);
            }
            out.push(Patch {
                pos,
                at: m.body_offset,
                old,
                new,
                before,
                after,
            });
        }
        Ok(Some(out))
    }

    /// Writes `patches` in place (only the bytes that differ), fsyncs,
    /// and brings the list and the stamp up to date. `f` is locked for
    /// writing; `md` is how it was before.
    fn write_patches(
        &mut self,
        f: &File,
        md: &Metadata,
        patches: Vec<Patch>,
    ) -> Result<(), StoreError> {
        let mut wrote = false;
        for p in &patches {
            let pre = p.old.iter().zip(&p.new).take_while(|(a, b)| a == b).count();
            let suf = p.old[pre..]
                .iter()
                .rev()
                .zip(p.new[pre..].iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let range = pre..p.new.len() - suf;
            if range.is_empty() {
                continue;
            }
            wrote = true;
            if let Err(e) = f.write_all_at(&p.new[range], p.at + pre as u64) {
                // Some headers may be new, some old: parse again next time.
                self.stamp = Stamp::default();
                return Err(StoreError::io("write", &self.path, e));
            }
        }
        if !wrote {
            return Ok(());
        }
        if let Err(e) = f.sync_all() {
            self.stamp = Stamp::default();
            return Err(StoreError::io("fsync", &self.path, e));
        }
        for p in patches {
            let Some(m) = self.messages.get_mut(p.pos) else {
                continue;
            };
            m.flags = p.after.flags;
            m.old = p.after.old;
            m.keywords = p.after.keywords;
            m.xuid = p.after.xuid;
            m.hidden = (m.hidden + p.after.hidden).saturating_sub(p.before.hidden);
            m.wire_size = (m.wire_size + p.after.wire_size).saturating_sub(p.before.wire_size);
        }
        let md2 = touch_mtime(f, &self.path, md).map_err(io_err("stat", &self.path))?;
        self.stamp = Stamp::of(&md2);
        Ok(())
    }

    /// APPEND: adds `message` at the end under the write locks, with a
    /// `From MAILER-DAEMON` line dated `date` (now), `>From ` quoting,
    /// its flags and keywords in `Status:`/`X-Status:`/`X-Keywords:`
    /// and the next UID in `X-UID:` (so every session numbers it the
    /// same); CRLF line ends are stored as LF. A missing file is
    /// created. Returns the new UID. On a failure the file is truncated
    /// back.
    pub fn append(
        &mut self,
        message: &[u8],
        flags: &FlagUpdate,
        date: Option<i64>,
    ) -> Result<u32, StoreError> {
        let path = self.path.clone();
        let (_dot, mut f, md) = self.lock_for_write(true)?;
        self.refresh(&mut f, &md)?;
        let uid = self.next_uid;
        let mut lf = Vec::with_capacity(message.len() + 2);
        let mut i = 0;
        while i < message.len() {
            if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            lf.push(message[i]);
            i += 1;
        }
        let body = with_flag_headers(&lf, uid, flags);
        let time = match date {
            Some(t) if t >= 0 => {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unsigned_abs())
            }
            _ => std::time::SystemTime::now(),
        };
        let mut out = crate::mbox::from_line("", time).into_bytes();
        for line in body.split_inclusive(|&b| b == b'\n') {
            // mboxo, as local delivery writes it: '>' before "From ".
            if line.starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
        let start = md.len();
        // A file that does not end in an empty line gets one first, so
        // the new `From ` line is a boundary.
        let mut sep: Vec<u8> = Vec::new();
        if start > 0 {
            let mut tail = [0u8; 2];
            let k = usize::try_from(start.min(2)).unwrap_or(2);
            f.read_exact_at(&mut tail[..k], start - k as u64)
                .map_err(io_err("read", &path))?;
            if tail[..k] != *b"\n\n" && !(k == 1 && tail[0] == b'\n') {
                sep.push(b'\n');
                if tail[k - 1] != b'\n' {
                    sep.push(b'\n');
                }
            }
        }
        sep.extend_from_slice(&out);
        let res = f
            .write_all_at(&sep, start)
            .and_then(|()| f.sync_all())
            .map_err(io_err("write", &path));
        if let Err(e) = res {
            let _ = f.set_len(start);
            return Err(e);
        }
        let md2 = f.metadata().map_err(io_err("stat", &path))?;
        self.refresh(&mut f, &md2)?;
        drop(f);
        self.save_index();
        match self.messages.last() {
            Some(m) if m.uid == uid => Ok(uid),
            _ => Err(StoreError::Changed(path)),
        }
    }

    fn rewrite_by_rename(
        &self,
        f: &impl FileExt,
        md: &Metadata,
        keep: &[(u64, u64)],
    ) -> Result<(), StoreError> {
        let (dir, tmp) = temp_beside(&self.path);
        let mut t = create_temp(&tmp)?;
        let res = (|| -> Result<(), StoreError> {
            // SAFETY: fchown on a descriptor we own.
            if unsafe { libc::fchown(t.as_raw_fd(), md.uid(), md.gid()) } != 0 {
                let e = io::Error::last_os_error();
                maillog::warning!(
                    "{}: cannot keep group {}: {}",
                    self.path.display(),
                    md.gid(),
                    crate::error::strerror(&e)
                );
            }
            fs::set_permissions(
                &tmp,
                std::os::unix::fs::PermissionsExt::from_mode(md.mode() & 0o7777),
            )
            .map_err(io_err("chmod", &tmp))?;
            let mut buf = vec![0u8; 65536];
            for &(a, b) in keep {
                let mut off = a;
                while off < b {
                    let want =
                        usize::try_from((b - off).min(buf.len() as u64)).unwrap_or(buf.len());
                    let got = f
                        .read_at(&mut buf[..want], off)
                        .map_err(io_err("read", &self.path))?;
                    if got == 0 {
                        return Err(StoreError::Changed(self.path.clone()));
                    }
                    t.write_all(&buf[..got]).map_err(io_err("write", &tmp))?;
                    off += got as u64;
                }
            }
            t.sync_all().map_err(io_err("fsync", &tmp))?;
            fs::rename(&tmp, &self.path).map_err(io_err("rename", &tmp))?;
            util::safe_file::sync_dir(&dir).map_err(io_err("fsync", &dir))
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn rewrite_in_place(
        &self,
        f: &File,
        keep: &[(u64, u64)],
        new_len: u64,
    ) -> Result<(), StoreError> {
        let mut buf = vec![0u8; 65536];
        let mut w = 0u64;
        for &(a, b) in keep {
            let mut off = a;
            while off < b {
                let want = usize::try_from((b - off).min(buf.len() as u64)).unwrap_or(buf.len());
                let got = f
                    .read_at(&mut buf[..want], off)
                    .map_err(io_err("read", &self.path))?;
                if got == 0 {
                    return Err(StoreError::Changed(self.path.clone()));
                }
                if w != off {
                    f.write_all_at(&buf[..got], w)
                        .map_err(io_err("write", &self.path))?;
                }
                off += got as u64;
                w += got as u64;
            }
        }
        f.set_len(new_len).map_err(io_err("truncate", &self.path))?;
        f.sync_all().map_err(io_err("fsync", &self.path))
    }

    fn load_index(&mut self) {
        let Some(p) = self.opts.index_path.clone() else {
            return;
        };
        let Ok(data) = fs::read(&p) else {
            return;
        };
        match parse_index(&data) {
            Some((v, n, stamp, prefix_end, msgs)) => {
                self.uid_validity = v;
                self.next_uid = n;
                self.stamp = stamp;
                self.prefix_end = prefix_end;
                self.messages = msgs;
            }
            None => maillog::warning!("{}: corrupted mbox index, rebuilding", p.display()),
        }
    }

    fn save_index(&self) {
        let Some(p) = &self.opts.index_path else {
            return;
        };
        let mut s = format!(
            "mailsuite-mbox-index 2\nV{} N{} S{} M{} I{} P{}\n",
            self.uid_validity,
            self.next_uid,
            self.stamp.size,
            self.stamp.mtime_ns,
            self.stamp.ino,
            self.prefix_end
        );
        for m in &self.messages {
            let mut status = m.flags.letters();
            if m.old {
                status.push('o');
            }
            if status.is_empty() {
                status.push('-');
            }
            s.push_str(&format!(
                "{} {} {} {} {} {} {:x} {:x} {status} {}",
                m.uid,
                m.from_offset,
                m.body_offset,
                m.end,
                m.size,
                m.wire_size,
                m.hash,
                m.id,
                m.hidden
            ));
            for k in &m.keywords {
                s.push(' ');
                s.push_str(k);
            }
            s.push('\n');
        }
        if let Some(dir) = p.parent() {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        if let Err(e) = util::safe_file::replace(p, s.as_bytes(), 0o600) {
            maillog::warning!(
                "{}: cannot write mbox index: {}",
                p.display(),
                crate::error::strerror(&e)
            );
        }
    }
}

/// New flags for a message ([`Mbox::rewrite`], [`Mbox::append`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    pub flags: Flags,
    pub keywords: Vec<String>,
}

/// The directory of the mbox `path` and the temporary file beside it that
/// a rewrite or copy of it is written to before the rename.
fn temp_beside(path: &Path) -> (PathBuf, PathBuf) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mailsuite-tmp.{}", std::process::id()));
    (dir, tmp)
}

/// Creates `tmp` (mode 0600, not through a symlink, not over a file).
fn create_temp(tmp: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(io_err("create", tmp))
}

/// Makes the mbox `dest`, which must not exist, with the bytes `a..b`
/// of `src` (file, path; `None`: empty): written to a temporary file
/// beside it (mode 0600), fsynced, renamed into place without
/// replacing anything. Returns the new file's metadata.
fn copy_into_new_mbox(
    src: Option<(&File, &Path)>,
    a: u64,
    b: u64,
    dest: &Path,
) -> Result<Metadata, StoreError> {
    let (dir, tmp) = temp_beside(dest);
    let _ = fs::remove_file(&tmp);
    let mut t = create_temp(&tmp)?;
    let res = (|| -> Result<Metadata, StoreError> {
        if let Some((f, path)) = src {
            let mut buf = vec![0u8; 65536];
            let mut off = a;
            while off < b {
                let want = usize::try_from((b - off).min(buf.len() as u64)).unwrap_or(buf.len());
                let got = f
                    .read_at(&mut buf[..want], off)
                    .map_err(io_err("read", path))?;
                if got == 0 {
                    return Err(StoreError::Changed(path.to_path_buf()));
                }
                t.write_all(&buf[..got]).map_err(io_err("write", &tmp))?;
                off += got as u64;
            }
        }
        t.sync_all().map_err(io_err("fsync", &tmp))?;
        let md = t.metadata().map_err(io_err("stat", &tmp))?;
        crate::maildir::rename_noreplace(&tmp, dest).map_err(io_err("rename", dest))?;
        util::safe_file::sync_dir(&dir).map_err(io_err("fsync", &dir))?;
        Ok(md)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// At most this many bytes of a message's header are read to change
/// its flags in place; a longer header is rewritten with the file.
const IN_PLACE_HEADER_MAX: u64 = 256 * 1024;

/// A flag change written in place ([`Mbox::rewrite`]).
struct Patch {
    /// The message's position in the list.
    pos: usize,
    /// Where its header block starts (its `body_offset`).
    at: u64,
    /// The header block as it is and as it will be (the same length).
    old: Vec<u8>,
    new: Vec<u8>,
    /// The parse of its `From ` line and the old / new header block.
    before: MboxMessage,
    after: MboxMessage,
}

/// After an in-place write: makes sure the mtime of `f` differs from
/// the one in `before`. Size and inode stay the same, so the mtime is
/// what tells other sessions ([`Mbox::sync`]) the file changed; with a
/// coarse file system clock two writes could otherwise leave the same
/// mtime. Waits for the clock to move on (up to about 100 ms) and sets
/// the mtime to now, which needs only write access (a failure is only
/// logged: the headers are written). Returns the new metadata.
fn touch_mtime(f: &File, path: &Path, before: &Metadata) -> io::Result<Metadata> {
    let old = Stamp::of(before).mtime_ns;
    for _ in 0..100 {
        let md = f.metadata()?;
        if Stamp::of(&md).mtime_ns != old {
            return Ok(md);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        // SAFETY: an all-zero timespec is valid; the fields are set below.
        let mut times: [libc::timespec; 2] = unsafe { std::mem::zeroed() };
        times[0].tv_nsec = libc::UTIME_OMIT;
        times[1].tv_nsec = libc::UTIME_NOW;
        // SAFETY: futimens on a descriptor we own with two valid timespecs.
        if unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) } != 0 {
            let e = io::Error::last_os_error();
            maillog::warning!(
                "{}: cannot set the mtime: {}",
                path.display(),
                crate::error::strerror(&e)
            );
            break;
        }
    }
    f.metadata()
}

/// Reads from memory as a file would (for [`Mbox::rewrite_by_rename`]).
struct MemFile<'a>(&'a [u8]);

impl FileExt for MemFile<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Ok(off) = usize::try_from(offset) else {
            return Ok(0);
        };
        let src = self.0.get(off..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn write_at(&self, _buf: &[u8], _offset: u64) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// `message` without its managed headers (what an IMAP client sees).
pub fn strip_managed_headers(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut skipping = false;
    let mut pos = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            break;
        }
        if !matches!(line.first(), Some(b' ') | Some(b'\t')) {
            skipping = is_managed_header(line);
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        pos += line.len();
    }
    out.extend_from_slice(&message[pos..]);
    out
}

/// `message` (header, empty line, body) with its `Status:`,
/// `X-Status:`, `X-Keywords:` and `X-UID:` headers replaced by ones
/// for `u` and `uid`, at the end of the header, in the message's line
/// end style. `Status: O` is always written (the message has been
/// seen by a session: not \Recent any more), as Dovecot does.
/// `X-Keywords:` is always written, with [`KEYWORDS_PADDING`] spaces
/// after the keywords, so later flag changes fit in place.
pub fn with_flag_headers(message: &[u8], uid: u32, u: &FlagUpdate) -> Vec<u8> {
    flag_headers(message, uid, u, KEYWORDS_PADDING)
}

/// Spaces mailsuite leaves at the end of the `X-Keywords:` header it
/// writes (Dovecot's `MBOX_HEADER_PADDING`): room for later flag and
/// keyword changes, made in place ([`Mbox::rewrite`]). Readers take
/// trailing spaces of a header as nothing.
pub const KEYWORDS_PADDING: usize = 50;

/// The header block `old` (header lines and the empty line ending
/// them) with the managed headers for `u` and `uid`, padded with
/// spaces in `X-Keywords:` to `old`'s length; `None` when they do not
/// fit.
fn fitted_flag_headers(old: &[u8], uid: u32, u: &FlagUpdate) -> Option<Vec<u8>> {
    let bare = flag_headers(old, uid, u, 0);
    let room = old.len().checked_sub(bare.len())?;
    let new = flag_headers(old, uid, u, room);
    (new.len() == old.len()).then_some(new)
}

/// [`with_flag_headers`] with `pad` spaces after the keywords.
fn flag_headers(message: &[u8], uid: u32, u: &FlagUpdate, pad: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut rest = message;
    let mut skipping = false;
    let mut eol: &[u8] = b"\n";
    let mut body_start: Option<usize> = None;
    let mut pos = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.is_empty() {
            if line.ends_with(b"\r\n") {
                eol = b"\r\n";
            }
            body_start = Some(pos);
            break;
        }
        if !line.ends_with(b"\n") {
            // A header without an end: no body.
            out.extend_from_slice(line);
            out.extend_from_slice(b"\n");
            pos += line.len();
            continue;
        }
        if matches!(line.first(), Some(b' ') | Some(b'\t')) {
            if !skipping {
                out.extend_from_slice(line);
            }
        } else {
            skipping = is_managed_header(line);
            if !skipping {
                out.extend_from_slice(line);
            }
        }
        pos += line.len();
    }
    let mut put = |text: String| {
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(eol);
    };
    let mut status = String::new();
    if u.flags.contains(Flags::SEEN) {
        status.push('R');
    }
    status.push('O');
    put(format!("Status: {status}"));
    let mut x = String::new();
    for (f, c) in [
        (Flags::REPLIED, 'A'),
        (Flags::FLAGGED, 'F'),
        (Flags::DRAFT, 'T'),
        (Flags::TRASHED, 'D'),
    ] {
        if u.flags.contains(f) {
            x.push(c);
        }
    }
    if !x.is_empty() {
        put(format!("X-Status: {x}"));
    }
    // Dovecot's form: a space before each keyword, then the padding.
    // A keyword that could not be read back as one (whitespace, a
    // control character) is not written.
    let mut kw = String::from("X-Keywords:");
    for k in &u.keywords {
        if !k.is_empty() && !k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            kw.push(' ');
            kw.push_str(k);
        }
    }
    kw.extend(std::iter::repeat_n(' ', pad));
    put(kw);
    put(format!("X-UID: {uid}"));
    match body_start {
        Some(b) => {
            rest = &rest[b..];
            out.extend_from_slice(rest);
        }
        None => out.extend_from_slice(eol),
    }
    out
}

type IndexData = (u32, u32, Stamp, u64, Vec<MboxMessage>);

fn parse_index(data: &[u8]) -> Option<IndexData> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.lines();
    let version = match lines.next()? {
        "mailsuite-mbox-index 1" => 1,
        "mailsuite-mbox-index 2" => 2,
        _ => return None,
    };
    let mut h = lines.next()?.split(' ');
    let mut field = |k: char| h.next().and_then(|w| w.strip_prefix(k)).map(str::to_string);
    let v: u32 = field('V')?.parse().ok()?;
    let n: u32 = field('N')?.parse().ok()?;
    let size: u64 = field('S')?.parse().ok()?;
    let mtime_ns: i128 = field('M')?.parse().ok()?;
    let ino: u64 = field('I')?.parse().ok()?;
    let prefix_end: u64 = field('P')?.parse().ok()?;
    if v == 0 {
        return None;
    }
    let mut msgs = Vec::new();
    let mut last_uid = 0;
    let mut last_end = prefix_end;
    for line in lines {
        let w: Vec<&str> = line.split(' ').collect();
        if (version == 1 && w.len() != 8) || (version == 2 && w.len() < 10) {
            return None;
        }
        let mut flags = Flags::NONE;
        let mut old = false;
        for c in w.get(8).copied().unwrap_or("-").bytes() {
            match c {
                b'o' => old = true,
                b'-' => {}
                c => flags = flags.union(Flags::from_letter(c)?),
            }
        }
        let num = |i: usize| w.get(i).and_then(|x| x.parse::<u64>().ok());
        let m = MboxMessage {
            uid: w[0].parse().ok()?,
            from_offset: num(1)?,
            body_offset: num(2)?,
            end: num(3)?,
            size: num(4)?,
            wire_size: num(5)?,
            hash: u64::from_str_radix(w[6], 16).ok()?,
            id: u64::from_str_radix(w[7], 16).ok()?,
            flags,
            old,
            hidden: if version == 2 {
                w.get(9)?.parse().ok()?
            } else {
                0
            },
            keywords: w.iter().skip(10).map(|k| k.to_string()).collect(),
            xuid: 0,
        };
        if m.uid <= last_uid
            || m.uid >= n
            || m.from_offset < last_end
            || m.body_offset <= m.from_offset
            || m.end < m.body_offset
            || m.end > size
        {
            return None;
        }
        last_uid = m.uid;
        last_end = m.end;
        msgs.push(m);
    }
    Some((
        v,
        n,
        // A version 1 index has no flags: parse the file again (the
        // messages keep their UIDs by identity).
        if version == 1 {
            Stamp::default()
        } else {
            Stamp {
                size,
                mtime_ns,
                ino,
            }
        },
        prefix_end,
        msgs,
    ))
}

/// The mbox folders under `root` (`mbox:~/mail`): regular files, in
/// subdirectories too (`lists/rust`), as '/'-separated names, sorted.
/// Dot files and directories (`.imap`, `.subscriptions`), lock files and
/// mailsuite's temporary files are left out. At most `max_depth` levels.
pub fn list_folders(root: &Path, max_depth: usize) -> Result<Vec<String>, StoreError> {
    fn walk(
        dir: &Path,
        prefix: &str,
        depth: usize,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && prefix.is_empty() => return Ok(()),
            Err(e) => return Err(StoreError::io("read directory", dir, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| StoreError::io("read directory", dir, e))?;
            let Some(name) = ent.file_name().to_str().map(String::from) else {
                continue;
            };
            if name.starts_with('.') || name.ends_with(".lock") {
                continue;
            }
            let full = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let Ok(md) = fs::metadata(ent.path()) else {
                continue;
            };
            if md.is_file() {
                out.push(full);
            } else if md.is_dir() && depth > 1 {
                walk(&ent.path(), &full, depth - 1, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", max_depth.max(1), &mut out)?;
    out.sort();
    Ok(out)
}

/// The asctime date in a `From ` line (`Thu Nov  4 08:02:03 2024`,
/// local time) as Unix time.
fn parse_asctime(line: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let w: Vec<&str> = line.split_whitespace().collect();
    let i = w.iter().rposition(|x| MONTHS.contains(x))?;
    let mon = MONTHS.iter().position(|m| *m == w[i])?;
    let day: i32 = w.get(i + 1)?.parse().ok()?;
    let hms: Vec<i32> = w
        .get(i + 2)?
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<i32>>>()?;
    let year: i32 = w.get(i + 3)?.parse().ok()?;
    // SAFETY: an all-zero tm is valid; mktime only reads and normalizes it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = i32::try_from(mon).ok()?;
    tm.tm_mday = day;
    tm.tm_hour = *hms.first()?;
    tm.tm_min = *hms.get(1)?;
    tm.tm_sec = hms.get(2).copied().unwrap_or(0);
    tm.tm_isdst = -1;
    // SAFETY: tm is a valid, initialized struct.
    let t = unsafe { libc::mktime(&mut tm) };
    #[allow(clippy::useless_conversion)]
    (t != -1).then_some(i64::from(t))
}

fn new_uid_validity() -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    u32::try_from(now).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(data: &[u8]) -> Parsed {
        let mut r = data;
        parse(&mut r, 0, true).expect("parse")
    }

    #[test]
    fn split_and_sizes() {
        let data =
            b"junk\n\nFrom a  Mon\nS: 1\n\n>From x\nb\n\nFrom b  Tue\r\nS: 2\r\n\r\nc\r\n\r\n";
        let r = p(data);
        assert_eq!(r.prefix_end, 6);
        assert_eq!(r.messages.len(), 2);
        let m = &r.messages[0];
        assert_eq!(
            &data[m.body_offset as usize..m.end as usize],
            b"S: 1\n\n>From x\nb\n"
        );
        assert_eq!(m.size, 15);
        assert_eq!(m.wire_size, 19);
        let m = &r.messages[1];
        assert_eq!(
            &data[m.body_offset as usize..m.end as usize],
            b"S: 2\r\n\r\nc\r\n"
        );
        assert_eq!((m.size, m.wire_size), (11, 11));
        // "From " inside a paragraph is not a boundary.
        let r = p(b"From a\nx\nFrom b\n\nFrom c\ny");
        assert_eq!(r.messages.len(), 2);
        assert_eq!((r.messages[1].size, r.messages[1].wire_size), (1, 1));
        assert_eq!(p(b"").messages.len(), 0);
    }

    #[test]
    fn dovecot_headers() {
        let data = b"From a  Mon\nX-IMAPbase: 1700 9 $x\nStatus: RO\nX-Status: AF\nX-Keywords: $x  work\nX-UID: 5\nS: 1\n\nb\n";
        let r = p(data);
        assert_eq!(r.imapbase, Some((1700, 9)));
        let m = &r.messages[0];
        assert_eq!(
            m.flags,
            Flags::SEEN.union(Flags::REPLIED).union(Flags::FLAGGED)
        );
        assert!(m.old);
        assert_eq!(m.keywords, ["$x", "work"]);
        assert_eq!(m.xuid, 5);
        let u = FlagUpdate {
            flags: Flags::DRAFT,
            keywords: vec!["k".into()],
        };
        let body = &data[m.body_offset as usize..m.end as usize];
        let new = with_flag_headers(body, 7, &u);
        let mut want =
            b"X-IMAPbase: 1700 9 $x\nS: 1\nStatus: O\nX-Status: T\nX-Keywords: k".to_vec();
        want.extend_from_slice(&[b' '; KEYWORDS_PADDING]);
        want.extend_from_slice(b"\nX-UID: 7\n\nb\n");
        assert_eq!(new, want);
        // The padding is no keyword.
        let mut again = b"From a  Mon\n".to_vec();
        again.extend_from_slice(&new);
        assert_eq!(p(&again).messages[0].keywords, ["k"]);
        assert_eq!(
            strip_managed_headers(&new),
            b"X-IMAPbase: 1700 9 $x\nS: 1\n\nb\n"
        );
        // Dovecot's pseudo message is no message.
        let r = p(b"From MAILER-DAEMON x\nX-IMAP: 1700 3\n\npseudo\n\nFrom b y\nS: 2\n\nc\n");
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.imapbase, Some((1700, 3)));
        assert!(r.prefix_end > 0 && r.prefix_end == r.messages[0].from_offset);
    }

    #[test]
    fn folders() {
        let d = std::env::temp_dir().join(format!("mailsuite-mbf-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("lists/.imap")).expect("mkdir");
        fs::create_dir_all(d.join(".imap/INBOX")).expect("mkdir");
        for f in ["Sent", "Trash", "lists/rust", "x.lock", ".subscriptions"] {
            fs::write(d.join(f), "").expect("write");
        }
        assert_eq!(
            list_folders(&d, 8).expect("list"),
            vec!["Sent", "Trash", "lists/rust"]
        );
        assert_eq!(list_folders(&d, 1).expect("list"), vec!["Sent", "Trash"]);
        let _ = fs::remove_dir_all(&d);
        assert!(list_folders(&d, 8).expect("missing").is_empty());
    }

    /// A fresh directory for one test.
    fn test_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mailsuite-mbs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// A test directory with `DELIVERED` in `inbox`: (directory, inbox).
    fn delivered(tag: &str) -> (PathBuf, PathBuf) {
        let d = test_dir(tag);
        let path = d.join("inbox");
        fs::write(&path, DELIVERED).expect("write");
        (d, path)
    }

    fn opts(index: Option<PathBuf>) -> MboxOpenOptions {
        MboxOpenOptions {
            index_path: index,
            ..MboxOpenOptions::default()
        }
    }

    fn update(flags: Flags, keywords: &[&str]) -> FlagUpdate {
        FlagUpdate {
            flags,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        }
    }

    /// Three messages as local delivery writes them (no managed headers).
    const DELIVERED: &[u8] = b"From a@example.org  Mon Nov  4 08:02:03 2024\nSubject: one\n\nbody 1\n\nFrom b@example.org  Mon Nov  4 08:02:04 2024\nSubject: two\nTo: x@example.org\n\n>From here\nbody 2\n\nFrom c@example.org  Mon Nov  4 08:02:05 2024\nSubject: three\n\nbody 3\n\n";

    /// What a parse of the whole file gives, less the UIDs.
    fn shape(msgs: &[MboxMessage]) -> Vec<MboxMessage> {
        msgs.iter()
            .map(|m| MboxMessage {
                uid: 0,
                xuid: 0,
                ..m.clone()
            })
            .collect()
    }

    #[test]
    fn flags_in_place_when_they_fit() {
        let (d, path) = delivered("inplace");
        let index = d.join("index");
        let mut mb = Mbox::open(&path, opts(Some(index.clone()))).expect("open");
        assert_eq!(mb.messages().len(), 3);
        let uid2 = mb.messages()[1].uid;
        // The first change of a delivered message has no room: rewrite.
        let ino0 = fs::metadata(&path).expect("stat").ino();
        let mut u = HashMap::new();
        u.insert(uid2, update(Flags::SEEN, &[]));
        mb.rewrite(&u, &[]).expect("rewrite");
        let ino1 = fs::metadata(&path).expect("stat").ino();
        assert_ne!(ino0, ino1, "the first change is a rewrite");
        let before = fs::read(&path).expect("read");
        assert!(
            String::from_utf8_lossy(&before).contains(&format!(
                "Status: RO\nX-Keywords:{}\nX-UID: {uid2}\n\n>From here",
                " ".repeat(KEYWORDS_PADDING)
            )),
            "{}",
            String::from_utf8_lossy(&before)
        );
        // The next one fits in the padding: in place.
        let m2 = mb.messages()[1].clone();
        u.insert(
            uid2,
            update(Flags::SEEN.union(Flags::FLAGGED), &["$Work", "todo"]),
        );
        mb.rewrite(&u, &[]).expect("in place");
        let after = fs::read(&path).expect("read");
        let md = fs::metadata(&path).expect("stat");
        assert_eq!(md.ino(), ino1, "same inode");
        assert_eq!(after.len(), before.len(), "same length");
        let changed: Vec<usize> = (0..after.len())
            .filter(|&i| after[i] != before[i])
            .collect();
        let header_end = m2.body_offset as usize
            + before[m2.body_offset as usize..]
                .windows(2)
                .position(|w| w == b"\n\n")
                .expect("header end");
        assert!(!changed.is_empty());
        assert!(
            changed
                .iter()
                .all(|&i| i >= m2.body_offset as usize && i < header_end),
            "only message 2's header changed: {changed:?}"
        );
        let text = String::from_utf8_lossy(&after);
        assert!(
            text.contains("X-Status: F\nX-Keywords: $Work todo "),
            "{text}"
        );
        // The list kept in memory is what a parse of the file gives.
        let m = &mb.messages()[1];
        assert_eq!(m.flags, Flags::SEEN.union(Flags::FLAGGED));
        assert_eq!(m.keywords, ["$Work", "todo"]);
        let fresh = Mbox::open(&path, opts(None)).expect("reparse");
        assert_eq!(shape(fresh.messages()), shape(mb.messages()));
        assert_eq!(
            fresh.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
            mb.messages().iter().map(|m| m.uid).collect::<Vec<_>>()
        );
        // So is the saved index: a reopen uses it as is.
        let again = Mbox::open(&path, opts(Some(index.clone()))).expect("reopen");
        assert_eq!(again.last_sync(), SyncKind::Unchanged);
        assert_eq!(shape(again.messages()), shape(mb.messages()));
        assert_eq!(again.messages()[1].uid, uid2);
        // Fewer keywords leave more padding, which is no keyword.
        u.insert(uid2, update(Flags::NONE, &[]));
        mb.rewrite(&u, &[]).expect("in place");
        assert_eq!(fs::metadata(&path).expect("stat").ino(), ino1);
        assert_eq!(
            fs::metadata(&path).expect("stat").len(),
            before.len() as u64
        );
        let fresh = Mbox::open(&path, opts(None)).expect("reparse");
        assert_eq!(fresh.messages()[1].flags, Flags::NONE);
        assert!(fresh.messages()[1].keywords.is_empty());
        assert_eq!(shape(fresh.messages()), shape(mb.messages()));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn flags_too_large_for_the_padding_rewrite() {
        let (d, path) = delivered("toolarge");
        let mut mb = Mbox::open(&path, opts(Some(d.join("index")))).expect("open");
        let uid1 = mb.messages()[0].uid;
        let mut u = HashMap::new();
        u.insert(uid1, update(Flags::SEEN, &[]));
        mb.rewrite(&u, &[]).expect("rewrite");
        let md = fs::metadata(&path).expect("stat");
        let many: Vec<String> = (0..10).map(|i| format!("keyword-number-{i}")).collect();
        let many_ref: Vec<&str> = many.iter().map(String::as_str).collect();
        u.insert(uid1, update(Flags::SEEN, &many_ref));
        mb.rewrite(&u, &[]).expect("rewrite");
        let md2 = fs::metadata(&path).expect("stat");
        assert_ne!(md.ino(), md2.ino(), "renamed over");
        assert!(md2.len() > md.len());
        let fresh = Mbox::open(&path, opts(None)).expect("reparse");
        assert_eq!(fresh.messages()[0].keywords, many);
        assert_eq!(shape(fresh.messages()), shape(mb.messages()));
        // And it has room again for the next change.
        u.insert(uid1, update(Flags::SEEN, &many_ref[..2]));
        mb.rewrite(&u, &[]).expect("in place");
        assert_eq!(fs::metadata(&path).expect("stat").ino(), md2.ino());
        let _ = fs::remove_dir_all(&d);
    }

    /// CRLF line ends and a managed header among the others: the new
    /// headers take the message's line ends, and the sizes kept in
    /// memory stay those a parse gives.
    #[test]
    fn in_place_crlf_and_scattered_headers() {
        let d = test_dir("crlf");
        let path = d.join("inbox");
        let mut data = b"From a  Mon Nov  4 08:02:03 2024\r\nStatus: O\r\nSubject: one\r\nX-Keywords: a b c d e f g h i j k l m n o p q r s t u v w x y z\r\nTo: x@example.org\r\n\r\nbody\r\n\r\n".to_vec();
        data.extend_from_slice(DELIVERED);
        fs::write(&path, &data).expect("write");
        let mut mb = Mbox::open(&path, opts(None)).expect("open");
        let uid = mb.messages()[0].uid;
        let ino = fs::metadata(&path).expect("stat").ino();
        let mut u = HashMap::new();
        u.insert(uid, update(Flags::SEEN.union(Flags::DRAFT), &["a"]));
        mb.rewrite(&u, &[]).expect("in place");
        assert_eq!(fs::metadata(&path).expect("stat").ino(), ino);
        let after = fs::read(&path).expect("read");
        assert_eq!(after.len(), data.len());
        let text = String::from_utf8_lossy(&after);
        assert!(
            text.starts_with("From a  Mon Nov  4 08:02:03 2024\r\nSubject: one\r\nTo: x@example.org\r\nStatus: RO\r\nX-Status: T\r\nX-Keywords: a "),
            "{text}"
        );
        let fresh = Mbox::open(&path, opts(None)).expect("reparse");
        assert_eq!(fresh.messages()[0].keywords, ["a"]);
        assert_eq!(shape(fresh.messages()), shape(mb.messages()));
        let _ = fs::remove_dir_all(&d);
    }

    /// Another open of the mbox sees every in-place change, even two
    /// made within one tick of a coarse file system clock.
    #[test]
    fn in_place_changes_seen_by_another_open() {
        let (d, path) = delivered("other");
        let mut a = Mbox::open(&path, opts(None)).expect("open");
        let uids: Vec<u32> = a.messages().iter().map(|m| m.uid).collect();
        let mut u = HashMap::new();
        for &uid in &uids {
            u.insert(uid, update(Flags::NONE, &[]));
        }
        a.rewrite(&u, &[]).expect("rewrite");
        let mut b = Mbox::open(&path, opts(None)).expect("open");
        for (i, f) in [Flags::SEEN, Flags::FLAGGED, Flags::REPLIED]
            .into_iter()
            .enumerate()
        {
            let mut u = HashMap::new();
            u.insert(uids[i], update(f, &[]));
            a.rewrite(&u, &[]).expect("in place");
            b.sync().expect("sync");
            assert_eq!(b.messages()[i].flags, f, "change {i}");
        }
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn move_all_to_empties_and_keeps_uids() {
        let (d, path) = delivered("moveall");
        let mut mb = Mbox::open(&path, opts(Some(d.join("i1")))).expect("open");
        let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid).collect();
        let mut u = HashMap::new();
        u.insert(uids[1], update(Flags::FLAGGED, &["$Work"]));
        mb.rewrite(&u, &[]).expect("rewrite");
        let dest = d.join("old");
        let n = mb
            .move_all_to(&dest, opts(Some(d.join("i2"))))
            .expect("move");
        assert_eq!(n, 3);
        assert_eq!(fs::metadata(&path).expect("stat").len(), 0);
        assert!(mb.messages().is_empty());
        let moved = Mbox::open(&dest, opts(Some(d.join("i2")))).expect("dest");
        assert_eq!(moved.last_sync(), SyncKind::Unchanged, "index written");
        assert_eq!(moved.uid_validity(), mb.uid_validity());
        assert_eq!(
            moved.messages().iter().map(|m| m.uid).collect::<Vec<_>>(),
            uids
        );
        assert_eq!(moved.messages()[1].flags, Flags::FLAGGED);
        assert_eq!(moved.messages()[1].keywords, ["$Work"]);
        let fresh = Mbox::open(&dest, opts(None)).expect("reparse");
        assert_eq!(shape(fresh.messages()), shape(moved.messages()));
        assert!(moved
            .read_message(1)
            .expect("read")
            .ends_with(b"\nFrom here\nbody 2\n"));
        // UIDs are not reused in the emptied mbox.
        let uid = mb
            .append(b"Subject: new\r\n\r\nhi\r\n", &FlagUpdate::default(), None)
            .expect("append");
        assert!(uid > uids[2]);
        let again = Mbox::open(&path, opts(Some(d.join("i1")))).expect("reopen");
        assert_eq!(again.messages().len(), 1);
        assert_eq!(again.messages()[0].uid, uid);
        // The target must not exist.
        let e = mb.move_all_to(&dest, opts(None)).expect_err("exists");
        assert!(
            matches!(&e, StoreError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(mb.messages().len(), 1, "nothing moved");
        // A missing mbox gives an empty one.
        let mut none = Mbox::open(&d.join("missing"), opts(None)).expect("open");
        assert_eq!(
            none.move_all_to(&d.join("empty"), opts(None))
                .expect("move"),
            0
        );
        assert_eq!(fs::metadata(d.join("empty")).expect("stat").len(), 0);
        let _ = fs::remove_dir_all(&d);
    }

    /// Pseudo-random mbox-like input: parsing never panics, ranges nest,
    /// and the sizes agree with what the readers give.
    #[test]
    fn random_input_sizes_agree() {
        let pieces: [&[u8]; 9] = [
            b"From a  x\n",
            b"\n",
            b"\r\n",
            b">From q\n",
            b"text",
            b"\r",
            b"From ",
            b">",
            b"line\n",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let mut data = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.extend_from_slice(pieces[(x % pieces.len() as u64) as usize]);
            }
            let r = p(&data);
            let mut last = r.prefix_end;
            for m in &r.messages {
                assert!(m.from_offset >= last && m.body_offset <= m.end, "{data:?}");
                last = m.end;
                let raw = &data[m.body_offset as usize..m.end as usize];
                let mut unq = Vec::new();
                for line in raw.split_inclusive(|&b| b == b'\n') {
                    let l = line.strip_prefix(b">").filter(|l| l.starts_with(b"From "));
                    unq.extend_from_slice(l.unwrap_or(line));
                }
                assert_eq!(m.size, unq.len() as u64, "{data:?}");
                let mut w = Vec::new();
                WireReader::new(raw, Part::Whole, true)
                    .read_to_end(&mut w)
                    .expect("read");
                assert_eq!(m.wire_size, w.len() as u64, "{data:?}");
            }
            assert!(last <= data.len() as u64);
            let _ = parse_index(&data);
            let _ = crate::uidlist::UidList::parse(&data, Path::new("x"));
            let _ = crate::maildir_store::FileName::parse(&String::from_utf8_lossy(&data));
        }
    }
}
