//! The worker's side of the status protocol and of the inherited listeners.

use ipc::status::{Status, StatusMsg, LISTEN_FD, STATUS_FD};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The descriptors inherited from the master.
pub struct Inherited {
    /// None when started by hand, without a master.
    pub status: Option<OwnedFd>,
    pub listeners: Vec<OwnedFd>,
}

impl Inherited {
    /// Takes over the status socket and `count` listeners at their fixed numbers.
    pub fn take(count: usize) -> io::Result<Inherited> {
        let status = if util::fd::is_open(STATUS_FD) {
            util::fd::set_cloexec(STATUS_FD, true)?;
            // SAFETY: the master put our status socket at this number and nothing else owns it.
            Some(unsafe { OwnedFd::from_raw_fd(STATUS_FD) })
        } else {
            None
        };
        let mut listeners = Vec::with_capacity(count);
        for i in 0..count as RawFd {
            let fd = LISTEN_FD + i;
            if !util::fd::is_open(fd) {
                return Err(io::Error::other(format!(
                    "listener {i} (descriptor {fd}) is not open"
                )));
            }
            util::fd::set_cloexec(fd, true)?;
            util::fd::set_nonblocking(fd, true)?;
            // SAFETY: as above; the master passed `count` listeners from LISTEN_FD on.
            listeners.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        Ok(Inherited { status, listeners })
    }

    /// Tells the master our state; a master that has gone away is not an error here
    /// (the event loop notices end-of-file and exits).
    pub fn notify(&self, generation: u32, status: Status) {
        if let Some(fd) = &self.status {
            let msg = StatusMsg {
                pid: std::process::id(),
                generation,
                status,
            }
            .encode();
            let _ = nix::sys::socket::send(
                fd.as_raw_fd(),
                &msg,
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            );
        }
    }

    /// True when the master closed its end (read returns end-of-file).
    pub fn master_gone(&self) -> bool {
        let Some(fd) = &self.status else { return false };
        let mut buf = [0u8; 16];
        match nix::sys::socket::recv(
            fd.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => true,
            Ok(_) => false,
            Err(nix::errno::Errno::EAGAIN) => false,
            Err(_) => true,
        }
    }

    pub fn status_fd(&self) -> Option<BorrowedFd<'_>> {
        self.status.as_ref().map(|f| {
            use std::os::fd::AsFd;
            f.as_fd()
        })
    }
}

/// Accepts one connection from a non-blocking listener; Ok(None) when
/// another worker took it first.
pub fn accept(listener: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    use nix::sys::socket::{accept4, SockFlag};
    match accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
        // SAFETY: accept4 returned a new descriptor that we now own.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(
            nix::errno::Errno::EAGAIN | nix::errno::Errno::ECONNABORTED | nix::errno::Errno::EINTR,
        ) => Ok(None),
        Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

/// True when the descriptor is a FIFO (trigger services may listen on one).
pub fn is_fifo(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd)
        .map(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFIFO)
        .unwrap_or(false)
}
