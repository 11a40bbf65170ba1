//! Signals turned into events: each handler sets a flag and writes a byte
//! to a self-pipe that the event loop polls.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
pub static HANGUP: AtomicBool = AtomicBool::new(false);
pub static TERMINATE: AtomicBool = AtomicBool::new(false);
pub static ABORT: AtomicBool = AtomicBool::new(false);
pub static CHILD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    let flag = match sig {
        libc::SIGHUP => &HANGUP,
        libc::SIGTERM => &TERMINATE,
        libc::SIGINT | libc::SIGQUIT => &ABORT,
        libc::SIGCHLD => &CHILD,
        _ => return,
    };
    flag.store(true, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: errno location and write(2) are async-signal-safe; errno is
        // restored so the interrupted code does not see ours.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, b"x".as_ptr().cast(), 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// The read end of the self-pipe; keep it for the process's lifetime.
pub struct SelfPipe {
    pub read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Empties the pipe after the loop woke on it.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(&self.read, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

/// Installs the handlers for HUP, TERM, INT, QUIT and CHLD.
pub fn install() -> std::io::Result<SelfPipe> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    PIPE_WRITE.store(w.as_raw_fd(), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        // SAFETY: the handler only touches atomics and calls write(2).
        unsafe { sigaction(sig, &action) }
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    }
    Ok(SelfPipe { read: r, _write: w })
}
