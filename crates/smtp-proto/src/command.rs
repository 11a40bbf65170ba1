//! SMTP commands: the server-side parser ([`CommandParser`]) and, for the
//! client side, their wire form ([`Command::to_bytes`]).
//!
//! Commands are returned as owned values (`String`s): they are small, and
//! owning them lets the caller keep a command (a MAIL FROM, say) after the
//! input buffer has moved on.

use std::fmt;
use std::slice::Iter;

use addr::{parse_path, AddrError, Mailbox, PathOptions};

use crate::line::{LineEvent, LineReader};
use crate::reply::Reply;
use crate::xtext;

/// Postfix's `line_length_limit` default.
pub const DEFAULT_LINE_LIMIT: usize = 2048;

/// The command verbs this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    Etrn,
    Xclient,
    Xforward,
}

impl Verb {
    /// The verb as written on the wire (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Helo => "HELO",
            Verb::Ehlo => "EHLO",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Etrn => "ETRN",
            Verb::Xclient => "XCLIENT",
            Verb::Xforward => "XFORWARD",
        }
    }

    fn from_word(w: &str) -> Option<Verb> {
        const ALL: [Verb; 17] = [
            Verb::Helo,
            Verb::Ehlo,
            Verb::Mail,
            Verb::Rcpt,
            Verb::Data,
            Verb::Bdat,
            Verb::Rset,
            Verb::Noop,
            Verb::Quit,
            Verb::Vrfy,
            Verb::Expn,
            Verb::Help,
            Verb::StartTls,
            Verb::Auth,
            Verb::Etrn,
            Verb::Xclient,
            Verb::Xforward,
        ];
        ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(w))
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `BODY=` (RFC 1652, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

impl Body {
    pub fn as_str(self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// `NOTIFY=` (RFC 3461). All three false means `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    pub fn is_never(self) -> bool {
        self == Notify::NEVER
    }

    fn parse(v: &str) -> Option<Notify> {
        if v.eq_ignore_ascii_case("NEVER") {
            return Some(Notify::NEVER);
        }
        let mut n = Notify::NEVER;
        for item in v.split(',') {
            match item.to_ascii_uppercase().as_str() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return None,
            }
        }
        Some(n)
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("NEVER");
        }
        let mut items = Vec::new();
        if self.success {
            items.push("SUCCESS");
        }
        if self.failure {
            items.push("FAILURE");
        }
        if self.delay {
            items.push("DELAY");
        }
        f.write_str(&items.join(","))
    }
}

/// `ORCPT=addr-type;xtext` (RFC 3461), the address xtext-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orcpt {
    /// `rfc822`, `utf-8`, ... as sent.
    pub addr_type: String,
    pub addr: String,
}

/// `MAIL FROM:<path> [params]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailFrom {
    /// `None` is the null sender `<>`.
    pub sender: Option<Mailbox>,
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `AUTH=`, xtext-decoded (`<>` stays `<>`).
    pub auth: Option<String>,
    /// Postfix's `XVERP` (empty: the server's default delimiters) or
    /// `XVERP=xy`, as sent; the server decides whether the client may.
    pub verp: Option<String>,
}

/// `RCPT TO:<path> [params]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptTo {
    pub rcpt: Mailbox,
    pub notify: Option<Notify>,
    pub orcpt: Option<Orcpt>,
}

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The argument as sent (rest of the line, trimmed; Postfix does not
    /// check it at this level).
    Helo(String),
    Ehlo(String),
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
    /// `BDAT size [LAST]`: `size` bytes of message follow the line.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    /// Arguments are ignored, as RFC 5321 and Postfix allow.
    Noop,
    Quit,
    /// The argument as sent (an address, maybe with ` SMTPUTF8`).
    Vrfy(String),
    /// The argument as sent; may be empty.
    Expn(String),
    Help(Option<String>),
    StartTls,
    /// `AUTH mechanism [initial-response]`; the response is kept as sent
    /// (base64, or `=` for an empty one).
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
    Etrn(String),
    /// `XCLIENT name=value …` (Postfix's XCLIENT_README): the names as
    /// sent, the values still xtext-encoded.
    Xclient(Vec<(String, String)>),
    /// `XFORWARD name=value …` (Postfix's XFORWARD_README), the same way.
    Xforward(Vec<(String, String)>),
    /// A verb this crate does not know, as sent.
    Unknown(String),
}

