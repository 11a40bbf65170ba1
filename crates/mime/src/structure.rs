//! ENVELOPE (RFC 3501 §7.4.2) and BODYSTRUCTURE as typed values. The
//! imapd turns them into IMAP syntax; `None` is NIL.

use crate::address::{parse_address_list, Address};
use crate::content::{param, parse_disposition, parse_language, Disposition, Param};
use crate::decode::unfold;
use crate::header::Header;
use crate::part::{Part, PartKind};

/// The ENVELOPE of a message. Strings are the raw header values,
/// unfolded and trimmed, not decoded; `None` when the field is absent.
/// The first occurrence of each field counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    /// From when absent or empty (RFC 3501).
    pub sender: Vec<Address>,
    /// From when absent or empty (RFC 3501).
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// The envelope of a header section.
    pub fn from_header(h: &Header<'_>) -> Envelope {
        let addrs = |n: &str| h.first(n).map(parse_address_list).unwrap_or_default();
        let from = addrs("From");
        let or_from = |v: Vec<Address>| if v.is_empty() { from.clone() } else { v };
        Envelope {
            date: h.first_unfolded("Date"),
            subject: h.first_unfolded("Subject"),
            sender: or_from(addrs("Sender")),
            reply_to: or_from(addrs("Reply-To")),
            to: addrs("To"),
            cc: addrs("Cc"),
            bcc: addrs("Bcc"),
            in_reply_to: h.first_unfolded("In-Reply-To"),
            message_id: h.first_unfolded("Message-ID"),
            from,
        }
    }
}

/// The fields every non-multipart body has (RFC 3501 `body-fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFields {
    pub media_type: String,
    pub subtype: String,
    /// For text/* without charset, `charset=us-ascii` is added (as
    /// Dovecot does).
    pub params: Vec<Param>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding as written, `7bit` when absent.
    pub encoding: String,
    /// Body octets with CRLF line ends.
    pub size: u64,
}

/// Extension data of a non-multipart body (`body-ext-1part`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extension {
    /// Content-MD5 if present (normally NIL).
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<Disposition>,
    /// Empty: NIL.
    pub language: Vec<String>,
    pub location: Option<Vec<u8>>,
}

/// BODYSTRUCTURE (with extension data; BODY is the same without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// Any non-text, non-message/rfc822 leaf (`body-type-basic`). Also a
    /// message/rfc822 past the nesting limit, with its declared type.
    Basic { fields: BodyFields, ext: Extension },
    /// text/* (`body-type-text`).
    Text {
        fields: BodyFields,
        lines: u64,
        ext: Extension,
    },
    /// message/rfc822 (`body-type-msg`).
    Message {
        fields: BodyFields,
        envelope: Box<Envelope>,
        body: Box<BodyStructure>,
        lines: u64,
        ext: Extension,
    },
    /// multipart/* (`body-type-mpart`). `parts` is never empty: a
    /// multipart without body parts (no delimiter, no boundary, past
    /// the nesting limit) gets one empty text/plain part, as Dovecot
    /// does, since the IMAP grammar needs one.
    Multipart {
        parts: Vec<BodyStructure>,
        subtype: String,
        params: Vec<Param>,
        disposition: Option<Disposition>,
        language: Vec<String>,
        location: Option<Vec<u8>>,
    },
}

impl BodyStructure {
    pub(crate) fn build(data: &[u8], part: &Part) -> BodyStructure {
        let h = part.header(data);
        let ct = &part.content_type;
        let disposition = h.first("Content-Disposition").and_then(parse_disposition);
        let language = h
            .first("Content-Language")
            .map(parse_language)
            .unwrap_or_default();
        let location = h.first_unfolded("Content-Location");
        if let PartKind::Multipart(children) = &part.kind {
            let mut parts: Vec<BodyStructure> = children
                .iter()
                .map(|c| BodyStructure::build(data, c))
                .collect();
            if parts.is_empty() {
                parts.push(BodyStructure::empty_text());
            }
            return BodyStructure::Multipart {
                parts,
                subtype: ct.subtype.clone(),
                params: ct.params.clone(),
                disposition,
                language,
                location,
            };
        }
        let mut params = ct.params.clone();
        if ct.is_type("text") && param(&params, "charset").is_none() {
            params.push(Param {
                name: "charset".into(),
                value: b"us-ascii".to_vec(),
            });
        }
        let fields = BodyFields {
            media_type: ct.media_type.clone(),
            subtype: ct.subtype.clone(),
            params,
            id: h.first_unfolded("Content-ID"),
            description: h.first_unfolded("Content-Description"),
            encoding: part.transfer_encoding(data),
            size: part.body.crlf_len(),
        };
        let ext = Extension {
            md5: h.first("Content-MD5").map(unfold),
            disposition,
            language,
            location,
        };
        match &part.kind {
            PartKind::Message(inner) => BodyStructure::Message {
                fields,
                envelope: Box::new(Envelope::from_header(&inner.header(data))),
                body: Box::new(BodyStructure::build(data, inner)),
                lines: part.body_lines,
                ext,
            },
            _ if ct.is_type("text") => BodyStructure::Text {
                fields,
                lines: part.body_lines,
                ext,
            },
            _ => BodyStructure::Basic { fields, ext },
        }
    }

    fn empty_text() -> BodyStructure {
        BodyStructure::Text {
            fields: BodyFields {
                media_type: "text".into(),
                subtype: "plain".into(),
                params: vec![Param {
                    name: "charset".into(),
                    value: b"us-ascii".to_vec(),
                }],
                id: None,
                description: None,
                encoding: "7bit".into(),
                size: 0,
            },
            lines: 0,
            ext: Extension::default(),
        }
    }

    /// The body fields of a non-multipart body.
    pub fn fields(&self) -> Option<&BodyFields> {
        match self {
            BodyStructure::Basic { fields, .. }
            | BodyStructure::Text { fields, .. }
            | BodyStructure::Message { fields, .. } => Some(fields),
            BodyStructure::Multipart { .. } => None,
        }
    }
}
