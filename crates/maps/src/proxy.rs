//! `proxy:TYPE:NAME`: a table looked up through the proxymap service
//! (`$queue_directory/private/$proxymap_service_name`), as Postfix's
//! proxymap(8), so that many short-lived workers share the few database
//! connections the proxymap processes keep open instead of each opening
//! its own — and never read the `.cf` files that hold the passwords.
//!
//! The protocol is one line each way, fields separated by tabs, with tab,
//! LF, CR and `\x01` in a field written as `\x01t`, `\x01n`, `\x01r`,
//! `\x01` `1` (Dovecot's escaping):
//!
//! ```text
//! C: open <TAB> mysql:/etc/mailsuite/users.cf
//! S: OK <TAB> fixed  |  OK <TAB> pattern  |  TEMP <TAB> reason  |  DENIED <TAB> reason
//! C: lookup <TAB> mysql:/etc/mailsuite/users.cf <TAB> bob@example.com
//! S: OK <TAB> value  |  NOTFOUND  |  TEMP <TAB> reason  |  DENIED <TAB> reason
//! ```
//!
//! `open` tells the client whether the table matches fixed strings or
//! patterns (as Postfix's proxymap returns the table's flags), which only
//! the table itself knows: an SQL query using `%u`, `%d` or `%1`…`%9` is
//! a pattern table. Both sides bound a line to [`MAX_LINE`] bytes. The
//! server answers only for tables listed in proxy_read_maps (checked by
//! the proxymap program).
//!
//! Where no proxymap service runs (its socket is absent or refuses
//! connections: a master.cf without the `proxymap` line, or a command run
//! outside a mail system), the table is opened and read directly, with
//! the caller's [`Ctx`](crate::Ctx), as it would be without `proxy:` —
//! the defaults use `proxy:unix:passwd.byname` and must work either way.

use crate::{Map, MapError, MapKind};
use params::table as p;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The longest request or reply line.
pub const MAX_LINE: usize = 1 << 20;

/// The longest table name or key in a request.
pub const MAX_FIELD: usize = 4096;

/// Where the proxymap service listens and how long a client waits for it.
struct Service {
    socket: PathBuf,
    timeout: Duration,
}

static SERVICE: OnceLock<Service> = OnceLock::new();

/// Sets, once per process, where the proxymap service listens
/// (queue_directory, proxymap_service_name) and how long to wait for its
/// answer (ipc_timeout), `queue_dir` as the process sees it: called by the
/// server skeleton and the commands.
pub fn configure(config: &params::Config, queue_dir: &std::path::Path) {
    let _ = SERVICE.set(Service {
        socket: queue_dir
            .join("private")
            .join(config.str(&p::PROXYMAP_SERVICE_NAME)),
        timeout: config.time(&p::IPC_TIMEOUT),
    });
}

pub use util::tabescape::{escape, unescape};

/// A request as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Whether `table` is a fixed-string or a pattern table.
    Open {
        table: String,
    },
    Lookup {
        table: String,
        key: String,
    },
}

impl Request {
    pub fn parse(line: &str) -> Option<Request> {
        let mut f = line.split('\t');
        let verb = f.next()?;
        let table = unescape(f.next()?)?;
        if table.is_empty() || table.len() > MAX_FIELD {
            return None;
        }
        let req = match verb {
            "open" => Request::Open { table },
            "lookup" => {
                let key = unescape(f.next()?)?;
                if key.len() > MAX_FIELD {
                    return None;
                }
                Request::Lookup { table, key }
            }
            _ => return None,
        };
        f.next().is_none().then_some(req)
    }

    pub fn table(&self) -> &str {
        match self {
            Request::Open { table } | Request::Lookup { table, .. } => table,
        }
    }

    /// A lookup line up to its key: the same for every key of a table.
    pub fn lookup_prefix(table: &str) -> String {
        format!("lookup\t{}\t", escape(table))
    }

    pub fn line(&self) -> String {
        match self {
            Request::Open { table } => format!("open\t{}\n", escape(table)),
            Request::Lookup { table, key } => {
                format!("{}{}\n", Request::lookup_prefix(table), escape(key))
            }
        }
    }
}

