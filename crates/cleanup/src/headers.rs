//! The message header as cleanup sees it: lines in, headers and body out.
//!
//! RFC 5322 (and Postfix's cleanup): a header line is `name:` with a name of
//! printable ASCII other than `:`; lines that start with a space or tab
//! continue the header before; the header ends at the first empty line or
//! at the first line that is neither (that line is the first body line).
//! A header longer than `header_size_limit` keeps its first part and the
//! rest is dropped, as Postfix does.

/// One header, as its physical lines (without line endings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub lines: Vec<Vec<u8>>,
}

impl Header {
    /// The name as written (`Subject`).
    pub fn name(&self) -> &str {
        let first = self.lines.first().map(Vec::as_slice).unwrap_or_default();
        let end = first.iter().position(|b| *b == b':').unwrap_or(first.len());
        std::str::from_utf8(&first[..end]).unwrap_or("").trim_end()
    }

    /// True when the name is `name`, ignoring case.
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name)
    }

    /// The value, unfolded (continuation lines joined), leading space trimmed.
    pub fn value(&self) -> String {
        let mut v = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i == 0 {
                let colon = l
                    .iter()
                    .position(|b| *b == b':')
                    .map(|p| p + 1)
                    .unwrap_or(l.len());
                v.extend_from_slice(&l[colon..]);
            } else {
                v.extend_from_slice(l);
            }
        }
        String::from_utf8_lossy(&v).trim().to_string()
    }

    /// Total size in bytes, counting a line ending per line.
    pub fn size(&self) -> usize {
        self.lines.iter().map(|l| l.len() + 1).sum()
    }

    /// A header made from `name` and `value` (which may hold `\n\t` folds).
    pub fn new(name: &str, value: &str) -> Header {
        Header::new_raw(&format!("{name}: {value}"))
    }

    /// A header from its whole text (`Name: value`, folds as `\n\t`).
    pub fn new_raw(text: &str) -> Header {
        Header {
            lines: text.split('\n').map(|l| l.as_bytes().to_vec()).collect(),
        }
    }
}

/// True when `line` starts a header: `name:` with a non-empty name of
/// printable ASCII except `:` and space; as Postfix's is_header (RFC 822's
/// obsolete syntax), spaces and tabs may come between name and colon.
pub fn is_header_start(line: &[u8]) -> bool {
    match line.iter().position(|b| *b == b':') {
        Some(0) | None => false,
        Some(colon) => {
            let name = line[..colon].trim_ascii_end();
            let blanks = &line[name.len()..colon];
            !name.is_empty()
                && name.iter().all(|b| (33..=126).contains(b))
                && blanks.iter().all(|b| matches!(b, b' ' | b'\t'))
        }
    }
}

fn is_continuation(line: &[u8]) -> bool {
    matches!(line.first(), Some(b' ' | b'\t'))
}

/// The most header lines kept as headers; later ones are body.
pub const MAX_HEADERS: usize = 1000;

/// What one line turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete header (emitted when the next line shows it is complete).
    Header(Header),
    /// The end of the header block; `Some(line)` when a non-header line ended
    /// it (that line is body), None for the empty separator line.
    EndOfHeaders(Option<Vec<u8>>),
    /// A body line.
    Body(Vec<u8>),
}

/// Splits a stream of lines into headers and body.
#[derive(Debug)]
pub struct Splitter {
    in_headers: bool,
    count: usize,
    total: usize,
    current: Option<Header>,
    /// `current`'s size ([`Header::size`]), kept as it grows: summing its
    /// lines at each one would take time in the square of their number.
    current_size: usize,
    size_limit: usize,
    /// The last piece fed was not a whole line: the next piece goes on
    /// with it.
    partial: bool,
    /// Set when some header text was dropped for `header_size_limit`.
    pub truncated: bool,
}

impl Splitter {
    pub fn new(header_size_limit: usize) -> Splitter {
        Splitter {
            in_headers: true,
            count: 0,
            total: 0,
            current: None,
            current_size: 0,
            size_limit: header_size_limit.max(1),
            partial: false,
            truncated: false,
        }
    }

    /// Feeds one line (without its line ending); returns what it completed.
    pub fn line(&mut self, line: &[u8]) -> Vec<Event> {
        self.piece(line, true)
    }

