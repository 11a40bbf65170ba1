//! The access policy: Postfix's restriction lists (`smtpd_client_restrictions`
//! … `smtpd_data_restrictions`), parsed once per process into
//! [`Restriction`] values and evaluated in order until one permits,
//! rejects or defers (smtpd_check.c's generic_checks).
//!
//! With `smtpd_delay_reject = yes` (the default) the client, HELO and
//! sender lists run at RCPT time, followed by `smtpd_relay_restrictions`
//! and `smtpd_recipient_restrictions`; a permit ends only the list it is
//! in. With `no`, each of the first three runs at its own stage
//! ([`Policy::check_early`]: connect, HELO/EHLO, MAIL) and RCPT runs the
//! relay and recipient lists only. After all lists, `reject_unlisted_recipient`
//! runs once more when `smtpd_reject_unlisted_recipient = yes`, and a
//! deferral noted by a temporary DNS failure (`defer_if_permit`) turns an
//! acceptance into a 450.
//!
//! Reply texts, codes and enhanced codes are Postfix 3.7's (checked against
//! a running Postfix): `554 5.7.1 <x@y>: Relay access denied`,
//! `550 5.1.1 <x@y>: Recipient address rejected: User unknown in local
//! recipient table`, `504 5.5.2 <h>: Helo command rejected: need
//! fully-qualified hostname`, ….

use crate::dns::Lookup;
use crate::dnsxl::{self, Entry, ExpansionFilter, Subject};
use crate::policy_service::{self, PolicyService};
use maps::domains::{Classes, Resolved};
use maps::hosts::HostList;
use maps::{access, MapError, MapList};
use params::{table as p, Config};
use smtp_proto::Reply;
use std::net::IpAddr;

/// Where a restriction list applies; names the reply class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Client,
    Helo,
    Sender,
    Recipient,
    Data,
    /// The end of the message (smtpd_end_of_data_restrictions).
    EndOfData,
    /// The ETRN command (smtpd_etrn_restrictions).
    Etrn,
}

impl Stage {
    /// Postfix's reply class (`Client host rejected: …`).
    pub fn class(self) -> &'static str {
        match self {
            Stage::Client => "Client host",
            Stage::Helo => "Helo command",
            Stage::Sender => "Sender address",
            Stage::Recipient => "Recipient address",
            Stage::Data => "Data command",
            Stage::EndOfData => "End-of-data",
            Stage::Etrn => "Etrn command",
        }
    }
}

/// The most MX or NS hosts a check looks at: a domain cannot hold a
/// process with endless look-ups.
const MAX_SERVERS: usize = 100;

/// The class in replies about the client's reverse name (Postfix's
/// SMTPD_NAME_REV_CLIENT).
const REVERSE_CLIENT_CLASS: &str = "Unverified Client host";

/// Which servers `check_*_{mx,ns,a}_access` looks up in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The domain's mail exchangers (or the domain itself without MX):
    /// each name (and parent domains), then each address.
    Mx,
    /// The domain's name servers, the same way.
    Ns,
    /// The name's own addresses.
    A,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::Mx => "MX",
            ServerKind::Ns => "NS",
            ServerKind::A => "A",
        }
    }
}

/// What a `check_*_access` table is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKey {
    Client,
    Helo,
    Sender,
    Recipient,
    /// `check_ccert_access`: the client certificate's fingerprint.
    ClientCert,
    /// `check_etrn_access`: the site an ETRN command names.
    Etrn,
    /// `check_sasl_access`: the SASL login name.
    Sasl,
    /// `check_reverse_client_hostname_access`: the reverse name (PTR,
    /// confirmed or not) and the address.
    ReverseClient,
}

/// One restriction, parsed.
pub enum Restriction {
    Permit,
    Reject,
    Defer,
    DeferIfPermit,
    WarnIfReject,
    PermitMynetworks,
    PermitSaslAuthenticated,
    /// `permit_tls_clientcerts`: a client certificate whose fingerprint
    /// is in `relay_clientcerts`.
    PermitTlsClientcerts,
    /// `permit_tls_all_clientcerts`: any client certificate a trusted CA
    /// signed.
    PermitTlsAllClientcerts,
    PermitInetInterfaces,
    PermitAuthDestination,
    /// `permit_mx_backup`: this host is a backup MX of the recipient's
    /// domain (or the domain is ours).
    PermitMxBackup,
    RejectUnauthDestination,
    DeferUnauthDestination,
    RejectUnauthPipelining,
    RejectUnlistedRecipient,
    RejectUnlistedSender,
    RejectNonFqdnSender,
    RejectNonFqdnRecipient,
    RejectNonFqdnHelo,
    RejectInvalidHelo,
    RejectUnknownSenderDomain,
    RejectUnknownRecipientDomain,
    RejectUnknownClient,
    /// `reject_unknown_reverse_client_hostname`: no PTR name at all.
    RejectUnknownReverseClient,
    /// `reject_unknown_helo_hostname`: a HELO name with no address.
    RejectUnknownHelo,
    /// `reject_plaintext_session`: the session is not encrypted.
    RejectPlaintextSession,
    /// `reject_multi_recipient_bounce`: the null sender with more than
    /// one recipient.
    RejectMultiRecipientBounce,
    /// `reject_unverified_sender`, `reject_unverified_recipient`: the
    /// verify service's answer (`Stage::Sender` or `Stage::Recipient`).
    RejectUnverified(Stage),
    /// `reject_authenticated_sender_login_mismatch`.
    RejectAuthSenderLogin,
    /// `reject_known_sender_login_mismatch`.
    RejectKnownSenderLogin,
    /// `reject_unauthenticated_sender_login_mismatch`.
    RejectUnauthSenderLogin,
    Check(AccessKey, MapList),
    /// `check_client_mx_access` and the rest: the servers of a name the
    /// request gives (`AccessKey::Client`, `ReverseClient`, `Helo`,
    /// `Sender` or `Recipient`), looked up in the table.
    CheckServers(AccessKey, ServerKind, MapList),
    /// A DNS list: `reject_rbl_client` and friends (`permit` false), or
    /// `permit_dnswl_client` / `permit_rhswl_client`.
    DnsList {
        subject: Subject,
        entry: Entry,
        permit: bool,
    },
    /// `check_policy_service`.
    PolicyService(Box<PolicyService>),
    /// A name from `smtpd_restriction_classes`.
    Class(String, Vec<Restriction>),
    /// Not known here: answered 451 4.3.5 with a warning, as Postfix does.
    Unknown(String),
}

impl std::fmt::Debug for Restriction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restriction::Check(k, m) => write!(f, "Check({k:?}, {m:?})"),
            Restriction::CheckServers(k, kind, m) => {
                write!(f, "CheckServers({k:?}, {kind:?}, {m:?})")
            }
            Restriction::DnsList {
                subject,
                entry,
                permit,
            } => {
                write!(f, "DnsList({subject:?}, {}, permit={permit})", entry.zone)
            }
            Restriction::Class(n, _) => write!(f, "Class({n})"),
            Restriction::PolicyService(s) => write!(f, "{s:?}"),
            Restriction::Unknown(n) => write!(f, "Unknown({n})"),
            _ => f.write_str(self.name()),
        }
    }
}

impl Restriction {
    fn name(&self) -> &'static str {
        match self {
            Restriction::Permit => "permit",
            Restriction::Reject => "reject",
            Restriction::Defer => "defer",
            Restriction::DeferIfPermit => "defer_if_permit",
            Restriction::WarnIfReject => "warn_if_reject",
            Restriction::PermitMynetworks => "permit_mynetworks",
            Restriction::PermitSaslAuthenticated => "permit_sasl_authenticated",
            Restriction::PermitTlsClientcerts => "permit_tls_clientcerts",
            Restriction::PermitTlsAllClientcerts => "permit_tls_all_clientcerts",
            Restriction::PermitInetInterfaces => "permit_inet_interfaces",
            Restriction::PermitAuthDestination => "permit_auth_destination",
            Restriction::PermitMxBackup => "permit_mx_backup",
            Restriction::RejectUnauthDestination => "reject_unauth_destination",
            Restriction::DeferUnauthDestination => "defer_unauth_destination",
            Restriction::RejectUnauthPipelining => "reject_unauth_pipelining",
            Restriction::RejectUnlistedRecipient => "reject_unlisted_recipient",
            Restriction::RejectUnlistedSender => "reject_unlisted_sender",
            Restriction::RejectNonFqdnSender => "reject_non_fqdn_sender",
            Restriction::RejectNonFqdnRecipient => "reject_non_fqdn_recipient",
            Restriction::RejectNonFqdnHelo => "reject_non_fqdn_helo_hostname",
            Restriction::RejectInvalidHelo => "reject_invalid_helo_hostname",
            Restriction::RejectUnverified(Stage::Sender) => "reject_unverified_sender",
            Restriction::RejectUnverified(_) => "reject_unverified_recipient",
            Restriction::RejectUnknownSenderDomain => "reject_unknown_sender_domain",
            Restriction::RejectUnknownRecipientDomain => "reject_unknown_recipient_domain",
            Restriction::RejectUnknownClient => "reject_unknown_client_hostname",
            Restriction::RejectUnknownReverseClient => "reject_unknown_reverse_client_hostname",
            Restriction::RejectUnknownHelo => "reject_unknown_helo_hostname",
            Restriction::RejectPlaintextSession => "reject_plaintext_session",
            Restriction::RejectMultiRecipientBounce => "reject_multi_recipient_bounce",
            Restriction::RejectAuthSenderLogin => "reject_authenticated_sender_login_mismatch",
            Restriction::RejectKnownSenderLogin => "reject_known_sender_login_mismatch",
            Restriction::RejectUnauthSenderLogin => "reject_unauthenticated_sender_login_mismatch",
            Restriction::Check(..) => "check_access",
            Restriction::CheckServers(..) => "check_server_access",
            Restriction::DnsList { .. } => "dns_list",
            Restriction::PolicyService(_) => "check_policy_service",
            Restriction::Class(..) => "class",
            Restriction::Unknown(_) => "unknown",
        }
    }

    /// Whether this restriction can refuse relaying (Postfix insists on one
    /// in the relay or recipient restrictions).
    fn can_refuse_relay(&self) -> bool {
        match self {
            Restriction::Reject
            | Restriction::Defer
            | Restriction::DeferIfPermit
            | Restriction::RejectUnauthDestination
            | Restriction::DeferUnauthDestination => true,
            Restriction::Class(_, list) => list.iter().any(Restriction::can_refuse_relay),
            _ => false,
        }
    }
}

/// A configuration problem found while parsing, for the log.
pub type Warning = String;

/// Parses one list; `config` resolves restriction class names. Tables are
/// opened leniently (a broken table fails its look-ups, so mail defers).
pub fn parse_list(
    items: &[String],
    config: &Config,
    warnings: &mut Vec<Warning>,
) -> Vec<Restriction> {
    let classes = config.list(&p::SMTPD_RESTRICTION_CLASSES);
    parse_items(items, config, &classes, 0, warnings)
}

/// The restrictions that take the next item as their argument.
#[derive(Clone, Copy)]
enum Argued {
    /// `check_*_access type:table`.
    Access(AccessKey),
    /// `check_*_{mx,ns,a}_access type:table`.
    Servers(AccessKey, ServerKind),
    /// A DNS list: `reject_rbl_client zone[=filter]` and friends.
    DnsList(Subject, bool),
    /// `check_policy_service service`.
    Policy,
}

impl Argued {
    fn of(name: &str) -> Option<Argued> {
        Some(match name {
            "check_client_access" => Argued::Access(AccessKey::Client),
            "check_helo_access" => Argued::Access(AccessKey::Helo),
            "check_sender_access" => Argued::Access(AccessKey::Sender),
            "check_recipient_access" => Argued::Access(AccessKey::Recipient),
            "check_ccert_access" => Argued::Access(AccessKey::ClientCert),
            "check_etrn_access" => Argued::Access(AccessKey::Etrn),
            "check_sasl_access" => Argued::Access(AccessKey::Sasl),
            "check_reverse_client_hostname_access" => Argued::Access(AccessKey::ReverseClient),
            "reject_rbl_client" => Argued::DnsList(Subject::ClientAddress, false),
            "reject_rhsbl_client" => Argued::DnsList(Subject::ClientName, false),
            "reject_rhsbl_reverse_client" => Argued::DnsList(Subject::ReverseClientName, false),
            "reject_rhsbl_sender" => Argued::DnsList(Subject::Sender, false),
            "reject_rhsbl_helo" => Argued::DnsList(Subject::Helo, false),
            "reject_rhsbl_recipient" => Argued::DnsList(Subject::Recipient, false),
            "permit_dnswl_client" => Argued::DnsList(Subject::ClientAddress, true),
            "permit_rhswl_client" => Argued::DnsList(Subject::ClientName, true),
            "check_policy_service" => Argued::Policy,
            _ => {
                let (subject, kind) = name
                    .strip_prefix("check_")?
                    .strip_suffix("_access")?
                    .rsplit_once('_')?;
                let kind = match kind {
                    "mx" => ServerKind::Mx,
                    "ns" => ServerKind::Ns,
                    "a" => ServerKind::A,
                    _ => return None,
                };
                let key = match subject {
                    "client" => AccessKey::Client,
                    "reverse_client_hostname" => AccessKey::ReverseClient,
                    "helo" => AccessKey::Helo,
                    "sender" => AccessKey::Sender,
                    "recipient" => AccessKey::Recipient,
                    _ => return None,
                };
                Argued::Servers(key, kind)
            }
        })
    }

    /// What the argument is, for the warning when it is missing.
    fn what(self) -> &'static str {
        match self {
            Argued::Access(_) | Argued::Servers(..) => "a type:table",
            Argued::DnsList(..) => "a domain name",
            Argued::Policy => "a policy service",
        }
    }

    fn build(self, item: &str, arg: &str, config: &Config) -> Result<Restriction, String> {
        match self {
            Argued::Access(key) => Ok(Restriction::Check(
                key,
                MapList::open_lenient(item, arg, &maps::Ctx::new()),
            )),
            Argued::Servers(key, kind) => Ok(Restriction::CheckServers(
                key,
                kind,
                MapList::open_lenient(item, arg, &maps::Ctx::new()),
            )),
            Argued::DnsList(subject, permit) => Entry::parse(arg)
                .map(|entry| Restriction::DnsList {
                    subject,
                    entry,
                    permit,
                })
                .ok_or_else(|| format!("bad DNS list argument \"{arg}\"")),
            Argued::Policy => {
                let defaults = policy_service::Settings::from_config(config);
                // `unix:private/…` stays relative to the queue directory,
                // smtpd's working directory (and its root when chrooted).
                PolicyService::parse(arg, &defaults, std::path::Path::new(""))
                    .map(|svc| Restriction::PolicyService(Box::new(svc)))
            }
        }
    }
}

fn parse_items(
    items: &[String],
    config: &Config,
    classes: &[String],
    depth: usize,
    warnings: &mut Vec<Warning>,
) -> Vec<Restriction> {
    let mut out = Vec::new();
    let mut it = items.iter();
    while let Some(item) = it.next() {
        let lower = item.to_ascii_lowercase();
        if let Some(kind) = Argued::of(&lower) {
            let r = match it.next().map(|arg| kind.build(item, arg, config)) {
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    warnings.push(format!("restriction {item}: {e}"));
                    Restriction::Unknown(item.clone())
                }
                None => {
                    warnings.push(format!(
                        "restriction {item} requires {} argument",
                        kind.what()
                    ));
                    Restriction::Unknown(item.clone())
                }
            };
            out.push(r);
            continue;
        }
        let r = match lower.as_str() {
            "permit" | "ok" => Restriction::Permit,
            "reject" => Restriction::Reject,
            "defer" => Restriction::Defer,
            "defer_if_permit" => Restriction::DeferIfPermit,
            "warn_if_reject" => Restriction::WarnIfReject,
            "permit_mynetworks" => Restriction::PermitMynetworks,
            "permit_sasl_authenticated" => Restriction::PermitSaslAuthenticated,
            "permit_tls_clientcerts" => Restriction::PermitTlsClientcerts,
            "permit_tls_all_clientcerts" => Restriction::PermitTlsAllClientcerts,
            "permit_inet_interfaces" => Restriction::PermitInetInterfaces,
            "permit_auth_destination" => Restriction::PermitAuthDestination,
            "permit_mx_backup" => Restriction::PermitMxBackup,
            "reject_unauth_destination" => Restriction::RejectUnauthDestination,
            "defer_unauth_destination" => Restriction::DeferUnauthDestination,
            "reject_unauth_pipelining" => Restriction::RejectUnauthPipelining,
            "reject_unlisted_recipient" | "check_recipient_maps" => {
                Restriction::RejectUnlistedRecipient
            }
            "reject_unlisted_sender" => Restriction::RejectUnlistedSender,
            "reject_non_fqdn_sender" => Restriction::RejectNonFqdnSender,
            "reject_non_fqdn_recipient" => Restriction::RejectNonFqdnRecipient,
            "reject_non_fqdn_helo_hostname" | "reject_non_fqdn_hostname" => {
                Restriction::RejectNonFqdnHelo
            }
            "reject_invalid_helo_hostname" | "reject_invalid_hostname" => {
                Restriction::RejectInvalidHelo
            }
            "reject_unknown_sender_domain" => Restriction::RejectUnknownSenderDomain,
            "reject_unknown_recipient_domain" => Restriction::RejectUnknownRecipientDomain,
            "reject_unverified_sender" => Restriction::RejectUnverified(Stage::Sender),
            "reject_unverified_recipient" => Restriction::RejectUnverified(Stage::Recipient),
            "reject_unknown_client_hostname" | "reject_unknown_client" => {
                Restriction::RejectUnknownClient
            }
            "reject_unknown_reverse_client_hostname" => Restriction::RejectUnknownReverseClient,
            "reject_unknown_helo_hostname" | "reject_unknown_hostname" => {
                Restriction::RejectUnknownHelo
            }
            "reject_plaintext_session" => Restriction::RejectPlaintextSession,
            "reject_multi_recipient_bounce" => Restriction::RejectMultiRecipientBounce,
            "reject_authenticated_sender_login_mismatch" => Restriction::RejectAuthSenderLogin,
            "reject_known_sender_login_mismatch" => Restriction::RejectKnownSenderLogin,
            "reject_unauthenticated_sender_login_mismatch" => Restriction::RejectUnauthSenderLogin,
            // Postfix defines it as a built-in restriction class
            // (smtpd_check.c, smtpd_check_init).
            "reject_sender_login_mismatch" => Restriction::Class(
                item.clone(),
                vec![
                    Restriction::RejectAuthSenderLogin,
                    Restriction::RejectUnauthSenderLogin,
                ],
            ),
            _ if classes.iter().any(|c| c == item) && depth < 10 => {
                let value = config.value(item).unwrap_or("").to_string();
                let sub = params::value::split_list(&value);
                Restriction::Class(
                    item.clone(),
                    parse_items(&sub, config, classes, depth + 1, warnings),
                )
            }
            _ => {
                warnings.push(format!("unknown smtpd restriction: \"{item}\""));
                Restriction::Unknown(item.clone())
            }
        };
        out.push(r);
    }
    out
}

