//! The client connection: plain or TLS, an input buffer the parsers read
//! from, and an output buffer that is written in one go when the input
//! runs dry (so pipelined commands get their replies in one flush, RFC
//! 2920).

use server::Client;
use smtp_proto::Reply;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The stream under the buffers.
enum Stream {
    Plain(Client),
    Tls(Box<tls::ServerStream<Client>>),
    /// Between taking the plain stream and a finished handshake.
    Gone,
}

/// Why a read gave no data.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection.
    Eof,
    Timeout,
    Io(io::Error),
}

pub struct Conn {
    stream: Stream,
    /// Input: `buf[start..end]` is received and not yet consumed; the rest
    /// of `buf` is room for the next read (zeroed once, when the buffer
    /// grows, not before every read).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// What was said, when the postmaster may get it (notify_classes).
    pub transcript: Option<crate::transcript::Transcript>,
    /// The client's `name[addr]` when it is in `debug_peer_list`: each
    /// command (AUTH masked) and reply line is logged, `< name[addr]: …`
    /// and `> name[addr]: …`, as Postfix's verbose smtpd logs them.
    pub debug_peer: Option<String>,
    /// smtpd_reject_footer, for 4XX and 5XX replies.
    pub footer: Option<crate::footer::Footer>,
    /// `smtpd_per_request_deadline`: None when smtpd_timeout bounds each read.
    deadline: Option<Deadline>,
}

/// `smtpd_per_request_deadline = yes`: `smtpd_timeout` bounds a whole
/// request (a command line, or all of DATA or a BDAT chunk) instead of each
/// read, and message content earns `1/smtpd_min_data_rate` seconds per
/// byte, so a client that trickles bytes cannot hold the process.
struct Deadline {
    timeout: Duration,
    min_data_rate: u64,
    /// The current request's end; None until its first read.
    until: Option<Instant>,
    /// The request is message content.
    data: bool,
}

/// The input buffer's first size, and the least room a read gets: SMTP
/// commands and small messages fit; DATA of big ones grows it.
const READ_MIN: usize = 8 * 1024;
/// The most one read asks for.
const READ_MAX: usize = 64 * 1024;

thread_local! {
    /// Buffers of ended sessions, for the next ones of this process: no
    /// allocation (and, with glibc, heap consolidation) of several KiB per
    /// session.
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most buffers kept, and the largest one kept.
const SPARE_COUNT: usize = 4;
const SPARE_MAX: usize = 1 << 20;

/// An empty buffer, one of an ended session's when there is one.
pub fn spare_buffer() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

/// Keeps `buf`, emptied, for a later [`spare_buffer`].
pub fn keep_buffer(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > SPARE_MAX {
        return;
    }
    buf.clear();
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_COUNT {
            s.push(buf);
        }
    });
}

/// A buffer given back by [`keep_buffer`] when it goes.
pub struct SpareBuffer(pub Vec<u8>);

impl SpareBuffer {
    pub fn new() -> SpareBuffer {
        SpareBuffer(spare_buffer())
    }
}

impl Drop for SpareBuffer {
    fn drop(&mut self) {
        keep_buffer(std::mem::take(&mut self.0));
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        keep_buffer(std::mem::take(&mut self.buf));
        keep_buffer(std::mem::take(&mut self.out));
    }
}

impl Conn {
    pub fn new(client: Client) -> Conn {
        let mut out = spare_buffer();
        out.reserve(4096);
        Conn {
            stream: Stream::Plain(client),
            buf: spare_buffer(),
            start: 0,
            end: 0,
            out,
            transcript: None,
            debug_peer: None,
            footer: None,
            deadline: None,
        }
    }

    /// Turns on per-request deadlines (`smtpd_per_request_deadline`).
    pub fn per_request_deadline(&mut self, timeout: Duration, min_data_rate: u64) {
        self.deadline = Some(Deadline {
            timeout,
            min_data_rate,
            until: None,
            data: false,
        });
    }

    /// A request has been read whole: the next one gets its own deadline;
    /// `data`: it is message content (DATA, a BDAT chunk).
    pub fn next_request(&mut self, data: bool) {
        if let Some(d) = &mut self.deadline {
            d.until = None;
            d.data = data;
        }
    }

    /// With a per-request deadline: the time left for this read, set on
    /// the socket; Err when none is left.
    fn arm_deadline(&mut self) -> Result<(), ReadError> {
        let Some(d) = &mut self.deadline else {
            return Ok(());
        };
        let now = Instant::now();
        let until = *d.until.get_or_insert(now + d.timeout);
        let left = until.saturating_duration_since(now);
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        let socket = match &self.stream {
            Stream::Plain(c) => c,
            Stream::Tls(t) => &t.sock,
            Stream::Gone => return Ok(()),
        };
        socket.set_read_timeout(Some(left)).map_err(ReadError::Io)
    }

