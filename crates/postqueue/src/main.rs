//! NAME
//!   postqueue - mailsuite queue control
//!
//! SYNOPSIS
//!   To flush the mail queue:
//!     postqueue [-v] [-c config_dir] -f
//!     postqueue [-v] [-c config_dir] -i queue_id
//!     postqueue [-v] [-c config_dir] -s site
//!   To list the mail queue:
//!     postqueue [-v] [-c config_dir] -j
//!     postqueue [-v] [-c config_dir] -p
//!
//! DESCRIPTION
//!   postqueue is the user interface to the queue, as Postfix's
//!   postqueue(1), with the same flags and output. `mailq` and `sendmail
//!   -bp` run `postqueue -p`.
//!
//!   -c config_dir
//!          Read main.cf in config_dir instead of $MAIL_CONFIG or
//!          /etc/mailsuite.
//!   -f     Flush the queue: ask qmgr to retry every deferred message now
//!          (the trigger letters F and A on public/qmgr), mail for the
//!          defer_transports included. Prints nothing.
//!   -i queue_id
//!          Deliver the deferred message queue_id now. There is no flush
//!          daemon: when postqueue may (root, or mail_owner), it sets the
//!          file's time stamp to now, which makes it due, and asks qmgr to
//!          scan the deferred queue and deliver that message even to the
//!          defer_transports (D, then `Q` queue_id newline); otherwise it
//!          asks qmgr to retry all deferred mail (F, A).
//!   -j     List the queue as JSON, one object per line per message:
//!          queue_name, queue_id, arrival_time, message_size,
//!          forced_expire, sender, recipients [{address, delay_reason}].
//!   -p     List the queue sendmail-style: queue ID (with `*` when the
//!          message is in the active queue, `!` when it is on hold, `#`
//!          when forced to expire), size, arrival time, sender, then each
//!          recipient still to be delivered, below the reason "(text)" it
//!          waits for; ends with "-- N Kbytes in N Requests." or prints
//!          "Mail queue is empty". The columns are Postfix's for long queue
//!          IDs (enable_long_queue_ids = yes, mailsuite's only kind).
//!   -s site
//!          Deliver the mail queued for site (a domain or an address
//!          literal) now: the queue manager gets `S` site newline and
//!          takes in every deferred message with a recipient there (mail
//!          for the defer_transports included).
//!   -v     Accepted (more logging in Postfix).
//!
//!   The listing comes from the showq service (public/showq). When that
//!   is not reachable, root reads the queue directly with the same code
//!   (with "warning: Mail system is down -- accessing queue directly");
//!   anyone else gets "fatal: Queue report unavailable - mail system is
//!   down".
//!
//! DIAGNOSTICS
//!   Problems go to standard error and the maillog. Exit status 0 on
//!   success, 64 usage, 69 the mail system is down, 70 a malformed showq
//!   answer, 74 an output error, 78 a bad main.cf.
//!
//! SECURITY
//!   postqueue is meant to be installed set-group-ID setgid_group, so
//!   that it may connect to public/showq and public/qmgr, which are not
//!   open to others. Set-group-ID, it accepts a configuration directory
//!   other than the default (-c, MAIL_CONFIG) only when the default
//!   main.cf lists it in alternate_config_directories, and it reads no
//!   queue file itself unless run by root. The showq answer is parsed
//!   strictly and a malformed one stops it. Users other than root and
//!   mail_owner may list the queue only when `authorized_mailq_users`
//!   lets them, and flush it only when `authorized_flush_users` does
//!   ("User NAME(UID) is not allowed to view the mail queue", exit 69).
//!
//! CONFIGURATION PARAMETERS
//!   alternate_config_directories
//!          Configuration directories an unprivileged caller may name.
//!   authorized_mailq_users (static:anyone), authorized_flush_users
//!   (static:anyone)
//!          Who may list (-p, -j) and flush (-f, -i, -s) the queue: user
//!          names, !name, /file/name, type:table (maps::user_acl).
//!   queue_directory
//!          Where public/showq, public/qmgr and the queue are.
//!   showq_service_name (showq), queue_service_name (qmgr)
//!          The services postqueue talks to.
//!   enable_long_queue_ids (yes)
//!          The -p column widths.
//!   mail_name (mailsuite)
//!          Named in "Connect to the mailsuite showq service" messages.
//!
//! ENVIRONMENT
//!   MAIL_CONFIG        The configuration directory, when -c is not given.
//!
//! FILES
//!   queue_directory/public/showq    the listing service
//!   queue_directory/public/qmgr     the queue manager's trigger

