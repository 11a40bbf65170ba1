//! `mysql:/file.cf` (MySQL and MariaDB), with the pure-Rust `mysql`
//! client: one connection per table, kept open between look-ups.
//!
//! `hosts` (`host`, `host:port`, `inet:host:port`, `unix:/socket`) are
//! tried in random order, `unix:` sockets first, as Postfix's
//! mysql_table(5) says; a host that fails is skipped for
//! `retry_interval` (default 60s). A connection idle for `idle_interval`
//! (default 60s) is closed and opened again, and one that breaks during a
//! look-up is opened again (on the next host if need be) and the query run
//! once more. `connect_timeout` (default 5s) and `read_timeout` /
//! `write_timeout` (default 30s) bound how long a look-up waits; running
//! out is a temporary failure. TLS is used when `tls_CAfile`,
//! `tls_cert_file` or `tls_key_file` is set; the server's certificate is
//! checked only with `tls_verify_cert = yes`, as in Postfix.

use super::failover::Failover;
use super::{Backend, Cf};
use crate::error::MapError;
use mysql::prelude::Queryable;
use mysql::{ClientIdentity, Conn, Error, OptsBuilder, SslOpts, Value};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Tcp(String, u16),
    Socket(String),
}

impl Host {
    fn parse(text: &str) -> Result<Host, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(Host::Socket(path.to_string()));
        }
        let hp = text.strip_prefix("inet:").unwrap_or(text);
        // [v6]:port, host:port, host
        let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
            match rest.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
                None => return Err(format!("bad host: {text}")),
            }
        } else if hp.matches(':').count() == 1 {
            let (h, p) = hp.split_once(':').unwrap_or((hp, ""));
            (h, Some(p))
        } else {
            (hp, None)
        };
        let port = match port {
            None => 3306,
            Some(p) => p.parse().map_err(|_| format!("bad port in host: {text}"))?,
        };
        if host.is_empty() {
            return Err(format!("bad host: {text}"));
        }
        Ok(Host::Tcp(host.to_string(), port))
    }

    fn name(&self) -> String {
        match self {
            Host::Tcp(h, p) => format!("{h}:{p}"),
            Host::Socket(s) => format!("unix:{s}"),
        }
    }
}

pub(crate) struct Mysql {
    hosts: Vec<Host>,
    base: OptsBuilder,
    conn: Failover<Conn>,
}

/// Whether an error means the connection is no longer usable.
fn broken(e: &Error) -> bool {
    match e {
        Error::IoError(_) | Error::CodecError(_) | Error::DriverError(_) => true,
        // Killed, server shutdown, gone away, lost, idle timeout.
        Error::MySqlError(m) => matches!(m.code, 1053 | 1927 | 2006 | 2013 | 4031),
        _ => false,
    }
}

fn text(v: &Value) -> Option<String> {
    Some(match v {
        Value::NULL => return None,
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            if *h == 0 && *mi == 0 && *s == 0 && *us == 0 {
                format!("{y:04}-{mo:02}-{d:02}")
            } else if *us == 0 {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            if *us == 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            }
        }
    })
}

impl Mysql {
    pub(crate) fn open(cf: &Cf) -> Result<Mysql, MapError> {
        let hosts = cf
            .hosts()
            .iter()
            .map(|h| Host::parse(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cf.bad(e))?;
        let mut base = OptsBuilder::new()
            .user(cf.get("user"))
            .pass(cf.get("password"))
            .db_name(cf.get("dbname").filter(|d| !d.is_empty()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(cf.time("connect_timeout", 5)?))
            .read_timeout(Some(cf.time("read_timeout", 30)?))
            .write_timeout(Some(cf.time("write_timeout", 30)?));
        let ca = cf.get("tls_CAfile").filter(|s| !s.is_empty());
        let cert = cf.get("tls_cert_file").filter(|s| !s.is_empty());
        let key = cf.get("tls_key_file").filter(|s| !s.is_empty());
        if ca.is_some() || cert.is_some() || key.is_some() {
            let verify = matches!(cf.str_or("tls_verify_cert", "no").as_str(), "yes" | "true");
            let mut ssl = SslOpts::default()
                .with_danger_accept_invalid_certs(!verify)
                .with_danger_skip_domain_validation(!verify);
            if let Some(ca) = ca {
                ssl = ssl.with_root_cert_path(Some(PathBuf::from(ca)));
            }
            match (cert, key) {
                (Some(c), Some(k)) => {
                    ssl = ssl.with_client_identity(Some(ClientIdentity::new(
                        PathBuf::from(c),
                        PathBuf::from(k),
                    )));
                }
                (None, None) => {}
                _ => return Err(cf.bad("tls_cert_file and tls_key_file go together".into())),
            }
            base = base.ssl_opts(ssl);
        }
        if hosts.is_empty() {
            return Err(cf.bad("no hosts".into()));
        }
        let conn = Failover::new(
            hosts.iter().map(Host::name).collect(),
            cf.time("retry_interval", 60)?,
            cf.time("idle_interval", 60)?,
        );
        Ok(Mysql { hosts, base, conn })
    }

    /// Connects to the `i`th host.
    fn connect(&self, i: usize) -> Result<Conn, String> {
        let opts = match &self.hosts[i] {
            Host::Tcp(h, p) => self
                .base
                .clone()
                .ip_or_hostname(Some(h.as_str()))
                .tcp_port(*p),
            Host::Socket(s) => self.base.clone().socket(Some(s.as_str())),
        };
        Conn::new(opts).map_err(|e| e.to_string())
    }
}

fn run(conn: &mut Conn, sql: &str, params: &[String]) -> Result<Vec<Option<String>>, Error> {
    let values: Vec<Value> = params
        .iter()
        .map(|p| Value::Bytes(p.as_bytes().to_vec()))
        .collect();
    let result = conn.exec_iter(sql, values)?;
    let mut out = Vec::new();
    for row in result {
        let row = row?;
        for i in 0..row.len() {
            out.push(row.as_ref(i).and_then(text));
        }
    }
    Ok(out)
}

impl Backend for Mysql {
    fn query(&self, sql: &str, params: &[String]) -> Result<Vec<Option<String>>, String> {
        self.conn.query(
            |_| true,
            |i| self.connect(i),
            |conn| run(conn, sql, params).map_err(|e| (broken(&e), e.to_string())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_syntax() {
        assert_eq!(Host::parse("db1").unwrap(), Host::Tcp("db1".into(), 3306));
        assert_eq!(
            Host::parse("inet:10.0.0.1:3307").unwrap(),
            Host::Tcp("10.0.0.1".into(), 3307)
        );
        assert_eq!(
            Host::parse("[::1]:3310").unwrap(),
            Host::Tcp("::1".into(), 3310)
        );
        assert_eq!(
            Host::parse("unix:/run/mysqld/mysqld.sock").unwrap(),
            Host::Socket("/run/mysqld/mysqld.sock".into())
        );
        assert!(Host::parse("db:port").is_err());
        assert!(Host::parse(":3306").is_err());
    }
}
