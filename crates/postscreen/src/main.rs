//! NAME
//!   postscreen - mailsuite's SMTP client screen
//!
//! SYNOPSIS
//!   postscreen [generic daemon options] (started by the master)
//!
//! DESCRIPTION
//!   postscreen takes the SMTP port's connections before smtpd does, as
//!   Postfix's postscreen(8) does, and keeps zombies and spam bots away
//!   from the smtpd processes. One process serves every client, each on a
//!   thread of its own, in master.cf's Postfix form:
//!
//!       smtp      inet  n  -  y  -  1  postscreen
//!       smtpd     pass  -  -  y  -  -  smtpd
//!
//!   For each connection ("CONNECT from [ip]:port to [ip]:port"):
//!   * postscreen_access_list (permit_mynetworks, and cidr or other tables
//!     of the client address whose value is permit, reject or dunno): a
//!     permitted client ("ALLOWLISTED [ip]:port") goes to smtpd at once; a
//!     rejected one ("DENYLISTED") fails with postscreen_denylist_action.
//!   * A client that passed every test within their time to live
//!     ("PASS OLD") goes to smtpd at once.
//!   * Otherwise postscreen sends the first line of a multi-line greeting
//!     (`220-` postscreen_greet_banner, unless empty), asks the
//!     postscreen_dnsbl_sites (`domain[=filter][*weight]`) about the
//!     address, and waits postscreen_greet_wait. A client that talks
//!     before its turn fails ("PREGREET N after T from [ip]:port: text",
//!     with postscreen_greet_action); the lists' weights of those that list
//!     the client add up to its score, which at postscreen_dnsbl_threshold
//!     or more fails it ("DNSBL rank N for [ip]:port", with
//!     postscreen_dnsbl_action). What the client sent is only looked at,
//!     never taken: smtpd reads it.
//!   * A client that passed every test ("PASS NEW") is remembered for
//!     postscreen_greet_ttl (postscreen_dnsbl_min_ttl to
//!     postscreen_dnsbl_max_ttl with DNS lists) and handed to smtpd, whose
//!     greeting ends the one postscreen began. A failed test's action:
//!     ignore (the client goes to smtpd anyway, not remembered), enforce
//!     (postscreen talks SMTP itself and refuses every recipient: "550
//!     5.7.1 Service unavailable; client [ip] blocked using list", "550
//!     5.5.1 Protocol error", "550 5.3.2 Service currently unavailable",
//!     logged "NOQUEUE: reject: RCPT from …"), or drop ("521" and
//!     "DISCONNECT [ip]:port").
//!
//!   The client is handed to smtpd over the "pass" service
//!   ($queue_directory/private/$smtpd_service_name) with its open
//!   connection, so smtpd sees the client itself. When no smtpd can be
//!   reached the client gets "421 4.3.2 All server ports are busy".
//!
//!   A client beyond postscreen_client_connection_count_limit connections
//!   at once gets "421 4.7.0 Error: too many connections"; beyond
//!   postscreen_pre_queue_limit clients in all, "421 4.3.2 All screening
//!   ports are busy" (logged as Postfix logs them).
//!
//!   Who passed is kept in postscreen_cache_map (a btree or hash file,
//!   rewritten whole a few seconds after a change: the client address and
//!   when its pass expires), so a restart remembers; with another table
//!   type, or a file outside a chroot jail, only in memory.
//!
//!   Not done as in Postfix: the tests after the greeting (pipelining,
//!   non-SMTP commands, bare newlines) are not made.
//!
//! SECURITY
//!   Reads network input, so it runs as mail_owner (master.cf unpriv `-`),
//!   chrooted where master.cf says. It only looks at what a client sends
//!   before the greeting, and parses commands only when enforcing (to
//!   refuse them). DNS lists are asked through the resolver set up before
//!   the privilege drop.
//!
//! CONFIGURATION PARAMETERS
//!   postscreen_access_list, mynetworks, postscreen_denylist_action,
//!   postscreen_greet_banner, postscreen_greet_wait, postscreen_greet_action,
//!   postscreen_greet_ttl, postscreen_dnsbl_sites, postscreen_dnsbl_threshold,
//!   postscreen_dnsbl_action, postscreen_dnsbl_min_ttl,
//!   postscreen_dnsbl_max_ttl, postscreen_dnsbl_timeout,
//!   postscreen_command_time_limit, postscreen_command_count_limit,
//!   postscreen_disable_vrfy_command, postscreen_pre_queue_limit,
//!   postscreen_client_connection_count_limit, postscreen_cache_map,
//!   smtpd_service_name, myhostname,
//!   dns_resolver_address (mailsuite extension).
//!
//! FILES
//!   $queue_directory/private/$smtpd_service_name (the pass service).