use params::{table as p, Config};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use util::sysexits::{self, Fatal};

const USAGE: &str =
    "usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Flush,
    FlushId(String),
    FlushSite(String),
    Json,
    List,
}

fn parse_args(args: &[String]) -> Result<(Mode, Option<String>), Fatal> {
    let (opts, operands) = util::getopt::getopt(args, "c:fi:jps:v")
        .map_err(|e| Fatal::new(sysexits::EX_USAGE, format!("{e}\n{USAGE}")))?;
    let mut config = None;
    let mut mode = None;
    let mut set = |m: Mode| -> Result<(), Fatal> {
        if mode.is_some() {
            return Err(Fatal::new(sysexits::EX_USAGE, USAGE));
        }
        mode = Some(m);
        Ok(())
    };
    for o in opts {
        let arg = o.arg.unwrap_or_default();
        match o.flag {
            'c' => {
                if !arg.starts_with('/') {
                    return Err(Fatal::new(
                        sysexits::EX_USAGE,
                        "-c requires absolute pathname",
                    ));
                }
                config = Some(arg);
            }
            'f' => set(Mode::Flush)?,
            'i' => set(Mode::FlushId(arg))?,
            'j' => set(Mode::Json)?,
            'p' => set(Mode::List)?,
            's' => set(Mode::FlushSite(arg))?,
            _ => {} // -v
        }
    }
    if !operands.is_empty() {
        return Err(Fatal::new(sysexits::EX_USAGE, USAGE));
    }
    let mode = mode.ok_or_else(|| Fatal::new(sysexits::EX_USAGE, USAGE))?;
    Ok((mode, config))
}

/// strerror text, as Postfix's %m.
fn errtext(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// True when running set-group-ID (real and effective groups differ).
fn is_setgid() -> bool {
    nix::unistd::getgid() != nix::unistd::getegid()
}

/// Chooses the configuration directory: set-group-ID and not root, a
/// non-default one must be listed in the default main.cf's
/// alternate_config_directories.
fn config_dir(flag: Option<&str>) -> Result<std::path::PathBuf, Fatal> {
    let wanted = params::config_dir(flag);
    let default = params::config_dir(Some(params::DEFAULT_CONFIG_DIR));
    if wanted == default || !is_setgid() || util::privs::is_root() {
        return Ok(wanted);
    }
    let base =
        Config::load(&default, &[]).map_err(|e| Fatal::new(sysexits::EX_CONFIG, e.to_string()))?;
    let allowed = base
        .list(&p::ALTERNATE_CONFIG_DIRECTORIES)
        .iter()
        .any(|d| Path::new(d) == wanted);
    if allowed {
        Ok(wanted)
    } else {
        Err(Fatal::new(
            sysexits::EX_USAGE,
            format!(
                "{}: bad configuration directory for this user; it must be listed in alternate_config_directories in {}/main.cf",
                wanted.display(),
                default.display()
            ),
        ))
    }
}

/// Writes to stdout; a closed pipe ends quietly.
fn emit(out: &mut impl Write, bytes: &[u8]) -> Result<bool, Fatal> {
    match out.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Fatal::new(
            sysexits::EX_IOERR,
            format!("output write error: {}", errtext(&e)),
        )),
    }
}

/// Lists the queue from the showq service's answer.
fn list_from_service(stream: UnixStream, json: bool, long_ids: bool) -> Result<(), Fatal> {
    let malformed = || Fatal::new(sysexits::EX_SOFTWARE, "malformed showq server response");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3600)));
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut compat = showq::format::Compat::new(long_ids);
    let mut msg = showq::Message::default();
    let mut line = Vec::new();
    let mut text = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| {
            Fatal::new(
                sysexits::EX_SOFTWARE,
                format!("read showq server response: {}", errtext(&e)),
            )
        })?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            return Err(malformed());
        }
        showq::json::parse_line(&line[..line.len() - 1], &mut msg).map_err(|_| malformed())?;
        if json {
            // The service speaks -j already; what parsed is passed on as is.
            text.extend_from_slice(&line);
        } else {
            compat.message(&mut text, &msg);
        }
        if text.len() >= 60 * 1024 {
            if !emit(&mut out, &text)? {
                return Ok(());
            }
            text.clear();
        }
    }
    if !json {
        compat.finish(&mut text);
    }
    if emit(&mut out, &text)? {
        emit_flush(&mut out)?;
    }
    Ok(())
}

