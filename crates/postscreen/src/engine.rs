//! postscreen's own SMTP (Postfix's "dummy" engine): the tests after the
//! greeting, the refusals of what a failed test enforces, and STARTTLS
//! (what Postfix's tlsproxy does for its postscreen) where
//! postscreen_tls_security_level offers it.

use crate::screen::{elapsed, printable, Shared};
use crate::settings::{Action, Settings, TlsLevel};
use maps::commands::Discard;
use maps::footer::Footer;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest command line postscreen's own SMTP reads.
const LINE_MAX: usize = 4096;

/// How long one reply may take to write.
const WRITE_LIMIT: Duration = Duration::from_secs(10);

/// The client's socket, each read and write bounded by a deadline: a
/// client that trickles its bytes (or a TLS record, which rustls reads
/// whole, one socket read after another) cannot stretch a time limit.
pub struct Deadlined<'a> {
    socket: &'a TcpStream,
    /// When what is being read must be whole.
    read_by: Instant,
}

impl<'a> Deadlined<'a> {
    pub fn new(socket: &'a TcpStream) -> Deadlined<'a> {
        Deadlined {
            socket,
            read_by: Instant::now(),
        }
    }

    fn left(until: Instant) -> std::io::Result<Duration> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.socket
            .set_read_timeout(Some(Deadlined::left(self.read_by)?))?;
        let mut socket = self.socket;
        socket.read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.socket.set_write_timeout(Some(WRITE_LIMIT))?;
        let mut socket = self.socket;
        socket.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The client's connection in postscreen's own SMTP: its socket, in TLS
/// after STARTTLS, and the reject footer its 4XX and 5XX replies get.
pub struct Link<'a> {
    io: Io<'a>,
    footer: Option<&'a Footer>,
}

enum Io<'a> {
    Plain(Deadlined<'a>),
    Tls(Box<tls::ServerStream<Deadlined<'a>>>),
}

impl<'a> Link<'a> {
    pub fn plain(socket: &'a TcpStream, footer: Option<&'a Footer>) -> Link<'a> {
        Link {
            io: Io::Plain(Deadlined::new(socket)),
            footer,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// Sends one reply (its lines joined by CRLF; a 4XX or 5XX reply with
    /// the reject footer); false when the client is gone or does not take
    /// it within [`WRITE_LIMIT`].
    pub fn say(&mut self, reply: &str) -> bool {
        let text = wire(reply, self.footer);
        match &mut self.io {
            Io::Plain(s) => s.write_all(text.as_bytes()).is_ok(),
            Io::Tls(t) => t.write_all(text.as_bytes()).and_then(|_| t.flush()).is_ok(),
        }
    }

    /// What is read from now on must come by `deadline`.
    fn read_by(&mut self, deadline: Instant) {
        match &mut self.io {
            Io::Plain(s) => s.read_by = deadline,
            Io::Tls(t) => t.sock.read_by = deadline,
        }
    }
}

/// `reply` as sent, CRLF-terminated: a one-line 4XX or 5XX reply (`CODE
/// [ENHANCED] text`) with the reject footer when there is one for it
/// (postscreen_reject_footer, postscreen_reject_footer_maps), as Postfix's
/// postscreen appends it to each reply it sends.
pub fn wire(reply: &str, footer: Option<&Footer>) -> String {
    let plain = format!("{reply}\r\n");
    let Some(footer) = footer else {
        return plain;
    };
    let Some((code, text)) = reply
        .split_once(' ')
        .filter(|(c, _)| c.len() == 3 && !reply.contains('\n'))
    else {
        return plain;
    };
    let Ok(code) = code.parse::<u16>() else {
        return plain;
    };
    let enhanced = text.split_once(' ').and_then(|(e, rest)| {
        let mut n = e.split('.').map(|p| p.parse::<u16>().ok());
        match (n.next(), n.next(), n.next(), n.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) if a < 10 => {
                Some(((a as u8, b, c), e, rest))
            }
            _ => None,
        }
    });
    let (lines, enhanced) = match enhanced {
        Some((tuple, e, rest)) => (
            footer.apply(code, Some(e), &[rest.to_string()]),
            Some(tuple),
        ),
        None => (footer.apply(code, None, &[text.to_string()]), None),
    };
    match lines {
        Some(lines) => {
            String::from_utf8_lossy(&smtp_proto::Reply::multi(code, enhanced, lines).to_bytes())
                .into_owned()
        }
        None => plain,
    }
}

impl Read for Link<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.io {
            Io::Plain(s) => s.read(buf),
            Io::Tls(t) => t.read(buf),
        }
    }
}

