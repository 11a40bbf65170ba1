//! RFC 5322 / MIME message parsing for an IMAP server: the typed values
//! behind ENVELOPE, BODY/BODYSTRUCTURE, FETCH BODY[section]<partial>,
//! RFC822.SIZE, and the decoding SEARCH needs.
//!
//! * [`Message::parse`] takes the message bytes as stored (Maildir: LF
//!   or CRLF line ends, or a mix) and builds the MIME tree of [`Part`]s
//!   in one pass: every entity's header and body as [`Span`]s that give
//!   both the stored byte range and the offsets/sizes in the CRLF form
//!   IMAP counts. Parsing never fails: junk gives the RFC defaults
//!   (text/plain; charset=us-ascii, 7bit), a missing blank line makes
//!   everything header, a missing close delimiter ends the last part at
//!   the end of its parent, nesting past [`Limits::max_depth`] (100)
//!   stays a leaf so hostile input cannot exhaust the stack.
//! * [`Message::envelope`] and [`Message::body_structure`] give
//!   [`Envelope`] and [`BodyStructure`] — raw, undecoded strings and
//!   CRLF sizes, modelled on Dovecot's answers.
//! * [`Message::fetch`] returns a [`Section`]'s bytes in CRLF form with
//!   an optional [`Partial`]; [`Message::section_raw`] and
//!   [`Message::section_span`] give the stored bytes / ranges.
//! * For SEARCH: [`decode_header`] (RFC 2047), [`transfer_decode`],
//!   [`Message::part_text`] / [`Message::search_text`] (transfer
//!   encoding and charset decoded), [`parse_date`] (Date: to a
//!   timestamp and the as-written day for SENTON…).
//!
//! What it does not do: IMAP syntax (quoting, literals, NIL — the imapd
//! or imap-proto writes that), I/O (read the file, then parse the
//! bytes; the whole message is in memory), streaming, charsets beyond
//! UTF-8/US-ASCII/ISO-8859-1/Windows-1252, message/global, BINARY
//! (RFC 3516) or any modification of messages.

mod address;
mod content;
mod date;
mod decode;
mod header;
mod part;
mod section;
mod structure;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use address::{parse_address_list, Address, MISSING_DOMAIN, MISSING_MAILBOX};
pub use content::{
    decode_rfc2231, param, parse_content_type, parse_disposition, parse_language, ContentType,
    Disposition, Param,
};
pub use date::{days_from_civil, parse_date, DateTime};
pub use decode::{
    base64_decode, decode_charset, decode_header, qp_decode, transfer_decode, unfold,
};
pub use header::{Field, Header, Span};
pub use part::{Limits, Part, PartKind};
pub use section::{apply_partial, to_crlf, Partial, Section, SectionError, SectionText};
pub use structure::{BodyFields, BodyStructure, Envelope, Extension};

/// A parsed message, borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    data: &'a [u8],
    root: Part,
}

