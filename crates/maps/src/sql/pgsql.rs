//! `pgsql:/file.cf` (PostgreSQL), with the `tokio-postgres` client (what
//! the blocking `postgres` crate wraps) driven by a private current-thread
//! runtime, so that every connect and query has a deadline — the blocking
//! wrapper has none for a server that accepts and then says nothing. One
//! connection per table, kept open between look-ups.
//!
//! `hosts`: `host`, `host:port`, `inet:host:port`, `unix:/socket/dir` (or
//! the socket file itself), or a `postgresql://` URI; tried in random
//! order, sockets first (sql::failover), with
//! the same `retry_interval`, `idle_interval`, reconnect-once and
//! `connect_timeout` rules as `mysql:`. `connect_timeout` (default 5s)
//! bounds the whole connection set-up and `read_timeout` (default 30s)
//! each query (it is also the server's `statement_timeout`). The key is bound as text and converted by the server to the
//! parameter's type (integer columns work); result columns of types other
//! than text, integers, floats and booleans need a `::text` cast in the
//! query.

use super::failover::Failover;
use super::{Backend, Cf};
use crate::error::MapError;
use bytes::BytesMut;
use std::error::Error;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};

type BoxError = Box<dyn Error + Sync + Send>;

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

/// A key bound as whatever type the server infers for its placeholder.
#[derive(Debug)]
struct Param<'a>(&'a str);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let s = self.0;
        match *ty {
            Type::INT2 => s.parse::<i16>()?.to_sql(ty, out),
            Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
            Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
            Type::OID => s.parse::<u32>()?.to_sql(ty, out),
            Type::BOOL => matches!(s, "t" | "true" | "yes" | "on" | "1").to_sql(ty, out),
            _ if is_text(ty) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            _ => Err(format!(
                "cannot bind the key as type {ty}: compare with a cast, e.g. col::text = '%s'"
            )
            .into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A result column as text.
struct Cell(Option<String>);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        let s = match *ty {
            Type::BOOL => if bool::from_sql(ty, raw)? { "t" } else { "f" }.to_string(),
            Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
            Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
            Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
            Type::OID => u32::from_sql(ty, raw)?.to_string(),
            Type::FLOAT4 => f32::from_sql(ty, raw)?.to_string(),
            Type::FLOAT8 => f64::from_sql(ty, raw)?.to_string(),
            _ if is_text(ty) => String::from_utf8_lossy(raw).into_owned(),
            _ => {
                return Err(format!(
                    "result column of type {ty}: cast it to text in the query (col::text)"
                )
                .into())
            }
        };
        Ok(Cell(Some(s)))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

pub(crate) struct Pgsql {
    /// (name for messages, connection settings)
    hosts: Vec<(String, Config)>,
    connect_timeout: Duration,
    read_timeout: Duration,
    runtime: Runtime,
    client: Failover<Client>,
}

impl Pgsql {
    pub(crate) fn open(cf: &Cf) -> Result<Pgsql, MapError> {
        let connect_timeout = cf.time("connect_timeout", 5)?;
        let read_timeout = cf.time("read_timeout", 30)?;
        let mut hosts = Vec::new();
        for h in cf.hosts() {
            let mut c = if h.starts_with("postgresql://") || h.starts_with("postgres://") {
                h.parse::<Config>()
                    .map_err(|e| cf.bad(format!("bad host {h}: {e}")))?
            } else {
                let mut c = Config::new();
                if let Some(path) = h.strip_prefix("unix:") {
                    let p = Path::new(path);
                    // The socket directory, or the socket file in it.
                    match p.file_name().and_then(|n| n.to_str()) {
                        Some(n) if n.starts_with(".s.PGSQL.") => {
                            let port = n[".s.PGSQL.".len()..]
                                .parse()
                                .map_err(|_| cf.bad(format!("bad host: {h}")))?;
                            c.host_path(p.parent().unwrap_or(Path::new("/")));
                            c.port(port);
                        }
                        _ => {
                            c.host_path(p);
                        }
                    }
                } else {
                    let hp = h.strip_prefix("inet:").unwrap_or(&h);
                    match hp.rsplit_once(':') {
                        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                            let port = port
                                .parse()
                                .map_err(|_| cf.bad(format!("bad port in host: {h}")))?;
                            c.host(host.trim_start_matches('[').trim_end_matches(']'));
                            c.port(port);
                        }
                        _ => {
                            c.host(hp);
                        }
                    }
                }
                c
            };
            if let Some(u) = cf.get("user") {
                c.user(u);
            }
            if let Some(p) = cf.get("password") {
                c.password(p);
            }
            if let Some(d) = cf.get("dbname").filter(|d| !d.is_empty()) {
                c.dbname(d);
            }
            c.connect_timeout(connect_timeout);
            c.options(format!("-c statement_timeout={}", read_timeout.as_millis()));
            c.application_name("mailsuite");
            hosts.push((h.clone(), c));
        }
        if hosts.is_empty() {
            return Err(cf.bad("no hosts".into()));
        }
        let client = Failover::new(
            hosts.iter().map(|(name, _)| name.clone()).collect(),
            cf.time("retry_interval", 60)?,
            cf.time("idle_interval", 60)?,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| cf.bad(format!("cannot start the client runtime: {e}")))?;
        Ok(Pgsql {
            hosts,
            connect_timeout,
            read_timeout,
            runtime,
            client,
        })
    }

    /// Connects to the `i`th host.
    fn connect(&self, i: usize) -> Result<Client, String> {
        let (_, config) = &self.hosts[i];
        self.within(self.connect_timeout, async {
            let (client, connection) = config.connect(NoTls).await.map_err(|e| full(&e))?;
            // Drives the connection while this runtime runs a look-up;
            // ends when the client is dropped or the server goes away.
            tokio::spawn(connection);
            Ok::<Client, String>(client)
        })
    }
}

impl Pgsql {
    /// Runs `f` to completion, or fails after `limit`.
    fn within<T>(
        &self,
        limit: Duration,
        f: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        self.runtime
            .block_on(async { tokio::time::timeout(limit, f).await })
            .unwrap_or_else(|_| Err(format!("timed out after {}s", limit.as_secs_f32())))
    }

    /// One query; `Err((broken, reason))`, `broken` when the connection
    /// cannot be used again.
    fn run(
        &self,
        client: &Client,
        sql: &str,
        params: &[String],
    ) -> Result<Vec<Option<String>>, (bool, String)> {
        let r = self.runtime.block_on(async {
            tokio::time::timeout(self.read_timeout, run(client, sql, params)).await
        });
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err((client.is_closed() || e.as_db_error().is_none(), full(&e))),
            Err(_) => Err((
                true,
                format!("timed out after {}s", self.read_timeout.as_secs_f32()),
            )),
        }
    }
}

/// An error with its causes ("error connecting to server: Connection refused").
fn full(e: &tokio_postgres::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

async fn run(
    client: &Client,
    sql: &str,
    params: &[String],
) -> Result<Vec<Option<String>>, tokio_postgres::Error> {
    let bound: Vec<Param<'_>> = params.iter().map(|p| Param(p)).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = client.query(sql, &refs).await?;
    let mut out = Vec::new();
    for row in rows {
        for i in 0..row.len() {
            out.push(row.try_get::<_, Cell>(i)?.0);
        }
    }
    Ok(out)
}

impl Backend for Pgsql {
    fn query(&self, sql: &str, params: &[String]) -> Result<Vec<Option<String>>, String> {
        self.client.query(
            |c| !c.is_closed(),
            |i| self.connect(i),
            |c| self.run(c, sql, params),
        )
    }
}
