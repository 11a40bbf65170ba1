//! One pass over the queue.
//!
//! The queues are listed in the order of Postfix 3.7's showq: maildrop,
//! active, incoming, deferred, hold; within a queue, in directory order,
//! descending into the one-character hash subdirectories. A file is listed
//! when its name is a queue ID, it is a regular file with one link, and
//! (outside maildrop) its owner permissions are `rwx` — the mark of a
//! complete queue file (Postfix's `mail_open_ok()`). Unreadable maildrop
//! files (another user's, not yet picked up) are passed over quietly.
//!
//! Each file is read through one buffer window: the first read (16 KB, or
//! the whole file if smaller) normally holds the envelope; the content is
//! skipped by jumping to the offset the size record gives, and the
//! extracted segment is read from there. The defer log is read for every
//! listed message outside maildrop (one failed `open` when there is none),
//! as Postfix does, so held and active messages show their last reasons.
//!
//! Recipients are listed as Postfix's showq lists them: first the defer
//! log's entries, each with its reason, then the file's remaining
//! recipients (those the log did not name) without one. Recipients marked
//! done in the file are never shown; a defer log entry whose `offset`
//! points at a done recipient is skipped, and a recipient named twice in
//! the log (by address and offset) is shown once, with its last reason.

use crate::{push_address, push_printable, Message};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode};
use queue::logs::unescape_into;
use queue::HashSpec;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The queues listed, in Postfix's order.
pub const QUEUES: [&str; 5] = ["maildrop", "active", "incoming", "deferred", "hold"];

/// The first read of each queue file.
const WINDOW: usize = 16 * 1024;

/// Postfix's `MAIL_QUEUE_STAT_EXPIRE`: group execute marks a message
/// forced to expire (`postsuper -e`).
const STAT_EXPIRE: u32 = 0o010;

/// Why a queue file was not listed.
#[derive(Debug)]
enum Skip {
    /// Not a listable file (gone, not ready, unreadable maildrop file):
    /// passed over without a word.
    Quiet,
    /// A damaged or unreadable file: passed over with a warning.
    Bad(String),
}

impl From<io::Error> for Skip {
    fn from(e: io::Error) -> Skip {
        Skip::Bad(util_text(&e))
    }
}

fn util_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// A queue file read through one reused buffer.
struct Window<'a> {
    file: &'a File,
    buf: &'a mut Vec<u8>,
    base: u64,
    size: u64,
}

impl Window<'_> {
    /// `len` bytes at `off`, or None when the file ends first.
    fn get(&mut self, off: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let end = off.saturating_add(len as u64);
        if end > self.size {
            return Ok(None);
        }
        let have = self.base + self.buf.len() as u64;
        if off < self.base || end > have {
            let want = (len.max(WINDOW) as u64).min(self.size - off) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(self.buf, off)?;
            self.base = off;
        }
        let start = (off - self.base) as usize;
        Ok(Some(&self.buf[start..start + len]))
    }

    /// The record at `off`: (type, payload offset, payload length).
    fn record(&mut self, off: u64) -> Result<Option<(u8, u64, usize)>, Skip> {
        let avail = (self.size.saturating_sub(off)).min(6) as usize;
        if avail == 0 {
            return Ok(None);
        }
        let head = self
            .get(off, avail)?
            .ok_or_else(|| Skip::Bad(format!("truncated record at offset {off}")))?;
        let rtype = head[0];
        let mut len: u64 = 0;
        let mut used = 0usize;
        loop {
            let Some(&b) = head.get(1 + used) else {
                return Err(Skip::Bad(format!("truncated record at offset {off}")));
            };
            len |= u64::from(b & 0x7f) << (7 * used);
            used += 1;
            if b & 0x80 == 0 {
                break;
            }
            if used >= queue::record::MAX_VARINT_BYTES {
                return Err(Skip::Bad(format!(
                    "malformed record length at offset {off}"
                )));
            }
        }
        if len > queue::record::MAX_RECORD_LEN as u64 {
            return Err(Skip::Bad(format!("record at offset {off} too long")));
        }
        let payload = off + 1 + used as u64;
        if payload + len > self.size {
            return Err(Skip::Bad(format!("truncated record at offset {off}")));
        }
        Ok(Some((rtype, payload, len as usize)))
    }

    fn payload(&mut self, off: u64, len: usize) -> Result<&[u8], Skip> {
        self.get(off, len)?
            .ok_or_else(|| Skip::Bad(format!("truncated record at offset {off}")))
    }
}

