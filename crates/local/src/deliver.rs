//! One delivery request: for each recipient, aliases, then the user's
//! `.forward`, then the mailbox (or `mailbox_command`), as Postfix's
//! local(8) does; each outcome logged and returned to qmgr, and each
//! delivered recipient marked done in the queue file before qmgr hears it.

use ipc::delivery::{self, Outcome, Request, Response};
use mailbox::agent::{self, failed, from_delivery_error, now, sent, Verdict};
use mailbox::as_user::{AsUser, Ids};
use mailbox::{
    source, LockMethods, LockPolicy, MaildirOptions, MboxOptions, Prepended, QueueSource,
};
use maps::alias::{self, AliasTarget};
use maps::MapList;
use params::{table as p, Config};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use util::privs::Account;

/// The most alias/forward/include expansion levels, as Postfix's.
const MAX_DEPTH: usize = 100;

/// The most targets one recipient may expand to.
const MAX_TARGETS: usize = 1000;

/// Whether the user can reach their home directory (a stat as the user,
/// as Postfix's require_home_directory checks it).
fn home_reachable(account: &Account) -> std::io::Result<()> {
    let ids = Ids {
        uid: account.uid,
        gid: account.gid,
    };
    let _as = AsUser::become_user(ids)?;
    std::fs::metadata(&account.home).map(|_| ())
}

/// The largest .forward or :include: file read.
const MAX_LIST_FILE: u64 = 1 << 20;

/// Reads a .forward or :include: file safely: opened without blocking (a
/// FIFO cannot hang us), `O_NOFOLLOW` when `follow` is false, checked on
/// the open descriptor (a regular file, an acceptable owner, not writable
/// by others), and read up to `max` bytes. Ok(None): absent or not usable.
fn read_limited(
    path: &Path,
    max: u64,
    owner_ok: impl Fn(u32) -> bool,
    follow: bool,
) -> std::io::Result<Option<(Vec<u8>, Ids)>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::ELOOP) | Some(libc::ENOTDIR)
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let m = f.metadata()?;
    if !m.file_type().is_file() || !owner_ok(m.uid()) || m.mode() & 0o002 != 0 {
        return Ok(None);
    }
    if m.len() > max {
        return Err(std::io::Error::other(format!(
            "file larger than {max} bytes"
        )));
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(Some((
        buf,
        Ids {
            uid: m.uid(),
            gid: m.gid(),
        },
    )))
}

/// Settings read once per process.
pub struct Settings {
    queue_dir: PathBuf,
    /// `prepend_delivered_header`: the deliveries (`command`, `file`,
    /// `forward`) that get a Delivered-To: header besides the mailbox's.
    delivered_to_for: Vec<String>,
    myhostname: String,
    /// The domain of alias targets written without one (Postfix's
    /// rewriting appends `@$myorigin`).
    myorigin: String,
    /// `expand_owner_alias`: a list's sender is its owner alias's address,
    /// not `owner-list` itself.
    expand_owner_alias: bool,
    alias_maps: MapList,
    home_mailbox: String,
    spool: PathBuf,
    mailbox_command: String,
    /// Per-user `mailbox_command` values, by user name.
    mailbox_command_maps: MapList,
    /// `transport:nexthop` that delivers to mailboxes instead, and per user.
    mailbox_transport: String,
    mailbox_transport_maps: MapList,
    /// `transport:nexthop` for users not in the passwd database, and per user.
    fallback_transport: String,
    fallback_transport_maps: MapList,
    /// Where the other transports' agents listen, and how long one may take.
    private_dir: PathBuf,
    ipc_timeout: Duration,
    forward_path: String,
    luser_relay: String,
    delimiter: String,
    size_limit: u64,
    locks: LockMethods,
    lock_policy: LockPolicy,
    /// `strict_mailbox_ownership`: a spool mailbox not owned by its user
    /// defers the delivery.
    strict_ownership: bool,
    /// `biff`: the local comsat service hears of new mbox mail.
    biff: bool,
    /// `require_home_directory`: a user whose home directory cannot be
    /// reached (an automount that is not there) waits.
    require_home: bool,
    /// `local_delivery_status_filter`.
    status_filter: Option<maps::status_filter::StatusFilter>,
    default_privs: Option<Account>,
    forward_filter: String,
    /// `command_expansion_filter`: the characters of an address that may
    /// reach mailbox_command's `$name` expansions and commands' environment.
    command_filter: String,
    /// `command_execution_directory`: the working directory of commands,
    /// `$name`-expanded per delivery (empty: local's own, the queue
    /// directory, as Postfix does not change directory then).
    exec_directory: String,
    /// `execution_directory_expansion_filter`: the characters its `$name`
    /// values may hold.
    exec_filter: String,
    /// `export_environment`: the variables commands get from this
    /// process's environment (`NAME`) or as set (`NAME=value`).
    export_env: Vec<(String, String)>,
    /// `owner_request_special`: `owner-list` aliases set a list's sender,
    /// and `owner-list`/`list-request` are not split at a `-` delimiter.
    owner_request_special: bool,
    /// `frozen_delivered_to`: the Delivered-To: address is the
    /// recipient's, not updated while aliases and .forward files expand.
    frozen_delivered_to: bool,
    commands_for: Vec<String>,
    files_for: Vec<String>,
    shell: String,
    command_time_limit: Duration,
    cleanup_socket: PathBuf,
    mydestination: maps::domains::DomainList,
}

