//! SQL tables: `sqlite:/file.cf`, `mysql:/file.cf`, `pgsql:/file.cf`,
//! configured as Postfix's sqlite_table(5), mysql_table(5) and
//! pgsql_table(5) describe.
//!
//! The `.cf` file has main.cf syntax. Parameters shared by the three types:
//! `dbname`, `query` (or the legacy `table`, `select_field`, `where_field`,
//! `additional_conditions`), `result_format` (default `%s`), `domain`,
//! `expansion_limit`; the client/server types add `hosts`, `user`,
//! `password`, `retry_interval`, `idle_interval` and `connect_timeout`.
//!
//! Unlike Postfix, which splices the SQL-quoted key into the query text,
//! the query is turned once, at open, into a prepared statement: each
//! `%s %u %d %1…%9` outside a string literal becomes one placeholder, and
//! each string literal that holds any of them (`'%s'`, `'%u@%d'`,
//! `'%%%s'`) becomes one placeholder whose value is the literal with the
//! fields filled in. `%%` is a `%`. The key never becomes SQL text, so
//! `x'; DROP TABLE users; --@example.com` is just a key that is not found.
//!
//! Look-up semantics follow Postfix's db_common: `%u` is the local part of
//! `user@domain` (the whole key without `@`), `%d` the domain part, `%1`…
//! `%9` the domain's labels from the right (`com`, `example`, …); a field
//! the key does not have (no domain, an empty local part, too few labels)
//! suppresses the query: not found. With `domain` set, only keys
//! `user@domain` with a listed domain are looked up. Every non-NULL,
//! non-empty column of every row goes through `result_format`, and the
//! results are joined with commas; more than `expansion_limit` of them is
//! a temporary failure. Keys are lowercased unless case folding is off. A
//! query that uses `%u`, `%d` or `%1`…`%9` makes a pattern table (no
//! partial-key look-ups by access checks), as in Postfix.
//!
//! Every failure to reach or query the database is a temporary failure
//! ([`MapError::Lookup`]), never "not found".

mod failover;
mod mysql;
mod pgsql;
mod sqlite;

use crate::domains::DomainList;
use crate::error::MapError;
use crate::{Ctx, Map, MapKind};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The SQL dialect a query is written in: placeholder syntax and quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Mysql,
    Pgsql,
}

impl Dialect {
    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Pgsql => format!("${n}"),
            _ => "?".to_string(),
        }
    }
}

/// A part of the look-up key (in a query) or of a result value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `%s`: the whole string.
    Whole,
    /// `%u`: the local part of `user@domain`, or the whole string.
    User,
    /// `%d`: the domain part of `user@domain`.
    Domain,
    /// `%1`…`%9`: a label of the domain, counted from the right.
    Label(usize),
}

impl Field {
    /// The field of `text`; `None` when it has no such part (the query or
    /// result is then suppressed).
    fn of(self, text: &str) -> Option<&str> {
        let split = text.rsplit_once('@');
        match self {
            Field::Whole => Some(text),
            Field::User => match split {
                Some(("", _)) => None,
                Some((user, _)) => Some(user),
                None => Some(text),
            },
            Field::Domain => match split {
                Some((_, "")) | None => None,
                Some((_, domain)) => Some(domain),
            },
            Field::Label(n) => match split {
                Some((_, domain)) if !domain.is_empty() => domain.rsplit('.').nth(n - 1),
                _ => None,
            },
        }
    }
}

/// One piece of a bound value or of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A field of the look-up key.
    Key(Field),
    /// A field of the result value (result_format's lowercase letters).
    Value(Field),
}

fn push_text(pieces: &mut Vec<Piece>, c: char) {
    if let Some(Piece::Text(t)) = pieces.last_mut() {
        t.push(c);
    } else {
        pieces.push(Piece::Text(c.to_string()));
    }
}

/// The field a `%` letter in a query names.
fn query_field(c: char) -> Option<Field> {
    match c {
        's' => Some(Field::Whole),
        'u' => Some(Field::User),
        'd' => Some(Field::Domain),
        '1'..='9' => Some(Field::Label(c as usize - '0' as usize)),
        _ => None,
    }
}

/// A query made into a prepared statement and what to bind to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// The statement text, with placeholders.
    pub sql: String,
    /// One value per placeholder, in order.
    params: Vec<Vec<Piece>>,
    /// Uses `%u`, `%d` or `%1`…`%9`.
    uses_parts: bool,
}

