//! Writing a queue file so that it exists, whole and durable, or not at all.
//!
//! [`Writer::new`] creates the file without a name ([`util::unnamed`]; where
//! the file system cannot, under a temporary name `USEC.PID.N`, with a `.`, so
//! nothing that scans the queue takes it for a queue file) in the queue
//! directory and writes the envelope. The content follows,
//! streamed ([`Writer::write_content`], [`Writer::line`]), never held in
//! memory as a whole. [`Writer::finish`] writes the extracted segment and
//! the end record, patches the size record, sets mode 0700 (Postfix's
//! "ready" mode: the execute bit tells qmgr the file is complete), fsyncs
//! the file, links it under its queue ID (made from its inode and the time,
//! as Postfix's `mail_queue_enter()`), and fsyncs the directory. It returns
//! the ID only then: that is when smtpd may answer 250 and sendmail exit 0.
//!
//! Any failure, and dropping an unfinished writer, leaves no file. For
//! tests, the environment variable `MAILSUITE_FAIL_POINT`
//! ([`util::safe_file::FAIL_POINT_ENV`]) set to `queue-write`,
//! `queue-fsync`, `queue-rename` or `queue-dirsync` makes that step fail as
//! an I/O error would ([`Writer::fail_at`] does the same for one writer).

use crate::error::QueueError;
use crate::id::QueueId;
use crate::model::{attr, Envelope, Extracted, Recipient, SizeRecord, SIZE_PAYLOAD_LEN};
use crate::path::{make_parent_dirs, HashSpec};
use crate::record::{RecordType as T, MAX_RECORD_LEN};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;
use util::unnamed::{self, Pending};

/// Longest text record: a longer line is stored as `L` pieces of this size
/// and a final `N` (Postfix's `line_length_limit` default).
pub const TEXT_PIECE: usize = 2048;

/// The steps a test can make fail.
pub const FAIL_STEPS: [&str; 4] = [
    "queue-write",
    "queue-fsync",
    "queue-rename",
    "queue-dirsync",
];

/// Where the finished file goes.
#[derive(Debug, Clone)]
enum Target {
    /// `dir/ID`.
    Dir(PathBuf),
    /// `queue_dir/queue_name/[hash/]ID`.
    Queue {
        queue_dir: PathBuf,
        queue_name: String,
        spec: HashSpec,
    },
}

/// Builds one queue file. See the module docs.
pub struct Writer {
    out: Option<BufWriter<File>>,
    /// The directory the file was created in.
    dir: PathBuf,
    name: Pending,
    target: Target,
    offset: u64,
    size: SizeRecord,
    pending: Vec<u8>,
    broken: bool,
    fail: Option<String>,
    done: bool,
    /// Known from the start: creation time and the file's inode.
    id: QueueId,
    envelope_written: bool,
    final_mode: u32,
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

fn check_text(what: &'static str, s: &str) -> Result<(), QueueError> {
    if s.as_bytes().contains(&0) {
        return Err(QueueError::BadValue {
            what,
            why: "contains a NUL byte".into(),
        });
    }
    if s.len() > MAX_RECORD_LEN {
        return Err(QueueError::BadValue {
            what,
            why: format!("longer than {MAX_RECORD_LEN} bytes"),
        });
    }
    Ok(())
}

impl Writer {
    /// Starts a file in `dir` that will be named `dir/ID`.
    pub fn new(dir: &Path, envelope: &Envelope) -> Result<Writer, QueueError> {
        let mut w = Writer::create(dir, Target::Dir(dir.to_path_buf()))?;
        w.envelope(envelope)?;
        Ok(w)
    }

    /// Starts a file in `queue_dir/queue_name` (e.g. "incoming") that will be
    /// named as [`crate::path_of`] says, hashed subdirectories made as needed.
    pub fn in_queue(
        queue_dir: &Path,
        queue_name: &str,
        spec: &HashSpec,
        envelope: &Envelope,
    ) -> Result<Writer, QueueError> {
        if !crate::path::is_valid_queue_name(queue_name) {
            return Err(QueueError::BadQueueName(queue_name.to_string()));
        }
        let dir = queue_dir.join(queue_name);
        let target = Target::Queue {
            queue_dir: queue_dir.to_path_buf(),
            queue_name: queue_name.to_string(),
            spec: spec.clone(),
        };
        let mut w = Writer::create(&dir, target)?;
        w.envelope(envelope)?;
        Ok(w)
    }