pub use maps::domains::AddrClass;

/// Everything the evaluator needs from main.cf, built once.
pub struct Policy {
    pub client: Vec<Restriction>,
    pub helo: Vec<Restriction>,
    pub sender: Vec<Restriction>,
    pub relay: Vec<Restriction>,
    pub recipient: Vec<Restriction>,
    pub data: Vec<Restriction>,
    /// smtpd_end_of_data_restrictions.
    pub end_of_data: Vec<Restriction>,
    /// smtpd_etrn_restrictions.
    pub etrn: Vec<Restriction>,
    pub mynetworks: HostList,
    /// `smtpd_sasl_exceptions_networks` (None when empty): clients that
    /// are not offered AUTH in the EHLO reply.
    pub sasl_exceptions: Option<HostList>,
    /// `smtpd_authorized_xforward_hosts` (None when empty): clients that
    /// may send XFORWARD.
    pub xforward_hosts: Option<HostList>,
    /// `smtpd_authorized_xclient_hosts` (None when empty): clients that
    /// may send XCLIENT.
    pub xclient_hosts: Option<HostList>,
    /// `smtpd_authorized_verp_clients` (None when empty): clients that
    /// may ask for VERP with XVERP.
    pub verp_clients: Option<HostList>,
    /// `debug_peer_list` (None when empty): clients whose conversation is
    /// logged line by line.
    pub debug_peers: Option<HostList>,
    /// `allow_untrusted_routing`: sender-specified routing may go to the
    /// relay domains.
    pub allow_untrusted_routing: bool,
    /// `fast_flush_domains`: the sites ETRN may ask mail to be sent to.
    pub fast_flush_domains: maps::domains::DomainList,
    /// The address classes of recipient domains, and this host's
    /// addresses (inet_interfaces, proxy_interfaces).
    classes: Classes,
    local_recipient_maps: Option<MapList>,
    virtual_alias_maps: MapList,
    virtual_mailbox_maps: MapList,
    relay_recipient_maps: Option<MapList>,
    /// `relay_clientcerts`: the client certificate fingerprints
    /// permit_tls_clientcerts lets relay.
    relay_clientcerts: MapList,
    /// `relocated_maps` (None when empty).
    relocated_maps: Option<MapList>,
    canonical_maps: MapList,
    /// `smtpd_sender_login_maps` (None when empty).
    sender_login_maps: Option<MapList>,
    /// `smtpd_sasl_auth_enable`: without it the sender login checks are
    /// ignored with a warning, as in Postfix.
    sasl_enabled: bool,
    myorigin: String,
    recipient_delimiter: String,
    parent_style: bool,
    null_access_key: String,
    double_bounce: String,
    reject_unlisted_recipient: bool,
    /// smtpd_reject_unlisted_sender.
    reject_unlisted_sender: bool,
    /// `receive_override_options = no_unknown_recipient_checks`: neither
    /// reject_unlisted_recipient nor reject_unlisted_sender refuses anyone
    /// (after a content filter, whose mail was checked on the way in).
    no_unknown_recipient_checks: bool,
    /// `smtpd_delay_reject`.
    pub delay_reject: bool,
    show_table_name: bool,
    soft_bounce: bool,
    /// `permit_mx_backup_networks` (None when empty).
    mx_backup_networks: Option<HostList>,
    /// `smtpd_proxy_filter` is set: cleanup is not used, so actions it
    /// would carry out are unavailable.
    proxy_filter: bool,
    /// `smtpd_log_access_permit_actions`: the built-in permit actions
    /// logged when they decide (`static:all`: every one).
    log_permit: Vec<String>,
    codes: Codes,
    /// Some restriction asks a policy service (which is told
    /// [`PolicyFacts`]; without one they need not be gathered).
    pub asks_policy_services: bool,
    /// `smtpd_restriction_classes`, parsed, for access table results.
    classes_parsed: Vec<(String, Vec<Restriction>)>,
    /// `rbl_reply_maps`, `default_rbl_reply`, `smtpd_expansion_filter`.
    rbl_reply_maps: MapList,
    default_rbl_reply: String,
    expansion_filter: ExpansionFilter,
    /// reject_unverified_sender and reject_unverified_recipient.
    verify: Verification,
}

/// How reject_unverified_* ask and answer.
struct Verification {
    client: ipc::verify::Client,
    poll_count: u32,
    poll_delay: std::time::Duration,
    sender: Unverified,
    recipient: Unverified,
}

/// `unverified_{sender,recipient}_*`.
struct Unverified {
    reject_code: u16,
    defer_code: u16,
    reason: String,
    /// The tempfail action is `defer` (else defer_if_permit).
    tempfail_defer: bool,
}

impl Verification {
    fn from_config(config: &Config) -> Verification {
        let side = |reject, defer, reason, action| Unverified {
            reject_code: code(config, reject),
            defer_code: code(config, defer),
            reason: config.str(reason).trim().to_string(),
            tempfail_defer: config.str(action).trim().eq_ignore_ascii_case("defer"),
        };
        Verification {
            // Relative to the queue directory, smtpd's working directory
            // (and its root when chrooted).
            client: ipc::verify::Client::new(
                ipc::verify::socket_path(
                    std::path::Path::new(""),
                    config.str(&p::ADDRESS_VERIFY_SERVICE_NAME),
                ),
                std::time::Duration::from_secs(30),
            ),
            poll_count: u32::try_from(config.int(&p::ADDRESS_VERIFY_POLL_COUNT).max(1))
                .unwrap_or(1),
            poll_delay: config.time(&p::ADDRESS_VERIFY_POLL_DELAY),
            sender: side(
                &p::UNVERIFIED_SENDER_REJECT_CODE,
                &p::UNVERIFIED_SENDER_DEFER_CODE,
                &p::UNVERIFIED_SENDER_REJECT_REASON,
                &p::UNVERIFIED_SENDER_TEMPFAIL_ACTION,
            ),
            recipient: side(
                &p::UNVERIFIED_RECIPIENT_REJECT_CODE,
                &p::UNVERIFIED_RECIPIENT_DEFER_CODE,
                &p::UNVERIFIED_RECIPIENT_REJECT_REASON,
                &p::UNVERIFIED_RECIPIENT_TEMPFAIL_ACTION,
            ),
        }
    }
}

struct Codes {
    reject: u16,
    defer: u16,
    relay: u16,
    access_reject: u16,
    access_defer: u16,
    non_fqdn: u16,
    invalid_hostname: u16,
    unknown_address: u16,
    unknown_client: u16,
    unknown_hostname: u16,
    /// `unknown_address_tempfail_action`, `unknown_helo_hostname_tempfail_action`
    /// = defer: a DNS that cannot answer for now refuses at once (450),
    /// rather than only if all else permits (defer_if_permit).
    unknown_address_defer: bool,
    unknown_helo_defer: bool,
    plaintext: u16,
    multi_recipient_bounce: u16,
    local_rcpt: u16,
    virtual_alias: u16,
    virtual_mailbox: u16,
    relay_rcpt: u16,
    rbl: u16,
}

fn code(config: &Config, p: &params::Param) -> u16 {
    u16::try_from(config.int(p)).unwrap_or(0)
}

impl Policy {
    /// Reads every restriction list and table from the configuration.
    /// Returns the warnings to log; an `Err` is a configuration Postfix
    /// refuses to run with.
    pub fn from_config(config: &Config) -> Result<(Policy, Vec<Warning>), String> {
        let mut w = Vec::new();
        let list = |param: &params::Param, w: &mut Vec<Warning>| {
            parse_list(&config.list(param), config, w)
        };
        let client = list(&p::SMTPD_CLIENT_RESTRICTIONS, &mut w);
        let helo = list(&p::SMTPD_HELO_RESTRICTIONS, &mut w);
        let sender = list(&p::SMTPD_SENDER_RESTRICTIONS, &mut w);
        let relay = list(&p::SMTPD_RELAY_RESTRICTIONS, &mut w);
        let recipient = list(&p::SMTPD_RECIPIENT_RESTRICTIONS, &mut w);
        let data = list(&p::SMTPD_DATA_RESTRICTIONS, &mut w);
        let end_of_data = list(&p::SMTPD_END_OF_DATA_RESTRICTIONS, &mut w);
        let etrn = list(&p::SMTPD_ETRN_RESTRICTIONS, &mut w);
        if !relay
            .iter()
            .chain(&recipient)
            .any(Restriction::can_refuse_relay)
        {
            return Err("in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains".into());
        }
        let parents = config.str(&p::PARENT_DOMAIN_MATCHES_SUBDOMAINS).to_string();
        let (mynetworks, bad) = HostList::parse(&config.list(&p::MYNETWORKS), "mynetworks");
        w.extend(bad.into_iter().map(|b| b.0));
        let mut host_list = |param: &params::Param| {
            let entries = config.list(param);
            if entries.is_empty() {
                return None;
            }
            let (l, bad) = HostList::parse(&entries, param.name);
            w.extend(bad.into_iter().map(|b| b.0));
            Some(l)
        };
        let sasl_exceptions = host_list(&p::SMTPD_SASL_EXCEPTIONS_NETWORKS);
        let xforward_hosts = host_list(&p::SMTPD_AUTHORIZED_XFORWARD_HOSTS);
        let xclient_hosts = host_list(&p::SMTPD_AUTHORIZED_XCLIENT_HOSTS);
        let verp_clients = host_list(&p::SMTPD_AUTHORIZED_VERP_CLIENTS);
        let debug_peers = host_list(&p::DEBUG_PEER_LIST);
        let mx_backup_networks = host_list(&p::PERMIT_MX_BACKUP_NETWORKS);
        let (fast_flush_domains, bad) = maps::domains::DomainList::parse(
            &config.list(&p::FAST_FLUSH_DOMAINS),
            p::FAST_FLUSH_DOMAINS.name,
            config
                .list(&p::PARENT_DOMAIN_MATCHES_SUBDOMAINS)
                .iter()
                .any(|n| n == p::FAST_FLUSH_DOMAINS.name),
        );
        w.extend(bad);
        let (classes, warnings) = Classes::from_config(config);
        w.extend(warnings);
        let ctx = maps::Ctx::new();
        let maps_of =
            |param: &params::Param| MapList::open_lenient(param.name, config.get(param), &ctx);
        let optional = |param: &params::Param| {
            let m = maps_of(param);
            (!m.is_empty()).then_some(m)
        };
        let mut canonical = Vec::new();
        for param in [&p::CANONICAL_MAPS, &p::RECIPIENT_CANONICAL_MAPS] {
            canonical.extend(maps::split_list(config.get(param)));
        }
        let canonical_maps = MapList::open_lenient("canonical_maps", &canonical.join(" "), &ctx);
        let codes = Codes {
            reject: code(config, &p::REJECT_CODE),
            defer: code(config, &p::DEFER_CODE),
            relay: code(config, &p::RELAY_DOMAINS_REJECT_CODE),
            access_reject: code(config, &p::ACCESS_MAP_REJECT_CODE),
            access_defer: code(config, &p::ACCESS_MAP_DEFER_CODE),
            non_fqdn: code(config, &p::NON_FQDN_REJECT_CODE),
            invalid_hostname: code(config, &p::INVALID_HOSTNAME_REJECT_CODE),
            unknown_address: code(config, &p::UNKNOWN_ADDRESS_REJECT_CODE),
            unknown_client: code(config, &p::UNKNOWN_CLIENT_REJECT_CODE),
            unknown_hostname: code(config, &p::UNKNOWN_HOSTNAME_REJECT_CODE),
            unknown_address_defer: config
                .str(&p::UNKNOWN_ADDRESS_TEMPFAIL_ACTION)
                .trim()
                .eq_ignore_ascii_case("defer"),
            unknown_helo_defer: config
                .str(&p::UNKNOWN_HELO_HOSTNAME_TEMPFAIL_ACTION)
                .trim()
                .eq_ignore_ascii_case("defer"),
            plaintext: code(config, &p::PLAINTEXT_REJECT_CODE),
            multi_recipient_bounce: code(config, &p::MULTI_RECIPIENT_BOUNCE_REJECT_CODE),
            local_rcpt: code(config, &p::UNKNOWN_LOCAL_RECIPIENT_REJECT_CODE),
            virtual_alias: code(config, &p::UNKNOWN_VIRTUAL_ALIAS_REJECT_CODE),
            virtual_mailbox: code(config, &p::UNKNOWN_VIRTUAL_MAILBOX_REJECT_CODE),
            relay_rcpt: code(config, &p::UNKNOWN_RELAY_RECIPIENT_REJECT_CODE),
            rbl: code(config, &p::MAPS_RBL_REJECT_CODE),
        };
        let mut policy = Policy {
            client,
            helo,
            sender,
            relay,
            recipient,
            data,
            end_of_data,
            etrn,
            mynetworks,
            sasl_exceptions,
            xforward_hosts,
            xclient_hosts,
            verp_clients,
            debug_peers,
            allow_untrusted_routing: config.bool(&p::ALLOW_UNTRUSTED_ROUTING),
            fast_flush_domains,
            classes,
            local_recipient_maps: optional(&p::LOCAL_RECIPIENT_MAPS),
            virtual_alias_maps: maps_of(&p::VIRTUAL_ALIAS_MAPS),
            virtual_mailbox_maps: maps_of(&p::VIRTUAL_MAILBOX_MAPS),
            relay_recipient_maps: optional(&p::RELAY_RECIPIENT_MAPS),
            relay_clientcerts: maps_of(&p::RELAY_CLIENTCERTS),
            relocated_maps: optional(&p::RELOCATED_MAPS),
            canonical_maps,
            sender_login_maps: optional(&p::SMTPD_SENDER_LOGIN_MAPS),
            sasl_enabled: config.bool(&p::SMTPD_SASL_AUTH_ENABLE),
            myorigin: config
                .myorigin()
                .unwrap_or_else(|e| maillog::fatal!("{e}"))
                .to_ascii_lowercase(),
            recipient_delimiter: config.str(&p::RECIPIENT_DELIMITER).to_string(),
            parent_style: access::parent_matches(&parents, access::SMTPD_ACCESS_MAPS),
            null_access_key: config.str(&p::SMTPD_NULL_ACCESS_LOOKUP_KEY).to_string(),
            double_bounce: config.str(&p::DOUBLE_BOUNCE_SENDER).to_string(),
            reject_unlisted_recipient: config.bool(&p::SMTPD_REJECT_UNLISTED_RECIPIENT),
            reject_unlisted_sender: config.bool(&p::SMTPD_REJECT_UNLISTED_SENDER),
            no_unknown_recipient_checks: ipc::cleanup::ReceiveOverrides::parse(
                &config.list(&p::RECEIVE_OVERRIDE_OPTIONS),
            )?
            .no_unknown_recipient_checks,
            delay_reject: config.bool(&p::SMTPD_DELAY_REJECT),
            show_table_name: config.bool(&p::SHOW_USER_UNKNOWN_TABLE_NAME),
            soft_bounce: config.bool(&p::SOFT_BOUNCE),
            proxy_filter: !config.str(&p::SMTPD_PROXY_FILTER).trim().is_empty(),
            mx_backup_networks,
            log_permit: config.list(&p::SMTPD_LOG_ACCESS_PERMIT_ACTIONS),
            codes,
            classes_parsed: config
                .list(&p::SMTPD_RESTRICTION_CLASSES)
                .into_iter()
                .map(|name| {
                    let value = config.value(&name).unwrap_or("").to_string();
                    let list = parse_list(&params::value::split_list(&value), config, &mut w);
                    (name, list)
                })
                .collect(),
            asks_policy_services: false,
            rbl_reply_maps: maps_of(&p::RBL_REPLY_MAPS),
            default_rbl_reply: config.str(&p::DEFAULT_RBL_REPLY).to_string(),
            expansion_filter: ExpansionFilter::parse(config.str(&p::SMTPD_EXPANSION_FILTER)),
            verify: Verification::from_config(config),
        };
        policy.asks_policy_services = policy.uses(&|r| matches!(r, Restriction::PolicyService(_)));
        Ok((policy, w))
    }

    /// A restriction class by name.
    fn class(&self, name: &str) -> Option<&[Restriction]> {
        self.classes_parsed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_slice())
    }

    /// Whether any restriction list asks a DNS list.
    pub fn uses_dns_lists(&self) -> bool {
        self.uses(&|r| matches!(r, Restriction::DnsList { .. }))
    }

    /// Whether a restriction of some kind is in any list or class.
    fn uses(&self, kind: &dyn Fn(&Restriction) -> bool) -> bool {
        fn any(list: &[Restriction], kind: &dyn Fn(&Restriction) -> bool) -> bool {
            list.iter().any(|r| match r {
                Restriction::Class(_, l) => any(l, kind),
                r => kind(r),
            })
        }
        [
            &self.client,
            &self.helo,
            &self.sender,
            &self.relay,
            &self.recipient,
            &self.data,
            &self.end_of_data,
        ]
        .iter()
        .any(|l| any(l, kind))
            || self.classes_parsed.iter().any(|(_, l)| any(l, kind))
    }

    /// Where an address goes, as Postfix's smtpd asks trivial-rewrite:
    /// in canonical form, this host's domains stripped and routing
    /// operators followed (`user%site@ours` is `user@site`'s business).
    pub fn resolve(&self, m: &addr::Mailbox) -> Result<Resolved, MapError> {
        self.classes.resolve(&m.local, m.domain.as_deref())
    }
}

/// What the evaluator knows about the request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The client's verified name, or `unknown`.
    pub client_name: String,
    /// The name is `unknown` because a look-up failed for a reason that
    /// may go away (or XCLIENT said `[TEMPUNAVAIL]`).
    pub client_name_temporary: bool,
    /// The client's reverse name (PTR), confirmed or not, or `unknown`;
    /// and whether its look-up may work later.
    pub reverse_client_name: String,
    pub reverse_name_temporary: bool,
    /// The session is encrypted (STARTTLS, or smtpd_tls_wrappermode).
    pub tls: bool,
    /// A HOLD action already holds this transaction's message (logged
    /// once, as in Postfix).
    pub held: bool,
    /// The transaction's recipients so far (accepted ones).
    pub recipient_count: usize,
    pub client_addr: Option<IpAddr>,
    /// The address as text (for logs and replies).
    pub client_addr_text: String,
    pub helo: Option<String>,
    /// None outside a transaction; `Some(None)` is the null sender.
    pub sender: Option<Option<addr::Mailbox>>,
    pub recipient: Option<addr::Mailbox>,
    /// The site an ETRN command names, while it is checked.
    pub etrn_site: Option<String>,
    pub sasl_authenticated: bool,
    /// The SASL login name after a successful AUTH.
    pub sasl_username: Option<String>,
    /// The certificate the client showed in its TLS handshake.
    pub client_cert: Option<tls::ClientCert>,
    /// The client sent commands ahead of time without PIPELINING.
    pub illegal_pipelining: bool,
    /// What policy services are told besides: see [`PolicyFacts`].
    pub facts: PolicyFacts,
}

