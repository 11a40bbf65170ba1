//! Many clients in one process, on a mio event loop (auth, showq,
//! proxymap). The process tells the master it is taken only while it
//! serves a request, as Postfix's multi_server: the master starts another
//! one only when a client waits while every process is busy answering.

use crate::setup::{self, Context};
use crate::status::accept;
use crate::Service;
use ipc::status::Status;
use mio::net::{TcpStream, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A non-blocking client connection.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn from_fd(fd: OwnedFd) -> io::Result<Stream> {
        util::fd::set_nonblocking(fd.as_raw_fd(), true)?;
        let client = crate::Client::from_fd(fd)?;
        util::fd::set_nonblocking(client.as_raw_fd(), true)?;
        Ok(match client {
            crate::Client::Tcp(s) => Stream::Tcp(TcpStream::from_std(s)),
            crate::Client::Unix(s) => Stream::Unix(UnixStream::from_std(s)),
        })
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// Whether a session goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Close,
}

/// Reads what `stream` has now into `input` (until it would block, or
/// `input` holds more than `limit` bytes). Close when the peer closed or
/// the read failed.
pub fn read_available(stream: &mut Stream, input: &mut Vec<u8>, limit: usize) -> Flow {
    let mut buf = [0u8; 16384];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Flow::Close,
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Flow::Close,
        }
        if input.len() > limit {
            return Flow::Continue;
        }
    }
}

/// One round of a line protocol (anvil, proxymap, verify): reads what has
/// come, answers each whole line (without its newline) with `answer`, and
/// writes the answers as far as the stream takes them. A line that is not
/// UTF-8 or that `answer` refuses (None), a line over `max_line` bytes, or
/// answers left unread past `max_output` bytes end the connection, with a
/// warning.
pub fn serve_lines(
    stream: &mut Stream,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    (max_line, max_output): (usize, usize),
    mut answer: impl FnMut(&str) -> Option<String>,
) -> Flow {
    if read_available(stream, input, max_line + 16384) == Flow::Close {
        return Flow::Close;
    }
    // Whole lines are answered in place, then dropped together.
    let mut done = 0;
    while let Some(nl) = input[done..].iter().position(|&b| b == b'\n') {
        let line = &input[done..done + nl];
        done += nl + 1;
        let Some(reply) = std::str::from_utf8(line)
            .ok()
            .filter(|l| l.len() <= max_line)
            .and_then(&mut answer)
        else {
            maillog::warning!("malformed request from a client");
            return Flow::Close;
        };
        output.extend_from_slice(reply.as_bytes());
    }
    input.drain(..done);
    if input.len() > max_line || output.len() > max_output {
        maillog::warning!("client request or backlog too large");
        return Flow::Close;
    }
    write_pending(stream, output)
}

