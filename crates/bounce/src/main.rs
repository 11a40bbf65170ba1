//! NAME
//!   bounce - mailsuite delivery status notifications
//!
//! SYNOPSIS
//!   bounce [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   qmgr asks bounce, on `private/bounce`, to return a message's failed
//!   recipients (those in `bounce/ID`) to its sender. bounce writes an RFC
//!   3464 delivery status notification — a text part, a
//!   message/delivery-status part with Final-Recipient, Original-Recipient
//!   (DSN ORCPT), Action, Status and Diagnostic-Code per recipient and
//!   Original-Envelope-Id (DSN ENVID), and the returned message: whole, or
//!   only its headers (for DSN RET=HDRS, above `bounce_size_limit`, and
//!   in delay warnings, success notices and reports), after a
//!   `Return-Path:` naming the sender as Postfix prepends it — and
//!   hands it to cleanup from `MAILER-DAEMON` with the null sender. It logs
//!   `ID: sender non-delivery notification: NEWID`.
//!
//!   The MIME layout is Postfix's: with `smtputf8_enable` the notice is
//!   8bit and its text part utf-8 (addresses may be UTF-8), else it
//!   follows the message's declared encoding; for SMTPUTF8 mail the parts
//!   are message/global-delivery-status and message/global (or
//!   global-headers), and a UTF-8 address is of type `utf-8`.
//!
//!   Each recipient's line reads `<address>: reason`, or `<final>
//!   (expanded from <original>): reason` for a destination an alias or
//!   .forward expanded; it and the Diagnostic-Code and Remote-MTA fields
//!   wrap at 79 columns with a 4-space indent, as Postfix's line_wrap.
//!
//!   Recipients whose DSN NOTIFY excludes FAILURE (or says NEVER) are not
//!   reported. A message whose sender is null is never bounced: such a
//!   double bounce goes to `2bounce_notice_recipient` when `notify_classes`
//!   contains `2bounce`, and is otherwise only logged.
//!
//!   The postmaster gets copies as `notify_classes` asks, with the
//!   message's headers only, from `double_bounce_sender`: failures
//!   (`bounce`: "Postmaster Copy: Undelivered Mail" to
//!   `bounce_notice_recipient`), delays (`delay`: "Postmaster Warning:
//!   Delayed Mail" to `delay_notice_recipient`) and double bounces
//!   (`2bounce`), logged `ID: postmaster non-delivery notification: NEWID`
//!   (or `postmaster delay notification`).
//!
//!   The same daemon sends success notices (NOTIFY=SUCCESS, from the trace
//!   log; Action delivered, relayed or, for an alias, expanded) and the
//!   report `sendmail -bv` asks for: every recipient of the
//!   trace log with Action "deliverable" or "undeliverable" and why, under
//!   the verify template ("Mail Delivery Status Report"), logged `ID:
//!   sender delivery status notification: NEWID`.
//!
//!   The From:, Subject: (and the postmaster's copy's subject), charset
//!   and text of each notice come from its template: Postfix's built-in
//!   ones, or those `bounce_template_file` names (bounce(5): a
//!   `failure_template`, `delay_template`, `success_template` or
//!   `verify_template = <<EOF` … `EOF`, its text with `$name` expanded
//!   and `$delay_warning_time_hours`, `$maximal_queue_lifetime_days` and
//!   their other units). The postmaster's copies leave the text out. The
//!   file is read at start, before the chroot; a file that cannot be read,
//!   a line that is not `name = value`, or a text with an undefined
//!   `$name` is fatal; an unknown template name is a warning, and a
//!   template with a bad header, no text or 8-bit text under `Charset:
//!   us-ascii` is ignored with a warning (the built-in one stays). Texts
//!   are UTF-8; a template whose Charset is ISO-8859-1 may be Latin-1, and
//!   is then sent as the same text in UTF-8.
//!   `postconf -t` and `postconf -b` show the templates.
//!
//!   A VERP message's failures (sendmail -XV, smtpd's XVERP) go out one
//!   notice per recipient, each to the sender with that recipient in it
//!   (`owner+user=domain@origin`), unless `disable_verp_bounces = yes`.
//!
//! SECURITY
//!   Runs as `mail_owner`. Reads the queue file and the bounce log of the
//!   message qmgr names (validated IDs and queue names only), and the
//!   template file (before dropping privileges; checked as it is read).
//!
//! CONFIGURATION PARAMETERS
//!   myhostname, bounce_size_limit, bounce_template_file,
//!   delay_warning_time, maximal_queue_lifetime, notify_classes,
//!   2bounce_notice_recipient, bounce_notice_recipient,
//!   delay_notice_recipient, double_bounce_sender, hash_queue_names,
//!   hash_queue_depth, disable_verp_bounces,
//!   cleanup_service_name.
//!
//! FILES
//!   $queue_directory/private/bounce, $queue_directory/bounce.

