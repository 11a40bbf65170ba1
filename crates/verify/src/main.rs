//! NAME
//!   verify - mailsuite address verification service
//!
//! SYNOPSIS
//!   verify [generic server options] (started by the master; one process)
//!
//! DESCRIPTION
//!   verify keeps what address verification probes found, as Postfix's
//!   verify(8): smtpd's reject_unverified_recipient and
//!   reject_unverified_sender ask it about an address (ipc::verify); qmgr
//!   tells it what each probe found.
//!
//!   An address it knows nothing of, or whose result has expired, gets a
//!   probe: a message from `address_verify_sender` to that address, marked
//!   as a probe, submitted to cleanup. qmgr routes it like any mail, the
//!   delivery agent only tries the address (the SMTP client stops after
//!   RCPT TO; local and virtual look the recipient up), the result comes
//!   back here, and the probe is removed without a bounce. Until then the
//!   answer is "unknown" ("Address verification in progress"); a probe
//!   still without a result after a minute is sent again.
//!
//!   A deliverable result is kept for `address_verify_positive_expire_time`
//!   and probed again, while still being answered, after
//!   `address_verify_positive_refresh_time`; an undeliverable or deferred
//!   one for `address_verify_negative_expire_time` and
//!   `address_verify_negative_refresh_time`, and not at all with
//!   `address_verify_negative_cache = no`. At most 100,000 addresses are
//!   kept; past that, expired ones and then pending probes are dropped.
//!   Results survive a restart in the file that `address_verify_map`
//!   names (Postfix's `btree:$data_directory/verify_cache`: mailsuite
//!   writes `verify_cache` itself, one line per result, where Postfix's
//!   Berkeley DB file is `verify_cache.db`); an empty `address_verify_map`
//!   keeps them in memory only. The file is read at start (expired results
//!   dropped), appended to with each result, and rewritten when it has
//!   grown to more than twice the results it holds.
//!
//! SECURITY
//!   verify runs unprivileged (mail_owner) and talks only to local clients
//!   on `private/verify`: request lines of at most 1,540 bytes with a
//!   checked address and text; anything else ends that client's
//!   connection. Probes go through cleanup as the mail system's own mail;
//!   cleanup accepts the probe mark from no other source.
//!
//! CONFIGURATION PARAMETERS
//!   address_verify_map, address_verify_sender, address_verify_positive_expire_time,
//!   address_verify_positive_refresh_time, address_verify_negative_cache,
//!   address_verify_negative_expire_time, address_verify_negative_refresh_time,
//!   cleanup_service_name, ipc_timeout.
//!
//! FILES
//!   $queue_directory/private/verify, the service socket.

use ipc::cleanup::{self as ic, notify};
use ipc::verify::{answer_line, Request, Status, MAX_LINE};
use params::table as p;
use server::multi::{serve_lines, Stream};
use server::{Context, Flow, MultiService, Service};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Answers one client may leave unread before it is dropped.
const MAX_OUTPUT: usize = 64 << 10;
/// The most addresses kept.
const MAX_ENTRIES: usize = 100_000;
/// A probe without a result is sent again after this long.
const PROBE_AGAIN: Duration = Duration::from_secs(60);
/// The text of an answer while a probe is under way.
const IN_PROGRESS: &str = "Address verification in progress";

struct Entry {
    status: Status,
    text: String,
    /// When the result came (for a pending probe: when it was first sent).
    updated: Instant,
    /// When the last probe for it went out, if one did.
    probed: Option<Instant>,
}

struct Settings {
    sender: String,
    positive_expire: Duration,
    positive_refresh: Duration,
    negative_cache: bool,
    negative_expire: Duration,
    negative_refresh: Duration,
    cleanup: PathBuf,
    timeout: Duration,
    /// Where results are kept across restarts (`address_verify_map`).
    store: Option<PathBuf>,
}

struct Cache {
    s: Settings,
    entries: HashMap<String, Entry>,
    /// Lines written to the store since it was last rewritten.
    store_lines: usize,
}

/// Seconds since the epoch of an instant (for the store).
fn wall(at: Instant) -> i64 {
    util::time::now() - i64::try_from(at.elapsed().as_secs()).unwrap_or(0)
}

