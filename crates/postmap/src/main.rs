//! NAME
//!   postmap - mailsuite lookup table management
//!
//! SYNOPSIS
//!   postmap [-bfhimnNoprsuUvw] [-c config_dir] [-d key] [-q key]
//!           [file_type:]file_name ...
//!
//! DESCRIPTION
//!   postmap builds, queries and lists lookup tables, as Postfix's
//!   postmap(1) does, with the same flags, messages and exit status.
//!
//!   Without -q, -d or -s it builds the indexed file file_name.db from the
//!   text file file_name for each argument. The type is file_type, or
//!   default_database_type from main.cf (hash). Only hash and btree tables
//!   are built; the others are read straight from their source (texthash,
//!   regexp, pcre, cidr) or need no file (inline, static, unix).
//!
//!   The input has one "key whitespace value" entry per logical line; blank
//!   lines and lines whose first non-blank character is '#' are skipped; a
//!   line that starts with whitespace continues the one before. Key and
//!   value are trimmed; a key may hold whitespace inside double quotes (the
//!   quotes stay part of the key, as in Postfix). Keys are lowercased
//!   unless -f is given. A line without a key or a value is skipped with
//!   "postmap: warning: FILE, line N: expected format: key whitespace
//!   value"; a key that is seen again keeps its first value, with
//!   "postmap: warning: FILE.db: duplicate entry: "key"".
//!
//!   -b     With "-q -", read an RFC 5322 message on standard input and
//!          look up each body line (the lines after the first empty line).
//!   -c config_dir
//!          Read main.cf in config_dir instead of $MAIL_CONFIG or
//!          /etc/mailsuite.
//!   -d key
//!          Remove key from each indexed table ("-": keys from standard
//!          input). Exit status 0 when a key was found.
//!   -f     Do not fold keys to lower case when building or querying.
//!   -F     Values are files: when building, each value is a list of file
//!          names (separated by whitespace or commas) whose contents,
//!          one after the other, are stored base64-encoded (for
//!          tls_server_sni_maps: keys and certificate chains); with -q
//!          and -s, each value is decoded and its contents written.
//!   -h     With "-q -", look up each header of a message on standard
//!          input (a folded header is one key with embedded newlines),
//!          until the first empty line; with -b too, then the body lines.
//!   -i     Incremental: add the entries on standard input to the existing
//!          table instead of building it anew from file_name.
//!   -m     Accepted for "-hmq -"; MIME parts are not parsed: headers of
//!          attachments are looked up as body lines.
//!   -n, -N  Accepted and ignored: keys are stored without a terminating
//!          null character, and found either way.
//!   -o     Do not give the new file to the owner of the source file when
//!          run as root.
//!   -p     Create new files with mode 0644, instead of the source file's
//!          group and other read permissions.
//!   -q key
//!          Write the value of key from the first table that has it. With
//!          "-q -", read keys from standard input and write "key<TAB>value"
//!          for each one found. Exit status 0 when a key was found, 1 when
//!          none was. This is a single look-up of the key as given, not the
//!          access(5) search of parent domains or address parts.
//!   -r     When a key is stored twice (-i), keep the later value, quietly.
//!   -s     Write every entry as "key<TAB>value", in the order stored.
//!   -u, -U, -v
//!          Accepted and ignored.
//!   -w     When a key is stored twice, keep the first value, quietly.
//!
//!   Only one of -q, -d and -s may be given. Unlike Postfix, -s lists every
//!   named table, not just the first.
//!
//! DIAGNOSTICS
//!   Warnings and errors go to standard error as "postmap: warning: ..."
//!   and "postmap: fatal: ...". Exit status: 0 success (or found), 1 key
//!   not found with -q or -d, and sysexits.h codes otherwise: 64 bad
//!   usage or table type, 66 a missing source file or table, 74 a table
//!   that cannot be written, 75 a failed look-up, 78 a bad main.cf.
//!
//! SECURITY
//!   postmap runs with the rights of its caller. It reads the source file
//!   and standard input as untrusted text (never executed) and writes the
//!   indexed file through a temporary file in the same directory that is
//!   fsync'd and renamed over the old one, so that programs reading the
//!   table see the old or the new one, never a half-built file, and a
//!   crash or full disk leaves the old table in place. While it builds, it
//!   holds an exclusive flock(2) on the source file, so two postmap runs on
//!   one table do not interleave. Run as root, it gives a new table to the
//!   source file's owner (unless -o).
//!
//! CONFIGURATION PARAMETERS
//!   config_directory
//!          Where main.cf is (set with -c or MAIL_CONFIG).
//!   default_database_type (hash)
//!          The table type used when file_type is not given.
//!
//! ENVIRONMENT
//!   MAIL_CONFIG        The configuration directory, when -c is not given.
//!   MAILSUITE_FAIL_POINT
//!          For tests: make the atomic write fail at write, fsync or rename.
//!
//! FILES
//!   file_name          the text source of a table
//!   file_name.db       the indexed table (a cdb file) built from it

