//! One delivery request: the message, with the headers the flags ask for,
//! on the standard input of the service's command, its arguments expanded
//! for the request's recipients; the command's exit status is the result
//! for all of them (sysexits.h, as Postfix's pipe(8) reads it).

use crate::attrs::{Attrs, Flags};
use ipc::delivery::{Rcpt, Request, Response, Success};
use mailbox::agent::{self, failed, sent, Verdict};
use params::table as p;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use util::command::Ended;

/// Settings read once per process.
#[derive(Debug)]
pub struct Settings {
    /// The master.cf service name: the `relay=` of the log and the
    /// `<service>_time_limit` parameter.
    pub service: String,
    pub attrs: Attrs,
    /// uid and gid for the command (None when not running as root: then
    /// everything runs as this user).
    pub ids: Option<(u32, u32)>,
    pub time_limit: Duration,
    pub delimiter: String,
    pub queue_dir: PathBuf,
    /// export_environment, with the values this process has.
    pub env: Vec<(String, String)>,
    /// `pipe_delivery_status_filter`.
    pub status_filter: Option<maps::status_filter::StatusFilter>,
}

impl Settings {
    /// The settings for `service` from main.cf and master.cf's attributes
    /// (`args`); an error stops the service.
    pub fn new(ctx: &server::Context) -> Result<Settings, String> {
        let cfg = &ctx.config;
        let attrs = Attrs::parse(&ctx.options.args)?;
        let ids = ctx.command_ids(&attrs.user)?;
        let time_limit = ctx.command_time_limit()?;
        let env = ctx.command_environment();
        Ok(Settings {
            service: ctx.options.service.clone(),
            attrs,
            ids,
            time_limit,
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            queue_dir: ctx.queue_dir(),
            env,
            status_filter: maps::status_filter::StatusFilter::open(
                p::PIPE_DELIVERY_STATUS_FILTER.name,
                cfg.str(&p::PIPE_DELIVERY_STATUS_FILTER),
                &maps::Ctx::new(),
            ),
        })
    }
}

/// The per-recipient macros.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RcptMacros {
    recipient: String,
    original_recipient: String,
    mailbox: String,
    user: String,
    extension: String,
    domain: String,
}

const RECIPIENT_MACROS: [&str; 6] = [
    "recipient",
    "original_recipient",
    "mailbox",
    "user",
    "extension",
    "domain",
];

impl RcptMacros {
    fn new(r: &Rcpt, flags: Flags, delimiter: &str) -> RcptMacros {
        let (local, domain) = r
            .address
            .rsplit_once('@')
            .map_or((r.address.as_str(), ""), |(l, d)| (l, d));
        let (user, ext) = addr::split_delimiter(local, delimiter);
        let fold_user = |s: &str| {
            if flags.fold_user {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let domain = if flags.fold_host {
            domain.to_lowercase()
        } else {
            domain.to_string()
        };
        let mut rcpt_local = fold_user(local);
        if flags.quote {
            rcpt_local = addr::quote_local(&rcpt_local).into_owned();
        }
        let recipient = if domain.is_empty() {
            rcpt_local
        } else {
            format!("{rcpt_local}@{domain}")
        };
        RcptMacros {
            recipient,
            original_recipient: r.original.clone().unwrap_or_else(|| r.address.clone()),
            mailbox: fold_user(local),
            user: fold_user(user),
            extension: ext.map(fold_user).unwrap_or_default(),
            domain,
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "recipient" => &self.recipient,
            "original_recipient" => &self.original_recipient,
            "mailbox" => &self.mailbox,
            "user" => &self.user,
            "extension" => &self.extension,
            "domain" => &self.domain,
            _ => return None,
        })
    }
}

/// `arg` with its macros (`$name`, `${name}`, `$(name)`, `${name?text}`
/// …, params' expander) replaced by `value(name)`, unknown ones by
/// nothing; and whether a recipient macro was among them. An argument the
/// expander cannot read stays as written.
fn expand(arg: &str, value: &dyn Fn(&str) -> Option<String>) -> (String, bool) {
    let per_recipient = std::cell::Cell::new(false);
    let lookup = |name: &str| {
        if RECIPIENT_MACROS.contains(&name) {
            per_recipient.set(true);
        }
        value(name).map(|v| (v, false))
    };
    let text = params::expand::expand_text(arg, &lookup).unwrap_or_else(|_| arg.to_string());
    (text, per_recipient.get())
}

/// The command line for the recipients: an argument that names a
/// recipient macro is repeated for each recipient.
fn command_line(
    argv: &[String],
    common: &dyn Fn(&str) -> Option<String>,
    rcpts: &[RcptMacros],
) -> Vec<String> {
    let mut out = Vec::new();
    for arg in argv {
        let (once, per_recipient) = expand(arg, common);
        if !per_recipient {
            out.push(once);
            continue;
        }
        for r in rcpts {
            let value = |name: &str| r.get(name).map(str::to_string).or_else(|| common(name));
            out.push(expand(arg, &value).0);
        }
    }
    out
}

/// The message as the command gets it: the flags' lines first, then the
/// content with `eol` line ends, dot-stuffed and From-quoted as asked.
fn input(flags: Flags, eol: &[u8], prefix: &[String], content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 256);
    for line in prefix {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(eol);
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    if !content.is_empty() {
        for line in body.split(|&b| b == b'\n') {
            if flags.dot_stuff && line.starts_with(b".") {
                out.push(b'.');
            }
            if flags.from_quote && line.starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(eol);
        }
    }
    if flags.blank_line {
        out.extend_from_slice(eol);
    }
    out
}

/// Postfix's sys_exits table: the status and text of each sysexits.h
/// code a command may end with.
fn sys_exit(code: i32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        64 => ("5.3.0", "command line usage error"),
        65 => ("5.6.0", "data format error"),
        66 => ("5.3.0", "cannot open input"),
        67 => ("5.1.1", "user unknown"),
        68 => ("5.1.2", "host name unknown"),
        69 => ("5.3.0", "service unavailable"),
        70 => ("5.3.0", "internal software error"),
        71 => ("4.3.0", "system resource problem"),
        72 => ("5.3.0", "critical OS file missing"),
        73 => ("5.2.0", "can't create user output file"),
        74 => ("5.3.0", "input/output error"),
        75 => ("4.3.0", "temporary failure"),
        76 => ("5.5.0", "remote error in protocol"),
        77 => ("5.7.0", "permission denied"),
        78 => ("5.3.5", "local configuration error"),
        _ => return None,
    })
}

