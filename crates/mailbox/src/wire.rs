//! Messages as POP3 and IMAP send them: CRLF line ends, sizes counted
//! that way, and Dovecot's default POP3 UIDL.
//!
//! [`WireReader`] streams a stored message (LF or CRLF line ends) as
//! CRLF text, optionally undoing mbox `>From ` quoting and optionally
//! stopping after the headers and N body lines (POP3 TOP). It never
//! buffers more than a few bytes beyond the caller's buffer, so a large
//! message is not held in memory. Dot-stuffing is the protocol's job
//! (`pop3-proto`).

use std::io::{self, BufRead, BufReader, Read};

/// Dovecot's default `pop3_uidl_format = %08Xu%08Xv`: the UID and the
/// UIDVALIDITY, each as 8 hex digits. Dovecot's `%X` writes lower-case
/// (checked against Dovecot 2.3.19's POP3 UIDL); a client moving between
/// the two must see the same strings or it downloads everything again.
pub fn pop3_uidl(uid: u32, uid_validity: u32) -> String {
    format!("{uid:08x}{uid_validity:08x}")
}

/// The size `r`'s content would have with every line ending in CRLF
/// (a bare LF counts 2, a CRLF 2, a final line without an end as is),
/// which is exactly what [`WireReader`] gives for [`Part::Whole`]
/// without unquoting.
pub fn wire_size(r: &mut dyn Read) -> io::Result<u64> {
    let mut buf = [0u8; 65536];
    let mut n = 0u64;
    let mut prev_cr = false;
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..got] {
            if b == b'\n' && !prev_cr {
                n += 1;
            }
            prev_cr = b == b'\r';
            n += 1;
        }
    }
}

/// What part of the message [`WireReader`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole message (RETR).
    Whole,
    /// The headers, the empty line, and this many body lines (TOP).
    Top(u64),
}

/// A stored message as CRLF text (see the module documentation).
#[derive(Debug)]
pub struct WireReader<R> {
    inner: BufReader<R>,
    part: Part,
    unquote_from: bool,
    /// At the start of a line.
    bol: bool,
    in_body: bool,
    /// The current line is empty so far (header end detection).
    line_empty: bool,
    body_lines: u64,
    /// A CR seen and not yet given (waiting to see if LF follows).
    pending_cr: bool,
    /// Output queued but not yet given.
    queue: Vec<u8>,
    done: bool,
}

impl<R: Read> WireReader<R> {
    pub fn new(inner: R, part: Part, unquote_from: bool) -> Self {
        WireReader {
            inner: BufReader::with_capacity(65536, inner),
            part,
            unquote_from,
            bol: true,
            in_body: false,
            line_empty: true,
            body_lines: 0,
            pending_cr: false,
            queue: Vec::new(),
            done: false,
        }
    }

    fn limit_reached(&self) -> bool {
        match self.part {
            Part::Whole => false,
            Part::Top(n) => self.in_body && self.body_lines >= n,
        }
    }

    /// Ends a line: emits CRLF and updates the header/body state.
    fn end_line(&mut self) {
        self.queue.extend_from_slice(b"\r\n");
        if self.in_body {
            self.body_lines += 1;
        } else if self.line_empty {
            self.in_body = true;
        }
        self.bol = true;
        self.line_empty = true;
        if self.limit_reached() {
            self.done = true;
        }
    }

    /// Consumes input into `queue` until there is something to give or
    /// the input ends.
    fn fill(&mut self) -> io::Result<()> {
        if self.limit_reached() {
            self.done = true;
        }
        while self.queue.is_empty() && !self.done {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                if self.pending_cr {
                    self.queue.push(b'\r');
                    self.pending_cr = false;
                    continue;
                }
                // A last line without its end stays so, as wire_size
                // counts it; the protocol layer ends it before its dot.
                self.done = true;
                break;
            }
            if self.bol && self.unquote_from && buf.first() == Some(&b'>') && buf.len() < 6 {
                // Need the whole ">From " to decide; ask for more unless
                // this is the end of the input.
                let have = buf.to_vec();
                let n = have.len();
                self.inner.consume(n);
                let mut more = have;
                while more.len() < 6 {
                    let b = self.inner.fill_buf()?;
                    if b.is_empty() {
                        break;
                    }
                    let take = b.len().min(6 - more.len());
                    more.extend_from_slice(&b[..take]);
                    self.inner.consume(take);
                }
                let start = usize::from(more.starts_with(b">From "));
                self.process(&more[start..]);
                continue;
            }
            let mut buf_owned_len = buf.len();
            let mut skip = 0;
            if self.bol && self.unquote_from && buf.starts_with(b">From ") {
                skip = 1;
            }
            // Process up to the end of the first line (so TOP can stop
            // and the quote check sees every line start).
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                buf_owned_len = i + 1;
            }
            let chunk = buf[skip..buf_owned_len].to_vec();
            self.inner.consume(buf_owned_len);
            self.process(&chunk);
        }
        Ok(())
    }

    fn process(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.done {
                return;
            }
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    self.end_line();
                    continue;
                }
                self.queue.push(b'\r');
                self.line_empty = false;
            }
            match b {
                b'\n' => self.end_line(),
                b'\r' => {
                    self.pending_cr = true;
                    self.bol = false;
                }
                _ => {
                    self.queue.push(b);
                    self.bol = false;
                    self.line_empty = false;
                }
            }
        }
    }
}

impl<R: Read> Read for WireReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.queue.is_empty() {
            self.fill()?;
        }
        let n = out.len().min(self.queue.len());
        out[..n].copy_from_slice(&self.queue[..n]);
        self.queue.drain(..n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(input: &[u8], part: Part, unquote: bool) -> Vec<u8> {
        let mut r = WireReader::new(input, part, unquote);
        let mut out = Vec::new();
        // Tiny reads, to exercise the queue.
        let mut b = [0u8; 3];
        loop {
            let n = r.read(&mut b).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&b[..n]);
        }
        out
    }

    #[test]
    fn crlf_top_and_unquote() {
        let m = b"A: 1\nB: 2\r\n\nl1\n>From x\nl3\r\nl4";
        assert_eq!(
            wire(m, Part::Whole, false),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n>From x\r\nl3\r\nl4"
        );
        assert_eq!(
            wire(m, Part::Whole, true),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nFrom x\r\nl3\r\nl4"
        );
        assert_eq!(wire(m, Part::Top(0), false), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(
            wire(m, Part::Top(2), true),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nFrom x\r\n"
        );
        assert_eq!(
            wire(m, Part::Top(99), false).len(),
            wire(m, Part::Whole, false).len()
        );
        assert_eq!(wire(b"", Part::Whole, false), b"");
        assert_eq!(wire(b">Fr", Part::Whole, true), b">Fr");
        assert_eq!(wire(b"a\rb\n", Part::Whole, false), b"a\rb\r\n");
        let mut s: &[u8] = b"a\nb\r\nc";
        assert_eq!(wire_size(&mut s).expect("size"), 7);
        let mut s: &[u8] = m;
        assert_eq!(
            wire_size(&mut s).expect("size"),
            wire(m, Part::Whole, false).len() as u64
        );
        assert_eq!(pop3_uidl(1, 0x5f00_0001), "000000015f000001");
    }
}
