//! Why a conversation with a client ended (pop3d and imapd alike).

use std::io;

#[derive(Debug)]
pub enum End {
    /// The client closed the connection.
    Closed,
    /// Nothing came for the idle time (already answered).
    Idle,
    /// A read or write failed.
    Io(io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("Connection closed"),
            End::Idle => f.write_str("Disconnected for inactivity"),
            End::Io(e) => write!(f, "Connection closed: {e}"),
        }
    }
}