/// Lists the queue. Reuse one scanner for a whole listing: it keeps its
/// buffers from file to file.
pub struct Scanner {
    queue_dir: PathBuf,
    spec: HashSpec,
    empty_address: String,
    dup_limit: usize,
    buf: Vec<u8>,
    log: Vec<u8>,
    log_path: String,
    /// Descriptors of `defer/` and its hash subdirectories, by relative
    /// name ("" for `defer/` itself), opened on first use: the log is then
    /// opened relative to its directory, not by walking the whole path.
    defer_dirs: std::collections::HashMap<String, Option<OwnedFd>>,
    /// The file's recipients still to deliver: (start, end) in `rtext`.
    rcpts: Vec<(usize, usize, u64)>,
    rtext: String,
    done: Vec<u64>,
    /// Per defer log entry: offset in the queue file.
    logged: Vec<u64>,
    entry_rcpt: String,
    entry_reason: String,
    dup: HashSet<String>,
    msg: Message,
    /// Messages listed so far.
    pub count: u64,
}

impl Scanner {
    /// A scanner of the queue under `queue_dir`.
    pub fn new(queue_dir: &Path, spec: HashSpec) -> Scanner {
        Scanner {
            queue_dir: queue_dir.to_path_buf(),
            spec,
            empty_address: "MAILER-DAEMON".into(),
            dup_limit: 1000,
            buf: Vec::with_capacity(WINDOW),
            log: Vec::with_capacity(4096),
            log_path: String::new(),
            defer_dirs: std::collections::HashMap::new(),
            rcpts: Vec::new(),
            rtext: String::new(),
            done: Vec::new(),
            logged: Vec::new(),
            entry_rcpt: String::new(),
            entry_reason: String::new(),
            dup: HashSet::new(),
            msg: Message::default(),
            count: 0,
        }
    }

    /// A scanner as the configuration says: `hash_queue_names`,
    /// `hash_queue_depth`, `empty_address_recipient`,
    /// `duplicate_filter_limit`.
    pub fn from_config(cfg: &params::Config, queue_dir: &Path) -> Scanner {
        let mut s = Scanner::new(queue_dir, HashSpec::from_config(cfg));
        s.empty_address = cfg.str(&params::table::EMPTY_ADDRESS_RECIPIENT).to_string();
        s.dup_limit = usize::try_from(cfg.int(&params::table::DUPLICATE_FILTER_LIMIT)).unwrap_or(0);
        s
    }

    /// Calls `each` for every listed message, in order. An error from
    /// `each` (the client went away) stops the listing and is returned.
    pub fn scan<E>(&mut self, mut each: impl FnMut(&Message) -> Result<(), E>) -> Result<(), E> {
        for queue_name in QUEUES {
            let dir = self.queue_dir.join(queue_name);
            let fd = match nix::fcntl::open(
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(e) => {
                    maillog::warning!("open {}: {}", dir.display(), e.desc());
                    continue;
                }
            };
            self.scan_dir(fd, queue_name, 0, &mut each)?;
        }
        Ok(())
    }

