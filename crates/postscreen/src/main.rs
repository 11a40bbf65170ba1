//! NAME
//!   postscreen - mailsuite's SMTP client screen
//!
//! SYNOPSIS
//!   postscreen [generic daemon options] (started by the master)
//!
//! DESCRIPTION
//!   postscreen takes the SMTP port's connections before smtpd does, as
//!   Postfix's postscreen(8) does, and keeps zombies and spam bots away
//!   from the smtpd processes. One process serves every client, each on a
//!   thread of its own, in master.cf's Postfix form:
//!
//!       smtp      inet  n  -  y  -  1  postscreen
//!       smtpd     pass  -  -  y  -  -  smtpd
//!
//!   For each connection ("CONNECT from [ip]:port to [ip]:port"):
//!   * postscreen_access_list (permit_mynetworks, and cidr or other tables
//!     of the client address whose value is permit, reject or dunno): a
//!     permitted client ("ALLOWLISTED [ip]:port") goes to smtpd at once; a
//!     rejected one ("DENYLISTED") fails with postscreen_denylist_action.
//!   * A client that passed every test within their time to live
//!     ("PASS OLD") goes to smtpd at once.
//!   * A client that reached a local address postscreen_allowlist_interfaces
//!     (old name postscreen_whitelist_interfaces; static:all by default)
//!     does not list, say a backup MX address, is tested ("ALLOWLIST VETO
//!     [ip]:port") but cannot pass there: after the tests before the
//!     greeting it is always taken into postscreen's own SMTP, whose every
//!     RCPT is told "450 4.3.2 Service currently unavailable"; it is not
//!     remembered and never goes to smtpd. A client that passed elsewhere
//!     goes through on any address.
//!   * Otherwise postscreen sends the first line of a multi-line greeting
//!     (`220-` postscreen_greet_banner, unless empty), asks the
//!     postscreen_dnsbl_sites (`domain[=filter][*weight]`) about the
//!     address (a pool of workers asks the lists side by side; what has
//!     not answered by the end of the greet wait, or
//!     postscreen_dnsbl_timeout, counts as not listed, and the client is
//!     then not remembered), and waits postscreen_greet_wait. A client that talks
//!     before its turn fails ("PREGREET N after T from [ip]:port: text",
//!     with postscreen_greet_action); the lists' weights of those that list
//!     the client add up to its score, which at postscreen_dnsbl_threshold
//!     or more fails it ("DNSBL rank N for [ip]:port", with
//!     postscreen_dnsbl_action). What the client sent is only looked at,
//!     never taken: smtpd reads it. Only the tests whose pass has run out
//!     are made again: a client whose pregreet pass still holds waits only
//!     for the lists' answers.
//!   * With postscreen_dnsbl_allowlist_threshold below zero, a client
//!     whose score (weights may be negative: DNS allow lists) comes in at
//!     or under it, with no test failed, passes at once: the greet wait
//!     is cut short, the tests after the greeting are skipped, and every
//!     test counts as passed for as long as a DNS list pass holds.
//!   * A client that passed every test ("PASS NEW") is remembered for
//!     postscreen_greet_ttl (postscreen_dnsbl_min_ttl to
//!     postscreen_dnsbl_max_ttl with DNS lists) and handed to smtpd, whose
//!     greeting ends the one postscreen began. A failed test's action:
//!     ignore (the client goes to smtpd anyway, not remembered), enforce
//!     (postscreen talks SMTP itself and refuses every recipient: "550
//!     5.7.1 Service unavailable; client [ip] blocked using list", "550
//!     5.5.1 Protocol error", "550 5.3.2 Service currently unavailable",
//!     logged "NOQUEUE: reject: RCPT from …"), or drop ("521" and
//!     "DISCONNECT [ip]:port").
//!
//!   The client is handed to smtpd over the "pass" service
//!   ($queue_directory/private/$smtpd_service_name) with its open
//!   connection and a PROXY version 1 header naming the client and the
//!   address it reached, which smtpd logs and judges. When no smtpd takes it
//!   within 10 seconds, or postscreen_post_queue_limit clients are being
//!   handed on already, the client gets "421 4.3.2 All server ports are
//!   busy" (after the teaser, at its first command).
//!
//!   Behind a load balancer, postscreen_upstream_proxy_protocol = haproxy
//!   reads the PROXY protocol header (version 1 or 2) first, within
//!   postscreen_upstream_proxy_timeout: the client it names is the one
//!   screened, remembered and handed on. A connection without a valid
//!   header is logged ("haproxy read: …"), told "421 4.3.2 No system
//!   resources" and closed.
//!
//!   Limits, checked in Postfix's order: a client beyond
//!   postscreen_client_connection_count_limit connections at once gets
//!   "421 4.7.0 Error: too many connections"; then the post-queue limit;
//!   then, for clients neither allow-listed nor remembered, beyond
//!   postscreen_pre_queue_limit clients in the tests, "421 4.3.2 All
//!   screening ports are busy". In postscreen's own SMTP each command
//!   must come whole within postscreen_command_time_limit, at most
//!   postscreen_command_count_limit of them. An unknown action value
//!   stops postscreen.
//!
//!   Who passed is kept in postscreen_cache_map (a btree or hash file,
//!   rewritten whole a few seconds after a change: the client address and
//!   when its pass expires), so a restart remembers; with another table
//!   type, or a file outside a chroot jail, only in memory. An entry
//!   outlives its passes by postscreen_cache_retention_time: a client the
//!   cache still has is tested again when a pass ran out, and then passes
//!   "PASS OLD", not "PASS NEW". Every postscreen_cache_cleanup_interval
//!   (none when zero; the first at start, or when the interval since the
//!   last one, kept in the file under Postfix's key
//!   _LAST_CACHE_CLEANUP_COMPLETED_, has run out) the entries are dropped
//!   that have had no pass of an enabled test for longer than the
//!   retention time ("cache btree:/path full cleanup: retained=N
//!   dropped=N entries").
//!
//!   The tests after the greeting, when enabled
//!   (postscreen_pipelining_enable, postscreen_non_smtp_command_enable,
//!   postscreen_bare_newline_enable), run in postscreen's own SMTP, which
//!   never announces PIPELINING: a command sent before the reply to the
//!   last ("COMMAND PIPELINING from [ip]:port after
//!   MAIL: …"), a command postscreen_forbidden_commands names ("NON-SMTP
//!   COMMAND from …"), a line that ends in a bare newline ("BARE NEWLINE
//!   from …") fail with their _action (ignore counts as a pass). A client
//!   that reaches RCPT without failing has passed ("PASS NEW"); it is told
//!   "450 4.3.2 Service currently unavailable" (its connection cannot go
//!   to smtpd once the dialogue began) and goes straight through when it
//!   comes back, for the shortest of the tests' _ttl. Each test fails once
//!   per session and the others go on; a failure after RCPT takes the pass
//!   back ("UNPASS"); a command line that looks like a message header is a
//!   non-SMTP command. Each kind of test (pregreet, DNS lists, after the
//!   greeting) is remembered for its own time to live. An ignored failure
//!   lets the other tests go on, the tests after the greeting included.
//!   postscreen's own SMTP offers STARTTLS where
//!   postscreen_tls_security_level (or, where it is empty, the older
//!   postscreen_use_tls and postscreen_enforce_tls) is may or encrypt,
//!   doing itself what Postfix's tlsproxy does for it, with the
//!   tlsproxy_tls_* certificates and protocols (by default smtpd's); at
//!   encrypt, MAIL is refused until the client uses it ("530 5.7.0 Must
//!   issue a STARTTLS command first"). A session in TLS is logged
//!   ("Anonymous TLS connection established from [ip]:port: …"); what a
//!   client sent after STARTTLS in plain text is thrown away, and the
//!   dialogue starts over. Every read (a TLS record's included) and the
//!   handshake must end within the command time limit. Keys that cannot
//!   be read are logged, and TLS is then neither offered nor required. A command that does not come in time ends the
//!   session ("COMMAND TIME LIMIT", "421 4.4.2 … Error: timeout
//!   exceeded"); with the tests nine-tenths full, the time limit is 10 s.
//!
//!   postscreen's own SMTP, as Postfix 3.7's: its EHLO reply announces
//!   SIZE (message_size_limit), VRFY (unless disable_vrfy_command),
//!   ETRN (answered "458 Unable to queue messages"), STARTTLS where
//!   offered, ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8 (with
//!   smtputf8_enable) and CHUNKING, less postscreen_discard_ehlo_keywords
//!   (by default smtpd_discard_ehlo_keywords), or for a client that
//!   postscreen_discard_ehlo_keyword_address_maps names by address, its
//!   list instead, logged ("[ip]port: discarding EHLO keywords: …", with
//!   Postfix's missing colon) unless it holds silent-discard or is the
//!   list for every client; STARTTLS left out is refused ("502 5.5.1
//!   Error: command not implemented"). HELO or EHLO without a name gets
//!   "501 Syntax: HELO hostname" ("… EHLO hostname"); of the name only the
//!   first word is kept. postscreen_command_filter (empty by default:
//!   in Postfix 3.7 it does not follow smtpd_command_filter, whatever its
//!   manual says) looks each command line up, without its line
//!   end and leading blanks, before the tests and the parser see it, and
//!   a value found replaces it ("[ip]:port: replacing command "…" with
//!   "…""; a table that fails is logged and the line kept, where Postfix's
//!   postscreen would stop).
//!
//!   Every 4XX and 5XX reply postscreen sends (but the 421 to a connection
//!   whose PROXY header could not be read) gets the reject footer:
//!   postscreen_reject_footer_maps looked up by the whole reply ("550
//!   5.7.1 Service unavailable; …"), else postscreen_reject_footer (by
//!   default the text of smtpd_reject_footer, taken as written). "\n"
//!   starts another line, "\c" first continues the reply's line;
//!   $client_address, $client_port, $server_name (myhostname) and
//!   $localtime are expanded, their values filtered by
//!   postscreen_expansion_filter (by default smtpd_expansion_filter); that
//!   filter is what Postfix uses it for, as postscreen expands nothing
//!   else ($client_name, which postscreen never looks up, is empty).
//!
//!   postscreen_watchdog_timeout is not used: Postfix's postscreen serves
//!   every client from one event loop, which a watchdog stops when one
//!   step (a reply, a cache update) stalls it. Here each client has a
//!   thread of its own whose every read and write has a deadline, table
//!   look-ups stall only that client, and the cache is written on a thread
//!   that no client waits for; the thread that takes connections does no
//!   other work, so there is no loop whose stall a watchdog would catch.
//!
//! SECURITY
//!   Reads network input, so it runs as mail_owner (master.cf unpriv `-`),
//!   chrooted where master.cf says. It only looks at what a client sends
//!   before the greeting, and parses commands only in its own SMTP (to
//!   test or refuse them), a line at a time, at most 4096 bytes each. DNS
//!   lists are asked through the resolver set up before the privilege
//!   drop, and the TLS keys are read before it too.
//!
//! CONFIGURATION PARAMETERS
//!   postscreen_access_list, mynetworks, postscreen_denylist_action,
//!   postscreen_greet_banner, postscreen_greet_wait, postscreen_greet_action,
//!   postscreen_greet_ttl, postscreen_dnsbl_sites, postscreen_dnsbl_threshold,
//!   postscreen_dnsbl_action, postscreen_dnsbl_allowlist_threshold,
//!   postscreen_dnsbl_reply_map (the name a list goes by in replies),
//!   postscreen_dnsbl_min_ttl,
//!   postscreen_dnsbl_max_ttl, postscreen_dnsbl_timeout,
//!   postscreen_command_time_limit, postscreen_command_count_limit,
//!   postscreen_helo_required (MAIL before HELO or EHLO gets 503),
//!   postscreen_disable_vrfy_command, postscreen_pre_queue_limit,
//!   postscreen_client_connection_count_limit, postscreen_post_queue_limit,
//!   postscreen_cache_map, postscreen_pipelining_enable,
//!   postscreen_pipelining_action, postscreen_pipelining_ttl,
//!   postscreen_non_smtp_command_enable, postscreen_non_smtp_command_action,
//!   postscreen_non_smtp_command_ttl, postscreen_forbidden_commands,
//!   postscreen_bare_newline_enable, postscreen_bare_newline_action,
//!   postscreen_bare_newline_ttl,
//!   postscreen_upstream_proxy_protocol, postscreen_upstream_proxy_timeout,
//!   postscreen_tls_security_level, postscreen_use_tls,
//!   postscreen_enforce_tls, tlsproxy_tls_cert_file, tlsproxy_tls_key_file,
//!   tlsproxy_tls_eccert_file, tlsproxy_tls_eckey_file,
//!   tlsproxy_tls_chain_files, tlsproxy_tls_protocols,
//!   tlsproxy_tls_mandatory_protocols, tlsproxy_tls_ciphers,
//!   tlsproxy_tls_mandatory_ciphers, tlsproxy_tls_exclude_ciphers,
//!   tlsproxy_tls_mandatory_exclude_ciphers, tls_high_cipherlist,
//!   tls_medium_cipherlist, tls_low_cipherlist, tls_export_cipherlist,
//!   tls_null_cipherlist, tlsproxy_tls_eecdh_grade, tls_eecdh_auto_curves,
//!   tls_eecdh_strong_curve, tls_eecdh_ultra_curve, tlsproxy_tls_loglevel,
//!   postscreen_allowlist_interfaces, postscreen_cache_retention_time,
//!   postscreen_cache_cleanup_interval, postscreen_reject_footer,
//!   postscreen_reject_footer_maps, postscreen_expansion_filter,
//!   postscreen_discard_ehlo_keywords,
//!   postscreen_discard_ehlo_keyword_address_maps,
//!   postscreen_command_filter, message_size_limit, disable_vrfy_command,
//!   smtputf8_enable, smtpd_service_name, myhostname,
//!   dns_resolver_address (mailsuite extension).
//!
//! FILES
//!   $queue_directory/private/$smtpd_service_name (the pass service).

