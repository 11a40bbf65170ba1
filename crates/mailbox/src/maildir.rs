//! Delivery to a Maildir, as Postfix local(8) (`local/maildir.c`) does it,
//! with the file names Dovecot gives (so Dovecot and mailsuite can share a
//! Maildir).
//!
//! 1. Create the file, mode 0600, without a name in `tmp/`
//!    ([`util::unnamed`]; where the file system cannot, as `tmp/NAME` with
//!    O_CREAT|O_EXCL|O_NOFOLLOW); a missing `tmp/`, `new/` or `cur/` (and the
//!    Maildir itself) is created with mode 0700 first. NAME is `SECS.MUSECSPPIDQCOUNT.HOST`: time of
//!    day, process id and a per-process counter, unique on this host; the
//!    host name has '/' written as `\057`, ':' as `\072` (and ',' as
//!    `\054`, so it cannot be taken for a `,S=` field).
//! 2. Write the message (LF line ends; a line end added if the last line
//!    lacks one; no `From ` line, no quoting), fsync it.
//! 3. Link it as `new/NAME,S=SIZE,W=VSIZE` (Dovecot's size and virtual
//!    size with CRLF line ends, which spare readers a stat or a count) with
//!    linkat (or renameat2's RENAME_NOREPLACE from `tmp/NAME`), which like
//!    the classic link-then-unlink never replaces an existing name (a clash
//!    just takes the next counter value); fsync `new/`. A failure before
//!    that leaves nothing behind, not even in `tmp/`.
//!
//! `mailbox_size_limit` applies to the message file, as Postfix applies it
//! to each Maildir file: "error writing message: File too large", 5.2.2.
//!
//! Maildir++ folders live in `.Name` directories beside `tmp/new/cur`
//! ([`folder_path`], [`create_folder`]).
//!
//! The caller must already run as the recipient (seteuid/setegid).

use crate::copy::{copy, CopySpec, Fault};
use crate::error::DeliveryError;
use crate::source::MessageSource;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// How to deliver to a Maildir.
#[derive(Debug, Clone)]
pub struct MaildirOptions {
    /// `mailbox_size_limit`: the most bytes one message file may hold;
    /// 0 for no limit.
    pub size_limit: u64,
    /// The host name in file names; `None` for gethostname(2).
    pub hostname: Option<String>,
    /// Status for errors creating or linking files that errno does not
    /// single out (Postfix: 5.2.0).
    pub def_status: &'static str,
    /// Status for write and fsync errors that errno does not single out.
    /// Postfix's `mail_copy()` says 5.3.0; mailsuite defers (4.3.0) so an
    /// I/O error never loses mail.
    pub write_error_status: &'static str,
    /// Failure injection for tests.
    pub fault: Option<Fault>,
}

impl Default for MaildirOptions {
    fn default() -> Self {
        MaildirOptions {
            size_limit: 51_200_000,
            hostname: None,
            def_status: "5.2.0",
            write_error_status: "4.3.0",
            fault: None,
        }
    }
}

/// A message delivered into a Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPath {
    /// The file in `new/`.
    pub path: PathBuf,
    /// Its size in bytes (the `S=` field).
    pub size: u64,
    /// Its size with CRLF line ends (the `W=` field).
    pub virtual_size: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `host` with '/' as `\057`, ':' as `\072` and ',' as `\054`, as the
/// Maildir specification and Dovecot write it into file names.
pub fn escape_hostname(host: &str) -> String {
    let mut s = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => s.push_str("\\057"),
            ':' => s.push_str("\\072"),
            ',' => s.push_str("\\054"),
            c => s.push(c),
        }
    }
    s
}

pub(crate) fn default_hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| escape_hostname(&util::host::hostname()))
}

/// A new unique base name: `SECS.MUSECSPPIDQCOUNT.HOST`. `host` must
/// already be escaped.
pub fn unique_name(host: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let q = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        q,
        host
    )
}

fn make_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().recursive(true).mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        r => r,
    }
}

/// Creates `dir` and its `tmp`, `new` and `cur` (mode 0700) where missing.
pub fn make_maildir(dir: &Path) -> io::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        make_dir(&dir.join(sub))?;
    }
    Ok(())
}

/// rename(2) that fails with AlreadyExists instead of replacing.
pub(crate) use util::unnamed::rename_noreplace;

const MAX_TRIES: u32 = 100;

