//! Trigger requests: single bytes written to a trigger service's socket
//! (`public/qmgr`, `public/pickup`), Postfix's letters. Several may arrive
//! in one request; unknown bytes are ignored.

/// Scan the incoming queue (new mail from cleanup).
pub const SCAN_INCOMING: u8 = b'I';
/// Scan the deferred queue for messages that are due.
pub const SCAN_DEFERRED: u8 = b'D';
/// Scan both queues.
pub const SCAN_ALL: u8 = b'A';
/// Treat every deferred message as due now and forget which transports
/// failed (`postqueue -f`, `sendmail -q`); sent with [`SCAN_ALL`].
pub const FLUSH: u8 = b'F';
/// The master's periodic wakeup.
pub const WAKEUP: u8 = b'W';

/// Sends `request` to the trigger socket at `path` without blocking for
/// long; a service that is not running is not an error here (it scans when
/// it starts).
pub fn send(path: &std::path::Path, request: &[u8]) -> std::io::Result<()> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_write_timeout(Some(std::time::Duration::from_secs(10)))?;
    std::io::Write::write_all(&mut s, request)
}
