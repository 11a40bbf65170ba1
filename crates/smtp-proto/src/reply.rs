//! SMTP replies: building them (server side, with Postfix's texts), and
//! parsing them (client side, [`ReplyParser`]), plus the EHLO capability
//! set ([`Capabilities`]) both ways.

use std::fmt;
use std::slice::Iter;

use crate::command::Verb;
use crate::line::{LineEvent, LineReader};

/// One SMTP reply: a code, an optional RFC 3463 enhanced status code, and
/// one or more lines of text. Multi-line replies go out as `250-a`,
/// `250-b`, `250 c`; the enhanced code, when present, starts every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<(u8, u16, u16)>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: Option<(u8, u16, u16)>, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced,
            lines: vec![text.into()],
        }
    }

    pub fn multi(code: u16, enhanced: Option<(u8, u16, u16)>, lines: Vec<String>) -> Self {
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx (354, 334).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The enhanced code as text (`5.1.3`).
    pub fn enhanced_text(&self) -> Option<String> {
        self.enhanced.map(|(a, b, c)| format!("{a}.{b}.{c}"))
    }

    /// The lines joined by a space, with the enhanced code in front, as
    /// Postfix logs a reply (`5.1.3 Bad recipient address syntax`).
    pub fn text(&self) -> String {
        let body = self.lines.join(" ");
        match self.enhanced_text() {
            Some(e) if body.is_empty() => e,
            Some(e) => format!("{e} {body}"),
            None => body,
        }
    }

    /// Append the wire form to `out`. CR and LF inside a line are replaced
    /// by spaces so that a reply can never inject another line. (No
    /// allocation: a session writes several replies per message.)
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let count = self.lines.len().max(1);
        for i in 0..count {
            let line = self.lines.get(i).map(String::as_str).unwrap_or("");
            let last = i + 1 == count;
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{:03}", self.code);
            if self.enhanced.is_some() || !line.is_empty() || !last {
                out.push(if last { b' ' } else { b'-' });
            }
            if let Some((a, b, c)) = self.enhanced {
                let _ = write!(out, "{a}.{b}.{c}");
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend(
                line.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form, CRLF-terminated.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    // ---- Postfix 3.7's texts (checked against smtpd 3.7.11) ----

    /// `220 <banner>`, e.g. `mx.example.com ESMTP Postfix`.
    pub fn greeting(banner: &str) -> Self {
        Reply::new(220, None, banner)
    }
    /// `250 <myhostname>` (HELO).
    pub fn helo(hostname: &str) -> Self {
        Reply::new(250, None, hostname)
    }
    /// `250 2.0.0 Ok`.
    pub fn ok() -> Self {
        Reply::new(250, Some((2, 0, 0)), "Ok")
    }
    /// `250 2.1.0 Ok` (MAIL).
    pub fn mail_ok() -> Self {
        Reply::new(250, Some((2, 1, 0)), "Ok")
    }
    /// `250 2.1.5 Ok` (RCPT).
    pub fn rcpt_ok() -> Self {
        Reply::new(250, Some((2, 1, 5)), "Ok")
    }
    /// `250 2.0.0 Ok: queued as <id>`.
    pub fn queued(queue_id: &str) -> Self {
        Reply::new(250, Some((2, 0, 0)), format!("Ok: queued as {queue_id}"))
    }
    /// `250 2.0.0 Ok: <n> bytes` (a BDAT chunk that is not the last).
    pub fn chunk_ok(bytes: u64) -> Self {
        Reply::new(250, Some((2, 0, 0)), format!("Ok: {bytes} bytes"))
    }
    /// `250 2.0.0 Ok: <n> bytes queued as <id>` (BDAT LAST).
    pub fn chunk_queued(bytes: u64, queue_id: &str) -> Self {
        Reply::new(
            250,
            Some((2, 0, 0)),
            format!("Ok: {bytes} bytes queued as {queue_id}"),
        )
    }
    /// `252 2.0.0 <address>` (VRFY).
    pub fn vrfy(address: &str) -> Self {
        Reply::new(252, Some((2, 0, 0)), address)
    }
    /// `221 2.0.0 Bye`.
    pub fn bye() -> Self {
        Reply::new(221, Some((2, 0, 0)), "Bye")
    }
    /// `220 2.0.0 Ready to start TLS`.
    pub fn ready_to_start_tls() -> Self {
        Reply::new(220, Some((2, 0, 0)), "Ready to start TLS")
    }
    /// `235 2.7.0 Authentication successful`.
    pub fn auth_successful() -> Self {
        Reply::new(235, Some((2, 7, 0)), "Authentication successful")
    }
    /// `334 <challenge>` (base64, may be empty).
    pub fn auth_challenge(challenge: &str) -> Self {
        Reply::new(334, None, challenge)
    }
    /// `354 End data with <CR><LF>.<CR><LF>`.
    pub fn start_data() -> Self {
        Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
    }
    /// `421 4.4.2 <host> Error: timeout exceeded`.
    pub fn timeout(hostname: &str) -> Self {
        Reply::new(
            421,
            Some((4, 4, 2)),
            format!("{hostname} Error: timeout exceeded"),
        )
    }
    /// `421 4.7.0 <host> Error: too many errors`.
    pub fn too_many_errors(hostname: &str) -> Self {
        Reply::new(
            421,
            Some((4, 7, 0)),
            format!("{hostname} Error: too many errors"),
        )
    }
    /// `421 <host> Service unavailable - try again later`.
    pub fn service_unavailable(hostname: &str) -> Self {
        Reply::new(
            421,
            None,
            format!("{hostname} Service unavailable - try again later"),
        )
    }
    /// `452 4.3.1 Insufficient system storage`.
    pub fn insufficient_storage() -> Self {
        Reply::new(452, Some((4, 3, 1)), "Insufficient system storage")
    }
    /// `452 4.5.3 Error: too many recipients`.
    pub fn too_many_recipients() -> Self {
        Reply::new(452, Some((4, 5, 3)), "Error: too many recipients")
    }
    /// `451 4.3.0 Queue file write error`.
    pub fn queue_write_error() -> Self {
        Reply::new(451, Some((4, 3, 0)), "Queue file write error")
    }
    /// `454 4.7.0 TLS not available due to local problem`.
    pub fn tls_not_available() -> Self {
        Reply::new(
            454,
            Some((4, 7, 0)),
            "TLS not available due to local problem",
        )
    }
    /// `500 5.5.2 Error: bad syntax` (empty line, NUL).
    pub fn bad_syntax() -> Self {
        Reply::new(500, Some((5, 5, 2)), "Error: bad syntax")
    }
    /// `500 5.5.2 Error: bad UTF-8 syntax`.
    pub fn bad_utf8() -> Self {
        Reply::new(500, Some((5, 5, 2)), "Error: bad UTF-8 syntax")
    }
    /// `500 5.5.2 Error: command not recognized` (Postfix uses 500, not 502).
    pub fn not_recognized() -> Self {
        Reply::new(500, Some((5, 5, 2)), "Error: command not recognized")
    }
    /// `500 5.5.2 Error: line too long`. Not a Postfix text: Postfix
    /// truncates an over-long command line instead.
    pub fn line_too_long() -> Self {
        Reply::new(500, Some((5, 5, 2)), "Error: line too long")
    }
    /// `501 5.1.7 Bad sender address syntax`.
    pub fn bad_sender() -> Self {
        Reply::new(501, Some((5, 1, 7)), "Bad sender address syntax")
    }
    /// `501 5.1.3 Bad recipient address syntax`.
    pub fn bad_recipient() -> Self {
        Reply::new(501, Some((5, 1, 3)), "Bad recipient address syntax")
    }
    /// `501 5.7.0 Authentication aborted`.
    pub fn auth_aborted() -> Self {
        Reply::new(501, Some((5, 7, 0)), "Authentication aborted")
    }
    /// The syntax reply for a verb, as Postfix words it
    /// (`501 5.5.4 Syntax: MAIL FROM:<address>`, `501 Syntax: HELO hostname`...).
    pub fn syntax(verb: Verb) -> Self {
        let e = Some((5, 5, 4));
        match verb {
            Verb::Helo => Reply::new(501, None, "Syntax: HELO hostname"),
            Verb::Ehlo => Reply::new(501, None, "Syntax: EHLO hostname"),
            Verb::Mail => Reply::new(501, e, "Syntax: MAIL FROM:<address>"),
            Verb::Rcpt => Reply::new(501, e, "Syntax: RCPT TO:<address>"),
            Verb::Data => Reply::new(501, e, "Syntax: DATA"),
            Verb::Bdat => Reply::new(521, e, "Syntax: BDAT count [LAST]"),
            Verb::Rset => Reply::new(501, e, "Syntax: RSET"),
            Verb::Vrfy => Reply::new(501, e, "Syntax: VRFY address [SMTPUTF8]"),
            Verb::StartTls => Reply::new(501, e, "Syntax: STARTTLS"),
            Verb::Auth => Reply::new(501, e, "Syntax: AUTH mechanism"),
            Verb::Etrn => Reply::new(500, None, "Syntax: ETRN domain"),
            Verb::Xclient => Reply::new(501, e, "Syntax: XCLIENT attribute=value..."),
            Verb::Xforward => Reply::new(501, e, "Syntax: XFORWARD attribute=value..."),
            // Postfix never refuses these for syntax (it has no EXPN/HELP).
            Verb::Noop | Verb::Quit | Verb::Expn | Verb::Help => Reply::bad_syntax(),
        }
    }
    /// `502 5.5.1 Error: command not implemented`.
    pub fn not_implemented() -> Self {
        Reply::new(502, Some((5, 5, 1)), "Error: command not implemented")
    }
    /// `502 5.5.1 VRFY command is disabled`.
    pub fn vrfy_disabled() -> Self {
        Reply::new(502, Some((5, 5, 1)), "VRFY command is disabled")
    }
    /// `503 5.5.1 Error: need MAIL command`.
    pub fn need_mail() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: need MAIL command")
    }
    /// `503 5.5.1 Error: need RCPT command`.
    pub fn need_rcpt() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: need RCPT command")
    }
    /// `503 5.5.1 Error: nested MAIL command`.
    pub fn nested_mail() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: nested MAIL command")
    }
    /// `503 5.5.1 Error: send HELO/EHLO first`.
    pub fn send_helo_first() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: send HELO/EHLO first")
    }
    /// `503 5.5.1 Error: MAIL transaction in progress`.
    pub fn mail_in_progress() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: MAIL transaction in progress")
    }
    /// `503 5.5.1 Error: authentication not enabled`.
    pub fn auth_not_enabled() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: authentication not enabled")
    }
    /// `503 5.5.1 Error: already authenticated`.
    pub fn already_authenticated() -> Self {
        Reply::new(503, Some((5, 5, 1)), "Error: already authenticated")
    }
    /// `503 5.5.1 Error: <verb> after BDAT` (DATA, MAIL or RCPT).
    pub fn after_bdat(verb: Verb) -> Self {
        Reply::new(503, Some((5, 5, 1)), format!("Error: {verb} after BDAT"))
    }
    /// `530 5.7.0 Must issue a STARTTLS command first`.
    pub fn starttls_first() -> Self {
        Reply::new(530, Some((5, 7, 0)), "Must issue a STARTTLS command first")
    }
    /// `535 5.7.8 Error: authentication failed: <detail>`.
    pub fn auth_failed(detail: &str) -> Self {
        Reply::new(
            535,
            Some((5, 7, 8)),
            format!("Error: authentication failed: {detail}"),
        )
    }
    /// `551 5.7.1 Null BDAT request` (BDAT 0 without LAST).
    pub fn null_bdat() -> Self {
        Reply::new(551, Some((5, 7, 1)), "Null BDAT request")
    }
    /// `551 5.0.0 Discarded <n> bytes after earlier error`.
    pub fn bdat_discarded(bytes: u64) -> Self {
        Reply::new(
            551,
            Some((5, 0, 0)),
            format!("Discarded {bytes} bytes after earlier error"),
        )
    }
    /// `552 5.3.4 Message size exceeds fixed limit` (MAIL FROM SIZE= too big).
    pub fn size_exceeds_limit() -> Self {
        Reply::new(552, Some((5, 3, 4)), "Message size exceeds fixed limit")
    }
    /// `552 5.3.4 Error: message file too big` (end of DATA past
    /// `message_size_limit`).
    pub fn message_too_big() -> Self {
        Reply::new(552, Some((5, 3, 4)), "Error: message file too big")
    }
    /// `552 5.3.4 Chunk exceeds message size limit` (BDAT).
    pub fn chunk_too_big() -> Self {
        Reply::new(552, Some((5, 3, 4)), "Chunk exceeds message size limit")
    }
    /// `553 5.6.7 Must declare SMTPUTF8 to send unicode address`.
    pub fn must_declare_smtputf8() -> Self {
        Reply::new(
            553,
            Some((5, 6, 7)),
            "Must declare SMTPUTF8 to send unicode address",
        )
    }
    /// `554 5.5.1 Error: no valid recipients`.
    pub fn no_valid_recipients() -> Self {
        Reply::new(554, Some((5, 5, 1)), "Error: no valid recipients")
    }
    /// `554 5.5.1 Error: TLS already active`.
    pub fn tls_already_active() -> Self {
        Reply::new(554, Some((5, 5, 1)), "Error: TLS already active")
    }
    /// `554 5.5.0 Error: SMTP protocol synchronization`.
    pub fn protocol_synchronization() -> Self {
        Reply::new(554, Some((5, 5, 0)), "Error: SMTP protocol synchronization")
    }
    /// `<code> 5.5.2 <host> Error: bare <LF> received` (Postfix
    /// `smtpd_forbid_bare_newline`; the code is configurable there).
    pub fn bare_lf_received(code: u16, hostname: &str) -> Self {
        Reply::new(
            code,
            Some((5, 5, 2)),
            format!("{hostname} Error: bare <LF> received"),
        )
    }
    /// `555 5.5.4 Unsupported option: <option>`.
    pub fn unsupported_option(option: &str) -> Self {
        Reply::new(
            555,
            Some((5, 5, 4)),
            format!("Unsupported option: {option}"),
        )
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// An EHLO capability set, for building the EHLO reply (server) and for
/// reading it (client).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub pipelining: bool,
    /// `SIZE n`; `Some(0)` is `SIZE` without a limit.
    pub size: Option<u64>,
    pub vrfy: bool,
    pub etrn: bool,
    pub starttls: bool,
    /// `AUTH` mechanisms, upper case; empty when AUTH is not offered.
    pub auth: Vec<String>,
    pub enhanced_status_codes: bool,
    pub eightbitmime: bool,
    pub dsn: bool,
    pub smtputf8: bool,
    pub chunking: bool,
    pub binarymime: bool,
    /// Keywords this crate does not know, as sent (`XCLIENT NAME ADDR`...).
    pub other: Vec<String>,
}

