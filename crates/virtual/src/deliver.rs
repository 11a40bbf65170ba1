//! One delivery request: each recipient looked up in the virtual tables
//! and written to its Maildir or mbox as its owner.

use ipc::delivery::{self, Request, Response};
use mailbox::agent::{self, failed, from_delivery_error, now, sent, Verdict};
use mailbox::as_user::{AsUser, Ids};
use mailbox::{
    source, LockMethods, LockPolicy, MaildirOptions, MboxOptions, Prepended, QueueSource,
};
use maps::access::{self, AddrKey};
use maps::MapList;
use params::{table as p, Config};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

/// Settings read once per process.
pub struct Settings {
    queue_dir: PathBuf,
    myhostname: String,
    mailbox_maps: MapList,
    uid_maps: MapList,
    gid_maps: MapList,
    base: PathBuf,
    minimum_uid: u32,
    size_limit: u64,
    locks: LockMethods,
    lock_policy: LockPolicy,
    delimiter: String,
    /// `virtual_delivery_status_filter`.
    status_filter: Option<maps::status_filter::StatusFilter>,
}

impl Settings {
    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Result<Settings, String> {
        let ctx = maps::Ctx::new();
        let open =
            |name: &str, param: &params::Param| MapList::open_lenient(name, cfg.str(param), &ctx);
        let locks = LockMethods::parse(&cfg.list(&p::VIRTUAL_MAILBOX_LOCK).join(", "))
            .map_err(|e| format!("parameter virtual_mailbox_lock: {e}"))?;
        Ok(Settings {
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            mailbox_maps: open("virtual_mailbox_maps", &p::VIRTUAL_MAILBOX_MAPS),
            uid_maps: open("virtual_uid_maps", &p::VIRTUAL_UID_MAPS),
            gid_maps: open("virtual_gid_maps", &p::VIRTUAL_GID_MAPS),
            base: PathBuf::from(cfg.str(&p::VIRTUAL_MAILBOX_BASE)),
            minimum_uid: u32::try_from(cfg.int(&p::VIRTUAL_MINIMUM_UID)).unwrap_or(100),
            size_limit: cfg.size(&p::VIRTUAL_MAILBOX_LIMIT),
            locks,
            lock_policy: LockPolicy {
                attempts: cfg.int(&p::DELIVER_LOCK_ATTEMPTS).max(1) as u32,
                delay: cfg.time(&p::DELIVER_LOCK_DELAY),
                stale_after: cfg.time(&p::STALE_LOCK_TIME),
            },
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            status_filter: maps::status_filter::StatusFilter::open(
                p::VIRTUAL_DELIVERY_STATUS_FILTER.name,
                cfg.str(&p::VIRTUAL_DELIVERY_STATUS_FILTER),
                &ctx,
            ),
            queue_dir,
        })
    }
}

/// Handles one request from qmgr.
pub fn handle(s: &Settings, req: &Request) -> Response {
    let qf_path = s.queue_dir.join(&req.queue_name).join(&req.queue_id);
    let setup_done = now();
    let qf = match queue::Held::open(&qf_path) {
        Ok(q) => q,
        Err(e) => return agent::unreadable(req, "virtual", setup_done, &e),
    };
    let delivered_to = agent::delivered_to_values(&qf);
    let results = req
        .recipients
        .iter()
        .map(|rcpt| {
            let mut v = recipient(s, req, rcpt, &qf, &delivered_to);
            if let Some(f) = &s.status_filter {
                v = agent::filtered(v, |d, t| f.replace(d, t));
            }
            agent::finish(req, rcpt, &qf, "virtual", setup_done, v)
        })
        .collect();
    Response::new(results)
}

/// Postfix virtual(8)'s keys for a recipient: the address, without its
/// extension, then `@domain` (the catch-all); only the whole address
/// reaches regexp and pcre tables.
fn keys(address: &str, delimiter: &str) -> Vec<AddrKey> {
    access::address_keys(address, delimiter)
}

/// The first answer any key gets; Err is a table failure.
fn find(maps: &MapList, keys: &[AddrKey]) -> Result<Option<String>, String> {
    match access::mail_addr_find(maps, keys) {
        Ok(found) => Ok(found.map(|(v, _)| v)),
        Err(e) => Err(e.to_string()),
    }
}

fn id(maps: &MapList, keys: &[AddrKey], what: &str) -> Result<Option<u32>, Verdict> {
    match find(maps, keys) {
        Err(e) => Err(failed("4.3.0", format!("{what} lookup failure: {e}"))),
        Ok(None) => Ok(None),
        Ok(Some(v)) => match v.trim().parse::<u32>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(failed(
                "4.3.0",
                format!("bad {what} {v:?} in {}", maps.title()),
            )),
        },
    }
}

/// The mailbox path from the table under virtual_mailbox_base; `..`
/// components are refused.
fn mailbox_path(base: &Path, value: &str) -> Option<PathBuf> {
    let rel = Path::new(value.trim());
    if value.trim().is_empty() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    let mut p = base
        .join(rel.strip_prefix("/").unwrap_or(rel))
        .into_os_string();
    if value.trim().ends_with('/') {
        p.push("/");
    }
    Some(PathBuf::from(p))
}

