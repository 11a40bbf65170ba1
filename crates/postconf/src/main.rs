//! NAME
//!   postconf - mailsuite configuration utility
//!
//! SYNOPSIS
//!   Managing main.cf:
//!     postconf [-dfhHnjqx] [-c config_dir] [-o name=value] [parameter ...]
//!     postconf [-e] [-c config_dir] parameter=value ...
//!     postconf -X [-c config_dir] parameter ...
//!     postconf -# [-c config_dir] parameter ...
//!
//!   Managing master.cf:
//!     postconf -M [-fjqx] [-c config_dir] [service[/type] ...]
//!     postconf -M [-e] [-c config_dir] "service/type=entry" ...
//!     postconf -MX [-c config_dir] service/type ...
//!     postconf -M# [-c config_dir] service/type ...
//!     postconf -F [-fhHx] [-c config_dir] [service[/type[/field]] ...]
//!     postconf -F [-e] [-c config_dir] "service/type/field=value" ...
//!     postconf -P [-fhHx] [-c config_dir] [service[/type[/parameter]] ...]
//!     postconf -P [-e] [-c config_dir] "service/type/parameter=value" ...
//!     postconf -PX [-c config_dir] service/type/parameter ...
//!
//!   Bounce templates:
//!     postconf -b [-c config_dir] [template_file]
//!     postconf -t [-c config_dir] [template_file]
//!
//!   Other:
//!     postconf -a | -l | -m
//!
//! DESCRIPTION
//!   postconf shows and edits the two configuration files, as Postfix's
//!   postconf(1) does, with the same flags and the same output.
//!
//!   Without flags it prints every parameter as "name = value", sorted,
//!   unexpanded: the built-in default or the main.cf setting. Named
//!   parameters print only those; an unknown name draws a warning.
//!
//!   -a     List the SASL server types (dovecot).
//!   -b [template_file]
//!          Print the texts of the bounce templates (bounce(5)) with $name
//!          expanded, as the bounce daemon would send them: those of
//!          template_file, or of bounce_template_file when none is named,
//!          the built-in ones for the rest. Problems in the file are
//!          reported as the bounce daemon reports them.
//!   -c config_dir
//!          Read main.cf and master.cf in config_dir instead of $MAIL_CONFIG
//!          or /etc/mailsuite.
//!   -d     Print the built-in defaults (from the parameter registry)
//!          instead of the values in force. main.cf is not read.
//!   -e     Edit main.cf: each "name=value" (or "name = value") replaces
//!          every definition of name where it stands, continuation lines
//!          and all; names not yet set are appended. Comments, blank lines
//!          and every other definition stay as they were. The -e may be left
//!          out when the first argument holds '='. With -M: replace or add
//!          the entry for "service/type=entry".
//!   -f     Fold long output lines at 80 columns, as Postfix does.
//!   -F     Work on master.cf entries one field at a time, each printed as
//!          "service/type/field = value" (fields: service, type, private,
//!          unprivileged, chroot, wakeup, process_limit, command, the last
//!          with its arguments); with -e, set "service/type/field=value",
//!          rewriting that entry in -M's layout.
//!   -h     Print values only, without "name = ".
//!   -H     Print names only.
//!   -j     mailsuite extension: print JSON. Parameters become one object,
//!          name -> value; with -M, an array of service objects (the eight
//!          columns by their Postfix names, "args" and "overrides").
//!   -l     List the mailbox locking methods.
//!   -m     List the lookup table types.
//!   -M     Work on master.cf entries instead of main.cf parameters; print
//!          them in Postfix's column layout, all or those named "service" or
//!          "service/type".
//!   -n     Print only the parameters that main.cf (or -o) sets; with -c or
//!          MAIL_CONFIG, also config_directory, as Postfix does.
//!   -o name=value
//!          Override a main.cf parameter for this command.
//!   -p     Work on main.cf parameters (the default).
//!   -q     Do not warn about unused parameters.
//!   -t [template_file]
//!          Print the bounce templates as a template file writes them:
//!          those of template_file (or of bounce_template_file), the
//!          built-in ones (Postfix's) for the rest.
//!   -v     Accepted and ignored, for compatibility.
//!   -x     Expand $name in values (and in master.cf -o values with -M).
//!   -P     Work on the -o parameters of master.cf entries, printed as
//!          "service/type/name = value" (sorted by name within an entry);
//!          with -e, set "service/type/name=value" (replaced where it is,
//!          else added after the entry's options; a value with blanks is
//!          refused, as Postfix refuses it); with -X, remove it.
//!   -X     Remove the named parameters from main.cf; with -M, the named
//!          service/type entries from master.cf.
//!   -#     Comment out the named parameters or, with -M, entries.
//!
//!   Warnings go to stderr as "postconf: warning: ...". A value that does
//!   not fit its parameter (a bad number, time unit or boolean, out of
//!   bounds, an expansion loop) and a line that does not parse stop the
//!   command with "postconf: fatal: FILE, line N: parameter NAME: ...".
//!   An edit that would make main.cf fail so is refused. Exit status
//!   follows sysexits.h: 64 for usage errors, 66 for a missing file, 74
//!   when a file cannot be written, 78 for configuration errors.
//!
//! SECURITY
//!   postconf runs with the rights of its caller and needs no others: it
//!   reads main.cf and master.cf, and with -e, -X or -# writes one of them
//!   through a temporary file in the same directory that is fsync'd and
//!   renamed over the old one, so a crash or a full disk leaves either the
//!   old or the new file, never a mix. Command-line arguments and both files
//!   are untrusted input: they are checked, never executed.
//!
//! CONFIGURATION PARAMETERS
//!   config_directory
//!          Where main.cf and master.cf are (set with -c or MAIL_CONFIG).
//!   bounce_template_file
//!          The bounce templates -b and -t show when no file is named.
//!   All others are shown, not used: postconf's output is the registry's
//!   defaults and main.cf's settings.
//!
//! ENVIRONMENT
//!   MAIL_CONFIG        The configuration directory, when -c is not given.
//!   MAILSUITE_FAIL_POINT
//!          For tests: make the atomic write fail at write, fsync or rename.
//!
//! FILES
//!   /etc/mailsuite/main.cf     parameter settings
//!   /etc/mailsuite/master.cf   service definitions