impl Capabilities {
    /// The keyword lines, in Postfix's order.
    pub fn keywords(&self) -> Vec<String> {
        let mut k = Vec::new();
        if self.pipelining {
            k.push("PIPELINING".to_string());
        }
        match self.size {
            Some(0) => k.push("SIZE".into()),
            Some(n) => k.push(format!("SIZE {n}")),
            None => {}
        }
        if self.vrfy {
            k.push("VRFY".into());
        }
        if self.etrn {
            k.push("ETRN".into());
        }
        if self.starttls {
            k.push("STARTTLS".into());
        }
        if !self.auth.is_empty() {
            k.push(format!("AUTH {}", self.auth.join(" ")));
        }
        k.extend(self.other.iter().cloned());
        if self.enhanced_status_codes {
            k.push("ENHANCEDSTATUSCODES".into());
        }
        if self.eightbitmime {
            k.push("8BITMIME".into());
        }
        if self.binarymime {
            k.push("BINARYMIME".into());
        }
        if self.dsn {
            k.push("DSN".into());
        }
        if self.smtputf8 {
            k.push("SMTPUTF8".into());
        }
        if self.chunking {
            k.push("CHUNKING".into());
        }
        k
    }

    /// The EHLO reply: `250-<hostname>` then one line per keyword.
    pub fn ehlo_reply(&self, hostname: &str) -> Reply {
        let mut lines = vec![hostname.to_string()];
        lines.extend(self.keywords());
        Reply::multi(250, None, lines)
    }

