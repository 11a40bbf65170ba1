//! Who may use a command of the mail system, as Postfix's
//! check_user_acl_byuid() decides for `authorized_submit_users`,
//! `authorized_flush_users` and `authorized_mailq_users`: the login name
//! of the uid (`unknown` when it has none) matched against a list of
//! names (without regard to case), `!name` exclusions, `/file/name` (a
//! `!/file/name` excludes each name in it; a file that cannot be read
//! refuses) and `type:table` items, first match wins; a list that starts
//! with `static:` lets everyone in (the default `static:anyone`, and
//! `static:root` too, as in Postfix).

use crate::{Ctx, MapList};
use params::{Config, Param};

/// Ok when the user with `uid` may; else the name it was refused under.
/// A table that cannot be asked refuses, with a warning.
pub fn check(cfg: &Config, param: &Param, uid: u32) -> Result<(), String> {
    let items = cfg.list(param);
    if items.first().is_some_and(|i| i.starts_with("static:")) {
        return Ok(());
    }
    let name =
        util::privs::lookup_user_by_uid(uid).map_or_else(|| "unknown".to_string(), |a| a.name);
    // Postfix folds the patterns and the name to lower case.
    let key = name.to_ascii_lowercase();
    let (items, warnings) = crate::domains::list_items(&items, param.name);
    for w in warnings {
        maillog::warning!("{w}");
    }
    for (negate, item) in items {
        let hit = if item.contains(':') {
            let table = MapList::open_lenient(param.name, &item, &Ctx::new());
            match table.lookup(&key) {
                Ok(found) => found.is_some(),
                Err(e) => {
                    maillog::warning!("{}: {item}: {e}", param.name);
                    return Err(name);
                }
            }
        } else {
            item.eq_ignore_ascii_case(&name)
        };
        if hit {
            return if negate { Err(name) } else { Ok(()) };
        }
    }
    Err(name)
}

#[cfg(test)]
mod tests {
    use super::check;
    use params::{table as p, Config};

    fn config(value: &str) -> Config {
        Config::from_text(&format!("authorized_mailq_users = {value}\n")).expect("main.cf")
    }

    fn root_name() -> String {
        util::privs::lookup_user_by_uid(0).map_or_else(|| "unknown".to_string(), |a| a.name)
    }

    #[test]
    fn names_exclusions_files_and_tables() {
        let me = root_name();
        let acl = |v: &str| check(&config(v), &p::AUTHORIZED_MAILQ_USERS, 0);
        assert_eq!(acl("static:anyone"), Ok(()));
        assert_eq!(acl("static:root"), Ok(()), "static: lets everyone in");
        assert_eq!(acl(&me), Ok(()));
        assert_eq!(acl(&format!("!{me}, {me}")), Err(me.clone()));
        assert_eq!(acl("someone, else"), Err(me.clone()));
        assert_eq!(acl(""), Err(me.clone()), "an empty list refuses everyone");
        let dir = std::env::temp_dir().join(format!("user_acl_{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("users");
        std::fs::write(&file, format!("# who may\nnobody {me}\n")).expect("file");
        assert_eq!(acl(&file.display().to_string()), Ok(()));
        // A negated file excludes each of its names; an unreadable one
        // refuses, even before a name that would let the user in.
        assert_eq!(
            acl(&format!("!{}, static:anyone, {me}", file.display())),
            Err(me.clone())
        );
        assert_eq!(acl(&format!("!!{me}")), Ok(()));
        assert_eq!(acl(&format!("/nonexistent/users, {me}")), Err(me.clone()));
        assert_eq!(acl(&format!("!/nonexistent/users, {me}")), Err(me.clone()));
        assert_eq!(acl(&me.to_ascii_uppercase()), Ok(()), "names fold case");
        assert_eq!(acl(&format!("inline:{{ {me}=yes }}")), Ok(()));
        assert_eq!(acl("inline:{ x=yes }"), Err(me.clone()));
        // A uid without a passwd entry is "unknown".
        let nobody = check(&config("unknown"), &p::AUTHORIZED_MAILQ_USERS, 0x7fff_fff0);
        assert_eq!(nobody, Ok(()));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