    /// Creates the file in `queue_dir/queue_name` without writing anything
    /// yet, so that its queue ID is known at once (cleanup tells smtpd the ID
    /// at MAIL FROM, before the envelope is complete). Call
    /// [`Writer::envelope`] before any content.
    pub fn create_in_queue(
        queue_dir: &Path,
        queue_name: &str,
        spec: &HashSpec,
    ) -> Result<Writer, QueueError> {
        if !crate::path::is_valid_queue_name(queue_name) {
            return Err(QueueError::BadQueueName(queue_name.to_string()));
        }
        let target = Target::Queue {
            queue_dir: queue_dir.to_path_buf(),
            queue_name: queue_name.to_string(),
            spec: spec.clone(),
        };
        Writer::create(&queue_dir.join(queue_name), target)
    }

    /// The permission bits the finished file gets (default 0700, Postfix's
    /// "ready" mode). postdrop uses 0444 so that pickup, running as
    /// mail_owner, can read a file owned by the submitting user.
    pub fn set_final_mode(&mut self, mode: u32) {
        self.final_mode = mode & 0o777;
    }

    /// Sends the finished file to another queue (e.g. "hold" for a
    /// header_checks HOLD) instead of the one it was created in; the rename
    /// at [`Writer::finish`] moves it there.
    pub fn retarget(&mut self, queue_name: &str) -> Result<(), QueueError> {
        if !crate::path::is_valid_queue_name(queue_name) {
            return Err(QueueError::BadQueueName(queue_name.to_string()));
        }
        match &mut self.target {
            Target::Queue { queue_name: q, .. } => {
                *q = queue_name.to_string();
                Ok(())
            }
            Target::Dir(_) => Err(QueueError::BadValue {
                what: "queue file",
                why: "not created in a queue".into(),
            }),
        }
    }

    /// The queue ID the file will have: creation time and inode, as Postfix makes it.
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Writes the envelope segment; must come first, once.
    pub fn envelope(&mut self, envelope: &Envelope) -> Result<(), QueueError> {
        if self.envelope_written {
            return Err(QueueError::BadValue {
                what: "envelope",
                why: "written twice".into(),
            });
        }
        validate_envelope(envelope)?;
        self.size.smtputf8 = u64::from(envelope.smtputf8);
        self.write_envelope(envelope)?;
        self.envelope_written = true;
        Ok(())
    }

    /// Marks the message as needing SMTPUTF8 after its envelope went out
    /// (UTF-8 in a MIME part's header): the size record, which is written
    /// again when the file is finished, carries the flag.
    pub fn require_smtputf8(&mut self) {
        self.size.smtputf8 = 1;
    }

    fn need_envelope(&self) -> Result<(), QueueError> {
        if self.envelope_written {
            Ok(())
        } else {
            Err(QueueError::BadValue {
                what: "queue file",
                why: "content before the envelope".into(),
            })
        }
    }

