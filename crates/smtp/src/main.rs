//! NAME
//!   smtp - mailsuite SMTP client (delivery to other mail servers)
//!
//! SYNOPSIS
//!   smtp [generic daemon options]   (started by the master)
//!
//! DESCRIPTION
//!   smtp takes delivery requests from qmgr on `private/smtp` (or the name
//!   of any transport that runs it) and hands the message to the next hop
//!   as Postfix's smtp(8) does:
//!
//!   * The next hop is `domain` (MX lookup, then A/AAAA when the domain has
//!     no MX; a null MX bounces), `domain:port`, `[host]` or `[host]:port`
//!     (no MX lookup), from the recipient's domain, `relayhost` or
//!     `transport_maps`, or a list of them (`[a]:587, [b]:587`, tried in
//!     turn). Equal-preference MX hosts are tried in random order;
//!     `inet_protocols` limits the address families. On port 25 a next hop
//!     that is this host (`inet_interfaces`, `proxy_interfaces`) bounces:
//!     "mail for X loops back to myself" (5.4.6); as a backup MX only the
//!     better exchangers are tried. A name that cannot be found for now
//!     defers, never bounces.
//!   * A failed connection or a 4xx greeting moves on to the next address
//!     (at most `smtp_mx_address_limit` addresses, `smtp_mx_session_limit`
//!     sessions); recipients that got a 4xx are retried at the next server,
//!     and then at the `smtp_fallback_relay` hosts, which also take mail
//!     for destinations that cannot be found.
//!   * ESMTP: EHLO (HELO when EHLO is refused), STARTTLS as
//!     `smtp_tls_security_level` or `smtp_tls_policy_maps` (by next hop)
//!     say: none, may (a failed handshake is retried in plaintext),
//!     encrypt, verify and secure (a certificate from a CA in
//!     `smtp_tls_CAfile` or `smtp_tls_CApath`, or the bundled public roots
//!     when neither is set or `tls_append_default_CA` says so, that bears
//!     a name `smtp_tls_verify_cert_match` (the MX host name) or
//!     `smtp_tls_secure_cert_match` (the next hop or a name under it, not
//!     the name DNS gave) or a policy's `match=` asks for), and
//!     fingerprint (a certificate, trusted or not, whose
//!     `smtp_tls_fingerprint_digest` fingerprint a policy's
//!     `match=fp|fp` or `smtp_tls_fingerprint_cert_match` lists; another
//!     is deferred, "Server certificate not verified");
//!     the name asked for in SNI: none unless `smtp_tls_servername`
//!     (`lmtp_tls_servername`, or a policy's `servername=`) says `hostname` (the server's name),
//!     `nexthop` or a name, as in Postfix;
//!     the versions `smtp_tls_protocols` (may) or
//!     `smtp_tls_mandatory_protocols` (the other levels) leave of TLS 1.2
//!     and 1.3; TLS 1.2's cipher suites from the grade `smtp_tls_ciphers`
//!     (may) or `smtp_tls_mandatory_ciphers` names, less
//!     `smtp_tls_exclude_ciphers` (and `smtp_tls_mandatory_exclude_ciphers`
//!     above may; `lmtp_` ones for lmtp); a policy's `protocols=`,
//!     `ciphers=` and `exclude=` replace those for its destinations;
//!     with `smtp_tls_wrappermode` TLS from the first byte instead (SMTPS,
//!     a provider's port 465), required whatever the level; a server that
//!     asks for a client certificate gets the one of `smtp_tls_chain_files`,
//!     else `smtp_tls_cert_file`/`smtp_tls_key_file` or
//!     `smtp_tls_eccert_file`/`smtp_tls_eckey_file` (lmtp: `lmtp_tls_cert_file`,
//!     `lmtp_tls_key_file`), read before the privilege drop,
//!     PIPELINING (MAIL, all RCPTs and DATA in one write), SIZE (a message
//!     over the server's limit bounces without being sent), 8BITMIME (to a
//!     server without it 8-bit MIME parts go quoted-printable, unless
//!     `disable_mime_output_conversion`),
//!     SMTPUTF8 (a message that needs it bounces at a server without it),
//!     DSN (RET, ENVID, NOTIFY, ORCPT passed on: a NOTIFY=SUCCESS notice
//!     is then the server's to send; a server without DSN gets the mail
//!     and the sender a notice that it was relayed), AUTH PLAIN or LOGIN with
//!     the credentials `smtp_sasl_password_maps` holds for the sender
//!     (with `smtp_sender_dependent_authentication`) or the next hop
//!     (`[smtp.provider.example]:587 user:password`). Lines longer than
//!     `smtp_line_length_limit` are broken with CRLF and a space.
//!   * On the way out, `smtp_generic_maps` (generic(5)) rewrites the
//!     envelope sender and recipients and the addresses in the address
//!     headers, and `smtp_header_checks` / `smtp_body_checks` act on the
//!     headers and body lines with IGNORE, REPLACE, PREPEND, WARN or INFO
//!     (REJECT, HOLD and DISCARD are not available here and are logged);
//!     the queue file and the log keep the addresses as they were. A table
//!     that fails defers the delivery.
//!   * All of a request's recipients go in one transaction; each gets its
//!     own result: 2xx sent, 4xx deferred, 5xx bounced, with the server's
//!     text (`host mx[192.0.2.1] said: 550 5.1.1 … (in reply to RCPT TO
//!     command)`).
//!
//!   * After a transaction the session is kept for
//!     `smtp_connection_cache_time_limit` (with
//!     `smtp_connection_cache_on_demand`, or for the next hops in
//!     `smtp_connection_cache_destinations`); the next request for the same
//!     next hop that this process gets starts with RSET on it instead of a
//!     new connection, and its log lines say `conn_use=N`.
//!
//!   With `smtp_send_xforward_command = yes` (`lmtp_…` for lmtp), a server
//!   that offers XFORWARD is told who sent the message before MAIL FROM:
//!   NAME, ADDR and PORT, then PROTO, HELO, IDENT and SOURCE (what an
//!   XFORWARD the message came in with said, else its own client and queue
//!   ID), as Postfix sends them to a content filter; a refusal is logged
//!   as a warning and the delivery goes on.
//!
//!   An address verification probe (a request marked so by qmgr) ends
//!   after RCPT TO: the replies to RCPT are the results, logged
//!   `status=deliverable` or `undeliverable`, and no message is sent. With
//!   smtp_address_verify_target (lmtp_address_verify_target) = data, for
//!   servers that refuse recipients only then, it goes on to DATA: a
//!   refusal there is the result, and after a 354 the connection is
//!   dropped without content.
//!
//!   A delivered recipient is marked done in the queue file before qmgr
//!   hears about it; each outcome is logged as `ID: to=<…>, relay=host[ip]:port,
//!   delay=…, delays=a/b/c/d, dsn=…, status=… (…)`, and each TLS session as
//!   `Trusted|Untrusted TLS connection established to host[ip]:port: …`
//!   (with smtp_tls_loglevel 1 or more).
//!
//! SECURITY
//!   smtp runs as `mail_owner` (master.cf unpriv column `-` or `y`; `n`
//!   works too). Everything the remote server and the DNS send is untrusted:
//!   replies are parsed with bounded line lengths and counts, control
//!   characters never reach the log, and no reply can change another
//!   recipient's result. It reads qmgr's validated requests and the queue
//!   file, and writes only the done marks in the queue file. The SASL
//!   password tables are opened before the privilege drop.
//!
//! CONFIGURATION PARAMETERS
//!   delay_logging_resolution_limit (digits after the point in delay=),
//!   lmtp_sasl_auth_enable, lmtp_sasl_password_maps, lmtp_sasl_security_options,
//!   lmtp_sasl_tls_security_options, lmtp_sasl_mechanism_filter,
//!   lmtp_sasl_auth_soft_bounce (the LMTP client's SASL, as the SMTP client's),
//!   smtp_reply_filter, lmtp_reply_filter (a table each reply line goes
//!   through first), smtp_dns_reply_filter, lmtp_dns_reply_filter (tables
//!   whose IGNORE drops an MX, A or AAAA record before it is used; an answer
//!   left with none waits with 4.7.0),
//!   smtp_delivery_status_filter, lmtp_delivery_status_filter (tables that
//!   give a result a new status and text: a bounce may become a deferral),
//!   smtp_tls_note_starttls_offer (log `Host offered STARTTLS: [name]`
//!   when TLS is not used), ignore_mx_lookup_error (an MX look-up with no
//!   answer falls back to the domain's address), smtp_defer_if_no_mx_address_found
//!   (no MX host with an address: defer, not bounce),
//!   debug_peer_list (a server it names has its conversation logged,
//!   `> host[ip]:port: command` and `< host[ip]:port: reply`, AUTH masked;
//!   not the message),
//!   smtp_connect_timeout, smtp_helo_timeout, smtp_mail_timeout,
//!   smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
//!   smtp_data_done_timeout, smtp_quit_timeout, smtp_starttls_timeout,
//!   smtp_per_request_deadline (each of those a limit on a whole request
//!   or reply, not on each read or write; message content earns a second
//!   per smtp_min_data_rate bytes), smtp_send_xforward_command, smtp_xforward_timeout,
//!   smtp_helo_name, smtp_tcp_port, smtp_bind_address, smtp_bind_address6,
//!   smtp_bind_address_enforce (without it, a bind that fails is logged,
//!   "smtp_connect_addr: bind ADDRESS: reason", and left out, as in
//!   Postfix; with it, the delivery waits), smtp_never_send_ehlo,
//!   smtp_skip_5xx_greeting, smtp_skip_quit_response,
//!   smtp_mx_address_limit, smtp_mx_session_limit, smtp_randomize_addresses,
//!   smtp_fallback_relay,
//!   smtp_connection_cache_on_demand, smtp_connection_cache_destinations,
//!   smtp_connection_cache_time_limit, smtp_connection_reuse_time_limit,
//!   smtp_connection_reuse_count_limit, smtp_rset_timeout,
//!   smtp_host_lookup, smtp_dns_support_level, disable_dns_lookups,
//!   inet_protocols, inet_interfaces, proxy_interfaces,
//!   smtp_address_preference, dns_resolver_address
//!   (mailsuite extension),
//!   smtp_tls_security_level, smtp_tls_loglevel, smtp_tls_policy_maps, smtp_tls_CAfile,
//!   smtp_tls_servername, smtp_address_verify_target,
//!   smtp_tls_fingerprint_cert_match, smtp_tls_fingerprint_digest,
//!   smtp_discard_ehlo_keywords, smtp_discard_ehlo_keyword_address_maps
//!   (keywords of the server's EHLO reply ignored, by its address too;
//!   logged `discarding EHLO keywords: …` unless `silent-discard`),
//!   smtp_tls_protocols, smtp_tls_mandatory_protocols, smtp_tls_ciphers,
//!   smtp_tls_mandatory_ciphers, smtp_tls_exclude_ciphers, smtp_tls_mandatory_exclude_ciphers,
//!   lmtp_tls_ciphers, lmtp_tls_mandatory_ciphers, lmtp_tls_exclude_ciphers,
//!   lmtp_tls_mandatory_exclude_ciphers, tls_high_cipherlist, tls_medium_cipherlist,
//!   tls_low_cipherlist, tls_export_cipherlist, tls_null_cipherlist,
//!   tls_eecdh_auto_curves,
//!   smtp_tls_verify_cert_match, smtp_tls_secure_cert_match,
//!   smtp_tls_CApath, tls_append_default_CA, smtp_tls_wrappermode,
//!   smtp_tls_chain_files, smtp_tls_cert_file, smtp_tls_key_file,
//!   smtp_tls_eccert_file, smtp_tls_eckey_file,
//!   smtp_sender_dependent_authentication, recipient_delimiter,
//!   disable_mime_output_conversion,
//!   smtp_use_tls, smtp_line_length_limit,
//!   smtp_enforce_tls, smtp_sasl_auth_enable, smtp_sasl_password_maps,
//!   smtp_sasl_security_options, smtp_sasl_tls_security_options,
//!   smtp_sasl_mechanism_filter, smtp_sasl_auth_soft_bounce,
//!   smtp_generic_maps, propagate_unmatched_extensions, myorigin,
//!   mydestination, smtp_header_checks, smtp_body_checks.
//!
//! FILES
//!   $queue_directory/private/smtp, $queue_directory/active,
//!   /etc/resolv.conf.

fn main() {
    smtp::agent::run("smtp", smtp::deliver::Protocol::Smtp)
}
