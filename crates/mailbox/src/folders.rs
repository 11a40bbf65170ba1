//! One user's IMAP mailboxes under a Maildir++ root, as Dovecot's
//! default Maildir layout keeps them: INBOX is the root Maildir, mailbox
//! `a.b` is the directory `root/.a.b` (hierarchy separator '.'), with
//! the empty `maildirfolder` marker. Parents are not created: a folder
//! `a.b` can exist without `a`.
//!
//! A name whose first level is `INBOX` in any case is written `INBOX`
//! (`inbox.x` is `INBOX.x`, directory `.INBOX.x`), as Dovecot does.
//!
//! Subscriptions are Dovecot's `subscriptions` file in the root: version
//! 1 (one name per line) or version 2 (`V\t2`, an empty line, then names
//! with '\t' between levels and `\x01`-escapes). A change keeps the
//! file's version, and a new file is version 1 — what Dovecot 2.3's
//! `subsfile_set_subscribed` does. Changes are made under
//! `subscriptions.lock` (O_EXCL, Dovecot's dotlock name), written into
//! the lock file and renamed over the file.

use crate::lock::ReplaceLock;
use crate::store::StoreError;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The IMAP hierarchy separator of the Maildir++ layout.
pub const SEPARATOR: char = '.';

/// The subscriptions file in the root.
pub const SUBSCRIPTIONS: &str = "subscriptions";

/// Why a mailbox operation failed.
#[derive(Debug)]
pub enum FolderError {
    /// Not a usable mailbox name (empty level, leading '.', '/', NUL or
    /// control chars, > 255 bytes…).
    Invalid(String),
    /// CREATE/RENAME target exists.
    Exists,
    /// No such mailbox.
    NotFound,
    /// The operation is not allowed on INBOX (DELETE INBOX).
    Inbox,
    /// DELETE of an mbox directory that still holds mailboxes.
    HasChildren,
    Store(StoreError),
}

impl fmt::Display for FolderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderError::Invalid(n) => write!(f, "invalid mailbox name: {n:?}"),
            FolderError::Exists => f.write_str("mailbox already exists"),
            FolderError::NotFound => f.write_str("mailbox does not exist"),
            FolderError::Inbox => f.write_str("not allowed on INBOX"),
            FolderError::HasChildren => f.write_str("mailbox has children"),
            FolderError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FolderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FolderError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for FolderError {
    fn from(e: StoreError) -> Self {
        FolderError::Store(e)
    }
}

fn io_err(what: &'static str, path: &Path, e: io::Error) -> FolderError {
    FolderError::Store(StoreError::io(what, path, e))
}

const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The name with a first level of `INBOX` (any case) written `INBOX`,
/// after checking it.
fn normalize(name: &str) -> Result<String, FolderError> {
    normalize_with(name, SEPARATOR)
}