    /// Content earns time: `n` bytes at smtpd_min_data_rate.
    fn earn(&mut self, n: usize) {
        if let Some(d) = &mut self.deadline {
            if d.data && d.min_data_rate > 0 {
                let more = Duration::from_secs_f64(n as f64 / d.min_data_rate as f64);
                d.until = d.until.map(|u| u + more);
            }
        }
    }

    /// Bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Puts a command line in the transcript, when one is kept, and in
    /// the log, for a debug peer.
    pub fn record_input(&mut self, line: &[u8]) {
        if let Some(t) = &mut self.transcript {
            t.input(line);
        }
        if let Some(peer) = &self.debug_peer {
            let shown = crate::transcript::shown(line);
            maillog::info!("< {peer}: {}", util::text::printable(&shown));
        }
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything received and not yet consumed.
    pub fn discard_input(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads more bytes (after flushing replies). Returns how many.
    pub fn fill(&mut self) -> Result<usize, ReadError> {
        self.flush().map_err(classify)?;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_MIN {
            let grown = (self.buf.len() * 2).max(self.end + READ_MIN);
            self.buf.resize(grown, 0);
        }
        let room = self.end..self.buf.len().min(self.end + READ_MAX);
        self.arm_deadline()?;
        let r = loop {
            let r = match &mut self.stream {
                Stream::Plain(c) => c.read(&mut self.buf[room.clone()]),
                Stream::Tls(t) => t.read(&mut self.buf[room.clone()]),
                Stream::Gone => Ok(0),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match r {
            Ok(0) => Err(ReadError::Eof),
            Ok(n) => {
                self.end += n;
                self.earn(n);
                Ok(n)
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Queues a reply; it goes out with the next flush.
    pub fn reply(&mut self, r: &Reply) {
        let start = self.out.len();
        match self.footer.as_ref().and_then(|f| f.apply(r)) {
            Some(with_footer) => with_footer.write_to(&mut self.out),
            None => r.write_to(&mut self.out),
        }
        if let Some(t) = &mut self.transcript {
            t.output(&self.out[start..]);
        }
        if let Some(peer) = &self.debug_peer {
            for line in self.out[start..].split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    maillog::info!("> {peer}: {}", util::text::printable(line));
                }
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let res = match &mut self.stream {
            Stream::Plain(c) => c.write_all(&self.out).and_then(|_| c.flush()),
            Stream::Tls(t) => t.write_all(&self.out).and_then(|_| t.flush()),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        };
        self.out.clear();
        res
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Runs the TLS handshake (after `220 Ready to start TLS` was flushed)
    /// and returns the session as Postfix describes it, with the client's
    /// certificate when one was asked for and shown. Unread plaintext is
    /// discarded (RFC 3207 §4.2). On failure the connection is unusable.
    /// The whole handshake must be done within `limit`
    /// (`smtpd_starttls_timeout`); the socket's time limit is `timeout`
    /// (`smtpd_timeout`) again after it.
    pub fn start_tls(
        &mut self,
        tls: &tls::ServerTls,
        limit: Duration,
        timeout: Duration,
    ) -> Result<(String, Option<tls::ClientCert>), tls::TlsError> {
        self.discard_input();
        let plain = std::mem::replace(&mut self.stream, Stream::Gone);
        let Stream::Plain(mut client) = plain else {
            self.stream = plain;
            return Err(tls::TlsError::Handshake("TLS already active".into()));
        };
        let conn = tls.handshake(&mut Handshake {
            socket: &mut client,
            until: Instant::now() + limit,
        })?;
        let _ = client.set_timeout(Some(timeout));
        let s = tls::ServerStream::new(conn, client);
        let desc = tls::describe(&s.conn);
        let cert = tls.client_cert(&s);
        self.stream = Stream::Tls(Box::new(s));
        Ok((desc, cert))
    }

    /// Closes a TLS session politely (close_notify) before the socket goes.
    pub fn close(&mut self) {
        let _ = self.flush();
        if let Stream::Tls(t) = &mut self.stream {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
    }
}

/// The plain socket during a TLS handshake: each read and write may take
/// only the time left until the handshake's deadline, so a client that
/// trickles its bytes cannot stretch `smtpd_starttls_timeout`.
struct Handshake<'a> {
    socket: &'a mut Client,
    until: Instant,
}

impl Handshake<'_> {
    fn arm(&self) -> io::Result<()> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.socket.set_timeout(Some(left))
    }
}

impl Read for Handshake<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.socket.read(buf)
    }
}

impl Write for Handshake<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

fn classify(e: io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ReadError::Timeout,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ReadError::Eof,
        _ => ReadError::Io(e),
    }
}