mod cache;
mod engine;
mod lists;
mod screen;
mod settings;

use cache::{Cache, CacheFile};
use lists::Lists;
use params::table as p;
use screen::Shared;
use server::{Client, Context, Service, SingleService};
use settings::Settings;
use std::sync::Arc;

/// What is read before the chroot, for the service that starts after it.
struct Prepared {
    settings: Settings,
    tls: Option<tls::ServerTls>,
    passed: std::collections::HashMap<std::net::IpAddr, cache::Passes>,
    /// When the last cache cleanup ended, as the cache file says.
    last_cleanup: Option<std::time::SystemTime>,
    cache_file: Option<CacheFile>,
    /// postscreen_cache_map, the cache's name in the cleanup's log lines.
    cache_name: Option<String>,
    /// The DNS list resolvers (they read /etc/resolv.conf).
    resolvers: Vec<dns::Resolver>,
}

#[derive(Default)]
struct Postscreen {
    prepared: Option<Prepared>,
    shared: Option<Arc<Shared>>,
}

impl Service for Postscreen {
    fn requires_unprivileged(&self) -> bool {
        true
    }

    fn long_running(&self) -> bool {
        true
    }

    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        let mut settings = Settings::new(&ctx.config, ctx.queue_dir())?;
        // The keys are read now, before the privilege drop. Without them
        // TLS is neither offered nor required: no client could pass.
        let tls = settings.tls_level.server(&ctx.config).unwrap_or_else(|e| {
            maillog::warning!(
                "cannot set up TLS: {e}; postscreen neither offers nor requires STARTTLS"
            );
            settings.tls_level = settings::TlsLevel::None;
            None
        });
        let mut resolvers = Vec::new();
        if !settings.sites.is_empty() {
            for _ in 0..Lists::workers(settings.sites.len()) {
                match dns::Resolver::new(dns::Options {
                    server: dns::parse_server(ctx.config.str(&p::DNS_RESOLVER_ADDRESS)),
                    timeout: lists::QUERY_TIMEOUT,
                    attempts: 1,
                    ..dns::Options::default()
                }) {
                    Ok(r) => resolvers.push(r),
                    Err(e) => {
                        maillog::warning!("DNS lists: {e}; postscreen_dnsbl_sites is not used");
                        break;
                    }
                }
            }
        }
        let cache_file = CacheFile::from_config(&ctx.config, ctx.chrooted(), &ctx.queue_dir());
        // Read before the chroot, where the file is under its full name.
        let (passed, last_cleanup) = cache_file.as_ref().map(CacheFile::load).unwrap_or_default();
        let cache_name = Some(ctx.config.str(&p::POSTSCREEN_CACHE_MAP).trim().to_string())
            .filter(|n| !n.is_empty());
        self.prepared = Some(Prepared {
            settings,
            tls,
            passed,
            last_cleanup,
            cache_file,
            cache_name,
            resolvers,
        });
        Ok(())
    }

    /// The workers start now, after the privilege drop.
    fn post_jail(&mut self, _ctx: &Context) -> Result<(), server::HookError> {
        let Some(p) = self.prepared.take() else {
            return Ok(());
        };
        let lists = (!p.resolvers.is_empty()).then(|| {
            let queue = p.settings.pre_queue_limit * p.settings.sites.len();
            Lists::start(p.settings.sites.clone(), p.resolvers, queue)
        });
        let cache = Arc::new(Cache::new(p.passed, p.last_cleanup));
        if let Some(file) = p.cache_file {
            cache.keep_saving(file);
        }
        let s = &p.settings;
        if !s.cache_cleanup_interval.is_zero() {
            let enabled = cache::Enabled {
                dnsbl: !s.sites.is_empty(),
                deep: s.deep_ttl().is_some(),
            };
            cache.keep_cleaning(
                s.cache_cleanup_interval,
                s.cache_retention,
                enabled,
                p.cache_name,
            );
        }
        self.shared = Some(Arc::new(Shared::new(p.settings, p.tls, cache, lists)));
        Ok(())
    }
}

