//! One message's conversation with cleanup (`ipc::cleanup::Client` on
//! `queue_directory/public/cleanup`, or `private/cleanup` when master.cf
//! marks the service private), with the queue ID cleanup gave it.
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

/// The largest Content frame smtpd sends.
pub const CHUNK: usize = ipc::cleanup::CONTENT_CHUNK;

/// An open cleanup transaction.
pub struct CleanupStream {
    client: Client<UnixStream>,
    pub queue_id: String,
}

/// What cleanup did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub text: String,
}

impl CleanupStream {
    /// Opens a queue file: on the kept connection when cleanup still
    /// listens there, else on a new one.
    pub fn open(
        queue_dir: &Path,
        service: &str,
        flags: u32,
        timeout: Duration,
    ) -> Result<Self, CleanupError> {
        if let Some(mut client) = take_kept() {
            // A connection cleanup closed fails here, before anything of a
            // message was sent: go on with a new one.
            if let Ok(queue_id) = client.open(Source::Smtpd, flags) {
                return Ok(CleanupStream { client, queue_id });
            }
        }
        let mut client = Client::connect_service(queue_dir, service, timeout)?;
        let queue_id = client.open(Source::Smtpd, flags)?;
        Ok(CleanupStream { client, queue_id })
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

    /// Adds message bytes (sent a frame of [`CHUNK`] bytes at a time).
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