impl<'a> Message<'a> {
    /// Parses with the default [`Limits`].
    pub fn parse(data: &'a [u8]) -> Message<'a> {
        Message::parse_with(data, Limits::default())
    }

    pub fn parse_with(data: &'a [u8], limits: Limits) -> Message<'a> {
        Message {
            data,
            root: part::parse(data, limits),
        }
    }

    /// The message bytes as stored.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The top-level entity: the message header and body.
    pub fn root(&self) -> &Part {
        &self.root
    }

    /// The whole message as a span; `crlf_len()` is RFC822.SIZE.
    pub fn span(&self) -> Span {
        Span {
            start: 0,
            end: self.data.len(),
            crlf_start: 0,
            crlf_end: self.root.body.crlf_end,
        }
    }

    /// RFC822.SIZE: octets with CRLF line ends.
    pub fn size(&self) -> u64 {
        self.span().crlf_len()
    }

    /// The message header.
    pub fn header(&self) -> Header<'_> {
        self.root.header(self.data)
    }

    pub fn envelope(&self) -> Envelope {
        Envelope::from_header(&self.header())
    }

    pub fn body_structure(&self) -> BodyStructure {
        BodyStructure::build(self.data, &self.root)
    }

    /// The Date: header, parsed (for SENTBEFORE/SENTON/SENTSINCE).
    pub fn date(&self) -> Option<DateTime> {
        self.header().first("Date").and_then(parse_date)
    }

    /// The entity with part number `path` (RFC 3501 §6.4.5): part 1 of
    /// a non-multipart message is the message's own entity; the parts of
    /// a message/rfc822 part are those of the embedded message. Empty
    /// `path`: the root.
    pub fn part(&self, path: &[u32]) -> Result<&Part, SectionError> {
        let err = || SectionError::NoSuchPart(path.to_vec());
        let mut cur = &self.root;
        let mut is_message = true;
        for &n in path {
            let index = (n as usize).checked_sub(1).ok_or_else(err)?;
            let base = match (is_message, cur.message()) {
                (true, _) => Some(cur),
                (false, Some(inner)) => Some(inner),
                (false, None) => None,
            };
            cur = match base {
                Some(m) if m.is_multipart() => m.children().get(index).ok_or_else(err)?,
                Some(m) if index == 0 => m,
                Some(_) => return Err(err()),
                None if cur.is_multipart() => cur.children().get(index).ok_or_else(err)?,
                None => return Err(err()),
            };
            is_message = false;
        }
        Ok(cur)
    }

    /// For HEADER/TEXT: the message the section refers to (the root, or
    /// the embedded message of a message/rfc822 part).
    fn message_at(&self, path: &[u32]) -> Result<&Part, SectionError> {
        if path.is_empty() {
            return Ok(&self.root);
        }
        self.part(path)?
            .message()
            .ok_or_else(|| SectionError::NotMessage(path.to_vec()))
    }

    /// The stored range of a section; None for HEADER.FIELDS(.NOT),
    /// which is not one range.
    pub fn section_span(&self, section: &Section) -> Result<Option<Span>, SectionError> {
        let path = &section.part[..];
        Ok(Some(match &section.text {
            SectionText::Full if path.is_empty() => self.span(),
            SectionText::Full => self.part(path)?.body,
            SectionText::Mime if path.is_empty() => return Err(SectionError::MimeWithoutPart),
            SectionText::Mime => self.part(path)?.header,
            SectionText::Header => self.message_at(path)?.header,
            SectionText::Text => self.message_at(path)?.body,
            SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_) => {
                self.message_at(path)?;
                return Ok(None);
            }
        }))
    }

    /// A section's bytes as stored (line ends not converted).
    pub fn section_raw(&self, section: &Section) -> Result<Cow<'a, [u8]>, SectionError> {
        if let Some(span) = self.section_span(section)? {
            return Ok(Cow::Borrowed(&self.data[span.range()]));
        }
        let (names, not) = match &section.text {
            SectionText::HeaderFields(n) => (n, false),
            SectionText::HeaderFieldsNot(n) => (n, true),
            _ => return Ok(Cow::Borrowed(&[])),
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = self.message_at(&section.part)?;
        Ok(Cow::Owned(m.header(self.data).select(&names, not)))
    }

    /// What FETCH BODY[section]<partial> sends: the section with CRLF
    /// line ends, cut to `partial`.
    pub fn fetch(
        &self,
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<Vec<u8>, SectionError> {
        let raw = self.section_raw(section)?;
        let crlf = to_crlf(&raw);
        Ok(match partial {
            Some(p) => apply_partial(&crlf, p).to_vec(),
            None => crlf.into_owned(),
        })
    }

    /// A part's body with the transfer encoding undone, as text in its
    /// charset (unknown charsets: UTF-8, lossily).
    pub fn part_text(&self, part: &Part) -> String {
        let bytes = transfer_decode(
            &part.transfer_encoding(self.data),
            &self.data[part.body.range()],
        );
        let charset = part
            .content_type
            .param("charset")
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        decode_charset(&bytes, &charset)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// SEARCH BODY text: the decoded text of every text/* leaf (including
    /// those inside embedded messages), separated by newlines.
    pub fn search_text(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![&self.root];
        while let Some(p) = stack.pop() {
            match &p.kind {
                PartKind::Multipart(c) => stack.extend(c.iter().rev()),
                PartKind::Message(m) => stack.push(m),
                PartKind::Leaf if p.content_type.is_type("text") => {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&self.part_text(p));
                }
                PartKind::Leaf => {}
            }
        }
        out
    }
}
