//! Dropping root in the fixed order (STYLE 4, Postfix `chroot_uid.c`): resolve
//! the user, setgid + initgroups, chroot + chdir("/"), setuid, then check that
//! root cannot be regained. Callers open whatever needs root before this.

use nix::unistd::{self, Gid, Uid, User};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// A system account, as looked up in the passwd database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// The GECOS field (the full name, and more after a comma).
    pub gecos: String,
}

fn to_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl From<User> for Account {
    fn from(u: User) -> Account {
        Account {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
            gecos: u.gecos.to_string_lossy().into_owned(),
        }
    }
}

/// Looks up `name` in the passwd database.
pub fn lookup_user(name: &str) -> io::Result<Option<Account>> {
    User::from_name(name)
        .map(|u| u.map(Account::from))
        .map_err(to_io)
}

/// Looks up a group name's gid in the group database.
pub fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    nix::unistd::Group::from_name(name)
        .map(|g| g.map(|g| g.gid.as_raw()))
        .map_err(to_io)
}

/// Looks up a uid in the passwd database.
pub fn lookup_user_by_uid(uid: u32) -> Option<Account> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(Account::from)
}

/// The account this process runs as.
pub fn current_account() -> Account {
    let uid = unistd::geteuid();
    match User::from_uid(uid) {
        Ok(Some(u)) => u.into(),
        _ => Account {
            name: uid.to_string(),
            uid: uid.as_raw(),
            gid: unistd::getegid().as_raw(),
            home: PathBuf::from("/"),
            gecos: String::new(),
        },
    }
}

/// True when running with root's effective uid.
pub fn is_root() -> bool {
    unistd::geteuid().is_root()
}

/// Drops from root to `user`, optionally inside `chroot_dir`. Must be called
/// as root; afterwards neither uid nor gid can go back.
pub fn drop_privileges(user: &Account, chroot_dir: Option<&Path>) -> io::Result<()> {
    drop_to(user, chroot_dir, true)
}

/// As [`drop_privileges`], for an account that is not in the system's
/// passwd database (a passwd-file or SQL user): the only group is the
/// account's gid, never the supplementary groups of a system user who
/// happens to have the same name.
pub fn drop_privileges_virtual(user: &Account) -> io::Result<()> {
    drop_to(user, None, false)
}

fn drop_to(user: &Account, chroot_dir: Option<&Path>, system: bool) -> io::Result<()> {
    let gid = Gid::from_raw(user.gid);
    let uid = Uid::from_raw(user.uid);
    unistd::setgid(gid).map_err(to_io)?;
    if system {
        let cname = CString::new(user.name.clone())
            .map_err(|_| io::Error::other("user name contains NUL"))?;
        unistd::initgroups(&cname, gid).map_err(to_io)?;
    } else {
        unistd::setgroups(&[gid]).map_err(to_io)?;
    }
    if let Some(dir) = chroot_dir {
        unistd::chroot(dir).map_err(to_io)?;
        unistd::chdir("/").map_err(to_io)?;
    }
    unistd::setuid(uid).map_err(to_io)?;
    if user.uid != 0 && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(io::Error::other(
            "privileges could be regained after setuid",
        ));
    }
    Ok(())
}
