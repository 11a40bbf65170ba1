//! A table loaded from a file and loaded again when the file changes.
//!
//! Every look-up stats the path (one system call) and compares device,
//! inode, size and modification time with those of the file that was read;
//! a table rebuilt by rename (postmap) has a new inode, so a reader sees the
//! new content on its next look-up and never a half-written file.

use crate::error::MapError;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// Loads a table from an open file; returns it.
pub type Loader<T> = Box<dyn Fn(&Path, File) -> Result<T, MapError> + Send + Sync>;

pub struct Watched<T> {
    path: PathBuf,
    indexed: bool,
    loader: Loader<T>,
    state: Mutex<(Stamp, Arc<T>)>,
}

fn open(path: &Path, indexed: bool) -> Result<(File, Stamp), MapError> {
    let open_err = |source| MapError::Open {
        path: path.to_path_buf(),
        indexed,
        source,
    };
    let f = File::open(path).map_err(open_err)?;
    let m = f.metadata().map_err(open_err)?;
    Ok((f, Stamp::of(&m)))
}

impl<T> Watched<T> {
    /// Opens and loads `path` now; errors are the caller's open errors.
    pub fn new(path: PathBuf, indexed: bool, loader: Loader<T>) -> Result<Watched<T>, MapError> {
        let (f, stamp) = open(&path, indexed)?;
        let t = loader(&path, f)?;
        Ok(Watched {
            path,
            indexed,
            loader,
            state: Mutex::new((stamp, Arc::new(t))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table as the file now is: loaded again if the file changed.
    pub fn current(&self) -> Result<Arc<T>, MapError> {
        let now = std::fs::metadata(&self.path).map_err(|source| MapError::Open {
            path: self.path.clone(),
            indexed: self.indexed,
            source,
        })?;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if Stamp::of(&now) != st.0 {
            let (f, stamp) = open(&self.path, self.indexed)?;
            let t = (self.loader)(&self.path, f)?;
            *st = (stamp, Arc::new(t));
        }
        Ok(st.1.clone())
    }
}

/// A pattern table (cidr, regexp, pcre): a file, loaded again when it
/// changes, or inline text (`cidr:{…}`), parsed once.
pub enum TableSource<T> {
    File(Watched<T>),
    Inline(Arc<T>),
}

impl<T> TableSource<T> {
    /// The table as it now is.
    pub fn current(&self) -> Result<Arc<T>, MapError> {
        match self {
            TableSource::File(w) => w.current(),
            TableSource::Inline(t) => Ok(t.clone()),
        }
    }
}