    /// What smtpd logs for its `smtpd_discard_ehlo_keywords` at each EHLO:
    /// the keywords Postfix knows, upper case and in its own order
    /// (`str_ehlo_mask`). None when there are none, or when the list holds
    /// `silent-discard` or `enhancedstatuscodes` (Postfix is quiet then).
    pub fn discard_log(words: &[String]) -> Option<String> {
        const ORDER: [&str; 15] = [
            "8BITMIME",
            "AUTH",
            "ETRN",
            "PIPELINING",
            "SIZE",
            "VERP",
            "VRFY",
            "XCLIENT",
            "XFORWARD",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
            "SILENT-DISCARD",
        ];
        let has = |k: &str| words.iter().any(|w| w.eq_ignore_ascii_case(k));
        if has("SILENT-DISCARD") || has("ENHANCEDSTATUSCODES") {
            return None;
        }
        let named: Vec<&str> = ORDER.into_iter().filter(|k| has(k)).collect();
        (!named.is_empty()).then(|| named.join(" "))
    }

    /// Forgets the keywords named in `words` (any case; Postfix's
    /// `*_discard_ehlo_keywords`: `pipelining`, `size`, `auth`, `8bitmime`
    /// …, an unknown one by its first word); returns those that were there.
    pub fn discard(&mut self, words: &[String]) -> Vec<String> {
        let mut gone = Vec::new();
        for w in words {
            let w = w.to_ascii_lowercase();
            let there = match w.as_str() {
                "pipelining" => std::mem::take(&mut self.pipelining),
                "size" => self.size.take().is_some(),
                "vrfy" => std::mem::take(&mut self.vrfy),
                "etrn" => std::mem::take(&mut self.etrn),
                "starttls" => std::mem::take(&mut self.starttls),
                "auth" => !std::mem::take(&mut self.auth).is_empty(),
                "enhancedstatuscodes" => std::mem::take(&mut self.enhanced_status_codes),
                "8bitmime" => std::mem::take(&mut self.eightbitmime),
                "binarymime" => std::mem::take(&mut self.binarymime),
                "dsn" => std::mem::take(&mut self.dsn),
                "smtputf8" => std::mem::take(&mut self.smtputf8),
                "chunking" => std::mem::take(&mut self.chunking),
                // Postfix's mask name for XVERP.
                "verp" => {
                    let before = self.other.len();
                    self.other.retain(|l| l != "XVERP");
                    self.other.len() < before
                }
                other => {
                    let before = self.other.len();
                    self.other.retain(|l| {
                        !l.split_ascii_whitespace()
                            .next()
                            .is_some_and(|k| k.eq_ignore_ascii_case(other))
                    });
                    self.other.len() < before
                }
            };
            if there {
                gone.push(w.to_ascii_uppercase());
            }
        }
        gone
    }

