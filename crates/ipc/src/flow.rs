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

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `public/flow` under the queue directory.
pub fn path(queue_dir: &Path) -> PathBuf {
    queue_dir.join("public").join("flow")
}

/// The open flow-token pipe.
pub struct Flow {
    file: File,
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.file_type().is_fifo() {
        return Err(std::io::Error::other(format!(
            "{}: not a FIFO",
            path.display()
        )));
    }
    Ok(file)
}

impl Flow {
    /// The queue manager's side: creates the FIFO (mode 0600) when missing.
    pub fn create(queue_dir: &Path) -> std::io::Result<Flow> {
        let p = path(queue_dir);
        match nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Flow { file: open_rw(&p)? })
    }

    /// cleanup's side: the FIFO if the queue manager has made one.
    pub fn open(queue_dir: &Path) -> std::io::Result<Flow> {
        Ok(Flow {
            file: open_rw(&path(queue_dir))?,
        })
    }

    /// The tokens in the pipe.
    pub fn count(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD stores an int through the pointer.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::FIONREAD, &mut n) };
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
            match (&self.file).write(&buf[..left.min(buf.len())]) {
                Ok(0) | Err(_) => return,
                Ok(w) => left -= w,
            }
        }
    }

    /// Removes up to `n` tokens without waiting; how many were there.
    pub fn get(&self, n: usize) -> usize {
        let mut buf = [0u8; 256];
        let mut got = 0;
        while got < n {
            match (&self.file).read(&mut buf[..(n - got).min(256)]) {
                Ok(0) | Err(_) => break,
                Ok(r) => got += r,
            }
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
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false,
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
