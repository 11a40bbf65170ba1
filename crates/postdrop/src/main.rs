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
//!   may post.
//!
//! CONFIGURATION PARAMETERS
//!   queue_directory, message_size_limit, authorized_submit_users,
//!   pickup_service_name, syslog_name, maillog_file.
//!
//! FILES
//!   $queue_directory/maildrop, $queue_directory/public/pickup.

use ipc::cleanup::Request;
use ipc::frame::read_frame;
use params::{table as p, Config};
use queue::{Envelope, HashSpec, Recipient, Timestamp, Writer};
use std::io::Read;
use util::sysexits::*;

/// Attributes a user may set through sendmail.
const USER_ATTRIBUTES: &[&str] = &["fullname", "extract_recipients"];

fn fatal(status: i32, text: &str) -> ! {
    maillog::fatal_status(status, format_args!("{text}"))
}

fn clean(what: &str, s: &str) -> String {
    if s.chars().any(|c| c.is_control()) || s.len() > 2000 {
        fatal(
            EX_DATAERR,
            &format!("bad {what}: contains control characters or is too long"),
        );
    }
    s.to_string()
}

/// Whether the user may post: `static:anyone`, or a list of user names
/// (`!name` excludes).
fn authorized(cfg: &Config, user: &str) -> bool {
    let list = cfg.list(&p::AUTHORIZED_SUBMIT_USERS);
    for item in &list {
        match item.as_str() {
            "static:anyone" => return true,
            i if i.strip_prefix('!') == Some(user) => return false,
            i if i == user => return true,
            _ => {}
        }
    }
    false
}

fn next(input: &mut impl Read) -> Request {
    match read_frame(input) {
        Ok(Some((k, payload))) => Request::decode(k, &payload)
            .unwrap_or_else(|e| fatal(EX_DATAERR, &format!("bad input: {e}"))),
        Ok(None) => fatal(EX_NOINPUT, "premature end of input"),
        Err(e) => fatal(EX_DATAERR, &format!("bad input: {e}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
    let cfg = Config::load(&params::config_dir(dir.as_deref()), &[]).unwrap_or_else(|e| {
        eprintln!("postdrop: fatal: {e}");
        std::process::exit(EX_CONFIG)
    });
    params::logging::init(&cfg, "postdrop", true, None);
    let uid = nix::unistd::getuid().as_raw();
    let user = util::privs::lookup_user_by_uid(uid)
        .map(|a| a.name)
        .unwrap_or_else(|| uid.to_string());
    if !authorized(&cfg, &user) {
        fatal(
            EX_NOPERM,
            &format!("User {user}({uid}) is not allowed to submit mail"),
        );
    }
    let limit = cfg.size(&p::MESSAGE_SIZE_LIMIT);
    let queue_dir = cfg.path(&p::QUEUE_DIRECTORY);

    let mut input = std::io::stdin().lock();
    let Request::Envelope(env) = next(&mut input) else {
        fatal(EX_DATAERR, "bad input: expected the envelope first")
    };
    let mut qenv = Envelope {
        arrival: Timestamp::now(),
        sender: clean("sender", &env.sender),
        dsn_ret: env.ret.map(|r| match r {
            ipc::cleanup::Ret::Full => queue::DsnRet::Full,
            ipc::cleanup::Ret::Headers => queue::DsnRet::Hdrs,
        }),
        dsn_envid: env.envid.as_deref().map(|e| clean("envid", e)),
        ..Envelope::default()
    };
    for r in &env.recipients {
        let mut rcpt = Recipient::new(clean("recipient", &r.address));
        rcpt.dsn_notify = (r.notify != 0).then_some(queue::DsnNotify(r.notify));
        qenv.recipients.push(rcpt);
    }
    if env.body == ipc::cleanup::Body::EightBitMime {
        let _ = qenv.attrs.set("encoding", "8bit".into());
    }
    let _ = qenv.attrs.set("uid", uid.to_string());
    for (n, v) in &env.attributes {
        if USER_ATTRIBUTES.contains(&n.as_str()) {
            let _ = qenv.attrs.set(n, clean(n, v));
        }
    }
    let mut writer = Writer::create_in_queue(&queue_dir, "maildrop", &HashSpec::none())
        .unwrap_or_else(|e| {
            fatal(
                EX_TEMPFAIL,
                &format!("cannot create a file in the maildrop directory: {e}"),
            )
        });
    writer.set_final_mode(0o444);
    writer
        .envelope(&qenv)
        .unwrap_or_else(|e| fatal(EX_DATAERR, &e.to_string()));
    let mut size: u64 = 0;
    loop {
        match next(&mut input) {
            Request::Content(bytes) => {
                size += bytes.len() as u64;
                if limit > 0 && size > limit {
                    fatal(EX_DATAERR, "message file too big");
                }
                writer
                    .write_content(&bytes)
                    .unwrap_or_else(|e| fatal(EX_TEMPFAIL, &e.to_string()));
            }
            Request::End => break,
            _ => fatal(EX_DATAERR, "bad input: unexpected record"),
        }
    }
    let (id, _) = writer
        .finish(&queue::Extracted::default())
        .unwrap_or_else(|e| fatal(EX_TEMPFAIL, &e.to_string()));
    let pickup = queue_dir
        .join("public")
        .join(cfg.str(&p::PICKUP_SERVICE_NAME));
    let _ = ipc::trigger::send(&pickup, &[ipc::trigger::WAKEUP]);
    if opts.iter().any(|o| o.flag == 'v') {
        maillog::info!("{id}: posted by uid {uid}");
    }
}