    /// The attribute names an `XFORWARD` keyword offers (upper case);
    /// empty when the server offers none.
    pub fn xforward(&self) -> Vec<String> {
        self.other
            .iter()
            .find_map(|l| {
                let mut words = l.split_ascii_whitespace();
                words
                    .next()
                    .filter(|k| k.eq_ignore_ascii_case("XFORWARD"))
                    .map(|_| words.map(|w| w.to_ascii_uppercase()).collect())
            })
            .unwrap_or_default()
    }

    /// Read a (positive) EHLO reply; the first line is the server's name.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut c = Capabilities::default();
        for l in reply.lines.iter().skip(1) {
            c.add_keyword(l);
        }
        c
    }

    /// Record one EHLO keyword line (case-insensitive). `AUTH=...` (old
    /// clients' form) counts as AUTH.
    pub fn add_keyword(&mut self, line: &str) {
        let mut words = line.split_ascii_whitespace();
        let Some(first) = words.next() else { return };
        let kw = first.to_ascii_uppercase();
        match kw.as_str() {
            "PIPELINING" => self.pipelining = true,
            "SIZE" => self.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
            "VRFY" => self.vrfy = true,
            "ETRN" => self.etrn = true,
            "STARTTLS" => self.starttls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "8BITMIME" => self.eightbitmime = true,
            "BINARYMIME" => self.binarymime = true,
            "DSN" => self.dsn = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "CHUNKING" => self.chunking = true,
            "AUTH" => self.add_auth(words),
            k if k.starts_with("AUTH=") => {
                let first = first.get(5..).unwrap_or("");
                self.add_auth(std::iter::once(first).chain(words));
            }
            _ => self.other.push(line.to_string()),
        }
    }

    fn add_auth<'a>(&mut self, mechs: impl Iterator<Item = &'a str>) {
        for m in mechs {
            let m = m.to_ascii_uppercase();
            if !m.is_empty() && !self.auth.contains(&m) {
                self.auth.push(m);
            }
        }
    }
}

