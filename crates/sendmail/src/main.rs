//! NAME
//!   sendmail - mailsuite to Sendmail compatibility interface
//!
//! SYNOPSIS
//!   sendmail [options] [recipient ...]
//!   mailq      (same as sendmail -bp)
//!   newaliases (same as sendmail -I)
//!
//! DESCRIPTION
//!   sendmail reads a message from standard input and posts it through
//!   postdrop into the maildrop queue, from where pickup hands it to
//!   cleanup. It returns once the message is safely on disk, whether or not
//!   the mail system is running. Lines end in LF; the CRs before it are
//!   taken off as `sendmail_fix_line_endings` says: `always` (the
//!   default), `strict` (only when the first line ends in CRLF) or
//!   `never` (they stay in the stored message). A leading mbox `From `
//!   line is dropped; unless -i or -oi is given, a line with a single `.`
//!   (after that) ends the input.
//!
//!   -bm          read mail from standard input and post it (the default)
//!   -bp          list the queue (runs postqueue -p, like mailq)
//!   -bv          verify the recipients: nothing is read or delivered;
//!                each is tried as an address verification probe, and
//!                the sender gets a "Mail Delivery Status Report" saying
//!                what delivery would do (deliverable or undeliverable,
//!                and why)
//!   -bi, -I      rebuild the alias database (runs newaliases)
//!   -bs          SMTP on standard input and output (stand-alone mode: no
//!                relay checks; each message is posted through postdrop)
//!   -B type      body type: 7BIT or 8BITMIME
//!   -C file      configuration: main.cf's directory, or a file in it
//!   -F name      the sender's full name (default: $NAME, else the GECOS
//!                field of the login, as Postfix's sendmail takes it)
//!   -f sender, -r sender
//!                the envelope sender (default: the user's login name)
//!   -i, -oi      a line with a single dot does not end the input
//!   -N dsn       delivery status notification: never, or success,delay,failure
//!   -R ret       what a bounce returns: hdrs or full
//!   -t           take recipients from the To:, Cc: and Bcc: headers too
//!                (Bcc: is removed); command-line recipients are kept
//!   -V envid     the envelope ID for delivery status notifications (two
//!                characters: Postfix 2.2's VERP form, with a warning)
//!   -XV, -XVxy   VERP: each recipient's mail gets a return path with the
//!                recipient in it (owner+user=domain@origin), with the
//!                delimiters default_verp_delimiters or xy
//!   -q           flush the queue (runs postqueue -f)
//!   -v           more logging
//!   -G, -L, -O, -U, -c, -e, -h, -m, -n, -x, other -o options
//!                accepted and ignored, for compatibility
//!
//!   Exit status follows sysexits.h: 0 when the message was posted, 64 for
//!   usage errors, 65 for bad input, 75 when postdrop failed for a reason
//!   that may pass, or when `authorized_submit_users` leaves the user out
//!   ("User NAME(UID) is not allowed to submit mail", said before the
//!   message is read; postdrop checks it again).
//!
//! SECURITY
//!   Runs with the caller's rights; postdrop (set-group-ID) does the
//!   writing and checks everything sendmail sends it.
//!
//! CONFIGURATION PARAMETERS
//!   command_directory (where postdrop, postqueue and newaliases are),
//!   authorized_submit_users, sendmail_fix_line_endings,
//!   default_verp_delimiters, verp_delimiter_filter, message_size_limit,
//!   syslog_name, maillog_file.
//!
//! FILES
//!   $command_directory/postdrop, $queue_directory/maildrop.

mod standalone;

use ipc::cleanup::{notify, Body, Envelope, Recipient, Request, Ret};
use ipc::frame::write_frame;
use params::{table as p, Config};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use util::sysexits::*;

const USAGE: &str =
    "usage: sendmail [-bm|-bp|-bi|-bv|-I] [-t] [-i] [-f sender] [-F name] [-C config] [recipient ...]";

fn fatal(status: i32, text: &str) -> ! {
    maillog::fatal_status(status, format_args!("{text}"))
}

