//! Where each line of a message stands in its MIME structure, as Postfix's
//! `mime_state` tells cleanup, so that each header meets the table meant
//! for it:
//!
//! * the message's own headers: `header_checks`;
//! * the headers of a multipart's parts, and MIME headers anywhere
//!   (Content-Type, Content-Disposition, …): `mime_header_checks`;
//! * the headers of an attached message (message/rfc822): `nested_header_checks`;
//! * everything else, multipart boundaries included: `body_checks`.
//!
//! The content streams through line by line: [`Mime::line`] says whether a
//! body line is body text or part of a header section, and hands back each
//! header of a section once it is whole (continuation lines joined), to be
//! checked and written then. Multipart nesting deeper than
//! `mime_nesting_limit` is not followed ([`Mime::too_deep`]); boundaries
//! are compared on their first `mime_boundary_length_limit` bytes. With
//! `disable_mime_input_processing`, the body is all body text.

/// Which table inspects a header (Postfix's header classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderClass {
    /// The message's own headers: header_checks.
    Primary,
    /// A part's headers and MIME headers anywhere: mime_header_checks.
    Mime,
    /// An attached message's headers: nested_header_checks.
    Nested,
}

/// Header names that are always `HeaderClass::Mime` (Postfix's
/// `HDR_OPT_MIME`).
const MIME_HEADERS: [&str; 6] = [
    "Content-Description",
    "Content-Disposition",
    "Content-ID",
    "Content-Transfer-Encoding",
    "Content-Type",
    "MIME-Version",
];

/// The class of a header named `name` met in a section of `class`.
pub fn class_of(name: &str, class: HeaderClass) -> HeaderClass {
    if MIME_HEADERS.iter().any(|m| m.eq_ignore_ascii_case(name)) {
        HeaderClass::Mime
    } else {
        class
    }
}

/// One header of a part or an attached message, whole.
#[derive(Debug)]
pub struct PartHeader {
    pub class: HeaderClass,
    /// Its lines as received, each without its line end; the last may be
    /// incomplete (`complete` false: the message ended inside it).
    pub lines: Vec<Vec<u8>>,
    pub complete: bool,
}

impl PartHeader {
    /// The header as the check tables see it: lines joined by `\n`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.join(&b"\n"[..])).into_owned()
    }

    /// `Content-Transfer-Encoding: 8bit` or `binary`.
    pub fn declares_8bit(&self) -> bool {
        self.name()
            .eq_ignore_ascii_case(b"Content-Transfer-Encoding")
            && Encoding::parse(&self.value()) == Encoding::EightBit
    }

    fn name(&self) -> &[u8] {
        let first = self.lines.first().map(Vec::as_slice).unwrap_or(b"");
        let end = first.iter().position(|&b| b == b':').unwrap_or(first.len());
        first[..end].trim_ascii_end()
    }

    fn value(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let l = if i == 0 {
                l.iter()
                    .position(|&b| b == b':')
                    .map_or(&l[..0], |c| &l[c + 1..])
            } else {
                &l[..]
            };
            v.extend_from_slice(l);
            v.push(b' ');
        }
        v
    }
}

/// What a body line is.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Body text, to write (through body_checks) now.
    Body,
    /// Part of a header section: held until its header is whole.
    Held,
}

/// An entity's Content-Transfer-Encoding, as far as the strict checks
/// care (Postfix's encoding domains).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// 7bit, quoted-printable, base64, or none given: 7-bit text.
    #[default]
    SevenBit,
    /// 8bit or binary.
    EightBit,
    /// quoted-printable or base64: 7-bit, and not allowed on a multipart
    /// or message entity.
    Encoded,
    /// Something else: not judged.
    Unknown,
}

