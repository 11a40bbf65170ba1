//! Messages between mailsuite programs. Every message carries a version and
//! is validated on receipt: no program trusts another's bytes (STYLE 5).
//! Bump [`VERSION`] on every change to any message layout.
//!
//! * [`anvil`]: the connection and rate counts smtpd keeps in anvil.
//! * [`cleanup`]: how a message is handed to cleanup.
//! * [`delivery`]: how qmgr hands recipients to a delivery agent.
//! * [`flow`]: the flow tokens qmgr hands out and cleanup takes (`in_flow_delay`).
//! * [`frame`]: length-checked frames and payload fields for request streams.
//! * [`trigger`]: the one-byte wake-up requests to qmgr and pickup.
//! * [`status`]: the master ↔ worker contract — which descriptors a worker
//!   inherits, and the fixed-size status messages it sends on one of them.

pub mod anvil;
pub mod cleanup;
pub mod delivery;
pub mod flow;
pub mod frame;
pub mod status;
pub mod trigger;
pub mod verify;

/// The version of every IPC layout in this crate.
pub const VERSION: u8 = 2;

/// A message that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcError {
    BadLength { expected: usize, got: usize },
    BadMagic,
    BadVersion(u8),
    BadField(&'static str),
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpcError::BadLength { expected, got } => {
                write!(f, "message length {got}, expected {expected}")
            }
            IpcError::BadMagic => write!(f, "not a mailsuite message"),
            IpcError::BadVersion(v) => write!(f, "message version {v}, expected {VERSION}"),
            IpcError::BadField(n) => write!(f, "bad {n} field"),
        }
    }
}

impl std::error::Error for IpcError {}
