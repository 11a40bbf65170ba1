//! What the queue manager does with each message: take it from incoming/
//! (or from deferred/ when it is due), route its recipients, hand them to
//! the delivery agents, then remove it, defer it with backoff, or return
//! it to the sender.

use crate::dispatch::{self, Job};
use crate::feedback::{transport_int, Policy, Windows};
use crate::resolve::{Resolver, Route};
use ipc::delivery::{self, Outcome, Rcpt, RcptResult, Request};
use ipc::trigger;
use params::{table as p, Config};
use queue::logs::{self, Entry, Log};
use queue::HashSpec;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use util::time::now_f64 as now;

/// The queue manager's settings, read once per process.
pub struct Settings {
    pub queue_dir: PathBuf,
    pub hash: HashSpec,
    pub active_limit: usize,
    pub recipient_limit: usize,
    pub process_limit: usize,
    pub run_delay: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub max_lifetime: Duration,
    /// `confirm_delay_cleared`: a sender told of a delay hears of the
    /// delivery too.
    pub confirm_delay_cleared: bool,
    pub bounce_lifetime: Duration,
    pub agent_timeout: Duration,
    pub threads: usize,
    pub bounce_socket: PathBuf,
    /// The address verification service, told what probes found.
    pub verify_socket: PathBuf,
    /// Transports whose mail waits for a flush (`defer_transports`).
    pub defer_transports: Vec<String>,
    cfg: Config,
    /// Each transport's concurrency policy and recipient limit, looked up
    /// once (the configuration does not change within a process).
    transports: std::cell::RefCell<HashMap<String, (Policy, usize)>>,
}

impl Settings {
    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Settings {
        Settings {
            hash: HashSpec::from_config(cfg),
            active_limit: cfg.int(&p::QMGR_MESSAGE_ACTIVE_LIMIT).max(1) as usize,
            recipient_limit: cfg.int(&p::QMGR_MESSAGE_RECIPIENT_LIMIT).max(1) as usize,
            process_limit: cfg.int(&p::DEFAULT_PROCESS_LIMIT).max(1) as usize,
            run_delay: cfg.time(&p::QUEUE_RUN_DELAY).max(Duration::from_secs(1)),
            min_backoff: cfg.time(&p::MINIMAL_BACKOFF_TIME),
            max_backoff: cfg.time(&p::MAXIMAL_BACKOFF_TIME),
            max_lifetime: cfg.time(&p::MAXIMAL_QUEUE_LIFETIME),
            confirm_delay_cleared: cfg.bool(&p::CONFIRM_DELAY_CLEARED),
            bounce_lifetime: cfg.time(&p::BOUNCE_QUEUE_LIFETIME),
            agent_timeout: cfg.time(&p::DAEMON_TIMEOUT).min(Duration::from_secs(3600)),
            threads: (cfg.int(&p::DEFAULT_DESTINATION_CONCURRENCY_LIMIT).max(1) as usize * 2)
                .min(64),
            bounce_socket: queue_dir
                .join("private")
                .join(cfg.str(&p::BOUNCE_SERVICE_NAME)),
            verify_socket: ipc::verify::socket_path(
                &queue_dir,
                cfg.str(&p::ADDRESS_VERIFY_SERVICE_NAME),
            ),
            defer_transports: cfg.list(&p::DEFER_TRANSPORTS),
            queue_dir,
            cfg: cfg.clone(),
            transports: Default::default(),
        }
    }

    /// The transport's concurrency limit and feedback (a dead destination
    /// waits `minimal_backoff_time`, as in Postfix), and its
    /// `_destination_recipient_limit`.
    fn transport(&self, transport: &str) -> (Policy, usize) {
        if let Some(t) = self.transports.borrow().get(transport) {
            return *t;
        }
        let t = (
            Policy::for_transport(&self.cfg, transport, self.min_backoff),
            transport_int(
                &self.cfg,
                transport,
                "_destination_recipient_limit",
                &p::DEFAULT_DESTINATION_RECIPIENT_LIMIT,
            )
            .max(1),
        );
        self.transports
            .borrow_mut()
            .insert(transport.to_string(), t);
        t
    }
}

/// One recipient still to deliver.
struct Pending {
    rcpt: Rcpt,
    route: Result<Route, String>,
    result: Option<(RcptResult, bool)>,
}

/// A message in the active queue.
struct Message {
    id: String,
    path: PathBuf,
    sender: String,
    /// When the delay warning is due (`W`), if one is still to be sent.
    warn_time: Option<u64>,
    /// The delay warning went out (`W` is 0).
    delay_warned: bool,
    arrival: f64,
    active_since: f64,
    recipients: Vec<Pending>,
    waiting: usize,
    /// An address verification probe: its results go to the verify
    /// service, and it is removed after one try, with no notice to anyone.
    probe: bool,
    /// Taken by a flush: it goes to the `defer_transports` too.
    flushed: bool,
    /// VERP delimiters (`V`): each recipient is delivered on its own,
    /// with a sender that names it.
    verp: Option<String>,
    /// It may have defer, bounce or trace logs: it comes from deferred/,
    /// or was in incoming/ when this queue manager started (a crashed one
    /// may have written them). A message cleanup wrote since has none
    /// until this pass writes one, so nothing is looked for or removed.
    logs: bool,
    /// `postsuper -e`/`-f` marked it (the queue file's group execute bit,
    /// Postfix's MAIL_QUEUE_STAT_EXPIRE): it is returned to the sender
    /// now, with no delivery tried.
    force_expired: bool,
    /// `sendmail -bv`: tried as a probe (nothing delivered), and the
    /// sender gets a report of what delivery would do.
    user_verify: bool,
}

pub struct Manager {
    s: Settings,
    resolver: Resolver,
    /// Routes for address verification probes, when they differ.
    probe_resolver: Option<Resolver>,
    recovered: bool,
    /// Messages in incoming/ when this queue manager started (after the
    /// crash recovery): they may have logs.
    inherited: HashSet<String>,
    /// When deferred/ was last scanned: it is again every queue_run_delay,
    /// whether or not anything else wakes the queue manager.
    deferred_scanned: Instant,
    remover: Remover,
    /// The destinations' concurrency windows, from one queue run to the next.
    windows: Windows,
    /// The flow-token pipe (`public/flow`), when `in_flow_delay` is on.
    flow: Option<ipc::flow::Flow>,
    /// What the current queue run was asked to flush.
    flushing: Flushing,
}

