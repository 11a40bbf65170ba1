//! The resumable command parser: frames a command (its lines and
//! literals) from a byte stream, then runs the grammar over it once.

use std::slice::Iter;

use crate::command::{Command, Secret};
use crate::error::{CommandError, ErrorKind};
use crate::grammar::{self, Lit};

/// Dovecot's `imap_max_line_length`: the longest command text.
pub const DEFAULT_MAX_LINE_LENGTH: usize = 65536;
/// The largest APPEND message accepted by default (64 MiB).
pub const DEFAULT_MAX_APPEND_LITERAL: u64 = 64 * 1024 * 1024;
/// The largest non-synchronising literal a LITERAL- server takes
/// (RFC 7888 §5).
pub const LITERAL_MINUS_MAX: u64 = 4096;
/// What a server sends to let a client send a synchronising literal
/// (Dovecot's text).
pub const LITERAL_CONTINUATION: &[u8] = b"+ OK\r\n";

/// How many bytes of a skipped line are kept to spot a literal announced
/// at its end.
const TAIL: usize = 32;
/// The most bytes preallocated for a literal before its data arrives.
const PREALLOC: u64 = 64 * 1024;

/// Limits for [`CommandParser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserConfig {
    /// The longest command, CRLFs not counted: its text plus the data of
    /// its literals, except APPEND's (as Dovecot counts). Also the limit
    /// for IDLE and AUTHENTICATE continuation lines.
    pub max_line_length: usize,
    /// The largest literal an APPEND may announce (RFC 7889 APPENDLIMIT);
    /// a larger one is refused with [`ErrorKind::LiteralTooBig`], which
    /// [`CommandError::response`] turns into `NO [TOOBIG]`.
    pub max_append_literal: u64,
    /// The largest non-synchronising literal (`{n+}`): `None` for LITERAL+
    /// (any size, within the limits above), `Some(`[`LITERAL_MINUS_MAX`]`)`
    /// for LITERAL- (RFC 7888; IMAP4rev2).
    pub max_nonsync_literal: Option<u64>,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_append_literal: DEFAULT_MAX_APPEND_LITERAL,
            max_nonsync_literal: None,
        }
    }
}

/// A synchronising literal the client announced and waits to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralRequest {
    pub tag: String,
    /// The command name, upper-cased (`APPEND`, `UID SEARCH`…).
    pub command: String,
    pub size: u64,
}

/// What [`CommandParser::parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command.
    Command(Command),
    /// The client announced a synchronising literal `{n}` and waits: send
    /// [`LITERAL_CONTINUATION`] and parse on, or refuse it with
    /// [`CommandParser::reject_literal`] and a tagged `NO`/`BAD`. Reported
    /// once per literal.
    Continue(LiteralRequest),
    /// The input ran out before the command did; what was read is kept.
    NeedsMoreData,
}

/// A line read while idling ([`CommandParser::parse_idle_done`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleLine {
    /// `DONE`: answer the IDLE's tag with `OK`.
    Done,
    NeedsMoreData,
}

/// A line read during AUTHENTICATE ([`CommandParser::parse_auth_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLine {
    /// `*`: the client cancels; answer `TAG BAD Authentication aborted by client.`
    Cancel,
    /// Base64 data as sent (not decoded; empty for an empty line).
    Data(Secret),
    NeedsMoreData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line of the command.
    Line,
    /// Reading literal data.
    Literal { remaining: u64 },
    /// Dropping the literal of a refused command.
    Discard { remaining: u64 },
    /// Dropping the rest of a refused command's line.
    DiscardLine,
}

/// A literal announced at the end of a line.
struct Announce {
    size: u64,
    sync: bool,
}

/// `{n}` or `{n+}` (also after `~`, literal8) at the end of `line`: `None` if there is none,
/// `Some(Err)` if the number does not fit.
fn announcement(line: &[u8]) -> Option<Result<Announce, ()>> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let (digits, sync) = match inner[open + 1..].strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (&inner[open + 1..], true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = digits.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    });
    Some(size.map(|size| Announce { size, sync }).ok_or(()))
}

