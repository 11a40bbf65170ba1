//! NAME
//!   postsuper - mailsuite superintendent: queue maintenance
//!
//! SYNOPSIS
//!   postsuper [-psSv] [-c config_dir] [-d queue_id] [-h queue_id]
//!             [-H queue_id] [-r queue_id] [queue...]
//!
//! DESCRIPTION
//!   postsuper does maintenance on the queue, as Postfix's postsuper(1),
//!   with the same flags, messages and order of operations. Each
//!   queue_id may be ALL (every message in the queues named, or in all
//!   of them) or "-" (queue IDs on standard input, one a line). The
//!   operations run in the order given, after any structure check; then
//!   a summary is printed for each kind of operation asked for, in
//!   Postfix's order: "Requeued: N messages", "Deleted: N messages",
//!   "Placed on hold: N messages", "Released from hold: N messages"
//!   ("1 message" for one). Each message acted on is logged as "ID:
//!   removed", "ID: placed on hold", "ID: released from hold" or "ID:
//!   requeued"; a name that cannot be a queue ID as "warning: invalid mail
//!   queue id: NAME". After any change qmgr is asked to scan its queues.
//!
//!   -c config_dir
//!          Read main.cf in config_dir instead of $MAIL_CONFIG or
//!          /etc/mailsuite.
//!   -d queue_id
//!          Delete the message, with its defer, bounce and trace logs.
//!          "-d ALL" empties the queues named (default: all, logs
//!          included).
//!   -h queue_id
//!          Put the message on hold (move it to hold/): no delivery is
//!          tried until it is released. Mail in maildrop/ is not held.
//!   -H queue_id
//!          Release the message from hold: back to deferred/, due now.
//!   -e queue_id
//!          Force the message to expire (default queues: hold, incoming,
//!          active, deferred): the queue file gets its group execute bit
//!          (postqueue -p shows `#`), and qmgr returns it to the sender the
//!          next time it takes it, with no delivery tried. Logs "ID:
//!          expired" and "Force-expired: N messages". A held message stays
//!          held until released.
//!   -f queue_id
//!          The same, and a held message is released from hold too.
//!   -r queue_id
//!          Requeue the message: move it to maildrop/, so that pickup
//!          and cleanup process it again (address rewriting, checks).
//!          Its logs stay, as in Postfix.
//!   -s     Check and repair the queue structure: files in the wrong
//!          (hashed) subdirectory are moved where hash_queue_names and
//!          hash_queue_depth want them, subdirectories no longer wanted are
//!          removed, names that are not queue IDs are reported ("warning:
//!          bogus file name: PATH"), and (unlike Postfix) defer, bounce and
//!          trace logs whose message is gone are removed ("ID: removed
//!          orphaned defer log"). This is the default when no operation
//!          is given.
//!   -S     The same as -s (Postfix's redundant long queue ID check; a
//!          mailsuite queue ID always names its inode).
//!   -p     Accepted: mailsuite leaves no temporary files behind.
//!   -v     Accepted.
//!
//!   queue  Limit the operations to these queues (maildrop, incoming,
//!          active, deferred, hold, and for -s and -d ALL also defer,
//!          bounce, trace, flush).
//!
//!   Postfix's -e and -f (forced expiry) are not supported yet.
//!
//! DIAGNOSTICS
//!   Exit status 0 on success, 64 usage, 77 not allowed, 78 a bad main.cf,
//!   1 when an operation fails (e.g. a rename).
//!
//! SECURITY
//!   Only root and mail_owner may run postsuper. Started as root, it
//!   drops to mail_owner before it touches the queue, as Postfix does,
//!   so a compromised queue cannot lead it outside. Queue IDs from the
//!   command line or standard input are checked to be plain names
//!   (letters, digits, "_") before they become file names.
//!
//! CONFIGURATION PARAMETERS
//!   queue_directory
//!          The queue.
//!   hash_queue_names, hash_queue_depth
//!          Which queues are hashed into subdirectories, how deep.
//!   mail_owner
//!          Who postsuper runs as.
//!   queue_service_name (qmgr)
//!          The queue manager, told when something changed.
//!
//! FILES
//!   queue_directory/{maildrop,incoming,active,deferred,hold}/
//!   queue_directory/{defer,bounce,trace}/   per-message logs

use params::{table as p, Config};
use queue::logs::Log;
use queue::HashSpec;
use std::io::BufRead;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use util::sysexits::{self, Fatal};

