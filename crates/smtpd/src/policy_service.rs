//! `check_policy_service`: Postfix's policy delegation protocol (SMTPD_POLICY_README),
//! spoken to postgrey, policyd-spf, postfwd and the like.
//!
//! A request is `name=value` lines and an empty line; the server answers
//! `action=…` (an access(5) action) and an empty line. The connection stays
//! open for the next request, until `smtpd_policy_service_max_idle` without
//! use, `smtpd_policy_service_max_ttl` in all, or
//! `smtpd_policy_service_request_limit` requests. A request that fails
//! (cannot connect, times out after `smtpd_policy_service_timeout`, a
//! malformed answer) is tried again on a new connection up to
//! `smtpd_policy_service_try_limit` times, `smtpd_policy_service_retry_delay`
//! apart; then `smtpd_policy_service_default_action` stands in for the
//! answer, with a warning.
//!
//! The service is `inet:host:port` or `unix:path` (relative paths are under
//! the queue directory, e.g. `unix:private/policy`), or Postfix 3's form
//! with per-service settings: `{ inet:127.0.0.1:9998, timeout=10s,
//! default_action=DUNNO, policy_context=… }` (also `max_idle`, `max_ttl`,
//! `request_limit`, `retry_delay`, `try_limit`).

use params::{table as p, Config};
use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};
use util::socket::{self, Endpoint, Socket as Client};

/// The longest answer line, and the most lines, taken from a server.
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 100;

/// Settings of one policy service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub timeout: Duration,
    pub max_idle: Duration,
    pub max_ttl: Duration,
    pub request_limit: u64,
    pub try_limit: u32,
    pub retry_delay: Duration,
    pub default_action: String,
    pub policy_context: String,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            timeout: config.time(&p::SMTPD_POLICY_SERVICE_TIMEOUT),
            max_idle: config.time(&p::SMTPD_POLICY_SERVICE_MAX_IDLE),
            max_ttl: config.time(&p::SMTPD_POLICY_SERVICE_MAX_TTL),
            request_limit: config.int(&p::SMTPD_POLICY_SERVICE_REQUEST_LIMIT).max(0) as u64,
            try_limit: config.int(&p::SMTPD_POLICY_SERVICE_TRY_LIMIT).max(1) as u32,
            retry_delay: config.time(&p::SMTPD_POLICY_SERVICE_RETRY_DELAY),
            default_action: config
                .str(&p::SMTPD_POLICY_SERVICE_DEFAULT_ACTION)
                .to_string(),
            policy_context: config
                .str(&p::SMTPD_POLICY_SERVICE_POLICY_CONTEXT)
                .to_string(),
        }
    }
}

/// An open connection and its age.
struct Open {
    writer: Client,
    reader: BufReader<Client>,
    opened: Instant,
    used: Instant,
    requests: u64,
}

/// One policy service, as a restriction names it.
pub struct PolicyService {
    /// As written (for logs).
    pub name: String,
    endpoint: Endpoint,
    pub settings: Settings,
    open: RefCell<Option<Open>>,
}

impl std::fmt::Debug for PolicyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PolicyService({})", self.name)
    }
}

impl PolicyService {
    /// From a restriction's argument: `inet:host:port`, `unix:path`, or
    /// `{ endpoint, name=value, … }`.
    pub fn parse(
        arg: &str,
        defaults: &Settings,
        queue_dir: &std::path::Path,
    ) -> Result<PolicyService, String> {
        let mut settings = defaults.clone();
        let (target, options) = socket::with_settings(arg)?;
        for (name, value) in &options {
            let time = || {
                params::value::parse_duration(value)
                    .ok_or_else(|| format!("bad time value in \"{name}={value}\""))
            };
            let number = || format!("bad number in \"{name}={value}\"");
            match name.as_str() {
                "timeout" => settings.timeout = time()?,
                "max_idle" => settings.max_idle = time()?,
                "max_ttl" => settings.max_ttl = time()?,
                "retry_delay" => settings.retry_delay = time()?,
                "request_limit" => settings.request_limit = value.parse().map_err(|_| number())?,
                "try_limit" => {
                    settings.try_limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(number)?
                }
                "default_action" => settings.default_action = value.to_string(),
                "policy_context" => settings.policy_context = value.to_string(),
                _ => return Err(format!("unknown policy service option \"{name}\"")),
            }
        }
        let endpoint =
            Endpoint::parse(&target, queue_dir).map_err(|e| format!("policy service {e}"))?;
        Ok(PolicyService {
            name: target,
            endpoint,
            settings,
            open: RefCell::new(None),
        })
    }

