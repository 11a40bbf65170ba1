//! Every main.cf value smtpd uses, read once per process.

use params::{table as p, Config};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `smtpd_tls_security_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    None,
    May,
    Encrypt,
}

/// The EHLO keywords that `smtpd_discard_ehlo_keywords` may remove.
pub use maps::commands::Discard;
pub use maps::commands::ForbiddenCommands;

#[derive(Debug, Clone)]
pub struct Settings {
    pub myhostname: String,
    pub banner: String,
    pub message_size_limit: u64,
    /// `queue_minfree`: free bytes the queue file system must keep.
    pub queue_minfree: u64,
    pub recipient_limit: usize,
    /// `smtpd_recipient_overshoot_limit`.
    pub recipient_overshoot_limit: usize,
    pub line_length_limit: usize,
    pub timeout: Duration,
    pub soft_error_limit: u32,
    pub hard_error_limit: u32,
    pub error_sleep: Duration,
    pub junk_command_limit: u32,
    pub vrfy_enabled: bool,
    /// `default_verp_delimiters`, for XVERP without its own.
    pub verp_delimiters: String,
    /// `verp_delimiter_filter`: the characters XVERP=xy may use.
    pub verp_filter: String,
    pub smtputf8: bool,
    /// `strict_smtputf8`: a UTF-8 sender or recipient address only in a
    /// mail transaction that asked for SMTPUTF8.
    pub strict_smtputf8: bool,
    pub strict_rfc821: bool,
    pub helo_required: bool,
    pub delay_open: bool,
    /// `content_filter`: where queued mail goes first (the queue file
    /// carries it; qmgr routes by it).
    pub content_filter: String,
    pub tls_level: TlsLevel,
    /// The server's keys and certificates: `smtpd_tls_chain_files` when
    /// set, else the RSA and ECDSA certificate and key file pairs.
    pub tls_credentials: tls::Credentials,
    /// `smtpd_tls_wrappermode`: TLS from the first byte (port 465).
    pub wrappermode: bool,
    /// `smtpd_tls_ask_ccert` (or `smtpd_tls_req_ccert`): ask each TLS
    /// client for a certificate.
    pub tls_ask_cert: bool,
    /// `smtpd_tls_req_ccert` with mandatory TLS: a client without a
    /// certificate from a CA in `smtpd_tls_CAfile` is dropped after the
    /// handshake.
    pub tls_require_trusted_cert: bool,
    /// `smtpd_tls_CAfile`: the CAs trusted to sign client certificates.
    pub tls_ca_file: String,
    /// `smtpd_tls_CApath`: a directory of CA certificates, besides the file.
    pub tls_ca_path: String,
    /// `smtpd_tls_fingerprint_digest`.
    pub tls_fingerprint_digest: String,
    /// `smtpd_tls_loglevel`.
    pub tls_log: tls::LogLevel,
    /// `smtpd_starttls_timeout`: the whole TLS handshake's time limit.
    pub starttls_timeout: Duration,
    /// `smtpd_discard_ehlo_keywords`, and by client address
    /// `smtpd_discard_ehlo_keyword_address_maps`.
    pub discard: maps::commands::EhloDiscard,
    pub peername_lookup: bool,
    pub client_port_logging: bool,
    pub cleanup_service: String,
    /// `queue_service_name`: qmgr's trigger socket in `public/`, for ETRN.
    pub qmgr_service: String,
    /// What `receive_override_options` turns off in cleanup (a bad value
    /// stops the service: restrictions::Policy::from_config refuses it).
    pub cleanup_flags: u32,
    pub forbid_unauth_pipelining: bool,
    /// `smtpd_per_request_deadline` (on under stress by default) and
    /// `smtpd_min_data_rate`.
    pub per_request_deadline: bool,
    pub min_data_rate: u64,
    pub forbidden_commands: ForbiddenCommands,
    /// `smtpd_noop_commands`: answered 250 Ok and otherwise ignored.
    pub noop_commands: Vec<String>,
    /// `smtpd_command_filter`: rewrites command lines (None when empty).
    pub command_filter: Option<maps::commands::CommandFilter>,
    /// `smtpd_upstream_proxy_protocol = haproxy`: a PROXY header names the
    /// real client, read within `smtpd_upstream_proxy_timeout`.
    pub upstream_proxy: Option<std::time::Duration>,
    /// The `notify_classes` that smtpd reports (crate::transcript).
    pub notify_mask: u8,
    pub error_notice_recipient: String,
    pub double_bounce_sender: String,
    pub mail_name: String,
    /// `smtpd_history_flush_threshold`: the transcript's most lines.
    pub history_limit: usize,
    pub sasl: Option<SaslSettings>,
    /// `smtpd_milters` (with main.cf's, or this service's, milter_*
    /// settings) and `milter_macro_daemon_name`.
    pub milters: Vec<milter::Spec>,
    /// The most the milters may take over a message in cleanup (their
    /// content and command time limits), added to the wait for it.
    pub milters_time: Duration,
    pub milter_daemon_name: String,
    /// `smtpd_proxy_filter` (with `smtpd_proxy_ehlo`, `smtpd_proxy_timeout`):
    /// the before-queue content filter that takes the mail instead of
    /// cleanup. Set by [`Settings::proxy_filter`].
    pub proxy_filter: Option<crate::proxy::ProxyFilter>,
    /// `smtpd_reject_footer`, `smtpd_reject_footer_maps` (None: neither).
    pub reject_footer: Option<std::sync::Arc<maps::footer::FooterSettings>>,
    /// `smtpd_tls_received_header`, `smtpd_sasl_authenticated_header`:
    /// what the Received: header says of TLS and of the SASL login.
    pub tls_received_header: bool,
    pub sasl_authenticated_header: bool,
    /// `smtpd_forbid_bare_newline`, `_exclusions`, `_reject_code`.
    pub bare_newline: BareNewline,
    pub bare_newline_exclusions: std::sync::Arc<maps::hosts::HostList>,
    pub bare_newline_code: u16,
}

/// `smtpd_forbid_bare_newline`: what a line ended by LF alone may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNewline {
    /// Taken as CRLF everywhere, also in the end-of-data marker (Postfix <
    /// 3.9's default; open to SMTP smuggling).
    No,
    /// Taken as CRLF in lines, but only CRLF.CRLF ends the data (`normalize`, `yes`).
    Normalize,
    /// Refused with smtpd_forbid_bare_newline_reject_code, and the client
    /// disconnected; only CRLF.CRLF ends the data (`reject`).
    Reject,
}

impl BareNewline {
    pub fn parse(s: &str) -> BareNewline {
        match s.trim().to_ascii_lowercase().as_str() {
            "normalize" | "yes" => BareNewline::Normalize,
            "reject" => BareNewline::Reject,
            _ => BareNewline::No,
        }
    }
}

/// SMTP AUTH, when `smtpd_sasl_auth_enable = yes`.
#[derive(Debug, Clone)]
pub struct SaslSettings {
    /// The auth service's socket (`smtpd_sasl_path`, relative to the
    /// queue directory unless absolute).
    pub path: PathBuf,
    /// `smtpd_sasl_service`.
    pub service: String,
    /// `smtpd_sasl_security_options`, lower-cased.
    pub security: Vec<String>,
    /// `smtpd_sasl_tls_security_options`.
    pub tls_security: Vec<String>,
    pub tls_auth_only: bool,
    /// `smtpd_sasl_response_limit`.
    pub response_limit: usize,
    /// `broken_sasl_auth_clients`: also announce `AUTH=mechanisms`.
    pub broken_clients: bool,
    /// `smtpd_sasl_mechanism_filter`.
    pub mechanism_filter: MechanismFilter,
}

/// `smtpd_sasl_mechanism_filter`: which of the auth service's mechanisms
/// smtpd offers and takes. Postfix's match list: the first item that
/// matches decides (`!name` refuses), names match in any case, a
/// `type:table` item matches a mechanism the table has (its value aside);
/// a mechanism no item matches is left out. Postfix's default,
/// `!external, static:rest`, leaves out EXTERNAL only.
#[derive(Clone)]
pub struct MechanismFilter(std::sync::Arc<Vec<(bool, FilterItem)>>);

enum FilterItem {
    Name(String),
    Table(maps::MapList),
}

impl std::fmt::Debug for MechanismFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MechanismFilter")
    }
}

impl MechanismFilter {
    pub fn new(items: &[String]) -> MechanismFilter {
        let items = items
            .iter()
            .map(|item| {
                let (negate, text) = match item.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, item.trim()),
                };
                let pattern = if text.contains(':') {
                    FilterItem::Table(maps::MapList::open_lenient(
                        "smtpd_sasl_mechanism_filter",
                        text,
                        &maps::Ctx::new(),
                    ))
                } else {
                    FilterItem::Name(text.to_ascii_lowercase())
                };
                (negate, pattern)
            })
            .collect();
        MechanismFilter(std::sync::Arc::new(items))
    }

    /// Whether `mechanism` is offered.
    pub fn allows(&self, mechanism: &str) -> bool {
        let m = mechanism.to_ascii_lowercase();
        for (negate, item) in self.0.iter() {
            let hit = match item {
                FilterItem::Name(n) => *n == m,
                FilterItem::Table(t) => matches!(t.lookup(&m), Ok(Some(_))),
            };
            if hit {
                return !negate;
            }
        }
        false
    }
}

impl SaslSettings {
    /// Whether a mechanism with these Dovecot flags passes the security
    /// options in force (noplaintext, noanonymous, noactive,
    /// nodictionary, mutual_auth).
    pub fn allows(&self, flags: &[String], tls: bool) -> bool {
        let opts = if tls {
            &self.tls_security
        } else {
            &self.security
        };
        let has = |f: &str| flags.iter().any(|x| x == f);
        opts.iter().all(|o| match o.as_str() {
            "noplaintext" => !has("plaintext"),
            "noanonymous" => !has("anonymous"),
            "noactive" => !has("active"),
            "nodictionary" => !has("dictionary"),
            "forward_secrecy" => has("forward-secrecy"),
            "mutual_auth" => has("mutual-auth"),
            _ => true,
        })
    }
}

impl Settings {
    /// The EHLO keywords left out for the client at `addr`: what
    /// smtpd_discard_ehlo_keyword_address_maps says, else
    /// smtpd_discard_ehlo_keywords (also when a table fails, with a warning).
    pub fn discard_for(&self, addr: &str) -> Discard {
        self.discard.for_client(addr)
    }

    fn sasl(c: &Config) -> Option<SaslSettings> {
        if !c.bool(&p::SMTPD_SASL_AUTH_ENABLE) {
            return None;
        }
        let kind = c.str(&p::SMTPD_SASL_TYPE).trim();
        if kind != "dovecot" {
            maillog::warning!(
                "smtpd_sasl_type = {kind} is not supported (only dovecot): SMTP AUTH is not offered"
            );
            return None;
        }
        let lower = |v: Vec<String>| v.into_iter().map(|o| o.to_ascii_lowercase()).collect();
        Some(SaslSettings {
            path: PathBuf::from(c.str(&p::SMTPD_SASL_PATH).trim()),
            service: c.str(&p::SMTPD_SASL_SERVICE).trim().to_string(),
            security: lower(c.list(&p::SMTPD_SASL_SECURITY_OPTIONS)),
            tls_security: lower(c.list(&p::SMTPD_SASL_TLS_SECURITY_OPTIONS)),
            tls_auth_only: c.bool(&p::SMTPD_TLS_AUTH_ONLY),
            response_limit: usize::try_from(c.int(&p::SMTPD_SASL_RESPONSE_LIMIT).max(1))
                .unwrap_or(usize::MAX),
            broken_clients: c.bool(&p::BROKEN_SASL_AUTH_CLIENTS),
            mechanism_filter: MechanismFilter::new(&c.list(&p::SMTPD_SASL_MECHANISM_FILTER)),
        })
    }

    /// `smtpd_proxy_filter`, `smtpd_proxy_ehlo`, `smtpd_proxy_timeout`,
    /// `smtpd_proxy_options`: a
    /// filter that cannot be used stops smtpd (no mail may pass
    /// unfiltered).
    pub fn proxy_filter(c: &Config) -> Result<Option<crate::proxy::ProxyFilter>, String> {
        let filter = c.str(&p::SMTPD_PROXY_FILTER);
        let local_clients = if filter.trim().is_empty() {
            Default::default()
        } else {
            maps::local_clients::LocalClients::new(
                &c.list(&p::LOCAL_HEADER_REWRITE_CLIENTS),
                &c.list(&p::MYNETWORKS),
            )
        };
        crate::proxy::ProxyFilter::new(
            filter,
            c.str(&p::SMTPD_PROXY_EHLO),
            c.time(&p::SMTPD_PROXY_TIMEOUT),
            local_clients,
            &c.list(&p::SMTPD_PROXY_OPTIONS),
        )
    }

    pub fn from_config(c: &Config) -> Settings {
        let cleanup_flags =
            ipc::cleanup::ReceiveOverrides::parse(&c.list(&p::RECEIVE_OVERRIDE_OPTIONS))
                .map(|o| o.cleanup_flags)
                .unwrap_or(0);
        let no_milters = cleanup_flags & ipc::cleanup::flags::NO_MILTERS != 0;
        let level = match c.str(&p::SMTPD_TLS_SECURITY_LEVEL).trim() {
            "may" => TlsLevel::May,
            "encrypt" | "dane" | "verify" | "secure" => TlsLevel::Encrypt,
            "" if c.bool(&p::SMTPD_ENFORCE_TLS) => TlsLevel::Encrypt,
            "" if c.bool(&p::SMTPD_USE_TLS) => TlsLevel::May,
            _ => TlsLevel::None,
        };
        let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let mut s = Settings {
            myhostname: c.str(&p::MYHOSTNAME).to_string(),
            banner: c.str(&p::SMTPD_BANNER).to_string(),
            message_size_limit: c.size(&p::MESSAGE_SIZE_LIMIT),
            queue_minfree: c.size(&p::QUEUE_MINFREE),
            recipient_limit: usize::try_from(c.int(&p::SMTPD_RECIPIENT_LIMIT).max(1))
                .unwrap_or(usize::MAX),
            recipient_overshoot_limit: usize::try_from(
                c.int(&p::SMTPD_RECIPIENT_OVERSHOOT_LIMIT).max(1),
            )
            .unwrap_or(usize::MAX),
            line_length_limit: usize::try_from(c.int(&p::LINE_LENGTH_LIMIT).max(512))
                .unwrap_or(usize::MAX),
            timeout: c.time(&p::SMTPD_TIMEOUT).max(Duration::from_secs(1)),
            soft_error_limit: count(c.int(&p::SMTPD_SOFT_ERROR_LIMIT)),
            hard_error_limit: count(c.int(&p::SMTPD_HARD_ERROR_LIMIT)),
            error_sleep: c.time(&p::SMTPD_ERROR_SLEEP_TIME),
            junk_command_limit: count(c.int(&p::SMTPD_JUNK_COMMAND_LIMIT)),
            vrfy_enabled: !c.bool(&p::DISABLE_VRFY_COMMAND),
            verp_delimiters: c.str(&p::DEFAULT_VERP_DELIMITERS).to_string(),
            verp_filter: c.str(&p::VERP_DELIMITER_FILTER).to_string(),
            smtputf8: c.bool(&p::SMTPUTF8_ENABLE),
            strict_smtputf8: c.bool(&p::STRICT_SMTPUTF8),
            strict_rfc821: c.bool(&p::STRICT_RFC821_ENVELOPES),
            helo_required: c.bool(&p::SMTPD_HELO_REQUIRED),
            delay_open: c.bool(&p::SMTPD_DELAY_OPEN_UNTIL_VALID_RCPT),
            content_filter: c.str(&p::CONTENT_FILTER).trim().to_string(),
            tls_level: level,
            tls_credentials: tls::Credentials::new(
                &c.list(&p::SMTPD_TLS_CHAIN_FILES),
                &[
                    (
                        c.str(&p::SMTPD_TLS_CERT_FILE),
                        c.str(&p::SMTPD_TLS_KEY_FILE),
                    ),
                    (
                        c.str(&p::SMTPD_TLS_ECCERT_FILE),
                        c.str(&p::SMTPD_TLS_ECKEY_FILE),
                    ),
                ],
            ),
            wrappermode: c.bool(&p::SMTPD_TLS_WRAPPERMODE),
            // smtpd_tls_req_ccert means something only where TLS is required.
            tls_ask_cert: c.bool(&p::SMTPD_TLS_ASK_CCERT)
                || (c.bool(&p::SMTPD_TLS_REQ_CCERT) && level == TlsLevel::Encrypt),
            tls_require_trusted_cert: c.bool(&p::SMTPD_TLS_REQ_CCERT) && level == TlsLevel::Encrypt,
            tls_log: tls::LogLevel::from_setting(
                p::SMTPD_TLS_LOGLEVEL.name,
                c.str(&p::SMTPD_TLS_LOGLEVEL),
            ),
            starttls_timeout: c
                .time(&p::SMTPD_STARTTLS_TIMEOUT)
                .max(Duration::from_secs(1)),
            tls_ca_file: c.str(&p::SMTPD_TLS_CAFILE).trim().to_string(),
            tls_ca_path: c.str(&p::SMTPD_TLS_CAPATH).trim().to_string(),
            tls_fingerprint_digest: c.str(&p::SMTPD_TLS_FINGERPRINT_DIGEST).to_string(),
            discard: maps::commands::EhloDiscard::new(
                &c.list(&p::SMTPD_DISCARD_EHLO_KEYWORDS),
                p::SMTPD_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS.name,
                c.str(&p::SMTPD_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS),
            ),
            peername_lookup: c.bool(&p::SMTPD_PEERNAME_LOOKUP),
            client_port_logging: c.bool(&p::SMTPD_CLIENT_PORT_LOGGING),
            cleanup_service: c.str(&p::CLEANUP_SERVICE_NAME).to_string(),
            qmgr_service: c.str(&p::QUEUE_SERVICE_NAME).to_string(),
            cleanup_flags,
            notify_mask: crate::transcript::notify_mask(&c.list(&p::NOTIFY_CLASSES)),
            error_notice_recipient: c.str(&p::ERROR_NOTICE_RECIPIENT).trim().to_string(),
            double_bounce_sender: c.str(&p::DOUBLE_BOUNCE_SENDER).trim().to_string(),
            mail_name: c.str(&p::MAIL_NAME).trim().to_string(),
            history_limit: usize::try_from(c.int(&p::SMTPD_HISTORY_FLUSH_THRESHOLD)).unwrap_or(100),
            forbid_unauth_pipelining: c.bool(&p::SMTPD_FORBID_UNAUTH_PIPELINING),
            per_request_deadline: c.bool(&p::SMTPD_PER_REQUEST_DEADLINE),
            min_data_rate: c.int(&p::SMTPD_MIN_DATA_RATE).max(1) as u64,
            noop_commands: c.list(&p::SMTPD_NOOP_COMMANDS),
            forbidden_commands: ForbiddenCommands::new(
                "smtpd_forbidden_commands",
                &c.list(&p::SMTPD_FORBIDDEN_COMMANDS),
            ),
            command_filter: maps::commands::CommandFilter::open(
                p::SMTPD_COMMAND_FILTER.name,
                c.str(&p::SMTPD_COMMAND_FILTER),
            ),
            upstream_proxy: match c.str(&p::SMTPD_UPSTREAM_PROXY_PROTOCOL).trim() {
                "" => None,
                "haproxy" => Some(c.time(&p::SMTPD_UPSTREAM_PROXY_TIMEOUT)),
                other => {
                    maillog::warning!(
                        "smtpd_upstream_proxy_protocol: unsupported protocol \"{other}\"; expecting haproxy"
                    );
                    Some(c.time(&p::SMTPD_UPSTREAM_PROXY_TIMEOUT))
                }
            },
            proxy_filter: None,
            // receive_override_options = no_milters: none at all.
            milters_time: Duration::ZERO,
            milters: if no_milters {
                Vec::new()
            } else {
                milter::parse_list(
                    c.str(&p::SMTPD_MILTERS),
                    "smtpd_milters",
                    &milter::Defaults::from_config(c),
                    Path::new(c.str(&p::QUEUE_DIRECTORY)),
                )
            },
            milter_daemon_name: c.str(&p::MILTER_MACRO_DAEMON_NAME).trim().to_string(),
            reject_footer: crate::footer::settings(c),
            tls_received_header: c.bool(&p::SMTPD_TLS_RECEIVED_HEADER),
            sasl_authenticated_header: c.bool(&p::SMTPD_SASL_AUTHENTICATED_HEADER),
            bare_newline: BareNewline::parse(c.str(&p::SMTPD_FORBID_BARE_NEWLINE)),
            bare_newline_exclusions: std::sync::Arc::new(
                maps::hosts::HostList::parse(
                    &c.list(&p::SMTPD_FORBID_BARE_NEWLINE_EXCLUSIONS),
                    p::SMTPD_FORBID_BARE_NEWLINE_EXCLUSIONS.name,
                )
                .0,
            ),
            bare_newline_code: u16::try_from(c.int(&p::SMTPD_FORBID_BARE_NEWLINE_REJECT_CODE))
                .ok()
                .filter(|c| (400..600).contains(c))
                .unwrap_or(550),
            sasl: Self::sasl(c),
        };
        if s.milters.len() > crate::milters::MOST {
            maillog::warning!(
                "smtpd_milters: only the first {} milters are used",
                crate::milters::MOST
            );
            s.milters.truncate(crate::milters::MOST);
        }
        // What the milters may take over a message in cleanup.
        s.milters_time = s.milters.iter().fold(Duration::ZERO, |all, m| {
            all.saturating_add(m.content_timeout.saturating_add(m.command_timeout))
        });
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mechanism_filter_is_a_match_list() {
        let f = MechanismFilter::new(&["!external".into(), "static:rest".into()]);
        assert!(f.allows("PLAIN") && f.allows("cram-md5"));
        assert!(!f.allows("EXTERNAL"));
        let f = MechanismFilter::new(&["plain".into(), "LOGIN".into()]);
        assert!(f.allows("PLAIN") && f.allows("login"));
        assert!(!f.allows("CRAM-MD5"), "no item matches: left out");
    }

    #[test]
    fn sasl_security_options_filter_mechanisms() {
        let s = SaslSettings {
            path: PathBuf::from("private/auth"),
            service: "smtp".into(),
            security: vec!["noanonymous".into(), "noplaintext".into()],
            tls_security: vec!["noanonymous".into()],
            tls_auth_only: false,
            response_limit: 12288,
            broken_clients: false,
            mechanism_filter: MechanismFilter::new(&["!external".into(), "static:rest".into()]),
        };
        let plain = vec!["plaintext".to_string()];
        let anon = vec!["anonymous".to_string()];
        assert!(!s.allows(&plain, false));
        assert!(s.allows(&plain, true));
        assert!(!s.allows(&anon, true));
        assert!(s.allows(&[], false));
    }
}
