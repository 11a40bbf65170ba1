//! NAME
//!   lmtp - mailsuite LMTP client (delivery to an LMTP server)
//!
//! SYNOPSIS
//!   lmtp [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   lmtp is the SMTP client's code speaking LMTP (RFC 2033), as Postfix's
//!   lmtp(8): it hands messages to a mailbox server such as Dovecot's LMTP
//!   service. Next hops: `unix:path` (a UNIX-domain socket; a relative
//!   path is relative to the queue directory, as in
//!   `virtual_transport = lmtp:unix:private/dovecot-lmtp`), `inet:host:port`,
//!   `[host]:port` or `host:port` (no MX lookups; port `lmtp_tcp_port`, 24).
//!
//!   The session is LHLO, then MAIL, RCPT and DATA as in SMTP (pipelined
//!   when the server offers PIPELINING), and after the message one reply
//!   per accepted recipient: each recipient is sent, deferred or bounced on
//!   its own. Delivered recipients are marked done in the queue file before
//!   qmgr hears about it; each is logged as `ID: to=<…>,
//!   relay=host[path-or-ip]…, status=…`.
//!
//! SECURITY
//!   As smtp(8): runs as `mail_owner`; the server's replies are untrusted
//!   input, parsed with bounded sizes and logged without control
//!   characters.
//!
//! CONFIGURATION PARAMETERS
//!   lmtp_connect_timeout, lmtp_lhlo_timeout, lmtp_mail_timeout,
//!   lmtp_rcpt_timeout, lmtp_data_init_timeout, lmtp_data_xfer_timeout,
//!   lmtp_data_done_timeout, lmtp_quit_timeout, lmtp_lhlo_name,
//!   lmtp_send_xforward_command, lmtp_xforward_timeout,
//!   lmtp_tcp_port, lmtp_bind_address, lmtp_bind_address6,
//!   lmtp_host_lookup, lmtp_skip_quit_response,
//!   lmtp_tls_security_level, lmtp_tls_loglevel, lmtp_tls_policy_maps, lmtp_tls_CAfile,
//!   lmtp_tls_protocols, lmtp_tls_mandatory_protocols,
//!   lmtp_starttls_timeout, lmtp_per_request_deadline, lmtp_min_data_rate,
//!   lmtp_line_length_limit, lmtp_rset_timeout,
//!   lmtp_connection_cache_on_demand, lmtp_connection_cache_destinations,
//!   lmtp_connection_cache_time_limit, lmtp_generic_maps.
//!
//! FILES
//!   $queue_directory/private/lmtp, $queue_directory/active.

fn main() {
    smtp::agent::run("lmtp", smtp::deliver::Protocol::Lmtp)
}
