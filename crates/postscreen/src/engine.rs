//! postscreen's own SMTP (Postfix's "dummy" engine): the tests after the
//! greeting, the refusals of what a failed test enforces, and STARTTLS
//! (what Postfix's tlsproxy does for its postscreen) where
//! postscreen_tls_security_level offers it.

use crate::screen::{elapsed, printable, Shared};
use crate::settings::{Action, Settings, TlsLevel};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
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
/// after STARTTLS.
pub enum Link<'a> {
    Plain(Deadlined<'a>),
    Tls(Box<tls::ServerStream<Deadlined<'a>>>),
}

impl<'a> Link<'a> {
    pub fn plain(socket: &'a TcpStream) -> Link<'a> {
        Link::Plain(Deadlined::new(socket))
    }

    /// Sends one reply (its lines joined by CRLF); false when the client
    /// is gone or does not take it within [`WRITE_LIMIT`].
    pub fn say(&mut self, reply: &str) -> bool {
        let line = format!("{reply}\r\n");
        match self {
            Link::Plain(s) => s.write_all(line.as_bytes()).is_ok(),
            Link::Tls(t) => t.write_all(line.as_bytes()).and_then(|_| t.flush()).is_ok(),
        }
    }

    /// What is read from now on must come by `deadline`.
    fn read_by(&mut self, deadline: Instant) {
        match self {
            Link::Plain(s) => s.read_by = deadline,
            Link::Tls(t) => t.sock.read_by = deadline,
        }
    }
}

impl Read for Link<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Link::Plain(s) => s.read(buf),
            Link::Tls(t) => t.read(buf),
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
    /// handed to smtpd once the dialogue began.
    Deep,
}

/// The reply and log line after the tests after the greeting were passed.
const COME_BACK: &str = "450 4.3.2 Service currently unavailable";

/// postscreen's own SMTP (Postfix's "dummy" engine). Each command must
/// come whole within postscreen_command_time_limit (10 s when the tests
/// are nine-tenths full, as Postfix's stress mode has it), at most
/// postscreen_command_count_limit of them. Returns whether the client
/// passed the tests after the greeting (always false when enforcing).
pub fn smtp(shared: &Shared, stream: &TcpStream, who: &str, mut mode: Mode) -> bool {
    let s = &shared.s;
    let banner = if s.banner.is_empty() {
        format!("{} ESMTP", s.myhostname)
    } else {
        s.banner.clone()
    };
    let mut link = Link::plain(stream);
    if !link.say(&format!("220 {banner}")) {
        return false;
    }
    let started = Instant::now();
    let (mut carry, mut raw) = (Vec::new(), Vec::new());
    let (mut helo, mut sender) = (String::new(), None::<String>);
    let mut proto = "SMTP";
    // A client that reached RCPT has passed, unless a later command fails
    // a test (Postfix's "UNPASS").
    let mut passed = false;
    let mut tested = Tested::default();
    // The tests go on after one fails with enforce (Postfix: "allow other
    // tests to complete").
    let testing = matches!(mode, Mode::Deep);
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
        let line = String::from_utf8_lossy(&raw).into_owned();
        let (verb, arg) = line
            .trim_start()
            .split_once(' ')
            .unwrap_or((line.trim_start(), ""));
        let verb = verb.to_ascii_uppercase();
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
            && matches!(link, Link::Plain(_))
            && KNOWN.contains(&verb.as_str())
            && !PRE_TLS.contains(&verb.as_str());
        let answer = match verb.as_str() {
            _ if tls_first => "530 5.7.0 Must issue a STARTTLS command first".into(),
            "EHLO" => {
                helo = printable(arg.trim().as_bytes());
                proto = "ESMTP";
                // No PIPELINING where the pipelining test is on.
                let pipelining = if s.pipelining.is_some() {
                    ""
                } else {
                    "250-PIPELINING\r\n"
                };
                let starttls = if shared.tls.is_some() && matches!(link, Link::Plain(_)) {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                format!(
                    "250-{}\r\n{pipelining}{starttls}250-ENHANCEDSTATUSCODES\r\n250 8BITMIME",
                    s.myhostname
                )
            }
            "HELO" => {
                helo = printable(arg.trim().as_bytes());
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
                    Mode::Deep => {
                        if !passed && !tested.any_failed() {
                            maillog::info!("PASS NEW {who}");
                            passed = true;
                        }
                        COME_BACK.to_string()
                    }
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
                Mode::Deep => COME_BACK.to_string(),
            },
            "QUIT" => {
                link.say("221 2.0.0 Bye");
                return passed;
            }
            "STARTTLS" if !arg.trim().is_empty() => "501 5.5.4 Syntax: STARTTLS".into(),
            "STARTTLS" => match (&link, &shared.tls) {
                (Link::Tls(_), _) => "554 5.5.1 Error: TLS already active".into(),
                (Link::Plain(_), None) if s.tls_level == TlsLevel::None => {
                    "502 5.5.1 Error: command not implemented".into()
                }
                (Link::Plain(_), None) => "454 4.7.0 TLS not available due to local problem".into(),
                (Link::Plain(_), Some(server)) => {
                    if !link.say("220 2.0.0 Ready to start TLS") {
                        return passed;
                    }
                    // What came after the command in plain text is not
                    // taken as said in TLS (CVE-2011-0411).
                    carry.clear();
                    match start_tls(server, stream, who, Instant::now() + limit, s.tls_log) {
                        Some(t) => link = Link::Tls(t),
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
const KNOWN: [&str; 11] = [
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT", "STARTTLS",
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
