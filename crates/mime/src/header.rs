//! Header sections: splitting a message or body part into header and
//! body, the fields as raw byte ranges, HEADER.FIELDS selection.

use std::ops::Range;

use crate::decode::{trim, unfold};

/// A byte range of the message, both as stored and as IMAP counts it
/// (every bare LF made CRLF). `crlf_start`/`crlf_end` are offsets in the
/// CRLF form of the whole message, so `crlf_len()` is the RFC 3501 size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub crlf_start: u64,
    pub crlf_end: u64,
}

impl Span {
    pub(crate) fn raw(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            crlf_start: 0,
            crlf_end: 0,
        }
    }

    /// Octets as stored.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Octets with CRLF line endings (what IMAP reports).
    pub fn crlf_len(&self) -> u64 {
        self.crlf_end - self.crlf_start
    }

    /// LFs in the range not preceded by CR.
    pub fn bare_lfs(&self) -> u64 {
        self.crlf_len() - self.len() as u64
    }

    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// One header field: byte ranges into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, blanks before the colon trimmed. For a line without a
    /// colon, the whole line (and `value` is empty).
    pub name: Range<usize>,
    /// After the colon up to the end of the last (continuation) line,
    /// without that line's ending; folding line breaks included.
    pub value: Range<usize>,
    /// The whole field with its continuation lines and final line end.
    pub line: Range<usize>,
}

/// Where a header section ends.
pub(crate) struct ParsedHeader {
    pub fields: Vec<Field>,
    /// End of the header including the empty line (== body start).
    pub end: usize,
}

/// Parses the header section starting at `start`, ending at the first
/// empty line (LF or CRLF) before `end`. Without an empty line the
/// whole range is header and the body is empty.
pub(crate) fn parse_header(data: &[u8], start: usize, end: usize) -> ParsedHeader {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = start;
    while pos < end {
        let next = data[pos..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |i| pos + i + 1);
        let mut content_end = next;
        if content_end > pos && data[content_end - 1] == b'\n' {
            content_end -= 1;
            if content_end > pos && data[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        if content_end == pos && next > pos && data[next - 1] == b'\n' {
            return ParsedHeader { fields, end: next };
        }
        let first = data[pos];
        match fields.last_mut() {
            Some(last) if first == b' ' || first == b'\t' => {
                last.value.end = content_end;
                last.line.end = next;
            }
            _ => {
                let line = &data[pos..content_end];
                let field = match line.iter().position(|&b| b == b':') {
                    Some(colon) => {
                        let name = trim(&line[..colon]);
                        let name_start = pos + (name.as_ptr() as usize - line.as_ptr() as usize);
                        Field {
                            name: name_start..name_start + name.len(),
                            value: pos + colon + 1..content_end,
                            line: pos..next,
                        }
                    }
                    None => Field {
                        name: pos..content_end,
                        value: content_end..content_end,
                        line: pos..next,
                    },
                };
                fields.push(field);
            }
        }
        pos = next;
    }
    ParsedHeader { fields, end }
}

/// A view of one header section.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    data: &'a [u8],
    fields: &'a [Field],
}

impl<'a> Header<'a> {
    pub(crate) fn new(data: &'a [u8], fields: &'a [Field]) -> Header<'a> {
        Header { data, fields }
    }

    /// Every field as (name, raw value), in order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let data = self.data;
        self.fields
            .iter()
            .map(move |f| (&data[f.name.clone()], &data[f.value.clone()]))
    }

    /// The raw values (folded, as stored, after the colon) of every
    /// field named `name` (case-insensitive), in order.
    pub fn get<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        let data = self.data;
        self.fields
            .iter()
            .filter(move |f| data[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |f| &data[f.value.clone()])
    }

    /// The first field named `name`, raw.
    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.get(name).next()
    }

    /// The first field named `name`, unfolded and trimmed.
    pub fn first_unfolded(&self, name: &str) -> Option<Vec<u8>> {
        self.first(name).map(unfold)
    }

    /// HEADER.FIELDS (`not == false`) or HEADER.FIELDS.NOT: the whole
    /// raw lines of the matching fields in message order, then the empty
    /// line RFC 3501 requires (always CRLF). A last field without line
    /// end gets a CRLF.
    pub fn select(&self, names: &[&str], not: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.fields {
            let name = &self.data[f.name.clone()];
            let hit = names
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()));
            if hit != not {
                let line = &self.data[f.line.clone()];
                out.extend_from_slice(line);
                if !line.ends_with(b"\n") {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_fields() {
        let m = b"Subject: hi\r\n there\r\nFrom : a@b\r\njunk line\r\n\r\nbody\r\n";
        let h = parse_header(m, 0, m.len());
        assert_eq!(h.end, 46);
        assert_eq!(&m[h.end..], b"body\r\n");
        let hv = Header::new(m, &h.fields);
        assert_eq!(hv.first("SUBJECT"), Some(&b" hi\r\n there"[..]));
        assert_eq!(hv.first_unfolded("from").as_deref(), Some(&b"a@b"[..]));
        assert_eq!(hv.fields().count(), 3);
        assert_eq!(hv.fields().nth(2), Some((&b"junk line"[..], &b""[..])));
        assert_eq!(
            hv.select(&["from", "subject"], false),
            b"Subject: hi\r\n there\r\nFrom : a@b\r\n\r\n"
        );
        assert_eq!(hv.select(&["subject", "from"], true), b"junk line\r\n\r\n");
        assert_eq!(hv.select(&["x"], false), b"\r\n");
    }

    #[test]
    fn lf_no_blank_line_and_empty_header() {
        let m = b"A: 1\nB: 2";
        let h = parse_header(m, 0, m.len());
        assert_eq!(h.end, m.len());
        let hv = Header::new(m, &h.fields);
        assert_eq!(hv.select(&["b"], false), b"B: 2\r\n\r\n");
        let m = b"\nbody";
        let h = parse_header(m, 0, m.len());
        assert_eq!((h.fields.len(), h.end), (0, 1));
        let m = b"A: 1\n\n";
        assert_eq!(parse_header(m, 0, m.len()).end, 6);
        let m = b"A: x\r\n\r";
        assert_eq!(parse_header(m, 0, m.len()).end, m.len());
    }
}