mod build;
mod message;

use maps::{Ctx, MapError};
use std::io::{BufRead, Read, Write};
use util::sysexits;

const USAGE: &str =
    "usage: postmap [-bfhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...";

pub use util::sysexits::Fatal;

/// A table error, with the status that fits it.
pub fn map_fatal(e: &MapError) -> Fatal {
    Fatal::new(e.exit_status(), e.to_string())
}

/// Prints `postmap: warning: text`.
pub fn warn(text: &str) {
    eprintln!("postmap: warning: {text}");
}

/// The command line.
#[derive(Debug, Default)]
pub struct Opts {
    pub config_dir: Option<String>,
    pub query: Option<String>,
    pub delete: Option<String>,
    pub dump: bool,
    /// -F: values are files, stored base64-encoded.
    pub files: bool,
    pub incremental: bool,
    pub no_fold: bool,
    pub headers: bool,
    pub body: bool,
    pub mime: bool,
    pub replace: bool,
    pub quiet_dups: bool,
    pub keep_root: bool,
    pub default_mode: bool,
    pub maps: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Opts, Fatal> {
    let (opts, operands) = util::getopt::getopt(args, "bc:d:fFhimnNopq:rsuUvw")
        .map_err(|e| Fatal::usage(format!("{e}\n{USAGE}")))?;
    let mut o = Opts {
        maps: operands,
        ..Opts::default()
    };
    for opt in opts {
        match opt.flag {
            'b' => o.body = true,
            'c' => o.config_dir = opt.arg,
            'd' => o.delete = opt.arg,
            'f' => o.no_fold = true,
            'F' => o.files = true,
            'h' => o.headers = true,
            'i' => o.incremental = true,
            'm' => o.mime = true,
            'o' => o.keep_root = true,
            'p' => o.default_mode = true,
            'q' => o.query = opt.arg,
            'r' => o.replace = true,
            's' => o.dump = true,
            'w' => o.quiet_dups = true,
            _ => {} // n N u U v: accepted, no effect
        }
    }
    let modes = [o.query.is_some(), o.delete.is_some(), o.dump]
        .iter()
        .filter(|&&m| m)
        .count();
    if modes > 1 {
        return Err(Fatal::usage("specify only one of -s or -q or -d"));
    }
    if (o.headers || o.body || o.mime) && o.query.as_deref() != Some("-") {
        return Err(Fatal::usage("specify -b -h or -m only with \"-q -\""));
    }
    if o.maps.is_empty() {
        return Err(Fatal::usage(USAGE));
    }
    Ok(o)
}

/// `type:name` for an argument, with the default type when none is given.
pub use maps::indexed::spec_with_default as spec_of;

/// Writes to stdout; a closed pipe ends quietly.
fn out(w: &mut dyn Write, text: &str) -> Result<(), Fatal> {
    match w.write_all(text.as_bytes()).and_then(|_| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fatal::new(
            sysexits::EX_IOERR,
            format!("write to standard output: {}", maps::error::io_text(&e)),
        )),
    }
}

