//! Message content after `DATA` (dot-stuffed, ends at `CRLF.CRLF`) and
//! after `BDAT n` (exactly n bytes, no dot handling). Both stream: they
//! never hold more than a few bytes of state, so the caller can write the
//! message out as it arrives and enforce `message_size_limit` without
//! buffering the whole message.

use std::slice::Iter;

/// What a decoder reports after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    /// The input was used up; more message follows.
    NeedsMoreData,
    /// The end of the message (or chunk) was reached; the iterator stops
    /// right after it, at the next command.
    Done,
}

/// How [`DataDecoder`] treats the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataConfig {
    /// Write a line ended by a bare LF with CRLF (Postfix stores lines, so
    /// it effectively does this). Off: keep the LF as received. Either way
    /// [`DataDecoder::bare_lf_seen`] reports it.
    pub convert_bare_lf: bool,
    /// Line length (without CRLF) beyond which [`DataDecoder::long_lines`]
    /// counts a line (Postfix `line_length_limit`, 2048; Postfix splits
    /// such lines rather than refusing the message).
    pub line_limit: usize,
    /// Only `CRLF.CRLF` ends the content (Postfix's
    /// `smtpd_forbid_bare_newline = normalize`, against SMTP smuggling): a
    /// `.` line with a bare LF on either side of it is content, a `.` line.
    pub strict_end: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            convert_bare_lf: true,
            line_limit: crate::command::DEFAULT_LINE_LIMIT,
            strict_end: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// At the start of a line.
    LineStart,
    /// A `.` at the start of a line.
    Dot,
    /// `.` then CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// A CR inside a line (or at its start), not yet written.
    Cr,
    Done,
}

/// The DATA content decoder: removes dot-stuffing, finds the end
/// (`CRLF.CRLF`; also a `.` line ended by bare LF, as Postfix accepts),
/// and writes message bytes (without the final `.` line) to `out`.
///
/// The message written always ends with a line end if anything was
/// written, as the end marker's CRLF belongs to the last line.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    cfg: DataConfig,
    st: St,
    line_len: usize,
    size: u64,
    bare_lf: bool,
    /// The last line ended in a bare LF.
    prev_bare: bool,
    long_lines: u64,
    max_line: usize,
}

impl Default for DataDecoder {
    fn default() -> Self {
        Self::new(DataConfig::default())
    }
}

impl DataDecoder {
    pub fn new(cfg: DataConfig) -> Self {
        DataDecoder {
            cfg,
            st: St::LineStart,
            line_len: 0,
            size: 0,
            bare_lf: false,
            prev_bare: false,
            long_lines: 0,
            max_line: 0,
        }
    }

    /// Bytes written to `out` so far: compare with `message_size_limit`
    /// (and stop storing, but keep decoding to the end, when it is passed).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether a line ended in LF without CR.
    pub fn bare_lf_seen(&self) -> bool {
        self.bare_lf
    }

    /// How many lines were longer than `line_limit`.
    pub fn long_lines(&self) -> u64 {
        self.long_lines
    }

    /// The longest line seen, without its line ending.
    pub fn max_line_len(&self) -> usize {
        self.max_line
    }

    pub fn is_done(&self) -> bool {
        self.st == St::Done
    }

    fn content(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        self.line_len += bytes.len();
    }

    fn end_line(&mut self, out: &mut Vec<u8>, bare: bool) {
        if bare {
            self.bare_lf = true;
        }
        self.prev_bare = bare;
        let eol: &[u8] = if bare && !self.cfg.convert_bare_lf {
            b"\n"
        } else {
            b"\r\n"
        };
        out.extend_from_slice(eol);
        self.size += eol.len() as u64;
        if self.line_len > self.cfg.line_limit {
            self.long_lines += 1;
        }
        self.max_line = self.max_line.max(self.line_len);
        self.line_len = 0;
        self.st = St::LineStart;
    }

    /// Decode bytes from `it` into `out`, stopping right after the end
    /// marker. Returns [`DataStatus::Done`] once the end is seen (and on
    /// every later call, without consuming anything).
    pub fn decode(&mut self, it: &mut Iter<'_, u8>, out: &mut Vec<u8>) -> DataStatus {
        loop {
            if self.st == St::Done {
                return DataStatus::Done;
            }
            if self.st == St::Mid {
                // Fast path: copy the run of ordinary bytes.
                let s = it.as_slice();
                let n = s
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(s.len());
                if n > 0 {
                    self.content(out, &s[..n]);
                    it.nth(n - 1);
                }
            }
            let Some(&b) = it.next() else {
                return DataStatus::NeedsMoreData;
            };
            self.step(b, out);
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        // A byte may need handling twice (after a pending CR or dot is
        // settled); loop instead of recursing.
        let mut again = true;
        while again {
            again = false;
            match (self.st, b) {
                (St::Done, _) => {}
                (St::LineStart, b'.') => self.st = St::Dot,
                (St::LineStart | St::Mid, b'\r') => self.st = St::Cr,
                (St::LineStart | St::Mid, b'\n') => self.end_line(out, true),
                (St::LineStart | St::Mid, _) => {
                    self.content(out, &[b]);
                    self.st = St::Mid;
                }
                (St::Dot, b'\r') => self.st = St::DotCr,
                (St::Dot, b'\n') if self.cfg.strict_end => {
                    self.content(out, b".");
                    self.end_line(out, true);
                }
                (St::Dot, b'\n') => {
                    self.bare_lf = true;
                    self.st = St::Done;
                }
                (St::Dot, _) => {
                    // Dot-stuffed line: drop the dot, handle `b` mid-line.
                    self.st = St::Mid;
                    again = true;
                }
                (St::DotCr, b'\n') if self.cfg.strict_end && self.prev_bare => {
                    self.content(out, b".");
                    self.end_line(out, false);
                }
                (St::DotCr, b'\n') => self.st = St::Done,
                (St::DotCr, _) => {
                    // `.` CR x: the dot was stuffing, the CR is content.
                    self.content(out, b"\r");
                    self.st = St::Mid;
                    again = true;
                }
                (St::Cr, b'\n') => self.end_line(out, false),
                (St::Cr, _) => {
                    self.content(out, b"\r");
                    self.st = St::Mid;
                    again = true;
                }
            }
        }
    }
}

/// A BDAT chunk: exactly `size` bytes, copied as they are.
#[derive(Debug, Clone)]
pub struct BdatReader {
    remaining: u64,
}

impl BdatReader {
    pub fn new(size: u64) -> Self {
        BdatReader { remaining: size }
    }

    /// Bytes of the chunk not yet read.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Copy chunk bytes from `it` to `out`; `Done` when the chunk is
    /// complete (the iterator then stands at the next command).
    pub fn read(&mut self, it: &mut Iter<'_, u8>, out: &mut Vec<u8>) -> DataStatus {
        let s = it.as_slice();
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(s.len());
        out.extend_from_slice(&s[..n]);
        if n > 0 {
            it.nth(n - 1);
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            DataStatus::Done
        } else {
            DataStatus::NeedsMoreData
        }
    }
}