use params::{table as p, Config};
use server::{Client, Context, Service, SingleService};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a failed test makes postscreen do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Ignore,
    Enforce,
    Drop,
}

impl Action {
    fn parse(name: &str, value: &str) -> Action {
        match value.trim().to_ascii_lowercase().as_str() {
            "ignore" | "" => Action::Ignore,
            "enforce" => Action::Enforce,
            "drop" => Action::Drop,
            other => {
                maillog::warning!("{name}: unknown action \"{other}\"; using ignore");
                Action::Ignore
            }
        }
    }
}

/// A test the client failed, and what follows.
#[derive(Debug, Clone)]
struct Failure {
    action: Action,
    /// The reply to every recipient when enforcing.
    enforce_reply: String,
    /// The reply before dropping.
    drop_reply: &'static str,
}

/// One of postscreen_dnsbl_sites.
#[derive(Debug, Clone)]
struct Site {
    entry: dns::list::Entry,
    weight: i64,
}

impl Site {
    /// `domain[=filter][*weight]`.
    fn parse(text: &str) -> Option<Site> {
        let (list, weight) = match text.rsplit_once('*') {
            Some((l, w)) => (l, w.trim().parse().ok()?),
            None => (text, 1),
        };
        Some(Site {
            entry: dns::list::Entry::parse(list.trim())?,
            weight,
        })
    }
}

/// An entry of postscreen_access_list.
enum Access {
    Mynetworks,
    Table(Box<dyn maps::Map>),
}

struct Settings {
    myhostname: String,
    banner: String,
    greet_wait: Duration,
    greet_action: Action,
    greet_ttl: Duration,
    denylist_action: Action,
    sites: Vec<Site>,
    threshold: i64,
    dnsbl_action: Action,
    dnsbl_min_ttl: Duration,
    dnsbl_max_ttl: Duration,
    dnsbl_timeout: Duration,
    command_time_limit: Duration,
    command_count_limit: usize,
    vrfy_disabled: bool,
    /// postscreen_pre_queue_limit: clients in the tests at once.
    pre_queue_limit: usize,
    /// postscreen_client_connection_count_limit (0: none).
    per_client_limit: usize,
    access: Vec<Access>,
    mynetworks: maps::hosts::HostList,
    smtpd_socket: PathBuf,
}

