//! NAME
//!   postdrop - mailsuite mail posting agent
//!
//! SYNOPSIS
//!   postdrop [-rv] [-c config_dir]
//!
//! DESCRIPTION
//!   postdrop reads one message from standard input, as `sendmail` sends it
//!   (the frames of ipc::cleanup: Envelope, Content…, End), checks it, and
//!   writes it as a queue file into `maildrop/`. Then it wakes the pickup
//!   service, which hands the message to cleanup. Because the file is
//!   complete and fsync'd before postdrop exits 0, mail posted while the
//!   master is down is kept and picked up once it starts.
//!
//!   The file records the submitting user's uid (from the kernel, not from
//!   the input) and, when given, the full name (sendmail -F) and whether
//!   recipients are to be taken from the headers (sendmail -t).
//!
//!   -c dir  configuration directory (default $MAIL_CONFIG, then /etc/mailsuite)
//!   -r      accepted for Postfix compatibility (input is always a record stream)
//!   -v      more logging
//!
//! SECURITY
//!   Installed set-group-ID `setgid_group` so that any user can write into
//!   `maildrop/` (mode 730) and nowhere else. Everything on standard input
//!   is untrusted: every frame is validated, addresses may not hold control
//!   characters, the size is bounded by `message_size_limit`, and only the
//!   attributes named above are kept. `authorized_submit_users` says who
//!   may post (user names, !name, /file/name, type:table, as Postfix's
//!   check_user_acl_byuid).
//!
//! CONFIGURATION PARAMETERS
//!   queue_directory, message_size_limit, authorized_submit_users,
//!   local_login_sender_maps (the envelope senders each login may use:
//!   `*`, `<>`, `@domain`, or an address whatever its extension;
//!   recipient_delimiter, empty_address_local_login_sender_maps_lookup_key;
//!   relative table names are the queue directory's),
//!   pickup_service_name, syslog_name, maillog_file.
//!
//! FILES
//!   $queue_directory/maildrop, $queue_directory/public/pickup.

mod login_sender;

use ipc::cleanup::Request;
use ipc::frame::read_frame;
use params::{table as p, Config};
use queue::{Envelope, HashSpec, Recipient, Timestamp, Writer};
use std::io::Read;
use util::sysexits::*;

/// Attributes a user may set through sendmail.
const USER_ATTRIBUTES: &[&str] = &["fullname", "extract_recipients", ipc::cleanup::USER_VERIFY];

fn fatal(status: i32, text: &str) -> ! {
    maillog::fatal_status(status, format_args!("{text}"))
}

type Failure = (i32, String);

fn next(input: &mut impl Read) -> Result<Request, Failure> {
    match read_frame(input) {
        Ok(Some((k, payload))) => {
            Request::decode(k, &payload).map_err(|e| (EX_DATAERR, format!("bad input: {e}")))
        }
        Ok(None) => Err((EX_NOINPUT, "premature end of input".into())),
        Err(e) => Err((EX_DATAERR, format!("bad input: {e}"))),
    }
}

fn checked(what: &str, s: &str) -> Result<String, Failure> {
    if s.chars().any(|c| c.is_control()) || s.len() > 2000 {
        return Err((
            EX_DATAERR,
            format!("bad {what}: contains control characters or is too long"),
        ));
    }
    Ok(s.to_string())
}

/// The most recipients one posting may have (each becomes a queue record).
const MAX_RECIPIENTS: usize = 10_000;

