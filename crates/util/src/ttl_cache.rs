//! Recent answers by key, each reused for a fixed time: lookups that would
//! otherwise ask a database through proxymap for every message (a
//! domain's address class, a recipient's route) are asked once per key
//! and period. A change to a table takes effect within that period.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V> {
    ttl: Duration,
    /// Entries kept at most; the cache is emptied when it would grow past.
    max: usize,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        TtlCache {
            ttl,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer stored for `key` less than the period ago.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, v) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    pub fn put(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_cache_stays_bounded() {
        // A period a busy machine does not overrun between two lines.
        let c = TtlCache::new(Duration::from_secs(1), 2);
        c.put("a".into(), 1);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.get("b"), None);
        c.put("b".into(), 2);
        c.put("c".into(), 3);
        assert_eq!((c.get("a"), c.get("c")), (None, Some(3)));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(c.get("c"), None);
    }
}
