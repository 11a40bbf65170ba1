//! The per-client-address brute-force throttle: each failed login from an
//! address doubles the delay before its failure reply, from
//! `auth_failure_delay` up to [`MAX_DELAY`] (Dovecot's auth penalty: 2 s,
//! doubling, at most 15 s). A success waits out the [`Throttle::penalty`]
//! earned so far, then clears the address; an address quiet for
//! [`FORGET_AFTER`] is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const MAX_DELAY: Duration = Duration::from_secs(15);
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// How many addresses are remembered at most.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<IpAddr, (u32, Instant)>,
}

impl Throttle {
    /// Records a failure and returns how long to delay its reply.
    pub fn failure(&mut self, ip: Option<IpAddr>, base: Duration, now: Instant) -> Duration {
        let Some(ip) = ip else {
            return base;
        };
        if self.failures.len() >= MAX_ENTRIES {
            self.failures
                .retain(|_, (_, t)| now.saturating_duration_since(*t) < FORGET_AFTER);
            if self.failures.len() >= MAX_ENTRIES {
                if let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| *k)
                {
                    self.failures.remove(&oldest);
                }
            }
        }
        let e = self.failures.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(e.1) >= FORGET_AFTER {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        delay(base, e.0)
    }

    /// The delay an address has earned so far, without counting a new
    /// failure (zero for an address without failures).
    pub fn penalty(&self, ip: Option<IpAddr>, base: Duration) -> Duration {
        match ip.and_then(|ip| self.failures.get(&ip)) {
            Some((n, _)) if *n > 0 => delay(base, *n),
            _ => Duration::ZERO,
        }
    }

    pub fn success(&mut self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.failures.remove(&ip);
        }
    }

    /// Failures remembered for `ip`.
    pub fn count(&self, ip: IpAddr) -> u32 {
        self.failures.get(&ip).map_or(0, |e| e.0)
    }
}

/// `base · 2^(n-1)`, capped at the larger of `base` and [`MAX_DELAY`].
pub fn delay(base: Duration, failures: u32) -> Duration {
    let cap = base.max(MAX_DELAY);
    let shift = failures.saturating_sub(1).min(16);
    base.saturating_mul(1u32 << shift).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_failure_and_resets() {
        let mut t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let now = Instant::now();
        let b = Duration::from_secs(2);
        let d: Vec<u64> = (0..5)
            .map(|_| t.failure(Some(ip), b, now).as_secs())
            .collect();
        assert_eq!(d, [2, 4, 8, 15, 15]);
        assert_eq!(t.failure(Some(other), b, now).as_secs(), 2);
        assert_eq!(t.penalty(Some(ip), b).as_secs(), 15);
        assert_eq!(t.penalty(Some(other), b).as_secs(), 2);
        t.success(Some(ip));
        assert_eq!(t.count(ip), 0);
        assert_eq!(t.penalty(Some(ip), b), Duration::ZERO);
        assert_eq!(t.failure(Some(ip), b, now + FORGET_AFTER).as_secs(), 2);
        assert_eq!(t.failure(None, Duration::ZERO, now), Duration::ZERO);
    }
}
