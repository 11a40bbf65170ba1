//! Replacing a file so that a crash at any instant leaves either the old or
//! the new content, never a mix: write a temp file in the same directory,
//! fsync it, rename it over the target, fsync the directory.
//!
//! Tests prove the failure paths through [`FAIL_POINT_ENV`]: when that
//! environment variable names a step ("write", "fsync", "rename"), the step
//! fails as an I/O error would, and the target must be left untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable that makes one step of [`replace`] fail, for tests.
pub const FAIL_POINT_ENV: &str = "MAILSUITE_FAIL_POINT";

fn fail_point(step: &str) -> io::Result<()> {
    match std::env::var(FAIL_POINT_ENV) {
        Ok(v) if v == step => Err(io::Error::other(format!("injected failure at {step}"))),
        _ => Ok(()),
    }
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

/// Fsyncs a directory so a rename or create inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically replaces `target` with `contents`. The new file keeps the old
/// file's permission bits, or gets `default_mode` when there was none.
pub fn replace(target: &Path, contents: &[u8], default_mode: u32) -> io::Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = fs::metadata(target)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(default_mode);
    let tmp = temp_name(target);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        fail_point("write")?;
        f.write_all(contents)?;
        fail_point("fsync")?;
        f.sync_all()?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        fail_point("rename")?;
        fs::rename(&tmp, target)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_keeps_mode() {
        let dir = std::env::temp_dir().join(format!("safe_file_test_{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.cf");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        replace(&p, b"new", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        fs::remove_dir_all(&dir).unwrap();
    }
}
