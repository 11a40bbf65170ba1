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
//!   only its headers for DSN RET=HDRS, cut at `bounce_size_limit` — and
//!   hands it to cleanup from `MAILER-DAEMON` with the null sender. It logs
//!   `ID: sender non-delivery notification: NEWID`.
//!
//!   Recipients whose DSN NOTIFY excludes FAILURE (or says NEVER) are not
//!   reported. A message whose sender is null is never bounced: such a
//!   double bounce goes to `2bounce_notice_recipient` when `notify_classes`
//!   contains `2bounce`, and is otherwise only logged.
//!
//! SECURITY
//!   Runs as `mail_owner`. Reads the queue file and the bounce log of the
//!   message qmgr names (validated IDs and queue names only).
//!
//! CONFIGURATION PARAMETERS
//!   myhostname, mail_name, bounce_size_limit, notify_classes,
//!   2bounce_notice_recipient, hash_queue_names, hash_queue_depth,
//!   cleanup_service_name.
//!
//! FILES
//!   $queue_directory/private/bounce, $queue_directory/bounce.

mod dsn;

use ipc::cleanup::{flags, Client, Envelope, Recipient, Source, Status};
use ipc::delivery::bounce::{Done, Kind, Notice};
use ipc::frame::{read_frame, write_frame};
use params::table as p;
use queue::logs::{self, Log};
use queue::HashSpec;
use server::{Context, Service, SingleService};
use std::time::Duration;

struct Bounce;

impl Service for Bounce {}

/// Builds and submits the notice; Ok(None) when nothing needed sending.
fn notify(ctx: &Context, n: &Notice) -> Result<Option<String>, String> {
    let cfg = &ctx.config;
    let queue_dir = ctx.queue_dir();
    let hash = HashSpec::from_config(cfg);
    let path = hash
        .path(&queue_dir, &n.queue_name, &n.queue_id)
        .map_err(|e| e.to_string())?;
    let mut qf = queue::open(&path).map_err(|e| e.to_string())?;
    let log = match n.kind {
        Kind::Failure => Log::Bounce,
        Kind::Delay => Log::Defer,
        Kind::Success => Log::Trace,
    };
    let want = match n.kind {
        Kind::Failure => ipc::cleanup::notify::FAILURE,
        Kind::Delay => ipc::cleanup::notify::DELAY,
        Kind::Success => ipc::cleanup::notify::SUCCESS,
    };
    let entries: Vec<logs::Entry> = logs::read(&queue_dir, &hash, log, &n.queue_id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| match (n.kind, e.notify) {
            // No NOTIFY: failures (and delays) are reported, successes are not.
            (Kind::Success, 0) => false,
            (_, 0) => true,
            (_, bits) => bits & want != 0 && bits & ipc::cleanup::notify::NEVER == 0,
        })
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let sender = qf.envelope.sender.clone();
    let mut recipient = sender.clone();
    if sender.is_empty() {
        if !cfg.list(&p::NOTIFY_CLASSES).iter().any(|c| c == "2bounce") {
            maillog::info!(
                "{}: undeliverable bounce discarded (the sender is null)",
                n.queue_id
            );
            return Ok(None);
        }
        recipient = cfg.str(&p::DOUBLE_BOUNCE_NOTICE_RECIPIENT).to_string();
    }
    let limit = cfg.size(&p::BOUNCE_SIZE_LIMIT) as usize;
    let headers_only = qf.envelope.dsn_ret == Some(queue::DsnRet::Hdrs);
    let mut original = qf.content_bytes(b"\n").map_err(|e| e.to_string())?;
    if headers_only {
        let end = original
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| i + 1)
            .unwrap_or(original.len());
        original.truncate(end);
    } else if limit > 0 && original.len() > limit {
        original.truncate(limit);
    }
    let text = dsn::compose(&dsn::Report {
        kind: n.kind,
        queue_id: &n.queue_id,
        myhostname: cfg.str(&p::MYHOSTNAME),
        mail_name: cfg.str(&p::MAIL_NAME),
        sender: &sender,
        recipient: &recipient,
        arrival: qf.envelope.arrival.sec as i64,
        envid: qf.envelope.dsn_envid.as_deref(),
        entries: &entries,
        original: &original,
        headers_only,
        now: util::time::now(),
    });
    let socket = ipc::cleanup::socket_path(&queue_dir, cfg.str(&p::CLEANUP_SERVICE_NAME));
    let mut c = Client::connect(&socket, Duration::from_secs(300)).map_err(|e| e.to_string())?;
    let id = c
        .open(Source::Internal, flags::NO_CHECKS)
        .map_err(|e| e.to_string())?;
    c.envelope(Envelope {
        sender: String::new(),
        arrival: util::time::now().max(0) as u64,
        attributes: vec![("uid".into(), "0".into())],
        recipients: vec![Recipient {
            address: recipient,
            orcpt: None,
            notify: ipc::cleanup::notify::NEVER,
        }],
        ..Envelope::default()
    })
    .map_err(|e| e.to_string())?;
    c.content(text.as_bytes()).map_err(|e| e.to_string())?;
    match c.end().map_err(|e| e.to_string())? {
        (Status::Queued, _) | (Status::Discarded, _) => {
            let what = match n.kind {
                Kind::Failure => "sender non-delivery notification",
                Kind::Delay => "sender delay notification",
                Kind::Success => "sender delivery status notification",
            };
            maillog::info!("{}: {what}: {id}", n.queue_id);
            Ok(Some(id))
        }
        (_, text) => Err(format!("cleanup refused the notice: {text}")),
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
        let done = match notify(ctx, &notice) {
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
    server::single_server("bounce", Bounce)
}