impl SingleService for Postscreen {
    /// Each client gets a thread; the next connection is taken at once.
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let (Some(shared), Client::Tcp(stream)) = (self.shared.clone(), client) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("client".into())
            .spawn(move || screen::screen(shared, stream));
        if let Err(e) = spawned {
            maillog::warning!("cannot start a thread for a client: {e}");
        }
    }
}

fn main() {
    server::single_server("postscreen", Postscreen::default())
}

#[cfg(test)]
mod tests {
    use crate::engine::address_of;
    use crate::screen::printable;
    use crate::settings::{Action, Site};
    use std::net::Ipv4Addr;

    #[test]
    fn sites_parse_with_filters_and_weights() {
        let s = Site::parse("zen.example=127.0.0.[2..11]*3").expect("site");
        assert_eq!((s.entry.zone.as_str(), s.weight), ("zen.example", 3));
        assert!(s.entry.listed(&[Ipv4Addr::new(127, 0, 0, 4)]));
        let s = Site::parse("wl.example*-2").expect("allow list");
        assert_eq!(s.weight, -2);
        assert_eq!(Site::parse("bl.example").expect("plain").weight, 1);
        assert!(Site::parse("bl.example*x").is_none());
    }

    #[test]
    fn addresses_and_pregreets_are_shown_as_postfix_shows_them() {
        assert_eq!(address_of("FROM:<a@b.example> SIZE=10"), "a@b.example");
        assert_eq!(address_of("TO:<>"), "");
        assert_eq!(printable(b"EHLO x\r\n\x01"), "EHLO x\\r\\n?");
        assert!(Action::Drop > Action::Enforce && Action::Enforce > Action::Ignore);
    }