/// Reads the message and writes it into maildrop/. Every failure returns
/// here, so the unfinished file is removed by the writer, never left behind.
fn post(cfg: &Config, uid: u32, login: &str) -> Result<queue::QueueId, Failure> {
    let limit = cfg.size(&p::MESSAGE_SIZE_LIMIT);
    let queue_dir = cfg.path(&p::QUEUE_DIRECTORY);
    let mut input = std::io::stdin().lock();
    let Request::Envelope(env) = next(&mut input)? else {
        return Err((EX_DATAERR, "bad input: expected the envelope first".into()));
    };
    // local_login_sender_maps: the senders this login may use, from tables
    // whose relative names are the queue directory's, never the caller's
    // (as Postfix's postdrop, which works there).
    std::env::set_current_dir(&queue_dir).map_err(|e| {
        (
            EX_TEMPFAIL,
            format!("chdir {}: {}", queue_dir.display(), util::strerror(&e)),
        )
    })?;
    let senders = maps::MapList::open_lenient(
        p::LOCAL_LOGIN_SENDER_MAPS.name,
        cfg.str(&p::LOCAL_LOGIN_SENDER_MAPS),
        &maps::Ctx::new(),
    );
    let delimiters = cfg.str(&p::RECIPIENT_DELIMITER);
    let null_sender = cfg.str(&p::EMPTY_ADDRESS_LOCAL_LOGIN_SENDER_MAPS_LOOKUP_KEY);
    match login_sender::allowed(&senders, login, &env.sender, delimiters, null_sender) {
        Ok(true) => {}
        Ok(false) => {
            let sender = &env.sender;
            return Err((
                EX_NOPERM,
                format!("{sender}({uid}): not authorized to use sender='{sender}'"),
            ));
        }
        Err(e) => {
            return Err((
                EX_TEMPFAIL,
                format!("{}: {e}", p::LOCAL_LOGIN_SENDER_MAPS.name),
            ))
        }
    }
    if env.recipients.len() > MAX_RECIPIENTS {
        return Err((
            EX_DATAERR,
            format!("too many recipients (more than {MAX_RECIPIENTS})"),
        ));
    }
    let mut qenv = Envelope {
        arrival: Timestamp::now(),
        sender: checked("sender", &env.sender)?,
        dsn_ret: env.ret.map(|r| match r {
            ipc::cleanup::Ret::Full => queue::DsnRet::Full,
            ipc::cleanup::Ret::Headers => queue::DsnRet::Hdrs,
        }),
        dsn_envid: env
            .envid
            .as_deref()
            .map(|e| checked("envid", e))
            .transpose()?,
        ..Envelope::default()
    };
    for r in &env.recipients {
        let mut rcpt = Recipient::new(checked("recipient", &r.address)?);
        rcpt.dsn_notify = (r.notify != 0).then_some(queue::DsnNotify(r.notify));
        rcpt.dsn_orcpt = r
            .orcpt
            .as_deref()
            .map(|o| checked("orcpt", o))
            .transpose()?;
        qenv.recipients.push(rcpt);
    }
    if env.body == ipc::cleanup::Body::EightBitMime {
        let _ = qenv.attrs.set("encoding", "8bit".into());
    }
    let _ = qenv.attrs.set("uid", uid.to_string());
    for (n, v) in &env.attributes {
        if USER_ATTRIBUTES.contains(&n.as_str()) {
            let _ = qenv.attrs.set(n, checked(n, v)?);
        } else if n == ipc::cleanup::VERP_DELIMITERS {
            // (cleanup checks them against verp_delimiter_filter)
            if !queue::model::verp_delimiters_valid(v) {
                return Err((EX_DATAERR, format!("bad VERP delimiters: {v:?}")));
            }
            qenv.verp_delimiters = Some(v.clone());
        }
    }
    let mut writer =
        Writer::create_in_queue(&queue_dir, "maildrop", &HashSpec::none()).map_err(|e| {
            (
                EX_TEMPFAIL,
                format!("cannot create a file in the maildrop directory: {e}"),
            )
        })?;
    writer.set_final_mode(0o444);
    writer
        .envelope(&qenv)
        .map_err(|e| (EX_DATAERR, e.to_string()))?;
    let mut size: u64 = 0;
    loop {
        match next(&mut input)? {
            Request::Content(bytes) => {
                size += bytes.len() as u64;
                if limit > 0 && size > limit {
                    return Err((EX_DATAERR, "message file too big".into()));
                }
                writer
                    .write_content(&bytes)
                    .map_err(|e| (EX_TEMPFAIL, e.to_string()))?;
            }
            Request::End => break,
            _ => return Err((EX_DATAERR, "bad input: unexpected record".into())),
        }
    }
    let (id, _) = writer
        .finish(&queue::Extracted::default())
        .map_err(|e| (EX_TEMPFAIL, e.to_string()))?;
    let pickup = queue_dir
        .join("public")
        .join(cfg.str(&p::PICKUP_SERVICE_NAME));
    let _ = ipc::trigger::send(&pickup, &[ipc::trigger::WAKEUP]);
    Ok(id)
}

