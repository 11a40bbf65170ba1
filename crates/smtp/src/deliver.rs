//! One delivery request: find the servers for the next hop, try them in
//! order, run one ESMTP transaction for all of the request's recipients,
//! and turn each reply into a per-recipient result, as Postfix's smtp(8).
//!
//! Which failures move on to the next server: a failed connection, a 4xx
//! (or, with `smtp_skip_5xx_greeting`, 5xx) greeting, a failed EHLO/HELO,
//! a lost or timed-out conversation, and recipients that got a 4xx. A 5xx
//! to MAIL, RCPT or DATA is final, and so is a message over the server's
//! SIZE or one that needs SMTPUTF8 where the server lacks it.

use crate::cache::{Cache, Cached};
use crate::conn::{Conn, ConnError, Stage};
use crate::nexthop::{self, Dest};
use crate::output::{Line, Output};
use ipc::delivery::{self, Outcome, RcptResult, Request, Response};
use maps::MapList;
use params::{table as p, Config};
use smtp_proto::{Capabilities, Command, MailFrom, Mailbox, Notify, Orcpt, RcptTo, Reply, Ret};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use util::time::now_f64 as now;

/// Which protocol the agent speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    /// RFC 2033: LHLO, no MX lookups, one reply per recipient after the
    /// message; next hops may be `unix:path`.
    Lmtp,
}

/// The most command bytes written at once when pipelining.
const PIPELINE_BATCH: usize = 4096;

/// `smtp_tls_security_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    None,
    May,
    Encrypt,
    /// A trusted certificate for the names `smtp_tls_verify_cert_match`
    /// says (the MX host name by default).
    Verify,
    /// A trusted certificate for the names `smtp_tls_secure_cert_match`
    /// says (the next hop, or a name under it, by default: the MX host name
    /// from DNS is not trusted).
    Secure,
    /// A certificate with one of the fingerprints `match=` (or
    /// `smtp_tls_fingerprint_cert_match`) lists, trusted or not.
    Fingerprint,
}

impl TlsLevel {
    fn parse(cfg: &Config, proto: Protocol) -> TlsLevel {
        let param = match proto {
            Protocol::Smtp => &p::SMTP_TLS_SECURITY_LEVEL,
            Protocol::Lmtp => &p::LMTP_TLS_SECURITY_LEVEL,
        };
        let level = cfg.str(param).trim();
        if level.is_empty() && proto == Protocol::Smtp {
            if cfg.bool(&p::SMTP_ENFORCE_TLS) {
                return TlsLevel::Encrypt;
            }
            if cfg.bool(&p::SMTP_USE_TLS) {
                return TlsLevel::May;
            }
        }
        TlsLevel::from_word(level).unwrap_or(TlsLevel::None)
    }

    /// A level's name (also the first word of a `smtp_tls_policy_maps`
    /// value). DANE is treated as `may` (no DNSSEC here), dane-only as
    /// `verify`.
    pub fn from_word(word: &str) -> Option<TlsLevel> {
        Some(match word.to_ascii_lowercase().as_str() {
            "none" | "" => TlsLevel::None,
            "may" | "dane" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            "verify" | "dane-only" => TlsLevel::Verify,
            "fingerprint" => TlsLevel::Fingerprint,
            "secure" => TlsLevel::Secure,
            _ => return None,
        })
    }

    /// Whether the mail may not go without TLS.
    fn required(self) -> bool {
        matches!(
            self,
            TlsLevel::Encrypt | TlsLevel::Verify | TlsLevel::Secure | TlsLevel::Fingerprint
        )
    }
}

/// A next hop's TLS policy: the level, and the names the server's
/// certificate must bear at `verify` and `secure` (Postfix's match
/// strategies: `hostname`, `nexthop`, `dot-nexthop`, a name, or `.domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    pub level: TlsLevel,
    pub matches: Vec<String>,
    /// The policy's `servername=`, overriding `smtp_tls_servername`.
    pub servername: Option<String>,
    /// The policy's `protocols=`, `ciphers=` and `exclude=`.
    pub tuning: TlsTuning,
}

/// A TLS policy's own `protocols=`, `ciphers=` (a grade) and `exclude=`:
/// each replaces main.cf's for the level (`smtp_tls_protocols`,
/// `smtp_tls_ciphers` and `smtp_tls_exclude_ciphers` at `may`, the
/// mandatory ones above it, both exclusion lists with `exclude=`), as in
/// Postfix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsTuning {
    pub protocols: Option<String>,
    pub ciphers: Option<String>,
    pub exclude: Option<String>,
}

impl TlsTuning {
    fn is_empty(&self) -> bool {
        *self == TlsTuning::default()
    }
}

/// What a TLS client is made of: main.cf's trust anchors, the client's own
/// certificate, and per kind of level (opportunistic, mandatory) the
/// protocols, cipher grade and exclusions.
struct TlsMaker {
    anchors: tls::Anchors,
    identity: Result<Vec<tls::KeyChain>, String>,
    lists: tls::GradeLists,
    /// Protocols, grade and exclusions: for `may`, and for the levels above.
    opportunistic: (Vec<String>, String, Vec<String>),
    mandatory: (Vec<String>, String, Vec<String>),
    /// The parameters they come from, for messages.
    names: [&'static str; 2],
    /// tls_eecdh_auto_curves: the curves for ephemeral ECDH.
    curves: String,
}

impl TlsMaker {
    /// A client checking certificates as `verify` says, for a mandatory
    /// level or not, with a policy's `tuning` (empty: main.cf's).
    fn client(
        &self,
        verify: tls::Verify,
        mandatory: bool,
        tuning: &TlsTuning,
    ) -> Result<tls::ClientTls, String> {
        let warn = |e: String| {
            maillog::warning!("{e}");
            e
        };
        let chains = self.identity.clone()?;
        let (protocols, grade, exclude) = if mandatory {
            &self.mandatory
        } else {
            &self.opportunistic
        };
        let protocols = match &tuning.protocols {
            Some(p) => tls::Protocols::parse(std::slice::from_ref(p))
                .map_err(|e| warn(format!("TLS policy protocols={p}: {e}")))?,
            None => tls::Protocols::parse(protocols)
                .map_err(|e| warn(format!("{}: {e}", self.names[usize::from(mandatory)])))?,
        };
        let grade = tuning.ciphers.as_deref().unwrap_or(grade);
        let exclude = match &tuning.exclude {
            Some(x) => std::slice::from_ref(x),
            None => exclude.as_slice(),
        };
        let ciphers = tls::Ciphers::postfix(grade, &self.lists, exclude)
            .and_then(|c| c.with_curves(&self.curves))
            .map_err(|e| warn(format!("TLS cipher grade: {e}")))?;
        tls::ClientTls::new(verify, &self.anchors, protocols, &ciphers, chains)
            .map_err(|e| warn(format!("TLS client set-up: {e}")))
    }
}

/// Time limits, Postfix's names.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub helo: Duration,
    pub mail: Duration,
    pub rcpt: Duration,
    pub data_init: Duration,
    pub data_xfer: Duration,
    pub data_done: Duration,
    pub quit: Duration,
    pub starttls: Duration,
    pub xforward: Duration,
}

/// Settings read once per process.
pub struct Settings {
    proto: Protocol,
    line_limit: usize,
    myhostname: String,
    queue_dir: PathBuf,
    helo_name: String,
    port: u16,
    t: Timeouts,
    /// `smtp_per_request_deadline` (lmtp_…): the time limits bound whole
    /// requests and replies, and content earns a second per this many
    /// bytes (`smtp_min_data_rate`); None: they bound each read and write.
    min_data_rate: Option<u64>,
    resolver: Result<dns::Resolver, String>,
    tls_level: TlsLevel,
    /// `smtp_tls_loglevel` (`lmtp_tls_loglevel`).
    tls_log: tls::LogLevel,
    /// `smtp_tls_wrappermode`: TLS from the first byte (SMTPS, port 465),
    /// no STARTTLS.
    tls_wrapper: bool,
    /// `smtp_send_xforward_command`: tell a server that offers XFORWARD
    /// who sent the message (before a content filter, typically).
    send_xforward: bool,
    /// `smtp_sender_dependent_authentication`: SASL credentials by sender
    /// first (with `sender_dependent_relayhost_maps`, one provider account
    /// per sender domain).
    sender_dependent_auth: bool,
    /// recipient_delimiter, for the sender's address keys.
    delimiter: String,
    /// Not `disable_mime_output_conversion`: 8-bit mail goes to a server
    /// without 8BITMIME quoted-printable (crate::downgrade).
    mime_conversion: bool,
    tls_policy: MapList,
    /// `smtp_discard_ehlo_keywords`, and by server address
    /// `smtp_discard_ehlo_keyword_address_maps` (SMTP only).
    discard_keywords: Vec<String>,
    discard_by_address: MapList,
    /// For `may` (`smtp_tls_protocols`).
    tls_opportunistic: Result<tls::ClientTls, String>,
    /// For `encrypt` (`smtp_tls_mandatory_protocols`).
    tls_mandatory: Result<tls::ClientTls, String>,
    /// For `verify` and `secure` (`smtp_tls_mandatory_protocols`).
    tls_verified: Result<tls::ClientTls, String>,
    /// For a TLS policy with its own protocols, ciphers or exclusions.
    tls_maker: TlsMaker,
    /// `smtp_tls_verify_cert_match`, `smtp_tls_secure_cert_match`.
    verify_match: Vec<String>,
    secure_match: Vec<String>,
    /// `smtp_tls_fingerprint_cert_match`, and the digest of
    /// `smtp_tls_fingerprint_digest` (None: one this build does not have).
    fingerprint_match: Vec<String>,
    /// `smtp_tls_servername`: what SNI asks for by default.
    tls_servername: String,
    /// `smtp_address_verify_target = data`: a probe goes on to DATA.
    verify_at_data: bool,
    fingerprint_digest: Option<tls::Digest>,
    address_limit: usize,
    session_limit: usize,
    skip_quit_response: bool,
    skip_5xx_greeting: bool,
    /// `smtp_tls_note_starttls_offer`: log the servers that offer STARTTLS
    /// to a client that does not use it.
    note_starttls_offer: bool,
    never_ehlo: bool,
    sasl: Option<crate::sasl::Sasl>,
    fallback_relays: Vec<String>,
    bind_address: Option<IpAddr>,
    /// `smtp_address_preference`: Some(4), Some(6), or None for any.
    address_preference: Option<u8>,
    bind_address6: Option<IpAddr>,
    /// `smtp_bind_address_enforce`: a bind that fails defers instead of
    /// being logged and left out.
    bind_address_enforce: bool,
    /// `debug_peer_list`: servers whose conversation is logged.
    debug_peers: Option<maps::hosts::HostList>,
    /// `smtp_delivery_status_filter` (`lmtp_delivery_status_filter`).
    status_filter: Option<maps::status_filter::StatusFilter>,
    /// `smtp_reply_filter` (`lmtp_reply_filter`).
    reply_filter: Option<std::sync::Arc<MapList>>,
    /// Reuse sessions (None: never).
    cache: Option<Cache>,
    cache_on_demand: bool,
    cache_destinations: Vec<String>,
    reuse_time_limit: Duration,
    reuse_count_limit: u32,
    rset_timeout: Duration,
    sasl_soft_bounce: bool,
    /// This host's addresses (inet_interfaces, proxy_interfaces): a next
    /// hop on port 25 that resolves to one of them is a mail loop.
    own_addresses: Vec<IpAddr>,
    /// smtp_generic_maps, smtp_header_checks, smtp_body_checks.
    output: Output,
}

