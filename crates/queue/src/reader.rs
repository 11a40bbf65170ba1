//! Reading a queue file, trusting nothing in it.
//!
//! [`open`] (or [`read`] for any seekable stream) makes one pass over the
//! whole file and checks every record: the framing (see [`crate::record`]),
//! that the type is known and allowed in its segment, that single records
//! are single and required ones present, that DSN/original-recipient
//! records are followed by their recipient, that the segments come in
//! order and the end record last with nothing after it, and that the size
//! record agrees with the file. Any failure is a [`FormatError`]; nothing
//! here panics on any input. The content is not kept: [`QueueFile::content`]
//! streams it again afterwards, checking it again as it goes.

use crate::error::{FormatError, QueueError};
use crate::model::{
    attr, DsnNotify, DsnRet, Envelope, Extracted, Recipient, SizeRecord, Timestamp,
};
use crate::record::{RawRecord, RecordReader, RecordType as T};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A validated queue file: envelope and extracted information in memory,
/// the content left in the file.
#[derive(Debug)]
pub struct QueueFile<R> {
    pub envelope: Envelope,
    pub extracted: Extracted,
    pub size: SizeRecord,
    source: R,
}

/// Opens and validates the queue file at `path`.
pub fn open(path: &Path) -> Result<QueueFile<File>, QueueError> {
    let f = File::open(path).map_err(|e| QueueError::io(format!("open {}", path.display()), e))?;
    read(f)
}

/// Validates the queue file in `source` (read from its start).
pub fn read<R: Read + Seek>(mut source: R) -> Result<QueueFile<R>, QueueError> {
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| QueueError::io("seek queue file", e))?;
    let (envelope, extracted, size) = {
        let mut rr = RecordReader::new(BufReader::new(&mut source), 0);
        parse(&mut rr)?
    };
    Ok(QueueFile {
        envelope,
        extracted,
        size,
        source,
    })
}

impl<R> QueueFile<R> {
    /// The body's declared encoding: an `encoding` attribute in the
    /// extracted segment (cleanup found `Content-Transfer-Encoding: 8bit`
    /// in a MIME part's header after the envelope went out, as Postfix
    /// writes it there) overrides the envelope's.
    pub fn encoding(&self) -> Option<crate::model::Encoding> {
        self.extracted
            .attrs
            .iter()
            .rev()
            .find(|(n, _)| n == crate::model::attr::ENCODING)
            .and_then(|(_, v)| crate::model::Encoding::parse(v))
            .or(self.envelope.attrs.encoding)
    }

    /// A queue file already validated, its content in `source`.
    pub(crate) fn from_parts(
        envelope: Envelope,
        extracted: Extracted,
        size: SizeRecord,
        source: R,
    ) -> QueueFile<R> {
        QueueFile {
            envelope,
            extracted,
            size,
            source,
        }
    }
}

/// Validates a queue file held in memory.
pub fn read_bytes(bytes: &[u8]) -> Result<QueueFile<std::io::Cursor<&[u8]>>, QueueError> {
    read(std::io::Cursor::new(bytes))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment {
    Envelope,
    Content,
    Extracted,
}

impl Segment {
    fn name(self) -> &'static str {
        match self {
            Segment::Envelope => "envelope",
            Segment::Content => "content",
            Segment::Extracted => "extracted",
        }
    }
}

/// DSN and original-recipient records waiting for their recipient.
#[derive(Default)]
struct PendingRcpt {
    dsn_orcpt: Option<String>,
    dsn_notify: Option<DsnNotify>,
    original: Option<String>,
    first_offset: Option<u64>,
}

fn text(rec: &RawRecord) -> Result<String, FormatError> {
    let bad = |why: &str| FormatError::BadPayload {
        offset: rec.offset,
        rtype: rec.rtype,
        why: why.to_string(),
    };
    if rec.payload.contains(&0) {
        return Err(bad("NUL byte"));
    }
    String::from_utf8(rec.payload.clone()).map_err(|_| bad("not UTF-8"))
}

