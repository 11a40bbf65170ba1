//! The connection a network SQL table (mysql, pgsql) keeps, and the
//! failover across its `hosts` when it must make a new one, as Postfix's
//! dict_mysql and dict_pgsql do: hosts are tried in order; one that
//! failed is skipped for `retry_interval`; a connection idle longer than
//! `idle_interval` is not reused (the server may have closed it); a query
//! on a kept connection that turns out broken is tried once more on a
//! new one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

struct State<C> {
    conn: Option<(C, Instant)>,
    /// Per host: skipped until then after a failure.
    down_until: Vec<Option<Instant>>,
}

pub(crate) struct Failover<C> {
    /// The hosts' names, for messages.
    names: Vec<String>,
    retry_interval: Duration,
    idle_interval: Duration,
    state: Mutex<State<C>>,
}

impl<C> Failover<C> {
    pub(crate) fn new(
        names: Vec<String>,
        retry_interval: Duration,
        idle_interval: Duration,
    ) -> Self {
        let n = names.len();
        Failover {
            names,
            retry_interval,
            idle_interval,
            state: Mutex::new(State {
                conn: None,
                down_until: vec![None; n],
            }),
        }
    }

    /// Runs one query with `run` on the kept connection if `usable` says
    /// it still is, else on a new one from `connect` (given a host's
    /// index). `run` fails with `(broken, reason)`: a broken connection
    /// is dropped. The error is the reason for a temporary failure.
    pub(crate) fn query<T>(
        &self,
        usable: impl Fn(&C) -> bool,
        connect: impl Fn(usize) -> Result<C, String>,
        run: impl Fn(&mut C) -> Result<T, (bool, String)>,
    ) -> Result<T, String> {
        let mut state = self.state.lock().map_err(|_| "connection lock poisoned")?;
        let reused = match state.conn.take() {
            Some((c, used)) if used.elapsed() < self.idle_interval && usable(&c) => Some(c),
            _ => None,
        };
        if let Some(mut conn) = reused {
            match run(&mut conn) {
                Ok(v) => {
                    state.conn = Some((conn, Instant::now()));
                    return Ok(v);
                }
                Err((false, e)) => {
                    state.conn = Some((conn, Instant::now()));
                    return Err(e);
                }
                // The connection broke: once more on a new one.
                Err((true, _)) => {}
            }
        }
        let mut conn = self.connect(&mut state, connect)?;
        match run(&mut conn) {
            Ok(v) => {
                state.conn = Some((conn, Instant::now()));
                Ok(v)
            }
            Err((broken, e)) => {
                if !broken {
                    state.conn = Some((conn, Instant::now()));
                }
                Err(e)
            }
        }
    }

    /// Connects to the first host that answers.
    fn connect(
        &self,
        state: &mut State<C>,
        connect: impl Fn(usize) -> Result<C, String>,
    ) -> Result<C, String> {
        let now = Instant::now();
        let mut errors = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            if state.down_until[i].is_some_and(|t| t > now) {
                errors.push(format!("{name}: marked down"));
                continue;
            }
            match connect(i) {
                Ok(c) => {
                    state.down_until[i] = None;
                    return Ok(c);
                }
                Err(e) => {
                    state.down_until[i] = Some(now + self.retry_interval);
                    errors.push(format!("{name}: {e}"));
                }
            }
        }
        Err(format!(
            "no database server available: {}",
            errors.join("; ")
        ))
    }
}