/// When running set-group-ID for someone other than root, a configuration
/// other than the default must be listed in the default main.cf's
/// `alternate_config_directories` (as Postfix requires), or any user could
/// bring their own limits and log file.
fn trusted_config_dir(flag: Option<&str>) -> Result<std::path::PathBuf, String> {
    let dir = params::config_dir(flag);
    let privileged =
        nix::unistd::getegid() != nix::unistd::getgid() && !nix::unistd::getuid().is_root();
    if !privileged || dir == std::path::Path::new(params::DEFAULT_CONFIG_DIR) {
        return Ok(dir);
    }
    let default = Config::load(std::path::Path::new(params::DEFAULT_CONFIG_DIR), &[])
        .map_err(|e| e.to_string())?;
    let allowed = default
        .list(&p::ALTERNATE_CONFIG_DIRECTORIES)
        .into_iter()
        .chain(default.list(&p::MULTI_INSTANCE_DIRECTORIES))
        .any(|d| std::path::Path::new(&d) == dir);
    if allowed {
        Ok(dir)
    } else {
        Err(format!(
            "{} is not listed in alternate_config_directories of {}",
            dir.display(),
            params::DEFAULT_CONFIG_DIR
        ))
    }
}

fn main() {
    let args: Vec<String> = util::getopt::args();
    let (opts, rest) = util::getopt::getopt(&args, "c:rv").unwrap_or_else(|e| {
        eprintln!("postdrop: fatal: {e}\nusage: postdrop [-rv] [-c config_dir]");
        std::process::exit(EX_USAGE)
    });
    if !rest.is_empty() {
        eprintln!("postdrop: fatal: unexpected argument: {}", rest[0]);
        std::process::exit(EX_USAGE);
    }
    let dir = opts
        .iter()
        .find(|o| o.flag == 'c')
        .and_then(|o| o.arg.clone());
    let dir = trusted_config_dir(dir.as_deref()).unwrap_or_else(|e| {
        eprintln!("postdrop: fatal: {e}");
        std::process::exit(EX_USAGE)
    });
    let cfg = Config::load(&dir, &[]).unwrap_or_else(|e| {
        eprintln!("postdrop: fatal: {e}");
        std::process::exit(EX_CONFIG)
    });
    params::logging::init(&cfg, "postdrop", true, None);
    let uid = nix::unistd::getuid().as_raw();
    if let Err(name) = maps::user_acl::check(&cfg, &p::AUTHORIZED_SUBMIT_USERS, uid) {
        fatal(
            EX_NOPERM,
            &format!("User {name}({uid}) is not allowed to submit mail"),
        );
    }
    // An interrupted posting must still clean up after itself.
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGQUIT,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
    }
    // The login the sender tables know: the name, else uid:N.
    let login = match util::privs::lookup_user_by_uid(uid) {
        Some(a) => a.name,
        None => format!("uid:{uid}"),
    };
    match post(&cfg, uid, &login) {
        Ok(id) => {
            if opts.iter().any(|o| o.flag == 'v') {
                maillog::info!("{id}: posted by uid {uid}");
            }
        }
        Err((status, text)) => fatal(status, &text),
    }
}
