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

/// Sends `request` to the trigger socket at `path` without ever blocking:
/// when the service's backlog is full, it has wake-ups pending already and
/// this one is dropped (an error the caller may ignore). A service that is
/// not running is not an error either: it scans when it starts.
pub fn send(path: &std::path::Path, request: &[u8]) -> std::io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) returns a new descriptor or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that we own from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = std::os::unix::net::UnixStream::from(owned);
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: sockaddr_un is plain data; the path fits or we refuse.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = c_path.as_bytes_with_nul();
    if bytes.len() > sun.sun_path.len() {
        return Err(std::io::Error::other("socket path too long"));
    }
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: a valid sockaddr_un and its size.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            std::ptr::addr_of!(sun).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::io::Write::write_all(&mut &stream, request)
}