/// The verdict for how the command ended.
fn verdict(s: &Settings, program: &str, o: util::command::Outcome) -> Verdict {
    let with_output = |text: String| {
        if o.output.is_empty() {
            text
        } else {
            format!("{text}. Command output: {}", o.output)
        }
    };
    match o.ended {
        Ended::Exited(0) if o.output.is_empty() => {
            sent(format!("delivered via {} service", s.service))
        }
        Ended::Exited(0) => sent(format!(
            "delivered via {} service ({})",
            s.service, o.output
        )),
        // A command that says why, as `4.2.2 mailbox full`, is taken at
        // its word (Postfix 2.3 and later); else its status tells.
        Ended::Exited(code) => match (leading_dsn(&o.output), sys_exit(code)) {
            (Some((dsn, text)), _) => failed(dsn, text),
            (None, Some((dsn, text))) => failed(dsn, with_output(text.to_string())),
            (None, None) => failed(
                "5.3.0",
                with_output(format!("Command died with status {code}: \"{program}\"")),
            ),
        },
        Ended::Signaled(sig) => failed(
            "4.3.0",
            with_output(format!("Command died with signal {sig}: \"{program}\"")),
        ),
        // As Postfix's pipe: a command that hangs would hang again.
        Ended::TimedOut => failed(
            "5.3.0",
            format!("Command time limit exceeded: \"{program}\""),
        ),
        Ended::NotRun(e) => failed("4.3.0", format!("cannot run \"{program}\": {e}")),
    }
}

/// A status at the start of a command's output (`4.2.2 text`, `5.1.1`):
/// the status and the text after it.
fn leading_dsn(output: &str) -> Option<(&str, &str)> {
    let (word, rest) = output.split_once(' ').unwrap_or((output, ""));
    let mut parts = word.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let number = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    let ok = parts.next().is_none()
        && (class == "4" || class == "5")
        && number(subject, 3)
        && number(detail, 3);
    ok.then_some((word, rest.trim()))
}

/// What every recipient of the request gets, before the command runs:
/// None to go on.
fn refusal(s: &Settings, req: &Request, content: &[u8]) -> Option<Verdict> {
    let size = content.len() as u64;
    let flags = s.attrs.flags;
    if (flags.delivered_to || flags.original_to) && req.recipients.len() > 1 {
        maillog::warning!(
            "{}: flag \"{}\" requires {}_destination_recipient_limit = 1",
            req.queue_id,
            if flags.delivered_to { 'D' } else { 'O' },
            s.service
        );
        return Some(failed("4.3.5", "mail system configuration error"));
    }
    if s.attrs.size_limit > 0 && size > s.attrs.size_limit {
        return Some(failed("5.2.3", "message too large"));
    }
    if flags.delivered_to {
        // The message read already: its headers, not the queue file again.
        let seen = agent::delivered_to_in(content.split(|&b| b == b'\n'));
        if let Some(r) = req.recipients.iter().find(|r| {
            let written = addr::external(&r.address.to_lowercase()).into_owned();
            seen.contains(&written)
        }) {
            return Some(failed(
                "5.4.6",
                format!("mail forwarding loop for {}", r.address),
            ));
        }
    }
    None
}

