//! Connection reuse (`smtp_connection_cache_on_demand`,
//! `smtp_connection_cache_destinations`): after a transaction the session
//! is kept for `smtp_connection_cache_time_limit` (2 s), and the next
//! request for the same next hop that reaches this process uses it instead
//! of a new connection, EHLO, STARTTLS and AUTH. A reaper thread says QUIT
//! when nobody came in time. Postfix keeps such sessions in its scache
//! service; here each agent process keeps at most one.

use crate::conn::{Conn, Stage};
use smtp_proto::{Capabilities, Command};
use std::sync::{Arc, Condvar, Mutex};
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

/// The cached session and when it expires; `closing`: the cache is gone.
#[derive(Default)]
struct State {
    slot: Option<(Instant, Cached)>,
    closing: bool,
    reaper: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// This process's cached session, if any. One reaper thread, started
/// with the first session kept, closes it when its time is up.
pub struct Cache {
    shared: Shared,
    idle: Duration,
}

fn close(mut c: Cached) {
    let _ = c.conn.send(
        &Command::Quit.to_bytes(),
        Stage::Quit,
        Duration::from_secs(5),
    );
}

/// Waits for the cached session's time to be up and closes it, until the
/// cache is dropped.
fn reap(shared: &Shared) {
    let (lock, cvar) = &**shared;
    let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if st.closing {
            return;
        }
        match st.slot.as_ref().map(|(until, _)| *until) {
            None => st = cvar.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(until) => {
                let now = Instant::now();
                if now >= until {
                    let expired = st.slot.take();
                    drop(st);
                    if let Some((_, c)) = expired {
                        close(c);
                    }
                    st = lock.lock().unwrap_or_else(|e| e.into_inner());
                } else {
                    st = cvar
                        .wait_timeout(st, until - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

impl Cache {
    pub fn new(idle: Duration) -> Cache {
        Cache {
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
            idle,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached session for `key`; a session for another key is closed.
    pub fn take(&self, key: &str) -> Option<Cached> {
        let taken = self.state().slot.take();
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
        let mut st = self.state();
        if !st.reaper {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("smtp-cache".into())
                .spawn(move || reap(&shared));
            if spawned.is_err() {
                // No reaper: do not keep what nobody would close.
                drop(st);
                close(c);
                return;
            }
            st.reaper = true;
        }
        let until = Instant::now()
            .checked_add(self.idle)
            .unwrap_or_else(Instant::now);
        let old = st.slot.replace((until, c));
        drop(st);
        self.shared.1.notify_one();
        if let Some((_, old)) = old {
            close(old);
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.state().closing = true;
        self.shared.1.notify_one();
    }
}
