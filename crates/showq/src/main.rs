//! NAME
//!   showq - list the mailsuite mail queue
//!
//! SYNOPSIS
//!   showq [generic daemon options]
//!
//! DESCRIPTION
//!   The showq daemon reports the mail queue to postqueue(1) (and so to
//!   mailq and sendmail -bp), as Postfix's showq(8) does. It is started by
//!   the master for each client of its socket `public/showq`, which any
//!   local user may reach through postqueue, installed set-group-ID
//!   setgid_group; the queue itself stays readable by mail_owner only.
//!
//!   For each connection it writes the listing and closes: one JSON object
//!   per line per message, exactly as `postqueue -j` prints it
//!   (queue_name, queue_id, arrival_time, message_size, forced_expire,
//!   sender, recipients: [{address, delay_reason}]). It reads nothing from
//!   the client. The queues are listed in Postfix's order: maildrop,
//!   active, incoming, deferred, hold. Of each queue file only the envelope
//!   and the extracted recipients are read (the content is skipped with
//!   one seek); the defer log supplies the reasons. Recipients already
//!   delivered are not shown. Files that are not complete queue files yet
//!   are passed over; damaged ones are skipped with a warning.
//!
//! SECURITY
//!   showq runs as mail_owner (master.cf unprivileged column "n" keeps
//!   the caller's rights, which is how the test kit runs it), optionally
//!   chrooted into the queue directory. It takes no input from the client.
//!   Queue files and defer logs are treated as untrusted data: every
//!   record is bounds-checked and every text made printable before it is
//!   sent. Its socket is public, so it can be made to work hard (a denial
//!   of service), as Postfix's can.
//!
//! CONFIGURATION PARAMETERS
//!   queue_directory
//!          The queue to list.
//!   hash_queue_names, hash_queue_depth
//!          Where deferred messages and their defer logs are.
//!   duplicate_filter_limit (1000)
//!          How many defer-logged recipients are remembered so that the
//!          queue file does not list them again.
//!   empty_address_recipient (MAILER-DAEMON)
//!          What the null sender is shown as.
//!   ipc_timeout (3600s)
//!          How long a write to a client that does not read may block.
//!   max_idle, max_use
//!          The usual worker limits.
//!
//! FILES
//!   queue_directory/public/showq             the service socket
//!   queue_directory/{maildrop,active,incoming,deferred,hold}/
//!   queue_directory/defer/                   defer logs (reasons)

use server::{single_server, Client, Context, Service, SingleService};
use std::io::Write;

struct Showq;

impl Service for Showq {}

impl SingleService for Showq {
    fn serve(&mut self, ctx: &Context, mut client: Client) {
        let timeout = ctx.config.time(&params::table::IPC_TIMEOUT);
        let _ = client.set_timeout(Some(timeout));
        let mut scanner = showq::Scanner::from_config(&ctx.config, &ctx.queue_dir());
        let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
        let result = scanner.scan(|m| {
            showq::format::json_line(&mut out, m);
            if out.len() >= 60 * 1024 {
                client.write_all(&out)?;
                out.clear();
            }
            Ok::<(), std::io::Error>(())
        });
        let result = result.and_then(|()| client.write_all(&out));
        if let Err(e) = result {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                maillog::warning!("write to {}: {e}", client.peer());
            }
        }
    }
}

fn main() {
    single_server("showq", Showq)
}
