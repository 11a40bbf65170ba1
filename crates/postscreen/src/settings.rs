//! postscreen's settings, read once: the tests, their actions and time to
//! live, the access list, the limits.

use params::{table as p, Config};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a failed test makes postscreen do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Ignore,
    Enforce,
    Drop,
}

impl Action {
    /// An action's name; anything else stops postscreen, as in Postfix.
    fn parse(name: &str, value: &str) -> Result<Action, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "ignore" => Ok(Action::Ignore),
            "enforce" => Ok(Action::Enforce),
            "drop" => Ok(Action::Drop),
            other => Err(format!(
                "unknown {name} value \"{other}\" (specify ignore, enforce or drop)"
            )),
        }
    }
}

/// STARTTLS in postscreen's own SMTP (postscreen_tls_security_level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    /// Not offered.
    None,
    /// Offered.
    May,
    /// Offered, and MAIL refused until the client uses it.
    Encrypt,
}

impl TlsLevel {
    /// postscreen_tls_security_level, or where it is empty the older
    /// postscreen_enforce_tls and postscreen_use_tls; an unknown level is
    /// taken as encrypt, as Postfix takes it.
    fn from_config(cfg: &Config) -> TlsLevel {
        match cfg.str(&p::POSTSCREEN_TLS_SECURITY_LEVEL).trim() {
            "" if cfg.bool(&p::POSTSCREEN_ENFORCE_TLS) => TlsLevel::Encrypt,
            "" if cfg.bool(&p::POSTSCREEN_USE_TLS) => TlsLevel::May,
            "" | "none" => TlsLevel::None,
            "may" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            other => {
                maillog::warning!(
                    "postscreen_tls_security_level: unsupported TLS level \"{other}\", using \"encrypt\""
                );
                TlsLevel::Encrypt
            }
        }
    }

