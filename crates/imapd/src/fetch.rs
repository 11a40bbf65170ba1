//! FETCH: one message's data items as IMAP values — FLAGS, UID,
//! INTERNALDATE, RFC822.SIZE, MODSEQ straight from the mailbox; ENVELOPE,
//! BODYSTRUCTURE, BODY, BODY[section]<partial>, RFC822.*, BINARY[…]
//! from the message parsed by the mime crate (read only when an item
//! needs it).

use imap_proto::{DateTime, FetchAttr, Flag, Value};
use mailbox::imap::ImapMessage;
use mailbox::store::Flags;
use mime::{Address, BodyFields, BodyStructure, Envelope, Extension, Message, Param, Partial};
use std::borrow::Cow;

/// The IMAP flags of a message (`\Recent` for IMAP4rev1 sessions).
pub fn flags_of(m: &ImapMessage, rev1: bool) -> Vec<Flag> {
    let mut v = Vec::new();
    for (f, flag) in [
        (Flags::REPLIED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::TRASHED, Flag::Deleted),
        (Flags::SEEN, Flag::Seen),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if m.flags.contains(f) {
            v.push(flag);
        }
    }
    if m.flags.contains(Flags::PASSED) {
        v.push(Flag::Keyword("$Forwarded".into()));
    }
    v.extend(
        m.keywords
            .iter()
            .filter(|k| !k.eq_ignore_ascii_case("$Forwarded"))
            .map(|k| Flag::Keyword(k.clone())),
    );
    if rev1 && m.recent {
        v.push(Flag::Recent);
    }
    v
}

/// System flags and keywords from a STORE/APPEND flag list.
pub fn split_flags(list: &[Flag]) -> (Flags, Vec<String>) {
    let mut f = Flags::NONE;
    let mut kw = Vec::new();
    for flag in list {
        match flag {
            Flag::Seen => f = f.union(Flags::SEEN),
            Flag::Answered => f = f.union(Flags::REPLIED),
            Flag::Flagged => f = f.union(Flags::FLAGGED),
            Flag::Deleted => f = f.union(Flags::TRASHED),
            Flag::Draft => f = f.union(Flags::DRAFT),
            Flag::Keyword(k) if k.eq_ignore_ascii_case("$Forwarded") => f = f.union(Flags::PASSED),
            Flag::Keyword(k) => {
                if !kw.contains(k) {
                    kw.push(k.clone())
                }
            }
            // \Recent and unknown system flags cannot be set.
            Flag::Recent | Flag::Wildcard | Flag::Extension(_) => {}
        }
    }
    (f, kw)
}

/// Whether any of `items` needs the message's content.
pub fn needs_content(items: &[FetchAttr]) -> bool {
    items.iter().any(|i| {
        !matches!(
            i,
            FetchAttr::Flags
                | FetchAttr::Uid
                | FetchAttr::InternalDate
                | FetchAttr::Rfc822Size
                | FetchAttr::ModSeq
        )
    })
}

fn s(v: &Option<Vec<u8>>) -> Value<'static> {
    match v {
        Some(b) => Value::String(Cow::Owned(b.clone())),
        None => Value::Nil,
    }
}

fn text(v: &str) -> Value<'static> {
    Value::String(Cow::Owned(v.as_bytes().to_vec()))
}

fn addresses(list: &[Address]) -> Value<'static> {
    if list.is_empty() {
        return Value::Nil;
    }
    Value::List(
        list.iter()
            .map(|a| Value::List(vec![s(&a.name), s(&a.adl), s(&a.mailbox), s(&a.host)]))
            .collect(),
    )
}

pub fn envelope(e: &Envelope) -> Value<'static> {
    Value::List(vec![
        s(&e.date),
        s(&e.subject),
        addresses(&e.from),
        addresses(&e.sender),
        addresses(&e.reply_to),
        addresses(&e.to),
        addresses(&e.cc),
        addresses(&e.bcc),
        s(&e.in_reply_to),
        s(&e.message_id),
    ])
}

fn params(p: &[Param]) -> Value<'static> {
    if p.is_empty() {
        return Value::Nil;
    }
    Value::List(
        p.iter()
            .flat_map(|p| {
                [
                    text(&p.name.to_ascii_lowercase()),
                    Value::String(Cow::Owned(p.value.clone())),
                ]
            })
            .collect(),
    )
}

fn fields(f: &BodyFields) -> Vec<Value<'static>> {
    vec![
        text(&f.media_type),
        text(&f.subtype),
        params(&f.params),
        s(&f.id),
        s(&f.description),
        text(&f.encoding),
        Value::Number(f.size),
    ]
}

fn disposition(d: &Option<mime::Disposition>) -> Value<'static> {
    match d {
        Some(d) => Value::List(vec![text(&d.kind), params(&d.params)]),
        None => Value::Nil,
    }
}

fn language(l: &[String]) -> Value<'static> {
    match l {
        [] => Value::Nil,
        [one] => text(one),
        many => Value::List(many.iter().map(|x| text(x)).collect()),
    }
}

fn extension(e: &Extension) -> Vec<Value<'static>> {
    vec![
        s(&e.md5),
        disposition(&e.disposition),
        language(&e.language),
        s(&e.location),
    ]
}