impl Settings {
    /// As root, file and command deliveries of aliases run as
    /// `default_privs`, which must exist and not be root (Postfix refuses
    /// to start otherwise).
    pub fn check(&self) -> Result<(), String> {
        if util::privs::is_root() {
            match &self.default_privs {
                None => return Err("parameter default_privs: unknown user name".into()),
                Some(a) if a.uid == 0 => {
                    return Err("parameter default_privs: user has root privileges".into())
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Settings {
        let locks = LockMethods::parse(&cfg.list(&p::MAILBOX_DELIVERY_LOCK).join(", "))
            .unwrap_or_else(|e| {
                maillog::warning!("mailbox_delivery_lock: {e}; using fcntl, dotlock");
                LockMethods::default()
            });
        Settings {
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            myorigin: cfg.myorigin().unwrap_or_else(|e| maillog::fatal!("{e}")),
            expand_owner_alias: cfg.bool(&p::EXPAND_OWNER_ALIAS),
            alias_maps: MapList::open_lenient(
                "alias_maps",
                cfg.str(&p::ALIAS_MAPS),
                &maps::Ctx::new(),
            ),
            home_mailbox: cfg.str(&p::HOME_MAILBOX).to_string(),
            spool: cfg.path(&p::MAIL_SPOOL_DIRECTORY),
            mailbox_command: cfg.str(&p::MAILBOX_COMMAND).to_string(),
            mailbox_command_maps: command_maps(cfg, &p::MAILBOX_COMMAND_MAPS),
            mailbox_transport: cfg.str(&p::MAILBOX_TRANSPORT).to_string(),
            mailbox_transport_maps: command_maps(cfg, &p::MAILBOX_TRANSPORT_MAPS),
            fallback_transport: cfg.str(&p::FALLBACK_TRANSPORT).to_string(),
            fallback_transport_maps: command_maps(cfg, &p::FALLBACK_TRANSPORT_MAPS),
            private_dir: queue_dir.join("private"),
            ipc_timeout: cfg.time(&p::IPC_TIMEOUT),
            forward_path: cfg.str(&p::FORWARD_PATH).to_string(),
            luser_relay: cfg.str(&p::LUSER_RELAY).to_string(),
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            delivered_to_for: cfg
                .list(&p::PREPEND_DELIVERED_HEADER)
                .iter()
                .map(|w| w.to_ascii_lowercase())
                .collect(),
            size_limit: cfg.size(&p::MAILBOX_SIZE_LIMIT),
            locks,
            strict_ownership: cfg.bool(&p::STRICT_MAILBOX_OWNERSHIP),
            require_home: cfg.bool(&p::REQUIRE_HOME_DIRECTORY),
            status_filter: maps::status_filter::StatusFilter::open(
                p::LOCAL_DELIVERY_STATUS_FILTER.name,
                cfg.str(&p::LOCAL_DELIVERY_STATUS_FILTER),
                &maps::Ctx::new(),
            ),
            biff: cfg.bool(&p::BIFF),
            lock_policy: LockPolicy {
                attempts: cfg.int(&p::DELIVER_LOCK_ATTEMPTS).max(1) as u32,
                delay: cfg.time(&p::DELIVER_LOCK_DELAY),
                stale_after: cfg.time(&p::STALE_LOCK_TIME),
            },
            default_privs: util::privs::lookup_user(cfg.str(&p::DEFAULT_PRIVS))
                .ok()
                .flatten(),
            forward_filter: cfg.str(&p::FORWARD_EXPANSION_FILTER).to_string(),
            command_filter: cfg.str(&p::COMMAND_EXPANSION_FILTER).to_string(),
            exec_directory: cfg.str(&p::COMMAND_EXECUTION_DIRECTORY).to_string(),
            exec_filter: cfg
                .str(&p::EXECUTION_DIRECTORY_EXPANSION_FILTER)
                .to_string(),
            export_env: util::command::environment_list(
                &cfg.list(&p::EXPORT_ENVIRONMENT),
                |name| std::env::var(name).ok(),
            ),
            owner_request_special: cfg.bool(&p::OWNER_REQUEST_SPECIAL),
            frozen_delivered_to: cfg.bool(&p::FROZEN_DELIVERED_TO),
            commands_for: cfg.list(&p::ALLOW_MAIL_TO_COMMANDS),
            files_for: cfg.list(&p::ALLOW_MAIL_TO_FILES),
            shell: cfg.str(&p::LOCAL_COMMAND_SHELL).to_string(),
            command_time_limit: cfg.time(&p::COMMAND_TIME_LIMIT),
            cleanup_socket: ipc::cleanup::socket_path(
                &queue_dir,
                cfg.str(&p::CLEANUP_SERVICE_NAME),
            ),
            mydestination: maps::domains::DomainList::parse(
                &cfg.list(&p::MYDESTINATION),
                "mydestination",
                false,
            )
            .0,
            queue_dir,
        }
    }
}

/// A table whose results name commands or transports: no `$number` of the
/// key in them (Postfix opens these without substitution too).
fn command_maps(cfg: &Config, param: &params::Param) -> MapList {
    MapList::open_lenient(
        param.name,
        cfg.str(param),
        &maps::Ctx::new().without_substitution(),
    )
}

/// Where a target came from, for allow_mail_to_commands/_files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Alias,
    Include,
    Forward,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::Alias => "alias",
            Origin::Include => "include",
            Origin::Forward => "forward",
        }
    }
}

/// One recipient's delivery state.
struct Job<'a> {
    s: &'a Settings,
    req: &'a Request,
    rcpt: &'a delivery::Rcpt,
    qf: &'a queue::Held,
    delivered_to: &'a [String],
    /// Addresses to forward to, collected from aliases and .forward, each
    /// with the envelope sender and the Delivered-To: address its new
    /// message gets (one message per pair, as Postfix's forward.c).
    forward: Vec<(String, String, String)>,
    /// The Delivered-To: address of what is delivered now: the
    /// recipient's; with `frozen_delivered_to = no`, the address whose
    /// alias or .forward is being expanded, or whose mailbox gets it.
    delivered: String,
    /// While an alias with an `owner-` alias is expanded: that owner, the
    /// sender of the expansion (so delivery errors go to the owner).
    owner: Option<String>,
    /// What was done, for the log ("delivered to mailbox", …).
    done: Vec<String>,
    /// The address being delivered: the recipient, or what an alias or
    /// .forward expanded it to.
    address: String,
    /// Each final destination's address and result, logged one line
    /// each when the recipient was expanded (as local(8) logs them, with
    /// `orig_to=`).
    leaves: Vec<(String, Verdict)>,
    /// Targets already expanded for this recipient (aliases, includes and
    /// .forward may name the same one twice; an include loop may explode).
    seen: std::collections::HashSet<String>,
    /// The addresses and .forward files being expanded right now, outer
    /// first: one met again inside its own expansion is a loop, not a
    /// duplicate already delivered.
    active: Vec<String>,
    /// The recipient itself is an alias: Some(whether it has an `owner-`
    /// alias, a mailing list). Its success notice says the alias expanded
    /// (RFC 3461), and its destinations are not asked for notices.
    alias: Option<bool>,
}

/// Handles one request from qmgr.
pub fn handle(s: &Settings, req: &Request) -> Response {
    let qf_path = s.queue_dir.join(&req.queue_name).join(&req.queue_id);
    let setup_done = now();
    let qf = match queue::Held::open(&qf_path) {
        Ok(q) => q,
        Err(e) => return agent::unreadable(req, "local", setup_done, &e),
    };
    let delivered_to = agent::delivered_to_values(&qf);
    let mut results = Vec::with_capacity(req.recipients.len());
    for rcpt in &req.recipients {
        let mut job = Job {
            s,
            req,
            rcpt,
            qf: &qf,
            delivered_to: &delivered_to,
            forward: Vec::new(),
            delivered: rcpt.address.clone(),
            owner: None,
            done: Vec::new(),
            address: rcpt.address.clone(),
            leaves: Vec::new(),
            seen: std::collections::HashSet::new(),
            active: Vec::new(),
            alias: None,
        };
        // local_delivery_status_filter, on what is logged and answered
        // (probes' results too, as in Postfix).
        let filter = |v: Verdict| match &s.status_filter {
            Some(f) => agent::filtered(v, |d, t| f.replace(d, t)),
            None => v,
        };
        // A probe goes the same way, nothing delivered: each final
        // destination says what it would get ("delivers to file: …",
        // "forwards to …"), as Postfix's local answers sendmail -bv.
        let mut v = job.recipient();
        if v.outcome == Outcome::Sent && !job.forward.is_empty() {
            v = job.send_forward();
            for (_, _, a) in std::mem::take(&mut job.forward) {
                job.leaves.push((a, v.clone()));
            }
        }
        let v = filter(v);
        for (_, leaf) in job.leaves.iter_mut() {
            *leaf = filter(leaf.clone());
        }
        let expanded = match job.leaves.as_slice() {
            [] => false,
            [(only, _)] => !only.eq_ignore_ascii_case(&rcpt.address),
            _ => true,
        };
        // A probe of an alias with one destination of its own name
        // (`known: /some/file`) says what that destination would get.
        let v = match job.leaves.as_slice() {
            [(_, leaf)] if req.probe && !expanded => leaf.clone(),
            _ => v,
        };
        let alias = job.alias;
        let mut result = if expanded {
            let mut r = agent::finish_expanded(req, rcpt, &qf, "local", setup_done, v, &job.leaves);
            // What the report or notice lists: a probe's every
            // destination, a delivery's failed ones.
            r.expansions = agent::expansions(
                job.leaves
                    .iter()
                    .filter(|(_, v)| req.probe || v.outcome != Outcome::Sent),
            );
            r
        } else {
            agent::finish(req, rcpt, &qf, "local", setup_done, v)
        };
        // NOTIFY=SUCCESS for an alias: "alias expanded" (a list with an
        // owner: delivered), as Postfix's alias.c reports it.
        if let Some(list) = alias.filter(|_| {
            !req.probe
                && result.outcome == Outcome::Sent
                && rcpt.notify & ipc::cleanup::notify::SUCCESS != 0
        }) {
            result.reason = "alias expanded".into();
            if !list {
                result.success = delivery::Success::Expanded;
            }
        }
        results.push(result);
    }
    Response::new(results)
}

