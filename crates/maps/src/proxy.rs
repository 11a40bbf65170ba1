//! `proxy:TYPE:NAME`: a table looked up through the proxymap service
//! (`$queue_directory/private/proxymap`), as Postfix's proxymap(8), so
//! that many short-lived workers share the few database connections the
//! proxymap processes keep open instead of each opening its own.
//!
//! The protocol is one line each way, fields separated by tabs, with tab,
//! LF, CR and `\x01` in a field written as `\x01t`, `\x01n`, `\x01r`,
//! `\x01` `1` (Dovecot's escaping):
//!
//! ```text
//! C: lookup <TAB> mysql:/etc/mailsuite/users.cf <TAB> bob@example.com
//! S: OK <TAB> value  |  NOTFOUND  |  TEMP <TAB> reason  |  DENIED <TAB> reason
//! ```
//!
//! Both sides bound a line to [`MAX_LINE`] bytes. The server answers only
//! for tables listed in proxy_read_maps (checked by the proxymap program).
//!
//! Where no proxymap service runs (its socket is absent or refuses
//! connections: a master.cf without the `proxymap` line, or a command run
//! outside a mail system), the table is opened and read directly, as it
//! would be without `proxy:` — the defaults use `proxy:unix:passwd.byname`
//! and must work either way.

use crate::{Map, MapError, MapKind};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The longest request or reply line.
pub const MAX_LINE: usize = 1 << 20;

static SOCKET: OnceLock<PathBuf> = OnceLock::new();

/// Where the proxymap service listens; set once per process by the server
/// skeleton and the commands (from queue_directory).
pub fn set_socket(path: PathBuf) {
    let _ = SOCKET.set(path);
}

pub use util::tabescape::{escape, unescape};

/// A request as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub table: String,
    pub key: String,
}

impl Request {
    pub fn parse(line: &str) -> Option<Request> {
        let mut f = line.split('\t');
        if f.next()? != "lookup" {
            return None;
        }
        let table = unescape(f.next()?)?;
        let key = unescape(f.next()?)?;
        if f.next().is_some() || table.is_empty() || table.len() > 4096 || key.len() > 4096 {
            return None;
        }
        Some(Request { table, key })
    }

    pub fn line(&self) -> String {
        format!("lookup\t{}\t{}\n", escape(&self.table), escape(&self.key))
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
    kind: MapKind,
    conn: Mutex<Option<BufReader<UnixStream>>>,
    /// The table opened here, once the service turned out to be absent.
    direct: OnceLock<Result<Box<dyn Map>, String>>,
}

impl ProxyMap {
    pub fn open(spec: String, inner: &str) -> Result<ProxyMap, MapError> {
        if !inner.contains(':') {
            return Err(MapError::BadSpec {
                spec,
                reason: String::new(),
            });
        }
        let t = inner.split(':').next().unwrap_or("");
        let kind = if matches!(t, "regexp" | "pcre" | "cidr") {
            MapKind::Pattern
        } else {
            MapKind::Fixed
        };
        Ok(ProxyMap {
            spec,
            inner: inner.to_string(),
            kind,
            conn: Mutex::new(None),
            direct: OnceLock::new(),
        })
    }

    fn direct(&self) -> Result<&dyn Map, MapError> {
        match self
            .direct
            .get_or_init(|| crate::open(&self.inner, &crate::Ctx::new()).map_err(|e| e.to_string()))
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

    /// Err(None): no proxymap service to ask.
    fn ask(
        &self,
        conn: &mut Option<BufReader<UnixStream>>,
        req: &str,
    ) -> Result<Reply, Option<String>> {
        if conn.is_none() {
            let Some(path) = SOCKET.get() else {
                return Err(None);
            };
            let s = match UnixStream::connect(path) {
                Ok(s) => s,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    return Err(None)
                }
                Err(e) => return Err(Some(format!("connect to {}: {e}", path.display()))),
            };
            let t = Some(Duration::from_secs(100));
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
        self.kind
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let req = Request {
            table: self.inner.clone(),
            key: key.to_string(),
        }
        .line();
        if self.direct.get().is_some() {
            return self.direct()?.lookup(key);
        }
        let mut guard = self.conn.lock().map_err(|_| self.fail("lock poisoned"))?;
        // One retry on a fresh connection: proxymap processes come and go
        // (max_idle, max_use).
        let reply = match self.ask(&mut guard, &req) {
            Ok(r) => r,
            Err(None) => {
                drop(guard);
                return self.direct()?.lookup(key);
            }
            Err(Some(_)) => {
                *guard = None;
                match self.ask(&mut guard, &req) {
                    Ok(r) => r,
                    Err(None) => {
                        drop(guard);
                        return self.direct()?.lookup(key);
                    }
                    Err(Some(e)) => {
                        *guard = None;
                        return Err(self.fail(e));
                    }
                }
            }
        };
        match reply {
            Reply::Found(v) => Ok(Some(v)),
            Reply::NotFound => Ok(None),
            Reply::Temp(r) | Reply::Denied(r) => Err(self.fail(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let r = Request {
            table: "mysql:/etc/x.cf".into(),
            key: "a\tb\nc\x01".into(),
        };
        let line = r.line();
        assert_eq!(line.matches('\t').count(), 2);
        assert_eq!(Request::parse(line.trim_end()), Some(r));
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
        ] {
            assert_eq!(Request::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Reply::parse("MAYBE"), None);
        assert_eq!(Reply::parse("NOTFOUND\tx"), None);
    }
}
