//! Framing for request/response streams between programs (smtpd → cleanup,
//! pickup → cleanup, qmgr → delivery agents): each frame is
//! `[VERSION u8][kind u8][length u32 LE][payload]`, bounded by
//! [`MAX_FRAME`], and payloads are built and taken apart with [`Encoder`]
//! and [`Decoder`], which check every length and UTF-8 string.

use crate::{IpcError, VERSION};
use std::io::{self, Read, Write};

/// The largest payload of one frame.
pub const MAX_FRAME: usize = 1 << 20;

/// Errors reading a frame: I/O, or a frame that fails validation.
#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    Invalid(IpcError),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl From<IpcError> for FrameError {
    fn from(e: IpcError) -> Self {
        FrameError::Invalid(e)
    }
}

/// Writes one frame (header and payload in one buffer, so one write for small frames).
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::new();
    append_frame(&mut buf, kind, payload)?;
    w.write_all(&buf)
}

/// Appends one frame to `out` (no buffer of its own, for a caller that
/// collects frames to write them together).
pub fn append_frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::other(format!(
            "frame of {} bytes exceeds {MAX_FRAME}",
            payload.len()
        )));
    }
    out.reserve(6 + payload.len());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Reads one frame: Ok(None) on end-of-file before the first byte.
pub fn read_frame(r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, FrameError> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if head[0] != VERSION {
        return Err(IpcError::BadVersion(head[0]).into());
    }
    let len = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) as usize;
    if len > MAX_FRAME {
        return Err(IpcError::BadLength {
            expected: MAX_FRAME,
            got: len,
        }
        .into());
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[1], payload)))
}

/// A stream whose reads go through a buffer and whose writes go straight
/// out: a peer that sends several frames at once (smtpd's envelope and
/// content to cleanup) is read in one system call instead of two per frame.
/// Only for a stream nothing else reads from.
#[derive(Debug)]
pub struct Duplex<S> {
    inner: S,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

/// [`Duplex`]'s read buffer: a content chunk and its frame header fit.
const DUPLEX_BUFFER: usize = 80 * 1024;

impl<S> Duplex<S> {
    pub fn new(inner: S) -> Duplex<S> {
        Duplex {
            inner,
            buf: vec![0; DUPLEX_BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Bytes read from the stream and not yet taken.
    pub fn buffered(&self) -> usize {
        self.end - self.pos
    }
}

impl<S: Read> Read for Duplex<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if out.len() >= self.buf.len() {
                return self.inner.read(out);
            }
            self.end = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<S: Write> Write for Duplex<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Builds a payload.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder::default()
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.buf.push(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(self, v: &str) -> Self {
        self.bytes(v.as_bytes())
    }
    pub fn opt_str(self, v: Option<&str>) -> Self {
        match v {
            Some(s) => self.u8(1).str(s),
            None => self.u8(0),
        }
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Takes a payload apart, checking every field.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], IpcError> {
        if self.buf.len() < n {
            return Err(IpcError::BadField(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, IpcError> {
        Ok(self.take(1, what)?[0])
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, IpcError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, IpcError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], IpcError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, IpcError> {
        std::str::from_utf8(self.bytes(what)?).map_err(|_| IpcError::BadField(what))
    }
    pub fn opt_str(&mut self, what: &'static str) -> Result<Option<&'a str>, IpcError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.str(what).map(Some),
            _ => Err(IpcError::BadField(what)),
        }
    }
    /// Fails unless every byte was used.
    pub fn end(&self) -> Result<(), IpcError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(IpcError::BadField("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_damage() {
        let payload = Encoder::new()
            .u8(7)
            .u32(9)
            .u64(1 << 40)
            .str("héllo")
            .opt_str(None)
            .opt_str(Some("x"))
            .finish();
        let mut wire = Vec::new();
        write_frame(&mut wire, 3, &payload).unwrap();
        let (kind, got) = read_frame(&mut wire.as_slice()).unwrap().unwrap();
        assert_eq!(kind, 3);
        let mut d = Decoder::new(&got);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u32("b").unwrap(), 9);
        assert_eq!(d.u64("c").unwrap(), 1 << 40);
        assert_eq!(d.str("d").unwrap(), "héllo");
        assert_eq!(d.opt_str("e").unwrap(), None);
        assert_eq!(d.opt_str("f").unwrap(), Some("x"));
        d.end().unwrap();
        // Every truncation is an error, never a panic.
        for cut in 1..wire.len() {
            assert!(read_frame(&mut &wire[..cut]).is_err());
        }
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
        let mut bad = wire.clone();
        bad[0] = 99;
        assert!(read_frame(&mut bad.as_slice()).is_err());
        let huge = [VERSION, 1, 0xff, 0xff, 0xff, 0x7f];
        assert!(read_frame(&mut &huge[..]).is_err());
        let mut d = Decoder::new(&[5, 0, 0, 0, b'a']);
        assert!(d.str("short").is_err());
    }

    /// A reader that hands out at most `step` bytes a call and counts calls.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            let n = out.len().min(self.step).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn duplex_reads_many_frames_in_few_calls_whatever_the_split() {
        let mut wire = Vec::new();
        let big = vec![b'x'; 70_000];
        for (i, p) in [&b"one"[..], &b""[..], &big[..], &b"four"[..]]
            .iter()
            .enumerate()
        {
            write_frame(&mut wire, i as u8, p).unwrap();
        }
        for step in [1, 5, 6, 7, 4096, usize::MAX] {
            let mut d = Duplex::new(Trickle {
                data: &wire,
                step,
                calls: 0,
            });
            let mut got = Vec::new();
            while let Some((k, p)) = read_frame(&mut d).unwrap() {
                got.push((k, p.len()));
            }
            assert_eq!(
                got,
                vec![(0, 3), (1, 0), (2, 70_000), (3, 4)],
                "step {step}"
            );
            if step == usize::MAX {
                assert!(d.get_ref().calls <= 3, "{} reads", d.get_ref().calls);
            }
        }
    }
}