/// As [`normalize`] for the hierarchy separator `sep` ('.' Maildir++,
/// '/' mbox: there a level may not start with '.' nor end in `.lock`).
fn normalize_with(name: &str, sep: char) -> Result<String, FolderError> {
    let bad = || FolderError::Invalid(name.to_string());
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    let other = if sep == '/' { '\\' } else { '/' };
    if name
        .chars()
        .any(|c| c.is_control() || c == other || matches!(c, '*' | '%'))
    {
        return Err(bad());
    }
    if name.split(sep).any(|l| l.is_empty()) {
        return Err(bad());
    }
    if sep == '/'
        && name
            .split(sep)
            .any(|l| l.starts_with('.') || l.ends_with(".lock") || l.contains(".mailsuite-tmp."))
    {
        return Err(bad());
    }
    let (first, rest) = match name.split_once(sep) {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    if first.eq_ignore_ascii_case("INBOX") {
        return Ok(match rest {
            Some(r) => format!("INBOX{sep}{r}"),
            None => "INBOX".to_string(),
        });
    }
    Ok(name.to_string())
}

/// Where a mailbox's messages are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxPath {
    /// A Maildir (with cur/ new/ tmp/).
    Maildir(PathBuf),
    /// An mbox file and the directory for its index files (`None`:
    /// `INDEX=MEMORY`).
    Mbox {
        file: PathBuf,
        index: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
enum Layout {
    Maildir,
    Mbox {
        inbox: PathBuf,
        index: Option<PathBuf>,
    },
}

/// One user's mailboxes under a Maildir++ root or an mbox directory.
#[derive(Debug, Clone)]
pub struct Folders {
    root: PathBuf,
    layout: Layout,
}

impl Folders {
    pub fn new(root: &Path) -> Folders {
        Folders {
            root: root.to_path_buf(),
            layout: Layout::Maildir,
        }
    }

    /// Mailboxes in Dovecot's mbox layout: INBOX is the file `inbox`,
    /// the others are files under `root`; `index`: the directory for
    /// index files (`~/mail/.imap`; `None` for `INDEX=MEMORY`).
    pub fn new_mbox(root: &Path, inbox: &Path, index: Option<&Path>) -> Folders {
        Folders {
            root: root.to_path_buf(),
            layout: Layout::Mbox {
                inbox: inbox.to_path_buf(),
                index: index.map(Path::to_path_buf),
            },
        }
    }

    /// The hierarchy separator: '.' (Maildir++) or '/' (mbox).
    pub fn separator(&self) -> char {
        match self.layout {
            Layout::Maildir => SEPARATOR,
            Layout::Mbox { .. } => '/',
        }
    }

    fn is_mbox(&self) -> bool {
        matches!(self.layout, Layout::Mbox { .. })
    }

    fn norm(&self, name: &str) -> Result<String, FolderError> {
        normalize_with(name, self.separator())
    }

    fn subscriptions_path(&self) -> PathBuf {
        self.root.join(if self.is_mbox() {
            ".subscriptions"
        } else {
            SUBSCRIPTIONS
        })
    }

    /// Where mailbox `name`'s messages are (and, mbox, its index files).
    pub fn mailbox(&self, name: &str) -> Result<MailboxPath, FolderError> {
        match &self.layout {
            Layout::Maildir => Ok(MailboxPath::Maildir(self.path(name)?)),
            Layout::Mbox { index, .. } => {
                let n = self.norm(name)?;
                let file = self.path(&n)?;
                let on_disk = if n == "INBOX" {
                    n.clone()
                } else {
                    util::mutf7::encode(&n)
                };
                Ok(MailboxPath::Mbox {
                    file,
                    index: index.as_ref().map(|d| d.join(on_disk)),
                })
            }
        }
    }

    /// The index directory of mbox mailbox `name` (normalized).
    fn index_dir(&self, n: &str) -> Option<PathBuf> {
        match &self.layout {
            Layout::Mbox { index: Some(d), .. } => Some(d.join(util::mutf7::encode(n))),
            _ => None,
        }
    }

    /// The directory of mailbox `name` (IMAP name, already decoded to
    /// UTF-8; "INBOX" any case = root). On disk the name is in modified
    /// UTF-7, as Dovecot's Maildir++ layout writes it (`Entwürfe` is
    /// `.Entw&APw-rfe`), so both see the same folders.
    pub fn path(&self, name: &str) -> Result<PathBuf, FolderError> {
        let n = self.norm(name)?;
        if let Layout::Mbox { inbox, .. } = &self.layout {
            if n == "INBOX" {
                return Ok(inbox.clone());
            }
            return Ok(self.root.join(util::mutf7::encode(&n)));
        }
        if n == "INBOX" {
            return Ok(self.root.clone());
        }
        Ok(self.root.join(format!(".{}", util::mutf7::encode(&n))))
    }

    /// Whether `name` exists as a selectable mailbox (has cur/; mbox: is
    /// a file, INBOX always).
    pub fn exists(&self, name: &str) -> bool {
        if self.is_mbox() {
            return match self.norm(name) {
                Ok(n) if n == "INBOX" => true,
                Ok(n) => self.path(&n).is_ok_and(|p| p.is_file()),
                Err(_) => false,
            };
        }
        self.path(name).is_ok_and(|p| p.join("cur").is_dir())
    }

    /// Whether `name` is an mbox directory: a level that holds
    /// mailboxes but no messages (`\Noselect`).
    pub fn is_noselect(&self, name: &str) -> bool {
        self.is_mbox()
            && self
                .norm(name)
                .ok()
                .filter(|n| n != "INBOX")
                .and_then(|n| self.path(&n).ok())
                .is_some_and(|p| p.is_dir())
    }

    /// The mbox folders and directories under the root (not INBOX).
    fn mbox_names(&self) -> Result<Vec<String>, FolderError> {
        fn walk(
            dir: &Path,
            prefix: &str,
            depth: usize,
            out: &mut Vec<String>,
        ) -> Result<(), FolderError> {
            let rd = match fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err("read directory", dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| io_err("read directory", dir, e))?;
                let Some(name) = ent.file_name().to_str().map(String::from) else {
                    continue;
                };
                if name.starts_with('.')
                    || name.ends_with(".lock")
                    || name.contains(".mailsuite-tmp.")
                {
                    continue;
                }
                let Ok(decoded) = util::mutf7::decode(name.as_bytes()) else {
                    continue;
                };
                if prefix.is_empty() && decoded.eq_ignore_ascii_case("INBOX") {
                    continue;
                }
                let full = if prefix.is_empty() {
                    decoded
                } else {
                    format!("{prefix}/{decoded}")
                };
                let Ok(md) = fs::metadata(ent.path()) else {
                    continue;
                };
                if md.is_file() {
                    out.push(full);
                } else if md.is_dir() {
                    out.push(full.clone());
                    if depth > 1 {
                        walk(&ent.path(), &full, depth - 1, out)?;
                    }
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(&self.root, "", 16, &mut out)?;
        Ok(out)
    }

    /// The folders (not INBOX), unsorted; hidden and invalid names skipped.
    fn folder_names(&self) -> Result<Vec<String>, FolderError> {
        if self.is_mbox() {
            return self.mbox_names();
        }
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &self.root, e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| io_err("read directory", &self.root, e))?;
            let Some(name) = ent.file_name().to_str().map(String::from) else {
                continue;
            };
            let Some(on_disk) = name.strip_prefix('.') else {
                continue;
            };
            let Ok(folder) = util::mutf7::decode(on_disk.as_bytes()) else {
                continue;
            };
            if normalize(&folder).ok().as_deref() != Some(folder.as_str()) {
                continue;
            }
            if ent.path().join("cur").is_dir() {
                out.push(folder);
            }
        }
        Ok(out)
    }

    /// Every mailbox: "INBOX" first, then the folders sorted, with '.'
    /// separators ("Archive.2024").
    pub fn list(&self) -> Result<Vec<String>, FolderError> {
        let mut v = self.folder_names()?;
        v.sort();
        v.insert(0, "INBOX".to_string());
        Ok(v)
    }

    /// Whether `name` has child mailboxes.
    pub fn has_children(&self, name: &str) -> bool {
        let Ok(n) = self.norm(name) else {
            return false;
        };
        let prefix = format!("{n}{}", self.separator());
        self.folder_names()
            .map(|v| v.iter().any(|f| f.starts_with(&prefix)))
            .unwrap_or(false)
    }

    /// CREATE (with the `maildirfolder` marker; parents are not created).
    /// mbox: an empty file, parents made as directories; a name ending
    /// in '/' makes a directory.
    pub fn create(&self, name: &str) -> Result<(), FolderError> {
        if self.is_mbox() {
            return self.mbox_create(name);
        }
        let n = normalize(name.trim_end_matches(SEPARATOR))?;
        if n == "INBOX" {
            return Err(FolderError::Exists);
        }
        let path = self.path(&n)?;
        if fs::symlink_metadata(&path).is_ok() {
            return Err(FolderError::Exists);
        }
        crate::maildir::make_maildir(&self.root).map_err(|e| io_err("create", &self.root, e))?;
        // Build it under a hidden name, then rename into place, so no
        // half-made mailbox is ever visible and two CREATEs cannot both
        // succeed.
        let tmp = self.hidden_temp("create");
        let res = (|| -> Result<(), FolderError> {
            fs::create_dir(&tmp).map_err(|e| io_err("create", &tmp, e))?;
            crate::maildir::make_maildir(&tmp).map_err(|e| io_err("create", &tmp, e))?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(tmp.join("maildirfolder"))
                .map_err(|e| io_err("create", &tmp, e))?;
            crate::maildir::rename_noreplace(&tmp, &path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists
                    || e.raw_os_error() == Some(libc::ENOTEMPTY)
                {
                    FolderError::Exists
                } else {
                    io_err("rename", &tmp, e)
                }
            })
        })();
        if res.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        res
    }

    fn mbox_create(&self, name: &str) -> Result<(), FolderError> {
        let dir_only = name.ends_with('/');
        let n = self.norm(name.trim_end_matches('/'))?;
        if n == "INBOX" {
            return Err(FolderError::Exists);
        }
        let path = self.path(&n)?;
        if fs::symlink_metadata(&path).is_ok() {
            return Err(FolderError::Exists);
        }
        if let Some(parent) = path.parent() {
            mkdirs(parent)?;
        }
        if dir_only {
            return match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(FolderError::Exists),
                Err(e) => Err(io_err("create", &path, e)),
            };
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(FolderError::Exists),
            Err(e) => return Err(io_err("create", &path, e)),
        }
        // A mailbox of this name deleted earlier leaves no index behind.
        if let Some(d) = self.index_dir(&n) {
            let _ = fs::remove_dir_all(d);
        }
        Ok(())
    }

    fn mbox_delete(&self, name: &str) -> Result<(), FolderError> {
        let n = self.norm(name)?;
        if n == "INBOX" {
            return Err(FolderError::Inbox);
        }
        let path = self.path(&n)?;
        let md = fs::symlink_metadata(&path).map_err(|_| FolderError::NotFound)?;
        if md.is_dir() {
            match fs::remove_dir(&path) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    return Err(FolderError::HasChildren)
                }
                Err(e) => return Err(io_err("remove", &path, e)),
            }
        } else if md.is_file() {
            fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
        } else {
            return Err(FolderError::NotFound);
        }
        if let Some(d) = self.index_dir(&n) {
            let _ = fs::remove_dir_all(d);
        }
        self.set_subscribed(&n, false)
    }

    fn mbox_rename(&self, from: &str, to: &str) -> Result<(), FolderError> {
        let from = self.norm(from)?;
        let to = self.norm(to.trim_end_matches('/'))?;
        if to == "INBOX" {
            return Err(FolderError::Exists);
        }
        if to.starts_with(&format!("{from}/")) || to == from {
            return Err(FolderError::Invalid(to));
        }
        if from == "INBOX" {
            return self.mbox_rename_inbox(&to);
        }
        let from_path = self.path(&from)?;
        let to_path = self.path(&to)?;
        if fs::symlink_metadata(&from_path).is_err() {
            return Err(FolderError::NotFound);
        }
        if let Some(parent) = to_path.parent() {
            mkdirs(parent)?;
        }
        crate::maildir::rename_noreplace(&from_path, &to_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FolderError::NotFound,
            io::ErrorKind::AlreadyExists => FolderError::Exists,
            _ => io_err("rename", &from_path, e),
        })?;
        // The index files (and, for a directory, its mailboxes') follow.
        if let (Some(a), Some(b)) = (self.index_dir(&from), self.index_dir(&to)) {
            if a.exists() {
                let _ = fs::remove_dir_all(&b);
                if let Some(parent) = b.parent() {
                    let _ = mkdirs(parent);
                }
                if let Err(e) = fs::rename(&a, &b) {
                    maillog::warning!("rename {}: {e}", a.display());
                }
            }
        }
        let _ = util::safe_file::sync_dir(&self.root);
        self.rename_subscriptions(&from, &to)
    }

    /// RENAME INBOX on mbox (RFC 3501 6.3.5): a new mbox `to` (normalized,
    /// not INBOX) gets all of INBOX's messages with their flags,
    /// keywords and UIDs, and INBOX is left empty, not removed
    /// ([`Mbox::move_all_to`], under INBOX's write locks, so mail
    /// delivered meanwhile waits and stays in INBOX). As
    /// [`Self::rename_inbox`] for Maildir: subscriptions are not changed.
    fn mbox_rename_inbox(&self, to: &str) -> Result<(), FolderError> {
        use crate::mbox_store::{Mbox, MboxOpenOptions, INDEX_FILE};
        let Layout::Mbox { inbox, .. } = &self.layout else {
            return Err(FolderError::Invalid(to.to_string()));
        };
        let to_path = self.path(to)?;
        if fs::symlink_metadata(&to_path).is_ok() {
            return Err(FolderError::Exists);
        }
        if let Some(parent) = to_path.parent() {
            mkdirs(parent)?;
        }
        let opts = |dir: Option<PathBuf>| MboxOpenOptions {
            index_path: dir.map(|d| d.join(INDEX_FILE)),
            ..MboxOpenOptions::default()
        };
        // A mailbox of this name deleted earlier leaves no index behind.
        let to_index = self.index_dir(to);
        if let Some(d) = &to_index {
            let _ = fs::remove_dir_all(d);
        }
        let inbox_index = self.index_dir("INBOX");
        if let Some(d) = &inbox_index {
            mkdirs(d)?;
        }
        let mut mb = Mbox::open(inbox, opts(inbox_index))?;
        match mb.move_all_to(&to_path, opts(to_index)) {
            Ok(_) => Ok(()),
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                Err(FolderError::Exists)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A hidden, unique directory name in the root (skipped by listings:
    /// it starts with "..").
    fn hidden_temp(&self, what: &str) -> PathBuf {
        let u = crate::maildir::unique_name("x");
        self.root.join(format!("..mailsuite-{what}.{u}"))
    }

    /// DELETE: renames the folder to a hidden name, then removes it;
    /// children stay. Also drops it from the subscriptions.
    pub fn delete(&self, name: &str) -> Result<(), FolderError> {
        if self.is_mbox() {
            return self.mbox_delete(name);
        }
        let n = normalize(name)?;
        if n == "INBOX" {
            return Err(FolderError::Inbox);
        }
        let path = self.path(&n)?;
        if !path.join("cur").is_dir() {
            return Err(FolderError::NotFound);
        }
        let tmp = self.hidden_temp("deleted");
        match fs::rename(&path, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FolderError::NotFound),
            Err(e) => return Err(io_err("rename", &path, e)),
        }
        fs::remove_dir_all(&tmp).map_err(|e| io_err("remove", &tmp, e))?;
        let _ = util::safe_file::sync_dir(&self.root);
        self.set_subscribed(&n, false)
    }

    /// RENAME, children included (a.b → c.b when a → c). Renaming INBOX
    /// moves all its messages into the new folder, leaving INBOX empty.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FolderError> {
        if self.is_mbox() {
            return self.mbox_rename(from, to);
        }
        let from = normalize(from)?;
        let to = normalize(to)?;
        if to == "INBOX" {
            return Err(FolderError::Exists);
        }
        let to_path = self.path(&to)?;
        if fs::symlink_metadata(&to_path).is_ok() {
            return Err(FolderError::Exists);
        }
        if from == "INBOX" {
            return self.rename_inbox(&to, &to_path);
        }
        let from_path = self.path(&from)?;
        if !from_path.join("cur").is_dir() {
            return Err(FolderError::NotFound);
        }
        if to.starts_with(&format!("{from}{SEPARATOR}")) || to == from {
            // Into its own subtree: the children's new names would clash.
            return Err(FolderError::Invalid(to));
        }
        let prefix = format!("{from}{SEPARATOR}");
        let mut children: Vec<(String, String)> = self
            .folder_names()?
            .into_iter()
            .filter_map(|f| {
                let rest = f.strip_prefix(&prefix)?.to_string();
                Some((f, format!("{to}{SEPARATOR}{rest}")))
            })
            .collect();
        children.sort();
        for (_, new) in &children {
            if fs::symlink_metadata(self.path(new)?).is_ok() {
                return Err(FolderError::Exists);
            }
        }
        crate::maildir::rename_noreplace(&from_path, &to_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FolderError::NotFound,
            io::ErrorKind::AlreadyExists => FolderError::Exists,
            _ => io_err("rename", &from_path, e),
        })?;
        for (old, new) in &children {
            let (o, n) = (self.path(old)?, self.path(new)?);
            match crate::maildir::rename_noreplace(&o, &n) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("rename", &o, e)),
            }
        }
        let _ = util::safe_file::sync_dir(&self.root);
        self.rename_subscriptions(&from, &to)
    }

    /// RENAME INBOX: a new folder gets INBOX's files (and a copy of its
    /// uidlist and keywords, so the messages keep their UIDs there);
    /// INBOX keeps its uidlist (without the records), so its UIDs are
    /// never reused. Done under INBOX's uidlist lock.
    fn rename_inbox(&self, to: &str, to_path: &Path) -> Result<(), FolderError> {
        use crate::uidlist::{UidList, UidListLock};
        crate::maildir::make_maildir(&self.root).map_err(|e| io_err("create", &self.root, e))?;
        let lock = UidListLock::acquire(&self.root, LOCK_TIMEOUT)?;
        self.create(to)?;
        if let Some(mut list) = UidList::read(&self.root)? {
            // The copy gets its own GUID.
            list.guid = Some(crate::uidlist::new_guid());
            let p = to_path.join(crate::uidlist::UIDLIST);
            util::safe_file::replace(&p, &list.to_bytes(), 0o600)
                .map_err(|e| io_err("write", &p, e))?;
        }
        let kw = self.root.join("dovecot-keywords");
        match fs::read(&kw) {
            Ok(data) => {
                let p = to_path.join("dovecot-keywords");
                util::safe_file::replace(&p, &data, 0o600).map_err(|e| io_err("write", &p, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", &kw, e)),
        }
        for sub in ["cur", "new"] {
            let src = self.root.join(sub);
            let dst = to_path.join(sub);
            let rd = fs::read_dir(&src).map_err(|e| io_err("read directory", &src, e))?;
            for ent in rd {
                let ent = ent.map_err(|e| io_err("read directory", &src, e))?;
                let name = ent.file_name();
                if name.to_str().is_some_and(|n| n.starts_with('.')) {
                    continue;
                }
                match fs::rename(src.join(&name), dst.join(&name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("rename", &src.join(&name), e)),
                }
            }
            let _ = util::safe_file::sync_dir(&dst);
            let _ = util::safe_file::sync_dir(&src);
        }
        drop(lock);
        Ok(())
    }

    /// The subscribed names, from Dovecot's `subscriptions` file.
    pub fn subscriptions(&self) -> Result<Vec<String>, FolderError> {
        let (_, names) = self.read_subscriptions()?;
        Ok(names)
    }

    /// (version, names).
    fn read_subscriptions(&self) -> Result<(u32, Vec<String>), FolderError> {
        let path = self.subscriptions_path();
        let sep = self.separator();
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((1, Vec::new())),
            Err(e) => return Err(io_err("read", &path, e)),
        };
        let text = String::from_utf8_lossy(&data);
        let (version, body) = match text.strip_prefix("V\t2\n\n") {
            Some(rest) => (2, rest),
            None => (1, &text[..]),
        };
        let mut out: Vec<String> = Vec::new();
        for line in body.lines() {
            if line.is_empty() {
                continue;
            }
            let name = if version == 2 {
                line.split('\t')
                    .map(tab_unescape)
                    .collect::<Vec<_>>()
                    .join(&sep.to_string())
            } else {
                line.to_string()
            };
            let name = self.norm(&name).unwrap_or(name);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok((version, out))
    }

    fn write_subscriptions(
        &self,
        change: impl FnOnce(&mut Vec<String>) -> bool,
    ) -> Result<(), FolderError> {
        let path = self.subscriptions_path();
        let sep = self.separator();
        if self.is_mbox() {
            mkdirs(&self.root)?;
        } else {
            crate::maildir::make_maildir(&self.root)
                .map_err(|e| io_err("create", &self.root, e))?;
        }
        let lock = ReplaceLock::acquire(&path, LOCK_TIMEOUT, Duration::from_secs(30))?;
        let (version, mut names) = self.read_subscriptions()?;
        if !change(&mut names) {
            return Ok(());
        }
        let mut out = String::new();
        if version == 2 {
            out.push_str("V\t2\n\n");
        }
        for n in &names {
            if version == 2 {
                let levels: Vec<String> = n.split(sep).map(tab_escape).collect();
                out.push_str(&levels.join("\t"));
            } else {
                out.push_str(n);
            }
            out.push('\n');
        }
        lock.commit(out.as_bytes())?;
        Ok(())
    }

    /// SUBSCRIBE / UNSUBSCRIBE.
    pub fn set_subscribed(&self, name: &str, subscribed: bool) -> Result<(), FolderError> {
        let n = self.norm(name)?;
        self.write_subscriptions(|names| {
            let has = names.contains(&n);
            if subscribed && !has {
                names.push(n);
                true
            } else if !subscribed && has {
                names.retain(|x| *x != n);
                true
            } else {
                false
            }
        })
    }

    fn rename_subscriptions(&self, from: &str, to: &str) -> Result<(), FolderError> {
        let sep = self.separator();
        let prefix = format!("{from}{sep}");
        self.write_subscriptions(|names| {
            let mut changed = false;
            for n in names.iter_mut() {
                if n == from {
                    *n = to.to_string();
                    changed = true;
                } else if let Some(rest) = n.strip_prefix(&prefix) {
                    *n = format!("{to}{sep}{rest}");
                    changed = true;
                }
            }
            changed
        })
    }
}

/// `mkdir -p` with mode 0700 for what it makes.
fn mkdirs(dir: &Path) -> Result<(), FolderError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err("create", dir, e))
}

fn tab_escape(s: &str) -> String {
    util::tabescape::escape(s)
}

/// Lenient: a broken escape in a subscriptions file keeps the text.
fn tab_unescape(s: &str) -> String {
    util::tabescape::unescape(s).unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let f = Folders::new(Path::new("/m"));
        assert_eq!(f.path("inbox").expect("inbox"), Path::new("/m"));
        assert_eq!(f.path("a.b").expect("a.b"), Path::new("/m/.a.b"));
        assert_eq!(f.path("inbox.x").expect("x"), Path::new("/m/.INBOX.x"));
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a/b",
            "a\0b",
            "a\tb",
            "x*",
            &"x".repeat(256),
        ] {
            assert!(
                matches!(f.path(bad), Err(FolderError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(tab_unescape(&tab_escape("a\tb\x01c")), "a\tb\x01c");
    }
}
