//! POP3 commands and their parser.

use std::fmt;
use std::slice::Iter;

use crate::line::{LineEvent, LineReader};
use crate::reply::Reply;

/// RFC 2449 §4: a command line is at most 255 octets with its CRLF.
pub const DEFAULT_LINE_LIMIT: usize = 253;
/// The longest AUTH command line (with an initial response) or SASL
/// response line accepted.
pub const DEFAULT_AUTH_LINE_LIMIT: usize = 8192;

/// The session states of RFC 1939 §3 (UPDATE is what QUIT does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Authorization,
    Transaction,
}

/// The command verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    User,
    Pass,
    Apop,
    Auth,
    Capa,
    Stat,
    List,
    Retr,
    Top,
    Dele,
    Noop,
    Rset,
    Quit,
    Uidl,
    Stls,
}

const ALL: [Verb; 15] = [
    Verb::User,
    Verb::Pass,
    Verb::Apop,
    Verb::Auth,
    Verb::Capa,
    Verb::Stat,
    Verb::List,
    Verb::Retr,
    Verb::Top,
    Verb::Dele,
    Verb::Noop,
    Verb::Rset,
    Verb::Quit,
    Verb::Uidl,
    Verb::Stls,
];

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::User => "USER",
            Verb::Pass => "PASS",
            Verb::Apop => "APOP",
            Verb::Auth => "AUTH",
            Verb::Capa => "CAPA",
            Verb::Stat => "STAT",
            Verb::List => "LIST",
            Verb::Retr => "RETR",
            Verb::Top => "TOP",
            Verb::Dele => "DELE",
            Verb::Noop => "NOOP",
            Verb::Rset => "RSET",
            Verb::Quit => "QUIT",
            Verb::Uidl => "UIDL",
            Verb::Stls => "STLS",
        }
    }

    fn from_word(w: &[u8]) -> Option<Verb> {
        ALL.into_iter()
            .find(|v| v.as_str().as_bytes().eq_ignore_ascii_case(w))
    }

    /// Whether the verb may be used in `state` (RFC 1939, 2449, 2595,
    /// 5034). CAPA and QUIT are allowed in both.
    pub fn allowed_in(self, state: State) -> bool {
        use Verb::*;
        match state {
            State::Authorization => matches!(self, User | Pass | Apop | Auth | Capa | Quit | Stls),
            State::Transaction => matches!(
                self,
                Capa | Stat | List | Retr | Top | Dele | Noop | Rset | Quit | Uidl
            ),
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret (password, SASL data) whose `Debug` does not show it, so it
/// never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// A parsed command. Message numbers are as sent (0 included: "no such
/// message" is the session's answer, not a syntax error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    /// The rest of the line after `PASS ` (spaces kept), as bytes.
    Pass(Secret),
    /// `APOP name digest` (parsed only).
    Apop {
        name: String,
        digest: String,
    },
    /// `AUTH` alone lists the mechanisms (as Dovecot answers it);
    /// `AUTH MECH [initial-response]`, `=` being an empty response.
    Auth {
        mechanism: Option<String>,
        initial: Option<Secret>,
    },
    Capa,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Top(u32, u64),
    Dele(u32),
    Noop,
    Rset,
    Quit,
    Uidl(Option<u32>),
    Stls,
}

impl Command {
    pub fn verb(&self) -> Verb {
        match self {
            Command::User(_) => Verb::User,
            Command::Pass(_) => Verb::Pass,
            Command::Apop { .. } => Verb::Apop,
            Command::Auth { .. } => Verb::Auth,
            Command::Capa => Verb::Capa,
            Command::Stat => Verb::Stat,
            Command::List(_) => Verb::List,
            Command::Retr(_) => Verb::Retr,
            Command::Top(..) => Verb::Top,
            Command::Dele(_) => Verb::Dele,
            Command::Noop => Verb::Noop,
            Command::Rset => Verb::Rset,
            Command::Quit => Verb::Quit,
            Command::Uidl(_) => Verb::Uidl,
            Command::Stls => Verb::Stls,
        }
    }

    /// See [`Verb::allowed_in`].
    pub fn allowed_in(&self, state: State) -> bool {
        self.verb().allowed_in(state)
    }
}

/// A line that is no command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The input ended before the line did (not an error to answer).
    NeedsMoreData,
    /// The line is longer than the limit.
    LineTooLong,
    /// An empty line.
    Empty,
    /// NUL or another control character outside PASS/AUTH data.
    Control,
    /// Not UTF-8 where text is expected.
    BadUtf8,
    /// A verb this server does not know, as sent (at most 40 bytes).
    Unknown(String),
    /// A known verb with missing or extra arguments.
    Syntax(Verb),
    /// A message number or line count that is not a decimal number in
    /// range, as sent.
    BadNumber(String),
    /// Something after the message number(s).
    Noise(String),
}