impl Cache {
    fn expire_and_refresh(&self, status: Status) -> (Duration, Duration) {
        match status {
            Status::Deliverable => (self.s.positive_expire, self.s.positive_refresh),
            _ => (self.s.negative_expire, self.s.negative_refresh),
        }
    }

    /// What is known of `address`; starts a probe when that is nothing, or
    /// old enough to be checked again.
    fn query(&mut self, address: &str, now: Instant) -> (Status, String) {
        let (answer, probe) = match self.entries.get(address) {
            Some(e) if e.status != Status::Unknown => {
                let (expire, refresh) = self.expire_and_refresh(e.status);
                let age = now.duration_since(e.updated);
                let recently_probed = e
                    .probed
                    .is_some_and(|t| now.duration_since(t) < PROBE_AGAIN);
                if age >= expire {
                    ((Status::Unknown, IN_PROGRESS.to_string()), true)
                } else {
                    (
                        (e.status, e.text.clone()),
                        age >= refresh && !recently_probed,
                    )
                }
            }
            Some(e) => (
                (Status::Unknown, IN_PROGRESS.to_string()),
                e.probed
                    .is_none_or(|t| now.duration_since(t) >= PROBE_AGAIN),
            ),
            None => ((Status::Unknown, IN_PROGRESS.to_string()), true),
        };
        if probe && self.probe(address) {
            let expired = answer.0 == Status::Unknown;
            let e = self.entries.entry(address.to_string()).or_insert(Entry {
                status: Status::Unknown,
                text: String::new(),
                updated: now,
                probed: None,
            });
            if expired {
                e.status = Status::Unknown;
                e.updated = now;
            }
            e.probed = Some(now);
            self.bound(now);
        }
        answer
    }

    /// Reads the store: the results of earlier runs that have not expired.
    fn load(&mut self) {
        let Some(path) = &self.s.store else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let (now, wall_now) = (Instant::now(), util::time::now());
        for line in text.lines() {
            let mut f = line.splitn(4, '\t');
            let (Some(status), Some(secs), Some(address), Some(why)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Some(status), Ok(secs)) = (Status::from_word(status), secs.parse::<i64>()) else {
                continue;
            };
            if status == Status::Unknown
                || (status != Status::Deliverable && !self.s.negative_cache)
                || address.is_empty()
            {
                continue;
            }
            let age = Duration::from_secs(u64::try_from(wall_now - secs).unwrap_or(0));
            let (expire, _) = self.expire_and_refresh(status);
            let Some(updated) = now.checked_sub(age).filter(|_| age < expire) else {
                self.entries.remove(address);
                continue;
            };
            self.entries.insert(
                address.to_string(),
                Entry {
                    status,
                    text: why.to_string(),
                    updated,
                    probed: None,
                },
            );
        }
        self.store_lines = text.lines().count();
    }

