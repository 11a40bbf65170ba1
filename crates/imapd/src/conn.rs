//! The client connection as both halves of imapd see it: bytes in through
//! imap-proto's parser (answering synchronising literals with `+ OK`),
//! responses out through a buffer that is flushed before every read.

use imap_proto::{
    AuthLine, Command, CommandError, CommandParser, Data, IdleLine, Parsed, ParserConfig,
    StatusResponse, WriteOptions, LITERAL_CONTINUATION,
};
use login::Stream;
use std::io::{self, Read, Write};
use std::time::Duration;

pub use login::End;

/// What one read brought.
enum Fill {
    Data,
    /// The read timed out (the caller decides whether that is the end).
    Tick,
}

/// Output is flushed once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

pub struct Conn {
    pub stream: Stream,
    /// Bytes read and not yet given to the parser.
    pending: Vec<u8>,
    pub parser: CommandParser,
    pub opts: WriteOptions,
    out: Vec<u8>,
    /// How long a client may stay silent outside IDLE.
    pub idle: Duration,
}

impl Conn {
    pub fn new(stream: Stream, pending: Vec<u8>, idle: Duration, cfg: ParserConfig) -> Conn {
        Conn {
            stream,
            pending,
            parser: CommandParser::new(cfg),
            opts: WriteOptions::default(),
            out: Vec::new(),
            idle,
        }
    }

    /// Bytes the parser has not seen (what a pipelining client sent after
    /// the command just returned).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    fn fill(&mut self) -> Result<Fill, End> {
        self.flush()?;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(Fill::Data);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(Fill::Tick)
                }
                Err(e) => return Err(End::Io(e)),
            }
        }
    }

    /// Reads with the idle timeout; a silent client gets BYE.
    fn fill_or_bye(&mut self) -> Result<(), End> {
        match self.fill()? {
            Fill::Data => Ok(()),
            Fill::Tick => {
                self.status(&StatusResponse::bye("Disconnected for inactivity."));
                let _ = self.flush();
                Err(End::Idle)
            }
        }
    }

    /// Feeds the pending bytes to `step` until it has an answer.
    fn parse_with<T>(
        &mut self,
        mut step: impl FnMut(&mut CommandParser, &mut std::slice::Iter<'_, u8>) -> Option<T>,
    ) -> Result<T, End> {
        loop {
            let pending = std::mem::take(&mut self.pending);
            let mut it = pending.iter();
            let got = step(&mut self.parser, &mut it);
            self.pending = it.as_slice().to_vec();
            if let Some(v) = got {
                return Ok(v);
            }
            self.fill_or_bye()?;
        }
    }

    /// The next command (a bad one is an `Err` to answer). A synchronising
    /// literal is answered with `+ OK` as soon as it is announced.
    pub fn command(&mut self) -> Result<Result<Command, CommandError>, End> {
        loop {
            let pending = std::mem::take(&mut self.pending);
            let mut it = pending.iter();
            let r = self.parser.parse(&mut it);
            self.pending = it.as_slice().to_vec();
            match r {
                Ok(Parsed::Command(c)) => return Ok(Ok(c)),
                Ok(Parsed::Continue(_)) => {
                    self.raw(LITERAL_CONTINUATION);
                    self.flush()?;
                }
                Ok(Parsed::NeedsMoreData) => self.fill_or_bye()?,
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    /// The next line during IDLE; `tick` is called after each second of
    /// silence and may send untagged data. The whole IDLE may last
    /// `limit` at most.
    pub fn idle_line(
        &mut self,
        limit: Duration,
        mut tick: impl FnMut(&mut Conn) -> Result<(), End>,
    ) -> Result<Result<IdleLine, CommandError>, End> {
        let started = std::time::Instant::now();
        let _ = self.stream.set_timeout(Some(Duration::from_secs(1)));
        let result = loop {
            if !self.pending.is_empty() {
                let pending = std::mem::take(&mut self.pending);
                let mut it = pending.iter();
                let r = self.parser.parse_idle_done(&mut it);
                self.pending = it.as_slice().to_vec();
                if !matches!(r, Ok(IdleLine::NeedsMoreData)) {
                    break Ok(r);
                }
            }
            match self.fill() {
                Ok(Fill::Data) => {}
                Ok(Fill::Tick) => {
                    if started.elapsed() > limit {
                        self.status(&StatusResponse::bye("Disconnected for inactivity."));
                        let _ = self.flush();
                        break Err(End::Idle);
                    }
                    if let Err(e) = tick(self) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let _ = self.stream.set_timeout(Some(self.idle));
        result
    }

    /// The client's next line of an AUTHENTICATE exchange.
    pub fn auth_line(&mut self) -> Result<Result<AuthLine, CommandError>, End> {
        self.parse_with(|p, it| match p.parse_auth_line(it) {
            Ok(AuthLine::NeedsMoreData) => None,
            r => Some(r),
        })
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn data(&mut self, d: &Data<'_>) {
        d.write_to(&mut self.out, self.opts);
    }

    pub fn status(&mut self, r: &StatusResponse) {
        r.write_to(&mut self.out);
    }

    /// Sends what is buffered once there is a lot of it.
    pub fn maybe_flush(&mut self) -> Result<(), End> {
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
}
