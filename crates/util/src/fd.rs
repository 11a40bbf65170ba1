//! File descriptor flags.

use std::io;
use std::os::fd::RawFd;

fn update_flags(fd: RawFd, get: i32, set: i32, bit: i32, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number has no memory-safety preconditions.
    let flags = unsafe { libc::fcntl(fd, get) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on { flags | bit } else { flags & !bit };
    if new != flags {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, set, new) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Turns O_NONBLOCK on or off. The flag belongs to the open file description,
/// so it is shared with every process that inherited the descriptor.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    update_flags(fd, libc::F_GETFL, libc::F_SETFL, libc::O_NONBLOCK, on)
}

/// Turns FD_CLOEXEC on or off.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    update_flags(fd, libc::F_GETFD, libc::F_SETFD, libc::FD_CLOEXEC, on)
}

/// True when `fd` is an open descriptor.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Waits at most `timeout` for `fd` to be readable (data, end of file or
/// an error to read); false when the time ran out.
pub fn wait_readable(fd: RawFd, timeout: std::time::Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    loop {
        // SAFETY: one valid pollfd, its count 1.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return n > 0;
        }
    }
}
