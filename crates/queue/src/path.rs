//! Where a queue file lives: `queue_directory/queue_name/[hash/…]ID`.
//!
//! Postfix spreads the files of the queues named in `hash_queue_names`
//! (default `deferred, defer`) over `hash_queue_depth` (default 1) levels of
//! one-character subdirectories (`global/mail_queue.c`, `mail_queue_dir()`,
//! and `util/dir_forest.c`). For a long ID the characters hashed on are not
//! the ID's own: the four microsecond characters before the `z` are decoded
//! and written as five upper-case hex digits (MQID_LG_GET_HEX_USEC, the short
//! ID's time field), so `deferred/` has the subdirectories `0`…`F` and the
//! files of one second spread over all of them. For a short ID the ID's own
//! characters are used. A level past the end of the string is named `_`.
//!
//! The subdirectories are made lazily, when a rename into one fails with
//! ENOENT, each with `mkdir` that treats "already exists" as success, so two
//! processes creating the same one at once both succeed.

use crate::error::QueueError;
use crate::id::{safe_decode, separator_position, TIME_BASE, USEC_PAD};
use params::{table as p, Config};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Postfix's `mail_queue_name_ok()`: 1 to 100 ASCII letters and digits.
pub fn is_valid_queue_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 100 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Which queues are hashed, and how deep: `hash_queue_names`, `hash_queue_depth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSpec {
    pub names: Vec<String>,
    pub depth: usize,
}

impl HashSpec {
    /// From the configuration.
    pub fn from_config(cfg: &Config) -> HashSpec {
        HashSpec {
            names: cfg.list(&p::HASH_QUEUE_NAMES),
            depth: usize::try_from(cfg.int(&p::HASH_QUEUE_DEPTH))
                .unwrap_or(1)
                .clamp(1, 16),
        }
    }

    /// No hashing at all.
    pub fn none() -> HashSpec {
        HashSpec {
            names: Vec::new(),
            depth: 1,
        }
    }

    /// Whether `queue_name` is hashed (case-insensitive, as Postfix).
    pub fn hashes(&self, queue_name: &str) -> bool {
        self.names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(queue_name))
    }

    /// The queue-relative directory of `id` in `queue_name`: `deferred/A`.
    pub fn dir(&self, queue_name: &str, id: &str) -> Result<PathBuf, QueueError> {
        if !is_valid_queue_name(queue_name) {
            return Err(QueueError::BadQueueName(queue_name.to_string()));
        }
        if !crate::id::is_valid_queue_id(id) {
            return Err(QueueError::BadId(id.to_string()));
        }
        let mut dir = PathBuf::from(queue_name);
        if self.hashes(queue_name) {
            for level in dir_forest(&hash_source(id), self.depth) {
                dir.push(level);
            }
        }
        Ok(dir)
    }

    /// The queue-relative path of `id` in `queue_name`: `deferred/A/ID`.
    pub fn relative(&self, queue_name: &str, id: &str) -> Result<PathBuf, QueueError> {
        Ok(self.dir(queue_name, id)?.join(id))
    }

    /// The full path of `id` in `queue_name` under `queue_dir`.
    pub fn path(
        &self,
        queue_dir: &Path,
        queue_name: &str,
        id: &str,
    ) -> Result<PathBuf, QueueError> {
        Ok(queue_dir.join(self.relative(queue_name, id)?))
    }
}

/// The characters the subdirectories are named after (see the module docs).
pub fn hash_source(id: &str) -> String {
    match separator_position(id) {
        Some(sep) => {
            let usec = id
                .get(sep - USEC_PAD..sep)
                .and_then(|u| safe_decode(u, TIME_BASE))
                .unwrap_or(0);
            format!("{usec:05X}")
        }
        None => id.to_string(),
    }
}

/// Postfix's `dir_forest()`: one level per character, `_` past the end.
pub fn dir_forest(source: &str, depth: usize) -> Vec<String> {
    let mut chars = source.chars();
    (0..depth)
        .map(|_| chars.next().unwrap_or('_').to_string())
        .collect()
}

/// `queue_dir/queue_name/[hash/]id`, with hashing as `cfg` says.
pub fn path_of(
    queue_dir: &Path,
    queue_name: &str,
    id: &str,
    cfg: &Config,
) -> Result<PathBuf, QueueError> {
    HashSpec::from_config(cfg).path(queue_dir, queue_name, id)
}

/// Creates the missing directories above `file` (mode 0700), tolerating
/// another process creating them at the same time.
pub fn make_parent_dirs(file: &Path) -> io::Result<()> {
    let Some(parent) = file.parent() else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    if let Some(grand) = parent.parent() {
        if !grand.as_os_str().is_empty() && !grand.is_dir() {
            make_parent_dirs(parent)?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(parent) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && parent.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames `from` to `to`, creating `to`'s missing parent directories when
/// the first attempt fails with ENOENT (Postfix's `mail_queue_rename()`).
pub fn rename_creating_dirs(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            make_parent_dirs(to)?;
            std::fs::rename(from, to)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::QueueId;

    fn spec(depth: usize) -> HashSpec {
        HashSpec {
            names: vec!["deferred".into(), "defer".into()],
            depth,
        }
    }

    #[test]
    fn long_ids_hash_on_hex_microseconds() {
        let id = QueueId::new(1_700_000_000, 0xA_BCDE, 42);
        let s = spec(1);
        assert_eq!(hash_source(id.as_str()), "ABCDE");
        assert_eq!(
            s.relative("deferred", id.as_str()).unwrap(),
            PathBuf::from(format!("deferred/A/{id}"))
        );
        assert_eq!(
            spec(3).relative("Defer", id.as_str()).unwrap(),
            PathBuf::from(format!("Defer/A/B/C/{id}"))
        );
        assert_eq!(
            spec(7).relative("defer", id.as_str()).unwrap(),
            PathBuf::from(format!("defer/A/B/C/D/E/_/_/{id}"))
        );
        assert_eq!(
            s.relative("incoming", id.as_str()).unwrap(),
            PathBuf::from(format!("incoming/{id}"))
        );
        let small = QueueId::new(1_700_000_000, 5, 42);
        assert_eq!(
            s.relative("deferred", small.as_str()).unwrap(),
            PathBuf::from(format!("deferred/0/{small}"))
        );
    }

    #[test]
    fn short_ids_hash_on_their_own_characters() {
        assert_eq!(
            spec(2).relative("deferred", "3F2A1B").unwrap(),
            PathBuf::from("deferred/3/F/3F2A1B")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(spec(1).relative("deferred", "../x").is_err());
        assert!(spec(1).relative("../deferred", "ABC").is_err());
        assert!(spec(1).relative("", "ABC").is_err());
    }

    #[test]
    fn defaults_come_from_config() {
        let cfg = Config::defaults();
        let id = QueueId::new(1, 0x1_0000, 1);
        let p = path_of(Path::new("/q"), "deferred", id.as_str(), &cfg).unwrap();
        assert_eq!(p, PathBuf::from(format!("/q/deferred/1/{id}")));
    }

    #[test]
    fn concurrent_dir_creation() {
        let base = std::env::temp_dir().join(format!("queue_path_test_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let target = base.join("deferred/A/B/file");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let t = target.clone();
                std::thread::spawn(move || make_parent_dirs(&t))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert!(base.join("deferred/A/B").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
