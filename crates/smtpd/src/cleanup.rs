//! The client end of the cleanup protocol (`ipc::cleanup`): one
//! connection per message to `queue_directory/public/cleanup`, where
//! Postfix's master.cf line (`cleanup unix n …`, private = n) puts it, or
//! to `private/cleanup` when the service is marked private. Dropping a
//! [`CleanupStream`] before [`CleanupStream::finish`] closes the
//! connection, and cleanup removes the unfinished queue file.

use ipc::cleanup::{Envelope, Reply, Request, Source, Status};
use ipc::frame::{read_frame, write_frame, FrameError};
use std::io::{BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The largest Content frame smtpd sends.
pub const CHUNK: usize = 64 * 1024;

/// A failure talking to cleanup; every one is a temporary failure for the
/// client (451 4.3.0).
#[derive(Debug)]
pub enum CleanupError {
    Connect(String, std::io::Error),
    Io(std::io::Error),
    Protocol(String),
}

impl std::fmt::Display for CleanupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CleanupError::Connect(path, e) => write!(f, "connect to {path}: {}", io_text(e)),
            CleanupError::Io(e) => write!(f, "cleanup service: {e}"),
            CleanupError::Protocol(p) => write!(f, "cleanup service: {p}"),
        }
    }
}

impl std::error::Error for CleanupError {}

/// An I/O error as strerror() words it, without Rust's "(os error N)".
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl From<FrameError> for CleanupError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => CleanupError::Io(e),
            FrameError::Invalid(e) => CleanupError::Protocol(e.to_string()),
        }
    }
}

/// An open cleanup transaction.
pub struct CleanupStream {
    w: BufWriter<UnixStream>,
    r: UnixStream,
    pub queue_id: String,
    /// Content bytes not yet sent (at most [`CHUNK`]).
    pending: Vec<u8>,
}

/// What cleanup did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub text: String,
}

impl CleanupStream {
    /// Connects to `queue_dir/public/<service>` (or `private/<service>`)
    /// and opens a queue file.
    pub fn open(queue_dir: &Path, service: &str, timeout: Duration) -> Result<Self, CleanupError> {
        let public = queue_dir.join("public").join(service);
        let s = match UnixStream::connect(&public) {
            Ok(s) => s,
            Err(e) => {
                let private = queue_dir.join("private").join(service);
                if private.exists() {
                    UnixStream::connect(&private)
                        .map_err(|e| CleanupError::Connect(private.display().to_string(), e))?
                } else {
                    return Err(CleanupError::Connect(public.display().to_string(), e));
                }
            }
        };
        s.set_read_timeout(Some(timeout))
            .map_err(CleanupError::Io)?;
        s.set_write_timeout(Some(timeout))
            .map_err(CleanupError::Io)?;
        let r = s.try_clone().map_err(CleanupError::Io)?;
        let mut c = CleanupStream {
            w: BufWriter::with_capacity(CHUNK + 16, s),
            r,
            queue_id: String::new(),
            pending: Vec::with_capacity(CHUNK),
        };
        c.send(&Request::Open {
            source: Source::Smtpd,
            flags: 0,
        })?;
        c.w.flush().map_err(CleanupError::Io)?;
        match c.receive()? {
            Reply::Opened { queue_id } => c.queue_id = queue_id,
            other => {
                return Err(CleanupError::Protocol(format!(
                    "unexpected reply {other:?}"
                )))
            }
        }
        Ok(c)
    }

    fn send(&mut self, r: &Request) -> Result<(), CleanupError> {
        let (kind, payload) = r.encode();
        write_frame(&mut self.w, kind, &payload).map_err(CleanupError::Io)
    }

    fn receive(&mut self) -> Result<Reply, CleanupError> {
        match read_frame(&mut self.r)? {
            Some((kind, payload)) => {
                Reply::decode(kind, &payload).map_err(|e| CleanupError::Protocol(e.to_string()))
            }
            None => Err(CleanupError::Protocol("connection closed".into())),
        }
    }

    pub fn envelope(&mut self, env: Envelope) -> Result<(), CleanupError> {
        self.send(&Request::Envelope(env))
    }

    /// Queues message bytes, sending a Content frame per [`CHUNK`].
    pub fn content(&mut self, mut bytes: &[u8]) -> Result<(), CleanupError> {
        while !bytes.is_empty() {
            let room = CHUNK - self.pending.len();
            let n = room.min(bytes.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == CHUNK {
                self.flush_content()?;
            }
        }
        Ok(())
    }

    fn flush_content(&mut self) -> Result<(), CleanupError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        self.send(&Request::Content(chunk))
    }

    /// Sends End and waits for cleanup's verdict (given only after the
    /// queue file is safe on disk).
    pub fn finish(mut self) -> Result<Done, CleanupError> {
        self.flush_content()?;
        self.send(&Request::End)?;
        self.w.flush().map_err(CleanupError::Io)?;
        match self.receive()? {
            Reply::Done { status, text } => Ok(Done { status, text }),
            other => Err(CleanupError::Protocol(format!(
                "unexpected reply {other:?}"
            ))),
        }
    }
}
