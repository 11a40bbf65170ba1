//! NAME
//!   postcat - show mailsuite queue file contents
//!
//! SYNOPSIS
//!   postcat [-bdehoqrv] [-c config_dir] [-s offset] [files...]
//!
//! DESCRIPTION
//!   postcat prints the contents of the named files in human-readable form,
//!   as Postfix's postcat(1) does, with the same flags and the same output.
//!   The files are expected to be in queue file format (a mailsuite queue
//!   file uses Postfix's record types and framing, so either postcat reads
//!   either's files). If no files are given, postcat reads standard input.
//!
//!   By default postcat shows the envelope and the message content, as if
//!   -beh were given. Each file's output is framed by Postfix's section
//!   markers: "*** ENVELOPE RECORDS name ***", "*** MESSAGE CONTENTS name
//!   ***", "*** HEADER EXTRACTED name ***", "*** MESSAGE FILE END name ***".
//!   Envelope records print as "label: value" with Postfix's labels
//!   (message_size, message_arrival_time, create_time, sender_fullname,
//!   sender, named_attribute, dsn_return_flags, dsn_envelope_id,
//!   dsn_original_recipient, dsn_notify_flags, original_recipient,
//!   recipient, done_recipient, warning_message_time, return_receipt,
//!   errors_to, ...); times print as asctime(3) in local time.
//!
//!   -b     Show body content: from the first non-header line to the end
//!          of the message.
//!   -c config_dir
//!          Read main.cf in config_dir instead of $MAIL_CONFIG or
//!          /etc/mailsuite.
//!   -d     Print the decimal type of each record.
//!   -e     Show the envelope records (and the extracted ones).
//!   -h     Show the header: from the start of the message up to, not
//!          including, the first non-header line.
//!   -o     Print the queue file offset of each record.
//!   -q     Search the queue for the named queue IDs instead of taking the
//!          names as files: maildrop, incoming, active, deferred, hold,
//!          saved, then corrupt, with hashed subdirectories as
//!          hash_queue_names and hash_queue_depth say. The name shown is
//!          the queue-relative path, e.g. deferred/A/4Xk2mN2VXxz1a.
//!   -r     Print records in file order (mailsuite files have no pointer
//!          records; accepted for compatibility).
//!   -s offset
//!          Start reading at this file offset.
//!   -v     Verbose: label text records (regular_text:, unterminated_text:).
//!
//! DIAGNOSTICS
//!   Problems go to stderr as "postcat: warning: ..." or "postcat: fatal:
//!   ...". A file that does not start with an envelope record draws
//!   "input is not a valid queue file" and postcat goes on to the next
//!   file; a record that cannot be read (truncated, over-long) stops
//!   postcat after what came before it was shown. Exit status follows
//!   sysexits.h: 0 when every file was shown, 64 for usage errors and bad
//!   queue IDs, 65 for an invalid queue file, 66 for a file or queue ID
//!   that does not exist, 74 for read/write errors, 78 for configuration
//!   errors. (Postfix's postcat exits with 1 on fatal errors and 0 after a
//!   "not a valid queue file" warning.)
//!
//! SECURITY
//!   postcat runs with the rights of its caller and needs no others; to
//!   read queue files that caller must be root or mail_owner. The files
//!   it reads are untrusted input: every record's length is bounded before
//!   anything is allocated, and -q accepts only names of letters, digits
//!   and '_' (no '/' or '.'), so it cannot be made to read outside the
//!   queue. Record contents are written to stdout as they are.
//!
//! CONFIGURATION PARAMETERS
//!   config_directory
//!          Where main.cf is (set with -c or MAIL_CONFIG).
//!   queue_directory
//!          The queue searched with -q.
//!   hash_queue_names, hash_queue_depth
//!          Which queues have hashed subdirectories, and how many levels.
//!
//! ENVIRONMENT
//!   MAIL_CONFIG   The configuration directory, when -c is not given.
//!
//! FILES
//!   /etc/mailsuite/main.cf   parameter settings
//!   /var/spool/mailsuite     queue directory

mod show;

use params::{table as p, Config};
use show::{Flags, Outcome};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use util::sysexits::{self, Fatal};

/// The queues -q searches, in order (Postfix's, then corrupt).
const SEARCH_QUEUES: &[&str] = &[
    "maildrop", "incoming", "active", "deferred", "hold", "saved", "corrupt",
];

const USAGE: &str = "usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-o (offsets)] [-q (access queue)] [-r (raw)] [-s offset] [-v] [file(s)...]";

use util::strerror as io_text;

fn open_code(e: &io::Error) -> i32 {
    match e.kind() {
        io::ErrorKind::NotFound => sysexits::EX_NOINPUT,
        io::ErrorKind::PermissionDenied => sysexits::EX_NOPERM,
        _ => sysexits::EX_IOERR,
    }
}