impl Command {
    /// The verb, for logging (`lost connection after RCPT`); `None` for
    /// [`Command::Unknown`].
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            Command::Helo(_) => Verb::Helo,
            Command::Ehlo(_) => Verb::Ehlo,
            Command::Mail(_) => Verb::Mail,
            Command::Rcpt(_) => Verb::Rcpt,
            Command::Data => Verb::Data,
            Command::Bdat { .. } => Verb::Bdat,
            Command::Rset => Verb::Rset,
            Command::Noop => Verb::Noop,
            Command::Quit => Verb::Quit,
            Command::Vrfy(_) => Verb::Vrfy,
            Command::Expn(_) => Verb::Expn,
            Command::Help(_) => Verb::Help,
            Command::StartTls => Verb::StartTls,
            Command::Auth { .. } => Verb::Auth,
            Command::Etrn(_) => Verb::Etrn,
            Command::Xclient(_) => Verb::Xclient,
            Command::Xforward(_) => Verb::Xforward,
            Command::Unknown(_) => return None,
        })
    }

    /// The command on the wire, CRLF included (client side). Addresses are
    /// written in external (quoted) form, ENVID/ORCPT/AUTH xtext-encoded.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = match self {
            Command::Helo(h) => format!("HELO {h}"),
            Command::Ehlo(h) => format!("EHLO {h}"),
            Command::Mail(m) => m.to_line(),
            Command::Rcpt(r) => r.to_line(),
            Command::Data => "DATA".into(),
            Command::Bdat { size, last: true } => format!("BDAT {size} LAST"),
            Command::Bdat { size, last: false } => format!("BDAT {size}"),
            Command::Rset => "RSET".into(),
            Command::Noop => "NOOP".into(),
            Command::Quit => "QUIT".into(),
            Command::Vrfy(a) => format!("VRFY {a}"),
            Command::Expn(a) if a.is_empty() => "EXPN".into(),
            Command::Expn(a) => format!("EXPN {a}"),
            Command::Help(None) => "HELP".into(),
            Command::Help(Some(a)) => format!("HELP {a}"),
            Command::StartTls => "STARTTLS".into(),
            Command::Auth {
                mechanism,
                initial: None,
            } => format!("AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial: Some(i),
            } => format!("AUTH {mechanism} {i}"),
            Command::Etrn(d) => format!("ETRN {d}"),
            Command::Xclient(attrs) => attribute_line("XCLIENT", attrs),
            Command::Xforward(attrs) => attribute_line("XFORWARD", attrs),
            Command::Unknown(v) => v.clone(),
        };
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// `VERB name=value …` without CRLF.
fn attribute_line(verb: &str, attrs: &[(String, String)]) -> String {
    attrs.iter().fold(verb.to_string(), |mut s, (n, v)| {
        s.push_str(&format!(" {n}={v}"));
        s
    })
}

/// XCLIENT's and XFORWARD's `name=value` words: at least one, each with a
/// name.
fn attributes(arg: &str) -> Option<Vec<(String, String)>> {
    let attrs: Option<Vec<(String, String)>> = arg
        .split_ascii_whitespace()
        .map(|w| {
            w.split_once('=')
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, v)| (n.to_string(), v.to_string()))
        })
        .collect();
    attrs.filter(|a| !a.is_empty())
}

fn path_text(m: Option<&Mailbox>) -> String {
    match m {
        Some(m) => format!("<{m}>"),
        None => "<>".into(),
    }
}

impl MailFrom {
    /// The MAIL command line without CRLF.
    pub fn to_line(&self) -> String {
        let mut s = format!("MAIL FROM:{}", path_text(self.sender.as_ref()));
        if let Some(n) = self.size {
            s.push_str(&format!(" SIZE={n}"));
        }
        if let Some(b) = self.body {
            s.push_str(&format!(" BODY={}", b.as_str()));
        }
        if self.smtputf8 {
            s.push_str(" SMTPUTF8");
        }
        if let Some(r) = self.ret {
            s.push_str(&format!(" RET={}", r.as_str()));
        }
        if let Some(e) = &self.envid {
            s.push_str(&format!(" ENVID={}", xtext::encode(e)));
        }
        if let Some(a) = &self.auth {
            if a == "<>" {
                s.push_str(" AUTH=<>");
            } else {
                s.push_str(&format!(" AUTH={}", xtext::encode(a)));
            }
        }
        match self.verp.as_deref() {
            Some("") => s.push_str(" XVERP"),
            Some(d) => s.push_str(&format!(" XVERP={d}")),
            None => {}
        }
        s
    }