    /// Feeds one line, or a piece of a long line (`complete` false: the
    /// next piece goes on with this line, as Postfix's REC_TYPE_CONT).
    pub fn piece(&mut self, line: &[u8], complete: bool) -> Vec<Event> {
        let partial = std::mem::replace(&mut self.partial, !complete);
        let mut out = Vec::new();
        if !self.in_headers {
            out.push(Event::Body(line.to_vec()));
            return out;
        }
        if partial {
            if let Some(h) = self.current.as_mut() {
                self.total += line.len();
                if self.current_size + line.len() < self.size_limit
                    && self.total <= self.size_limit.saturating_mul(10)
                {
                    if let Some(last) = h.lines.last_mut() {
                        last.extend_from_slice(line);
                        self.current_size += line.len();
                    }
                } else {
                    self.truncated = true;
                }
                return out;
            }
        }
        if is_continuation(line) {
            if let Some(h) = self.current.as_mut() {
                self.total += line.len() + 1;
                if self.current_size + line.len() < self.size_limit
                    && self.total <= self.size_limit.saturating_mul(10)
                {
                    h.lines.push(line.to_vec());
                    self.current_size += line.len() + 1;
                } else {
                    self.truncated = true;
                }
                return out;
            }
        }
        if let Some(h) = self.current.take() {
            out.push(Event::Header(h));
        }
        // Bounded memory: past MAX_HEADERS headers, or ten times
        // header_size_limit in all, the rest of the message is body.
        self.count += 1;
        self.total += line.len() + 1;
        if is_header_start(line)
            && self.count <= MAX_HEADERS
            && self.total <= self.size_limit.saturating_mul(10)
        {
            let mut first = line.to_vec();
            if first.len() + 1 > self.size_limit {
                first.truncate(self.size_limit.saturating_sub(1));
                self.truncated = true;
            }
            self.current_size = first.len() + 1;
            self.current = Some(Header { lines: vec![first] });
        } else {
            self.in_headers = false;
            out.push(Event::EndOfHeaders(if line.is_empty() {
                None
            } else {
                Some(line.to_vec())
            }));
        }
        out
    }

    /// Ends the message: flushes a pending header; a message with no body
    /// still gets its end-of-headers event.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if let Some(h) = self.current.take() {
            out.push(Event::Header(h));
        }
        if self.in_headers {
            self.in_headers = false;
            out.push(Event::EndOfHeaders(None));
        }
        out
    }
}

/// Splits bytes into lines at LF (dropping the CRs before it, unless made
/// with [`LineBuffer::keeping_crs`]), keeping a partial last line until
/// more bytes come. Lines longer than `max` are
/// cut into pieces of `max` bytes, each reported as not complete, so that
/// nothing unbounded is buffered (Postfix's line_length_limit handling).
#[derive(Debug)]
pub struct LineBuffer {
    pending: Vec<u8>,
    max: usize,
    /// The CRs before a LF go with the line end.
    strip_crs: bool,
}

/// A line without the CRs that end it: Postfix's smtp_get takes every CR
/// before the LF as part of the line end (a bare CR elsewhere stays).
fn without_crs(line: &[u8], strip: bool) -> &[u8] {
    if !strip {
        return line;
    }
    let end = line.iter().rposition(|&b| b != b'\r').map_or(0, |i| i + 1);
    &line[..end]
}

/// One line or piece of a long line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub bytes: Vec<u8>,
    /// False for a piece of a longer line that continues in the next piece.
    pub complete: bool,
}

impl LineBuffer {
    pub fn new(max: usize) -> LineBuffer {
        LineBuffer {
            pending: Vec::new(),
            max: max.max(1),
            strip_crs: true,
        }
    }

    /// A buffer that leaves the CRs before a LF in the line (records that
    /// pickup hands over are stored as they are, as Postfix's cleanup
    /// does: sendmail_fix_line_endings decided about them).
    pub fn keeping_crs(max: usize) -> LineBuffer {
        LineBuffer {
            strip_crs: false,
            ..LineBuffer::new(max)
        }
    }

    /// Adds bytes and returns the lines (and long-line pieces) they complete.
    #[cfg(test)]
    pub fn push(&mut self, data: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        self.push_each(data, |bytes, complete| {
            out.push(Piece {
                bytes: bytes.to_vec(),
                complete,
            })
        });
        out
    }

    /// Adds bytes and hands `f` each line (and long-line piece) they
    /// complete, with whether it is a whole line. A line that came whole in
    /// `data` is handed from there, not copied.
    pub fn push_each(&mut self, mut data: &[u8], mut f: impl FnMut(&[u8], bool)) {
        while !data.is_empty() {
            match data.iter().position(|b| *b == b'\n') {
                Some(nl) => {
                    let line = &data[..nl];
                    data = &data[nl + 1..];
                    if self.pending.is_empty() {
                        let line = without_crs(line, self.strip_crs);
                        if line.len() <= self.max {
                            f(line, true);
                            continue;
                        }
                    }
                    self.pending.extend_from_slice(line);
                    let kept = without_crs(&self.pending, self.strip_crs).len();
                    self.pending.truncate(kept);
                    self.drain_long(&mut f);
                    f(&self.pending, true);
                    self.pending.clear();
                }
                None => {
                    self.pending.extend_from_slice(data);
                    data = &[];
                    self.drain_long(&mut f);
                }
            }
        }
    }