/// What a queue run flushes (`postqueue -f`, `-s site`, `-i queue_id`,
/// `sendmail -q`, ETRN): the messages it takes for those go to the
/// `defer_transports` too, as Postfix's flushed files do.
#[derive(Default)]
struct Flushing {
    all: bool,
    sites: Vec<String>,
    ids: HashSet<String>,
}

impl Flushing {
    fn covers(&self, id: &str, recipients: &[Pending]) -> bool {
        self.all
            || self.ids.contains(id)
            || recipients
                .iter()
                .any(|r| at_sites(&r.rcpt.address, &self.sites))
    }
}

/// How long a queue run with deliveries under way waits before it looks
/// at incoming/ again when no delivery finishes (cleanup's wake-ups are
/// read between runs).
const NEW_MAIL_POLL: Duration = Duration::from_millis(100);

/// The messages in the active queue, by slot (a job names its message by
/// slot), and how many recipients they have.
#[derive(Default)]
struct Active {
    slots: slab::Slab<Message>,
    recipients: usize,
}

/// Removes finished queue files (and their logs) on a thread of its own:
/// unlinking a file costs a journal transaction (~1 ms, more under load)
/// that the queue manager's loop need not wait for. A file not removed yet
/// when qmgr stops has every recipient marked done; the next qmgr removes
/// it without delivering anything.
struct Remover {
    tx: Option<std::sync::mpsc::Sender<Removal>>,
    queue_dir: PathBuf,
    hash: HashSpec,
}

impl Remover {
    fn new(queue_dir: PathBuf, hash: HashSpec) -> Remover {
        let (tx, rx) = std::sync::mpsc::channel::<Removal>();
        let (q, h) = (queue_dir.clone(), hash.clone());
        let spawned = std::thread::Builder::new()
            .name("remover".into())
            .spawn(move || {
                for r in rx {
                    remove_finished(&q, &h, &r);
                }
            });
        Remover {
            tx: spawned.ok().map(|_| tx),
            queue_dir,
            hash,
        }
    }

    fn remove(&self, m: &Message) {
        let r = Removal {
            path: m.path.clone(),
            id: m.id.clone(),
            logs: m.logs,
        };
        if let Some(Err(std::sync::mpsc::SendError(r))) = self.tx.as_ref().map(|tx| tx.send(r)) {
            remove_finished(&self.queue_dir, &self.hash, &r);
        }
    }
}

/// A finished message for the remover: its file, and its logs if it may
/// have any.
struct Removal {
    path: PathBuf,
    id: String,
    logs: bool,
}

fn remove_finished(q: &Path, h: &HashSpec, r: &Removal) {
    let id = &r.id;
    match std::fs::remove_file(&r.path) {
        Ok(()) => {
            if r.logs {
                for log in [Log::Defer, Log::Bounce, Log::Trace] {
                    let _ = logs::remove(q, h, log, id);
                }
            }
            maillog::info!("{id}: removed");
        }
        Err(e) => maillog::warning!("{id}: remove: {e}"),
    }
}

/// Whether the queue file at `path` has a recipient not yet done in one
/// of `sites` (domains or address literals, lower case).
fn for_sites(path: &Path, sites: &[String]) -> bool {
    let Ok(qf) = queue::open(path) else {
        return false;
    };
    let found = qf
        .recipients()
        .filter(|r| !r.done)
        .any(|r| at_sites(&r.address, sites));
    found
}

/// Whether `address`'s domain is one of `sites`.
fn at_sites(address: &str, sites: &[String]) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(_, d)| sites.iter().any(|s| s.eq_ignore_ascii_case(d)))
}

/// Postfix's MAIL_QUEUE_STAT_EXPIRE: the group execute bit of a queue file
/// that `postsuper -e` or `-f` marked to be returned now.
const FORCE_EXPIRE: u32 = 0o010;

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Files with queue-ID names under `dir`, through hashed subdirectories.
fn queue_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth > 0 && name.len() == 1 {
            queue_files(&e.path(), depth - 1, out);
        } else if ft.is_file() && queue::is_valid_queue_id(&name) {
            out.push(e.path());
        }
    }
}

/// The flow-token pipe, created when missing; none when `in_flow_delay`
/// is zero (cleanup then never waits).
fn open_flow(cfg: &Config, queue_dir: &Path) -> Option<ipc::flow::Flow> {
    if cfg.time(&p::IN_FLOW_DELAY).is_zero() {
        return None;
    }
    match ipc::flow::Flow::create(queue_dir) {
        Ok(f) => Some(f),
        Err(e) => {
            maillog::warning!("{}: {e}", ipc::flow::path(queue_dir).display());
            None
        }
    }
}

/// The delivery line of a result qmgr reached itself (no agent logged
/// it): an internal transport's, or an agent that could not be reached.
/// Each recipient that has a result, with it, logged first where no agent
/// logged it.
fn logged_results(m: &Message, t: f64) -> impl Iterator<Item = (&Pending, &RcptResult)> {
    m.recipients.iter().filter_map(move |r| {
        let (res, agent_logged) = r.result.as_ref()?;
        if !agent_logged {
            log_result(m, r, res, t);
        }
        Some((r, res))
    })
}

/// A result's text as Postfix's trace log has it (the verify report and
/// success notices): `delivery via RELAY: …`, unless no agent delivered.
fn traced(relay: &str, reason: &str) -> String {
    if relay.is_empty() || relay == "none" {
        reason.to_string()
    } else {
        format!("delivery via {relay}: {reason}")
    }
}

/// The log entry of a recipient's result.
fn entry_for(r: &Pending, res: &RcptResult, action: &str, t: f64) -> Entry {
    Entry {
        recipient: r.rcpt.address.clone(),
        original: r.rcpt.original.clone(),
        orcpt: r.rcpt.orcpt.clone(),
        notify: r.rcpt.notify,
        offset: r.rcpt.offset,
        status: res.dsn.clone(),
        action: action.into(),
        relay: res.relay.clone(),
        reason: res.reason.clone(),
        time: t as u64,
    }
}

