//! `sqlite:/file.cf`: an embedded SQLite database file (`dbname`), opened
//! read-only once and shared by the look-ups of the process.

use super::{Backend, Cf};
use crate::error::MapError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct Sqlite {
    conn: Mutex<Connection>,
}

impl Sqlite {
    pub(crate) fn open(cf: &Cf) -> Result<Sqlite, MapError> {
        let Some(dbname) = cf.get("dbname").filter(|d| !d.is_empty()) else {
            return Err(cf.bad("missing \"dbname\"".into()));
        };
        // Read-only: a lookup table never writes, and a missing file is an
        // error rather than a new empty database.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(dbname, flags)
            .map_err(|e| cf.bad(format!("cannot open database {dbname}: {e}")))?;
        // Wait for a writer (another program updating the table) instead of
        // failing at once.
        conn.busy_timeout(Duration::from_secs(cf.int("busy_timeout", 10)?))
            .map_err(|e| cf.bad(format!("{dbname}: {e}")))?;
        Ok(Sqlite {
            conn: Mutex::new(conn),
        })
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Backend for Sqlite {
    fn query(&self, sql: &str, params: &[String]) -> Result<Vec<Option<String>>, String> {
        let conn = self.conn.lock().map_err(|_| "connection lock poisoned")?;
        let mut stmt = conn.prepare_cached(sql).map_err(|e| e.to_string())?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            for i in 0..columns {
                out.push(text(row.get_ref(i).map_err(|e| e.to_string())?));
            }
        }
        Ok(out)
    }
}
