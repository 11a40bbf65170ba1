//! Acting as the recipient: effective uid, gid and groups switched for one
//! delivery and switched back, when local runs as root (Postfix's
//! set_eugid). As an ordinary user nothing changes and local can deliver
//! only where that user may write.

use nix::unistd::{setegid, seteuid, setgroups, Gid, Uid};

/// Who a delivery runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Drops the supplementary groups local inherited, so none of root's
/// groups leak into a delivery. Call once at start, as root.
pub fn clear_groups() -> std::io::Result<()> {
    if util::privs::is_root() {
        setgroups(&[Gid::from_raw(0)]).map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    }
    Ok(())
}

/// The effective ids, switched back to root when dropped.
pub struct AsUser {
    switched: bool,
}

fn to_io(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

impl AsUser {
    /// Becomes `ids` (effective ids and the group list) when running as root.
    pub fn become_user(ids: Ids) -> std::io::Result<AsUser> {
        if !util::privs::is_root() || ids.uid == 0 {
            return Ok(AsUser { switched: false });
        }
        // Groups first (needs root), then gid, then uid.
        setgroups(&[Gid::from_raw(ids.gid)]).map_err(to_io)?;
        if let Err(e) = setegid(Gid::from_raw(ids.gid)) {
            let _ = setgroups(&[Gid::from_raw(0)]);
            return Err(to_io(e));
        }
        if let Err(e) = seteuid(Uid::from_raw(ids.uid)) {
            let _ = setegid(Gid::from_raw(0));
            let _ = setgroups(&[Gid::from_raw(0)]);
            return Err(to_io(e));
        }
        Ok(AsUser { switched: true })
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        if self.switched {
            // Back to root: euid first, then egid and groups. A process that
            // cannot get root back must not go on as someone else.
            if seteuid(Uid::from_raw(0)).is_err() {
                maillog::log(
                    maillog::Level::Panic,
                    format_args!("cannot restore root privileges"),
                );
                std::process::abort();
            }
            let _ = setegid(Gid::from_raw(0));
            let _ = setgroups(&[Gid::from_raw(0)]);
        }
    }
}
