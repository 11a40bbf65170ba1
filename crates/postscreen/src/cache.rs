//! Who passed postscreen's tests, and until when: in memory, and kept in
//! postscreen_cache_map so that a new postscreen still knows.
//!
//! A client's entry outlives its passes by postscreen_cache_retention_time
//! (a client that passes again is "PASS OLD", not "PASS NEW"), and is
//! dropped by the cleanup that runs every postscreen_cache_cleanup_interval
//! (never when zero), first at start (or when the interval since the last
//! one, kept in the file as Postfix keeps it, has run out), logged as
//! Postfix logs it: "cache btree:/path full cleanup: retained=N dropped=N
//! entries". As in Postfix, an entry goes once any test that is enabled
//! has had no pass for longer than the retention time.

use params::{table as p, Config};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most clients remembered: beyond it, a new one takes the place of
/// the one whose passes expire first.
const CACHE_MAX: usize = 100_000;

/// Until when a client's passes of each kind of test hold (the epoch:
/// not passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    /// The pregreet test (postscreen_greet_ttl).
    pub greet: SystemTime,
    /// The DNS lists (postscreen_dnsbl_min_ttl .. max_ttl).
    pub dnsbl: SystemTime,
    /// The tests after the greeting (the shortest of their ttls).
    pub deep: SystemTime,
}

impl Passes {
    /// Every test passed until `until` (postscreen_dnsbl_allowlist_threshold);
    /// a pass that holds longer stands.
    pub fn allowlist(&mut self, until: SystemTime) {
        for pass in [&mut self.greet, &mut self.dnsbl, &mut self.deep] {
            *pass = (*pass).max(until);
        }
    }
}

impl Default for Passes {
    fn default() -> Passes {
        Passes {
            greet: UNIX_EPOCH,
            dnsbl: UNIX_EPOCH,
            deep: UNIX_EPOCH,
        }
    }
}

/// Which tests are made (the pregreet test always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// postscreen_dnsbl_sites is set.
    pub dnsbl: bool,
    /// One of the tests after the greeting is on.
    pub deep: bool,
}

impl Passes {
    fn latest(&self) -> SystemTime {
        self.greet.max(self.dnsbl).max(self.deep)
    }

    /// Whether the entry stays at a cleanup: every enabled test's pass ran
    /// out no earlier than `cutoff` (now less the retention time), as
    /// Postfix's cache validator judges.
    fn retained(&self, enabled: Enabled, cutoff: SystemTime) -> bool {
        self.greet >= cutoff
            && (!enabled.dnsbl || self.dnsbl >= cutoff)
            && (!enabled.deep || self.deep >= cutoff)
    }

    /// `greet;dnsbl;deep`, seconds since the epoch.
    fn encode(&self) -> String {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        format!(
            "{};{};{}",
            secs(self.greet),
            secs(self.dnsbl),
            secs(self.deep)
        )
    }

    /// What [`Passes::encode`] wrote; a single number counts for all three.
    fn decode(text: &str) -> Option<Passes> {
        let times: Vec<SystemTime> = text
            .trim()
            .split(';')
            .map(|n| {
                n.parse::<u64>()
                    .ok()
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            })
            .collect::<Option<_>>()?;
        match times[..] {
            [all] => Some(Passes {
                greet: all,
                dnsbl: all,
                deep: all,
            }),
            [greet, dnsbl, deep] => Some(Passes { greet, dnsbl, deep }),
            _ => None,
        }
    }
}

/// The clients that passed.
pub struct Cache {
    passed: Mutex<HashMap<IpAddr, Passes>>,
    /// When the last cleanup ended.
    last_cleanup: Mutex<Option<SystemTime>>,
    /// Changed since it was last saved.
    dirty: AtomicBool,
}

impl Cache {
    pub fn new(passed: HashMap<IpAddr, Passes>, last_cleanup: Option<SystemTime>) -> Cache {
        Cache {
            passed: Mutex::new(passed),
            last_cleanup: Mutex::new(last_cleanup),
            dirty: AtomicBool::new(false),
        }
    }

    /// What `ip` passed, and until when; None when the cache has no entry
    /// for it (a new client).
    pub fn get(&self, ip: IpAddr) -> Option<Passes> {
        let passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        passed.get(&ip).copied()
    }

    /// Drops the entries whose enabled tests' passes ran out more than
    /// `retention` before `now`; the entries retained and dropped.
    pub fn cleanup(
        &self,
        enabled: Enabled,
        retention: Duration,
        now: SystemTime,
    ) -> (usize, usize) {
        let cutoff = now.checked_sub(retention).unwrap_or(UNIX_EPOCH);
        let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        let before = passed.len();
        passed.retain(|_, p| p.retained(enabled, cutoff));
        let kept = passed.len();
        drop(passed);
        *self.last_cleanup.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        self.dirty.store(true, Ordering::Relaxed);
        (kept, before - kept)
    }