impl Settings {
    /// The SMTP client's settings.
    pub fn new(cfg: &Config, queue_dir: PathBuf) -> Settings {
        Settings::for_protocol(cfg, queue_dir, Protocol::Smtp)
    }

    /// The settings of the SMTP or the LMTP client (`smtp_*` or `lmtp_*`
    /// parameters).
    pub fn for_protocol(cfg: &Config, queue_dir: PathBuf, proto: Protocol) -> Settings {
        let pick = |smtp: &'static params::Param, lmtp: &'static params::Param| match proto {
            Protocol::Smtp => smtp,
            Protocol::Lmtp => lmtp,
        };
        let family = dns::Family::from_protocols(&cfg.list(&p::INET_PROTOCOLS));
        let no_dns = cfg.bool(&p::DISABLE_DNS_LOOKUPS)
            || cfg
                .str(&p::SMTP_DNS_SUPPORT_LEVEL)
                .eq_ignore_ascii_case("disabled");
        let server = match cfg.str(&p::DNS_RESOLVER_ADDRESS).trim() {
            "" => None,
            s => match dns::parse_server(s) {
                Some(a) => Some(a),
                None => {
                    maillog::warning!(
                        "dns_resolver_address: bad value \"{s}\"; using /etc/resolv.conf"
                    );
                    None
                }
            },
        };
        let resolver = dns::Resolver::new(dns::Options {
            server,
            family,
            host_lookup: if no_dns {
                vec![dns::HostLookup::Native]
            } else {
                dns::HostLookup::from_words(
                    &cfg.list(pick(&p::SMTP_HOST_LOOKUP, &p::LMTP_HOST_LOOKUP)),
                )
            },
            mx_lookups: !no_dns,
            randomize: cfg.bool(&p::SMTP_RANDOMIZE_ADDRESSES),
            ignore_mx_lookup_error: cfg.bool(&p::IGNORE_MX_LOOKUP_ERROR),
            defer_if_no_mx_address: proto == Protocol::Smtp
                && cfg.bool(&p::SMTP_DEFER_IF_NO_MX_ADDRESS_FOUND),
            reply_filter: dns_reply_filter(
                cfg,
                pick(&p::SMTP_DNS_REPLY_FILTER, &p::LMTP_DNS_REPLY_FILTER),
            ),
            ..dns::Options::default()
        })
        .map_err(|e| e.to_string());
        if let Err(e) = &resolver {
            maillog::warning!("{e}");
        }
        let tls_level = TlsLevel::parse(cfg, proto);
        let tls_policy = MapList::open_lenient(
            "smtp_tls_policy_maps",
            cfg.str(pick(&p::SMTP_TLS_POLICY_MAPS, &p::LMTP_TLS_POLICY_MAPS)),
            &maps::Ctx::new(),
        );
        let configured = |param| {
            Some(cfg.str(param).trim())
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let anchors = tls::Anchors {
            ca_file: configured(pick(&p::SMTP_TLS_CAFILE, &p::LMTP_TLS_CAFILE)),
            ca_path: configured(pick(&p::SMTP_TLS_CAPATH, &p::LMTP_TLS_CAPATH)),
            append_default: cfg.bool(&p::TLS_APPEND_DEFAULT_CA),
        };
        // The client's own certificate, for servers that ask for one.
        let identity = match proto {
            Protocol::Smtp => tls::Credentials::new(
                &cfg.list(&p::SMTP_TLS_CHAIN_FILES),
                &[
                    (
                        cfg.str(&p::SMTP_TLS_CERT_FILE),
                        cfg.str(&p::SMTP_TLS_KEY_FILE),
                    ),
                    (
                        cfg.str(&p::SMTP_TLS_ECCERT_FILE),
                        cfg.str(&p::SMTP_TLS_ECKEY_FILE),
                    ),
                ],
            ),
            Protocol::Lmtp => tls::Credentials::new(
                &[],
                &[(
                    cfg.str(&p::LMTP_TLS_CERT_FILE),
                    cfg.str(&p::LMTP_TLS_KEY_FILE),
                )],
            ),
        };
        // Read once for the three clients below.
        let chains = if tls_level == TlsLevel::None && tls_policy.is_empty() {
            Err("TLS is not enabled".to_string())
        } else {
            identity.load().map_err(|e| {
                maillog::warning!("TLS client certificate: {e}");
                e.to_string()
            })
        };
        let exclude = cfg.list(pick(
            &p::SMTP_TLS_EXCLUDE_CIPHERS,
            &p::LMTP_TLS_EXCLUDE_CIPHERS,
        ));
        let mandatory_protocols = pick(
            &p::SMTP_TLS_MANDATORY_PROTOCOLS,
            &p::LMTP_TLS_MANDATORY_PROTOCOLS,
        );
        let opportunistic_protocols = pick(&p::SMTP_TLS_PROTOCOLS, &p::LMTP_TLS_PROTOCOLS);
        let tls_maker = TlsMaker {
            anchors,
            identity: chains,
            lists: tls::GradeLists::from_config(cfg),
            opportunistic: (
                cfg.list(opportunistic_protocols),
                cfg.str(pick(&p::SMTP_TLS_CIPHERS, &p::LMTP_TLS_CIPHERS))
                    .to_string(),
                exclude.clone(),
            ),
            mandatory: (
                cfg.list(mandatory_protocols),
                cfg.str(pick(
                    &p::SMTP_TLS_MANDATORY_CIPHERS,
                    &p::LMTP_TLS_MANDATORY_CIPHERS,
                ))
                .to_string(),
                [
                    exclude,
                    cfg.list(pick(
                        &p::SMTP_TLS_MANDATORY_EXCLUDE_CIPHERS,
                        &p::LMTP_TLS_MANDATORY_EXCLUDE_CIPHERS,
                    )),
                ]
                .concat(),
            ),
            names: [opportunistic_protocols.name, mandatory_protocols.name],
            curves: cfg.str(&p::TLS_EECDH_AUTO_CURVES).to_string(),
        };
        let main_cf = TlsTuning::default();
        let tls_opportunistic = tls_maker.client(tls::Verify::None, false, &main_cf);
        let tls_mandatory = tls_maker.client(tls::Verify::None, true, &main_cf);
        let tls_verified = tls_maker.client(tls::Verify::Required, true, &main_cf);
        let default_port = if proto == Protocol::Lmtp { 24 } else { 25 };
        let port = nexthop::port(cfg.str(pick(&p::SMTP_TCP_PORT, &p::LMTP_TCP_PORT)))
            .unwrap_or(default_port);
        let lmtp = proto == Protocol::Lmtp;
        let on_demand = cfg.bool(pick(
            &p::SMTP_CONNECTION_CACHE_ON_DEMAND,
            &p::LMTP_CONNECTION_CACHE_ON_DEMAND,
        ));
        let cache_destinations: Vec<String> = cfg
            .list(pick(
                &p::SMTP_CONNECTION_CACHE_DESTINATIONS,
                &p::LMTP_CONNECTION_CACHE_DESTINATIONS,
            ))
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        Settings {
            proto,
            line_limit: usize::try_from(
                cfg.int(pick(&p::SMTP_LINE_LENGTH_LIMIT, &p::LMTP_LINE_LENGTH_LIMIT)),
            )
            .unwrap_or(0),
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            queue_dir,
            helo_name: cfg
                .str(pick(&p::SMTP_HELO_NAME, &p::LMTP_LHLO_NAME))
                .to_string(),
            port,
            t: Timeouts {
                connect: cfg.time(pick(&p::SMTP_CONNECT_TIMEOUT, &p::LMTP_CONNECT_TIMEOUT)),
                helo: cfg.time(pick(&p::SMTP_HELO_TIMEOUT, &p::LMTP_LHLO_TIMEOUT)),
                mail: cfg.time(pick(&p::SMTP_MAIL_TIMEOUT, &p::LMTP_MAIL_TIMEOUT)),
                rcpt: cfg.time(pick(&p::SMTP_RCPT_TIMEOUT, &p::LMTP_RCPT_TIMEOUT)),
                data_init: cfg.time(pick(&p::SMTP_DATA_INIT_TIMEOUT, &p::LMTP_DATA_INIT_TIMEOUT)),
                data_xfer: cfg.time(pick(&p::SMTP_DATA_XFER_TIMEOUT, &p::LMTP_DATA_XFER_TIMEOUT)),
                data_done: cfg.time(pick(&p::SMTP_DATA_DONE_TIMEOUT, &p::LMTP_DATA_DONE_TIMEOUT)),
                quit: cfg.time(pick(&p::SMTP_QUIT_TIMEOUT, &p::LMTP_QUIT_TIMEOUT)),
                starttls: cfg.time(pick(&p::SMTP_STARTTLS_TIMEOUT, &p::LMTP_STARTTLS_TIMEOUT)),
                xforward: cfg.time(pick(&p::SMTP_XFORWARD_TIMEOUT, &p::LMTP_XFORWARD_TIMEOUT)),
            },
            min_data_rate: cfg
                .bool(pick(
                    &p::SMTP_PER_REQUEST_DEADLINE,
                    &p::LMTP_PER_REQUEST_DEADLINE,
                ))
                .then(|| {
                    u64::try_from(cfg.int(pick(&p::SMTP_MIN_DATA_RATE, &p::LMTP_MIN_DATA_RATE)))
                        .unwrap_or(500)
                }),
            send_xforward: cfg.bool(pick(
                &p::SMTP_SEND_XFORWARD_COMMAND,
                &p::LMTP_SEND_XFORWARD_COMMAND,
            )),
            resolver,
            tls_level,
            tls_log: {
                let param = pick(&p::SMTP_TLS_LOGLEVEL, &p::LMTP_TLS_LOGLEVEL);
                tls::LogLevel::from_setting(param.name, cfg.str(param))
            },
            tls_mandatory,
            verify_match: cfg.list(&p::SMTP_TLS_VERIFY_CERT_MATCH),
            secure_match: cfg.list(&p::SMTP_TLS_SECURE_CERT_MATCH),
            fingerprint_match: cfg.list(&p::SMTP_TLS_FINGERPRINT_CERT_MATCH),
            tls_servername: cfg
                .str(pick(&p::SMTP_TLS_SERVERNAME, &p::LMTP_TLS_SERVERNAME))
                .trim()
                .to_string(),
            verify_at_data: cfg
                .str(pick(
                    &p::SMTP_ADDRESS_VERIFY_TARGET,
                    &p::LMTP_ADDRESS_VERIFY_TARGET,
                ))
                .trim()
                .eq_ignore_ascii_case("data"),
            fingerprint_digest: tls::Digest::parse(cfg.str(pick(
                &p::SMTP_TLS_FINGERPRINT_DIGEST,
                &p::LMTP_TLS_FINGERPRINT_DIGEST,
            )))
            .map_err(|e| {
                maillog::warning!(
                    "smtp_tls_fingerprint_digest: {e}: the fingerprint level defers all mail"
                )
            })
            .ok(),
            tls_policy,
            discard_keywords: if lmtp {
                Vec::new()
            } else {
                cfg.list(&p::SMTP_DISCARD_EHLO_KEYWORDS)
            },
            discard_by_address: MapList::open_lenient(
                "smtp_discard_ehlo_keyword_address_maps",
                if lmtp {
                    ""
                } else {
                    cfg.str(&p::SMTP_DISCARD_EHLO_KEYWORD_ADDRESS_MAPS)
                },
                &maps::Ctx::new(),
            ),
            tls_opportunistic,
            tls_verified,
            tls_maker,
            address_limit: usize::try_from(cfg.int(&p::SMTP_MX_ADDRESS_LIMIT)).unwrap_or(0),
            tls_wrapper: proto == Protocol::Smtp && cfg.bool(&p::SMTP_TLS_WRAPPERMODE),
            mime_conversion: !cfg.bool(&p::DISABLE_MIME_OUTPUT_CONVERSION),
            sender_dependent_auth: proto == Protocol::Smtp
                && cfg.bool(&p::SMTP_SENDER_DEPENDENT_AUTHENTICATION),
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            output: Output::new(cfg, proto),
            own_addresses: [&p::INET_INTERFACES, &p::PROXY_INTERFACES]
                .into_iter()
                .flat_map(|param| params::netif::addresses_of(&cfg.list(param)))
                .collect(),
            session_limit: usize::try_from(cfg.int(&p::SMTP_MX_SESSION_LIMIT)).unwrap_or(0),
            skip_quit_response: cfg.bool(pick(
                &p::SMTP_SKIP_QUIT_RESPONSE,
                &p::LMTP_SKIP_QUIT_RESPONSE,
            )),
            skip_5xx_greeting: cfg.bool(&p::SMTP_SKIP_5XX_GREETING),
            note_starttls_offer: !lmtp && cfg.bool(&p::SMTP_TLS_NOTE_STARTTLS_OFFER),
            never_ehlo: !lmtp && cfg.bool(&p::SMTP_NEVER_SEND_EHLO),
            cache: (on_demand || !cache_destinations.is_empty()).then(|| {
                Cache::new(cfg.time(pick(
                    &p::SMTP_CONNECTION_CACHE_TIME_LIMIT,
                    &p::LMTP_CONNECTION_CACHE_TIME_LIMIT,
                )))
            }),
            cache_on_demand: on_demand,
            cache_destinations,
            reuse_time_limit: cfg.time(&p::SMTP_CONNECTION_REUSE_TIME_LIMIT),
            reuse_count_limit: u32::try_from(cfg.int(&p::SMTP_CONNECTION_REUSE_COUNT_LIMIT))
                .unwrap_or(0),
            rset_timeout: cfg.time(pick(&p::SMTP_RSET_TIMEOUT, &p::LMTP_RSET_TIMEOUT)),
            fallback_relays: cfg.list(&p::SMTP_FALLBACK_RELAY),
            address_preference: match cfg
                .str(&p::SMTP_ADDRESS_PREFERENCE)
                .trim()
                .to_ascii_lowercase()
                .as_str()
            {
                "ipv4" => Some(4),
                "ipv6" => Some(6),
                _ => None,
            },
            bind_address: bind_address(cfg, pick(&p::SMTP_BIND_ADDRESS, &p::LMTP_BIND_ADDRESS)),
            bind_address6: bind_address(cfg, pick(&p::SMTP_BIND_ADDRESS6, &p::LMTP_BIND_ADDRESS6)),
            bind_address_enforce: cfg.bool(pick(
                &p::SMTP_BIND_ADDRESS_ENFORCE,
                &p::LMTP_BIND_ADDRESS_ENFORCE,
            )),
            reply_filter: {
                let param = pick(&p::SMTP_REPLY_FILTER, &p::LMTP_REPLY_FILTER);
                let list = MapList::open_lenient(param.name, cfg.str(param), &maps::Ctx::new());
                (!list.is_empty()).then(|| std::sync::Arc::new(list))
            },
            status_filter: {
                let param = pick(
                    &p::SMTP_DELIVERY_STATUS_FILTER,
                    &p::LMTP_DELIVERY_STATUS_FILTER,
                );
                maps::status_filter::StatusFilter::open(
                    param.name,
                    cfg.str(param),
                    &maps::Ctx::new(),
                )
            },
            debug_peers: {
                let items = cfg.list(&p::DEBUG_PEER_LIST);
                (!items.is_empty()).then(|| {
                    let (list, bad) = maps::hosts::HostList::parse(&items, p::DEBUG_PEER_LIST.name);
                    for b in bad {
                        maillog::warning!("{}", b.0);
                    }
                    list
                })
            },
            sasl: crate::sasl::Sasl::new(cfg, lmtp),
            sasl_soft_bounce: cfg.bool(pick(
                &p::SMTP_SASL_AUTH_SOFT_BOUNCE,
                &p::LMTP_SASL_AUTH_SOFT_BOUNCE,
            )),
        }
    }
}

/// `smtp_bind_address` / `smtp_bind_address6`: empty for the system's
/// choice; a value that is not an address is logged and ignored.
fn bind_address(cfg: &Config, param: &params::Param) -> Option<IpAddr> {
    let v = cfg.str(param).trim();
    if v.is_empty() {
        return None;
    }
    match v.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            maillog::warning!("{}: not an IP address: \"{v}\"; ignored", param.name);
            None
        }
    }
}

