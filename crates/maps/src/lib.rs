//! Postfix lookup tables (DESIGN §6): `type:name` wherever Postfix accepts a
//! table, with Postfix's file formats and look-up semantics.
//!
//! * [`open`] turns one `type:name` into a [`Map`]; [`MapList`] holds the
//!   tables of one parameter (`alias_maps = hash:/etc/aliases, …`) and
//!   searches them in order, first match wins.
//! * [`Map::lookup`] returns `Ok(Some(value))`, `Ok(None)` (not found) or an
//!   error, which always means a *temporary* failure: the caller defers
//!   (451/4.3.0), it never treats the key as absent.
//! * [`access`] makes the sequence of keys that Postfix's `check_*_access`
//!   restrictions try for an address, a domain, a client name or address,
//!   and [`access::rewrite_address`] the canonical(5)/generic(5) rewrite.
//! * [`checks`] reads the actions of header_checks and body_checks tables.
//! * [`footer`] (reject footers, `$name` expansion through an expansion
//!   filter) and [`commands`] (forbidden commands, the command filter, the
//!   EHLO keywords left out) are what smtpd and postscreen share.
//!
//! Types: `hash` and `btree` (an indexed file `name.db` built by `postmap`,
//! in cdb format, see [`indexed`]), `texthash`, `inline`, `static`,
//! `regexp`, `pcre`, `cidr`, `unix` (`passwd.byname`, `group.byname`),
//! `fail` (every look-up fails; for tests), and the SQL types with
//! Postfix's `.cf` files (sqlite_table(5), mysql_table(5), pgsql_table(5)):
//! `sqlite:/file.cf` (an embedded SQLite database), `mysql:/file.cf`
//! (MySQL, MariaDB) and `pgsql:/file.cf` (PostgreSQL) — `hosts` with
//! failover, `user`, `password`, `dbname`, `query` with `%s %u %d %1…%9`
//! run as a prepared statement with the key bound (never spliced into the
//! SQL), `result_format`, `domain`, `expansion_limit`; see the `sql`
//! module for the details. `proxy:TYPE:NAME` asks the proxymap service
//! (see [`proxy`]), or opens the table here where none runs.
//!
//! Case folding follows Postfix: the fixed-string types (hash, btree,
//! texthash, inline, unix) lowercase the look-up key — and postmap the keys
//! it stores — unless [`Ctx::fold_case`] is off (`postmap -f`); `static`
//! ignores the key; the pattern types (regexp, pcre, cidr) never change the
//! key: regexp and pcre match case-insensitively unless a rule's `i` flag
//! says otherwise, and cidr compares binary addresses.
//!
//! File tables notice a rebuilt or edited file on the next look-up (see
//! [`watch`]) and load it again.
//!
//! Warnings about bad table lines (`regexp map /f, line 3: …`) go to the
//! maillog through `maillog::warning!` by default, or to the sink set with
//! [`Ctx::with_warn`].

pub mod access;
pub mod alias;
mod cdb;
pub mod checks;
mod cidr;
pub mod commands;
pub mod domains;
pub mod error;
pub mod files;
pub mod footer;
pub mod hosts;
pub mod indexed;
mod inline;
pub mod lines;
pub mod local_clients;
pub mod proxy;
mod regexp;
pub mod source;
mod sql;
pub mod status_filter;
mod texthash;
mod unix;
pub mod user_acl;
pub mod watch;

pub use error::MapError;

use std::fmt;
use std::sync::Arc;

/// Whether a table matches fixed strings or patterns. Postfix's access
/// checks look up "partial" keys (parent domains, `user@`, network
/// prefixes) only in fixed-string tables (its DICT_FLAG_FIXED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Fixed,
    Pattern,
}

