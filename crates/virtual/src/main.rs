//! NAME
//!   virtual - mailsuite's virtual mailbox delivery agent
//!
//! SYNOPSIS
//!   virtual [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   virtual delivers mail for virtual_mailbox_domains, whose users have
//!   no system account, as Postfix's virtual(8): the recipient is looked
//!   up in virtual_mailbox_maps (`user+ext@domain`, `user@domain`, then
//!   the catch-all `@domain`); the result is a path under
//!   virtual_mailbox_base — a Maildir when it ends in `/` (tmp, new and
//!   cur are created as needed), else an mbox file appended to under
//!   virtual_mailbox_lock. The owner comes from virtual_uid_maps and
//!   virtual_gid_maps (same keys; `static:5000` is the usual table), and
//!   must be at least virtual_minimum_uid. Each message gets Return-Path,
//!   X-Original-To and Delivered-To, and one that already carries
//!   Delivered-To for the recipient bounces as a mail forwarding loop. A
//!   message over virtual_mailbox_limit bounces; an unknown user bounces
//!   with `unknown user: "addr"`; a table that cannot be read defers,
//!   never bounces. An address verification probe only looks the
//!   recipient up (`status=deliverable (delivers to maildir)`).
//!
//!   Logs as Postfix does: `to=<user@domain>, relay=virtual, delay=…,
//!   dsn=2.0.0, status=sent (delivered to maildir)`.
//!
//! SECURITY
//!   virtual runs as root (unpriv `n`) so that it can write as each
//!   mailbox's owner: for each delivery it switches its effective uid,
//!   gid and groups to those the tables give, and back. A path from the
//!   table with a `..` component, or a uid below virtual_minimum_uid, is
//!   refused. It reads only queue files (validated records) and its
//!   lookup tables. Started without root privileges, it delivers as the
//!   user it runs as.
//!
//! CONFIGURATION PARAMETERS
//!   delay_logging_resolution_limit (digits after the point in delay=),
//!   virtual_delivery_status_filter (tables that give a result a new
//!   status and text),
//!   virtual_mailbox_maps, virtual_mailbox_base, virtual_uid_maps,
//!   virtual_gid_maps, virtual_minimum_uid, virtual_mailbox_limit,
//!   virtual_mailbox_lock, recipient_delimiter, myhostname,
//!   queue_directory.
//!
//! FILES
//!   $queue_directory/active/*, the queue files it delivers from.
//!   $virtual_mailbox_base/..., the mailboxes.

mod deliver;

use deliver::Settings;
use server::{Client, Context, Service, SingleService};

struct Virtual {
    settings: Option<Settings>,
}

impl Service for Virtual {
    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        mailbox::as_user::clear_groups()?;
        self.settings = Some(Settings::new(&ctx.config, ctx.queue_dir())?);
        Ok(())
    }
}

impl SingleService for Virtual {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Some(s) = &self.settings else { return };
        server::serve_delivery(client, |req| deliver::handle(s, req));
    }
}

fn main() {
    server::single_server("virtual", Virtual { settings: None })
}
