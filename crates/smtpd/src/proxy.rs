//! `smtpd_proxy_filter`: a before-queue content filter (Postfix's
//! SMTPD_PROXY_README). Instead of handing the message to cleanup, smtpd
//! speaks SMTP to the filter (amavisd-new, DKIMproxy, a spam filter in
//! proxy mode) as the client speaks to smtpd, and the filter's replies
//! become the client's: the filter hands the mail on to another smtpd,
//! which queues it, and the client is answered only once that is done.
//!
//! As Postfix 3.7 does it: the filter is connected when the first
//! recipient passes smtpd's own checks. smtpd reads the greeting, sends
//! `EHLO $smtpd_proxy_ehlo`, tells the client's facts with XFORWARD when
//! the filter offers it, then passes MAIL FROM and each RCPT TO; the
//! filter's refusal of any is the client's reply (logged `warning: proxy
//! FILTER rejected "COMMAND": "REPLY"`). At DATA (or BDAT, which the filter
//! gets as DATA) smtpd sends its own Received: header, then the message,
//! dot-stuffed; the filter's reply to the final dot is the client's,
//! logged `proxy-accept: END-OF-MESSAGE: …` or `proxy-reject: …`. A filter
//! that cannot be reached, answers out of turn, goes quiet for
//! `smtpd_proxy_timeout` or drops the connection gets the client `451
//! 4.3.0 Error: queue file write error`. The connection ends (QUIT) with
//! each transaction.
//!
//! With `smtpd_proxy_options = speed_adjust` ([`Spool`]) the filter is not
//! tied up by a slow client: smtpd answers the recipients itself, keeps
//! them and the message (in a file without a name in `incoming/`), and
//! connects only once the message is whole; the filter's first refusal
//! of the replayed commands, or its reply to the message, is the reply to
//! the end of data (so the filter must answer every recipient alike, as
//! Postfix's manual says).

use smtp_proto::{Reply, ReplyError, ReplyParser};
use std::io::{Read, Write};
use std::time::Duration;
use util::socket::{Endpoint, Socket};

/// The settings of `smtpd_proxy_filter`, `smtpd_proxy_ehlo` and
/// `smtpd_proxy_timeout`.
#[derive(Debug, Clone)]
pub struct ProxyFilter {
    /// As written in smtpd_proxy_filter, for the log.
    pub name: String,
    endpoint: Endpoint,
    pub ehlo: String,
    pub timeout: Duration,
    /// local_header_rewrite_clients: whose mail XFORWARD calls LOCAL.
    pub local_clients: maps::local_clients::LocalClients,
    /// smtpd_proxy_options = speed_adjust.
    pub speed_adjust: bool,
}

impl ProxyFilter {
    /// `host:port`, `inet:host:port` or `unix:pathname` (None when
    /// empty), with `smtpd_proxy_options` (`speed_adjust`; anything else
    /// is an error).
    pub fn new(
        filter: &str,
        ehlo: &str,
        timeout: Duration,
        local_clients: maps::local_clients::LocalClients,
        options: &[String],
    ) -> Result<Option<ProxyFilter>, String> {
        let mut speed_adjust = false;
        for o in options {
            match o.to_ascii_lowercase().as_str() {
                "speed_adjust" => speed_adjust = true,
                other => return Err(format!("smtpd_proxy_options: unknown option \"{other}\"")),
            }
        }
        let filter = filter.trim();
        if filter.is_empty() {
            return Ok(None);
        }
        let spec = if filter.starts_with("unix:") || filter.starts_with("inet:") {
            filter.to_string()
        } else {
            format!("inet:{filter}")
        };
        // `unix:private/…` stays relative to the queue directory, smtpd's
        // working directory (and its root when chrooted).
        let endpoint = Endpoint::parse(&spec, std::path::Path::new(""))
            .map_err(|e| format!("smtpd_proxy_filter: {e}"))?;
        Ok(Some(ProxyFilter {
            name: filter.to_string(),
            endpoint,
            ehlo: ehlo.trim().to_string(),
            timeout,
            local_clients,
            speed_adjust,
        }))
    }
}

