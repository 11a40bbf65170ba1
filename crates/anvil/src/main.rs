//! NAME
//!   anvil - mailsuite's connection and rate counter
//!
//! SYNOPSIS
//!   anvil [generic server options] (started by the master; one process)
//!
//! DESCRIPTION
//!   anvil counts, for each client of each smtpd service (`service:address`),
//!   its simultaneous connections and, per `anvil_rate_time_unit`, its
//!   connections, messages, recipients, new TLS sessions and AUTH commands,
//!   as Postfix's anvil(8). smtpd asks it (ipc::anvil) and enforces
//!   smtpd_client_connection_count_limit and the smtpd_client_*_rate_limit
//!   settings with the numbers it gets back.
//!
//!   A rate is the number of events since the client's current time unit
//!   began; the unit restarts with the first event after it ran out. The
//!   connections an smtpd process reported are forgotten when that process
//!   closes its connection to anvil, so a crashed smtpd leaves no counts
//!   behind. Clients with no connection and an expired unit are dropped.
//!
//!   At the first request after each `anvil_status_update_time`, anvil logs
//!   the peaks since the last report, as Postfix does: `statistics: max
//!   connection rate 3/60s for (smtp:192.0.2.1) at Nov 21 10:00:00`, the same
//!   for connection count, message, recipient, newtls and auth rates, and
//!   `statistics: max cache size N at …`.
//!
//! SECURITY
//!   anvil runs unprivileged (mail_owner) and talks only to local clients
//!   on `private/anvil`: request lines of at most 400 bytes with a checked
//!   event word and identifier; anything else ends that client's connection.
//!   It keeps at most one entry per client identifier that smtpd sends.
//!
//! CONFIGURATION PARAMETERS
//!   anvil_rate_time_unit, anvil_status_update_time.
//!
//! FILES
//!   $queue_directory/private/anvil, the service socket.

use ipc::anvil::{parse_request, Event};
use params::table as p;
use server::multi::{serve_lines, Stream};
use server::{Context, Flow, MultiService, Service};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The longest request line.
const MAX_LINE: usize = 400;
/// Answers one client may leave unread before it is dropped.
const MAX_OUTPUT: usize = 64 << 10;

/// The rates counted per time unit.
const RATES: [&str; 5] = ["connect", "message", "recipient", "newtls", "auth"];

/// One client identifier's numbers.
#[derive(Debug, Default)]
struct Entry {
    count: u64,
    unit_start: Option<Instant>,
    rates: [u64; 5],
}

/// A peak since the last report: value, identifier, when.
#[derive(Debug, Default, Clone)]
struct Peak {
    value: u64,
    ident: String,
    at: i64,
}

#[derive(Debug)]
struct Counters {
    unit: Duration,
    entries: HashMap<String, Entry>,
    /// Peaks of the rates (RATES order) and of the count (last).
    peaks: [Peak; 6],
    max_cache: (usize, i64),
    last_report: Instant,
    report_every: Duration,
    requests: u64,
}

impl Counters {
    fn new(unit: Duration, report_every: Duration) -> Counters {
        Counters {
            unit,
            entries: HashMap::new(),
            peaks: Default::default(),
            max_cache: (0, 0),
            last_report: Instant::now(),
            report_every,
            requests: 0,
        }
    }

    fn peak(&mut self, which: usize, value: u64, ident: &str) {
        if value > self.peaks[which].value {
            self.peaks[which] = Peak {
                value,
                ident: ident.to_string(),
                at: util::time::now(),
            };
        }
    }

    /// Records `event` for `ident`; the answer line.
    fn event(&mut self, event: Event, ident: &str, now: Instant) -> String {
        self.requests += 1;
        if self.requests.is_multiple_of(1000) {
            self.sweep(now);
        }
        if event == Event::Lookup {
            let e = self.entries.get(ident);
            let expired = e
                .and_then(|e| e.unit_start)
                .is_none_or(|s| now.duration_since(s) >= self.unit);
            let rate = |i: usize| e.filter(|_| !expired).map_or(0, |e| e.rates[i]);
            return format!(
                "count={} connect={} message={} recipient={} newtls={} auth={}",
                e.map_or(0, |e| e.count),
                rate(0),
                rate(1),
                rate(2),
                rate(3),
                rate(4)
            );
        }
        let unit = self.unit;
        let entry = self.entries.entry(ident.to_string()).or_default();
        if event == Event::Disconnect {
            entry.count = entry.count.saturating_sub(1);
            return "ok".into();
        }
        if entry
            .unit_start
            .is_none_or(|s| now.duration_since(s) >= unit)
        {
            entry.unit_start = Some(now);
            entry.rates = [0; 5];
        }
        let i = match event {
            Event::Connect => 0,
            Event::Message => 1,
            Event::Recipient => 2,
            Event::NewTls => 3,
            _ => 4,
        };
        entry.rates[i] += 1;
        let rate = entry.rates[i];
        let answer = if event == Event::Connect {
            entry.count += 1;
            let count = entry.count;
            self.peak(5, count, ident);
            format!("count={count} rate={rate}")
        } else {
            format!("rate={rate}")
        };
        self.peak(i, rate, ident);
        let size = self.entries.len();
        if size > self.max_cache.0 {
            self.max_cache = (size, util::time::now());
        }
        answer
    }

    /// Drops clients with no connection whose time unit ran out.
    fn sweep(&mut self, now: Instant) {
        let unit = self.unit;
        self.entries.retain(|_, e| {
            e.count > 0 || e.unit_start.is_some_and(|s| now.duration_since(s) < unit)
        });
    }