impl Job<'_> {
    /// The envelope sender of forwarded copies: the list owner, if any.
    fn sender(&self) -> String {
        self.owner
            .clone()
            .unwrap_or_else(|| self.req.sender.clone())
    }

    /// The owner of alias `key` (Postfix's `owner-key` convention): the
    /// address `owner-key@$myorigin`, or with `expand_owner_alias` the
    /// owner alias's first address. None when there is none.
    fn owner_of(&self, key: &str) -> Option<String> {
        if !self.s.owner_request_special {
            return None;
        }
        let owner_key = format!("owner-{key}");
        let value = self.s.alias_maps.lookup(&owner_key).ok()??;
        if !self.s.expand_owner_alias {
            return Some(format!("{owner_key}@{}", self.s.myorigin));
        }
        alias::expand_value(&value)
            .into_iter()
            .find_map(|t| match t {
                AliasTarget::Address(a) => Some(a.trim_start_matches('\\').to_string()),
                _ => None,
            })
    }

    /// Runs `f` with the Delivered-To: address updated to the address
    /// being delivered, unless `frozen_delivered_to` (Postfix's alias.c,
    /// dotforward.c and mailbox.c update it only then).
    fn updating_delivered<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        if self.s.frozen_delivered_to {
            return f(self);
        }
        let outer = std::mem::replace(&mut self.delivered, self.address.clone());
        let v = f(self);
        self.delivered = outer;
        v
    }

    /// A probe of the verify service (not `sendmail -bv`): aliases and
    /// .forward files are named, not followed, as in Postfix.
    fn verify_only(&self) -> bool {
        self.req.probe && !self.req.user_verify
    }

    /// The NOTIFY of forwarded copies: an alias's lose SUCCESS (only
    /// SUCCESS becomes NEVER), as Postfix's alias.c passes them on.
    fn forwarded_notify(&self) -> u8 {
        use ipc::cleanup::notify::{NEVER, SUCCESS};
        let n = self.rcpt.notify;
        match self.alias {
            Some(_) if n == SUCCESS => NEVER,
            Some(_) => n & !SUCCESS,
            None => n,
        }
    }

    /// Queues a forwarded copy to `address`; a probe records what it would
    /// do there and then, in the order of the alias or .forward file.
    fn forward_to(&mut self, address: String) {
        if self.req.probe {
            let v = sent(format!("forwards to {address}"));
            self.leaves.push((address, v));
            return;
        }
        let entry = (self.sender(), self.delivered.clone(), address);
        self.forward.push(entry);
    }

    /// `local` split at the recipient delimiter (see [`split_local`]).
    fn split<'l>(&self, local: &'l str) -> (&'l str, Option<&'l str>) {
        split_local(local, &self.s.delimiter, self.s.owner_request_special)
    }

    /// A nested local address that the message's Delivered-To: headers
    /// already name: a mail forwarding loop (Postfix's recipient.c checks
    /// at each level).
    fn looped(&self, address: &str) -> Option<Verdict> {
        let lower = address.to_ascii_lowercase();
        self.delivered_to
            .contains(&lower)
            .then(|| failed("5.4.6", format!("mail forwarding loop for {address}")))
    }

    /// Records a final destination's result (see [`Job::leaves`]).
    fn leaf(&mut self, v: Verdict) -> Verdict {
        self.leaves.push((self.address.clone(), v.clone()));
        v
    }

    /// Delivers to `target` (an address) as [`Job::address`], then goes back.
    fn as_address(
        &mut self,
        target: String,
        deliver: impl FnOnce(&mut Self) -> Verdict,
    ) -> Verdict {
        let outer = std::mem::replace(&mut self.address, target);
        let v = deliver(self);
        self.address = outer;
        v
    }

    /// Return-Path:, X-Original-To: and Delivered-To: for a delivery of
    /// kind `kind` (`mailbox`, or `command`, `file` as
    /// prepend_delivered_header names them; a mailbox counts as a file),
    /// which may leave Delivered-To: out.
    fn headers(&self, recipient: &str, kind: &str) -> Vec<String> {
        let mut h = vec![source::return_path(&self.sender())];
        if let Some(o) = self
            .rcpt
            .original
            .as_deref()
            .and_then(source::x_original_to)
        {
            h.push(o);
        }
        // A mailbox (mbox or Maildir) is a file here, as in Postfix's
        // mailbox.c and maildir.c.
        let kind = if kind == "mailbox" { "file" } else { kind };
        if self.s.delivered_to_for.iter().any(|k| k == kind) {
            h.push(source::delivered_to(recipient));
        }
        h
    }

    /// Local part (lowercased), extension and domain of the recipient.
    fn parts(&self) -> (String, Option<String>, String) {
        let (local, domain) = match self.rcpt.address.rsplit_once('@') {
            Some((l, d)) => (l.to_string(), d.to_string()),
            None => (self.rcpt.address.clone(), String::new()),
        };
        let local = local.to_ascii_lowercase();
        if self.s.delimiter.is_empty() {
            return (local, None, domain);
        }
        let (user, ext) = self.split(&local);
        // An extension with a slash could reach outside the home directory
        // through forward_path; Postfix drops it too.
        let ext = ext.filter(|e| {
            let bad = e.contains('/');
            if bad {
                maillog::warning!(
                    "{}: address with illegal extension: {}",
                    self.req.queue_id,
                    self.rcpt.address
                );
            }
            !bad
        });
        (user.to_string(), ext.map(str::to_string), domain)
    }

    /// Local part (lowercased), extension and domain of the address being
    /// delivered (the recipient, or what an alias or .forward made of it);
    /// an extension with a '/' is dropped, as in [`Job::parts`].
    fn address_parts(&self) -> (String, Option<String>, String) {
        let (local, domain) = match self.address.rsplit_once('@') {
            Some((l, d)) => (l.to_ascii_lowercase(), d.to_string()),
            None => (self.address.to_ascii_lowercase(), String::new()),
        };
        let ext = self
            .split(&local)
            .1
            .filter(|e| !e.contains('/'))
            .map(str::to_string);
        (local, ext, domain)
    }

    /// The delimiter that separates `user` from its extension in the
    /// address being delivered: with `recipient_delimiter = +-`, `-` in
    /// `sales-eu` (Postfix keeps the local part as written).
    fn delimiter_used(&self, user: &str) -> char {
        let local = self
            .address
            .rsplit_once('@')
            .map_or(self.address.as_str(), |(l, _)| l);
        local
            .get(user.len()..)
            .and_then(|rest| rest.chars().next())
            .filter(|c| self.s.delimiter.contains(*c))
            .or_else(|| self.s.delimiter.chars().next())
            .unwrap_or('+')
    }

    fn recipient(&mut self) -> Verdict {
        let address = self.rcpt.address.to_ascii_lowercase();
        if self.delivered_to.contains(&address) {
            return failed(
                "5.4.6",
                format!("mail forwarding loop for {}", self.rcpt.address),
            );
        }
        let (user, ext, domain) = self.parts();
        self.local_address(&user, ext.as_deref(), &domain, 0)
    }

    /// Aliases (user+ext, then user), then the user of that name.
    fn local_address(
        &mut self,
        user: &str,
        ext: Option<&str>,
        domain: &str,
        depth: usize,
    ) -> Verdict {
        if depth > MAX_DEPTH {
            return failed("5.4.6", "alias expansion loop".to_string());
        }
        let mut keys = vec![match ext {
            Some(e) => format!("{user}{}{e}", self.delimiter_used(user)),
            None => user.to_string(),
        }];
        if ext.is_some() {
            keys.push(user.to_string());
        }
        for key in keys {
            match self.s.alias_maps.lookup(&key) {
                Ok(Some(value)) if self.verify_only() => {
                    return sent(format!("aliased to {}", value.trim()));
                }
                Ok(Some(value)) => {
                    let list_owner = self.owner_of(&key);
                    if depth == 0 {
                        self.alias = Some(list_owner.is_some());
                    }
                    let owner = list_owner.or_else(|| self.owner.clone());
                    let outer = std::mem::replace(&mut self.owner, owner);
                    let v = self.updating_delivered(|job| {
                        job.expand(&key, &value, user, Origin::Alias, None, depth + 1)
                    });
                    self.owner = outer;
                    return v;
                }
                Ok(None) => {}
                Err(e) => return failed("4.3.0", format!("alias database unavailable: {e}")),
            }
        }
        self.user(user, ext, domain)
    }

    /// A user of this host: .forward, then the mailbox; Postfix's order:
    /// `mailbox_transport(_maps)` whether or not the user is in the passwd
    /// database, then (only for one who is) the mailbox command or file,
    /// else the unknown user's fallbacks.
    fn user(&mut self, user: &str, ext: Option<&str>, domain: &str) -> Verdict {
        let account = match util::privs::lookup_user(user) {
            Ok(a) => a,
            Err(e) => return failed("4.3.0", format!("user lookup failed: {e}")),
        };
        if let Some(a) = &account {
            if self.s.require_home {
                if let Err(e) = home_reachable(a) {
                    let text = format!(
                        "cannot access home directory {}: {}",
                        a.home.display(),
                        util::strerror(&e)
                    );
                    return failed("4.3.0", text);
                }
            }
            if let Some(v) = self.dot_forward(a, ext) {
                return v;
            }
        }
        if let Some(v) = self.mailbox_transport(user) {
            return self.leaf(v);
        }
        match account {
            Some(a) => {
                let v = self.mailbox(&a);
                self.leaf(v)
            }
            None => self.unknown(user, ext, domain),
        }
    }

    fn unknown(&mut self, user: &str, ext: Option<&str>, domain: &str) -> Verdict {
        if let Some(v) = self.transport_for(
            user,
            "fallback_transport",
            &self.s.fallback_transport_maps,
            &self.s.fallback_transport,
        ) {
            return self.leaf(v);
        }
        if self.s.luser_relay.is_empty() {
            let v = failed("5.1.1", format!("unknown user: \"{user}\""));
            return self.leaf(v);
        }
        let relay = expand_attributes(
            &self.s.luser_relay,
            user,
            ext,
            domain,
            None,
            &self.delimiter_used(user).to_string(),
        );
        self.forward_to(relay);
        sent("forwarded")
    }

    /// The mailbox through another transport (`mailbox_transport_maps`,
    /// then `mailbox_transport`), when one is set for `user`.
    fn mailbox_transport(&mut self, user: &str) -> Option<Verdict> {
        self.transport_for(
            user,
            "mailbox_transport",
            &self.s.mailbox_transport_maps,
            &self.s.mailbox_transport,
        )
    }

    /// Passes the address being delivered to the transport that `maps`
    /// (by user name), else `default`, names; None when neither does.
    fn transport_for(
        &mut self,
        user: &str,
        param: &str,
        maps: &MapList,
        default: &str,
    ) -> Option<Verdict> {
        let route = match maps.lookup(user) {
            Ok(Some(v)) => v,
            Ok(None) if default.is_empty() => return None,
            Ok(None) => default.to_string(),
            Err(e) => {
                maillog::warning!("{}: {param}_maps: {e}", self.req.queue_id);
                return Some(failed("4.3.0", "table lookup failure"));
            }
        };
        Some(self.pass(param, &route))
    }

    /// Postfix's deliver_pass: the address being delivered goes to the
    /// delivery agent of `route` (`transport:nexthop`; without a next hop,
    /// this request's), in a request for the same queue file. That agent
    /// delivers and logs it; this recipient is marked done here, once all
    /// that it expanded to is delivered.
    fn pass(&mut self, param: &str, route: &str) -> Verdict {
        let Some((transport, nexthop)) = delivery::service_route(route) else {
            maillog::warning!("{}: {param}: bad transport \"{route}\"", self.req.queue_id);
            return failed("4.3.5", "mail system configuration error");
        };
        let req = Request {
            queue_id: self.req.queue_id.clone(),
            queue_name: self.req.queue_name.clone(),
            sender: self.req.sender.clone(),
            nexthop: if nexthop.is_empty() {
                self.req.nexthop.clone()
            } else {
                nexthop
            },
            arrival: self.req.arrival,
            active_since: self.req.active_since,
            sent_at: now(),
            recipients: vec![delivery::Rcpt {
                address: self.address.clone(),
                original: Some(
                    self.rcpt
                        .original
                        .clone()
                        .unwrap_or_else(|| self.rcpt.address.clone()),
                ),
                orcpt: self.rcpt.orcpt.clone(),
                notify: self.rcpt.notify,
                offset: delivery::CALLER_MARKS_DONE,
            }],
            probe: self.req.probe,
            user_verify: self.req.user_verify,
        };
        let socket = self.s.private_dir.join(&transport);
        match delivery::call(&socket, &req, self.s.ipc_timeout) {
            Ok(resp) => match resp.results.into_iter().next() {
                Some(r) => Verdict::passed(r),
                None => failed("4.3.0", "mail transport unavailable"),
            },
            Err(e) => {
                maillog::warning!("{}: {param} {transport}: {e}", self.req.queue_id);
                failed("4.3.0", "mail transport unavailable")
            }
        }
    }

    fn dot_forward(&mut self, account: &Account, ext: Option<&str>) -> Option<Verdict> {
        let ids = Ids {
            uid: account.uid,
            gid: account.gid,
        };
        // forward_expansion_filter: anything else in the extension becomes '_'.
        let ext: Option<String> = ext.map(|e| {
            e.chars()
                .map(|c| {
                    if self.s.forward_filter.contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        });
        // Split first, then expand each element: an expansion cannot add
        // paths. Without an extension the default's two elements are the
        // same file, read once.
        let mut paths: Vec<PathBuf> = Vec::new();
        for pattern in maps::split_list(&self.s.forward_path) {
            let path = PathBuf::from(expand_attributes(
                &pattern,
                &account.name,
                ext.as_deref(),
                "",
                Some(&account.home),
                &self.delimiter_used(&account.name).to_string(),
            ));
            if !path.as_os_str().is_empty() && !paths.contains(&path) {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return None;
        }
        // The first .forward that names somebody, read as the user.
        let found = {
            let _as = match AsUser::become_user(ids) {
                Ok(a) => a,
                Err(e) => {
                    return Some(failed(
                        "4.3.0",
                        format!("cannot switch to user {}: {e}", account.name),
                    ))
                }
            };
            if self.verify_only() {
                // The first .forward there is, unread (Postfix's "forward
                // via file").
                let path = paths.iter().find(|p| p.exists())?;
                return Some(sent(format!("forward via file: {}", path.display())));
            }
            // The first file that names somebody; an unreadable one stops the search.
            paths
                .iter()
                .find_map(|path| {
                    let owner_ok = |uid| uid == account.uid || uid == 0;
                    match read_limited(path, MAX_LIST_FILE, owner_ok, false) {
                        Ok(Some((text, _))) => {
                            let targets = alias::parse_include(&text);
                            (!targets.is_empty()).then_some(Ok((path.clone(), targets)))
                        }
                        Ok(None) => None,
                        Err(e) => Some(Err(format!("cannot read {}: {e}", path.display()))),
                    }
                })
                .transpose()
        };
        match found {
            Ok(Some((path, targets))) => {
                // A .forward that leads back to its own user (`user+ext`,
                // another user's .forward naming this one): the second time
                // round it is skipped and the mailbox gets the mail, as in
                // Postfix.
                let key = format!("forward {}", path.display());
                if self.active.contains(&key) {
                    return None;
                }
                self.active.push(key);
                let v = self.updating_delivered(|job| {
                    job.targets(&account.name, targets, Origin::Forward, Some(ids), 1)
                });
                self.active.pop();
                Some(v)
            }
            Ok(None) => None,
            Err(why) => Some(failed("4.3.0", why)),
        }
    }

    /// Expands an alias value.
    fn expand(
        &mut self,
        key: &str,
        value: &str,
        user: &str,
        origin: Origin,
        ids: Option<Ids>,
        depth: usize,
    ) -> Verdict {
        let targets = alias::expand_value(value);
        if targets.is_empty() {
            return failed("5.1.1", format!("alias {key} has no destination"));
        }
        self.targets(user, targets, origin, ids, depth)
    }

    fn targets(
        &mut self,
        user: &str,
        targets: Vec<AliasTarget>,
        origin: Origin,
        ids: Option<Ids>,
        depth: usize,
    ) -> Verdict {
        if depth > MAX_DEPTH {
            return failed("5.4.6", "alias expansion loop".to_string());
        }
        // File and command deliveries of root's aliases run as default_privs.
        let run_as = ids.or_else(|| {
            self.s.default_privs.as_ref().map(|a| Ids {
                uid: a.uid,
                gid: a.gid,
            })
        });
        let rank = |v: &Verdict| match v.outcome {
            Outcome::Sent => 0,
            Outcome::Bounced => 1,
            Outcome::Deferred => 2,
        };
        let mut worst: Option<Verdict> = None;
        for t in targets {
            let key = t.to_string();
            if !self.seen.insert(key.clone()) {
                // A duplicate is delivered once; an address met again
                // inside its own expansion is a loop, which Postfix
                // bounces rather than call delivered.
                if matches!(t, AliasTarget::Address(_)) && self.active.contains(&key) {
                    maillog::warning!("{}: alias database loop for {key}", self.req.queue_id);
                    let v = failed("5.4.6", format!("alias database loop for {key}"));
                    if worst.as_ref().is_none_or(|w| rank(&v) > rank(w)) {
                        worst = Some(v);
                    }
                }
                continue;
            }
            if self.seen.len() > MAX_TARGETS {
                return failed(
                    "5.4.6",
                    format!(
                        "alias expansion of {} has more than {MAX_TARGETS} destinations",
                        self.rcpt.address
                    ),
                );
            }
            let v = match t {
                AliasTarget::Address(a) => {
                    let verbatim = a.starts_with('\\');
                    let clean = a.trim_start_matches('\\').to_string();
                    let lower = clean.to_ascii_lowercase();
                    let (al, ad) = match lower.rsplit_once('@') {
                        Some((l, d)) => (l.to_string(), Some(d.to_string())),
                        None => (lower.clone(), None),
                    };
                    let is_local = match &ad {
                        None => true,
                        Some(d) => self.s.mydestination.matches(d).unwrap_or(false),
                    };
                    let full = match &ad {
                        Some(_) => clean.clone(),
                        None => format!("{clean}@{}", self.s.myorigin),
                    };
                    if !is_local || (self.owner.is_some() && !verbatim) {
                        // Remote, or in a list with an owner: a new message
                        // (from the owner, whom its errors then reach).
                        self.forward_to(clean);
                        sent("forwarded")
                    } else if verbatim || al == user {
                        // "\user" or a user aliased to itself: the mailbox, no more aliases.
                        self.as_address(full, |job| {
                            if let Some(v) = job.looped(&job.address) {
                                return job.leaf(v);
                            }
                            let v = job.mailbox_transport(&al).unwrap_or_else(|| {
                                match util::privs::lookup_user(&al) {
                                    Ok(Some(acct)) => job.mailbox(&acct),
                                    _ => failed("5.1.1", format!("unknown user: \"{al}\"")),
                                }
                            });
                            job.leaf(v)
                        })
                    } else {
                        // Another local address: delivered here, recursively, as local(8) does.
                        let (u, e) = if self.s.delimiter.is_empty() {
                            (al.clone(), None)
                        } else {
                            let (u, e) = self.split(&al);
                            (u.to_string(), e.map(str::to_string))
                        };
                        let d = ad.unwrap_or_else(|| self.s.myorigin.clone());
                        self.active.push(key);
                        let v = self.as_address(full, |job| match job.looped(&job.address) {
                            Some(v) => job.leaf(v),
                            None => job.local_address(&u, e.as_deref(), &d, depth + 1),
                        });
                        self.active.pop();
                        v
                    }
                }
                AliasTarget::File(path) => {
                    let v = self.deliver_file(&path, origin, run_as);
                    self.leaf(v)
                }
                AliasTarget::HomeFile(text) => {
                    // `~/file`: under the home directory of whose rights
                    // apply (the .forward's user, an include file's
                    // owner); `~user/file` and a root-owned alias's `~` are
                    // refused, as local(8)'s deliver_token_home does.
                    let v = match text.strip_prefix('~') {
                        Some(rest) if rest.starts_with('/') => {
                            match ids.and_then(|i| util::privs::lookup_user_by_uid(i.uid)) {
                                Some(acct) => {
                                    let mut path = acct.home.into_os_string();
                                    if path == "/" {
                                        path.clear();
                                    }
                                    path.push(rest);
                                    self.deliver_file(Path::new(&path), origin, ids)
                                }
                                None => {
                                    failed("5.3.5", format!("unknown home directory for: {text}"))
                                }
                            }
                        }
                        _ => failed("5.3.5", format!("bad home directory syntax for: {text}")),
                    };
                    self.leaf(v)
                }
                AliasTarget::Command(cmd) => {
                    let v = self.deliver_command(&cmd, user, origin, run_as, ids);
                    self.leaf(v)
                }
                AliasTarget::Include(path) => {
                    // Read with the rights of whoever named it (the user for
                    // .forward, default_privs for aliases), never as root.
                    let read = match run_as.map(AsUser::become_user).transpose() {
                        Ok(_as) => read_limited(&path, MAX_LIST_FILE, |_| true, true),
                        Err(e) => Err(std::io::Error::other(format!("cannot switch user: {e}"))),
                    };
                    match read {
                        Ok(Some((text, owner))) => {
                            // A non-root file named by a root-owned alias
                            // gets its owner's rights (not default_privs,
                            // which its owner could otherwise take over);
                            // one named by a user keeps that user's rights,
                            // so nobody acts as the owner of a file they
                            // merely include, as in Postfix's include.c.
                            let inc_ids = match ids {
                                None => (owner.uid != 0).then_some(owner),
                                Some(i) => Some(i),
                            };
                            self.targets(
                                user,
                                alias::parse_include(&text),
                                Origin::Include,
                                inc_ids,
                                depth + 1,
                            )
                        }
                        Ok(None) => failed(
                            "5.3.5",
                            format!(
                                ":include: file {} is missing or not a regular file",
                                path.display()
                            ),
                        ),
                        Err(e) => failed(
                            "4.3.0",
                            format!("cannot read :include: file {}: {e}", path.display()),
                        ),
                    }
                }
            };
            // The whole alias succeeds only when every part does; keep the worst.
            if worst.as_ref().is_none_or(|w| rank(&v) > rank(w)) {
                worst = Some(v);
            }
        }
        match worst {
            Some(w) if w.outcome != Outcome::Sent => w,
            _ => sent(self.done_text()),
        }
    }

    fn done_text(&self) -> String {
        if self.done.is_empty() {
            "forwarded".to_string()
        } else {
            self.done.join(", ")
        }
    }

    fn mailbox(&mut self, account: &Account) -> Verdict {
        let ids = Ids {
            uid: account.uid,
            gid: account.gid,
        };
        let command = match self.s.mailbox_command_maps.lookup(&account.name) {
            Ok(Some(c)) => c,
            Ok(None) => self.s.mailbox_command.clone(),
            Err(e) => {
                maillog::warning!("{}: mailbox_command_maps: {e}", self.req.queue_id);
                return failed("4.3.0", "table lookup failure");
            }
        };
        if self.req.probe && command.is_empty() {
            return sent(if self.s.home_mailbox.ends_with('/') {
                "delivers to maildir"
            } else {
                "delivers to mailbox"
            });
        }
        if !command.is_empty() {
            let censor = |v: &str| censor(v, &self.s.command_filter);
            let (_, ext, domain) = self.address_parts();
            let cmd = expand_attributes(
                &command,
                &censor(&account.name),
                ext.as_deref().map(censor).as_deref(),
                &censor(&domain),
                Some(Path::new(&censor(&account.home.to_string_lossy()))),
                &self.delimiter_used(&account.name).to_string(),
            );
            return self.run_command(
                &cmd,
                &account.name,
                Some(ids),
                Some(ids),
                "delivered to command",
            );
        }
        let mut qf = match self.qf.read() {
            Ok(q) => q,
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        };
        // With frozen_delivered_to = no, an mbox delivery names the address
        // delivered, as Postfix's mailbox.c does (its maildir.c does not).
        let delivered = if self.s.frozen_delivered_to || self.s.home_mailbox.ends_with('/') {
            self.delivered.clone()
        } else {
            self.address.clone()
        };
        let headers = self.headers(&delivered, "mailbox");
        let src = match QueueSource::new(&mut qf) {
            Ok(s) => s,
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        };
        let mut msg = Prepended::new(headers, src);
        if self.s.home_mailbox.ends_with('/') {
            let dir = account.home.join(&self.s.home_mailbox);
            let _as = match AsUser::become_user(ids) {
                Ok(a) => a,
                Err(e) => {
                    return failed(
                        "4.3.0",
                        format!("cannot switch to user {}: {e}", account.name),
                    )
                }
            };
            let opts = MaildirOptions {
                size_limit: self.s.size_limit,
                hostname: Some(self.s.myhostname.clone()),
                ..MaildirOptions::default()
            };
            return match mailbox::maildir::deliver(&dir, &mut msg, &opts) {
                Ok(_) => {
                    self.done.push("delivered to maildir".into());
                    sent("delivered to maildir")
                }
                Err(e) => from_delivery_error(&e, e.maildir_text()),
            };
        }
        let (path, in_spool) = if self.s.home_mailbox.is_empty() {
            (self.s.spool.join(&account.name), true)
        } else {
            (account.home.join(&self.s.home_mailbox), false)
        };
        let mut opts = MboxOptions {
            locks: self.s.locks,
            lock_policy: self.s.lock_policy,
            size_limit: self.s.size_limit,
            ..MboxOptions::default()
        };
        let result = if in_spool && util::privs::is_root() {
            // The spool directory is root's: create the mailbox for the user, then append as root.
            if let Err(e) = create_owned(&path, ids) {
                return failed(
                    "4.2.0",
                    format!("cannot create mailbox {}: {e}", path.display()),
                );
            }
            opts.owner = self.s.strict_ownership.then_some(account.uid);
            mailbox::mbox::deliver(&path, &self.sender(), SystemTime::now(), &mut msg, &opts)
        } else {
            let _as = match AsUser::become_user(ids) {
                Ok(a) => a,
                Err(e) => {
                    return failed(
                        "4.3.0",
                        format!("cannot switch to user {}: {e}", account.name),
                    )
                }
            };
            mailbox::mbox::deliver(&path, &self.sender(), SystemTime::now(), &mut msg, &opts)
        };
        match result {
            Ok(d) => {
                if self.s.biff {
                    notify_biff(&account.name, d.offset);
                }
                self.done.push("delivered to mailbox".into());
                sent("delivered to mailbox")
            }
            Err(e) => from_delivery_error(&e, e.mbox_text(&path, &account.name)),
        }
    }

    fn deliver_file(&mut self, path: &Path, origin: Origin, ids: Option<Ids>) -> Verdict {
        if !self.s.files_for.iter().any(|k| k == origin.name()) {
            return failed(
                "5.7.1",
                format!("mail to file is restricted: {}", path.display()),
            );
        }
        if self.req.probe {
            return sent(format!("delivers to file: {}", path.display()));
        }
        let mut qf = match self.qf.read() {
            Ok(q) => q,
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        };
        let src = match QueueSource::new(&mut qf) {
            Ok(s) => s,
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        };
        let mut msg = Prepended::new(self.headers(&self.delivered, "file"), src);
        let _as = match self.unprivileged(ids).map(AsUser::become_user).transpose() {
            Ok(a) => a,
            Err(e) => return failed("4.3.0", format!("cannot switch user: {e}")),
        };
        if path.as_os_str().to_string_lossy().ends_with('/') {
            // A name ending in "/" is a Maildir, as in Postfix.
            let opts = MaildirOptions {
                size_limit: self.s.size_limit,
                hostname: Some(self.s.myhostname.clone()),
                ..MaildirOptions::default()
            };
            return match mailbox::maildir::deliver(path, &mut msg, &opts) {
                Ok(_) => {
                    self.done
                        .push(format!("delivered to maildir: {}", path.display()));
                    sent(format!("delivered to maildir: {}", path.display()))
                }
                Err(e) => from_delivery_error(&e, e.maildir_text()),
            };
        }
        let opts = MboxOptions {
            locks: self.s.locks,
            lock_policy: self.s.lock_policy,
            size_limit: self.s.size_limit,
            allow_non_regular: true,
            dotlock_may_fail: true,
            refuse_executable: true,
            ..MboxOptions::default()
        };
        match mailbox::mbox::deliver(path, &self.sender(), SystemTime::now(), &mut msg, &opts) {
            Ok(_) => {
                self.done
                    .push(format!("delivered to file: {}", path.display()));
                sent(format!("delivered to file: {}", path.display()))
            }
            Err(e) => from_delivery_error(
                &e,
                format!(
                    "cannot append message to file {}: {}",
                    path.display(),
                    e.reason()
                ),
            ),
        }
    }

    /// Root's rights are default_privs' for files and commands (root's
    /// .forward, root's mailbox_command), uid and gid each, as in
    /// Postfix's file.c and command.c.
    fn unprivileged(&self, ids: Option<Ids>) -> Option<Ids> {
        let (Some(i), Some(d)) = (ids, &self.s.default_privs) else {
            return ids;
        };
        Some(Ids {
            uid: if i.uid == 0 { d.uid } else { i.uid },
            gid: if i.gid == 0 { d.gid } else { i.gid },
        })
    }

    fn deliver_command(
        &mut self,
        cmd: &str,
        user: &str,
        origin: Origin,
        ids: Option<Ids>,
        attr_ids: Option<Ids>,
    ) -> Verdict {
        if !self.s.commands_for.iter().any(|k| k == origin.name()) {
            return failed("5.7.1", format!("mail to command is restricted: {cmd}"));
        }
        let done = format!("delivered to command: {cmd}");
        self.run_command(cmd, user, ids, attr_ids, &done)
    }

    /// Pipes the message into `/bin/sh -c cmd` (or local_command_shell) as
    /// `ids`, in a process group of its own: at `command_time_limit` the
    /// whole group is killed, and neither a command that does not read its
    /// input nor one that floods its output can hold this process.
    ///
    /// `attr_ids` are the rights that apply (Postfix's usr_attr: none for
    /// an alias), whose account gives HOME and SHELL; `ids` those the
    /// command runs with.
    fn run_command(
        &mut self,
        cmd: &str,
        user: &str,
        ids: Option<Ids>,
        attr_ids: Option<Ids>,
        done: &str,
    ) -> Verdict {
        if self.req.probe {
            return sent(format!("delivers to command: {cmd}"));
        }
        let ids = self.unprivileged(ids);
        if util::privs::is_root() && ids.is_none_or(|i| i.uid == 0) {
            return failed(
                "4.3.0",
                format!("refusing to run a command as root: \"{cmd}\""),
            );
        }
        let mut body = Vec::new();
        for h in self.headers(&self.delivered, "command") {
            body.extend_from_slice(h.as_bytes());
            body.push(b'\n');
        }
        match self.qf.read().and_then(|mut qf| qf.content_bytes(b"\n")) {
            Ok(c) => body.extend_from_slice(&c),
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        }
        let shell = if self.s.shell.is_empty() {
            "/bin/sh".to_string()
        } else {
            self.s.shell.clone()
        };
        let (local, ext, domain) = self.address_parts();
        // Whose rights apply (the .forward's or mailbox's user, an include
        // file's owner; none for an alias) give HOME and SHELL, as
        // Postfix's usr_attr does.
        let account = attr_ids.and_then(|i| user_attr(user, i));
        let home = account
            .as_ref()
            .map(|a| a.dir.to_string_lossy().into_owned());
        let login_shell = account
            .as_ref()
            .map(|a| a.shell.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty());
        let attrs = self
            .qf
            .read()
            .map(|qf| qf.envelope.attrs)
            .unwrap_or_default();
        let sender = self.sender();
        // HOME, LOGNAME, USER, SENDER, RECIPIENT, LOCAL, then what is
        // known of SHELL, DOMAIN, EXTENSION, ORIGINAL_RECIPIENT and the
        // client, as Postfix's command.c sets them.
        let mut vars: Vec<(&str, String)> = home.iter().map(|h| ("HOME", h.clone())).collect();
        vars.extend([
            ("LOGNAME", user.to_string()),
            ("USER", user.to_string()),
            ("SENDER", sender),
            ("RECIPIENT", self.address.clone()),
            ("LOCAL", local.clone()),
        ]);
        let optional: [(&str, Option<String>); 11] = [
            ("SHELL", login_shell.clone()),
            ("DOMAIN", self.address.contains('@').then(|| domain.clone())),
            ("EXTENSION", ext.clone()),
            ("ORIGINAL_RECIPIENT", self.rcpt.original.clone()),
            ("CLIENT_HOSTNAME", attrs.client_name.clone()),
            ("CLIENT_ADDRESS", attrs.client_address.clone()),
            ("CLIENT_HELO", attrs.helo_name.clone()),
            ("CLIENT_PROTOCOL", attrs.protocol_name.clone()),
            ("SASL_METHOD", attrs.sasl_method.clone()),
            (
                "SASL_SENDER",
                attrs.other_value("sasl_sender").map(str::to_string),
            ),
            ("SASL_USERNAME", attrs.sasl_username.clone()),
        ];
        vars.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v))),
        );
        // export_environment first, then PATH, then the delivery's own
        // variables, each replacing one of the same name (pipe_command.c).
        let mut env: Vec<(String, String)> = self.s.export_env.clone();
        env.push(("PATH".into(), "/usr/bin:/bin".into()));
        // Nothing from the envelope reaches the command's environment with
        // a character the shell might act on, as in Postfix's command.c.
        for (k, v) in vars {
            let v = censor(&v, &self.s.command_filter);
            env.push((k.to_string(), v));
        }
        let attr = ExpansionAttributes {
            user,
            local: &local,
            ext: ext.as_deref(),
            domain: &domain,
            home: home.as_deref(),
            shell: login_shell.as_deref(),
        };
        let dir = match self.execution_directory(&attr) {
            Ok(d) => d,
            Err(v) => return v,
        };
        let outcome = util::command::run(util::command::Run {
            program: shell.clone(),
            args: vec!["-c".into(), cmd.into()],
            env,
            dir: dir.clone().unwrap_or_else(|| ".".into()),
            ids: ids.map(|i| (i.uid, i.gid)),
            io: util::command::Io::Message {
                input: body,
                keep_stdout: false,
            },
            time_limit: self.s.command_time_limit,
        });
        let err_text = outcome.output;
        use util::command::Ended;
        match outcome.ended {
            Ended::Exited(0) => {
                self.done.push(done.to_string());
                sent(done)
            }
            Ended::Exited(75) | Ended::Exited(71) if err_text.is_empty() => {
                failed("4.3.0", "temporary failure")
            }
            Ended::Exited(75) | Ended::Exited(71) => failed(
                "4.3.0",
                format!("temporary failure. Command output: {err_text}"),
            ),
            Ended::Exited(code) => failed(
                "5.3.0",
                format!("Command died with status {code}: \"{cmd}\". Command output: {err_text}"),
            ),
            Ended::Signaled(_) => failed(
                "4.3.0",
                format!("Command was killed by a signal: \"{cmd}\""),
            ),
            Ended::TimedOut => failed("4.3.0", format!("Command time limit exceeded: \"{cmd}\"")),
            Ended::NotRun(e) => match dir.as_deref().map(|d| (d, enterable(d, ids))) {
                // Postfix's pipe_command.c: the command's process cannot
                // enter its directory, and the delivery waits.
                Some((d, Err(why))) => {
                    maillog::warning!(
                        "cannot change directory to \"{}\" for uid={} gid={}: {}",
                        d.display(),
                        ids.map_or_else(|| nix::unistd::geteuid().as_raw(), |i| i.uid),
                        ids.map_or_else(|| nix::unistd::getegid().as_raw(), |i| i.gid),
                        util::strerror(&why)
                    );
                    failed("4.3.0", "temporary failure")
                }
                _ => failed("4.3.0", format!("cannot run {shell}: {e}")),
            },
        }
    }

    /// `command_execution_directory` with its `$name`s expanded for this
    /// delivery, each value limited to `execution_directory_expansion_filter`
    /// (others become '_'), as Postfix's local_expand(). None when it is
    /// empty: the command runs where local runs, the queue directory, as
    /// Postfix does not change directory then. A bad value defers.
    fn execution_directory(&self, a: &ExpansionAttributes) -> Result<Option<PathBuf>, Verdict> {
        if self.s.exec_directory.is_empty() {
            return Ok(None);
        }
        let recipient = self.address.clone();
        let delimiter = a
            .local
            .get(a.user.len()..)
            .and_then(|rest| rest.chars().next())
            .filter(|_| a.ext.is_some())
            .map(String::from);
        let lookup = |name: &str| -> Option<(String, bool)> {
            let v = match name {
                "user" => Some(a.user.to_string()),
                "home" => a.home.map(str::to_string),
                "shell" => a.shell.map(str::to_string),
                "domain" => Some(a.domain.to_string()),
                "local" | "mailbox" => Some(a.local.to_string()),
                "recipient" => Some(recipient.clone()),
                "extension" => a.ext.map(str::to_string),
                "recipient_delimiter" => delimiter.clone(),
                _ => None,
            }?;
            Some((censor(&v, &self.s.exec_filter), false))
        };
        match params::expand::expand_text(&self.s.exec_directory, &lookup) {
            Ok(d) if d.is_empty() => Ok(None),
            Ok(d) => Ok(Some(PathBuf::from(d))),
            Err(e) => {
                maillog::warning!(
                    "bad parameter value syntax for {}: {}: {e}",
                    p::COMMAND_EXECUTION_DIRECTORY.name,
                    self.s.exec_directory
                );
                Err(failed("4.3.5", "mail system configuration error"))
            }
        }
    }

    /// Forwards the message to the collected addresses: one new message
    /// per envelope sender (the original sender, or a list's owner) and
    /// Delivered-To: address (the recipient's, unless
    /// `frozen_delivered_to = no`), as Postfix's forward.c.
    fn send_forward(&mut self) -> Verdict {
        let body = match self.qf.read().and_then(|mut qf| qf.content_bytes(b"\n")) {
            Ok(c) => c,
            Err(e) => return failed("4.3.0", format!("cannot read queue file: {e}")),
        };
        let mut groups: Vec<(&String, &String)> = Vec::new();
        for (sender, delivered, _) in &self.forward {
            if !groups.contains(&(sender, delivered)) {
                groups.push((sender, delivered));
            }
        }
        let mut parts = self.done.clone();
        for (sender, delivered) in groups {
            let mut content = Vec::new();
            if self.s.delivered_to_for.iter().any(|k| k == "forward") {
                content = format!("Delivered-To: {delivered}\n").into_bytes();
            }
            content.extend_from_slice(&body);
            let recipients = self
                .forward
                .iter()
                .filter(|(s, d, _)| s == sender && d == delivered)
                // The recipient's ORCPT goes with each copy, as Postfix's
                // forward.c passes it on.
                .map(|(_, _, a)| ipc::cleanup::Recipient {
                    address: a.clone(),
                    orcpt: self.rcpt.orcpt.clone(),
                    notify: self.forwarded_notify(),
                })
                .collect();
            let (arrival, arrival_usec) = util::time::now_sec_usec();
            let env = ipc::cleanup::Envelope {
                sender: sender.clone(),
                arrival,
                arrival_usec,
                recipients,
                ..ipc::cleanup::Envelope::default()
            };
            let submitted = ipc::cleanup::Client::submit(
                &self.s.cleanup_socket,
                Duration::from_secs(300),
                env,
                &content,
            );
            match submitted {
                Ok((id, ipc::cleanup::Status::Queued, _)) => {
                    parts.push(format!("forwarded as {id}"))
                }
                Ok((_, ipc::cleanup::Status::Discarded, _)) => {
                    parts.push("forwarded (discarded)".into())
                }
                Ok((_, _, text)) => {
                    let dsn = if text.starts_with('5') {
                        "5.3.0"
                    } else {
                        "4.3.0"
                    };
                    return failed(dsn, format!("cannot forward: {text}"));
                }
                Err(e) => return failed("4.3.0", format!("cannot forward: {e}")),
            }
        }
        sent(parts.join(", "))
    }
}

