//! Connection reuse (`smtp_connection_cache_on_demand`,
//! `smtp_connection_cache_destinations`): after a transaction the session
//! is kept for `smtp_connection_cache_time_limit` (2 s), and the next
//! request for the same next hop that reaches this process uses it instead
//! of a new connection, EHLO, STARTTLS and AUTH. A reaper thread says QUIT
//! when nobody came in time. Postfix keeps such sessions in its scache
//! service; here each agent process keeps at most one.

use crate::conn::{Conn, Stage};
use smtp_proto::{Capabilities, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A session ready for the next MAIL FROM.
pub struct Cached {
    /// Next hop, port and TLS level: which requests may use it.
    pub key: String,
    pub conn: Conn,
    pub caps: Capabilities,
    pub opened: Instant,
    /// Transactions so far.
    pub uses: u32,
}

type Slot = Arc<Mutex<Option<(u64, Cached)>>>;

/// This process's cached session, if any.
pub struct Cache {
    slot: Slot,
    generation: AtomicU64,
    idle: Duration,
}

fn close(mut c: Cached) {
    let _ = c.conn.send(
        &Command::Quit.to_bytes(),
        Stage::Quit,
        Duration::from_secs(5),
    );
}

impl Cache {
    pub fn new(idle: Duration) -> Cache {
        Cache {
            slot: Arc::new(Mutex::new(None)),
            generation: AtomicU64::new(0),
            idle,
        }
    }

    /// The cached session for `key`; a session for another key is closed.
    pub fn take(&self, key: &str) -> Option<Cached> {
        let taken = self.slot.lock().ok()?.take();
        match taken {
            Some((_, c)) if c.key == key => Some(c),
            Some((_, other)) => {
                close(other);
                None
            }
            None => None,
        }
    }

    /// Keeps a session for `idle`, then closes it unless taken.
    pub fn put(&self, c: Cached) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut slot) = self.slot.lock() else {
            close(c);
            return;
        };
        if let Some((_, old)) = slot.replace((generation, c)) {
            close(old);
        }
        drop(slot);
        let weak = Arc::downgrade(&self.slot);
        let idle = self.idle;
        let spawned = std::thread::Builder::new()
            .name("smtp-cache".into())
            .spawn(move || {
                std::thread::sleep(idle);
                let Some(slot) = weak.upgrade() else { return };
                let expired = match slot.lock() {
                    Ok(mut s) if s.as_ref().is_some_and(|(g, _)| *g == generation) => s.take(),
                    _ => None,
                };
                if let Some((_, c)) = expired {
                    close(c);
                }
            });
        if spawned.is_err() {
            // No reaper: do not keep what nobody would close.
            if let Some(c) = self.take_any() {
                close(c);
            }
        }
    }

    fn take_any(&self) -> Option<Cached> {
        self.slot.lock().ok()?.take().map(|(_, c)| c)
    }
}