/// A warning sink.
pub type WarnFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How tables are opened.
#[derive(Clone)]
pub struct Ctx {
    /// Lowercase keys of fixed-string tables (Postfix's default; off with
    /// `postmap -f`).
    pub fold_case: bool,
    /// Regular expression tables may put `$1`… of the key in results
    /// (off where a result names a command or a transport).
    pub substitution: bool,
    warn: WarnFn,
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("fold_case", &self.fold_case)
            .finish_non_exhaustive()
    }
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            fold_case: true,
            substitution: true,
            warn: Arc::new(|s: &str| maillog::warning!("{s}")),
        }
    }
}

impl Ctx {
    /// Folding on, warnings to the maillog.
    pub fn new() -> Ctx {
        Ctx::default()
    }

    /// Sends warnings to `f` instead of the maillog.
    pub fn with_warn(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Ctx {
        self.warn = Arc::new(f);
        self
    }

    /// Refuses `$number` substitution in regular expression tables: for
    /// results that name commands or transports (Postfix's
    /// `mailbox_command_maps`, `mailbox_transport_maps`…), where a key's
    /// text must not end up in them.
    pub fn without_substitution(mut self) -> Ctx {
        self.substitution = false;
        self
    }

    /// Sets case folding of keys.
    pub fn fold(mut self, on: bool) -> Ctx {
        self.fold_case = on;
        self
    }

    /// Emits one warning.
    pub fn warn(&self, text: &str) {
        (self.warn)(text)
    }
}

/// One open lookup table.
pub trait Map: Send + Sync {
    /// The `type:name` it was opened as.
    fn spec(&self) -> &str;

    /// Fixed-string or pattern table.
    fn kind(&self) -> MapKind;

    /// Looks `key` up. `Ok(None)`: not found. `Err`: temporary failure.
    fn lookup(&self, key: &str) -> Result<Option<String>, MapError>;

    /// Every (key, value), for `postmap -s`. Pattern tables and `unix:`
    /// cannot list their entries.
    fn entries(&self) -> Result<Vec<(String, String)>, MapError> {
        Err(MapError::Unsupported {
            spec: self.spec().to_string(),
            operation: "sequence".into(),
        })
    }
}

impl fmt::Debug for dyn Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Map({})", self.spec())
    }
}

/// The table types this build opens, as `postconf -m` lists them.
pub const TYPES: &[&str] = &[
    "btree", "cidr", "fail", "hash", "inline", "mysql", "pcre", "pgsql", "regexp", "sqlite",
    "static", "texthash", "unix",
];

/// Splits `type:name`, dropping any `proxy:` in front.
pub fn split_spec(spec: &str) -> Result<(&str, &str), MapError> {
    let mut s = spec.trim();
    while let Some(rest) = s.strip_prefix("proxy:") {
        s = rest;
    }
    match s.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok((t, n)),
        _ => Err(MapError::BadSpec {
            spec: spec.trim().to_string(),
            reason: String::new(),
        }),
    }
}

/// Opens the table `spec` (`type:name`).
pub fn open(spec: &str, ctx: &Ctx) -> Result<Box<dyn Map>, MapError> {
    let full = spec.trim();
    if let Some(inner) = full.strip_prefix("proxy:") {
        split_spec(inner)?;
        return Ok(Box::new(proxy::ProxyMap::open(
            full.to_string(),
            inner,
            ctx,
        )?));
    }
    let (t, name) = split_spec(full)?;
    let full = full.to_string();
    Ok(match t {
        "hash" | "btree" => Box::new(indexed::IndexedMap::open(full, name, ctx)?),
        "texthash" => Box::new(texthash::TexthashMap::open(full, name, ctx)?),
        "inline" => Box::new(inline::InlineMap::open(full, name, ctx)?),
        "static" => Box::new(inline::StaticMap::open(full, name)?),
        "regexp" => Box::new(regexp::RegexpMap::open(
            full,
            name,
            regexp::Flavour::Posix,
            ctx,
        )?),
        "pcre" => Box::new(regexp::RegexpMap::open(
            full,
            name,
            regexp::Flavour::Pcre,
            ctx,
        )?),
        "cidr" => Box::new(cidr::CidrMap::open(full, name, ctx)?),
        "unix" => Box::new(unix::UnixMap::open(full, name, ctx)?),
        "sqlite" => Box::new(sql::SqlMap::open(full, name, sql::Dialect::Sqlite, ctx)?),
        "mysql" => Box::new(sql::SqlMap::open(full, name, sql::Dialect::Mysql, ctx)?),
        "pgsql" => Box::new(sql::SqlMap::open(full, name, sql::Dialect::Pgsql, ctx)?),
        "fail" => Box::new(FailMap {
            spec: full.clone(),
            error: None,
        }),
        other => {
            return Err(MapError::UnsupportedType {
                spec: full.clone(),
                type_name: other.to_string(),
            })
        }
    })
}

