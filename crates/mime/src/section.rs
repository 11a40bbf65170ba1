//! FETCH BODY[section]<partial> addressing (RFC 3501 §6.4.5).

use std::borrow::Cow;
use std::fmt;

/// What part of the addressed entity a section wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `BODY[]` / `BODY[1.2]`: the whole message, or the part's body.
    Full,
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    /// The part's own MIME header (needs a part number).
    Mime,
}

/// A section: part numbers (1-based; empty for the message itself)
/// and what to take from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: SectionText,
}

impl Section {
    pub fn new(part: &[u32], text: SectionText) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }
}

/// `<origin.count>` of a FETCH, applied to the CRLF form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub origin: u64,
    pub count: u64,
}

/// Why a section cannot be fetched. Dovecot answers such FETCHes with
/// an empty string; the imapd decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionError {
    /// A part number 0 or past the last part, or a subpart of a leaf.
    NoSuchPart(Vec<u32>),
    /// HEADER / HEADER.FIELDS / TEXT after a part number that is not a
    /// message/rfc822 part.
    NotMessage(Vec<u32>),
    /// MIME without a part number.
    MimeWithoutPart,
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dotted = |p: &[u32]| {
            p.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(".")
        };
        match self {
            SectionError::NoSuchPart(p) => write!(f, "no body part {}", dotted(p)),
            SectionError::NotMessage(p) => {
                write!(f, "body part {} is not a message/rfc822", dotted(p))
            }
            SectionError::MimeWithoutPart => write!(f, "MIME needs a part number"),
        }
    }
}

impl std::error::Error for SectionError {}

/// `bytes` with every bare LF made CRLF (borrowed when there is none).
pub fn to_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bare = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
        .count();
    if bare == 0 {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bare);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// `<origin.count>`: the bytes from `origin`, at most `count` of them;
/// empty when `origin` is past the end (RFC 3501 §6.4.5).
pub fn apply_partial(bytes: &[u8], partial: Partial) -> &[u8] {
    let len = bytes.len() as u64;
    let start = partial.origin.min(len);
    let end = start.saturating_add(partial.count).min(len);
    &bytes[start as usize..end as usize]
}