/// Creates an empty mailbox owned by the user, if there is none (as root).
fn create_owned(path: &Path, ids: Ids) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => {
            std::os::unix::fs::fchown(&f, Some(ids.uid), Some(ids.gid))?;
            f.sync_all()
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Expands `$user`, `$home`, `$extension`, `$recipient_delimiter`,
/// `$domain`, `$local`, `$shell` and `${name?text}` in a raw parameter
/// (forward_path, luser_relay, mailbox_command), as local(8) does.
fn expand_attributes(
    text: &str,
    user: &str,
    ext: Option<&str>,
    domain: &str,
    home: Option<&Path>,
    delimiter: &str,
) -> String {
    let local = match ext {
        Some(e) => format!("{user}{}{e}", delimiter.chars().next().unwrap_or('+')),
        None => user.to_string(),
    };
    let home = home.map(|h| h.display().to_string()).unwrap_or_default();
    let lookup = |name: &str| -> Option<(String, bool)> {
        let v = match name {
            "user" => user.to_string(),
            "home" => home.clone(),
            "extension" => ext.unwrap_or("").to_string(),
            "recipient_delimiter" => {
                if ext.is_some() {
                    delimiter
                        .chars()
                        .next()
                        .map(String::from)
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            }
            "domain" => domain.to_string(),
            "local" => local.clone(),
            "recipient" => format!("{local}@{domain}"),
            "shell" => "/bin/sh".to_string(),
            _ => return None,
        };
        Some((v, false))
    };
    params::expand::expand_text(text, &lookup).unwrap_or_else(|_| text.to_string())
}

/// What `$name` in command_execution_directory expands to.
struct ExpansionAttributes<'a> {
    user: &'a str,
    local: &'a str,
    ext: Option<&'a str>,
    domain: &'a str,
    home: Option<&'a str>,
    shell: Option<&'a str>,
}

/// The passwd entry whose rights `ids` are: `user`'s when it has that
/// uid, else the uid's (an include file's owner).
fn user_attr(user: &str, ids: Ids) -> Option<nix::unistd::User> {
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .filter(|u| u.uid.as_raw() == ids.uid)
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(ids.uid))
                .ok()
                .flatten()
        })
}

