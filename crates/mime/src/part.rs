//! The MIME tree: every entity's header and body as byte ranges, its
//! parsed Content-* fields, and its children.

use crate::content::{parse_content_type, ContentType};
use crate::header::{parse_header, Field, Header, Span};

/// Limits against hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of multipart and message/rfc822 entities (Dovecot's
    /// message parser stops at 100 too). At this depth a multipart gets
    /// no parts and a message/rfc822 is kept as a leaf: the body is not
    /// looked into.
    pub max_depth: usize,
    /// Entities in the whole message; past it, the same as for depth.
    pub max_parts: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 100,
            max_parts: 10_000,
        }
    }
}

/// What an entity contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// A leaf: its body is content.
    Leaf,
    /// The body parts of a multipart, in order (may be empty when no
    /// boundary line was found).
    Multipart(Vec<Part>),
    /// The message of a message/rfc822 entity: a [`Part`] whose header
    /// is the embedded message's header.
    Message(Box<Part>),
}

/// One MIME entity (the message itself, a body part or an embedded
/// message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The header section including the empty line ending it (if any).
    pub header: Span,
    pub body: Span,
    /// The header fields (ranges into the message).
    pub fields: Vec<Field>,
    /// The effective Content-Type: the header's if valid, else the
    /// default (text/plain; charset=us-ascii, or message/rfc822 inside
    /// multipart/digest).
    pub content_type: ContentType,
    /// LF characters in the body (Dovecot's line count; a last line
    /// without line end is not counted).
    pub body_lines: u64,
    pub kind: PartKind,
}

impl Part {
    /// The header fields of this entity.
    pub fn header<'a>(&'a self, data: &'a [u8]) -> Header<'a> {
        Header::new(data, &self.fields)
    }

    pub fn children(&self) -> &[Part] {
        match &self.kind {
            PartKind::Multipart(c) => c,
            _ => &[],
        }
    }