/// The rest of what a policy service is told (SMTPD_POLICY_README).
#[derive(Debug, Clone, Default)]
pub struct PolicyFacts {
    /// `SMTP` or `ESMTP`.
    pub protocol: &'static str,
    /// The SMTP command being checked (`RCPT`, `DATA`, …).
    pub state: &'static str,
    pub queue_id: Option<String>,
    pub recipient_count: usize,
    /// MAIL FROM's SIZE=.
    pub size: Option<u64>,
    /// The same for every request about one transaction.
    pub instance: String,
    pub sasl_method: Option<String>,
    pub reverse_client_name: Option<String>,
    pub server: Option<(IpAddr, u16)>,
    pub client_port: Option<u16>,
    /// TLS protocol, cipher and key bits.
    pub encryption: Option<(String, String, String)>,
}

impl Request {
    /// `name[addr]`, as in the reply to a client restriction.
    pub fn namaddr(&self) -> String {
        format!("{}[{}]", self.client_name, self.client_addr_text)
    }
}

/// A DNS list's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Listed, with these A records.
    Listed(Vec<std::net::Ipv4Addr>),
    NotListed,
    /// The list could not be asked now; the text says why.
    TempFail(String),
}

/// What the world answers (DNS), so that tests can fake it.
pub trait Resolver {
    fn host_exists(&self, domain: &str) -> Lookup;
    /// A DNS list's entry `name`.
    fn list_entry(&self, name: &str) -> Listing;
    /// The listing's reason (its TXT record).
    fn list_reason(&self, name: &str) -> Option<String>;
    /// `domain`'s MX records only, by preference: each its preference and
    /// host name (empty: a null MX); None without any. The text says why
    /// the DNS could not answer.
    fn mail_exchangers(&self, domain: &str) -> Result<Option<Vec<(u16, String)>>, String>;
    /// The names of `domain`'s name servers (or its closest parent's).
    fn name_servers(&self, domain: &str) -> Result<Vec<String>, String>;
    /// A host's addresses.
    fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Lookup>;
}

/// The system resolver for names, and hickory (through the `dns` crate,
/// `dns_resolver_address` or /etc/resolv.conf) for DNS lists, set up at
/// the first list query and kept for the process's life (hickory caches
/// answers by their TTL).
pub struct SystemResolver {
    server: Option<std::net::SocketAddr>,
    /// `smtpd_dns_reply_filter`.
    reply_filter: Option<dns::ReplyFilter>,
    lists: std::cell::OnceCell<Result<dns::Resolver, String>>,
}

impl SystemResolver {
    pub fn new(config: &Config) -> SystemResolver {
        SystemResolver {
            server: dns::parse_server(config.str(&p::DNS_RESOLVER_ADDRESS)),
            reply_filter: {
                let param = &p::SMTPD_DNS_REPLY_FILTER;
                let list = MapList::open_lenient(param.name, config.str(param), &maps::Ctx::new());
                (!list.is_empty()).then(|| {
                    dns::ReplyFilter::new(param.name, move |record: &str| {
                        list.lookup(record).map_err(|e| e.to_string())
                    })
                })
            },
            lists: std::cell::OnceCell::new(),
        }
    }

    /// Sets up the DNS list resolver now (it reads /etc/resolv.conf).
    pub fn prepare(&self) {
        if let Err(e) = self.lists() {
            maillog::warning!("DNS lists: {e}");
        }
    }