/// The client's facts for the filter's XFORWARD, in Postfix's order
/// (NAME ADDR PORT HELO IDENT PROTO SOURCE); None is sent as
/// `[UNAVAILABLE]`.
pub type Facts = [(&'static str, Option<String>); 7];

/// `451 4.3.0 Error: queue file write error`: what the client is told when
/// the filter fails (Postfix's CLEANUP_STAT_PROXY).
fn failed() -> Reply {
    Reply::new(451, Some((4, 3, 0)), "Error: queue file write error")
}

/// One transaction's connection to the filter.
pub struct Proxy {
    filter: ProxyFilter,
    socket: Socket,
    input: Vec<u8>,
    parser: ReplyParser,
    /// Inside DATA: the content goes on, and QUIT would be content.
    in_data: bool,
    /// The conversation broke: nothing more is said.
    broken: bool,
    /// At the start of a content line (for dot-stuffing).
    line_start: bool,
    /// The last content byte was a CR (a lone LF becomes CRLF).
    after_cr: bool,
}

impl Proxy {
    /// Whether the conversation broke (the connection is of no more use).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Connects, and passes the client's MAIL FROM command (`mail`, CRLF
    /// included) once the filter greeted, took EHLO and, where offered,
    /// XFORWARD. The reply for the client when that fails: the filter's
    /// refusal of MAIL FROM, or the 451 of a broken filter.
    pub fn open(filter: &ProxyFilter, facts: &Facts, mail: &[u8]) -> Result<Proxy, Reply> {
        let socket = filter.endpoint.connect(filter.timeout).map_err(|e| {
            // The reason alone, after Endpoint's "connect to ADDR: ".
            let text = e.to_string();
            let reason = text.rsplit(": ").next().unwrap_or(&text);
            maillog::warning!("connect to proxy filter {}: {reason}", filter.name);
            failed()
        })?;
        let mut p = Proxy {
            filter: filter.clone(),
            socket,
            input: Vec::new(),
            parser: ReplyParser::default(),
            in_data: false,
            broken: false,
            line_start: true,
            after_cr: false,
        };
        // Refusals before MAIL FROM are the filter's fault: the client,
        // which expects a reply to RCPT, gets the generic 451.
        p.expect(None, b'2').map_err(|_| failed())?;
        let ehlo = format!("EHLO {}\r\n", filter.ehlo);
        let offered = smtp_proto::Capabilities::from_ehlo(
            &p.expect(Some(ehlo.as_bytes()), b'2')
                .map_err(|_| failed())?,
        )
        .xforward();
        for command in xforward_commands(facts, &offered) {
            p.expect(Some(&command), b'2').map_err(|_| failed())?;
        }
        p.command(mail, b'2')?;
        Ok(p)
    }

    /// Sends `line` (CRLF included) and reads the reply, which must begin
    /// with `expect` (`2` or `3`). Otherwise the reply for the client: the
    /// filter's refusal, or the 451 of a filter that broke or answered out
    /// of turn.
    pub fn command(&mut self, line: &[u8], expect: u8) -> Result<Reply, Reply> {
        self.expect(Some(line), expect)
    }

    /// [`Proxy::command`], with the greeting read when `line` is None.
    /// Once the conversation broke, every command fails at once.
    fn expect(&mut self, line: Option<&[u8]>, expect: u8) -> Result<Reply, Reply> {
        if self.broken {
            return Err(failed());
        }
        if let Some(line) = line {
            if let Err(e) = self
                .socket
                .write_all(line)
                .and_then(|_| self.socket.flush())
            {
                return Err(self.broken(&e));
            }
        }
        let reply = self.reply()?;
        let class = b'0' + (reply.code / 100) as u8;
        if class == expect {
            return Ok(reply);
        }
        let asked = line.map_or("connection request".to_string(), |l| {
            String::from_utf8_lossy(l).trim_end().to_string()
        });
        maillog::warning!(
            "proxy {} rejected \"{asked}\": \"{}\"",
            self.filter.name,
            logged(&reply)
        );
        // An unexpected 2xx or 3xx is not passed on (Postfix 2.6 and later).
        if class == b'2' || class == b'3' {
            return Err(failed());
        }
        Err(reply)
    }

    /// Reads one reply, its text made printable, within
    /// smtpd_proxy_timeout in all. A line that is not a reply line is
    /// logged and skipped, as Postfix skips it.
    fn reply(&mut self) -> Result<Reply, Reply> {
        let deadline = std::time::Instant::now() + self.filter.timeout;
        loop {
            let mut it = self.input.iter();
            let parsed = self.parser.parse(&mut it);
            let used = self.input.len() - it.as_slice().len();
            self.input.drain(..used);
            match parsed {
                Ok(mut reply) => {
                    for line in &mut reply.lines {
                        *line = line
                            .chars()
                            .map(|c| if c.is_control() { '?' } else { c })
                            .collect();
                    }
                    return Ok(reply);
                }
                Err(ReplyError::NeedsMoreData) => {}
                Err(ReplyError::BadSyntax(line)) => {
                    let shown: String = line.chars().take(100).collect();
                    maillog::warning!(
                        "received garbage from proxy {}: {}",
                        self.filter.name,
                        shown.escape_default()
                    );
                    continue;
                }
                // Too long or mismatched, but whole: the conversation is
                // still in step.
                Err(e) => {
                    maillog::warning!("received garbage from proxy {}: {e:?}", self.filter.name);
                    return Err(failed());
                }
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(self.broken(&std::io::ErrorKind::TimedOut.into()));
            }
            if let Err(e) = self.socket.set_read_timeout(Some(left)) {
                return Err(self.broken(&e));
            }
            let mut buf = [0u8; 4096];
            match self.socket.read(&mut buf) {
                Ok(0) => {
                    let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(self.broken(&eof));
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(&e)),
            }
        }
    }

    /// Logs a broken conversation as Postfix does; the client's 451.
    fn broken(&mut self, e: &std::io::Error) -> Reply {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        if matches!(e.kind(), TimedOut | WouldBlock) {
            maillog::warning!("timeout talking to proxy {}", self.filter.name);
        } else {
            maillog::warning!("lost connection with proxy {}", self.filter.name);
        }
        self.broken = true;
        failed()
    }

    /// DATA: the filter must answer 354; then `headers` (smtpd's own,
    /// their lines joined by newlines, without an end) go first.
    pub fn start_data(&mut self, headers: &[String]) -> Result<(), Reply> {
        self.command(b"DATA\r\n", b'3')?;
        self.in_data = true;
        for h in headers {
            self.content(format!("{h}\n").as_bytes())?;
        }
        Ok(())
    }

    /// Message content as smtpd decoded it (dots unstuffed), on the way
    /// out with every line ended by CRLF (a BDAT chunk may hold lone
    /// LFs) and dot-stuffed again.
    pub fn content(&mut self, bytes: &[u8]) -> Result<(), Reply> {
        if self.broken {
            return Err(failed());
        }
        let mut out = Vec::with_capacity(bytes.len() + 16);
        for &b in bytes {
            if self.line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && !self.after_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.line_start = b == b'\n';
            self.after_cr = b == b'\r';
        }
        match self.socket.write_all(&out) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.broken(&e)),
        }
    }

    /// What ends the message on the wire.
    fn end_data_bytes(&self) -> &'static [u8] {
        if self.line_start {
            b".\r\n"
        } else {
            b"\r\n.\r\n"
        }
    }

    /// The end of the message; the filter's reply to it, whatever it is,
    /// is the client's.
    pub fn end_data(&mut self) -> Reply {
        let end = self.end_data_bytes();
        let sent = self.socket.write_all(end).and_then(|_| self.socket.flush());
        let reply = match sent {
            Ok(()) => self.reply().unwrap_or_else(|r| r),
            Err(e) => self.broken(&e),
        };
        self.in_data = false;
        reply
    }
}

