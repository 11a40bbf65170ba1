//! Reading CRLF-terminated lines from a byte stream without unbounded
//! buffering, shared by the command and reply parsers.

use std::slice::Iter;

/// What [`LineReader::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEvent {
    /// A complete line is in [`LineReader::line`].
    Line,
    /// A line longer than the limit ended; [`LineReader::line`] holds its
    /// first `limit` bytes.
    TooLong,
    /// The input ran out before the end of the line.
    NeedsMoreData,
}

#[derive(Debug, Clone)]
pub(crate) struct LineReader {
    buf: Vec<u8>,
    limit: usize,
    overflow: bool,
    /// The line in `buf` was returned; clear it on the next poll.
    done: bool,
    bare_lf: bool,
    /// The last byte consumed on the current line was CR.
    last_cr: bool,
}

impl LineReader {
    pub(crate) fn new(limit: usize) -> Self {
        LineReader {
            buf: Vec::new(),
            limit: limit.max(1),
            overflow: false,
            done: false,
            bare_lf: false,
            last_cr: false,
        }
    }

    /// Consume bytes up to and including the next LF. A CR before the LF
    /// is stripped; a line ended by LF alone is flagged ([`Self::bare_lf`]).
    /// At most `limit + 1` bytes are ever buffered.
    pub(crate) fn poll(&mut self, it: &mut Iter<'_, u8>) -> LineEvent {
        if self.done {
            self.buf.clear();
            self.overflow = false;
            self.done = false;
            self.last_cr = false;
        }
        let s = it.as_slice();
        let (take, end) = match s.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (s.len(), false),
        };
        let room = (self.limit + 1).saturating_sub(self.buf.len());
        if take > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&s[..take.min(room)]);
        if take > 0 {
            self.last_cr = s[take - 1] == b'\r';
        }
        // Advance the iterator past what was consumed (and the LF).
        let consumed = if end { take + 1 } else { take };
        if consumed > 0 {
            it.nth(consumed - 1);
        }
        if !end {
            return LineEvent::NeedsMoreData;
        }
        self.done = true;
        let cr = self.last_cr;
        self.bare_lf = !cr;
        if cr && !self.overflow {
            self.buf.pop();
        }
        if self.overflow || self.buf.len() > self.limit {
            self.buf.truncate(self.limit);
            self.overflow = true;
            return LineEvent::TooLong;
        }
        LineEvent::Line
    }

    /// The line just returned, without its line ending.
    pub(crate) fn line(&self) -> &[u8] {
        &self.buf
    }

    /// Puts `line` in place of the line just returned.
    pub(crate) fn replace_line(&mut self, line: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(line);
    }

    /// Whether the line just returned ended in LF without CR.
    pub(crate) fn bare_lf(&self) -> bool {
        self.bare_lf
    }

    /// Bytes of an unfinished line held (never more than `limit + 1`).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        if self.done {
            0
        } else {
            self.buf.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(r: &mut LineReader, input: &[u8]) -> Vec<(LineEvent, Vec<u8>, bool)> {
        let mut it = input.iter();
        let mut out = Vec::new();
        loop {
            match r.poll(&mut it) {
                LineEvent::NeedsMoreData => return out,
                e => out.push((e, r.line().to_vec(), r.bare_lf())),
            }
        }
    }

    #[test]
    fn crlf_bare_lf_and_limit() {
        let mut r = LineReader::new(5);
        let got = lines(&mut r, b"abc\r\nde\nabcde\r\nabcdef\r\nabcdefghijk\nx\r");
        assert_eq!(
            got,
            vec![
                (LineEvent::Line, b"abc".to_vec(), false),
                (LineEvent::Line, b"de".to_vec(), true),
                (LineEvent::Line, b"abcde".to_vec(), false),
                (LineEvent::TooLong, b"abcde".to_vec(), false),
                (LineEvent::TooLong, b"abcde".to_vec(), true),
            ]
        );
        assert_eq!(r.buffered(), 2);
        let got = lines(&mut r, b"\n");
        assert_eq!(got, vec![(LineEvent::Line, b"x".to_vec(), false)]);
    }

    #[test]
    fn split_cr_lf_and_overflow_across_chunks() {
        let mut r = LineReader::new(4);
        assert!(lines(&mut r, b"abcd\r").is_empty());
        assert_eq!(
            lines(&mut r, b"\n"),
            vec![(LineEvent::Line, b"abcd".to_vec(), false)]
        );
        assert!(lines(&mut r, b"abcd").is_empty());
        assert!(lines(&mut r, b"e").is_empty());
        assert!(lines(&mut r, b"fghijklmnop").is_empty());
        assert!(r.buffered() <= 5);
        assert_eq!(
            lines(&mut r, b"\r\n"),
            vec![(LineEvent::TooLong, b"abcd".to_vec(), false)]
        );
    }
}