impl Settings {
    fn new(cfg: &Config, queue_dir: PathBuf) -> Settings {
        let action = |param: &params::Param| Action::parse(param.name, cfg.str(param));
        let ctx = maps::Ctx::new();
        let access = cfg
            .list(&p::POSTSCREEN_ACCESS_LIST)
            .into_iter()
            .filter_map(|item| {
                if item == "permit_mynetworks" {
                    return Some(Access::Mynetworks);
                }
                match maps::open(&item, &ctx) {
                    Ok(m) => Some(Access::Table(m)),
                    Err(e) => {
                        maillog::warning!("postscreen_access_list: {item}: {e}");
                        None
                    }
                }
            })
            .collect();
        let sites = cfg
            .list(&p::POSTSCREEN_DNSBL_SITES)
            .into_iter()
            .filter_map(|s| {
                let site = Site::parse(&s);
                if site.is_none() {
                    maillog::warning!("postscreen_dnsbl_sites: malformed entry \"{s}\"; ignored");
                }
                site
            })
            .collect();
        let (mynetworks, bad) =
            maps::hosts::HostList::parse(&cfg.list(&p::MYNETWORKS), "mynetworks");
        for b in bad {
            maillog::warning!("{}", b.0);
        }
        Settings {
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            banner: cfg.str(&p::POSTSCREEN_GREET_BANNER).trim().to_string(),
            greet_wait: cfg.time(&p::POSTSCREEN_GREET_WAIT),
            greet_action: action(&p::POSTSCREEN_GREET_ACTION),
            greet_ttl: cfg.time(&p::POSTSCREEN_GREET_TTL),
            denylist_action: action(&p::POSTSCREEN_DENYLIST_ACTION),
            sites,
            threshold: cfg.int(&p::POSTSCREEN_DNSBL_THRESHOLD),
            dnsbl_action: action(&p::POSTSCREEN_DNSBL_ACTION),
            dnsbl_min_ttl: cfg.time(&p::POSTSCREEN_DNSBL_MIN_TTL),
            dnsbl_max_ttl: cfg.time(&p::POSTSCREEN_DNSBL_MAX_TTL),
            dnsbl_timeout: cfg.time(&p::POSTSCREEN_DNSBL_TIMEOUT),
            command_time_limit: cfg.time(&p::POSTSCREEN_COMMAND_TIME_LIMIT),
            command_count_limit: cfg.int(&p::POSTSCREEN_COMMAND_COUNT_LIMIT).max(1) as usize,
            vrfy_disabled: cfg.bool(&p::POSTSCREEN_DISABLE_VRFY_COMMAND),
            pre_queue_limit: cfg.int(&p::POSTSCREEN_PRE_QUEUE_LIMIT).max(1) as usize,
            per_client_limit: cfg.int(&p::POSTSCREEN_CLIENT_CONNECTION_COUNT_LIMIT).max(0) as usize,
            access,
            mynetworks,
            smtpd_socket: queue_dir
                .join("private")
                .join(cfg.str(&p::SMTPD_SERVICE_NAME)),
        }
    }

    /// The access list's verdict for `ip`: Some(true) permit, Some(false)
    /// reject, None neither.
    fn access(&self, ip: IpAddr) -> Option<bool> {
        let text = ip.to_string();
        for a in &self.access {
            match a {
                Access::Mynetworks => {
                    if self.mynetworks.matches("", Some(ip)) {
                        return Some(true);
                    }
                }
                Access::Table(m) => match m.lookup(&text) {
                    Ok(Some(v)) => match v.trim().to_ascii_lowercase().as_str() {
                        "permit" => return Some(true),
                        "reject" => return Some(false),
                        "dunno" => {}
                        other => maillog::warning!(
                            "postscreen_access_list: {}: unknown action \"{other}\" for {text}",
                            m.spec()
                        ),
                    },
                    Ok(None) => {}
                    Err(e) => maillog::warning!("postscreen_access_list: {}: {e}", m.spec()),
                },
            }
        }
        None
    }
}

/// Where the clients that passed are kept between runs: the indexed file
/// of postscreen_cache_map (`btree:` or `hash:`), rewritten whole (temp
/// file, fsync, rename) at most every [`CACHE_SAVE_DELAY`] when it changed.
/// Each entry is the client address and, in seconds since the epoch, the
/// time its pass expires.
struct CacheFile {
    db: PathBuf,
    sorted: bool,
}

/// How long a change to the cache waits before it is saved.
const CACHE_SAVE_DELAY: Duration = Duration::from_secs(5);

impl CacheFile {
    /// From postscreen_cache_map; None (with a warning) for a table type
    /// that cannot be written, or a file a chrooted postscreen cannot reach.
    fn from_config(cfg: &Config, chrooted: bool, queue_dir: &std::path::Path) -> Option<CacheFile> {
        let spec = cfg.str(&p::POSTSCREEN_CACHE_MAP).trim().to_string();
        if spec.is_empty() {
            return None;
        }
        let bare = spec.trim_start_matches("proxy:");
        let (kind, name) = match maps::split_spec(bare) {
            Ok((k @ ("btree" | "hash"), n)) => (k, n),
            _ => {
                maillog::warning!(
                    "postscreen_cache_map: {spec}: only btree and hash tables are kept; the cache is in memory only"
                );
                return None;
            }
        };
        let mut db = maps::indexed::db_path(name);
        if chrooted {
            // Inside the jail the queue directory is "/".
            let inside = db
                .strip_prefix(cfg.path(&p::QUEUE_DIRECTORY))
                .ok()
                .map(|rest| queue_dir.join(rest));
            match inside {
                Some(p) => db = p,
                None => {
                    maillog::warning!(
                        "postscreen_cache_map: {} is outside the chroot jail; the cache is in memory only",
                        db.display()
                    );
                    return None;
                }
            }
        }
        Some(CacheFile {
            db,
            sorted: kind == "btree",
        })
    }

