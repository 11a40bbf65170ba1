//! NAME
//!   local - mailsuite local mail delivery
//!
//! SYNOPSIS
//!   local [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   local takes delivery requests from qmgr on `private/local` and
//!   delivers each recipient as Postfix's local(8) does:
//!
//!   * A `Delivered-To:` header naming the recipient means a loop: bounce
//!     (5.4.6).
//!   * `alias_maps` (user+ext, then user): addresses are forwarded as one new
//!     message, `/file` gets the message appended, `|command` gets it on
//!     standard input, `:include:/path` is read like a list of aliases; a
//!     user aliased to itself gets the mailbox. File and command deliveries
//!     of aliases run as `default_privs` (or the :include: file's owner),
//!     and only where `allow_mail_to_files` / `allow_mail_to_commands` say.
//!     An alias `list` with an alias `owner-list` sends its addresses one
//!     new message from `owner-list@$myorigin` (with `expand_owner_alias`,
//!     the owner alias's address), so delivery errors reach the owner; its
//!     files and commands get that sender too. With `owner_request_special
//!     = no` owner- aliases are ordinary, and `owner-list`/`list-request`
//!     are split at a `-` recipient_delimiter like any address.
//!   * Users from the passwd database: `forward_path` (.forward files,
//!     owned by the user) with the user's rights.
//!   * The mailbox, in Postfix's order: `mailbox_transport_maps` (by user
//!     name), then `mailbox_transport` hand it to another delivery agent
//!     (`lmtp:unix:private/dovecot-lmtp`), for users in the passwd
//!     database or not; then, for a user in it, `mailbox_command_maps`,
//!     `mailbox_command`, or the file: `home_mailbox` (`Maildir/` for
//!     Maildir, another name for an mbox under the home directory) or
//!     `mail_spool_directory/user`. mbox deliveries use
//!     `mailbox_delivery_lock` (fcntl and dotlock), `From ` lines and
//!     `>From ` quoting; Maildir deliveries go through tmp/ to new/.
//!     Everything is fsync'd before success.
//!   * Unknown users go to `fallback_transport_maps` (by user name), then
//!     `fallback_transport`, then `luser_relay`, else bounce with
//!     `unknown user: "name"` (5.1.1).
//!   * Handing an address to another agent is Postfix's deliver_pass: a
//!     delivery request for the same queue file on `private/<transport>`;
//!     that agent delivers and logs it, local marks the recipient done once
//!     all it expanded to is delivered; an agent that cannot be reached
//!     defers it (`mail transport unavailable`). The transport tables may
//!     not put `$number` of a regular expression into their results.
//!   * `recipient_delimiter` splits user+ext; `mailbox_size_limit` bounds mailboxes.
//!
//!   A recipient that is an alias and asked for NOTIFY=SUCCESS is
//!   answered "alias expanded" (the notice says Action: expanded; a list
//!   with an `owner-` alias, delivered), and the copies it forwards lose
//!   SUCCESS from their NOTIFY, as RFC 3461 and Postfix's local have it.
//!
//!   An address verification probe delivers nothing. One from the verify
//!   service names what it meets first, as Postfix's: `aliased to …`,
//!   `forward via file: …`, `delivers to mailbox`, or `undeliverable
//!   (unknown user: …)`. One for `sendmail -bv` goes the way the mail
//!   would (aliases, :include: files and .forward files followed), and
//!   each final destination is logged and reported with what it would get
//!   (`delivers to file: …`, `delivers to command: …`, `forwards to …`),
//!   in the order of the alias or .forward file, each new address
//!   "expanded from" the recipient.
//!
//!   A command runs with the shell, `-c` and the command, as the rights
//!   that apply, in `command_execution_directory` (`$user`, `$home`,
//!   `$shell`, `$recipient`, `$local`, `$domain`, `$extension`,
//!   `$recipient_delimiter` expanded, values limited to
//!   `execution_directory_expansion_filter`; a directory it cannot enter
//!   defers the delivery; empty: the queue directory), with Postfix's
//!   environment: the `export_environment` variables, PATH, then HOME and
//!   SHELL of the user whose rights apply (none for an alias), LOGNAME,
//!   USER, SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION, ORIGINAL_RECIPIENT,
//!   CLIENT_HOSTNAME, CLIENT_ADDRESS, CLIENT_HELO, CLIENT_PROTOCOL,
//!   SASL_METHOD, SASL_SENDER, SASL_USERNAME (those known, censored by
//!   `command_expansion_filter`).
//!
//!   Each message gets `Return-Path:`, `X-Original-To:` and `Delivered-To:`
//!   headers; Delivered-To: names the recipient, or with
//!   `frozen_delivered_to = no` the address whose alias or .forward was
//!   expanded last (or whose mbox gets it), forwarded copies grouped by it.
//!   An address an alias or .forward leads to that a Delivered-To: of the
//!   message already names is a mail forwarding loop (5.4.6). A delivered recipient is marked done in the queue file before
//!   qmgr hears about it; each outcome is logged as
//!   `ID: to=<…>, relay=local, delay=…, delays=…, dsn=…, status=… (…)`,
//!   for an address an alias or .forward expanded one line per destination:
//!   `to=<user@$myorigin>, orig_to=<alias@domain>` (a file or command as
//!   the alias itself; forwarded addresses with `forwarded as ID`).
//!
//! SECURITY
//!   Started as root (master.cf unpriv column `n`), local switches its
//!   effective uid and gid to the recipient for each mailbox delivery and
//!   runs commands with the recipient's (or default_privs') uid. It reads
//!   only qmgr's validated requests and the queue file. As an ordinary user
//!   it delivers only where that user may write.
//!
//! CONFIGURATION PARAMETERS
//!   delay_logging_resolution_limit (digits after the point in delay=),
//!   local_delivery_status_filter (tables that give a result a new status
//!   and text),
//!   require_home_directory (a user whose home cannot be reached waits),
//!   alias_maps, home_mailbox, mail_spool_directory, mailbox_command,
//!   biff (a `user@offset` notice to the local comsat service, udp 512,
//!   after each mbox delivery), strict_mailbox_ownership (a spool mailbox
//!   its user does not own defers the delivery),
//!   prepend_delivered_header (command, file, forward: the deliveries that
//!   get Delivered-To: besides the mailbox),
//!   mailbox_command_maps, mailbox_transport, mailbox_transport_maps,
//!   fallback_transport, fallback_transport_maps, ipc_timeout, forward_path, luser_relay, recipient_delimiter, mailbox_size_limit,
//!   mailbox_delivery_lock, deliver_lock_attempts, deliver_lock_delay,
//!   stale_lock_time, default_privs, allow_mail_to_commands,
//!   allow_mail_to_files, local_command_shell, command_time_limit,
//!   command_expansion_filter (the address characters mailbox_command's
//!   $name expansions and commands' SENDER, RECIPIENT, LOCAL… may hold;
//!   others become '_'), forward_expansion_filter,
//!   command_execution_directory, execution_directory_expansion_filter,
//!   export_environment, owner_request_special, frozen_delivered_to,
//!   cleanup_service_name, myhostname, myorigin, mydestination,
//!   expand_owner_alias.
//!
//! FILES
//!   $queue_directory/private/local, $queue_directory/active,
//!   $queue_directory/private/<transport> of the transports passed to,
//!   /etc/passwd, the alias databases, ~/.forward, the mailboxes.

use local::deliver::{handle, Settings};
use server::{Client, Context, Service, SingleService};

struct Local {
    settings: Option<Settings>,
}

impl Service for Local {
    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        mailbox::as_user::clear_groups()?;
        let settings = Settings::new(&ctx.config, ctx.queue_dir());
        settings.check()?;
        self.settings = Some(settings);
        Ok(())
    }
}

impl SingleService for Local {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Some(s) = &self.settings else { return };
        server::serve_delivery(client, |req| handle(s, req));
    }
}

fn main() {
    server::single_server("local", Local { settings: None })
}