/// The words an `open` answer names a table's kind with.
pub fn kind_word(k: MapKind) -> &'static str {
    match k {
        MapKind::Fixed => "fixed",
        MapKind::Pattern => "pattern",
    }
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Found(String),
    NotFound,
    Temp(String),
    Denied(String),
}

impl Reply {
    pub fn line(&self) -> String {
        match self {
            Reply::Found(v) => format!("OK\t{}\n", escape(v)),
            Reply::NotFound => "NOTFOUND\n".into(),
            Reply::Temp(r) => format!("TEMP\t{}\n", escape(r)),
            Reply::Denied(r) => format!("DENIED\t{}\n", escape(r)),
        }
    }

    pub fn parse(line: &str) -> Option<Reply> {
        let (word, rest) = line.split_once('\t').unwrap_or((line, ""));
        Some(match word {
            "OK" => Reply::Found(unescape(rest)?),
            "NOTFOUND" if rest.is_empty() => Reply::NotFound,
            "TEMP" => Reply::Temp(unescape(rest)?),
            "DENIED" => Reply::Denied(unescape(rest)?),
            _ => return None,
        })
    }
}

/// The client side: a `proxy:` table.
pub struct ProxyMap {
    /// `proxy:TYPE:NAME`.
    spec: String,
    /// `TYPE:NAME`, what the server opens.
    inner: String,
    /// `lookup TAB TYPE:NAME TAB`, escaped once.
    lookup_prefix: String,
    /// How the table is opened here when no proxymap service runs.
    ctx: crate::Ctx,
    /// The kind proxymap (or the table opened here) said.
    kind: OnceLock<MapKind>,
    conn: Mutex<Option<BufReader<UnixStream>>>,
    /// The table opened here, once the service turned out to be absent.
    direct: OnceLock<Result<Box<dyn Map>, String>>,
}

impl ProxyMap {
    pub fn open(spec: String, inner: &str, ctx: &crate::Ctx) -> Result<ProxyMap, MapError> {
        if !inner.contains(':') {
            return Err(MapError::BadSpec {
                spec,
                reason: String::new(),
            });
        }
        Ok(ProxyMap {
            spec,
            inner: inner.to_string(),
            lookup_prefix: Request::lookup_prefix(inner),
            ctx: ctx.clone(),
            kind: OnceLock::new(),
            conn: Mutex::new(None),
            direct: OnceLock::new(),
        })
    }

    fn direct(&self) -> Result<&dyn Map, MapError> {
        match self
            .direct
            .get_or_init(|| crate::open(&self.inner, &self.ctx).map_err(|e| e.to_string()))
        {
            Ok(m) => Ok(m.as_ref()),
            Err(e) => Err(self.fail(e.clone())),
        }
    }

    fn fail(&self, reason: impl Into<String>) -> MapError {
        MapError::Lookup {
            spec: self.spec.clone(),
            reason: reason.into(),
        }
    }

    /// The kind a table of this type has unless its settings say
    /// otherwise: what is assumed while proxymap cannot be asked.
    fn usual_kind(&self) -> MapKind {
        match self.inner.split(':').next() {
            Some("regexp" | "pcre" | "cidr") => MapKind::Pattern,
            _ => MapKind::Fixed,
        }
    }

    /// Sends one request line and reads the reply, once more on a fresh
    /// connection when the first fails (proxymap processes come and go:
    /// max_idle, max_use). `Ok(None)`: no proxymap service runs.
    fn request(&self, line: &str) -> Result<Option<Reply>, MapError> {
        if self.direct.get().is_some() {
            return Ok(None);
        }
        let mut conn = self.conn.lock().map_err(|_| self.fail("lock poisoned"))?;
        let mut last = String::new();
        for _ in 0..2 {
            match self.ask(&mut conn, line) {
                Ok(r) => return Ok(Some(r)),
                Err(None) => return Ok(None),
                Err(Some(e)) => {
                    *conn = None;
                    last = e;
                }
            }
        }
        Err(self.fail(last))
    }