    /// The passes still valid in the file (before the chroot).
    fn load(path: &std::path::Path) -> HashMap<IpAddr, SystemTime> {
        let now = SystemTime::now();
        let entries = maps::indexed::read_existing(path).unwrap_or_else(|e| {
            maillog::warning!("postscreen_cache_map: {e}");
            Vec::new()
        });
        entries
            .into_iter()
            .filter_map(|(k, v)| {
                let ip: IpAddr = k.parse().ok()?;
                let until = UNIX_EPOCH + Duration::from_secs(v.trim().parse().ok()?);
                (until > now).then_some((ip, until))
            })
            .collect()
    }

    fn save(&self, passed: &HashMap<IpAddr, SystemTime>) {
        let now = SystemTime::now();
        let entries = passed
            .iter()
            .filter(|(_, until)| **until > now)
            .filter_map(|(ip, until)| {
                let secs = until.duration_since(UNIX_EPOCH).ok()?.as_secs();
                Some((ip.to_string(), secs.to_string()))
            })
            .collect();
        let opts = maps::indexed::WriteOptions {
            sorted: self.sorted,
            mode: 0o600,
            duplicates: maps::indexed::Duplicates::Ignore,
        };
        if let Err(e) =
            maps::indexed::write(&self.db, entries, &opts, &|w| maillog::warning!("{w}"))
        {
            maillog::warning!("postscreen_cache_map: {e}");
        }
    }
}

/// What every client thread shares.
struct Shared {
    s: Settings,
    /// One resolver, one question at a time (it is not shared otherwise).
    resolver: Option<Mutex<dns::Resolver>>,
    /// Clients that passed every test, until when.
    passed: Mutex<HashMap<IpAddr, SystemTime>>,
    /// The cache changed since it was last saved.
    dirty: AtomicBool,
    /// The clients being screened now, by address.
    screening: Mutex<HashMap<IpAddr, usize>>,
}

/// A client's place among those being screened, given back when dropped.
struct Place<'a> {
    shared: &'a Shared,
    ip: IpAddr,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut screening = self
            .shared
            .screening
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = screening.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                screening.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    /// A place for a client from `ip`, or the refusal when postscreen has
    /// as many as postscreen_pre_queue_limit, or that client as many as
    /// postscreen_client_connection_count_limit.
    /// The refusal is the log line (after the client's name) and the reply.
    fn place(&self, ip: IpAddr) -> Result<Place<'_>, (&'static str, &'static str)> {
        let mut screening = self.screening.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = screening.values().sum();
        let mine = screening.get(&ip).copied().unwrap_or(0);
        if total >= self.s.pre_queue_limit {
            return Err((
                "reject: connect from {}: all screening ports busy",
                "421 4.3.2 All screening ports are busy",
            ));
        }
        if self.s.per_client_limit > 0 && mine >= self.s.per_client_limit {
            return Err((
                "NOQUEUE: reject: CONNECT from {}: too many connections",
                "421 4.7.0 Error: too many connections",
            ));
        }
        *screening.entry(ip).or_default() += 1;
        Ok(Place { shared: self, ip })
    }

    fn passed_before(&self, ip: IpAddr) -> bool {
        let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        match passed.get(&ip) {
            Some(until) if *until > SystemTime::now() => true,
            Some(_) => {
                passed.remove(&ip);
                false
            }
            None => false,
        }
    }

    fn remember(&self, ip: IpAddr, ttl: Duration) {
        let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now();
        if passed.len() > 100_000 {
            passed.retain(|_, until| *until > now);
        }
        passed.insert(ip, now + ttl);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Saves the cache when it changed, every [`CACHE_SAVE_DELAY`], on a
    /// thread of its own.
    fn keep_saving(self: &Arc<Self>, file: CacheFile) {
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("cache".into())
            .spawn(move || loop {
                std::thread::sleep(CACHE_SAVE_DELAY);
                if shared.dirty.swap(false, Ordering::Relaxed) {
                    let copy = shared
                        .passed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    file.save(&copy);
                }
            });
        if let Err(e) = spawned {
            maillog::warning!("postscreen_cache_map: cannot start the saving thread: {e}");
        }
    }

    /// The DNS list score of `ip`, asked on a thread of its own; None when
    /// no list is set.
    fn ask_lists(self: &Arc<Self>, ip: IpAddr) -> Option<std::sync::mpsc::Receiver<(i64, String)>> {
        if self.s.sites.is_empty() {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(self);
        std::thread::spawn(move || {
            let Some(resolver) = &shared.resolver else {
                return;
            };
            let resolver = resolver.lock().unwrap_or_else(|e| e.into_inner());
            let key = dns::list::reversed(ip);
            let (mut score, mut worst, mut worst_weight) = (0, String::new(), i64::MIN);
            for site in &shared.s.sites {
                let listed = match resolver.list_entry(&site.entry.query(&key)) {
                    Ok(Some(answer)) => site.entry.listed(&answer),
                    Ok(None) => false,
                    Err(e) => {
                        maillog::warning!(
                            "dnsblog_query: lookup error for DNS query {}: {e}",
                            site.entry.query(&key)
                        );
                        false
                    }
                };
                if listed {
                    score += site.weight;
                    if site.weight > worst_weight {
                        worst_weight = site.weight;
                        worst = site.entry.zone.clone();
                    }
                }
            }
            let _ = tx.send((score, worst));
        });
        Some(rx)
    }
}

/// `[ip]:port`, as postscreen names a client.
fn bracketed(a: SocketAddr) -> String {
    format!("[{}]:{}", a.ip(), a.port())
}

/// The printable start of what a client sent, `\r\n` and all, as Postfix
/// logs a pregreet.
fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(100) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push('?'),
        }
    }
    out
}