/// What became of one recipient (so far).
#[derive(Debug, Clone)]
pub struct Verdict {
    pub outcome: Outcome,
    pub dsn: String,
    pub relay: String,
    pub text: String,
    /// For a sent recipient: did the server take NOTIFY on (it offered
    /// DSN), or is it only relayed (LMTP: delivered)?
    pub success: delivery::Success,
}

impl Verdict {
    fn new(dsn: &str, relay: &str, text: impl Into<String>) -> Verdict {
        let outcome = match dsn.as_bytes().first() {
            Some(b'2') => Outcome::Sent,
            Some(b'5') => Outcome::Bounced,
            _ => Outcome::Deferred,
        };
        Verdict {
            outcome,
            dsn: dsn.to_string(),
            relay: relay.to_string(),
            text: text.into(),
            success: delivery::Success::Delivered,
        }
    }

    fn is_final(&self) -> bool {
        self.outcome != Outcome::Deferred
    }
}

/// Control characters from the remote server never reach the log.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The DSN code of a reply: its enhanced code, or `X.0.0` from its class.
fn reply_dsn(r: &Reply) -> String {
    r.enhanced_text()
        .unwrap_or_else(|| format!("{}.0.0", r.code / 100))
}

/// `host mx[ip] said: 550 5.1.1 … (in reply to RCPT TO command)`.
fn said(conn: &Conn, r: &Reply, stage: Stage) -> Verdict {
    Verdict::new(
        &reply_dsn(r),
        &conn.relay,
        format!(
            "host {} said: {} (in reply to {})",
            conn.peer,
            printable(&r.to_string()),
            stage.command()
        ),
    )
}

/// A soft (4xx) version of a verdict, for failures that move on.
fn soften(mut v: Verdict) -> Verdict {
    if v.dsn.starts_with('5') {
        v.dsn.replace_range(..1, "4");
    }
    v.outcome = Outcome::Deferred;
    v
}

/// The message as it goes out.
pub struct Message {
    /// Lines with CRLF, dot-stuffed, ending with `.\r\n`.
    pub wire: Vec<u8>,
    /// The size the server is told (CRLF lines, before dot-stuffing).
    pub size: u64,
    pub eight_bit: bool,
    /// SMTPUTF8 was requested and the envelope or headers need it.
    pub needs_smtputf8: bool,
    pub smtputf8_requested: bool,
    pub ret: Option<queue::DsnRet>,
    pub envid: Option<String>,
    /// The envelope as the server sees it (after smtp_generic_maps): the
    /// sender, and each recipient of the request in order.
    pub sender: String,
    pub recipients: Vec<String>,
    /// Who sent it, as XFORWARD attributes (name, value): what an XFORWARD
    /// it came in with said (the `log_*` attributes), else its own client.
    pub origin: Vec<(&'static str, String)>,
}

/// XFORWARD's attributes for a queue file: NAME, ADDR, PORT, PROTO, HELO,
/// IDENT, SOURCE, `[UNAVAILABLE]` where the file does not say.
fn origin(attrs: &queue::Attributes, queue_id: &str) -> Vec<(&'static str, String)> {
    let other = |name: &str| attrs.other_value(name).map(str::to_string);
    let either = |logged: &str, own: &Option<String>| other(logged).or_else(|| own.clone());
    let unavailable = || "[UNAVAILABLE]".to_string();
    let addr = either("log_client_address", &attrs.client_address).map(|a| match a
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V6(v6)) => format!("IPv6:{v6}"),
        _ => a,
    });
    let local = attrs.rewrite_context.as_deref() == Some("local");
    vec![
        (
            "NAME",
            either("log_client_name", &attrs.client_name).unwrap_or_else(unavailable),
        ),
        ("ADDR", addr.unwrap_or_else(unavailable)),
        (
            "PORT",
            other("log_client_port")
                .or_else(|| other("client_port"))
                .unwrap_or_else(unavailable),
        ),
        (
            "PROTO",
            either("log_protocol_name", &attrs.protocol_name).unwrap_or_else(unavailable),
        ),
        (
            "HELO",
            either("log_helo_name", &attrs.helo_name).unwrap_or_else(unavailable),
        ),
        (
            "IDENT",
            other("log_ident").unwrap_or_else(|| queue_id.to_string()),
        ),
        (
            "SOURCE",
            other("log_message_origin")
                .unwrap_or_else(|| if local { "LOCAL" } else { "REMOTE" }.to_string()),
        ),
    ]
}