/// The log entries of a recipient whose result `entry` is: when an alias
/// or .forward expanded it, one per final destination (of outcome `only`,
/// when given), each "expanded from" the recipient as given, as Postfix's
/// notices and reports list them; else `entry` itself.
fn by_destination(
    r: &Pending,
    res: &RcptResult,
    only: Option<Outcome>,
    entry: Entry,
) -> Vec<Entry> {
    let given = r.rcpt.original.as_ref().unwrap_or(&r.rcpt.address);
    let leaves: Vec<Entry> = res
        .expansions
        .iter()
        .filter(|x| only.is_none_or(|o| x.outcome == o))
        .map(|x| Entry {
            recipient: x.address.clone(),
            original: Some(given.clone()),
            status: x.dsn.clone(),
            reason: x.reason.clone(),
            ..entry.clone()
        })
        .collect();
    if leaves.is_empty() {
        vec![entry]
    } else {
        leaves
    }
}

fn log_result(m: &Message, r: &Pending, res: &RcptResult, t: f64) {
    let req = Request {
        arrival: m.arrival,
        active_since: m.active_since,
        sent_at: t,
        probe: m.probe,
        ..Request::default()
    };
    let orig = match &r.rcpt.original {
        Some(o) if *o != r.rcpt.address => format!(", orig_to=<{}>", maillog::address(o)),
        _ => String::new(),
    };
    maillog::info!(
        "{}: to=<{}>{orig}, relay={}, {}, dsn={}, status={} ({})",
        m.id,
        maillog::address(&r.rcpt.address),
        res.relay,
        delivery::delays(&req, t, t),
        res.dsn,
        res.outcome.status_of(&req),
        res.reason
    );
}

impl Manager {
    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Manager {
        let s = Settings::new(cfg, queue_dir);
        let m = Manager {
            resolver: Resolver::new(cfg),
            probe_resolver: Resolver::for_probes(cfg),
            remover: Remover::new(s.queue_dir.clone(), s.hash.clone()),
            windows: Windows::default(),
            flow: open_flow(cfg, &s.queue_dir),
            s,
            recovered: false,
            inherited: HashSet::new(),
            deferred_scanned: Instant::now(),
            flushing: Flushing::default(),
        };
        // A queue manager that starts has taken nothing in yet: cleanup may go ahead.
        m.flow_update(0, true);
        m
    }

    fn depth_of(&self, queue_name: &str) -> usize {
        if self.s.hash.names.iter().any(|n| n == queue_name) {
            self.s.hash.depth
        } else {
            0
        }
    }

    /// How long until deferred/ is due to be scanned again (the trigger
    /// server wakes the queue manager then, if nothing else does).
    pub fn until_deferred_scan(&self) -> Duration {
        self.s
            .run_delay
            .saturating_sub(self.deferred_scanned.elapsed())
    }

    /// Puts messages left in active/ by a crash back into incoming/, and
    /// notes what incoming/ then holds as [`Manager::inherited`].
    fn recover(&mut self) {
        let mut files = Vec::new();
        queue_files(
            &self.s.queue_dir.join("active"),
            self.depth_of("active"),
            &mut files,
        );
        for f in files {
            let id = file_name(&f);
            match self.s.hash.path(&self.s.queue_dir, "incoming", &id) {
                Ok(to) => {
                    if let Err(e) = std::fs::rename(&f, &to) {
                        maillog::warning!("{id}: move back to incoming: {e}");
                    }
                }
                Err(e) => maillog::warning!("{id}: {e}"),
            }
        }
        let mut inherited = Vec::new();
        queue_files(
            &self.s.queue_dir.join("incoming"),
            self.depth_of("incoming"),
            &mut inherited,
        );
        self.inherited = inherited.iter().map(|f| file_name(f)).collect();
        self.recovered = true;
    }

    /// Queue files in `queue_name`, oldest queue ID first, less those in `skip`.
    fn scan(&self, queue_name: &str, skip: &HashSet<PathBuf>) -> VecDeque<PathBuf> {
        let mut files = Vec::new();
        queue_files(
            &self.s.queue_dir.join(queue_name),
            self.depth_of(queue_name),
            &mut files,
        );
        files.retain(|p| !skip.contains(p));
        files.sort_by_key(|p| file_name(p));
        files.into()
    }

    /// Deferred mail whose retry time has come (all of it when `flush`),
    /// and the messages `ids` names (`postqueue -i`) whether due or not.
    fn scan_deferred(
        &self,
        flush: bool,
        sites: &[String],
        ids: &HashSet<String>,
        skip: &HashSet<PathBuf>,
    ) -> VecDeque<PathBuf> {
        let mut files = self.scan("deferred", skip);
        let t = SystemTime::now();
        files.retain(|p| {
            flush
                || ids.contains(&file_name(p))
                || std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .map(|m| m <= t)
                    .unwrap_or(false)
                || (!sites.is_empty() && for_sites(p, sites))
        });
        files
    }

    /// Postfix's flow control: a token for each message taken from
    /// incoming/, the supply topped up to `default_process_limit` when
    /// there is nothing left to take, and never more than that.
    fn flow_update(&self, fed_incoming: usize, incoming_idle: bool) {
        let Some(flow) = &self.flow else { return };
        let limit = self.s.process_limit;
        let count = flow.count();
        if count < limit {
            if fed_incoming > 0 {
                flow.put(fed_incoming.min(limit - count));
            } else if incoming_idle {
                flow.put(limit - count);
            }
        } else if count > limit {
            flow.get(count - limit);
        }
    }

