//! NAME
//!   pipe - mailsuite delivery to an external command
//!
//! SYNOPSIS
//!   pipe [generic daemon options] [flags=…] user=name[:group] [size=…]
//!        [eol=…] [directory=…] [null_sender=…] argv=command …
//!   (started by the master, as a master.cf transport)
//!
//! DESCRIPTION
//!   pipe takes delivery requests from qmgr on `private/<service>` and gives
//!   the message to the command its master.cf line names, as Postfix's
//!   pipe(8) does — the usual way to hand mail to Dovecot's LDA, maildrop,
//!   procmail, spamc or a mailing list manager:
//!
//!       dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail
//!         argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}
//!
//!   `argv=` (the last attribute) is the command and its arguments, run
//!   directly, without a shell. `$name`, `${name}` and `$(name)` in them
//!   are replaced: `sender` (`null_sender=`, MAILER-DAEMON by default, for
//!   the null sender), `nexthop`, `size`, `queue_id`, `client_address`,
//!   `client_hostname`, `client_helo`, `client_protocol`, `client_port`,
//!   `sasl_method`, `sasl_username`, `sasl_sender`; an argument with
//!   `recipient`, `original_recipient`, `mailbox`, `user`, `extension` or
//!   `domain` is repeated for each recipient of the request (at most
//!   `<service>_destination_recipient_limit`). `flags=` letters: `B` a
//!   blank line after the message, `D` a Delivered-To: header (and a
//!   bounce, 5.4.6, when the message already has that one), `F` a mbox
//!   From line, `O` an X-Original-To: header, `R` a Return-Path: header,
//!   `X` final delivery (success notices say delivered, not relayed), `h`
//!   and `u` host and user names in lower case, `q` local parts quoted,
//!   `.` dot-stuffing, `>` From quoting. D and O need a recipient limit of
//!   one. `size=` bounces larger messages (5.2.3), `eol=` sets the line
//!   end (`\r\n` …), `directory=` where the command starts (`/`).
//!
//!   The command's exit status is the result for every recipient, read as
//!   sysexits.h as Postfix does: 0 sent (`delivered via <service>
//!   service`), 75 (EX_TEMPFAIL) and 71 deferred, the other codes bounced
//!   with their meaning (67: `user unknown`), with the start of the
//!   command's output; output that starts with a status (`4.2.2 mailbox
//!   full`) decides instead; a command killed by a signal is deferred, one
//!   still running at `<service>_time_limit` (default
//!   `command_time_limit`) bounced, as in Postfix. An address verification
//!   probe runs nothing: it is answered `delivers to command: …`.
//!   Each recipient is marked done in the queue file before qmgr hears of
//!   it and logged as `to=<…>, relay=<service>, delay=…, delays=…, dsn=…,
//!   status=…`.
//!
//! SECURITY
//!   Started as root (master.cf unpriv column `n`; `-` or `y` stops the
//!   service, which could then only run them as mail_owner), pipe runs each command
//!   as `user=` (and its group, or `:group`), never as root, group 0,
//!   `mail_owner` or its group, or `setgid_group`: an attribute that asks
//!   for them stops the service. The
//!   command gets only `export_environment`'s variables and PATH, in a
//!   process group of its own that is killed at the time limit. pipe
//!   reads qmgr's validated requests and the queue file. Started as an
//!   ordinary user, everything runs as that user.
//!
//! CONFIGURATION PARAMETERS
//!   delay_logging_resolution_limit (digits after the point in delay=),
//!   pipe_delivery_status_filter (tables that give a result a new status
//!   and text),
//!   command_time_limit, <service>_time_limit, export_environment,
//!   recipient_delimiter, mail_owner, queue_directory.
//!
//! FILES
//!   $queue_directory/private/<service>, $queue_directory/active.

mod attrs;
mod deliver;

use deliver::{handle, Settings};
use server::{Client, Context, Service, SingleService};

#[derive(Default)]
struct Pipe {
    settings: Option<Settings>,
}

impl Service for Pipe {
    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.settings = Some(Settings::new(ctx)?);
        Ok(())
    }
}

impl SingleService for Pipe {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Some(s) = &self.settings else { return };
        server::serve_delivery(client, |req| handle(s, req));
    }
}

fn main() {
    server::single_server("pipe", Pipe::default())
}