/// What each of the two XFORWARD commands carries, for the log.
const XFORWARD_PARTS: [&str; 2] = ["name/address", "helo/protocol"];

/// The XFORWARD commands for `origin`, limited to the attributes the
/// server offers: NAME, ADDR and PORT in one, the others in a second
/// (Postfix's split, which keeps each line short); each with its index in
/// [`XFORWARD_PARTS`].
fn xforward_commands(origin: &[(&str, String)], offered: &[String]) -> Vec<(usize, Vec<u8>)> {
    let group = |names: &[&str]| {
        let attrs: Vec<(String, String)> = origin
            .iter()
            .filter(|(n, _)| names.contains(n) && offered.iter().any(|o| o == n))
            .map(|(n, v)| (n.to_string(), smtp_proto::xtext::encode(v)))
            .collect();
        (!attrs.is_empty()).then(|| Command::Xforward(attrs).to_bytes())
    };
    [
        group(&["NAME", "ADDR", "PORT"]),
        group(&["PROTO", "HELO", "IDENT", "SOURCE"]),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, c)| c.map(|c| (i, c)))
    .collect()
}

/// The content in its wire form, built a piece at a time.
#[derive(Default)]
struct Wire {
    buf: Vec<u8>,
    size: u64,
    /// At the beginning of a line; the column within it.
    bol: bool,
    col: usize,
    line_limit: usize,
    in_headers: bool,
    header_utf8: bool,
    eight_bit: bool,
}

impl Wire {
    fn new(capacity: usize, line_limit: usize) -> Wire {
        Wire {
            buf: Vec::with_capacity(capacity),
            bol: true,
            line_limit,
            in_headers: true,
            ..Wire::default()
        }
    }

    /// A piece of a line (the whole line when `end_of_line`): dot-stuffed,
    /// broken where longer than the line limit, CRLF at its end.
    fn piece(&mut self, data: &[u8], end_of_line: bool) {
        if self.bol && end_of_line && data.is_empty() {
            self.in_headers = false;
        }
        let high = data.iter().any(|&b| b >= 0x80);
        self.eight_bit |= high;
        self.header_utf8 |= self.in_headers && high;
        if self.bol && data.first() == Some(&b'.') {
            self.buf.push(b'.');
        }
        let mut data = data;
        while self.col + data.len() > self.line_limit {
            let take = self.line_limit.saturating_sub(self.col).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            self.buf.extend_from_slice(b"\r\n ");
            self.size += take as u64 + 3;
            self.col = 1;
            data = &data[take..];
        }
        self.buf.extend_from_slice(data);
        self.size += data.len() as u64;
        self.col += data.len();
        if end_of_line {
            self.buf.extend_from_slice(b"\r\n");
            self.size += 2;
            self.col = 0;
        }
        self.bol = end_of_line;
    }

    /// Lines that may hold `\n` (a folded header): each physical line.
    fn lines(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            self.piece(line, true);
        }
    }

    /// What the output tables made of `original`.
    fn rewritten(&mut self, lines: Vec<Line>, original: &[u8]) {
        for l in lines {
            match l {
                Line::Original => self.lines(original),
                Line::Text(t) => self.lines(t.as_bytes()),
            }
        }
    }

    fn finish(mut self) -> Wire {
        if !self.bol {
            self.buf.extend_from_slice(b"\r\n");
            self.size += 2;
        }
        self.buf.extend_from_slice(b".\r\n");
        self
    }
}

/// Reads the queue file's content into its wire form. Lines longer than
/// `line_limit` (0: no limit) are broken by inserting CRLF and a space, as
/// Postfix's `smtp_line_length_limit` does. `out` rewrites the envelope
/// and the content on the way (smtp_generic_maps, smtp_header_checks,
/// smtp_body_checks); a table that fails is the error.
pub fn read_message(
    held: &queue::Held,
    req: &Request,
    line_limit: usize,
    out: &Output,
) -> Result<Message, String> {
    let line_limit = if line_limit < 2 {
        usize::MAX
    } else {
        line_limit
    };
    let unreadable = |e: queue::QueueError| format!("cannot read queue file: {e}");
    let mut qf = held.read().map_err(unreadable)?;
    let declared_8bit = qf.encoding() == Some(queue::Encoding::EightBit);
    let smtputf8_requested = qf.size.smtputf8 != 0;
    let ret = qf.envelope.dsn_ret;
    let envid = qf.envelope.dsn_envid.clone();
    let mut wire = Wire::new(qf.size.data_size as usize + 64, line_limit);
    let pieces = qf.content().map_err(unreadable)?;
    if out.rewrites_content() {
        // Whole lines, and whole logical headers (lines joined by \n),
        // through the tables; what they leave alone goes byte for byte.
        let mut line: Vec<u8> = Vec::new();
        let mut header: Option<Vec<u8>> = None;
        let mut in_headers = true;
        let id = &req.queue_id;
        for piece in pieces {
            let piece = piece.map_err(unreadable)?;
            line.extend_from_slice(&piece.data);
            if !piece.end_of_line {
                continue;
            }
            let text = std::mem::take(&mut line);
            if in_headers {
                if text.starts_with(b" ") || text.starts_with(b"\t") {
                    if let Some(h) = header.as_mut() {
                        h.push(b'\n');
                        h.extend_from_slice(&text);
                        continue;
                    }
                }
                if let Some(h) = header.take() {
                    wire.rewritten(out.header(id, &String::from_utf8_lossy(&h))?, &h);
                }
                if text.is_empty() {
                    in_headers = false;
                    wire.piece(b"", true);
                } else {
                    header = Some(text);
                }
                continue;
            }
            wire.rewritten(out.body_line(id, &String::from_utf8_lossy(&text))?, &text);
        }
        if let Some(h) = header.take() {
            wire.rewritten(out.header(id, &String::from_utf8_lossy(&h))?, &h);
        }
        if !line.is_empty() {
            wire.piece(&line, false);
        }
    } else {
        for piece in pieces {
            let piece = piece.map_err(unreadable)?;
            wire.piece(&piece.data, piece.end_of_line);
        }
    }
    let wire = wire.finish();
    let sender = out.address(&req.sender)?;
    let recipients = req
        .recipients
        .iter()
        .map(|r| out.address(&r.address))
        .collect::<Result<Vec<_>, _>>()?;
    let envelope_utf8 = !sender.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
    let origin = origin(&qf.envelope.attrs, &req.queue_id);
    Ok(Message {
        wire: wire.buf,
        size: wire.size,
        eight_bit: wire.eight_bit || declared_8bit,
        needs_smtputf8: smtputf8_requested && (envelope_utf8 || wire.header_utf8),
        smtputf8_requested,
        ret,
        envid,
        sender,
        recipients,
        origin,
    })
}

fn mailbox(address: &str) -> Mailbox {
    match address.rsplit_once('@') {
        Some((l, d)) => Mailbox::new(l, Some(d)),
        None => Mailbox::new(address, None::<String>),
    }
}

fn notify(mask: u8) -> Option<Notify> {
    if mask == 0 {
        return None;
    }
    if mask & queue::DsnNotify::NEVER != 0 {
        return Some(Notify::NEVER);
    }
    Some(Notify {
        success: mask & queue::DsnNotify::SUCCESS != 0,
        failure: mask & queue::DsnNotify::FAILURE != 0,
        delay: mask & queue::DsnNotify::DELAY != 0,
    })
}

/// One server to try.
struct Target {
    host: String,
    addr: Addr,
    port: u16,
}

enum Addr {
    Ip(IpAddr),
    Unix(String),
}

/// Delivery state for one request.
struct Job<'a> {
    s: &'a Settings,
    req: &'a Request,
    msg: &'a Message,
    dest: &'a Dest,
    /// The next hop as written, the first password-table key.
    nexthop: String,
    /// Final or latest result per recipient.
    verdicts: Vec<Option<Verdict>>,
    /// When the first session was ready for MAIL.
    setup_done: Option<f64>,
    /// No other server may help (the message is refused everywhere).
    stop: bool,
    /// The TLS level for this next hop (`smtp_tls_policy_maps` or the
    /// default), and at verify and secure the certificate name strategies.
    tls_level: TlsLevel,
    tls_match: Vec<String>,
    /// A TLS policy's `servername=`, if any (else `smtp_tls_servername`).
    tls_servername: Option<String>,
    /// The TLS client for a policy with its own `protocols=`, `ciphers=`
    /// or `exclude=`.
    tls_own: Option<Result<tls::ClientTls, String>>,
    /// Which cached session this request may use, and whether its own may
    /// be cached.
    cache_key: String,
    cacheable: bool,
    /// Per recipient: the transactions its session had carried (conn_use=).
    uses: Vec<u32>,
    /// Opportunistic TLS failed at this server: try it again in plaintext.
    tls_failed: bool,
    /// Do not use STARTTLS (the retry after a failed handshake at `may`).
    plain_only: bool,
    /// The session must be dropped, not cached nor ended with QUIT (a
    /// probe that went on to DATA).
    abandon: bool,
}