/// Whether a process with `ids` (this one's when None) could make `dir`
/// its working directory: a directory it may search.
fn enterable(dir: &Path, ids: Option<Ids>) -> std::io::Result<()> {
    use nix::unistd::{faccessat, AccessFlags};
    let _as = match ids.filter(|_| util::privs::is_root()) {
        Some(i) => Some(AsUser::become_user(i).map_err(std::io::Error::other)?),
        None => None,
    };
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    faccessat(
        nix::fcntl::AT_FDCWD,
        dir,
        AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
}

/// `local` split at the first of `delimiters` (Postfix's split_addr):
/// with `owner_request_special = no`, `owner-list` and `list-request` are
/// split at a `-` like any other local part.
fn split_local<'a>(
    local: &'a str,
    delimiters: &str,
    owner_request_special: bool,
) -> (&'a str, Option<&'a str>) {
    let lower = local.to_ascii_lowercase();
    let special = delimiters.contains('-')
        && (lower.starts_with("owner-") || (lower.len() > 8 && lower.ends_with("-request")));
    if !special || owner_request_special {
        return addr::split_delimiter(local, delimiters);
    }
    match local.char_indices().find(|(_, c)| delimiters.contains(*c)) {
        Some((0, _)) | None => (local, None),
        Some((i, c)) => (&local[..i], Some(&local[i + c.len_utf8()..])),
    }
}

