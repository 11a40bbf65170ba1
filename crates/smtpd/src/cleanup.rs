//! One message's conversation with cleanup (`ipc::cleanup::Client` on
//! `queue_directory/public/cleanup`, or `private/cleanup` when master.cf
//! marks the service private), with the queue ID cleanup gave it.
//! Dropping a [`CleanupStream`] before [`CleanupStream::finish`] closes the
//! connection, and cleanup removes the unfinished queue file.

use ipc::cleanup::{Client, Envelope, Source, Status};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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
    /// Connects to cleanup and opens a queue file.
    pub fn open(queue_dir: &Path, service: &str, timeout: Duration) -> Result<Self, CleanupError> {
        let mut client = Client::connect_service(queue_dir, service, timeout)?;
        let queue_id = client.open(Source::Smtpd, 0)?;
        Ok(CleanupStream { client, queue_id })
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
        Ok(Done { status, text })
    }
}