    fn lists(&self) -> Result<&dns::Resolver, &str> {
        self.lists
            .get_or_init(|| {
                dns::Resolver::new(dns::Options {
                    server: self.server,
                    reply_filter: self.reply_filter.clone(),
                    ..dns::Options::default()
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl Resolver for SystemResolver {
    /// An address (through the system resolver, so /etc/hosts counts)
    /// or, failing that, an MX record: Postfix's A, AAAA or MX.
    fn host_exists(&self, domain: &str) -> Lookup {
        match crate::dns::host_exists(domain) {
            Lookup::Found => Lookup::Found,
            by_address => match self.mail_exchangers(domain) {
                Ok(Some(_)) => Lookup::Found,
                Ok(None) => by_address,
                Err(_) => Lookup::TempFail,
            },
        }
    }

    fn list_entry(&self, name: &str) -> Listing {
        match self.lists().map(|r| r.list_entry(name)) {
            Ok(Ok(Some(v))) => Listing::Listed(v),
            Ok(Ok(None)) => Listing::NotListed,
            Ok(Err(e)) => Listing::TempFail(e.text),
            Err(e) => Listing::TempFail(e.to_string()),
        }
    }

    fn list_reason(&self, name: &str) -> Option<String> {
        self.lists().ok()?.txt(name)
    }

    fn mail_exchangers(&self, domain: &str) -> Result<Option<Vec<(u16, String)>>, String> {
        let r = self.lists().map_err(str::to_string)?;
        match r.mx_records(domain) {
            // Postfix warns and lets the check pass: no MX host to look at.
            Err(e) if e.severity == dns::Severity::Policy => {
                maillog::warning!("{domain}: MX lookup error: {}", e.text);
                Ok(Some(Vec::new()))
            }
            r => r.map_err(|e| e.text),
        }
    }

    fn name_servers(&self, domain: &str) -> Result<Vec<String>, String> {
        let r = self.lists().map_err(str::to_string)?;
        r.ns_names(domain).map_err(|e| e.text)
    }

    fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Lookup> {
        let r = self.lists().map_err(|_| Lookup::TempFail)?;
        r.host_addresses(host).or_else(|e| {
            if e.severity == dns::Severity::Policy {
                maillog::warning!("{host}: address lookup error: {}", e.text);
                return Ok(Vec::new());
            }
            Err(if e.is_permanent() {
                Lookup::NotFound
            } else {
                Lookup::TempFail
            })
        })
    }
}

/// A failed address look-up in the resolver's words.
fn lookup_text(e: Lookup) -> &'static str {
    match e {
        Lookup::TempFail => "Host not found, try again",
        _ => "Host not found",
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused; the reply to give (and log).
    Reject(Reply),
}

/// One restriction's answer inside a list.
enum Step {
    Ok,
    Dunno,
    Reject(Reply),
}

/// Evaluation state for one request (Postfix's SMTPD_STATE flags).
struct Eval<'a> {
    policy: &'a Policy,
    req: &'a Request,
    dns: &'a dyn Resolver,
    stage: Stage,
    warn_if_reject: bool,
    defer_if_permit: Option<Reply>,
    /// A DEFER_IF_REJECT action's reply: a later 5XX refusal becomes it.
    defer_if_reject: Option<Reply>,
    /// Warnings and info lines for the log.
    log: Vec<String>,
    /// What access table actions asked of the message.
    actions: Actions,
    recursion: usize,
}

/// The log lines an evaluation leaves as `WHATSUP: text`, which smtpd logs
/// as Postfix's `ID: WHATSUP: COMMAND from client: text; from=<…> …`.
pub const WHATSUP: [&str; 8] = [
    "reject_warning",
    "warn",
    "permit",
    "hold",
    "discard",
    "filter",
    "redirect",
    "bcc",
];

/// What access table actions ask of the message besides a verdict, as
/// Postfix's smtpd keeps it for cleanup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// PREPEND: headers written before the message.
    pub prepend: Vec<String>,
    /// HOLD: the message goes to the hold queue.
    pub hold: bool,
    /// DISCARD: the message is accepted and thrown away.
    pub discard: bool,
    /// FILTER transport:destination: this message's content filter (the
    /// last one named wins).
    pub filter: Option<String>,
    /// REDIRECT user@domain: every recipient replaced by this one (the
    /// last one named wins).
    pub redirect: Option<String>,
    /// BCC user@domain: blind copies.
    pub bcc: Vec<String>,
}

impl Actions {
    /// Adds what a later check asked.
    pub fn merge(&mut self, later: Actions) {
        self.prepend.extend(later.prepend);
        self.hold |= later.hold;
        self.discard |= later.discard;
        if later.filter.is_some() {
            self.filter = later.filter;
        }
        if later.redirect.is_some() {
            self.redirect = later.redirect;
        }
        self.bcc.extend(later.bcc);
    }
}

fn split_dsn<'t>(text: &'t str, default: &str) -> (String, &'t str) {
    let mut words = text.splitn(2, ' ');
    let first = words.next().unwrap_or("");
    let parts: Vec<&str> = first.split('.').collect();
    let is_dsn = parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    if is_dsn {
        (first.to_string(), words.next().unwrap_or("").trim_start())
    } else {
        (default.to_string(), text)
    }
}

impl Eval<'_> {
    /// Several lists in turn (each with its own warn_if_reject); the first
    /// rejection.
    fn lists(&mut self, lists: &[(&[Restriction], Stage)]) -> Option<Reply> {
        for (list, stage) in lists {
            self.warn_if_reject = false;
            if let Step::Reject(r) = self.list(list, *stage) {
                return Some(r);
            }
        }
        None
    }

    /// What the evaluation comes to with `verdict`.
    fn outcome(self, verdict: Verdict) -> Outcome {
        Outcome {
            verdict,
            log: self.log,
            actions: self.actions,
        }
    }

    /// Every list passed: accepted, unless a `defer_if_permit` was noted.
    fn accept(mut self) -> Outcome {
        let verdict = match self.defer_if_permit.take() {
            Some(r) => Verdict::Reject(r),
            None => Verdict::Accept,
        };
        self.outcome(verdict)
    }

    /// Postfix's smtpd_check_reject: validate the code, force the DSN class
    /// to match it, apply soft_bounce.
    fn reply(&self, code: u16, dsn: &str, text: String) -> Reply {
        let (mut code, dsn, text) = if (400..=599).contains(&code) {
            (code, dsn.to_string(), text)
        } else {
            (450, "4.7.1".to_string(), "Service unavailable".to_string())
        };
        if self.policy.soft_bounce && code >= 500 {
            code -= 100;
        }
        let mut parts = dsn.split('.').map(|p| p.parse::<u16>().unwrap_or(0));
        let (_, b, c) = (parts.next(), parts.next(), parts.next());
        Reply::new(
            code,
            Some(((code / 100) as u8, b.unwrap_or(7), c.unwrap_or(1))),
            text,
        )
    }

    fn reject(&mut self, code: u16, dsn: &str, text: String) -> Step {
        let r = self.reply(code, dsn, text);
        if self.warn_if_reject {
            self.warn_if_reject = false;
            self.log.push(format!("reject_warning: {}", r));
            return Step::Dunno;
        }
        // DEFER_IF_REJECT: a refusal for good becomes the deferral noted.
        if r.code >= 500 {
            if let Some(deferred) = self.defer_if_reject.take() {
                return Step::Reject(deferred);
            }
        }
        Step::Reject(r)
    }

    fn defer_if_permit(&mut self, code: u16, dsn: &str, text: String) {
        if self.defer_if_permit.is_none() {
            self.defer_if_permit = Some(self.reply(code, dsn, text));
        }
    }

    /// The reply name for the current stage (`<name>: Class rejected`).
    fn reply_name(&self) -> String {
        match self.stage {
            Stage::Client => self.req.namaddr(),
            Stage::Helo => self.req.helo.clone().unwrap_or_default(),
            Stage::Sender => self.sender_text().unwrap_or_default(),
            Stage::Recipient => self.recipient_text().unwrap_or_default(),
            Stage::Data => "DATA".into(),
            Stage::EndOfData => "END-OF-MESSAGE".into(),
            Stage::Etrn => self.req.etrn_site.clone().unwrap_or_default(),
        }
    }

    fn sender_text(&self) -> Option<String> {
        match &self.req.sender {
            Some(Some(m)) => Some(m.to_string()),
            Some(None) => Some(String::new()),
            None => None,
        }
    }

    fn recipient_text(&self) -> Option<String> {
        self.req.recipient.as_ref().map(|m| m.to_string())
    }

    fn list(&mut self, list: &[Restriction], stage: Stage) -> Step {
        self.stage = stage;
        for r in list {
            match self.one(r) {
                Step::Dunno => {}
                Step::Ok => {
                    self.log_permit(r);
                    return Step::Ok;
                }
                other => return other,
            }
        }
        Step::Dunno
    }

    /// `smtpd_log_access_permit_actions`: Postfix's `permit:` line for a
    /// built-in permit action that decided (not when a defer_if_permit
    /// overrules it).
    fn log_permit(&mut self, r: &Restriction) {
        let name = r.name();
        let (class, who) = match r {
            Restriction::Permit
            | Restriction::PermitMynetworks
            | Restriction::PermitSaslAuthenticated
            | Restriction::PermitTlsClientcerts
            | Restriction::PermitTlsAllClientcerts
            | Restriction::PermitInetInterfaces => (Stage::Client.class(), self.req.namaddr()),
            Restriction::PermitAuthDestination | Restriction::PermitMxBackup => (
                Stage::Recipient.class(),
                self.recipient_text().unwrap_or_default(),
            ),
            _ => return,
        };
        let wanted = self.policy.log_permit.iter().any(|w| {
            w.eq_ignore_ascii_case(name)
                || w.strip_prefix("static:")
                    .is_some_and(|v| v.eq_ignore_ascii_case("all"))
        });
        if wanted && self.defer_if_permit.is_none() {
            self.log
                .push(format!("permit: action={name} for {class}={who}"));
        }
    }

    fn temp_lookup_failure(&mut self, what: &str, e: &MapError) -> Step {
        self.log.push(format!("warning: {what}: {e}"));
        let name = self.reply_name();
        Step::Reject(self.reply(451, "4.3.0", format!("<{name}>: Temporary lookup failure")))
    }

    fn one(&mut self, r: &Restriction) -> Step {
        let class = self.stage.class();
        let codes = &self.policy.codes;
        match r {
            Restriction::Permit => Step::Ok,
            Restriction::Reject => {
                let t = format!("<{}>: {class} rejected: Access denied", self.reply_name());
                self.reject(codes.reject, "5.7.1", t)
            }
            Restriction::Defer => {
                let t = format!("<{}>: {class} rejected: Access denied", self.reply_name());
                self.reject(codes.defer, "4.7.1", t)
            }
            Restriction::DeferIfPermit => {
                let t = format!(
                    "<{}>: {class} rejected: defer_if_permit requested",
                    self.reply_name()
                );
                self.defer_if_permit(450, "4.7.1", t);
                Step::Dunno
            }
            Restriction::WarnIfReject => {
                self.warn_if_reject = true;
                Step::Dunno
            }
            Restriction::PermitMynetworks => {
                if self
                    .policy
                    .mynetworks
                    .matches(&self.req.client_name, self.req.client_addr)
                {
                    Step::Ok
                } else {
                    Step::Dunno
                }
            }
            Restriction::PermitSaslAuthenticated => {
                if self.req.sasl_authenticated {
                    Step::Ok
                } else {
                    Step::Dunno
                }
            }
            Restriction::PermitTlsAllClientcerts => {
                if self.req.client_cert.as_ref().is_some_and(|c| c.trusted) {
                    Step::Ok
                } else {
                    Step::Dunno
                }
            }
            Restriction::PermitTlsClientcerts => {
                let Some(cert) = &self.req.client_cert else {
                    return Step::Dunno;
                };
                let probes = cert_probes(cert);
                match access::search(&self.policy.relay_clientcerts, &probes) {
                    Ok(Some(hit)) => {
                        self.log.push(format!(
                            "{}: Client host {}: relay_clientcerts: {} matched",
                            self.policy.relay_clientcerts.title(),
                            self.req.namaddr(),
                            hit.key
                        ));
                        Step::Ok
                    }
                    Ok(None) => Step::Dunno,
                    Err(e) => {
                        self.log.push(format!(
                            "warning: relay_clientcerts: table lookup problem: {e}"
                        ));
                        Step::Reject(self.reply(
                            451,
                            "4.3.0",
                            format!("<{}>: Temporary lookup failure", self.req.namaddr()),
                        ))
                    }
                }
            }
            Restriction::PermitInetInterfaces => {
                if self
                    .req
                    .client_addr
                    .is_some_and(|ip| self.policy.classes.is_own_address(&ip))
                {
                    Step::Ok
                } else {
                    Step::Dunno
                }
            }
            Restriction::PermitAuthDestination
            | Restriction::RejectUnauthDestination
            | Restriction::DeferUnauthDestination => {
                let Some(rcpt) = self.req.recipient.clone() else {
                    return Step::Dunno;
                };
                let resolved = match self.policy.resolve(&rcpt) {
                    Ok(r) => r,
                    Err(e) => return self.temp_lookup_failure("relay domain lookup", &e),
                };
                // Sender-specified routing that is left once this host's
                // domains are stripped (user%elsewhere@relay.domain) is not
                // authorized unless allow_untrusted_routing, whatever the
                // domain's class, as in Postfix: the next server might
                // pass it on.
                let authorized =
                    resolved.class != AddrClass::Default && !self.routed(&resolved.local);
                match (r, authorized) {
                    (Restriction::PermitAuthDestination, true) => Step::Ok,
                    (Restriction::PermitAuthDestination, false) => Step::Dunno,
                    (_, true) => Step::Dunno,
                    (Restriction::DeferUnauthDestination, false) => self.reject(
                        codes.relay.saturating_sub(100).max(400),
                        "4.7.1",
                        format!("<{rcpt}>: Relay access denied"),
                    ),
                    (_, false) => self.reject(
                        codes.relay,
                        "5.7.1",
                        format!("<{rcpt}>: Relay access denied"),
                    ),
                }
            }
            Restriction::PermitMxBackup => self.permit_mx_backup(),
            Restriction::RejectUnauthPipelining => {
                if self.req.illegal_pipelining {
                    let t = format!(
                        "<{}>: {class} rejected: Improper use of SMTP command pipelining",
                        self.reply_name()
                    );
                    self.reject(503, "5.5.0", t)
                } else {
                    Step::Dunno
                }
            }
            Restriction::RejectUnlistedRecipient => match self.req.recipient.clone() {
                Some(rcpt) => self.check_rcpt_maps(&rcpt, Stage::Recipient),
                None => Step::Dunno,
            },
            Restriction::RejectUnlistedSender => match self.req.sender.clone() {
                Some(Some(sender)) => self.check_rcpt_maps(&sender, Stage::Sender),
                _ => Step::Dunno,
            },
            Restriction::RejectNonFqdnSender => match &self.req.sender {
                Some(Some(m)) => {
                    let m = m.clone();
                    self.non_fqdn_address(&m, Stage::Sender)
                }
                _ => Step::Dunno,
            },
            Restriction::RejectNonFqdnRecipient => match self.req.recipient.clone() {
                Some(m) => self.non_fqdn_address(&m, Stage::Recipient),
                None => Step::Dunno,
            },
            Restriction::RejectNonFqdnHelo => match self.req.helo.clone() {
                Some(h) => {
                    let name = h
                        .strip_suffix('.')
                        .filter(|n| !n.ends_with('.'))
                        .unwrap_or(&h);
                    let literal = name.starts_with('[') && addr::valid_address_literal(name);
                    if literal || (addr::valid_hostname(name) && name.contains('.')) {
                        Step::Dunno
                    } else {
                        let t =
                            format!("<{h}>: Helo command rejected: need fully-qualified hostname");
                        self.reject(codes.non_fqdn, "5.5.2", t)
                    }
                }
                None => Step::Dunno,
            },
            Restriction::RejectInvalidHelo => match self.req.helo.clone() {
                Some(h) => {
                    let name = h
                        .strip_suffix('.')
                        .filter(|n| !n.ends_with('.'))
                        .unwrap_or(&h);
                    let ok = if name.starts_with('[') {
                        addr::valid_address_literal(name)
                    } else {
                        addr::valid_hostname(name) || name.parse::<IpAddr>().is_ok()
                    };
                    if ok {
                        Step::Dunno
                    } else {
                        let t = format!("<{h}>: Helo command rejected: Invalid name");
                        self.reject(codes.invalid_hostname, "5.5.2", t)
                    }
                }
                None => Step::Dunno,
            },
            Restriction::RejectUnknownSenderDomain => match &self.req.sender {
                Some(Some(m)) => {
                    let m = m.clone();
                    self.unknown_domain(&m, Stage::Sender)
                }
                _ => Step::Dunno,
            },
            Restriction::RejectUnknownRecipientDomain => match self.req.recipient.clone() {
                Some(m) => self.unknown_domain(&m, Stage::Recipient),
                None => Step::Dunno,
            },
            Restriction::RejectUnknownReverseClient => {
                let req = self.req;
                self.unknown_client(
                    &req.reverse_client_name,
                    req.reverse_name_temporary,
                    "reverse hostname",
                )
            }
            Restriction::RejectUnknownHelo => match self.req.helo.clone() {
                // An address literal has no name to look up.
                Some(h) if !h.starts_with('[') => {
                    let t = format!("<{h}>: Helo command rejected: Host not found");
                    match self.dns.host_exists(&h) {
                        Lookup::Found => Step::Dunno,
                        Lookup::NotFound => self.reject(codes.unknown_hostname, "4.7.1", t),
                        Lookup::TempFail if codes.unknown_helo_defer => {
                            self.reject(450, "4.7.1", t)
                        }
                        Lookup::TempFail => {
                            self.defer_if_permit(450, "4.7.1", t);
                            Step::Dunno
                        }
                    }
                }
                _ => Step::Dunno,
            },
            Restriction::RejectPlaintextSession if !self.req.tls => self.reject(
                codes.plaintext,
                "4.7.1",
                "Session encryption is required".into(),
            ),
            Restriction::RejectPlaintextSession => Step::Dunno,
            Restriction::RejectMultiRecipientBounce => {
                // At RCPT (whichever list runs then) the recipient being
                // checked counts too; at DATA the one recipient is among
                // those counted already.
                let others = usize::from(
                    self.req.recipient.is_some()
                        && !matches!(self.stage, Stage::Data | Stage::EndOfData),
                );
                let null_sender = matches!(self.req.sender, Some(None));
                if null_sender && self.req.recipient_count + others > 1 {
                    let t = format!(
                        "<{}>: {} rejected: Multi-recipient bounce",
                        self.reply_name(),
                        self.stage.class()
                    );
                    self.reject(codes.multi_recipient_bounce, "5.5.3", t)
                } else {
                    Step::Dunno
                }
            }
            Restriction::RejectUnknownClient => {
                let req = self.req;
                self.unknown_client(&req.client_name, req.client_name_temporary, "hostname")
            }
            Restriction::RejectUnverified(stage) => {
                let address = match stage {
                    Stage::Sender => match &self.req.sender {
                        Some(Some(m)) => m.to_string(),
                        // The null sender is not verified.
                        _ => return Step::Dunno,
                    },
                    _ => match &self.req.recipient {
                        Some(m) => m.to_string(),
                        None => return Step::Dunno,
                    },
                };
                self.verified(&address, *stage)
            }
            Restriction::RejectAuthSenderLogin
            | Restriction::RejectKnownSenderLogin
            | Restriction::RejectUnauthSenderLogin => self.sender_login(r),
            Restriction::Check(key, maps) => self.check_access(*key, maps),
            Restriction::CheckServers(key, kind, maps) => self.check_servers(*key, *kind, maps),
            Restriction::DnsList {
                subject,
                entry,
                permit,
            } => self.dns_list(*subject, entry, *permit),
            Restriction::PolicyService(svc) => self.policy_service(svc),
            Restriction::Class(_, list) => {
                let stage = self.stage;
                for r in list {
                    match self.one(r) {
                        Step::Dunno => {}
                        other => {
                            self.stage = stage;
                            return other;
                        }
                    }
                }
                self.stage = stage;
                Step::Dunno
            }
            Restriction::Unknown(name) => {
                self.log
                    .push(format!("warning: unknown smtpd restriction: \"{name}\""));
                Step::Reject(self.reply(451, "4.3.5", "Server configuration error".into()))
            }
        }
    }

    /// `check_policy_service`: the request as attributes, the answer as an
    /// access table's (smtpd_check.c check_policy_service).
    fn policy_service(&mut self, svc: &PolicyService) -> Step {
        let attrs = self.policy_attributes();
        let (action, warning) = svc.query(&attrs);
        if let Some(w) = warning {
            self.log.push(format!("warning: {w}"));
        }
        let reply_name = self.reply_name();
        let class = self.stage.class();
        self.table_result(&svc.name, &action, &reply_name, class)
    }

    /// What a policy service is told (SMTPD_POLICY_README).
    fn policy_attributes(&self) -> Vec<(&'static str, String)> {
        let req = self.req;
        let f = &req.facts;
        let (sender, recipient) = (self.sender_text(), self.recipient_text());
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let (enc_protocol, enc_cipher, enc_bits) = f.encryption.clone().unwrap_or_default();
        let cert = req.client_cert.as_ref();
        [
            ("request", "smtpd_access_policy".to_string()),
            ("protocol_state", f.state.to_string()),
            ("protocol_name", f.protocol.to_string()),
            ("client_address", req.client_addr_text.clone()),
            ("client_name", req.client_name.clone()),
            (
                "client_port",
                f.client_port.map(|p| p.to_string()).unwrap_or_default(),
            ),
            ("reverse_client_name", opt(&f.reverse_client_name)),
            (
                "server_address",
                f.server.map(|s| s.0.to_string()).unwrap_or_default(),
            ),
            (
                "server_port",
                f.server.map(|s| s.1.to_string()).unwrap_or_default(),
            ),
            ("helo_name", opt(&req.helo)),
            ("sender", sender.unwrap_or_default()),
            ("recipient", recipient.unwrap_or_default()),
            ("recipient_count", f.recipient_count.to_string()),
            ("queue_id", opt(&f.queue_id)),
            ("instance", f.instance.clone()),
            (
                "size",
                f.size.map(|s| s.to_string()).unwrap_or_else(|| "0".into()),
            ),
            ("etrn_domain", opt(&req.etrn_site)),
            ("sasl_method", opt(&f.sasl_method)),
            ("sasl_username", opt(&req.sasl_username)),
            ("sasl_sender", String::new()),
            ("ccert_subject", String::new()),
            ("ccert_issuer", String::new()),
            (
                "ccert_fingerprint",
                cert.map(|c| c.fingerprint.clone()).unwrap_or_default(),
            ),
            (
                "ccert_pubkey_fingerprint",
                cert.and_then(|c| c.key_fingerprint.clone())
                    .unwrap_or_default(),
            ),
            ("encryption_protocol", enc_protocol),
            ("encryption_cipher", enc_cipher),
            ("encryption_keysize", enc_bits),
            ("compatibility_level", "3.6".to_string()),
            ("mail_version", env!("CARGO_PKG_VERSION").to_string()),
        ]
        .into()
    }

    /// A DNS list restriction (smtpd_check.c's reject_rbl_addr,
    /// reject_rbl_domain, permit_dnswl_addr, permit_dnswl_domain). A list
    /// that cannot be asked now is passed over with a warning. An allow
    /// list never lets mail be relayed: where its permit would decide for a
    /// recipient that is not ours, it is DUNNO, as in Postfix.
    fn dns_list(&mut self, subject: Subject, entry: &Entry, permit: bool) -> Step {
        let req = self.req;
        let domain_of = |m: &addr::Mailbox| m.domain.clone().filter(|d| !d.starts_with('['));
        // (the name asked under the list's zone, $rbl_what)
        let (key, what) = match subject {
            Subject::ClientAddress => match req.client_addr {
                Some(ip) => (dnsxl::reversed(ip), req.client_addr_text.clone()),
                None => return Step::Dunno,
            },
            Subject::ClientName => {
                if req.client_name == "unknown" || req.client_name.is_empty() {
                    return Step::Dunno;
                }
                (req.client_name.clone(), req.client_name.clone())
            }
            Subject::ReverseClientName => {
                let name = &req.reverse_client_name;
                if name == "unknown" || name.is_empty() {
                    return Step::Dunno;
                }
                (name.clone(), name.clone())
            }
            Subject::Helo => match &req.helo {
                Some(h) if !h.starts_with('[') && h.parse::<IpAddr>().is_err() => {
                    (h.clone(), h.clone())
                }
                _ => return Step::Dunno,
            },
            Subject::Sender => match &req.sender {
                Some(Some(m)) => match domain_of(m) {
                    Some(d) => (d, m.to_string()),
                    None => return Step::Dunno,
                },
                _ => return Step::Dunno,
            },
            Subject::Recipient => match &req.recipient {
                Some(m) => match domain_of(m) {
                    Some(d) => (d, m.to_string()),
                    None => return Step::Dunno,
                },
                None => return Step::Dunno,
            },
        };
        let query = entry.query(&key);
        let answer = match self.dns.list_entry(&query) {
            Listing::Listed(a) => a,
            Listing::NotListed => return Step::Dunno,
            Listing::TempFail(why) => {
                self.log.push(format!(
                    "warning: {}: DNS list lookup error: {why}",
                    entry.zone
                ));
                return Step::Dunno;
            }
        };
        if !entry.listed(&answer) {
            return Step::Dunno;
        }
        if permit {
            if let Some(rcpt) = &req.recipient {
                if matches!(
                    self.policy.resolve(rcpt).map(|r| r.class),
                    Ok(AddrClass::Default) | Err(_)
                ) {
                    return Step::Dunno;
                }
            }
            return Step::Ok;
        }
        let reason = self.dns.list_reason(&query).unwrap_or_default();
        let (name, domain) = match &req.recipient {
            Some(m) => (m.local.clone(), m.domain.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        let sender = match &req.sender {
            Some(Some(m)) => Some(m.clone()),
            _ => None,
        };
        let vars = [
            ("rbl_code", self.policy.codes.rbl.to_string()),
            ("rbl_class", subject.class().to_string()),
            ("rbl_what", what),
            ("rbl_domain", entry.zone.clone()),
            ("rbl_reason", reason.clone()),
            ("rbl_txt", reason),
            ("client", req.namaddr()),
            ("client_address", req.client_addr_text.clone()),
            ("client_name", req.client_name.clone()),
            ("helo_name", req.helo.clone().unwrap_or_default()),
            (
                "sender",
                sender.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            ),
            (
                "sender_name",
                sender.as_ref().map(|m| m.local.clone()).unwrap_or_default(),
            ),
            (
                "sender_domain",
                sender
                    .as_ref()
                    .and_then(|m| m.domain.clone())
                    .unwrap_or_default(),
            ),
            ("recipient", self.recipient_text().unwrap_or_default()),
            ("recipient_name", name),
            ("recipient_domain", domain),
        ];
        let template = match self.policy.rbl_reply_maps.lookup(&entry.zone) {
            Ok(Some(t)) => t,
            Ok(None) => self.policy.default_rbl_reply.clone(),
            Err(e) => return self.temp_lookup_failure("rbl_reply_maps", &e),
        };
        let text = dnsxl::expand_reply(&template, &vars, &self.policy.expansion_filter);
        let (code, rest) = match text.split_once(' ') {
            Some((c, rest)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
                (c.parse().unwrap_or(0), rest)
            }
            _ => (0, text.as_str()),
        };
        let (dsn, rest) = split_dsn(rest, "5.7.1");
        self.reject(code, &dsn, rest.to_string())
    }

    /// The `reject_*_sender_login_mismatch` restrictions (smtpd_check.c
    /// reject_auth_sender_login_mismatch and
    /// reject_unauth_sender_login_mismatch). Only a non-null sender is
    /// checked; nothing happens without smtpd_sender_login_maps.
    fn sender_login(&mut self, r: &Restriction) -> Step {
        if !self.policy.sasl_enabled {
            self.log.push(format!(
                "warning: restriction `{}' ignored: no SASL support",
                r.name()
            ));
            return Step::Dunno;
        }
        let Some(Some(sender)) = self.req.sender.clone() else {
            return Step::Dunno;
        };
        let Some(maps) = &self.policy.sender_login_maps else {
            return Step::Dunno;
        };
        let user = self.req.sasl_username.clone();
        // (check the owner, allow a sender that has no owner)
        let mode = match (r, &user) {
            (Restriction::RejectAuthSenderLogin, Some(_)) => (true, false),
            (Restriction::RejectKnownSenderLogin, Some(_)) => (true, true),
            (Restriction::RejectUnauthSenderLogin | Restriction::RejectKnownSenderLogin, None) => {
                (false, false)
            }
            _ => return Step::Dunno,
        };
        let owners = match self.login_owners(maps, &sender) {
            Ok(o) => o,
            Err(e) => {
                self.log.push(format!(
                    "warning: {}: table lookup problem: {e}",
                    maps.title()
                ));
                return Step::Reject(self.reply(
                    451,
                    "4.3.0",
                    format!("<{sender}>: Temporary lookup failure"),
                ));
            }
        };
        match (mode, owners, user) {
            ((true, _), Some(owners), Some(user)) => {
                let lower = user.to_lowercase();
                let owned = owners
                    .split([',', ' ', '\t', '\r', '\n'])
                    .any(|o| !o.is_empty() && o.to_lowercase() == lower);
                if owned {
                    return Step::Dunno;
                }
                self.reject(
                    553,
                    "5.7.1",
                    format!("<{sender}>: Sender address rejected: not owned by user {user}"),
                )
            }
            ((true, false), None, Some(user)) => self.reject(
                553,
                "5.7.1",
                format!("<{sender}>: Sender address rejected: not owned by user {user}"),
            ),
            ((false, _), Some(_), None) => self.reject(
                553,
                "5.7.1",
                format!("<{sender}>: Sender address rejected: not logged in"),
            ),
            _ => Step::Dunno,
        }
    }

    /// The owners of a sender address in smtpd_sender_login_maps, looked
    /// up as Postfix's mail_addr_find does: `user+ext@domain`,
    /// `user@domain`, then `user+ext` and `user` when the domain is
    /// $myorigin or local ($mydestination, $inet_interfaces,
    /// $proxy_interfaces), then `@domain`. Only the first key is given to
    /// regexp/pcre tables. A sender without a domain is `user@$myorigin`.
    fn login_owners(
        &self,
        maps: &MapList,
        sender: &addr::Mailbox,
    ) -> Result<Option<String>, MapError> {
        let policy = self.policy;
        let domain = sender
            .folded_domain()
            .unwrap_or_else(|| policy.myorigin.clone());
        let local = sender.local.as_str();
        let is_local =
            domain.eq_ignore_ascii_case(&policy.myorigin) || policy.classes.is_local(&domain)?;
        let keys =
            access::mail_addr_keys(local, Some(&domain), &policy.recipient_delimiter, is_local);
        Ok(access::mail_addr_find(maps, &keys)?.map(|(owners, _)| owners))
    }

    fn non_fqdn_address(&mut self, m: &addr::Mailbox, stage: Stage) -> Step {
        let ok = match m.domain.as_deref() {
            None => false,
            Some(d) if d.starts_with('[') => true,
            Some(d) => addr::is_fqdn(d),
        };
        if ok {
            return Step::Dunno;
        }
        let (dsn, class) = match stage {
            Stage::Sender => ("5.5.2", stage.class()),
            _ => ("5.5.2", Stage::Recipient.class()),
        };
        let t = format!("<{m}>: {class} rejected: need fully-qualified address");
        let code = self.policy.codes.non_fqdn;
        self.reject(code, dsn, t)
    }

    /// `reject_unverified_sender`/`_recipient` (smtpd_check.c
    /// reject_unverified_address): asks the verify service, again after
    /// `address_verify_poll_delay` while a probe is under way, at most
    /// `address_verify_poll_count` times in all.
    fn verified(&mut self, address: &str, stage: Stage) -> Step {
        let v = &self.policy.verify;
        let side = if stage == Stage::Sender {
            &v.sender
        } else {
            &v.recipient
        };
        let detail = if stage == Stage::Sender { "1.7" } else { "1.1" };
        let dsn = |code: u16| format!("{}.{detail}", if code >= 500 { 5 } else { 4 });
        let mut answer = v.client.query(address);
        for _ in 1..v.poll_count {
            if !matches!(answer, Ok((ipc::verify::Status::Unknown, _))) {
                break;
            }
            std::thread::sleep(v.poll_delay);
            answer = v.client.query(address);
        }
        let class = stage.class();
        match answer {
            Err(e) => {
                self.log
                    .push(format!("warning: verify service failure: {e}"));
                let t = format!("<{address}>: {class} rejected: address verification problem");
                if side.tempfail_defer {
                    return self.reject(450, &dsn(450), t);
                }
                self.defer_if_permit(450, &dsn(450), t);
                Step::Dunno
            }
            Ok((ipc::verify::Status::Deliverable, _)) => Step::Dunno,
            Ok((ipc::verify::Status::Undeliverable, why)) => {
                let why = if side.reason.is_empty() {
                    why
                } else {
                    side.reason.clone()
                };
                let t = format!("<{address}>: {class} rejected: undeliverable address: {why}");
                self.reject(side.reject_code, &dsn(side.reject_code), t)
            }
            Ok((_, why)) => {
                let t = format!("<{address}>: {class} rejected: unverified address: {why}");
                self.reject(side.defer_code, &dsn(side.defer_code), t)
            }
        }
    }

    /// A recipient whose local part still routes it on (`@`, `%`, `!`)
    /// once resolved (Postfix's RESOLVE_FLAG_ROUTED): never an authorized
    /// destination unless `allow_untrusted_routing`. When the resolver's
    /// tables fail, the address as given is judged.
    fn untrusted_routing(&self, rcpt: &addr::Mailbox) -> bool {
        match self.policy.resolve(rcpt) {
            Ok(r) => self.routed(&r.local),
            Err(_) => self.routed(&rcpt.local),
        }
    }

    /// Whether a resolved local part routes on, and that is not allowed.
    fn routed(&self, local: &str) -> bool {
        !self.policy.allow_untrusted_routing && local.contains(['@', '%', '!'])
    }

    /// permit_mx_backup (smtpd_check.c): the recipient's domain is ours,
    /// or this host is one of its backup MX hosts and not a primary one
    /// (and, with permit_mx_backup_networks, every address of its primary
    /// MX hosts is in those networks). A DNS that cannot answer turns a
    /// later refusal into a deferral. Sender-specified routing is never
    /// permitted (allow_untrusted_routing).
    fn permit_mx_backup(&mut self) -> Step {
        let Some(rcpt) = self.req.recipient.clone() else {
            return Step::Dunno;
        };
        if self.untrusted_routing(&rcpt) {
            return Step::Dunno;
        }
        let domain = match self.policy.resolve(&rcpt) {
            Ok(r) if r.class == AddrClass::Default => r.domain,
            Ok(_) => return Step::Ok,
            Err(e) => return self.temp_lookup_failure("relay domain lookup", &e),
        };
        if domain.starts_with('[') {
            return Step::Dunno;
        }
        let reply_name = rcpt.to_string();
        let mx = match self.dns.mail_exchangers(&domain) {
            Ok(Some(mx)) if !mx.is_empty() => mx,
            Ok(_) => return Step::Dunno,
            Err(e) => {
                self.defer_if_reject(
                    "4.4.4",
                    format!("<{reply_name}>: Recipient address rejected: Unable to look up mail exchanger information: {e}"),
                );
                return Step::Dunno;
            }
        };
        let best = mx.iter().map(|(p, _)| *p).min().unwrap_or(0);
        let mut primary: Vec<&str> = Vec::new();
        let mut backup: Vec<&str> = Vec::new();
        for (p, name) in mx.iter().take(MAX_SERVERS) {
            if *p == best {
                primary.push(name);
            } else {
                backup.push(name);
            }
        }
        if self.i_am_mx(&primary, &reply_name) || !self.i_am_mx(&backup, &reply_name) {
            return Step::Dunno;
        }
        // permit_mx_backup_networks: every address of every primary MX
        // host in them; one that cannot be looked up fails.
        if let Some(nets) = &self.policy.mx_backup_networks {
            for host in primary {
                let addrs = match self.dns.addresses(host) {
                    Ok(a) => a,
                    Err(e) => {
                        self.mx_lookup_failed(host, e, &reply_name);
                        return Step::Dunno;
                    }
                };
                if !addrs
                    .iter()
                    .all(|a| nets.matches("unknown", Some(a.to_canonical())))
                {
                    return Step::Dunno;
                }
            }
        }
        Step::Ok
    }

    /// Postfix's i_am_mx: one of `hosts` is this host, by name (a local
    /// domain) or by address (inet_interfaces, proxy_interfaces).
    fn i_am_mx(&mut self, hosts: &[&str], reply_name: &str) -> bool {
        // The names first, then the addresses, as Postfix does.
        if hosts
            .iter()
            .any(|h| self.policy.classes.is_local(h).unwrap_or(false))
        {
            return true;
        }
        for host in hosts {
            match self.dns.addresses(host) {
                Ok(addrs) => {
                    if addrs
                        .iter()
                        .any(|a| self.policy.classes.is_own_address(&a.to_canonical()))
                    {
                        return true;
                    }
                }
                Err(e) => self.mx_lookup_failed(host, e, reply_name),
            }
        }
        false
    }

    /// An MX host whose addresses could not be found: a later refusal
    /// becomes a deferral (Postfix's has_my_addr).
    fn mx_lookup_failed(&mut self, host: &str, e: Lookup, reply_name: &str) {
        self.defer_if_reject(
            "4.4.4",
            format!(
                "<{reply_name}>: Recipient address rejected: Unable to look up host {host} as mail exchanger: {}",
                lookup_text(e)
            ),
        );
    }

    fn defer_if_reject(&mut self, dsn: &str, text: String) {
        if self.defer_if_reject.is_none() {
            self.defer_if_reject = Some(self.reply(450, dsn, text));
        }
    }

    /// reject_unknown_client_hostname and
    /// reject_unknown_reverse_client_hostname: the client's `name` (of the
    /// kind `what` says) is `unknown`. A look-up that may work later: 450
    /// whatever unknown_client_reject_code says, as in Postfix.
    fn unknown_client(&mut self, name: &str, temporary: bool, what: &str) -> Step {
        if name != "unknown" || self.req.client_addr.is_none() {
            return Step::Dunno;
        }
        let t = format!(
            "Client host rejected: cannot find your {what}, [{}]",
            self.req.client_addr_text
        );
        let code = if temporary {
            450
        } else {
            self.policy.codes.unknown_client
        };
        self.reject(code, "4.7.1", t)
    }

    fn unknown_domain(&mut self, m: &addr::Mailbox, stage: Stage) -> Step {
        let resolved = match self.policy.resolve(m) {
            Ok(r) => r,
            Err(e) => return self.temp_lookup_failure("domain lookup", &e),
        };
        if matches!(
            resolved.class,
            AddrClass::Local | AddrClass::VirtualAlias | AddrClass::VirtualMailbox
        ) {
            return Step::Dunno;
        }
        let domain = resolved.domain.as_str();
        if domain.starts_with('[') {
            return Step::Dunno;
        }
        let dsn = if stage == Stage::Sender {
            "4.1.8"
        } else {
            "4.1.2"
        };
        // The MX first, as Postfix's reject_unknown_mailhost asks: a null
        // MX (RFC 7505) refuses mail whatever addresses the domain has.
        let found = match self.dns.mail_exchangers(domain) {
            // 550 5.7.27 for a sender, 556 5.1.10 for a recipient (RFC 7505).
            Ok(Some(mx)) if mx.iter().any(|(_, host)| host.is_empty()) => {
                let (code, dsn) = if stage == Stage::Sender {
                    (550, "5.7.27")
                } else {
                    (556, "5.1.10")
                };
                let t = format!(
                    "<{m}>: {} rejected: Domain {domain} does not accept mail (nullMX)",
                    stage.class()
                );
                return self.reject(code, dsn, t);
            }
            Ok(Some(_)) => Lookup::Found,
            Ok(None) => self.dns.host_exists(domain),
            // The MX question failed: an address still answers for it.
            Err(_) => match self.dns.host_exists(domain) {
                Lookup::Found => Lookup::Found,
                _ => Lookup::TempFail,
            },
        };
        let t = format!("<{m}>: {} rejected: Domain not found", stage.class());
        match found {
            Lookup::Found => Step::Dunno,
            Lookup::NotFound => {
                let code = self.policy.codes.unknown_address;
                self.reject(code, dsn, t)
            }
            Lookup::TempFail if self.policy.codes.unknown_address_defer => self.reject(450, dsn, t),
            Lookup::TempFail => {
                self.defer_if_permit(450, dsn, t);
                Step::Dunno
            }
        }
    }

    /// reject_unlisted_recipient: the address must exist in its class's
    /// tables (smtpd_check.c check_rcpt_maps).
    fn check_rcpt_maps(&mut self, rcpt: &addr::Mailbox, as_stage: Stage) -> Step {
        if self.policy.no_unknown_recipient_checks {
            return Step::Dunno;
        }
        // (a sender is checked as Postfix's check_sender_rcpt_maps does:
        // "Sender address rejected", 5.1.0)
        let (whose, dsn) = if as_stage == Stage::Sender {
            (Stage::Sender.class(), "5.1.0")
        } else {
            (Stage::Recipient.class(), "5.1.1")
        };
        let policy = self.policy;
        // The tables are asked about where the address goes (Postfix's
        // check_rcpt_maps asks with the resolver's address); the
        // replies name it as it was given.
        let (class, resolved) = match policy.resolve(rcpt) {
            Ok(r) => (r.class, addr::Mailbox::new(r.local, Some(r.domain))),
            Err(e) => return self.temp_lookup_failure("recipient domain lookup", &e),
        };
        if class == AddrClass::Local && resolved.local.eq_ignore_ascii_case(&policy.double_bounce) {
            return Step::Dunno;
        }
        let keys = self.address_keys(&resolved, class == AddrClass::Local);
        // Mail to addresses that have moved (smtpd_check.c check_rcpt_maps).
        if let Some(relocated) = policy
            .relocated_maps
            .as_ref()
            .filter(|_| class != AddrClass::Default)
        {
            match access::mail_addr_find(relocated, &keys) {
                Ok(Some((moved, _))) => {
                    let to = moved.split_whitespace().next().unwrap_or("").to_string();
                    return self.reject(
                        550,
                        "5.1.6",
                        format!("<{rcpt}>: {whose} rejected: User has moved to {to}"),
                    );
                }
                Ok(None) => {}
                Err(e) => return self.temp_lookup_failure("relocated_maps", &e),
            }
        }
        let found = |maps: &MapList| -> Result<bool, MapError> {
            Ok(access::mail_addr_find(maps, &keys)?.is_some())
        };
        let check = (|| -> Result<Option<(u16, &'static str)>, MapError> {
            if found(&policy.virtual_alias_maps)? || found(&policy.canonical_maps)? {
                return Ok(None);
            }
            Ok(match class {
                AddrClass::Local => match &policy.local_recipient_maps {
                    Some(m) if !found(m)? => {
                        Some((policy.codes.local_rcpt, "local recipient table"))
                    }
                    _ => None,
                },
                AddrClass::VirtualAlias => {
                    Some((policy.codes.virtual_alias, "virtual alias table"))
                }
                AddrClass::VirtualMailbox => (!found(&policy.virtual_mailbox_maps)?)
                    .then_some((policy.codes.virtual_mailbox, "virtual mailbox table")),
                AddrClass::Relay => match &policy.relay_recipient_maps {
                    Some(m) if !found(m)? => {
                        Some((policy.codes.relay_rcpt, "relay recipient table"))
                    }
                    _ => None,
                },
                AddrClass::Default => None,
            })
        })();
        match check {
            Ok(None) => Step::Dunno,
            Ok(Some((code, table))) => {
                let what = if policy.show_table_name {
                    format!("User unknown in {table}")
                } else {
                    "User unknown".into()
                };
                self.reject(code, dsn, format!("<{rcpt}>: {whose} rejected: {what}"))
            }
            Err(e) => {
                let saved = self.stage;
                self.stage = as_stage;
                let s = self.temp_lookup_failure("recipient lookup", &e);
                self.stage = saved;
                s
            }
        }
    }

    /// Keys for a recipient table look-up (Postfix mail_addr_find; see
    /// [`access::mail_addr_keys`]).
    fn address_keys(&self, m: &addr::Mailbox, local_class: bool) -> Vec<access::AddrKey> {
        access::mail_addr_keys(
            &m.local,
            m.folded_domain().as_deref(),
            &self.policy.recipient_delimiter,
            local_class,
        )
    }

    fn check_access(&mut self, key: AccessKey, maps: &MapList) -> Step {
        let step = self.look_up_access(key, maps);
        if key == AccessKey::ReverseClient {
            let target = self.req.reverse_client_name.clone();
            return self.forbid_allowlist("check_reverse_client_hostname_access", step, &target);
        }
        // A routed recipient (user%elsewhere@relay.domain) matches no OK
        // in an access table (Postfix's SUSPICIOUS).
        if key == AccessKey::Recipient
            && matches!(step, Step::Ok)
            && self
                .req
                .recipient
                .as_ref()
                .is_some_and(|r| self.untrusted_routing(r))
        {
            return Step::Dunno;
        }
        step
    }

    /// Postfix's forbid_allowlist: a check on what the client controls
    /// (its reverse name, its or the sender's DNS servers) must not say OK,
    /// or any client could make it permit anything.
    fn forbid_allowlist(&mut self, name: &str, step: Step, target: &str) -> Step {
        if !matches!(step, Step::Ok) || self.actions.discard {
            return step;
        }
        self.log.extend([
            format!("warning: restriction {name} returns OK for {target}"),
            "warning: this is not allowed for security reasons".to_string(),
            "warning: use DUNNO instead of OK if you want to make an exception".to_string(),
        ]);
        Step::Reject(self.reply(451, "4.3.5", "Server configuration error".into()))
    }

    fn look_up_access(&mut self, key: AccessKey, maps: &MapList) -> Step {
        let policy = self.policy;
        let (probes, reply_name, class) = match key {
            AccessKey::Client => (
                access::client_probes(
                    &self.req.client_name,
                    &self.req.client_addr_text,
                    policy.parent_style,
                ),
                self.req.namaddr(),
                Stage::Client.class(),
            ),
            AccessKey::Helo => match &self.req.helo {
                Some(h) => (
                    access::domain_probes(h, policy.parent_style, false),
                    h.clone(),
                    Stage::Helo.class(),
                ),
                None => return Step::Dunno,
            },
            AccessKey::Sender => match &self.req.sender {
                Some(Some(m)) => (
                    access::mail_probes(
                        &lookup_form(m),
                        &policy.recipient_delimiter,
                        policy.parent_style,
                    ),
                    m.to_string(),
                    Stage::Sender.class(),
                ),
                Some(None) => (
                    access::mail_probes(&policy.null_access_key, "", policy.parent_style),
                    policy.null_access_key.clone(),
                    Stage::Sender.class(),
                ),
                None => return Step::Dunno,
            },
            AccessKey::Sasl => match &self.req.sasl_username {
                Some(u) => (
                    vec![access::Probe {
                        key: u.clone(),
                        partial: false,
                    }],
                    u.chars()
                        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
                        .collect(),
                    "SASL login name",
                ),
                None => return Step::Dunno,
            },
            AccessKey::ReverseClient => (
                access::client_probes(
                    &self.req.reverse_client_name,
                    &self.req.client_addr_text,
                    policy.parent_style,
                ),
                self.req.reverse_client_name.clone(),
                REVERSE_CLIENT_CLASS,
            ),
            AccessKey::ClientCert => match &self.req.client_cert {
                Some(c) => (cert_probes(c), self.req.namaddr(), Stage::Client.class()),
                None => return Step::Dunno,
            },
            AccessKey::Etrn => match &self.req.etrn_site {
                Some(site) => (
                    access::domain_probes(site, policy.parent_style, false),
                    site.clone(),
                    Stage::Etrn.class(),
                ),
                None => return Step::Dunno,
            },
            AccessKey::Recipient => match &self.req.recipient {
                Some(m) => (
                    access::mail_probes(
                        &lookup_form(m),
                        &policy.recipient_delimiter,
                        policy.parent_style,
                    ),
                    m.to_string(),
                    Stage::Recipient.class(),
                ),
                None => return Step::Dunno,
            },
        };
        self.search(maps, &probes, &reply_name, class)
            .unwrap_or(Step::Dunno)
    }

    /// Looks `probes` up in `maps`: the table's answer, a lookup failure,
    /// or None when nothing matched.
    fn search(
        &mut self,
        maps: &MapList,
        probes: &[access::Probe],
        reply_name: &str,
        class: &str,
    ) -> Option<Step> {
        match access::search(maps, probes) {
            Ok(None) => None,
            Ok(Some(hit)) => Some(self.table_result(maps.title(), &hit.value, reply_name, class)),
            Err(e) => {
                self.log.push(format!(
                    "warning: {}: table lookup problem: {e}",
                    maps.title()
                ));
                Some(Step::Reject(self.reply(
                    451,
                    "4.3.0",
                    format!("<{reply_name}>: Temporary lookup failure"),
                )))
            }
        }
    }

    /// `check_*_{mx,ns,a}_access` (smtpd_check.c check_server_access):
    /// each server's name (with its parent domains) and then each of its
    /// addresses is looked up; the first answer other than DUNNO decides.
    /// A name the DNS cannot answer for is passed over with a warning.
    fn check_servers(&mut self, key: AccessKey, kind: ServerKind, maps: &MapList) -> Step {
        let step = self.look_up_servers(key, kind, maps);
        let subject = match key {
            AccessKey::Client => "client",
            AccessKey::ReverseClient => "reverse_client_hostname",
            AccessKey::Helo => "helo",
            AccessKey::Sender => "sender",
            _ => "recipient",
        };
        let name = format!(
            "check_{subject}_{}_access",
            kind.name().to_ascii_lowercase()
        );
        // The subject that was checked, as Postfix names it.
        let target = match key {
            AccessKey::Client => self.req.client_name.clone(),
            AccessKey::ReverseClient => self.req.reverse_client_name.clone(),
            AccessKey::Helo => self.req.helo.clone().unwrap_or_default(),
            AccessKey::Sender => match &self.req.sender {
                Some(Some(m)) => m.to_string(),
                _ => String::new(),
            },
            _ => self
                .req
                .recipient
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        self.forbid_allowlist(&name, step, &target)
    }

    fn look_up_servers(&mut self, key: AccessKey, kind: ServerKind, maps: &MapList) -> Step {
        let domain_of = |m: &addr::Mailbox| m.domain.clone();
        let (name, reply_name, class) = match key {
            AccessKey::Client => (
                Some(self.req.client_name.clone()).filter(|n| n != "unknown"),
                self.req.namaddr(),
                Stage::Client.class(),
            ),
            AccessKey::ReverseClient => (
                Some(self.req.reverse_client_name.clone()).filter(|n| n != "unknown"),
                self.req.reverse_client_name.clone(),
                REVERSE_CLIENT_CLASS,
            ),
            AccessKey::Helo => (
                self.req.helo.clone(),
                self.req.helo.clone().unwrap_or_default(),
                Stage::Helo.class(),
            ),
            AccessKey::Sender => match &self.req.sender {
                Some(Some(m)) => (domain_of(m), m.to_string(), Stage::Sender.class()),
                _ => return Step::Dunno,
            },
            AccessKey::Recipient => match &self.req.recipient {
                Some(m) => (domain_of(m), m.to_string(), Stage::Recipient.class()),
                None => return Step::Dunno,
            },
            _ => return Step::Dunno,
        };
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Step::Dunno;
        };
        // An address literal is its own server: only its address is
        // looked up.
        let literal = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .map(|n| n.strip_prefix("IPv6:").unwrap_or(n));
        let parent_style = self.policy.parent_style;
        // The server names, checked one by one, each before its addresses
        // are looked up, so the first answer ends the look-ups (as in
        // Postfix).
        let hosts: Vec<String> = match literal {
            // (an address has no name servers)
            Some(_) if kind == ServerKind::Ns => return Step::Dunno,
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip) => return self.check_addresses(maps, &[ip], &reply_name, class),
                Err(_) => return Step::Dunno,
            },
            None => {
                let found = match kind {
                    ServerKind::A => Ok(vec![name.clone()]),
                    // No MX: the domain is its own mail server; a null MX:
                    // none to look up.
                    ServerKind::Mx => self.dns.mail_exchangers(&name).map(|mx| match mx {
                        Some(mx) if mx.iter().any(|(_, n)| n.is_empty()) => Vec::new(),
                        Some(mx) => mx.into_iter().map(|(_, n)| n).collect(),
                        None => vec![name.clone()],
                    }),
                    ServerKind::Ns => self.dns.name_servers(&name),
                };
                match found {
                    Ok(h) => h,
                    Err(e) => {
                        self.log.push(format!(
                            "warning: Unable to look up {} host for {name}: {e}",
                            kind.name()
                        ));
                        return Step::Dunno;
                    }
                }
            }
        };
        if hosts.len() > MAX_SERVERS {
            self.log.push(format!(
                "warning: {name}: only the first {MAX_SERVERS} of {} {} hosts are checked",
                hosts.len(),
                kind.name()
            ));
        }
        for host in hosts.iter().take(MAX_SERVERS) {
            if kind != ServerKind::A {
                let probes = access::domain_probes(host, parent_style, false);
                if let Some(step) = self.search(maps, &probes, &reply_name, class) {
                    if !matches!(step, Step::Dunno) {
                        return step;
                    }
                }
            }
            let addrs = match self.dns.addresses(host) {
                Ok(a) => a,
                Err(e) => {
                    if kind != ServerKind::A {
                        let why = match e {
                            Lookup::TempFail => "Temporary failure in name resolution",
                            _ => "Name or service not known",
                        };
                        self.log.push(format!(
                            "warning: Unable to look up {} host {host} for {class} {reply_name}: {why}",
                            kind.name()
                        ));
                    }
                    continue;
                }
            };
            let step = self.check_addresses(maps, &addrs, &reply_name, class);
            if !matches!(step, Step::Dunno) {
                return step;
            }
        }
        Step::Dunno
    }

    /// Each address in an access table (with its parent networks).
    fn check_addresses(
        &mut self,
        maps: &MapList,
        addrs: &[IpAddr],
        reply_name: &str,
        class: &str,
    ) -> Step {
        for a in addrs {
            let probes = access::address_probes(&a.to_canonical().to_string());
            if let Some(step) = self.search(maps, &probes, reply_name, class) {
                if !matches!(step, Step::Dunno) {
                    return step;
                }
            }
        }
        Step::Dunno
    }

    /// Postfix's can_delegate_action: whether an action cleanup carries
    /// out (HOLD, DISCARD, FILTER, REDIRECT, BCC) can be taken here; if
    /// not, a warning says why and the action is skipped.
    fn can_delegate(&mut self, table: &str, action: &str) -> bool {
        if self.policy.proxy_filter {
            self.log.push(format!(
                "warning: access table {table}: with smtpd_proxy_filter specified, action {action} is unavailable"
            ));
            return false;
        }
        if self.stage == Stage::Etrn {
            self.log.push(format!(
                "warning: access table {table}: action {action} is unavailable in smtpd_etrn_restrictions"
            ));
            return false;
        }
        self.not_in_client_helo(table, action)
    }

    /// Postfix's not_in_client_helo: outside a transaction (client and
    /// HELO restrictions with smtpd_delay_reject = no) there is no message
    /// for an action to act on.
    fn not_in_client_helo(&mut self, table: &str, action: &str) -> bool {
        if self.req.sender.is_none() {
            self.log.push(format!(
                "warning: access table {table}: with smtpd_delay_reject=no, action {action} is always skipped in Client host or Helo command restrictions"
            ));
            return false;
        }
        true
    }

    /// An access table's answer (smtpd_check.c check_table_result).
    fn table_result(&mut self, table: &str, value: &str, reply_name: &str, class: &str) -> Step {
        let value = value.trim();
        let (cmd, text) = match value.find([' ', '\t']) {
            Some(i) => (&value[..i], value[i..].trim_start()),
            None => (value, ""),
        };
        let upper = cmd.to_ascii_uppercase();
        let codes = &self.policy.codes;
        match upper.as_str() {
            "DUNNO" => Step::Dunno,
            "OK" | "RELAY" => Step::Ok,
            "REJECT" => {
                let (dsn, t) = split_dsn(text, "5.7.1");
                let t = if t.is_empty() { "Access denied" } else { t };
                self.reject(
                    codes.access_reject,
                    &dsn,
                    format!("<{reply_name}>: {class} rejected: {t}"),
                )
            }
            "DEFER" => {
                let (dsn, t) = split_dsn(text, "4.7.1");
                let t = if t.is_empty() { "Access denied" } else { t };
                self.reject(
                    codes.access_defer,
                    &dsn,
                    format!("<{reply_name}>: {class} rejected: {t}"),
                )
            }
            "DEFER_IF_PERMIT" | "DEFER_IF_REJECT" => {
                let (dsn, t) = split_dsn(text, "4.7.1");
                let t = if t.is_empty() {
                    "Service unavailable"
                } else {
                    t
                };
                let text = format!("<{reply_name}>: {class} rejected: {t}");
                if upper == "DEFER_IF_PERMIT" {
                    self.defer_if_permit(codes.access_defer, &dsn, text);
                } else if self.defer_if_reject.is_none() {
                    self.defer_if_reject = Some(self.reply(codes.access_defer, &dsn, text));
                }
                Step::Dunno
            }
            "HOLD" | "DISCARD" | "FILTER" | "REDIRECT" | "BCC"
                if !self.can_delegate(table, &upper) =>
            {
                Step::Dunno
            }
            "HOLD" => {
                if !self.actions.hold && !self.req.held {
                    let t = if text.is_empty() {
                        "triggers HOLD action"
                    } else {
                        text
                    };
                    self.log.push(format!("hold: <{reply_name}>: {class} {t}"));
                    self.actions.hold = true;
                }
                Step::Dunno
            }
            "DISCARD" => {
                let t = if text.is_empty() {
                    "triggers DISCARD action"
                } else {
                    text
                };
                self.log
                    .push(format!("discard: <{reply_name}>: {class} {t}"));
                self.actions.discard = true;
                // As Postfix: DISCARD also accepts.
                Step::Ok
            }
            "FILTER" if !text.contains(':') => {
                self.log.push(format!(
                    "warning: access table {table} entry \"{reply_name}\" requires transport:destination"
                ));
                Step::Dunno
            }
            "FILTER" => {
                self.log.push(format!(
                    "filter: <{reply_name}>: {class} triggers FILTER {text}"
                ));
                self.actions.filter = Some(text.to_string());
                Step::Dunno
            }
            "REDIRECT" | "BCC" if !text.contains('@') => {
                self.log.push(format!(
                    "warning: access table {table} entry \"{reply_name}\" requires user@domain target"
                ));
                Step::Dunno
            }
            "REDIRECT" => {
                self.log.push(format!(
                    "redirect: <{reply_name}>: {class} triggers REDIRECT {text}"
                ));
                self.actions.redirect = Some(text.to_string());
                Step::Dunno
            }
            "BCC" => {
                self.log
                    .push(format!("bcc: <{reply_name}>: {class} triggers BCC {text}"));
                self.actions.bcc.push(text.to_string());
                Step::Dunno
            }
            "WARN" => {
                self.log.push(format!("warn: {text}"));
                Step::Dunno
            }
            "PREPEND" if !self.not_in_client_helo(table, "PREPEND") => Step::Dunno,
            "PREPEND" if self.stage == Stage::EndOfData => {
                self.log.push(format!(
                    "warning: access table {table}: action PREPEND must be used before smtpd_end_of_data_restrictions"
                ));
                Step::Dunno
            }
            "PREPEND" => {
                let name_ok = text.split_once(':').is_some_and(|(n, _)| {
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                });
                if name_ok {
                    self.actions.prepend.push(text.to_string());
                } else {
                    self.log.push(format!(
                        "warning: access table {table}: bad PREPEND header text \"{text}\" -- ignored"
                    ));
                }
                Step::Dunno
            }
            _ if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => Step::Ok,
            _ if cmd.len() == 3
                && !text.is_empty()
                && matches!(cmd.as_bytes()[0], b'4' | b'5')
                && cmd.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let code: u16 = cmd.parse().unwrap_or(450);
                let default = format!("{}.7.1", &cmd[..1]);
                let (dsn, t) = split_dsn(text, &default);
                let t = if t.is_empty() { "Access denied" } else { t };
                self.reject(code, &dsn, format!("<{reply_name}>: {class} rejected: {t}"))
            }
            _ if value.contains(':') => {
                self.log.push(format!(
                    "warning: access table {table} has entry with lookup table: {value}"
                ));
                Step::Reject(self.reply(451, "4.3.5", "Server configuration error".into()))
            }
            _ => {
                if self.recursion > 100 {
                    self.log.push(format!(
                        "warning: access table {table} entry {value} causes unreasonable recursion"
                    ));
                    return Step::Reject(self.reply(
                        451,
                        "4.3.5",
                        "Server configuration error".into(),
                    ));
                }
                // A result is a restriction list; a name in it may be one of
                // smtpd_restriction_classes (RESTRICTION_CLASS_README).
                let items = params::value::split_list(value);
                let policy = self.policy;
                self.recursion += 1;
                let mut result = Step::Dunno;
                let mut i = 0;
                'items: while i < items.len() {
                    let start = i;
                    let parsed;
                    let list: &[Restriction] = match policy.class(&items[i]) {
                        Some(class) => {
                            i += 1;
                            class
                        }
                        None => {
                            while i < items.len() && policy.class(&items[i]).is_none() {
                                i += 1;
                            }
                            let mut w = Vec::new();
                            parsed =
                                parse_items(&items[start..i], &Config::defaults(), &[], 0, &mut w);
                            &parsed
                        }
                    };
                    for r in list {
                        match self.one(r) {
                            Step::Dunno => {}
                            other => {
                                result = other;
                                break 'items;
                            }
                        }
                    }
                }
                self.recursion -= 1;
                result
            }
        }
    }
}