impl Encoding {
    fn parse(value: &[u8]) -> Encoding {
        let v = String::from_utf8_lossy(value);
        let v = v
            .split(['(', ';'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match v.as_str() {
            "7bit" => Encoding::SevenBit,
            "8bit" | "binary" => Encoding::EightBit,
            "quoted-printable" | "base64" => Encoding::Encoded,
            _ => Encoding::Unknown,
        }
    }

    /// Whether body text under it must be 7-bit.
    pub fn is_seven_bit(self) -> bool {
        matches!(self, Encoding::SevenBit | Encoding::Encoded)
    }
}

/// What an entity's Content-Type makes of the text after its headers.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Leaf,
    Multipart { boundary: Vec<u8>, digest: bool },
    Message,
}

/// One open multipart, or one attached message.
#[derive(Debug)]
enum Frame {
    Multipart { boundary: Vec<u8>, digest: bool },
    Message,
}

/// A header section being read.
#[derive(Debug)]
struct Section {
    class: HeaderClass,
    /// What the section's entity is by default (message/rfc822 in a digest).
    kind: Kind,
    /// Its Content-Transfer-Encoding.
    encoding: Encoding,
    /// The header being gathered, if one has started.
    pending: Option<PartHeader>,
    /// The last line was cut (longer than a piece) and goes on.
    open_line: bool,
}

/// The MIME position of the body being read. See the module docs.
#[derive(Debug)]
pub struct Mime {
    disabled: bool,
    nesting_limit: usize,
    boundary_limit: usize,
    /// The message's own Content-Type, as far as it matters here.
    primary: Kind,
    /// The message's own Content-Transfer-Encoding.
    primary_encoding: Encoding,
    /// The encoding of the entity whose body text is being read.
    body_encoding: Encoding,
    /// A multipart or message entity was given an encoding it may not
    /// have (quoted-printable, base64): the line that said so.
    bad_domain: Option<String>,
    frames: Vec<Frame>,
    section: Option<Section>,
    too_deep: Option<String>,
}

/// Reads a Content-Type value (already unfolded) into what matters here.
fn kind_of(value: &[u8], boundary_limit: usize) -> Option<Kind> {
    let ct = ::mime::parse_content_type(value)?;
    if ct.is_type("multipart") {
        let boundary = ct.param("boundary").filter(|b| !b.is_empty())?;
        let boundary = boundary[..boundary.len().min(boundary_limit)].to_vec();
        Some(Kind::Multipart {
            boundary,
            digest: ct.subtype.eq_ignore_ascii_case("digest"),
        })
    } else if ct.is("message", "rfc822") || ct.is("message", "global") {
        Some(Kind::Message)
    } else {
        Some(Kind::Leaf)
    }
}

impl Mime {
    pub fn new(disabled: bool, nesting_limit: usize, boundary_limit: usize) -> Mime {
        Mime {
            disabled,
            nesting_limit: nesting_limit.max(1),
            boundary_limit: boundary_limit.max(1),
            primary: Kind::Leaf,
            primary_encoding: Encoding::default(),
            body_encoding: Encoding::default(),
            bad_domain: None,
            frames: Vec::new(),
            section: None,
            too_deep: None,
        }
    }

    /// Notes the message's own Content-Type (its unfolded value).
    pub fn primary_content_type(&mut self, value: &str) {
        if let Some(k) = kind_of(value.as_bytes(), self.boundary_limit) {
            self.primary = k;
        }
    }

    /// Notes the message's own Content-Transfer-Encoding.
    pub fn primary_encoding(&mut self, value: &str) {
        self.primary_encoding = Encoding::parse(value.as_bytes());
    }

    /// The message's own headers are over: the body starts.
    pub fn start_body(&mut self) {
        if !self.disabled {
            let kind = std::mem::replace(&mut self.primary, Kind::Leaf);
            let encoding = self.primary_encoding;
            self.entity_body(&kind, encoding, "Content-Transfer-Encoding");
            self.enter(kind, "");
        }
    }

    /// The encoding of the body text now being read (its entity's).
    pub fn body_encoding(&self) -> Encoding {
        self.body_encoding
    }

    /// When a multipart or message entity had quoted-printable or base64
    /// as its encoding (Postfix's invalid encoding domain): where.
    pub fn bad_domain(&self) -> Option<&str> {
        self.bad_domain.as_deref()
    }

    /// An entity's body starts: its text is read under its encoding, which
    /// a container may not have encoded.
    fn entity_body(&mut self, kind: &Kind, encoding: Encoding, at: &str) {
        self.body_encoding = encoding;
        if *kind != Kind::Leaf && encoding == Encoding::Encoded && self.bad_domain.is_none() {
            self.bad_domain = Some(at.chars().take(100).collect());
        }
    }

    /// When nesting went past `mime_nesting_limit`: the line where it did.
    pub fn too_deep(&self) -> Option<&str> {
        self.too_deep.as_deref()
    }

    /// Opens what an entity's headers announced; `at` names the place for
    /// the nesting error.
    fn enter(&mut self, kind: Kind, at: &str) {
        if kind == Kind::Leaf {
            return;
        }
        if self.frames.len() >= self.nesting_limit {
            if self.too_deep.is_none() {
                self.too_deep = Some(at.chars().take(100).collect());
            }
            return;
        }
        match kind {
            Kind::Multipart { boundary, digest } => {
                self.frames.push(Frame::Multipart { boundary, digest })
            }
            Kind::Message => {
                self.frames.push(Frame::Message);
                self.section = Some(Section {
                    class: HeaderClass::Nested,
                    kind: Kind::Leaf,
                    encoding: Encoding::default(),
                    pending: None,
                    open_line: false,
                });
            }
            Kind::Leaf => {}
        }
    }

