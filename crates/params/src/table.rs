//! Every parameter mailsuite knows, declared once. Defaults are Postfix's
//! (at `compatibility_level = 3.6`) unless the doc says otherwise; Dovecot's
//! names are used for the POP3/IMAP/auth settings.

use crate::registry::Computed;

const MAX: i64 = i64::MAX;

crate::declare! {
    // --- identity --------------------------------------------------------
    MAIL_NAME = string("mail_name", "mailsuite", "The mail system name shown in the SMTP greeting and in DSNs.");
    MAIL_VERSION = computed("mail_version", Computed::MailVersion, "The version of this mail system.");
    MYHOSTNAME = computed("myhostname", Computed::MyHostname, "The internet hostname of this mail system.");
    MYDOMAIN = computed("mydomain", Computed::MyDomain, "The internet domain name of this mail system.");
    MYORIGIN = string("myorigin", "$myhostname", "The domain that locally-posted mail appears to come from.");
    MYDESTINATION = list("mydestination", "$myhostname, localhost.$mydomain, localhost", "The domains this machine delivers locally.");
    COMPATIBILITY_LEVEL = string("compatibility_level", "3.6", "The Postfix compatibility level whose defaults apply (mailsuite: 3.6).");

    // --- network ---------------------------------------------------------
    INET_INTERFACES = list("inet_interfaces", "all", "The local network interface addresses this mail system receives mail on.");
    INET_PROTOCOLS = list("inet_protocols", "all", "The Internet protocols used: ipv4, ipv6 or all.");
    PROXY_INTERFACES = list("proxy_interfaces", "", "The network interface addresses this mail system receives mail on by way of a proxy or network address translation unit.");
    MYNETWORKS_STYLE = string("mynetworks_style", "host", "How mynetworks is computed when it is not set: host, subnet or class.");
    MYNETWORKS = computed("mynetworks", Computed::MyNetworks, "The trusted SMTP clients that may relay mail.").as_list();
    RELAY_DOMAINS = list("relay_domains", "", "The remote domains this system relays mail to.");
    RELAYHOST = string("relayhost", "", "The next-hop destination of non-local mail; overrides non-local domains in recipient addresses.");
    TCP_WINDOWSIZE = int("tcp_windowsize", "0", 0, MAX, "An optional workaround for routers that break TCP window scaling.");
    DNS_RESOLVER_ADDRESS = string("dns_resolver_address", "", "mailsuite extension: host:port of the DNS server to ask instead of the ones in /etc/resolv.conf (empty: use /etc/resolv.conf).");
    DISABLE_DNS_LOOKUPS = boolean("disable_dns_lookups", "no", "Disable DNS lookups in the SMTP and LMTP clients (obsolete: use smtp_dns_support_level).");
    SMTP_DNS_SUPPORT_LEVEL = string("smtp_dns_support_level", "", "The level of DNS support in the SMTP client: disabled, enabled or dnssec.");
    SMTP_HOST_LOOKUP = list("smtp_host_lookup", "dns", "What mechanisms the SMTP client uses to look up a host's IP address: dns and/or native.");
    SMTP_ADDRESS_PREFERENCE = string("smtp_address_preference", "any", "The address type the SMTP client prefers when a destination has IPv4 and IPv6 addresses: ipv6, ipv4 or any.");

    // --- directories and owners ------------------------------------------
    CONFIG_DIRECTORY = string("config_directory", "/etc/mailsuite", "The directory with main.cf and master.cf.");
    QUEUE_DIRECTORY = string("queue_directory", "/var/spool/mailsuite", "The queue directory.");
    DAEMON_DIRECTORY = string("daemon_directory", "/usr/libexec/mailsuite", "The directory with the master and its daemon programs.");
    COMMAND_DIRECTORY = string("command_directory", "/usr/sbin", "The directory with the administrative commands.");
    DATA_DIRECTORY = string("data_directory", "/var/lib/mailsuite", "The directory with data files (caches, random seeds).");
    META_DIRECTORY = string("meta_directory", "/etc/mailsuite", "The directory with the build-time configuration files of mailsuite.");
    SHLIB_DIRECTORY = string("shlib_directory", "no", "The directory with shared libraries (mailsuite has none: no).");
    HTML_DIRECTORY = string("html_directory", "no", "The directory with the HTML documentation, or no.");
    MANPAGE_DIRECTORY = string("manpage_directory", "/usr/share/man", "The directory with the manual pages.");
    README_DIRECTORY = string("readme_directory", "/usr/share/doc/mailsuite", "The directory with the README files.");
    SAMPLE_DIRECTORY = string("sample_directory", "/etc/mailsuite", "The directory with the sample configuration files (obsolete).");
    SENDMAIL_PATH = string("sendmail_path", "/usr/sbin/sendmail", "The full pathname of the sendmail command.");
    NEWALIASES_PATH = string("newaliases_path", "/usr/bin/newaliases", "The full pathname of the newaliases command.");
    MAILQ_PATH = string("mailq_path", "/usr/bin/mailq", "The full pathname of the mailq command.");
    PROCESS_ID_DIRECTORY = string("process_id_directory", "pid", "The directory with the process ID lock files, relative to the queue directory.");
    MAIL_OWNER = string("mail_owner", "postfix", "The account that owns the queue and runs the unprivileged daemons.");
    SETGID_GROUP = string("setgid_group", "postdrop", "The group of the queue submission programs.");
    DEFAULT_PRIVS = string("default_privs", "nobody", "The default rights of the local delivery agent for non-user destinations.");
    ALTERNATE_CONFIG_DIRECTORIES = list("alternate_config_directories", "", "Other configuration directories that may be named with -c or MAIL_CONFIG by unprivileged users.");
    MULTI_INSTANCE_DIRECTORIES = list("multi_instance_directories", "", "The configuration directories of the secondary instances of a multi-instance setup.");
    MULTI_INSTANCE_ENABLE = boolean("multi_instance_enable", "no", "Allow this instance to be started by a multi-instance manager.");
    MULTI_INSTANCE_GROUP = string("multi_instance_group", "", "The optional instance group name of this instance.");
    MULTI_INSTANCE_NAME = string("multi_instance_name", "", "The optional instance name of this instance.");
    MULTI_INSTANCE_WRAPPER = string("multi_instance_wrapper", "", "The pathname of the multi-instance manager command.");
    IMPORT_ENVIRONMENT = list("import_environment", "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME", "The environment variables that a daemon process inherits from its parent.");
    EXPORT_ENVIRONMENT = list("export_environment", "TZ MAIL_CONFIG LANG", "The environment variables that are passed to external commands run by local, pipe and spawn.");

    // --- delivery basics (used by the seeds) -----------------------------
    HOME_MAILBOX = string("home_mailbox", "", "The mailbox pathname relative to a user's home directory (Maildir/ for Maildir).");
    MAIL_SPOOL_DIRECTORY = string("mail_spool_directory", "/var/mail", "The directory with UNIX-style mailboxes.");
    MESSAGE_SIZE_LIMIT = size("message_size_limit", "10240000", 0, MAX, "The maximal size in bytes of a message, including envelope information.");
    MAILBOX_SIZE_LIMIT = size("mailbox_size_limit", "51200000", 0, MAX, "The maximal size of any local mailbox or maildir file, or zero for no limit.");
    SMTPD_BANNER = string("smtpd_banner", "$myhostname ESMTP $mail_name", "The text after the 220 status code in the SMTP greeting.");
    ALIAS_MAPS = list("alias_maps", "hash:/etc/aliases", "The alias databases used for local delivery.");
    ALIAS_DATABASE = list("alias_database", "hash:/etc/aliases", "The alias databases built by newaliases.");
    MASQUERADE_EXCEPTIONS = list("masquerade_exceptions", "", "User names that are not subjected to address masquerading.");
    MASQUERADE_DOMAINS = list("masquerade_domains", "", "Domains whose subdomains are stripped from addresses (address masquerading).");
    MASQUERADE_CLASSES = list("masquerade_classes", "envelope_sender, header_sender, header_recipient", "The address classes subject to masquerading: envelope_sender, envelope_recipient, header_sender, header_recipient.");

    // --- master and the process pools ------------------------------------
    DEFAULT_PROCESS_LIMIT = int("default_process_limit", "100", 1, MAX, "The default maximal number of processes per service (master.cf maxproc '-').");
    MAX_IDLE = time("max_idle", "100s", 's', 1, MAX, "How long an idle daemon waits for the next client before it exits.");
    MAX_USE = int("max_use", "100", 1, MAX, "How many clients a daemon serves before it exits.");
    SERVICE_THROTTLE_TIME = time("service_throttle_time", "60s", 's', 1, MAX, "How long the master waits before starting a service whose daemon failed at start.");
    IPC_TIMEOUT = time("ipc_timeout", "3600s", 's', 1, MAX, "The time limit for sending or receiving information over an internal channel.");
    IPC_IDLE = time("ipc_idle", "5s", 's', 1, MAX, "How long an idle internal client stays connected to a server before it disconnects.");
    IPC_TTL = time("ipc_ttl", "1000s", 's', 1, MAX, "How long an internal client may stay connected to a server before it disconnects.");
    DAEMON_TIMEOUT = time("daemon_timeout", "18000s", 's', 1, MAX, "How much time a daemon may take to handle a request before it is terminated.");
    MASTER_STOP_TIMEOUT = time("master_stop_timeout", "5s", 's', 0, MAX, "mailsuite extension: how long the master waits for its workers to exit on stop before killing them.");
    APPLICATION_EVENT_DRAIN_TIME = time("application_event_drain_time", "100s", 's', 1, MAX, "How long mailsuite commands wait for the last event to be delivered before they exit.");
    TRIGGER_TIMEOUT = time("trigger_timeout", "10s", 's', 1, MAX, "The time limit for sending a trigger to a daemon.");
    FORK_ATTEMPTS = int("fork_attempts", "5", 1, MAX, "The number of attempts to fork() a process before giving up.");
    FORK_DELAY = time("fork_delay", "1s", 's', 1, MAX, "The delay between attempts to fork() a process.");
    STALE_LOCK_TIME = time("stale_lock_time", "500s", 's', 1, MAX, "The time after which a stale exclusive mailbox lock file is removed.");
    DELIVER_LOCK_ATTEMPTS = int("deliver_lock_attempts", "20", 1, MAX, "The maximal number of attempts to acquire an exclusive lock on a mailbox or queue file.");
    DELIVER_LOCK_DELAY = time("deliver_lock_delay", "1s", 's', 1, MAX, "The time between attempts to acquire an exclusive lock on a mailbox or queue file.");
    DONT_REMOVE = int("dont_remove", "0", 0, MAX, "Do not remove queue files (debugging aid; 0 means remove as usual).");
    IN_FLOW_DELAY = time("in_flow_delay", "1s", 's', 0, 10, "The time a queue submission waits for a token when mail arrives faster than it is delivered.");

    // --- logging ---------------------------------------------------------
    SYSLOG_NAME = string("syslog_name", "mailsuite", "The name that starts each log line's program field (mailsuite/smtpd).");
    SYSLOG_FACILITY = string("syslog_facility", "mail", "The syslog facility of mailsuite logging.");
    MAILLOG_FILE = string("maillog_file", "", "Append log lines to this file instead of sending them to syslog.");
    MAILLOG_FILE_PREFIXES = list("maillog_file_prefixes", "/var, /dev/stdout", "Pathname prefixes that maillog_file may start with.");
    MAILLOG_FILE_COMPRESSOR = string("maillog_file_compressor", "gzip", "The program that compresses a rotated maillog_file.");
    MAILLOG_FILE_ROTATE_SUFFIX = string("maillog_file_rotate_suffix", "%Y%m%d-%H%M%S", "The strftime() format of the suffix added to a rotated maillog_file.");
    POSTLOG_SERVICE_NAME = string("postlog_service_name", "postlog", "The name of the service that receives log lines when maillog_file is set.");
    POSTLOGD_WATCHDOG_TIMEOUT = time("postlogd_watchdog_timeout", "10s", 's', 10, MAX, "How long the log service may take to handle a request.");
    DEBUG_PEER_LEVEL = int("debug_peer_level", "2", 1, MAX, "The increase in verbose logging level when a remote client or server matches debug_peer_list.");
    DEBUG_PEER_LIST = list("debug_peer_list", "", "Remote client or server names or addresses that raise the verbose logging level by debug_peer_level.");
    DEBUGGER_COMMAND = string("debugger_command", "", "The external command to run when a daemon is started with the -D option.");
    DELAY_LOGGING_RESOLUTION_LIMIT = int("delay_logging_resolution_limit", "2", 0, 6, "The maximal number of digits after the decimal point in delay= logging.");
    RESPECTFUL_LOGGING = boolean("respectful_logging", "yes", "Avoid logging that implies a user is a master or slave.");
    INFO_LOG_ADDRESS_FORMAT = string("info_log_address_format", "external", "The form of addresses in informational logging: internal or external.");
    SHOW_USER_UNKNOWN_TABLE_NAME = boolean("show_user_unknown_table_name", "yes", "Name the recipient table in \"User unknown\" replies.");
    SMTPD_CLIENT_PORT_LOGGING = boolean("smtpd_client_port_logging", "no", "Log the remote SMTP client port with its address.");
    SMTPD_LOG_ACCESS_PERMIT_ACTIONS = list("smtpd_log_access_permit_actions", "", "Access actions that are logged when they permit a request (e.g. static:all).");

    // --- queue and cleanup -----------------------------------------------
    HASH_QUEUE_NAMES = list("hash_queue_names", "deferred, defer", "The queue directories whose files are spread over subdirectories.");
    HASH_QUEUE_DEPTH = int("hash_queue_depth", "1", 1, MAX, "The number of subdirectory levels below the hashed queue directories.");
    ENABLE_LONG_QUEUE_IDS = boolean("enable_long_queue_ids", "yes", "Use long, non-repeating queue IDs (mailsuite always does: yes).");
    QUEUE_MINFREE = size("queue_minfree", "0", 0, MAX, "The minimal free space in bytes in the queue file system needed to receive mail.");
    QUEUE_FILE_ATTRIBUTE_COUNT_LIMIT = int("queue_file_attribute_count_limit", "100", 1, MAX, "The maximal number of named attributes in a queue file.");
    HEADER_SIZE_LIMIT = int("header_size_limit", "102400", 1, MAX, "The maximal amount of memory in bytes for storing a message header.");
    HEADER_ADDRESS_TOKEN_LIMIT = int("header_address_token_limit", "10240", 1, MAX, "The maximal number of address tokens allowed in an address message header.");
    HOPCOUNT_LIMIT = int("hopcount_limit", "50", 1, MAX, "The maximal number of Received: message headers allowed in the primary message headers.");
    LINE_LENGTH_LIMIT = int("line_length_limit", "2048", 512, MAX, "Longer input lines are split into pieces of at most this length and rebuilt on delivery.");
    DUPLICATE_FILTER_LIMIT = int("duplicate_filter_limit", "1000", 0, MAX, "The maximal number of addresses remembered by the address duplicate filter.");
    MIME_NESTING_LIMIT = int("mime_nesting_limit", "100", 1, MAX, "The maximal recursion level while processing MIME-encapsulated messages.");
    MIME_BOUNDARY_LENGTH_LIMIT = int("mime_boundary_length_limit", "2048", 1, MAX, "The maximal length of MIME multipart boundary strings.");
    HEADER_CHECKS = list("header_checks", "", "Lookup tables that match the primary message headers.");
    MIME_HEADER_CHECKS = list("mime_header_checks", "$header_checks", "Lookup tables that match MIME headers.");
    NESTED_HEADER_CHECKS = list("nested_header_checks", "$header_checks", "Lookup tables that match the headers of attached messages.");
    BODY_CHECKS = list("body_checks", "", "Lookup tables that match message body lines.");
    BODY_CHECKS_SIZE_LIMIT = int("body_checks_size_limit", "51200", 0, MAX, "How much text in a message body segment is subjected to body_checks.");
    HEADER_FROM_FORMAT = string("header_from_format", "standard", "The format of the From: header that is added when a message has none: standard or obsolete.");
    ALWAYS_BCC = string("always_bcc", "", "The address that gets a blind carbon copy of every message received.");
    SENDER_BCC_MAPS = list("sender_bcc_maps", "", "Lookup tables by sender address that give a BCC address.");
    RECIPIENT_BCC_MAPS = list("recipient_bcc_maps", "", "Lookup tables by recipient address that give a BCC address.");
    ALWAYS_ADD_MISSING_HEADERS = boolean("always_add_missing_headers", "no", "Always add missing (Resent-) From:, To:, Date: or Message-ID: headers.");
    CANONICAL_MAPS = list("canonical_maps", "", "Address mapping lookup tables for message headers and envelopes.");
    SENDER_CANONICAL_MAPS = list("sender_canonical_maps", "", "Address mapping lookup tables for envelope and header sender addresses.");
    RECIPIENT_CANONICAL_MAPS = list("recipient_canonical_maps", "", "Address mapping lookup tables for envelope and header recipient addresses.");
    CANONICAL_CLASSES = list("canonical_classes", "envelope_sender, envelope_recipient, header_sender, header_recipient", "The address classes subject to canonical_maps.");
    SENDER_CANONICAL_CLASSES = list("sender_canonical_classes", "envelope_sender, header_sender", "The address classes subject to sender_canonical_maps.");
    RECIPIENT_CANONICAL_CLASSES = list("recipient_canonical_classes", "envelope_recipient, header_recipient", "The address classes subject to recipient_canonical_maps.");
    VIRTUAL_ALIAS_MAPS = list("virtual_alias_maps", "$virtual_maps", "Lookup tables that alias specific mail addresses or domains to other local or remote addresses.");
    VIRTUAL_ALIAS_DOMAINS = list("virtual_alias_domains", "$virtual_alias_maps", "The domains for which every address is aliased to an address in another domain.");
    VIRTUAL_ALIAS_EXPANSION_LIMIT = int("virtual_alias_expansion_limit", "1000", 1, MAX, "The maximal number of addresses a virtual alias expansion may produce from one original recipient.");
    VIRTUAL_ALIAS_RECURSION_LIMIT = int("virtual_alias_recursion_limit", "1000", 1, MAX, "The maximal nesting depth of virtual alias expansion.");
    VIRTUAL_ALIAS_ADDRESS_LENGTH_LIMIT = int("virtual_alias_address_length_limit", "1000", 1, MAX, "The maximal length of an email address after virtual alias expansion.");
    APPEND_DOT_MYDOMAIN = boolean("append_dot_mydomain", "no", "Append .$mydomain to host.name addresses without a domain part (no at level 3.6).");
    APPEND_AT_MYORIGIN = boolean("append_at_myorigin", "yes", "Append @$myorigin to addresses without a domain part.");
    ALLOW_PERCENT_HACK = boolean("allow_percent_hack", "yes", "Rewrite user%domain into user@domain.");
    SWAP_BANGPATH = boolean("swap_bangpath", "yes", "Rewrite site!user into user@site.");
    RESOLVE_DEQUOTED_ADDRESS = boolean("resolve_dequoted_address", "yes", "Resolve a recipient address safely instead of correctly.");
    RESOLVE_NULL_DOMAIN = boolean("resolve_null_domain", "no", "Resolve an address ending in @ as if the local hostname were given instead of rejecting it.");
    RESOLVE_NUMERIC_DOMAIN = boolean("resolve_numeric_domain", "no", "Resolve user@ipaddress as user@[ipaddress].");
    EMPTY_ADDRESS_RECIPIENT = string("empty_address_recipient", "MAILER-DAEMON", "The recipient of mail addressed to the null address.");
    REMOTE_HEADER_REWRITE_DOMAIN = string("remote_header_rewrite_domain", "", "The domain added to incomplete header addresses in mail from remote clients.");
    LOCAL_HEADER_REWRITE_CLIENTS = list("local_header_rewrite_clients", "permit_inet_interfaces", "Clients whose message header addresses are rewritten as local ones.");
    MESSAGE_STRIP_CHARACTERS = string("message_strip_characters", "", "The characters removed from message content.");
    MESSAGE_REJECT_CHARACTERS = string("message_reject_characters", "", "The characters that cause a message to be rejected.");
    PROPAGATE_UNMATCHED_EXTENSIONS = list("propagate_unmatched_extensions", "canonical, virtual", "What address lookup tables copy an address extension from the lookup key to the result.");
    RECIPIENT_DELIMITER = string("recipient_delimiter", "", "The characters that separate a user name from an address extension (user+foo).");
    STRICT_8BITMIME = boolean("strict_8bitmime", "no", "Enable both strict_7bit_headers and strict_8bitmime_body.");
    STRICT_7BIT_HEADERS = boolean("strict_7bit_headers", "no", "Reject mail with 8-bit text in message headers.");
    STRICT_8BITMIME_BODY = boolean("strict_8bitmime_body", "no", "Reject 8-bit message bodies that are not declared 8BITMIME.");
    STRICT_MIME_ENCODING_DOMAIN = boolean("strict_mime_encoding_domain", "no", "Reject mail with invalid Content-Transfer-Encoding: information.");
    DISABLE_MIME_INPUT_PROCESSING = boolean("disable_mime_input_processing", "no", "Turn off MIME processing while receiving mail.");
    DISABLE_MIME_OUTPUT_CONVERSION = boolean("disable_mime_output_conversion", "no", "Disable the conversion of 8BITMIME format to 7BIT format.");
    RECEIVE_OVERRIDE_OPTIONS = list("receive_override_options", "", "Enable or disable recipient validation, built-in content filtering, or address mapping.");
    CONTENT_FILTER = string("content_filter", "", "After the message is queued, send it to this transport:destination.");
    INTERNAL_MAIL_FILTER_CLASSES = list("internal_mail_filter_classes", "", "What categories of mail the system itself generates that are passed to content filters and milters.");
    CLEANUP_SERVICE_NAME = string("cleanup_service_name", "cleanup", "The name of the cleanup service.");
    PICKUP_SERVICE_NAME = string("pickup_service_name", "pickup", "The name of the pickup service.");
    QUEUE_SERVICE_NAME = string("queue_service_name", "qmgr", "The name of the queue manager service.");
    REWRITE_SERVICE_NAME = string("rewrite_service_name", "rewrite", "The name of the address rewriting service.");
    BOUNCE_SERVICE_NAME = string("bounce_service_name", "bounce", "The name of the bounce service.");
    DEFER_SERVICE_NAME = string("defer_service_name", "defer", "The name of the defer service.");
    TRACE_SERVICE_NAME = string("trace_service_name", "trace", "The name of the trace service.");
    ERROR_SERVICE_NAME = string("error_service_name", "error", "The name of the error service.");
    FLUSH_SERVICE_NAME = string("flush_service_name", "flush", "The name of the fast flush service.");
    SHOWQ_SERVICE_NAME = string("showq_service_name", "showq", "The name of the showq service.");
    ADDRESS_VERIFY_SERVICE_NAME = string("address_verify_service_name", "verify", "The name of the address verification service.");
    PROXYMAP_SERVICE_NAME = string("proxymap_service_name", "proxymap", "The name of the proxymap read-only table service.");
    PROXYWRITE_SERVICE_NAME = string("proxywrite_service_name", "proxywrite", "The name of the proxywrite read-write table service.");

    // --- queue manager ---------------------------------------------------
    QUEUE_RUN_DELAY = time("queue_run_delay", "300s", 's', 1, MAX, "The time between deferred queue scans by the queue manager.");
    MINIMAL_BACKOFF_TIME = time("minimal_backoff_time", "300s", 's', 1, MAX, "The minimal time between attempts to deliver a deferred message.");
    MAXIMAL_BACKOFF_TIME = time("maximal_backoff_time", "4000s", 's', 1, MAX, "The maximal time between attempts to deliver a deferred message.");
    MAXIMAL_QUEUE_LIFETIME = time("maximal_queue_lifetime", "5d", 'd', 0, 8640000, "How long a message stays queued before it is sent back as undeliverable.");
    BOUNCE_QUEUE_LIFETIME = time("bounce_queue_lifetime", "5d", 'd', 0, 8640000, "How long a bounce message stays queued before it is considered undeliverable.");
    DELAY_WARNING_TIME = time("delay_warning_time", "0h", 'h', 0, MAX, "How long a message is delayed before a delay warning is sent to the sender (0: none).");
    TRANSPORT_RETRY_TIME = time("transport_retry_time", "60s", 's', 1, MAX, "The time between attempts to contact a broken delivery transport.");
    QMGR_MESSAGE_ACTIVE_LIMIT = int("qmgr_message_active_limit", "20000", 1, MAX, "The maximal number of messages in the active queue.");
    QMGR_MESSAGE_RECIPIENT_LIMIT = int("qmgr_message_recipient_limit", "20000", 1, MAX, "The maximal number of recipients held in memory by the queue manager.");
    QMGR_MESSAGE_RECIPIENT_MINIMUM = int("qmgr_message_recipient_minimum", "10", 1, MAX, "The minimal number of in-memory recipients for any message.");
    QMGR_CLOG_WARN_TIME = time("qmgr_clog_warn_time", "300s", 's', 0, MAX, "The minimal delay between warnings that a delivery agent is stuck.");
    QMGR_DAEMON_TIMEOUT = time("qmgr_daemon_timeout", "1000s", 's', 1, MAX, "How much time the queue manager may take to handle a request.");
    QMGR_IPC_TIMEOUT = time("qmgr_ipc_timeout", "60s", 's', 1, MAX, "The time limit for the queue manager to send or receive information over an internal channel.");
    QMGR_FUDGE_FACTOR = int("qmgr_fudge_factor", "100", 10, 100, "Obsolete queue manager setting, kept for compatibility.");
    DEFAULT_DESTINATION_CONCURRENCY_LIMIT = int("default_destination_concurrency_limit", "20", 0, MAX, "The default maximal number of parallel deliveries to the same destination.");
    INITIAL_DESTINATION_CONCURRENCY = int("initial_destination_concurrency", "5", 1, MAX, "The initial per-destination concurrency level for parallel delivery.");
    DEFAULT_DESTINATION_CONCURRENCY_FAILED_COHORT_LIMIT = int("default_destination_concurrency_failed_cohort_limit", "1", 0, MAX, "How many pseudo-cohorts must suffer connection or handshake failure before a destination is marked dead.");
    DEFAULT_DESTINATION_CONCURRENCY_NEGATIVE_FEEDBACK = string("default_destination_concurrency_negative_feedback", "1", "The per-destination amount of delivery concurrency negative feedback after a delivery fails.");
    DEFAULT_DESTINATION_CONCURRENCY_POSITIVE_FEEDBACK = string("default_destination_concurrency_positive_feedback", "1", "The per-destination amount of delivery concurrency positive feedback after a delivery succeeds.");
    DEFAULT_DESTINATION_RECIPIENT_LIMIT = int("default_destination_recipient_limit", "50", 0, MAX, "The default maximal number of recipients per message delivery.");
    DEFAULT_DESTINATION_RATE_DELAY = time("default_destination_rate_delay", "0s", 's', 0, MAX, "The default time between deliveries to the same destination.");
    DEFAULT_TRANSPORT_RATE_DELAY = time("default_transport_rate_delay", "0s", 's', 0, MAX, "The default time between deliveries through the same transport.");
    DEFAULT_RECIPIENT_LIMIT = int("default_recipient_limit", "20000", 1, MAX, "The default per-transport upper limit on the number of in-memory recipients.");
    DEFAULT_EXTRA_RECIPIENT_LIMIT = int("default_extra_recipient_limit", "1000", 0, MAX, "The default value of the extra per-transport recipient limit.");
    DEFAULT_RECIPIENT_REFILL_LIMIT = int("default_recipient_refill_limit", "100", 1, MAX, "The default per-transport limit on the number of recipients refilled at once.");
    DEFAULT_RECIPIENT_REFILL_DELAY = time("default_recipient_refill_delay", "5s", 's', 1, MAX, "The default per-transport time after which another batch of recipients is refilled.");
    DEFAULT_DELIVERY_SLOT_COST = int("default_delivery_slot_cost", "5", 0, MAX, "How often the queue manager may preempt a message when it has a delivery slot.");
    DEFAULT_DELIVERY_SLOT_DISCOUNT = int("default_delivery_slot_discount", "50", 0, 100, "The default percentage of unused delivery slots a preempted message may use.");
    DEFAULT_DELIVERY_SLOT_LOAN = int("default_delivery_slot_loan", "3", 0, MAX, "The default number of slots a message gets on loan before preemption.");
    DEFAULT_MINIMUM_DELIVERY_SLOTS = int("default_minimum_delivery_slots", "3", 0, MAX, "How many recipients a message must have before preemption applies to it.");
    LOCAL_DESTINATION_CONCURRENCY_LIMIT = int("local_destination_concurrency_limit", "2", 0, MAX, "The maximal number of parallel deliveries through the local transport to the same recipient.");
    LOCAL_DESTINATION_RECIPIENT_LIMIT = int("local_destination_recipient_limit", "1", 0, MAX, "The maximal number of recipients per message delivery through the local transport.");
    DEFAULT_TRANSPORT = string("default_transport", "smtp", "The default transport for destinations that are not local, virtual, or relay.");
    RELAY_TRANSPORT = string("relay_transport", "relay", "The default transport for mail to relay_domains.");
    LOCAL_TRANSPORT = string("local_transport", "local:$myhostname", "The default transport for mail to mydestination and the local interface addresses.");
    VIRTUAL_TRANSPORT = string("virtual_transport", "virtual", "The default transport for mail to virtual_mailbox_domains.");
    TRANSPORT_MAPS = list("transport_maps", "", "Lookup tables that map recipient addresses or domains to transport:nexthop.");
    SENDER_DEPENDENT_RELAYHOST_MAPS = list("sender_dependent_relayhost_maps", "", "Lookup tables by sender address that override relayhost.");
    EMPTY_ADDRESS_RELAYHOST_MAPS_LOOKUP_KEY = string("empty_address_relayhost_maps_lookup_key", "<>", "The sender_dependent_relayhost_maps key for the null sender.");
    EMPTY_ADDRESS_DEFAULT_TRANSPORT_MAPS_LOOKUP_KEY = string("empty_address_default_transport_maps_lookup_key", "<>", "The sender_dependent_default_transport_maps key for the null sender.");
    SENDER_DEPENDENT_DEFAULT_TRANSPORT_MAPS = list("sender_dependent_default_transport_maps", "", "Lookup tables by sender address that override default_transport.");
    DEFER_TRANSPORTS = list("defer_transports", "", "The transports whose mail is held until the queue is flushed or the setting is removed.");
    NOTIFY_CLASSES = list("notify_classes", "resource, software", "The error classes that are reported to the postmaster.");
    BOUNCE_NOTICE_RECIPIENT = string("bounce_notice_recipient", "postmaster", "The recipient of postmaster notices about bounced mail.");
    DOUBLE_BOUNCE_NOTICE_RECIPIENT = string("2bounce_notice_recipient", "postmaster", "The recipient of undeliverable mail that cannot be returned to the sender.");
    DELAY_NOTICE_RECIPIENT = string("delay_notice_recipient", "postmaster", "The recipient of postmaster notices about delayed mail.");
    ERROR_NOTICE_RECIPIENT = string("error_notice_recipient", "postmaster", "The recipient of postmaster notices about policy, resource, software or protocol errors.");
    DOUBLE_BOUNCE_SENDER = string("double_bounce_sender", "double-bounce", "The sender address of postmaster notices generated by the mail system.");
    BOUNCE_SIZE_LIMIT = int("bounce_size_limit", "50000", 1, MAX, "The maximal amount of original message text in bytes sent in a non-delivery notice.");
    BOUNCE_TEMPLATE_FILE = string("bounce_template_file", "", "The file with the texts of delivery status notifications.");
    BACKWARDS_BOUNCE_LOGFILE_COMPATIBILITY = boolean("backwards_bounce_logfile_compatibility", "yes", "Produce bounce log files that older versions can read.");
    CONFIRM_DELAY_CLEARED = boolean("confirm_delay_cleared", "no", "Send a notice to the sender when a delayed message finally leaves the queue.");
    ENABLE_ORIGINAL_RECIPIENT = boolean("enable_original_recipient", "yes", "Keep the original recipient address in X-Original-To: and DSNs.");
    ADDRESS_VERIFY_MAP = string("address_verify_map", "btree:$data_directory/verify_cache", "The lookup table with cached address verification results.");
    FAST_FLUSH_DOMAINS = list("fast_flush_domains", "$relay_domains", "The destinations whose mail may be sent on request with ETRN or sendmail -qR.");
    FAST_FLUSH_REFRESH_TIME = time("fast_flush_refresh_time", "12h", 'h', 1, MAX, "The time after which a non-empty but unread per-destination flush log is refreshed.");
    FAST_FLUSH_PURGE_TIME = time("fast_flush_purge_time", "7d", 'd', 1, MAX, "The time after which an empty per-destination flush log is deleted.");
    SOFT_BOUNCE = boolean("soft_bounce", "no", "Keep mail queued that would otherwise be returned to the sender (deliveries defer instead).");

    // --- local delivery --------------------------------------------------
    LOCAL_RECIPIENT_MAPS = list("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", "Lookup tables with all names or addresses of local recipients.");
    UNKNOWN_LOCAL_RECIPIENT_REJECT_CODE = int("unknown_local_recipient_reject_code", "550", 0, MAX, "The SMTP reply code when a local recipient is not in local_recipient_maps.");
    MAILBOX_COMMAND = raw("mailbox_command", "", "The command the local delivery agent runs to deliver mail to a user's mailbox.");
    MAILBOX_COMMAND_MAPS = list("mailbox_command_maps", "", "Lookup tables by user name with per-user mailbox_command values.");
    MAILBOX_TRANSPORT = string("mailbox_transport", "", "The transport:nexthop that delivers to mailboxes instead of the local delivery agent.");
    MAILBOX_TRANSPORT_MAPS = list("mailbox_transport_maps", "", "Lookup tables by user name with per-user mailbox_transport values.");
    FALLBACK_TRANSPORT = string("fallback_transport", "", "The transport:nexthop for recipients that are not found in the UNIX passwd database.");
    FALLBACK_TRANSPORT_MAPS = list("fallback_transport_maps", "", "Lookup tables by recipient with per-recipient fallback_transport values.");
    LUSER_RELAY = raw("luser_relay", "", "The destination of mail for unknown local recipients (e.g. $user@other.host).");
    FORWARD_PATH = raw("forward_path", "$home/.forward${recipient_delimiter}${extension}, $home/.forward", "The list of .forward files the local delivery agent tries, expanded per recipient.");
    ALLOW_MAIL_TO_COMMANDS = list("allow_mail_to_commands", "alias, forward", "Which kinds of local delivery may run commands: alias, forward, include.");
    ALLOW_MAIL_TO_FILES = list("allow_mail_to_files", "alias, forward", "Which kinds of local delivery may write to files: alias, forward, include.");
    LOCAL_COMMAND_SHELL = string("local_command_shell", "", "The shell used for delivery to a command (empty: /bin/sh, or direct execution without meta characters).");
    COMMAND_EXPANSION_FILTER = string("command_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "The characters allowed in $name expansions of mailbox_command and command deliveries.");
    FORWARD_EXPANSION_FILTER = string("forward_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "The characters allowed in $name expansions of forward_path.");
    EXECUTION_DIRECTORY_EXPANSION_FILTER = string("execution_directory_expansion_filter", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "The characters allowed in $name expansions of command_execution_directory.");
    COMMAND_EXECUTION_DIRECTORY = string("command_execution_directory", "", "The working directory of commands run by the local delivery agent.");
    COMMAND_TIME_LIMIT = time("command_time_limit", "1000s", 's', 1, MAX, "The time limit for delivery to an external command.");
    PREPEND_DELIVERED_HEADER = list("prepend_delivered_header", "command, file, forward", "The delivery kinds that get a Delivered-To: header: command, file, forward.");
    MAILBOX_DELIVERY_LOCK = list("mailbox_delivery_lock", "fcntl, dotlock", "How to lock a UNIX-style mailbox: fcntl, flock and/or dotlock.");
    OWNER_REQUEST_SPECIAL = boolean("owner_request_special", "yes", "Treat owner-listname and listname-request addresses specially.");
    EXPAND_OWNER_ALIAS = boolean("expand_owner_alias", "no", "Use the owner-alias for delivery errors when an alias has an owner.");
    BIFF = boolean("biff", "yes", "Notify the local biff service of new mail.");
    LOCAL_DELIVERY_STATUS_FILTER = list("local_delivery_status_filter", "$default_delivery_status_filter", "Lookup tables that replace local delivery status codes or texts.");
    REQUIRE_HOME_DIRECTORY = boolean("require_home_directory", "no", "Require a recipient's home directory to exist before delivery to a mailbox under it.");
    STRICT_MAILBOX_OWNERSHIP = boolean("strict_mailbox_ownership", "yes", "Defer delivery when a mailbox file is not owned by its recipient.");
    SUN_MAILTOOL_COMPATIBILITY = boolean("sun_mailtool_compatibility", "no", "Obsolete setting that disabled mailbox file locking.");

    // --- virtual delivery ------------------------------------------------
    VIRTUAL_MAILBOX_DOMAINS = list("virtual_mailbox_domains", "$virtual_mailbox_maps", "The domains whose mail is delivered by virtual_transport.");
    VIRTUAL_MAILBOX_MAPS = list("virtual_mailbox_maps", "", "Lookup tables with the valid addresses of virtual_mailbox_domains and their mailbox paths.");
    VIRTUAL_MAILBOX_BASE = string("virtual_mailbox_base", "", "A prefix prepended to every mailbox path found in virtual_mailbox_maps.");
    VIRTUAL_UID_MAPS = list("virtual_uid_maps", "", "Lookup tables by recipient with the user ID that owns the mailbox.");
    VIRTUAL_GID_MAPS = list("virtual_gid_maps", "", "Lookup tables by recipient with the group ID that owns the mailbox.");
    VIRTUAL_MINIMUM_UID = int("virtual_minimum_uid", "100", 1, MAX, "The minimal user ID that virtual_uid_maps may return.");
    VIRTUAL_MAILBOX_LIMIT = size("virtual_mailbox_limit", "51200000", 0, MAX, "The maximal size in bytes of a virtual mailbox or maildir file, or zero for no limit.");
    VIRTUAL_MAILBOX_LOCK = list("virtual_mailbox_lock", "fcntl, dotlock", "How to lock a virtual UNIX-style mailbox: fcntl, flock and/or dotlock.");
    VIRTUAL_MAPS = list("virtual_maps", "", "Obsolete name of virtual_alias_maps.");
    UNKNOWN_VIRTUAL_ALIAS_REJECT_CODE = int("unknown_virtual_alias_reject_code", "550", 0, MAX, "The SMTP reply code when a recipient of virtual_alias_domains is not in virtual_alias_maps.");
    UNKNOWN_VIRTUAL_MAILBOX_REJECT_CODE = int("unknown_virtual_mailbox_reject_code", "550", 0, MAX, "The SMTP reply code when a recipient of virtual_mailbox_domains is not in virtual_mailbox_maps.");
    RELAY_RECIPIENT_MAPS = list("relay_recipient_maps", "", "Lookup tables with all valid addresses in relay_domains.");
    UNKNOWN_RELAY_RECIPIENT_REJECT_CODE = int("unknown_relay_recipient_reject_code", "550", 0, MAX, "The SMTP reply code when a recipient of relay_domains is not in relay_recipient_maps.");
    RELOCATED_MAPS = list("relocated_maps", "", "Lookup tables with contact information for users, hosts or domains that no longer exist.");

    // --- SMTP server: limits and behaviour -------------------------------
    SMTPD_TIMEOUT = time("smtpd_timeout", "${stress?{10}:{300}}s", 's', 1, MAX, "The time limit for sending an SMTP server reply or receiving a client request.");
    SMTPD_ERROR_SLEEP_TIME = time("smtpd_error_sleep_time", "1s", 's', 0, MAX, "The reply delay after a client has made more than smtpd_soft_error_limit errors.");
    SMTPD_SOFT_ERROR_LIMIT = int("smtpd_soft_error_limit", "10", 1, MAX, "The number of errors a client may make without delivering mail before replies slow down.");
    SMTPD_HARD_ERROR_LIMIT = int("smtpd_hard_error_limit", "${stress?{1}:{20}}", 1, MAX, "The maximal number of errors a client may make without delivering mail.");
    SMTPD_JUNK_COMMAND_LIMIT = int("smtpd_junk_command_limit", "${stress?{1}:{100}}", 1, MAX, "The number of NOOP, VRFY, ETRN or RSET commands a client may send before each counts as an error.");
    SMTPD_RECIPIENT_LIMIT = int("smtpd_recipient_limit", "1000", 1, MAX, "The maximal number of recipients accepted per message.");
    SMTPD_RECIPIENT_OVERSHOOT_LIMIT = int("smtpd_recipient_overshoot_limit", "1000", 1, MAX, "The number of recipients beyond smtpd_recipient_limit before each counts as an error.");
    SMTPD_HISTORY_FLUSH_THRESHOLD = int("smtpd_history_flush_threshold", "100", 1, MAX, "The maximal number of lines of command history kept before it is flushed.");
    SMTPD_CLIENT_CONNECTION_COUNT_LIMIT = int("smtpd_client_connection_count_limit", "50", 0, MAX, "How many simultaneous connections any client may make to this service.");
    SMTPD_CLIENT_CONNECTION_RATE_LIMIT = int("smtpd_client_connection_rate_limit", "0", 0, MAX, "How many connection attempts any client may make per anvil_rate_time_unit.");
    SMTPD_CLIENT_MESSAGE_RATE_LIMIT = int("smtpd_client_message_rate_limit", "0", 0, MAX, "How many message delivery requests any client may make per anvil_rate_time_unit.");
    SMTPD_CLIENT_RECIPIENT_RATE_LIMIT = int("smtpd_client_recipient_rate_limit", "0", 0, MAX, "How many recipient addresses any client may send per anvil_rate_time_unit.");
    SMTPD_CLIENT_NEW_TLS_SESSION_RATE_LIMIT = int("smtpd_client_new_tls_session_rate_limit", "0", 0, MAX, "How many new TLS sessions any client may negotiate per anvil_rate_time_unit.");
    SMTPD_CLIENT_AUTH_RATE_LIMIT = int("smtpd_client_auth_rate_limit", "0", 0, MAX, "How many AUTH requests any client may send per anvil_rate_time_unit.");
    SMTPD_CLIENT_EVENT_LIMIT_EXCEPTIONS = list("smtpd_client_event_limit_exceptions", "${smtpd_client_connection_limit_exceptions:$mynetworks}", "Clients that are excluded from the smtpd_client_*_count/rate_limit restrictions.");
    ANVIL_RATE_TIME_UNIT = time("anvil_rate_time_unit", "60s", 's', 1, MAX, "The time unit over which client connection and request rates are computed.");
    ANVIL_STATUS_UPDATE_TIME = time("anvil_status_update_time", "600s", 's', 1, MAX, "How often the connection and rate limit service logs peak usage.");
    DISABLE_VRFY_COMMAND = boolean("disable_vrfy_command", "no", "Disable the SMTP VRFY command.");
    SMTPD_HELO_REQUIRED = boolean("smtpd_helo_required", "no", "Require that a client sends HELO or EHLO before MAIL FROM.");
    STRICT_RFC821_ENVELOPES = boolean("strict_rfc821_envelopes", "no", "Require MAIL FROM and RCPT TO addresses in <> without RFC 822 comments or phrases.");
    ALLOW_UNTRUSTED_ROUTING = boolean("allow_untrusted_routing", "no", "Forward mail with sender-specified routing (user[@%!]remote[@%!]site) from untrusted clients.");
    SMTPD_DELAY_REJECT = boolean("smtpd_delay_reject", "yes", "Wait until RCPT TO before evaluating client, HELO and sender restrictions.");
    SMTPD_DELAY_OPEN_UNTIL_VALID_RCPT = boolean("smtpd_delay_open_until_valid_rcpt", "yes", "Postpone the start of a mail transaction until a valid RCPT TO is received.");
    SMTPD_REJECT_UNLISTED_SENDER = boolean("smtpd_reject_unlisted_sender", "no", "Reject mail from unknown sender addresses even without reject_unlisted_sender.");
    SMTPD_REJECT_UNLISTED_RECIPIENT = boolean("smtpd_reject_unlisted_recipient", "yes", "Reject mail for unknown recipient addresses even without reject_unlisted_recipient.");
    SMTPD_DISCARD_EHLO_KEYWORDS = list("smtpd_discard_ehlo_keywords", "", "EHLO keywords (pipelining, starttls, auth, ...) that the SMTP server does not announce.");
    SMTPD_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS = list("smtpd_discard_ehlo_keyword_address_maps", "", "Lookup tables by client address with EHLO keywords not to announce to that client.");
    SMTPD_NOOP_COMMANDS = list("smtpd_noop_commands", "", "Commands that the SMTP server answers with 250 Ok without any checks.");
    SMTPD_FORBIDDEN_COMMANDS = list("smtpd_forbidden_commands", "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}", "Commands that make the SMTP server disconnect at once (e.g. CONNECT, GET, POST).");
    SMTPD_COMMAND_FILTER = string("smtpd_command_filter", "", "A lookup table that rewrites commands from remote SMTP clients.");
    SMTPD_NULL_ACCESS_LOOKUP_KEY = string("smtpd_null_access_lookup_key", "<>", "The lookup key used for the null sender address in access tables.");
    SMTPD_PEERNAME_LOOKUP = boolean("smtpd_peername_lookup", "yes", "Look up the remote client's hostname and check that it maps back to the client address.");
    SMTPD_PER_REQUEST_DEADLINE = boolean("smtpd_per_request_deadline", "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:{${stress?{yes}:{no}}}}", "Make smtpd_timeout a limit per complete command or reply rather than per read or write.");
    SMTPD_MIN_DATA_RATE = int("smtpd_min_data_rate", "500", 1, MAX, "The minimal plaintext data rate in bytes per second for DATA and BDAT when smtpd_per_request_deadline is on.");
    SMTPD_SERVICE_NAME = string("smtpd_service_name", "smtpd", "The internal service that smtpd uses to inject mail.");
    SMTPD_FORBID_UNAUTH_PIPELINING = boolean("smtpd_forbid_unauth_pipelining", "no", "Disconnect clients that pipeline commands before the server announced PIPELINING.");
    SMTPD_FORBID_BARE_NEWLINE = string("smtpd_forbid_bare_newline", "no", "Reject or disconnect clients that end lines with a bare newline instead of CRLF: no, normalize or reject.");
    SMTPD_FORBID_BARE_NEWLINE_EXCLUSIONS = list("smtpd_forbid_bare_newline_exclusions", "$mynetworks", "Clients exempt from smtpd_forbid_bare_newline.");
    SMTPD_FORBID_BARE_NEWLINE_REJECT_CODE = int("smtpd_forbid_bare_newline_reject_code", "550", 0, MAX, "The SMTP reply code for a bare newline when smtpd_forbid_bare_newline is reject.");
    SMTPUTF8_ENABLE = boolean("smtputf8_enable", "yes", "Enable SMTPUTF8 (RFC 6531) support.");
    STRICT_SMTPUTF8 = boolean("strict_smtputf8", "no", "Accept SMTPUTF8 mail only when the client requested SMTPUTF8 and header or address contain UTF-8.");
    SMTPUTF8_AUTODETECT_CLASSES = list("smtputf8_autodetect_classes", "sendmail, verify", "The kinds of mail for which SMTPUTF8 is requested when it contains UTF-8.");
    SMTPD_SENDER_LOGIN_MAPS = list("smtpd_sender_login_maps", "", "Lookup tables by MAIL FROM address with the SASL login names that own it.");
    SMTPD_AUTHORIZED_VERP_CLIENTS = list("smtpd_authorized_verp_clients", "$authorized_verp_clients", "The clients that may use the XVERP command.");
    AUTHORIZED_VERP_CLIENTS = list("authorized_verp_clients", "", "Obsolete name of smtpd_authorized_verp_clients.");
    SMTPD_AUTHORIZED_XCLIENT_HOSTS = list("smtpd_authorized_xclient_hosts", "", "The clients that may use the XCLIENT command.");
    SMTPD_AUTHORIZED_XFORWARD_HOSTS = list("smtpd_authorized_xforward_hosts", "", "The clients that may use the XFORWARD command.");
    SMTPD_UPSTREAM_PROXY_PROTOCOL = string("smtpd_upstream_proxy_protocol", "", "The protocol of a before-smtpd proxy agent (haproxy), or empty.");
    SMTPD_UPSTREAM_PROXY_TIMEOUT = time("smtpd_upstream_proxy_timeout", "5s", 's', 1, MAX, "The time limit for the before-smtpd proxy protocol.");
    SMTPD_PROXY_FILTER = string("smtpd_proxy_filter", "", "The host:port of a before-queue content filter (SMTP proxy).");
    SMTPD_PROXY_EHLO = string("smtpd_proxy_ehlo", "$myhostname", "The EHLO name the SMTP server uses with the proxy filter.");
    SMTPD_PROXY_OPTIONS = list("smtpd_proxy_options", "", "Options for the communication with a before-queue content filter.");
    SMTPD_PROXY_TIMEOUT = time("smtpd_proxy_timeout", "100s", 's', 1, MAX, "The time limit for connecting to a proxy filter and for exchanging data with it.");
    SMTPD_MILTERS = list("smtpd_milters", "", "Milter applications for new mail that arrives through the SMTP server.");
    NON_SMTPD_MILTERS = list("non_smtpd_milters", "", "Milter applications for new mail that does not arrive through the SMTP server.");
    MILTER_DEFAULT_ACTION = string("milter_default_action", "tempfail", "The action when a Milter application is unavailable or misconfigured.");
    MILTER_CONNECT_MACROS = string("milter_connect_macros", "j {daemon_name} {daemon_addr} v _", "The macros sent to Milter applications with the client's connection.");
    MILTER_HELO_MACROS = string("milter_helo_macros", "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}", "The macros sent to Milter applications with HELO or EHLO.");
    MILTER_MAIL_MACROS = string("milter_mail_macros", "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}", "The macros sent to Milter applications with MAIL FROM.");
    MILTER_RCPT_MACROS = string("milter_rcpt_macros", "i {rcpt_addr} {rcpt_host} {rcpt_mailer}", "The macros sent to Milter applications with each RCPT TO.");
    MILTER_DATA_MACROS = string("milter_data_macros", "i", "The macros sent to Milter applications with DATA.");
    MILTER_END_OF_HEADER_MACROS = string("milter_end_of_header_macros", "i", "The macros sent to Milter applications at the end of the headers.");
    MILTER_END_OF_DATA_MACROS = string("milter_end_of_data_macros", "i", "The macros sent to Milter applications at the end of the message.");
    MILTER_UNKNOWN_COMMAND_MACROS = string("milter_unknown_command_macros", "", "The macros sent to Milter applications with an unknown SMTP command.");
    MILTER_MACRO_DEFAULTS = string("milter_macro_defaults", "", "name=value defaults for macros that have no value from the mail's context.");
    MILTER_MACRO_V = string("milter_macro_v", "$mail_name $mail_version", "The {v} macro's value.");
    MILTER_PROTOCOL = string("milter_protocol", "6", "The Milter protocol version and optional extensions.");
    MILTER_CONNECT_TIMEOUT = time("milter_connect_timeout", "30s", 's', 1, MAX, "The time limit for connecting to a Milter application.");
    MILTER_COMMAND_TIMEOUT = time("milter_command_timeout", "30s", 's', 1, MAX, "The time limit for sending an SMTP command to a Milter application and receiving its reply.");
    MILTER_CONTENT_TIMEOUT = time("milter_content_timeout", "300s", 's', 1, MAX, "The time limit for sending message content to a Milter application and receiving its reply.");
    MILTER_MACRO_DAEMON_NAME = string("milter_macro_daemon_name", "$myhostname", "The {daemon_name} macro value for Milter applications.");
    SMTPD_EXPANSION_FILTER = raw("smtpd_expansion_filter", "\\t\\40!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~", "The characters allowed in $name expansions of RBL reply templates.");
    SMTPD_REJECT_FOOTER = raw("smtpd_reject_footer", "", "Optional text appended to a 4XX or 5XX SMTP server reply.");
    SMTPD_REJECT_FOOTER_MAPS = list("smtpd_reject_footer_maps", "", "Lookup tables by reply text with per-reply footers.");

    // --- SMTP server: access restrictions --------------------------------
    SMTPD_CLIENT_RESTRICTIONS = list("smtpd_client_restrictions", "", "Restrictions applied when a client connects.");
    SMTPD_HELO_RESTRICTIONS = list("smtpd_helo_restrictions", "", "Restrictions applied to the HELO or EHLO command.");
    SMTPD_SENDER_RESTRICTIONS = list("smtpd_sender_restrictions", "", "Restrictions applied to the MAIL FROM command.");
    SMTPD_RELAY_RESTRICTIONS = list("smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "Relay control restrictions applied to RCPT TO, before smtpd_recipient_restrictions.");
    SMTPD_RECIPIENT_RESTRICTIONS = list("smtpd_recipient_restrictions", "", "Restrictions applied to the RCPT TO command (spam blocking).");
    SMTPD_RELAY_BEFORE_RECIPIENT_RESTRICTIONS = boolean("smtpd_relay_before_recipient_restrictions", "yes", "Evaluate smtpd_relay_restrictions before smtpd_recipient_restrictions.");
    SMTPD_DATA_RESTRICTIONS = list("smtpd_data_restrictions", "", "Restrictions applied to the DATA command.");
    SMTPD_END_OF_DATA_RESTRICTIONS = list("smtpd_end_of_data_restrictions", "", "Restrictions applied when the client sends the end-of-data.");
    SMTPD_ETRN_RESTRICTIONS = list("smtpd_etrn_restrictions", "", "Restrictions applied to the ETRN command.");
    SMTPD_RESTRICTION_CLASSES = list("smtpd_restriction_classes", "", "User-defined aliases for groups of access restrictions.");
    SMTPD_POLICY_SERVICE_DEFAULT_ACTION = string("smtpd_policy_service_default_action", "451 4.3.5 Server configuration problem", "The default action when a policy service is unavailable.");
    SMTPD_POLICY_SERVICE_MAX_IDLE = time("smtpd_policy_service_max_idle", "300s", 's', 1, MAX, "How long an idle policy service connection is kept open.");
    SMTPD_POLICY_SERVICE_MAX_TTL = time("smtpd_policy_service_max_ttl", "1000s", 's', 1, MAX, "How long a policy service connection may stay open.");
    SMTPD_POLICY_SERVICE_TIMEOUT = time("smtpd_policy_service_timeout", "100s", 's', 1, MAX, "The time limit to connect to, send to or receive from a policy service.");
    SMTPD_POLICY_SERVICE_REQUEST_LIMIT = int("smtpd_policy_service_request_limit", "0", 0, MAX, "The maximal number of requests per policy service connection (0: no limit).");
    SMTPD_POLICY_SERVICE_RETRY_DELAY = time("smtpd_policy_service_retry_delay", "1s", 's', 1, MAX, "The delay between attempts to contact a policy service.");
    SMTPD_POLICY_SERVICE_TRY_LIMIT = int("smtpd_policy_service_try_limit", "2", 1, MAX, "The maximal number of attempts to send a request to a policy service.");
    SMTPD_POLICY_SERVICE_POLICY_CONTEXT = string("smtpd_policy_service_policy_context", "", "Optional text sent to policy services as policy_context.");
    PERMIT_MX_BACKUP_NETWORKS = list("permit_mx_backup_networks", "", "The networks whose primary MX hosts permit_mx_backup accepts mail for.");
    PARENT_DOMAIN_MATCHES_SUBDOMAINS = list("parent_domain_matches_subdomains", "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps", "Which features match subdomains of a domain name (domain.tld matches sub.domain.tld).");
    SMTPD_DNS_REPLY_FILTER = string("smtpd_dns_reply_filter", "", "Lookup tables that may change DNS replies before the SMTP server uses them.");
    RBL_REPLY_MAPS = list("rbl_reply_maps", "", "Lookup tables with RBL reply templates by RBL domain.");
    DEFAULT_RBL_REPLY = raw("default_rbl_reply", "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}", "The default reply template for a request blocked by an RBL.");
    MAPS_RBL_DOMAINS = list("maps_rbl_domains", "", "Obsolete RBL domains, use reject_rbl_client.");
    ACCESS_MAP_REJECT_CODE = int("access_map_reject_code", "554", 0, MAX, "The SMTP reply code when a client is rejected by an access table.");
    ACCESS_MAP_DEFER_CODE = int("access_map_defer_code", "450", 0, MAX, "The SMTP reply code when a client is deferred by an access table.");
    DEFER_CODE = int("defer_code", "450", 0, MAX, "The SMTP reply code for a request rejected by the defer restriction.");
    REJECT_CODE = int("reject_code", "554", 0, MAX, "The SMTP reply code for a request rejected by the reject restriction.");
    RELAY_DOMAINS_REJECT_CODE = int("relay_domains_reject_code", "554", 0, MAX, "The SMTP reply code when a client tries to relay to a domain it may not.");
    MAPS_RBL_REJECT_CODE = int("maps_rbl_reject_code", "554", 0, MAX, "The SMTP reply code when a client is listed in an RBL or RHSBL.");
    INVALID_HOSTNAME_REJECT_CODE = int("invalid_hostname_reject_code", "501", 0, MAX, "The SMTP reply code for reject_invalid_helo_hostname.");
    NON_FQDN_REJECT_CODE = int("non_fqdn_reject_code", "504", 0, MAX, "The SMTP reply code for reject_non_fqdn_helo_hostname, _sender and _recipient.");
    UNKNOWN_ADDRESS_REJECT_CODE = int("unknown_address_reject_code", "450", 0, MAX, "The SMTP reply code for a sender or recipient domain with no DNS record.");
    UNKNOWN_CLIENT_REJECT_CODE = int("unknown_client_reject_code", "450", 0, MAX, "The SMTP reply code for a client without a valid address-to-name mapping.");
    UNKNOWN_HOSTNAME_REJECT_CODE = int("unknown_hostname_reject_code", "450", 0, MAX, "The SMTP reply code for a HELO hostname with no DNS A or MX record.");
    MULTI_RECIPIENT_BOUNCE_REJECT_CODE = int("multi_recipient_bounce_reject_code", "550", 0, MAX, "The SMTP reply code for reject_multi_recipient_bounce.");
    PLAINTEXT_REJECT_CODE = int("plaintext_reject_code", "450", 0, MAX, "The SMTP reply code for a request rejected for lack of encryption.");
    UNVERIFIED_SENDER_REJECT_CODE = int("unverified_sender_reject_code", "450", 200, 599, "The SMTP reply code when a sender address is known to be undeliverable.");
    UNVERIFIED_RECIPIENT_REJECT_CODE = int("unverified_recipient_reject_code", "450", 200, 599, "The SMTP reply code when a recipient address is known to be undeliverable.");
    UNVERIFIED_SENDER_DEFER_CODE = int("unverified_sender_defer_code", "450", 200, 499, "The SMTP reply code when a sender address probe fails for a temporary reason.");
    UNVERIFIED_RECIPIENT_DEFER_CODE = int("unverified_recipient_defer_code", "450", 200, 499, "The SMTP reply code when a recipient address probe fails for a temporary reason.");
    UNVERIFIED_SENDER_REJECT_REASON = string("unverified_sender_reject_reason", "", "The text of the reply when a sender address is undeliverable.");
    UNVERIFIED_RECIPIENT_REJECT_REASON = string("unverified_recipient_reject_reason", "", "The text of the reply when a recipient address is undeliverable.");
    REJECT_TEMPFAIL_ACTION = string("reject_tempfail_action", "defer_if_permit", "The action after a temporary failure in a reject restriction.");
    UNKNOWN_HELO_HOSTNAME_TEMPFAIL_ACTION = string("unknown_helo_hostname_tempfail_action", "$reject_tempfail_action", "The action after a temporary DNS failure in reject_unknown_helo_hostname.");
    UNKNOWN_ADDRESS_TEMPFAIL_ACTION = string("unknown_address_tempfail_action", "$reject_tempfail_action", "The action after a temporary DNS failure in reject_unknown_sender/recipient_domain.");
    UNVERIFIED_SENDER_TEMPFAIL_ACTION = string("unverified_sender_tempfail_action", "$reject_tempfail_action", "The action after a temporary failure in reject_unverified_sender.");
    UNVERIFIED_RECIPIENT_TEMPFAIL_ACTION = string("unverified_recipient_tempfail_action", "$reject_tempfail_action", "The action after a temporary failure in reject_unverified_recipient.");
    ADDRESS_VERIFY_POLL_COUNT = int("address_verify_poll_count", "${stress?{1}:{3}}", 1, MAX, "How many times reject_unverified_* polls the verify service for a completed probe.");
    ADDRESS_VERIFY_POLL_DELAY = time("address_verify_poll_delay", "3s", 's', 1, MAX, "The delay between polls of the verify service.");
    ADDRESS_VERIFY_SENDER = string("address_verify_sender", "$double_bounce_sender", "The sender address of address verification probes.");
    ADDRESS_VERIFY_SENDER_TTL = time("address_verify_sender_ttl", "0s", 's', 0, MAX, "The lifetime of a dynamically generated address verification probe sender.");
    ADDRESS_VERIFY_POSITIVE_EXPIRE_TIME = time("address_verify_positive_expire_time", "31d", 'd', 1, MAX, "The time after which a successful address verification probe expires.");
    ADDRESS_VERIFY_POSITIVE_REFRESH_TIME = time("address_verify_positive_refresh_time", "7d", 'd', 1, MAX, "The time after which a successful address verification probe is repeated.");
    ADDRESS_VERIFY_NEGATIVE_CACHE = boolean("address_verify_negative_cache", "yes", "Cache the results of failed address verification probes.");
    ADDRESS_VERIFY_NEGATIVE_EXPIRE_TIME = time("address_verify_negative_expire_time", "3d", 'd', 1, MAX, "The time after which a failed address verification probe expires.");
    ADDRESS_VERIFY_NEGATIVE_REFRESH_TIME = time("address_verify_negative_refresh_time", "3h", 'h', 1, MAX, "The time after which a failed address verification probe is repeated.");
    ADDRESS_VERIFY_RELAYHOST = string("address_verify_relayhost", "$relayhost", "Overrides relayhost for address verification probes.");
    ADDRESS_VERIFY_TRANSPORT_MAPS = list("address_verify_transport_maps", "$transport_maps", "Overrides transport_maps for address verification probes.");
    ADDRESS_VERIFY_DEFAULT_TRANSPORT = string("address_verify_default_transport", "$default_transport", "Overrides default_transport for address verification probes.");

    // --- SMTP server: SASL -----------------------------------------------
    SMTPD_SASL_AUTH_ENABLE = boolean("smtpd_sasl_auth_enable", "no", "Enable SASL authentication in the SMTP server.");
    SMTPD_SASL_TYPE = string("smtpd_sasl_type", "cyrus", "The SASL plug-in type the SMTP server uses (dovecot for the Dovecot auth protocol).");
    SMTPD_SASL_PATH = string("smtpd_sasl_path", "smtpd", "Where the SMTP server finds its SASL service (for dovecot: the socket, e.g. private/auth).");
    SMTPD_SASL_SERVICE = string("smtpd_sasl_service", "smtp", "The service name passed to the SASL plug-in.");
    SMTPD_SASL_SECURITY_OPTIONS = list("smtpd_sasl_security_options", "noanonymous", "The SASL security options of the SMTP server (noanonymous, noplaintext, ...).");
    SMTPD_SASL_TLS_SECURITY_OPTIONS = list("smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options", "The SASL security options of the SMTP server for TLS-encrypted sessions.");
    SMTPD_SASL_LOCAL_DOMAIN = string("smtpd_sasl_local_domain", "", "The name of the SMTP server's local SASL authentication realm.");
    SMTPD_SASL_EXCEPTIONS_NETWORKS = list("smtpd_sasl_exceptions_networks", "", "Clients that the SMTP server does not offer AUTH to.");
    SMTPD_SASL_AUTHENTICATED_HEADER = boolean("smtpd_sasl_authenticated_header", "no", "Report the SASL authenticated user name in the Received: header.");
    SMTPD_SASL_MECHANISM_FILTER = list("smtpd_sasl_mechanism_filter", "!external, static:rest", "The SASL mechanisms the SMTP server offers, out of those the plug-in supports.");
    SMTPD_SASL_RESPONSE_LIMIT = int("smtpd_sasl_response_limit", "12288", 1, MAX, "The maximal length of a client's AUTH response.");
    BROKEN_SASL_AUTH_CLIENTS = boolean("broken_sasl_auth_clients", "no", "Also announce AUTH in the obsolete AUTH=mechanisms form for old clients.");
    CYRUS_SASL_CONFIG_PATH = string("cyrus_sasl_config_path", "", "Search path for Cyrus SASL application configuration files.");

    // --- SMTP server: TLS ------------------------------------------------
    SMTPD_TLS_SECURITY_LEVEL = string("smtpd_tls_security_level", "", "The TLS security level of the SMTP server: none, may (STARTTLS offered) or encrypt.");
    SMTPD_USE_TLS = boolean("smtpd_use_tls", "no", "Obsolete: announce STARTTLS to clients (use smtpd_tls_security_level = may).");
    SMTPD_ENFORCE_TLS = boolean("smtpd_enforce_tls", "no", "Obsolete: require TLS (use smtpd_tls_security_level = encrypt).");
    SMTPD_TLS_WRAPPERMODE = boolean("smtpd_tls_wrappermode", "no", "Run the SMTP server in the non-standard TLS wrapper mode (port 465 submissions).");
    SMTPD_TLS_AUTH_ONLY = boolean("smtpd_tls_auth_only", "no", "Offer and accept SASL authentication only over TLS-encrypted connections.");
    SMTPD_TLS_CERT_FILE = string("smtpd_tls_cert_file", "", "The PEM file with the SMTP server's RSA certificate.");
    SMTPD_TLS_KEY_FILE = string("smtpd_tls_key_file", "$smtpd_tls_cert_file", "The PEM file with the SMTP server's RSA private key.");
    SMTPD_TLS_CHAIN_FILES = list("smtpd_tls_chain_files", "", "PEM files with the SMTP server's private keys and certificate chains.");
    SMTPD_TLS_DCERT_FILE = string("smtpd_tls_dcert_file", "", "The PEM file with the SMTP server's DSA certificate.");
    SMTPD_TLS_DKEY_FILE = string("smtpd_tls_dkey_file", "$smtpd_tls_dcert_file", "The PEM file with the SMTP server's DSA private key.");
    SMTPD_TLS_ECCERT_FILE = string("smtpd_tls_eccert_file", "", "The PEM file with the SMTP server's ECDSA certificate.");
    SMTPD_TLS_ECKEY_FILE = string("smtpd_tls_eckey_file", "$smtpd_tls_eccert_file", "The PEM file with the SMTP server's ECDSA private key.");
    SMTPD_TLS_CAFILE = string("smtpd_tls_CAfile", "", "A PEM file with the CA certificates trusted to sign client certificates.");
    SMTPD_TLS_CAPATH = string("smtpd_tls_CApath", "", "A directory with the CA certificates trusted to sign client certificates.");
    SMTPD_TLS_ASK_CCERT = boolean("smtpd_tls_ask_ccert", "no", "Ask a remote SMTP client for a client certificate.");
    SMTPD_TLS_REQ_CCERT = boolean("smtpd_tls_req_ccert", "no", "Require a trusted client certificate when TLS is enforced.");
    SMTPD_TLS_CCERT_VERIFYDEPTH = int("smtpd_tls_ccert_verifydepth", "9", 0, MAX, "The verification depth for client certificates.");
    SMTPD_TLS_LOGLEVEL = string("smtpd_tls_loglevel", "0", "The SMTP server's TLS logging level (0 to 4).");
    SMTPD_TLS_RECEIVED_HEADER = boolean("smtpd_tls_received_header", "no", "Record the TLS protocol and cipher in the Received: header.");
    SMTPD_TLS_PROTOCOLS = list("smtpd_tls_protocols", ">=TLSv1", "The TLS protocols the SMTP server accepts with opportunistic TLS.");
    SMTPD_TLS_MANDATORY_PROTOCOLS = list("smtpd_tls_mandatory_protocols", ">=TLSv1", "The TLS protocols the SMTP server accepts with mandatory TLS.");
    SMTPD_TLS_CIPHERS = string("smtpd_tls_ciphers", "medium", "The minimum cipher grade of the SMTP server with opportunistic TLS.");
    SMTPD_TLS_MANDATORY_CIPHERS = string("smtpd_tls_mandatory_ciphers", "medium", "The minimum cipher grade of the SMTP server with mandatory TLS.");
    SMTPD_TLS_EXCLUDE_CIPHERS = list("smtpd_tls_exclude_ciphers", "", "Ciphers or cipher types the SMTP server excludes with any TLS.");
    SMTPD_TLS_MANDATORY_EXCLUDE_CIPHERS = list("smtpd_tls_mandatory_exclude_ciphers", "", "Additional ciphers the SMTP server excludes with mandatory TLS.");
    SMTPD_TLS_DH1024_PARAM_FILE = string("smtpd_tls_dh1024_param_file", "", "The file with DH parameters for the SMTP server's EDH ciphers.");
    SMTPD_TLS_EECDH_GRADE = string("smtpd_tls_eecdh_grade", "auto", "The SMTP server's security grade for ephemeral elliptic-curve Diffie-Hellman key exchange.");
    SMTPD_TLS_FINGERPRINT_DIGEST = string("smtpd_tls_fingerprint_digest", "sha256", "The message digest used to compute client certificate fingerprints.");
    SMTPD_TLS_SESSION_CACHE_DATABASE = string("smtpd_tls_session_cache_database", "", "The TLS session cache of the SMTP server.");
    SMTPD_TLS_SESSION_CACHE_TIMEOUT = time("smtpd_tls_session_cache_timeout", "3600s", 's', 0, 8640000, "The lifetime of cached SMTP server TLS sessions.");
    SMTPD_TLS_ALWAYS_ISSUE_SESSION_IDS = boolean("smtpd_tls_always_issue_session_ids", "yes", "Issue TLS session ids even when the session cache is off.");
    SMTPD_STARTTLS_TIMEOUT = time("smtpd_starttls_timeout", "${stress?{10}:{300}}s", 's', 1, MAX, "The time limit for the SMTP server's TLS handshake and shutdown.");
    TLS_HIGH_CIPHERLIST = string("tls_high_cipherlist", "aNULL:-aNULL:HIGH:@STRENGTH", "The OpenSSL cipher list of the \"high\" grade.");
    TLS_MEDIUM_CIPHERLIST = string("tls_medium_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH", "The OpenSSL cipher list of the \"medium\" grade.");
    TLS_LOW_CIPHERLIST = string("tls_low_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH", "The OpenSSL cipher list of the \"low\" grade.");
    TLS_NULL_CIPHERLIST = string("tls_null_cipherlist", "eNULL:!aNULL", "The OpenSSL cipher list of the \"null\" grade.");
    TLS_PREEMPT_CIPHERLIST = boolean("tls_preempt_cipherlist", "no", "Use the server's cipher preference order instead of the client's.");
    TLS_SSL_OPTIONS = list("tls_ssl_options", "", "Extra OpenSSL options for TLS sessions.");
    TLS_RANDOM_SOURCE = string("tls_random_source", "dev:/dev/urandom", "The source of entropy for the TLS random number generator.");
    TLS_SERVER_SNI_MAPS = list("tls_server_sni_maps", "", "Lookup tables by SNI name with private keys and certificate chains.");
    TLS_APPEND_DEFAULT_CA = boolean("tls_append_default_CA", "no", "Append the system's default CAs to the configured CAfile and CApath.");
    TLS_EECDH_AUTO_CURVES = list("tls_eecdh_auto_curves", "X25519 X448 prime256v1 secp521r1 secp384r1", "The elliptic curves offered for ephemeral ECDH key exchange, best first.");
    TLSMGR_SERVICE_NAME = string("tlsmgr_service_name", "tlsmgr", "The name of the TLS session cache and PRNG manager service.");
    TLS_SESSION_TICKET_CIPHER = string("tls_session_ticket_cipher", "aes-256-cbc", "The cipher used for TLS session ticket encryption.");

    // --- SMTP client -----------------------------------------------------
    SMTP_CONNECT_TIMEOUT = time("smtp_connect_timeout", "30s", 's', 0, MAX, "The time limit for the SMTP client to complete a TCP connection (0: the OS limit).");
    SMTP_HELO_TIMEOUT = time("smtp_helo_timeout", "300s", 's', 1, MAX, "The time limit for receiving the server's greeting and the reply to HELO or EHLO.");
    SMTP_MAIL_TIMEOUT = time("smtp_mail_timeout", "300s", 's', 1, MAX, "The time limit for the reply to MAIL FROM.");
    SMTP_RCPT_TIMEOUT = time("smtp_rcpt_timeout", "300s", 's', 1, MAX, "The time limit for the reply to RCPT TO.");
    SMTP_DATA_INIT_TIMEOUT = time("smtp_data_init_timeout", "120s", 's', 1, MAX, "The time limit for the reply to DATA.");
    SMTP_DATA_XFER_TIMEOUT = time("smtp_data_xfer_timeout", "180s", 's', 1, MAX, "The time limit for sending the message content.");
    SMTP_DATA_DONE_TIMEOUT = time("smtp_data_done_timeout", "600s", 's', 1, MAX, "The time limit for the reply to the end of the message content.");
    SMTP_RSET_TIMEOUT = time("smtp_rset_timeout", "20s", 's', 1, MAX, "The time limit for the reply to RSET.");
    SMTP_QUIT_TIMEOUT = time("smtp_quit_timeout", "300s", 's', 1, MAX, "The time limit for the reply to QUIT.");
    SMTP_XFORWARD_TIMEOUT = time("smtp_xforward_timeout", "300s", 's', 1, MAX, "The time limit for the reply to XFORWARD.");
    SMTP_STARTTLS_TIMEOUT = time("smtp_starttls_timeout", "300s", 's', 1, MAX, "The time limit for the SMTP client's TLS handshake and shutdown.");
    SMTP_HELO_NAME = string("smtp_helo_name", "$myhostname", "The hostname the SMTP client sends in HELO or EHLO.");
    SMTP_BIND_ADDRESS = string("smtp_bind_address", "", "The local IPv4 address the SMTP client connects from.");
    SMTP_BIND_ADDRESS6 = string("smtp_bind_address6", "", "The local IPv6 address the SMTP client connects from.");
    SMTP_BIND_ADDRESS_ENFORCE = boolean("smtp_bind_address_enforce", "no", "Defer delivery when the SMTP client cannot bind to smtp_bind_address.");
    SMTP_TCP_PORT = string("smtp_tcp_port", "smtp", "The default TCP port the SMTP client connects to.");
    SMTP_ALWAYS_SEND_EHLO = boolean("smtp_always_send_ehlo", "yes", "Always send EHLO at the start of a session.");
    SMTP_NEVER_SEND_EHLO = boolean("smtp_never_send_ehlo", "no", "Never send EHLO at the start of a session.");
    SMTP_SKIP_5XX_GREETING = boolean("smtp_skip_5xx_greeting", "yes", "Skip remote SMTP servers that greet with a 5XX reply.");
    SMTP_SKIP_QUIT_RESPONSE = boolean("smtp_skip_quit_response", "yes", "Do not wait for the reply to QUIT.");
    SMTP_LINE_LENGTH_LIMIT = int("smtp_line_length_limit", "998", 0, MAX, "The maximal length of message header and body lines the SMTP client sends (0: no limit).");
    SMTP_MX_ADDRESS_LIMIT = int("smtp_mx_address_limit", "5", 0, MAX, "The maximal number of MX IP addresses the SMTP client tries (0: no limit).");
    SMTP_MX_SESSION_LIMIT = int("smtp_mx_session_limit", "2", 0, MAX, "The maximal number of SMTP sessions per delivery request (0: no limit).");
    SMTP_RANDOMIZE_ADDRESSES = boolean("smtp_randomize_addresses", "yes", "Randomize the order of equal-preference MX host addresses.");
    SMTP_BALANCE_INET_PROTOCOLS = boolean("smtp_balance_inet_protocols", "yes", "Mix IPv4 and IPv6 addresses when a destination has both.");
    SMTP_DEFER_IF_NO_MX_ADDRESS_FOUND = boolean("smtp_defer_if_no_mx_address_found", "no", "Defer mail delivery when no MX record resolves to an IP address.");
    FALLBACK_RELAY = list("fallback_relay", "", "Obsolete name of smtp_fallback_relay.");
    SMTP_FALLBACK_RELAY = list("smtp_fallback_relay", "$fallback_relay", "Relay hosts used when the real destination is unreachable.");
    SMTP_CONNECTION_CACHE_ON_DEMAND = boolean("smtp_connection_cache_on_demand", "yes", "Cache connections to destinations with a backlog of mail.");
    SMTP_CONNECTION_CACHE_DESTINATIONS = list("smtp_connection_cache_destinations", "", "Destinations whose connections are always cached.");
    SMTP_CONNECTION_CACHE_TIME_LIMIT = time("smtp_connection_cache_time_limit", "2s", 's', 1, MAX, "How long an unused SMTP client connection stays cached.");
    SMTP_CONNECTION_REUSE_TIME_LIMIT = time("smtp_connection_reuse_time_limit", "300s", 's', 1, MAX, "How long a cached SMTP connection may be reused.");
    SMTP_CONNECTION_REUSE_COUNT_LIMIT = int("smtp_connection_reuse_count_limit", "0", 0, MAX, "How many times a cached SMTP connection may be reused (0: no limit).");
    SMTP_DESTINATION_CONCURRENCY_LIMIT = int("smtp_destination_concurrency_limit", "$default_destination_concurrency_limit", 0, MAX, "The maximal number of parallel deliveries to one destination through the smtp transport.");
    SMTP_DESTINATION_RECIPIENT_LIMIT = int("smtp_destination_recipient_limit", "$default_destination_recipient_limit", 0, MAX, "The maximal number of recipients per delivery through the smtp transport.");
    SMTP_GENERIC_MAPS = list("smtp_generic_maps", "", "Lookup tables that rewrite addresses in outgoing mail (e.g. local to valid internet addresses).");
    SMTP_HEADER_CHECKS = list("smtp_header_checks", "", "Restricted header_checks for mail leaving through the SMTP client.");
    SMTP_BODY_CHECKS = list("smtp_body_checks", "", "Restricted body_checks for mail leaving through the SMTP client.");
    SMTP_DISCARD_EHLO_KEYWORDS = list("smtp_discard_ehlo_keywords", "", "EHLO keywords of the remote server that the SMTP client ignores.");
    SMTP_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS = list("smtp_discard_ehlo_keyword_address_maps", "", "Lookup tables by server address with EHLO keywords to ignore.");
    SMTP_SEND_XFORWARD_COMMAND = boolean("smtp_send_xforward_command", "no", "Send XFORWARD with the original client details when the server announces it.");
    SMTP_QUOTE_RFC821_ENVELOPE = boolean("smtp_quote_rfc821_envelope", "yes", "Quote addresses in MAIL FROM and RCPT TO as RFC 5321 requires.");
    SMTP_DELIVERY_STATUS_FILTER = list("smtp_delivery_status_filter", "$default_delivery_status_filter", "Lookup tables that replace SMTP client delivery status codes or texts.");
    SMTP_REPLY_FILTER = string("smtp_reply_filter", "", "A lookup table that rewrites remote SMTP server replies.");
    SMTP_DNS_RESOLVER_OPTIONS = list("smtp_dns_resolver_options", "", "DNS resolver options for the SMTP client.");
    SMTP_PER_REQUEST_DEADLINE = boolean("smtp_per_request_deadline", "${smtp_per_record_deadline?{$smtp_per_record_deadline}:{no}}", "Make the SMTP client timeouts a limit per complete request rather than per read or write.");
    SMTP_MIN_DATA_RATE = int("smtp_min_data_rate", "500", 1, MAX, "The minimal data rate in bytes per second when smtp_per_request_deadline is on.");
    SMTP_PIX_WORKAROUNDS = list("smtp_pix_workarounds", "disable_esmtp,delay_dotcrlf", "Workarounds for a remote server behind a broken PIX firewall.");
    SMTP_PIX_WORKAROUND_MAPS = list("smtp_pix_workaround_maps", "", "Lookup tables by server with per-server smtp_pix_workarounds.");
    SMTP_PIX_WORKAROUND_DELAY_TIME = time("smtp_pix_workaround_delay_time", "10s", 's', 1, MAX, "How long the SMTP client pauses before sending end-of-data to a PIX firewall.");
    SMTP_PIX_WORKAROUND_THRESHOLD_TIME = time("smtp_pix_workaround_threshold_time", "500s", 's', 0, MAX, "How long a message must have been queued before the PIX workarounds apply.");
    SMTP_ADDRESS_VERIFY_TARGET = string("smtp_address_verify_target", "rcpt", "The SMTP command that ends an address verification probe: rcpt or data.");
    SMTP_SASL_AUTH_ENABLE = boolean("smtp_sasl_auth_enable", "no", "Enable SASL authentication in the SMTP client.");
    SMTP_SASL_PASSWORD_MAPS = list("smtp_sasl_password_maps", "", "Lookup tables by destination with username:password for the SMTP client.");
    SMTP_SASL_SECURITY_OPTIONS = list("smtp_sasl_security_options", "noplaintext, noanonymous", "The SASL security options of the SMTP client.");
    SMTP_SASL_TLS_SECURITY_OPTIONS = list("smtp_sasl_tls_security_options", "$smtp_sasl_security_options", "The SASL security options of the SMTP client over TLS.");
    SMTP_SASL_TLS_VERIFIED_SECURITY_OPTIONS = list("smtp_sasl_tls_verified_security_options", "$smtp_sasl_tls_security_options", "The SASL security options of the SMTP client over verified TLS.");
    SMTP_SASL_MECHANISM_FILTER = list("smtp_sasl_mechanism_filter", "", "The SASL mechanisms the SMTP client may use.");
    SMTP_SASL_TYPE = string("smtp_sasl_type", "cyrus", "The SASL plug-in type of the SMTP client.");
    SMTP_SASL_PATH = string("smtp_sasl_path", "", "Implementation-specific information passed to the SMTP client's SASL plug-in.");
    SMTP_SASL_AUTH_SOFT_BOUNCE = boolean("smtp_sasl_auth_soft_bounce", "yes", "Defer rather than bounce mail after a SASL authentication failure.");
    SMTP_SASL_AUTH_CACHE_NAME = string("smtp_sasl_auth_cache_name", "", "The table that remembers failed SASL logins.");
    SMTP_SASL_AUTH_CACHE_TIME = time("smtp_sasl_auth_cache_time", "90d", 'd', 0, MAX, "How long a failed SASL login is remembered.");
    SMTP_SENDER_DEPENDENT_AUTHENTICATION = boolean("smtp_sender_dependent_authentication", "no", "Look up SASL credentials by sender address before the destination.");
    SMTP_SEND_DUMMY_MAIL_AUTH = boolean("smtp_send_dummy_mail_auth", "no", "Send AUTH=<> in MAIL FROM when SASL authentication succeeded.");
    SMTP_CNAME_OVERRIDES_SERVERNAME = boolean("smtp_cname_overrides_servername", "no", "Let a DNS CNAME replace the server name used in TLS checks and logging.");

    // --- SMTP client: TLS ------------------------------------------------
    SMTP_TLS_SECURITY_LEVEL = string("smtp_tls_security_level", "", "The TLS security level of the SMTP client: none, may, encrypt, dane, verify or secure.");
    SMTP_USE_TLS = boolean("smtp_use_tls", "no", "Obsolete: use TLS when the server offers STARTTLS (use smtp_tls_security_level = may).");
    SMTP_ENFORCE_TLS = boolean("smtp_enforce_tls", "no", "Obsolete: require TLS (use smtp_tls_security_level = encrypt).");
    SMTP_TLS_ENFORCE_PEERNAME = boolean("smtp_tls_enforce_peername", "yes", "Obsolete: with enforced TLS, require the server name to match its certificate.");
    SMTP_TLS_WRAPPERMODE = boolean("smtp_tls_wrappermode", "no", "Use the non-standard TLS wrapper mode (SMTPS) instead of STARTTLS.");
    SMTP_TLS_POLICY_MAPS = list("smtp_tls_policy_maps", "", "Lookup tables by destination with per-destination TLS policies.");
    SMTP_TLS_PER_SITE = list("smtp_tls_per_site", "", "Obsolete per-destination TLS policy tables (use smtp_tls_policy_maps).");
    SMTP_TLS_CAFILE = string("smtp_tls_CAfile", "", "A PEM file with the CA certificates trusted to sign server certificates.");
    SMTP_TLS_CAPATH = string("smtp_tls_CApath", "", "A directory with the CA certificates trusted to sign server certificates.");
    SMTP_TLS_CERT_FILE = string("smtp_tls_cert_file", "", "The PEM file with the SMTP client's RSA certificate.");
    SMTP_TLS_KEY_FILE = string("smtp_tls_key_file", "$smtp_tls_cert_file", "The PEM file with the SMTP client's RSA private key.");
    SMTP_TLS_CHAIN_FILES = list("smtp_tls_chain_files", "", "PEM files with the SMTP client's private keys and certificate chains.");
    SMTP_TLS_DCERT_FILE = string("smtp_tls_dcert_file", "", "The PEM file with the SMTP client's DSA certificate.");
    SMTP_TLS_DKEY_FILE = string("smtp_tls_dkey_file", "$smtp_tls_dcert_file", "The PEM file with the SMTP client's DSA private key.");
    SMTP_TLS_ECCERT_FILE = string("smtp_tls_eccert_file", "", "The PEM file with the SMTP client's ECDSA certificate.");
    SMTP_TLS_ECKEY_FILE = string("smtp_tls_eckey_file", "$smtp_tls_eccert_file", "The PEM file with the SMTP client's ECDSA private key.");
    SMTP_TLS_LOGLEVEL = string("smtp_tls_loglevel", "0", "The SMTP client's TLS logging level (0 to 4).");
    SMTP_TLS_NOTE_STARTTLS_OFFER = boolean("smtp_tls_note_starttls_offer", "no", "Log the hosts that offer STARTTLS when the client does not use TLS.");
    SMTP_TLS_SCERT_VERIFYDEPTH = int("smtp_tls_scert_verifydepth", "9", 1, MAX, "The verification depth for server certificates.");
    SMTP_TLS_PROTOCOLS = list("smtp_tls_protocols", ">=TLSv1", "The TLS protocols the SMTP client uses with opportunistic TLS.");
    SMTP_TLS_MANDATORY_PROTOCOLS = list("smtp_tls_mandatory_protocols", ">=TLSv1", "The TLS protocols the SMTP client uses with mandatory TLS.");
    SMTP_TLS_CIPHERS = string("smtp_tls_ciphers", "medium", "The minimum cipher grade of the SMTP client with opportunistic TLS.");
    SMTP_TLS_MANDATORY_CIPHERS = string("smtp_tls_mandatory_ciphers", "medium", "The minimum cipher grade of the SMTP client with mandatory TLS.");
    SMTP_TLS_EXCLUDE_CIPHERS = list("smtp_tls_exclude_ciphers", "", "Ciphers or cipher types the SMTP client excludes with any TLS.");
    SMTP_TLS_MANDATORY_EXCLUDE_CIPHERS = list("smtp_tls_mandatory_exclude_ciphers", "", "Additional ciphers the SMTP client excludes with mandatory TLS.");
    SMTP_TLS_FINGERPRINT_DIGEST = string("smtp_tls_fingerprint_digest", "sha256", "The message digest used to compute server certificate fingerprints.");
    SMTP_TLS_FINGERPRINT_CERT_MATCH = list("smtp_tls_fingerprint_cert_match", "", "Server certificate fingerprints accepted at the fingerprint security level.");
    SMTP_TLS_VERIFY_CERT_MATCH = list("smtp_tls_verify_cert_match", "hostname", "How the server certificate must match the destination at the verify level.");
    SMTP_TLS_SECURE_CERT_MATCH = list("smtp_tls_secure_cert_match", "nexthop, dot-nexthop", "How the server certificate must match the destination at the secure level.");
    SMTP_TLS_SERVERNAME = string("smtp_tls_servername", "", "The SNI name the SMTP client sends (empty: none; hostname: the server name; nexthop: the next hop).");
    SMTP_TLS_SESSION_CACHE_DATABASE = string("smtp_tls_session_cache_database", "", "The TLS session cache of the SMTP client.");
    SMTP_TLS_SESSION_CACHE_TIMEOUT = time("smtp_tls_session_cache_timeout", "3600s", 's', 0, 8640000, "The lifetime of cached SMTP client TLS sessions.");
    SMTP_TLS_BLOCK_EARLY_MAIL_REPLY = boolean("smtp_tls_block_early_mail_reply", "no", "Detect servers that answer before the TLS handshake (a man-in-the-middle sign).");
    SMTP_TLS_CONNECTION_REUSE = boolean("smtp_tls_connection_reuse", "no", "Reuse TLS connections through the tlsproxy service.");
    SMTP_TLS_TRUST_ANCHOR_FILE = list("smtp_tls_trust_anchor_file", "", "Zero or more PEM files with trust anchors for server certificates.");

    // --- LMTP client -----------------------------------------------------
    LMTP_CONNECT_TIMEOUT = time("lmtp_connect_timeout", "0s", 's', 0, MAX, "The time limit for the LMTP client to complete a connection (0: the OS limit).");
    LMTP_LHLO_TIMEOUT = time("lmtp_lhlo_timeout", "300s", 's', 1, MAX, "The time limit for receiving the server's greeting and the reply to LHLO.");
    LMTP_LHLO_NAME = string("lmtp_lhlo_name", "$myhostname", "The hostname the LMTP client sends in LHLO.");
    LMTP_MAIL_TIMEOUT = time("lmtp_mail_timeout", "300s", 's', 1, MAX, "The time limit for the reply to MAIL FROM.");
    LMTP_RCPT_TIMEOUT = time("lmtp_rcpt_timeout", "300s", 's', 1, MAX, "The time limit for the reply to RCPT TO.");
    LMTP_XFORWARD_TIMEOUT = time("lmtp_xforward_timeout", "300s", 's', 1, MAX, "The time limit for the reply to XFORWARD.");
    LMTP_DATA_INIT_TIMEOUT = time("lmtp_data_init_timeout", "120s", 's', 1, MAX, "The time limit for the reply to DATA.");
    LMTP_DATA_XFER_TIMEOUT = time("lmtp_data_xfer_timeout", "180s", 's', 1, MAX, "The time limit for sending the message content.");
    LMTP_DATA_DONE_TIMEOUT = time("lmtp_data_done_timeout", "600s", 's', 1, MAX, "The time limit for the replies to the end of the message content.");
    LMTP_RSET_TIMEOUT = time("lmtp_rset_timeout", "20s", 's', 1, MAX, "The time limit for the reply to RSET.");
    LMTP_QUIT_TIMEOUT = time("lmtp_quit_timeout", "300s", 's', 1, MAX, "The time limit for the reply to QUIT.");
    LMTP_TCP_PORT = string("lmtp_tcp_port", "24", "The default TCP port the LMTP client connects to.");
    LMTP_BIND_ADDRESS = string("lmtp_bind_address", "", "The local IPv4 address the LMTP client connects from.");
    LMTP_BIND_ADDRESS6 = string("lmtp_bind_address6", "", "The local IPv6 address the LMTP client connects from.");
    LMTP_HOST_LOOKUP = list("lmtp_host_lookup", "dns", "What mechanisms the LMTP client uses to look up a host's IP address.");
    LMTP_LINE_LENGTH_LIMIT = int("lmtp_line_length_limit", "998", 0, MAX, "The maximal length of lines the LMTP client sends (0: no limit).");
    LMTP_CONNECTION_CACHE_ON_DEMAND = boolean("lmtp_connection_cache_on_demand", "yes", "Cache LMTP connections to destinations with a backlog of mail.");
    LMTP_CONNECTION_CACHE_DESTINATIONS = list("lmtp_connection_cache_destinations", "", "Destinations whose LMTP connections are always cached.");
    LMTP_CONNECTION_CACHE_TIME_LIMIT = time("lmtp_connection_cache_time_limit", "2s", 's', 1, MAX, "How long an unused LMTP client connection stays cached.");
    LMTP_DESTINATION_CONCURRENCY_LIMIT = int("lmtp_destination_concurrency_limit", "$default_destination_concurrency_limit", 0, MAX, "The maximal number of parallel deliveries to one destination through the lmtp transport.");
    LMTP_DESTINATION_RECIPIENT_LIMIT = int("lmtp_destination_recipient_limit", "$default_destination_recipient_limit", 0, MAX, "The maximal number of recipients per delivery through the lmtp transport.");
    LMTP_ASSUME_FINAL = boolean("lmtp_assume_final", "no", "Send \"delivered\" DSNs when the LMTP server accepts mail, as a final delivery.");
    LMTP_SKIP_QUIT_RESPONSE = boolean("lmtp_skip_quit_response", "no", "Do not wait for the reply to QUIT.");
    LMTP_SEND_XFORWARD_COMMAND = boolean("lmtp_send_xforward_command", "no", "Send XFORWARD with the original client details when the server announces it.");
    LMTP_GENERIC_MAPS = list("lmtp_generic_maps", "", "Lookup tables that rewrite addresses in mail delivered through LMTP.");
    LMTP_SASL_AUTH_ENABLE = boolean("lmtp_sasl_auth_enable", "no", "Enable SASL authentication in the LMTP client.");
    LMTP_SASL_PASSWORD_MAPS = list("lmtp_sasl_password_maps", "", "Lookup tables by destination with username:password for the LMTP client.");
    LMTP_SASL_SECURITY_OPTIONS = list("lmtp_sasl_security_options", "noplaintext, noanonymous", "The SASL security options of the LMTP client.");
    LMTP_SASL_TYPE = string("lmtp_sasl_type", "cyrus", "The SASL plug-in type of the LMTP client.");
    LMTP_SASL_PATH = string("lmtp_sasl_path", "", "Implementation-specific information passed to the LMTP client's SASL plug-in.");
    LMTP_TLS_SECURITY_LEVEL = string("lmtp_tls_security_level", "", "The TLS security level of the LMTP client.");
    LMTP_TLS_POLICY_MAPS = list("lmtp_tls_policy_maps", "", "Lookup tables by destination with per-destination LMTP TLS policies.");
    LMTP_TLS_CAFILE = string("lmtp_tls_CAfile", "", "A PEM file with the CA certificates trusted to sign LMTP server certificates.");
    LMTP_TLS_CAPATH = string("lmtp_tls_CApath", "", "A directory with the CA certificates trusted to sign LMTP server certificates.");
    LMTP_TLS_CERT_FILE = string("lmtp_tls_cert_file", "", "The PEM file with the LMTP client's RSA certificate.");
    LMTP_TLS_KEY_FILE = string("lmtp_tls_key_file", "$lmtp_tls_cert_file", "The PEM file with the LMTP client's RSA private key.");
    LMTP_TLS_LOGLEVEL = string("lmtp_tls_loglevel", "0", "The LMTP client's TLS logging level (0 to 4).");
    LMTP_TLS_PROTOCOLS = list("lmtp_tls_protocols", ">=TLSv1", "The TLS protocols the LMTP client uses with opportunistic TLS.");
    LMTP_TLS_MANDATORY_PROTOCOLS = list("lmtp_tls_mandatory_protocols", ">=TLSv1", "The TLS protocols the LMTP client uses with mandatory TLS.");
    LMTP_TLS_FINGERPRINT_DIGEST = string("lmtp_tls_fingerprint_digest", "sha256", "The message digest used to compute LMTP server certificate fingerprints.");
    LMTP_TLS_SERVERNAME = string("lmtp_tls_servername", "", "The SNI name the LMTP client sends (empty: none; hostname: the server name; nexthop: the next hop).");
    LMTP_TLS_SESSION_CACHE_DATABASE = string("lmtp_tls_session_cache_database", "", "The TLS session cache of the LMTP client.");
    LMTP_STARTTLS_TIMEOUT = time("lmtp_starttls_timeout", "300s", 's', 1, MAX, "The time limit for the LMTP client's TLS handshake and shutdown.");

    // --- lookup tables ---------------------------------------------------
    DEFAULT_DATABASE_TYPE = string("default_database_type", "hash", "The default table type of newaliases, postalias and postmap.");
    BERKELEY_DB_CREATE_BUFFER_SIZE = int("berkeley_db_create_buffer_size", "16777216", 1, MAX, "The buffer size in bytes used when an indexed (hash) table is created.");
    BERKELEY_DB_READ_BUFFER_SIZE = int("berkeley_db_read_buffer_size", "131072", 1, MAX, "The buffer size in bytes used when an indexed (hash) table is read.");
    LMDB_MAP_SIZE = size("lmdb_map_size", "16777216", 1, MAX, "The initial size in bytes of an LMDB table.");
    PROXY_READ_MAPS = list("proxy_read_maps", "$local_recipient_maps $mydestination $virtual_alias_maps $virtual_alias_domains $virtual_mailbox_maps $virtual_mailbox_domains $relay_recipient_maps $relay_domains $canonical_maps $sender_canonical_maps $recipient_canonical_maps $relocated_maps $transport_maps $mynetworks $smtpd_sender_login_maps $sender_bcc_maps $recipient_bcc_maps $smtp_generic_maps $lmtp_generic_maps $alias_maps $smtpd_client_restrictions $smtpd_helo_restrictions $smtpd_sender_restrictions $smtpd_relay_restrictions $smtpd_recipient_restrictions $address_verify_sender_dependent_default_transport_maps $address_verify_sender_dependent_relayhost_maps $address_verify_transport_maps $fallback_transport_maps $lmtp_discard_lhlo_keyword_address_maps $lmtp_pix_workaround_maps $lmtp_sasl_password_maps $lmtp_tls_policy_maps $mailbox_command_maps $mailbox_transport_maps $postscreen_discard_ehlo_keyword_address_maps $rbl_reply_maps $sender_dependent_default_transport_maps $sender_dependent_relayhost_maps $smtp_discard_ehlo_keyword_address_maps $smtp_pix_workaround_maps $smtp_sasl_password_maps $smtp_tls_policy_maps $smtpd_discard_ehlo_keyword_address_maps $smtpd_milter_maps $virtual_gid_maps $virtual_uid_maps $local_login_sender_maps $postscreen_reject_footer_maps $smtpd_reject_footer_maps $tls_server_sni_maps $tlsproxy_client_policy_maps $default_delivery_status_filter $lmtp_delivery_status_filter $lmtp_dns_reply_filter $lmtp_reply_filter $local_delivery_status_filter $pipe_delivery_status_filter $postscreen_command_filter $smtp_delivery_status_filter $smtp_dns_reply_filter $smtp_reply_filter $smtpd_command_filter $smtpd_dns_reply_filter $virtual_delivery_status_filter $body_checks $header_checks $lmtp_body_checks $lmtp_header_checks $lmtp_mime_header_checks $lmtp_nested_header_checks $milter_header_checks $mime_header_checks $nested_header_checks $smtp_body_checks $smtp_header_checks $smtp_mime_header_checks $smtp_nested_header_checks", "The lookup tables the proxymap service may read.");
    PROXY_WRITE_MAPS = list("proxy_write_maps", "$smtp_sasl_auth_cache_name $lmtp_sasl_auth_cache_name $address_verify_map $postscreen_cache_map", "The lookup tables the proxywrite service may update.");
    DAEMON_TABLE_OPEN_ERROR_IS_FATAL = boolean("daemon_table_open_error_is_fatal", "no", "Make a daemon stop when a table cannot be opened instead of running degraded.");

    // --- POP3, IMAP and auth (Dovecot names) -----------------------------
    PROTOCOLS = list("protocols", "imap pop3 lmtp", "Dovecot setting: the protocols served (imap, pop3, lmtp).");
    LISTEN = list("listen", "*, ::", "Dovecot setting: the addresses pop3d and imapd listen on (* is all IPv4, :: all IPv6).");
    MAIL_LOCATION = string("mail_location", "", "Dovecot setting: where and in what format mailboxes are (maildir:~/Maildir, mbox:~/mail:INBOX=/var/mail/%u); empty: detect.");
    MAIL_PRIVILEGED_GROUP = string("mail_privileged_group", "", "Dovecot setting: the group that mail processes may use to create dotlocks in the mail spool (e.g. mail).");
    MAIL_MAX_USERIP_CONNECTIONS = int("mail_max_userip_connections", "10", 0, MAX, "Dovecot setting: the maximal number of IMAP (or POP3) connections per user and client address.");
    FIRST_VALID_UID = int("first_valid_uid", "500", 0, MAX, "Dovecot setting: the lowest user ID that may log in.");
    LAST_VALID_UID = int("last_valid_uid", "0", 0, MAX, "Dovecot setting: the highest user ID that may log in (0: no limit).");
    FIRST_VALID_GID = int("first_valid_gid", "1", 0, MAX, "Dovecot setting: the lowest group ID that mail processes may run with.");
    LAST_VALID_GID = int("last_valid_gid", "0", 0, MAX, "Dovecot setting: the highest group ID that mail processes may run with (0: no limit).");
    DISABLE_PLAINTEXT_AUTH = boolean("disable_plaintext_auth", "yes", "Dovecot setting: refuse plaintext authentication unless the connection is encrypted or from login_trusted_networks or localhost.");
    AUTH_MECHANISMS = list("auth_mechanisms", "plain", "Dovecot setting: the SASL mechanisms offered: plain, login, cram-md5, scram-sha-256 (the last two for SMTP AUTH and {PLAIN} passwords only). pop3d and imapd use plain and login.");
    AUTH_USERNAME_FORMAT = string("auth_username_format", "%Lu", "Dovecot setting: how user names are normalized before lookup (%Lu: lower-cased).");
    AUTH_FAILURE_DELAY = time("auth_failure_delay", "2s", 's', 0, MAX, "Dovecot setting: how long a failed authentication is delayed before the reply.");
    PASSDB = list("passdb", "shadow", "Dovecot's passdb drivers as a list, tried in order: shadow (the system's accounts), passwd-file:/path (Dovecot's user:{SCHEME}hash:uid:gid::home:: format), or any lookup table (sqlite:/path.cf, mysql:/path.cf, texthash:/path...) answering a user name with its {SCHEME}password; table users run as mail_uid/mail_gid with home mail_home.");
    AUTH_VERBOSE = boolean("auth_verbose", "no", "Dovecot setting: log unsuccessful authentication attempts and why they failed.");
    LOGIN_TRUSTED_NETWORKS = list("login_trusted_networks", "", "Dovecot setting: networks whose clients may log in with plaintext and whose forwarded addresses are trusted.");
    LOGIN_GREETING = string("login_greeting", "Dovecot ready.", "Dovecot setting: the greeting of the POP3 and IMAP servers.");
    SSL = string("ssl", "yes", "Dovecot setting: SSL/TLS for POP3 and IMAP: no, yes (STARTTLS and TLS ports) or required.");
    SSL_CERT = string("ssl_cert", "", "Dovecot setting: the PEM certificate (chain) file of pop3d and imapd (Dovecot writes <file; both forms work).");
    SSL_KEY = string("ssl_key", "", "Dovecot setting: the PEM private key file of pop3d and imapd.");
    SSL_CA = string("ssl_ca", "", "Dovecot setting: the PEM file of CAs trusted to sign client certificates.");
    SSL_MIN_PROTOCOL = string("ssl_min_protocol", "TLSv1.2", "Dovecot setting: the oldest TLS protocol version pop3d and imapd accept.");
    SSL_CIPHER_LIST = string("ssl_cipher_list", "", "Dovecot setting: the TLS 1.2 cipher list (empty: the TLS library's defaults).");
    SSL_PREFER_SERVER_CIPHERS = boolean("ssl_prefer_server_ciphers", "no", "Dovecot setting: prefer the server's cipher order over the client's.");
    POP3_UIDL_FORMAT = string("pop3_uidl_format", "%08Xu%08Xv", "Dovecot setting: the format of POP3 UIDLs.");
    POP3_NO_FLAG_UPDATES = boolean("pop3_no_flag_updates", "no", "Dovecot setting: do not mark messages seen when POP3 retrieves them.");
    POP3_CLIENT_IDLE_TIMEOUT = time("pop3_client_idle_timeout", "10m", 's', 1, MAX, "How long pop3d waits for the next command from a client before it says \"Disconnected for inactivity\" (Dovecot: 10 minutes, not configurable; RFC 1939 asks for at least 10 minutes).");
    POP3D_TLS_WRAPPERMODE = boolean("pop3d_tls_wrappermode", "no", "mailsuite: TLS from the first byte, for the pop3s service on port 995 (master.cf: -o pop3d_tls_wrappermode=yes; Dovecot's inet_listener pop3s with ssl = yes).");
    IMAPD_TLS_WRAPPERMODE = boolean("imapd_tls_wrappermode", "no", "mailsuite: TLS from the first byte, for the imaps service on port 993 (master.cf: -o imapd_tls_wrappermode=yes; Dovecot's inet_listener imaps with ssl = yes).");
    POP3_LOCK_SESSION = boolean("pop3_lock_session", "yes", "Dovecot setting: allow only one POP3 session per mailbox at a time (Dovecot defaults to no; mailsuite to yes, so a second client gets a clear -ERR [IN-USE]).");
    IMAP_IDLE_NOTIFY_INTERVAL = time("imap_idle_notify_interval", "2m", 's', 1, MAX, "Dovecot setting: how often IDLE sends \"* OK Still here\" when nothing happened.");
    IMAP_CLIENT_IDLE_TIMEOUT = time("imap_client_idle_timeout", "30m", 's', 1, MAX, "mailsuite: how long imapd waits for the next command (and an IDLE lasts at most) before it says \"* BYE Disconnected for inactivity.\" (Dovecot: 30 minutes, RFC 3501's minimum autologout time).");
    IMAP_MAX_LINE_LENGTH = size("imap_max_line_length", "65536", 1, MAX, "Dovecot setting: the maximal IMAP command line length in bytes.");
    MAIL_DEBUG = boolean("mail_debug", "no", "Dovecot setting: log how mailbox locations are found.");
    MAIL_UID = string("mail_uid", "", "Dovecot setting: the system user of mail processes (for virtual users all owned by one account).");
    MAIL_GID = string("mail_gid", "", "Dovecot setting: the system group of mail processes.");
    MAIL_HOME = string("mail_home", "", "Dovecot setting: the home directory of virtual users (e.g. /var/vmail/%d/%n).");
    MAILBOX_IDLE_CHECK_INTERVAL = time("mailbox_idle_check_interval", "30s", 's', 1, MAX, "Dovecot setting: how often IMAP IDLE checks a mailbox for changes.");
    MAILDIR_VERY_DIRTY_SYNCS = boolean("maildir_very_dirty_syncs", "no", "Dovecot setting: assume only Dovecot changes the Maildir's cur/ directory.");
    MBOX_READ_LOCKS = list("mbox_read_locks", "fcntl", "Dovecot setting: the locks taken when an mbox is read.");
    MBOX_WRITE_LOCKS = list("mbox_write_locks", "fcntl dotlock", "Dovecot setting: the locks taken when an mbox is written.");
    MBOX_LOCK_TIMEOUT = time("mbox_lock_timeout", "5m", 's', 1, MAX, "Dovecot setting: the maximal time to wait for all mbox locks.");

    // --- misc ------------------------------------------------------------
    STRESS = string("stress", "", "Set by the master to yes when a service is overloaded (do not set in main.cf).");
    HELPFUL_WARNINGS = boolean("helpful_warnings", "yes", "Log warnings about problematic configuration settings.");
    VERP_DELIMITER_FILTER = string("verp_delimiter_filter", "-=+", "The characters accepted as VERP delimiters.");
    DEFAULT_VERP_DELIMITERS = string("default_verp_delimiters", "+=", "The two default VERP delimiter characters.");
    DISABLE_VERP_BOUNCES = boolean("disable_verp_bounces", "no", "Send one bounce report for multiple recipients of a VERP message.");
    AUTHORIZED_SUBMIT_USERS = list("authorized_submit_users", "static:anyone", "The users who may submit mail with sendmail or postdrop.");
    AUTHORIZED_FLUSH_USERS = list("authorized_flush_users", "static:anyone", "The users who may flush the queue with sendmail -q or postqueue -f.");
    AUTHORIZED_MAILQ_USERS = list("authorized_mailq_users", "static:anyone", "The users who may list the queue with mailq or postqueue -p.");
    SENDMAIL_FIX_LINE_ENDINGS = string("sendmail_fix_line_endings", "always", "When sendmail converts LF line endings to CRLF: always, strict or never.");
    FROZEN_DELIVERED_TO = boolean("frozen_delivered_to", "yes", "Record the Delivered-To: address at the start of delivery rather than when it is added.");
    DETECT_8BIT_ENCODING_HEADER = boolean("detect_8bit_encoding_header", "yes", "Detect that a message is 8-bit from its Content-Transfer-Encoding: header.");
    UNDISCLOSED_RECIPIENTS_HEADER = string("undisclosed_recipients_header", "", "The header added to a message that has no recipient headers.");
    MESSAGE_DROP_HEADERS = list("message_drop_headers", "bcc, content-length, resent-bcc, return-path", "Headers that are removed from every message.");
    ALLOW_MIN_USER = boolean("allow_min_user", "no", "Allow a sender or recipient address to start with a '-'.");
    DEFAULT_FILTER_NEXTHOP = string("default_filter_nexthop", "", "The default next hop of a content_filter that names only a transport.");
    DEFAULT_DELIVERY_STATUS_FILTER = list("default_delivery_status_filter", "", "Lookup tables that replace delivery status codes or texts of all delivery agents.");
    RELAY_CLIENTCERTS = list("relay_clientcerts", "", "Client certificate fingerprints that permit_tls_clientcerts accepts for relaying.");
    LOCAL_LOGIN_SENDER_MAPS = list("local_login_sender_maps", "static:*", "Lookup tables by local login name with the envelope sender addresses that user may use.");
    BEST_MX_TRANSPORT = string("best_mx_transport", "", "Where the SMTP client delivers mail when it finds itself the best MX host (empty: bounce).");
    IGNORE_MX_LOOKUP_ERROR = boolean("ignore_mx_lookup_error", "no", "Ignore a temporary MX lookup error and look up the A record instead.");
}

#[cfg(test)]
mod tests {
    use super::ALL;
    use crate::value;

    #[test]
    fn names_are_unique_and_sorted_output_is_stable() {
        let mut names: Vec<&str> = ALL.iter().map(|p| p.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a parameter is declared twice");
    }

    #[test]
    fn every_literal_default_fits_its_declaration() {
        for p in ALL {
            if p.computed.is_none() && !p.default.contains('$') {
                value::check(p, p.default)
                    .unwrap_or_else(|e| panic!("{}: default {:?}: {e}", p.name, p.default));
            }
        }
    }

    #[test]
    fn every_parameter_has_a_doc() {
        for p in ALL {
            assert!(
                p.doc.len() > 10 && p.doc.ends_with('.'),
                "{}: doc {:?}",
                p.name,
                p.doc
            );
        }
    }
}
