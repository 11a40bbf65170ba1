//! The code of `postalias` and `newaliases` (one program, chosen by
//! argv\[0\] or by the binary target): see `main.rs` for the manual page.
//!
//! * [`main_for`] runs either command and exits.
//! * [`build`] builds one alias database from its source file (or adds the
//!   entries on standard input with `-i`), with the `@` → `@` signature and
//!   the NIS `YP_LAST_MODIFIED` / `YP_MASTER_NAME` entries that Debian's
//!   Postfix (built with NIS) adds.

use maps::alias;
use maps::indexed::{self, Duplicates, WriteOptions};
use maps::{Ctx, MapError};
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use util::sysexits;

const USAGE: &str =
    "usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...";
const NEWALIASES_USAGE: &str =
    "usage: newaliases [-v] [-C config_file|config_dir] [-oA alias_database]";

/// Which command to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Postalias,
    Newaliases,
}

/// A reason to stop, with the exit status and the program name that
/// reports it.
#[derive(Debug)]
pub struct Fatal {
    pub code: i32,
    pub message: String,
    pub program: &'static str,
}

impl Fatal {
    pub fn new(code: i32, message: impl Into<String>) -> Fatal {
        Fatal {
            code,
            message: message.into(),
            program: "postalias",
        }
    }

    pub fn usage(message: impl Into<String>) -> Fatal {
        Fatal::new(sysexits::EX_USAGE, message)
    }

    /// A table error, with the status that fits it.
    pub fn map(e: &MapError) -> Fatal {
        Fatal::new(e.exit_status(), e.to_string())
    }

    fn from(mut self, program: &'static str) -> Fatal {
        self.program = program;
        self
    }
}

/// Prints `postalias: warning: text` (table work is reported as
/// postalias's, also under newaliases, as in Postfix).
pub fn warn(text: &str) {
    eprintln!("postalias: warning: {text}");
}

/// Options that shape a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOpts {
    /// -f: keep the case of names.
    pub no_fold: bool,
    /// -i: add standard input to the existing table.
    pub incremental: bool,
    /// -o: as root, leave the new file to root.
    pub keep_root: bool,
    /// -p: new files get mode 0644, not the source's read bits.
    pub default_mode: bool,
    /// -r / -w: how a name that is stored twice is treated.
    pub duplicates: Duplicates,
}