    #[test]
    fn errors_get_the_footer_with_their_codes() {
        use crate::engine::wire;
        let settings = maps::footer::FooterSettings::new(
            "Ask $server_name\\nabout $client_address",
            "postscreen_reject_footer_maps",
            "",
            params::table::SMTPD_EXPANSION_FILTER.default,
        )
        .expect("footer");
        let footer = maps::footer::Footer::new(
            settings,
            vec![
                ("client_address", "192.0.2.1".into()),
                ("server_name", "mx.example".into()),
            ],
        );
        let f = Some(&footer);
        assert_eq!(
            wire("421 4.3.2 All screening ports are busy", f),
            "421-4.3.2 All screening ports are busy\r\n421-4.3.2 Ask mx.example\r\n421 4.3.2 about 192.0.2.1\r\n"
        );
        assert_eq!(
            wire("501 Syntax: HELO hostname", f),
            "501-Syntax: HELO hostname\r\n501-Ask mx.example\r\n501 about 192.0.2.1\r\n"
        );
        for as_is in ["220 mx.example ESMTP", "250-a\r\n250 b", "bogus"] {
            assert_eq!(wire(as_is, f), format!("{as_is}\r\n"));
        }
        assert_eq!(
            wire("550 5.5.1 Protocol error", None),
            "550 5.5.1 Protocol error\r\n"
        );
    }
}