    fn connect(&self) -> io::Result<Open> {
        let stream = self.endpoint.connect(self.settings.timeout)?;
        let now = Instant::now();
        Ok(Open {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            opened: now,
            used: now,
            requests: 0,
        })
    }

    /// One exchange on `open`: the action, or what went wrong.
    fn exchange(open: &mut Open, request: &[u8]) -> Result<String, String> {
        open.writer
            .write_all(request)
            .and_then(|()| open.writer.flush())
            .map_err(|e| format!("write: {e}"))?;
        let mut action = None;
        for _ in 0..MAX_LINES {
            let mut line = Vec::new();
            let n = Read::take(&mut open.reader, MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("read: connection closed".into());
            }
            if line.last() != Some(&b'\n') {
                return Err("answer line too long".into());
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                return action.ok_or_else(|| "missing attribute action in the answer".to_string());
            }
            // Postfix's attr_scan_plain refuses the whole answer.
            let Some((name, value)) = line.split_once('=') else {
                return Err(format!("missing value for string attribute {line}"));
            };
            if name == "action" {
                action.get_or_insert_with(|| value.to_string());
            }
        }
        Err("answer too long".into())
    }

    /// Asks the service about a request (`name`, value pairs). Returns the
    /// action, or, when the service cannot answer, the default action and
    /// the warning to log.
    pub fn query(&self, attrs: &[(&str, String)]) -> (String, Option<String>) {
        let mut request = Vec::with_capacity(512);
        for (name, value) in attrs {
            // A value never spans lines: the protocol has no escapes.
            let value: String = value
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                .collect();
            request.extend_from_slice(format!("{name}={value}\n").as_bytes());
        }
        if !self.settings.policy_context.is_empty() {
            request.extend_from_slice(
                format!("policy_context={}\n", self.settings.policy_context).as_bytes(),
            );
        }
        request.push(b'\n');
        let mut last = String::new();
        let mut slot = self.open.borrow_mut();
        for attempt in 0..self.settings.try_limit {
            if attempt > 0 {
                std::thread::sleep(self.settings.retry_delay);
            }
            // An old connection may have been closed by the server: a
            // failure on it does not count as a try.
            let reused = slot.take().filter(|o| {
                let now = Instant::now();
                now.duration_since(o.used) < self.settings.max_idle
                    && now.duration_since(o.opened) < self.settings.max_ttl
                    && (self.settings.request_limit == 0
                        || o.requests < self.settings.request_limit)
            });
            let mut candidates = reused
                .into_iter()
                .map(Ok)
                .chain(std::iter::once_with(|| self.connect()));
            for candidate in candidates.by_ref() {
                let mut open = match candidate {
                    Ok(o) => o,
                    Err(e) => {
                        last = format!("connect: {e}");
                        break;
                    }
                };
                let fresh = open.requests == 0;
                match Self::exchange(&mut open, &request) {
                    Ok(action) => {
                        open.requests += 1;
                        open.used = Instant::now();
                        *slot = Some(open);
                        return (action, None);
                    }
                    Err(e) => {
                        last = e;
                        if fresh {
                            break;
                        }
                    }
                }
            }
        }
        (
            self.settings.default_action.clone(),
            Some(format!("problem talking to server {}: {last}", self.name)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings {
            timeout: Duration::from_secs(5),
            max_idle: Duration::from_secs(300),
            max_ttl: Duration::from_secs(1000),
            request_limit: 0,
            try_limit: 2,
            retry_delay: Duration::from_millis(10),
            default_action: "451 4.3.5 Server configuration problem".into(),
            policy_context: String::new(),
        }
    }

    #[test]
    fn services_are_parsed_with_their_options() {
        let q = std::path::Path::new("/var/spool/mailsuite");
        let s = PolicyService::parse("inet:127.0.0.1:10023", &defaults(), q).expect("inet");
        assert_eq!(s.endpoint, Endpoint::Inet("127.0.0.1:10023".into()));
        let s = PolicyService::parse("unix:private/policy", &defaults(), q).expect("unix");
        assert_eq!(s.endpoint, Endpoint::Unix(q.join("private/policy")));
        let s = PolicyService::parse(
            "{ inet:127.0.0.1:9998, timeout=10s, default_action=DUNNO, policy_context=submission, try_limit=1 }",
            &defaults(),
            q,
        )
        .expect("braced");
        assert_eq!(s.settings.timeout, Duration::from_secs(10));
        assert_eq!(s.settings.default_action, "DUNNO");
        assert_eq!(s.settings.policy_context, "submission");
        assert_eq!(s.settings.try_limit, 1);
        for bad in [
            "127.0.0.1:9998",
            "inet:nohostport",
            "{ inet:1.2.3.4:5, frob=1 }",
            "{ inet:1.2.3.4:5, timeout=x }",
        ] {
            assert!(PolicyService::parse(bad, &defaults(), q).is_err(), "{bad}");
        }
    }

    /// A one-thread policy server on a Unix socket: answers each request
    /// with the next of `answers` (raw bytes), and records the requests.
    fn server(answers: Vec<&'static [u8]>) -> (tempdir::Dir, std::thread::JoinHandle<Vec<String>>) {
        let dir = tempdir::Dir::new();
        let listener = std::os::unix::net::UnixListener::bind(dir.0.join("policy")).expect("bind");
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter().peekable();
            'conns: while let Ok((s, _)) = listener.accept() {
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut w = s;
                loop {
                    let mut req = String::new();
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            continue 'conns;
                        }
                        if line == "\n" {
                            break;
                        }
                        req.push_str(&line);
                    }
                    seen.push(req);
                    match answers.next() {
                        Some([]) => continue 'conns,
                        Some(a) => {
                            let _ = w.write_all(a);
                            if answers.peek().is_none() {
                                break 'conns;
                            }
                        }
                        None => break 'conns,
                    }
                }
            }
            seen
        });
        (dir, h)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let d = std::env::temp_dir().join(format!(
                    "smtpd-policy-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).expect("dir");
                Dir(d)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn one_connection_serves_several_requests_and_a_dropped_one_is_reopened() {
        // Answer, answer, then drop the connection without answering (the
        // retry gets a new one), answer.
        let (dir, h) = server(vec![
            b"action=DUNNO\n\n",
            b"foo=bar\naction=REJECT go away\n\n",
            b"",
            b"action=OK\n\n",
        ]);
        let s = PolicyService::parse(
            &format!("unix:{}", dir.0.join("policy").display()),
            &defaults(),
            &dir.0,
        )
        .expect("service");
        let attrs = [
            ("request", "smtpd_access_policy".to_string()),
            ("sender", "a@b\r\nx=y".to_string()),
        ];
        assert_eq!(s.query(&attrs), ("DUNNO".to_string(), None));
        assert_eq!(s.query(&attrs), ("REJECT go away".to_string(), None));
        assert_eq!(s.query(&attrs), ("OK".to_string(), None));
        drop(s);
        let seen = h.join().expect("server");
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0], "request=smtpd_access_policy\nsender=a@b  x=y\n");
    }

    #[test]
    fn a_service_that_cannot_answer_gives_the_default_action() {
        let dir = tempdir::Dir::new();
        let s = PolicyService::parse(
            &format!(
                "{{ unix:{}, default_action=DUNNO }}",
                dir.0.join("nobody-listens").display()
            ),
            &defaults(),
            &dir.0,
        )
        .expect("service");
        let (action, warning) = s.query(&[("request", "smtpd_access_policy".into())]);
        assert_eq!(action, "DUNNO");
        let w = warning.expect("a warning");
        assert!(w.starts_with("problem talking to server unix:"), "{w}");
        // The same bad answer to the request and to its retry: a failure.
        let refused = |answer: &'static [u8], why: &str| {
            let (dir, _h) = server(vec![answer, answer]);
            let s = PolicyService::parse(
                &format!("unix:{}", dir.0.join("policy").display()),
                &defaults(),
                &dir.0,
            )
            .expect("service");
            let (action, warning) = s.query(&[("request", "smtpd_access_policy".into())]);
            assert_eq!(action, "451 4.3.5 Server configuration problem");
            let warning = warning.expect("warning");
            assert!(warning.ends_with(why), "{warning}");
        };
        refused(b"foo=bar\n\n", "missing attribute action in the answer");
        // A line that is not name=value, even beside an action, as Postfix's
        // attr_scan_plain refuses it.
        refused(
            b"OK\naction=OK\n\n",
            "missing value for string attribute OK",
        );
    }
}
