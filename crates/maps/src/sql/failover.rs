//! The connection a network SQL table (mysql, pgsql) keeps, and the
//! failover across its `hosts` when it must make a new one, as Postfix's
//! dict_mysql and dict_pgsql do: hosts are tried in random order, UNIX
//! domain sockets (`unix:`) before TCP; one that failed is skipped for
//! `retry_interval`; a connection idle longer than
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

    /// The hosts' indexes in the order to try them: sockets first, each
    /// kind shuffled.
    fn order(&self) -> Vec<usize> {
        let mut keyed: Vec<(bool, u64, usize)> = (0..self.names.len())
            .map(|i| {
                let tcp = !self.names[i].starts_with("unix:");
                (tcp, u64::from_ne_bytes(util::random::bytes::<8>()), i)
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, _, i)| i).collect()
    }

    /// Connects to the first host that answers.
    fn connect(
        &self,
        state: &mut State<C>,
        connect: impl Fn(usize) -> Result<C, String>,
    ) -> Result<C, String> {
        let now = Instant::now();
        let mut errors = Vec::new();
        for i in self.order() {
            let name = &self.names[i];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_first_then_tcp_hosts_in_random_order() {
        let names = [
            "db1:3306",
            "unix:/a.sock",
            "db2:3306",
            "db3:3306",
            "unix:/b.sock",
        ];
        let f: Failover<()> = Failover::new(
            names.iter().map(|n| n.to_string()).collect(),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let order = f.order();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3, 4], "every host, once");
            let kinds: Vec<bool> = order
                .iter()
                .map(|&i| names[i].starts_with("unix:"))
                .collect();
            assert_eq!(
                kinds,
                vec![true, true, false, false, false],
                "sockets first: {order:?}"
            );
            firsts.insert(order[2]);
        }
        assert_eq!(firsts.len(), 3, "any TCP host may come first: {firsts:?}");
    }
}