    fn scan_dir<E>(
        &mut self,
        fd: OwnedFd,
        queue_name: &'static str,
        depth: usize,
        each: &mut impl FnMut(&Message) -> Result<(), E>,
    ) -> Result<(), E> {
        // Read the names first (NUL-separated), then open each file
        // relative to the directory.
        let mut files: Vec<u8> = Vec::new();
        let mut subdirs: Vec<u8> = Vec::new();
        let listing = fd
            .try_clone()
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            .and_then(nix::dir::Dir::from_fd);
        let mut dir = match listing {
            Ok(d) => d,
            Err(e) => {
                maillog::warning!("scan {queue_name}: {}", e.desc());
                return Ok(());
            }
        };
        for entry in dir.iter() {
            let Ok(entry) = entry else { break };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let is_dir = match entry.file_type() {
                Some(nix::dir::Type::Directory) => true,
                Some(_) => false,
                None => {
                    nix::sys::stat::fstatat(&fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                        .unwrap_or(false)
                }
            };
            if is_dir {
                // Postfix's mail_scan_dir_next(): one-character names are
                // hash levels; maildrop is never hashed.
                if name.len() == 1 && queue_name != "maildrop" && depth < 16 {
                    subdirs.extend_from_slice(name);
                }
                continue;
            }
            if std::str::from_utf8(name).is_ok_and(queue::is_valid_queue_id) {
                files.extend_from_slice(name);
                files.push(0);
            }
        }
        drop(dir);
        for name in files.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let id = std::str::from_utf8(name).unwrap_or_default();
            match self.read_message(&fd, queue_name, id) {
                Ok(()) => {
                    self.count += 1;
                    each(&self.msg)?;
                }
                Err(Skip::Quiet) => {}
                Err(Skip::Bad(why)) => {
                    maillog::warning!("{queue_name}/{id}: {why}; skipped");
                }
            }
        }
        for &c in &subdirs {
            let name = [c];
            match openat(
                &fd,
                &name[..],
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(sub) => self.scan_dir(sub, queue_name, depth + 1, each)?,
                Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => maillog::warning!("open {queue_name}/{}: {}", c as char, e.desc()),
            }
        }
        Ok(())
    }

