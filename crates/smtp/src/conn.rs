//! One connection to a remote SMTP server: TCP with per-stage timeouts,
//! STARTTLS, commands out and replies in (parsed by `smtp_proto`), and
//! failures worded as Postfix words them.

use smtp_proto::{Reply, ReplyError, ReplyParser};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Where in the conversation something happened, for Postfix's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Greeting,
    Ehlo,
    Lhlo,
    Helo,
    StartTls,
    Auth,
    Xforward,
    Mail,
    Rcpt,
    Data,
    Body,
    Dot,
    Quit,
}

impl Stage {
    /// `… while <this>`.
    pub fn doing(self) -> &'static str {
        match self {
            Stage::Greeting => "receiving the initial server greeting",
            Stage::Ehlo => "performing the EHLO handshake",
            Stage::Lhlo => "performing the LHLO handshake",
            Stage::Helo => "performing the HELO handshake",
            Stage::StartTls => "sending STARTTLS",
            Stage::Auth => "authenticating",
            Stage::Xforward => "sending XFORWARD",
            Stage::Mail => "sending MAIL FROM",
            Stage::Rcpt => "sending RCPT TO",
            Stage::Data => "sending DATA command",
            Stage::Body => "sending message body",
            Stage::Dot => "sending end of data -- message may be sent more than once",
            Stage::Quit => "sending QUIT",
        }
    }

    /// `(in reply to <this>)`.
    pub fn command(self) -> &'static str {
        match self {
            Stage::Greeting => "initial greeting",
            Stage::Ehlo => "EHLO command",
            Stage::Lhlo => "LHLO command",
            Stage::Helo => "HELO command",
            Stage::StartTls => "STARTTLS command",
            Stage::Auth => "AUTH command",
            Stage::Xforward => "XFORWARD command",
            Stage::Mail => "MAIL FROM command",
            Stage::Rcpt => "RCPT TO command",
            Stage::Data => "DATA command",
            Stage::Body | Stage::Dot => "end of DATA command",
            Stage::Quit => "QUIT command",
        }
    }
}

/// What broke a conversation.
#[derive(Debug)]
pub enum ConnError {
    /// The server closed the connection or the network failed.
    Lost(Stage),
    /// No answer (or no progress sending) within the stage's time limit.
    Timeout(Stage),
    /// The server's reply could not be parsed.
    BadReply(Stage, ReplyError),
    /// The TLS handshake failed.
    Tls(String),
}

/// An OS error as Postfix prints it: strerror without Rust's "(os error N)".
pub fn os_text(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock {
        return "Connection timed out".into();
    }
    util::strerror(e)
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tls::ClientStream<TcpStream>>),
    Unix(UnixStream),
    Gone,
}

