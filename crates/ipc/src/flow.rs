//! Flow control between the queue manager and cleanup, as Postfix's
//! `in_flow_delay`: a FIFO, `public/flow`, holds one byte per token. The
//! queue manager puts a token there for each message it takes from
//! `incoming/` (and tops the supply up to `default_process_limit` when it
//! has nothing left to take); cleanup takes one before it accepts a new
//! message, waiting at most `in_flow_delay` when there is none, then goes
//! on anyway. Mail that arrives faster than the queue manager takes it in
//! is slowed down, never refused.
//!
//! The FIFO is opened read-write and non-blocking by both sides, so neither
//! ever blocks on open, a full pipe or an empty one; the token count is the
//! number of bytes in the pipe (FIONREAD).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `public/flow` under the queue directory.
pub fn path(queue_dir: &Path) -> PathBuf {
    queue_dir.join("public").join("flow")
}

/// The open flow-token pipe.
pub struct Flow {
    fd: OwnedFd,
}

fn open_rw(path: &Path) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: a NUL-terminated path; open(2) returns a new descriptor or -1.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that we own from here on.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a stat buffer of the right size.
    if unsafe { libc::fstat(owned.as_raw_fd(), &mut st) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(std::io::Error::other(format!(
            "{}: not a FIFO",
            path.display()
        )));
    }
    Ok(owned)
}

impl Flow {
    /// The queue manager's side: creates the FIFO (mode 0600) when missing.
    pub fn create(queue_dir: &Path) -> std::io::Result<Flow> {
        let p = path(queue_dir);
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| std::io::Error::other("NUL in path"))?;
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        Ok(Flow { fd: open_rw(&p)? })
    }

    /// cleanup's side: the FIFO if the queue manager has made one.
    pub fn open(queue_dir: &Path) -> std::io::Result<Flow> {
        Ok(Flow {
            fd: open_rw(&path(queue_dir))?,
        })
    }

    /// The tokens in the pipe.
    pub fn count(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD stores an int through the pointer.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::FIONREAD, &mut n) };
        if rc < 0 {
            0
        } else {
            n.max(0) as usize
        }
    }

    /// Adds up to `n` tokens (fewer when the pipe is full).
    pub fn put(&self, n: usize) {
        let buf = [b'T'; 256];
        let mut left = n;
        while left > 0 {
            let chunk = left.min(buf.len());
            // SAFETY: writing from a live buffer of at least `chunk` bytes.
            let rc = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), chunk) };
            if rc <= 0 {
                return;
            }
            left -= rc as usize;
        }
    }

    /// Removes up to `n` tokens without waiting; how many were there.
    pub fn get(&self, n: usize) -> usize {
        let mut buf = [0u8; 256];
        let mut got = 0;
        while got < n {
            let chunk = (n - got).min(buf.len());
            // SAFETY: reading into a live buffer of at least `chunk` bytes.
            let rc = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), chunk) };
            if rc <= 0 {
                break;
            }
            got += rc as usize;
        }
        got
    }

    /// Takes one token, waiting at most `delay` for one to come; false
    /// when none came in time.
    pub fn take(&self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            if self.get(1) == 1 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_and_go() {
        let dir = std::env::temp_dir().join(format!("ipc-flow-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("public")).unwrap();
        assert!(Flow::open(&dir).is_err());
        let qmgr = Flow::create(&dir).unwrap();
        let cleanup = Flow::open(&dir).unwrap();
        assert_eq!(qmgr.count(), 0);
        let t = Instant::now();
        assert!(!cleanup.take(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        qmgr.put(3);
        assert_eq!(qmgr.count(), 3);
        assert!(cleanup.take(Duration::from_secs(1)));
        assert_eq!(qmgr.get(5), 2);
        assert_eq!(qmgr.count(), 0);
        // Created again: the FIFO that is there is reused.
        let again = Flow::create(&dir).unwrap();
        again.put(1);
        assert_eq!(cleanup.count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