/// Whether `line` ends inside a quoted string (then a `{n}` at its end is
/// text, not a literal).
fn ends_in_quote(line: &[u8]) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for &b in line {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
    }
    quoted
}

fn advance(it: &mut Iter<'_, u8>, n: usize) {
    if n > 0 {
        it.nth(n - 1);
    }
}

/// The server side IMAP command parser. Feed it bytes through a
/// `&mut std::slice::Iter<u8>`; each call consumes what it needs and
/// returns one [`Parsed`] event or a [`CommandError`]. Call it again
/// until it says [`Parsed::NeedsMoreData`] with the iterator empty.
///
/// Literal data is appended to a buffer as it arrives and never scanned
/// again, so a large APPEND costs time linear in its size however it is
/// chunked. Commands are consumed one at a time, so after `STARTTLS` the
/// caller sees exactly which bytes followed it (discard them).
#[derive(Clone)]
pub struct CommandParser {
    cfg: ParserConfig,
    state: State,
    /// The command's text so far, without CRLFs or literal data.
    text: Vec<u8>,
    lits: Vec<Lit>,
    /// Where the current line starts in `text`.
    line_start: usize,
    /// Bytes of non-APPEND literals, counted against the line limit.
    lit_bytes: u64,
    /// The last bytes of a line being dropped.
    tail: Vec<u8>,
    /// A simple (IDLE/AUTHENTICATE) line is being dropped as too long.
    skip_simple: bool,
}

/// Shows the state and sizes only: the buffer may hold a password.
impl std::fmt::Debug for CommandParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandParser")
            .field("cfg", &self.cfg)
            .field("state", &self.state)
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

impl Default for CommandParser {
    fn default() -> Self {
        CommandParser::new(ParserConfig::default())
    }
}

impl CommandParser {
    pub fn new(cfg: ParserConfig) -> Self {
        CommandParser {
            cfg,
            state: State::Line,
            text: Vec::new(),
            lits: Vec::new(),
            line_start: 0,
            lit_bytes: 0,
            tail: Vec::new(),
            skip_simple: false,
        }
    }

    pub fn config(&self) -> ParserConfig {
        self.cfg
    }

    /// Changes the limits, e.g. the APPEND limit once the user is known.
    pub fn set_config(&mut self, cfg: ParserConfig) {
        self.cfg = cfg;
    }

    /// Refuses the literal just reported by [`Parsed::Continue`]: the
    /// command is dropped (the client, which waits for `+`, will not send
    /// the literal once it gets the tagged answer) and the next byte
    /// starts a new command.
    pub fn reject_literal(&mut self) {
        if matches!(self.state, State::Literal { .. }) {
            self.reset();
        }
    }

    /// Bytes held for an unfinished command (text and literal data).
    pub fn buffered(&self) -> usize {
        self.text.len() + self.lits.iter().map(|l| l.data.len()).sum::<usize>()
    }

    fn reset(&mut self) {
        self.state = State::Line;
        if self.text.capacity() > 2 * DEFAULT_MAX_LINE_LENGTH {
            self.text = Vec::new();
        } else {
            self.text.clear();
        }
        self.lits = Vec::new();
        self.line_start = 0;
        self.lit_bytes = 0;
    }

    /// Room left for text before the command is too long; one more than
    /// the limit so that a CR before the LF fits.
    fn room(&self) -> usize {
        let used = (self.text.len() as u64).saturating_add(self.lit_bytes);
        (self.cfg.max_line_length as u64 + 1).saturating_sub(used) as usize
    }

    /// An error for the command being read, with its tag and name when
    /// they can be read.
    fn error(&self, kind: ErrorKind) -> CommandError {
        match grammar::head(&self.text) {
            Ok((tag, name)) => CommandError {
                tag: Some(tag),
                command: Some(name),
                kind,
            },
            Err(h) => CommandError {
                tag: h.tag,
                command: h.command,
                kind,
            },
        }
    }

