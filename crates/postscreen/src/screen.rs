//! One client, from connect to smtpd or goodbye, on a thread of its own.

use crate::cache::{Cache, Passes};
use crate::lists::Lists;
use crate::settings::{Action, Failure, Settings};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a client may wait for an smtpd to take it.
const PASS_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest command line postscreen's own SMTP reads.
const LINE_MAX: usize = 4096;

/// What every client thread shares.
pub struct Shared {
    pub s: Settings,
    pub cache: Arc<Cache>,
    pub lists: Option<Lists>,
    /// Connections open now, by client address.
    per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Clients in the tests now (postscreen_pre_queue_limit).
    in_tests: AtomicUsize,
    /// Clients being handed to smtpd now (postscreen_post_queue_limit).
    handing_off: AtomicUsize,
}

impl Shared {
    pub fn new(s: Settings, cache: Arc<Cache>, lists: Option<Lists>) -> Shared {
        Shared {
            s,
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

fn elapsed(since: Instant) -> String {
    format!("{:.2}", since.elapsed().as_secs_f64())
}

fn say(stream: &TcpStream, line: &str) -> bool {
    let mut out = stream;
    out.write_all(format!("{line}\r\n").as_bytes()).is_ok()
}

/// Screens one client. The order is Postfix's: the per-client and
/// post-queue limits, the access list, the cache, then the pre-queue
/// limit for those that go through the tests: the pregreet wait and the
/// DNS lists (before the greeting), then, when enabled, the tests after it
/// in postscreen's own SMTP.
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
                return;
            }
        }
    }
    let who = bracketed(peer);
    // What smtpd is told with the connection: the client screened here.
    let endpoints = haproxy::v1_header(peer, local);
    let hand_off = |stream, teaser| pass(&shared, stream, &who, &endpoints, teaser);
    maillog::info!("CONNECT from {who} to {}", bracketed(local));
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer.ip()),
        v4 => v4,
    };
    let Some(_connection) = shared.connection(ip) else {
        maillog::info!("NOQUEUE: reject: CONNECT from {who}: too many connections");
        say(&stream, "421 4.7.0 Error: too many connections");
        return;
    };
    if shared.handing_off.load(Ordering::Acquire) >= s.post_queue_limit {
        maillog::info!("NOQUEUE: reject: CONNECT from {who}: all server ports busy");
        say(&stream, "421 4.3.2 All server ports are busy");
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
                say(&stream, "521 5.3.2 Service currently unavailable");
                maillog::info!("DISCONNECT {who}");
                return;
            }
            failures.push(Failure {
                action: s.denylist_action,
                enforce_reply: "550 5.3.2 Service currently unavailable".into(),
                drop_reply: "521 5.3.2 Service currently unavailable",
            });
        }
        None => {}
    }
    let now = SystemTime::now();
    let mut passes = shared.cache.get(ip);
    let need_early = passes.greet <= now || (shared.lists.is_some() && passes.dnsbl <= now);
    let need_deep = s.deep_ttl().is_some() && passes.deep <= now;
    if failures.is_empty() && !need_early && !need_deep {
        maillog::info!("PASS OLD {who}");
        return hand_off(stream, false);
    }
    let Some(_in_tests) = Slot::take(&shared.in_tests, s.pre_queue_limit) else {
        maillog::info!("reject: connect from {who}: all screening ports busy");
        say(&stream, "421 4.3.2 All screening ports are busy");
        return;
    };
    let mut teaser = false;
    if need_early || !failures.is_empty() {
        teaser = !s.banner.is_empty();
        if teaser && !say(&stream, &format!("220-{}", s.banner)) {
            return;
        }
        match early_tests(&shared, &stream, &who, ip, &mut passes) {
            Some(mut f) => failures.append(&mut f),
            None => return,
        }
    }
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
            say(&stream, f.drop_reply);
            maillog::info!("DISCONNECT {who}");
        }
        Some(f) => {
            smtp(&shared, &stream, &who, Mode::Enforce(f.enforce_reply));
            maillog::info!("DISCONNECT {who}");
        }
        None if need_deep => {
            if smtp(&shared, &stream, &who, Mode::Deep) {
                if let Some(ttl) = s.deep_ttl() {
                    passes.deep = SystemTime::now() + ttl;
                }
                shared.cache.remember(ip, passes);
            }
            maillog::info!("DISCONNECT {who}");
        }
        None => {
            if !ignored {
                maillog::info!("PASS NEW {who}");
            }
            shared.cache.remember(ip, passes);
            hand_off(stream, teaser);
        }
    }
}