impl Query {
    /// Compiles a Postfix query; the error is the reason it is invalid.
    fn compile(query: &str, dialect: Dialect) -> Result<Query, String> {
        let mut q = Query {
            sql: String::with_capacity(query.len()),
            params: Vec::new(),
            uses_parts: false,
        };
        let mut chars = query.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let Some(n) = chars.next() else {
                        return Err("query ends in '%'".into());
                    };
                    if n == '%' {
                        q.sql.push('%');
                        continue;
                    }
                    let f = query_field(n).ok_or_else(|| format!("invalid query field: %{n}"))?;
                    q.uses_parts |= f != Field::Whole;
                    q.params.push(vec![Piece::Key(f)]);
                    q.sql.push_str(&dialect.placeholder(q.params.len()));
                }
                '\'' | '"' | '`' => {
                    // A quoted string (or identifier); collect its text.
                    let literal = c == '\'' || (c == '"' && dialect == Dialect::Mysql);
                    let backslash = dialect == Dialect::Mysql && c != '`';
                    let mut raw = String::from(c);
                    let mut pieces: Vec<Piece> = Vec::new();
                    let mut has_field = false;
                    let mut closed = false;
                    while let Some(d) = chars.next() {
                        if d == c {
                            if chars.peek() == Some(&c) {
                                chars.next();
                                raw.push(c);
                                raw.push(c);
                                push_text(&mut pieces, c);
                                continue;
                            }
                            raw.push(c);
                            closed = true;
                            break;
                        }
                        if d == '\\' && backslash {
                            let e = chars.next().ok_or("unterminated string in query")?;
                            raw.push('\\');
                            raw.push(e);
                            let v = match e {
                                '0' => '\0',
                                'n' => '\n',
                                'r' => '\r',
                                't' => '\t',
                                'b' => '\u{8}',
                                'Z' => '\u{1a}',
                                other => other,
                            };
                            push_text(&mut pieces, v);
                            continue;
                        }
                        if d == '%' {
                            let n = chars.next().ok_or("query ends in '%'")?;
                            if n == '%' {
                                raw.push('%');
                                push_text(&mut pieces, '%');
                                continue;
                            }
                            let f = query_field(n)
                                .ok_or_else(|| format!("invalid query field: %{n}"))?;
                            if !literal {
                                return Err(format!(
                                    "%{n} inside a quoted identifier: quote it with ' instead"
                                ));
                            }
                            q.uses_parts |= f != Field::Whole;
                            has_field = true;
                            pieces.push(Piece::Key(f));
                            continue;
                        }
                        raw.push(d);
                        push_text(&mut pieces, d);
                    }
                    if !closed {
                        return Err("unterminated string in query".into());
                    }
                    if has_field {
                        q.params.push(pieces);
                        q.sql.push_str(&dialect.placeholder(q.params.len()));
                    } else {
                        q.sql.push_str(&raw);
                    }
                }
                '?' if dialect != Dialect::Pgsql => {
                    return Err("'?' outside a string: use %s for the key".into());
                }
                '$' if dialect == Dialect::Pgsql
                    && chars.peek().is_some_and(|d| d.is_ascii_digit()) =>
                {
                    return Err("'$n' outside a string: use %s for the key".into());
                }
                _ => q.sql.push(c),
            }
        }
        Ok(q)
    }

    /// The values to bind for `key`; `None` when a field the query needs
    /// is missing from the key (no look-up: not found).
    fn bind(&self, key: &str) -> Option<Vec<String>> {
        self.params
            .iter()
            .map(|pieces| {
                let mut v = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => v.push_str(t),
                        Piece::Key(f) | Piece::Value(f) => v.push_str(f.of(key)?),
                    }
                }
                Some(v)
            })
            .collect()
    }
}

/// `result_format`: `%s %u %d` of the value, `%S %U %D %1…%9` of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResultFormat(Vec<Piece>);

impl ResultFormat {
    fn compile(text: &str) -> Result<ResultFormat, String> {
        let mut pieces = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                push_text(&mut pieces, c);
                continue;
            }
            let n = chars.next().ok_or("result_format ends in '%'")?;
            let p = match n {
                '%' => {
                    push_text(&mut pieces, '%');
                    continue;
                }
                's' => Piece::Value(Field::Whole),
                'u' => Piece::Value(Field::User),
                'd' => Piece::Value(Field::Domain),
                'S' => Piece::Key(Field::Whole),
                'U' => Piece::Key(Field::User),
                'D' => Piece::Key(Field::Domain),
                '1'..='9' => Piece::Key(Field::Label(n as usize - '0' as usize)),
                _ => return Err(format!("invalid result_format field: %{n}")),
            };
            pieces.push(p);
        }
        Ok(ResultFormat(pieces))
    }

    /// One result; `None` when a field is missing (the value is skipped).
    fn expand(&self, value: &str, key: &str) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(f) => out.push_str(f.of(value)?),
                Piece::Key(f) => out.push_str(f.of(key)?),
            }
        }
        Some(out)
    }
}