    /// Drops the rest of the command after an error: the rest of this line
    /// and any non-synchronising literals that follow.
    fn discard_rest(&mut self, literal: Option<u64>) {
        self.tail.clear();
        let keep = self.text.len().saturating_sub(TAIL);
        self.tail.extend_from_slice(&self.text[keep..]);
        self.reset();
        self.state = match literal {
            Some(remaining) => State::Discard { remaining },
            None => State::DiscardLine,
        };
    }

    /// Reads one command, or the part of one that `it` holds.
    pub fn parse(&mut self, it: &mut Iter<'_, u8>) -> Result<Parsed, CommandError> {
        loop {
            match self.state {
                State::Literal { remaining } => {
                    if remaining == 0 {
                        self.state = State::Line;
                        continue;
                    }
                    let s = it.as_slice();
                    if s.is_empty() {
                        return Ok(Parsed::NeedsMoreData);
                    }
                    let n = remaining.min(s.len() as u64) as usize;
                    if let Some(l) = self.lits.last_mut() {
                        l.data.extend_from_slice(&s[..n]);
                    }
                    advance(it, n);
                    self.state = State::Literal {
                        remaining: remaining - n as u64,
                    };
                }
                State::Discard { remaining } => {
                    if remaining == 0 {
                        self.tail.clear();
                        self.state = State::DiscardLine;
                        continue;
                    }
                    let s = it.as_slice();
                    if s.is_empty() {
                        return Ok(Parsed::NeedsMoreData);
                    }
                    let n = remaining.min(s.len() as u64) as usize;
                    advance(it, n);
                    self.state = State::Discard {
                        remaining: remaining - n as u64,
                    };
                }
                State::DiscardLine => {
                    let s = it.as_slice();
                    let lf = s.iter().position(|&b| b == b'\n');
                    let take = lf.unwrap_or(s.len());
                    let from = take.saturating_sub(TAIL);
                    self.tail.extend_from_slice(&s[from..take]);
                    let excess = self.tail.len().saturating_sub(TAIL);
                    self.tail.drain(..excess);
                    advance(it, take);
                    if lf.is_none() {
                        return Ok(Parsed::NeedsMoreData);
                    }
                    advance(it, 1);
                    if self.tail.last() == Some(&b'\r') {
                        self.tail.pop();
                    }
                    self.state = match announcement(&self.tail) {
                        Some(Ok(a)) if !a.sync => State::Discard { remaining: a.size },
                        _ => State::Line,
                    };
                    self.tail.clear();
                }
                State::Line => {
                    let s = it.as_slice();
                    let lf = s.iter().position(|&b| b == b'\n');
                    let take = lf.unwrap_or(s.len());
                    let room = self.room();
                    if take > room {
                        self.text.extend_from_slice(&s[..room]);
                        advance(it, room);
                        let e = self.error(ErrorKind::LineTooLong);
                        self.discard_rest(None);
                        return Err(e);
                    }
                    self.text.extend_from_slice(&s[..take]);
                    advance(it, take);
                    if lf.is_none() {
                        return Ok(Parsed::NeedsMoreData);
                    }
                    advance(it, 1);
                    if self.text.len() > self.line_start && self.text.last() == Some(&b'\r') {
                        self.text.pop();
                    }
                    if let Some(r) = self.line_done() {
                        return r;
                    }
                }
            }
        }
    }