const USAGE: &str = "usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and/or un-hold)] [-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] [-S (redundant structure fix)][-v (verbose)] [queue...]";

/// The message queues.
const MESSAGE_QUEUES: [&str; 5] = ["maildrop", "incoming", "active", "deferred", "hold"];
/// The per-message log queues.
const LOG_QUEUES: [&str; 3] = ["bounce", "defer", "trace"];
/// Postfix's default queue list: logs before messages, so -s puts logs in
/// place first.
const DEFAULT_QUEUES: [&str; 9] = [
    "defer", "bounce", "trace", "maildrop", "incoming", "active", "deferred", "hold", "flush",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Delete,
    Hold,
    Release,
    Requeue,
    /// `-e`: returned to the sender when qmgr next takes it.
    Expire,
    /// `-f`: the same, and released from hold.
    ExpireRelease,
}

/// Postfix's MAIL_QUEUE_STAT_EXPIRE: the group execute bit marks a queue
/// file forced to expire.
const FORCE_EXPIRE: u32 = 0o010;

/// The queues `-e` and `-f` look in.
const EXPIRE_QUEUES: [&str; 4] = ["hold", "incoming", "active", "deferred"];

#[derive(Debug, Default)]
struct Opts {
    config: Option<String>,
    ops: Vec<(Op, String)>,
    structure: bool,
    queues: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Opts, Fatal> {
    let usage = || Fatal::new(sysexits::EX_USAGE, USAGE);
    let (opts, operands) = util::getopt::getopt(args, "c:d:e:f:h:H:pr:sSv")
        .map_err(|e| Fatal::new(sysexits::EX_USAGE, format!("{e}\n{USAGE}")))?;
    let mut o = Opts::default();
    for opt in opts {
        let arg = opt.arg.unwrap_or_default();
        match opt.flag {
            'c' => {
                if !arg.starts_with('/') {
                    return Err(Fatal::new(
                        sysexits::EX_USAGE,
                        "-c requires absolute pathname",
                    ));
                }
                o.config = Some(arg);
            }
            'd' => o.ops.push((Op::Delete, arg)),
            'h' => o.ops.push((Op::Hold, arg)),
            'H' => o.ops.push((Op::Release, arg)),
            'r' => o.ops.push((Op::Requeue, arg)),
            's' | 'S' => o.structure = true,
            'e' => o.ops.push((Op::Expire, arg)),
            'f' => o.ops.push((Op::ExpireRelease, arg)),
            'p' | 'v' => {}
            _ => return Err(usage()),
        }
    }
    for q in &operands {
        if !DEFAULT_QUEUES.contains(&q.as_str()) {
            return Err(Fatal::new(
                sysexits::EX_USAGE,
                format!("invalid directory name: {q}"),
            ));
        }
    }
    o.queues = operands;
    if o.ops.is_empty() {
        o.structure = true;
    }
    Ok(o)
}

fn errtext(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// The queue and what postsuper did to it.
struct Super {
    queue_dir: PathBuf,
    spec: HashSpec,
    queues: Vec<String>,
    deleted: u32,
    held: u32,
    released: u32,
    requeued: u32,
    expired: u32,
    moved: u32,
    failed: bool,
}

/// A file is a complete queue file when its owner has rwx (maildrop
/// files are complete once named).
fn is_ready(queue: &str, meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file()
        && (queue == "maildrop" || meta.permissions().mode() & 0o700 == 0o700)
}

impl Super {
    /// Where message `id` is in `queue`, if it is there and complete.
    fn find(&self, queue: &str, id: &str) -> Option<PathBuf> {
        let path = self.spec.path(&self.queue_dir, queue, id).ok()?;
        let meta = std::fs::symlink_metadata(&path).ok()?;
        is_ready(queue, &meta).then_some(path)
    }

    fn target(&self, queue: &str, id: &str) -> Result<PathBuf, Fatal> {
        self.spec
            .path(&self.queue_dir, queue, id)
            .map_err(|e| Fatal::new(1, e.to_string()))
    }

    /// Renames `from` to `to`; false when `from` went away meanwhile.
    fn rename(&mut self, from: &Path, to: &Path) -> bool {
        match queue::path::rename_creating_dirs(from, to) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                maillog::warning!(
                    "rename file {} as {}: {}",
                    from.display(),
                    to.display(),
                    errtext(&e)
                );
                self.failed = true;
                false
            }
        }
    }