impl CommandError {
    /// The `-ERR` reply for this error (Dovecot's texts).
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::NeedsMoreData | CommandError::Empty => Reply::err("Unknown command: "),
            CommandError::LineTooLong => Reply::err("Input line too long."),
            CommandError::Control | CommandError::BadUtf8 => {
                Reply::err("Invalid characters in command.")
            }
            CommandError::Unknown(w) => Reply::err(format!("Unknown command: {w}")),
            CommandError::Syntax(v) => Reply::err(format!("{v}: Invalid arguments.")),
            CommandError::BadNumber(n) => Reply::err(format!("Invalid message number: {n}")),
            CommandError::Noise(n) => Reply::err(format!("Noise after message number: {n}")),
        }
    }

    /// Whether this counts as a bad command (for Dovecot's "Too many
    /// invalid commands." limit); running out of data does not.
    pub fn is_bad_command(&self) -> bool {
        !matches!(self, CommandError::NeedsMoreData)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NeedsMoreData => f.write_str("incomplete command line"),
            _ => f.write_str(&self.reply().text),
        }
    }
}

impl std::error::Error for CommandError {}

/// Limits for [`CommandParser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserConfig {
    /// Longest command line without CRLF (253: RFC 2449's 255 with it).
    pub line_limit: usize,
    /// Longest AUTH line or SASL response line without CRLF.
    pub auth_line_limit: usize,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            line_limit: DEFAULT_LINE_LIMIT,
            auth_line_limit: DEFAULT_AUTH_LINE_LIMIT,
        }
    }
}

/// A client line during an AUTH exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResponse {
    /// `*`: the client cancels (answer `-ERR`).
    Cancel,
    /// Base64 data as sent (not decoded).
    Data(Secret),
}

/// The server-side command parser; it consumes at most one line per call,
/// so after `STLS` the caller sees exactly which bytes follow (discard
/// them, RFC 2595 §4).
#[derive(Debug, Clone, Default)]
pub struct CommandParser {
    line: LineReader,
    cfg: ParserConfig,
}

impl CommandParser {
    pub fn new(cfg: ParserConfig) -> Self {
        CommandParser {
            line: LineReader::default(),
            cfg,
        }
    }

    pub fn config(&self) -> ParserConfig {
        self.cfg
    }

    fn max_limit(&self) -> usize {
        self.cfg.line_limit.max(self.cfg.auth_line_limit)
    }

    /// Reads one command from `it`, advancing it past the line end.
    pub fn parse(&mut self, it: &mut Iter<'_, u8>) -> Result<Command, CommandError> {
        match self.line.poll(it, self.max_limit()) {
            LineEvent::NeedsMoreData => Err(CommandError::NeedsMoreData),
            LineEvent::TooLong => Err(CommandError::LineTooLong),
            LineEvent::Line => parse_line(self.line.line(), self.cfg),
        }
    }

    /// Reads one client line of an AUTH exchange.
    pub fn parse_auth_response(
        &mut self,
        it: &mut Iter<'_, u8>,
    ) -> Result<AuthResponse, CommandError> {
        match self.line.poll(it, self.cfg.auth_line_limit) {
            LineEvent::NeedsMoreData => Err(CommandError::NeedsMoreData),
            LineEvent::TooLong => Err(CommandError::LineTooLong),
            LineEvent::Line => {
                let l = self.line.line();
                if l == b"*" {
                    Ok(AuthResponse::Cancel)
                } else {
                    Ok(AuthResponse::Data(Secret(l.to_vec())))
                }
            }
        }
    }