    /// `MAIL FROM:...\r\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        Command::Mail(self.clone()).to_bytes()
    }
}

impl RcptTo {
    /// The RCPT command line without CRLF.
    pub fn to_line(&self) -> String {
        let mut s = format!("RCPT TO:{}", path_text(Some(&self.rcpt)));
        if let Some(n) = self.notify {
            s.push_str(&format!(" NOTIFY={n}"));
        }
        if let Some(o) = &self.orcpt {
            s.push_str(&format!(
                " ORCPT={};{}",
                o.addr_type,
                xtext::encode(&o.addr)
            ));
        }
        s
    }

    /// `RCPT TO:...\r\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        Command::Rcpt(self.clone()).to_bytes()
    }
}

/// Why a command line was refused. Every variant but
/// [`CommandError::NeedsMoreData`] means a whole line was consumed and
/// answered with [`CommandError::reply`]; the parser is ready for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Not an error: feed more bytes.
    NeedsMoreData,
    /// The line was longer than the limit; it was skipped up to its end.
    LineTooLong,
    /// An empty or blank line.
    Empty,
    /// A NUL or other control character (TAB excepted) in the line.
    Control,
    /// Invalid UTF-8, or non-ASCII where it is not allowed.
    BadUtf8,
    /// The verb is known but its arguments are wrong.
    Syntax(Verb),
    BadSender(AddrError),
    BadRecipient(AddrError),
    /// `SIZE=` not a number.
    BadSize,
    /// `SIZE=` beyond what a u64 holds.
    SizeOverflow,
    BadRet,
    BadEnvid,
    BadAuthParam,
    BadNotify,
    BadOrcpt,
    /// A parameter this crate does not know (or with a bad value), as sent.
    Unsupported(String),
}

impl CommandError {
    /// The reply Postfix 3.7 gives for this error.
    pub fn reply(&self) -> Reply {
        use CommandError::*;
        match self {
            NeedsMoreData | Empty | Control => Reply::bad_syntax(),
            LineTooLong => Reply::line_too_long(),
            BadUtf8 => Reply::bad_utf8(),
            Syntax(v) => Reply::syntax(*v),
            BadSender(_) => Reply::bad_sender(),
            BadRecipient(_) => Reply::bad_recipient(),
            BadSize => Reply::new(501, Some((5, 5, 4)), "Bad message size syntax"),
            SizeOverflow => Reply::new(
                552,
                Some((5, 3, 4)),
                "Message size exceeds file system imposed limit",
            ),
            BadRet => Reply::new(501, Some((5, 5, 4)), "Bad RET parameter syntax"),
            BadEnvid => Reply::new(501, Some((5, 5, 4)), "Bad ENVID parameter syntax"),
            BadAuthParam => Reply::new(501, Some((5, 5, 4)), "Bad AUTH parameter syntax"),
            BadNotify => Reply::new(501, Some((5, 5, 4)), "Error: Bad NOTIFY parameter syntax"),
            BadOrcpt => Reply::new(501, Some((5, 5, 4)), "Error: Bad ORCPT parameter syntax"),
            Unsupported(p) => Reply::unsupported_option(p),
        }
    }

    /// Whether the session cannot continue after this error: a bad `BDAT`
    /// line leaves an unknown number of chunk bytes in the stream (Postfix
    /// answers 521 and disconnects).
    pub fn is_fatal(&self) -> bool {
        matches!(self, CommandError::Syntax(Verb::Bdat))
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NeedsMoreData => f.write_str("incomplete command line"),
            CommandError::BadSender(e) | CommandError::BadRecipient(e) => {
                write!(f, "{}: {e}", self.reply().text())
            }
            _ => f.write_str(&self.reply().text()),
        }
    }
}

impl std::error::Error for CommandError {}