/// `value` with each character that `allowed` lacks made '_' (Postfix's
/// command_expansion_filter and forward_expansion_filter).
fn censor(value: &str, allowed: &str) -> String {
    value
        .chars()
        .map(|c| if allowed.contains(c) { c } else { '_' })
        .collect()
}

/// biff: tells the local comsat service (udp `biff`, 512) of new mail,
/// `user@offset` of its `From ` line, as Postfix's local does; nobody
/// need be listening.
fn notify_biff(user: &str, offset: u64) {
    let port = util::socket::service_port("biff", c"udp").unwrap_or(512);
    if let Ok(s) = std::net::UdpSocket::bind(("127.0.0.1", 0)) {
        let _ = s.send_to(format!("{user}@{offset}").as_bytes(), ("127.0.0.1", port));
    }
}

#[cfg(test)]
mod tests {
    use super::{expand_attributes, split_local};
    use std::path::Path;

    #[test]
    fn owner_request_special_keeps_list_names_whole() {
        assert_eq!(split_local("owner-ml", "-", true), ("owner-ml", None));
        assert_eq!(split_local("ml-request", "-", true), ("ml-request", None));
        assert_eq!(split_local("owner-ml", "-", false), ("owner", Some("ml")));
        assert_eq!(
            split_local("ml-request", "+-", false),
            ("ml", Some("request"))
        );
        // Only a '-' delimiter makes them special.
        assert_eq!(split_local("owner-ml", "+", false), ("owner-ml", None));
        assert_eq!(split_local("bob+x", "+", true), ("bob", Some("x")));
        assert_eq!(split_local("postmaster", "-", false), ("postmaster", None));
    }

