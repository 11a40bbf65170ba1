//! NAME
//!   cleanup - canonicalize and enqueue mail
//!
//! SYNOPSIS
//!   cleanup [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   cleanup takes messages on `public/cleanup` from smtpd, pickup or
//!   mailsuite's own programs (the protocol is in ipc::cleanup), one at a
//!   time per connection, and makes each a queue file in `incoming/`. After
//!   a message's verdict it waits up to 2 seconds for the client's next
//!   one (smtpd keeps its connection from one session to the next); a
//!   client that abandons a message closes the connection.
//!
//!   * The queue ID is known when the message is opened (creation time and
//!     the file's inode), so smtpd can log it at MAIL FROM.
//!   * Envelope addresses are completed (`append_at_myorigin`,
//!     `append_dot_mydomain`, `remote_header_rewrite_domain`; `user%site`
//!     and `site!user` become `user@site` with `allow_percent_hack` and
//!     `swap_bangpath`), mapped
//!     (`canonical_maps`, `sender_canonical_maps`, `recipient_canonical_maps`,
//!     `virtual_alias_maps`, recursively: past `virtual_alias_expansion_limit`
//!     addresses or `virtual_alias_recursion_limit` levels the message
//!     waits, "451 4.6.0 Alias expansion error", as it does for a result
//!     longer than `virtual_alias_address_length_limit`) and masqueraded
//!     (`masquerade_domains`, `masquerade_exceptions`). Tables are asked
//!     as Postfix's mail_addr_find asks them: `user+ext@domain`,
//!     `user@domain`, `user+ext` and `user` for local domains ($myorigin,
//!     $mydestination, this host's addresses), `@domain`; an extension cut
//!     off to find an entry is put back (`propagate_unmatched_extensions`).
//!   * A recipient that came without a DSN ORCPT gets one: `rfc822;` (or
//!     `utf-8;` for a UTF-8 address in SMTPUTF8 mail) and the address
//!     after canonical mapping, before virtual aliasing, as Postfix
//!     records it; notices show it as Original-Recipient and the smtp
//!     client passes it on.
//!   * The addresses in address headers (From, Sender, Reply-To, To, Cc,
//!     Bcc, the Resent- ones …) are completed like envelope addresses and
//!     go through the same canonical maps (the sender's or recipients'
//!     table, then canonical_maps) and masquerading — in mail from remote
//!     clients only when remote_header_rewrite_domain is set, as in
//!     Postfix. Display names, comments and groups stay, and a header
//!     nothing changes in stays byte for byte. Only the first
//!     `header_address_token_limit` address tokens of a header are parsed
//!     for this; a header whose first part a rewrite changes is rebuilt
//!     from that part alone (sendmail -t still takes every address).
//!   * `smtputf8_autodetect_classes` (sendmail, smtpd, verify; forward,
//!     bounce and notify all name the mail system's own other mail): mail
//!     of those kinds is flagged SMTPUTF8 when its envelope addresses,
//!     its message headers or the headers of its MIME parts hold UTF-8
//!     (the flag is in the size record, written again at the end).
//!     `detect_8bit_encoding_header`: `Content-Transfer-Encoding: 8bit` or
//!     `binary` in the message header or a MIME part's makes the queue
//!     file's encoding 8bit (found after the envelope went out, it is an
//!     `encoding` attribute in the extracted segment, as Postfix writes it).
//!   * Lines from smtpd lose the CRs before their LF; lines from pickup are
//!     stored as they are (sendmail applied `sendmail_fix_line_endings`).
//!   * Blind copies: `always_bcc`, `sender_bcc_maps` (by the sender) and
//!     `recipient_bcc_maps` (by each recipient) add recipients, each once,
//!     with NOTIFY=NEVER, expanded like any other; not for the mail
//!     system's own notices. smtpd's access table actions come with the
//!     envelope: BCC adds a blind copy the same way, HOLD puts the message
//!     in `hold/`, DISCARD throws it away, and REDIRECT and FILTER are
//!     kept in the queue file for the queue manager.
//!   * The header gets a Received: line (smtpd's `from … by …`, `by host
//!     (mailsuite, from userid N)` for pickup, `by host (mailsuite)` for
//!     the mail system's own notices and forwarded copies, as Postfix
//!     writes them); mail from this host or from
//!     `local_header_rewrite_clients` (or with `always_add_missing_headers`)
//!     gets Message-Id:, Date: and From: when missing (From: as
//!     `header_from_format` says: `Name <address>`, or obsolete
//!     `address (Name)`), and `undisclosed_recipients_header` when it has
//!     no To:, Cc:, Resent-To: or Resent-Cc:. The headers that
//!     `message_drop_headers` names (Postfix's default: Bcc:,
//!     Content-Length:, Resent-Bcc:, Return-Path:) are removed from every
//!     message, after header_checks and before the milters; `sendmail -t`
//!     recipients come from To/Cc/Bcc first. A message with Resent-
//!     headers is being resent: `sendmail -t` takes the Resent-To/Cc/Bcc
//!     addresses instead, and Resent-Message-Id:, Resent-Date: and
//!     Resent-From: are what is added when missing (logged
//!     `resent-message-id=<…>`), as in Postfix.
//!   * `header_checks` and `body_checks` act on each header and body line
//!     (REJECT, WARN, INFO, HOLD, DISCARD, IGNORE, REPLACE, PREPEND, and
//!     FILTER, REDIRECT and BCC, kept in the extracted segment). The
//!     body is followed through its MIME structure, as Postfix does: the
//!     headers of multipart parts, and MIME headers anywhere, meet
//!     `mime_header_checks`; the headers of attached messages
//!     `nested_header_checks` (both default to `$header_checks`); body_checks
//!     see the rest, boundaries included. Nesting deeper than
//!     `mime_nesting_limit` is refused (550 5.6.0) when header checks are
//!     in use; `disable_mime_input_processing` makes the whole body body.
//!   * `message_reject_characters` refuse a message with any of them in
//!     its content (550 5.7.1 disallowed character);
//!     `message_strip_characters` are removed from it (C escapes as
//!     Postfix: `\0`, `\t`, `\177`…).
//!   * Limits: `message_size_limit` (552 5.3.4), `header_size_limit`,
//!     `hopcount_limit` (554 5.4.0), `line_length_limit` (longer lines are
//!     stored in pieces and rebuilt on delivery).
//!
//!   Milters: mail from smtpd comes with the conversations of the smtpd
//!   service's `smtpd_milters` that are still going (smtpd told them of
//!   the connection and the commands as they came; their sockets come with
//!   the message, as Postfix's smtpd hands its milters to cleanup, and
//!   `milter_macro_daemon_name` for `{daemon_name}`); cleanup shows them
//!   the message (headers, body, end of message), and a conversation that
//!   breaks is shut down for smtpd too. Mail from pickup meets
//!   `non_smtpd_milters` (`inet:host:port`, `unix:path`, or `{ …,
//!   connect_timeout=…, command_timeout=…, content_timeout=…,
//!   default_action=… }`), each in turn at the end of the message, over the
//!   Sendmail milter protocol 6 (the `milter` crate), the session
//!   replayed (connect, HELO, MAIL, RCPT, headers, body). Each stage goes
//!   with
//!   the macros `milter_connect_macros`, `milter_helo_macros`,
//!   `milter_mail_macros`, `milter_rcpt_macros`, `milter_data_macros`,
//!   `milter_end_of_header_macros` and `milter_end_of_data_macros` name (or
//!   the lists the milter asks for when it negotiates) that have a value,
//!   from the mail or from `milter_macro_defaults` (`{v}`:
//!   `milter_macro_v`), then the
//!   milter's edits are applied (headers added, changed, inserted, deleted;
//!   the body replaced; recipients added and deleted; the sender changed)
//!   and its verdict taken: reject or tempfail (the milter's reply, or
//!   Postfix's), discard, or hold (quarantine). With milters the content is
//!   held in memory until they have seen it, then written. A milter that
//!   cannot be reached gets `milter_default_action` (tempfail: 451 4.7.1).
//!   Logs `milter-reject:`, `milter-discard:`, `milter-hold:` as Postfix.
//!
//!   What smtpd or pickup asks for with its `receive_override_options`
//!   is left out: `no_address_mappings` (canonical maps, masquerading,
//!   virtual aliases and automatic blind copies, in the envelope and the
//!   headers), `no_header_body_checks` (the content checks) and
//!   `no_milters`.
//!
//!   Before it takes a new message, cleanup takes a flow token from the
//!   queue manager (`public/flow`), waiting at most `in_flow_delay` when
//!   mail comes in faster than the queue manager takes it in.
//!
//!   Only after the file is complete, fsync'd and renamed into `incoming/`
//!   (or `hold/`) does cleanup answer "queued"; then it wakes the queue
//!   manager. A client that goes away before the end leaves nothing behind.
//!   Logs `ID: message-id=<…>`, and `ID: reject: …` / `warning:` / `hold:`
//!   / `discard:` lines for content checks, as Postfix does.
//!
//! SECURITY
//!   Runs as `mail_owner` (unprivileged); it reads only what smtpd and
//!   pickup send, and validates every frame (ipc::cleanup).
//!
//! CONFIGURATION PARAMETERS
//!   myhostname, myorigin, mydomain, mail_name, append_at_myorigin,
//!   append_dot_mydomain, allow_percent_hack, swap_bangpath,
//!   remote_header_rewrite_domain, info_log_address_format,
//!   duplicate_filter_limit (a recipient given twice is queued once),
//!   local_header_rewrite_clients, always_add_missing_headers,
//!   message_drop_headers, undisclosed_recipients_header, masquerade_domains, masquerade_exceptions,
//!   masquerade_classes, canonical_classes, sender_canonical_classes,
//!   recipient_canonical_classes, canonical_maps,
//!   sender_canonical_maps, recipient_canonical_maps, virtual_alias_maps,
//!   virtual_alias_expansion_limit, virtual_alias_recursion_limit,
//!   virtual_alias_address_length_limit, header_address_token_limit,
//!   smtputf8_enable, smtputf8_autodetect_classes, detect_8bit_encoding_header,
//!   always_bcc, sender_bcc_maps, recipient_bcc_maps, enable_original_recipient,
//!   strict_7bit_headers, strict_8bitmime_body, strict_8bitmime,
//!   strict_mime_encoding_domain (8-bit headers, 8-bit text under a 7-bit
//!   encoding, an encoded multipart or message: 550 5.6.0),
//!   queue_file_attribute_count_limit, verp_delimiter_filter (a VERP
//!   request with other delimiters, or for the null sender, is ignored
//!   with a warning),
//!   header_from_format, header_checks, mime_header_checks, nested_header_checks, body_checks,
//!   body_checks_size_limit, disable_mime_input_processing, mime_nesting_limit,
//!   mime_boundary_length_limit, message_reject_characters,
//!   message_strip_characters, smtpd_milters, non_smtpd_milters,
//!   milter_default_action, milter_macro_daemon_name, milter_connect_timeout,
//!   milter_*_macros, milter_macro_defaults, milter_macro_v,
//!   milter_command_timeout, milter_content_timeout, message_size_limit,
//!   header_size_limit,
//!   hopcount_limit, line_length_limit, hash_queue_names, hash_queue_depth,
//!   queue_service_name, in_flow_delay, recipient_delimiter,
//!   propagate_unmatched_extensions, mydestination, inet_interfaces,
//!   proxy_interfaces, parent_domain_matches_subdomains.
//!
//! FILES
//!   $queue_directory/incoming, $queue_directory/hold,
//!   $queue_directory/public/cleanup, $queue_directory/public/qmgr.

use cleanup::message::{serve, Settings};
use server::{Client, Context, Service, SingleService};

struct Cleanup {
    settings: Option<Settings>,
}

impl Service for Cleanup {
    fn requires_unprivileged(&self) -> bool {
        true
    }

    fn post_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.settings = Some(Settings::from_config(&ctx.config, ctx.queue_dir()));
        Ok(())
    }
}

impl SingleService for Cleanup {
    fn serve(&mut self, _ctx: &Context, mut client: Client) {
        if let Some(s) = &self.settings {
            use std::os::fd::AsRawFd;
            let fd = client.as_raw_fd();
            let mut conn = ipc::frame::Duplex::new(util::socket::FdReceiving::new(&mut client));
            serve(s, &mut conn, |t| util::fd::wait_readable(fd, t));
        }
    }
}

fn main() {
    server::single_server("cleanup", Cleanup { settings: None })
}