fn stdin_text() -> Result<String, Fatal> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Fatal::new(
                sysexits::EX_IOERR,
                format!("read standard input: {}", maps::error::io_text(&e)),
            )
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Keys from standard input, one a line (or from a message with -h/-b).
fn stdin_keys(o: &Opts) -> Result<Vec<String>, Fatal> {
    if o.headers || o.body || o.mime {
        let text = stdin_text()?;
        let headers = o.headers || (o.mime && !o.body);
        return Ok(message::keys(&text, headers, o.body));
    }
    let mut keys = Vec::new();
    for line in std::io::stdin().lock().split(b'\n') {
        let line = line.map_err(|e| {
            Fatal::new(
                sysexits::EX_IOERR,
                format!("read standard input: {}", maps::error::io_text(&e)),
            )
        })?;
        let s = String::from_utf8_lossy(&line);
        let s = s.trim_end_matches('\r');
        keys.push(s.to_string());
    }
    Ok(keys)
}

fn open_all(o: &Opts, ctx: &Ctx, default_type: &str) -> Result<Vec<Box<dyn maps::Map>>, Fatal> {
    o.maps
        .iter()
        .map(|a| maps::open(&spec_of(a, default_type), ctx).map_err(|e| map_fatal(&e)))
        .collect()
}

fn lookup_first(tables: &[Box<dyn maps::Map>], key: &str) -> Result<Option<String>, Fatal> {
    for t in tables {
        match t.lookup(key) {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => {}
            Err(e) => {
                return Err(Fatal::new(
                    sysexits::EX_TEMPFAIL,
                    format!("table {}: query error: {e}", t.spec()),
                ))
            }
        }
    }
    Ok(None)
}

/// With -F, a stored value as the contents it encodes.
fn shown(o: &Opts, key: &str, value: String) -> Result<String, Fatal> {
    if !o.files {
        return Ok(value);
    }
    util::base64::decode(value.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .ok_or_else(|| {
            Fatal::new(
                sysexits::EX_DATAERR,
                format!("table lookup result for \"{key}\" is not base64-encoded"),
            )
        })
}

fn query(o: &Opts, key: &str, ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let tables = open_all(o, ctx, default_type)?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut found = false;
    if key == "-" {
        for k in stdin_keys(o)? {
            if let Some(v) = lookup_first(&tables, &k)? {
                let v = shown(o, &k, v)?;
                out(&mut w, &format!("{k}\t{v}\n"))?;
                found = true;
            }
        }
    } else if let Some(v) = lookup_first(&tables, key)? {
        let v = shown(o, key, v)?;
        out(&mut w, &format!("{v}\n"))?;
        found = true;
    }
    Ok(if found { 0 } else { 1 })
}

fn dump(o: &Opts, ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let tables = open_all(o, ctx, default_type)?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for t in &tables {
        let mut text = String::new();
        for (k, v) in t.entries().map_err(|e| map_fatal(&e))? {
            let v = shown(o, &k, v)?;
            text.push_str(&k);
            text.push('\t');
            text.push_str(&v);
            text.push('\n');
        }
        out(&mut w, &text)?;
    }
    Ok(0)
}

fn run(args: &[String]) -> Result<i32, Fatal> {
    let o = parse_args(args)?;
    let dir = params::config_dir(o.config_dir.as_deref());
    let cfg = params::Config::load(&dir, &[]).map_err(|e| {
        let code = if e.message.starts_with("cannot read") {
            sysexits::EX_NOINPUT
        } else {
            sysexits::EX_CONFIG
        };
        Fatal::new(code, e.to_string())
    })?;
    let default_type = cfg.str(&params::table::DEFAULT_DATABASE_TYPE).to_string();
    maps::proxy::configure(&cfg, &cfg.path(&params::table::QUEUE_DIRECTORY));
    let ctx = Ctx::new().fold(!o.no_fold).with_warn(warn);
    if let Some(key) = &o.query {
        query(&o, key, &ctx, &default_type)
    } else if o.dump {
        dump(&o, &ctx, &default_type)
    } else if let Some(key) = &o.delete {
        let keys = if key == "-" {
            stdin_keys(&o)?
        } else {
            vec![key.clone()]
        };
        build::delete(&o, &keys, &ctx, &default_type)
    } else {
        build::create(&o, &ctx, &default_type)
    }
}

fn main() {
    // Keys and file names are bytes; tables are read with bad UTF-8
    // replaced, so a key given the same way finds the same entry.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match run(&args) {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            eprintln!("postmap: fatal: {}", f.message);
            std::process::exit(f.code);
        }
    }
}