#[derive(Default)]
struct Options {
    mode: char,
    config: Option<String>,
    sender: Option<String>,
    fullname: Option<String>,
    ignore_dots: bool,
    extract: bool,
    notify: u8,
    ret: Option<Ret>,
    envid: Option<String>,
    /// `-XV` (empty: default_verp_delimiters) or `-XVxy`.
    verp: Option<String>,
    /// What to warn about once logging is set up.
    warnings: Vec<String>,
    body: Body,
    verbose: bool,
    recipients: Vec<String>,
}

fn parse_notify(s: &str) -> Option<u8> {
    let mut bits = 0;
    for word in s.split(',') {
        bits |= match word.trim().to_ascii_lowercase().as_str() {
            "never" => notify::NEVER,
            "success" => notify::SUCCESS,
            "failure" => notify::FAILURE,
            "delay" => notify::DELAY,
            _ => return None,
        };
    }
    (bits & notify::NEVER == 0 || bits == notify::NEVER).then_some(bits)
}

fn parse_args(argv0: &str, args: &[String]) -> Options {
    let mut o = Options {
        mode: 'm',
        ..Options::default()
    };
    match argv0 {
        "mailq" => o.mode = 'p',
        "newaliases" => o.mode = 'i',
        _ => {}
    }
    let spec = "46A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q:r:tvx";
    // `-q` alone runs the queue: its interval (`-q1h`) is optional.
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a == "-q" {
                "-q0".to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    let (opts, rest) = util::getopt::getopt(&args, spec).unwrap_or_else(|e| {
        eprintln!("sendmail: fatal: {e}\n{USAGE}");
        std::process::exit(EX_USAGE)
    });
    for opt in opts {
        let arg = opt.arg.unwrap_or_default();
        match opt.flag {
            'B' => {
                o.body = match arg.to_ascii_uppercase().as_str() {
                    "8BITMIME" => Body::EightBitMime,
                    "7BIT" => Body::SevenBit,
                    _ => fatal(
                        EX_USAGE,
                        &format!("-B option needs 8BITMIME or 7BIT, not \"{arg}\""),
                    ),
                }
            }
            'C' => o.config = Some(arg),
            'F' => o.fullname = Some(arg),
            'I' => o.mode = 'i',
            'N' => {
                o.notify = parse_notify(&arg)
                    .unwrap_or_else(|| fatal(EX_USAGE, &format!("bad -N option value: {arg}")))
            }
            'R' => {
                o.ret = match arg.to_ascii_lowercase().as_str() {
                    "full" => Some(Ret::Full),
                    "hdrs" => Some(Ret::Headers),
                    _ => fatal(EX_USAGE, &format!("bad -R option value: {arg}")),
                }
            }
            // -V envid; two characters are Postfix 2.2's VERP form.
            'V' if arg.chars().count() == 2 => {
                o.warnings.push(format!(
                    "option -V{arg} is deprecated with Postfix 2.3; specify -XV{arg} instead"
                ));
                o.verp = Some(arg);
            }
            'V' if arg.is_empty() || arg.len() > 100 || arg.chars().any(|c| c.is_control()) => o
                .warnings
                .push("bad syntax in -V option value -- ignored".into()),
            'V' => o.envid = Some(arg),
            // -XV, -XVxy: VERP; Postfix knows no other -X.
            'X' => match arg.strip_prefix('V') {
                Some(d) => o.verp = Some(d.to_string()),
                None => fatal(
                    EX_USAGE,
                    &format!("unsupported: -X{}", arg.chars().next().unwrap_or(' ')),
                ),
            },
            'b' => match arg.as_str() {
                "m" | "s" | "p" | "i" | "v" => o.mode = arg.chars().next().unwrap_or('m'),
                "d" | "D" => fatal(EX_USAGE, "-bd is not supported: use mailsuite start"),
                _ => fatal(EX_USAGE, &format!("unsupported: -b{arg}")),
            },
            // The first address of the argument, in internal form (`<>` or
            // nothing is the null sender), as Postfix's sendmail takes it.
            'f' | 'r' => {
                o.sender = Some(
                    addr::parse_address_list(&arg)
                        .first()
                        .map(|m| m.internal())
                        .unwrap_or_default(),
                )
            }
            'i' => o.ignore_dots = true,
            'o' => match arg.as_str() {
                "i" => o.ignore_dots = true,
                "7" => o.body = Body::SevenBit,
                "8" => o.body = Body::EightBitMime,
                _ => {}
            },
            'q' => o.mode = 'q',
            't' => o.extract = true,
            'v' => o.verbose = true,
            _ => {}
        }
    }
    // Each argument is an address list, each address taken in internal
    // form (`"x y"@example.com` is the local part `x y`), as Postfix's
    // sendmail takes them.
    o.recipients = rest
        .iter()
        .flat_map(|a| addr::parse_address_list(a))
        .map(|m| m.internal())
        .collect();
    o
}

/// `-C`: a directory, or a file whose directory holds main.cf.
fn config_dir(flag: Option<&str>) -> PathBuf {
    match flag {
        Some(c) if Path::new(c).is_file() => Path::new(c)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        other => params::config_dir(other),
    }
}

/// Runs another mailsuite command in place of this one.
fn exec(cfg: &Config, program: &str, args: &[&str]) -> ! {
    let path = cfg.path(&p::COMMAND_DIRECTORY).join(program);
    if !path.is_file() {
        fatal(
            EX_UNAVAILABLE,
            &format!("{} is not installed", path.display()),
        );
    }
    let e = Command::new(&path).args(args).exec();
    fatal(EX_OSERR, &format!("exec {}: {e}", path.display()))
}

/// `sendmail_fix_line_endings`: when the CRs before a line's LF are taken
/// off (Postfix 2.9 and later: always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FixLineEndings {
    Always,
    /// Only when the first line ends in CRLF.
    Strict,
    Never,
}