/// The parameters of a `.cf` file.
pub(crate) struct Cf {
    path: String,
    values: HashMap<String, String>,
}

impl Cf {
    fn read(path: &str, ctx: &Ctx) -> Result<Cf, MapError> {
        let text = std::fs::read_to_string(path).map_err(|source| MapError::Open {
            path: path.into(),
            indexed: false,
            source,
        })?;
        let cf = params::main_cf::MainCf::parse(Path::new(path), &text).map_err(|e| {
            MapError::BadSpec {
                spec: path.to_string(),
                reason: e.to_string(),
            }
        })?;
        for w in &cf.warnings {
            ctx.warn(w);
        }
        let values = cf
            .definitions()
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect();
        Ok(Cf {
            path: path.to_string(),
            values,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub(crate) fn str_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_string()
    }

    fn bad(&self, reason: String) -> MapError {
        MapError::BadSpec {
            spec: self.path.clone(),
            reason: format!("{}: {reason}", self.path),
        }
    }

    pub(crate) fn int(&self, name: &str, default: u64) -> Result<u64, MapError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.bad(format!("bad numerical configuration: {name} = {v}"))),
        }
    }

    /// A time in seconds, with Postfix's optional unit letter.
    pub(crate) fn time(&self, name: &str, default: u64) -> Result<Duration, MapError> {
        let Some(v) = self.get(name).filter(|v| !v.is_empty()) else {
            return Ok(Duration::from_secs(default));
        };
        params::value::parse_time(v, 's')
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .map(Duration::from_secs)
            .ok_or_else(|| self.bad(format!("bad time configuration: {name} = {v}")))
    }

    /// The query, or one made from the legacy parameters.
    fn query(&self) -> Result<String, MapError> {
        if let Some(q) = self.get("query").filter(|q| !q.is_empty()) {
            return Ok(q.to_string());
        }
        match (
            self.get("table"),
            self.get("select_field"),
            self.get("where_field"),
        ) {
            (Some(t), Some(s), Some(w)) => {
                let mut q = format!("SELECT {s} FROM {t} WHERE {w} = '%s'");
                if let Some(extra) = self.get("additional_conditions").filter(|e| !e.is_empty()) {
                    q.push(' ');
                    q.push_str(extra);
                }
                Ok(q)
            }
            _ => Err(self.bad(
                "missing \"query\" (or \"table\", \"select_field\" and \"where_field\")".into(),
            )),
        }
    }

    /// `hosts`: whitespace or comma separated.
    pub(crate) fn hosts(&self) -> Vec<String> {
        params::value::split_list(&self.str_or("hosts", "localhost"))
    }
}

/// A database connection (or a list of servers to connect to) that runs
/// one prepared query and returns every column of every row, row after
/// row, `None` for NULL. The error text is the reason for a temporary
/// failure.
pub(crate) trait Backend: Send + Sync {
    fn query(&self, sql: &str, params: &[String]) -> Result<Vec<Option<String>>, String>;
}

pub(crate) struct SqlMap {
    spec: String,
    kind: MapKind,
    fold: bool,
    query: Query,
    format: ResultFormat,
    domain: Option<DomainList>,
    expansion_limit: u64,
    backend: Box<dyn Backend>,
}

impl SqlMap {
    /// Opens `type:name` for one of the three SQL types.
    pub(crate) fn open(
        spec: String,
        name: &str,
        dialect: Dialect,
        ctx: &Ctx,
    ) -> Result<SqlMap, MapError> {
        let cf = Cf::read(name, ctx)?;
        let query_text = cf.query()?;
        let query = Query::compile(&query_text, dialect)
            .map_err(|e| cf.bad(format!("query \"{query_text}\": {e}")))?;
        let format =
            ResultFormat::compile(&cf.str_or("result_format", "%s")).map_err(|e| cf.bad(e))?;
        let domain = match cf.get("domain").map(params::value::split_list) {
            Some(items) if !items.is_empty() => {
                let (list, warnings) = DomainList::parse(&items, &format!("{name}: domain"), false);
                for w in warnings {
                    ctx.warn(&w);
                }
                Some(list)
            }
            _ => None,
        };
        let expansion_limit = cf.int("expansion_limit", 0)?;
        let backend: Box<dyn Backend> = match dialect {
            Dialect::Sqlite => Box::new(sqlite::Sqlite::open(&cf)?),
            Dialect::Mysql => Box::new(mysql::Mysql::open(&cf)?),
            Dialect::Pgsql => Box::new(pgsql::Pgsql::open(&cf)?),
        };
        Ok(SqlMap {
            spec,
            kind: if query.uses_parts {
                MapKind::Pattern
            } else {
                MapKind::Fixed
            },
            fold: ctx.fold_case,
            query,
            format,
            domain,
            expansion_limit,
            backend,
        })
    }