fn elapsed(since: Instant) -> String {
    format!("{:.2}", since.elapsed().as_secs_f64())
}

/// One client, from connect to smtpd or goodbye.
fn screen(shared: Arc<Shared>, stream: TcpStream) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let s = &shared.s;
    let who = bracketed(peer);
    maillog::info!("CONNECT from {who} to {}", bracketed(local));
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer.ip()),
        v4 => v4,
    };
    let _place = match shared.place(ip) {
        Ok(p) => p,
        Err((line, reply)) => {
            maillog::info!("{}", line.replace("{}", &who));
            let _ = (&stream).write_all(format!("{reply}\r\n").as_bytes());
            return;
        }
    };
    let mut failures: Vec<Failure> = Vec::new();
    match s.access(ip) {
        Some(true) => {
            maillog::info!("ALLOWLISTED {who}");
            return pass(s, stream, &who);
        }
        Some(false) => {
            maillog::info!("DENYLISTED {who}");
            failures.push(Failure {
                action: s.denylist_action,
                enforce_reply: "550 5.3.2 Service currently unavailable".into(),
                drop_reply: "521 5.3.2 Service currently unavailable",
            });
        }
        None => {}
    }
    if failures.is_empty() && shared.passed_before(ip) {
        maillog::info!("PASS OLD {who}");
        return pass(s, stream, &who);
    }
    let started = Instant::now();
    let teaser = !s.banner.is_empty();
    if teaser
        && (&stream)
            .write_all(format!("220-{}\r\n", s.banner).as_bytes())
            .is_err()
    {
        return;
    }
    let lists = shared.ask_lists(ip);
    // Before its turn a client sends nothing: look (without taking it) at
    // whatever comes within the greet wait.
    let _ = stream.set_read_timeout(Some(s.greet_wait));
    let mut buf = [0u8; 512];
    match stream.peek(&mut buf) {
        Ok(0) => {
            maillog::info!(
                "HANGUP after {} from {who} in tests before SMTP handshake",
                elapsed(started)
            );
            maillog::info!("DISCONNECT {who}");
            return;
        }
        Ok(n) => {
            maillog::info!(
                "PREGREET {n} after {} from {who}: {}",
                elapsed(started),
                printable(&buf[..n])
            );
            failures.push(Failure {
                action: s.greet_action,
                enforce_reply: "550 5.5.1 Protocol error".into(),
                drop_reply: "521 5.5.1 Protocol error",
            });
        }
        Err(_) => {}
    }
    let mut ttl = s.greet_ttl;
    if let Some(rx) = lists {
        let wait = s
            .greet_wait
            .max(s.dnsbl_timeout)
            .saturating_sub(started.elapsed());
        match rx.recv_timeout(wait) {
            Ok((score, zone)) if score >= s.threshold => {
                maillog::info!("DNSBL rank {score} for {who}");
                failures.push(Failure {
                    action: s.dnsbl_action,
                    enforce_reply: format!(
                        "550 5.7.1 Service unavailable; client [{ip}] blocked using {zone}"
                    ),
                    drop_reply: "521 5.7.1 Service unavailable",
                });
            }
            Ok(_) => ttl = ttl.min(s.dnsbl_max_ttl).max(s.dnsbl_min_ttl),
            Err(_) => maillog::warning!("DNS lists: no answer for {who} in time"),
        }
    }
    let worst = failures.iter().max_by_key(|f| f.action).cloned();
    match worst {
        None => {
            maillog::info!("PASS NEW {who}");
            shared.remember(ip, ttl);
            pass(s, stream, &who);
        }
        Some(f) if f.action == Action::Ignore => pass(s, stream, &who),
        Some(f) if f.action == Action::Drop => {
            let _ = (&stream).write_all(format!("{}\r\n", f.drop_reply).as_bytes());
            maillog::info!("DISCONNECT {who}");
        }
        Some(f) => {
            enforce(s, stream, &who, teaser, &f.enforce_reply);
            maillog::info!("DISCONNECT {who}");
        }
    }
}