    /// A line of the command ended: the command is complete, or a literal
    /// follows. `None` to read on.
    fn line_done(&mut self) -> Option<Result<Parsed, CommandError>> {
        if (self.text.len() as u64).saturating_add(self.lit_bytes) > self.cfg.max_line_length as u64
        {
            let e = self.error(ErrorKind::LineTooLong);
            self.reset();
            return Some(Err(e));
        }
        if self.text.is_empty() && self.lits.is_empty() {
            // An empty line between commands: ignored.
            return None;
        }
        let line = &self.text[self.line_start..];
        let ann = if ends_in_quote(line) {
            None
        } else {
            announcement(line)
        };
        let a = match ann {
            None => {
                let r = grammar::parse_command(&self.text, &mut self.lits);
                self.reset();
                return Some(r.map(Parsed::Command));
            }
            Some(Err(())) => {
                let e = self.error(ErrorKind::BadLiteral);
                self.reset();
                return Some(Err(e));
            }
            Some(Ok(a)) => a,
        };
        let refuse = |p: &mut Self, kind: ErrorKind| {
            let e = p.error(kind);
            if a.sync {
                p.reset();
            } else {
                p.discard_rest(Some(a.size));
            }
            Some(Err(e))
        };
        let (tag, command) = match grammar::head(&self.text) {
            Ok(h) => h,
            Err(e) => return refuse(self, e.kind),
        };
        let append = command == "APPEND";
        let max = if append {
            self.cfg.max_append_literal
        } else {
            (self.cfg.max_line_length as u64)
                .saturating_sub(self.lit_bytes)
                .saturating_sub(self.text.len() as u64)
        };
        if a.size > max {
            return refuse(self, ErrorKind::LiteralTooBig { size: a.size, max });
        }
        if let Some(m) = self.cfg.max_nonsync_literal {
            if !a.sync && a.size > m {
                return refuse(
                    self,
                    ErrorKind::NonSyncLiteralTooBig {
                        size: a.size,
                        max: m,
                    },
                );
            }
        }
        self.lits.push(Lit {
            at: self.text.len(),
            data: Vec::with_capacity(a.size.min(PREALLOC) as usize),
        });
        if !append {
            self.lit_bytes += a.size;
        }
        self.line_start = self.text.len();
        self.state = State::Literal { remaining: a.size };
        if a.sync {
            Some(Ok(Parsed::Continue(LiteralRequest {
                tag,
                command,
                size: a.size,
            })))
        } else {
            None
        }
    }

    /// Reads one line for IDLE or AUTHENTICATE; `Ok(None)` for more data.
    fn simple_line(&mut self, it: &mut Iter<'_, u8>) -> Result<Option<Vec<u8>>, CommandError> {
        let s = it.as_slice();
        let lf = s.iter().position(|&b| b == b'\n');
        let take = lf.unwrap_or(s.len());
        if !self.skip_simple {
            let room = (self.cfg.max_line_length + 1).saturating_sub(self.text.len());
            if take > room {
                self.skip_simple = true;
                self.text.clear();
            } else {
                self.text.extend_from_slice(&s[..take]);
            }
        }
        advance(it, take);
        if lf.is_none() {
            return Ok(None);
        }
        advance(it, 1);
        let mut line = std::mem::take(&mut self.text);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if std::mem::take(&mut self.skip_simple) || line.len() > self.cfg.max_line_length {
            return Err(CommandError::new(ErrorKind::LineTooLong));
        }
        Ok(Some(line))
    }

    /// Reads the client's line while idling (RFC 2177): `DONE` in any
    /// case ends the IDLE; anything else is [`ErrorKind::ExpectedDone`]
    /// (Dovecot answers `TAG BAD Expected DONE.` and ends the IDLE). The
    /// error carries no tag: the server knows the IDLE's.
    pub fn parse_idle_done(&mut self, it: &mut Iter<'_, u8>) -> Result<IdleLine, CommandError> {
        match self.simple_line(it)? {
            None => Ok(IdleLine::NeedsMoreData),
            Some(l) if l.eq_ignore_ascii_case(b"DONE") => Ok(IdleLine::Done),
            Some(_) => Err(CommandError::new(ErrorKind::ExpectedDone)),
        }
    }

    /// Reads one client line of an AUTHENTICATE exchange (RFC 3501
    /// §6.2.2): `*` cancels, anything else is SASL data in base64.
    pub fn parse_auth_line(&mut self, it: &mut Iter<'_, u8>) -> Result<AuthLine, CommandError> {
        Ok(match self.simple_line(it)? {
            None => AuthLine::NeedsMoreData,
            Some(l) if l == b"*" => AuthLine::Cancel,
            Some(l) => AuthLine::Data(Secret(l)),
        })
    }
}