/// How [`CommandParser`] reads commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserConfig {
    /// Longest command line, without CRLF (Postfix `line_length_limit`,
    /// 2048; RFC 5321 asks for at least 512).
    pub line_limit: usize,
    /// RFC 5321 to the letter: `MAIL FROM:<x>` with no space after the
    /// colon and `<>` required, one space after the verb, no leading
    /// blanks. Off: what Postfix accepts (`MAIL FROM: <x>`, `MAIL FROM:x`).
    pub strict: bool,
    /// SMTPUTF8 (`smtputf8_enable`): UTF-8 allowed in the arguments of
    /// MAIL, RCPT, VRFY and EXPN. Off: any non-ASCII byte is an error.
    pub utf8: bool,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            line_limit: DEFAULT_LINE_LIMIT,
            strict: false,
            utf8: true,
        }
    }
}

/// The server-side command parser. Feed it bytes with [`Self::parse`];
/// it consumes at most one line per call, so that after `DATA`, `BDAT` or
/// `STARTTLS` the caller sees exactly which bytes follow the command.
#[derive(Debug, Clone)]
pub struct CommandParser {
    line: LineReader,
    cfg: ParserConfig,
}

impl Default for CommandParser {
    fn default() -> Self {
        Self::new(ParserConfig::default())
    }
}

impl CommandParser {
    pub fn new(cfg: ParserConfig) -> Self {
        CommandParser {
            line: LineReader::new(cfg.line_limit),
            cfg,
        }
    }

    pub fn config(&self) -> ParserConfig {
        self.cfg
    }

    /// Read one command from `it`, advancing it past the command's line
    /// ending. `Err(NeedsMoreData)` means `it` was consumed entirely and the
    /// partial line is kept for the next call.
    pub fn parse(&mut self, it: &mut Iter<'_, u8>) -> Result<Command, CommandError> {
        match self.line.poll(it) {
            LineEvent::NeedsMoreData => Err(CommandError::NeedsMoreData),
            LineEvent::TooLong => Err(CommandError::LineTooLong),
            LineEvent::Line => parse_line(self.line.line(), self.cfg),
        }
    }

    /// The line the last [`CommandParser::parse`] ended (without its line
    /// ending; the start of it when it was too long), however it arrived
    /// in pieces: what the server names in its statistics and log.
    pub fn last_line(&self) -> &[u8] {
        self.line.line()
    }

    /// Parses `line` in place of the line the last [`CommandParser::parse`]
    /// ended, which [`CommandParser::last_line`] then returns: a command
    /// line the server rewrote (Postfix's smtpd_command_filter).
    pub fn reparse(&mut self, line: &[u8]) -> Result<Command, CommandError> {
        self.line.replace_line(line);
        parse_line(self.line.line(), self.cfg)
    }

    /// Bytes of an unfinished line held.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.line.buffered()
    }

    /// Whether the line just parsed (command or error) ended in a bare LF
    /// rather than CRLF. Postfix accepts both; log or refuse as configured.
    pub fn bare_lf(&self) -> bool {
        self.line.bare_lf()
    }
}

