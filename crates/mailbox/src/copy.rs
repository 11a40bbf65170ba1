//! Copying a message into a mailbox file, as Postfix's `mail_copy()`:
//! optional `From ` line first, lines ended with LF, `>From ` quoting of
//! lines that begin with "From " (mbox), a line end added when the message
//! ends in an incomplete line, an optional empty line after the message,
//! and a byte budget (`mailbox_size_limit`) checked before anything past
//! it reaches the file.

use crate::error::DeliveryError;
use crate::source::MessageSource;
use std::fs::File;
use std::io::{self, Write};

/// A failure to inject, so tests can prove that a failed delivery leaves
/// the mailbox as it was. Production callers leave it `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write that would take the file past `after` bytes of this
    /// message writes up to there, then fails with `errno`.
    WriteFails { after: u64, errno: i32 },
    /// fsync fails with `errno` after everything was written.
    FsyncFails { errno: i32 },
}

pub(crate) struct CopySpec<'a> {
    /// Written before the message (the mbox `From ` line), unquoted.
    pub prefix: &'a [u8],
    /// Prepend `>` to lines that begin with "From ".
    pub quote_from: bool,
    /// Append an empty line after the message.
    pub blank_line: bool,
    /// At most this many bytes may be written in all.
    pub budget: Option<u64>,
    /// Status for write errors not singled out by errno.
    pub def_status: &'static str,
    pub fault: Option<Fault>,
    /// fsync the file at the end (not for /dev/null and the like).
    pub sync: bool,
}

/// What [`copy`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Copied {
    /// Bytes written.
    pub size: u64,
    /// Bytes as if every LF were CRLF (Dovecot's virtual size, `W=`).
    pub virtual_size: u64,
}

enum WriteErr {
    Budget,
    Io(io::Error),
}

const BUF_SIZE: usize = 64 * 1024;

struct Out<'a> {
    file: &'a File,
    buf: Vec<u8>,
    accepted: u64,
    flushed: u64,
    lines: u64,
    budget: Option<u64>,
    fault: Option<Fault>,
}

impl Out<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), WriteErr> {
        let after = self.accepted + data.len() as u64;
        if self.budget.is_some_and(|b| after > b) {
            return Err(WriteErr::Budget);
        }
        self.accepted = after;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUF_SIZE {
            self.flush().map_err(WriteErr::Io)?;
        }
        Ok(())
    }

    fn eol(&mut self) -> Result<(), WriteErr> {
        self.lines += 1;
        self.put(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(Fault::WriteFails { after, errno }) = self.fault {
            let end = self.flushed + self.buf.len() as u64;
            if end > after {
                let keep = after.saturating_sub(self.flushed) as usize;
                self.file.write_all(&self.buf[..keep])?;
                self.flushed += keep as u64;
                self.buf.clear();
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        let mut f = self.file;
        f.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Copies `src` into `file` at its current offset (the end, for a file
/// opened with O_APPEND), flushes and fsyncs. On error some bytes may
/// have reached the file; the caller truncates or removes it.
pub(crate) fn copy(
    src: &mut dyn MessageSource,
    file: &File,
    spec: &CopySpec<'_>,
) -> Result<Copied, DeliveryError> {
    let mut out = Out {
        file,
        buf: Vec::with_capacity(BUF_SIZE),
        accepted: 0,
        flushed: 0,
        lines: 0,
        budget: spec.budget,
        fault: spec.fault,
    };
    let write_err = |e: WriteErr| match e {
        WriteErr::Budget => DeliveryError::size_limit(),
        WriteErr::Io(e) => DeliveryError::from_io("error writing message", e, spec.def_status),
    };
    if !spec.prefix.is_empty() {
        out.lines += spec.prefix.iter().filter(|&&b| b == b'\n').count() as u64;
        out.put(spec.prefix).map_err(write_err)?;
    }
    let mut at_line_start = true;
    loop {
        let piece = match src.next_piece() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(DeliveryError::source_failed(e)),
        };
        if at_line_start && spec.quote_from && piece.data.starts_with(b"From ") {
            out.put(b">").map_err(write_err)?;
        }
        out.put(&piece.data).map_err(write_err)?;
        if piece.end_of_line {
            out.eol().map_err(write_err)?;
        }
        at_line_start = piece.end_of_line;
    }
    if !at_line_start {
        out.eol().map_err(write_err)?;
    }
    if spec.blank_line {
        out.eol().map_err(write_err)?;
    }
    out.flush().map_err(|e| write_err(WriteErr::Io(e)))?;
    if let Some(Fault::FsyncFails { errno }) = spec.fault {
        return Err(write_err(WriteErr::Io(io::Error::from_raw_os_error(errno))));
    }
    if spec.sync {
        file.sync_all().map_err(|e| write_err(WriteErr::Io(e)))?;
    }
    Ok(Copied {
        size: out.accepted,
        virtual_size: out.accepted + out.lines,
    })
}