/// The form of an address that access tables see: internal (unquoted)
/// local part, lowercase domain.
fn lookup_form(m: &addr::Mailbox) -> String {
    match m.folded_domain() {
        Some(d) => format!("{}@{d}", m.local),
        None => m.local.clone(),
    }
}

/// The result of a check, with lines for the log.
pub struct Outcome {
    pub verdict: Verdict,
    pub log: Vec<String>,
    /// What access table actions asked of the message.
    pub actions: Actions,
}

impl Policy {
    fn eval<'a>(&'a self, req: &'a Request, dns: &'a dyn Resolver) -> Eval<'a> {
        Eval {
            policy: self,
            req,
            dns,
            stage: Stage::Client,
            warn_if_reject: false,
            defer_if_permit: None,
            defer_if_reject: None,
            log: Vec::new(),
            actions: Actions::default(),
            recursion: 0,
        }
    }

    /// With `smtpd_delay_reject = no`: the client list at connect, the HELO
    /// list at HELO/EHLO, the sender list at MAIL (`stage` says which).
    pub fn check_early(&self, req: &Request, dns: &dyn Resolver, stage: Stage) -> Outcome {
        let list: &[Restriction] = match stage {
            Stage::Client => &self.client,
            Stage::Helo => &self.helo,
            Stage::Sender => &self.sender,
            Stage::Recipient | Stage::Data | Stage::EndOfData | Stage::Etrn => &[],
        };
        self.check_list(req, dns, list, stage)
    }

    /// One restriction list on its own; a deferral noted on the way
    /// (`defer_if_permit`) turns an acceptance into its reply.
    fn check_list(
        &self,
        req: &Request,
        dns: &dyn Resolver,
        list: &[Restriction],
        stage: Stage,
    ) -> Outcome {
        let mut e = self.eval(req, dns);
        match e.list(list, stage) {
            Step::Reject(r) => e.outcome(Verdict::Reject(r)),
            _ => e.accept(),
        }
    }

    /// RCPT TO: client, HELO and sender lists (delayed, unless
    /// `smtpd_delay_reject = no` ran them earlier), then relay and
    /// recipient lists, then the implicit unlisted-recipient check.
    pub fn check_rcpt(&self, req: &Request, dns: &dyn Resolver) -> Outcome {
        let mut e = self.eval(req, dns);
        let lists: [(&[Restriction], Stage); 5] = [
            (&self.client, Stage::Client),
            (&self.helo, Stage::Helo),
            (&self.sender, Stage::Sender),
            (&self.relay, Stage::Recipient),
            (&self.recipient, Stage::Recipient),
        ];
        let skip = if self.delay_reject { 0 } else { 3 };
        if let Some(r) = e.lists(&lists[skip..]) {
            return e.outcome(Verdict::Reject(r));
        }
        if self.reject_unlisted_sender {
            if let Some(Some(sender)) = req.sender.clone() {
                e.stage = Stage::Sender;
                e.warn_if_reject = false;
                if let Step::Reject(r) = e.check_rcpt_maps(&sender, Stage::Sender) {
                    return e.outcome(Verdict::Reject(r));
                }
            }
        }
        if self.reject_unlisted_recipient {
            if let Some(rcpt) = req.recipient.clone() {
                e.stage = Stage::Recipient;
                e.warn_if_reject = false;
                if let Step::Reject(r) = e.check_rcpt_maps(&rcpt, Stage::Recipient) {
                    return e.outcome(Verdict::Reject(r));
                }
            }
        }
        e.accept()
    }

    /// DATA: smtpd_data_restrictions.
    pub fn check_data(&self, req: &Request, dns: &dyn Resolver) -> Outcome {
        self.check_list(req, dns, &self.data, Stage::Data)
    }

    /// ETRN: the client and HELO lists (delayed, unless
    /// `smtpd_delay_reject = no` ran them earlier), then
    /// smtpd_etrn_restrictions, with `req.etrn_site` as the name replies
    /// give.
    pub fn check_etrn(&self, req: &Request, dns: &dyn Resolver) -> Outcome {
        let mut e = self.eval(req, dns);
        let lists: [(&[Restriction], Stage); 3] = [
            (&self.client, Stage::Client),
            (&self.helo, Stage::Helo),
            (&self.etrn, Stage::Etrn),
        ];
        let skip = if self.delay_reject { 0 } else { 2 };
        match e.lists(&lists[skip..]) {
            Some(r) => e.outcome(Verdict::Reject(r)),
            None => e.accept(),
        }
    }

    /// The end of the message: smtpd_end_of_data_restrictions.
    pub fn check_end_of_data(&self, req: &Request, dns: &dyn Resolver) -> Outcome {
        self.check_list(req, dns, &self.end_of_data, Stage::EndOfData)
    }
}