impl Drop for Proxy {
    /// QUIT, without waiting for the reply; mid-DATA the connection is
    /// just closed, so the filter sees a broken message.
    fn drop(&mut self) {
        if !self.in_data && !self.broken {
            let _ = self.socket.write_all(b"QUIT\r\n");
        }
    }
}

/// A transaction kept for the filter until the message is whole
/// (`speed_adjust`): the recipient commands, and the message with smtpd's
/// headers, as the filter will get it, in a file that has no name.
pub struct Spool {
    rcpts: Vec<Vec<u8>>,
    file: std::fs::File,
}

impl Spool {
    /// A new spool in `dir` (the queue's `incoming/`).
    pub fn new(dir: &std::path::Path) -> Result<Spool, Reply> {
        let temp = dir.join(format!(
            "proxy.{}.{}",
            std::process::id(),
            util::random::hex::<8>()
        ));
        match util::unnamed::create(dir, &temp, 0o600) {
            Ok((file, name)) => {
                // Where it had to be made with a name, the name goes at
                // once: nothing of the message may stay behind a crash.
                if let Some(temp) = name.temp_path() {
                    let _ = std::fs::remove_file(temp);
                }
                Ok(Spool {
                    rcpts: Vec::new(),
                    file,
                })
            }
            Err(e) => {
                maillog::warning!("proxy speed-adjust log I/O error: {}", util::strerror(&e));
                Err(failed())
            }
        }
    }