    /// The frame a boundary line `line` belongs to, and whether it closes it.
    fn boundary(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        self.frames
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, f)| match f {
                Frame::Multipart { boundary, .. } if rest.starts_with(boundary) => {
                    Some((i, rest[boundary.len()..].starts_with(b"--")))
                }
                _ => None,
            })
    }

    /// Takes one piece of a body line (`complete` false: the line goes on
    /// in the next piece). Returns a header this line completed, if any
    /// (write it before this line), and what this line is.
    pub fn line(&mut self, bytes: &[u8], complete: bool) -> (Option<PartHeader>, Line) {
        if self.disabled || self.frames.is_empty() && self.section.is_none() {
            return (None, Line::Body);
        }
        let Some(mut section) = self.section.take() else {
            return (None, self.body_line(bytes));
        };
        if section.open_line {
            // The rest of a cut line goes where its start went.
            section.open_line = !complete;
            match section.pending.as_mut().and_then(|p| p.lines.last_mut()) {
                Some(last) => {
                    last.extend_from_slice(bytes);
                    if let Some(p) = section.pending.as_mut() {
                        p.complete = complete;
                    }
                    self.section = Some(section);
                    return (None, Line::Held);
                }
                None => return (None, Line::Body),
            }
        }
        let continuation = matches!(bytes.first(), Some(b' ' | b'\t'));
        if continuation && section.pending.is_some() {
            if let Some(p) = section.pending.as_mut() {
                p.lines.push(bytes.to_vec());
                p.complete = complete;
            }
            section.open_line = !complete;
            self.section = Some(section);
            return (None, Line::Held);
        }
        let done = section
            .pending
            .take()
            .map(|h| self.finish_header(&mut section, h));
        if crate::headers::is_header_start(bytes) {
            section.pending = Some(PartHeader {
                class: section.class,
                lines: vec![bytes.to_vec()],
                complete,
            });
            section.open_line = !complete;
            self.section = Some(section);
            return (done, Line::Held);
        }
        // A blank line (or anything that is not a header) ends the section:
        // the entity's body starts with it.
        let kind = section.kind;
        let at = String::from_utf8_lossy(bytes).into_owned();
        self.entity_body(&kind, section.encoding, "Content-Transfer-Encoding");
        self.enter(kind, &at);
        let this = if bytes.is_empty() {
            Line::Body
        } else {
            self.body_line(bytes)
        };
        (done, this)
    }

    /// A body line outside any header section: a boundary opens the next
    /// part's headers or closes its multipart.
    fn body_line(&mut self, bytes: &[u8]) -> Line {
        if let Some((i, closes)) = self.boundary(bytes) {
            // A boundary line itself, and what follows a closing one, are
            // the multipart's own text.
            self.body_encoding = Encoding::default();
            if closes {
                self.frames.truncate(i);
            } else {
                self.frames.truncate(i + 1);
                let digest = matches!(
                    self.frames.get(i),
                    Some(Frame::Multipart { digest: true, .. })
                );
                self.section = Some(Section {
                    class: HeaderClass::Mime,
                    kind: if digest { Kind::Message } else { Kind::Leaf },
                    encoding: Encoding::default(),
                    pending: None,
                    open_line: false,
                });
            }
        }
        Line::Body
    }

    /// A header of the section is whole: sets its class and notes what a
    /// Content-Type makes of the entity.
    fn finish_header(&self, section: &mut Section, mut h: PartHeader) -> PartHeader {
        let name = String::from_utf8_lossy(h.name()).into_owned();
        h.class = class_of(&name, section.class);
        if name.eq_ignore_ascii_case("Content-Type") {
            if let Some(k) = kind_of(&h.value(), self.boundary_limit) {
                section.kind = k;
            }
        }
        if name.eq_ignore_ascii_case("Content-Transfer-Encoding") {
            section.encoding = Encoding::parse(&h.value());
        }
        h
    }

    /// The content ended: a header still being gathered, to write.
    pub fn finish(&mut self) -> Option<PartHeader> {
        let mut section = self.section.take()?;
        let h = section.pending.take()?;
        Some(self.finish_header(&mut section, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` line by line; returns, per line, "B" (body) or "H",
    /// and the finished headers as (class, text).
    fn run(m: &mut Mime, text: &str) -> (String, Vec<(HeaderClass, String)>) {
        let mut kinds = String::new();
        let mut headers = Vec::new();
        for l in text.split('\n') {
            let (done, line) = m.line(l.as_bytes(), true);
            if let Some(h) = done {
                headers.push((h.class, h.text()));
            }
            kinds.push(if line == Line::Body { 'B' } else { 'H' });
        }
        if let Some(h) = m.finish() {
            headers.push((h.class, h.text()));
        }
        (kinds, headers)
    }

    fn multipart() -> Mime {
        let mut m = Mime::new(false, 100, 2048);
        m.primary_content_type("multipart/mixed; boundary=\"XX\"");
        m.start_body();
        m
    }

    #[test]
    fn part_headers_are_held_and_classed_and_boundaries_are_body() {
        let mut m = multipart();
        let text = "preamble\n--XX\nContent-Type: text/plain\nX-Part: 1\n\ttwo\n\nhello\n--XX\nContent-Disposition: attachment;\n filename=\"a.exe\"\n\nTVqQ\n--XX--\nepilogue";
        let (kinds, headers) = run(&mut m, text);
        assert_eq!(kinds, "BBHHHBBBHHBBBB");
        assert_eq!(
            headers,
            vec![
                (HeaderClass::Mime, "Content-Type: text/plain".into()),
                (HeaderClass::Mime, "X-Part: 1\n\ttwo".into()),
                (
                    HeaderClass::Mime,
                    "Content-Disposition: attachment;\n filename=\"a.exe\"".into()
                ),
            ]
        );
    }

    #[test]
    fn an_attached_message_has_nested_headers_but_its_mime_headers_are_mime() {
        let mut m = multipart();
        let text = "--XX\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\nbody\n--XX--";
        let (kinds, headers) = run(&mut m, text);
        assert_eq!(kinds, "BHBHHBBB");
        assert_eq!(
            headers,
            vec![
                (HeaderClass::Mime, "Content-Type: message/rfc822".into()),
                (HeaderClass::Nested, "Subject: inner".into()),
                (HeaderClass::Mime, "Content-Type: text/plain".into()),
            ]
        );
    }

    #[test]
    fn nested_multiparts_close_inner_ones_with_the_outer_boundary() {
        let mut m = multipart();
        let text = "--XX\nContent-Type: multipart/alternative; boundary=YY\n\n--YY\nA: 1\n\n--XX\nB: 2\n\ntext";
        let (kinds, headers) = run(&mut m, text);
        assert_eq!(kinds, "BHBBHBBHBB");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers[2], (HeaderClass::Mime, "B: 2".into()));
        // After the outer boundary, the inner boundary is plain body.
        let (kinds, _) = run(&mut m, "--YY\nC: 3");
        assert_eq!(kinds, "BB");
    }

    #[test]
    fn a_digest_part_is_a_message_by_default() {
        let mut m = Mime::new(false, 100, 2048);
        m.primary_content_type("multipart/digest; boundary=D");
        m.start_body();
        let (_, headers) = run(&mut m, "--D\n\nSubject: digested\n\nbody\n--D--");
        assert_eq!(
            headers,
            vec![(HeaderClass::Nested, "Subject: digested".into())]
        );
    }

    #[test]
    fn a_plain_message_or_disabled_processing_is_all_body() {
        let mut m = Mime::new(false, 100, 2048);
        m.start_body();
        assert_eq!(run(&mut m, "--XX\nA: b\n\nc").0, "BBBB");
        let mut m = Mime::new(true, 100, 2048);
        m.primary_content_type("multipart/mixed; boundary=XX");
        m.start_body();
        assert_eq!(run(&mut m, "--XX\nA: b\n\nc").0, "BBBB");
    }

    #[test]
    fn nesting_past_the_limit_is_noted_and_not_followed() {
        let mut m = Mime::new(false, 2, 2048);
        m.primary_content_type("multipart/mixed; boundary=A");
        m.start_body();
        let (_, _) = run(&mut m, "--A\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: multipart/mixed; boundary=C\n\n--C\nX: y");
        assert!(m.too_deep().is_some());
        assert!(m.frames.len() <= 2);
        assert_eq!(
            class_of("content-type", HeaderClass::Primary),
            HeaderClass::Mime
        );
        assert_eq!(
            class_of("Subject", HeaderClass::Nested),
            HeaderClass::Nested
        );
    }

    #[test]
    fn a_cut_header_line_stays_one_header() {
        let mut m = multipart();
        assert_eq!(m.line(b"--XX", true).1, Line::Body);
        assert_eq!(m.line(b"Content-Type: text/pl", false).1, Line::Held);
        assert_eq!(m.line(b"ain", true).1, Line::Held);
        let (done, line) = m.line(b"", true);
        assert_eq!(line, Line::Body);
        let h = done.expect("header");
        assert_eq!(h.text(), "Content-Type: text/plain");
        assert!(h.complete);
    }
}