    /// Bytes of an unfinished line held.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.line.buffered()
    }
}

fn number(s: &str) -> Result<u32, CommandError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::BadNumber(s.to_string()));
    }
    s.parse()
        .map_err(|_| CommandError::BadNumber(s.to_string()))
}

fn count(s: &str) -> Result<u64, CommandError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::BadNumber(s.to_string()));
    }
    // A huge line count means "all": saturate.
    Ok(s.parse().unwrap_or(u64::MAX))
}

/// Parses one complete line (without its line end).
pub fn parse_line(bytes: &[u8], cfg: ParserConfig) -> Result<Command, CommandError> {
    let word_end = bytes
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(bytes.len());
    let word = &bytes[..word_end];
    let rest_raw = bytes.get(word_end + 1..).unwrap_or(b"");
    if word.is_empty() {
        return Err(CommandError::Empty);
    }
    let verb = Verb::from_word(word);
    if verb != Some(Verb::Auth) && bytes.len() > cfg.line_limit {
        return Err(CommandError::LineTooLong);
    }
    let verb = match verb {
        Some(v) => v,
        None => {
            if word.iter().any(|&b| b < 0x20 || b == 0x7f) {
                return Err(CommandError::Control);
            }
            let w = String::from_utf8_lossy(&word[..word.len().min(40)]).into_owned();
            return Err(CommandError::Unknown(w));
        }
    };
    if verb == Verb::Pass {
        if rest_raw.contains(&0) {
            return Err(CommandError::Control);
        }
        return Ok(Command::Pass(Secret(rest_raw.to_vec())));
    }
    if rest_raw
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(CommandError::Control);
    }
    let rest = std::str::from_utf8(rest_raw).map_err(|_| CommandError::BadUtf8)?;
    let args: Vec<&str> = rest.split([' ', '\t']).filter(|a| !a.is_empty()).collect();
    let syntax = Err(CommandError::Syntax(verb));
    let no_args = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(CommandError::Syntax(verb))
        }
    };
    let msg_arg = |args: &[&str]| -> Result<u32, CommandError> {
        match args {
            [] => Err(CommandError::BadNumber(String::new())),
            [n] => number(n),
            [n, extra, ..] => {
                number(n)?;
                Err(CommandError::Noise((*extra).to_string()))
            }
        }
    };
    match verb {
        Verb::User => {
            let u = rest.trim_matches([' ', '\t']);
            if u.is_empty() {
                syntax
            } else {
                Ok(Command::User(u.to_string()))
            }
        }
        Verb::Pass => syntax, // handled above
        Verb::Apop => match args.as_slice() {
            [n, d] => Ok(Command::Apop {
                name: (*n).to_string(),
                digest: (*d).to_string(),
            }),
            _ => syntax,
        },
        Verb::Auth => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: None,
            }),
            [m, i] => Ok(Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: Some(Secret(if *i == "=" {
                    Vec::new()
                } else {
                    i.as_bytes().to_vec()
                })),
            }),
            _ => syntax,
        },
        Verb::Capa => no_args(Command::Capa),
        Verb::Stat => no_args(Command::Stat),
        Verb::Noop => no_args(Command::Noop),
        Verb::Rset => no_args(Command::Rset),
        Verb::Quit => no_args(Command::Quit),
        Verb::Stls => no_args(Command::Stls),
        Verb::List | Verb::Uidl => {
            let n = if args.is_empty() {
                None
            } else {
                Some(msg_arg(&args)?)
            };
            Ok(if verb == Verb::List {
                Command::List(n)
            } else {
                Command::Uidl(n)
            })
        }
        Verb::Retr => msg_arg(&args).map(Command::Retr),
        Verb::Dele => msg_arg(&args).map(Command::Dele),
        Verb::Top => match args.as_slice() {
            [n, l] => Ok(Command::Top(number(n)?, count(l)?)),
            [n, l, extra, ..] => {
                number(n)?;
                count(l)?;
                Err(CommandError::Noise((*extra).to_string()))
            }
            _ => syntax,
        },
    }
}