    /// Logs the peaks since the last report (if any) and starts anew.
    fn report(&mut self) {
        let unit = self.unit.as_secs();
        for (i, name) in RATES.iter().enumerate() {
            let p = std::mem::take(&mut self.peaks[i]);
            if p.value > 0 {
                let what = match *name {
                    "connect" => "connection",
                    other => other,
                };
                maillog::info!(
                    "statistics: max {what} rate {}/{unit}s for ({}) at {}",
                    p.value,
                    p.ident,
                    util::time::syslog_stamp(p.at)
                );
            }
        }
        let p = std::mem::take(&mut self.peaks[5]);
        if p.value > 0 {
            maillog::info!(
                "statistics: max connection count {} for ({}) at {}",
                p.value,
                p.ident,
                util::time::syslog_stamp(p.at)
            );
        }
        if self.max_cache.0 > 0 {
            maillog::info!(
                "statistics: max cache size {} at {}",
                self.max_cache.0,
                util::time::syslog_stamp(self.max_cache.1)
            );
            self.max_cache = (0, 0);
        }
        self.last_report = Instant::now();
    }
}

struct Anvil {
    counters: Option<Rc<RefCell<Counters>>>,
}

/// One smtpd process's connection.
struct Session {
    counters: Rc<RefCell<Counters>>,
    input: Vec<u8>,
    output: Vec<u8>,
    /// The identifiers it reported connected and not yet disconnected.
    connected: Vec<String>,
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut c = self.counters.borrow_mut();
        for ident in self.connected.drain(..) {
            if let Some(e) = c.entries.get_mut(&ident) {
                e.count = e.count.saturating_sub(1);
            }
        }
    }
}

impl Service for Anvil {
    fn long_running(&self) -> bool {
        true
    }

    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.counters = Some(Rc::new(RefCell::new(Counters::new(
            ctx.config.time(&p::ANVIL_RATE_TIME_UNIT),
            ctx.config.time(&p::ANVIL_STATUS_UPDATE_TIME),
        ))));
        Ok(())
    }
}

impl Anvil {
    fn pump(sess: &mut Session, stream: &mut Stream) -> Flow {
        let now = Instant::now();
        let (counters, connected) = (&sess.counters, &mut sess.connected);
        let flow = serve_lines(
            stream,
            &mut sess.input,
            &mut sess.output,
            (MAX_LINE, MAX_OUTPUT),
            |line| {
                let (event, ident) = parse_request(line)?;
                let answer = counters.borrow_mut().event(event, ident, now);
                match event {
                    Event::Connect => connected.push(ident.to_string()),
                    Event::Disconnect => {
                        if let Some(i) = connected.iter().position(|c| c == ident) {
                            connected.swap_remove(i);
                        }
                    }
                    _ => {}
                }
                Some(answer + "\n")
            },
        );
        if flow == Flow::Close {
            return Flow::Close;
        }
        let due = {
            let c = sess.counters.borrow();
            c.last_report.elapsed() >= c.report_every
        };
        if due {
            sess.counters.borrow_mut().report();
        }
        Flow::Continue
    }
}

impl MultiService for Anvil {
    type Session = Session;

    fn open(&mut self, _ctx: &Context, _stream: &mut Stream) -> Option<Session> {
        Some(Session {
            counters: self.counters.clone()?,
            input: Vec::new(),
            output: Vec::new(),
            connected: Vec::new(),
        })
    }

    fn ready(&mut self, _ctx: &Context, sess: &mut Session, stream: &mut Stream) -> Flow {
        Self::pump(sess, stream)
    }
}

fn main() {
    server::multi_server("anvil", Anvil { counters: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rates_and_units() {
        let mut c = Counters::new(Duration::from_secs(60), Duration::from_secs(600));
        let t0 = Instant::now();
        assert_eq!(
            c.event(Event::Connect, "smtp:192.0.2.1", t0),
            "count=1 rate=1"
        );
        assert_eq!(
            c.event(Event::Connect, "smtp:192.0.2.1", t0),
            "count=2 rate=2"
        );
        assert_eq!(c.event(Event::Message, "smtp:192.0.2.1", t0), "rate=1");
        assert_eq!(c.event(Event::Disconnect, "smtp:192.0.2.1", t0), "ok");
        assert_eq!(
            c.event(Event::Lookup, "smtp:192.0.2.1", t0),
            "count=1 connect=2 message=1 recipient=0 newtls=0 auth=0"
        );
        // A new unit starts the rates again; the count stays.
        let t1 = t0 + Duration::from_secs(61);
        assert_eq!(
            c.event(Event::Connect, "smtp:192.0.2.1", t1),
            "count=2 rate=1"
        );
        assert_eq!(
            c.event(Event::Connect, "smtp:192.0.2.2", t1),
            "count=1 rate=1"
        );
        // Clients with no connection and an expired unit go.
        c.event(Event::Disconnect, "smtp:192.0.2.2", t1);
        c.sweep(t1 + Duration::from_secs(61));
        assert!(c.entries.contains_key("smtp:192.0.2.1"));
        assert!(!c.entries.contains_key("smtp:192.0.2.2"));
        assert_eq!(c.peaks[0].value, 2);
        assert_eq!(c.peaks[5].value, 2);
        c.report();
        assert_eq!(c.peaks[0].value, 0);
    }
}
