//! The queue directories, with Postfix's owners and modes (postfix-files):
//! the queue directory and `pid/` belong to root; the rest to `mail_owner`,
//! `maildrop/` and `public/` with group `setgid_group` so that postdrop can
//! write there. Run as an ordinary user, everything belongs to that user.

use params::{table as p, Config};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who owns a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Root,
    MailOwner,
    /// `mail_owner`, group `setgid_group`.
    MailOwnerPostdrop,
}

/// The subdirectories of `queue_directory`: name, owner, mode.
pub const QUEUE_DIRS: &[(&str, Owner, u32)] = &[
    ("active", Owner::MailOwner, 0o700),
    ("bounce", Owner::MailOwner, 0o700),
    ("corrupt", Owner::MailOwner, 0o700),
    ("defer", Owner::MailOwner, 0o700),
    ("deferred", Owner::MailOwner, 0o700),
    ("flush", Owner::MailOwner, 0o700),
    ("hold", Owner::MailOwner, 0o700),
    ("incoming", Owner::MailOwner, 0o700),
    ("maildrop", Owner::MailOwnerPostdrop, 0o730),
    ("pid", Owner::Root, 0o755),
    ("private", Owner::MailOwner, 0o700),
    ("public", Owner::MailOwnerPostdrop, 0o710),
    ("saved", Owner::MailOwner, 0o700),
    ("trace", Owner::MailOwner, 0o700),
];

/// The uid/gid pairs behind [`Owner`], worked out from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    root: (u32, u32),
    owner: (u32, u32),
    postdrop_gid: u32,
}

impl Ids {
    /// As root: root, `mail_owner` and `setgid_group`, which must exist.
    /// Otherwise: the current user for all three.
    pub fn from_config(cfg: &Config) -> Result<Ids, String> {
        if !util::privs::is_root() {
            let me = util::privs::current_account();
            return Ok(Ids {
                root: (me.uid, me.gid),
                owner: (me.uid, me.gid),
                postdrop_gid: me.gid,
            });
        }
        let owner_name = cfg.str(&p::MAIL_OWNER);
        let owner = util::privs::lookup_user(owner_name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("parameter mail_owner: unknown user name: {owner_name} (create it with useradd -r)"))?;
        if owner.uid == 0 {
            return Err(format!(
                "parameter mail_owner: user {owner_name} has root privileges"
            ));
        }
        let group_name = cfg.str(&p::SETGID_GROUP);
        let group = nix::unistd::Group::from_name(group_name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("parameter setgid_group: unknown group name: {group_name} (create it with groupadd -r)"))?;
        Ok(Ids {
            root: (0, 0),
            owner: (owner.uid, owner.gid),
            postdrop_gid: group.gid.as_raw(),
        })
    }

    fn of(&self, o: Owner) -> (u32, u32) {
        match o {
            Owner::Root => self.root,
            Owner::MailOwner => self.owner,
            Owner::MailOwnerPostdrop => (self.owner.0, self.postdrop_gid),
        }
    }
}

fn ensure_dir(path: &Path, ids: (u32, u32), mode: u32, fixed: &mut Vec<String>) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} exists and is not a directory",
                path.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path)?;
            fixed.push(format!("created {}", path.display()));
        }
        Err(e) => return Err(e),
    }
    let m = std::fs::metadata(path)?;
    if m.permissions().mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        fixed.push(format!("set mode {mode:o} on {}", path.display()));
    }
    if (m.uid(), m.gid()) != ids && util::privs::is_root() {
        std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1))?;
        fixed.push(format!(
            "set owner {}:{} on {}",
            ids.0,
            ids.1,
            path.display()
        ));
    }
    Ok(())
}

/// Creates what is missing and fixes modes and owners; returns what it did.
pub fn set_permissions(cfg: &Config) -> Result<Vec<String>, String> {
    let ids = Ids::from_config(cfg)?;
    let queue: PathBuf = cfg.path(&p::QUEUE_DIRECTORY);
    let data: PathBuf = cfg.path(&p::DATA_DIRECTORY);
    let mut fixed = Vec::new();
    let fail = |e: io::Error| e.to_string();
    ensure_dir(&queue, ids.of(Owner::Root), 0o755, &mut fixed).map_err(fail)?;
    for (name, owner, mode) in QUEUE_DIRS {
        ensure_dir(&queue.join(name), ids.of(*owner), *mode, &mut fixed).map_err(fail)?;
    }
    ensure_dir(&data, ids.of(Owner::MailOwner), 0o700, &mut fixed).map_err(fail)?;
    Ok(fixed)
}

/// Reports what is missing or wrong without changing anything.
pub fn problems(cfg: &Config) -> Vec<String> {
    let queue: PathBuf = cfg.path(&p::QUEUE_DIRECTORY);
    let mut out = Vec::new();
    for (name, _, mode) in QUEUE_DIRS {
        let path = queue.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() && m.permissions().mode() & 0o7777 == *mode => {}
            Ok(m) if m.is_dir() => out.push(format!(
                "{}: mode {:o}, expected {mode:o}",
                path.display(),
                m.permissions().mode() & 0o7777
            )),
            Ok(_) => out.push(format!("{}: not a directory", path.display())),
            Err(e) => out.push(format!("{}: {e}", path.display())),
        }
    }
    out
}
