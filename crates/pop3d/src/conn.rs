//! The client connection as both halves of pop3d see it: bytes in,
//! one command (or AUTH response line) at a time through pop3-proto's
//! parser, replies out.

use login::Stream;
use pop3_proto::{AuthResponse, Command, CommandError, CommandParser, ParserConfig, Reply};
use std::io::{self, Read, Write};

pub use login::End;

/// Output is sent once this much is buffered (and before every read).
const FLUSH_AT: usize = 64 * 1024;

pub struct Conn {
    pub stream: Stream,
    /// Replies not sent yet: a reply, or a whole RETR, goes out in as
    /// few writes as possible.
    out: Vec<u8>,
    /// Bytes read and not yet given to the parser.
    pending: Vec<u8>,
    parser: CommandParser,
}

impl Conn {
    pub fn new(stream: Stream, pending: Vec<u8>) -> Conn {
        Conn {
            stream,
            out: Vec::new(),
            pending,
            parser: CommandParser::new(ParserConfig::default()),
        }
    }

    /// Unparsed bytes (read ahead by a pipelining client).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    fn fill(&mut self) -> Result<(), End> {
        self.flush()?;
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let _ = self.reply(&Reply::idle_timeout());
                    return Err(End::Idle);
                }
                Err(e) => return Err(End::Io(e)),
            }
        }
    }

    /// The next command line, parsed (a bad line is an `Err` to answer).
    pub fn command(&mut self) -> Result<Result<Command, CommandError>, End> {
        loop {
            if !self.pending.is_empty() {
                let mut it = self.pending.iter();
                let r = self.parser.parse(&mut it);
                let used = self.pending.len() - it.as_slice().len();
                self.pending.drain(..used);
                if r != Err(CommandError::NeedsMoreData) {
                    return Ok(r);
                }
            }
            self.fill()?;
        }
    }

    /// The next line of an AUTH exchange.
    pub fn auth_response(&mut self) -> Result<Result<AuthResponse, CommandError>, End> {
        loop {
            if !self.pending.is_empty() {
                let mut it = self.pending.iter();
                let r = self.parser.parse_auth_response(&mut it);
                let used = self.pending.len() - it.as_slice().len();
                self.pending.drain(..used);
                if r != Err(CommandError::NeedsMoreData) {
                    return Ok(r);
                }
            }
            self.fill()?;
        }
    }

    /// Queues bytes for the client; they go out once enough is buffered,
    /// before the next read, or at [`Conn::flush`].
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), End> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.stream.write_all(&out).map_err(End::Io)?;
        self.stream.flush().map_err(End::Io)
    }

    pub fn reply(&mut self, r: &Reply) -> Result<(), End> {
        self.send(&r.to_bytes())
    }
}