impl FixLineEndings {
    fn parse(value: &str) -> Option<FixLineEndings> {
        match value.trim().to_ascii_lowercase().as_str() {
            "always" => Some(FixLineEndings::Always),
            "strict" => Some(FixLineEndings::Strict),
            "never" => Some(FixLineEndings::Never),
            _ => None,
        }
    }
}

/// Reads the message as Postfix's sendmail does: each line without its LF,
/// and without the CRs before it when `fix` says so (`strict` decides by
/// the first line, the From_ line too); a leading From_ line is dropped;
/// a lone dot (after that) ends the input unless `ignore_dots`.
fn read_message(
    input: &mut impl BufRead,
    fix: FixLineEndings,
    ignore_dots: bool,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut first = true;
    let mut strip = match fix {
        FixLineEndings::Always => Some(true),
        FixLineEndings::Never => Some(false),
        FixLineEndings::Strict => None,
    };
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let mut text = line.strip_suffix(b"\n").unwrap_or(&line);
        let strip = *strip.get_or_insert(text.ends_with(b"\r"));
        if first && text.starts_with(b"From ") {
            first = false;
            continue;
        }
        first = false;
        if strip {
            while let Some(t) = text.strip_suffix(b"\r") {
                text = t;
            }
        }
        if !ignore_dots && text == b"." {
            break;
        }
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    Ok(out)
}

/// The addresses in the To:, Cc: and Bcc: headers, or of a message being
/// resent in its Resent-To:, Resent-Cc: and Resent-Bcc: headers.
fn header_recipients(message: &[u8]) -> Vec<String> {
    use addr::header_rewrite::{
        is_one_of, PLAIN_RECIPIENT_HEADERS, RESENT_HEADERS, RESENT_RECIPIENT_HEADERS,
    };
    let text = String::from_utf8_lossy(message);
    let mut headers: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        match headers.last_mut() {
            Some(h) if line.starts_with([' ', '\t']) => h.push_str(line),
            _ => headers.push(line.to_string()),
        }
    }
    let fields: Vec<(&str, &str)> = headers.iter().filter_map(|h| h.split_once(':')).collect();
    // A message being resent goes to its Resent- recipients only, as in
    // Postfix's sendmail and cleanup.
    let resent = fields.iter().any(|(n, _)| is_one_of(n, &RESENT_HEADERS));
    let wanted: &[&str] = if resent {
        &RESENT_RECIPIENT_HEADERS
    } else {
        &PLAIN_RECIPIENT_HEADERS
    };
    fields
        .iter()
        .filter(|(n, _)| is_one_of(n, wanted))
        .flat_map(|(_, v)| addr::parse_address_list(v))
        .map(|m| m.to_string())
        .collect()
}