/// Writes what `output` holds, as far as `stream` takes it now.
pub fn write_pending(stream: &mut Stream, output: &mut Vec<u8>) -> Flow {
    while !output.is_empty() {
        match stream.write(output) {
            Ok(0) => return Flow::Close,
            Ok(n) => {
                output.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Flow::Close,
        }
    }
    Flow::Continue
}

/// A service with many concurrent sessions.
pub trait MultiService: Service {
    type Session;
    /// A client connected; may write a greeting.
    fn open(&mut self, ctx: &Context, stream: &mut Stream) -> Option<Self::Session>;
    /// The stream became readable or writable: read until it would block,
    /// write what is pending.
    fn ready(&mut self, ctx: &Context, session: &mut Self::Session, stream: &mut Stream) -> Flow;
    /// When the session wants [`MultiService::ready`] called even without
    /// I/O (a delayed reply, as auth delays failures). None: only on I/O.
    fn deadline(&self, _session: &Self::Session) -> Option<Instant> {
        None
    }
}

const STATUS: Token = Token(usize::MAX - 1);
const FIRST_CLIENT: usize = 1 << 16;

/// Runs `service` under the master and never returns.
pub fn multi_server<S: MultiService>(program: &'static str, mut service: S) -> ! {
    let (ctx, inh) = setup::start(program, &mut service);
    let limits = ctx.limits(service.long_running());
    let gen = ctx.options.generation;
    let mut poll = Poll::new().unwrap_or_else(|e| maillog::fatal!("event loop: {e}"));
    let register = |fd: i32, token: Token| {
        poll.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .unwrap_or_else(|e| maillog::fatal!("event loop: {e}"));
    };
    for (i, l) in inh.listeners.iter().enumerate() {
        register(l.as_raw_fd(), Token(i));
    }
    if let Some(s) = inh.status_fd() {
        register(s.as_raw_fd(), STATUS);
    }
    inh.notify(gen, Status::Available);
    let mut sessions: HashMap<Token, (S::Session, Stream)> = HashMap::new();
    let mut next = FIRST_CLIENT;
    let mut accepted: u64 = 0;
    let mut accepting = true;
    let mut idle_since = Instant::now();
    let mut events = Events::with_capacity(256);
    loop {
        if sessions.is_empty() {
            if !accepting {
                std::process::exit(0);
            }
            if let Some((max_idle, _)) = limits {
                if idle_since.elapsed() >= max_idle {
                    std::process::exit(0);
                }
            }
        }
        let earliest = sessions
            .values()
            .filter_map(|(sess, _)| service.deadline(sess))
            .min();
        let timeout = match (sessions.is_empty(), limits) {
            (true, Some((max_idle, _))) => Some(
                max_idle
                    .saturating_sub(idle_since.elapsed())
                    .max(Duration::from_millis(1)),
            ),
            _ => earliest.map(|t| {
                t.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            }),
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            maillog::fatal!("event loop: {e}");
        }
        let mut due: Vec<Token> = Vec::new();
        if earliest.is_some_and(|t| t <= Instant::now()) {
            let now = Instant::now();
            due = sessions
                .iter()
                .filter(|(_, (sess, _))| service.deadline(sess).is_some_and(|t| t <= now))
                .map(|(t, _)| *t)
                .collect();
        }
        // Sessions whose deadline passed, then those with I/O.
        let mut ready_tokens: Vec<Token> = due
            .into_iter()
            .filter(|t| !events.iter().any(|e| e.token() == *t))
            .collect();
        for ev in events.iter() {
            let token = ev.token();
            if token == STATUS {
                if inh.master_gone() {
                    accepting = false;
                    for l in &inh.listeners {
                        let _ = poll.registry().deregister(&mut SourceFd(&l.as_raw_fd()));
                    }
                    if let Some(s) = inh.status_fd() {
                        let _ = poll.registry().deregister(&mut SourceFd(&s.as_raw_fd()));
                    }
                }
            } else if token.0 < inh.listeners.len() {
                while accepting {
                    let fd = match accept(&inh.listeners[token.0]) {
                        Ok(Some(fd)) => fd,
                        Ok(None) => break,
                        Err(e) => {
                            maillog::warning!("accept connection: {e}");
                            break;
                        }
                    };
                    let Ok(mut stream) = Stream::from_fd(fd) else {
                        continue;
                    };
                    let t = Token(next);
                    next += 1;
                    if poll
                        .registry()
                        .register(stream.source(), t, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    if let Some(sess) = service.open(&ctx, &mut stream) {
                        sessions.insert(t, (sess, stream));
                    }
                    accepted += 1;
                    if limits.is_some_and(|(_, max_use)| accepted >= max_use) {
                        accepting = false;
                        for l in &inh.listeners {
                            let _ = poll.registry().deregister(&mut SourceFd(&l.as_raw_fd()));
                        }
                    }
                }
            } else {
                ready_tokens.push(token);
            }
        }
        // As Postfix's multi_server: taken only while serving requests, so
        // that clients which keep a connection open (every proxymap client
        // does) do not make the master start a process for each of them.
        let serving = !ready_tokens.is_empty();
        if serving {
            inh.notify(gen, Status::Taken);
        }
        for token in ready_tokens {
            let Some((sess, stream)) = sessions.get_mut(&token) else {
                continue;
            };
            if service.ready(&ctx, sess, stream) == Flow::Close {
                if let Some((_, mut stream)) = sessions.remove(&token) {
                    let _ = poll.registry().deregister(stream.source());
                }
                if sessions.is_empty() {
                    idle_since = Instant::now();
                }
            }
        }
        if serving && accepting {
            inh.notify(gen, Status::Available);
        }
    }
}