    /// A recipient command (CRLF included), for the filter later.
    pub fn rcpt(&mut self, command: Vec<u8>) {
        self.rcpts.push(command);
    }

    /// Message bytes as smtpd decoded them.
    pub fn content(&mut self, bytes: &[u8]) -> Result<(), Reply> {
        self.file.write_all(bytes).map_err(|e| {
            maillog::warning!("proxy speed-adjust log I/O error: {}", util::strerror(&e));
            failed()
        })
    }

    /// The whole transaction, to the filter: its first refusal, or its
    /// reply to the message.
    pub fn replay(mut self, filter: &ProxyFilter, facts: &Facts, mail: &[u8]) -> Reply {
        use std::io::{Seek, SeekFrom};
        let mut p = match Proxy::open(filter, facts, mail) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        for r in &self.rcpts {
            if let Err(reply) = p.command(r, b'2') {
                return reply;
            }
        }
        if let Err(reply) = p.start_data(&[]) {
            return reply;
        }
        if let Err(e) = self.file.seek(SeekFrom::Start(0)) {
            maillog::warning!("proxy speed-adjust log I/O error: {}", util::strerror(&e));
            return failed();
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(reply) = p.content(&buf[..n]) {
                        return reply;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    maillog::warning!("proxy speed-adjust log I/O error: {}", util::strerror(&e));
                    return failed();
                }
            }
        }
        p.end_data()
    }
}

/// A reply as Postfix logs the filter's: its lines as sent, joined by `??`
/// (the CRLF between them, made printable).
pub fn logged(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.to_bytes())
        .trim_end()
        .replace("\r\n", "??")
}