impl Job<'_> {
    fn pending(&self) -> Vec<usize> {
        (0..self.verdicts.len())
            .filter(|&i| !self.verdicts[i].as_ref().is_some_and(Verdict::is_final))
            .collect()
    }

    fn set_all(&mut self, which: &[usize], v: &Verdict) {
        for &i in which {
            self.verdicts[i] = Some(v.clone());
        }
    }

    /// The TLS client the destination's security level asks for (Err when
    /// it could not be set up).
    fn tls_client(&self) -> &Result<tls::ClientTls, String> {
        if let Some(own) = &self.tls_own {
            return own;
        }
        match self.tls_level {
            TlsLevel::Verify | TlsLevel::Secure => &self.s.tls_verified,
            TlsLevel::Encrypt | TlsLevel::Fingerprint => &self.s.tls_mandatory,
            _ => &self.s.tls_opportunistic,
        }
    }

    /// The greeting and EHLO/HELO (and STARTTLS): the capabilities, or a
    /// verdict for every pending recipient.
    fn handshake(&mut self, conn: &mut Conn, server_name: &str) -> Result<Capabilities, Verdict> {
        let t = &self.s.t;
        let broken = |conn: &Conn, e: ConnError| {
            soften(Verdict::new("4.4.2", &conn.relay, conn.error_text(&e)))
        };
        if self.s.tls_wrapper {
            // SMTPS: the handshake comes first, and is required.
            let Ok(client) = self.tls_client() else {
                return Err(Verdict::new(
                    "4.7.5",
                    &conn.relay,
                    "TLS is required, but our TLS engine is unavailable",
                ));
            };
            let names = self.cert_names(server_name);
            let trusted = conn
                .start_tls(
                    client,
                    server_name,
                    self.sni(server_name),
                    &names,
                    t.starttls,
                )
                .map_err(|e| broken(conn, e))?;
            let trusted = self.pinned(conn, trusted)?;
            self.log_tls(conn, trusted);
        }
        let greeting = conn
            .reply(Stage::Greeting, t.helo)
            .map_err(|e| broken(conn, e))?;
        if !greeting.is_positive() {
            let mut v = Verdict::new(
                &reply_dsn(&greeting),
                &conn.relay,
                format!(
                    "host {} refused to talk to me: {}",
                    conn.peer,
                    printable(&greeting.to_string())
                ),
            );
            if greeting.is_permanent() && !self.s.skip_5xx_greeting {
                self.stop = true;
            } else {
                v = soften(v);
            }
            return Err(v);
        }
        let mut caps = self.ehlo(conn)?;
        let want_tls = self.tls_level != TlsLevel::None && !self.plain_only && !self.s.tls_wrapper;
        let required = self.tls_level.required();
        if caps.starttls && self.tls_level == TlsLevel::None && self.s.note_starttls_offer {
            maillog::info!("Host offered STARTTLS: [{server_name}]");
        }
        if want_tls && !caps.starttls && required {
            return Err(Verdict::new(
                "4.7.4",
                &conn.relay,
                format!("TLS is required, but was not offered by host {}", conn.peer),
            ));
        }
        if want_tls && caps.starttls {
            let client = match self.tls_client() {
                Ok(c) => c,
                Err(_) if !required => return Ok(caps),
                _ => {
                    return Err(Verdict::new(
                        "4.7.5",
                        &conn.relay,
                        "TLS is required, but our TLS engine is unavailable",
                    ))
                }
            };
            conn.send(&Command::StartTls.to_bytes(), Stage::StartTls, t.helo)
                .map_err(|e| broken(conn, e))?;
            let r = conn
                .reply(Stage::StartTls, t.helo)
                .map_err(|e| broken(conn, e))?;
            if r.code != 220 {
                if required {
                    return Err(soften(said(conn, &r, Stage::StartTls)));
                }
                return Ok(caps);
            }
            let names = self.cert_names(server_name);
            let trusted = match conn.start_tls(
                client,
                server_name,
                self.sni(server_name),
                &names,
                t.starttls,
            ) {
                Ok(trusted) => trusted,
                Err(e) => {
                    let v = broken(conn, e);
                    if !required {
                        maillog::info!("{}: {}; trying again without TLS", conn.relay, v.text);
                        self.tls_failed = true;
                    }
                    return Err(v);
                }
            };
            let trusted = self.pinned(conn, trusted)?;
            self.log_tls(conn, trusted);
            caps = self.ehlo(conn)?;
        }
        Ok(caps)
    }

    /// At the `fingerprint` level, whether the server's certificate has one
    /// of the fingerprints listed (colons and case aside); a certificate
    /// without one ends the session with Postfix's words. Other levels
    /// keep what the handshake found.
    fn pinned(&self, conn: &Conn, trusted: bool) -> Result<bool, Verdict> {
        if self.tls_level != TlsLevel::Fingerprint {
            return Ok(trusted);
        }
        let norm = |f: &str| f.replace(':', "").to_ascii_uppercase();
        // The certificate's fingerprint or its public key's, as Postfix.
        let seen = self
            .s
            .fingerprint_digest
            .map(|d| conn.peer_fingerprints(d))
            .unwrap_or_default();
        let matched = seen.iter().any(|seen| {
            self.tls_match
                .iter()
                .any(|m| !m.trim().is_empty() && norm(m.trim()) == norm(seen))
        });
        if matched {
            return Ok(true);
        }
        maillog::info!(
            "{}: certificate fingerprint {} not in the match list",
            conn.relay,
            seen.first().map(String::as_str).unwrap_or("(none)")
        );
        Err(soften(Verdict::new(
            "4.7.5",
            &conn.relay,
            "Server certificate not verified",
        )))
    }

    /// The names the server's certificate must bear at verify and secure
    /// (none otherwise: the server's own name then only decides whether
    /// the log says Trusted).
    /// The name sent in SNI to `server`, by `smtp_tls_servername` (or the
    /// policy's `servername=`), as Postfix: none by default.
    fn sni<'n>(&'n self, server: &'n str) -> Option<&'n str> {
        let strategy = self
            .tls_servername
            .as_deref()
            .unwrap_or(&self.s.tls_servername);
        match strategy {
            "" => None,
            "hostname" => Some(server),
            "nexthop" => Some(self.dest.host.trim_end_matches('.')),
            name => Some(name),
        }
    }

    fn cert_names(&self, server: &str) -> Vec<tls::NameMatch> {
        if !matches!(self.tls_level, TlsLevel::Verify | TlsLevel::Secure) {
            return Vec::new();
        }
        let nexthop = self.dest.host.trim_end_matches('.').to_ascii_lowercase();
        cert_names(&self.tls_match, server, &nexthop)
    }

    /// Postfix's `… TLS connection established to host[addr]:port: …` line.
    fn log_tls(&self, conn: &Conn, trusted: bool) {
        if !self.s.tls_log.summary() {
            return;
        }
        maillog::info!(
            "{} TLS connection established to {}: {}",
            match (trusted, self.tls_level) {
                // The chain and the names were checked at the handshake.
                (true, TlsLevel::Verify | TlsLevel::Secure | TlsLevel::Fingerprint) => "Verified",
                (true, _) => "Trusted",
                (false, _) => "Untrusted",
            },
            conn.relay,
            conn.tls.as_deref().unwrap_or("")
        );
    }

    /// What the server's EHLO (LHLO) reply offers, less the keywords
    /// `smtp_discard_ehlo_keywords` or, by the server's address,
    /// `smtp_discard_ehlo_keyword_address_maps` name; what they took away
    /// is logged unless they say `silent-discard`.
    fn offered(&self, conn: &Conn, r: &Reply) -> Capabilities {
        let mut caps = Capabilities::from_ehlo(r);
        let addr = conn
            .peer
            .rsplit_once('[')
            .and_then(|(_, a)| a.strip_suffix(']'))
            .unwrap_or("");
        let words: Vec<String> = match self.s.discard_by_address.lookup(addr) {
            Ok(Some(v)) => maps::split_list(&v),
            Ok(None) => self.s.discard_keywords.clone(),
            Err(e) => {
                maillog::warning!("smtp_discard_ehlo_keyword_address_maps: {e}");
                self.s.discard_keywords.clone()
            }
        };
        if words.is_empty() {
            return caps;
        }
        let gone = caps.discard(&words);
        let silent = words
            .iter()
            .any(|w| w.eq_ignore_ascii_case("silent-discard"));
        if !gone.is_empty() && !silent {
            maillog::info!(
                "{}: discarding EHLO keywords: {}",
                conn.relay,
                gone.join(" ")
            );
        }
        caps
    }

    fn ehlo(&mut self, conn: &mut Conn) -> Result<Capabilities, Verdict> {
        let t = &self.s.t;
        let broken = |conn: &Conn, e: ConnError| {
            soften(Verdict::new("4.4.2", &conn.relay, conn.error_text(&e)))
        };
        if self.s.proto == Protocol::Lmtp {
            let lhlo = format!("LHLO {}\r\n", self.s.helo_name);
            conn.send(lhlo.as_bytes(), Stage::Lhlo, t.helo)
                .map_err(|e| broken(conn, e))?;
            let r = conn
                .reply(Stage::Lhlo, t.helo)
                .map_err(|e| broken(conn, e))?;
            if r.is_positive() {
                return Ok(self.offered(conn, &r));
            }
            if r.is_permanent() {
                self.stop = true;
            }
            return Err(said(conn, &r, Stage::Lhlo));
        }
        if !self.s.never_ehlo {
            conn.send(
                &Command::Ehlo(self.s.helo_name.clone()).to_bytes(),
                Stage::Ehlo,
                t.helo,
            )
            .map_err(|e| broken(conn, e))?;
            let r = conn
                .reply(Stage::Ehlo, t.helo)
                .map_err(|e| broken(conn, e))?;
            if r.is_positive() {
                return Ok(self.offered(conn, &r));
            }
            if r.is_transient() {
                return Err(said(conn, &r, Stage::Ehlo));
            }
        }
        conn.send(
            &Command::Helo(self.s.helo_name.clone()).to_bytes(),
            Stage::Helo,
            t.helo,
        )
        .map_err(|e| broken(conn, e))?;
        let r = conn
            .reply(Stage::Helo, t.helo)
            .map_err(|e| broken(conn, e))?;
        if r.is_positive() {
            return Ok(Capabilities::default());
        }
        if r.is_permanent() {
            self.stop = true;
        }
        Err(said(conn, &r, Stage::Helo))
    }

    /// One session with one server for the pending recipients.
    fn session(&mut self, target: &Target) -> Result<(), Verdict> {
        let t = self.s.t.clone();
        let conn = match &target.addr {
            Addr::Ip(ip) => {
                let address = if ip.is_ipv4() {
                    self.s.bind_address
                } else {
                    self.s.bind_address6
                };
                let bind = address.map(|address| crate::conn::Bind {
                    address,
                    enforce: self.s.bind_address_enforce,
                });
                Conn::connect(&target.host, *ip, target.port, t.connect, bind)
            }
            Addr::Unix(path) => Conn::connect_unix(&target.host, path),
        };
        let mut conn = conn.map_err(|text| {
            maillog::info!("{text}");
            Verdict::new("4.4.1", "none", text)
        })?;
        if let Some(rate) = self.s.min_data_rate {
            conn.per_request_deadline(rate);
        }
        let ip = match &target.addr {
            Addr::Ip(ip) => Some(*ip),
            Addr::Unix(_) => None,
        };
        conn.debug = (self.s.debug_peers.as_ref()).is_some_and(|l| l.matches(&target.host, ip));
        conn.reply_filter = self.s.reply_filter.clone();
        let server_name = target.host.clone();
        let caps = match self.handshake(&mut conn, &server_name) {
            Ok(c) => c,
            Err(v) => {
                self.quit(&mut conn);
                return Err(v);
            }
        };
        if let Err(v) = self.authenticate(&mut conn, &caps, &server_name) {
            if v.is_final() {
                self.stop = true;
            }
            self.quit(&mut conn);
            return Err(v);
        }
        self.run(Cached {
            key: self.cache_key.clone(),
            conn,
            caps,
            opened: Instant::now(),
            uses: 0,
        });
        Ok(())
    }

    /// A cached session for this next hop, if it still answers RSET.
    fn reuse(&mut self) {
        let Some(cache) = self.s.cache.as_ref().filter(|_| self.cacheable) else {
            return;
        };
        let Some(mut c) = cache.take(&self.cache_key) else {
            return;
        };
        let t = self.s.rset_timeout;
        let alive = c
            .conn
            .send(&Command::Rset.to_bytes(), Stage::Mail, t)
            .is_ok()
            && c.conn.reply(Stage::Mail, t).is_ok_and(|r| r.is_positive());
        if alive {
            self.run(c);
        }
    }

    /// The checks and the transaction on an open session, which is then
    /// cached or closed.
    fn run(&mut self, mut c: Cached) {
        if self.setup_done.is_none() {
            self.setup_done = Some(now());
        }
        let pending = self.pending();
        let conn = &mut c.conn;
        if let Some(limit) = c.caps.size.filter(|&n| n > 0) {
            if self.msg.size > limit {
                let v = Verdict::new(
                    "5.3.4",
                    &conn.relay,
                    format!(
                        "message size {} exceeds size limit {} of server {}",
                        self.msg.size, limit, conn.peer
                    ),
                );
                self.set_all(&pending, &v);
                self.stop = true;
                self.release(c);
                return;
            }
        }
        if self.msg.needs_smtputf8 && !c.caps.smtputf8 {
            let v = Verdict::new(
                "5.6.7",
                &conn.relay,
                format!(
                    "SMTPUTF8 is required, but was not offered by host {}",
                    conn.peer
                ),
            );
            self.set_all(&pending, &v);
            self.stop = true;
            self.release(c);
            return;
        }
        c.uses += 1;
        let r = self.transaction(&mut c.conn, &c.caps, &pending);
        for &i in &pending {
            if self.verdicts[i]
                .as_ref()
                .is_some_and(|v| v.relay == c.conn.relay)
            {
                self.uses[i] = c.uses;
            }
        }
        if std::mem::take(&mut self.abandon) {
            return;
        }
        if let Err(e) = r {
            // The conversation broke: whoever is not decided yet is deferred.
            let v = soften(Verdict::new("4.4.2", &c.conn.relay, c.conn.error_text(&e)));
            for &i in &pending {
                if !self.verdicts[i].as_ref().is_some_and(Verdict::is_final) {
                    self.verdicts[i] = Some(v.clone());
                }
            }
            return;
        }
        self.release(c);
    }

    /// Caches a session that may be used again, else says QUIT.
    fn release(&self, mut c: Cached) {
        let limit = self.s.reuse_count_limit;
        let fresh = c.opened.elapsed() < self.s.reuse_time_limit && (limit == 0 || c.uses < limit);
        match &self.s.cache {
            Some(cache) if self.cacheable && fresh => cache.put(c),
            _ => self.quit(&mut c.conn),
        }
    }

    /// SMTP AUTH when enabled, offered, and the password tables know the
    /// server.
    fn authenticate(
        &mut self,
        conn: &mut Conn,
        caps: &Capabilities,
        host: &str,
    ) -> Result<(), Verdict> {
        let Some(sasl) = &self.s.sasl else {
            return Ok(());
        };
        if caps.auth.is_empty() {
            return Ok(());
        }
        let port = self.dest.port;
        let mut keys = sender_keys(self.s, &self.req.sender);
        keys.extend([
            self.nexthop.clone(),
            host.to_string(),
            format!("[{host}]:{port}"),
            format!("[{host}]"),
        ]);
        let (user, password) = match sasl.credentials(&keys) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => {
                return Err(Verdict::new(
                    "4.3.0",
                    &conn.relay,
                    format!("SASL password lookup failed: {}", e.0),
                ))
            }
        };
        let Some(mech) = sasl.choose(&caps.auth, conn.tls.is_some()) else {
            return Err(Verdict::new(
                "4.7.0",
                &conn.relay,
                format!(
                    "SASL authentication failed; cannot authenticate to server {}: no mechanism available",
                    conn.peer
                ),
            ));
        };
        let t = self.s.t.helo;
        let broken = |conn: &Conn, e: ConnError| {
            soften(Verdict::new("4.4.2", &conn.relay, conn.error_text(&e)))
        };
        let plain = util::base64::encode(format!("\0{user}\0{password}").as_bytes());
        let first = if mech == "PLAIN" {
            format!("AUTH PLAIN {plain}\r\n")
        } else {
            "AUTH LOGIN\r\n".to_string()
        };
        conn.send(first.as_bytes(), Stage::Auth, t)
            .map_err(|e| broken(conn, e))?;
        let mut answers: Vec<String> = if mech == "PLAIN" {
            vec![plain]
        } else {
            vec![
                util::base64::encode(user.as_bytes()),
                util::base64::encode(password.as_bytes()),
            ]
        };
        answers.reverse();
        let mut r = conn.reply(Stage::Auth, t).map_err(|e| broken(conn, e))?;
        while r.code == 334 {
            // A server that asks more than the mechanism has answers gets "*" (cancel).
            let a = answers.pop().unwrap_or_else(|| "*".to_string());
            conn.send(format!("{a}\r\n").as_bytes(), Stage::Auth, t)
                .map_err(|e| broken(conn, e))?;
            r = conn.reply(Stage::Auth, t).map_err(|e| broken(conn, e))?;
        }
        if r.is_positive() {
            return Ok(());
        }
        let v = Verdict::new(
            &reply_dsn(&r),
            &conn.relay,
            format!(
                "SASL authentication failed; server {} said: {}",
                conn.peer,
                printable(&r.to_string())
            ),
        );
        Err(if self.s.sasl_soft_bounce {
            soften(v)
        } else {
            v
        })
    }

    fn quit(&self, conn: &mut Conn) {
        if conn
            .send(&Command::Quit.to_bytes(), Stage::Quit, self.s.t.quit)
            .is_ok()
            && !self.s.skip_quit_response
        {
            let _ = conn.reply(Stage::Quit, self.s.t.quit);
        }
    }

    /// MAIL, RCPTs, DATA, content: pipelined when the server allows.
    fn transaction(
        &mut self,
        conn: &mut Conn,
        caps: &Capabilities,
        pending: &[usize],
    ) -> Result<(), ConnError> {
        let t = self.s.t.clone();
        let msg = self.msg;
        // RFC 6152: no 8-bit content to a server that did not offer 8BITMIME.
        let seven_bit;
        let (wire, size) = if msg.eight_bit && !caps.eightbitmime && self.s.mime_conversion {
            seven_bit = crate::downgrade::to_7bit_wire(&msg.wire);
            (&seven_bit[..], seven_bit.len().saturating_sub(3) as u64)
        } else {
            (&msg.wire[..], msg.size)
        };
        let mail = MailFrom {
            sender: (!msg.sender.is_empty()).then(|| mailbox(&msg.sender)),
            size: caps.size.map(|_| size),
            body: (caps.eightbitmime && msg.eight_bit).then_some(smtp_proto::Body::EightBitMime),
            smtputf8: caps.smtputf8 && msg.smtputf8_requested,
            ret: if caps.dsn {
                msg.ret.map(|r| match r {
                    queue::DsnRet::Full => Ret::Full,
                    queue::DsnRet::Hdrs => Ret::Hdrs,
                })
            } else {
                None
            },
            envid: if caps.dsn { msg.envid.clone() } else { None },
            auth: None,
            // (qmgr has already put the recipient in a VERP sender)
            verp: None,
        };
        let rcpts: Vec<Vec<u8>> = pending
            .iter()
            .map(|&i| {
                let r = &self.req.recipients[i];
                RcptTo {
                    rcpt: mailbox(&msg.recipients[i]),
                    notify: if caps.dsn { notify(r.notify) } else { None },
                    orcpt: if caps.dsn {
                        r.orcpt.as_deref().and_then(|o| {
                            o.split_once(';').map(|(ty, a)| Orcpt {
                                addr_type: ty.to_string(),
                                addr: a.to_string(),
                            })
                        })
                    } else {
                        None
                    },
                }
                .to_bytes()
            })
            .collect();
        let mut accepted = Vec::new();
        // MAIL, the RCPTs and DATA: with PIPELINING in batches of at most
        // PIPELINE_BATCH bytes (so that neither side blocks writing while
        // the other is not reading), else one at a time.
        let mut cmds: Vec<(Stage, Vec<u8>, usize)> = Vec::with_capacity(pending.len() + 4);
        if self.s.send_xforward {
            for (part, x) in xforward_commands(&msg.origin, &caps.xforward()) {
                cmds.push((Stage::Xforward, x, part));
            }
        }
        cmds.push((Stage::Mail, mail.to_bytes(), 0));
        for (k, &i) in pending.iter().enumerate() {
            cmds.push((Stage::Rcpt, rcpts[k].clone(), i));
        }
        // An address verification probe ends at RCPT TO (Postfix's
        // smtp_address_verify_target = rcpt): the replies are the answer;
        // with `data`, the reply to DATA is, for servers that refuse
        // recipients only then.
        let probe = self.req.probe;
        let probe_at_data = probe && self.s.verify_at_data;
        if !probe || probe_at_data {
            cmds.push((Stage::Data, Command::Data.to_bytes(), 0));
        }
        let timeout = |st: Stage| match st {
            Stage::Xforward => t.xforward,
            Stage::Mail => t.mail,
            Stage::Rcpt => t.rcpt,
            _ => t.data_init,
        };
        let mut mail_ok = true;
        let mut data_reply = None;
        let mut next = 0;
        while next < cmds.len() && mail_ok {
            if !caps.pipelining && cmds[next].0 == Stage::Data && accepted.is_empty() {
                return Ok(());
            }
            let mut end = next + 1;
            if caps.pipelining {
                let mut size = cmds[next].1.len();
                while end < cmds.len() && size + cmds[end].1.len() <= PIPELINE_BATCH {
                    size += cmds[end].1.len();
                    end += 1;
                }
            }
            let out: Vec<u8> = cmds[next..end]
                .iter()
                .flat_map(|c| c.1.iter().copied())
                .collect();
            conn.send(&out, cmds[next].0, timeout(cmds[next].0))?;
            for (stage, _, i) in &cmds[next..end] {
                let r = conn.reply(*stage, timeout(*stage))?;
                match stage {
                    // A refused XFORWARD only costs the log its details
                    // (Postfix warns and goes on).
                    Stage::Xforward if !r.is_positive() => maillog::warning!(
                        "host {} said: {} (in reply to XFORWARD {} command)",
                        conn.relay,
                        printable(&r.to_string()),
                        XFORWARD_PARTS.get(*i).copied().unwrap_or("")
                    ),
                    Stage::Mail if !r.is_positive() => {
                        mail_ok = false;
                        let v = said(conn, &r, Stage::Mail);
                        self.set_all(pending, &v);
                    }
                    Stage::Rcpt if mail_ok => {
                        if r.is_positive() {
                            accepted.push(*i);
                            if probe {
                                self.verdicts[*i] = Some(Verdict::new(
                                    &reply_dsn(&r),
                                    &conn.relay,
                                    printable(&r.to_string()),
                                ));
                            }
                        } else {
                            self.verdicts[*i] = Some(said(conn, &r, Stage::Rcpt));
                        }
                    }
                    Stage::Data => data_reply = Some(r),
                    _ => {}
                }
            }
            next = end;
        }
        let Some(dr) = data_reply else {
            return Ok(());
        };
        if probe_at_data && dr.code == 354 {
            // The recipients stand: no content is sent, and the connection
            // is dropped (the server logs "lost connection after DATA", as
            // with Postfix).
            self.abandon = true;
            return Ok(());
        }
        if dr.code == 354 && accepted.is_empty() {
            // Nothing to send: end the (empty) message and forget it.
            conn.send(b".\r\n", Stage::Dot, t.data_done)?;
            let _ = conn.reply(Stage::Dot, t.data_done)?;
            return Ok(());
        }
        if accepted.is_empty() {
            return Ok(());
        }
        if dr.code != 354 {
            let v = said(conn, &dr, Stage::Data);
            self.set_all(&accepted, &v);
            return Ok(());
        }
        for chunk in wire.chunks(64 * 1024) {
            conn.send(chunk, Stage::Body, t.data_xfer)?;
        }
        // A server that offered DSN sends the success notices from here
        // on; one that did not only relays (Postfix's "relayed"); an LMTP
        // server delivers.
        let success = match (self.s.proto, caps.dsn) {
            (Protocol::Lmtp, _) => delivery::Success::Delivered,
            (Protocol::Smtp, true) => delivery::Success::PassedOn,
            (Protocol::Smtp, false) => delivery::Success::Relayed,
        };
        let verdict = |conn: &Conn, end: &Reply| {
            if end.is_positive() {
                let mut v = Verdict::new(&reply_dsn(end), &conn.relay, printable(&end.to_string()));
                v.success = success;
                v
            } else {
                said(conn, end, Stage::Dot)
            }
        };
        if self.s.proto == Protocol::Lmtp {
            // One reply per accepted recipient, in order (RFC 2033 §4.2).
            for &i in &accepted {
                let end = conn.reply(Stage::Dot, t.data_done)?;
                self.verdicts[i] = Some(verdict(conn, &end));
            }
            return Ok(());
        }
        let end = conn.reply(Stage::Dot, t.data_done)?;
        let v = verdict(conn, &end);
        self.set_all(&accepted, &v);
        Ok(())
    }
}