    fn fail(&self, reason: String) -> MapError {
        MapError::Lookup {
            spec: self.spec.clone(),
            reason,
        }
    }
}

impl Map for SqlMap {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn kind(&self) -> MapKind {
        self.kind
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let folded;
        let key = if self.fold {
            folded = key.to_lowercase();
            folded.as_str()
        } else {
            key
        };
        if let Some(list) = &self.domain {
            match key.rsplit_once('@') {
                Some((user, domain)) if !user.is_empty() && !domain.is_empty() => {
                    if !list.matches(domain)? {
                        return Ok(None);
                    }
                }
                _ => return Ok(None),
            }
        }
        let Some(params) = self.query.bind(key) else {
            return Ok(None);
        };
        let cells = self
            .backend
            .query(&self.query.sql, &params)
            .map_err(|e| self.fail(e))?;
        let mut out = String::new();
        let mut count = 0u64;
        for cell in cells.iter().flatten() {
            if cell.is_empty() {
                continue;
            }
            let Some(r) = self.format.expand(cell, key) else {
                continue;
            };
            count += 1;
            if self.expansion_limit > 0 && count > self.expansion_limit {
                return Err(self.fail(format!(
                    "expansion limit exceeded for key: '{key}' (expansion_limit = {})",
                    self.expansion_limit
                )));
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&r);
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_placeholders() {
        let q = Query::compile(
            "SELECT destination FROM forwardings WHERE source='%s'",
            Dialect::Mysql,
        )
        .unwrap();
        assert_eq!(q.sql, "SELECT destination FROM forwardings WHERE source=?");
        assert_eq!(q.bind("a@b.example").unwrap(), ["a@b.example"]);
        assert!(!q.uses_parts);

        let q = Query::compile(
            "SELECT x FROM t WHERE u='%u' AND d = %d AND tld='%1' AND l LIKE '%%%s' AND m = 100 %% 7 AND n='50%%'",
            Dialect::Pgsql,
        )
        .unwrap();
        assert_eq!(
            q.sql,
            "SELECT x FROM t WHERE u=$1 AND d = $2 AND tld=$3 AND l LIKE $4 AND m = 100 % 7 AND n='50%'"
        );
        assert_eq!(
            q.bind("joe@mail.example.com").unwrap(),
            ["joe", "mail.example.com", "com", "%joe@mail.example.com"]
        );
        assert!(q.uses_parts);
        // No domain: %d and %1 suppress the query; an empty local part
        // suppresses %u.
        assert_eq!(q.bind("joe"), None);
        assert_eq!(q.bind("@example.com"), None);

        let q = Query::compile("SELECT '%u@%d', 'it''s', \"x\\\"%s\"", Dialect::Mysql).unwrap();
        assert_eq!(q.sql, "SELECT ?, 'it''s', ?");
        assert_eq!(q.bind("a@b").unwrap(), ["a@b", "x\"a@b"]);
        let q = Query::compile("SELECT \"col\" FROM t WHERE k = '%s'", Dialect::Sqlite).unwrap();
        assert_eq!(q.sql, "SELECT \"col\" FROM t WHERE k = ?");

        // The key never reaches the SQL text.
        let evil = "x'; DROP TABLE users; --@example.com";
        let q = Query::compile("SELECT 1 FROM users WHERE email='%s'", Dialect::Sqlite).unwrap();
        assert_eq!(q.sql, "SELECT 1 FROM users WHERE email=?");
        assert_eq!(q.bind(evil).unwrap(), [evil]);

        for bad in ["SELECT '%x'", "SELECT %", "SELECT 'open", "SELECT ?"] {
            assert!(Query::compile(bad, Dialect::Mysql).is_err(), "{bad}");
        }
        assert!(Query::compile("SELECT \"%s\"", Dialect::Pgsql).is_err());
        assert!(Query::compile("SELECT $1", Dialect::Pgsql).is_err());
    }

    #[test]
    fn result_format_fields() {
        let f = ResultFormat::compile("%d/%u/ for %S (%U at %D, %2.%1) 100%%").unwrap();
        assert_eq!(
            f.expand("joe@example.org", "Key@mail.example.com").unwrap(),
            "example.org/joe/ for Key@mail.example.com (Key at mail.example.com, example.com) 100%"
        );
        assert_eq!(f.expand("nodomain", "k@example.com"), None);
        assert!(ResultFormat::compile("%q").is_err());
        assert!(ResultFormat::compile("x%").is_err());
    }
}