/// The keys a client certificate is looked up by: its fingerprint, then
/// its public key's (Postfix matches either).
fn cert_probes(cert: &tls::ClientCert) -> Vec<access::Probe> {
    std::iter::once(&cert.fingerprint)
        .chain(&cert.key_fingerprint)
        .map(|f| access::Probe {
            key: f.clone(),
            partial: false,
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    struct FakeDns;
    impl Resolver for FakeDns {
        fn host_exists(&self, domain: &str) -> Lookup {
            match domain {
                "exists.example" | "mxfail.example" => Lookup::Found,
                "tempfail.example" => Lookup::TempFail,
                _ => Lookup::NotFound,
            }
        }

        fn list_entry(&self, name: &str) -> Listing {
            match name {
                "7.2.0.192.bl.example"
                | "7.2.0.192.wl.example"
                | "ptr.bad.example.rhsbl.example" => {
                    Listing::Listed(vec![std::net::Ipv4Addr::new(127, 0, 0, 2)])
                }
                "7.2.0.192.down.example" => Listing::TempFail("SERVFAIL".into()),
                _ => Listing::NotListed,
            }
        }

        fn mail_exchangers(&self, domain: &str) -> Result<Option<Vec<(u16, String)>>, String> {
            let mx =
                |v: &[(u16, &str)]| Ok(Some(v.iter().map(|(p, n)| (*p, n.to_string())).collect()));
            match domain {
                // This host (127.0.0.1, inet_interfaces) as backup MX.
                "backed.example" => mx(&[(10, "mx1.backed.example"), (20, "mx2.backed.example")]),
                // Its primary MX cannot be found.
                "lost.example" => mx(&[(10, "gone.example"), (20, "mx2.backed.example")]),
                // This host as primary MX.
                "primary.example" => mx(&[(10, "mx2.backed.example")]),
                "other.example" => mx(&[(10, "mx1.backed.example")]),
                "bogus.example" => mx(&[(10, "mx.bogus.example")]),
                "unresolved.example" => mx(&[(10, "nowhere.badhost.example")]),
                "nullmx.example" => mx(&[(0, "")]),
                "tempfail.example" | "mxfail.example" => Err("Host not found, try again".into()),
                _ => Ok(None),
            }
        }

        fn name_servers(&self, domain: &str) -> Result<Vec<String>, String> {
            match domain {
                "spammy.example" => Ok(vec!["ns1.badhost.example".into()]),
                "tempfail.example" => Err("Host not found, try again".into()),
                _ => Ok(vec![]),
            }
        }

        fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Lookup> {
            let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
            match host {
                "mx1.backed.example" => Ok(vec![ip("192.0.2.10")]),
                "mx2.backed.example" => Ok(vec![ip("127.0.0.1")]),
                "mx.bogus.example" => Ok(vec![ip("127.0.0.9")]),
                "ns1.badhost.example" => Ok(vec![ip("192.0.2.53")]),
                "client.example.com" => Ok(vec![ip("10.1.2.3")]),
                "gone.example" => Err(Lookup::TempFail),
                _ => Err(Lookup::NotFound),
            }
        }

        fn list_reason(&self, name: &str) -> Option<String> {
            (name == "7.2.0.192.bl.example").then(|| "see https://bl.example/\r\nX".into())
        }
    }

    #[test]
    fn unlisted_senders_of_our_domains_are_refused() {
        let unknown = "550 5.1.0 <nobody@mail.example.test>: Sender address rejected: User unknown in local recipient table";
        for p in [
            policy("smtpd_sender_restrictions = reject_unlisted_sender"),
            policy("smtpd_reject_unlisted_sender = yes"),
        ] {
            assert_eq!(
                rcpt(
                    &p,
                    &req(
                        "192.0.2.1",
                        "nobody@mail.example.test",
                        "alice@mail.example.test"
                    )
                ),
                unknown
            );
            assert_eq!(
                rcpt(
                    &p,
                    &req(
                        "192.0.2.1",
                        "alice@mail.example.test",
                        "root@mail.example.test"
                    )
                ),
                "OK"
            );
            assert_eq!(
                rcpt(
                    &p,
                    &req(
                        "192.0.2.1",
                        "someone@remote.example",
                        "root@mail.example.test"
                    )
                ),
                "OK"
            );
            assert_eq!(
                rcpt(&p, &req("192.0.2.1", "", "root@mail.example.test")),
                "OK"
            );
        }
        assert_eq!(
            rcpt(
                &policy(""),
                &req(
                    "192.0.2.1",
                    "nobody@mail.example.test",
                    "alice@mail.example.test"
                )
            ),
            "OK"
        );
    }

    #[test]
    fn dns_lists_reject_filter_and_never_open_a_relay() {
        let p = policy(
            "smtpd_recipient_restrictions = reject_rbl_client down.example, reject_rbl_client bl.example=127.0.0.[3..9], permit_dnswl_client wl.example, reject_rbl_client bl.example, permit_mynetworks, reject_unauth_destination",
        );
        // The allow list lets a listed client through for our domains only:
        // it cannot make this host relay.
        assert_eq!(
            rcpt(
                &p,
                &req("192.0.2.7", "a@x.example", "alice@mail.example.test")
            ),
            "OK"
        );
        let blocked = policy(
            "smtpd_recipient_restrictions = reject_rbl_client bl.example, permit_mynetworks, reject_unauth_destination",
        );
        assert_eq!(
            rcpt(&blocked, &req("192.0.2.7", "a@x.example", "alice@mail.example.test")),
            "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.example; see https://bl.example/__X"
        );
        assert_eq!(
            rcpt(
                &blocked,
                &req("192.0.2.8", "a@x.example", "alice@mail.example.test")
            ),
            "OK"
        );
        let wl_relay = policy(
            "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_dnswl_client wl.example, reject_unauth_destination",
        );
        assert_eq!(
            rcpt(
                &wl_relay,
                &req("192.0.2.7", "a@x.example", "x@remote.example")
            ),
            "554 5.7.1 <x@remote.example>: Relay access denied"
        );
        // A list that cannot answer is passed over.
        let down = policy(
            "smtpd_recipient_restrictions = reject_rbl_client down.example, permit_mynetworks, reject_unauth_destination",
        );
        let out = down.check_rcpt(
            &req("192.0.2.7", "a@x.example", "alice@mail.example.test"),
            &FakeDns,
        );
        assert_eq!(out.verdict, Verdict::Accept);
        assert!(
            out.log
                .iter()
                .any(|l| l.contains("down.example: DNS list lookup error: SERVFAIL")),
            "{:?}",
            out.log
        );
    }

    fn config(lines: &str) -> Config {
        let dir = std::env::temp_dir().join(format!(
            "smtpd-policy-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("t")
                .replace(':', "_")
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("main.cf"),
            format!(
                "myhostname = mail.example.test\nmydomain = example.test\ninet_interfaces = 127.0.0.1\nmynetworks = 127.0.0.0/8, [::1]/128\nalias_maps =\nlocal_recipient_maps = inline:{{ root=x, alice=x }}\nrecipient_delimiter = +\n{lines}\n"
            ),
        )
        .expect("main.cf");
        let c = Config::load(&dir, &[]).expect("config");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        c
    }

    fn policy(lines: &str) -> Policy {
        let (p, w) = Policy::from_config(&config(lines)).expect("policy");
        assert!(w.is_empty(), "{w:?}");
        p
    }

    fn mailbox(s: &str) -> addr::Mailbox {
        match s.split_once('@') {
            Some((l, d)) => addr::Mailbox::new(l, Some(d)),
            None => addr::Mailbox::new(s, None::<String>),
        }
    }

    fn req(ip: &str, from: &str, to: &str) -> Request {
        Request {
            client_name: "unknown".into(),
            client_addr: ip.parse().ok(),
            client_addr_text: ip.into(),
            helo: Some("client.example.com".into()),
            sender: Some(if from.is_empty() {
                None
            } else {
                Some(mailbox(from))
            }),
            recipient: Some(mailbox(to)),
            ..Request::default()
        }
    }

    fn rcpt(p: &Policy, r: &Request) -> String {
        match p.check_rcpt(r, &FakeDns).verdict {
            Verdict::Accept => "OK".into(),
            Verdict::Reject(r) => r.to_string(),
        }
    }

    #[test]
    fn actions_cleanup_carries_out_are_skipped_where_postfix_skips_them() {
        // Outside a transaction (smtpd_delay_reject = no).
        let p =
            policy("smtpd_client_restrictions = check_client_access inline:{ {192.0.2.7=HOLD} }");
        let mut r = req("192.0.2.7", "a@x.example", "x@mail.example.test");
        r.sender = None;
        let out = p.check_early(&r, &FakeDns, Stage::Client);
        assert_eq!(out.verdict, Verdict::Accept);
        assert!(!out.actions.hold);
        assert_eq!(
            out.log,
            ["warning: access table check_client_access: with smtpd_delay_reject=no, action HOLD is always skipped in Client host or Helo command restrictions"]
        );
        // With a before-queue filter, which takes the mail instead of
        // cleanup: DISCARD neither discards nor permits.
        let p = policy(
            "local_recipient_maps =\nsmtpd_proxy_filter = 127.0.0.1:10025\nsmtpd_recipient_restrictions = check_client_access inline:{ {192.0.2.7=DISCARD} }, reject",
        );
        let r = req("192.0.2.7", "a@x.example", "x@mail.example.test");
        let out = p.check_rcpt(&r, &FakeDns);
        assert!(matches!(out.verdict, Verdict::Reject(_)));
        assert!(!out.actions.discard);
        assert_eq!(
            out.log,
            ["warning: access table check_client_access: with smtpd_proxy_filter specified, action DISCARD is unavailable"]
        );
    }

    #[test]
    fn permit_mx_backup_for_the_domains_this_host_is_backup_mx_of() {
        let lines =
            "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mx_backup, reject";
        let p = policy(lines);
        let to = |rcpt: &str| rcpt_for(&p, rcpt);
        assert_eq!(to("x@backed.example"), "OK");
        assert_eq!(
            to("x@primary.example"),
            "554 5.7.1 <x@primary.example>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            to("x@other.example"),
            "554 5.7.1 <x@other.example>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            to("x@nomx.example"),
            "554 5.7.1 <x@nomx.example>: Recipient address rejected: Access denied"
        );
        // Our own domains pass.
        assert_eq!(to("root@mail.example.test"), "OK");
        // A DNS that cannot answer: the refusal becomes a deferral.
        assert_eq!(
            to("x@tempfail.example"),
            "450 4.4.4 <x@tempfail.example>: Recipient address rejected: Unable to look up mail exchanger information: Host not found, try again"
        );
        // permit_mx_backup_networks: the primary MX must be in them.
        let p = policy(&format!(
            "{lines}\npermit_mx_backup_networks = 192.0.2.0/24"
        ));
        assert_eq!(rcpt_for(&p, "x@backed.example"), "OK");
        let p = policy(&format!(
            "{lines}\npermit_mx_backup_networks = 198.51.100.0/24"
        ));
        assert_eq!(
            rcpt_for(&p, "x@backed.example"),
            "554 5.7.1 <x@backed.example>: Recipient address rejected: Access denied"
        );
        // A primary MX whose address cannot be looked up: a deferral, not a relay.
        let p = policy(&format!(
            "{lines}\npermit_mx_backup_networks = 192.0.2.0/24"
        ));
        assert_eq!(
            rcpt_for(&p, "x@lost.example"),
            "450 4.4.4 <x@lost.example>: Recipient address rejected: Unable to look up host gone.example as mail exchanger: Host not found, try again"
        );
    }

    /// allow_untrusted_routing = no (the default): a relay domain's
    /// recipient with routing in its local part is not ours to pass on.
    #[test]
    fn sender_specified_routing_to_relay_domains_is_refused() {
        let lines =
            "relay_domains = relay.example\nsmtpd_relay_restrictions = reject_unauth_destination";
        let check = |p: &Policy, local: &str| {
            let mut r = req("192.0.2.7", "a@x.example", "placeholder@relay.example");
            r.recipient = Some(addr::Mailbox::new(local, Some("relay.example")));
            rcpt(p, &r)
        };
        let p = policy(lines);
        assert_eq!(check(&p, "user"), "OK");
        for routed in [
            "user%elsewhere.example",
            "user@elsewhere.example",
            "elsewhere!user",
        ] {
            let reply = check(&p, routed);
            assert!(
                reply.starts_with("554 5.7.1 <")
                    && reply.ends_with("@relay.example>: Relay access denied"),
                "{routed}: {reply}"
            );
        }
        // Nor does permit_mx_backup, or an OK from a recipient table.
        for list in [
            "permit_mx_backup, reject_unauth_destination",
            "check_recipient_access inline:{ {relay.example=OK} }, reject_unauth_destination",
        ] {
            let p = policy(&format!(
                "relay_domains = relay.example\nsmtpd_relay_restrictions = {list}"
            ));
            assert_eq!(check(&p, "user"), "OK", "{list}");
            assert!(
                check(&p, "user%elsewhere.example").ends_with("Relay access denied"),
                "{list}"
            );
        }
        let p = policy(&format!("{lines}\nallow_untrusted_routing = yes"));
        assert_eq!(check(&p, "user%elsewhere.example"), "OK");
        // Nor to this host's own domains (the next server might pass it
        // on), unless the client may relay anyway.
        let p = policy(
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\nlocal_recipient_maps =",
        );
        let mut r = req("192.0.2.7", "a@x.example", "x@mail.example.test");
        r.recipient = Some(addr::Mailbox::new(
            "user%elsewhere.example",
            Some("mail.example.test"),
        ));
        assert!(
            rcpt(&p, &r).ends_with("Relay access denied"),
            "{}",
            rcpt(&p, &r)
        );
        r.client_addr = "127.0.0.1".parse().ok();
        r.client_addr_text = "127.0.0.1".into();
        assert_eq!(rcpt(&p, &r), "OK");
    }

    fn rcpt_for(p: &Policy, to: &str) -> String {
        rcpt(p, &req("192.0.2.7", "a@x.example", to))
    }

    #[test]
    fn mx_ns_and_a_records_in_access_tables() {
        let p = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = check_sender_mx_access inline:{ {127.0.0.9=REJECT bogus mx} }, check_sender_ns_access inline:{ {badhost.example=REJECT bad ns} }, check_helo_a_access inline:{ {10.1.2.3=REJECT private helo} }, permit",
        );
        let check = |from: &str, helo: &str| {
            let mut r = req("192.0.2.7", from, "x@mail.example.test");
            r.helo = Some(helo.into());
            let out = p.check_rcpt(&r, &FakeDns);
            match out.verdict {
                Verdict::Accept => format!("OK {:?}", out.log),
                Verdict::Reject(reply) => reply.to_string(),
            }
        };
        assert_eq!(
            check("a@bogus.example", "other.example"),
            "554 5.7.1 <a@bogus.example>: Sender address rejected: bogus mx"
        );
        assert_eq!(
            check("a@spammy.example", "other.example"),
            "554 5.7.1 <a@spammy.example>: Sender address rejected: bad ns"
        );
        assert_eq!(
            check("a@fine.example", "client.example.com"),
            "554 5.7.1 <client.example.com>: Helo command rejected: private helo"
        );
        // A domain without MX is its own mail server; one without an
        // address is passed over with Postfix's warning.
        assert_eq!(
            check("a@fine.example", "other.example"),
            "OK [\"warning: Unable to look up MX host fine.example for Sender address a@fine.example: Name or service not known\"]"
        );
        // An address literal is checked by its address.
        assert_eq!(
            check("a@fine.example", "[10.1.2.3]"),
            "554 5.7.1 <[10.1.2.3]>: Helo command rejected: private helo"
        );
        // A null MX names no host; an MX host with no address is the name's own check.
        assert_eq!(check("a@nullmx.example", "other.example"), "OK []");
        // A DNS that cannot answer: passed over, with a warning.
        assert_eq!(
            check("a@tempfail.example", "other.example"),
            "OK [\"warning: Unable to look up MX host for tempfail.example: Host not found, try again\", \"warning: Unable to look up NS host for tempfail.example: Host not found, try again\"]"
        );
    }

    #[test]
    fn reverse_names_helo_names_encryption_and_bounces() {
        let p = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = reject_unknown_reverse_client_hostname, reject_unknown_helo_hostname, reject_multi_recipient_bounce, reject_plaintext_session, check_sasl_access inline:{ {bad=REJECT not you} }, permit",
        );
        let mut r = req("192.0.2.7", "a@x.example", "x@mail.example.test");
        r.reverse_client_name = "unknown".into();
        assert_eq!(
            rcpt(&p, &r),
            "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.7]"
        );
        // A PTR name that does not confirm is enough here.
        r.reverse_client_name = "ptr.example".into();
        r.helo = Some("nowhere.example".into());
        assert_eq!(
            rcpt(&p, &r),
            "450 4.7.1 <nowhere.example>: Helo command rejected: Host not found"
        );
        // A name the DNS cannot answer for now: a deferral only if all
        // else permits (or at once, unknown_helo_hostname_tempfail_action
        // = defer).
        r.helo = Some("tempfail.example".into());
        assert_eq!(rcpt(&p, &r), "450 4.7.1 Session encryption is required");
        let at_once = policy(
            "local_recipient_maps =\nunknown_helo_hostname_tempfail_action = defer\nsmtpd_recipient_restrictions = reject_unknown_helo_hostname, reject_plaintext_session",
        );
        assert_eq!(
            rcpt(&at_once, &r),
            "450 4.7.1 <tempfail.example>: Helo command rejected: Host not found"
        );
        r.tls = true;
        assert_eq!(
            rcpt(&p, &r),
            "450 4.7.1 <tempfail.example>: Helo command rejected: Host not found"
        );
        r.helo = Some("[192.0.2.7]".into());
        assert_eq!(rcpt(&p, &r), "OK");
        // The null sender: one recipient, not two.
        r.sender = Some(None);
        assert_eq!(rcpt(&p, &r), "OK");
        r.recipient_count = 1;
        assert_eq!(
            rcpt(&p, &r),
            "550 5.5.3 <x@mail.example.test>: Recipient address rejected: Multi-recipient bounce"
        );
        r.recipient_count = 0;
        let lists = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = reject_rhsbl_reverse_client rhsbl.example, permit",
        );
        r.reverse_client_name = "ptr.bad.example".into();
        assert_eq!(
            rcpt(&lists, &r),
            "554 5.7.1 Service unavailable; Unverified Client host [ptr.bad.example] blocked using rhsbl.example"
        );
        r.sasl_username = Some("bad".into());
        assert_eq!(
            rcpt(&p, &r),
            "554 5.7.1 <bad>: SASL login name rejected: not you"
        );
    }

    /// reject_unknown_sender_domain: a null MX refuses mail (550 5.7.27
    /// for a sender, 556 5.1.10 for a recipient); an MX question that
    /// fails is answered by the domain's address if it has one.
    #[test]
    fn null_mx_and_failed_mx_questions() {
        let p = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = reject_unknown_sender_domain, reject_unknown_recipient_domain, permit",
        );
        assert_eq!(
            rcpt(&p, &req("192.0.2.7", "a@nullmx.example", "x@mail.example.test")),
            "550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)"
        );
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@exists.example", "x@nullmx.example")),
            "556 5.1.10 <x@nullmx.example>: Recipient address rejected: Domain nullmx.example does not accept mail (nullMX)"
        );
        assert_eq!(
            rcpt(
                &p,
                &req("192.0.2.7", "a@mxfail.example", "x@mail.example.test")
            ),
            "OK"
        );
        // An address in brackets has no name servers.
        let ns = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = check_helo_ns_access inline:{ {10.1.2.3=REJECT no} }, permit",
        );
        let mut r = req("192.0.2.7", "a@exists.example", "x@mail.example.test");
        r.helo = Some("[10.1.2.3]".into());
        assert_eq!(rcpt(&ns, &r), "OK");
    }

    #[test]
    fn server_and_reverse_name_tables_may_not_allow() {
        // OK from an MX/NS/A table or a reverse-name table would let a
        // client choose its own way in: Postfix calls it a configuration
        // error.
        let p = policy(
            "local_recipient_maps =\nsmtpd_recipient_restrictions = check_sender_mx_access inline:{ {mx.bogus.example=OK} }, check_reverse_client_hostname_access inline:{ {ptr.example=OK} {ptr.bad.example=REJECT} }, check_helo_mx_access inline:{ {nowhere.badhost.example=REJECT bad mx name} }, permit",
        );
        let mut r = req("192.0.2.7", "a@bogus.example", "x@mail.example.test");
        let out = p.check_rcpt(&r, &FakeDns);
        assert_eq!(
            reply_of(&out.verdict),
            "451 4.3.5 Server configuration error"
        );
        assert_eq!(
            out.log[0],
            "warning: restriction check_sender_mx_access returns OK for a@bogus.example"
        );
        r.sender = Some(Some(mailbox("a@fine.example")));
        r.reverse_client_name = "ptr.example".into();
        assert!(rcpt(&p, &r).starts_with("451 4.3.5 "), "{}", rcpt(&p, &r));
        r.reverse_client_name = "ptr.bad.example".into();
        assert_eq!(
            rcpt(&p, &r),
            "554 5.7.1 <ptr.bad.example>: Unverified Client host rejected: Access denied"
        );
        // An MX host name is checked even when it has no address.
        r.reverse_client_name = "ptr.fine.example".into();
        r.helo = Some("unresolved.example".into());
        assert_eq!(
            rcpt(&p, &r),
            "554 5.7.1 <unresolved.example>: Helo command rejected: bad mx name"
        );
    }

    fn reply_of(v: &Verdict) -> String {
        match v {
            Verdict::Accept => "OK".into(),
            Verdict::Reject(reply) => reply.to_string(),
        }
    }

    #[test]
    fn an_unknown_name_for_now_defers_whatever_the_reject_code() {
        let p = policy(
            "smtpd_client_restrictions = reject_unknown_client_hostname\nunknown_client_reject_code = 550",
        );
        let mut r = req("192.0.2.7", "a@x.example", "x@mail.example.test");
        let check = |r: &Request| match p.check_rcpt(r, &FakeDns).verdict {
            Verdict::Accept => "OK".to_string(),
            Verdict::Reject(reply) => reply.to_string(),
        };
        assert_eq!(
            check(&r),
            "550 5.7.1 Client host rejected: cannot find your hostname, [192.0.2.7]"
        );
        r.client_name_temporary = true;
        assert_eq!(
            check(&r),
            "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.7]"
        );
    }

    #[test]
    fn etrn_restrictions_name_the_site() {
        let p = policy(
            "smtpd_etrn_restrictions = permit_mynetworks, check_etrn_access inline:{{ b.example=REJECT }}, reject_unknown_client_hostname, permit\n\
             smtpd_client_restrictions = check_client_access cidr:{{192.0.2.66 REJECT}}",
        );
        let etrn = |ip: &str, site: &str| {
            let r = Request {
                etrn_site: Some(site.into()),
                sender: None,
                recipient: None,
                ..req(ip, "", "x@y")
            };
            match p.check_etrn(&r, &FakeDns).verdict {
                Verdict::Accept => "OK".into(),
                Verdict::Reject(r) => r.to_string(),
            }
        };
        assert_eq!(etrn("127.0.0.1", "b.example"), "OK");
        assert_eq!(
            etrn("192.0.2.7", "b.example"),
            "554 5.7.1 <b.example>: Etrn command rejected: Access denied"
        );
        assert_eq!(
            etrn("192.0.2.7", "a.example"),
            "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.7]"
        );
        assert_eq!(
            etrn("192.0.2.66", "a.example"),
            "554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: Access denied"
        );
    }

    #[test]
    fn relay_from_mynetworks_only() {
        let p = policy("");
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@x.example", "x@remote.example")),
            "OK"
        );
        assert_eq!(
            rcpt(&p, &req("::1", "a@x.example", "x@remote.example")),
            "OK"
        );
        assert_eq!(
            rcpt(&p, &req("192.0.2.1", "a@x.example", "x@remote.example")),
            "454 4.7.1 <x@remote.example>: Relay access denied"
        );
        // Local mail is accepted from anywhere.
        assert_eq!(
            rcpt(
                &p,
                &req("192.0.2.1", "a@x.example", "alice@mail.example.test")
            ),
            "OK"
        );
        assert_eq!(rcpt(&p, &req("192.0.2.1", "", "root@localhost")), "OK");
        assert_eq!(rcpt(&p, &req("192.0.2.1", "", "root@[127.0.0.1]")), "OK");
        let strict =
            policy("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination");
        assert_eq!(
            rcpt(
                &strict,
                &req("192.0.2.1", "a@x.example", "x@remote.example")
            ),
            "554 5.7.1 <x@remote.example>: Relay access denied"
        );
        let relay = policy("relay_domains = relay.example");
        assert_eq!(
            rcpt(
                &relay,
                &req("192.0.2.1", "a@x.example", "x@sub.relay.example")
            ),
            "OK"
        );
        let auth = policy("smtpd_relay_restrictions = permit_auth_destination, reject");
        assert_eq!(
            rcpt(
                &auth,
                &req("192.0.2.1", "a@x.example", "alice@mail.example.test")
            ),
            "OK"
        );
        assert_eq!(
            rcpt(&auth, &req("127.0.0.1", "a@x.example", "x@remote.example")),
            "554 5.7.1 <x@remote.example>: Recipient address rejected: Access denied"
        );
    }

    #[test]
    fn unlisted_recipient_with_extension() {
        let p = policy("");
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@x.example", "bob@mail.example.test")),
            "550 5.1.1 <bob@mail.example.test>: Recipient address rejected: User unknown in local recipient table"
        );
        assert_eq!(
            rcpt(
                &p,
                &req("127.0.0.1", "a@x.example", "alice+tag@mail.example.test")
            ),
            "OK"
        );
        assert_eq!(
            rcpt(
                &p,
                &req(
                    "127.0.0.1",
                    "a@x.example",
                    "double-bounce@mail.example.test"
                )
            ),
            "OK"
        );
        let off = policy("smtpd_reject_unlisted_recipient = no");
        assert_eq!(
            rcpt(
                &off,
                &req("127.0.0.1", "a@x.example", "bob@mail.example.test")
            ),
            "OK"
        );
        let failing = policy("local_recipient_maps = fail:x");
        assert_eq!(
            rcpt(
                &failing,
                &req("127.0.0.1", "a@x.example", "bob@mail.example.test")
            ),
            "451 4.3.0 <bob@mail.example.test>: Temporary lookup failure"
        );
    }

    #[test]
    fn fqdn_and_hostname_checks() {
        let p = policy("smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname\nsmtpd_sender_restrictions = reject_non_fqdn_sender\nsmtpd_recipient_restrictions = reject_non_fqdn_recipient");
        let mut r = req("127.0.0.1", "a", "x@remote.example");
        assert_eq!(
            rcpt(&p, &r),
            "504 5.5.2 <a>: Sender address rejected: need fully-qualified address"
        );
        r.sender = Some(None);
        r.recipient = Some(mailbox("x"));
        assert_eq!(
            rcpt(&p, &r),
            "504 5.5.2 <x>: Recipient address rejected: need fully-qualified address"
        );
        r.helo = Some("foo".into());
        assert_eq!(
            rcpt(&p, &r),
            "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"
        );
        r.helo = Some("bad_host!".into());
        assert_eq!(
            rcpt(&p, &r),
            "501 5.5.2 <bad_host!>: Helo command rejected: Invalid name"
        );
        r.helo = Some("[127.0.0.1]".into());
        r.recipient = Some(mailbox("x@remote.example"));
        assert_eq!(rcpt(&p, &r), "OK");
    }

    #[test]
    fn unknown_domains_and_defer_if_permit() {
        let p = policy("smtpd_recipient_restrictions = reject_unknown_sender_domain, reject_unknown_recipient_domain");
        assert_eq!(
            rcpt(
                &p,
                &req("127.0.0.1", "a@exists.example", "x@exists.example")
            ),
            "OK"
        );
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@nx.example", "x@exists.example")),
            "450 4.1.8 <a@nx.example>: Sender address rejected: Domain not found"
        );
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@exists.example", "x@nx.example")),
            "450 4.1.2 <x@nx.example>: Recipient address rejected: Domain not found"
        );
        assert_eq!(
            rcpt(
                &p,
                &req("127.0.0.1", "a@tempfail.example", "x@exists.example")
            ),
            "450 4.1.8 <a@tempfail.example>: Sender address rejected: Domain not found"
        );
        // Local domains are not looked up.
        assert_eq!(
            rcpt(
                &p,
                &req(
                    "127.0.0.1",
                    "a@mail.example.test",
                    "alice@mail.example.test"
                )
            ),
            "OK"
        );
        let code = policy("unknown_address_reject_code = 550\nsmtpd_sender_restrictions = reject_unknown_sender_domain");
        assert_eq!(
            rcpt(&code, &req("127.0.0.1", "a@nx.example", "x@exists.example")),
            "550 5.1.8 <a@nx.example>: Sender address rejected: Domain not found"
        );
    }

    #[test]
    fn access_tables_and_generic_actions() {
        let p = policy("smtpd_client_restrictions = check_client_access inline:{192.0.2.66=REJECT}\nsmtpd_recipient_restrictions = check_recipient_access inline:{ rej@x.example=REJECT, def@x.example=DEFER, {txt@x.example=550 5.7.9 go away}, {d2@x.example=DEFER custom}, ok@remote.example=OK, x.example=DUNNO, {cls@y.example=permit_mynetworks, reject}, {alice@mail.example.test=permit_mynetworks, reject} }, check_sender_access inline:{ {spam.example=REJECT no spam here}, {<>=550 no bounces}}, permit");
        let r = |from: &str, to: &str| rcpt(&p, &req("127.0.0.1", from, to));
        assert_eq!(
            r("a@b.example", "rej@x.example"),
            "554 5.7.1 <rej@x.example>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            r("a@b.example", "def@x.example"),
            "450 4.7.1 <def@x.example>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            r("a@b.example", "txt@x.example"),
            "550 5.7.9 <txt@x.example>: Recipient address rejected: go away"
        );
        assert_eq!(
            r("a@b.example", "d2@x.example"),
            "450 4.7.1 <d2@x.example>: Recipient address rejected: custom"
        );
        assert_eq!(r("a@b.example", "other@x.example"), "OK");
        assert_eq!(r("a@b.example", "cls@y.example"), "OK");
        assert_eq!(
            rcpt(
                &p,
                &req("192.0.2.9", "a@b.example", "alice@mail.example.test")
            ),
            "554 5.7.1 <alice@mail.example.test>: Recipient address rejected: Access denied"
        );
        assert_eq!(
            r("u@mx.spam.example", "z@y.example"),
            "554 5.7.1 <u@mx.spam.example>: Sender address rejected: no spam here"
        );
        assert_eq!(
            r("", "z@y.example"),
            "550 5.7.1 <<>>: Sender address rejected: no bounces"
        );
        assert_eq!(
            rcpt(&p, &req("192.0.2.66", "a@b.example", "x@mail.example.test")),
            "554 5.7.1 <unknown[192.0.2.66]>: Client host rejected: Access denied"
        );
    }

    #[test]
    fn generic_reject_defer_pipelining_and_unknown() {
        let p = policy("smtpd_client_restrictions = permit_mynetworks, reject");
        assert_eq!(
            rcpt(&p, &req("127.0.0.1", "a@b.example", "x@remote.example")),
            "OK"
        );
        assert_eq!(
            rcpt(&p, &req("192.0.2.1", "a@b.example", "x@remote.example")),
            "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied"
        );
        let d = policy("smtpd_sender_restrictions = defer");
        assert_eq!(
            rcpt(&d, &req("127.0.0.1", "a@b.example", "x@remote.example")),
            "450 4.7.1 <a@b.example>: Sender address rejected: Access denied"
        );
        let w = policy("smtpd_sender_restrictions = warn_if_reject reject_non_fqdn_sender");
        let out = w.check_rcpt(&req("127.0.0.1", "a", "x@remote.example"), &FakeDns);
        assert_eq!(out.verdict, Verdict::Accept);
        assert!(
            out.log[0].starts_with("reject_warning: 504 5.5.2 <a>"),
            "{:?}",
            out.log
        );
        let pipe = policy("smtpd_data_restrictions = reject_unauth_pipelining");
        let mut r = req("127.0.0.1", "a@b.example", "x@remote.example");
        assert_eq!(pipe.check_data(&r, &FakeDns).verdict, Verdict::Accept);
        r.illegal_pipelining = true;
        assert_eq!(
            pipe.check_data(&r, &FakeDns).verdict,
            Verdict::Reject(Reply::new(
                503,
                Some((5, 5, 0)),
                "<DATA>: Data command rejected: Improper use of SMTP command pipelining"
            ))
        );
        let sasl = policy(
            "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination",
        );
        let mut r = req("192.0.2.1", "a@b.example", "x@remote.example");
        assert!(rcpt(&sasl, &r).starts_with("554 5.7.1"));
        r.sasl_authenticated = true;
        assert_eq!(rcpt(&sasl, &r), "OK");
        let (unknown, warnings) =
            Policy::from_config(&config("smtpd_client_restrictions = frobnicate")).expect("policy");
        assert_eq!(warnings, ["unknown smtpd restriction: \"frobnicate\""]);
        assert_eq!(
            rcpt(
                &unknown,
                &req("127.0.0.1", "a@b.example", "x@remote.example")
            ),
            "451 4.3.5 Server configuration error"
        );
        let soft = policy("soft_bounce = yes\nsmtpd_client_restrictions = reject");
        assert!(
            rcpt(&soft, &req("127.0.0.1", "a@b.example", "x@y.example")).starts_with("454 4.7.1 ")
        );
    }

    fn login(p: &Policy, user: Option<&str>, from: &str) -> String {
        let mut r = req("127.0.0.1", from, "x@remote.example");
        r.sasl_authenticated = user.is_some();
        r.sasl_username = user.map(str::to_string);
        rcpt(p, &r)
    }

    const LOGIN_MAPS: &str = "smtpd_sasl_auth_enable = yes\nsmtpd_sender_login_maps = inline:{ alice@x.example=alice, {shared@x.example=alice, BOB}, @team.example=bob, carol=carol }\n";

    #[test]
    fn sender_login_mismatch() {
        let p = policy(&format!(
            "{LOGIN_MAPS}smtpd_sender_restrictions = reject_sender_login_mismatch"
        ));
        let not_logged_in = "553 5.7.1 <alice@x.example>: Sender address rejected: not logged in";
        assert_eq!(login(&p, None, "alice@x.example"), not_logged_in);
        assert_eq!(
            login(&p, None, "alice+tag@X.Example"),
            "553 5.7.1 <alice+tag@X.Example>: Sender address rejected: not logged in"
        );
        assert_eq!(login(&p, None, "nobody@else.example"), "OK");
        assert_eq!(login(&p, None, ""), "OK");
        assert_eq!(login(&p, Some("alice"), "alice@x.example"), "OK");
        assert_eq!(login(&p, Some("alice"), "alice+tag@x.example"), "OK");
        assert_eq!(login(&p, Some("alice"), "shared@x.example"), "OK");
        assert_eq!(login(&p, Some("bob"), "shared@x.example"), "OK");
        assert_eq!(login(&p, Some("Alice"), "alice@x.example"), "OK");
        assert_eq!(login(&p, Some("bob"), "anyone@team.example"), "OK");
        assert_eq!(
            login(&p, Some("alice"), "anyone@team.example"),
            "553 5.7.1 <anyone@team.example>: Sender address rejected: not owned by user alice"
        );
        // Authenticated: an address without an owner is refused too.
        assert_eq!(
            login(&p, Some("alice"), "nobody@else.example"),
            "553 5.7.1 <nobody@else.example>: Sender address rejected: not owned by user alice"
        );
        assert_eq!(login(&p, Some("alice"), ""), "OK");
        // The local part alone, for $myorigin and local domains only.
        assert_eq!(login(&p, Some("carol"), "carol+x@mail.example.test"), "OK");
        assert_eq!(login(&p, Some("carol"), "carol"), "OK");
        assert_eq!(
            login(&p, Some("carol"), "carol@example.test"),
            "553 5.7.1 <carol@example.test>: Sender address rejected: not owned by user carol"
        );
        assert_eq!(
            login(&p, None, "carol@localhost"),
            "553 5.7.1 <carol@localhost>: Sender address rejected: not logged in"
        );

        let known = policy(&format!(
            "{LOGIN_MAPS}smtpd_recipient_restrictions = reject_known_sender_login_mismatch, permit_mynetworks, reject_unauth_destination"
        ));
        assert_eq!(login(&known, Some("alice"), "nobody@else.example"), "OK");
        assert_eq!(
            login(&known, Some("alice"), "bob@team.example"),
            "553 5.7.1 <bob@team.example>: Sender address rejected: not owned by user alice"
        );
        assert_eq!(login(&known, None, "alice@x.example"), not_logged_in);
        assert_eq!(login(&known, None, "nobody@else.example"), "OK");

        let auth = policy(&format!(
            "{LOGIN_MAPS}smtpd_sender_restrictions = reject_authenticated_sender_login_mismatch"
        ));
        assert_eq!(login(&auth, None, "alice@x.example"), "OK");
        assert!(login(&auth, Some("bob"), "alice@x.example").starts_with("553 5.7.1 "));
        let unauth = policy(&format!(
            "{LOGIN_MAPS}smtpd_sender_restrictions = reject_unauthenticated_sender_login_mismatch"
        ));
        assert_eq!(login(&unauth, None, "alice@x.example"), not_logged_in);
        assert_eq!(login(&unauth, Some("bob"), "alice@x.example"), "OK");

        // warn_if_reject and soft_bounce apply as to any reject.
        let warn = policy(&format!(
            "{LOGIN_MAPS}smtpd_sender_restrictions = warn_if_reject, reject_sender_login_mismatch"
        ));
        let out = warn.check_rcpt(
            &req("127.0.0.1", "alice@x.example", "x@remote.example"),
            &FakeDns,
        );
        assert_eq!(out.verdict, Verdict::Accept);
        assert_eq!(out.log, [format!("reject_warning: {not_logged_in}")]);

        // No maps: nothing to check. No SASL: ignored with a warning.
        let none = policy("smtpd_sasl_auth_enable = yes\nsmtpd_sender_restrictions = reject_sender_login_mismatch");
        assert_eq!(login(&none, Some("alice"), "bob@team.example"), "OK");
        let off = policy("smtpd_sender_login_maps = inline:{alice@x.example=alice}\nsmtpd_sender_restrictions = reject_sender_login_mismatch");
        let out = off.check_rcpt(
            &req("127.0.0.1", "alice@x.example", "x@remote.example"),
            &FakeDns,
        );
        assert_eq!(out.verdict, Verdict::Accept);
        assert_eq!(
            out.log,
            [
                "warning: restriction `reject_authenticated_sender_login_mismatch' ignored: no SASL support",
                "warning: restriction `reject_unauthenticated_sender_login_mismatch' ignored: no SASL support"
            ]
        );
        let failing = policy("smtpd_sasl_auth_enable = yes\nsmtpd_sender_login_maps = fail:x\nsmtpd_sender_restrictions = reject_sender_login_mismatch");
        assert_eq!(
            login(&failing, Some("alice"), "a@b.example"),
            "451 4.3.0 <a@b.example>: Temporary lookup failure"
        );
    }

    #[test]
    fn sasl_exceptions_networks_list() {
        let p = policy(
            "smtpd_sasl_exceptions_networks = !192.0.2.9, 192.0.2.0/24, inline:{ 198.51.100.7=x }",
        );
        let m = |ip: &str| {
            p.sasl_exceptions
                .as_ref()
                .is_some_and(|l| l.matches("unknown", ip.parse().ok()))
        };
        assert!(m("192.0.2.1") && m("198.51.100.7"));
        assert!(!m("192.0.2.9") && !m("127.0.0.1"));
        assert!(policy("").sasl_exceptions.is_none());
    }

    #[test]
    fn classes_and_the_relay_safety_check() {
        let p = policy("smtpd_restriction_classes = strict\nstrict = reject_non_fqdn_sender, permit\nsmtpd_sender_restrictions = strict");
        assert!(rcpt(&p, &req("127.0.0.1", "a", "x@y.example")).starts_with("504 5.5.2"));
        assert!(Policy::from_config(&config("smtpd_relay_restrictions = permit_mynetworks\nsmtpd_recipient_restrictions = permit_mynetworks")).is_err());
    }

    #[test]
    fn policy_requests_name_the_etrn_site_and_the_client_certificate() {
        let p = policy("");
        let mut r = req("192.0.2.1", "a@b.example", "x@y.example");
        r.etrn_site = Some("site.example".into());
        r.client_cert = Some(tls::ClientCert {
            fingerprint: "AB:CD".into(),
            key_fingerprint: Some("EF:01".into()),
            trusted: false,
        });
        let e = p.eval(&r, &FakeDns);
        let attrs = e.policy_attributes();
        let get = |n: &str| {
            attrs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
                .expect(n)
        };
        assert_eq!(get("etrn_domain"), "site.example");
        assert_eq!(get("ccert_fingerprint"), "AB:CD");
        assert_eq!(get("ccert_pubkey_fingerprint"), "EF:01");
    }
}
