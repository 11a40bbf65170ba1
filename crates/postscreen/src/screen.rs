//! One client, from connect to smtpd or goodbye, on a thread of its own.

use crate::cache::{Cache, Passes};
use crate::engine::{read_line, smtp, wire, Link, Mode};
use crate::lists::Lists;
use crate::settings::{Action, Failure, Settings};
use maps::footer::Footer;
use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a client may wait for an smtpd to take it.
const PASS_TIMEOUT: Duration = Duration::from_secs(10);

/// What every client thread shares.
pub struct Shared {
    pub s: Settings,
    /// STARTTLS in postscreen's own SMTP, where offered.
    pub tls: Option<tls::ServerTls>,
    pub cache: Arc<Cache>,
    pub lists: Option<Lists>,
    /// Connections open now, by client address.
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Clients in the tests now (postscreen_pre_queue_limit).
    pub in_tests: AtomicUsize,
    /// Clients being handed to smtpd now (postscreen_post_queue_limit).
    handing_off: AtomicUsize,
}

impl Shared {
    pub fn new(
        s: Settings,
        tls: Option<tls::ServerTls>,
        cache: Arc<Cache>,
        lists: Option<Lists>,
    ) -> Shared {
        Shared {
            s,
            tls,
            cache,
            lists,
            per_client: Mutex::new(HashMap::new()),
            in_tests: AtomicUsize::new(0),
            handing_off: AtomicUsize::new(0),
        }
    }

    /// A connection of `ip`'s, counted until dropped; None beyond
    /// postscreen_client_connection_count_limit.
    fn connection(&self, ip: IpAddr) -> Option<Counted<'_>> {
        let mut per = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let mine = per.entry(ip).or_default();
        if self.s.per_client_limit > 0 && *mine >= self.s.per_client_limit {
            if *mine == 0 {
                per.remove(&ip);
            }
            return None;
        }
        *mine += 1;
        Some(Counted { shared: self, ip })
    }
}

/// One of a client's open connections.
struct Counted<'a> {
    shared: &'a Shared,
    ip: IpAddr,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        let mut per = self
            .shared
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.ip);
            }
        }
    }
}

/// A place counted in `count` until dropped; None when `count` is at
/// `limit` already.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(count: &'a AtomicUsize, limit: usize) -> Option<Slot<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `[ip]:port`, as postscreen names a client.
fn bracketed(a: SocketAddr) -> String {
    format!("[{}]:{}", a.ip(), a.port())
}