/// Parse one complete command line (without its line ending).
pub fn parse_line(bytes: &[u8], cfg: ParserConfig) -> Result<Command, CommandError> {
    if bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(CommandError::Control);
    }
    if !cfg.utf8 && !bytes.is_ascii() {
        return Err(CommandError::BadUtf8);
    }
    let line = std::str::from_utf8(bytes).map_err(|_| CommandError::BadUtf8)?;
    let line = if cfg.strict {
        line
    } else {
        line.trim_start_matches([' ', '\t'])
    };
    let line = line.trim_end_matches([' ', '\t']);
    if line.is_empty() {
        return Err(CommandError::Empty);
    }
    let (word, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    if word.is_empty() {
        return Err(CommandError::Empty);
    }
    let Some(verb) = Verb::from_word(word) else {
        if !word.is_ascii() {
            return Err(CommandError::BadUtf8);
        }
        return Ok(Command::Unknown(word.to_string()));
    };
    if !matches!(verb, Verb::Mail | Verb::Rcpt | Verb::Vrfy | Verb::Expn) && !rest.is_ascii() {
        return Err(CommandError::BadUtf8);
    }
    let strict_sep_bad = cfg.strict && rest.starts_with([' ', '\t']);
    let arg = rest.trim_matches([' ', '\t']);
    let syntax = Err(CommandError::Syntax(verb));
    match verb {
        Verb::Helo | Verb::Ehlo if arg.is_empty() || strict_sep_bad => syntax,
        Verb::Helo => Ok(Command::Helo(arg.into())),
        Verb::Ehlo => Ok(Command::Ehlo(arg.into())),
        Verb::Mail => parse_mail(rest, cfg).map(Command::Mail),
        Verb::Rcpt => parse_rcpt(rest, cfg).map(Command::Rcpt),
        Verb::Data if !arg.is_empty() => syntax,
        Verb::Data => Ok(Command::Data),
        Verb::Bdat => parse_bdat(rest, cfg.strict),
        Verb::Rset if !arg.is_empty() => syntax,
        Verb::Rset => Ok(Command::Rset),
        Verb::Noop => Ok(Command::Noop),
        Verb::Quit => Ok(Command::Quit),
        Verb::Vrfy if arg.is_empty() => syntax,
        Verb::Vrfy => Ok(Command::Vrfy(arg.into())),
        Verb::Expn => Ok(Command::Expn(arg.into())),
        Verb::Help if arg.is_empty() => Ok(Command::Help(None)),
        Verb::Help => Ok(Command::Help(Some(arg.into()))),
        Verb::StartTls if !arg.is_empty() => syntax,
        Verb::StartTls => Ok(Command::StartTls),
        Verb::Auth => {
            let mut words = arg.split_ascii_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(m), i, None) => Ok(Command::Auth {
                    mechanism: m.to_ascii_uppercase(),
                    initial: i.map(Into::into),
                }),
                _ => syntax,
            }
        }
        Verb::Etrn if arg.is_empty() => syntax,
        Verb::Etrn => Ok(Command::Etrn(arg.into())),
        Verb::Xclient => attributes(arg)
            .map(Command::Xclient)
            .ok_or(CommandError::Syntax(verb)),
        Verb::Xforward => attributes(arg)
            .map(Command::Xforward)
            .ok_or(CommandError::Syntax(verb)),
    }
}

/// Split `FROM:<path> params` (or `TO:`) into the path token and the
/// parameter words. `None` when the keyword or the path is missing.
fn split_path<'a>(rest: &'a str, keyword: &str, strict: bool) -> Option<(&'a str, Vec<&'a str>)> {
    let rest = if strict {
        rest
    } else {
        rest.trim_start_matches([' ', '\t'])
    };
    if rest.len() < keyword.len() || !rest.is_char_boundary(keyword.len()) {
        return None;
    }
    let (kw, after) = rest.split_at(keyword.len());
    if !kw.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let after = if strict {
        after
    } else {
        after.trim_start_matches([' ', '\t'])
    };
    if after.is_empty() {
        return None;
    }
    // The path ends at the `>` matching a leading `<` (quotes respected),
    // otherwise at the first blank.
    let end = if after.starts_with('<') {
        let mut quoted = false;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if quoted && c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = !quoted;
            } else if c == '>' && !quoted {
                end = Some(i + 1);
                break;
            }
        }
        end.unwrap_or_else(|| after.find([' ', '\t']).unwrap_or(after.len()))
    } else {
        after.find([' ', '\t']).unwrap_or(after.len())
    };
    let (path, params) = after.split_at(end);
    if strict && !params.is_empty() && !params.starts_with(' ') {
        // `<a@b>x`: let the path parser reject the whole token.
        let tok_end = params.find([' ', '\t']).unwrap_or(params.len());
        return Some((
            &after[..end + tok_end],
            params[tok_end..].split_ascii_whitespace().collect(),
        ));
    }
    Some((path, params.split_ascii_whitespace().collect()))
}

fn key_value(p: &str) -> (&str, Option<&str>) {
    match p.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (p, None),
    }
}

