//! Per-destination concurrency, as Postfix's queue manager keeps it. A
//! destination starts with `initial_destination_concurrency` deliveries at
//! once. Each delivery that ends without a connection or handshake failure
//! is positive feedback: the window grows toward the transport's
//! `_destination_concurrency_limit`. Each one that fails so (the agent
//! says the destination as a whole failed) is negative feedback: the window
//! shrinks, never below one. When the failures since the last success add up
//! to `_destination_concurrency_failed_cohort_limit` pseudo-cohorts (a
//! window's worth of deliveries each), the destination is dead: its mail
//! is deferred without a try ("delivery temporarily suspended: …") until
//! `minimal_backoff_time` has passed, then it starts again at the initial
//! window.

use params::Config;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A per-transport setting (`<transport>_destination_recipient_limit`),
/// else the default's value.
pub fn transport_int(
    cfg: &Config,
    transport: &str,
    suffix: &str,
    default: &params::Param,
) -> usize {
    cfg.value(&format!("{transport}{suffix}"))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or_else(|| cfg.int(default))
        .max(0) as usize
}

/// A per-transport time (`<transport>_destination_rate_delay`), else the
/// default's value; a bad value warns and counts as the default.
pub fn transport_time(
    cfg: &Config,
    transport: &str,
    suffix: &str,
    default: &params::Param,
) -> Duration {
    let name = format!("{transport}{suffix}");
    match cfg.value(&name) {
        Some(v) => params::value::parse_time(v, 's')
            .ok()
            .filter(|&s| s >= 0)
            .map(|s| Duration::from_secs(s as u64))
            .unwrap_or_else(|| {
                maillog::warning!("{name}: bad time value \"{v}\"; using ${}", default.name);
                cfg.time(default)
            }),
        None => cfg.time(default),
    }
}

/// One amount of feedback: a constant, or a constant divided by the window
/// (`1/concurrency`) or by its square root (`1/sqrt_concurrency`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Fixed(f64),
    PerWindow(f64),
    PerSqrtWindow(f64),
}

impl Amount {
    /// Parses Postfix's syntax; None for anything else (the caller warns
    /// and uses the default, as Postfix does).
    pub fn parse(s: &str) -> Option<Amount> {
        let s = s.trim();
        let (num, per) = match s.split_once('/') {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (s, None),
        };
        let n: f64 = num.parse().ok()?;
        if !(n > 0.0 && n <= 1.0) {
            return None;
        }
        match per {
            None => Some(Amount::Fixed(n)),
            Some("concurrency") => Some(Amount::PerWindow(n)),
            Some("sqrt_concurrency") => Some(Amount::PerSqrtWindow(n)),
            Some(_) => None,
        }
    }

    fn value(self, window: usize) -> f64 {
        let w = window.max(1) as f64;
        match self {
            Amount::Fixed(n) => n,
            Amount::PerWindow(n) => n / w,
            Amount::PerSqrtWindow(n) => n / w.sqrt(),
        }
    }
}

/// How concurrency feedback works for one transport.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// The most deliveries at once to one destination; 0: no limit.
    pub limit: usize,
    pub initial: usize,
    pub positive: Amount,
    pub negative: Amount,
    /// Failed pseudo-cohorts that make a destination dead; 0: never.
    pub cohort_limit: f64,
    /// How long a dead destination stays dead.
    pub dead_time: Duration,
    /// `_destination_rate_delay`: when set, one delivery at a time to a
    /// destination, each this long after the last one ended.
    pub destination_rate_delay: Duration,
    /// `_transport_rate_delay`: the same for all destinations of the transport.
    pub transport_rate_delay: Duration,
}

impl Policy {
    /// The transport's settings (`<transport>_initial_destination_concurrency`
    /// and so on, else the defaults).
    pub fn for_transport(cfg: &Config, transport: &str, dead_time: Duration) -> Policy {
        use params::table as p;
        let int =
            |suffix: &str, default: &params::Param| transport_int(cfg, transport, suffix, default);
        let amount = |suffix: &str, default: &params::Param| {
            let name = format!("{transport}{suffix}");
            let (name, text) = match cfg.value(&name) {
                Some(v) => (name, v),
                None => (default.name.to_string(), cfg.str(default)),
            };
            Amount::parse(text).unwrap_or_else(|| {
                maillog::warning!("{name}: bad feedback value \"{text}\"; using 1");
                Amount::Fixed(1.0)
            })
        };
        Policy {
            limit: int(
                "_destination_concurrency_limit",
                &p::DEFAULT_DESTINATION_CONCURRENCY_LIMIT,
            ),
            initial: int(
                "_initial_destination_concurrency",
                &p::INITIAL_DESTINATION_CONCURRENCY,
            )
            .max(1),
            positive: amount(
                "_destination_concurrency_positive_feedback",
                &p::DEFAULT_DESTINATION_CONCURRENCY_POSITIVE_FEEDBACK,
            ),
            negative: amount(
                "_destination_concurrency_negative_feedback",
                &p::DEFAULT_DESTINATION_CONCURRENCY_NEGATIVE_FEEDBACK,
            ),
            cohort_limit: int(
                "_destination_concurrency_failed_cohort_limit",
                &p::DEFAULT_DESTINATION_CONCURRENCY_FAILED_COHORT_LIMIT,
            ) as f64,
            dead_time,
            destination_rate_delay: transport_time(
                cfg,
                transport,
                "_destination_rate_delay",
                &p::DEFAULT_DESTINATION_RATE_DELAY,
            ),
            transport_rate_delay: transport_time(
                cfg,
                transport,
                "_transport_rate_delay",
                &p::DEFAULT_TRANSPORT_RATE_DELAY,
            ),
        }
    }