    fn drain_long(&mut self, f: &mut impl FnMut(&[u8], bool)) {
        // A run of CRs at the end may be the start of the line end: it is
        // held back (up to another `max` bytes) until the LF shows, so that
        // the line comes out the same however the input was split.
        while self.pending.len() > self.max
            && (without_crs(&self.pending, self.strip_crs).len() > self.max
                || self.pending.len() > 2 * self.max)
        {
            f(&self.pending[..self.max], false);
            self.pending.drain(..self.max);
        }
    }

    /// The last line when the text did not end in a newline (the end of
    /// the text ends it, CRs before it too).
    pub fn finish(&mut self) -> Option<Piece> {
        if self.pending.is_empty() {
            None
        } else {
            let mut bytes = std::mem::take(&mut self.pending);
            bytes.truncate(without_crs(&bytes, self.strip_crs).len());
            Some(Piece {
                bytes,
                complete: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &[u8]) -> Vec<Event> {
        let mut lb = LineBuffer::new(1000);
        let mut sp = Splitter::new(1000);
        let mut ev = Vec::new();
        for p in lb.push(text) {
            ev.extend(sp.line(&p.bytes));
        }
        if let Some(p) = lb.finish() {
            ev.extend(sp.line(&p.bytes));
        }
        ev.extend(sp.finish());
        ev
    }

    /// Lines handed whole from the input and lines put together from
    /// pieces of it come out the same, long ones cut at `max`, a CR kept
    /// unless it ends the line.
    #[test]
    fn lines_are_the_same_however_the_input_is_split() {
        let text =
            b"short\r\nexactly10\r\n0123456789ABCDEFGHIJ\r\nlong0123456789\rX\r\nbare\nCR\r\r\n012345678\r\r\r\nend\r";
        let whole = {
            let mut lb = LineBuffer::new(10);
            let mut out = lb.push(text);
            out.extend(lb.finish());
            out
        };
        assert_eq!(whole[0].bytes, b"short");
        assert!(whole.iter().any(|p| p.complete && p.bytes == b"012345678"));
        assert_eq!(whole.last().map(|p| &p.bytes[..]), Some(&b"end"[..]));
        assert!(whole.iter().any(|p| p.bytes == b"exactly10"));
        assert!(whole
            .iter()
            .any(|p| !p.complete && p.bytes == b"0123456789"));
        assert!(whole.iter().any(|p| p.bytes == b"CR"), "{whole:?}");
        assert!(whole.iter().any(|p| p.bytes == b"long0123456789\rX"[10..]));
        assert!(whole.iter().all(|p| p.bytes.len() <= 10));
        // Pieces may fall differently (a CR kept for a coming LF), the
        // lines they make may not.
        let lines = |pieces: &[Piece]| {
            let mut lines = vec![Vec::new()];
            for p in pieces {
                assert!(p.bytes.len() <= 10, "a piece over the limit");
                lines
                    .last_mut()
                    .expect("a line")
                    .extend_from_slice(&p.bytes);
                if p.complete {
                    lines.push(Vec::new());
                }
            }
            lines
        };
        for cut in 0..text.len() {
            let mut lb = LineBuffer::new(10);
            let mut out = lb.push(&text[..cut]);
            out.extend(lb.push(&text[cut..]));
            out.extend(lb.finish());
            assert_eq!(out, whole, "split at {cut}");
            assert_eq!(lines(&out), lines(&whole), "split at {cut}");
        }
    }

    #[test]
    fn headers_then_body() {
        let ev = run(b"Subject: hello\r\n there\r\nFrom: a@b\r\n\r\nbody\r\n");
        assert_eq!(ev.len(), 4);
        match &ev[0] {
            Event::Header(h) => {
                assert!(h.is("subject"));
                assert_eq!(h.value(), "hello there");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(ev[2], Event::EndOfHeaders(None));
        assert_eq!(ev[3], Event::Body(b"body".to_vec()));
    }

    #[test]
    fn a_non_header_line_ends_the_headers() {
        let ev = run(b"Subject: x\nthis is body\n");
        assert_eq!(ev[1], Event::EndOfHeaders(Some(b"this is body".to_vec())));
        let ev = run(b"just text\n");
        assert_eq!(ev[0], Event::EndOfHeaders(Some(b"just text".to_vec())));
        let ev = run(b"Subject: no body");
        assert!(matches!(ev[0], Event::Header(_)));
        assert_eq!(ev[1], Event::EndOfHeaders(None));
    }

    #[test]
    fn oversized_headers_are_cut() {
        let mut sp = Splitter::new(20);
        sp.line(b"Subject: 0123456789");
        sp.line(b" abcdefghij");
        let ev = sp.finish();
        match &ev[0] {
            Event::Header(h) => assert!(h.size() <= 20),
            e => panic!("{e:?}"),
        }
        assert!(sp.truncated);
    }

    #[test]
    fn long_lines_come_in_pieces_and_crlf_is_dropped() {
        let mut lb = LineBuffer::new(4);
        let got = lb.push(b"abcdefghij\r\nxy\r");
        assert_eq!(
            got,
            vec![
                Piece {
                    bytes: b"abcd".to_vec(),
                    complete: false
                },
                Piece {
                    bytes: b"efgh".to_vec(),
                    complete: false
                },
                Piece {
                    bytes: b"ij".to_vec(),
                    complete: true
                },
            ]
        );
        assert_eq!(
            lb.push(b"\n"),
            vec![Piece {
                bytes: b"xy".to_vec(),
                complete: true
            }]
        );
        assert_eq!(lb.finish(), None);
    }

    #[test]
    fn too_many_headers_end_the_header() {
        let mut sp = Splitter::new(1000);
        let mut headers = 0;
        let mut ended = false;
        for _ in 0..MAX_HEADERS + 10 {
            for ev in sp.line(b"X-A: b") {
                match ev {
                    Event::Header(_) => headers += 1,
                    Event::EndOfHeaders(_) => ended = true,
                    Event::Body(_) => {}
                }
            }
        }
        assert!(ended);
        assert_eq!(headers, MAX_HEADERS);
    }

    #[test]
    fn the_pieces_of_a_long_header_line_stay_in_its_header() {
        let mut sp = Splitter::new(1000);
        assert!(sp.piece(b"Subject: aaaa", false).is_empty());
        assert!(sp.piece(b"bbb X-Not: c", false).is_empty());
        assert!(sp.piece(b"dd", true).is_empty());
        let ev = sp.line(b"From: x");
        match &ev[..] {
            [Event::Header(h)] => {
                assert_eq!(h.lines, vec![b"Subject: aaaabbb X-Not: cdd".to_vec()])
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn header_start_rules() {
        assert!(is_header_start(b"X-Foo: bar"));
        assert!(is_header_start(b"X-Foo:"));
        assert!(!is_header_start(b": bar"));
        assert!(!is_header_start(b"Not a header: x"));
        assert!(!is_header_start(b"From nobody"));
        assert!(is_header_start(b"Subject : obsolete syntax"));
        assert!(is_header_start(b"Subject\t:x"));
        assert!(!is_header_start(b" : x"));
        assert!(!is_header_start(b"Subject \x0b: x"));
    }

    /// Records that pickup hands over keep their CRs: sendmail decided
    /// what to do with them (sendmail_fix_line_endings).
    #[test]
    fn a_buffer_keeping_crs_leaves_them_in_the_line() {
        let text = b"a\r\nb\r\r\n0123456789AB\r\nend\r";
        for cut in 0..text.len() {
            let mut lb = LineBuffer::keeping_crs(10);
            let mut got = lb.push(&text[..cut]);
            got.extend(lb.push(&text[cut..]));
            got.extend(lb.finish());
            let got: Vec<(&[u8], bool)> = got.iter().map(|p| (&p.bytes[..], p.complete)).collect();
            assert_eq!(
                got,
                vec![
                    (&b"a\r"[..], true),
                    (b"b\r\r", true),
                    (b"0123456789", false),
                    (b"AB\r", true),
                    (b"end\r", true),
                ],
                "cut at {cut}"
            );
        }
    }

    /// A header of very many continuation lines keeps what fits in
    /// header_size_limit, and its size is counted as it grows (not summed
    /// again at each line).
    #[test]
    fn a_header_of_many_lines_is_cut_at_the_size_limit() {
        let mut sp = Splitter::new(1000);
        assert!(sp.line(b"To: a@example.com,").is_empty());
        for _ in 0..200_000 {
            assert!(sp.line(b"\tb@example.com,").is_empty());
        }
        // (past ten times the limit in all, the rest is body)
        let ev = sp.line(b"Subject: x");
        let Some(Event::Header(h)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(h.size() < 1000 && h.size() > 1000 - 16, "{}", h.size());
        assert!(sp.truncated);
        // Partial pieces of one long line count too.
        let mut sp = Splitter::new(100);
        sp.piece(b"To: ", false);
        for _ in 0..1000 {
            sp.piece(b"x@y.z, ", false);
        }
        sp.piece(b"end", true);
        let ev = sp.line(b"");
        let Event::Header(h) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert!(h.size() < 100 && h.size() > 90, "{}", h.size());
    }
}