mod edit;
mod fields;
mod master;
mod msg;
mod opts;
mod show;
mod templates;

use msg::Fatal;
use std::io::Write;
use std::path::Path;

/// The mailbox locking methods.
const LOCK_TYPES: &[&str] = &["flock", "fcntl", "dotlock"];

pub use util::strerror as io_text;

/// Pretty JSON and a newline.
pub fn json_text(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".to_string());
    s.push('\n');
    s
}

/// Writes all of `text` to stdout; a closed pipe ends quietly.
pub fn write_out(out: &mut dyn Write, text: &str) -> Result<(), Fatal> {
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fatal::io(format!(
            "write to standard output: {}",
            io_text(&e)
        ))),
    }
}

/// Replaces `path` with `text` atomically.
pub fn write_file(path: &Path, text: &str) -> Result<(), Fatal> {
    util::safe_file::replace(path, text.as_bytes(), 0o644).map_err(|e| {
        Fatal::io(format!(
            "cannot update {}: {}; the file is unchanged",
            path.display(),
            io_text(&e)
        ))
    })
}

fn run(args: &[String]) -> Result<(), Fatal> {
    let o = opts::parse(args)?;
    let dir = params::config_dir(o.config_dir.as_deref());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let list = |items: &[&str], out: &mut dyn Write| {
        let mut text = String::new();
        for i in items {
            text.push_str(i);
            text.push('\n');
        }
        write_out(out, &text)
    };
    if o.has(opts::SASL_SERVER) {
        list(&["dovecot"], &mut out)
    } else if o.has(opts::MAPS) {
        // The types the maps crate opens, and proxy: in front of any.
        let mut types = maps::TYPES.to_vec();
        types.push("proxy");
        types.sort_unstable();
        list(&types, &mut out)
    } else if o.has(opts::LOCKS) {
        list(LOCK_TYPES, &mut out)
    } else if o.has(opts::BOUNCE_EXPAND | opts::BOUNCE_DUMP) {
        templates::run(&o, &dir, &mut out)
    } else if o.has(opts::FIELDS | opts::PARAMS) {
        if o.edits() {
            fields::edit(&o, &dir)
        } else {
            fields::show(&o, &dir, &mut out)
        }
    } else if o.has(opts::MASTER) {
        if o.edits() {
            master::edit(&o, &dir)
        } else {
            master::show(&o, &dir, &mut out)
        }
    } else if o.edits() {
        edit::run(&o, &dir)
    } else {
        show::run(&o, &dir, &mut out)
    }
}

fn main() {
    // main.cf is UTF-8 text, so an argument that is not is refused.
    let args = util::getopt::args();
    if let Err(f) = run(&args) {
        msg::fatal(&f.message);
        std::process::exit(f.code);
    }
}