    /// The certificates and protocols for STARTTLS (the tlsproxy_tls_*
    /// parameters), read now; None when not offered.
    pub fn server(self, cfg: &Config) -> Result<Option<tls::ServerTls>, String> {
        if self == TlsLevel::None {
            return Ok(None);
        }
        let credentials = tls::Credentials::new(
            &cfg.list(&p::TLSPROXY_TLS_CHAIN_FILES),
            &[
                (
                    cfg.str(&p::TLSPROXY_TLS_CERT_FILE),
                    cfg.str(&p::TLSPROXY_TLS_KEY_FILE),
                ),
                (
                    cfg.str(&p::TLSPROXY_TLS_ECCERT_FILE),
                    cfg.str(&p::TLSPROXY_TLS_ECKEY_FILE),
                ),
            ],
        );
        if credentials.is_empty() {
            return Err("tlsproxy_tls_chain_files or tlsproxy_tls_cert_file/tlsproxy_tls_key_file are not set".into());
        }
        let (param, grade, exclude) = if self == TlsLevel::Encrypt {
            (
                &p::TLSPROXY_TLS_MANDATORY_PROTOCOLS,
                &p::TLSPROXY_TLS_MANDATORY_CIPHERS,
                &[
                    &p::TLSPROXY_TLS_EXCLUDE_CIPHERS,
                    &p::TLSPROXY_TLS_MANDATORY_EXCLUDE_CIPHERS,
                ][..],
            )
        } else {
            (
                &p::TLSPROXY_TLS_PROTOCOLS,
                &p::TLSPROXY_TLS_CIPHERS,
                &[&p::TLSPROXY_TLS_EXCLUDE_CIPHERS][..],
            )
        };
        let protocols =
            tls::Protocols::parse(&cfg.list(param)).map_err(|e| format!("{}: {e}", param.name))?;
        let ciphers = tls::Ciphers::from_config(cfg, grade, exclude)?
            .with_eecdh_grade(cfg, cfg.str(&p::TLSPROXY_TLS_EECDH_GRADE))
            .map_err(|e| format!("tlsproxy_tls_eecdh_grade: {e}"))?;
        credentials
            .load()
            .and_then(|chains| {
                tls::ServerTls::from_chains_asking(chains, protocols, &ciphers, None)
            })
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// A test the client failed, and what follows.
#[derive(Debug, Clone)]
pub struct Failure {
    pub action: Action,
    /// The reply to every recipient when enforcing.
    pub enforce_reply: String,
    /// The reply before dropping.
    pub drop_reply: String,
}

/// One of postscreen_dnsbl_sites.
#[derive(Debug, Clone)]
pub struct Site {
    pub entry: dns::list::Entry,
    pub weight: i64,
}

impl Site {
    /// `domain[=filter][*weight]`.
    pub fn parse(text: &str) -> Option<Site> {
        let (list, weight) = match text.rsplit_once('*') {
            Some((l, w)) => (l, w.trim().parse().ok()?),
            None => (text, 1),
        };
        Some(Site {
            entry: dns::list::Entry::parse(list.trim())?,
            weight,
        })
    }
}

/// One of the tests after the greeting, when enabled.
#[derive(Debug, Clone, Copy)]
pub struct DeepTest {
    pub action: Action,
    pub ttl: Duration,
}

/// An entry of postscreen_access_list.
pub enum Access {
    Mynetworks,
    Table(Box<dyn maps::Map>),
}

pub struct Settings {
    pub myhostname: String,
    pub banner: String,
    pub greet_wait: Duration,
    pub greet_action: Action,
    pub greet_ttl: Duration,
    pub denylist_action: Action,
    pub sites: Vec<Site>,
    pub threshold: i64,
    /// postscreen_dnsbl_allowlist_threshold, when negative (enabled): a
    /// client whose score is at or below it skips the other tests.
    pub allowlist_threshold: Option<i64>,
    /// postscreen_dnsbl_reply_map: the name a list goes by in replies (a
    /// list whose name holds a secret key).
    pub dnsbl_reply_map: maps::MapList,
    pub dnsbl_action: Action,
    pub dnsbl_min_ttl: Duration,
    pub dnsbl_max_ttl: Duration,
    pub dnsbl_timeout: Duration,
    pub command_time_limit: Duration,
    pub command_count_limit: usize,
    pub vrfy_disabled: bool,
    /// postscreen_helo_required: MAIL only after HELO or EHLO.
    pub helo_required: bool,
    /// postscreen_pre_queue_limit: clients in the tests at once.
    pub pre_queue_limit: usize,
    /// postscreen_post_queue_limit: clients being handed to smtpd at once.
    pub post_queue_limit: usize,
    /// postscreen_client_connection_count_limit (0: none).
    pub per_client_limit: usize,
    pub access: Vec<Access>,
    pub mynetworks: maps::hosts::HostList,
    /// postscreen_pipelining_enable, _action, _ttl.
    pub pipelining: Option<DeepTest>,
    /// postscreen_non_smtp_command_enable, _action, _ttl.
    pub non_smtp: Option<DeepTest>,
    /// postscreen_bare_newline_enable, _action, _ttl.
    pub bare_newline: Option<DeepTest>,
    /// postscreen_forbidden_commands: what the non-SMTP command test looks for.
    pub forbidden: maps::commands::ForbiddenCommands,
    pub smtpd_socket: PathBuf,
    /// postscreen_upstream_proxy_protocol = haproxy: the time limit for
    /// the PROXY header (postscreen_upstream_proxy_timeout).
    pub upstream_proxy: Option<Duration>,
    pub tls_level: TlsLevel,
    /// `tlsproxy_tls_loglevel`.
    pub tls_log: tls::LogLevel,
    /// postscreen_reject_footer and postscreen_reject_footer_maps, expanded
    /// with postscreen_expansion_filter (None: neither is set).
    pub footer: Option<Arc<maps::footer::FooterSettings>>,
    /// postscreen_discard_ehlo_keywords and
    /// postscreen_discard_ehlo_keyword_address_maps.
    pub ehlo_discard: maps::commands::EhloDiscard,
    /// postscreen_command_filter (None: empty).
    pub command_filter: Option<maps::commands::CommandFilter>,
    /// postscreen_allowlist_interfaces: the local addresses where a client
    /// may pass (and be remembered, and handed to smtpd).
    pub allowlist_interfaces: maps::hosts::HostList,
    /// postscreen_cache_retention_time: how long a client's entry stays
    /// after its passes ran out.
    pub cache_retention: Duration,
    /// postscreen_cache_cleanup_interval (zero: no cleanup).
    pub cache_cleanup_interval: Duration,
    /// In the EHLO reply: SIZE (message_size_limit), VRFY (unless
    /// disable_vrfy_command, which Postfix looks at here rather than
    /// postscreen_disable_vrfy_command), SMTPUTF8 (smtputf8_enable).
    pub message_size_limit: u64,
    pub ehlo_vrfy: bool,
    pub smtputf8: bool,
}

/// A raw parameter whose value is `$name` alone (its default, as in
/// `postscreen_reject_footer = $smtpd_reject_footer`), taken as `name`'s
/// text as written: what Postfix's postscreen does for its reject footer
/// and expansion filter, whose own `$client_address` … are left for each
/// reply.
fn raw_once(cfg: &Config, param: &params::Param) -> String {
    let value = cfg.str(param);
    value
        .strip_prefix('$')
        .and_then(|name| cfg.raw_text(name))
        .unwrap_or_else(|| value.to_string())
}

impl Settings {
    /// Reads the parameters; an unknown action is an error.
    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Result<Settings, String> {
        let action = |param: &params::Param| Action::parse(param.name, cfg.str(param));
        let ctx = maps::Ctx::new();
        let access = cfg
            .list(&p::POSTSCREEN_ACCESS_LIST)
            .into_iter()
            .filter_map(|item| {
                if item == "permit_mynetworks" {
                    return Some(Access::Mynetworks);
                }
                match maps::open(&item, &ctx) {
                    Ok(m) => Some(Access::Table(m)),
                    Err(e) => {
                        maillog::warning!("postscreen_access_list: {item}: {e}");
                        None
                    }
                }
            })
            .collect();
        let sites = cfg
            .list(&p::POSTSCREEN_DNSBL_SITES)
            .into_iter()
            .filter_map(|s| {
                let site = Site::parse(&s);
                if site.is_none() {
                    maillog::warning!("postscreen_dnsbl_sites: malformed entry \"{s}\"; ignored");
                }
                site
            })
            .collect();
        let (mynetworks, bad) =
            maps::hosts::HostList::parse(&cfg.list(&p::MYNETWORKS), "mynetworks");
        for b in bad {
            maillog::warning!("{}", b.0);
        }
        let (allowlist_interfaces, bad) = maps::hosts::HostList::parse(
            &cfg.list(&p::POSTSCREEN_ALLOWLIST_INTERFACES),
            p::POSTSCREEN_ALLOWLIST_INTERFACES.name,
        );
        for b in bad {
            maillog::warning!("{}", b.0);
        }
        let deep = |enable: &params::Param, act: &params::Param, ttl: &params::Param| {
            if !cfg.bool(enable) {
                return Ok(None);
            }
            Ok::<_, String>(Some(DeepTest {
                action: action(act)?,
                ttl: cfg.time(ttl),
            }))
        };
        Ok(Settings {
            pipelining: deep(
                &p::POSTSCREEN_PIPELINING_ENABLE,
                &p::POSTSCREEN_PIPELINING_ACTION,
                &p::POSTSCREEN_PIPELINING_TTL,
            )?,
            non_smtp: deep(
                &p::POSTSCREEN_NON_SMTP_COMMAND_ENABLE,
                &p::POSTSCREEN_NON_SMTP_COMMAND_ACTION,
                &p::POSTSCREEN_NON_SMTP_COMMAND_TTL,
            )?,
            bare_newline: deep(
                &p::POSTSCREEN_BARE_NEWLINE_ENABLE,
                &p::POSTSCREEN_BARE_NEWLINE_ACTION,
                &p::POSTSCREEN_BARE_NEWLINE_TTL,
            )?,
            forbidden: maps::commands::ForbiddenCommands::new(
                "postscreen_forbidden_commands",
                &cfg.list(&p::POSTSCREEN_FORBIDDEN_COMMANDS),
            ),
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            banner: cfg.str(&p::POSTSCREEN_GREET_BANNER).trim().to_string(),
            greet_wait: cfg.time(&p::POSTSCREEN_GREET_WAIT),
            greet_action: action(&p::POSTSCREEN_GREET_ACTION)?,
            greet_ttl: cfg.time(&p::POSTSCREEN_GREET_TTL),
            denylist_action: action(&p::POSTSCREEN_DENYLIST_ACTION)?,
            sites,
            threshold: cfg.int(&p::POSTSCREEN_DNSBL_THRESHOLD),
            dnsbl_reply_map: maps::MapList::open_lenient(
                "postscreen_dnsbl_reply_map",
                cfg.str(&p::POSTSCREEN_DNSBL_REPLY_MAP),
                &ctx,
            ),
            allowlist_threshold: Some(cfg.int(&p::POSTSCREEN_DNSBL_ALLOWLIST_THRESHOLD))
                .filter(|t| *t < 0),
            dnsbl_action: action(&p::POSTSCREEN_DNSBL_ACTION)?,
            dnsbl_min_ttl: cfg.time(&p::POSTSCREEN_DNSBL_MIN_TTL),
            dnsbl_max_ttl: cfg.time(&p::POSTSCREEN_DNSBL_MAX_TTL),
            dnsbl_timeout: cfg.time(&p::POSTSCREEN_DNSBL_TIMEOUT),
            command_time_limit: cfg.time(&p::POSTSCREEN_COMMAND_TIME_LIMIT),
            command_count_limit: cfg.int(&p::POSTSCREEN_COMMAND_COUNT_LIMIT).max(1) as usize,
            vrfy_disabled: cfg.bool(&p::POSTSCREEN_DISABLE_VRFY_COMMAND),
            helo_required: cfg.bool(&p::POSTSCREEN_HELO_REQUIRED),
            pre_queue_limit: cfg.int(&p::POSTSCREEN_PRE_QUEUE_LIMIT).max(1) as usize,
            post_queue_limit: cfg.int(&p::POSTSCREEN_POST_QUEUE_LIMIT).max(1) as usize,
            per_client_limit: cfg.int(&p::POSTSCREEN_CLIENT_CONNECTION_COUNT_LIMIT).max(0) as usize,
            access,
            mynetworks,
            smtpd_socket: queue_dir
                .join("private")
                .join(cfg.str(&p::SMTPD_SERVICE_NAME)),
            tls_level: TlsLevel::from_config(cfg),
            tls_log: tls::LogLevel::from_setting(
                p::TLSPROXY_TLS_LOGLEVEL.name,
                cfg.str(&p::TLSPROXY_TLS_LOGLEVEL),
            ),
            footer: maps::footer::FooterSettings::new(
                &raw_once(cfg, &p::POSTSCREEN_REJECT_FOOTER),
                p::POSTSCREEN_REJECT_FOOTER_MAPS.name,
                cfg.str(&p::POSTSCREEN_REJECT_FOOTER_MAPS),
                &raw_once(cfg, &p::POSTSCREEN_EXPANSION_FILTER),
            ),
            ehlo_discard: maps::commands::EhloDiscard::new(
                &cfg.list(&p::POSTSCREEN_DISCARD_EHLO_KEYWORDS),
                p::POSTSCREEN_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS.name,
                cfg.str(&p::POSTSCREEN_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS),
            ),
            command_filter: maps::commands::CommandFilter::open(
                p::POSTSCREEN_COMMAND_FILTER.name,
                cfg.str(&p::POSTSCREEN_COMMAND_FILTER),
            ),
            allowlist_interfaces,
            cache_retention: cfg.time(&p::POSTSCREEN_CACHE_RETENTION_TIME),
            cache_cleanup_interval: cfg.time(&p::POSTSCREEN_CACHE_CLEANUP_INTERVAL),
            message_size_limit: cfg.size(&p::MESSAGE_SIZE_LIMIT),
            ehlo_vrfy: !cfg.bool(&p::DISABLE_VRFY_COMMAND),
            smtputf8: cfg.bool(&p::SMTPUTF8_ENABLE),
            upstream_proxy: match cfg.str(&p::POSTSCREEN_UPSTREAM_PROXY_PROTOCOL).trim() {
                "" => None,
                "haproxy" => Some(cfg.time(&p::POSTSCREEN_UPSTREAM_PROXY_TIMEOUT)),
                other => {
                    return Err(format!(
                        "unsupported postscreen_upstream_proxy_protocol value \"{other}\" (specify haproxy or nothing)"
                    ))
                }
            },
        })
    }

    /// The name DNS list `zone` goes by in replies: its
    /// postscreen_dnsbl_reply_map entry, else itself.
    pub fn list_reply_name(&self, zone: &str) -> String {
        match self.dnsbl_reply_map.lookup(zone) {
            Ok(Some(name)) => name.trim().to_string(),
            Ok(None) => zone.to_string(),
            Err(e) => {
                maillog::warning!("postscreen_dnsbl_reply_map: {e}");
                zone.to_string()
            }
        }
    }

    /// How long a pass of the tests after the greeting holds (the shortest
    /// of the enabled tests'); None when none is enabled.
    pub fn deep_ttl(&self) -> Option<Duration> {
        [self.pipelining, self.non_smtp, self.bare_newline]
            .iter()
            .flatten()
            .map(|t| t.ttl)
            .min()
    }

    /// Whether a client that reached local address `local` may pass
    /// (postscreen_allowlist_interfaces; a table that fails counts as no
    /// match: no pass, as Postfix fails "closed").
    pub fn may_pass_on(&self, local: IpAddr) -> bool {
        self.allowlist_interfaces.matches("", Some(local))
    }

    /// The access list's verdict for `ip`: Some(true) permit, Some(false)
    /// reject, None neither.
    pub fn access(&self, ip: IpAddr) -> Option<bool> {
        let text = ip.to_string();
        for a in &self.access {
            match a {
                Access::Mynetworks => {
                    if self.mynetworks.matches("", Some(ip)) {
                        return Some(true);
                    }
                }
                Access::Table(m) => match m.lookup(&text) {
                    Ok(Some(v)) => match v.trim().to_ascii_lowercase().as_str() {
                        "permit" => return Some(true),
                        "reject" => return Some(false),
                        "dunno" => {}
                        other => maillog::warning!(
                            "postscreen_access_list: {}: unknown action \"{other}\" for {text}",
                            m.spec()
                        ),
                    },
                    Ok(None) => {}
                    Err(e) => maillog::warning!("postscreen_access_list: {}: {e}", m.spec()),
                },
            }
        }
        None
    }
}
