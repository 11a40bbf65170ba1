//! A file that gets its name only once it is whole.
//!
//! [`create`] makes the file without a name (Linux's `O_TMPFILE`) in the
//! directory it will end up in, or on the same file system; [`Pending::link`]
//! gives it its final name with `linkat(2)`, never replacing another file.
//! Until then nothing that lists the directory can see it, and a crash or a
//! failure leaves nothing behind to clean up: the kernel frees a file that
//! never got a name.
//!
//! Compared with writing under a temporary name and renaming, the directory is
//! locked once (for the link) instead of twice (create, rename), and the new
//! inode is allocated without the directory's lock held, so concurrent
//! writers in one directory (cleanup's `incoming/`, a Maildir's `new/`) stop
//! queueing behind each other's inode allocation.
//!
//! Where the file system has no `O_TMPFILE`, or `/proc/self/fd` (through
//! which an unprivileged process links an open file) is not mounted, it falls
//! back to the old way: the file is created under the temporary name the
//! caller gives, and [`Pending::link`] renames it (without replacing); a
//! pending file dropped before it is linked is then removed.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How the file will get its name.
#[derive(Debug)]
pub struct Pending {
    /// The temporary name, when the file has one (the fallback).
    temp: Option<PathBuf>,
    linked: bool,
}

/// Whether `/proc/self/fd` is there to link an open file by.
fn proc_fd() -> bool {
    static PROC_FD: OnceLock<bool> = OnceLock::new();
    *PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Creates a file with permission bits `mode`, readable and writable, with no
/// name in directory `dir`; or, where that cannot be done, named `temp` (which
/// must be on the same file system as the final name; `AlreadyExists` if it
/// is taken). `NotFound` when `dir` does not exist.
pub fn create(dir: &Path, temp: &Path, mode: u32) -> io::Result<(File, Pending)> {
    if proc_fd() {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(mode)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir);
        match opened {
            Ok(file) => {
                return Ok((
                    file,
                    Pending {
                        temp: None,
                        linked: false,
                    },
                ))
            }
            // No O_TMPFILE in this kernel or file system.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    create_named(temp, mode)
}

/// The fallback: the file created under its temporary name.
fn create_named(temp: &Path, mode: u32) -> io::Result<(File, Pending)> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(temp)?;
    Ok((
        file,
        Pending {
            temp: Some(temp.to_path_buf()),
            linked: false,
        },
    ))
}

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

impl Pending {
    /// Gives `file` (the one [`create`] returned) the name `path`.
    /// `AlreadyExists` when `path` is taken: nothing is replaced, and the
    /// file stays pending, so the caller may try another name.
    pub fn link(&mut self, file: &File, path: &Path) -> io::Result<()> {
        match &self.temp {
            Some(temp) => rename_noreplace(temp, path)?,
            None => {
                let from = c_path(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
                let to = c_path(path)?;
                // SAFETY: two valid NUL-terminated paths; no other memory is passed.
                let rc = unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from.as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        self.linked = true;
        Ok(())
    }

    /// The temporary name the file has until it is linked, if any.
    pub fn temp_path(&self) -> Option<&Path> {
        self.temp.as_deref().filter(|_| !self.linked)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let (Some(temp), false) = (&self.temp, self.linked) {
            let _ = fs::remove_file(temp);
        }
    }
}

/// rename(2) that fails with `AlreadyExists` instead of replacing (an empty
/// target directory would otherwise be replaced): renameat2's
/// `RENAME_NOREPLACE`, or where the file system lacks it, a check first.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (c_path(from)?, c_path(to)?);
    // SAFETY: two valid NUL-terminated paths; no other memory is passed.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(e);
    }
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("unnamed-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_file_is_invisible_until_linked_and_then_whole() {
        let d = scratch("link");
        let (mut f, mut p) = create(&d, &d.join(".t"), 0o640).expect("create");
        assert!(
            p.temp_path().is_none(),
            "O_TMPFILE is there on this machine"
        );
        f.write_all(b"hello").expect("write");
        assert!(names(&d).is_empty());
        p.link(&f, &d.join("final")).expect("link");
        drop((f, p));
        assert_eq!(names(&d), vec!["final"]);
        let mut s = String::new();
        File::open(d.join("final"))
            .and_then(|mut f| f.read_to_string(&mut s))
            .expect("read");
        assert_eq!(s, "hello");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(d.join("final"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_taken_name_is_kept_and_the_file_stays_pending() {
        let d = scratch("taken");
        fs::write(d.join("final"), b"old").expect("write old");
        let (mut f, mut p) = create(&d, &d.join(".t"), 0o600).expect("create");
        f.write_all(b"new").expect("write");
        let e = p.link(&f, &d.join("final")).expect_err("name is taken");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(d.join("final")).expect("read"), b"old");
        p.link(&f, &d.join("other")).expect("link elsewhere");
        assert_eq!(fs::read(d.join("other")).expect("read"), b"new");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_never_linked_leaves_nothing() {
        let d = scratch("drop");
        let (f, p) = create(&d, &d.join(".t"), 0o600).expect("create");
        drop((f, p));
        assert!(names(&d).is_empty());
        let e = create(&d.join("missing"), &d.join("missing/.t"), 0o600).expect_err("no dir");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn the_fallback_renames_without_replacing_and_cleans_up() {
        let d = scratch("named");
        fs::write(d.join("final"), b"old").expect("write old");
        let (mut f, mut p) = create_named(&d.join(".t"), 0o600).expect("create");
        assert_eq!(p.temp_path(), Some(d.join(".t").as_path()));
        f.write_all(b"new").expect("write");
        let e = p.link(&f, &d.join("final")).expect_err("name is taken");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        p.link(&f, &d.join("other")).expect("link elsewhere");
        assert!(p.temp_path().is_none());
        drop((f, p));
        assert_eq!(names(&d), vec!["final", "other"]);
        let (f, p) = create_named(&d.join(".u"), 0o600).expect("create");
        drop((f, p));
        assert_eq!(
            names(&d),
            vec!["final", "other"],
            "an unlinked temp is removed"
        );
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn rename_noreplace_keeps_the_target() {
        let d = scratch("rename");
        fs::write(d.join("a"), b"a").expect("write");
        fs::write(d.join("b"), b"b").expect("write");
        let e = rename_noreplace(&d.join("a"), &d.join("b")).expect_err("taken");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        rename_noreplace(&d.join("a"), &d.join("c")).expect("rename");
        assert_eq!(names(&d), vec!["b", "c"]);
        let _ = fs::remove_dir_all(&d);
    }
}
