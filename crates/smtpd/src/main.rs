//! NAME
//!   smtpd - mailsuite's SMTP server
//!
//! SYNOPSIS
//!   smtpd [generic server options] (started by the master)
//!
//! DESCRIPTION
//!   smtpd accepts mail over SMTP (RFC 5321) and ESMTP, one client per
//!   process, and hands each accepted message to the cleanup service over
//!   `private/cleanup`. It answers `250 Ok: queued as ID` only after cleanup
//!   reports the queue file safe on disk; a client that goes away before
//!   the end of DATA or BDAT leaves nothing behind. The connection to
//!   cleanup is kept for a second after a message for the process's next
//!   one (a new one replaces it if cleanup has gone). The client's name
//!   (its reverse name, checked forward, with smtpd_peername_lookup) is
//!   asked of the system resolver and used again for 10 seconds by the
//!   same process; a temporary failure is asked again.
//!
//!   Extensions: PIPELINING (replies to pipelined commands go out in one
//!   write), SIZE, VRFY (unless disable_vrfy_command), STARTTLS (with
//!   smtpd_tls_security_level may or encrypt; TLS 1.2 and 1.3 as
//!   smtpd_tls_protocols, or smtpd_tls_mandatory_protocols where TLS is
//!   required, leave them; TLS 1.2's cipher suites from the grade
//!   smtpd_tls_ciphers (mandatory: smtpd_tls_mandatory_ciphers) names,
//!   that grade's tls_*_cipherlist less smtpd_tls_exclude_ciphers (and
//!   smtpd_tls_mandatory_exclude_ciphers), OpenSSL's syntax, suites logged
//!   by OpenSSL's names; ECDH on the curves smtpd_tls_eecdh_grade names),
//!   ENHANCEDSTATUSCODES,
//!   8BITMIME, DSN (RET, ENVID, NOTIFY, ORCPT; a recipient without ORCPT
//!   gets `rfc822;` and its address as written, as Postfix's smtpd gives
//!   it), SMTPUTF8, CHUNKING (BDAT).
//!   smtpd_discard_ehlo_keywords hides keywords (for a client that
//!   smtpd_discard_ehlo_keyword_address_maps lists by address, its own
//!   list instead), logged at each EHLO as Postfix does ("discarding EHLO
//!   keywords: …", not with silent-discard or enhancedstatuscodes). With
//!   smtpd_tls_wrappermode = yes (the smtps service on port 465) the TLS
//!   handshake comes before the greeting.
//!
//!   Several certificates by name: tls_server_sni_maps maps the name a
//!   client asks for (SNI), or a parent domain as `.domain`, to a private
//!   key and its chain: a hash table built with `postmap -F` holds them,
//!   a texthash or inline table names the files. They are read at start,
//!   before the privilege drop; other names get the default certificate.
//!
//!   Client certificates: with smtpd_tls_ask_ccert (or smtpd_tls_req_ccert)
//!   each TLS client is asked for one; any it proves it holds is taken,
//!   and logged (`Trusted` when a CA in smtpd_tls_CAfile or smtpd_tls_CApath signed it, else
//!   `Untrusted TLS connection established …`, with its
//!   smtpd_tls_fingerprint_digest fingerprint at smtpd_tls_loglevel 2).
//!   permit_tls_clientcerts
//!   lets a fingerprint in relay_clientcerts relay, permit_tls_all_clientcerts
//!   any trusted certificate, and check_ccert_access looks the fingerprint
//!   up in an access table. With smtpd_tls_req_ccert and mandatory TLS a
//!   client without a trusted certificate is dropped after the handshake.
//!
//!   SMTP AUTH (RFC 4954), with smtpd_sasl_auth_enable = yes and
//!   smtpd_sasl_type = dovecot: smtpd connects to the Dovecot auth protocol
//!   socket smtpd_sasl_path (relative to queue_directory: `private/auth`,
//!   mailsuite's auth service or a real Dovecot's), announces `AUTH` with
//!   the mechanisms the service offers that smtpd_sasl_security_options
//!   (smtpd_sasl_tls_security_options under TLS: noplaintext, noanonymous,
//!   noactive, nodictionary) and smtpd_sasl_mechanism_filter (Postfix's
//!   default: all but EXTERNAL) allow, and nothing without TLS when
//!   smtpd_tls_auth_only = yes. AUTH takes an initial response or `334`
//!   continuations (`*` aborts); replies are Postfix's: `235 2.7.0
//!   Authentication successful`, `535 5.7.8 Error: authentication failed:
//!   ...`, `503 5.5.1 Error: already authenticated`, `538 5.7.11
//!   Encryption required for requested authentication mechanism`, `454
//!   4.7.0 Temporary authentication failure: ...`. An authenticated
//!   session's protocol is ESMTPA (ESMTPSA with TLS), its queue files carry
//!   sasl_method and sasl_username, and the log says `ID: client=host[ip],
//!   sasl_method=PLAIN, sasl_username=alice`; failures are logged as
//!   `warning: host[ip]: SASL PLAIN authentication failed: ...`. Clients
//!   in smtpd_sasl_exceptions_networks (a mynetworks-style list: networks,
//!   host names, type:table) are not offered AUTH in the EHLO reply, but
//!   may still use the AUTH command, as with Postfix.
//!
//!   ETRN site (RFC 1985, offered in the EHLO reply as by Postfix): the
//!   mail deferred for a site in fast_flush_domains is tried now, as
//!   `postqueue -s site` does (`250 Queuing started`; `459 <site>: service
//!   unavailable` for other sites; a leading `@` or `#` is dropped), once
//!   smtpd_etrn_restrictions let it (`check_etrn_access type:table` looks
//!   the site up; a refusal is `554 5.7.1 <site>: Etrn command rejected:
//!   …`). With smtpd_delay_reject the client and HELO lists apply first.
//!
//!   Clients in smtpd_authorized_xclient_hosts (same form; a proxy in
//!   front, such as nginx's mail proxy) are offered XCLIENT (NAME ADDR
//!   PROTO HELO REVERSE_NAME PORT LOGIN, Postfix's XCLIENT_README): the
//!   session becomes the named client's for access control, the log and
//!   Received:, as if it had just connected (greeted again; HELO, the
//!   protocol and a SASL login, `sasl_method=XCLIENT`, only as given).
//!   NAME=[TEMPUNAVAIL] makes the name unknown for now, [UNAVAILABLE]
//!   for good; a HELO name over 255 characters is refused.
//!
//!   Clients in smtpd_authorized_verp_clients (same form; a mailing list
//!   manager) are offered XVERP: `MAIL FROM:<owner@origin> XVERP` (with
//!   default_verp_delimiters) or `XVERP=xy` (two characters from
//!   verp_delimiter_filter) asks for each recipient's copy to carry a
//!   sender with the recipient in it; others get `555 5.5.4 Unsupported
//!   option: XVERP`.
//!
//!   Clients in smtpd_authorized_xforward_hosts (same form; a content
//!   filter handing mail back) are offered XFORWARD and may send it before
//!   MAIL FROM (Postfix's XFORWARD_README: NAME ADDR PROTO HELO SOURCE PORT
//!   IDENT, xtext values); what it tells lasts one transaction, goes into
//!   the queue file as the log_* attributes and into the log as `ID:
//!   client=host[ip], orig_queue_id=…, orig_client=host[ip]`. Access
//!   checks and Received: go by the real client. Others get `550 5.7.0
//!   Error: insufficient authorization`.
//!
//!   Access policy is Postfix's. With smtpd_delay_reject = yes (the
//!   default) the client, HELO and sender restrictions are applied at RCPT
//!   TO; with no, at connect (a refused client gets the refusal for a
//!   greeting and 503 to all but QUIT), HELO/EHLO and MAIL. Then
//!   smtpd_relay_restrictions and smtpd_recipient_restrictions, then
//!   reject_unlisted_recipient (smtpd_reject_unlisted_recipient);
//!   smtpd_data_restrictions at DATA and the first BDAT;
//!   smtpd_end_of_data_restrictions when the whole message is in (before
//!   cleanup's verdict; a refusal leaves no queue file). Supported
//!   restrictions: permit, reject, defer, defer_if_permit, warn_if_reject,
//!   permit_mynetworks, permit_sasl_authenticated, permit_inet_interfaces, permit_auth_destination,
//!   reject_unauth_destination, defer_unauth_destination,
//!   reject_unauth_pipelining, reject_unlisted_recipient,
//!   reject_non_fqdn_sender, reject_non_fqdn_recipient,
//!   reject_non_fqdn_helo_hostname, reject_invalid_helo_hostname,
//!   reject_unknown_sender_domain, reject_unknown_recipient_domain (an
//!   address record through the system resolver),
//!   reject_unknown_client_hostname (unknown_client_reject_code, or 450
//!   when the name look-up failed for now), reject_sender_login_mismatch,
//!   reject_unverified_recipient and reject_unverified_sender (the verify
//!   service's answer, polled address_verify_poll_count times
//!   address_verify_poll_delay apart while its probe is under way:
//!   unverified_*_reject_code for an undeliverable address,
//!   unverified_*_defer_code while unknown or deferred, the
//!   unverified_*_tempfail_action when the service cannot be asked),
//!   reject_unlisted_sender (and smtpd_reject_unlisted_sender: a sender in
//!   our own domains must exist, as a recipient would; 550 5.1.0 …
//!   Sender address rejected),
//!   reject_authenticated_sender_login_mismatch,
//!   reject_known_sender_login_mismatch,
//!   reject_unauthenticated_sender_login_mismatch,
//!   reject_unknown_reverse_client_hostname (no PTR name; 450 while the
//!   look-up fails for now), reject_unknown_helo_hostname (a HELO name
//!   without an address: unknown_hostname_reject_code; a DNS that cannot
//!   answer: unknown_helo_hostname_tempfail_action, as
//!   unknown_address_tempfail_action for the sender and recipient domains,
//!   both $reject_tempfail_action: defer_if_permit, or defer at once),
//!   reject_plaintext_session (plaintext_reject_code),
//!   reject_multi_recipient_bounce (multi_recipient_bounce_reject_code),
//!   check_sasl_access (by login name), permit_mx_backup (this host a
//!   backup MX of the recipient's domain; permit_mx_backup_networks),
//!   check_reverse_client_hostname_access, and the server checks
//!   check_{client,reverse_client_hostname,helo,sender,recipient}_{mx,ns,a}_access
//!   (each MX or NS host's name and addresses, or the name's own
//!   addresses, looked up through dns_resolver_address or
//!   /etc/resolv.conf), check_client_access,
//!   check_helo_access, check_sender_access, check_recipient_access (whose
//!   results may name restriction classes), smtpd_restriction_classes, and
//!   the DNS lists: reject_rbl_client, reject_rhsbl_client, reject_rhsbl_reverse_client,
//!   reject_rhsbl_sender, reject_rhsbl_helo, reject_rhsbl_recipient,
//!   permit_dnswl_client, permit_rhswl_client (`zone` or
//!   `zone=127.0.0.[2..11]`; asked through hickory, /etc/resolv.conf or
//!   dns_resolver_address; a list that cannot answer is passed over with a
//!   warning; an allow list never permits relaying). A listed client gets
//!   default_rbl_reply, or the template rbl_reply_maps gives for the zone,
//!   with $rbl_code, $rbl_class, $rbl_what, $rbl_domain, $rbl_reason (the
//!   TXT record), $client… values filtered by smtpd_expansion_filter.
//!   check_policy_service (`inet:host:port`, `unix:path`, or `{ service,
//!   timeout=…, default_action=…, policy_context=…, … }`) speaks Postfix's
//!   policy delegation protocol to postgrey, policyd-spf and the like,
//!   keeping the connection for the next request (policy_service.rs);
//!   its answer is an access action. PREPEND (from a policy service or an
//!   access table) adds its header to the message; HOLD sends it to the
//!   hold queue; DISCARD accepts it (and stops the list) and has cleanup
//!   throw it away; FILTER transport:destination is its content filter;
//!   REDIRECT user@domain replaces every recipient; BCC user@domain adds
//!   a blind copy; DEFER_IF_PERMIT and DEFER_IF_REJECT turn a later
//!   acceptance or refusal for good into a deferral. Each is logged as
//!   Postfix logs it (`NOQUEUE: hold: RCPT from …: <a@b>: Sender address
//!   triggers HOLD action; from=<…> to=<…> proto=… helo=<…>`).
//!   Replies and log lines are Postfix's. smtpd_reject_footer (or the
//!   template smtpd_reject_footer_maps gives for the whole reply) follows
//!   every 4XX and 5XX reply: `\n` starts another line, a leading `\c`
//!   continues the last, $client_address, $client_name, $client_port,
//!   $localtime and $server_name are expanded.
//!
//!   Milters (smtpd_milters: OpenDKIM, rspamd, milter-greylist …), as
//!   Postfix's smtpd runs them: each is connected with the client and told
//!   of it, of HELO, MAIL FROM, each RCPT TO and DATA as they come, and may
//!   refuse each (`NOQUEUE: milter-reject: RCPT from …: 550 5.7.1 Command
//!   rejected; from=<…> to=<…> …`); a refusal of the connection or of
//!   HELO answers each MAIL FROM (a 421 ends the session). At DATA the
//!   conversations are handed to cleanup with the message (their sockets
//!   travel with it), which shows them the message and applies their
//!   edits; the same conversation goes on with the next message.
//!
//!   Sender ownership (with smtpd_sasl_auth_enable = yes):
//!   smtpd_sender_login_maps gives, for a MAIL FROM address, the SASL
//!   login names that own it (a list separated by commas or spaces),
//!   looked up as `user+ext@domain`, `user@domain`, then `user+ext` and
//!   `user` for $myorigin and local domains, then `@domain`.
//!   reject_authenticated_sender_login_mismatch refuses a logged-in
//!   client that does not own the sender (an address without an owner
//!   included): `553 5.7.1 <a@b>: Sender address rejected: not owned by
//!   user NAME`; reject_unauthenticated_sender_login_mismatch refuses a
//!   client that is not logged in when the sender has an owner: `553 5.7.1
//!   <a@b>: Sender address rejected: not logged in`;
//!   reject_sender_login_mismatch is both; reject_known_sender_login_mismatch
//!   checks only addresses that have an owner. The null sender is never
//!   checked; without SASL the restrictions are ignored with a warning.
//!
//!   When a session had an error of a class `notify_classes` names (policy:
//!   a restriction refused; protocol: a command out of syntax or order;
//!   resource: the queue could not take the mail), `error_notice_recipient`
//!   gets the transcript Postfix sends ("SMTP server: errors from
//!   host[addr]", at most `smtpd_history_flush_threshold` lines, from
//!   `double_bounce_sender`); AUTH's arguments and message content are not
//!   in it.
//!
//! SECURITY
//!   smtpd talks to untrusted clients. It reads its TLS key and opens its
//!   lookup tables before the privilege drop, then runs as mail_owner
//!   (chrooted when master.cf says so). Passwords from AUTH go only to the
//!   auth service, never to the log. Command lines are bounded by
//!   line_length_limit, messages by message_size_limit, sessions by
//!   smtpd_timeout and the error limits; nothing from a client is buffered
//!   without bound. Against SMTP smuggling, smtpd_forbid_bare_newline =
//!   normalize (or yes) makes CRLF.CRLF the only end of DATA, and reject
//!   refuses any line ended by a bare LF (smtpd_forbid_bare_newline_reject_code,
//!   then disconnects), except for smtpd_forbid_bare_newline_exclusions
//!   ($mynetworks); the default, no, is Postfix 3.7's. An unrecognized
//!   command that smtpd_forbidden_commands names (by default CONNECT, GET,
//!   POST and anything not starting with a letter: an HTTP client, a proxy
//!   probe), or a line that looks like a message header (a client sending
//!   its message out of turn), is logged as "non-SMTP command" and ends the
//!   session (221 2.7.0).
//!   smtpd_command_filter, a last resort for broken clients, rewrites a
//!   command line its table has a result for (logged as "replacing
//!   command").
//!
//!   With smtpd_per_request_deadline (on by default only in stress mode),
//!   smtpd_timeout bounds a whole command line, or all of DATA or a BDAT
//!   chunk, instead of each read; message content earns a second per
//!   smtpd_min_data_rate bytes. A client that trickles its input is cut
//!   off (421 4.4.2 … timeout exceeded).
//!
//!   With smtpd_proxy_filter (host:port, inet:host:port or unix:path), a
//!   before-queue content filter takes the mail instead of cleanup
//!   (Postfix's SMTPD_PROXY_README, proxy.rs): connected at the first
//!   recipient that passes smtpd's checks, greeted with EHLO
//!   smtpd_proxy_ehlo and told the client with XFORWARD where it offers
//!   that, it gets MAIL FROM, each RCPT TO, DATA (BDAT too), smtpd's own
//!   Received: header and the message, and its replies are the client's
//!   ("warning: proxy … rejected …", "proxy-accept: END-OF-MESSAGE: …",
//!   "proxy-reject: …"). A filter that cannot be reached, breaks off or
//!   stays silent for smtpd_proxy_timeout gets the client "451 4.3.0
//!   Error: queue file write error", and a connection that broke after the
//!   filter took a recipient stays broken for the rest of the transaction
//!   (a new one would lose that recipient). The filter hands the mail to
//!   another smtpd (smtpd_authorized_xforward_hosts), which queues it.
//!   With smtpd_proxy_options = speed_adjust, smtpd answers the recipients
//!   itself, keeps the transaction in a file without a name in incoming/,
//!   and asks the filter only once the message is whole: the filter's first
//!   refusal, or its reply to the message, answers the end of data.
//!
//!   Behind a load balancer, smtpd_upstream_proxy_protocol = haproxy reads
//!   the PROXY protocol header (version 1 or 2, the haproxy crate) before
//!   the greeting, within smtpd_upstream_proxy_timeout: the client it names
//!   is the one logged and judged (mynetworks, access tables, anvil). A
//!   connection without a valid header is logged ("haproxy read: …") and
//!   closed without a greeting. Behind postscreen (a "pass" service), the
//!   client is the one postscreen names with the connection it hands over,
//!   and smtpd reads no header.
//!
//!   Per-client limits are counted in anvil (limits.rs): at most
//!   smtpd_client_connection_count_limit simultaneous connections (421
//!   4.7.0 … too many connections), and per anvil_rate_time_unit at most
//!   smtpd_client_connection_rate_limit connections,
//!   smtpd_client_message_rate_limit MAIL commands (450 4.7.1 … too much
//!   mail), smtpd_client_recipient_rate_limit recipients,
//!   smtpd_client_new_tls_session_rate_limit STARTTLS and
//!   smtpd_client_auth_rate_limit AUTH commands, each logged as Postfix
//!   does; clients in smtpd_client_event_limit_exceptions ($mynetworks) are
//!   not counted. Without an anvil service nothing is limited (one warning).
//!
//! CONFIGURATION PARAMETERS
//!   smtpd_banner, myhostname, mail_name, message_size_limit,
//!   line_length_limit, smtpd_recipient_limit, smtpd_recipient_overshoot_limit
//!   (refused recipients beyond it count as errors), smtpd_timeout, smtpd_delay_reject,
//!   smtpd_tls_received_header, smtpd_sasl_authenticated_header (what
//!   cleanup's Received: header says of TLS and of the login),
//!   smtpd_client_connection_count_limit, smtpd_client_connection_rate_limit,
//!   smtpd_client_message_rate_limit, smtpd_client_recipient_rate_limit,
//!   smtpd_client_new_tls_session_rate_limit, smtpd_client_auth_rate_limit,
//!   smtpd_client_event_limit_exceptions,
//!   smtpd_forbid_bare_newline, smtpd_forbid_bare_newline_exclusions,
//!   smtpd_forbid_bare_newline_reject_code,
//!   content_filter (passed on in the queue file: qmgr sends the message to
//!   that transport first; `-o content_filter=` on a re-injection service),
//!   receive_override_options (no_unknown_recipient_checks: no
//!   reject_unlisted_recipient/_sender here; no_address_mappings,
//!   no_header_body_checks, no_milters: passed to cleanup; an unknown value
//!   stops the service),
//!   smtpd_soft_error_limit, smtpd_hard_error_limit, smtpd_error_sleep_time,
//!   smtpd_junk_command_limit, smtpd_noop_commands (answered 250 Ok, counted as
//!   junk), smtpd_log_access_permit_actions (the built-in permit actions
//!   logged when they decide, or static:all), disable_vrfy_command, smtputf8_enable,
//!   strict_smtputf8 (a UTF-8 address without SMTPUTF8: 553 5.6.7; by
//!   default taken, as Postfix does),
//!   strict_rfc821_envelopes, smtpd_helo_required,
//!   smtpd_delay_open_until_valid_rcpt, smtpd_discard_ehlo_keywords,
//!   smtpd_discard_ehlo_keyword_address_maps,
//!   smtpd_peername_lookup, smtpd_forbid_unauth_pipelining, smtpd_forbidden_commands,
//!   smtpd_upstream_proxy_protocol, smtpd_upstream_proxy_timeout, smtpd_command_filter,
//!   smtpd_per_request_deadline, smtpd_min_data_rate,
//!   smtpd_tls_security_level, smtpd_tls_chain_files (else smtpd_tls_cert_file,
//!   smtpd_tls_key_file and smtpd_tls_eccert_file, smtpd_tls_eckey_file: an
//!   RSA and an ECDSA chain, each client getting the one it can verify),
//!   smtpd_tls_wrappermode, smtpd_tls_protocols, smtpd_tls_mandatory_protocols,
//!   smtpd_tls_ciphers, smtpd_tls_mandatory_ciphers, smtpd_tls_exclude_ciphers,
//!   smtpd_tls_mandatory_exclude_ciphers, tls_high_cipherlist, tls_medium_cipherlist,
//!   tls_low_cipherlist, tls_export_cipherlist, tls_null_cipherlist,
//!   smtpd_tls_eecdh_grade, tls_eecdh_auto_curves, tls_eecdh_strong_curve,
//!   tls_eecdh_ultra_curve,
//!   smtpd_tls_ask_ccert, smtpd_tls_req_ccert, smtpd_tls_CAfile, smtpd_tls_CApath,
//!   smtpd_tls_fingerprint_digest, relay_clientcerts, tls_server_sni_maps,
//!   smtpd_tls_loglevel (1: each session's summary line; 2: the client
//!   certificate too), smtpd_starttls_timeout (the whole handshake),
//!   smtpd_tls_session_cache_timeout (sessions resume with any smtpd
//!   through tickets sealed with keys in data_directory, each sealing for
//!   half the timeout and opening for another half, 120 s to 7 days; 0: no
//!   resumption), tls_session_ticket_cipher (empty: no
//!   tickets; the tickets are AES-256-GCM whatever it names;
//!   smtpd_tls_session_cache_database is not needed for them),
//!   tls_preempt_cipherlist (the server's cipher suite order, not the
//!   client's),
//!   smtpd_sasl_auth_enable, smtpd_sasl_type, smtpd_sasl_path,
//!   smtpd_sasl_service, smtpd_sasl_security_options, smtpd_sasl_mechanism_filter,
//!   smtpd_sasl_tls_security_options, smtpd_sasl_response_limit,
//!   broken_sasl_auth_clients, smtpd_sasl_exceptions_networks,
//!   smtpd_authorized_xforward_hosts, smtpd_authorized_xclient_hosts,
//!   smtpd_authorized_verp_clients (authorized_verp_clients),
//!   debug_peer_list (a client it names has its conversation logged,
//!   `< name[addr]: command` and `> name[addr]: reply`, AUTH masked),
//!   (debug_peer_level is accepted: any level logs the same),
//!   default_verp_delimiters, verp_delimiter_filter,
//!   fast_flush_domains, queue_service_name,
//!   smtpd_sender_login_maps, myorigin,
//!   smtpd_tls_auth_only,
//!   mynetworks, mynetworks_style, mydestination, inet_interfaces,
//!   proxy_interfaces, relay_domains, allow_percent_hack, swap_bangpath,
//!   resolve_dequoted_address (a recipient is judged by where it
//!   resolves: `user%site@ours` is site's), allow_untrusted_routing (no:
//!   a recipient with @, % or ! left in its local part once resolved is
//!   no authorized destination, and matches no OK in a recipient access
//!   table),
//!   virtual_alias_domains,
//!   virtual_mailbox_domains, local_recipient_maps, virtual_alias_maps,
//!   virtual_mailbox_maps, relay_recipient_maps, relocated_maps (550 5.1.6
//!   … User has moved to NEW, with reject_unlisted_recipient), recipient_delimiter,
//!   smtpd_client_restrictions, smtpd_helo_restrictions,
//!   smtpd_sender_restrictions, smtpd_relay_restrictions,
//!   smtpd_recipient_restrictions, smtpd_data_restrictions,
//!   smtpd_end_of_data_restrictions, smtpd_etrn_restrictions,
//!   smtpd_restriction_classes, smtpd_reject_unlisted_recipient,
//!   smtpd_reject_unlisted_sender,
//!   smtpd_null_access_lookup_key, parent_domain_matches_subdomains,
//!   reject_code, defer_code, relay_domains_reject_code,
//!   access_map_reject_code, access_map_defer_code, non_fqdn_reject_code,
//!   invalid_hostname_reject_code, unknown_address_reject_code,
//!   unknown_client_reject_code, unknown_local_recipient_reject_code,
//!   show_user_unknown_table_name, soft_bounce, cleanup_service_name,
//!   notify_classes, error_notice_recipient, double_bounce_sender,
//!   mail_name, smtpd_history_flush_threshold, rbl_reply_maps,
//!   default_rbl_reply, maps_rbl_reject_code, smtpd_expansion_filter,
//!   smtpd_reject_footer, smtpd_reject_footer_maps, smtpd_milters (with
//!   milter_connect_timeout, milter_command_timeout, milter_default_action,
//!   milter_macro_daemon_name and the milter_*_macros; see milters.rs),
//!   dns_resolver_address, smtpd_dns_reply_filter (records a table says to
//!   IGNORE are not seen by the DNS checks), smtpd_policy_service_timeout,
//!   smtpd_policy_service_max_idle, smtpd_policy_service_max_ttl,
//!   smtpd_policy_service_request_limit, smtpd_policy_service_try_limit,
//!   smtpd_policy_service_retry_delay, smtpd_policy_service_default_action,
//!   smtpd_policy_service_policy_context, smtpd_proxy_filter,
//!   smtpd_proxy_ehlo, smtpd_proxy_timeout, smtpd_proxy_options,
//!   local_header_rewrite_clients
//!   (XFORWARD's SOURCE for the filter).
//!
//! FILES
//!   $queue_directory/private/cleanup, the cleanup service;
//!   $queue_directory/private/anvil, the connection and rate counter.
//!   $queue_directory/private/auth (smtpd_sasl_path), the auth service.

mod cleanup;
mod conn;
mod dns;
mod dnsxl;
mod footer;
mod limits;
mod milters;
mod policy_service;
mod proxy;
mod restrictions;
mod service;
mod session;
mod settings;
mod transcript;
mod xclient;
mod xforward;

fn main() {
    server::single_server("smtpd", service::Smtpd::default())
}