fn emit_flush(out: &mut impl Write) -> Result<(), Fatal> {
    match out.flush() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fatal::new(
            sysexits::EX_IOERR,
            format!("output write error: {}", errtext(&e)),
        )),
    }
}

/// Lists the queue by reading it (root, mail system down).
fn list_direct(cfg: &Config, queue_dir: &Path, json: bool, long_ids: bool) -> Result<(), Fatal> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut compat = showq::format::Compat::new(long_ids);
    let mut text = Vec::with_capacity(64 * 1024);
    let mut scanner = showq::Scanner::from_config(cfg, queue_dir);
    let mut closed = false;
    scanner
        .scan(|m| {
            if json {
                showq::format::json_line(&mut text, m);
            } else {
                compat.message(&mut text, m);
            }
            if text.len() >= 60 * 1024 {
                if !emit(&mut out, &text)? {
                    closed = true;
                    return Err(Fatal::new(0, ""));
                }
                text.clear();
            }
            Ok(())
        })
        .or_else(|e| if closed { Ok(()) } else { Err(e) })?;
    if closed {
        return Ok(());
    }
    if !json {
        compat.finish(&mut text);
    }
    if emit(&mut out, &text)? {
        emit_flush(&mut out)?;
    }
    Ok(())
}

fn list(cfg: &Config, queue_dir: &Path, json: bool) -> Result<(), Fatal> {
    let long_ids = cfg.bool(&p::ENABLE_LONG_QUEUE_IDS);
    let service = cfg.str(&p::SHOWQ_SERVICE_NAME);
    let socket = queue_dir.join("public").join(service);
    match UnixStream::connect(&socket) {
        Ok(s) => list_from_service(s, json, long_ids),
        Err(e) => {
            let why = format!(
                "Connect to the {} {service} service: {}",
                cfg.str(&p::MAIL_NAME),
                errtext(&e)
            );
            if !util::privs::is_root() {
                return Err(Fatal::new(
                    sysexits::EX_UNAVAILABLE,
                    format!("Queue report unavailable - mail system is down ({why})"),
                ));
            }
            maillog::warning!("Mail system is down -- accessing queue directly ({why})");
            list_direct(cfg, queue_dir, json, long_ids)
        }
    }
}

/// Sends trigger letters to qmgr.
fn trigger_qmgr(cfg: &Config, queue_dir: &Path, request: &[u8]) -> Result<(), Fatal> {
    let socket = queue_dir
        .join("public")
        .join(cfg.str(&p::QUEUE_SERVICE_NAME));
    ipc::trigger::send(&socket, request).map_err(|_| {
        Fatal::new(
            sysexits::EX_UNAVAILABLE,
            "Cannot flush mail queue - mail system is down",
        )
    })
}

/// `authorized_mailq_users` for a listing, `authorized_flush_users` for a
/// flush, as Postfix's postqueue checks them: root and mail_owner always
/// may.
fn authorize(cfg: &Config, mode: &Mode) -> Result<(), Fatal> {
    let uid = nix::unistd::getuid().as_raw();
    let owner = util::privs::lookup_user(cfg.str(&p::MAIL_OWNER))
        .ok()
        .flatten()
        .map(|a| a.uid);
    if uid == 0 || owner == Some(uid) {
        return Ok(());
    }
    let (param, what) = match mode {
        Mode::List | Mode::Json => (&p::AUTHORIZED_MAILQ_USERS, "view"),
        _ => (&p::AUTHORIZED_FLUSH_USERS, "flush"),
    };
    // EX_UNAVAILABLE, as Postfix's postqueue exits on any fatal error.
    maps::user_acl::check(cfg, param, uid).map_err(|name| {
        Fatal::new(
            sysexits::EX_UNAVAILABLE,
            format!("User {name}({uid}) is not allowed to {what} the mail queue"),
        )
    })
}