fn recipient(
    s: &Settings,
    req: &Request,
    rcpt: &delivery::Rcpt,
    held: &queue::Held,
    delivered_to: &[String],
) -> Verdict {
    let address = rcpt.address.to_ascii_lowercase();
    if delivered_to.contains(&address) {
        return failed(
            "5.4.6",
            format!("mail forwarding loop for {}", rcpt.address),
        );
    }
    let keys = keys(&address, &s.delimiter);
    let value = match find(&s.mailbox_maps, &keys) {
        Err(e) => return failed("4.3.0", format!("virtual_mailbox_maps lookup failure: {e}")),
        Ok(None) => return failed("5.1.1", format!("unknown user: \"{address}\"")),
        Ok(Some(v)) => v,
    };
    let Some(path) = mailbox_path(&s.base, &value) else {
        return failed("4.3.0", format!("bad mailbox path {value:?} for {address}"));
    };
    if req.probe {
        // An address verification probe: the mailbox is known; nothing is written.
        return sent(if value.ends_with('/') {
            "delivers to maildir"
        } else {
            "delivers to mailbox"
        });
    }
    let ids = if util::privs::is_root() {
        let uid = match id(&s.uid_maps, &keys, "uid") {
            Err(v) => return v,
            Ok(None) => {
                return failed(
                    "4.3.0",
                    format!("recipient {address}: uid not found in virtual_uid_maps"),
                )
            }
            Ok(Some(u)) => u,
        };
        if uid < s.minimum_uid {
            return failed(
                "4.3.0",
                format!("recipient {address}: bad uid {uid} in virtual_uid_maps"),
            );
        }
        let gid = match id(&s.gid_maps, &keys, "gid") {
            Err(v) => return v,
            Ok(None) => {
                return failed(
                    "4.3.0",
                    format!("recipient {address}: gid not found in virtual_gid_maps"),
                )
            }
            Ok(Some(g)) => g,
        };
        if gid == 0 {
            return failed(
                "4.3.0",
                format!("recipient {address}: bad gid 0 in virtual_gid_maps"),
            );
        }
        Some(Ids { uid, gid })
    } else {
        None
    };
    let mut qf = match held.read() {
        Ok(q) => q,
        Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
    };
    let src = match QueueSource::new(&mut qf) {
        Ok(s) => s,
        Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
    };
    let mut headers = vec![source::return_path(&req.sender)];
    if let Some(o) = rcpt.original.as_deref().and_then(source::x_original_to) {
        headers.push(o);
    }
    headers.push(source::delivered_to(&rcpt.address));
    let mut msg = Prepended::new(headers, src);
    let _as = match ids.map(AsUser::become_user).transpose() {
        Ok(a) => a,
        Err(e) => return failed("4.3.0", format!("cannot switch user: {e}")),
    };
    if value.trim().ends_with('/') {
        // deliver() makes the Maildir (and its parents) when it is missing.
        let opts = MaildirOptions {
            size_limit: s.size_limit,
            hostname: Some(s.myhostname.clone()),
            ..MaildirOptions::default()
        };
        return match mailbox::maildir::deliver(&path, &mut msg, &opts) {
            Ok(_) => sent("delivered to maildir"),
            Err(e) => from_delivery_error(&e, e.maildir_text()),
        };
    }
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return failed("4.2.0", format!("create directory {}: {e}", dir.display()));
        }
    }
    let opts = MboxOptions {
        locks: s.locks,
        lock_policy: s.lock_policy,
        size_limit: s.size_limit,
        ..MboxOptions::default()
    };
    match mailbox::mbox::deliver(&path, &req.sender, SystemTime::now(), &mut msg, &opts) {
        Ok(_) => sent("delivered to mailbox"),
        Err(e) => from_delivery_error(&e, e.mbox_text(&path, &address)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_paths() {
        let plain = |k: Vec<AddrKey>| -> Vec<(String, bool)> {
            k.into_iter().map(|k| (k.key, k.partial)).collect()
        };
        assert_eq!(
            plain(keys("bob+x@example.com", "+")),
            [
                ("bob+x@example.com".into(), false),
                ("bob@example.com".into(), true),
                ("@example.com".into(), true)
            ]
        );
        assert_eq!(
            plain(keys("bob@example.com", "")),
            [
                ("bob@example.com".into(), false),
                ("@example.com".into(), true)
            ]
        );
        let base = Path::new("/var/vmail");
        assert_eq!(
            mailbox_path(base, "example.com/bob/"),
            Some(PathBuf::from("/var/vmail/example.com/bob/"))
        );
        assert_eq!(
            mailbox_path(base, "/example.com/bob"),
            Some(PathBuf::from("/var/vmail/example.com/bob"))
        );
        assert_eq!(mailbox_path(base, "example.com/../../etc/passwd"), None);
        assert_eq!(mailbox_path(base, "  "), None);
    }
}