/// Hands the client to smtpd over the pass service.
fn pass(s: &Settings, stream: TcpStream, who: &str) {
    use std::os::fd::AsRawFd;
    let sent = std::os::unix::net::UnixStream::connect(&s.smtpd_socket)
        .and_then(|via| util::socket::send_fd(&via, stream.as_raw_fd()));
    if let Err(e) = sent {
        maillog::warning!("cannot pass {who} to {}: {e}", s.smtpd_socket.display());
        maillog::info!("NOQUEUE: reject: CONNECT from {who}: all server ports busy");
        let _ = (&stream).write_all(b"421 4.3.2 All server ports are busy\r\n");
    }
}

/// postscreen's own SMTP for a client that failed with `enforce`: every
/// recipient gets `reply`.
fn enforce(s: &Settings, stream: TcpStream, who: &str, teaser: bool, reply: &str) {
    let _ = stream.set_read_timeout(Some(s.command_time_limit));
    let mut out = &stream;
    let greeting = if teaser {
        format!("220 {}\r\n", s.banner)
    } else {
        format!("220 {} ESMTP\r\n", s.myhostname)
    };
    if out.write_all(greeting.as_bytes()).is_err() {
        return;
    }
    let mut input = BufReader::new(&stream);
    let (mut helo, mut sender) = (String::new(), None::<String>);
    let mut proto = "SMTP";
    for _ in 0..s.command_count_limit {
        let mut line = Vec::new();
        match input.by_ref().take(4096).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                helo = arg.trim().to_string();
                proto = "ESMTP";
                format!(
                    "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME",
                    s.myhostname
                )
            }
            "HELO" => {
                helo = arg.trim().to_string();
                format!("250 {}", s.myhostname)
            }
            "MAIL" => {
                sender = Some(address_of(arg));
                "250 2.1.0 Ok".into()
            }
            "RCPT" if sender.is_none() => "503 5.5.1 Error: need MAIL command".into(),
            "RCPT" => {
                maillog::info!(
                    "NOQUEUE: reject: RCPT from {who}: {reply}; from=<{}>, to=<{}>, proto={proto}, helo=<{helo}>",
                    sender.as_deref().unwrap_or(""),
                    address_of(arg)
                );
                reply.to_string()
            }
            "DATA" | "BDAT" => "554 5.5.1 Error: no valid recipients".into(),
            "RSET" => {
                sender = None;
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "VRFY" if s.vrfy_disabled => "502 5.5.1 VRFY command is disabled".into(),
            "VRFY" => reply.to_string(),
            "QUIT" => {
                let _ = out.write_all(b"221 2.0.0 Bye\r\n");
                return;
            }
            _ => "502 5.5.2 Error: command not recognized".into(),
        };
        if out.write_all(format!("{answer}\r\n").as_bytes()).is_err() {
            return;
        }
    }
    let _ = out.write_all(b"421 4.7.0 Error: too many commands\r\n");
}

