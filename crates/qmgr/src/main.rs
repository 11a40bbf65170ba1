//! NAME
//!   qmgr - mailsuite queue manager
//!
//! SYNOPSIS
//!   qmgr [generic daemon options]   (started by the master, one per system)
//!
//! DESCRIPTION
//!   qmgr runs when cleanup has queued new mail (trigger `A`/`I`), on the
//!   master's wakeup (every 300 s in the shipped master.cf, also at start),
//!   and on `postqueue -f` (`F`: every deferred message is due now). Each
//!   run first puts messages left in `active/` by a crash back into
//!   `incoming/`, then moves mail from `incoming/` (and deferred mail whose
//!   retry time has come) into `active/` one message at a time, while fewer
//!   than `qmgr_message_active_limit` messages and
//!   `qmgr_message_recipient_limit` recipients are there, logging
//!   `ID: from=<…>, size=N, nrcpt=N (queue active)`, and hands each
//!   message's recipients to the delivery agents at once. The run goes on
//!   until nothing is left to take in and every delivery has finished;
//!   deferred/ is scanned again every `queue_run_delay` meanwhile, and
//!   between runs too: qmgr wakes itself when the next scan is due, so
//!   a message deferred until then is tried with nothing else happening.
//!
//!   Flow control (`in_flow_delay` above zero): qmgr puts a token into the
//!   FIFO `public/flow` for each message it takes from `incoming/`, and
//!   tops the supply up to `default_process_limit` when it has taken all;
//!   cleanup takes one before each new message, waiting at most
//!   `in_flow_delay`.
//!
//!   Each recipient is routed as trivial-rewrite does it: while its
//!   domain is this host's, the domain is stripped and a routing operator
//!   in the local part followed (`user%site`, `site!user`, `"user@site"`;
//!   `allow_percent_hack`, `swap_bangpath`, `resolve_dequoted_address`),
//!   and the mail goes to the address that names (logged with the queue
//!   file's as `orig_to=`); a domain that is no host name bounces ("5.1.3
//!   bad address syntax"; `resolve_null_domain` and
//!   `resolve_numeric_domain` take `user@` and `user@1.2.3.4`). Then
//!   `relocated_maps`
//!   first (a moved user bounces: "5.1.6 User has moved to NEW"), `transport_maps`,
//!   then `mydestination` and local address literals → `local_transport`,
//!   `virtual_alias_domains` → rejected, `virtual_mailbox_domains` →
//!   `virtual_transport`, `relay_domains` → `relay_transport`, otherwise
//!   `default_transport`, with `relayhost` as the next hop for the last two.
//!   The sender may change both: `sender_dependent_relayhost_maps` and
//!   `sender_dependent_default_transport_maps` (the null sender looked up
//!   as `empty_address_*_lookup_key`; DUNNO keeps the global setting).
//!   A probe of the verify service (the queue file's address_verify_probe
//!   mark) goes out like other mail, routed by address_verify_transport_maps,
//!   address_verify_relayhost and address_verify_default_transport (the
//!   same as mail's by default), with its requests marked as probes;
//!   its results go to the verify service (`address_verify_service_name`)
//!   and it is removed after that one try, with no bounce or delay notice.
//!   The `error`, `retry` and `discard` transports are handled here. Other
//!   recipients go to the agent on `private/<transport>` in groups of at
//!   most `<transport>_destination_recipient_limit` (default
//!   `default_destination_recipient_limit`), with a window of deliveries at
//!   once per destination (per recipient when the limit is one, as for
//!   local). A VERP message (a `V` record) goes one recipient per delivery,
//!   each with its own sender, `owner+user=domain@origin` for
//!   `owner@origin` (the recipient as first given).
//!   With `soft_bounce = yes` a recipient that would bounce (the agent
//!   logs `status=SOFTBOUNCE`) is deferred instead: nothing is returned.
//!   With `confirm_delay_cleared = yes`, a sender who got the delay
//!   warning gets a delivery notice once each recipient (NOTIFY unset or
//!   with DELAY) is delivered. As in Postfix, the window starts at
//!   `initial_destination_concurrency` and follows the deliveries: each
//!   that reaches the destination adds `…_positive_feedback` (it grows up to
//!   `<transport>_destination_concurrency_limit`), each the agent reports as
//!   a failure of the whole destination (no server could be reached or would
//!   talk) takes `…_negative_feedback` away; after
//!   `…_failed_cohort_limit` failed windows' worth in a row the destination
//!   is dead, and its mail is deferred without a try ("delivery temporarily
//!   suspended: REASON") for `minimal_backoff_time`, or until `postqueue -f`.
//!   With `<transport>_destination_rate_delay` (default
//!   `default_destination_rate_delay`) set, deliveries to a destination go
//!   one at a time, each that long after the last one ended;
//!   `<transport>_transport_rate_delay` (`default_transport_rate_delay`)
//!   does the same for all destinations of the transport. Other
//!   destinations are not held back meanwhile.
//!
//!   Afterwards: deferral reasons go to `defer/ID` (what postqueue shows),
//!   failures to `bounce/ID` and the bounce service returns them to the
//!   sender; a message with nothing left is removed (`ID: removed`); the rest
//!   moves to `deferred/` with its next attempt time as the file's mtime,
//!   `minimal_backoff_time` to `maximal_backoff_time` away (the message's age,
//!   within those bounds). A message older than `maximal_queue_lifetime`
//!   (`bounce_queue_lifetime` for bounces) is returned
//!   (`status=expired, returned to sender`), and so is one `postsuper -e`
//!   or `-f` marked (the queue file's group execute bit), without a
//!   delivery tried (`status=force-expired, returned to sender`; recipients
//!   not deferred before wait with 4.7.0 "message is administratively
//!   expired"). An agent that cannot be reached defers its recipients
//!   with "mail transport unavailable". A message `sendmail -bv` posted
//!   (`user_verify`) is tried as an address verification probe, nothing
//!   delivered; its results go to the trace log as "deliverable" or
//!   "undeliverable", and bounce sends the sender the report.
//!
//!   Mail for a transport named in `defer_transports` waits in deferred/
//!   (`dsn=4.3.2, status=deferred (deferred transport)`) until a flush
//!   takes it: `postqueue -f` or `sendmail -q` for all of it, `postqueue -s
//!   site` or ETRN for one site's, `postqueue -i` for one message.
//!
//! SECURITY
//!   Runs as `mail_owner`. Queue files and agent responses are validated
//!   (queue reader, ipc::delivery).
//!
//! CONFIGURATION PARAMETERS
//!   soft_bounce, confirm_delay_cleared, qmgr_message_active_limit, qmgr_message_recipient_limit, in_flow_delay,
//!   default_process_limit, queue_run_delay, minimal_backoff_time, maximal_backoff_time,
//!   maximal_queue_lifetime, bounce_queue_lifetime, defer_transports,
//!   relocated_maps, transport_maps, allow_percent_hack, swap_bangpath,
//!   resolve_dequoted_address, resolve_null_domain, resolve_numeric_domain,
//!   empty_address_recipient, info_log_address_format,
//!   allow_min_user (a recipient that starts with '-' bounces, 5.1.3, as
//!   Postfix's trivial-rewrite has it),
//!   mydestination, inet_interfaces, proxy_interfaces, virtual_alias_domains,
//!   virtual_mailbox_domains, relay_domains, parent_domain_matches_subdomains,
//!   local_transport,
//!   virtual_transport, relay_transport, default_transport, relayhost,
//!   sender_dependent_relayhost_maps, empty_address_relayhost_maps_lookup_key,
//!   sender_dependent_default_transport_maps,
//!   empty_address_default_transport_maps_lookup_key,
//!   recipient_delimiter,
//!   and the content filter a queue file carries (the entry point's
//!   content_filter, or a FILTER action's: every recipient goes to that
//!   transport:nexthop) and a REDIRECT action's address (one delivery
//!   there stands for every recipient),
//!   default_destination_concurrency_limit, initial_destination_concurrency,
//!   default_destination_concurrency_positive_feedback,
//!   default_destination_concurrency_negative_feedback,
//!   default_destination_concurrency_failed_cohort_limit,
//!   default_destination_recipient_limit, default_destination_rate_delay,
//!   default_transport_rate_delay, <transport>_destination_*,
//!   <transport>_transport_rate_delay,
//!   <transport>_initial_destination_concurrency,
//!   bounce_service_name, hash_queue_names, hash_queue_depth, daemon_timeout.
//!
//! FILES
//!   $queue_directory/{incoming,active,deferred,defer,bounce},
//!   $queue_directory/public/qmgr, $queue_directory/public/flow, $queue_directory/private/<transport>.

use ipc::trigger;
use qmgr::manager::Manager;
use server::{Context, Service, TriggerService};

struct Qmgr {
    manager: Option<Manager>,
}

impl Service for Qmgr {
    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.manager = Some(Manager::new(&ctx.config, ctx.queue_dir()));
        Ok(())
    }

    fn long_running(&self) -> bool {
        true
    }
}

impl TriggerService for Qmgr {
    fn wakeup(&mut self, _ctx: &Context, data: &[u8]) {
        if let Some(m) = self.manager.as_mut() {
            m.run(&trigger::parse(data));
        }
    }

    /// deferred/ is scanned every queue_run_delay even when nothing
    /// triggers the queue manager.
    fn timer(&self) -> Option<std::time::Duration> {
        self.manager.as_ref().map(|m| m.until_deferred_scan())
    }
}

fn main() {
    server::trigger_server("qmgr", Qmgr { manager: None })
}