    #[test]
    fn export_environment_names_values_and_braces() {
        let items: Vec<String> = ["TZ", "LANG=C", "UNSET", "{ SPACED = a b }", "TZ=UTC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let env =
            util::command::environment_list(&items, |n| (n == "TZ").then(|| "Europe/Paris".into()));
        assert_eq!(
            env,
            vec![
                ("LANG".to_string(), "C".to_string()),
                ("SPACED ".to_string(), " a b".to_string()),
                ("TZ".to_string(), "UTC".to_string()),
            ]
        );
    }

    #[test]
    fn forward_path_expansion() {
        let fp = "$home/.forward${recipient_delimiter}${extension}, $home/.forward";
        assert_eq!(
            expand_attributes(
                fp,
                "bob",
                Some("lists"),
                "example.test",
                Some(Path::new("/home/bob")),
                "+"
            ),
            "/home/bob/.forward+lists, /home/bob/.forward"
        );
        assert_eq!(
            expand_attributes(
                fp,
                "bob",
                None,
                "example.test",
                Some(Path::new("/home/bob")),
                "+"
            ),
            "/home/bob/.forward, /home/bob/.forward"
        );
        assert_eq!(
            expand_attributes(
                "postmaster+$user@example.test",
                "ghost",
                None,
                "x",
                None,
                ""
            ),
            "postmaster+ghost@example.test"
        );
    }
}