    fn one(&mut self, op: Op, id: &str) -> Result<(), Fatal> {
        if !queue::is_valid_queue_id(id) {
            maillog::warning!("invalid mail queue id: {id}");
            return Ok(());
        }
        let queues: Vec<String> = self
            .queues
            .iter()
            .filter(|q| MESSAGE_QUEUES.contains(&q.as_str()))
            .cloned()
            .collect();
        // Two tries, as Postfix: the message may move between queues while we look.
        for _ in 0..2 {
            for q in &queues {
                let applies = match op {
                    Op::Delete => true,
                    Op::Hold => q != "maildrop" && q != "hold",
                    Op::Release => q == "hold",
                    Op::Requeue => q != "maildrop",
                    Op::Expire | Op::ExpireRelease => EXPIRE_QUEUES.contains(&q.as_str()),
                };
                if !applies {
                    continue;
                }
                let Some(path) = self.find(q, id) else {
                    continue;
                };
                if matches!(op, Op::Expire | Op::ExpireRelease) {
                    self.expire(op, q, &path, id)?;
                    return Ok(());
                }
                let done = match op {
                    Op::Expire | Op::ExpireRelease => false,
                    Op::Delete => {
                        for log in [Log::Bounce, Log::Defer, Log::Trace] {
                            if let Err(e) =
                                queue::logs::remove(&self.queue_dir, &self.spec, log, id)
                            {
                                maillog::warning!("{e}");
                            }
                        }
                        match std::fs::remove_file(&path) {
                            Ok(()) => true,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                            Err(e) => {
                                return Err(Fatal::new(
                                    1,
                                    format!("remove file {}: {}", path.display(), errtext(&e)),
                                ))
                            }
                        }
                    }
                    Op::Hold => {
                        let to = self.target("hold", id)?;
                        self.rename(&path, &to)
                    }
                    Op::Release => {
                        let to = self.target("deferred", id)?;
                        self.rename(&path, &to) && {
                            touch(&to);
                            true
                        }
                    }
                    Op::Requeue => {
                        let to = self.target("maildrop", id)?;
                        self.rename(&path, &to) && {
                            touch(&to);
                            true
                        }
                    }
                };
                if done {
                    let (what, n) = match op {
                        Op::Delete => ("removed", &mut self.deleted),
                        Op::Hold => ("placed on hold", &mut self.held),
                        Op::Release => ("released from hold", &mut self.released),
                        Op::Requeue => ("requeued", &mut self.requeued),
                        Op::Expire | Op::ExpireRelease => ("expired", &mut self.expired),
                    };
                    *n += 1;
                    maillog::info!("{id}: {what}");
                    return Ok(());
                }
            }
            if op == Op::Release {
                break;
            }
        }
        Ok(())
    }

    /// `-e` and `-f` on message `id` at `path` in `queue`: marked to be
    /// returned (once: a message marked already is not counted again);
    /// with `-f`, a held message is released too.
    fn expire(&mut self, op: Op, queue: &str, path: &Path, id: &str) -> Result<(), Fatal> {
        let mode = match std::fs::symlink_metadata(path) {
            Ok(m) => m.permissions().mode(),
            Err(_) => return Ok(()),
        };
        if mode & FORCE_EXPIRE == 0 {
            let marked = std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode((mode | FORCE_EXPIRE) & 0o7777),
            );
            match marked {
                Ok(()) => {
                    self.expired += 1;
                    maillog::info!("{id}: expired");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => {
                    return Err(Fatal::new(
                        1,
                        format!("chmod {}: {}", path.display(), errtext(&e)),
                    ))
                }
            }
        }
        if op == Op::ExpireRelease && queue == "hold" {
            let to = self.target("deferred", id)?;
            if self.rename(path, &to) {
                touch(&to);
                self.released += 1;
                maillog::info!("{id}: released from hold");
            }
        }
        Ok(())
    }