    /// Reads one message into `self.msg`.
    fn read_message(
        &mut self,
        dirfd: &impl AsFd,
        queue_name: &'static str,
        id: &str,
    ) -> Result<(), Skip> {
        let maildrop = queue_name == "maildrop";
        let fd = match openat(
            dirfd,
            id,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ELOOP) => return Err(Skip::Quiet),
            Err(nix::errno::Errno::EACCES) if maildrop => return Err(Skip::Quiet),
            Err(e) => return Err(Skip::Bad(format!("open: {}", e.desc()))),
        };
        let st = fstat(&fd).map_err(|e| Skip::Bad(format!("fstat: {}", e.desc())))?;
        let mode = st.st_mode as u32;
        if mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Skip::Quiet);
        }
        if !maildrop && mode & 0o700 != 0o700 {
            return Err(Skip::Quiet);
        }
        if st.st_nlink > 1 {
            return Err(Skip::Bad(format!("file has {} links", st.st_nlink)));
        }
        let file = File::from(fd);
        let size = st.st_size.max(0) as u64;
        self.msg.clear();
        self.msg.queue_name.push_str(queue_name);
        self.msg.queue_id.push_str(id);
        self.msg.forced_expire = !maildrop && mode & STAT_EXPIRE != 0;
        self.rcpts.clear();
        self.rtext.clear();
        self.done.clear();
        let mut w = Window {
            file: &file,
            buf: &mut self.buf,
            base: 0,
            size,
        };
        w.buf.clear();
        let info = parse_file(
            &mut w,
            &mut self.msg,
            &self.empty_address,
            &mut self.rcpts,
            &mut self.rtext,
            &mut self.done,
        )
        .map_err(|e| if maildrop { Skip::Quiet } else { e })?;
        self.msg.message_size = if info.data_size > 0 {
            info.data_size
        } else {
            size
        };
        self.msg.arrival_time = if info.arrival > 0 {
            info.arrival
        } else {
            st.st_mtime
        };
        drop(file);
        let logged = if maildrop { 0 } else { self.defer_reasons(id) };
        // The file's own recipients that the defer log did not name.
        for i in 0..self.rcpts.len() {
            let (start, end, _) = self.rcpts[i];
            let address = &self.rtext[start..end];
            if logged > 0 && self.is_dup(address, logged) {
                continue;
            }
            self.msg.add_rcpt(address, "");
        }
        Ok(())
    }

    fn is_dup(&self, address: &str, logged: usize) -> bool {
        if logged <= 32 {
            self.msg.recipients()[..logged]
                .iter()
                .any(|r| r.address == address)
        } else {
            self.dup.contains(address)
        }
    }

    /// Adds the defer log's recipients with their reasons; returns how
    /// many were added.
    fn defer_reasons(&mut self, id: &str) -> usize {
        self.log_path.clear();
        if self.spec.hashes("defer") {
            let source = queue::path::hash_source(id);
            for (i, level) in queue::path::dir_forest(&source, self.spec.depth)
                .iter()
                .enumerate()
            {
                if i > 0 {
                    self.log_path.push('/');
                }
                self.log_path.push_str(level);
            }
        }
        if !self.defer_dirs.contains_key(&self.log_path) {
            let mut dir = self.queue_dir.join("defer");
            if !self.log_path.is_empty() {
                dir.push(&self.log_path);
            }
            let fd = nix::fcntl::open(
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok();
            self.defer_dirs.insert(self.log_path.clone(), fd);
        }
        let Some(Some(dirfd)) = self.defer_dirs.get(&self.log_path) else {
            return 0;
        };
        let mut f = match openat(
            dirfd,
            id,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => File::from(fd),
            Err(nix::errno::Errno::ENOENT) => return 0,
            Err(e) => {
                maillog::warning!("open defer/{id}: {}", e.desc());
                return 0;
            }
        };
        self.log.clear();
        loop {
            if self.log.capacity() - self.log.len() < 1024 {
                self.log.reserve(4096);
            }
            let len = self.log.len();
            let spare = self.log.capacity() - len;
            self.log.resize(len + spare, 0);
            match f.read(&mut self.log[len..]) {
                Ok(n) => {
                    self.log.truncate(len + n);
                    if n == 0 || n < spare {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.log.truncate(len),
                Err(e) => {
                    self.log.truncate(len);
                    maillog::warning!("read defer/{id}: {}", util_text(&e));
                    break;
                }
            }
        }
        drop(f);
        self.logged.clear();
        self.dup.clear();
        let log = std::mem::take(&mut self.log);
        // Only complete lines: a crash may leave half of the last one.
        let mut rest: &[u8] = &log;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            let Some(offset) = self.parse_entry(line) else {
                continue;
            };
            if offset != 0 && self.done.contains(&offset) {
                continue;
            }
            let mut address = String::new();
            push_address(&mut address, self.entry_rcpt.as_bytes());
            let mut reason = String::new();
            push_printable(&mut reason, &self.entry_reason);
            // Named again (a later attempt): keep the last reason.
            if let Some(i) = (0..self.logged.len())
                .find(|&i| self.logged[i] == offset && self.msg.recipients()[i].address == address)
            {
                let r = &mut self.msg.slots[i];
                r.reason = reason;
                continue;
            }
            if self.dup_limit == 0 || self.dup.len() < self.dup_limit {
                self.dup.insert(address.clone());
            }
            self.logged.push(offset);
            self.msg.add_rcpt(&address, &reason);
        }
        self.log = log;
        self.logged.len()
    }

    /// Reads `recipient`, `reason` and `offset` of one log line into the
    /// entry buffers; None when the line has no recipient.
    fn parse_entry(&mut self, line: &[u8]) -> Option<u64> {
        self.entry_rcpt.clear();
        self.entry_reason.clear();
        let mut offset = 0u64;
        let mut has_rcpt = false;
        for field in line.split(|&b| b == b'\t') {
            if let Some(v) = field.strip_prefix(b"recipient=") {
                unescape_into(&mut self.entry_rcpt, v);
                has_rcpt = true;
            } else if let Some(v) = field.strip_prefix(b"reason=") {
                unescape_into(&mut self.entry_reason, v);
            } else if let Some(v) = field.strip_prefix(b"offset=") {
                offset = std::str::from_utf8(v).ok()?.parse().ok()?;
            }
        }
        has_rcpt.then_some(offset)
    }
}

struct FileInfo {
    data_size: u64,
    arrival: i64,
}

/// The numbers at the start of a record payload.
fn leading_number(p: &[u8]) -> Option<u64> {
    let t = p.trim_ascii_start();
    let end = t
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(t.len());
    std::str::from_utf8(&t[..end]).ok()?.parse().ok()
}

/// Reads the envelope and extracted segments; skips the content.
fn parse_file(
    w: &mut Window<'_>,
    msg: &mut Message,
    empty_address: &str,
    rcpts: &mut Vec<(usize, usize, u64)>,
    rtext: &mut String,
    done: &mut Vec<u64>,
) -> Result<FileInfo, Skip> {
    use queue::record::RecordType as T;
    let bad = |s: &str| Skip::Bad(s.to_string());
    let (rtype, p, len) = w.record(0)?.ok_or_else(|| bad("empty file"))?;
    if rtype != T::Size.byte() {
        return Err(bad("no size record"));
    }
    let size = std::str::from_utf8(w.payload(p, len)?)
        .ok()
        .and_then(queue::SizeRecord::parse)
        .ok_or_else(|| bad("malformed size record"))?;
    let mut off = p + len as u64;
    let mut arrival: Option<i64> = None;
    let mut sender = false;
    // The envelope.
    loop {
        let (rtype, p, len) = w
            .record(off)?
            .ok_or_else(|| bad("no message content record"))?;
        let rec_off = off;
        off = p + len as u64;
        match rtype {
            b'T' => {
                let v = leading_number(w.payload(p, len)?)
                    .ok_or_else(|| bad("malformed arrival time record"))?;
                arrival = Some(i64::try_from(v).unwrap_or(i64::MAX));
            }
            b'S' => {
                let s = w.payload(p, len)?;
                if s.is_empty() {
                    msg.sender.push_str(empty_address);
                } else {
                    push_address(&mut msg.sender, s);
                }
                sender = true;
            }
            b'R' => {
                let a = w.payload(p, len)?;
                let start = rtext.len();
                if a.is_empty() {
                    rtext.push_str(empty_address);
                } else {
                    push_address(rtext, a);
                }
                rcpts.push((start, rtext.len(), rec_off));
            }
            b'D' => done.push(rec_off),
            b'M' => break,
            b'X' | b'E' | b'N' => return Err(bad("misplaced record in the envelope")),
            _ => {}
        }
    }
    if !sender {
        return Err(bad("no sender record"));
    }
    if size.data_offset != off {
        return Err(bad("size record does not match the content offset"));
    }
    // Skip the content: the extracted segment starts at data_offset + data_size.
    off = size
        .data_offset
        .checked_add(size.data_size)
        .ok_or_else(|| bad("malformed size record"))?;
    let (rtype, p, len) = w
        .record(off)?
        .ok_or_else(|| bad("truncated file: no extracted segment"))?;
    if rtype != T::Xtra.byte() {
        return Err(bad("size record does not match the content length"));
    }
    off = p + len as u64;
    loop {
        let (rtype, p, len) = w.record(off)?.ok_or_else(|| bad("no message end record"))?;
        let rec_off = off;
        off = p + len as u64;
        match rtype {
            b'R' => {
                let a = w.payload(p, len)?;
                let start = rtext.len();
                push_address(rtext, a);
                rcpts.push((start, rtext.len(), rec_off));
            }
            b'D' => done.push(rec_off),
            b'E' => break,
            _ => {}
        }
    }
    Ok(FileInfo {
        data_size: size.data_size,
        arrival: arrival.ok_or_else(|| bad("no arrival time record"))?,
    })
}
