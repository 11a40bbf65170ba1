//! One message's conversation with cleanup (`ipc::cleanup::Client` on
//! `queue_directory/public/cleanup`, or `private/cleanup` when master.cf
//! marks the service private), with the queue ID cleanup gave it.
//! [`CleanupStream::begin`] only asks for the queue file: cleanup creates
//! it while the client reads the 250 and sends its next command, and
//! [`CleanupStream::settle`] reads the queue ID then, before anything
//! else goes to cleanup (by then it is almost always there: smtpd does not
//! sleep on it).
//! Dropping a [`CleanupStream`] before [`CleanupStream::finish`] closes the
//! connection, and cleanup removes the unfinished queue file. A connection
//! whose message got cleanup's verdict is kept for the next message of
//! this process (the next session, usually), for less than cleanup waits
//! for one ([`KEEP`]); one that cleanup has closed meanwhile is replaced.

use ipc::cleanup::{Client, Envelope, Source, Status};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a finished connection is kept for the next message; under
/// cleanup's `NEXT_MESSAGE_WAIT` (2 s), so it is rarely found closed.
const KEEP: Duration = Duration::from_secs(1);

/// The connection of the last finished message, and when it finished.
static KEPT: Mutex<Option<(Client<UnixStream>, Instant)>> = Mutex::new(None);

/// The kept connection, when it is still fresh.
fn take_kept() -> Option<Client<UnixStream>> {
    let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner()).take();
    kept.filter(|(_, at)| at.elapsed() < KEEP).map(|(c, _)| c)
}

/// A failure talking to cleanup; every one is a temporary failure for the
/// client (451 4.3.0).
pub use ipc::cleanup::ClientError as CleanupError;

/// An open cleanup transaction.
pub struct CleanupStream {
    client: Client<UnixStream>,
    /// Empty until [`CleanupStream::settle`] read it.
    queue_id: String,
    /// The Open whose answer is still to be read; None once settled (or
    /// failed).
    unread: Option<Unread>,
}

/// An Open sent, its answer not read yet.
#[derive(Clone, Copy)]
struct Unread {
    flags: u32,
    /// It went out on a kept connection (only then is a new connection
    /// tried when the answer does not come).
    kept: bool,
}

/// What cleanup did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub text: String,
}

impl CleanupStream {
    /// Asks cleanup for a queue file, on the kept connection when cleanup
    /// still listens there, else on a new one, without waiting for the
    /// answer ([`CleanupStream::settle`] reads it).
    pub fn begin(
        queue_dir: &Path,
        service: &str,
        flags: u32,
        timeout: Duration,
    ) -> Result<Self, CleanupError> {
        let stream = |client, kept| CleanupStream {
            client,
            queue_id: String::new(),
            unread: Some(Unread { flags, kept }),
        };
        if let Some(mut client) = take_kept() {
            // A connection cleanup closed usually fails here already.
            if client.request_open(Source::Smtpd, flags).is_ok() {
                return Ok(stream(client, true));
            }
        }
        let mut client = Client::connect_service(queue_dir, service, timeout)?;
        client.request_open(Source::Smtpd, flags)?;
        Ok(stream(client, false))
    }

    /// Reads the queue ID cleanup gave the message (once; later calls
    /// return it again). A kept connection that cleanup closed before it
    /// answered is replaced by a new one to `service` (as in
    /// [`CleanupStream::begin`]): nothing of the message went out on it yet.
    pub fn settle(
        &mut self,
        queue_dir: &Path,
        service: &str,
        timeout: Duration,
    ) -> Result<&str, CleanupError> {
        let Some(unread) = self.unread.take() else {
            // Settled before, or failed (then the stream is of no more use).
            return match self.queue_id.is_empty() {
                true => Err(CleanupError::Protocol("no queue file".into())),
                false => Ok(&self.queue_id),
            };
        };
        self.queue_id = match self.client.opened() {
            Ok(id) => id,
            Err(_) if unread.kept => {
                let mut client = Client::connect_service(queue_dir, service, timeout)?;
                let id = client.open(Source::Smtpd, unread.flags)?;
                self.client = client;
                id
            }
            Err(e) => return Err(e),
        };
        Ok(&self.queue_id)
    }