impl Stream {
    fn set_timeouts(&self, t: Option<Duration>) {
        match self {
            Stream::Plain(s) => {
                let _ = s.set_read_timeout(t);
                let _ = s.set_write_timeout(t);
            }
            Stream::Tls(s) => {
                let _ = s.sock.set_read_timeout(t);
                let _ = s.sock.set_write_timeout(t);
            }
            Stream::Unix(s) => {
                let _ = s.set_read_timeout(t);
                let _ = s.set_write_timeout(t);
            }
            Stream::Gone => {}
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// Where the connection comes from: `smtp_bind_address` (or `6`), and
/// whether a failure to bind to it defers the delivery
/// (`smtp_bind_address_enforce`) instead of being logged while the
/// connection is made from the system's choice, as Postfix does.
#[derive(Debug, Clone, Copy)]
pub struct Bind {
    pub address: IpAddr,
    pub enforce: bool,
}

/// A TCP connection from `bind`: bind, then a non-blocking connect
/// waited for with poll(2) up to `timeout`. An enforced bind that fails
/// is the connection's error ("bind ADDRESS: reason").
fn connect_from(bind: Bind, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let local = bind.address;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
    use std::os::fd::{AsFd, AsRawFd};
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    if let Err(e) = socket::bind(
        fd.as_raw_fd(),
        &SockaddrStorage::from(SocketAddr::new(local, 0)),
    ) {
        let why = format!("bind {local}: {}", os_text(&e.into()));
        if bind.enforce {
            return Err(io::Error::other(why));
        }
        maillog::warning!("smtp_connect_addr: {why}");
    }
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINPROGRESS) => {
            let limit = if timeout.is_zero() {
                PollTimeout::NONE
            } else {
                PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)
            };
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
            if poll(&mut fds, limit)? == 0 {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let err = socket::getsockopt(&fd, sockopt::SocketError)?;
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        Err(e) => return Err(e.into()),
    }
    let s = TcpStream::from(fd);
    s.set_nonblocking(false)?;
    Ok(s)
}

/// A connected session.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    parser: ReplyParser,
    /// `host[ip]`, as in "host mx[192.0.2.1] said".
    pub peer: String,
    /// `host[ip]:port`, the log's relay=.
    pub relay: String,
    /// The TLS session in Postfix's words, when encrypted.
    pub tls: Option<String>,
    /// `smtp_per_request_deadline`: each time limit bounds a whole
    /// request or reply, and message content earns one second per
    /// `smtp_min_data_rate` bytes (this rate); None: each read and write.
    min_data_rate: Option<u64>,
    /// With deadlines, when the message content must be sent by.
    body_until: Option<Instant>,
    /// The server is in `debug_peer_list`: each command (AUTH masked) and
    /// reply line is logged, `> host[ip]:port: …` and `< host[ip]:port: …`,
    /// as Postfix's verbose smtp logs them.
    pub debug: bool,
    /// `smtp_reply_filter` (`lmtp_reply_filter`): each reply line, as
    /// received without its CRLF, is looked up and replaced by the result.
    pub reply_filter: Option<std::sync::Arc<maps::MapList>>,
    /// With a reply filter: received bytes of a line not yet whole.
    unfiltered: Vec<u8>,
}

/// An AUTH command or SASL response line as the log may show it: the
/// command and its mechanism, the credentials as `********`.
fn masked_auth(line: &[u8]) -> String {
    let mut words = line.splitn(3, |&b| b == b' ');
    let verb = words.next().unwrap_or(b"");
    if !verb.eq_ignore_ascii_case(b"AUTH") {
        return "********".into();
    }
    let mechanism = util::text::printable(words.next().unwrap_or(b""));
    let rest = if words.next().is_some() {
        " ********"
    } else {
        ""
    };
    format!("AUTH {mechanism}{rest}")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    /// Connects to `ip:port` within `timeout` (zero: the system's limit).
    /// The error is Postfix's text: `connect to host[ip]:port: Connection refused`.
    /// `bind` is the local address to connect from (`smtp_bind_address`,
    /// `smtp_bind_address6`), if any.
    pub fn connect(
        host: &str,
        ip: IpAddr,
        port: u16,
        timeout: Duration,
        bind: Option<Bind>,
    ) -> Result<Conn, String> {
        let addr = SocketAddr::new(ip, port);
        let peer = format!("{host}[{ip}]");
        let relay = format!("{peer}:{port}");
        let s = match bind {
            Some(b) => connect_from(b, addr, timeout),
            None if timeout.is_zero() => TcpStream::connect(addr),
            None => TcpStream::connect_timeout(&addr, timeout),
        };
        let s = s.map_err(|e| format!("connect to {relay}: {}", os_text(&e)))?;
        let _ = s.set_nodelay(true);
        Ok(Conn {
            stream: Stream::Plain(s),
            buf: Vec::new(),
            parser: ReplyParser::default(),
            peer,
            relay,
            tls: None,
            min_data_rate: None,
            body_until: None,
            debug: false,
            reply_filter: None,
            unfiltered: Vec::new(),
        })
    }

    /// Connects to a UNIX-domain socket (LMTP's `unix:path`), logged as
    /// `host[path]`. A connect on a local socket does not block long, so
    /// there is no separate time limit.
    pub fn connect_unix(host: &str, path: &str) -> Result<Conn, String> {
        let peer = format!("{host}[{path}]");
        let s =
            UnixStream::connect(path).map_err(|e| format!("connect to {path}: {}", os_text(&e)))?;
        Ok(Conn {
            stream: Stream::Unix(s),
            buf: Vec::new(),
            parser: ReplyParser::default(),
            relay: peer.clone(),
            peer,
            tls: None,
            min_data_rate: None,
            body_until: None,
            debug: false,
            reply_filter: None,
            unfiltered: Vec::new(),
        })
    }

    /// Turns on per-request deadlines (`smtp_per_request_deadline`, with
    /// `smtp_min_data_rate`).
    pub fn per_request_deadline(&mut self, min_data_rate: u64) {
        self.min_data_rate = Some(min_data_rate.max(1));
    }

    /// With deadlines: the time left until `until`, set on the socket;
    /// Err when none is left.
    fn arm(&self, until: Option<Instant>) -> io::Result<()> {
        if let Some(until) = until {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.timeouts(left);
        }
        Ok(())
    }

    fn timeouts(&self, t: Duration) {
        self.stream
            .set_timeouts(Some(t.max(Duration::from_millis(1))));
    }

    /// Sends bytes (commands, or message content) within `timeout` per
    /// write, or with deadlines within `timeout` in all (message content:
    /// all of it, plus its share of `smtp_min_data_rate`).
    pub fn send(&mut self, bytes: &[u8], stage: Stage, timeout: Duration) -> Result<(), ConnError> {
        if self.debug && stage != Stage::Body {
            for line in bytes.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    let shown = if stage == Stage::Auth {
                        masked_auth(line)
                    } else {
                        util::text::printable(line)
                    };
                    maillog::info!("> {}: {shown}", self.relay);
                }
            }
        }
        self.timeouts(timeout);
        // smtp_min_data_rate (Postfix's deadline streams): the message
        // content has `timeout` from its first write, and each write earns
        // its bytes' share of the rate, but never more than `timeout` from
        // now.
        let later = |d: Duration| Instant::now().checked_add(d);
        let mut until = self.min_data_rate.and_then(|_| match stage {
            Stage::Body => self.body_until.or_else(|| later(timeout)),
            _ => {
                self.body_until = None;
                later(timeout)
            }
        });
        let mut rest = bytes;
        let mut r = Ok(());
        while !rest.is_empty() {
            if let Err(e) = self.arm(until) {
                r = Err(e);
                break;
            }
            match self.stream.write(rest) {
                Ok(0) => {
                    r = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => {
                    rest = &rest[n..];
                    if let (Some(rate), Stage::Body, Some(t)) = (self.min_data_rate, stage, until) {
                        let earned = Duration::from_secs_f64(n as f64 / rate as f64);
                        let cap = later(timeout);
                        until = t.checked_add(earned).map(|u| cap.map_or(u, |c| u.min(c)));
                        self.body_until = until;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        let r = r
            .and_then(|_| self.arm(until))
            .and_then(|_| self.stream.flush());
        r.map_err(|e| {
            if is_timeout(&e) {
                ConnError::Timeout(stage)
            } else {
                ConnError::Lost(stage)
            }
        })
    }

    /// Reads one reply within `timeout` per read, or with deadlines
    /// within `timeout` in all.
    pub fn reply(&mut self, stage: Stage, timeout: Duration) -> Result<Reply, ConnError> {
        self.timeouts(timeout);
        let until = self
            .min_data_rate
            .and_then(|_| Instant::now().checked_add(timeout));
        loop {
            if !self.buf.is_empty() {
                let mut it = self.buf.iter();
                match self.parser.parse(&mut it) {
                    Ok(r) => {
                        if self.debug {
                            let mut wire = Vec::new();
                            r.write_to(&mut wire);
                            for line in wire.split(|&b| b == b'\n') {
                                let line = line.strip_suffix(b"\r").unwrap_or(line);
                                if !line.is_empty() {
                                    let shown = util::text::printable(line);
                                    maillog::info!("< {}: {shown}", self.relay);
                                }
                            }
                        }
                        self.buf = it.as_slice().to_vec();
                        return Ok(r);
                    }
                    Err(ReplyError::NeedsMoreData) => self.buf.clear(),
                    Err(e) => return Err(ConnError::BadReply(stage, e)),
                }
            }
            if self.arm(until).is_err() {
                return Err(ConnError::Timeout(stage));
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ConnError::Lost(stage)),
                Ok(n) => self.received(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(ConnError::Timeout(stage)),
                Err(_) => return Err(ConnError::Lost(stage)),
            }
        }
    }

    /// Takes bytes from the server: through the reply filter line by line
    /// when there is one.
    fn received(&mut self, bytes: &[u8]) {
        let Some(filter) = self.reply_filter.clone() else {
            self.buf.extend_from_slice(bytes);
            return;
        };
        self.unfiltered.extend_from_slice(bytes);
        while let Some(end) = self.unfiltered.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.unfiltered.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = String::from_utf8_lossy(line);
            match filter.lookup(&text) {
                Ok(Some(new)) => self.buf.extend_from_slice(new.as_bytes()),
                Ok(None) => self.buf.extend_from_slice(line),
                Err(e) => {
                    maillog::warning!("{}: {e}", filter.title());
                    self.buf.extend_from_slice(line);
                }
            }
            self.buf.extend_from_slice(b"\r\n");
        }
    }

    /// Runs the TLS handshake after the server's `220` to STARTTLS; input
    /// buffered before it is discarded (RFC 3207 §4.2), asking for `sni`
    /// (when some). Returns whether the server's certificate is trusted and
    /// bears one of `names` (its own name when none are given).
    pub fn start_tls(
        &mut self,
        client: &tls::ClientTls,
        server_name: &str,
        sni: Option<&str>,
        names: &[tls::NameMatch],
        timeout: Duration,
    ) -> Result<bool, ConnError> {
        self.timeouts(timeout);
        self.buf.clear();
        self.unfiltered.clear();
        self.parser = ReplyParser::default();
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(ConnError::Tls("TLS already active".into()));
        };
        let (s, trusted) = client
            .connect(tcp, server_name, sni, names)
            .map_err(|e| ConnError::Tls(e.to_string()))?;
        self.tls = Some(tls::describe(&s.conn));
        self.stream = Stream::Tls(Box::new(s));
        Ok(trusted)
    }

    /// The fingerprints of the server's certificate in the TLS session
    /// and of its public key, if any (the `fingerprint` security level).
    pub fn peer_fingerprints(&self, digest: tls::Digest) -> Vec<String> {
        let Stream::Tls(s) = &self.stream else {
            return Vec::new();
        };
        let Some(leaf) = s.conn.peer_certificates().and_then(|c| c.first()) else {
            return Vec::new();
        };
        std::iter::once(digest.fingerprint(leaf.as_ref()))
            .chain(digest.key_fingerprint(leaf.as_ref()))
            .collect()
    }

    /// The text for a broken conversation.
    pub fn error_text(&self, e: &ConnError) -> String {
        match e {
            ConnError::Lost(st) => {
                format!("lost connection with {} while {}", self.peer, st.doing())
            }
            ConnError::Timeout(st) => format!(
                "conversation with {} timed out while {}",
                self.peer,
                st.doing()
            ),
            ConnError::BadReply(st, e) => format!(
                "host {} sent a malformed reply while {}: {e}",
                self.peer,
                st.doing()
            ),
            ConnError::Tls(e) => format!(
                "Cannot start TLS: handshake failure with {}: {e}",
                self.peer
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(
            super::masked_auth(b"AUTH PLAIN AGpvZQBzZWNyZXQ="),
            "AUTH PLAIN ********"
        );
        assert_eq!(super::masked_auth(b"AUTH LOGIN"), "AUTH LOGIN");
        // A SASL response line.
        assert_eq!(super::masked_auth(b"c2VjcmV0"), "********");
    }
}