    fn start(&self) -> usize {
        if self.limit == 0 {
            self.initial
        } else {
            self.initial.min(self.limit)
        }
    }
}

/// Why a dead destination's mail is not tried now.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspended {
    pub dsn: String,
    pub reason: String,
}

struct Window {
    size: usize,
    success: f64,
    failure: f64,
    cohorts: f64,
    dead: Option<(Instant, Suspended)>,
}

/// The windows of the destinations with deliveries under way or dead,
/// kept from one queue run to the next.
#[derive(Default)]
pub struct Windows {
    map: HashMap<String, Window>,
    /// Rate delays: when the next delivery to a destination (key
    /// `transport:nexthop`) or through a transport (key `transport`) may
    /// start; far ahead while one is under way.
    not_before: HashMap<String, Instant>,
}

/// How far ahead "not before the delivery under way ends" is put.
const UNDER_WAY: Duration = Duration::from_secs(365 * 24 * 3600);

impl Windows {
    /// How many deliveries to `dest` may run at once now (0: dead).
    pub fn size(&self, dest: &str, policy: &Policy) -> usize {
        match self.map.get(dest) {
            Some(w) if w.dead.is_some() => 0,
            Some(w) => w.size,
            None => policy.start(),
        }
    }

    /// Why `dest`'s mail must wait, while it is dead; a destination whose
    /// time is up starts again at the initial window.
    pub fn suspended(&mut self, dest: &str, now: Instant) -> Option<Suspended> {
        let w = self.map.get_mut(dest)?;
        let (until, why) = w.dead.as_ref()?;
        if now < *until {
            return Some(why.clone());
        }
        self.map.remove(dest);
        None
    }

    fn window(&mut self, dest: &str, policy: &Policy) -> &mut Window {
        self.map.entry(dest.to_string()).or_insert_with(|| Window {
            size: policy.start(),
            success: 0.0,
            failure: 0.0,
            cohorts: 0.0,
            dead: None,
        })
    }

    /// A delivery to `dest` ended without trouble at the destination;
    /// `busy` deliveries to it were under way, this one included.
    pub fn good(&mut self, dest: &str, policy: &Policy, busy: usize) {
        let start = policy.start();
        let grows = (policy.limit == 0 || start < policy.limit) && start < busy + policy.initial;
        if !grows && !self.map.contains_key(dest) {
            // A destination at its initial window that would not grow: its
            // state is the default one, which needs no entry.
            return;
        }
        let w = self.window(dest, policy);
        if w.dead.is_some() {
            return;
        }
        let below_limit = policy.limit == 0 || w.size < policy.limit;
        // Grow only a window that is in use, as Postfix does.
        if below_limit && w.size < busy + policy.initial {
            w.success += policy.positive.value(w.size);
            while w.success >= 1.0 {
                w.size += 1;
                w.success -= 1.0;
                w.failure = 0.0;
            }
        }
        w.cohorts = 0.0;
    }

    /// A delivery to `dest` failed at the connection or handshake.
    pub fn failed(&mut self, dest: &str, policy: &Policy, why: Suspended, now: Instant) {
        let w = self.window(dest, policy);
        if w.dead.is_some() {
            return;
        }
        w.cohorts += 1.0 / w.size.max(1) as f64;
        if policy.cohort_limit > 0.0 && w.cohorts >= policy.cohort_limit {
            w.dead = Some((now + policy.dead_time, why));
            return;
        }
        w.failure -= policy.negative.value(w.size);
        while w.failure < 0.0 {
            w.size = w.size.saturating_sub(1);
            w.failure += 1.0;
            w.success = 0.0;
        }
        w.size = w.size.max(1);
    }

    /// When the rate delays let the next delivery to `dest` over
    /// `transport` start, if that is after `now`.
    pub fn rate_wait(
        &self,
        dest: &str,
        transport: &str,
        policy: &Policy,
        now: Instant,
    ) -> Option<Instant> {
        let key = |delay: Duration, key: &str| {
            (!delay.is_zero())
                .then(|| self.not_before.get(key).copied())
                .flatten()
                .filter(|t| *t > now)
        };
        key(policy.destination_rate_delay, dest).max(key(policy.transport_rate_delay, transport))
    }

    /// A delivery starts: with a rate delay, nothing else starts for its
    /// destination (or transport) until it ends and the delay has passed.
    pub fn rate_start(&mut self, dest: &str, transport: &str, policy: &Policy, now: Instant) {
        self.rate_set(dest, transport, policy, now + UNDER_WAY, now + UNDER_WAY);
    }

