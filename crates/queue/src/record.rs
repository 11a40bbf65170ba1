//! Records: one type byte, the payload length as a varint, the payload.
//!
//! The varint is LEB128, as Postfix's `rec_put()` writes it: seven bits at a
//! time, least significant group first, the high bit set on every byte but
//! the last. A reader takes at most [`MAX_VARINT_BYTES`] bytes of it and
//! refuses a length above [`MAX_RECORD_LEN`], so a corrupt or hostile file
//! can neither overflow the length nor make us allocate without bound.
//!
//! [`RecordReader`] reads records of any type (postcat shows unknown ones);
//! which types may appear where is checked by [`crate::reader`].

use std::fmt;
use std::io::{self, Read, Write};

/// Largest payload a reader accepts.
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// Longest length varint: 5 × 7 bits cover [`MAX_RECORD_LEN`] and more.
pub const MAX_VARINT_BYTES: usize = 5;

/// The record types mailsuite writes, with Postfix's letters (`rec_type.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `C` message size, offsets and counts; first record, fixed width.
    Size,
    /// `T` arrival time, "seconds microseconds".
    Time,
    /// `F` sender full name.
    FullName,
    /// `S` envelope sender ("" for the null sender).
    From,
    /// `R` recipient still to be delivered.
    Rcpt,
    /// `D` recipient done (an `R` whose type byte was overwritten).
    Done,
    /// `O` original recipient (before alias/virtual rewriting).
    Orcp,
    /// `W` time of the next delay warning, fixed width, updated in place.
    Warn,
    /// `A` named attribute, "name=value".
    Attr,
    /// `<` DSN RET: 1 = FULL, 2 = HDRS.
    DsnRet,
    /// `i` DSN ENVID.
    DsnEnvid,
    /// `o` DSN ORCPT of the next recipient ("rfc822;addr").
    DsnOrcpt,
    /// `n` DSN NOTIFY of the next recipient (mask: 1 NEVER, 2 SUCCESS, 4 FAILURE, 8 DELAY).
    DsnNotify,
    /// `V` VERP delimiters: two punctuation characters.
    Verp,
    /// `M` start of the message content.
    Mesg,
    /// `N` a text line that ends here (stored without its CRLF/LF).
    Norm,
    /// `L` a piece of a text line that the next text record continues.
    Cont,
    /// `X` start of the extracted information.
    Xtra,
    /// `r` return-receipt address, from headers.
    Rrto,
    /// `e` errors-to address, from headers.
    Erto,
    /// `E` end of the file.
    End,
}

impl RecordType {
    /// All of them.
    pub const ALL: [RecordType; 21] = [
        RecordType::Size,
        RecordType::Time,
        RecordType::FullName,
        RecordType::From,
        RecordType::Rcpt,
        RecordType::Done,
        RecordType::Orcp,
        RecordType::Warn,
        RecordType::Attr,
        RecordType::DsnRet,
        RecordType::DsnEnvid,
        RecordType::DsnOrcpt,
        RecordType::DsnNotify,
        RecordType::Verp,
        RecordType::Mesg,
        RecordType::Norm,
        RecordType::Cont,
        RecordType::Xtra,
        RecordType::Rrto,
        RecordType::Erto,
        RecordType::End,
    ];

    /// The type byte.
    pub fn byte(self) -> u8 {
        match self {
            RecordType::Size => b'C',
            RecordType::Time => b'T',
            RecordType::FullName => b'F',
            RecordType::From => b'S',
            RecordType::Rcpt => b'R',
            RecordType::Done => b'D',
            RecordType::Orcp => b'O',
            RecordType::Warn => b'W',
            RecordType::Attr => b'A',
            RecordType::DsnRet => b'<',
            RecordType::DsnEnvid => b'i',
            RecordType::DsnOrcpt => b'o',
            RecordType::DsnNotify => b'n',
            RecordType::Verp => b'V',
            RecordType::Mesg => b'M',
            RecordType::Norm => b'N',
            RecordType::Cont => b'L',
            RecordType::Xtra => b'X',
            RecordType::Rrto => b'r',
            RecordType::Erto => b'e',
            RecordType::End => b'E',
        }
    }

    /// The type for a byte, if it is one mailsuite knows.
    pub fn from_byte(b: u8) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.byte() == b)
    }
}

/// Postfix's `rec_type_name()`: the label postcat prints for a type byte.
/// `L` is both "content_filter" (envelope) and "unterminated_text"
/// (content); like Postfix, this answers the first.
pub fn type_name(b: u8) -> &'static str {
    match b {
        b'C' => "message_size",
        b'T' => "message_arrival_time",
        b'c' => "queue_file_create_time",
        b'F' => "sender_fullname",
        b'I' => "content_inspector",
        b'L' => "content_filter",
        b'S' => "sender",
        b'D' => "done_recipient",
        b'/' => "canceled_recipient",
        b'R' => "recipient",
        b'O' => "original_recipient",
        b'W' => "warning_message_time",
        b'A' => "named_attribute",
        b'p' => "pointer_record",
        b'K' => "killed_record",
        b'M' => "message_content",
        b'N' => "regular_text",
        b'w' => "padding",
        b'X' => "extracted_info",
        b'r' => "return_receipt",
        b'e' => "errors_to",
        b'P' => "priority",
        b'V' => "verp_delimiters",
        b'E' => "message_end",
        b'>' => "redirect_to",
        b'f' => "flags",
        b'<' => "dsn_return_flags",
        b'i' => "dsn_envelope_id",
        b'o' => "dsn_original_recipient",
        b'n' => "dsn_notify_flags",
        _ => "unknown_record_type",
    }
}