/// The XFORWARD commands for the attributes the filter offers, each under
/// the 512 bytes of an SMTP command line.
fn xforward_commands(facts: &Facts, offered: &[String]) -> Vec<Vec<u8>> {
    const PAYLOAD_LIMIT: usize = 512 - "250 XFORWARD\r\n".len();
    let mut commands = Vec::new();
    let mut attrs = String::new();
    for (name, value) in facts {
        if !offered.iter().any(|o| o == name) {
            continue;
        }
        let attr = format!(
            " {name}={}",
            smtp_proto::xtext::encode(value.as_deref().unwrap_or("[UNAVAILABLE]"))
        );
        if !attrs.is_empty() && attrs.len() + attr.len() > PAYLOAD_LIMIT {
            commands.push(format!("XFORWARD{attrs}\r\n").into_bytes());
            attrs.clear();
        }
        attrs.push_str(&attr);
    }
    if !attrs.is_empty() {
        commands.push(format!("XFORWARD{attrs}\r\n").into_bytes());
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn xforward_sends_what_is_offered_in_postfix_order() {
        let some = |v: &str| Some(v.to_string());
        let facts: Facts = [
            ("NAME", some("client.example")),
            ("ADDR", some("192.0.2.7")),
            ("PORT", some("4000")),
            ("HELO", None),
            ("IDENT", None),
            ("PROTO", some("ESMTP")),
            ("SOURCE", some("REMOTE")),
        ];
        let offered: Vec<String> = ["PROTO", "NAME", "ADDR", "HELO"].map(String::from).to_vec();
        assert_eq!(
            xforward_commands(&facts, &offered),
            [
                b"XFORWARD NAME=client.example ADDR=192.0.2.7 HELO=[UNAVAILABLE] PROTO=ESMTP\r\n"
                    .to_vec()
            ]
        );
        assert!(xforward_commands(&facts, &[]).is_empty());
        let long = "h".repeat(300);
        let facts: Facts = [
            ("NAME", some(&long)),
            ("ADDR", some("192.0.2.7")),
            ("PORT", None),
            ("HELO", some(&long)),
            ("IDENT", None),
            ("PROTO", None),
            ("SOURCE", None),
        ];
        let offered = ["NAME", "HELO"].map(String::from).to_vec();
        let split = xforward_commands(&facts, &offered);
        assert_eq!(split.len(), 2, "one attribute of 300 bytes per command");
        assert!(split.iter().all(|c| c.len() <= 512));
    }

    /// A proxy whose filter end is the returned socket.
    fn pair() -> (Proxy, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let filter = ProxyFilter::new(
            "127.0.0.1:10025",
            "mx",
            Duration::from_secs(2),
            Default::default(),
            &[],
        )
        .unwrap()
        .unwrap();
        let proxy = Proxy {
            filter,
            socket: Socket::Unix(ours),
            input: Vec::new(),
            parser: ReplyParser::default(),
            in_data: true,
            broken: false,
            line_start: true,
            after_cr: false,
        };
        (proxy, theirs)
    }

    #[test]
    fn content_goes_out_in_crlf_lines_dot_stuffed_in_any_split() {
        let input: &[u8] = b".a\r\nbare\nz\r\n.\n..b\rc";
        for cut in 0..input.len() {
            let (mut p, mut theirs) = pair();
            p.content(&input[..cut]).unwrap();
            p.content(&input[cut..]).unwrap();
            assert_eq!(p.end_data_bytes(), b"\r\n.\r\n", "no line end yet");
            drop(p);
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                "..a\r\nbare\r\nz\r\n..\r\n...b\rc",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_reply_with_a_stray_line_is_read_past_and_a_broken_filter_stays_broken() {
        let (mut p, mut theirs) = pair();
        p.in_data = false;
        theirs
            .write_all(b"250-ok\r\ngarbage\r\n250 ok\r\n550 5.1.1 no\r\n")
            .unwrap();
        assert_eq!(p.command(b"RCPT TO:<a@b>\r\n", b'2').unwrap().code, 250);
        assert_eq!(p.command(b"RCPT TO:<c@d>\r\n", b'2').unwrap_err().code, 550);
        drop(theirs);
        assert_eq!(p.command(b"RCPT TO:<e@f>\r\n", b'2').unwrap_err().code, 451);
        assert!(p.is_broken());
        assert_eq!(p.content(b"x").unwrap_err().code, 451);
    }

    #[test]
    fn filters_are_named_as_postfix_names_them() {
        let t = Duration::from_secs(100);
        let f = ProxyFilter::new("127.0.0.1:10025", "mx", t, Default::default(), &[])
            .unwrap()
            .unwrap();
        assert_eq!(f.endpoint, Endpoint::Inet("127.0.0.1:10025".into()));
        assert_eq!(f.name, "127.0.0.1:10025");
        let f = ProxyFilter::new("unix:private/filter", "mx", t, Default::default(), &[])
            .unwrap()
            .unwrap();
        assert_eq!(f.endpoint, Endpoint::Unix("private/filter".into()));
        assert!(ProxyFilter::new(" ", "mx", t, Default::default(), &[])
            .unwrap()
            .is_none());
        assert!(ProxyFilter::new("inet:nohost", "mx", t, Default::default(), &[]).is_err());
        let speed = ProxyFilter::new(
            "127.0.0.1:1",
            "mx",
            t,
            Default::default(),
            &["speed_adjust".into()],
        );
        assert!(speed.unwrap().unwrap().speed_adjust);
        assert!(ProxyFilter::new(
            "127.0.0.1:1",
            "mx",
            t,
            Default::default(),
            &["turbo".into()]
        )
        .is_err());
    }
}