    /// One queue run: new mail and deferred mail that is due (all of it
    /// when `flush`), until nothing is left to take in and every delivery
    /// has finished. As Postfix's queue manager does, it takes one message
    /// at a time into the active queue (while there are fewer than
    /// `qmgr_message_active_limit` messages and
    /// `qmgr_message_recipient_limit` recipients in it), hands its
    /// recipients to the delivery threads at once, and deals with finished
    /// deliveries in between; incoming/ is looked at again whenever what it
    /// held has been taken in and a delivery finishes. New and deferred
    /// mail take turns; deferred/ is scanned again every `queue_run_delay`
    /// while the run lasts.
    /// A site (`postqueue -s`): deferred mail with a recipient there is
    /// taken now too; a queue ID (`postqueue -i`) names a message made due.
    /// What a flush takes goes to the `defer_transports` too.
    pub fn run(&mut self, req: &trigger::Request) {
        let flush = req.flush();
        let sites = &req.sites[..];
        let deferred_too = req
            .codes
            .iter()
            .any(|b| [trigger::SCAN_DEFERRED, trigger::SCAN_ALL, trigger::WAKEUP].contains(b));
        self.flushing = Flushing {
            all: flush,
            sites: req.sites.clone(),
            ids: req.ids.iter().cloned().collect(),
        };
        if !self.recovered {
            self.recover();
        }
        if flush || !sites.is_empty() {
            // As Postfix's flush request does: dead destinations get
            // another chance now.
            self.windows.revive_all();
        }
        let deferred_too = deferred_too || self.deferred_scanned.elapsed() >= self.s.run_delay;
        if deferred_too || flush {
            self.deferred_scanned = Instant::now();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let private_dir = self.s.queue_dir.join("private");
        let timeout = self.s.agent_timeout;
        let mut pool = dispatch::Pool::new(
            self.s.threads,
            private_dir,
            timeout,
            tx.clone(),
            std::mem::take(&mut self.windows),
        );
        let mut active = Active::default();
        // Files that could not be taken (unreadable, races): not retried
        // until the next run or the next deferred scan.
        let mut skip: HashSet<PathBuf> = HashSet::new();
        let mut incoming: VecDeque<PathBuf> = VecDeque::new();
        let ids = self.flushing.ids.clone();
        let mut deferred: VecDeque<PathBuf> =
            if deferred_too || flush || !sites.is_empty() || !ids.is_empty() {
                self.scan_deferred(flush, sites, &ids, &skip)
            } else {
                VecDeque::new()
            };
        let mut rescan = true;
        let mut prefer_deferred = false;
        loop {
            if self.deferred_scanned.elapsed() >= self.s.run_delay {
                skip.clear();
                let due = self.scan_deferred(false, &[], &HashSet::new(), &skip);
                let known: HashSet<PathBuf> = deferred.iter().cloned().collect();
                deferred.extend(due.into_iter().filter(|p| !known.contains(p)));
                self.deferred_scanned = Instant::now();
            }
            let room = active.slots.len() < self.s.active_limit
                && active.recipients < self.s.recipient_limit;
            if room && incoming.is_empty() && rescan {
                incoming = self.scan("incoming", &skip);
                rescan = false;
            }
            let next = if !room {
                None
            } else if prefer_deferred && !deferred.is_empty() || incoming.is_empty() {
                deferred.pop_front().map(|p| (p, false))
            } else {
                incoming.pop_front().map(|p| (p, true))
            };
            let fed_incoming = match &next {
                Some((_, from_incoming)) => {
                    prefer_deferred = *from_incoming;
                    usize::from(*from_incoming)
                }
                None => 0,
            };
            self.flow_update(fed_incoming, incoming.is_empty());
            if let Some((path, from_incoming)) = next {
                let inherited = from_incoming
                    && !self.inherited.is_empty()
                    && self.inherited.contains(&file_name(&path));
                let logs = !from_incoming || inherited;
                self.take(&path, logs, &mut active, &mut skip, &mut pool);
                if inherited && !skip.contains(&path) {
                    // Out of incoming/ now; deferred/ would say it again.
                    self.inherited.remove(&file_name(&path));
                }
                // Deliveries that finished meanwhile, without waiting.
                while let Ok(done) = rx.try_recv() {
                    self.done(done, &mut active);
                    rescan = true;
                }
                continue;
            }
            if active.slots.is_empty() {
                if rescan {
                    continue;
                }
                break;
            }
            // Nothing to take in now: wait for a delivery to finish, and
            // look at incoming/ again now and then for new mail.
            match rx.recv_timeout(NEW_MAIL_POLL) {
                Ok(done) => {
                    self.done(done, &mut active);
                    while let Ok(done) = rx.try_recv() {
                        self.done(done, &mut active);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            rescan = true;
        }
        drop(tx);
        self.windows = pool.close();
        self.flow_update(0, true);
        self.flushing = Flushing::default();
    }

    /// Takes one file into the active queue and hands its recipients to
    /// the delivery threads.
    fn take(
        &self,
        path: &Path,
        logs: bool,
        active: &mut Active,
        skip: &mut HashSet<PathBuf>,
        pool: &mut dispatch::Pool,
    ) {
        let Some(mut m) = self.activate(path, logs) else {
            skip.insert(path.to_path_buf());
            return;
        };
        self.internal(&mut m);
        let entry = active.slots.vacant_entry();
        let jobs = self.jobs(entry.key(), &mut m);
        if m.waiting == 0 {
            self.finish(m);
            return;
        }
        active.recipients += m.recipients.len();
        entry.insert(m);
        pool.submit(jobs);
    }

    /// A delivery has finished: its results go to the message, which is
    /// dealt with when it has no deliveries left.
    fn done(&self, done: dispatch::Done, active: &mut Active) {
        let Some(m) = active.slots.get_mut(done.message) else {
            return;
        };
        for (i, res) in done.recipients.iter().zip(done.results) {
            m.recipients[*i].result = Some((res, done.agent_logged));
        }
        m.waiting = m.waiting.saturating_sub(1);
        if m.waiting > 0 {
            return;
        }
        if let Some(m) = active.slots.try_remove(done.message) {
            active.recipients = active.recipients.saturating_sub(m.recipients.len());
            self.finish(m);
        }
    }

    /// Moves one file to active/ and reads what is left to deliver.
    /// `logs`: it may have defer, bounce or trace logs.
    fn activate(&self, path: &Path, logs: bool) -> Option<Message> {
        let id = file_name(path);
        let active = self.s.hash.path(&self.s.queue_dir, "active", &id).ok()?;
        let qf = match queue::open(path) {
            Ok(q) => q,
            Err(e) if e.is_corrupt() => {
                let _ = queue::quarantine(&self.s.queue_dir, path, &e.to_string());
                return None;
            }
            Err(e) => {
                maillog::warning!("{id}: {e}");
                return None;
            }
        };
        let force_expired = std::fs::symlink_metadata(path).is_ok_and(|m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & FORCE_EXPIRE != 0
        });
        if let Err(e) = std::fs::rename(path, &active) {
            maillog::warning!("{id}: move to active: {e}");
            return None;
        }
        let env = &qf.envelope;
        let total = qf.recipients().count();
        maillog::info!(
            "{id}: from=<{}>, size={}, nrcpt={total} (queue active)",
            maillog::address(&env.sender),
            qf.size.data_size
        );
        let arrival = env.arrival.sec as f64 + env.arrival.usec as f64 / 1e6;
        let probe = env.attrs.other_value(ipc::cleanup::ADDRESS_VERIFY_PROBE) == Some("yes");
        // Probes may be routed otherwise (address_verify_*).
        let resolver = match (&self.probe_resolver, probe) {
            (Some(r), true) => r,
            _ => &self.resolver,
        };
        let by_sender = resolver.for_sender(&env.sender);
        // What header_checks decided (the extracted segment, last one
        // named) wins over what came with the envelope.
        let attr = |name: &str| {
            qf.extracted
                .attrs
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .or_else(|| env.attrs.other_value(name))
        };
        // content_filter (the entry point's, or a FILTER action's): every
        // recipient goes there first.
        let filter = attr(ipc::cleanup::CONTENT_FILTER).and_then(|v| {
            let route = crate::resolve::filter_route(v);
            if route.is_none() {
                maillog::warning!("{id}: bad content filter \"{v}\"; ignored");
            }
            route
        });
        // REDIRECT: one delivery to that address stands for every
        // recipient (Postfix's queue manager drops the duplicates); the
        // others are done at once.
        let redirect = attr(ipc::cleanup::REDIRECT).map(str::to_string);
        let mut pending = qf.recipients().filter(|r| !r.done).collect::<Vec<_>>();
        if redirect.is_some() && pending.len() > 1 {
            for r in pending.drain(1..) {
                if let Err(e) = queue::mark_done(&active, r.offset) {
                    maillog::warning!("{id}: {e}");
                }
            }
        }
        let recipients = pending
            .into_iter()
            .map(|r| {
                let address = redirect.as_ref().unwrap_or(&r.address);
                let route = by_sender
                    .as_ref()
                    .map_err(|e| e.to_string())
                    .and_then(|by| resolver.resolve(address, by).map_err(|e| e.to_string()))
                    .map(|route| match &filter {
                        // A content filter gets the address as it is.
                        Some((transport, nexthop)) if !route.is_bad_address() => Route {
                            transport: transport.clone(),
                            nexthop: if nexthop.is_empty() {
                                route.nexthop
                            } else {
                                nexthop.clone()
                            },
                            address: None,
                        },
                        _ => route,
                    });
                // The resolver may have followed a routing operator
                // (user%site@ours): that address is delivered to, and the
                // queue file's is logged as orig_to.
                let resolved = route.as_ref().ok().and_then(|r| r.address.clone());
                let moved = redirect.is_some() || resolved.is_some();
                Pending {
                    rcpt: Rcpt {
                        address: resolved.unwrap_or_else(|| address.clone()),
                        original: match moved {
                            true => r.original.clone().or_else(|| Some(r.address.clone())),
                            false => r.original.clone(),
                        },
                        orcpt: r.dsn_orcpt.clone(),
                        notify: r.dsn_notify.map(|n| n.0).unwrap_or(0),
                        offset: r.offset,
                    },
                    route,
                    result: None,
                }
            })
            .collect::<Vec<_>>();
        Some(Message {
            flushed: self.flushing.covers(&id, &recipients),
            id,
            path: active,
            sender: env.sender.clone(),
            verp: env
                .verp_delimiters
                .clone()
                .filter(|_| !env.sender.is_empty()),
            probe,
            logs,
            warn_time: env.warn_time.filter(|w| *w > 0),
            delay_warned: env.warn_time == Some(0),
            arrival,
            active_since: now(),
            recipients,
            waiting: 0,
            force_expired,
            user_verify: env.attrs.other_value(ipc::cleanup::USER_VERIFY) == Some("yes"),
        })
    }

    /// Handles what qmgr decides itself: the error, retry and discard
    /// transports, lookup failures, and the `defer_transports` (until a
    /// flush takes the message).
    fn internal(&self, m: &mut Message) {
        if m.force_expired {
            self.force_expire(m);
            return;
        }
        let held = |route: &Route| !m.flushed && self.s.defer_transports.contains(&route.transport);
        for r in &mut m.recipients {
            let result = match &r.route {
                Ok(route) if held(route) => Some(RcptResult::none(
                    Outcome::Deferred,
                    "4.3.2",
                    "deferred transport",
                )),
                Err(e) => Some(RcptResult::none(
                    Outcome::Deferred,
                    "4.3.0",
                    format!("address resolver failure: {e}"),
                )),
                Ok(route) => match route.transport.as_str() {
                    "error" => {
                        let (dsn, text) = split_dsn(&route.nexthop, "5.0.0");
                        Some(RcptResult::none(Outcome::Bounced, dsn, text))
                    }
                    "retry" => {
                        let (dsn, text) = split_dsn(&route.nexthop, "4.0.0");
                        Some(RcptResult::none(Outcome::Deferred, dsn, text))
                    }
                    "discard" => Some(RcptResult::none(
                        Outcome::Sent,
                        "2.0.0",
                        format!("discarded: {}", route.nexthop),
                    )),
                    _ => None,
                },
            };
            if let Some(res) = result {
                r.result = Some((res, false));
            }
        }
    }

    /// A message `postsuper -e` marked: no recipient is tried. One the
    /// defer log has a reason for keeps it (logged before, so not again);
    /// the others wait with "message is administratively expired", as
    /// Postfix's queue manager has them; [`Manager::finish`] then returns
    /// them all to the sender.
    fn force_expire(&self, m: &mut Message) {
        let earlier = if m.logs {
            logs::read(&self.s.queue_dir, &self.s.hash, Log::Defer, &m.id).unwrap_or_default()
        } else {
            Vec::new()
        };
        for r in &mut m.recipients {
            let known = earlier
                .iter()
                .find(|e| e.offset == r.rcpt.offset && e.recipient == r.rcpt.address);
            r.result = Some(match known {
                Some(e) => (
                    RcptResult {
                        outcome: Outcome::Deferred,
                        dsn: e.status.clone(),
                        relay: e.relay.clone(),
                        reason: e.reason.clone(),
                        success: Default::default(),
                        expansions: Vec::new(),
                    },
                    true,
                ),
                None => (
                    RcptResult::none(
                        Outcome::Deferred,
                        "4.7.0",
                        "message is administratively expired",
                    ),
                    false,
                ),
            });
        }
    }

    /// Groups the agent-bound recipients into jobs.
    fn jobs(&self, index: usize, m: &mut Message) -> Vec<Job> {
        let mut groups: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for i in in_delivery_order(&m.recipients) {
            let r = &m.recipients[i];
            if r.result.is_some() {
                continue;
            }
            if let Ok(route) = &r.route {
                groups
                    .entry((route.transport.clone(), route.nexthop.clone()))
                    .or_default()
                    .push(i);
            }
        }
        let mut jobs = Vec::new();
        let mut keys: Vec<_> = groups.into_iter().collect();
        keys.sort();
        for ((transport, nexthop), idxs) in keys {
            let (policy, limit) = self.s.transport(&transport);
            // VERP: one recipient per delivery, as in Postfix.
            let chunk_size = if m.verp.is_some() { 1 } else { limit };
            for chunk in idxs.chunks(chunk_size) {
                // With one recipient per delivery (local), concurrency is per recipient.
                let destination = if limit == 1 {
                    format!("{transport}:{}", m.recipients[chunk[0]].rcpt.address)
                } else {
                    format!("{transport}:{nexthop}")
                };
                let sender = match &m.verp {
                    Some(delims) => {
                        let r = &m.recipients[chunk[0]].rcpt;
                        // The recipient as first given, which is what the
                        // list knows (Postfix's verp_sender).
                        let named = r.original.as_deref().unwrap_or(&r.address);
                        addr::verp::sender(delims, &m.sender, named)
                    }
                    None => m.sender.clone(),
                };
                let request = Request {
                    queue_id: m.id.clone(),
                    queue_name: "active".into(),
                    sender,
                    probe: m.probe || m.user_verify,
                    user_verify: m.user_verify,
                    nexthop: nexthop.clone(),
                    arrival: m.arrival,
                    active_since: m.active_since,
                    sent_at: now(),
                    recipients: chunk
                        .iter()
                        .map(|i| m.recipients[*i].rcpt.clone())
                        .collect(),
                };
                m.waiting += 1;
                jobs.push(Job {
                    message: index,
                    recipients: chunk.to_vec(),
                    policy,
                    transport: transport.clone(),
                    destination,
                    request,
                });
            }
        }
        jobs
    }

    /// After every recipient has a result: log what qmgr decided itself,
    /// write the defer and bounce logs, return failures, then remove the
    /// message or defer it.
    fn finish(&self, mut m: Message) {
        if m.probe {
            self.finish_probe(&m);
            return;
        }
        if m.user_verify {
            self.finish_user_verify(&m);
            return;
        }
        let t = now();
        let mut deferred = Vec::new();
        let mut bounced = Vec::new();
        let mut delivered = Vec::new();
        // In the order of the deliveries, as the agents append Postfix's
        // defer log.
        for r in in_delivery_order(&m.recipients)
            .into_iter()
            .map(|i| &m.recipients[i])
        {
            let Some((res, agent_logged)) = &r.result else {
                continue;
            };
            if !agent_logged {
                log_result(&m, r, res, t);
                if res.outcome == Outcome::Sent {
                    let _ = queue::mark_done(&m.path, r.rcpt.offset);
                }
            }
            // soft_bounce: an agent applies its own; what qmgr decided
            // itself (the error transport) follows qmgr's.
            let outcome = if *agent_logged {
                res.outcome
            } else {
                res.outcome.softened()
            };
            let action = if outcome == Outcome::Bounced {
                "failed"
            } else {
                "delayed"
            };
            let entry = entry_for(r, res, action, t);
            let wants_success = r.rcpt.notify & ipc::cleanup::notify::SUCCESS != 0;
            // confirm_delay_cleared: told of the delay (NOTIFY unset or
            // with DELAY), told of the delivery, as Postfix's sent() does.
            let wanted_delay =
                r.rcpt.notify == 0 || r.rcpt.notify & ipc::cleanup::notify::DELAY != 0;
            let delay_cleared = self.s.confirm_delay_cleared && m.delay_warned && wanted_delay;
            match (outcome, res.success) {
                // NOTIFY=SUCCESS: the sender gets a delivery report, unless
                // the next server took the request on (it offered DSN).
                (Outcome::Sent, success)
                    if delay_cleared
                        || (wants_success && success != delivery::Success::PassedOn) =>
                {
                    delivered.push(Entry {
                        action: match success {
                            delivery::Success::Relayed => "relayed".into(),
                            delivery::Success::Expanded => "expanded".into(),
                            _ => "delivered".into(),
                        },
                        reason: traced(&res.relay, &res.reason),
                        ..entry
                    })
                }
                (Outcome::Sent, _) => {}
                // (One entry: postqueue -p and the delay warning name the
                // queue file's recipient.)
                (Outcome::Deferred, _) => deferred.push(entry),
                (Outcome::Bounced, _) => {
                    bounced.extend(by_destination(r, res, Some(outcome), entry))
                }
            }
        }
        let q = &self.s.queue_dir;
        let h = &self.s.hash;
        // The defer log holds this attempt's reasons only.
        if m.logs {
            let _ = logs::remove(q, h, Log::Defer, &m.id);
        }
        m.logs |= !deferred.is_empty() || !bounced.is_empty() || !delivered.is_empty();
        if let Err(e) = logs::append(q, h, Log::Defer, &m.id, &deferred) {
            maillog::warning!("{}: {e}", m.id);
        }
        // A failed recipient is done once its entry is in the bounce log
        // (as Postfix does): the notice is owed by the log, and the
        // recipient is never tried again.
        self.log_failures(&m, &bounced);
        let lifetime = if m.sender.is_empty() {
            self.s.bounce_lifetime
        } else {
            self.s.max_lifetime
        };
        if !deferred.is_empty() && (m.force_expired || t - m.arrival >= lifetime.as_secs_f64()) {
            maillog::info!(
                "{}: from=<{}>, status={}, returned to sender",
                m.id,
                maillog::address(&m.sender),
                if m.force_expired {
                    "force-expired"
                } else {
                    "expired"
                }
            );
            let expired: Vec<Entry> = deferred
                .drain(..)
                .map(|e| Entry {
                    action: "failed".into(),
                    ..e
                })
                .collect();
            let _ = logs::remove(q, h, Log::Defer, &m.id);
            self.log_failures(&m, &expired);
        }
        if let Err(e) = logs::append(q, h, Log::Trace, &m.id, &delivered) {
            maillog::warning!("{}: {e}", m.id);
        }
        self.report_successes(&m);
        if !deferred.is_empty() {
            self.warn_if_due(&m);
        }
        let notices_sent = self.return_failures(&m);
        self.dispose(&m, deferred.len(), notices_sent);
    }

    /// An address verification probe has been tried: each recipient's
    /// result goes to the verify service (logged here when no agent did),
    /// and the probe is removed, deferred or not, with no notice.
    fn finish_probe(&self, m: &Message) {
        let t = now();
        let verify = ipc::verify::Client::new(
            self.s.verify_socket.clone(),
            self.s.agent_timeout.min(Duration::from_secs(30)),
        );
        for (r, res) in logged_results(m, t) {
            let status = match res.outcome {
                Outcome::Sent => ipc::verify::Status::Deliverable,
                Outcome::Bounced => ipc::verify::Status::Undeliverable,
                Outcome::Deferred => ipc::verify::Status::Deferred,
            };
            if let Err(e) = verify.update(&r.rcpt.address, status, &res.reason) {
                maillog::warning!("{}: verify service: {e}", m.id);
            }
        }
        self.remover.remove(m);
    }

    /// `sendmail -bv` has been tried: each recipient's result goes to the
    /// trace log ("deliverable" or "undeliverable"; one that must wait
    /// waits, as Postfix's verify report leaves it), the sender gets the
    /// report, and the message is removed once nothing waits.
    fn finish_user_verify(&self, m: &Message) {
        let t = now();
        let (q, h) = (&self.s.queue_dir, &self.s.hash);
        let mut entries = Vec::new();
        let mut waiting = 0;
        for (r, res) in logged_results(m, t) {
            let action = match res.outcome {
                Outcome::Sent => "deliverable",
                Outcome::Bounced => "undeliverable",
                Outcome::Deferred => {
                    waiting += 1;
                    continue;
                }
            };
            let _ = queue::mark_done(&m.path, r.rcpt.offset);
            // The report names the relay; an alias or .forward is
            // reported by each of its destinations.
            let whole = entry_for(r, res, action, t);
            entries.extend(by_destination(r, res, None, whole).into_iter().map(|e| {
                Entry {
                    action: if e.status.starts_with('2') {
                        "deliverable"
                    } else {
                        "undeliverable"
                    }
                    .into(),
                    reason: traced(&e.relay, &e.reason),
                    ..e
                }
            }));
        }
        if let Err(e) = logs::append(q, h, Log::Trace, &m.id, &entries) {
            maillog::warning!("{}: {e}", m.id);
        }
        let notice = delivery::bounce::Notice {
            queue_id: m.id.clone(),
            queue_name: "active".into(),
            kind: delivery::bounce::Kind::Verify,
        };
        let sent = match ask_bounce(&self.s.bounce_socket, &notice, self.s.agent_timeout) {
            Ok(done) if done.ok => {
                let _ = logs::remove(q, h, Log::Trace, &m.id);
                true
            }
            Ok(_) => {
                maillog::warning!("{}: bounce service could not send the verify report", m.id);
                false
            }
            Err(e) => {
                maillog::warning!(
                    "{}: bounce service unavailable for the verify report: {e}",
                    m.id
                );
                false
            }
        };
        self.dispose(m, waiting, sent);
    }

    /// Appends failures to the bounce log, then marks those recipients done.
    fn log_failures(&self, m: &Message, failed: &[Entry]) {
        if failed.is_empty() {
            return;
        }
        if let Err(e) = logs::append(&self.s.queue_dir, &self.s.hash, Log::Bounce, &m.id, failed) {
            // Not logged: the recipients stay to be tried again.
            maillog::warning!("{}: {e}", m.id);
            return;
        }
        for e in failed {
            if let Err(err) = queue::mark_done(&m.path, e.offset) {
                maillog::warning!("{}: mark {} done: {err}", m.id, e.recipient);
            }
        }
    }

    /// Sends the one delay warning (`delay_warning_time`) once it is due,
    /// listing the recipients in the defer log, then marks it sent.
    fn warn_if_due(&self, m: &Message) {
        let Some(due) = m.warn_time else { return };
        if (now() as u64) < due {
            return;
        }
        let notice = delivery::bounce::Notice {
            queue_id: m.id.clone(),
            queue_name: "active".into(),
            kind: delivery::bounce::Kind::Delay,
        };
        match ask_bounce(&self.s.bounce_socket, &notice, self.s.agent_timeout) {
            Ok(done) if done.ok => {
                if let Err(e) = queue::set_warn_time(&m.path, 0) {
                    maillog::warning!("{}: {e}", m.id);
                }
            }
            Ok(_) => maillog::warning!("{}: bounce service could not send the delay warning", m.id),
            Err(e) => maillog::warning!(
                "{}: bounce service unavailable for the delay warning: {e}",
                m.id
            ),
        }
    }

    /// Sends the success notices for NOTIFY=SUCCESS recipients (the trace
    /// log); a failure to do so is logged, the mail itself is delivered.
    fn report_successes(&self, m: &Message) {
        let q = &self.s.queue_dir;
        let h = &self.s.hash;
        if !m.logs || !logs::read(q, h, Log::Trace, &m.id).is_ok_and(|e| !e.is_empty()) {
            return;
        }
        let notice = delivery::bounce::Notice {
            queue_id: m.id.clone(),
            queue_name: "active".into(),
            kind: delivery::bounce::Kind::Success,
        };
        match ask_bounce(&self.s.bounce_socket, &notice, self.s.agent_timeout) {
            Ok(done) if done.ok => {
                let _ = logs::remove(q, h, Log::Trace, &m.id);
            }
            Ok(_) => {
                maillog::warning!("{}: bounce service could not send the success notice", m.id)
            }
            Err(e) => maillog::warning!(
                "{}: bounce service unavailable for the success notice: {e}",
                m.id
            ),
        }
    }

    /// Asks the bounce service to return the recipients in the bounce log.
    /// True when no notice is owed any more (none was, or it went out).
    fn return_failures(&self, m: &Message) -> bool {
        let q = &self.s.queue_dir;
        let h = &self.s.hash;
        if !m.logs {
            return true;
        }
        match logs::read(q, h, Log::Bounce, &m.id) {
            Ok(e) if !e.is_empty() => {}
            _ => return true,
        }
        let notice = delivery::bounce::Notice {
            queue_id: m.id.clone(),
            queue_name: "active".into(),
            kind: delivery::bounce::Kind::Failure,
        };
        match ask_bounce(&self.s.bounce_socket, &notice, self.s.agent_timeout) {
            Ok(done) if done.ok => {
                let _ = logs::remove(q, h, Log::Bounce, &m.id);
                true
            }
            Ok(_) => {
                maillog::warning!(
                    "{}: bounce service could not return the message; will retry",
                    m.id
                );
                false
            }
            Err(e) => {
                maillog::warning!("{}: bounce service unavailable: {e}; will retry", m.id);
                false
            }
        }
    }

    /// Removes a message with nothing left to do, else defers it with
    /// backoff. `left`: recipients still to deliver; `notices_sent`: no
    /// bounce notice is owed (the message stays until it is).
    fn dispose(&self, m: &Message, left: usize, notices_sent: bool) {
        let q = &self.s.queue_dir;
        let h = &self.s.hash;
        let left = if notices_sent { left } else { left.max(1) };
        if left == 0 {
            self.remover.remove(m);
            return;
        }
        let age = (now() - m.arrival).max(0.0);
        let delay = Duration::from_secs_f64(age).clamp(
            self.s.min_backoff,
            self.s.max_backoff.max(self.s.min_backoff),
        );
        let to = match h.path(q, "deferred", &m.id) {
            Ok(p) => p,
            Err(e) => {
                maillog::warning!("{}: {e}", m.id);
                return;
            }
        };
        if let Some(dir) = to.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::rename(&m.path, &to) {
            maillog::warning!("{}: move to deferred: {e}", m.id);
            return;
        }
        let when = SystemTime::now() + delay;
        if let Ok(f) = std::fs::File::options().write(true).open(&to) {
            let _ = f.set_modified(when);
        }
    }
}

/// Splits "5.1.1 text" into its DSN code and text.
/// The recipients' indexes in the order Postfix's qmgr_message_sort gives
/// them: by transport and next hop (the unroutable last), then domain and
/// address; the order of the deliveries, their RCPTs and the logs.
fn in_delivery_order(recipients: &[Pending]) -> Vec<usize> {
    fn queue(r: &Pending) -> Option<(&str, &str)> {
        r.route
            .as_ref()
            .ok()
            .map(|route| (route.transport.as_str(), route.nexthop.as_str()))
    }
    let mut order: Vec<usize> = (0..recipients.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&recipients[a], &recipients[b]);
        let by_queue = match (queue(ra), queue(rb)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_queue.then_with(|| delivery_order(&ra.rcpt.address, &rb.rcpt.address))
    });
    order
}

/// Postfix's qmgr_message_sort_compare past the transport and next hop:
/// the domain (`@` and after, case folded; none last), then the address.
fn delivery_order(a: &str, b: &str) -> std::cmp::Ordering {
    let domain = |x: &str| x.rfind('@').map(|at| x[at..].to_ascii_lowercase());
    match (domain(a), domain(b)) {
        (Some(da), Some(db)) => da.cmp(&db).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn split_dsn(text: &str, default: &str) -> (String, String) {
    let t = text.trim();
    let mut parts = t.splitn(2, ' ');
    let first = parts.next().unwrap_or("");
    let is_dsn = first.split('.').count() == 3
        && first
            .split('.')
            .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
    if is_dsn && first.as_bytes().first() == default.as_bytes().first() {
        (
            first.to_string(),
            parts.next().unwrap_or("").trim().to_string(),
        )
    } else {
        (
            default.to_string(),
            if t.is_empty() {
                "mail delivery disabled".to_string()
            } else {
                t.to_string()
            },
        )
    }
}

fn ask_bounce(
    socket: &Path,
    notice: &delivery::bounce::Notice,
    timeout: Duration,
) -> Result<delivery::bounce::Done, String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let (k, p) = notice.encode();
    ipc::frame::write_frame(&mut s, k, &p).map_err(|e| e.to_string())?;
    match ipc::frame::read_frame(&mut s) {
        Ok(Some((k, p))) => delivery::bounce::Done::decode(k, &p).map_err(|e| e.to_string()),
        Ok(None) => Err("connection closed".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{delivery_order, split_dsn};

    #[test]
    fn recipients_are_delivered_by_domain_then_address() {
        let mut v = vec![
            "zz@b.example",
            "local",
            "aa@B.example",
            "mm@a.example",
            "Zz@b.example",
        ];
        v.sort_by(|a, b| delivery_order(a, b));
        assert_eq!(
            v,
            [
                "mm@a.example",
                "Zz@b.example",
                "aa@B.example",
                "zz@b.example",
                "local"
            ]
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            split_dsn("5.7.1 go away", "5.0.0"),
            ("5.7.1".to_string(), "go away".to_string())
        );
        assert_eq!(
            split_dsn("go away", "5.0.0"),
            ("5.0.0".to_string(), "go away".to_string())
        );
        assert_eq!(
            split_dsn("4.1.1 later", "5.0.0"),
            ("5.0.0".to_string(), "4.1.1 later".to_string())
        );
        assert_eq!(split_dsn("", "5.0.0").1, "mail delivery disabled");
    }
}