/// BODYSTRUCTURE (`extended`) or BODY.
pub fn body_structure(b: &BodyStructure, extended: bool) -> Value<'static> {
    match b {
        BodyStructure::Basic { fields: f, ext } => {
            let mut v = fields(f);
            if extended {
                v.extend(extension(ext));
            }
            Value::List(v)
        }
        BodyStructure::Text {
            fields: f,
            lines,
            ext,
        } => {
            let mut v = fields(f);
            v.push(Value::Number(*lines));
            if extended {
                v.extend(extension(ext));
            }
            Value::List(v)
        }
        BodyStructure::Message {
            fields: f,
            envelope: e,
            body,
            lines,
            ext,
        } => {
            let mut v = fields(f);
            v.push(envelope(e));
            v.push(body_structure(body, extended));
            v.push(Value::Number(*lines));
            if extended {
                v.extend(extension(ext));
            }
            Value::List(v)
        }
        BodyStructure::Multipart {
            parts,
            subtype,
            params: p,
            disposition: d,
            language: l,
            location,
        } => {
            // The parts with no space between them, as the grammar says.
            let mut v = vec![Value::Run(
                parts.iter().map(|x| body_structure(x, extended)).collect(),
            )];
            v.push(text(subtype));
            if extended {
                v.push(params(p));
                v.push(disposition(d));
                v.push(language(l));
                v.push(s(location));
            }
            Value::List(v)
        }
    }
}

fn mime_section(sec: &imap_proto::Section) -> mime::Section {
    use imap_proto::SectionText as I;
    use mime::SectionText as M;
    let text = match &sec.text {
        None => M::Full,
        Some(I::Header) => M::Header,
        Some(I::HeaderFields(v)) => M::HeaderFields(v.clone()),
        Some(I::HeaderFieldsNot(v)) => M::HeaderFieldsNot(v.clone()),
        Some(I::Text) => M::Text,
        Some(I::Mime) => M::Mime,
    };
    mime::Section::new(&sec.part, text)
}

fn partial(p: Option<(u32, u32)>) -> Option<Partial> {
    p.map(|(o, c)| Partial {
        origin: u64::from(o),
        count: u64::from(c),
    })
}

/// A part's content with its transfer encoding undone (BINARY).
fn binary(m: &Message<'_>, part: &[u32]) -> Option<Vec<u8>> {
    if part.is_empty() {
        return Some(mime::to_crlf(m.data()).into_owned());
    }
    let p = m.part(part).ok()?;
    let raw = &m.data()[p.body.range()];
    Some(mime::transfer_decode(&p.transfer_encoding(m.data()), raw))
}

/// What the message-independent items need.
pub struct Meta<'a> {
    pub msg: &'a ImapMessage,
    pub rev1: bool,
    pub internal_date: i64,
    pub size: u64,
    /// The message's mod-sequence (RFC 7162).
    pub modseq: u64,
}

/// The items of one FETCH response, in the order asked.
pub fn items(
    asked: &[FetchAttr],
    meta: &Meta<'_>,
    content: Option<&[u8]>,
) -> Vec<(Cow<'static, str>, Value<'static>)> {
    let parsed = content.map(Message::parse);
    let mut out = Vec::with_capacity(asked.len());
    for a in asked {
        let name: Cow<'static, str> = Cow::Owned(a.response_name());
        let v = match a {
            FetchAttr::Flags => Value::flags(&flags_of(meta.msg, meta.rev1)),
            FetchAttr::Uid => Value::Number(u64::from(meta.msg.uid)),
            FetchAttr::InternalDate => match DateTime::from_unix(meta.internal_date, 0) {
                Some(d) => Value::date_time(&d),
                None => Value::Nil,
            },
            FetchAttr::Rfc822Size => Value::Number(meta.size),
            FetchAttr::ModSeq => Value::List(vec![Value::Number(meta.modseq)]),
            other => match &parsed {
                None => Value::Nil,
                Some(m) => content_item(other, m),
            },
        };
        out.push((name, v));
    }
    out
}

fn content_item(a: &FetchAttr, m: &Message<'_>) -> Value<'static> {
    use mime::SectionText as M;
    let section = |t: M| {
        m.fetch(&mime::Section::new(&[], t), None)
            .unwrap_or_default()
    };
    match a {
        FetchAttr::Envelope => envelope(&m.envelope()),
        FetchAttr::BodyStructure => body_structure(&m.body_structure(), true),
        FetchAttr::Body => body_structure(&m.body_structure(), false),
        FetchAttr::Rfc822 => Value::Literal(Cow::Owned(section(M::Full))),
        FetchAttr::Rfc822Header => Value::Literal(Cow::Owned(section(M::Header))),
        FetchAttr::Rfc822Text => Value::Literal(Cow::Owned(section(M::Text))),
        FetchAttr::BodySection {
            section: sec,
            partial: p,
            ..
        } => match m.fetch(&mime_section(sec), partial(*p)) {
            Ok(bytes) => Value::Literal(Cow::Owned(bytes)),
            // A part that does not exist reads as empty (RFC 9051 6.4.5).
            Err(_) => Value::String(Cow::Borrowed(b"")),
        },
        FetchAttr::Binary {
            part, partial: p, ..
        } => match binary(m, part) {
            Some(bytes) => {
                let bytes = match partial(*p) {
                    Some(p) => mime::apply_partial(&bytes, p).to_vec(),
                    None => bytes,
                };
                Value::Literal8(Cow::Owned(bytes))
            }
            None => Value::Nil,
        },
        FetchAttr::BinarySize { part } => match binary(m, part) {
            Some(b) => Value::Number(b.len() as u64),
            None => Value::Nil,
        },
        FetchAttr::Flags
        | FetchAttr::Uid
        | FetchAttr::InternalDate
        | FetchAttr::Rfc822Size
        | FetchAttr::ModSeq => Value::Nil,
    }
}