    /// Cleans the cache every `interval` on a thread of its own, first
    /// when `interval` has passed since the last cleanup (at once when
    /// there was none), logging each run under the cache's `name` (the
    /// postscreen_cache_map value; None: not logged).
    pub fn keep_cleaning(
        self: &Arc<Self>,
        interval: Duration,
        retention: Duration,
        enabled: Enabled,
        name: Option<String>,
    ) {
        let cache = Arc::clone(self);
        let last = *self.last_cleanup.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = last
            .and_then(|t| t.checked_add(interval))
            .and_then(|next| next.duration_since(SystemTime::now()).ok())
            .unwrap_or_default()
            .min(interval);
        let spawned = std::thread::Builder::new()
            .name("cache cleanup".into())
            .spawn(move || loop {
                std::thread::sleep(wait);
                let (retained, dropped) = cache.cleanup(enabled, retention, SystemTime::now());
                if let Some(name) = &name {
                    maillog::info!(
                        "cache {name} full cleanup: retained={retained} dropped={dropped} entries"
                    );
                }
                wait = interval;
            });
        if let Err(e) = spawned {
            maillog::warning!("postscreen_cache_map: cannot start the cleanup thread: {e}");
        }
    }

    /// Remembers `ip`'s passes.
    pub fn remember(&self, ip: IpAddr, passes: Passes) {
        let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now();
        if passed.len() >= CACHE_MAX && !passed.contains_key(&ip) {
            passed.retain(|_, p| p.latest() > now);
            if passed.len() >= CACHE_MAX {
                let soonest = passed
                    .iter()
                    .min_by_key(|(_, p)| p.latest())
                    .map(|(k, _)| *k);
                if let Some(k) = soonest {
                    passed.remove(&k);
                }
            }
        }
        passed.insert(ip, passes);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Saves the cache to `file` when it changed, every
    /// [`CACHE_SAVE_DELAY`], on a thread of its own.
    pub fn keep_saving(self: &Arc<Self>, file: CacheFile) {
        let cache = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("cache".into())
            .spawn(move || loop {
                std::thread::sleep(CACHE_SAVE_DELAY);
                if cache.dirty.swap(false, Ordering::Relaxed) {
                    let copy = cache
                        .passed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    let last = *cache.last_cleanup.lock().unwrap_or_else(|e| e.into_inner());
                    file.save(&copy, last);
                }
            });
        if let Err(e) = spawned {
            maillog::warning!("postscreen_cache_map: cannot start the saving thread: {e}");
        }
    }
}

/// Where the clients that passed are kept between runs: the indexed file
/// of postscreen_cache_map (`btree:` or `hash:`), rewritten whole (temp
/// file, fsync, rename) at most every [`CACHE_SAVE_DELAY`] when it changed.
/// Each entry is the client address and, in seconds since the epoch, when
/// its passes of the pregreet test, the DNS lists and the tests after the
/// greeting expire (`greet;dnsbl;deep`); `_LAST_CACHE_CLEANUP_COMPLETED_`
/// (Postfix's name) holds when the last cleanup ended.
pub struct CacheFile {
    /// Where it is written (inside the jail when chrooted).
    db: PathBuf,
    /// Where it is read at start, before any chroot.
    full: PathBuf,
    sorted: bool,
}

/// How long a change to the cache waits before it is saved.
const CACHE_SAVE_DELAY: Duration = Duration::from_secs(5);

/// The key of the last cleanup's end in the file.
const LAST_CLEANUP: &str = "_LAST_CACHE_CLEANUP_COMPLETED_";

impl CacheFile {
    /// From postscreen_cache_map; None (with a warning) for a table type
    /// that cannot be written, or a file a chrooted postscreen cannot reach.
    pub fn from_config(
        cfg: &Config,
        chrooted: bool,
        queue_dir: &std::path::Path,
    ) -> Option<CacheFile> {
        let spec = cfg.str(&p::POSTSCREEN_CACHE_MAP).trim().to_string();
        if spec.is_empty() {
            return None;
        }
        // split_spec drops a proxy: in front: the file is written here.
        let (kind, name) = match maps::split_spec(&spec) {
            Ok((k @ ("btree" | "hash"), n)) => (k, n),
            _ => {
                maillog::warning!(
                    "postscreen_cache_map: {spec}: only btree and hash tables are kept; the cache is in memory only"
                );
                return None;
            }
        };
        let full = maps::indexed::db_path(name);
        let mut db = full.clone();
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
            full,
            sorted: kind == "btree",
        })
    }

    /// The entries in the file (read before the chroot; expired ones too:
    /// the cleanup drops them), and when the last cleanup ended.
    pub fn load(&self) -> (HashMap<IpAddr, Passes>, Option<SystemTime>) {
        let entries = maps::indexed::read_existing(&self.full).unwrap_or_else(|e| {
            maillog::warning!("postscreen_cache_map: {e}");
            Vec::new()
        });
        let mut last_cleanup = None;
        let mut passed = HashMap::new();
        for (k, v) in entries {
            if k == LAST_CLEANUP {
                last_cleanup = v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s));
            } else if let (Ok(ip), Some(passes)) = (k.parse::<IpAddr>(), Passes::decode(&v)) {
                passed.insert(ip, passes);
            }
        }
        (passed, last_cleanup)
    }

    fn save(&self, passed: &HashMap<IpAddr, Passes>, last_cleanup: Option<SystemTime>) {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut entries: Vec<(String, String)> = passed
            .iter()
            .map(|(ip, p)| (ip.to_string(), p.encode()))
            .collect();
        if let Some(t) = last_cleanup {
            entries.push((LAST_CLEANUP.to_string(), secs(t).to_string()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_round_trip_and_old_entries_count_for_all() {
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        let p = Passes {
            greet: t(10),
            dnsbl: t(20),
            deep: t(0),
        };
        assert_eq!(p.encode(), "10;20;0");
        assert_eq!(Passes::decode("10;20;0"), Some(p));
        assert_eq!(
            Passes::decode("30"),
            Some(Passes {
                greet: t(30),
                dnsbl: t(30),
                deep: t(30)
            })
        );
        assert_eq!(Passes::decode("1;2"), None);
        assert_eq!(Passes::decode("x"), None);
    }

    #[test]
    fn a_full_cache_makes_room_by_what_expires_first() {
        let now = SystemTime::now();
        let until = |secs| Passes {
            greet: now + Duration::from_secs(secs),
            ..Passes::default()
        };
        let mut passed = HashMap::new();
        for i in 0..CACHE_MAX as u32 {
            passed.insert(
                IpAddr::from((i + 1_000).to_be_bytes()),
                until(1_000 + u64::from(i)),
            );
        }
        let soonest = IpAddr::from(1_000u32.to_be_bytes());
        let cache = Cache::new(passed, None);
        let newcomer: IpAddr = "192.0.2.1".parse().expect("ip");
        cache.remember(newcomer, until(60));
        assert!(
            cache.get(newcomer).is_some_and(|p| p.greet > now),
            "the newcomer is remembered"
        );
        assert_eq!(cache.get(soonest), None, "the soonest went");
        assert!(cache
            .get(IpAddr::from(1_001u32.to_be_bytes()))
            .is_some_and(|p| p.greet > now));
    }

    #[test]
    fn cleanup_keeps_what_ran_out_within_the_retention_time() {
        let now = SystemTime::now();
        let ago = |secs| now - Duration::from_secs(secs);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let all = |t| Passes {
            greet: t,
            dnsbl: t,
            deep: t,
        };
        let mut passed = HashMap::new();
        // Still valid; ran out an hour ago; ran out two days ago.
        passed.insert(ip("192.0.2.1"), all(now + Duration::from_secs(60)));
        passed.insert(ip("192.0.2.2"), all(ago(3_600)));
        passed.insert(ip("192.0.2.3"), all(ago(2 * 86_400)));
        // Its pregreet pass is recent, but the DNS lists' ran out long ago.
        passed.insert(
            ip("192.0.2.4"),
            Passes {
                greet: ago(10),
                dnsbl: ago(3 * 86_400),
                deep: UNIX_EPOCH,
            },
        );
        let cache = Cache::new(passed.clone(), None);
        let day = Duration::from_secs(86_400);
        let lists = Enabled {
            dnsbl: true,
            deep: false,
        };
        assert_eq!(cache.cleanup(lists, day, now), (2, 2));
        assert!(cache.get(ip("192.0.2.2")).is_some(), "retained");
        assert!(cache.get(ip("192.0.2.3")).is_none());
        assert!(cache.get(ip("192.0.2.4")).is_none(), "one test is enough");
        assert_eq!(*cache.last_cleanup.lock().expect("lock"), Some(now));
        // Without DNS lists, only the tests that are made count.
        let cache = Cache::new(passed, None);
        let none = Enabled {
            dnsbl: false,
            deep: false,
        };
        assert_eq!(cache.cleanup(none, day, now), (3, 1));
        assert!(cache.get(ip("192.0.2.4")).is_some());
    }

    #[test]
    fn the_file_keeps_expired_entries_and_the_last_cleanup() {
        let dir = std::env::temp_dir().join(format!(
            "postscreen-cache-file-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cache");
        let file = CacheFile {
            db: maps::indexed::db_path(path.to_str().expect("utf8")),
            full: maps::indexed::db_path(path.to_str().expect("utf8")),
            sorted: true,
        };
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        let mut passed = HashMap::new();
        passed.insert(
            "192.0.2.9".parse().expect("ip"),
            Passes::decode("5").expect("p"),
        );
        file.save(&passed, Some(t(1_234)));
        assert_eq!(file.load(), (passed, Some(t(1_234))));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
