//! CRLF (or bare LF) terminated lines from a byte stream, buffering at
//! most `limit + 1` bytes of a line.

use std::slice::Iter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEvent {
    /// A complete line is in [`LineReader::line`].
    Line,
    /// A line longer than the limit ended (its first `limit` bytes kept).
    TooLong,
    /// The input ran out first.
    NeedsMoreData,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LineReader {
    buf: Vec<u8>,
    overflow: bool,
    done: bool,
}

impl LineReader {
    /// Consume bytes up to and including the next LF; a CR before it is
    /// stripped.
    pub(crate) fn poll(&mut self, it: &mut Iter<'_, u8>, limit: usize) -> LineEvent {
        if self.done {
            self.buf.clear();
            self.overflow = false;
            self.done = false;
        }
        let s = it.as_slice();
        let (take, end) = match s.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (s.len(), false),
        };
        // Keep up to limit + 1 bytes: one more than a line may hold, so
        // the CR of a full-length line fits.
        let room = (limit + 1).saturating_sub(self.buf.len());
        if take > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&s[..take.min(room)]);
        let consumed = if end { take + 1 } else { take };
        if consumed > 0 {
            it.nth(consumed - 1);
        }
        if !end {
            return LineEvent::NeedsMoreData;
        }
        self.done = true;
        if !self.overflow && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.overflow || self.buf.len() > limit {
            self.buf.truncate(limit);
            return LineEvent::TooLong;
        }
        LineEvent::Line
    }

    pub(crate) fn line(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes of an unfinished line held.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        if self.done {
            0
        } else {
            self.buf.len()
        }
    }
}