/// Handles one request from qmgr.
pub fn handle(s: &Settings, req: &Request) -> Response {
    let qf_path = s.queue_dir.join(&req.queue_name).join(&req.queue_id);
    let n = req.recipients.len();
    let held = queue::Held::open(&qf_path);
    let done = deliver(s, req, held.as_ref());
    let setup_done = done.setup_done.unwrap_or_else(now);
    let mut results = Vec::with_capacity(n);
    for (i, rcpt) in req.recipients.iter().enumerate() {
        let mut v = done.verdicts[i]
            .clone()
            .unwrap_or_else(|| Verdict::new("4.4.0", "none", "delivery not attempted"));
        if v.outcome == Outcome::Sent && rcpt.agent_marks_done() && !req.probe {
            let marked = match &held {
                Ok(h) => h.mark_done(rcpt.offset).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = marked {
                maillog::warning!("{}: mark {} done: {e}", req.queue_id, rcpt.address);
                v = Verdict::new("4.3.0", &v.relay, format!("cannot update queue file: {e}"));
            }
        }
        // smtp_delivery_status_filter (lmtp_…): a new status and text of
        // the same kind; a failure's new class decides defer or bounce.
        if let Some((dsn, text)) = s
            .status_filter
            .as_ref()
            .and_then(|f| f.replace(&v.dsn, &v.text))
        {
            let outcome = match (v.outcome, dsn.as_bytes().first()) {
                (Outcome::Sent, _) => Outcome::Sent,
                (_, Some(b'5')) => Outcome::Bounced,
                _ => Outcome::Deferred,
            };
            v = Verdict {
                outcome,
                dsn,
                text,
                ..v
            };
        }
        let status = v.outcome.status_of(req);
        let orig = match &rcpt.original {
            Some(o) if !o.eq_ignore_ascii_case(&rcpt.address) => {
                format!(", orig_to=<{}>", maillog::address(o))
            }
            _ => String::new(),
        };
        let conn_use = match done.uses.get(i) {
            Some(&u) if u > 1 => format!(", conn_use={u}"),
            _ => String::new(),
        };
        maillog::info!(
            "{}: to=<{}>{orig}, relay={}{conn_use}, {}, dsn={}, status={status} ({})",
            req.queue_id,
            maillog::address(&rcpt.address),
            v.relay,
            delivery::delays(req, setup_done, now()),
            v.dsn,
            v.text
        );
        results.push(RcptResult {
            // soft_bounce (this agent's): a bounce waits in the queue.
            outcome: if req.probe {
                v.outcome
            } else {
                v.outcome.softened()
            },
            dsn: v.dsn,
            relay: v.relay,
            reason: v.text,
            success: v.success,
            expansions: Vec::new(),
        });
    }
    Response {
        results,
        site_failed: done.site_failed,
    }
}

/// Postfix's certificate match strategies made names: `hostname` (the
/// server's name, from DNS), `nexthop`, `dot-nexthop` (any name under the
/// next hop), a name, or `.domain` (any name under it).
fn cert_names(strategies: &[String], server: &str, nexthop: &str) -> Vec<tls::NameMatch> {
    use tls::NameMatch::{Exact, Suffix};
    strategies
        .iter()
        .flat_map(|s| s.split(':'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.to_ascii_lowercase().as_str() {
            "hostname" => Exact(server.to_string()),
            "nexthop" => Exact(nexthop.to_string()),
            "dot-nexthop" => Suffix(format!(".{nexthop}")),
            d if d.starts_with('.') => Suffix(d.to_string()),
            d => Exact(d.to_string()),
        })
        .collect()
}

/// The TLS level for a next hop: `smtp_tls_policy_maps` by the next hop as
/// written (`[mx.example.com]:587`), then by the domain and its parents
/// (`.example.com`); the first word of the value is the level, and a
/// `match=name:name…` attribute gives the certificate names at verify and
/// secure (else `smtp_tls_verify_cert_match` or `smtp_tls_secure_cert_match`).
fn tls_policy(s: &Settings, nexthop: &str, dest: &Dest) -> Result<TlsPolicy, String> {
    let policy = |level: TlsLevel,
                  matches: Option<Vec<String>>,
                  servername: Option<&str>,
                  tuning: TlsTuning| TlsPolicy {
        level,
        matches: matches.unwrap_or_else(|| match level {
            TlsLevel::Secure => s.secure_match.clone(),
            TlsLevel::Verify => s.verify_match.clone(),
            TlsLevel::Fingerprint => s.fingerprint_match.clone(),
            _ => Vec::new(),
        }),
        servername: servername.map(str::to_string),
        tuning,
    };
    if s.tls_policy.is_empty() {
        return Ok(policy(s.tls_level, None, None, TlsTuning::default()));
    }
    let mut keys = vec![nexthop.to_ascii_lowercase()];
    if dest.unix.is_none() {
        let host = dest.host.to_ascii_lowercase();
        keys.push(if dest.mx {
            host.clone()
        } else {
            format!("[{host}]")
        });
        if dest.mx {
            let mut rest = host.as_str();
            while let Some(i) = rest.find('.') {
                rest = &rest[i + 1..];
                keys.push(format!(".{rest}"));
            }
        }
    }
    for (n, key) in keys.iter().enumerate() {
        let found = s
            .tls_policy
            .find(key, n > 0)
            .map_err(|e| format!("TLS policy lookup error for {key}: {e}"))?;
        if let Some(v) = found {
            let mut words = v.split_ascii_whitespace();
            let word = words.next().unwrap_or("");
            let level = TlsLevel::from_word(word).ok_or_else(|| {
                format!("{key}: invalid TLS security level \"{word}\" in smtp_tls_policy_maps")
            })?;
            // Fingerprints hold colons: theirs are separated by '|'.
            let sep = if level == TlsLevel::Fingerprint {
                '|'
            } else {
                ':'
            };
            let attrs: Vec<&str> = words.collect();
            let attr = |name: &str| attrs.iter().rev().find_map(|w| w.strip_prefix(name));
            let matches = attr("match=").map(|m| m.split(sep).map(str::to_string).collect());
            let tuning = TlsTuning {
                protocols: attr("protocols=").map(str::to_string),
                ciphers: attr("ciphers=").map(str::to_string),
                exclude: attr("exclude=").map(str::to_string),
            };
            return Ok(policy(level, matches, attr("servername="), tuning));
        }
    }
    Ok(policy(s.tls_level, None, None, TlsTuning::default()))
}

/// The addresses to try for a destination, best first, at most
/// `smtp_mx_address_limit`.
fn targets_for(
    s: &Settings,
    resolver: &dns::Resolver,
    dest: &Dest,
) -> Result<Vec<Target>, Verdict> {
    if let Some(path) = &dest.unix {
        return Ok(vec![Target {
            host: s.myhostname.clone(),
            addr: Addr::Unix(path.clone()),
            port: 0,
        }]);
    }
    let hosts = if dest.mx && s.proto == Protocol::Smtp {
        resolver.mx_hosts(&dest.host)
    } else {
        resolver.host(&dest.host).map(|h| vec![h])
    };
    let hosts = hosts.map_err(|e| Verdict::new(e.dsn, "none", e.text))?;
    let hosts = without_myself(s, dest, hosts)?;
    let port = dest.port;
    let prefer = s.address_preference;
    let mut targets: Vec<Target> = hosts
        .into_iter()
        .flat_map(|h| {
            let name = h.name;
            let mut addrs = h.addrs;
            // smtp_address_preference: ipv4 or ipv6 first within a host.
            match prefer {
                Some(4) => addrs.sort_by_key(|a| !a.is_ipv4()),
                Some(6) => addrs.sort_by_key(|a| !a.is_ipv6()),
                _ => {}
            }
            addrs.into_iter().map(move |ip| Target {
                host: name.clone(),
                addr: Addr::Ip(ip),
                port,
            })
        })
        .collect();
    if s.address_limit > 0 {
        targets.truncate(s.address_limit);
    }
    Ok(targets)
}

/// With `smtp_sender_dependent_authentication`, the first keys for
/// `smtp_sasl_password_maps`: the sender's (Postfix's mail_addr_find keys:
/// the address, without its extension, then `@domain`).
fn sender_keys(s: &Settings, sender: &str) -> Vec<String> {
    if !s.sender_dependent_auth || sender.is_empty() {
        return Vec::new();
    }
    maps::access::address_keys(&sender.to_ascii_lowercase(), &s.delimiter)
        .into_iter()
        .map(|k| k.key)
        .collect()
}

/// The addresses of every destination of a next-hop list, in order. A
/// destination that cannot be found is passed over; when none can, the
/// error is temporary if any was (the mail waits), else the first one's.
fn targets_of_list(
    s: &Settings,
    resolver: &dns::Resolver,
    dests: &[Dest],
) -> Result<Vec<Target>, Verdict> {
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for d in dests {
        match targets_for(s, resolver, d) {
            Ok(t) => targets.extend(t),
            Err(v) => errors.push(v),
        }
    }
    if !targets.is_empty() {
        if s.address_limit > 0 {
            targets.truncate(s.address_limit);
        }
        return Ok(targets);
    }
    let temporary = errors.iter().position(|v| v.outcome == Outcome::Deferred);
    Err(errors.swap_remove(temporary.unwrap_or(0)))
}

/// Postfix's loop detection, for SMTP to port 25: when one of the hosts
/// is this host, only the mail exchangers better than it are kept (it is a
/// backup MX, the primaries take the mail); none left, or a host without
/// MX lookup that is this host, means the mail would come back here:
/// "mail for DEST loops back to myself" (5.4.6).
fn without_myself(
    s: &Settings,
    dest: &Dest,
    mut hosts: Vec<dns::Host>,
) -> Result<Vec<dns::Host>, Verdict> {
    if s.proto != Protocol::Smtp || dest.port != 25 {
        return Ok(hosts);
    }
    let is_me = |h: &dns::Host| h.addrs.iter().any(|a| s.own_addresses.contains(a));
    if let Some(me) = hosts.iter().find(|h| is_me(h)).map(|h| h.preference) {
        hosts.retain(|h| h.preference < me && !is_me(h));
    }
    if hosts.is_empty() {
        return Err(Verdict::new(
            "5.4.6",
            "none",
            format!("mail for {} loops back to myself", dest.host),
        ));
    }
    Ok(hosts)
}

/// What became of a request's recipients.
struct Delivered {
    verdicts: Vec<Option<Verdict>>,
    /// When the first session was ready for MAIL.
    setup_done: Option<f64>,
    /// Per recipient, the transactions its session had carried.
    uses: Vec<u32>,
    /// No server of the next hop could be found, reached or talked to, and
    /// every recipient waits: qmgr's feedback for the destination.
    site_failed: bool,
}

/// Tries the servers of the next hop in order.
fn deliver(
    s: &Settings,
    req: &Request,
    held: Result<&queue::Held, &queue::QueueError>,
) -> Delivered {
    let n = req.recipients.len();
    let all = |v: Verdict| Delivered {
        verdicts: vec![Some(v); n],
        setup_done: None,
        uses: vec![0; n],
        site_failed: false,
    };
    let read = held
        .map_err(|e| format!("cannot read queue file: {e}"))
        .and_then(|h| read_message(h, req, s.line_limit, &s.output));
    let msg = match read {
        Ok(m) => m,
        Err(e) => {
            maillog::warning!("{}: {e}", req.queue_id);
            return all(Verdict::new("4.3.0", "none", e));
        }
    };
    let nexthop = if req.nexthop.is_empty() {
        req.recipients
            .first()
            .and_then(|r| r.address.rsplit_once('@'))
            .map(|(_, d)| d.to_string())
            .unwrap_or_default()
    } else {
        req.nexthop.clone()
    };
    let dests = match nexthop::parse_list(&nexthop, s.port) {
        Ok(d) => d,
        Err(e) => return all(Verdict::new("4.3.5", "none", e.to_string())),
    };
    // The first destination sets the TLS policy and names the session
    // cache; the others are tried after it, in order.
    let dest = dests[0].clone();
    let TlsPolicy {
        level: tls_level,
        matches: tls_match,
        servername: tls_servername,
        tuning: tls_tuning,
    } = match tls_policy(s, &nexthop, &dest) {
        Ok(p) => p,
        Err(text) => return all(Verdict::new("4.3.0", "none", text)),
    };
    // A policy with its own protocols, ciphers or exclusions gets a TLS
    // client of its own.
    let tls_own = (!tls_tuning.is_empty()).then(|| {
        let mandatory = !matches!(tls_level, TlsLevel::None | TlsLevel::May);
        let verify = if matches!(tls_level, TlsLevel::Verify | TlsLevel::Secure) {
            tls::Verify::Required
        } else {
            tls::Verify::None
        };
        s.tls_maker.client(verify, mandatory, &tls_tuning)
    });
    let resolver = match &s.resolver {
        Ok(r) => r,
        Err(e) => return all(Verdict::new("4.3.0", "none", e.clone())),
    };
    let fallbacks: Vec<Dest> = if s.proto == Protocol::Smtp {
        s.fallback_relays
            .iter()
            .filter_map(|f| nexthop::parse(f, s.port).ok())
            .collect()
    } else {
        Vec::new()
    };
    // Without fallback relays a destination that cannot be found is final;
    // with them, they get the mail.
    let (mut targets, lookup_failure) = match targets_of_list(s, resolver, &dests) {
        Ok(t) => (t, None),
        Err(v) if fallbacks.is_empty() => {
            // A name that cannot be looked up now is the destination's failure.
            let site_failed = v.outcome == Outcome::Deferred;
            return Delivered {
                site_failed,
                ..all(v)
            };
        }
        Err(v) => (Vec::new(), Some(v)),
    };
    let mut job = Job {
        s,
        req,
        msg: &msg,
        dest: &dest,
        nexthop: nexthop.clone(),
        verdicts: vec![None; n],
        setup_done: None,
        stop: false,
        tls_failed: false,
        // A session logged in with a sender's own credentials serves only
        // that sender.
        cache_key: format!(
            "{nexthop}|{}|{}|{tls_level:?}|{}",
            dest.host,
            dest.port,
            sender_keys(s, &req.sender)
                .first()
                .map_or("", String::as_str)
        )
        .to_ascii_lowercase(),
        cacheable: s.cache_on_demand
            || s.cache_destinations.contains(&nexthop.to_ascii_lowercase()),
        uses: vec![0; n],
        tls_level,
        tls_match,
        tls_servername,
        tls_own,
        plain_only: false,
        abandon: false,
    };
    // An address with a control character would break the command it goes
    // into (a CR LF would start another): refused here, whatever let it
    // into the queue.
    let bad_sender = msg.sender.chars().any(char::is_control);
    for (i, rcpt) in msg.recipients.iter().enumerate() {
        if bad_sender {
            job.verdicts[i] = Some(Verdict::new("5.1.7", "none", "bad sender address syntax"));
        } else if rcpt.chars().any(char::is_control) {
            job.verdicts[i] = Some(Verdict::new(
                "5.1.3",
                "none",
                "bad recipient address syntax",
            ));
        }
    }
    job.reuse();
    let mut sessions = 0;
    let mut sessions_ok = 0;
    let mut i = 0;
    let mut fallback_used = fallbacks.is_empty();
    loop {
        if i == targets.len() && !fallback_used && !job.stop && !job.pending().is_empty() {
            fallback_used = true;
            sessions = 0;
            for f in &fallbacks {
                if let Ok(t) = targets_for(s, resolver, f) {
                    targets.extend(t);
                }
            }
        }
        let Some(target) = targets.get(i) else { break };
        i += 1;
        let pending = job.pending();
        if pending.is_empty() || job.stop {
            break;
        }
        if s.session_limit > 0 && sessions >= s.session_limit {
            break;
        }
        match job.session(target) {
            Ok(()) => {
                sessions += 1;
                sessions_ok += 1;
            }
            Err(v) => {
                if !v.relay.eq("none") {
                    sessions += 1;
                }
                job.set_all(&pending, &v);
                if std::mem::take(&mut job.tls_failed) && !job.plain_only {
                    // Once more, the same server, without STARTTLS.
                    job.plain_only = true;
                    i -= 1;
                    continue;
                }
            }
        }
        job.plain_only = false;
    }
    if let Some(v) = lookup_failure {
        for slot in job.verdicts.iter_mut().filter(|v| v.is_none()) {
            *slot = Some(v.clone());
        }
    }
    let site_failed = sessions_ok == 0
        && job
            .verdicts
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| v.outcome == Outcome::Deferred));
    Delivered {
        verdicts: job.verdicts,
        setup_done: job.setup_done,
        uses: job.uses,
        site_failed,
    }
}

/// `smtp_dns_reply_filter` (`lmtp_…`): the tables that may drop records
/// from DNS answers, or none.
fn dns_reply_filter(cfg: &Config, param: &'static params::Param) -> Option<dns::ReplyFilter> {
    let list = MapList::open_lenient(param.name, cfg.str(param), &maps::Ctx::new());
    (!list.is_empty()).then(|| {
        dns::ReplyFilter::new(param.name, move |record: &str| {
            list.lookup(record).map_err(|e| e.to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_masks() {
        assert_eq!(notify(0), None);
        assert_eq!(notify(1), Some(Notify::NEVER));
        let n = notify(2 | 8).unwrap();
        assert!(n.success && n.delay && !n.failure);
    }

    #[test]
    fn verdicts_follow_the_class() {
        let v = Verdict::new("5.1.1", "x", "t");
        assert_eq!(v.outcome, Outcome::Bounced);
        let s = soften(v);
        assert_eq!((s.outcome, s.dsn.as_str()), (Outcome::Deferred, "4.1.1"));
        assert_eq!(reply_dsn(&Reply::new(451, None, "try later")), "4.0.0");
        assert_eq!(printable("a\u{7}b"), "a?b");
    }
}