    fn create(dir: &Path, target: Target) -> Result<Writer, QueueError> {
        let pid = std::process::id();
        let (file, name) = loop {
            let usec = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_micros())
                .unwrap_or(0);
            let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!("{usec}.{pid}.{serial}"));
            match unnamed::create(dir, &temp, 0o600) {
                Ok(created) => break created,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(QueueError::io(
                        format!("create file in {}", dir.display()),
                        e,
                    ))
                }
            }
        };
        let inode = file
            .metadata()
            .map_err(|e| QueueError::io(format!("fstat new file in {}", dir.display()), e))?
            .ino();
        Ok(Writer {
            // Under glibc's 64 KiB at which a free consolidates the heap.
            out: Some(BufWriter::with_capacity(32 * 1024, file)),
            dir: dir.to_path_buf(),
            name,
            target,
            offset: 0,
            size: SizeRecord::default(),
            pending: Vec::new(),
            broken: false,
            fail: std::env::var(util::safe_file::FAIL_POINT_ENV).ok(),
            done: false,
            id: QueueId::at(SystemTime::now(), inode),
            envelope_written: false,
            final_mode: 0o700,
        })
    }

    /// Makes `step` (one of [`FAIL_STEPS`]) fail, for tests.
    #[doc(hidden)]
    pub fn fail_at(&mut self, step: &str) {
        self.fail = Some(step.to_string());
    }

    fn fail_point(&self, step: &'static str) -> Result<(), QueueError> {
        match &self.fail {
            Some(s) if s == step => Err(QueueError::Injected(step)),
            _ => Ok(()),
        }
    }

    /// What error messages call the unfinished file: its temporary name, or
    /// its directory when it has none.
    fn unfinished(&self) -> &Path {
        self.name.temp_path().unwrap_or(&self.dir)
    }

    fn put(&mut self, rtype: T, payload: &[u8]) -> Result<(), QueueError> {
        if self.broken {
            return Err(QueueError::BadValue {
                what: "queue file",
                why: "an earlier write failed".into(),
            });
        }
        if payload.len() > MAX_RECORD_LEN {
            return Err(QueueError::BadValue {
                what: "queue record",
                why: format!("{} bytes, more than {MAX_RECORD_LEN}", payload.len()),
            });
        }
        // Straight into the buffered file: no record built aside.
        let (head, head_len) = crate::record::header(rtype.byte(), payload.len());
        let len = head_len + payload.len();
        let result = self
            .fail_point("queue-write")
            .and_then(|()| match self.out.as_mut() {
                Some(out) => out
                    .write_all(&head[..head_len])
                    .and_then(|()| out.write_all(payload))
                    .map_err(|e| {
                        QueueError::io(format!("write {}", self.unfinished().display()), e)
                    }),
                None => Err(QueueError::BadValue {
                    what: "queue file",
                    why: "already finished".into(),
                }),
            });
        if result.is_err() {
            self.broken = true;
        }
        result?;
        self.offset += len as u64;
        Ok(())
    }

    fn put_str(&mut self, rtype: T, s: &str) -> Result<(), QueueError> {
        self.put(rtype, s.as_bytes())
    }

    fn put_recipient(&mut self, r: &Recipient) -> Result<(), QueueError> {
        if let Some(o) = &r.dsn_orcpt {
            self.put_str(T::DsnOrcpt, o)?;
        }
        if let Some(n) = r.dsn_notify {
            self.put_str(T::DsnNotify, &n.0.to_string())?;
        }
        if let Some(o) = &r.original {
            self.put_str(T::Orcp, o)?;
        }
        self.put_str(if r.done { T::Done } else { T::Rcpt }, &r.address)?;
        self.size.rcpt_count += 1;
        Ok(())
    }

    fn write_envelope(&mut self, e: &Envelope) -> Result<(), QueueError> {
        self.put_str(T::Size, &SizeRecord::default().payload())?;
        self.put_str(T::Time, &format!("{} {}", e.arrival.sec, e.arrival.usec))?;
        if let Some(t) = e.create_time {
            self.put_str(T::Attr, &format!("{}={t}", attr::CREATE_TIME))?;
        }
        if let Some(f) = &e.fullname {
            self.put_str(T::FullName, f)?;
        }
        self.put_str(T::From, &e.sender)?;
        if let Some(v) = &e.verp_delimiters {
            self.put_str(T::Verp, v)?;
        }
        for (name, value) in e.attrs.pairs() {
            self.put_str(T::Attr, &format!("{name}={value}"))?;
        }
        if let Some(w) = e.warn_time {
            self.put_str(T::Warn, &format!("{w:>15}"))?;
        }
        if let Some(r) = e.dsn_ret {
            self.put_str(T::DsnRet, &r.code().to_string())?;
        }
        if let Some(i) = &e.dsn_envid {
            self.put_str(T::DsnEnvid, i)?;
        }
        for r in &e.recipients {
            self.put_recipient(r)?;
        }
        self.put(T::Mesg, b"")?;
        self.size.data_offset = self.offset;
        Ok(())
    }

    fn put_text(&mut self, line: &[u8], complete: bool) -> Result<(), QueueError> {
        let mut rest = line;
        while rest.len() > TEXT_PIECE {
            let (piece, tail) = rest.split_at(TEXT_PIECE);
            self.put(T::Cont, piece)?;
            rest = tail;
        }
        if complete {
            self.put(T::Norm, rest)?;
            self.size.content_length += line.len() as u64 + 1;
        } else {
            if !rest.is_empty() {
                self.put(T::Cont, rest)?;
            }
            self.size.content_length += line.len() as u64;
        }
        Ok(())
    }

    /// Appends one complete line (without its line end). A line started
    /// with [`Writer::write_content`] is ended first.
    pub fn line(&mut self, line: &[u8]) -> Result<(), QueueError> {
        self.need_envelope()?;
        if !self.pending.is_empty() {
            return self.end_pending(line, false);
        }
        self.put_text(line, true)
    }

    /// Ends the line begun in `pending` with `tail` (with `strip_cr`, a CR
    /// before the LF dropped), keeping the buffer for the next.
    fn end_pending(&mut self, tail: &[u8], strip_cr: bool) -> Result<(), QueueError> {
        let mut p = std::mem::take(&mut self.pending);
        p.extend_from_slice(tail);
        let line = match strip_cr {
            true => p.strip_suffix(b"\r").unwrap_or(&p),
            false => &p[..],
        };
        let result = self.put_text(line, true);
        p.clear();
        self.pending = p;
        result
    }

    /// Appends message bytes as they come (from DATA or stdin): split into
    /// lines at LF; CRLF and LF both end a line and are not stored. A last
    /// line without a line end is kept as such (it ends in `L`, not `N`).
    pub fn write_content(&mut self, mut bytes: &[u8]) -> Result<(), QueueError> {
        self.need_envelope()?;
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, tail) = bytes.split_at(nl);
            bytes = &tail[1..];
            if self.pending.is_empty() {
                self.put_text(head.strip_suffix(b"\r").unwrap_or(head), true)?;
            } else {
                self.end_pending(head, true)?;
            }
        }
        self.pending.extend_from_slice(bytes);
        // Flush whole pieces of a long line; keep the rest (at least one
        // byte, so a CR before a coming LF is still seen).
        while self.pending.len() > TEXT_PIECE {
            let piece: Vec<u8> = self.pending.drain(..TEXT_PIECE).collect();
            self.put(T::Cont, &piece)?;
            self.size.content_length += piece.len() as u64;
        }
        Ok(())
    }

    fn write_extracted(&mut self, x: &Extracted) -> Result<(), QueueError> {
        if !self.pending.is_empty() {
            let p = std::mem::take(&mut self.pending);
            self.put_text(&p, false)?;
        }
        self.size.data_size = self.offset - self.size.data_offset;
        self.put(T::Xtra, b"")?;
        for r in &x.recipients {
            self.put_recipient(r)?;
        }
        if let Some(r) = &x.return_receipt {
            self.put_str(T::Rrto, r)?;
        }
        if let Some(e) = &x.errors_to {
            self.put_str(T::Erto, e)?;
        }
        for (name, value) in &x.attrs {
            self.put_str(T::Attr, &format!("{name}={value}"))?;
        }
        self.put(T::End, b"")
    }

    fn final_path(&self, id: &QueueId) -> Result<PathBuf, QueueError> {
        match &self.target {
            Target::Dir(d) => Ok(d.join(id.as_str())),
            Target::Queue {
                queue_dir,
                queue_name,
                spec,
            } => spec.path(queue_dir, queue_name, id.as_str()),
        }
    }

    /// Writes the extracted segment and the end record, makes the file
    /// durable under its queue ID, and returns the ID and the path.
    pub fn finish(mut self, extracted: &Extracted) -> Result<(QueueId, PathBuf), QueueError> {
        self.need_envelope()?;
        validate_extracted(extracted)?;
        let result = self.commit(extracted);
        if result.is_ok() {
            self.done = true;
        }
        result
    }

    fn commit(&mut self, extracted: &Extracted) -> Result<(QueueId, PathBuf), QueueError> {
        self.write_extracted(extracted)?;
        let temp = self.unfinished().to_path_buf();
        let io = |what: &str| {
            let what = format!("{what} {}", temp.display());
            move |e| QueueError::io(what, e)
        };
        let out = self.out.take().ok_or(QueueError::BadValue {
            what: "queue file",
            why: "already finished".into(),
        })?;
        let file = out
            .into_inner()
            .map_err(|e| QueueError::io(format!("write {}", temp.display()), e.into_error()))?;
        let payload = self.size.payload();
        debug_assert_eq!(payload.len(), SIZE_PAYLOAD_LEN);
        // The size record starts the file: type byte, one length byte.
        file.write_all_at(payload.as_bytes(), 2)
            .map_err(io("write"))?;
        file.set_permissions(fs::Permissions::from_mode(self.final_mode))
            .map_err(io("chmod"))?;
        self.fail_point("queue-fsync")?;
        file.sync_all().map_err(io("fsync"))?;
        let id = self.id.clone();
        let path = self.final_path(&id)?;
        self.fail_point("queue-rename")?;
        // The temporary name's directory, which the link changes too.
        let temp_dir = self
            .name
            .temp_path()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let linked = match self.name.link(&file, &path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                make_parent_dirs(&path).and_then(|()| self.name.link(&file, &path))
            }
            other => other,
        };
        linked.map_err(|e| {
            QueueError::io(format!("link {} as {}", temp.display(), path.display()), e)
        })?;
        drop(file);
        let dir_result = (|| {
            self.fail_point("queue-dirsync")?;
            let dir = path.parent().unwrap_or(Path::new("."));
            util::safe_file::sync_dir(dir)
                .map_err(|e| QueueError::io(format!("fsync directory {}", dir.display()), e))?;
            if let Some(tdir) = temp_dir.as_deref().filter(|t| *t != dir) {
                util::safe_file::sync_dir(tdir).map_err(|e| {
                    QueueError::io(format!("fsync directory {}", tdir.display()), e)
                })?;
            }
            Ok(())
        })();
        if let Err(e) = dir_result {
            // Not durable: nobody was told of it, so it must not stay.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok((id, path))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // An unlinked file goes with its descriptor (or its temporary name
        // with `self.name`).
        if !self.done {
            self.out = None;
        }
    }
}

