//! The master ↔ worker contract.
//!
//! A worker is started by fork+exec with:
//! * [`MAILLOG_FD`]: the open `maillog_file`, when logging goes to a file.
//! * [`STATUS_FD`]: its end of a SOCK_SEQPACKET socket pair shared by all
//!   workers of one service. The worker sends a [`StatusMsg`] when it becomes
//!   available (idle) and when it takes a client. When the master closes its
//!   end (exit, crash, or the service was removed on reload), the worker sees
//!   end-of-file, finishes its current client and exits.
//! * [`LISTEN_FD`] and up: the service's listening sockets (count given by
//!   the `-s` flag), non-blocking, shared by the service's workers.

use crate::{IpcError, VERSION};

/// Where a worker finds the maillog file the master opened, when logging
/// goes to `maillog_file` (the environment names it too).
pub const MAILLOG_FD: i32 = 4;
/// Where a worker finds its status socket.
pub const STATUS_FD: i32 = 5;
/// Where a worker finds its first listening socket.
pub const LISTEN_FD: i32 = 6;

/// Environment variable with the service generation a worker was started for.
pub const GENERATION_ENV: &str = "MAILSUITE_GENERATION";

const MAGIC: [u8; 2] = *b"MS";
/// Bytes in an encoded [`StatusMsg`].
pub const STATUS_LEN: usize = 12;

/// What a worker tells the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Ready for a client.
    Available,
    /// Serving a client: the master may need to start another worker.
    Taken,
}

/// One status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusMsg {
    pub pid: u32,
    /// The service generation the worker was started for.
    pub generation: u32,
    pub status: Status,
}

impl StatusMsg {
    pub fn encode(&self) -> [u8; STATUS_LEN] {
        let mut b = [0u8; STATUS_LEN];
        b[0..2].copy_from_slice(&MAGIC);
        b[2] = VERSION;
        b[3] = match self.status {
            Status::Available => 1,
            Status::Taken => 2,
        };
        b[4..8].copy_from_slice(&self.pid.to_le_bytes());
        b[8..12].copy_from_slice(&self.generation.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<StatusMsg, IpcError> {
        if b.len() != STATUS_LEN {
            return Err(IpcError::BadLength {
                expected: STATUS_LEN,
                got: b.len(),
            });
        }
        if b[0..2] != MAGIC {
            return Err(IpcError::BadMagic);
        }
        if b[2] != VERSION {
            return Err(IpcError::BadVersion(b[2]));
        }
        let status = match b[3] {
            1 => Status::Available,
            2 => Status::Taken,
            _ => return Err(IpcError::BadField("status")),
        };
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let pid = word(4);
        if pid == 0 {
            return Err(IpcError::BadField("pid"));
        }
        Ok(StatusMsg {
            pid,
            generation: word(8),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let m = StatusMsg {
            pid: 4242,
            generation: 7,
            status: Status::Taken,
        };
        assert_eq!(StatusMsg::decode(&m.encode()), Ok(m));
        let mut b = m.encode();
        b[2] = 99;
        assert_eq!(StatusMsg::decode(&b), Err(IpcError::BadVersion(99)));
        b = m.encode();
        b[3] = 9;
        assert_eq!(StatusMsg::decode(&b), Err(IpcError::BadField("status")));
        assert!(matches!(
            StatusMsg::decode(&b[..5]),
            Err(IpcError::BadLength { .. })
        ));
        b = m.encode();
        b[0] = b'X';
        assert_eq!(StatusMsg::decode(&b), Err(IpcError::BadMagic));
    }
}