/// How [`read_line`] ended.
pub enum LineRead {
    /// A line; `bare` when it ended in a newline without a CR.
    Line {
        bare: bool,
    },
    Timeout,
    /// End of input, or an error.
    End,
}

/// Reads one line (without its end) from `input` into `line`, taking what
/// an earlier read left in `carry` first; the whole line must come by
/// `deadline`. A line longer than [`LINE_MAX`] is cut there (the rest
/// reads as the next line).
pub fn read_line(
    input: &mut Link,
    carry: &mut Vec<u8>,
    line: &mut Vec<u8>,
    deadline: Instant,
) -> LineRead {
    line.clear();
    loop {
        if let Some(end) = carry.iter().position(|&b| b == b'\n') {
            line.extend(carry.drain(..=end));
            line.pop();
            let crlf = line.last() == Some(&b'\r');
            if crlf {
                line.pop();
            }
            return LineRead::Line { bare: !crlf };
        }
        if carry.len() >= LINE_MAX {
            line.append(carry);
            return LineRead::Line { bare: false };
        }
        if deadline <= Instant::now() {
            return LineRead::Timeout;
        }
        input.read_by(deadline);
        let mut buf = [0u8; 1024];
        match input.read(&mut buf) {
            Ok(0) => return LineRead::End,
            Ok(n) => carry.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return LineRead::Timeout
            }
            Err(_) => return LineRead::End,
        }
    }
}

/// What postscreen's own SMTP is for.
pub enum Mode {
    /// A test failed with `enforce`: every recipient gets this reply.
    Enforce(String),
    /// The tests after the greeting (pipelining, non-SMTP commands, bare
    /// newlines, as enabled). A client that reaches RCPT without failing
    /// them has passed, and is told to come back: its connection cannot be
    /// handed to smtpd once the dialogue began. `known`: the client has an
    /// entry in the cache (its passes ran out): "PASS OLD", not "PASS NEW".
    Deep { known: bool },
    /// A client that reached an address postscreen_allowlist_interfaces
    /// does not list ("ALLOWLIST VETO"): the tests after the greeting run
    /// as enabled, but the client never passes here: every recipient is
    /// told to come back, nothing is remembered, nothing goes to smtpd.
    Vetoed,
}

/// The reply and log line after the tests after the greeting were passed.
const COME_BACK: &str = "450 4.3.2 Service currently unavailable";

