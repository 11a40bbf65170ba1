//! Who passed postscreen's tests, and until when: in memory, and kept in
//! postscreen_cache_map so that a new postscreen still knows.

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

impl Passes {
    fn latest(&self) -> SystemTime {
        self.greet.max(self.dnsbl).max(self.deep)
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
    /// Changed since it was last saved.
    dirty: AtomicBool,
}

impl Cache {
    pub fn new(passed: HashMap<IpAddr, Passes>) -> Cache {
        Cache {
            passed: Mutex::new(passed),
            dirty: AtomicBool::new(false),
        }
    }

    /// What `ip` passed, and until when.
    pub fn get(&self, ip: IpAddr) -> Passes {
        let passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
        passed.get(&ip).copied().unwrap_or_default()
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
                    file.save(&copy);
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
/// greeting expire (`greet;dnsbl;deep`).
pub struct CacheFile {
    /// Where it is written (inside the jail when chrooted).
    db: PathBuf,
    /// Where it is read at start, before any chroot.
    full: PathBuf,
    sorted: bool,
}

/// How long a change to the cache waits before it is saved.
const CACHE_SAVE_DELAY: Duration = Duration::from_secs(5);

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

    /// The passes still valid in the file (read before the chroot).
    pub fn load(&self) -> HashMap<IpAddr, Passes> {
        let now = SystemTime::now();
        let entries = maps::indexed::read_existing(&self.full).unwrap_or_else(|e| {
            maillog::warning!("postscreen_cache_map: {e}");
            Vec::new()
        });
        entries
            .into_iter()
            .filter_map(|(k, v)| {
                let ip: IpAddr = k.parse().ok()?;
                let passes = Passes::decode(&v)?;
                (passes.latest() > now).then_some((ip, passes))
            })
            .collect()
    }

    fn save(&self, passed: &HashMap<IpAddr, Passes>) {
        let now = SystemTime::now();
        let entries = passed
            .iter()
            .filter(|(_, p)| p.latest() > now)
            .map(|(ip, p)| (ip.to_string(), p.encode()))
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
        let cache = Cache::new(passed);
        let newcomer: IpAddr = "192.0.2.1".parse().expect("ip");
        cache.remember(newcomer, until(60));
        assert!(
            cache.get(newcomer).greet > now,
            "the newcomer is remembered"
        );
        assert_eq!(cache.get(soonest), Passes::default(), "the soonest went");
        assert!(cache.get(IpAddr::from(1_001u32.to_be_bytes())).greet > now);
    }
}
