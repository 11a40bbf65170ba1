//! `unix:passwd.byname` and `unix:group.byname`: the system's user and group
//! databases through getpwnam(3)/getgrnam(3) (so NSS sources count), the
//! result being the passwd(5) or group(5) line, as Postfix returns it.
//! Keys are folded like a hash table's.

use crate::error::MapError;
use crate::{Ctx, Map, MapKind};
use nix::unistd::{Group, User};

#[derive(Debug, Clone, Copy)]
enum Db {
    Passwd,
    Group,
}

pub struct UnixMap {
    spec: String,
    db: Db,
    fold: bool,
}

impl UnixMap {
    pub fn open(spec: String, name: &str, ctx: &Ctx) -> Result<UnixMap, MapError> {
        let db = match name {
            "passwd.byname" => Db::Passwd,
            "group.byname" => Db::Group,
            _ => {
                return Err(MapError::BadSpec {
                    reason: format!("unknown table: {spec}"),
                    spec,
                })
            }
        };
        Ok(UnixMap {
            spec,
            db,
            fold: ctx.fold_case,
        })
    }
}

impl Map for UnixMap {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let key = if self.fold {
            key.to_lowercase()
        } else {
            key.to_string()
        };
        if key.is_empty() || key.contains('\0') {
            return Ok(None);
        }
        let fail = |e: nix::Error| MapError::Lookup {
            spec: self.spec.clone(),
            reason: e.desc().to_string(),
        };
        Ok(match self.db {
            Db::Passwd => User::from_name(&key).map_err(fail)?.map(|u| {
                format!(
                    "{}:{}:{}:{}:{}:{}:{}",
                    u.name,
                    u.passwd.to_string_lossy(),
                    u.uid,
                    u.gid,
                    u.gecos.to_string_lossy(),
                    u.dir.display(),
                    u.shell.display()
                )
            }),
            Db::Group => Group::from_name(&key).map_err(fail)?.map(|g| {
                format!(
                    "{}:{}:{}:{}",
                    g.name,
                    g.passwd.to_string_lossy(),
                    g.gid,
                    g.mem.join(",")
                )
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{open, Ctx};

    #[test]
    fn root_is_found() {
        let m = open("unix:passwd.byname", &Ctx::new()).unwrap();
        let line = m.lookup("ROOT").unwrap().unwrap();
        assert!(
            line.starts_with("root:") && line.contains(":0:0:"),
            "{line}"
        );
        assert_eq!(m.lookup("no-such-user-here").unwrap(), None);
        let g = open("unix:group.byname", &Ctx::new()).unwrap();
        assert!(g.lookup("root").unwrap().unwrap().starts_with("root:"));
        assert!(open("unix:shadow.byname", &Ctx::new()).is_err());
    }
}