struct Options {
    flags: Flags,
    config_dir: Option<String>,
    search_queue: bool,
    start_offset: u64,
    names: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Options, Fatal> {
    let (opts, names) = util::getopt::getopt(args, "bc:dehoqrs:v")
        .map_err(|_| Fatal::new(sysexits::EX_USAGE, USAGE))?;
    let mut o = Options {
        flags: Flags::default(),
        config_dir: None,
        search_queue: false,
        start_offset: 0,
        names,
    };
    for opt in opts {
        match (opt.flag, opt.arg) {
            ('b', _) => o.flags.body = true,
            ('c', Some(dir)) => o.config_dir = Some(dir),
            ('d', _) => o.flags.decimal = true,
            ('e', _) => o.flags.envelope = true,
            ('h', _) => o.flags.header = true,
            ('o', _) => o.flags.offsets = true,
            ('q', _) => o.search_queue = true,
            ('r', _) => o.flags.raw = true,
            ('s', Some(off)) => {
                o.start_offset = off
                    .parse()
                    .ok()
                    .filter(|_| off.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| Fatal::new(sysexits::EX_USAGE, format!("bad offset: {off}")))?;
            }
            ('v', _) => o.flags.verbose = true,
            _ => return Err(Fatal::new(sysexits::EX_USAGE, USAGE)),
        }
    }
    if !(o.flags.envelope || o.flags.header || o.flags.body) {
        o.flags.envelope = true;
        o.flags.header = true;
        o.flags.body = true;
    }
    Ok(o)
}

fn load_config(o: &Options) -> Result<Config, Fatal> {
    let dir = params::config_dir(o.config_dir.as_deref());
    let main_cf = dir.join("main.cf");
    if !main_cf.exists() && !o.search_queue {
        // Files named literally need nothing from main.cf.
        return Ok(Config::defaults());
    }
    Config::load(&dir, &[]).map_err(|e| {
        let code = if e.message.starts_with("cannot read") {
            sysexits::EX_NOINPUT
        } else {
            sysexits::EX_CONFIG
        };
        Fatal::new(code, e.to_string())
    })
}

/// Finds queue ID `id`: its queue-relative name and full path.
fn find_in_queue(cfg: &Config, id: &str) -> Result<(String, PathBuf), Fatal> {
    if !queue::is_valid_queue_id(id) {
        return Err(Fatal::new(
            sysexits::EX_USAGE,
            format!("bad mail queue ID: {id}"),
        ));
    }
    let queue_dir = cfg.path(&p::QUEUE_DIRECTORY);
    let spec = queue::HashSpec::from_config(cfg);
    // Twice, as Postfix does: qmgr may move the file between two queues
    // while we look.
    for _ in 0..2 {
        for q in SEARCH_QUEUES {
            let rel = spec
                .relative(q, id)
                .map_err(|e| Fatal::new(sysexits::EX_USAGE, e.to_string()))?;
            let full = queue_dir.join(&rel);
            if full.is_file() {
                return Ok((rel.to_string_lossy().into_owned(), full));
            }
        }
    }
    Err(Fatal::new(
        sysexits::EX_NOINPUT,
        format!("open queue file {id}: No such file or directory"),
    ))
}

/// Shows one input; returns its outcome.
fn show_one<R: Read, W: Write>(
    input: R,
    label: &str,
    o: &Options,
    out: &mut W,
) -> Result<Outcome, Fatal> {
    let mut warn = |text: String| eprintln!("postcat: warning: {text}");
    show::postcat(input, o.start_offset, label, o.flags, out, &mut warn)
        .map_err(|e| write_error(&e))
}

fn write_error(e: &io::Error) -> Fatal {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Fatal::new(sysexits::EX_OK, String::new())
    } else {
        Fatal::new(
            sysexits::EX_IOERR,
            format!("write to standard output: {}", io_text(e)),
        )
    }
}

fn open_file(path: &Path, label: &str, start: u64) -> Result<BufReader<File>, Fatal> {
    let mut f = File::open(path)
        .map_err(|e| Fatal::new(open_code(&e), format!("open {label}: {}", io_text(&e))))?;
    if start > 0 {
        f.seek(SeekFrom::Start(start)).map_err(|e| {
            Fatal::new(
                sysexits::EX_IOERR,
                format!("{label}: seek to {start}: {}", io_text(&e)),
            )
        })?;
    }
    Ok(BufReader::with_capacity(64 * 1024, f))
}

fn run(args: &[String]) -> Result<i32, Fatal> {
    let o = parse_args(args)?;
    let cfg = load_config(&o)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut status = sysexits::EX_OK;
    let mut finish = |outcome: Outcome,
                      label: &str,
                      out: &mut BufWriter<io::StdoutLock<'_>>|
     -> Result<(), Fatal> {
        out.flush().map_err(|e| write_error(&e))?;
        match outcome {
            Outcome::Done => Ok(()),
            Outcome::NotQueueFile => {
                status = sysexits::EX_DATAERR;
                Ok(())
            }
            Outcome::RecordError(why) => Err(Fatal::new(
                sysexits::EX_DATAERR,
                format!("{label}: record read error: {why}"),
            )),
        }
    };
    if o.names.is_empty() {
        let stdin = io::stdin();
        let mut input = BufReader::new(stdin.lock());
        if o.start_offset > 0 {
            let skipped = io::copy(&mut (&mut input).take(o.start_offset), &mut io::sink())
                .map_err(|e| Fatal::new(sysexits::EX_IOERR, format!("stdin: {}", io_text(&e))))?;
            if skipped < o.start_offset {
                return Err(Fatal::new(
                    sysexits::EX_DATAERR,
                    format!(
                        "stdin: skip {} bytes failed after {skipped}",
                        o.start_offset
                    ),
                ));
            }
        }
        let outcome = show_one(input, "stdin", &o, &mut out)?;
        finish(outcome, "stdin", &mut out)?;
    } else {
        for name in &o.names {
            let (label, path) = if o.search_queue {
                find_in_queue(&cfg, name)?
            } else {
                (name.clone(), PathBuf::from(name))
            };
            let input = open_file(&path, &label, o.start_offset)?;
            let outcome = show_one(input, &label, &o, &mut out)?;
            finish(outcome, &label, &mut out)?;
        }
    }
    Ok(status)
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    let code = match run(&args) {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("postcat: fatal: {}", f.message);
            }
            f.code
        }
    };
    std::process::exit(code);
}
