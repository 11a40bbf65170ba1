//! The mail queue: directories, queue IDs, and the queue file.
//!
//! * [`layout`]: the queue directories with Postfix's owners and modes.
//! * [`id`]: Postfix's long queue IDs (time in base 52, `z`, inode in base 51).
//! * [`path`]: `queue_directory/queue/[hash/]ID`, with `hash_queue_names`
//!   and `hash_queue_depth` as Postfix applies them ([`path_of`]).
//! * [`record`], [`writer`], [`reader`]: the queue file (below).
//! * [`mark_done`] and [`quarantine`]: what qmgr does to a file in place.
//! * [`logs`]: the per-message defer, bounce and trace logs.
//!
//! # The queue file
//!
//! A sequence of records, each a type byte, the payload length as a LEB128
//! varint (at most 5 bytes, at most [`record::MAX_RECORD_LEN`]), and the
//! payload. The framing and the type letters are Postfix's (`rec_type.h`),
//! so Postfix's own `postcat` can show a mailsuite queue file. Three
//! segments, then the end:
//!
//! | segment | records (Postfix letter: meaning) |
//! |---------|-----------------------------------|
//! | envelope | `C` size record (first, exactly once); `T` arrival time "sec usec" (once, required); `F` sender full name (≤1); `S` sender (once, required; "" = `<>`); `A` attribute "name=value" (e.g. `create_time`, `client_name`, `client_address`, `helo_name`, `protocol_name`, `sasl_method`, `sasl_username`, `rewrite_context`, `encoding`=7bit/8bit); `W` next delay warning time (≤1, fixed width); `<` DSN RET 1=FULL 2=HDRS (≤1); `i` DSN ENVID (≤1); recipients; `M` ends the segment (empty payload) |
//! | content | `N` a line (stored without CRLF/LF); `L` a piece of a line that the next text record continues (lines over 2048 bytes, or a last line without a line end); `X` ends the segment (empty) |
//! | extracted | recipients (from headers, `sendmail -t`); `r` Return-Receipt-To (≤1); `e` Errors-To (≤1); `A` attributes; `E` ends the file (empty) |
//!
//! A recipient is `o` DSN ORCPT, `n` DSN NOTIFY mask (1 NEVER, 2 SUCCESS,
//! 4 FAILURE, 8 DELAY), `O` original recipient (each optional, at most
//! once), then `R` (to deliver) or `D` (done: qmgr overwrites the `R` type
//! byte in place, [`mark_done`]).
//!
//! The size record `C` is six space-separated "%15d" fields, so it can be
//! patched in place: content size in bytes (from the first content record
//! to `X`), offset of the first content record, number of recipient records,
//! qmgr flags (0), content length as delivered with LF line ends, SMTPUTF8
//! (1 if requested). The reader checks all but the flags against the file.
//!
//! Nothing may follow `E`. A file is written by [`Writer`] and read by
//! [`reader::open`]; see those for durability and validation.

pub mod error;
pub mod id;
pub mod layout;
pub mod logs;
pub mod model;
pub mod path;
pub mod reader;
pub mod record;
pub mod writer;

pub use error::{FormatError, QueueError};
pub use id::{is_valid_queue_id, QueueId};
pub use model::{
    Attributes, DsnNotify, DsnRet, Encoding, Envelope, Extracted, Recipient, SizeRecord, Timestamp,
};
pub use path::{path_of, HashSpec};
pub use reader::{open, QueueFile, TextPiece};
pub use writer::Writer;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Rewrites the `W` record (next delay warning time, seconds; 0 = none
/// due) in place and fsyncs, as Postfix's qmgr does after a warning.
/// A file written without a `W` record has no warnings to send: an error.
pub fn set_warn_time(path: &Path, secs: u64) -> Result<(), QueueError> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| QueueError::io(format!("open {}", path.display()), e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| QueueError::io(format!("seek {}", path.display()), e))?;
    let mut rr = record::RecordReader::new(BufReader::new(&mut f), 0);
    let mut found = None;
    while let Ok(Some(rec)) = rr.next_record() {
        match record::RecordType::from_byte(rec.rtype) {
            Some(record::RecordType::Warn) => {
                // The payload ends where the next record starts (its
                // length may have been written in more than one byte).
                found = Some((rr.offset() - rec.payload.len() as u64, rec.payload.len()));
                break;
            }
            Some(record::RecordType::Mesg) | None => break,
            _ => {}
        }
    }
    drop(rr);
    let Some((at, len)) = found else {
        return Err(QueueError::BadValue {
            what: "queue file",
            why: "no delay warning record".into(),
        });
    };
    let text = format!("{secs:>15}");
    if text.len() != len {
        return Err(QueueError::BadValue {
            what: "delay warning time",
            why: "does not fit the record".into(),
        });
    }
    f.write_all_at(text.as_bytes(), at)
        .map_err(|e| QueueError::io(format!("write {}", path.display()), e))?;
    f.sync_data()
        .map_err(|e| QueueError::io(format!("fsync {}", path.display()), e))
}

/// Marks the recipient whose record starts at `offset` as done: overwrites
/// its type byte `R` with `D`. A recipient already done is left alone.
///
/// The write is not fsync'd, as Postfix's `deliver_completed()` (local,
/// virtual, smtp, qmgr) does not: the mark only keeps a recipient from
/// being delivered twice. It reaches the file at once for every process
/// (a crashed agent or queue manager loses nothing); only an operating
/// system crash before writeback can lose it, and then the recipient is
/// delivered again — the duplicate window of DESIGN §4, never lost mail.
/// On the delivery path the fsync cost more than the delivery itself
/// (0.5–0.7 ms of ~2 ms per local delivery under load).
pub fn mark_done(path: &Path, offset: u64) -> Result<(), QueueError> {
    Held::open(path)?.mark_done(offset)
}