/// Delivers `message` into the Maildir `dir` (see the module documentation).
pub fn deliver(
    dir: &Path,
    message: &mut dyn MessageSource,
    opts: &MaildirOptions,
) -> Result<DeliveredPath, DeliveryError> {
    let escaped;
    let host = match &opts.hostname {
        Some(h) => {
            escaped = escape_hostname(h);
            escaped.as_str()
        }
        None => default_hostname(),
    };
    let create_err = |p: &Path, e: io::Error| {
        DeliveryError::from_io(
            format!("create maildir file {}", p.display()),
            e,
            opts.def_status,
        )
    };

    // 1. The tmp file.
    let mut made_dirs = false;
    let mut tries = 0;
    let tmp_dir = dir.join("tmp");
    let (file, mut pending, base) = loop {
        tries += 1;
        let base = unique_name(host);
        let tmp_path = tmp_dir.join(&base);
        match util::unnamed::create(&tmp_dir, &tmp_path, 0o600) {
            Ok((f, pending)) => break (f, pending, base),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made_dirs => {
                make_maildir(dir).map_err(|e| create_err(&tmp_path, e))?;
                made_dirs = true;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < MAX_TRIES => {}
            Err(e) => return Err(create_err(&tmp_path, e)),
        }
    };
    // 2. The message.
    let spec = CopySpec {
        prefix: b"",
        quote_from: false,
        blank_line: false,
        budget: (opts.size_limit > 0).then_some(opts.size_limit),
        def_status: opts.write_error_status,
        fault: opts.fault,
        sync: true,
    };
    let copied = copy(message, &file, &spec)?;

    // 3. Into new/.
    let new_dir = dir.join("new");
    let mut name = format!("{base},S={},W={}", copied.size, copied.virtual_size);
    let mut made_new = false;
    let mut tries = 0;
    let new_path = loop {
        tries += 1;
        let new_path = new_dir.join(&name);
        match pending.link(&file, &new_path) {
            Ok(()) => break new_path,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !made_new => {
                made_new = true;
                make_maildir(dir).map_err(|e| create_err(&new_path, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < MAX_TRIES => {
                name = format!(
                    "{},S={},W={}",
                    unique_name(host),
                    copied.size,
                    copied.virtual_size
                );
            }
            Err(e) => return Err(create_err(&new_path, e)),
        }
    };
    drop((file, pending));
    if let Err(e) = util::safe_file::sync_dir(&new_dir) {
        let _ = fs::remove_file(&new_path);
        return Err(DeliveryError::from_io(
            format!("fsync {}", new_dir.display()),
            e,
            opts.write_error_status,
        ));
    }
    Ok(DeliveredPath {
        path: new_path,
        size: copied.size,
        virtual_size: copied.virtual_size,
    })
}

/// A folder name that cannot be a Maildir++ folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderNameError(pub String);

impl fmt::Display for FolderNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mailbox folder name: {:?}", self.0)
    }
}

impl std::error::Error for FolderNameError {}

/// The directory of Maildir++ folder `name` under the Maildir `root`:
/// INBOX (any case) is `root` itself, `Sent` is `root/.Sent`, and the
/// hierarchy `Archive/2024` (or `Archive.2024`) is `root/.Archive.2024`.
/// Empty levels, levels starting with '.', and NUL are refused, so a name
/// can never leave `root`.
pub fn folder_path(root: &Path, name: &str) -> Result<PathBuf, FolderNameError> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(root.to_path_buf());
    }
    let bad = || FolderNameError(name.to_string());
    let name = name.strip_prefix("INBOX.").unwrap_or(name);
    if name.is_empty() || name.contains('\0') {
        return Err(bad());
    }
    let levels: Vec<&str> = name.split(['/', '.']).collect();
    if levels.iter().any(|l| l.is_empty()) {
        return Err(bad());
    }
    Ok(root.join(format!(".{}", levels.join("."))))
}

/// Creates the Maildir++ folder `name` under `root` (with its
/// `tmp/new/cur` and the empty `maildirfolder` marker Courier and Dovecot
/// write, and the root Maildir itself where missing) and returns its
/// path. An existing folder is left as it is.
pub fn create_folder(root: &Path, name: &str) -> io::Result<PathBuf> {
    let path =
        folder_path(root, name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    make_maildir(root)?;
    make_maildir(&path)?;
    if path != root {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path.join("maildirfolder"))
        {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_escapes() {
        assert_eq!(escape_hostname("a/b:c,d.e"), "a\\057b\\072c\\054d.e");
    }

    #[test]
    fn unique_names_differ_and_have_the_shape() {
        let a = unique_name("h");
        let b = unique_name("h");
        assert_ne!(a, b);
        let (secs, rest) = a.split_once(".M").expect("M field");
        assert!(secs.bytes().all(|c| c.is_ascii_digit()));
        assert!(rest.contains(&format!("P{}Q", std::process::id())));
        assert!(rest.ends_with(".h"));
    }

    #[test]
    fn folders() {
        let r = Path::new("/home/u/Maildir");
        assert_eq!(folder_path(r, "inbox"), Ok(r.to_path_buf()));
        assert_eq!(folder_path(r, "Sent"), Ok(r.join(".Sent")));
        assert_eq!(folder_path(r, "Archive/2024"), Ok(r.join(".Archive.2024")));
        assert_eq!(folder_path(r, "INBOX.Trash"), Ok(r.join(".Trash")));
        for bad in ["", "..", "a//b", "/a", "a/", ".x", "a\0b"] {
            assert!(folder_path(r, bad).is_err(), "{bad:?}");
        }
    }
}