/// A table that fails every look-up: `fail:name`, and the stand-in for a
/// table that could not be opened (Postfix's dict_surrogate).
struct FailMap {
    spec: String,
    error: Option<String>,
}

impl Map for FailMap {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }
    fn lookup(&self, _key: &str) -> Result<Option<String>, MapError> {
        Err(MapError::Lookup {
            spec: self.spec.clone(),
            reason: self
                .error
                .clone()
                .unwrap_or_else(|| "table is configured to fail".into()),
        })
    }
    fn entries(&self) -> Result<Vec<(String, String)>, MapError> {
        self.lookup("").map(|_| Vec::new())
    }
}

/// Splits a parameter value into table specs: separated by commas and
/// whitespace, with `{…}` groups (`inline:{ a=b, c=d }`) kept whole — the
/// same list syntax as every other list parameter.
pub use params::value::split_list;

/// The tables of one parameter, searched in order.
pub struct MapList {
    title: String,
    maps: Vec<Box<dyn Map>>,
}

impl fmt::Debug for MapList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let specs: Vec<&str> = self.maps.iter().map(|m| m.spec()).collect();
        write!(f, "MapList({}: {specs:?})", self.title)
    }
}

impl MapList {
    /// Opens every table in `value` (a parameter's expanded value); the
    /// first that cannot be opened, or has a type this build lacks, is the
    /// error. Use this where a bad table must stop the program (postmap,
    /// `mailsuite check`).
    pub fn open(title: &str, value: &str, ctx: &Ctx) -> Result<MapList, MapError> {
        let mut maps = Vec::new();
        for spec in split_list(value) {
            maps.push(open(&spec, ctx)?);
        }
        Ok(MapList {
            title: title.to_string(),
            maps,
        })
    }

    /// Opens every table in `value` as a long-running daemon must, like
    /// Postfix 3.x: a table that cannot be opened — missing file, bad
    /// syntax, or an unsupported type such as `nis:mail.aliases` in an old
    /// `alias_maps` — is logged as a warning and replaced by a stand-in that
    /// fails every look-up with that reason, so mail that needs it is
    /// deferred (temporary failure), never bounced or delivered wrongly,
    /// while mail that is decided by an earlier table in the list goes on.
    pub fn open_lenient(title: &str, value: &str, ctx: &Ctx) -> MapList {
        let mut maps = Vec::new();
        for spec in split_list(value) {
            match open(&spec, ctx) {
                Ok(m) => maps.push(m),
                Err(e) => {
                    ctx.warn(&format!("{title}: {e}"));
                    maps.push(Box::new(FailMap {
                        spec: spec.clone(),
                        error: Some(e.to_string()),
                    }));
                }
            }
        }
        MapList {
            title: title.to_string(),
            maps,
        }
    }

    /// A list of already open tables.
    pub fn from_maps(title: &str, maps: Vec<Box<dyn Map>>) -> MapList {
        MapList {
            title: title.to_string(),
            maps,
        }
    }

    /// The parameter name the list came from.
    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn maps(&self) -> &[Box<dyn Map>] {
        &self.maps
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Looks `key` up in every table, in order; the first result wins. A
    /// failing table stops the search with its error (Postfix's maps_find):
    /// a later table must not answer for a key an earlier one might hold.
    pub fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        self.find(key, false)
    }