/// The tests before the greeting: the pregreet wait and the DNS lists.
/// Records the passes in `passes`; returns the failures, or None when the
/// client went away.
fn early_tests(
    shared: &Shared,
    stream: &TcpStream,
    who: &str,
    ip: IpAddr,
    passes: &mut Passes,
) -> Option<Vec<Failure>> {
    let s = &shared.s;
    let mut failures = Vec::new();
    let started = Instant::now();
    let greet_end = started + s.greet_wait;
    // The lists are scored when the greet wait ends (or
    // postscreen_dnsbl_timeout, if sooner) with what answered by then.
    let lists_end = greet_end.min(started + s.dnsbl_timeout);
    let pending = shared.lists.as_ref().map(|l| l.ask(ip, lists_end));
    // Before its turn a client sends nothing: look (without taking it) at
    // whatever comes within the greet wait.
    let _ = stream.set_read_timeout(Some(s.greet_wait));
    let mut buf = [0u8; 512];
    match stream.peek(&mut buf) {
        Ok(n) if n > 0 => {
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
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            passes.greet = SystemTime::now() + s.greet_ttl;
        }
        // End of input, or the connection was reset.
        _ => {
            maillog::info!(
                "HANGUP after {} from {who} in tests before SMTP handshake",
                elapsed(started)
            );
            maillog::info!("DISCONNECT {who}");
            return None;
        }
    }
    if let Some(pending) = pending {
        let score = pending.score(lists_end);
        if score.score >= s.threshold {
            maillog::info!("DNSBL rank {} for {who}", score.score);
            failures.push(Failure {
                action: s.dnsbl_action,
                enforce_reply: format!(
                    "550 5.7.1 Service unavailable; client [{ip}] blocked using {}",
                    score.worst
                ),
                drop_reply: "521 5.7.1 Service unavailable",
            });
        } else if score.complete {
            passes.dnsbl = SystemTime::now() + s.dnsbl_max_ttl.max(s.dnsbl_min_ttl);
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
fn pass(shared: &Shared, stream: TcpStream, who: &str, endpoints: &str, teaser: bool) {
    let s = &shared.s;
    let Some(_handing_off) = Slot::take(&shared.handing_off, s.post_queue_limit) else {
        return busy(s, &stream, who, teaser);
    };
    let deadline = Instant::now() + PASS_TIMEOUT;
    let via = loop {
        match connect_now(&s.smtpd_socket) {
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
            busy(s, &stream, who, teaser);
        }
        None => busy(s, &stream, who, teaser),
    }
}

/// No smtpd: "421 4.3.2 All server ports are busy".
fn busy(s: &Settings, stream: &TcpStream, who: &str, teaser: bool) {
    maillog::info!("NOQUEUE: reject: CONNECT from {who}: all server ports busy");
    if teaser {
        if !say(stream, &format!("220 {}", s.banner)) {
            return;
        }
        let mut line = Vec::new();
        let _ = read_line(
            stream,
            &mut Vec::new(),
            &mut line,
            Instant::now() + PASS_TIMEOUT,
        );
    }
    say(stream, "421 4.3.2 All server ports are busy");
}

/// Connects to a UNIX-domain socket without waiting: `WouldBlock` when
/// its queue of connections is full.
fn connect_now(path: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    connect(fd.as_raw_fd(), &addr)?;
    util::fd::set_nonblocking(fd.as_raw_fd(), false)?;
    Ok(std::os::unix::net::UnixStream::from(fd))
}

/// How [`read_line`] ended.
enum LineRead {
    /// A line; `bare` when it ended in a newline without a CR.
    Line {
        bare: bool,
    },
    Timeout,
    /// End of input, or an error.
    End,
}

/// Reads one line (without its end) into `line`, taking what an earlier
/// read left in `carry` first; the whole line must come by `deadline`. A
/// line longer than [`LINE_MAX`] is cut there (the rest reads as the next
/// line).
fn read_line(
    stream: &TcpStream,
    carry: &mut Vec<u8>,
    line: &mut Vec<u8>,
    deadline: Instant,
) -> LineRead {
    line.clear();
    loop {
        if let Some(end) = carry.iter().position(|&b| b == b'\n') {
            line.extend(carry.drain(..=end));
            line.pop();
            let crlf = line.last() == Some(&b'\r');
            if crlf {
                line.pop();
            }
            return LineRead::Line { bare: !crlf };
        }
        if carry.len() >= LINE_MAX {
            line.append(carry);
            return LineRead::Line { bare: false };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return LineRead::Timeout;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return LineRead::End;
        }
        let mut buf = [0u8; 1024];
        let mut input = stream;
        match input.read(&mut buf) {
            Ok(0) => return LineRead::End,
            Ok(n) => carry.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return LineRead::Timeout
            }
            Err(_) => return LineRead::End,
        }
    }
}

/// What postscreen's own SMTP is for.
enum Mode {
    /// A test failed with `enforce`: every recipient gets this reply.
    Enforce(String),
    /// The tests after the greeting (pipelining, non-SMTP commands, bare
    /// newlines, as enabled). A client that reaches RCPT without failing
    /// them has passed, and is told to come back: its connection cannot be
    /// handed to smtpd once the dialogue began.
    Deep,
}

/// The reply and log line after the tests after the greeting were passed.
const COME_BACK: &str = "450 4.3.2 Service currently unavailable";

/// postscreen's own SMTP (Postfix's "dummy" engine). Each command must
/// come whole within postscreen_command_time_limit (10 s when the tests
/// are nine-tenths full, as Postfix's stress mode has it), at most
/// postscreen_command_count_limit of them. Returns whether the client
/// passed the tests after the greeting (always false when enforcing).
fn smtp(shared: &Shared, stream: &TcpStream, who: &str, mut mode: Mode) -> bool {
    let s = &shared.s;
    let banner = if s.banner.is_empty() {
        format!("{} ESMTP", s.myhostname)
    } else {
        s.banner.clone()
    };
    if !say(stream, &format!("220 {banner}")) {
        return false;
    }
    let started = Instant::now();
    let (mut carry, mut raw) = (Vec::new(), Vec::new());
    let (mut helo, mut sender) = (String::new(), None::<String>);
    let mut proto = "SMTP";
    // A client that reached RCPT has passed, unless a later command fails
    // a test (Postfix's "UNPASS").
    let mut passed = false;
    let mut tested = Tested::default();
    // The tests go on after one fails with enforce (Postfix: "allow other
    // tests to complete").
    let testing = matches!(mode, Mode::Deep);
    let mut last = "CONNECT".to_string();
    for _ in 0..s.command_count_limit {
        let stressed = shared.in_tests.load(Ordering::Acquire) * 10 >= s.pre_queue_limit * 9;
        let limit = if stressed {
            s.command_time_limit.min(Duration::from_secs(10))
        } else {
            s.command_time_limit
        };
        let bare = match read_line(stream, &mut carry, &mut raw, Instant::now() + limit) {
            LineRead::Line { bare } => bare,
            LineRead::Timeout => {
                maillog::info!("COMMAND TIME LIMIT from {who} after {last}");
                say(
                    stream,
                    &format!("421 4.4.2 {} Error: timeout exceeded", s.myhostname),
                );
                return false;
            }
            LineRead::End => {
                if testing && !passed && !tested.any_failed() {
                    maillog::info!(
                        "HANGUP after {} from {who} in tests after SMTP handshake",
                        elapsed(started)
                    );
                }
                return passed;
            }
        };
        let line = String::from_utf8_lossy(&raw).into_owned();
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = verb.to_ascii_uppercase();
        if testing {
            let waiting = (!carry.is_empty()).then(|| printable(&carry));
            let failed = tested.failure(s, who, &last, &line, &verb, bare, waiting);
            if let Some((action, drop_reply)) = failed {
                if action != Action::Ignore && passed {
                    maillog::info!("UNPASS {who}");
                    passed = false;
                }
                match action {
                    Action::Drop => {
                        say(stream, drop_reply);
                        return false;
                    }
                    Action::Enforce => mode = Mode::Enforce("550 5.5.1 Protocol error".into()),
                    // Let the other tests go on; this one counts as passed.
                    Action::Ignore => {}
                }
            }
        }
        last = verb.clone();
        let answer = match verb.as_str() {
            "EHLO" => {
                helo = printable(arg.trim().as_bytes());
                proto = "ESMTP";
                // No PIPELINING where the pipelining test is on.
                let pipelining = if s.pipelining.is_some() {
                    ""
                } else {
                    "250-PIPELINING\r\n"
                };
                format!(
                    "250-{}\r\n{pipelining}250-ENHANCEDSTATUSCODES\r\n250 8BITMIME",
                    s.myhostname
                )
            }
            "HELO" => {
                helo = printable(arg.trim().as_bytes());
                format!("250 {}", s.myhostname)
            }
            "MAIL" => {
                sender = Some(address_of(arg));
                "250 2.1.0 Ok".into()
            }
            "RCPT" if sender.is_none() => "503 5.5.1 Error: need MAIL command".into(),
            "RCPT" => {
                let reply = match &mode {
                    Mode::Enforce(reply) => reply.clone(),
                    Mode::Deep => {
                        if !passed && !tested.any_failed() {
                            maillog::info!("PASS NEW {who}");
                            passed = true;
                        }
                        COME_BACK.to_string()
                    }
                };
                maillog::info!(
                    "NOQUEUE: reject: RCPT from {who}: {reply}; from=<{}>, to=<{}>, proto={proto}, helo=<{helo}>",
                    sender.as_deref().unwrap_or(""),
                    address_of(arg)
                );
                reply
            }
            "DATA" | "BDAT" => "554 5.5.1 Error: no valid recipients".into(),
            "RSET" => {
                sender = None;
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "VRFY" if s.vrfy_disabled => "502 5.5.1 VRFY command is disabled".into(),
            "VRFY" => match &mode {
                Mode::Enforce(reply) => reply.clone(),
                Mode::Deep => COME_BACK.to_string(),
            },
            "QUIT" => {
                say(stream, "221 2.0.0 Bye");
                return passed;
            }
            _ => "502 5.5.2 Error: command not recognized".into(),
        };
        if !say(stream, &answer) {
            return passed;
        }
    }
    say(stream, "421 4.7.0 Error: too many commands");
    passed
}

/// The commands postscreen's own SMTP knows: the non-SMTP command test
/// looks at the others only.
const KNOWN: [&str; 10] = [
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "QUIT",
];

/// Which of the tests after the greeting a session has failed: each is
/// failed (and logged) once, and the others go on.
#[derive(Default)]
struct Tested {
    pipelining: bool,
    non_smtp: bool,
    bare_newline: bool,
}

impl Tested {
    fn any_failed(&self) -> bool {
        self.pipelining || self.non_smtp || self.bare_newline
    }

    /// The first test that `line` fails now, logged as Postfix logs it:
    /// its action and the reply before a drop.
    #[allow(clippy::too_many_arguments)]
    fn failure(
        &mut self,
        s: &Settings,
        who: &str,
        last: &str,
        line: &str,
        verb: &str,
        bare_newline: bool,
        waiting: Option<String>,
    ) -> Option<(Action, &'static str)> {
        if let (Some(t), false) = (s.non_smtp, self.non_smtp) {
            if !KNOWN.contains(&verb) && (s.forbidden.matches(verb) || looks_like_header(line)) {
                self.non_smtp = true;
                maillog::info!(
                    "NON-SMTP COMMAND from {who} after {last}: {}",
                    printable(line.as_bytes())
                );
                return Some((
                    t.action,
                    "521 5.7.0 Error: I can break rules, too. Goodbye.",
                ));
            }
        }
        if let (Some(t), false) = (s.bare_newline, self.bare_newline) {
            if bare_newline {
                self.bare_newline = true;
                maillog::info!("BARE NEWLINE from {who} after {last}");
                return Some((t.action, "521 5.5.1 Protocol error"));
            }
        }
        if let (Some(t), false, Some(waiting)) = (s.pipelining, self.pipelining, waiting) {
            self.pipelining = true;
            maillog::info!("COMMAND PIPELINING from {who} after {verb}: {waiting}");
            return Some((t.action, "521 5.5.1 Protocol error"));
        }
        None
    }
}

/// A message header line (`Name: value`), as a client that sends its
/// message without waiting for its turn does.
fn looks_like_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        }
        None => false,
    }
}

/// The address in `FROM:<a@b> …` / `TO:<a@b>`, printable.
pub fn address_of(arg: &str) -> String {
    let rest = arg.split_once(':').map_or(arg, |(_, r)| r).trim_start();
    let addr = match rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((a, _)) => a,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    printable(addr.as_bytes())
}