fn number(rec: &RawRecord) -> Result<u64, FormatError> {
    let s = text(rec)?;
    let t = s.trim_start_matches(' ');
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FormatError::BadPayload {
            offset: rec.offset,
            rtype: rec.rtype,
            why: format!("not a number: {s:?}"),
        });
    }
    t.parse().map_err(|_| FormatError::BadPayload {
        offset: rec.offset,
        rtype: rec.rtype,
        why: format!("number out of range: {s:?}"),
    })
}

fn name_value(rec: &RawRecord) -> Result<(String, String), FormatError> {
    let s = text(rec)?;
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err(FormatError::BadPayload {
            offset: rec.offset,
            rtype: rec.rtype,
            why: "attribute without name=value".into(),
        }),
    }
}

fn once<V>(
    slot: &mut Option<V>,
    value: V,
    rec: &RawRecord,
    seg: Segment,
) -> Result<(), FormatError> {
    if slot.is_some() {
        return Err(FormatError::Misplaced {
            offset: rec.offset,
            rtype: rec.rtype,
            segment: seg.name(),
        });
    }
    *slot = Some(value);
    Ok(())
}

fn parse<R: Read>(
    rr: &mut RecordReader<R>,
) -> Result<(Envelope, Extracted, SizeRecord), QueueError> {
    let mut env = Envelope::default();
    let mut ext = Extracted::default();
    let mut size: Option<SizeRecord> = None;
    let mut time: Option<Timestamp> = None;
    let mut sender: Option<String> = None;
    let mut fullname = None;
    let mut warn = None;
    let mut ret = None;
    let mut envid = None;
    let mut verp = None;
    let mut create = None;
    let mut rrto = None;
    let mut erto = None;
    let mut pending = PendingRcpt::default();
    let mut seg = Segment::Envelope;
    let mut data_offset = 0u64;
    let mut xtra_offset = 0u64;
    let mut content_length = 0u64;
    let mut rcpt_count = 0u64;
    let mut ended = false;

    while let Some(rec) = rr.next_record()? {
        if ended {
            return Err(FormatError::TrailingData { offset: rec.offset }.into());
        }
        let misplaced = || FormatError::Misplaced {
            offset: rec.offset,
            rtype: rec.rtype,
            segment: seg.name(),
        };
        let Some(rtype) = T::from_byte(rec.rtype) else {
            return Err(FormatError::UnknownType {
                offset: rec.offset,
                rtype: rec.rtype,
            }
            .into());
        };
        let empty = |rec: &RawRecord| {
            if rec.payload.is_empty() {
                Ok(())
            } else {
                Err(FormatError::BadPayload {
                    offset: rec.offset,
                    rtype: rec.rtype,
                    why: "marker record with a payload".into(),
                })
            }
        };
        // The size record comes first and only first.
        if size.is_none() {
            if rtype != T::Size {
                return Err(FormatError::Missing {
                    what: "message_size (first)",
                }
                .into());
            }
            let s = text(&rec)?;
            size = Some(
                SizeRecord::parse(&s).ok_or_else(|| FormatError::BadPayload {
                    offset: rec.offset,
                    rtype: rec.rtype,
                    why: format!("bad size record: {s:?}"),
                })?,
            );
            continue;
        }
        match (seg, rtype) {
            (Segment::Content, T::Norm) => content_length += rec.payload.len() as u64 + 1,
            (Segment::Content, T::Cont) => content_length += rec.payload.len() as u64,
            (Segment::Content, T::Xtra) => {
                empty(&rec)?;
                xtra_offset = rec.offset;
                seg = Segment::Extracted;
            }
            (Segment::Content, _) => return Err(misplaced().into()),
            (Segment::Envelope | Segment::Extracted, T::DsnOrcpt) => {
                pending.first_offset.get_or_insert(rec.offset);
                once(&mut pending.dsn_orcpt, text(&rec)?, &rec, seg)?;
            }
            (Segment::Envelope | Segment::Extracted, T::DsnNotify) => {
                pending.first_offset.get_or_insert(rec.offset);
                let n = number(&rec)?;
                let n = u8::try_from(n)
                    .ok()
                    .map(DsnNotify)
                    .filter(|n| n.is_valid())
                    .ok_or_else(|| FormatError::BadPayload {
                        offset: rec.offset,
                        rtype: rec.rtype,
                        why: format!("bad notify mask {n}"),
                    })?;
                once(&mut pending.dsn_notify, n, &rec, seg)?;
            }
            (Segment::Envelope | Segment::Extracted, T::Orcp) => {
                pending.first_offset.get_or_insert(rec.offset);
                once(&mut pending.original, text(&rec)?, &rec, seg)?;
            }
            (Segment::Envelope | Segment::Extracted, T::Rcpt | T::Done) => {
                let p = std::mem::take(&mut pending);
                let r = Recipient {
                    address: text(&rec)?,
                    original: p.original,
                    dsn_orcpt: p.dsn_orcpt,
                    dsn_notify: p.dsn_notify,
                    done: rtype == T::Done,
                    offset: rec.offset,
                };
                rcpt_count += 1;
                if seg == Segment::Envelope {
                    env.recipients.push(r);
                } else {
                    ext.recipients.push(r);
                }
            }
            (_, T::Mesg | T::End) if pending.first_offset.is_some() => {
                return Err(FormatError::Dangling {
                    offset: pending.first_offset.unwrap_or(rec.offset),
                }
                .into());
            }
            (Segment::Envelope, T::Time) => {
                let s = text(&rec)?;
                let bad = || FormatError::BadPayload {
                    offset: rec.offset,
                    rtype: rec.rtype,
                    why: format!("bad time: {s:?}"),
                };
                let (a, b) = s.split_once(' ').ok_or_else(bad)?;
                let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
                if !digits(a) || !digits(b) {
                    return Err(bad().into());
                }
                let sec = a.parse().map_err(|_| bad())?;
                let usec: u32 = b.parse().map_err(|_| bad())?;
                if usec >= 1_000_000 {
                    return Err(bad().into());
                }
                once(&mut time, Timestamp { sec, usec }, &rec, seg)?;
            }
            (Segment::Envelope, T::FullName) => once(&mut fullname, text(&rec)?, &rec, seg)?,
            (Segment::Envelope, T::From) => once(&mut sender, text(&rec)?, &rec, seg)?,
            (Segment::Envelope, T::Warn) => once(&mut warn, number(&rec)?, &rec, seg)?,
            (Segment::Envelope, T::DsnRet) => {
                let n = number(&rec)?;
                let r = DsnRet::from_code(n).ok_or_else(|| FormatError::BadPayload {
                    offset: rec.offset,
                    rtype: rec.rtype,
                    why: format!("bad DSN RET {n}"),
                })?;
                once(&mut ret, r, &rec, seg)?;
            }
            (Segment::Envelope, T::DsnEnvid) => once(&mut envid, text(&rec)?, &rec, seg)?,
            (Segment::Envelope, T::Verp) => {
                let v = text(&rec)?;
                if !crate::model::verp_delimiters_valid(&v) {
                    return Err(FormatError::BadPayload {
                        offset: rec.offset,
                        rtype: rec.rtype,
                        why: format!("bad VERP delimiters {v:?}"),
                    }
                    .into());
                }
                once(&mut verp, v, &rec, seg)?;
            }
            (Segment::Envelope, T::Attr) => {
                let (n, v) = name_value(&rec)?;
                if n == attr::CREATE_TIME {
                    let t = v
                        .parse::<u64>()
                        .ok()
                        .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| FormatError::BadPayload {
                            offset: rec.offset,
                            rtype: rec.rtype,
                            why: format!("bad create_time {v:?}"),
                        })?;
                    once(&mut create, t, &rec, seg)?;
                } else {
                    env.attrs
                        .set(&n, v)
                        .map_err(|why| FormatError::BadPayload {
                            offset: rec.offset,
                            rtype: rec.rtype,
                            why,
                        })?;
                }
            }
            (Segment::Envelope, T::Mesg) => {
                empty(&rec)?;
                data_offset = rr.offset();
                seg = Segment::Content;
            }
            (Segment::Extracted, T::Rrto) => once(&mut rrto, text(&rec)?, &rec, seg)?,
            (Segment::Extracted, T::Erto) => once(&mut erto, text(&rec)?, &rec, seg)?,
            (Segment::Extracted, T::Attr) => ext.attrs.push(name_value(&rec)?),
            (Segment::Extracted, T::End) => {
                empty(&rec)?;
                ended = true;
            }
            _ => return Err(misplaced().into()),
        }
    }
    if !ended {
        return Err(FormatError::NoEnd.into());
    }
    let size = size.ok_or(FormatError::Missing {
        what: "message_size",
    })?;
    env.arrival = time.ok_or(FormatError::Missing {
        what: "message_arrival_time",
    })?;
    env.sender = sender.ok_or(FormatError::Missing { what: "sender" })?;
    env.fullname = fullname;
    env.warn_time = warn;
    env.dsn_ret = ret;
    env.dsn_envid = envid;
    env.verp_delimiters = verp;
    env.create_time = create;
    env.smtputf8 = size.smtputf8 & 1 != 0;
    ext.return_receipt = rrto;
    ext.errors_to = erto;
    let checks = [
        ("data_offset", size.data_offset, data_offset),
        ("data_size", size.data_size, xtra_offset - data_offset),
        ("rcpt_count", size.rcpt_count, rcpt_count),
        ("content_length", size.content_length, content_length),
    ];
    for (field, recorded, actual) in checks {
        if recorded != actual {
            return Err(FormatError::SizeMismatch {
                field,
                recorded,
                actual,
            }
            .into());
        }
    }
    Ok((env, ext, size))
}