    /// As [`MapList::lookup`]; with `partial`, pattern tables are skipped
    /// (the key is a parent domain, `user@` or a network prefix made by
    /// [`access`], which only fixed-string tables are asked about). An empty
    /// result is an error, as in Postfix.
    pub fn find(&self, key: &str, partial: bool) -> Result<Option<String>, MapError> {
        for m in &self.maps {
            if partial && m.kind() == MapKind::Pattern {
                continue;
            }
            if let Some(v) = m.lookup(key)? {
                if v.is_empty() {
                    return Err(MapError::EmptyResult {
                        title: self.title.clone(),
                        key: key.to_string(),
                    });
                }
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_splitting_keeps_braces() {
        assert_eq!(
            split_list("hash:/etc/aliases, nis:mail.aliases inline:{ a=b, {c = d e} },static:x"),
            [
                "hash:/etc/aliases",
                "nis:mail.aliases",
                "inline:{ a=b, {c = d e} }",
                "static:x"
            ]
        );
        assert!(split_list(" ,, ").is_empty());
    }

    #[test]
    fn spec_syntax() {
        assert_eq!(
            split_spec("proxy:unix:passwd.byname").unwrap(),
            ("unix", "passwd.byname")
        );
        let e = split_spec("hash:").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expecting \"type:name\" form instead of \"hash:\""
        );
        assert!(split_spec("nocolon").is_err());
        let e = open("nis:mail.aliases", &Ctx::new()).unwrap_err();
        assert_eq!(e.to_string(), "unsupported dictionary type: nis");
    }

    #[test]
    fn list_first_match_and_failures() {
        let ctx = Ctx::new().with_warn(|_| {});
        let l = MapList::open("test_maps", "inline:{a=1} inline:{a=2, b=3}", &ctx).unwrap();
        assert_eq!(l.lookup("a").unwrap().as_deref(), Some("1"));
        assert_eq!(l.lookup("B").unwrap().as_deref(), Some("3"));
        assert_eq!(l.lookup("c").unwrap(), None);
        // A failing table stops the search before later tables answer.
        let l = MapList::open("test_maps", "inline:{a=1} fail:x static:yes", &ctx).unwrap();
        assert_eq!(l.lookup("a").unwrap().as_deref(), Some("1"));
        assert!(matches!(l.lookup("z"), Err(MapError::Lookup { .. })));
        // Strict open refuses unknown types; lenient open defers.
        let e =
            MapList::open("alias_maps", "hash:/nonexistent/x, nis:mail.aliases", &ctx).unwrap_err();
        assert!(e.is_missing_file());
        let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
        let w2 = warnings.clone();
        let ctx = Ctx::new().with_warn(move |s| w2.lock().unwrap().push(s.to_string()));
        let l = MapList::open_lenient("alias_maps", "inline:{root=admin} nis:mail.aliases", &ctx);
        assert_eq!(l.lookup("root").unwrap().as_deref(), Some("admin"));
        let e = l.lookup("other").unwrap_err();
        assert!(
            e.to_string().contains("unsupported dictionary type: nis"),
            "{e}"
        );
        assert_eq!(
            warnings.lock().unwrap().as_slice(),
            ["alias_maps: unsupported dictionary type: nis"]
        );
        // Empty results are configuration errors.
        let l = MapList::open("t", "static:{ }", &ctx).unwrap();
        assert!(matches!(l.lookup("x"), Err(MapError::EmptyResult { .. })));
        // Partial keys skip pattern tables.
        let l = MapList::open("t", "regexp:{{/./ pat}} static:fixed", &ctx).unwrap();
        assert_eq!(l.find("x", true).unwrap().as_deref(), Some("fixed"));
        assert_eq!(l.find("x", false).unwrap().as_deref(), Some("pat"));
    }
}