/// postscreen's own SMTP (Postfix's "dummy" engine) with the client at
/// `peer`, each 4XX and 5XX reply with `footer`. Each command must come
/// whole within postscreen_command_time_limit (10 s when the tests are
/// nine-tenths full, as Postfix's stress mode has it), at most
/// postscreen_command_count_limit of them; postscreen_command_filter may
/// replace each line before it is looked at. Returns whether the client
/// passed the tests after the greeting (always false when enforcing or
/// vetoed).
pub fn smtp(
    shared: &Shared,
    stream: &TcpStream,
    peer: SocketAddr,
    footer: Option<&Footer>,
    mut mode: Mode,
) -> bool {
    let s = &shared.s;
    let who = format!("[{}]:{}", peer.ip(), peer.port());
    let who = who.as_str();
    let banner = if s.banner.is_empty() {
        format!("{} ESMTP", s.myhostname)
    } else {
        s.banner.clone()
    };
    let mut link = Link::plain(stream, footer);
    if !link.say(&format!("220 {banner}")) {
        return false;
    }
    let started = Instant::now();
    let (mut carry, mut raw) = (Vec::new(), Vec::new());
    let (mut helo, mut sender) = (String::new(), None::<String>);
    let mut proto = "SMTP";
    // The EHLO keywords left out: postscreen_discard_ehlo_keywords, or
    // what postscreen_discard_ehlo_keyword_address_maps says at EHLO.
    let mut discard = s.ehlo_discard.default_words().clone();
    // A client that reached RCPT has passed, unless a later command fails
    // a test (Postfix's "UNPASS").
    let mut passed = false;
    let mut tested = Tested::default();
    // The tests go on after one fails with enforce (Postfix: "allow other
    // tests to complete").
    let testing = matches!(mode, Mode::Deep { .. } | Mode::Vetoed);
    let mut last = "CONNECT".to_string();
    for _ in 0..s.command_count_limit {
        let stressed = shared.in_tests.load(Ordering::Acquire) * 10 >= s.pre_queue_limit * 9;
        let limit = if stressed {
            s.command_time_limit.min(Duration::from_secs(10))
        } else {
            s.command_time_limit
        };
        let bare = match read_line(&mut link, &mut carry, &mut raw, Instant::now() + limit) {
            LineRead::Line { bare } => bare,
            LineRead::Timeout => {
                maillog::info!("COMMAND TIME LIMIT from {who} after {last}");
                link.say(&format!(
                    "421 4.4.2 {} Error: timeout exceeded",
                    s.myhostname
                ));
                return false;
            }
            LineRead::End => {
                if testing && !passed && !tested.any_failed() {
                    maillog::info!(
                        "HANGUP after {} from {who} in tests after SMTP handshake",
                        elapsed(started)
                    );
                }
                return passed;
            }
        };
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        // postscreen_command_filter: the whole line, replaced before
        // anything looks at it (the bare newline test has seen its end).
        if let Some(new) = s.command_filter.as_ref().and_then(|f| f.replacement(&line)) {
            maillog::info!(
                "{who}: replacing command \"{}\" with \"{}\"",
                printable(line.as_bytes()),
                printable(new.as_bytes())
            );
            line = new;
        }
        let (verb, arg) = line
            .trim_start()
            .split_once(' ')
            .unwrap_or((line.trim_start(), ""));
        let verb = verb.to_ascii_uppercase();
        // The first word after HELO or EHLO (Postfix ignores the others).
        let helo_arg = arg.split(' ').find(|w| !w.is_empty());
        if testing {
            let waiting = (!carry.is_empty()).then(|| printable(&carry));
            let failed = tested.failure(s, who, &last, &line, &verb, bare, waiting);
            if let Some((action, drop_reply)) = failed {
                if action != Action::Ignore && passed {
                    maillog::info!("UNPASS {who}");
                    passed = false;
                }
                match action {
                    Action::Drop => {
                        link.say(drop_reply);
                        return false;
                    }
                    Action::Enforce => mode = Mode::Enforce("550 5.5.1 Protocol error".into()),
                    // Let the other tests go on; this one counts as passed.
                    Action::Ignore => {}
                }
            }
        }
        last = verb.clone();
        // At encrypt, only what may come before TLS is taken in plain
        // text (Postfix's PRE_TLS commands).
        let tls_first = s.tls_level == TlsLevel::Encrypt
            && !link.is_tls()
            && KNOWN.contains(&verb.as_str())
            && !PRE_TLS.contains(&verb.as_str());
        let answer = match verb.as_str() {
            _ if tls_first => "530 5.7.0 Must issue a STARTTLS command first".into(),
            "EHLO" | "HELO" if helo_arg.is_none() => format!("501 Syntax: {verb} hostname"),
            "EHLO" => {
                helo = printable(helo_arg.unwrap_or_default().as_bytes());
                proto = "ESMTP";
                discard = ehlo_discard(s, peer);
                ehlo_reply(shared, &discard, link.is_tls())
            }
            "HELO" => {
                helo = printable(helo_arg.unwrap_or_default().as_bytes());
                format!("250 {}", s.myhostname)
            }
            "MAIL" if s.helo_required && helo.is_empty() => {
                "503 5.5.1 Error: send HELO/EHLO first".into()
            }
            "MAIL" => {
                sender = Some(address_of(arg));
                "250 2.1.0 Ok".into()
            }
            "RCPT" if sender.is_none() => "503 5.5.1 Error: need MAIL command".into(),
            "RCPT" => {
                let reply = match &mode {
                    Mode::Enforce(reply) => reply.clone(),
                    Mode::Deep { known } => {
                        if !passed && !tested.any_failed() {
                            let age = if *known { "OLD" } else { "NEW" };
                            maillog::info!("PASS {age} {who}");
                            passed = true;
                        }
                        COME_BACK.to_string()
                    }
                    Mode::Vetoed => COME_BACK.to_string(),
                };
                maillog::info!(
                    "NOQUEUE: reject: RCPT from {who}: {reply}; from=<{}>, to=<{}>, proto={proto}, helo=<{helo}>",
                    sender.as_deref().unwrap_or(""),
                    address_of(arg)
                );
                reply
            }
            "DATA" | "BDAT" => "554 5.5.1 Error: no valid recipients".into(),
            "RSET" => {
                sender = None;
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "VRFY" if s.vrfy_disabled => "502 5.5.1 VRFY command is disabled".into(),
            "VRFY" => match &mode {
                Mode::Enforce(reply) => reply.clone(),
                Mode::Deep { .. } | Mode::Vetoed => COME_BACK.to_string(),
            },
            "ETRN" if s.helo_required && helo.is_empty() => {
                "503 5.5.1 Error: send HELO/EHLO first".into()
            }
            "ETRN" if arg.trim().is_empty() => "500 Syntax: ETRN domain".into(),
            "ETRN" => "458 Unable to queue messages".into(),
            "QUIT" => {
                link.say("221 2.0.0 Bye");
                return passed;
            }
            "STARTTLS" if !arg.trim().is_empty() => "501 5.5.4 Syntax: STARTTLS".into(),
            "STARTTLS" if link.is_tls() => "554 5.5.1 Error: TLS already active".into(),
            // Not offered, or left out of the EHLO reply.
            "STARTTLS" if s.tls_level == TlsLevel::None || discard.has("starttls") => {
                "502 5.5.1 Error: command not implemented".into()
            }
            "STARTTLS" => match &shared.tls {
                None => "454 4.7.0 TLS not available due to local problem".into(),
                Some(server) => {
                    if !link.say("220 2.0.0 Ready to start TLS") {
                        return passed;
                    }
                    // What came after the command in plain text is not
                    // taken as said in TLS (CVE-2011-0411).
                    carry.clear();
                    match start_tls(server, stream, who, Instant::now() + limit, s.tls_log) {
                        Some(t) => link.io = Io::Tls(t),
                        None => return passed,
                    }
                    // RFC 3207: forget what the client said before.
                    helo.clear();
                    sender = None;
                    continue;
                }
            },
            _ => "502 5.5.2 Error: command not recognized".into(),
        };
        if !link.say(&answer) {
            return passed;
        }
    }
    link.say("421 4.7.0 Error: too many commands");
    passed
}

/// The EHLO keywords left out for the client at `peer`: what
/// postscreen_discard_ehlo_keyword_address_maps says, logged as Postfix's
/// postscreen logs it (with its missing colon between address and port)
/// when that differs from postscreen_discard_ehlo_keywords, unless it
/// holds silent-discard; else postscreen_discard_ehlo_keywords, unlogged.
fn ehlo_discard(s: &Settings, peer: SocketAddr) -> Discard {
    let default = s.ehlo_discard.default_words();
    let Some(mine) = s.ehlo_discard.by_client(&peer.ip().to_string()) else {
        return default.clone();
    };
    let set = |d: &Discard| {
        let mut w: Vec<String> = d.words.iter().map(|w| w.to_ascii_lowercase()).collect();
        w.sort();
        w.dedup();
        w
    };
    if set(&mine) == set(default) {
        return mine;
    }
    if let Some(words) = smtp_proto::Capabilities::discard_log(&mine.words) {
        maillog::info!(
            "[{}]{}: discarding EHLO keywords: {words}",
            peer.ip(),
            peer.port()
        );
    }
    mine
}

/// postscreen's EHLO reply, with Postfix 3.7's postscreen's keywords
/// (never PIPELINING: the engine does not pipeline) less those discarded.
fn ehlo_reply(shared: &Shared, discard: &Discard, tls: bool) -> String {
    let s = &shared.s;
    let mut caps = smtp_proto::Capabilities {
        pipelining: false,
        size: Some(s.message_size_limit),
        vrfy: s.ehlo_vrfy,
        etrn: true,
        starttls: shared.tls.is_some() && !tls,
        auth: Vec::new(),
        enhanced_status_codes: true,
        eightbitmime: true,
        dsn: true,
        smtputf8: s.smtputf8,
        chunking: true,
        binarymime: false,
        other: Vec::new(),
    };
    caps.discard(&discard.words);
    let reply = caps.ehlo_reply(&s.myhostname).to_bytes();
    String::from_utf8_lossy(&reply)
        .trim_end_matches("\r\n")
        .to_string()
}

/// The TLS handshake after `220 2.0.0 Ready to start TLS`, done by
/// `deadline`; logged as Postfix's tlsproxy logs it. None when it failed.
fn start_tls<'a>(
    server: &tls::ServerTls,
    socket: &'a TcpStream,
    who: &str,
    deadline: Instant,
    log: tls::LogLevel,
) -> Option<Box<tls::ServerStream<Deadlined<'a>>>> {
    let mut transport = Deadlined::new(socket);
    transport.read_by = deadline;
    match server.accept(transport) {
        Ok(t) => {
            if log.summary() {
                maillog::info!(
                    "Anonymous TLS connection established from {who}: {}",
                    tls::describe(&t.conn)
                );
            }
            Some(Box::new(t))
        }
        // A client's doing (it went away, spoke plain text, was too
        // slow): no warning.
        Err(e) => {
            maillog::info!("SSL_accept error from {who}: {e}");
            maillog::info!("lost connection after STARTTLS from {who}");
            None
        }
    }
}