/// Postfix's REC_TYPE_ENVELOPE: the types its readers accept before `M`.
pub const POSTFIX_ENVELOPE_TYPES: &[u8] = b"MCTcFILSDRO/WVA>K<ion";

/// A record's framing is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The file ends inside a record (in the type, length or payload).
    Truncated { offset: u64 },
    /// The length varint is longer than [`MAX_VARINT_BYTES`].
    BadLength { offset: u64 },
    /// The length is above [`MAX_RECORD_LEN`].
    TooLong { offset: u64, len: u64 },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { offset } => write!(f, "truncated record at offset {offset}"),
            RecordError::BadLength { offset } => {
                write!(f, "malformed record length at offset {offset}")
            }
            RecordError::TooLong { offset, len } => write!(
                f,
                "record at offset {offset} too long: {len} bytes (limit {MAX_RECORD_LEN})"
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// Appends the LEB128 encoding of `len` to `out`.
pub fn put_varint(out: &mut Vec<u8>, len: usize) {
    let (head, n) = header(0, len);
    out.extend_from_slice(&head[1..n]);
}

/// A record's type byte and length varint (LEB128, at most
/// [`MAX_VARINT_BYTES`] bytes: lengths up to 2^35 - 1), on the stack: the
/// bytes and how many of them count.
pub fn header(rtype: u8, len: usize) -> ([u8; 1 + MAX_VARINT_BYTES], usize) {
    let mut out = [0u8; 1 + MAX_VARINT_BYTES];
    out[0] = rtype;
    let mut n = 1;
    let mut len = len;
    while n < out.len() {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out[n] = byte;
            return (out, n + 1);
        }
        out[n] = byte | 0x80;
        n += 1;
    }
    (out, n)
}

/// One record, framed: type byte, varint length, payload.
pub fn encode(rtype: u8, payload: &[u8]) -> Vec<u8> {
    let (head, n) = header(rtype, payload.len());
    let mut out = Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
    out
}

/// Writes one record; returns how many bytes it took.
pub fn write_record<W: Write>(w: &mut W, rtype: u8, payload: &[u8]) -> io::Result<u64> {
    let bytes = encode(rtype, payload);
    w.write_all(&bytes)?;
    Ok(bytes.len() as u64)
}

/// A record as read: where it starts, its type byte, its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset: u64,
    pub rtype: u8,
    pub payload: Vec<u8>,
}

/// A failure reading records: I/O or framing.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Record(RecordError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read error: {e}"),
            ReadError::Record(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads framed records one at a time from any byte stream.
pub struct RecordReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> RecordReader<R> {
    /// Reads from `inner`, whose current position is byte `offset` of the file.
    pub fn new(inner: R, offset: u64) -> RecordReader<R> {
        RecordReader { inner, offset }
    }

    /// The offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The underlying stream.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn byte(&mut self) -> Result<Option<u8>, io::Error> {
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => return Ok(Some(b[0])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next record, None at a clean end of input (between records).
    pub fn next_record(&mut self) -> Result<Option<RawRecord>, ReadError> {
        let start = self.offset;
        let truncated = || ReadError::Record(RecordError::Truncated { offset: start });
        let Some(rtype) = self.byte().map_err(ReadError::Io)? else {
            return Ok(None);
        };
        let mut len: u64 = 0;
        let mut used = 0;
        loop {
            let b = self.byte().map_err(ReadError::Io)?.ok_or_else(truncated)?;
            used += 1;
            len |= u64::from(b & 0x7f) << (7 * (used - 1));
            if b & 0x80 == 0 {
                break;
            }
            if used >= MAX_VARINT_BYTES {
                return Err(ReadError::Record(RecordError::BadLength { offset: start }));
            }
        }
        if len > MAX_RECORD_LEN as u64 {
            return Err(ReadError::Record(RecordError::TooLong {
                offset: start,
                len,
            }));
        }
        let mut payload = vec![0u8; len as usize];
        let mut got = 0;
        while got < payload.len() {
            match self.inner.read(&mut payload[got..]) {
                Ok(0) => return Err(truncated()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        self.offset = start + 1 + used as u64 + len;
        Ok(Some(RawRecord {
            offset: start,
            rtype,
            payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, MAX_RECORD_LEN] {
            let payload = vec![b'x'; len];
            let bytes = encode(b'N', &payload);
            let mut r = RecordReader::new(&bytes[..], 0);
            let rec = r.next_record().unwrap().unwrap();
            assert_eq!(rec.payload.len(), len);
            assert_eq!(r.offset(), bytes.len() as u64);
            assert!(r.next_record().unwrap().is_none());
        }
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
    }

    #[test]
    fn bounds_are_enforced() {
        let too_long = [b'N', 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            RecordReader::new(&too_long[..], 0).next_record(),
            Err(ReadError::Record(RecordError::BadLength { .. }))
        ));
        let big = [b'N', 0x80, 0x80, 0x80, 0x01];
        assert!(matches!(
            RecordReader::new(&big[..], 0).next_record(),
            Err(ReadError::Record(RecordError::TooLong { .. }))
        ));
        let short = [b'N', 0x05, b'a'];
        assert!(matches!(
            RecordReader::new(&short[..], 0).next_record(),
            Err(ReadError::Record(RecordError::Truncated { offset: 0 }))
        ));
    }

    #[test]
    fn letters_are_postfix_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for t in RecordType::ALL {
            assert!(seen.insert(t.byte()));
            assert_eq!(RecordType::from_byte(t.byte()), Some(t));
            assert_ne!(type_name(t.byte()), "unknown_record_type");
        }
    }
}
