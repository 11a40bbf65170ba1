//! The master's pid file, locked while the master runs so that a second master
//! refuses to start and commands can tell whether one is running.

use fs2::FileExt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A pid file this process holds locked; the lock lasts as long as the value
/// (and is inherited across fork).
#[derive(Debug)]
pub struct PidFile {
    file: File,
    path: PathBuf,
}

#[derive(Debug)]
pub enum AcquireError {
    /// Another process holds the lock; its pid when the file says.
    Locked(Option<i32>),
    Io(io::Error),
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcquireError::Locked(Some(pid)) => write!(f, "already running (pid {pid})"),
            AcquireError::Locked(None) => write!(f, "already running"),
            AcquireError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AcquireError {}

fn parse_pid(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|p| *p > 0)
}

impl PidFile {
    /// Locks `path` (creating it) without waiting. Does not write the pid yet:
    /// call [`PidFile::write_pid`] once the final process (after any fork) runs.
    pub fn acquire(path: &Path) -> Result<PidFile, AcquireError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(AcquireError::Io)?;
        if file.try_lock_exclusive().is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(AcquireError::Locked(parse_pid(&text)));
        }
        Ok(PidFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes the pid in Postfix's format (right-aligned in 10 columns).
    pub fn write_pid(&mut self, pid: u32) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        writeln!(self.file, "{pid:>10}")?;
        self.file.sync_all()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid of the process holding `path` locked, or None when no process does.
pub fn running_pid(path: &Path) -> io::Result<Option<i32>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.try_lock_shared().is_ok() {
        let _ = FileExt::unlock(&file);
        return Ok(None);
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(Some(parse_pid(&text).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused() {
        let p = std::env::temp_dir().join(format!("pidfile_test_{}.pid", std::process::id()));
        let mut a = PidFile::acquire(&p).unwrap();
        a.write_pid(4242).unwrap();
        match PidFile::acquire(&p) {
            Err(AcquireError::Locked(Some(4242))) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(running_pid(&p).unwrap(), Some(4242));
        drop(a);
        // Another test of this process may fork while `a` is open; its
        // child shares the locked file description until it execs, so the
        // lock may outlive `a` for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while running_pid(&p).unwrap().is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(running_pid(&p).unwrap(), None);
        std::fs::remove_file(&p).unwrap();
    }
}
