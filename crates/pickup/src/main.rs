//! NAME
//!   pickup - mailsuite local mail pickup
//!
//! SYNOPSIS
//!   pickup [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   pickup waits for a trigger from postdrop (and the master's wakeup,
//!   every 60 seconds in the shipped master.cf), then takes every complete
//!   file in `maildrop/`, oldest first, and hands it to cleanup like any
//!   other new message, with the submitting user's uid, full name and the
//!   sendmail -t flag. When cleanup has the message on disk, pickup removes
//!   the maildrop file and logs `ID: uid=N from=<sender>`.
//!
//!   A file that does not validate as a queue file is moved to `corrupt/`
//!   with a warning. A message cleanup refuses (header_checks REJECT, too
//!   big) is moved to `hold/` with a warning, so that nothing posted is
//!   lost before bounces exist. When cleanup cannot take mail now, the file
//!   stays for the next run.
//!
//! SECURITY
//!   Runs as `mail_owner`. Maildrop files come from local users through
//!   postdrop and are untrusted: each is fully validated by the queue
//!   reader before anything is taken from it.
//!
//! CONFIGURATION PARAMETERS
//!   queue_directory, cleanup_service_name, ipc_timeout, content_filter (passed
//!   on in the queue file: qmgr sends the message to that transport first),
//!   receive_override_options (no_address_mappings, no_header_body_checks,
//!   no_milters: what cleanup leaves out for this pickup's mail; an unknown
//!   value stops the service).
//!
//! FILES
//!   $queue_directory/maildrop, $queue_directory/public/pickup,
//!   $queue_directory/public/cleanup.

use ipc::cleanup::{flags, Body, Client, Envelope, Recipient, Ret, Source, Status};
use params::table as p;
use server::{Context, Service, TriggerService};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How this pickup hands messages to cleanup.
#[derive(Default)]
struct Handoff {
    cleanup: PathBuf,
    timeout: Duration,
    /// content_filter, passed on in the queue file.
    filter: String,
    /// What receive_override_options turns off in cleanup.
    flags: u32,
}

#[derive(Default)]
struct Pickup {
    handoff: Handoff,
}

impl Service for Pickup {
    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        let overrides =
            ipc::cleanup::ReceiveOverrides::parse(&ctx.config.list(&p::RECEIVE_OVERRIDE_OPTIONS))?;
        self.handoff = Handoff {
            cleanup: ipc::cleanup::socket_path(
                &ctx.queue_dir(),
                ctx.config.str(&p::CLEANUP_SERVICE_NAME),
            ),
            timeout: ctx
                .config
                .time(&p::IPC_TIMEOUT)
                .min(Duration::from_secs(300)),
            filter: ctx.config.str(&p::CONTENT_FILTER).trim().to_string(),
            flags: overrides.cleanup_flags,
        };
        Ok(())
    }
}

/// What became of one maildrop file.
enum Fate {
    Taken,
    /// Cleanup cannot take mail now: stop this run, try later.
    Later,
}

impl TriggerService for Pickup {
    fn wakeup(&mut self, ctx: &Context, _data: &[u8]) {
        let queue_dir = ctx.queue_dir();
        let maildrop = queue_dir.join("maildrop");
        let mut names: Vec<String> = match std::fs::read_dir(&maildrop) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| queue::is_valid_queue_id(n))
                .collect(),
            Err(e) => {
                maillog::warning!("read {}: {}", maildrop.display(), util::strerror(&e));
                return;
            }
        };
        // Long queue IDs sort by time.
        names.sort();
        for name in names {
            let path = maildrop.join(&name);
            match take(&queue_dir, &path, &self.handoff) {
                Ok(Fate::Taken) => {}
                Ok(Fate::Later) => return,
                // A file cleanup cannot take is set aside, so it cannot
                // block everything posted after it.
                Err(e) => {
                    let reason = format!("cannot hand the message to cleanup: {e}");
                    if let Err(q) = queue::quarantine(&queue_dir, &path, &reason) {
                        maillog::warning!("{name}: {reason}; {q}");
                        return;
                    }
                }
            }
        }
    }
}