/// The commands taken before TLS where postscreen_tls_security_level is
/// encrypt.
const PRE_TLS: [&str; 5] = ["EHLO", "HELO", "STARTTLS", "NOOP", "QUIT"];

/// The commands postscreen's own SMTP knows: the non-SMTP command test
/// looks at the others only.
const KNOWN: [&str; 12] = [
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "ETRN", "QUIT",
    "STARTTLS",
];

/// Which of the tests after the greeting a session has failed: each is
/// failed (and logged) once, and the others go on.
#[derive(Default)]
struct Tested {
    pipelining: bool,
    non_smtp: bool,
    bare_newline: bool,
}

impl Tested {
    fn any_failed(&self) -> bool {
        self.pipelining || self.non_smtp || self.bare_newline
    }

    /// The first test that `line` fails now, logged as Postfix logs it:
    /// its action and the reply before a drop.
    #[allow(clippy::too_many_arguments)]
    fn failure(
        &mut self,
        s: &Settings,
        who: &str,
        last: &str,
        line: &str,
        verb: &str,
        bare_newline: bool,
        waiting: Option<String>,
    ) -> Option<(Action, &'static str)> {
        if let (Some(t), false) = (s.non_smtp, self.non_smtp) {
            if !KNOWN.contains(&verb) && s.forbidden.forbids(verb) {
                self.non_smtp = true;
                maillog::info!(
                    "NON-SMTP COMMAND from {who} after {last}: {}",
                    printable(line.as_bytes())
                );
                return Some((
                    t.action,
                    "521 5.7.0 Error: I can break rules, too. Goodbye.",
                ));
            }
        }
        if let (Some(t), false) = (s.bare_newline, self.bare_newline) {
            if bare_newline {
                self.bare_newline = true;
                maillog::info!("BARE NEWLINE from {who} after {last}");
                return Some((t.action, "521 5.5.1 Protocol error"));
            }
        }
        if let (Some(t), false, Some(waiting)) = (s.pipelining, self.pipelining, waiting) {
            self.pipelining = true;
            maillog::info!("COMMAND PIPELINING from {who} after {verb}: {waiting}");
            return Some((t.action, "521 5.5.1 Protocol error"));
        }
        None
    }
}

/// The address in `FROM:<a@b> …` / `TO:<a@b>`, printable.
pub fn address_of(arg: &str) -> String {
    let rest = arg.split_once(':').map_or(arg, |(_, r)| r).trim_start();
    let addr = match rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((a, _)) => a,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    printable(addr.as_bytes())
}