/// The printable start of what a client sent, `\r\n` and all, as Postfix
/// logs a pregreet.
pub fn printable(bytes: &[u8]) -> String {
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

pub fn elapsed(since: Instant) -> String {
    format!("{:.2}", since.elapsed().as_secs_f64())
}

/// Sends one reply (a 4XX or 5XX one with `footer`, when there is one).
fn say(stream: &TcpStream, line: &str, footer: Option<&Footer>) -> bool {
    let mut out = stream;
    out.write_all(wire(line, footer).as_bytes()).is_ok()
}

/// Screens one client. The order is Postfix's: the per-client and
/// post-queue limits, the access list, the cache, the allowlist veto
/// (postscreen_allowlist_interfaces), then the pre-queue limit for those
/// that go through the tests: the pregreet wait and the DNS lists (before
/// the greeting), then, when enabled (or vetoed), the tests after it in
/// postscreen's own SMTP.
pub fn screen(shared: Arc<Shared>, stream: TcpStream) {
    let (Ok(mut peer), Ok(mut local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let s = &shared.s;
    // Behind a proxy (postscreen_upstream_proxy_protocol), the client is
    // the one its header names.
    if let Some(timeout) = s.upstream_proxy {
        match haproxy::read(&stream, timeout) {
            Ok(haproxy::Proxied {
                source: Some(source),
                dest,
            }) => {
                peer = source;
                local = dest.unwrap_or(local);
            }
            Ok(_) => {}
            Err(e) => {
                maillog::warning!("haproxy read: {e} from {}", bracketed(peer));
                // Before the client is known: no footer, as in Postfix.
                say(&stream, "421 4.3.2 No system resources", None);
                return;
            }
        }
    }
    // An IPv4 client as such, whether the socket or a header named it in
    // IPv6 form.
    let unmapped = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (peer, local) = (unmapped(peer), unmapped(local));
    let who = bracketed(peer);
    // What smtpd is told with the connection: the client screened here.
    let endpoints = haproxy::v1_header(peer, local);
    // postscreen_reject_footer's $client_address, $client_port and
    // $server_name (Postfix's postscreen has no $client_name).
    let footer = s.footer.as_ref().map(|f| {
        Footer::new(
            Arc::clone(f),
            vec![
                ("client_address", peer.ip().to_string()),
                ("client_port", peer.port().to_string()),
                ("server_name", s.myhostname.clone()),
            ],
        )
    });
    let footer = footer.as_ref();
    let hand_off = |stream, teaser| pass(&shared, stream, &who, &endpoints, teaser, footer);
    maillog::info!("CONNECT from {who} to {}", bracketed(local));
    let ip = peer.ip();
    let Some(_connection) = shared.connection(ip) else {
        maillog::info!("NOQUEUE: reject: CONNECT from {who}: too many connections");
        say(&stream, "421 4.7.0 Error: too many connections", footer);
        return;
    };
    if shared.handing_off.load(Ordering::Acquire) >= s.post_queue_limit {
        maillog::info!("NOQUEUE: reject: CONNECT from {who}: all server ports busy");
        say(&stream, "421 4.3.2 All server ports are busy", footer);
        return;
    }
    let mut failures: Vec<Failure> = Vec::new();
    match s.access(ip) {
        Some(true) => {
            maillog::info!("ALLOWLISTED {who}");
            return hand_off(stream, false);
        }
        Some(false) => {
            maillog::info!("DENYLISTED {who}");
            if s.denylist_action == Action::Drop {
                say(&stream, "521 5.3.2 Service currently unavailable", footer);
                maillog::info!("DISCONNECT {who}");
                return;
            }
            failures.push(Failure {
                action: s.denylist_action,
                enforce_reply: "550 5.3.2 Service currently unavailable".into(),
                drop_reply: "521 5.3.2 Service currently unavailable".into(),
            });
        }
        None => {}
    }
    let now = SystemTime::now();
    let cached = shared.cache.get(ip);
    // A client the cache still has (its passes may have run out, within
    // postscreen_cache_retention_time) passes "OLD", as in Postfix.
    let known = cached.is_some();
    let mut passes = cached.unwrap_or_default();
    let need_early = passes.greet <= now || (shared.lists.is_some() && passes.dnsbl <= now);
    let need_deep = s.deep_ttl().is_some() && passes.deep <= now;
    if failures.is_empty() && !need_early && !need_deep {
        maillog::info!("PASS OLD {who}");
        return hand_off(stream, false);
    }
    // Not on the temporary allow list: where postscreen_allowlist_interfaces
    // does not list the address it reached, the client is tested, but
    // never passes, is never remembered, never goes to smtpd.
    let vetoed = !s.may_pass_on(local.ip());
    if vetoed {
        maillog::info!("ALLOWLIST VETO {who}");
    }
    let Some(_in_tests) = Slot::take(&shared.in_tests, s.pre_queue_limit) else {
        maillog::info!("reject: connect from {who}: all screening ports busy");
        say(&stream, "421 4.3.2 All screening ports are busy", footer);
        return;
    };
    let mut teaser = false;
    if need_early || !failures.is_empty() {
        teaser = !s.banner.is_empty();
        if teaser && !say(&stream, &format!("220-{}", s.banner), None) {
            return;
        }
        let clean = failures.is_empty();
        match early_tests(&shared, &stream, &who, ip, &mut passes, clean) {
            Some(mut f) => failures.append(&mut f),
            None => return,
        }
    }
    // A client the DNS lists allow-listed has passed the tests after the
    // greeting too.
    let need_deep = need_deep && passes.deep <= SystemTime::now();
    // An ignored failure lets the other tests go on; the test is not
    // passed (it is made again next time).
    let ignored = !failures.is_empty();
    let worst = failures
        .iter()
        .filter(|f| f.action != Action::Ignore)
        .max_by_key(|f| f.action)
        .cloned();
    match worst {
        Some(f) if f.action == Action::Drop => {
            say(&stream, &f.drop_reply, footer);
            maillog::info!("DISCONNECT {who}");
        }
        Some(f) => {
            smtp(
                &shared,
                &stream,
                peer,
                footer,
                Mode::Enforce(f.enforce_reply),
            );
            maillog::info!("DISCONNECT {who}");
        }
        None if vetoed => {
            smtp(&shared, &stream, peer, footer, Mode::Vetoed);
            maillog::info!("DISCONNECT {who}");
        }
        None if need_deep => {
            if smtp(&shared, &stream, peer, footer, Mode::Deep { known }) {
                if let Some(ttl) = s.deep_ttl() {
                    passes.deep = SystemTime::now() + ttl;
                }
                shared.cache.remember(ip, passes);
            }
            maillog::info!("DISCONNECT {who}");
        }
        None => {
            if !ignored {
                let age = if known { "OLD" } else { "NEW" };
                maillog::info!("PASS {age} {who}");
            }
            shared.cache.remember(ip, passes);
            hand_off(stream, teaser);
        }
    }
}

/// How the greet wait ended.
enum Greet {
    /// The client talked before its turn: this many bytes are waiting.
    Talked(usize),
    /// It waited its turn, the whole greet wait.
    Waited,
    /// Its DNS list score came in at or under
    /// postscreen_dnsbl_allowlist_threshold: the wait was cut short.
    Allowlisted,
    /// It went away.
    Gone,
    /// Its pregreet pass still held: only the DNS lists were waited for.
    NotDue,
}

/// The tests before the greeting: the pregreet wait and the DNS lists.
/// Records the passes in `passes`; returns the failures, or None when the
/// client went away. A `clean` client (no test failed yet) whose score
/// comes in at or under postscreen_dnsbl_allowlist_threshold has every
/// test passed for as long as a DNS list pass holds, at once.
fn early_tests(
    shared: &Shared,
    stream: &TcpStream,
    who: &str,
    ip: IpAddr,
    passes: &mut Passes,
    clean: bool,
) -> Option<Vec<Failure>> {
    let s = &shared.s;
    let mut failures = Vec::new();
    let started = Instant::now();
    let greet_end = started + s.greet_wait;
    // The lists are scored when the greet wait ends (or
    // postscreen_dnsbl_timeout, if sooner) with what answered by then.
    let lists_end = greet_end.min(started + s.dnsbl_timeout);
    let mut pending = shared.lists.as_ref().map(|l| l.ask(ip, lists_end));
    let allowlisting = s.allowlist_threshold.filter(|_| clean && pending.is_some());
    // Before its turn a client sends nothing: look (without taking it) at
    // whatever comes within the greet wait; with allow-listing, look at
    // the lists' answers every 50 ms meanwhile.
    let mut buf = [0u8; 512];
    // A client whose pregreet pass still holds is not tested again: only
    // the lists are waited for, and no longer than they take.
    let pregreet_due = passes.greet <= SystemTime::now();
    let greet = if !pregreet_due {
        if let Some(p) = pending.as_mut() {
            p.gather(lists_end);
        }
        Greet::NotDue
    } else {
        loop {
            let left = greet_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Greet::Waited;
            }
            let slice = match allowlisting {
                Some(_) => left.min(Duration::from_millis(50)),
                None => left,
            };
            let _ = stream.set_read_timeout(Some(slice));
            match stream.peek(&mut buf) {
                Ok(n) if n > 0 => break Greet::Talked(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // End of input, or the connection was reset.
                _ => break Greet::Gone,
            }
            if let (Some(threshold), Some(p)) = (allowlisting, pending.as_mut()) {
                if p.gather(Instant::now()) && p.score().score <= threshold {
                    break Greet::Allowlisted;
                }
            }
        }
    };
    match greet {
        Greet::Talked(n) => {
            maillog::info!(
                "PREGREET {n} after {} from {who}: {}",
                elapsed(started),
                printable(&buf[..n])
            );
            failures.push(Failure {
                action: s.greet_action,
                enforce_reply: "550 5.5.1 Protocol error".into(),
                drop_reply: "521 5.5.1 Protocol error".into(),
            });
        }
        Greet::Waited => passes.greet = SystemTime::now() + s.greet_ttl,
        Greet::NotDue => {}
        Greet::Allowlisted => {
            passes.allowlist(SystemTime::now() + s.dnsbl_max_ttl.max(s.dnsbl_min_ttl));
            return Some(failures);
        }
        Greet::Gone => {
            maillog::info!(
                "HANGUP after {} from {who} in tests before SMTP handshake",
                elapsed(started)
            );
            maillog::info!("DISCONNECT {who}");
            return None;
        }
    }
    if let Some(mut pending) = pending {
        pending.gather(lists_end);
        let score = pending.score();
        if score.score >= s.threshold {
            maillog::info!("DNSBL rank {} for {who}", score.score);
            failures.push(Failure {
                action: s.dnsbl_action,
                // Postfix's one text for both, with its own code each.
                enforce_reply: format!(
                    "550 5.7.1 Service unavailable; client [{ip}] blocked using {}",
                    s.list_reply_name(&score.worst)
                ),
                drop_reply: format!(
                    "521 5.7.1 Service unavailable; client [{ip}] blocked using {}",
                    s.list_reply_name(&score.worst)
                ),
            });
        } else if score.complete {
            passes.dnsbl = SystemTime::now() + s.dnsbl_max_ttl.max(s.dnsbl_min_ttl);
            // Allow-listed at the end of the wait: the other tests pass too.
            if allowlisting.is_some_and(|t| score.score <= t) && failures.is_empty() {
                passes.allowlist(passes.dnsbl);
            }
        }
        // An incomplete score is not a pass: the lists are asked again.
    }
    Some(failures)
}

/// Hands the client to smtpd over the pass service, with `endpoints` (a
/// PROXY version 1 header naming the client and the address it reached),
/// waiting at most [`PASS_TIMEOUT`] for room. When no smtpd takes it, the
/// client is told so: after the teaser, at its first command (a `421`
/// cannot follow a `220-` line).
fn pass(
    shared: &Shared,
    stream: TcpStream,
    who: &str,
    endpoints: &str,
    teaser: bool,
    footer: Option<&Footer>,
) {
    let s = &shared.s;
    let Some(_handing_off) = Slot::take(&shared.handing_off, s.post_queue_limit) else {
        return busy(s, &stream, who, teaser, footer);
    };
    let deadline = Instant::now() + PASS_TIMEOUT;
    let via = loop {
        match util::socket::connect_unix_now(&s.smtpd_socket) {
            Ok(v) => break Some(v),
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                maillog::warning!("cannot pass {who} to {}: {e}", s.smtpd_socket.display());
                break None;
            }
        }
    };
    let sent = via.map(|v| {
        let _ = v.set_write_timeout(Some(PASS_TIMEOUT));
        util::socket::send_fd(&v, stream.as_raw_fd(), endpoints.as_bytes())
    });
    match sent {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            maillog::warning!("cannot pass {who} to {}: {e}", s.smtpd_socket.display());
            busy(s, &stream, who, teaser, footer);
        }
        None => busy(s, &stream, who, teaser, footer),
    }
}

/// No smtpd: "421 4.3.2 All server ports are busy".
fn busy(s: &Settings, stream: &TcpStream, who: &str, teaser: bool, footer: Option<&Footer>) {
    maillog::info!("NOQUEUE: reject: CONNECT from {who}: all server ports busy");
    if teaser {
        if !say(stream, &format!("220 {}", s.banner), None) {
            return;
        }
        let mut line = Vec::new();
        let _ = read_line(
            &mut Link::plain(stream, None),
            &mut Vec::new(),
            &mut line,
            Instant::now() + PASS_TIMEOUT,
        );
    }
    say(stream, "421 4.3.2 All server ports are busy", footer);
}