/// Why a reply could not be read. After any variant but `NeedsMoreData`
/// the parser has consumed the whole (bad) reply and is ready for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Not an error: feed more bytes.
    NeedsMoreData,
    /// A line did not start with a three-digit code and ` `, `-` or its end.
    BadSyntax(String),
    /// The lines of one multi-line reply carry different codes.
    CodeMismatch,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::NeedsMoreData => f.write_str("incomplete reply"),
            ReplyError::BadSyntax(l) => write!(f, "malformed reply line: {l}"),
            ReplyError::CodeMismatch => f.write_str("reply code changed within a multi-line reply"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// The client-side reply parser. Limits bound memory: a reply holds at
/// most `max_lines` lines of at most `line_limit` bytes. As Postfix's
/// `smtp_chat_resp`, a longer line is cut short and more lines are passed
/// over: the reply still counts, with the text it has.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    line: LineReader,
    max_lines: usize,
    code: Option<u16>,
    lines: Vec<String>,
    error: Option<ReplyError>,
}

/// Default limits: Postfix's `line_length_limit` and a generous line count.
pub const DEFAULT_REPLY_LINE_LIMIT: usize = 2048;
pub const DEFAULT_REPLY_MAX_LINES: usize = 100;

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new(DEFAULT_REPLY_LINE_LIMIT, DEFAULT_REPLY_MAX_LINES)
    }
}