    /// The queue ID once [`CleanupStream::settle`] read it, else empty.
    pub fn queue_id(&self) -> &str {
        &self.queue_id
    }

    /// Hands the milter conversations (their sockets) to cleanup for the
    /// message, before the envelope.
    pub fn milters(
        &mut self,
        list: Vec<ipc::cleanup::PassedMilter>,
        sockets: &[std::os::fd::RawFd],
    ) -> Result<(), CleanupError> {
        self.client.milters(list, sockets)
    }

    /// Waits `more` longer than usual for cleanup's verdict (it shows the
    /// message to the milters handed to it first).
    pub fn wait_longer(&mut self, more: Duration) {
        self.client.wait_longer(more);
    }

    /// Access table actions decided at the end of the data.
    pub fn actions(&mut self, attrs: Vec<(String, String)>) -> Result<(), CleanupError> {
        self.client.actions(attrs)
    }

    pub fn envelope(&mut self, env: Envelope) -> Result<(), CleanupError> {
        self.client.envelope(env)
    }

    /// Adds message bytes (sent a frame of `ipc::cleanup::CONTENT_CHUNK` bytes at a time).
    pub fn content(&mut self, bytes: &[u8]) -> Result<(), CleanupError> {
        self.client.content(bytes)
    }

    /// Sends End and waits for cleanup's verdict (given only after the
    /// queue file is safe on disk).
    pub fn finish(mut self) -> Result<Done, CleanupError> {
        let (status, text) = self.client.end()?;
        self.client.usual_wait();
        *KEPT.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.client, Instant::now()));
        Ok(Done { status, text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc::cleanup::{Reply, Request};
    use std::os::unix::net::UnixListener;

    fn reads_open(conn: &mut UnixStream) -> bool {
        match ipc::frame::read_frame(conn) {
            Ok(Some((kind, payload))) => {
                matches!(Request::decode(kind, &payload), Ok(Request::Open { .. }))
            }
            _ => false,
        }
    }

    /// Cleanup may end a kept connection (its wait for a next message
    /// over) after smtpd's Open went out on it but before it answered:
    /// settle then opens on a new connection, and the message goes on.
    #[test]
    fn a_kept_connection_closed_before_the_answer_is_replaced_at_settle() {
        let dir = std::env::temp_dir().join(format!("smtpd-kept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("public")).expect("queue dir");
        let listener = UnixListener::bind(dir.join("public/cleanup")).expect("listener");
        let (ours, mut theirs) = UnixStream::pair().expect("pair");
        *KEPT.lock().expect("kept") = Some((Client::new(ours), Instant::now()));
        let cleanup = std::thread::spawn(move || {
            // The kept connection's cleanup reads the Open and goes away.
            let first = reads_open(&mut theirs);
            drop(theirs);
            let (mut fresh, _) = listener.accept().expect("accept");
            let second = reads_open(&mut fresh);
            let (kind, payload) = Reply::Opened {
                queue_id: "4Xk2mN2VXxzABC".into(),
            }
            .encode();
            ipc::frame::write_frame(&mut fresh, kind, &payload).expect("answer");
            (first, second, fresh)
        });
        let mut stream =
            CleanupStream::begin(&dir, "cleanup", 0, Duration::from_secs(5)).expect("begin");
        assert_eq!(stream.queue_id(), "", "known before it was read");
        let wait = Duration::from_secs(5);
        assert_eq!(
            stream.settle(&dir, "cleanup", wait).expect("settle"),
            "4Xk2mN2VXxzABC"
        );
        assert_eq!(stream.queue_id(), "4Xk2mN2VXxzABC");
        assert_eq!(
            stream.settle(&dir, "cleanup", wait).expect("again"),
            "4Xk2mN2VXxzABC"
        );
        let (first, second, _conn) = cleanup.join().expect("cleanup thread");
        assert!(first && second, "an Open on each connection");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