/// A piece of message text: a whole line, or part of a long one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPiece {
    pub data: Vec<u8>,
    /// The line ends after this piece (`N`); false for `L`.
    pub end_of_line: bool,
}

/// The message content, streamed from the file, piece by piece.
pub struct Content<'a, R: Read> {
    rr: RecordReader<BufReader<&'a mut R>>,
    done: bool,
}

impl<R: Read> Iterator for Content<'_, R> {
    type Item = Result<TextPiece, QueueError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rec = match self.rr.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                self.done = true;
                return Some(Err(FormatError::NoEnd.into()));
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e.into()));
            }
        };
        match T::from_byte(rec.rtype) {
            Some(T::Norm) | Some(T::Cont) => Some(Ok(TextPiece {
                end_of_line: rec.rtype == T::Norm.byte(),
                data: rec.payload,
            })),
            Some(T::Xtra) => {
                self.done = true;
                None
            }
            _ => {
                self.done = true;
                Some(Err(FormatError::Misplaced {
                    offset: rec.offset,
                    rtype: rec.rtype,
                    segment: "content",
                }
                .into()))
            }
        }
    }
}

impl<R: Read + Seek> QueueFile<R> {
    /// Streams the content: the text pieces in order.
    pub fn content(&mut self) -> Result<Content<'_, R>, QueueError> {
        let off = self.size.data_offset;
        self.source
            .seek(SeekFrom::Start(off))
            .map_err(|e| QueueError::io("seek queue file", e))?;
        Ok(Content {
            rr: RecordReader::new(BufReader::new(&mut self.source), off),
            done: false,
        })
    }

    /// Writes the content to `out`, each line ended with `eol` (b"\n" or
    /// b"\r\n"); a last line that had no line end gets none. Returns the
    /// number of bytes written.
    pub fn copy_content<W: Write>(&mut self, out: &mut W, eol: &[u8]) -> Result<u64, QueueError> {
        let mut n = 0u64;
        for piece in self.content()? {
            let piece = piece?;
            out.write_all(&piece.data)
                .map_err(|e| QueueError::io("write message content", e))?;
            n += piece.data.len() as u64;
            if piece.end_of_line {
                out.write_all(eol)
                    .map_err(|e| QueueError::io("write message content", e))?;
                n += eol.len() as u64;
            }
        }
        Ok(n)
    }

    /// The whole content in memory, lines ended with `eol` (for small
    /// messages and tests).
    pub fn content_bytes(&mut self, eol: &[u8]) -> Result<Vec<u8>, QueueError> {
        let mut v = Vec::new();
        self.copy_content(&mut v, eol)?;
        Ok(v)
    }

    /// All recipients, envelope then extracted.
    pub fn recipients(&self) -> impl Iterator<Item = &Recipient> {
        self.envelope
            .recipients
            .iter()
            .chain(&self.extracted.recipients)
    }

    /// Gives back the underlying stream.
    pub fn into_inner(self) -> R {
        self.source
    }
}