    /// Keeps a result in the store: one more line, or the whole store
    /// rewritten when it has grown past twice the results.
    fn save(&mut self, address: &str) {
        let Some(path) = self.s.store.clone() else {
            return;
        };
        let line = |a: &str, e: &Entry| {
            format!(
                "{}\t{}\t{a}\t{}\n",
                e.status.word(),
                wall(e.updated),
                e.text
            )
        };
        use std::io::Write;
        let result = if self.store_lines > 2 * self.entries.len() + 1000 {
            let all: String = self
                .entries
                .iter()
                .filter(|(_, e)| e.status != Status::Unknown)
                .map(|(a, e)| line(a, e))
                .collect();
            let tmp = path.with_extension("new");
            self.store_lines = all.lines().count();
            std::fs::write(&tmp, all).and_then(|()| std::fs::rename(&tmp, &path))
        } else {
            let Some(e) = self.entries.get(address) else {
                return;
            };
            self.store_lines += 1;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(line(address, e).as_bytes()))
        };
        if let Err(e) = result {
            maillog::warning!("address_verify_map {}: {e}", path.display());
        }
    }

    /// What a probe found.
    fn update(&mut self, address: &str, status: Status, text: &str, now: Instant) {
        if status != Status::Deliverable && !self.s.negative_cache {
            self.entries.remove(address);
            return;
        }
        self.entries.insert(
            address.to_string(),
            Entry {
                status,
                text: text.to_string(),
                updated: now,
                probed: None,
            },
        );
        self.bound(now);
        self.save(address);
    }

    /// Keeps the cache within [`MAX_ENTRIES`].
    fn bound(&mut self, now: Instant) {
        if self.entries.len() <= MAX_ENTRIES {
            return;
        }
        let (pos, neg) = (self.s.positive_expire, self.s.negative_expire);
        self.entries.retain(|_, e| {
            let expire = if e.status == Status::Deliverable {
                pos
            } else {
                neg
            };
            now.duration_since(e.updated) < expire
        });
        if self.entries.len() > MAX_ENTRIES {
            self.entries.retain(|_, e| e.status != Status::Unknown);
        }
    }

    /// Submits a probe for `address`; false when cleanup would not take it.
    fn probe(&self, address: &str) -> bool {
        if address == "<>" {
            return false;
        }
        let (arrival, arrival_usec) = util::time::now_sec_usec();
        let envelope = ic::Envelope {
            sender: self.s.sender.clone(),
            arrival,
            arrival_usec,
            attributes: vec![(ic::ADDRESS_VERIFY_PROBE.into(), "yes".into())],
            recipients: vec![ic::Recipient {
                address: address.to_string(),
                orcpt: None,
                notify: notify::NEVER,
            }],
            ..ic::Envelope::default()
        };
        let content = b"Subject: address verification probe\n\n";
        match ic::Client::submit(&self.s.cleanup, self.s.timeout, envelope, content) {
            Ok((_, ic::Status::Queued, _)) => true,
            Ok((_, status, text)) => {
                maillog::warning!("probe for {address}: cleanup said {status:?} {text}");
                false
            }
            Err(e) => {
                maillog::warning!("probe for {address}: {e}");
                false
            }
        }
    }

    fn handle(&mut self, request: Request, now: Instant) -> String {
        match request {
            Request::Query(address) => {
                let (status, text) = self.query(&address, now);
                answer_line(status, &text)
            }
            Request::Update {
                status,
                address,
                text,
            } => {
                self.update(&address, status, &text, now);
                "ok\n".into()
            }
        }
    }
}

struct Verify {
    cache: Option<Rc<RefCell<Cache>>>,
}

/// One client's connection.
struct Session {
    cache: Rc<RefCell<Cache>>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Service for Verify {
    fn long_running(&self) -> bool {
        true
    }

    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        let c = &ctx.config;
        let settings = Settings {
            sender: c.str(&p::ADDRESS_VERIFY_SENDER).trim().to_string(),
            positive_expire: c.time(&p::ADDRESS_VERIFY_POSITIVE_EXPIRE_TIME),
            positive_refresh: c.time(&p::ADDRESS_VERIFY_POSITIVE_REFRESH_TIME),
            negative_cache: c.bool(&p::ADDRESS_VERIFY_NEGATIVE_CACHE),
            negative_expire: c.time(&p::ADDRESS_VERIFY_NEGATIVE_EXPIRE_TIME),
            negative_refresh: c.time(&p::ADDRESS_VERIFY_NEGATIVE_REFRESH_TIME),
            cleanup: ic::socket_path(&ctx.queue_dir(), c.str(&p::CLEANUP_SERVICE_NAME)),
            timeout: c.time(&p::IPC_TIMEOUT).min(Duration::from_secs(60)),
            // `type:path` (Postfix's btree:…); the file is mailsuite's own.
            store: Some(c.str(&p::ADDRESS_VERIFY_MAP).trim())
                .filter(|v| !v.is_empty())
                .map(|v| PathBuf::from(v.split_once(':').map_or(v, |(_, path)| path))),
        };
        let mut cache = Cache {
            s: settings,
            entries: HashMap::new(),
            store_lines: 0,
        };
        cache.load();
        self.cache = Some(Rc::new(RefCell::new(cache)));
        Ok(())
    }
}