mod dsn;

use bounce::template::{Class, Template, Templates};
use ipc::cleanup::{Client, Envelope, Recipient, Status};
use ipc::delivery::bounce::{Done, Kind, Notice};
use ipc::frame::{read_frame, write_frame};
use params::table as p;
use queue::logs::{self, Log};
use queue::HashSpec;
use server::{Context, Service, SingleService};
use std::time::Duration;

/// The templates of the three kinds of notice, with their texts expanded
/// once: the configuration does not change while the process lives.
#[derive(Default)]
struct Bounce {
    templates: Vec<(Kind, Template, String)>,
}

impl Bounce {
    fn template(&self, kind: Kind) -> Result<(&Template, &str), String> {
        self.templates
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, t, text)| (t, text.as_str()))
            .ok_or_else(|| "no template loaded".to_string())
    }
}

impl Service for Bounce {
    /// Reads `bounce_template_file` before the chroot, as Postfix does. A
    /// file that cannot be read or parsed, or whose text names an
    /// undefined `$name`, stops the daemon; a template with a bad header
    /// is replaced by the built-in one with a warning.
    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        let loaded = Templates::from_config(&ctx.config)?;
        for w in &loaded.warnings {
            maillog::warning!("{w}");
        }
        for (kind, class) in [
            (Kind::Failure, Class::Failure),
            (Kind::Delay, Class::Delay),
            (Kind::Success, Class::Success),
            (Kind::Verify, Class::Verify),
        ] {
            let t = loaded.templates.get(class).clone();
            let (text, warnings) = t.expand(&ctx.config)?;
            for w in &warnings {
                maillog::warning!("{w}");
            }
            self.templates.push((kind, t, text));
        }
        Ok(())
    }
}

/// Who gets one notice, from whom, and how it is logged.
struct Addressee {
    recipient: String,
    /// The envelope sender: null for the sender's notice (it must not
    /// bounce back), `double_bounce_sender` for the postmaster's.
    from: String,
    /// A postmaster copy: its own subject, the message's headers only.
    postmaster: bool,
    /// The recipients it reports: all of them, or (a VERP sender's) one.
    entries: Vec<logs::Entry>,
}