/// Handles one request from qmgr.
pub fn handle(s: &Settings, req: &Request) -> Response {
    let relay = s.service.as_str();
    let setup_done = agent::now();
    let path = s.queue_dir.join(&req.queue_name).join(&req.queue_id);
    let qf = match queue::Held::open(&path) {
        Ok(q) => q,
        Err(e) => return agent::unreadable(req, relay, setup_done, &e),
    };
    let flags = s.attrs.flags;
    let macros: Vec<RcptMacros> = req
        .recipients
        .iter()
        .map(|r| RcptMacros::new(r, flags, &s.delimiter))
        .collect();
    let read = qf.read().and_then(|mut q| {
        let content = q.content_bytes(b"\n")?;
        Ok((q.envelope.attrs, content))
    });
    let v = match read {
        Err(e) => failed("4.3.0", format!("cannot read queue file: {e}")),
        Ok((attrs, content)) => match refusal(s, req, &content) {
            Some(v) => v,
            // An address verification probe only asks: nothing runs.
            None if req.probe => sent(format!(
                "delivers to command: {}",
                s.attrs.argv.first().map(String::as_str).unwrap_or("")
            )),
            None => run(s, req, &attrs, &macros, &content),
        },
    };
    let v = match &s.status_filter {
        Some(f) => agent::filtered(v, |d, t| f.replace(d, t)),
        None => v,
    };
    let results = req
        .recipients
        .iter()
        .map(|r| {
            let mut res = agent::finish(req, r, &qf, relay, setup_done, v.clone());
            if !flags.final_delivery {
                res.success = Success::Relayed;
            }
            res
        })
        .collect();
    Response::new(results)
}