    /// Err(None): no proxymap service to ask.
    fn ask(
        &self,
        conn: &mut Option<BufReader<UnixStream>>,
        req: &str,
    ) -> Result<Reply, Option<String>> {
        if conn.is_none() {
            let Some(service) = SERVICE.get() else {
                return Err(None);
            };
            let s = match UnixStream::connect(&service.socket) {
                Ok(s) => s,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    return Err(None)
                }
                Err(e) => {
                    return Err(Some(format!(
                        "connect to {}: {e}",
                        service.socket.display()
                    )))
                }
            };
            let t = Some(service.timeout);
            let _ = s.set_read_timeout(t);
            let _ = s.set_write_timeout(t);
            *conn = Some(BufReader::new(s));
        }
        let c = conn
            .as_mut()
            .ok_or_else(|| Some("no connection".to_string()))?;
        c.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| Some(format!("write to proxymap: {e}")))?;
        let mut line = String::new();
        let n = std::io::Read::take(c, MAX_LINE as u64)
            .read_line(&mut line)
            .map_err(|e| Some(format!("read from proxymap: {e}")))?;
        if n == 0 || !line.ends_with('\n') {
            return Err(Some("proxymap closed the connection".into()));
        }
        Reply::parse(line.trim_end_matches('\n'))
            .ok_or_else(|| Some("bad reply from proxymap".into()))
    }
}

impl Map for ProxyMap {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn kind(&self) -> MapKind {
        if let Some(k) = self.kind.get() {
            return *k;
        }
        let asked = Request::Open {
            table: self.inner.clone(),
        };
        let known = match self.request(&asked.line()) {
            Ok(Some(Reply::Found(w))) if w == kind_word(MapKind::Pattern) => Some(MapKind::Pattern),
            Ok(Some(Reply::Found(w))) if w == kind_word(MapKind::Fixed) => Some(MapKind::Fixed),
            // Not in proxy_read_maps: every lookup will be refused too;
            // asking again would only log the refusal again.
            Ok(Some(Reply::Denied(_))) => Some(self.usual_kind()),
            Ok(None) => self.direct().ok().map(|m| m.kind()),
            _ => None,
        };
        // Not known yet (proxymap failed): assume the usual, ask again later.
        match known {
            Some(k) => *self.kind.get_or_init(|| k),
            None => self.usual_kind(),
        }
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        if self.direct.get().is_some() {
            return self.direct()?.lookup(key);
        }
        let line = format!("{}{}\n", self.lookup_prefix, escape(key));
        match self.request(&line)? {
            None => self.direct()?.lookup(key),
            Some(Reply::Found(v)) => Ok(Some(v)),
            Some(Reply::NotFound) => Ok(None),
            Some(Reply::Temp(r) | Reply::Denied(r)) => Err(self.fail(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let r = Request::Lookup {
            table: "mysql:/etc/x.cf".into(),
            key: "a\tb\nc\x01".into(),
        };
        let line = r.line();
        assert_eq!(line.matches('\t').count(), 2);
        assert_eq!(Request::parse(line.trim_end()), Some(r));
        let o = Request::Open {
            table: "mysql:/etc/x.cf".into(),
        };
        assert_eq!(o.line(), "open\tmysql:/etc/x.cf\n");
        assert_eq!(Request::parse(o.line().trim_end()), Some(o));
        for reply in [
            Reply::Found("x,y\tz".into()),
            Reply::NotFound,
            Reply::Temp("down".into()),
            Reply::Denied("not in proxy_read_maps".into()),
        ] {
            assert_eq!(Reply::parse(reply.line().trim_end()), Some(reply));
        }
        for bad in [
            "lookup\tx",
            "lookup\t\tk",
            "get\tx\ty",
            "lookup\tx\ty\tz",
            "lookup\tx\t\x01q",
            "open",
            "open\t",
            "open\tx\ty",
        ] {
            assert_eq!(Request::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Reply::parse("MAYBE"), None);
        assert_eq!(Reply::parse("NOTFOUND\tx"), None);
    }
}