    /// Every file of `queue` (descending into one-character hash
    /// directories): (path, name).
    fn files(&self, queue: &str) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut stack = vec![self.queue_dir.join(queue)];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    if name.len() == 1 && queue != "maildrop" {
                        stack.push(e.path());
                    } else if std::fs::remove_dir(e.path()).is_err() {
                        maillog::warning!("remove subdirectory {}: not empty", e.path().display());
                    }
                    continue;
                }
                out.push((e.path(), name));
            }
        }
        out
    }

    fn all(&mut self, op: Op) -> Result<(), Fatal> {
        let queues = self.queues.clone();
        for q in &queues {
            let is_msg = MESSAGE_QUEUES.contains(&q.as_str());
            let applies = match op {
                Op::Delete => true,
                Op::Hold => is_msg && q != "maildrop" && q != "hold",
                Op::Release => q == "hold",
                Op::Requeue => is_msg && q != "maildrop",
                Op::Expire | Op::ExpireRelease => EXPIRE_QUEUES.contains(&q.as_str()),
            };
            if !applies {
                continue;
            }
            for (path, name) in self.files(q) {
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                match op {
                    Op::Delete => match std::fs::remove_file(&path) {
                        Ok(()) => {
                            if is_msg && is_ready(q, &meta) {
                                self.deleted += 1;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(Fatal::new(
                                1,
                                format!("remove file {}: {}", path.display(), errtext(&e)),
                            ))
                        }
                    },
                    Op::Expire | Op::ExpireRelease => {
                        if queue::is_valid_queue_id(&name) && is_ready(q, &meta) {
                            self.expire(op, q, &path, &name)?;
                        }
                    }
                    _ => {
                        if !queue::is_valid_queue_id(&name) || !is_ready(q, &meta) {
                            continue;
                        }
                        let (to_queue, counter) = match op {
                            Op::Hold => ("hold", 0),
                            Op::Release => ("deferred", 1),
                            _ => ("maildrop", 2),
                        };
                        let to = self.target(to_queue, &name)?;
                        if self.rename(&path, &to) {
                            match counter {
                                0 => self.held += 1,
                                1 => {
                                    touch(&to);
                                    self.released += 1
                                }
                                _ => {
                                    touch(&to);
                                    self.requeued += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Is there a message `id` in any message queue?
    fn message_exists(&self, id: &str) -> bool {
        MESSAGE_QUEUES.iter().any(|q| {
            self.spec
                .path(&self.queue_dir, q, id)
                .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok())
        })
    }

    /// `-s`: names, positions, orphaned logs.
    fn structure(&mut self) {
        let queues = self.queues.clone();
        for q in &queues {
            let is_log = LOG_QUEUES.contains(&q.as_str());
            for (path, name) in self.files(q) {
                let rel = path
                    .strip_prefix(&self.queue_dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                if !queue::is_valid_queue_id(&name) {
                    maillog::warning!("bogus file name: {rel}");
                    continue;
                }
                let Ok(wanted) = self.target(q, &name) else {
                    continue;
                };
                if wanted != path && self.rename(&path, &wanted) {
                    self.moved += 1;
                }
                // A log whose message is gone (looked for twice, and only
                // when the log has not been written in the last minute).
                if is_log && !self.message_exists(&name) {
                    let old = std::fs::symlink_metadata(&wanted)
                        .is_ok_and(|m| util::time::now().saturating_sub(m.mtime()) >= 60);
                    if old && !self.message_exists(&name) && std::fs::remove_file(&wanted).is_ok() {
                        maillog::info!("{name}: removed orphaned {q} log");
                    }
                }
            }
            // Subdirectories no longer wanted (hashing turned off or less deep).
            if !self.spec.hashes(q) {
                if let Ok(rd) = std::fs::read_dir(self.queue_dir.join(q)) {
                    for e in rd.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            let _ = std::fs::remove_dir(e.path());
                        }
                    }
                }
            }
        }
    }
}

/// Sets the file's time stamps to now (a deferred file's mtime is when it is due).
fn touch(path: &Path) {
    let r = std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    if let Err(e) = r {
        maillog::warning!("{}: reset time stamps: {}", path.display(), errtext(&e));
    }
}

/// Root drops to mail_owner; others must be mail_owner or own the queue.
fn become_owner(cfg: &Config, queue_dir: &Path) -> Result<(), Fatal> {
    let name = cfg.str(&p::MAIL_OWNER);
    let owner = util::privs::lookup_user(name).ok().flatten();
    if util::privs::is_root() {
        let owner = owner.ok_or_else(|| {
            Fatal::new(
                sysexits::EX_CONFIG,
                format!("parameter mail_owner: unknown user name: {name}"),
            )
        })?;
        if owner.uid == 0 {
            return Err(Fatal::new(
                sysexits::EX_CONFIG,
                format!("parameter mail_owner: user {name} has root privileges"),
            ));
        }
        return util::privs::drop_privileges(&owner, None).map_err(|e| {
            Fatal::new(
                sysexits::EX_OSERR,
                format!("cannot drop privileges to {name}: {e}"),
            )
        });
    }
    let me = nix::unistd::geteuid().as_raw();
    let queue_owner = std::fs::metadata(queue_dir).map(|m| m.uid()).ok();
    if owner.is_some_and(|o| o.uid == me) || queue_owner == Some(me) {
        Ok(())
    } else {
        Err(Fatal::new(
            sysexits::EX_NOPERM,
            "use of this command is reserved for the superuser",
        ))
    }
}

fn run(args: &[String]) -> Result<i32, Fatal> {
    let o = parse_args(args)?;
    let dir = params::config_dir(o.config.as_deref());
    let cfg =
        Config::load(&dir, &[]).map_err(|e| Fatal::new(sysexits::EX_CONFIG, e.to_string()))?;
    params::logging::init(&cfg, "postsuper", true, None);
    let queue_dir = cfg.path(&p::QUEUE_DIRECTORY);
    std::env::set_current_dir(&queue_dir).map_err(|e| {
        Fatal::new(
            sysexits::EX_UNAVAILABLE,
            format!("chdir {}: {}", queue_dir.display(), errtext(&e)),
        )
    })?;
    become_owner(&cfg, &queue_dir)?;
    let mut s = Super {
        queue_dir,
        spec: HashSpec::from_config(&cfg),
        queues: if o.queues.is_empty() {
            DEFAULT_QUEUES.iter().map(|q| q.to_string()).collect()
        } else {
            o.queues.clone()
        },
        deleted: 0,
        held: 0,
        released: 0,
        requeued: 0,
        expired: 0,
        moved: 0,
        failed: false,
    };
    if o.structure {
        s.structure();
    }
    for (op, arg) in &o.ops {
        match arg.as_str() {
            "ALL" => s.all(*op)?,
            "-" => {
                let stdin = std::io::stdin();
                for line in stdin.lock().split(b'\n') {
                    let line = line.map_err(|e| {
                        Fatal::new(
                            sysexits::EX_IOERR,
                            format!("read standard input: {}", errtext(&e)),
                        )
                    })?;
                    let id = String::from_utf8_lossy(&line);
                    s.one(*op, id.trim_end_matches('\r'))?;
                }
            }
            id => s.one(*op, id)?,
        }
    }
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let asked = |op: Op| o.ops.iter().any(|(x, _)| *x == op);
    if asked(Op::Requeue) {
        maillog::info!("Requeued: {} message{}", s.requeued, plural(s.requeued));
    }
    if asked(Op::Delete) {
        maillog::info!("Deleted: {} message{}", s.deleted, plural(s.deleted));
    }
    if asked(Op::Expire) || asked(Op::ExpireRelease) {
        maillog::info!("Force-expired: {} message{}", s.expired, plural(s.expired));
    }
    if asked(Op::Hold) {
        maillog::info!("Placed on hold: {} message{}", s.held, plural(s.held));
    }
    if asked(Op::Release) || asked(Op::ExpireRelease) {
        maillog::info!(
            "Released from hold: {} message{}",
            s.released,
            plural(s.released)
        );
    }
    if s.deleted + s.held + s.released + s.requeued + s.expired + s.moved > 0 {
        // Tell qmgr (and pickup, for requeued mail); quietly, as they
        // scan on their own timers anyway.
        let public = s.queue_dir.join("public");
        let _ = ipc::trigger::send(
            &public.join(cfg.str(&p::QUEUE_SERVICE_NAME)),
            &[ipc::trigger::SCAN_ALL],
        );
        if s.requeued > 0 {
            let _ = ipc::trigger::send(&public.join("pickup"), &[ipc::trigger::WAKEUP]);
        }
    }
    Ok(if s.failed { 1 } else { 0 })
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    match run(&args) {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            maillog::log(maillog::Level::Fatal, format_args!("{}", f.message));
            std::process::exit(f.code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_keep_their_order() {
        let o = parse_args(&args(&["-d", "A", "-h", "ALL", "deferred"])).unwrap();
        assert_eq!(
            o.ops,
            vec![(Op::Delete, "A".into()), (Op::Hold, "ALL".into())]
        );
        assert_eq!(o.queues, vec!["deferred".to_string()]);
        assert!(!o.structure);
        assert!(parse_args(&args(&[])).unwrap().structure);
        assert!(parse_args(&args(&["-d", "A", "nosuchqueue"])).is_err());
        assert_eq!(
            parse_args(&args(&["-e", "A", "-f", "B"])).unwrap().ops,
            vec![(Op::Expire, "A".into()), (Op::ExpireRelease, "B".into())]
        );
        assert!(parse_args(&args(&["-c", "rel"])).is_err());
    }
}