    /// A delivery has ended: the next may start after the delays.
    pub fn rate_end(&mut self, dest: &str, transport: &str, policy: &Policy, now: Instant) {
        self.rate_set(
            dest,
            transport,
            policy,
            now + policy.destination_rate_delay,
            now + policy.transport_rate_delay,
        );
        if self.not_before.len() > 1000 {
            self.not_before.retain(|_, t| *t > now);
        }
    }

    fn rate_set(&mut self, dest: &str, transport: &str, policy: &Policy, d: Instant, t: Instant) {
        if !policy.destination_rate_delay.is_zero() {
            self.not_before.insert(dest.to_string(), d);
        }
        if !policy.transport_rate_delay.is_zero() {
            self.not_before.insert(transport.to_string(), t);
        }
    }

    /// Forgets every dead destination (`postqueue -f`).
    pub fn revive_all(&mut self) {
        self.map.retain(|_, w| w.dead.is_none());
    }

    /// Forgets a destination with nothing under way that is not dead (as
    /// Postfix forgets an empty queue).
    pub fn idle(&mut self, dest: &str) {
        if self.map.get(dest).is_some_and(|w| w.dead.is_none()) {
            self.map.remove(dest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: usize) -> Policy {
        Policy {
            limit,
            initial: 5,
            positive: Amount::Fixed(1.0),
            negative: Amount::Fixed(1.0),
            cohort_limit: 1.0,
            dead_time: Duration::from_secs(60),
            destination_rate_delay: Duration::ZERO,
            transport_rate_delay: Duration::ZERO,
        }
    }

    fn why() -> Suspended {
        Suspended {
            dsn: "4.4.1".into(),
            reason: "connect to x[192.0.2.1]:25: Connection refused".into(),
        }
    }

    #[test]
    fn amounts_parse_as_postfix_writes_them() {
        assert_eq!(Amount::parse("1"), Some(Amount::Fixed(1.0)));
        assert_eq!(Amount::parse("1/concurrency"), Some(Amount::PerWindow(1.0)));
        assert_eq!(
            Amount::parse(" 0.5 / sqrt_concurrency"),
            Some(Amount::PerSqrtWindow(0.5))
        );
        for bad in ["0", "2", "-1", "x", "1/8", ""] {
            assert_eq!(Amount::parse(bad), None, "{bad}");
        }
        assert!((Amount::PerWindow(1.0).value(4) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn a_window_starts_at_the_initial_concurrency_and_grows_while_in_use() {
        let p = policy(20);
        let mut w = Windows::default();
        assert_eq!(w.size("d", &p), 5);
        assert_eq!(w.size("d", &policy(2)), 2);
        // Five busy: each success opens one more, up to busy + initial.
        for _ in 0..3 {
            w.good("d", &p, 5);
        }
        assert_eq!(w.size("d", &p), 8);
        // Only one busy: the window stays where it is.
        w.good("d", &p, 1);
        assert_eq!(w.size("d", &p), 8);
        for _ in 0..50 {
            w.good("d", &p, 20);
        }
        assert_eq!(w.size("d", &p), 20, "never past the limit");
        w.idle("d");
        assert_eq!(w.size("d", &p), 5, "an idle destination is forgotten");
    }

    #[test]
    fn failures_shrink_the_window_then_the_destination_dies_for_a_while() {
        let p = policy(20);
        let mut w = Windows::default();
        let t0 = Instant::now();
        // 1/5 + 1/4 + 1/3 = 0.78 pseudo-cohorts: alive, window 2.
        for _ in 0..3 {
            w.failed("d", &p, why(), t0);
        }
        assert_eq!(w.size("d", &p), 2);
        assert_eq!(w.suspended("d", t0), None);
        // A success in between (window 3) starts the count of failed
        // cohorts again: 1/3 + 1/2 is not yet one.
        w.good("d", &p, 1);
        for _ in 0..2 {
            w.failed("d", &p, why(), t0);
            assert_eq!(w.suspended("d", t0), None);
        }
        // + 1/1: dead.
        w.failed("d", &p, why(), t0);
        assert_eq!(w.size("d", &p), 0);
        assert_eq!(w.suspended("d", t0 + Duration::from_secs(59)), Some(why()));
        w.idle("d");
        assert_eq!(w.size("d", &p), 0, "a dead destination is remembered");
        assert_eq!(w.suspended("d", t0 + Duration::from_secs(60)), None);
        assert_eq!(w.size("d", &p), 5, "then it starts again");
        for _ in 0..4 {
            w.failed("d", &p, why(), t0);
        }
        assert!(w.suspended("d", t0).is_some());
        w.revive_all();
        assert_eq!(w.suspended("d", t0), None, "a flush revives it");
    }

    #[test]
    fn a_cohort_limit_of_zero_never_kills() {
        let p = Policy {
            cohort_limit: 0.0,
            ..policy(20)
        };
        let mut w = Windows::default();
        for _ in 0..100 {
            w.failed("d", &p, why(), Instant::now());
        }
        assert_eq!(w.size("d", &p), 1);
    }
}
