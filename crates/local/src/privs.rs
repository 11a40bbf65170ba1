//! Acting as the recipient: effective uid/gid switched for one delivery and
//! switched back, when local runs as root. As an ordinary user nothing
//! changes and local can deliver only where that user may write.

use nix::unistd::{setegid, seteuid, Gid, Uid};

/// Who a delivery runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// The effective ids, switched back to root when dropped.
pub struct AsUser {
    switched: bool,
}

impl AsUser {
    /// Becomes `ids` (effective only) when running as root.
    pub fn become_user(ids: Ids) -> std::io::Result<AsUser> {
        if !util::privs::is_root() || ids.uid == 0 {
            return Ok(AsUser { switched: false });
        }
        let to_io = |e: nix::Error| std::io::Error::from_raw_os_error(e as i32);
        setegid(Gid::from_raw(ids.gid)).map_err(to_io)?;
        if let Err(e) = seteuid(Uid::from_raw(ids.uid)) {
            let _ = setegid(Gid::from_raw(0));
            return Err(to_io(e));
        }
        Ok(AsUser { switched: true })
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        if self.switched {
            // Back to root: euid first, then egid.
            let _ = seteuid(Uid::from_raw(0));
            let _ = setegid(Gid::from_raw(0));
        }
    }
}