fn parse_mail(rest: &str, cfg: ParserConfig) -> Result<MailFrom, CommandError> {
    let (path, params) =
        split_path(rest, "FROM:", cfg.strict).ok_or(CommandError::Syntax(Verb::Mail))?;
    let opts = PathOptions {
        utf8: cfg.utf8,
        strict: cfg.strict,
    };
    let sender = parse_path(path, opts).map_err(CommandError::BadSender)?;
    let mut m = MailFrom {
        sender,
        ..MailFrom::default()
    };
    for p in params {
        let unsupported = || CommandError::Unsupported(p.to_string());
        if !p.is_ascii() {
            return Err(unsupported());
        }
        let (k, v) = key_value(p);
        match (k.to_ascii_uppercase().as_str(), v) {
            ("SIZE", Some(v)) => {
                if !v.bytes().all(|b| b.is_ascii_digit()) || v.is_empty() {
                    return Err(CommandError::BadSize);
                }
                m.size = Some(v.parse().map_err(|_| CommandError::SizeOverflow)?);
            }
            ("BODY", Some(v)) => {
                m.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(unsupported()),
                })
            }
            ("SMTPUTF8", None) => m.smtputf8 = true,
            ("RET", Some(v)) => {
                if m.ret.is_some() {
                    return Err(CommandError::BadRet);
                }
                m.ret = Some(match v.to_ascii_uppercase().as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Hdrs,
                    _ => return Err(CommandError::BadRet),
                })
            }
            ("ENVID", Some(v)) => {
                if m.envid.is_some() {
                    return Err(CommandError::BadEnvid);
                }
                match xtext::decode(v) {
                    Some(e) if e.chars().all(|c| !c.is_control()) => m.envid = Some(e),
                    _ => return Err(CommandError::BadEnvid),
                }
            }
            ("AUTH", Some(v)) => {
                if m.auth.is_some() {
                    return Err(CommandError::BadAuthParam);
                }
                if v == "<>" {
                    m.auth = Some(v.into());
                } else {
                    m.auth = Some(
                        xtext::decode(v)
                            .filter(|a| !a.is_empty())
                            .ok_or(CommandError::BadAuthParam)?,
                    );
                }
            }
            ("XVERP", None) if m.verp.is_none() => m.verp = Some(String::new()),
            ("XVERP", Some(v)) if m.verp.is_none() && !v.is_empty() => m.verp = Some(v.to_string()),
            _ => return Err(unsupported()),
        }
    }
    Ok(m)
}

fn parse_rcpt(rest: &str, cfg: ParserConfig) -> Result<RcptTo, CommandError> {
    let (path, params) =
        split_path(rest, "TO:", cfg.strict).ok_or(CommandError::Syntax(Verb::Rcpt))?;
    let opts = PathOptions {
        utf8: cfg.utf8,
        strict: cfg.strict,
    };
    let rcpt = parse_path(path, opts)
        .map_err(CommandError::BadRecipient)?
        .ok_or(CommandError::BadRecipient(AddrError::Empty))?;
    let mut r = RcptTo {
        rcpt,
        ..RcptTo::default()
    };
    for p in params {
        if !p.is_ascii() {
            return Err(CommandError::Unsupported(p.to_string()));
        }
        let (k, v) = key_value(p);
        match (k.to_ascii_uppercase().as_str(), v) {
            ("NOTIFY", Some(v)) => {
                if r.notify.is_some() {
                    return Err(CommandError::BadNotify);
                }
                r.notify = Some(Notify::parse(v).ok_or(CommandError::BadNotify)?);
            }
            ("ORCPT", Some(v)) => {
                if r.orcpt.is_some() {
                    return Err(CommandError::BadOrcpt);
                }
                let (t, a) = v.split_once(';').ok_or(CommandError::BadOrcpt)?;
                let addr = xtext::decode(a).ok_or(CommandError::BadOrcpt)?;
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(CommandError::BadOrcpt);
                }
                r.orcpt = Some(Orcpt {
                    addr_type: t.into(),
                    addr,
                });
            }
            _ => return Err(CommandError::Unsupported(p.to_string())),
        }
    }
    Ok(r)
}

fn parse_bdat(rest: &str, strict: bool) -> Result<Command, CommandError> {
    let syntax = Err(CommandError::Syntax(Verb::Bdat));
    if strict && (rest.starts_with(' ') || rest.contains("  ")) {
        return syntax;
    }
    let mut words = rest.split_ascii_whitespace();
    let (Some(n), last, None) = (words.next(), words.next(), words.next()) else {
        return syntax;
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return syntax;
    }
    let Ok(size) = n.parse::<u64>() else {
        return syntax;
    };
    match last {
        None => Ok(Command::Bdat { size, last: false }),
        Some(l) if l.eq_ignore_ascii_case("LAST") => Ok(Command::Bdat { size, last: true }),
        Some(_) => syntax,
    }
}