/// The address in `FROM:<a@b> …` / `TO:<a@b>`.
fn address_of(arg: &str) -> String {
    let rest = arg.split_once(':').map_or(arg, |(_, r)| r).trim_start();
    match rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((a, _)) => a.to_string(),
        None => rest.split_whitespace().next().unwrap_or("").to_string(),
    }
}

#[derive(Default)]
struct Postscreen {
    shared: Option<Arc<Shared>>,
    cache: Option<CacheFile>,
}

impl Service for Postscreen {
    fn requires_unprivileged(&self) -> bool {
        true
    }

    fn long_running(&self) -> bool {
        true
    }

    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        let s = Settings::new(&ctx.config, ctx.queue_dir());
        // The resolver reads /etc/resolv.conf now, before any chroot.
        let resolver = if s.sites.is_empty() {
            None
        } else {
            match dns::Resolver::new(dns::Options {
                server: dns::parse_server(ctx.config.str(&p::DNS_RESOLVER_ADDRESS)),
                ..dns::Options::default()
            }) {
                Ok(r) => Some(Mutex::new(r)),
                Err(e) => {
                    maillog::warning!("DNS lists: {e}; postscreen_dnsbl_sites is not used");
                    None
                }
            }
        };
        let cache = CacheFile::from_config(&ctx.config, ctx.chrooted(), &ctx.queue_dir());
        // Read before the chroot, where the file is under its full name.
        let passed = match &cache {
            Some(_) => {
                let spec = ctx.config.str(&p::POSTSCREEN_CACHE_MAP);
                let bare = spec.trim().trim_start_matches("proxy:");
                maps::split_spec(bare)
                    .map(|(_, name)| CacheFile::load(&maps::indexed::db_path(name)))
                    .unwrap_or_default()
            }
            None => HashMap::new(),
        };
        let shared = Arc::new(Shared {
            s,
            resolver,
            passed: Mutex::new(passed),
            dirty: AtomicBool::new(false),
            screening: Mutex::new(HashMap::new()),
        });
        self.cache = cache;
        self.shared = Some(shared);
        Ok(())
    }

    fn post_jail(&mut self, _ctx: &Context) -> Result<(), server::HookError> {
        if let (Some(shared), Some(cache)) = (&self.shared, self.cache.take()) {
            shared.keep_saving(cache);
        }
        Ok(())
    }
}

impl SingleService for Postscreen {
    /// Each client gets a thread; the next connection is taken at once.
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let (Some(shared), Client::Tcp(stream)) = (self.shared.clone(), client) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || screen(shared, stream));
        if let Err(e) = spawned {
            maillog::warning!("cannot start a thread for a client: {e}");
        }
    }
}

fn main() {
    server::single_server("postscreen", Postscreen::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn sites_parse_with_filters_and_weights() {
        let s = Site::parse("zen.example=127.0.0.[2..11]*3").expect("site");
        assert_eq!((s.entry.zone.as_str(), s.weight), ("zen.example", 3));
        assert!(s.entry.listed(&[Ipv4Addr::new(127, 0, 0, 4)]));
        let s = Site::parse("wl.example*-2").expect("allow list");
        assert_eq!(s.weight, -2);
        assert_eq!(Site::parse("bl.example").expect("plain").weight, 1);
        assert!(Site::parse("bl.example*x").is_none());
    }

    #[test]
    fn addresses_and_pregreets_are_shown_as_postfix_shows_them() {
        assert_eq!(address_of("FROM:<a@b.example> SIZE=10"), "a@b.example");
        assert_eq!(address_of("TO:<>"), "");
        assert_eq!(printable(b"EHLO x\r\n\x01"), "EHLO x\\r\\n?");
        assert!(Action::Drop > Action::Enforce && Action::Enforce > Action::Ignore);
    }
}