/// The postalias command line.
#[derive(Debug, Default)]
struct Opts {
    config_dir: Option<String>,
    query: Option<String>,
    delete: Option<String>,
    dump: bool,
    build: BuildOpts,
    maps: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Opts, Fatal> {
    let (opts, operands) = util::getopt::getopt(args, "Nc:d:finopq:rsuvw")
        .map_err(|e| Fatal::usage(format!("{e}\n{USAGE}")))?;
    let mut o = Opts {
        maps: operands,
        ..Opts::default()
    };
    let mut modes = 0;
    for opt in opts {
        match opt.flag {
            'c' => o.config_dir = opt.arg,
            'd' => {
                modes += 1;
                o.delete = opt.arg;
            }
            'f' => o.build.no_fold = true,
            'i' => o.build.incremental = true,
            'o' => o.build.keep_root = true,
            'p' => o.build.default_mode = true,
            'q' => {
                modes += 1;
                o.query = opt.arg;
            }
            'r' => o.build.duplicates = Duplicates::Replace,
            's' => {
                modes += 1;
                o.dump = true;
            }
            'w' => o.build.duplicates = Duplicates::Ignore,
            _ => {} // N n u v: accepted, no effect
        }
    }
    if modes > 1 {
        return Err(Fatal::usage("specify only one of -s -q or -d"));
    }
    if o.maps.is_empty() {
        return Err(Fatal::usage(USAGE));
    }
    Ok(o)
}

/// `type:name` for an argument, with the default type when none is given.
pub use maps::indexed::spec_with_default as spec_of;

fn load_config(dir: &Path) -> Result<params::Config, Fatal> {
    params::Config::load(dir, &[]).map_err(|e| {
        let code = if e.message.starts_with("cannot read") {
            sysexits::EX_NOINPUT
        } else {
            sysexits::EX_CONFIG
        };
        Fatal::new(code, e.to_string())
    })
}

fn io_fatal(what: &str, e: &std::io::Error) -> Fatal {
    Fatal::new(
        sysexits::EX_IOERR,
        format!("{what}: {}", maps::error::io_text(e)),
    )
}

/// Writes to stdout; a closed pipe ends quietly.
fn out(w: &mut dyn Write, text: &str) -> Result<(), Fatal> {
    match w.write_all(text.as_bytes()).and_then(|_| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(io_fatal("write to standard output", &e)),
    }
}

fn stdin_text() -> Result<String, Fatal> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| io_fatal("read standard input", &e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn stdin_keys() -> Result<Vec<String>, Fatal> {
    let mut keys = Vec::new();
    for line in std::io::stdin().lock().split(b'\n') {
        let line = line.map_err(|e| io_fatal("read standard input", &e))?;
        let s = String::from_utf8_lossy(&line);
        keys.push(s.trim_end_matches('\r').to_string());
    }
    Ok(keys)
}

/// Whether `type` is built sorted (btree) or not (hash); other types
/// cannot be built.
fn sorted_for(spec: &str, t: &str) -> Result<bool, Fatal> {
    maps::indexed::bulk_sorted(t).map_err(|e| match e {
        maps::indexed::BulkError::NotBulk(t) => Fatal::usage(format!(
            "unsupported dictionary type: {t} does not support bulk-mode creation."
        )),
        maps::indexed::BulkError::Unknown(t) => Fatal::map(&MapError::UnsupportedType {
            spec: spec.to_string(),
            type_name: t,
        }),
    })
}

/// Holds an exclusive lock on the source file while the table is rebuilt,
/// so that two runs on one table do not interleave.
/// The entries Postfix's postalias adds after the source's: Sendmail's
/// `@` → `@` "database complete" signature, and (Postfix built with NIS,
/// as Debian's is) `YP_LAST_MODIFIED` (ten-digit time) and `YP_MASTER_NAME`
/// (myhostname), stored without case folding.
pub fn signature_entries(now: u64, myhostname: &str) -> [(String, String); 3] {
    [
        ("@".to_string(), "@".to_string()),
        ("YP_LAST_MODIFIED".to_string(), format!("{now:010}")),
        ("YP_MASTER_NAME".to_string(), myhostname.to_string()),
    ]
}

/// Entries with Postfix's duplicate handling, applied as they come.
struct Table {
    db_name: String,
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Table {
    fn new(db: &Path, entries: Vec<(String, String)>) -> Table {
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        Table {
            db_name: db.display().to_string(),
            entries,
            index,
        }
    }

    fn add(&mut self, key: String, value: String, duplicates: Duplicates) {
        match self.index.get(&key) {
            Some(&i) => match duplicates {
                Duplicates::Warn => warn(&format!("{}: duplicate entry: \"{key}\"", self.db_name)),
                Duplicates::Ignore => {}
                Duplicates::Replace => self.entries[i].1 = value,
            },
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }
}

/// Builds the alias database `arg` (`[type:]file`): parses the source file
/// (or, with `opts.incremental`, the text `stdin`, added to the existing
/// table), adds the signature entries and writes `file.db` atomically.
pub fn build(
    arg: &str,
    opts: &BuildOpts,
    default_type: &str,
    myhostname: &str,
    stdin: Option<&str>,
) -> Result<(), Fatal> {
    let spec = spec_of(arg, default_type);
    let (t, name) = maps::split_spec(&spec).map_err(|e| Fatal::map(&e))?;
    if spec.trim_start().starts_with("proxy:") {
        return Err(Fatal::usage("can't create maps via the proxy service"));
    }
    let sorted = sorted_for(&spec, t)?;
    let src = Path::new(name);
    let db = indexed::db_path(name);
    let _lock = indexed::lock_source(src, &warn);
    let meta = fs::metadata(src).ok();
    let (mut table, text, label) = match (opts.incremental, stdin) {
        (true, Some(text)) => {
            let existing = indexed::read_existing(&db).map_err(|e| Fatal::map(&e))?;
            (Table::new(&db, existing), text.to_string(), "stdin")
        }
        _ => {
            let bytes = fs::read(src).map_err(|source| {
                Fatal::map(&MapError::Open {
                    path: src.to_path_buf(),
                    indexed: false,
                    source,
                })
            })?;
            (
                Table::new(&db, Vec::new()),
                String::from_utf8_lossy(&bytes).into_owned(),
                name,
            )
        }
    };
    alias::parse_each(&text, label, !opts.no_fold, &warn, &mut |e| {
        table.add(e.name, e.value, opts.duplicates)
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // An update (-i) replaces the old signatures quietly.
    let sig_dups = if opts.incremental {
        Duplicates::Replace
    } else {
        opts.duplicates
    };
    for (k, v) in signature_entries(now, myhostname) {
        table.add(k, v, sig_dups);
    }
    let mode = match &meta {
        Some(m) if !opts.default_mode && m.file_type().is_file() => 0o600 | (m.mode() & 0o044),
        _ => 0o644,
    };
    let wopts = WriteOptions {
        sorted,
        mode,
        duplicates: Duplicates::Ignore,
    };
    indexed::write(&db, table.entries, &wopts, &warn).map_err(|e| Fatal::map(&e))?;
    if let Some(m) = &meta {
        give_to_owner(opts, &db, m);
    }
    Ok(())
}

/// Run as root, a table belongs to its source file's owner (Postfix runs
/// as that owner instead); -o keeps root's.
fn give_to_owner(o: &BuildOpts, db: &Path, src: &fs::Metadata) {
    if o.keep_root || !nix::unistd::geteuid().is_root() || src.uid() == 0 {
        return;
    }
    if let Err(e) = std::os::unix::fs::chown(db, Some(src.uid()), Some(src.gid())) {
        warn(&format!(
            "chown {}: {}",
            db.display(),
            maps::error::io_text(&e)
        ));
    }
}

/// Opens tables only when a look-up reaches them, as Postfix does: a
/// missing second table does not matter when the first has the key.
struct Lazy<'a> {
    specs: Vec<String>,
    open: Vec<Option<Box<dyn maps::Map>>>,
    ctx: &'a Ctx,
}

impl<'a> Lazy<'a> {
    fn new(args: &[String], default_type: &str, ctx: &'a Ctx) -> Lazy<'a> {
        let specs: Vec<String> = args.iter().map(|a| spec_of(a, default_type)).collect();
        let open = specs.iter().map(|_| None).collect();
        Lazy { specs, open, ctx }
    }

    fn get(&mut self, i: usize) -> Result<&dyn maps::Map, Fatal> {
        if self.open[i].is_none() {
            let m = maps::open(&self.specs[i], self.ctx).map_err(|e| Fatal::map(&e))?;
            self.open[i] = Some(m);
        }
        match &self.open[i] {
            Some(m) => Ok(m.as_ref()),
            None => Err(Fatal::new(sysexits::EX_SOFTWARE, "table not open")),
        }
    }

    /// The value of `key` in the first table that has it.
    fn lookup(&mut self, key: &str) -> Result<Option<String>, Fatal> {
        for i in 0..self.specs.len() {
            let m = self.get(i)?;
            match m.lookup(key) {
                Ok(Some(v)) => {
                    if v.is_empty() {
                        empty_warning(m.spec(), key);
                    }
                    return Ok(Some(v));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Fatal::new(
                        sysexits::EX_TEMPFAIL,
                        format!("table {}: query error: {e}", m.spec()),
                    ))
                }
            }
        }
        Ok(None)
    }
}

fn empty_warning(spec: &str, key: &str) {
    warn(&format!(
        "table {spec}: key {key}: empty string result is not allowed"
    ));
    warn(&format!(
        "table {spec} should return NO RESULT in case of NOT FOUND"
    ));
}

fn query(o: &Opts, key: &str, ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let mut tables = Lazy::new(&o.maps, default_type, ctx);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut found = false;
    if key == "-" {
        for k in stdin_keys()? {
            if let Some(v) = tables.lookup(&k)? {
                out(&mut w, &format!("{k}:\t{v}\n"))?;
                found = true;
            }
        }
    } else if let Some(v) = tables.lookup(key)? {
        out(&mut w, &format!("{v}\n"))?;
        found = true;
    }
    Ok(if found { 0 } else { 1 })
}

fn dump(o: &Opts, ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for arg in &o.maps {
        let spec = spec_of(arg, default_type);
        let m = maps::open(&spec, ctx).map_err(|e| Fatal::map(&e))?;
        let mut text = String::new();
        for (k, v) in m.entries().map_err(|e| Fatal::map(&e))? {
            if k.is_empty() {
                warn(&format!(
                    "table {spec}: empty lookup key value is not allowed"
                ));
            } else if v.is_empty() {
                empty_warning(&spec, &k);
            }
            text.push_str(&format!("{k}:\t{v}\n"));
        }
        out(&mut w, &text)?;
    }
    Ok(0)
}

/// Removes each key from each named table; 0 when one was found.
fn delete(o: &Opts, keys: &[String], default_type: &str) -> Result<i32, Fatal> {
    let mut found = false;
    for arg in &o.maps {
        let spec = spec_of(arg, default_type);
        if indexed::delete_keys(&spec, keys, !o.build.no_fold, &warn).map_err(|e| Fatal::map(&e))? {
            found = true;
        }
    }
    Ok(if found { 0 } else { 1 })
}

/// Runs `postalias args…`; the exit status.
pub fn run_postalias(args: &[String]) -> Result<i32, Fatal> {
    let o = parse_args(args)?;
    let dir = params::config_dir(o.config_dir.as_deref());
    let cfg = load_config(&dir)?;
    let default_type = cfg.str(&params::table::DEFAULT_DATABASE_TYPE).to_string();
    let ctx = Ctx::new().fold(!o.build.no_fold).with_warn(warn);
    if let Some(key) = &o.query {
        query(&o, key, &ctx, &default_type)
    } else if o.dump {
        dump(&o, &ctx, &default_type)
    } else if let Some(key) = &o.delete {
        let keys = if key == "-" {
            stdin_keys()?
        } else {
            vec![key.clone()]
        };
        delete(&o, &keys, &default_type)
    } else {
        let stdin = if o.build.incremental {
            Some(stdin_text()?)
        } else {
            None
        };
        let myhostname = cfg.str(&params::table::MYHOSTNAME).to_string();
        for arg in &o.maps {
            build(arg, &o.build, &default_type, &myhostname, stdin.as_deref())?;
        }
        Ok(0)
    }
}

/// The newaliases command line: Sendmail's options that matter here.
#[derive(Debug, Default, PartialEq, Eq)]
struct NewaliasesOpts {
    config: Option<String>,
    alias_database: Option<String>,
}

fn parse_newaliases_args(args: &[String]) -> Result<NewaliasesOpts, Fatal> {
    let mut o = NewaliasesOpts::default();
    let mut it = args.iter();
    let usage = |m: String| Fatal::usage(format!("{m}\n{NEWALIASES_USAGE}")).from("newaliases");
    while let Some(a) = it.next() {
        let mut value = |flag: &str, attached: &str| -> Result<String, Fatal> {
            if !attached.is_empty() {
                return Ok(attached.to_string());
            }
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("option requires an argument -- '{flag}'")))
        };
        if let Some(rest) = a.strip_prefix("-oA") {
            o.alias_database = Some(value("oA", rest)?);
        } else if let Some(rest) = a.strip_prefix("-C").or_else(|| a.strip_prefix("-c")) {
            o.config = Some(value("C", rest)?);
        } else if a.starts_with("-o") || a == "-bi" || a == "-I" || a.starts_with("-v") {
            // Other Sendmail -o options, the mode flag itself and
            // verbosity: accepted, no effect.
        } else {
            return Err(usage(format!("unexpected argument: {a}")));
        }
    }
    Ok(o)
}

/// Runs `newaliases args…`: builds every table in `alias_database`.
pub fn run_newaliases(args: &[String]) -> Result<i32, Fatal> {
    let o = parse_newaliases_args(args)?;
    // Sendmail's -C names main.cf or its directory.
    let config = o.config.map(|c| {
        let p = PathBuf::from(&c);
        if p.is_file() {
            p.parent()
                .map(|d| d.display().to_string())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| ".".to_string())
        } else {
            c
        }
    });
    let dir = params::config_dir(config.as_deref());
    let cfg = load_config(&dir).map_err(|f| f.from("newaliases"))?;
    let default_type = cfg.str(&params::table::DEFAULT_DATABASE_TYPE).to_string();
    let myhostname = cfg.str(&params::table::MYHOSTNAME).to_string();
    let tables = match &o.alias_database {
        Some(v) => maps::split_list(v),
        None => cfg.list(&params::table::ALIAS_DATABASE),
    };
    let opts = BuildOpts::default();
    for t in &tables {
        build(t, &opts, &default_type, &myhostname, None)?;
    }
    Ok(0)
}

/// Runs `mode` (or newaliases when argv\[0\] is `newaliases`) and exits.
pub fn main_for(mode: Mode) -> ! {
    let mode = match util::getopt::program_name("").as_str() {
        "newaliases" => Mode::Newaliases,
        _ => mode,
    };
    let args: Vec<String> = util::getopt::args();
    let result = match mode {
        Mode::Postalias => run_postalias(&args),
        Mode::Newaliases => run_newaliases(&args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            eprintln!("{}: fatal: {}", f.program, f.message);
            std::process::exit(f.code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn postalias_flags() {
        let o = parse_args(&args(&["-fipw", "-c", "/x", "hash:/a", "/b"])).unwrap();
        assert!(o.build.no_fold && o.build.incremental && o.build.default_mode);
        assert_eq!(o.build.duplicates, Duplicates::Ignore);
        assert_eq!(o.config_dir.as_deref(), Some("/x"));
        assert_eq!(o.maps, ["hash:/a", "/b"]);
        let e = parse_args(&args(&["-s", "-q", "k", "f"])).unwrap_err();
        assert_eq!(e.message, "specify only one of -s -q or -d");
        assert_eq!(e.code, sysexits::EX_USAGE);
        let e = parse_args(&args(&["-s"])).unwrap_err();
        assert_eq!(e.message, USAGE);
        let e = parse_args(&args(&["-Z", "f"])).unwrap_err();
        assert!(
            e.message.starts_with("invalid option -- 'Z'"),
            "{}",
            e.message
        );
        assert!(parse_args(&args(&["-NnuvOops"])).is_err());
    }

    #[test]
    fn newaliases_flags() {
        let o =
            parse_newaliases_args(&args(&["-v", "-C", "/etc/x/main.cf", "-oAhash:/a"])).unwrap();
        assert_eq!(o.config.as_deref(), Some("/etc/x/main.cf"));
        assert_eq!(o.alias_database.as_deref(), Some("hash:/a"));
        let o = parse_newaliases_args(&args(&["-c/d", "-oA", "/b", "-bi", "-oi"])).unwrap();
        assert_eq!(o.config.as_deref(), Some("/d"));
        assert_eq!(o.alias_database.as_deref(), Some("/b"));
        let e = parse_newaliases_args(&args(&["user@x"])).unwrap_err();
        assert_eq!(e.program, "newaliases");
        assert_eq!(e.code, sysexits::EX_USAGE);
        assert!(parse_newaliases_args(&args(&["-C"])).is_err());
    }

    #[test]
    fn signatures() {
        let s = signature_entries(42, "mail.example");
        assert_eq!(s[0], ("@".to_string(), "@".to_string()));
        assert_eq!(s[1].1, "0000000042");
        assert_eq!(s[2].1, "mail.example");
    }
}