fn take(queue_dir: &Path, path: &PathBuf, to: &Handoff) -> Result<Fate, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // Someone else (another pickup) took it.
        Err(_) => return Ok(Fate::Taken),
    };
    if !meta.file_type().is_file() {
        let _ = queue::quarantine(queue_dir, path, "not a regular file");
        return Ok(Fate::Taken);
    }
    let mut qf = match queue::open(path) {
        Ok(q) => q,
        Err(e) if e.is_corrupt() => {
            queue::quarantine(queue_dir, path, &e.to_string()).map_err(|e| e.to_string())?;
            return Ok(Fate::Taken);
        }
        Err(e) => return Err(e.to_string()),
    };
    let qenv = qf.envelope.clone();
    let uid = qenv.attrs.other_value("uid").unwrap_or("0").to_string();
    let extract = qenv.attrs.other_value("extract_recipients") == Some("yes");
    let mut attributes = vec![("uid".to_string(), uid.clone())];
    if let Some(v) = &qenv.verp_delimiters {
        attributes.push((ipc::cleanup::VERP_DELIMITERS.to_string(), v.clone()));
    }
    if let Some(f) = qenv.attrs.other_value("fullname") {
        attributes.push(("fullname".to_string(), f.to_string()));
    }
    if qenv.attrs.other_value(ipc::cleanup::USER_VERIFY) == Some("yes") {
        attributes.push((ipc::cleanup::USER_VERIFY.to_string(), "yes".to_string()));
    }
    if !to.filter.is_empty() {
        attributes.push((ipc::cleanup::CONTENT_FILTER.to_string(), to.filter.clone()));
    }
    let env = Envelope {
        sender: qenv.sender.clone(),
        arrival: qenv.arrival.sec,
        arrival_usec: qenv.arrival.usec,
        body: match qenv.attrs.encoding {
            Some(queue::Encoding::EightBit) => Body::EightBitMime,
            _ => Body::Unspecified,
        },
        smtputf8: qenv.smtputf8,
        ret: qenv.dsn_ret.map(|r| match r {
            queue::DsnRet::Full => Ret::Full,
            queue::DsnRet::Hdrs => Ret::Headers,
        }),
        envid: qenv.dsn_envid.clone(),
        attributes,
        // Recipients already delivered stay delivered (postsuper -r requeues
        // through maildrop); extracted recipients (sendmail -t) are kept.
        recipients: qf
            .recipients()
            .filter(|r| !r.done)
            .map(|r| Recipient {
                address: r.address.clone(),
                orcpt: r.dsn_orcpt.clone(),
                notify: r.dsn_notify.map(|n| n.0).unwrap_or(0),
            })
            .collect(),
    };
    let mut client = match Client::connect(&to.cleanup, to.timeout) {
        Ok(c) => c,
        Err(e) => {
            maillog::warning!("connect to cleanup {}: {e}", to.cleanup.display());
            return Ok(Fate::Later);
        }
    };
    let id = client
        .open(
            Source::Pickup,
            if extract {
                to.flags | flags::EXTRACT_RECIPIENTS
            } else {
                to.flags
            },
        )
        .map_err(|e| e.to_string())?;
    maillog::info!("{id}: uid={uid} from=<{}>", maillog::address(&qenv.sender));
    client.envelope(env).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(ipc::cleanup::CONTENT_CHUNK);
    for piece in qf.content().map_err(|e| e.to_string())? {
        let piece = piece.map_err(|e| e.to_string())?;
        buf.extend_from_slice(&piece.data);
        if piece.end_of_line {
            buf.push(b'\n');
        }
        if buf.len() >= ipc::cleanup::CONTENT_CHUNK {
            client.content(&buf).map_err(|e| e.to_string())?;
            buf.clear();
        }
    }
    client.content(&buf).map_err(|e| e.to_string())?;
    let (status, text) = client.end().map_err(|e| e.to_string())?;
    match status {
        Status::Queued | Status::Discarded => {
            std::fs::remove_file(path).map_err(|e| format!("remove {}: {e}", path.display()))?;
            Ok(Fate::Taken)
        }
        Status::Rejected => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let held = queue_dir.join("hold").join(&name);
            std::fs::rename(path, &held)
                .map_err(|e| format!("move {} to hold: {e}", path.display()))?;
            maillog::warning!("{name}: message refused by cleanup: {text}; moved to hold");
            Ok(Fate::Taken)
        }
        Status::TryAgain => {
            maillog::warning!("{id}: cleanup cannot take mail now: {text}");
            Ok(Fate::Later)
        }
    }
}

fn main() {
    server::trigger_server("pickup", Pickup::default())
}