const FLUSH_ALL: [u8; 2] = [ipc::trigger::FLUSH, ipc::trigger::SCAN_ALL];

/// `-i ID`: make the deferred file due now, then have qmgr scan.
fn flush_id(cfg: &Config, queue_dir: &Path, id: &str) -> Result<(), Fatal> {
    if !queue::is_valid_queue_id(id) {
        return Err(Fatal::new(
            sysexits::EX_USAGE,
            format!(
                "Cannot flush queue ID - invalid name: \"{}\"",
                printable_prefix(id)
            ),
        ));
    }
    let spec = queue::HashSpec::from_config(cfg);
    let touched = spec
        .path(queue_dir, "deferred", id)
        .ok()
        .is_some_and(|path| {
            let f = std::fs::OpenOptions::new().write(true).open(&path);
            f.and_then(|f| f.set_modified(std::time::SystemTime::now()))
                .is_ok()
        });
    if touched {
        let mut request = vec![ipc::trigger::SCAN_DEFERRED];
        request.extend(ipc::trigger::flush_id_request(id));
        trigger_qmgr(cfg, queue_dir, &request)
    } else {
        trigger_qmgr(cfg, queue_dir, &FLUSH_ALL)
    }
}

/// Postfix shows at most 100 characters of a bad name, printable.
fn printable_prefix(s: &str) -> String {
    let mut out = String::new();
    showq::push_printable(&mut out, &s.chars().take(100).collect::<String>());
    if s.chars().count() > 100 {
        out.push_str("...");
    }
    out
}

/// `-s site`: a site must look like a domain name or an address literal.
fn flush_site(cfg: &Config, queue_dir: &Path, site: &str) -> Result<(), Fatal> {
    if !ipc::trigger::site_like(site) {
        return Err(Fatal::new(
            sysexits::EX_USAGE,
            format!(
                "Cannot flush mail queue - invalid destination: \"{}\"",
                printable_prefix(site)
            ),
        ));
    }
    trigger_qmgr(cfg, queue_dir, &ipc::trigger::flush_site_request(site))
}

fn run(args: &[String]) -> Result<(), Fatal> {
    let (mode, flag) = parse_args(args)?;
    let dir = config_dir(flag.as_deref())?;
    let cfg = Config::load(&dir, &[]).map_err(|e| {
        let code = if e.message.starts_with("cannot read") {
            sysexits::EX_NOINPUT
        } else {
            sysexits::EX_CONFIG
        };
        Fatal::new(code, e.to_string())
    })?;
    params::logging::init(&cfg, "postqueue", true, None);
    let queue_dir = cfg.path(&p::QUEUE_DIRECTORY);
    std::env::set_current_dir(&queue_dir).map_err(|e| {
        Fatal::new(
            sysexits::EX_UNAVAILABLE,
            format!("chdir {}: {}", queue_dir.display(), errtext(&e)),
        )
    })?;
    authorize(&cfg, &mode)?;
    match mode {
        Mode::List => list(&cfg, &queue_dir, false),
        Mode::Json => list(&cfg, &queue_dir, true),
        Mode::Flush => trigger_qmgr(&cfg, &queue_dir, &FLUSH_ALL),
        Mode::FlushId(id) => flush_id(&cfg, &queue_dir, &id),
        Mode::FlushSite(site) => flush_site(&cfg, &queue_dir, &site),
    }
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    match run(&args) {
        Ok(()) => std::process::exit(0),
        Err(f) => {
            if !f.message.is_empty() {
                maillog::log(maillog::Level::Fatal, format_args!("{}", f.message));
            }
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
    fn one_mode_only() {
        assert_eq!(parse_args(&args(&["-p"])).unwrap().0, Mode::List);
        assert_eq!(
            parse_args(&args(&["-c", "/x", "-i", "ID"])).unwrap(),
            (Mode::FlushId("ID".into()), Some("/x".into()))
        );
        assert!(parse_args(&args(&["-p", "-f"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["-c", "rel", "-p"])).is_err());
        assert!(parse_args(&args(&["-p", "extra"])).is_err());
    }
}