/// A queue file a delivery agent holds open for one request: read as
/// often as the deliveries need, its recipients marked done, without
/// opening it again.
pub struct Held {
    path: PathBuf,
    file: std::fs::File,
    /// The envelope and extracted segments as first read.
    parsed: std::cell::OnceCell<(Envelope, Extracted, SizeRecord)>,
}

impl Held {
    /// Opens the queue file at `path` for reading and marking.
    pub fn open(path: &Path) -> Result<Held, QueueError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| QueueError::io(format!("open {}", path.display()), e))?;
        Ok(Held {
            path: path.to_path_buf(),
            file,
            parsed: std::cell::OnceCell::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Validates the file and reads its envelope, from its start, the
    /// first time; later calls give the same envelope without reading it
    /// again (a recipient marked done since shows as it was then).
    pub fn read(&self) -> Result<QueueFile<&std::fs::File>, QueueError> {
        if let Some((envelope, extracted, size)) = self.parsed.get() {
            return Ok(QueueFile::from_parts(
                envelope.clone(),
                extracted.clone(),
                *size,
                &self.file,
            ));
        }
        let qf = reader::read(&self.file)?;
        let _ = self
            .parsed
            .set((qf.envelope.clone(), qf.extracted.clone(), qf.size));
        Ok(qf)
    }

    /// Marks the recipient whose record starts at `offset` as done (see
    /// [`mark_done`]).
    pub fn mark_done(&self, offset: u64) -> Result<(), QueueError> {
        let (f, path) = (&self.file, self.path.as_path());
        let done = [record::RecordType::Done.byte()];
        // A recipient record the file was read with (R, or D already).
        if let Some((envelope, extracted, _)) = self.parsed.get() {
            let mut recipients = envelope.recipients.iter().chain(&extracted.recipients);
            if recipients.any(|r| r.offset == offset) {
                return f
                    .write_all_at(&done, offset)
                    .map_err(|e| QueueError::io(format!("write {}", path.display()), e));
            }
        }
        // Otherwise the offset must start a record of the envelope or the
        // extracted segment, found by walking their records: any payload
        // byte (a sender's first letter, a length of 82) may be 'R', and
        // so may any byte of the content, which is skipped.
        let not_a_recipient = || QueueError::NotARecipient {
            path: path.to_path_buf(),
            offset,
        };
        let io = |e| QueueError::io(format!("read {}", path.display()), e);
        let mut rr = record::RecordReader::new(std::io::BufReader::new(At { file: f, pos: 0 }), 0);
        let size = match rr.next_record() {
            Ok(Some(rec)) if rec.rtype == record::RecordType::Size.byte() => {
                std::str::from_utf8(&rec.payload)
                    .ok()
                    .and_then(SizeRecord::parse)
            }
            Err(record::ReadError::Io(e)) => return Err(io(e)),
            _ => None,
        };
        let Some(size) = size else {
            return Err(not_a_recipient());
        };
        let content_end = size
            .data_offset
            .checked_add(size.data_size)
            .ok_or_else(not_a_recipient)?;
        if offset >= size.data_offset.saturating_sub(2) {
            if offset < content_end {
                return Err(not_a_recipient());
            }
            rr = record::RecordReader::new(
                std::io::BufReader::new(At {
                    file: f,
                    pos: content_end,
                }),
                content_end,
            );
            // Where the size record says the extracted segment starts.
            match rr.next_record() {
                Ok(Some(rec))
                    if rec.rtype == record::RecordType::Xtra.byte() && rec.payload.is_empty() => {}
                Err(record::ReadError::Io(e)) => return Err(io(e)),
                _ => return Err(not_a_recipient()),
            }
        }
        let rtype = loop {
            match rr.next_record() {
                Ok(Some(rec)) if rec.offset < offset => {}
                Ok(Some(rec)) if rec.offset == offset => break rec.rtype,
                Err(record::ReadError::Io(e)) => return Err(io(e)),
                _ => return Err(not_a_recipient()),
            }
        };
        match record::RecordType::from_byte(rtype) {
            Some(record::RecordType::Done) => Ok(()),
            Some(record::RecordType::Rcpt) => f
                .write_all_at(&done, offset)
                .map_err(|e| QueueError::io(format!("write {}", path.display()), e)),
            _ => Err(not_a_recipient()),
        }
    }
}

/// Reads a file from a position of its own (pread), leaving the
/// descriptor's offset to whoever streams the content.
struct At<'a> {
    file: &'a std::fs::File,
    pos: u64,
}

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Moves a bad queue file to `queue_dir/corrupt/` (keeping its name, so
/// `postcat -q ID` still finds it), fsyncs that directory and logs
/// `warning: ID: REASON; moved to corrupt`. Returns the new path.
pub fn quarantine(queue_dir: &Path, path: &Path, reason: &str) -> Result<PathBuf, QueueError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(QueueError::BadId(path.display().to_string()));
    }
    let target = queue_dir.join("corrupt").join(&name);
    path::rename_creating_dirs(path, &target).map_err(|e| {
        QueueError::io(
            format!("rename {} to {}", path.display(), target.display()),
            e,
        )
    })?;
    let dir = queue_dir.join("corrupt");
    util::safe_file::sync_dir(&dir)
        .map_err(|e| QueueError::io(format!("fsync directory {}", dir.display()), e))?;
    maillog::warning!("{name}: {reason}; moved to corrupt");
    Ok(target)
}