impl Verify {
    fn pump(sess: &mut Session, stream: &mut Stream) -> Flow {
        let cache = &sess.cache;
        serve_lines(
            stream,
            &mut sess.input,
            &mut sess.output,
            (MAX_LINE, MAX_OUTPUT),
            |line| {
                let request = Request::parse(line)?;
                Some(cache.borrow_mut().handle(request, Instant::now()))
            },
        )
    }
}

impl MultiService for Verify {
    type Session = Session;

    fn open(&mut self, _ctx: &Context, _stream: &mut Stream) -> Option<Session> {
        Some(Session {
            cache: self.cache.clone()?,
            input: Vec::new(),
            output: Vec::new(),
        })
    }

    fn ready(&mut self, _ctx: &Context, sess: &mut Session, stream: &mut Stream) -> Flow {
        Verify::pump(sess, stream)
    }
}

fn main() {
    server::multi_server("verify", Verify { cache: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(negative_cache: bool) -> Cache {
        Cache {
            s: Settings {
                sender: "double-bounce".into(),
                positive_expire: Duration::from_secs(100),
                positive_refresh: Duration::from_secs(50),
                negative_cache,
                negative_expire: Duration::from_secs(30),
                negative_refresh: Duration::from_secs(10),
                // No cleanup here: probes fail and are not recorded.
                cleanup: PathBuf::from("/nonexistent/cleanup"),
                timeout: Duration::from_secs(1),
                store: None,
            },
            entries: HashMap::new(),
            store_lines: 0,
        }
    }

    #[test]
    fn results_are_kept_expired_and_refreshed() {
        let mut c = cache(true);
        let t0 = Instant::now();
        assert_eq!(c.query("a@x", t0), (Status::Unknown, IN_PROGRESS.into()));
        c.update("a@x", Status::Deliverable, "250 2.1.5 Ok", t0);
        c.update("b@x", Status::Undeliverable, "550 5.1.1 no", t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            c.query("a@x", at(60)),
            (Status::Deliverable, "250 2.1.5 Ok".into())
        );
        assert_eq!(
            c.query("b@x", at(20)),
            (Status::Undeliverable, "550 5.1.1 no".into())
        );
        // Expired: unknown again.
        assert_eq!(c.query("a@x", at(101)).0, Status::Unknown);
        assert_eq!(c.query("b@x", at(31)).0, Status::Unknown);
        let mut c = cache(false);
        c.update("b@x", Status::Undeliverable, "550 5.1.1 no", t0);
        assert_eq!(c.query("b@x", t0).0, Status::Unknown, "no negative cache");
    }

    #[test]
    fn results_survive_a_restart_in_the_store() {
        let dir = std::env::temp_dir().join(format!("verify-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let store = dir.join("verify_cache");
        let with_store = || {
            let mut c = cache(true);
            c.s.store = Some(store.clone());
            c.load();
            c
        };
        let mut c = with_store();
        let now = Instant::now();
        c.update("a@x", Status::Deliverable, "250 2.1.5 Ok", now);
        c.update("b@x", Status::Undeliverable, "550 5.1.1 no such user", now);
        c.update("a@x", Status::Deliverable, "250 2.1.5 Still ok", now);
        // An old line, expired: not taken back.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&store)
            .and_then(|mut f| {
                std::io::Write::write_all(
                    &mut f,
                    b"deliverable\t1000\told@x\t250 Ok\ngarbage line\n",
                )
            })
            .expect("append");
        let mut again = with_store();
        let later = Instant::now();
        assert_eq!(
            again.query("a@x", later),
            (Status::Deliverable, "250 2.1.5 Still ok".into())
        );
        assert_eq!(
            again.query("b@x", later),
            (Status::Undeliverable, "550 5.1.1 no such user".into())
        );
        assert_eq!(again.query("old@x", later).0, Status::Unknown);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn requests_answered() {
        let mut c = cache(true);
        let now = Instant::now();
        let ok = c.handle(
            Request::parse("update deliverable u@x 250 Ok").expect("parse"),
            now,
        );
        assert_eq!(ok, "ok\n");
        assert_eq!(
            c.handle(Request::parse("query u@x").expect("parse"), now),
            "deliverable 250 Ok\n"
        );
    }
}