fn main() {
    let argv0 = util::getopt::program_name("sendmail");
    let args: Vec<String> = util::getopt::args();
    let o = parse_args(&argv0, &args);
    let dir = config_dir(o.config.as_deref());
    let cfg = Config::load(&dir, &[]).unwrap_or_else(|e| {
        eprintln!("sendmail: fatal: {e}");
        std::process::exit(EX_CONFIG)
    });
    params::logging::init(&cfg, "sendmail", true, None);
    for w in &o.warnings {
        maillog::warning!("{w}");
    }
    match o.mode {
        'p' => exec(&cfg, "postqueue", &["-p"]),
        'q' => exec(&cfg, "postqueue", &["-f"]),
        'i' => exec(&cfg, "newaliases", &[]),
        's' => {
            let uid = nix::unistd::getuid().as_raw();
            let login = util::privs::lookup_user_by_uid(uid)
                .map(|a| a.name)
                .unwrap_or_else(|| uid.to_string());
            std::process::exit(standalone::serve(&cfg, &dir, &login))
        }
        _ => {}
    }
    let uid = nix::unistd::getuid().as_raw();
    let account = util::privs::lookup_user_by_uid(uid);
    let login = account
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(|| uid.to_string());
    let fullname = o
        .fullname
        .clone()
        .or_else(|| full_name(std::env::var("NAME").ok(), account.as_ref()));
    // postdrop decides; this only says it before the message is read, with
    // EX_TEMPFAIL, as Postfix's sendmail exits on any fatal error.
    if let Err(name) = maps::user_acl::check(&cfg, &p::AUTHORIZED_SUBMIT_USERS, uid) {
        fatal(
            EX_TEMPFAIL,
            &format!("User {name}({uid}) is not allowed to submit mail"),
        );
    }
    let sender = o.sender.clone().unwrap_or_else(|| login.clone());
    let verp = o.verp.as_deref().map(|d| {
        let d = if d.is_empty() {
            cfg.str(&p::DEFAULT_VERP_DELIMITERS)
        } else {
            d
        };
        let filter = cfg.str(&p::VERP_DELIMITER_FILTER);
        if addr::verp::check_delimiters(d, filter).is_err() {
            fatal(
                EX_USAGE,
                &format!("-V requires two characters from {filter}"),
            );
        }
        if sender.is_empty() {
            fatal(EX_USAGE, "-V option requires non-null sender address");
        }
        d.to_string()
    });
    let fix = FixLineEndings::parse(cfg.str(&p::SENDMAIL_FIX_LINE_ENDINGS)).unwrap_or_else(|| {
        fatal(
            EX_TEMPFAIL,
            &format!(
                "invalid {} value: {}",
                p::SENDMAIL_FIX_LINE_ENDINGS.name,
                cfg.str(&p::SENDMAIL_FIX_LINE_ENDINGS)
            ),
        )
    });
    // -bv collects no message: Postfix's probe stands in (a Subject and
    // the recipients), and the user is told where the report goes.
    let message = if o.mode == 'v' {
        println!("Mail Delivery Status Report will be mailed to <{sender}>.");
        let to: Vec<_> = o.recipients.iter().map(|r| addr::external(r)).collect();
        format!("Subject: probe\nTo:\t{}\n", to.join(",\n\t")).into_bytes()
    } else {
        read_message(&mut std::io::stdin().lock(), fix, o.ignore_dots)
            .unwrap_or_else(|e| fatal(EX_IOERR, &format!("read standard input: {e}")))
    };
    if o.recipients.is_empty() {
        if !o.extract {
            fatal(EX_USAGE, &format!("{sender}({uid}): Recipient addresses must be specified on the command line or via the -t option"));
        }
        if header_recipients(&message).is_empty() {
            fatal(
                EX_USAGE,
                &format!("{sender}({uid}): No recipient addresses found in message header"),
            );
        }
    }
    let mut attributes = Vec::new();
    if let Some(f) = fullname {
        attributes.push(("fullname".to_string(), f));
    }
    if o.extract {
        attributes.push(("extract_recipients".to_string(), "yes".to_string()));
    }
    if o.mode == 'v' {
        attributes.push((ipc::cleanup::USER_VERIFY.to_string(), "yes".to_string()));
    }
    if let Some(d) = verp {
        attributes.push((ipc::cleanup::VERP_DELIMITERS.to_string(), d));
    }
    let (arrival, arrival_usec) = util::time::now_sec_usec();
    let env = Envelope {
        sender,
        arrival,
        arrival_usec,
        body: o.body,
        ret: o.ret,
        envid: o.envid.clone(),
        attributes,
        recipients: o
            .recipients
            .iter()
            .map(|r| Recipient {
                address: r.clone(),
                orcpt: None,
                notify: o.notify,
            })
            .collect(),
        ..Envelope::default()
    };
    match post(&cfg, &dir, env, &message) {
        Ok(()) => std::process::exit(EX_OK),
        Err((code, text)) => fatal(code, &text),
    }
}