/// Runs the command for the request's recipients.
fn run(
    s: &Settings,
    req: &Request,
    attrs: &queue::Attributes,
    macros: &[RcptMacros],
    content: &[u8],
) -> Verdict {
    let flags = s.attrs.flags;
    let sender = if req.sender.is_empty() {
        s.attrs.null_sender.clone()
    } else if flags.quote {
        addr::external(&req.sender).into_owned()
    } else {
        req.sender.clone()
    };
    let nexthop = if flags.fold_host {
        req.nexthop.to_lowercase()
    } else {
        req.nexthop.clone()
    };
    let size = content.len().to_string();
    let other = |name: &str| attrs.other_value(name).map(str::to_string);
    let common = |name: &str| -> Option<String> {
        match name {
            "sender" => Some(sender.clone()),
            "nexthop" => Some(nexthop.clone()),
            "size" => Some(size.clone()),
            "queue_id" => Some(req.queue_id.clone()),
            "client_address" => attrs.client_address.clone(),
            "client_hostname" => attrs.client_name.clone(),
            "client_helo" => attrs.helo_name.clone(),
            "client_protocol" => attrs.protocol_name.clone(),
            "client_port" => other("client_port"),
            "sasl_method" => attrs.sasl_method.clone(),
            "sasl_username" => attrs.sasl_username.clone(),
            "sasl_sender" => other("sasl_sender"),
            _ => None,
        }
    };
    let argv = command_line(&s.attrs.argv, &common, macros);
    let Some((program, args)) = argv.split_first() else {
        return failed("4.3.5", "mail system configuration error");
    };
    let mut prefix = Vec::new();
    if flags.from_line {
        prefix.push(
            mailbox::mbox::from_line(&req.sender, SystemTime::now())
                .trim_end()
                .to_string(),
        );
    }
    // The headers as local(8) writes them (mailbox::source), Delivered-To
    // in lower case, as Postfix's mail_copy writes it.
    if flags.return_path {
        prefix.push(mailbox::source::return_path(&req.sender));
    }
    if let (true, Some(r)) = (flags.delivered_to, req.recipients.first()) {
        prefix.push(mailbox::source::delivered_to(&r.address.to_lowercase()));
    }
    if let (true, Some(m)) = (flags.original_to, macros.first()) {
        prefix.extend(mailbox::source::x_original_to(&m.original_recipient));
    }
    let outcome = util::command::run(util::command::Run {
        program: program.clone(),
        args: args.to_vec(),
        env: s.env.clone(),
        dir: PathBuf::from(&s.attrs.directory),
        ids: s.ids,
        io: util::command::Io::Message {
            input: input(flags, &s.attrs.eol, &prefix, content),
            keep_stdout: true,
        },
        time_limit: s.time_limit,
    });
    verdict(s, program, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(address: &str, original: Option<&str>) -> Rcpt {
        Rcpt {
            address: address.into(),
            original: original.map(String::from),
            orcpt: None,
            notify: 0,
            offset: 0,
        }
    }

    #[test]
    fn macros_repeat_per_recipient_and_follow_the_flags() {
        let flags = Flags {
            fold_user: true,
            fold_host: true,
            ..Flags::default()
        };
        let rcpts = [
            RcptMacros::new(
                &rcpt("Joe+Lists@Example.ORG", Some("alias@example.org")),
                flags,
                "+",
            ),
            RcptMacros::new(&rcpt("ann@example.net", None), flags, "+"),
        ];
        assert_eq!(rcpts[0].recipient, "joe+lists@example.org");
        assert_eq!(
            (rcpts[0].user.as_str(), rcpts[0].extension.as_str()),
            ("joe", "lists")
        );
        let common = |n: &str| match n {
            "sender" => Some("s@example.com".to_string()),
            "nexthop" => Some("example.org".to_string()),
            _ => None,
        };
        let argv: Vec<String> = [
            "/usr/bin/deliver",
            "-f",
            "${sender}",
            "-d",
            "${user}@$domain",
            "-o",
            "$(original_recipient)",
            "$unknown-x",
            "cost=$$5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            command_line(&argv, &common, &rcpts),
            [
                "/usr/bin/deliver",
                "-f",
                "s@example.com",
                "-d",
                "joe@example.org",
                "ann@example.net",
                "-o",
                "alias@example.org",
                "ann@example.net",
                "-x",
                "cost=$5"
            ]
        );
        let quoted = Flags {
            quote: true,
            ..Flags::default()
        };
        assert_eq!(
            RcptMacros::new(&rcpt("john doe@example.org", None), quoted, "").recipient,
            "\"john doe\"@example.org"
        );
    }

    #[test]
    fn input_lines_follow_the_flags() {
        let content = b"Subject: x\n\n.dot\nFrom here\nlast\n";
        let flags = Flags {
            dot_stuff: true,
            from_quote: true,
            blank_line: true,
            ..Flags::default()
        };
        let out = input(
            flags,
            b"\r\n",
            &["Return-Path: <s@example.com>".into()],
            content,
        );
        assert_eq!(
            out,
            b"Return-Path: <s@example.com>\r\nSubject: x\r\n\r\n..dot\r\n>From here\r\nlast\r\n\r\n"
        );
        assert_eq!(input(Flags::default(), b"\n", &[], content), content);
    }

    #[test]
    fn exit_statuses_map_as_in_postfix() {
        let s = Settings {
            service: "dovecot".into(),
            attrs: crate::attrs::Attrs::parse(&["user=x".into(), "argv=/bin/true".into()])
                .expect("attrs"),
            ids: None,
            time_limit: Duration::from_secs(1),
            delimiter: String::new(),
            queue_dir: PathBuf::new(),
            env: Vec::new(),
            status_filter: None,
        };
        let o = |ended, output: &str| util::command::Outcome {
            ended,
            output: output.into(),
        };
        let v = verdict(&s, "/bin/deliver", o(Ended::Exited(0), ""));
        assert_eq!(v.text, "delivered via dovecot service");
        let v = verdict(
            &s,
            "/bin/deliver",
            o(Ended::Exited(67), "no such user: joe"),
        );
        assert_eq!(
            (v.dsn.as_str(), v.text.as_str()),
            ("5.1.1", "user unknown. Command output: no such user: joe")
        );
        let v = verdict(&s, "/bin/deliver", o(Ended::Exited(75), ""));
        assert_eq!(
            (v.dsn.as_str(), v.text.as_str()),
            ("4.3.0", "temporary failure")
        );
        let v = verdict(&s, "/bin/deliver", o(Ended::Exited(3), ""));
        assert_eq!(v.text, "Command died with status 3: \"/bin/deliver\"");
        assert_eq!(v.outcome, ipc::delivery::Outcome::Bounced);
        let v = verdict(&s, "/bin/deliver", o(Ended::TimedOut, ""));
        assert_eq!(v.outcome, ipc::delivery::Outcome::Bounced);
        let v = verdict(
            &s,
            "/bin/deliver",
            o(Ended::Exited(1), "4.2.2 mailbox full"),
        );
        assert_eq!((v.dsn.as_str(), v.text.as_str()), ("4.2.2", "mailbox full"));
        assert_eq!(v.outcome, ipc::delivery::Outcome::Deferred);
        let v = verdict(&s, "/bin/deliver", o(Ended::Exited(1), "4.2 not a status"));
        assert_eq!(
            v.text,
            "Command died with status 1: \"/bin/deliver\". Command output: 4.2 not a status"
        );
    }
}