/// Builds and submits the notices; Ok(None) when nothing needed sending.
/// The sender gets one (unless the sender is null); the postmaster gets
/// a copy of failures and delays when `notify_classes` names `bounce` or
/// `delay`, and the failure of a notice itself (a double bounce) under
/// `2bounce`.
fn notify(b: &Bounce, ctx: &Context, n: &Notice) -> Result<Option<String>, String> {
    let cfg = &ctx.config;
    let (template, template_text) = b.template(n.kind)?;
    let queue_dir = ctx.queue_dir();
    let hash = HashSpec::from_config(cfg);
    let path = hash
        .path(&queue_dir, &n.queue_name, &n.queue_id)
        .map_err(|e| e.to_string())?;
    let mut qf = queue::open(&path).map_err(|e| e.to_string())?;
    let log = match n.kind {
        Kind::Failure => Log::Bounce,
        Kind::Delay => Log::Defer,
        Kind::Success | Kind::Verify => Log::Trace,
    };
    let want = match n.kind {
        Kind::Failure => ipc::cleanup::notify::FAILURE,
        Kind::Delay => ipc::cleanup::notify::DELAY,
        Kind::Success => ipc::cleanup::notify::SUCCESS,
        Kind::Verify => 0,
    };
    let entries: Vec<logs::Entry> = logs::read(&queue_dir, &hash, log, &n.queue_id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| match (n.kind, e.notify) {
            // The queue manager writes the trace log for those who asked
            // (NOTIFY=SUCCESS) or, with confirm_delay_cleared, were told
            // of a delay.
            (Kind::Success, bits) => bits & ipc::cleanup::notify::NEVER == 0,
            // The report sendmail -bv asked for names every recipient.
            (Kind::Verify, _) => true,
            // No NOTIFY: failures (and delays) are reported.
            (_, 0) => true,
            (_, bits) => bits & want != 0 && bits & ipc::cleanup::notify::NEVER == 0,
        })
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let classes = cfg.list(&p::NOTIFY_CLASSES);
    let class = |c: &str| classes.iter().any(|x| x == c);
    let postmaster = |param: &params::Param| Addressee {
        recipient: cfg.str(param).to_string(),
        from: cfg.str(&p::DOUBLE_BOUNCE_SENDER).to_string(),
        postmaster: true,
        entries: entries.clone(),
    };
    let sender = qf.envelope.sender.clone();
    let mut to = Vec::new();
    if sender.is_empty() {
        if n.kind == Kind::Failure && class("2bounce") {
            to.push(postmaster(&p::DOUBLE_BOUNCE_NOTICE_RECIPIENT));
        } else {
            maillog::info!(
                "{}: undeliverable bounce discarded (the sender is null)",
                n.queue_id
            );
            return Ok(None);
        }
    } else {
        // The postmaster's copy first: when a VERP notice fails partway,
        // the bounce log keeps only the recipients not yet told, and the
        // copy must not be what is lost.
        match n.kind {
            Kind::Failure if class("bounce") => to.push(postmaster(&p::BOUNCE_NOTICE_RECIPIENT)),
            Kind::Delay if class("delay") => to.push(postmaster(&p::DELAY_NOTICE_RECIPIENT)),
            _ => {}
        }
        match qf.envelope.verp_delimiters.as_deref() {
            // VERP (unless disable_verp_bounces): a notice per recipient,
            // to the sender that names it (Postfix's bounce_notify_verp).
            Some(delims) if n.kind == Kind::Failure && !cfg.bool(&p::DISABLE_VERP_BOUNCES) => {
                for e in &entries {
                    let named = e.original.as_deref().unwrap_or(&e.recipient);
                    to.push(Addressee {
                        recipient: addr::verp::sender(delims, &sender, named),
                        from: String::new(),
                        postmaster: false,
                        entries: vec![e.clone()],
                    });
                }
            }
            _ => to.push(Addressee {
                recipient: sender.clone(),
                from: String::new(),
                postmaster: false,
                entries: entries.clone(),
            }),
        }
    }
    let whole = qf.content_bytes(b"\n").map_err(|e| e.to_string())?;
    let headers = {
        let end = whole
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| i + 1)
            .unwrap_or(whole.len());
        &whole[..end]
    };
    let limit = cfg.size(&p::BOUNCE_SIZE_LIMIT) as usize;
    // Postfix's choice: 8bit whenever addresses may be UTF-8, else what the
    // message declared.
    let encoding = match qf.encoding() {
        _ if cfg.bool(&p::SMTPUTF8_ENABLE) => Some("8bit"),
        Some(e) => Some(e.as_str()),
        None => None,
    };
    let mut first = None;
    for a in &to {
        // As Postfix's bounce: only a failure notice to the sender returns
        // the whole message, unless RET=HDRS asks for less or it is larger
        // than bounce_size_limit (cutting it would break its MIME
        // structure: the headers go instead).
        let headers_only = a.postmaster
            || n.kind != Kind::Failure
            || qf.envelope.dsn_ret == Some(queue::DsnRet::Hdrs)
            || (limit > 0 && whole.len() > limit);
        let original = if headers_only { headers } else { &whole[..] };
        let text = dsn::compose(&dsn::Report {
            kind: n.kind,
            postmaster: a.postmaster,
            template,
            text: template_text,
            queue_id: &n.queue_id,
            myhostname: cfg.str(&p::MYHOSTNAME),
            sender: &sender,
            recipient: &a.recipient,
            arrival: qf.envelope.arrival.sec as i64,
            envid: qf.envelope.dsn_envid.as_deref(),
            entries: &a.entries,
            original,
            headers_only,
            now: util::time::now(),
            retry_until: qf.envelope.arrival.sec as i64
                + cfg.time(&p::MAXIMAL_QUEUE_LIFETIME).as_secs() as i64,
            encoding,
            smtputf8: qf.envelope.smtputf8,
        });
        let id = match submit(cfg, &queue_dir, a, &text) {
            Ok(id) => id,
            Err(e) => {
                // VERP: the recipients whose notices went out are done; the
                // bounce log keeps the rest for the next try.
                if n.kind == Kind::Failure && !a.postmaster && a.entries.len() < entries.len() {
                    let told: Vec<logs::Entry> = to
                        .iter()
                        .take_while(|b| !std::ptr::eq(*b, a))
                        .filter(|b| !b.postmaster)
                        .flat_map(|b| b.entries.iter().cloned())
                        .collect();
                    let removed = logs::remove_entries(&queue_dir, &hash, log, &n.queue_id, &told);
                    if let Err(e) = removed {
                        maillog::warning!("{}: {e}", n.queue_id);
                    }
                }
                return Err(e);
            }
        };
        let who = if a.postmaster { "postmaster" } else { "sender" };
        let what = match n.kind {
            Kind::Failure => "non-delivery notification",
            Kind::Delay => "delay notification",
            Kind::Success | Kind::Verify => "delivery status notification",
        };
        maillog::info!("{}: {who} {what}: {id}", n.queue_id);
        first.get_or_insert(id);
    }
    Ok(first)
}