/// The message as postdrop must be handed it so that every CR that
/// `sendmail_fix_line_endings` left at a line's end reaches the queue
/// file: postdrop's queue writer takes one CR before a LF as part of the
/// line end (CRLF or LF), so such a line gets one more.
fn protect_crs(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !message.windows(2).any(|w| w == b"\r\n") {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\r\n") {
            Some(text) => {
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\r\n");
            }
            None => out.extend_from_slice(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Hands one message to postdrop; Err carries the exit status and text.
pub(crate) fn post(
    cfg: &Config,
    dir: &Path,
    env: Envelope,
    message: &[u8],
) -> Result<(), (i32, String)> {
    let postdrop = cfg.path(&p::COMMAND_DIRECTORY).join("postdrop");
    let mut child = Command::new(&postdrop)
        .arg("-r")
        .env("MAIL_CONFIG", dir)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            (
                EX_UNAVAILABLE,
                format!("cannot run {}: {e}", postdrop.display()),
            )
        })?;
    let sent = (|| -> std::io::Result<()> {
        let mut pipe = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no pipe to postdrop"))?;
        let (k, p) = Request::Envelope(env).encode();
        write_frame(&mut pipe, k, &p)?;
        for chunk in protect_crs(message).chunks(64 * 1024) {
            let (k, p) = Request::Content(chunk.to_vec()).encode();
            write_frame(&mut pipe, k, &p)?;
        }
        let (k, p) = Request::End.encode();
        write_frame(&mut pipe, k, &p)?;
        pipe.flush()
    })();
    let status = child
        .wait()
        .map_err(|e| (EX_OSERR, format!("wait for postdrop: {e}")))?;
    match (status.code(), sent) {
        (Some(0), Ok(())) => Ok(()),
        (Some(code), _) if code != 0 => Err((
            code,
            format!("{} failed with status {code}", postdrop.display()),
        )),
        (_, Err(e)) => Err((EX_TEMPFAIL, format!("write to postdrop: {e}"))),
        _ => Err((EX_TEMPFAIL, "postdrop was killed".into())),
    }
}

/// The sender's full name when -F gives none, as Postfix's fullname():
/// `$NAME`, else the GECOS field up to a `,`, `;` or `%`, each `&` the
/// login name capitalized. None when empty.
fn full_name(env: Option<String>, account: Option<&util::privs::Account>) -> Option<String> {
    let name = match (env, account) {
        (Some(n), _) => n,
        (None, Some(a)) => {
            let mut out = String::new();
            for c in a
                .gecos
                .chars()
                .take_while(|c| !matches!(c, ',' | ';' | '%'))
            {
                if c == '&' {
                    let mut login = a.name.chars();
                    out.extend(login.next().map(|f| f.to_ascii_uppercase()));
                    out.extend(login);
                } else {
                    out.push(c);
                }
            }
            out
        }
        (None, None) => return None,
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], fix: &str, ignore_dots: bool) -> Vec<u8> {
        let fix = FixLineEndings::parse(fix).expect("a mode");
        read_message(&mut &input[..], fix, ignore_dots).expect("read")
    }

    #[test]
    fn the_full_name_comes_from_name_or_gecos() {
        let account = |gecos: &str| util::privs::Account {
            name: "joe".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/joe".into(),
            gecos: gecos.into(),
        };
        let a = account("& Bloggs,Room 1,555");
        assert_eq!(full_name(None, Some(&a)).as_deref(), Some("Joe Bloggs"));
        assert_eq!(
            full_name(Some("From Env".into()), Some(&a)).as_deref(),
            Some("From Env")
        );
        assert_eq!(full_name(None, Some(&account(",,,"))), None);
        assert_eq!(full_name(None, None), None);
    }

    /// As Postfix's sendmail: each argument an address list, each address
    /// in internal form.
    #[test]
    fn command_line_recipients_are_address_lists() {
        let args: Vec<String> = ["-i", "\"x y\"@remote.example", "Joe <joe@x>, b@y", "root"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let o = parse_args("sendmail", &args);
        assert_eq!(o.recipients, ["x y@remote.example", "joe@x", "b@y", "root"]);
        // -f: the first address, internal; `<>` the null sender.
        for (f, sender) in [
            ("Joe <joe@x>", "joe@x"),
            ("\"j d\"@x", "j d@x"),
            ("<>", ""),
            ("", ""),
        ] {
            let args = vec!["-f".to_string(), f.to_string(), "r@x".to_string()];
            assert_eq!(
                parse_args("sendmail", &args).sender.as_deref(),
                Some(sender)
            );
        }
    }

    #[test]
    fn a_resent_message_goes_to_its_resent_recipients() {
        let plain = b"To: a@x,\n b@x\nCc: c@x\nSubject: s\n\nTo: not@body\n";
        assert_eq!(header_recipients(plain), ["a@x", "b@x", "c@x"]);
        let resent = b"To: a@x\nresent-to: r@x\nResent-Bcc: q@x\n\n";
        assert_eq!(header_recipients(resent), ["r@x", "q@x"]);
        // Resent, with no Resent- recipients: none (sendmail -t refuses it).
        let none = b"To: a@x\nResent-From: f@x\n\n";
        assert!(header_recipients(none).is_empty());
    }

    #[test]
    fn line_endings_are_fixed_as_postfix_does() {
        let crlf_first = b"Subject: x\r\nX: y\n\nline\r\r\nmid\rdle\r\n.\r\nafter\n";
        let lf_first = b"Subject: x\nX: y\r\n\nline\r\r\n.\r\nafter\n";
        // always: every CR before a LF goes, so ".\r" ends the input.
        assert_eq!(
            read(crlf_first, "always", false),
            b"Subject: x\nX: y\n\nline\nmid\rdle\n"
        );
        assert_eq!(
            read(lf_first, "Always", false),
            b"Subject: x\nX: y\n\nline\n"
        );
        // strict: as always when the first line ends in CRLF, else never.
        assert_eq!(
            read(crlf_first, "strict", false),
            b"Subject: x\nX: y\n\nline\nmid\rdle\n"
        );
        assert_eq!(
            read(lf_first, "strict", false),
            b"Subject: x\nX: y\r\n\nline\r\r\n.\r\nafter\n"
        );
        // never: the CRs stay, and ".\r" is no end.
        assert_eq!(
            read(crlf_first, "never", false),
            b"Subject: x\r\nX: y\n\nline\r\r\nmid\rdle\r\n.\r\nafter\n"
        );
        // -i: no dot ends it; a last line without LF is a line.
        assert_eq!(read(b"a\r\n.\r\nb\r", "always", true), b"a\n.\nb\n");
        assert_eq!(FixLineEndings::parse("sometimes"), None);
    }

    #[test]
    fn crs_left_at_a_line_end_get_one_more_for_postdrop() {
        assert_eq!(&*protect_crs(b"a\nb\rc\n"), b"a\nb\rc\n");
        assert_eq!(
            &*protect_crs(b"a\r\nb\r\r\n\r\nc\r"),
            b"a\r\r\nb\r\r\r\n\r\r\nc\r"
        );
    }

    /// The From_ line is the first line strict looks at, then dropped.
    #[test]
    fn a_from_line_decides_strict_and_goes() {
        assert_eq!(
            read(
                b"From me  Mon Jan 1\r\nSubject: x\r\n\nb\r\n",
                "strict",
                false
            ),
            b"Subject: x\n\nb\n"
        );
        assert_eq!(
            read(
                b"From me  Mon Jan 1\nSubject: x\r\n\nb\r\n",
                "strict",
                false
            ),
            b"Subject: x\r\n\nb\r\n"
        );
    }
}