fn validate_recipient(r: &Recipient) -> Result<(), QueueError> {
    check_text("recipient", &r.address)?;
    if let Some(o) = &r.original {
        check_text("original recipient", o)?;
    }
    if let Some(o) = &r.dsn_orcpt {
        check_text("DSN ORCPT", o)?;
    }
    if let Some(n) = r.dsn_notify {
        if !n.is_valid() {
            return Err(QueueError::BadValue {
                what: "DSN NOTIFY",
                why: format!("bad mask {}", n.0),
            });
        }
    }
    Ok(())
}

fn validate_attr(name: &str, value: &str) -> Result<(), QueueError> {
    if name.is_empty() || name.contains('=') || name.trim() != name {
        return Err(QueueError::BadValue {
            what: "attribute name",
            why: format!("{name:?}"),
        });
    }
    check_text("attribute", value)
}

fn validate_envelope(e: &Envelope) -> Result<(), QueueError> {
    if e.arrival.usec >= 1_000_000 {
        return Err(QueueError::BadValue {
            what: "arrival time",
            why: "microseconds out of range".into(),
        });
    }
    check_text("sender", &e.sender)?;
    if let Some(f) = &e.fullname {
        check_text("full name", f)?;
    }
    if let Some(i) = &e.dsn_envid {
        check_text("DSN ENVID", i)?;
    }
    if let Some(v) = &e.verp_delimiters {
        if !crate::model::verp_delimiters_valid(v) {
            return Err(QueueError::BadValue {
                what: "VERP delimiters",
                why: format!("{v:?} is not two punctuation characters"),
            });
        }
    }
    for (name, value) in e.attrs.pairs() {
        validate_attr(&name, &value)?;
        if name == attr::CREATE_TIME {
            return Err(QueueError::BadValue {
                what: "attribute name",
                why: "create_time is Envelope::create_time".into(),
            });
        }
    }
    for (name, _) in &e.attrs.other {
        let mut probe = crate::model::Attributes::default();
        if probe.set(name, "7bit".into()).is_ok() && probe.other.is_empty() {
            return Err(QueueError::BadValue {
                what: "attribute name",
                why: format!("{name} has its own field"),
            });
        }
    }
    e.recipients.iter().try_for_each(validate_recipient)
}

fn validate_extracted(x: &Extracted) -> Result<(), QueueError> {
    for v in [&x.return_receipt, &x.errors_to].into_iter().flatten() {
        check_text("extracted address", v)?;
    }
    for (name, value) in &x.attrs {
        validate_attr(name, value)?;
    }
    x.recipients.iter().try_for_each(validate_recipient)
}
