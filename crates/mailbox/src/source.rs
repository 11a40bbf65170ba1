//! Where the message comes from: a [`MessageSource`] yields it as text
//! pieces, each a whole line or a part of one (the queue stores lines over
//! 2048 bytes as several records), so a delivery can rebuild long lines
//! without holding the message in memory.
//!
//! Adapters: [`QueueSource`] over a queue file's content, [`BytesSource`]
//! over bytes in memory (tests, and messages built in memory such as
//! forwarded copies), and [`Prepended`], which puts header lines the
//! delivery agent adds (`Return-Path:`, `Delivered-To:`, `X-Original-To:`,
//! built with [`return_path`], [`delivered_to`], [`x_original_to`]) before
//! any source.

use crate::error::SourceError;
use std::io::{Read, Seek};

/// A piece of message text: a line, or part of one when `end_of_line` is
/// false (the next piece continues it). Pieces never contain the line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub data: Vec<u8>,
    pub end_of_line: bool,
}

/// A message, piece by piece, from its first header line to its end.
pub trait MessageSource {
    /// The next piece, or `None` at the end of the message.
    fn next_piece(&mut self) -> Result<Option<Piece>, SourceError>;
}

impl<S: MessageSource + ?Sized> MessageSource for &mut S {
    fn next_piece(&mut self) -> Result<Option<Piece>, SourceError> {
        (**self).next_piece()
    }
}

/// A message held in memory, split at LF. The LF is not part of the
/// pieces; a CR before it is kept as data. The last line may lack its LF.
#[derive(Debug, Clone)]
pub struct BytesSource<'a> {
    rest: &'a [u8],
    max_piece: usize,
}

impl<'a> BytesSource<'a> {
    /// Pieces are whole lines.
    pub fn new(bytes: &'a [u8]) -> Self {
        BytesSource {
            rest: bytes,
            max_piece: usize::MAX,
        }
    }

    /// Lines longer than `max_piece` bytes come in several pieces, as the
    /// queue stores them (for tests of line reassembly).
    pub fn with_max_piece(bytes: &'a [u8], max_piece: usize) -> Self {
        BytesSource {
            rest: bytes,
            max_piece: max_piece.max(1),
        }
    }
}

impl MessageSource for BytesSource<'_> {
    fn next_piece(&mut self) -> Result<Option<Piece>, SourceError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (line_len, has_lf) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (self.rest.len(), false),
        };
        if line_len > self.max_piece {
            let (data, rest) = self.rest.split_at(self.max_piece);
            self.rest = rest;
            return Ok(Some(Piece {
                data: data.to_vec(),
                end_of_line: false,
            }));
        }
        let data = self.rest[..line_len].to_vec();
        self.rest = &self.rest[line_len + usize::from(has_lf)..];
        Ok(Some(Piece {
            data,
            end_of_line: has_lf,
        }))
    }
}

/// The content of a queue file: `N` records are whole lines, `L` records
/// pieces of one. Make one per delivery with [`QueueSource::new`].
pub struct QueueSource<'a, R: Read> {
    content: queue::reader::Content<'a, R>,
}

impl<'a, R: Read + Seek> QueueSource<'a, R> {
    /// Starts at the first content record of `file`.
    pub fn new(file: &'a mut queue::QueueFile<R>) -> Result<Self, SourceError> {
        Ok(QueueSource {
            content: file.content()?,
        })
    }
}

impl<R: Read> MessageSource for QueueSource<'_, R> {
    fn next_piece(&mut self) -> Result<Option<Piece>, SourceError> {
        match self.content.next() {
            None => Ok(None),
            Some(Ok(p)) => Ok(Some(Piece {
                data: p.data,
                end_of_line: p.end_of_line,
            })),
            Some(Err(e)) => Err(e.into()),
        }
    }
}

/// Header lines (without line ends) first, then the inner source.
pub struct Prepended<S> {
    headers: std::vec::IntoIter<String>,
    inner: S,
}

impl<S: MessageSource> Prepended<S> {
    /// `headers` are whole lines such as `Return-Path: <a@b>`; a line
    /// containing LF is split there, so nothing can smuggle an extra
    /// line break past the caller.
    pub fn new(headers: Vec<String>, inner: S) -> Self {
        let lines: Vec<String> = headers
            .iter()
            .flat_map(|h| h.split('\n').map(|l| l.trim_end_matches('\r').to_string()))
            .collect();
        Prepended {
            headers: lines.into_iter(),
            inner,
        }
    }
}

impl<S: MessageSource> MessageSource for Prepended<S> {
    fn next_piece(&mut self) -> Result<Option<Piece>, SourceError> {
        if let Some(h) = self.headers.next() {
            return Ok(Some(Piece {
                data: h.into_bytes(),
                end_of_line: true,
            }));
        }
        self.inner.next_piece()
    }
}

/// `Return-Path: <sender>` as local(8) prepends it (`<>` for the null
/// sender).
pub fn return_path(sender: &str) -> String {
    if sender.is_empty() {
        "Return-Path: <>".to_string()
    } else {
        format!("Return-Path: <{}>", addr::external(sender))
    }
}

/// `Delivered-To: address` as local(8) prepends it.
pub fn delivered_to(address: &str) -> String {
    format!("Delivered-To: {}", addr::external(address))
}

/// `X-Original-To: address` as local(8) prepends it; `None` for an empty
/// original recipient (Postfix then writes no header).
pub fn x_original_to(address: &str) -> Option<String> {
    (!address.is_empty()).then(|| format!("X-Original-To: {}", addr::external(address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(mut s: impl MessageSource) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        while let Some(p) = s.next_piece().expect("in-memory source") {
            v.push((String::from_utf8_lossy(&p.data).into_owned(), p.end_of_line));
        }
        v
    }

    #[test]
    fn bytes_split_at_lf_and_long_lines() {
        assert_eq!(
            pieces(BytesSource::new(b"a\r\nbc\n\nlast")),
            vec![
                ("a\r".into(), true),
                ("bc".into(), true),
                ("".into(), true),
                ("last".into(), false)
            ]
        );
        assert_eq!(
            pieces(BytesSource::with_max_piece(b"abcdefg\nxy\n", 3)),
            vec![
                ("abc".into(), false),
                ("def".into(), false),
                ("g".into(), true),
                ("xy".into(), true)
            ]
        );
        assert!(pieces(BytesSource::new(b"")).is_empty());
    }

    #[test]
    fn prepended_headers_come_first() {
        let src = Prepended::new(
            vec![return_path(""), delivered_to("john doe@example.com")],
            BytesSource::new(b"Subject: x\n"),
        );
        assert_eq!(
            pieces(src),
            vec![
                ("Return-Path: <>".into(), true),
                ("Delivered-To: \"john doe\"@example.com".into(), true),
                ("Subject: x".into(), true)
            ]
        );
        assert_eq!(return_path("a@b"), "Return-Path: <a@b>");
        assert_eq!(x_original_to(""), None);
    }
}