impl ReplyParser {
    pub fn new(line_limit: usize, max_lines: usize) -> Self {
        ReplyParser {
            line: LineReader::new(line_limit.max(4)),
            max_lines: max_lines.max(1),
            code: None,
            lines: Vec::new(),
            error: None,
        }
    }

    /// Read one complete reply from `it`, advancing it past the reply's last
    /// line. The enhanced status code is taken off the lines when the first
    /// line has one whose class matches the reply code.
    pub fn parse(&mut self, it: &mut Iter<'_, u8>) -> Result<Reply, ReplyError> {
        loop {
            let ev = self.line.poll(it);
            if ev == LineEvent::NeedsMoreData {
                return Err(ReplyError::NeedsMoreData);
            }
            // A line over the limit (LineEvent::TooLong) holds its first
            // `line_limit` bytes.
            let raw = self.line.line();
            let (code, last, text) = match split_reply_line(raw) {
                Some(x) => x,
                None => {
                    // Unparseable: this reply is lost; resynchronise on the
                    // next line.
                    let l = String::from_utf8_lossy(raw).into_owned();
                    self.reset();
                    return Err(ReplyError::BadSyntax(l));
                }
            };
            match self.code {
                Some(c) if c != code && self.error.is_none() => {
                    self.error = Some(ReplyError::CodeMismatch)
                }
                None => self.code = Some(code),
                _ => {}
            }
            if self.lines.len() < self.max_lines {
                self.lines.push(text);
            }
            if last {
                let lines = std::mem::take(&mut self.lines);
                let code = self.code.take().unwrap_or(code);
                if let Some(e) = self.error.take() {
                    return Err(e);
                }
                return Ok(finish_reply(code, lines));
            }
        }
    }

    fn reset(&mut self) {
        self.code = None;
        self.lines.clear();
        self.error = None;
    }
}

/// `250-text` → (250, false, "text"); `250 text` / `250` → last.
fn split_reply_line(raw: &[u8]) -> Option<(u16, bool, String)> {
    let d = raw.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&d[0]) {
        return None;
    }
    let code = d.iter().fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'));
    let (last, text) = match raw.get(3) {
        None => (true, &raw[3..3]),
        Some(b' ') => (true, &raw[4..]),
        Some(b'-') => (false, &raw[4..]),
        Some(_) => return None,
    };
    Some((code, last, String::from_utf8_lossy(text).into_owned()))
}

/// Parse `x.y.z` at the start of `text` (followed by a blank or the end).
fn enhanced_prefix(text: &str) -> Option<((u8, u16, u16), usize)> {
    let end = text.find(' ').unwrap_or(text.len());
    let mut parts = text[..end].split('.');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !(a.len() == 1 && digits(a, 1) && digits(b, 3) && digits(c, 3)) {
        return None;
    }
    Some(((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?), end))
}

fn finish_reply(code: u16, mut lines: Vec<String>) -> Reply {
    let class = (code / 100) as u8;
    let enhanced = lines
        .first()
        .and_then(|l| enhanced_prefix(l))
        .map(|(e, _)| e)
        .filter(|e| e.0 == class && matches!(class, 2 | 4 | 5));
    if let Some(e) = enhanced {
        for l in &mut lines {
            if let Some((le, end)) = enhanced_prefix(l) {
                if le == e {
                    *l = l[end..].trim_start_matches(' ').to_string();
                }
            }
        }
    }
    Reply {
        code,
        enhanced,
        lines,
    }
}