/// Hands one notice to cleanup; returns its queue ID.
fn submit(
    cfg: &params::Config,
    queue_dir: &std::path::Path,
    a: &Addressee,
    text: &str,
) -> Result<String, String> {
    let socket = ipc::cleanup::socket_path(queue_dir, cfg.str(&p::CLEANUP_SERVICE_NAME));
    let (arrival, arrival_usec) = util::time::now_sec_usec();
    let envelope = Envelope {
        sender: a.from.clone(),
        arrival,
        arrival_usec,
        recipients: vec![Recipient {
            address: a.recipient.clone(),
            orcpt: None,
            notify: ipc::cleanup::notify::NEVER,
        }],
        ..Envelope::default()
    };
    let submitted = Client::submit(&socket, Duration::from_secs(300), envelope, text.as_bytes());
    match submitted.map_err(|e| e.to_string())? {
        (id, Status::Queued | Status::Discarded, _) => Ok(id),
        (_, _, text) => Err(format!("cleanup refused the notice: {text}")),
    }
}

impl SingleService for Bounce {
    fn serve(&mut self, ctx: &Context, mut client: server::Client) {
        let _ = client.set_timeout(Some(Duration::from_secs(300)));
        let notice = match read_frame(&mut client) {
            Ok(Some((k, payload))) => match Notice::decode(k, &payload) {
                Ok(n) => n,
                Err(e) => {
                    maillog::warning!("bad bounce request: {e}");
                    return;
                }
            },
            _ => return,
        };
        let done = match notify(self, ctx, &notice) {
            Ok(id) => Done {
                ok: true,
                queue_id: id.unwrap_or_default(),
            },
            Err(e) => {
                maillog::warning!("{}: cannot send notice: {e}", notice.queue_id);
                Done {
                    ok: false,
                    queue_id: String::new(),
                }
            }
        };
        let (k, payload) = done.encode();
        let _ = write_frame(&mut client, k, &payload);
    }
}

fn main() {
    server::single_server("bounce", Bounce::default())
}