    /// The embedded message of a message/rfc822 part.
    pub fn message(&self) -> Option<&Part> {
        match &self.kind {
            PartKind::Message(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_multipart(&self) -> bool {
        matches!(self.kind, PartKind::Multipart(_))
    }

    /// The Content-Transfer-Encoding token, `7bit` when absent.
    pub fn transfer_encoding(&self, data: &[u8]) -> String {
        self.header(data)
            .first("Content-Transfer-Encoding")
            .and_then(crate::content::parse_token)
            .unwrap_or_else(|| "7bit".into())
    }
}

struct Ctx<'a> {
    data: &'a [u8],
    limits: Limits,
    parts: usize,
}

/// Parses the entity in `data[start..end]`.
pub(crate) fn parse(data: &[u8], limits: Limits) -> Part {
    let mut ctx = Ctx {
        data,
        limits,
        parts: 0,
    };
    let mut root = ctx.entity(0, data.len(), 0, false);
    fill_crlf(data, &mut root);
    root
}

impl Ctx<'_> {
    fn entity(&mut self, start: usize, end: usize, depth: usize, in_digest: bool) -> Part {
        self.parts += 1;
        let data = self.data;
        let h = parse_header(data, start, end);
        let hv = Header::new(data, &h.fields);
        let content_type = hv
            .first("Content-Type")
            .and_then(parse_content_type)
            .unwrap_or_else(|| {
                if in_digest {
                    ContentType::message_rfc822()
                } else {
                    ContentType::text_plain()
                }
            });
        let body = h.end..end;
        let body_lines = data[body.clone()].iter().filter(|&&b| b == b'\n').count() as u64;
        let room = depth < self.limits.max_depth && self.parts < self.limits.max_parts;
        let kind = if !room && content_type.is_type("multipart") {
            PartKind::Multipart(Vec::new())
        } else if !room {
            PartKind::Leaf
        } else if content_type.is_type("multipart") {
            match content_type.param("boundary").filter(|b| !b.is_empty()) {
                Some(boundary) => {
                    let digest = content_type.subtype.eq_ignore_ascii_case("digest");
                    let room = self.limits.max_parts.saturating_sub(self.parts);
                    let ranges = split_multipart(data, body.start, body.end, boundary, room);
                    let mut children = Vec::with_capacity(ranges.len());
                    for (s, e) in ranges {
                        if self.parts >= self.limits.max_parts {
                            break;
                        }
                        children.push(self.entity(s, e, depth + 1, digest));
                    }
                    PartKind::Multipart(children)
                }
                // As Dovecot: a multipart without parts.
                None => PartKind::Multipart(Vec::new()),
            }
        } else if content_type.is("message", "rfc822") {
            PartKind::Message(Box::new(self.entity(
                body.start,
                body.end,
                depth + 1,
                false,
            )))
        } else {
            PartKind::Leaf
        };
        Part {
            header: Span::raw(start, h.end),
            body: Span::raw(body.start, body.end),
            fields: h.fields,
            content_type,
            body_lines,
            kind,
        }
    }
}

/// If the line `line` (without its end) is a delimiter for `boundary`:
/// Some(true) for the close delimiter. Trailing blanks are allowed
/// (RFC 2046 §5.1.1 transport padding), anything else is not, so a
/// boundary that is a prefix of another does not match it.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.iter()
        .all(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .then_some(close)
}

/// The body part ranges of a multipart body, at most `limit`. The line end
/// before a delimiter belongs to the delimiter; the preamble and epilogue
/// are dropped; a missing close delimiter ends the last part at `end`.
fn split_multipart(
    data: &[u8],
    start: usize,
    end: usize,
    boundary: &[u8],
    limit: usize,
) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut pos = start;
    while pos < end {
        let nl = data[pos..end].iter().position(|&b| b == b'\n');
        let next = nl.map_or(end, |i| pos + i + 1);
        let line_end = nl.map_or(end, |i| pos + i);
        if data[pos..].starts_with(b"--") {
            if let Some(close) = delimiter(&data[pos..line_end], boundary) {
                if let Some(s) = current {
                    let mut e = pos;
                    if e > s && data[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && data[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push((s, e));
                }
                if close || parts.len() >= limit {
                    return parts;
                }
                current = Some(next);
            }
        }
        pos = next;
    }
    if let Some(s) = current {
        parts.push((s, end));
    }
    parts
}

/// Fills in the CRLF offsets of every span in the tree in one sweep.
fn fill_crlf(data: &[u8], root: &mut Part) {
    let mut points = Vec::new();
    collect_points(root, &mut points);
    points.sort_unstable();
    points.dedup();
    let mut offsets = Vec::with_capacity(points.len());
    let mut bare = 0u64;
    let mut pos = 0usize;
    for &p in &points {
        for i in pos..p {
            if data[i] == b'\n' && (i == 0 || data[i - 1] != b'\r') {
                bare += 1;
            }
        }
        pos = p;
        offsets.push(p as u64 + bare);
    }
    assign(root, &points, &offsets);
}

fn collect_points(p: &Part, out: &mut Vec<usize>) {
    out.extend([p.header.start, p.header.end, p.body.start, p.body.end]);
    match &p.kind {
        PartKind::Leaf => {}
        PartKind::Multipart(c) => c.iter().for_each(|c| collect_points(c, out)),
        PartKind::Message(m) => collect_points(m, out),
    }
}

fn assign(p: &mut Part, points: &[usize], offsets: &[u64]) {
    let at = |x: usize| points.binary_search(&x).map_or(0, |i| offsets[i]);
    for s in [&mut p.header, &mut p.body] {
        s.crlf_start = at(s.start);
        s.crlf_end = at(s.end);
    }
    match &mut p.kind {
        PartKind::Leaf => {}
        PartKind::Multipart(c) => c.iter_mut().for_each(|c| assign(c, points, offsets)),
        PartKind::Message(m) => assign(m, points, offsets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(delimiter(b"--abc", b"abc"), Some(false));
        assert_eq!(delimiter(b"--abc--", b"abc"), Some(true));
        assert_eq!(delimiter(b"--abc  \r", b"abc"), Some(false));
        assert_eq!(delimiter(b"--abcdef", b"abc"), None);
        assert_eq!(delimiter(b"--abc--x", b"abc"), None);
        assert_eq!(delimiter(b"-abc", b"abc"), None);
    }

    #[test]
    fn split() {
        let b = b"pre\r\n--b\r\nA\r\n--b\r\n--b\r\nC\n--b--\r\nepi";
        let r = split_multipart(b, 0, b.len(), b"b", usize::MAX);
        let got: Vec<&[u8]> = r.iter().map(|&(s, e)| &b[s..e]).collect();
        assert_eq!(got, vec![&b"A"[..], b"", b"C"]);
        let b = b"--b\nA\n";
        let r = split_multipart(b, 0, b.len(), b"b", usize::MAX);
        assert_eq!(r, vec![(4, 6)]);
        assert!(split_multipart(b"no delimiters", 0, 13, b"b", usize::MAX).is_empty());
        // At most `limit` ranges, however many delimiters follow: a body of
        // nothing but delimiter lines costs no more than the limit.
        let many = b"--b\n".repeat(100_000);
        let r = split_multipart(&many, 0, many.len(), b"b", 10);
        assert_eq!(r.len(), 10);
        assert_eq!(r[9], (40, 40));
    }
}
