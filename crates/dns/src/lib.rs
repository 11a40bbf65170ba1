//! DNS for the SMTP client (and smtpd's DNS lists), on hickory-resolver, with Postfix's rules for
//! what a failure means.
//!
//! * [`Resolver::mx_hosts`]: the mail exchangers of a domain, sorted by
//!   preference with equal preferences in random order, each with its
//!   addresses; a domain without MX records is its own (and only) mail
//!   exchanger (RFC 5321 §5.1); a null MX (RFC 7505, `0 .`) is a bounce.
//! * [`Resolver::host`]: the addresses of one host (for `[host]` next hops),
//!   by DNS or by the system's getaddrinfo (`smtp_host_lookup = native`).
//! * [`Resolver::list_entry`] and [`Resolver::txt`]: DNS block and allow
//!   lists for smtpd (`reject_rbl_client` and friends).
//! * `inet_protocols` (ipv4, ipv6, all) filters every answer, and a
//!   [`ReplyFilter`] (`smtp_dns_reply_filter` and friends) may drop records
//!   from it.
//!
//! Every failure is a [`DnsError`] that says whether it is permanent
//! (NXDOMAIN, no address record, null MX: bounce) or temporary (SERVFAIL,
//! timeouts, no answer: defer), with Postfix's texts ("Host or domain name
//! not found. Name service error for name=… type=MX: Host not found, try
//! again").
//!
//! The resolver reads `/etc/resolv.conf` unless [`Options::server`] names
//! one server (`dns_resolver_address`, a mailsuite extension the tests use
//! to point at a DNS server on loopback).
//!
//! hickory 0.25 has only an async API. The SMTP client is a blocking,
//! one-request-at-a-time process, so each [`Resolver`] owns a tokio
//! current-thread runtime and blocks on each query: no extra threads, no
//! async in the callers, and the queries of one lookup (A and AAAA) still
//! run concurrently inside the runtime.

mod filter;
pub mod list;

pub use filter::{record_text, ReplyFilter};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, ResolveErrorKind, TokioResolver};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which address families to use (`inet_protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    All,
}

impl Family {
    /// From the words of `inet_protocols` (`ipv4`, `ipv6`, `all`); unknown
    /// words are ignored, nothing usable means all.
    pub fn from_protocols<S: AsRef<str>>(words: &[S]) -> Family {
        let (mut v4, mut v6) = (false, false);
        for w in words {
            match w.as_ref().to_ascii_lowercase().as_str() {
                "all" => {
                    v4 = true;
                    v6 = true;
                }
                "ipv4" => v4 = true,
                "ipv6" => v6 = true,
                _ => {}
            }
        }
        match (v4, v6) {
            (true, false) => Family::V4,
            (false, true) => Family::V6,
            _ => Family::All,
        }
    }

    pub fn allows(self, ip: &IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
            Family::All => true,
        }
    }
}

/// How host addresses are looked up (`smtp_host_lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostLookup {
    Dns,
    Native,
}

impl HostLookup {
    /// The mechanisms named in `smtp_host_lookup`, in order; `dns` when
    /// none is recognised.
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Vec<HostLookup> {
        let mut v = Vec::new();
        for w in words {
            let m = match w.as_ref().to_ascii_lowercase().as_str() {
                "dns" => HostLookup::Dns,
                "native" => HostLookup::Native,
                _ => continue,
            };
            if !v.contains(&m) {
                v.push(m);
            }
        }
        if v.is_empty() {
            v.push(HostLookup::Dns);
        }
        v
    }
}

/// Resolver settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// One DNS server to ask instead of those in /etc/resolv.conf.
    pub server: Option<SocketAddr>,
    pub family: Family,
    /// How to find a host's addresses, in order of preference.
    pub host_lookup: Vec<HostLookup>,
    /// False: no MX lookups at all (`disable_dns_lookups`,
    /// `smtp_dns_support_level = disabled`); hosts by getaddrinfo.
    pub mx_lookups: bool,
    /// Per query try.
    pub timeout: Duration,
    pub attempts: usize,
    /// Shuffle equal-preference MX hosts (`smtp_randomize_addresses`).
    pub randomize: bool,
    /// `ignore_mx_lookup_error`: an MX look-up that gets no answer falls
    /// back to the domain's own address instead of waiting.
    pub ignore_mx_lookup_error: bool,
    /// `smtp_defer_if_no_mx_address_found`: when no MX host has an
    /// address, wait rather than return the mail.
    pub defer_if_no_mx_address: bool,
    /// `*_dns_reply_filter`: records to ignore in every answer.
    pub reply_filter: Option<ReplyFilter>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server: None,
            family: Family::All,
            host_lookup: vec![HostLookup::Dns],
            mx_lookups: true,
            timeout: Duration::from_secs(5),
            attempts: 2,
            randomize: true,
            ignore_mx_lookup_error: false,
            defer_if_no_mx_address: false,
            reply_filter: None,
        }
    }
}

/// Parses `dns_resolver_address`: `ip:port`, `[ipv6]:port`, or a bare
/// address (port 53).
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

/// Whether a failure is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Try again later (SERVFAIL, timeout, no server answered).
    Temporary,
    /// Never going to work (NXDOMAIN, no address, null MX).
    Permanent,
    /// The reply filter ignored every record (Postfix's DNS_POLICY): the
    /// SMTP client waits (4.7.0), smtpd warns and lets the check pass.
    Policy,
}

/// A lookup that failed, with the DSN status and Postfix's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsError {
    pub severity: Severity,
    /// RFC 3463 status: 4.4.3 (temporary), 5.4.4 (not found), 5.1.0 (null MX).
    pub dsn: &'static str,
    pub text: String,
}

impl DnsError {
    pub fn is_permanent(&self) -> bool {
        self.severity == Severity::Permanent
    }

    fn temporary(text: String) -> DnsError {
        DnsError {
            severity: Severity::Temporary,
            dsn: "4.4.3",
            text,
        }
    }

    fn permanent(dsn: &'static str, text: String) -> DnsError {
        DnsError {
            severity: Severity::Permanent,
            dsn,
            text,
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DnsError {}

/// The resolver could not be set up (unreadable resolv.conf).
#[derive(Debug)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNS resolver set-up: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// One mail exchanger (or the host itself) and its usable addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The host name as found (no trailing dot), or the address literal.
    pub name: String,
    pub preference: u16,
    pub addrs: Vec<IpAddr>,
}

/// What one DNS query returned.
enum Answer<T> {
    Records(Vec<T>),
    /// The name exists but has no record of this type.
    NoData,
    NxDomain,
    Fail,
    /// The reply filter ignored every record (Postfix's DNS_POLICY).
    Dropped,
    /// The reply filter failed (an unknown action, a table error).
    FilterFailed,
}

/// The DNS resolver of one process.
pub struct Resolver {
    rt: tokio::runtime::Runtime,
    inner: Option<TokioResolver>,
    opts: Options,
    seed: std::cell::Cell<u64>,
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn classify<T>(r: Result<Vec<T>, ResolveError>) -> Answer<T> {
    match r {
        Ok(v) if v.is_empty() => Answer::NoData,
        Ok(v) => Answer::Records(v),
        Err(e) => {
            if let ResolveErrorKind::Proto(p) = e.kind() {
                if let ProtoErrorKind::NoRecordsFound { response_code, .. } = p.kind() {
                    return match *response_code {
                        ResponseCode::NXDomain => Answer::NxDomain,
                        ResponseCode::NoError => Answer::NoData,
                        _ => Answer::Fail,
                    };
                }
            }
            Answer::Fail
        }
    }
}

fn not_found(name: &str, rtype: &str) -> DnsError {
    DnsError::permanent(
        "5.4.4",
        format!("Host or domain name not found. Name service error for name={name} type={rtype}: Host not found"),
    )
}

fn no_data(name: &str, rtype: &str) -> DnsError {
    DnsError::permanent(
        "5.4.4",
        format!(
            "Host or domain name not found. Name service error for name={name} type={rtype}: Host found but no data record of requested type"
        ),
    )
}

/// Every record was ignored by the reply filter: the mail waits (4.7.0).
fn dropped(name: &str, rtype: &str) -> DnsError {
    DnsError {
        severity: Severity::Policy,
        dsn: "4.7.0",
        text: format!(
            "Error looking up name={name} type={rtype}: DNS reply filter drops all results"
        ),
    }
}

fn filter_failed(name: &str, rtype: &str) -> DnsError {
    DnsError::temporary(format!(
        "Error looking up name={name} type={rtype}: Invalid DNS reply filter syntax"
    ))
}

fn try_again(name: &str, rtype: &str) -> DnsError {
    DnsError::temporary(format!(
        "Host or domain name not found. Name service error for name={name} type={rtype}: Host not found, try again"
    ))
}

impl Resolver {
    /// Builds a resolver: `/etc/resolv.conf`, or the one server in
    /// `opts.server`.
    pub fn new(opts: Options) -> Result<Resolver, SetupError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        let inner = if opts.mx_lookups || opts.host_lookup.contains(&HostLookup::Dns) {
            let _guard = rt.enter();
            let (config, mut ropts) = match opts.server {
                Some(addr) => {
                    let group =
                        NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                    (
                        ResolverConfig::from_parts(None, vec![], group),
                        ResolverOpts::default(),
                    )
                }
                None => hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| SetupError(format!("/etc/resolv.conf: {e}")))?,
            };
            ropts.timeout = opts.timeout;
            ropts.attempts = opts.attempts.max(1);
            // Names are always absolute here: no search list.
            ropts.ndots = 0;
            ropts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
            Some(
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                    .with_options(ropts)
                    .build(),
            )
        } else {
            None
        };
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish() | 1
        };
        Ok(Resolver {
            rt,
            inner,
            opts,
            seed: std::cell::Cell::new(seed),
        })
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn random(&self) -> u64 {
        // xorshift64*
        let mut x = self.seed.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn shuffle<T>(&self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.random() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }

    /// The records of one type for `name`, after the reply filter.
    fn query(&self, r: &TokioResolver, name: &str, rtype: RecordType) -> Answer<Record> {
        let res = self.rt.block_on(r.lookup(fqdn(name), rtype));
        self.filtered(res, rtype)
    }

    /// The records of type `rtype` in an answer, after the reply filter.
    fn filtered(
        &self,
        res: Result<hickory_resolver::lookup::Lookup, ResolveError>,
        rtype: RecordType,
    ) -> Answer<Record> {
        let res = res.map(|l| {
            l.records()
                .iter()
                .filter(|rr| rr.record_type() == rtype)
                .cloned()
                .collect::<Vec<_>>()
        });
        match (classify(res), &self.opts.reply_filter) {
            (Answer::Records(v), Some(f)) => match f.apply(v) {
                Ok(kept) if kept.is_empty() => Answer::Dropped,
                Ok(kept) => Answer::Records(kept),
                Err(_) => Answer::FilterFailed,
            },
            (answer, _) => answer,
        }
    }

    /// The records' data of one kind (`pick` says which and how).
    fn query_data<T>(
        &self,
        r: &TokioResolver,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Answer<T> {
        match self.query(r, name, rtype) {
            Answer::Records(v) => {
                Answer::Records(v.iter().filter_map(|rr| pick(rr.data())).collect())
            }
            Answer::NoData => Answer::NoData,
            Answer::NxDomain => Answer::NxDomain,
            Answer::Fail => Answer::Fail,
            Answer::Dropped => Answer::Dropped,
            Answer::FilterFailed => Answer::FilterFailed,
        }
    }

    fn mx_query(&self, r: &TokioResolver, domain: &str) -> Answer<(u16, String)> {
        self.query_data(r, domain, RecordType::MX, |d| match d {
            RData::MX(mx) => {
                let name = mx.exchange().to_ascii();
                Some((mx.preference(), name.trim_end_matches('.').to_string()))
            }
            _ => None,
        })
    }

    fn ns_query(&self, r: &TokioResolver, domain: &str) -> Answer<String> {
        self.query_data(r, domain, RecordType::NS, |d| match d {
            RData::NS(ns) => Some(ns.0.to_ascii().trim_end_matches('.').to_string()),
            _ => None,
        })
    }

    /// A and AAAA (as `family` allows) by DNS.
    fn dns_addresses(&self, r: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = fqdn(host);
        let want4 = self.opts.family != Family::V6;
        let want6 = self.opts.family != Family::V4;
        let (a, aaaa) = self.rt.block_on(async {
            let a = async {
                if want4 {
                    Some(r.lookup(name.clone(), RecordType::A).await)
                } else {
                    None
                }
            };
            let aaaa = async {
                if want6 {
                    Some(r.lookup(name.clone(), RecordType::AAAA).await)
                } else {
                    None
                }
            };
            tokio::join!(a, aaaa)
        });
        let mut addrs = Vec::new();
        let (mut temp, mut filter_fail, mut all_dropped) = (None, None, None);
        let mut nx = false;
        let mut last_type = "A";
        for (res, rtype, name) in [(a, RecordType::A, "A"), (aaaa, RecordType::AAAA, "AAAA")] {
            let Some(res) = res else { continue };
            last_type = name;
            match self.filtered(res, rtype) {
                Answer::Records(v) => addrs.extend(v.iter().filter_map(|rr| match rr.data() {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })),
                Answer::NoData => {}
                Answer::NxDomain => nx = true,
                Answer::Fail => temp = Some(name),
                Answer::FilterFailed => filter_fail = Some(name),
                Answer::Dropped => all_dropped = Some(name),
            }
        }
        addrs.retain(|ip| self.opts.family.allows(ip));
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        if let Some(rtype) = temp {
            return Err(try_again(host, rtype));
        }
        if let Some(rtype) = filter_fail {
            return Err(filter_failed(host, rtype));
        }
        if let Some(rtype) = all_dropped {
            return Err(dropped(host, rtype));
        }
        if nx {
            return Err(not_found(host, last_type));
        }
        Err(no_data(host, last_type))
    }

    /// getaddrinfo(3).
    fn native_addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let mut addrs = native::lookup(host).map_err(|e| match e {
            native::Error::NotFound => not_found(host, "A"),
            native::Error::NoData => no_data(host, "A"),
            native::Error::Again(t) => DnsError::temporary(format!(
                "Host or domain name not found. Name service error for name={host} type=A: {t}"
            )),
        })?;
        addrs.retain(|ip| self.opts.family.allows(ip));
        if addrs.is_empty() {
            return Err(no_data(host, "A"));
        }
        Ok(addrs)
    }

    /// A DNS list's entry (`4.3.2.1.zen.example`, `domain.dbl.example`):
    /// its A records, or `None` when the name is not listed (NXDOMAIN or no
    /// A record). For smtpd's `reject_rbl_client` and friends.
    pub fn list_entry(&self, name: &str) -> Result<Option<Vec<std::net::Ipv4Addr>>, DnsError> {
        let Some(r) = &self.inner else {
            return Err(try_again(name, "A"));
        };
        let answer = self.query_data(r, name, RecordType::A, |d| match d {
            RData::A(a) => Some(a.0),
            _ => None,
        });
        match answer {
            Answer::Records(v) => Ok(Some(v)),
            // A list whose every answer the filter ignores does not list.
            Answer::NoData | Answer::NxDomain | Answer::Dropped => Ok(None),
            Answer::Fail => Err(try_again(name, "A")),
            Answer::FilterFailed => Err(filter_failed(name, "A")),
        }
    }

    /// The first TXT record of `name`, its strings joined (a DNS list's
    /// reason for a listing); `None` when there is none or the query fails.
    pub fn txt(&self, name: &str) -> Option<String> {
        let r = self.inner.as_ref()?;
        let answer = self.query_data(r, name, RecordType::TXT, |d| match d {
            RData::TXT(t) => {
                let text: Vec<u8> = t
                    .txt_data()
                    .iter()
                    .flat_map(|d| d.iter().copied())
                    .collect();
                Some(String::from_utf8_lossy(&text).into_owned())
            }
            _ => None,
        });
        match answer {
            Answer::Records(v) => v.into_iter().next(),
            _ => None,
        }
    }

    /// The addresses of one host, by the `smtp_host_lookup` mechanisms in
    /// order (the next is tried when one finds nothing). An IP address is
    /// returned as is.
    pub fn host_addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return if self.opts.family.allows(&ip) {
                Ok(vec![ip])
            } else {
                Err(DnsError::permanent(
                    "5.4.4",
                    format!("{host}: address family not enabled by inet_protocols"),
                ))
            };
        }
        let mut last = None;
        let mechanisms: Vec<HostLookup> = if self.inner.is_some() {
            self.opts.host_lookup.clone()
        } else {
            vec![HostLookup::Native]
        };
        for m in mechanisms {
            let r = match (m, &self.inner) {
                (HostLookup::Dns, Some(r)) => self.dns_addresses(r, host),
                (HostLookup::Dns, None) => continue,
                (HostLookup::Native, _) => self.native_addresses(host),
            };
            match r {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| not_found(host, "A")))
    }

    /// One host without MX lookup (`[host]` next hops).
    pub fn host(&self, host: &str) -> Result<Host, DnsError> {
        Ok(Host {
            name: host.to_string(),
            preference: 0,
            addrs: self.host_addresses(host)?,
        })
    }

    /// The MX records of `domain` only (no fallback to its address), by
    /// preference, with each host name (empty for a null MX): None when
    /// the domain has no MX record or does not exist.
    pub fn mx_records(&self, domain: &str) -> Result<Option<Vec<(u16, String)>>, DnsError> {
        let domain = domain.trim_end_matches('.');
        let Some(r) = self.inner.as_ref() else {
            return Err(try_again(domain, "MX"));
        };
        match self.mx_query(r, domain) {
            Answer::Records(mut v) => {
                v.sort_by_key(|(p, _)| *p);
                Ok(Some(v))
            }
            Answer::NoData | Answer::NxDomain => Ok(None),
            Answer::Fail => Err(try_again(domain, "MX")),
            Answer::Dropped => Err(dropped(domain, "MX")),
            Answer::FilterFailed => Err(filter_failed(domain, "MX")),
        }
    }

    /// The names of the name servers of `domain` (NS), or of its closest
    /// parent that has some (as Postfix's check_*_ns_access looks).
    pub fn ns_names(&self, domain: &str) -> Result<Vec<String>, DnsError> {
        let Some(r) = self.inner.as_ref() else {
            return Err(try_again(domain, "NS"));
        };
        let mut name = domain.trim_end_matches('.');
        loop {
            match self.ns_query(r, name) {
                Answer::Records(v) => return Ok(v),
                Answer::NoData | Answer::NxDomain => match name.split_once('.') {
                    Some((_, parent)) if parent.contains('.') => name = parent,
                    _ => return Err(not_found(domain, "NS")),
                },
                Answer::Fail => return Err(try_again(domain, "NS")),
                Answer::Dropped => return Err(dropped(domain, "NS")),
                Answer::FilterFailed => return Err(filter_failed(domain, "NS")),
            }
        }
    }

    /// The mail exchangers of `domain`, best first, each with its
    /// addresses. Hosts whose addresses cannot be found are left out; when
    /// none is left, the error is temporary if any host's was (the mail
    /// waits, as Postfix's does), else the last host's.
    pub fn mx_hosts(&self, domain: &str) -> Result<Vec<Host>, DnsError> {
        let domain = domain.trim_end_matches('.');
        let Some(r) = self.inner.as_ref().filter(|_| self.opts.mx_lookups) else {
            return Ok(vec![self.host(domain)?]);
        };
        let mut mx = match self.mx_query(r, domain) {
            Answer::Records(v) => v,
            Answer::NoData => return Ok(vec![self.host(domain)?]),
            Answer::NxDomain => return Err(not_found(domain, "MX")),
            Answer::Fail if self.opts.ignore_mx_lookup_error => {
                return Ok(vec![self.host(domain)?])
            }
            Answer::Fail => return Err(try_again(domain, "MX")),
            Answer::Dropped => return Err(dropped(domain, "MX")),
            Answer::FilterFailed => return Err(filter_failed(domain, "MX")),
        };
        // RFC 7505: a single MX with an empty exchange ("."): no mail.
        if mx.iter().any(|(_, name)| name.is_empty()) {
            return Err(DnsError::permanent(
                "5.1.0",
                format!("Domain {domain} does not accept mail (nullMX)"),
            ));
        }
        mx.sort_by_key(|(p, _)| *p);
        if self.opts.randomize {
            let mut i = 0;
            while i < mx.len() {
                let mut j = i;
                while j < mx.len() && mx[j].0 == mx[i].0 {
                    j += 1;
                }
                self.shuffle(&mut mx[i..j]);
                i = j;
            }
        }
        let mut hosts = Vec::new();
        let (mut temporary, mut last) = (None, None);
        for (preference, name) in mx {
            match self.host_addresses(&name) {
                Ok(addrs) => hosts.push(Host {
                    name,
                    preference,
                    addrs,
                }),
                Err(e) if e.is_permanent() => last = Some(e),
                Err(e) => temporary = temporary.or(Some(e)),
            }
        }
        if hosts.is_empty() {
            let e = temporary
                .or(last)
                .unwrap_or_else(|| not_found(domain, "MX"));
            return Err(if self.opts.defer_if_no_mx_address && e.is_permanent() {
                DnsError {
                    severity: Severity::Temporary,
                    dsn: "4.4.4",
                    text: e.text,
                }
            } else {
                e
            });
        }
        Ok(hosts)
    }
}

/// getaddrinfo(3), with its errors sorted into permanent and temporary.
mod native {
    use std::ffi::CString;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    pub enum Error {
        NotFound,
        NoData,
        Again(String),
    }

    pub fn lookup(host: &str) -> Result<Vec<IpAddr>, Error> {
        let Ok(c) = CString::new(host) else {
            return Err(Error::NotFound);
        };
        // SAFETY: zeroed addrinfo is a valid hints value.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: valid C string, hints and out pointer.
        let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if rc != 0 {
            return Err(match rc {
                libc::EAI_NONAME => Error::NotFound,
                libc::EAI_NODATA => Error::NoData,
                _ => {
                    // SAFETY: gai_strerror returns a static string.
                    let s = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) };
                    Error::Again(s.to_string_lossy().into_owned())
                }
            });
        }
        let mut out = Vec::new();
        let mut p = res;
        while !p.is_null() {
            // SAFETY: p walks the list getaddrinfo returned.
            let ai = unsafe { &*p };
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET => {
                        // SAFETY: family says sockaddr_in.
                        let sa = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                        let ip = IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)));
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                    libc::AF_INET6 => {
                        // SAFETY: family says sockaddr_in6.
                        let sa = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
                        let ip = IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr));
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                    _ => {}
                }
            }
            p = ai.ai_next;
        }
        // SAFETY: res came from getaddrinfo.
        unsafe { libc::freeaddrinfo(res) };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_mechanisms() {
        assert_eq!(Family::from_protocols(&["ipv4"]), Family::V4);
        assert_eq!(Family::from_protocols(&["ipv6"]), Family::V6);
        assert_eq!(Family::from_protocols(&["ipv4", "ipv6"]), Family::All);
        assert_eq!(Family::from_protocols(&["all"]), Family::All);
        assert!(!Family::V4.allows(&"::1".parse().unwrap()));
        assert_eq!(
            HostLookup::from_words(&["native", "dns"]),
            vec![HostLookup::Native, HostLookup::Dns]
        );
        assert_eq!(HostLookup::from_words::<&str>(&[]), vec![HostLookup::Dns]);
    }

    #[test]
    fn server_addresses() {
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_server("[::1]:53"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_server("192.0.2.1"),
            Some("192.0.2.1:53".parse().unwrap())
        );
        assert_eq!(parse_server("nonsense"), None);
    }

    #[test]
    fn literals_and_localhost_need_no_dns() {
        let r = Resolver::new(Options {
            server: Some("127.0.0.1:9".parse().unwrap()),
            host_lookup: vec![HostLookup::Native],
            ..Options::default()
        })
        .unwrap();
        assert_eq!(
            r.host("192.0.2.7").unwrap().addrs,
            vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
        );
        let v4 = Resolver::new(Options {
            family: Family::V4,
            host_lookup: vec![HostLookup::Native],
            mx_lookups: false,
            ..Options::default()
        })
        .unwrap();
        assert!(v4.host("::1").unwrap_err().is_permanent());
        let local = v4.host("localhost").unwrap();
        assert!(local.addrs.iter().all(|a| a.is_ipv4()));
    }

    #[test]
    fn shuffle_keeps_everything() {
        let r = Resolver::new(Options {
            mx_lookups: false,
            host_lookup: vec![HostLookup::Native],
            ..Options::default()
        })
        .unwrap();
        let mut v: Vec<u32> = (0..20).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn unreachable_server_is_temporary() {
        // Port 9 on loopback: nothing answers (ICMP refused): a temporary failure.
        let r = Resolver::new(Options {
            server: Some("127.0.0.1:9".parse().unwrap()),
            timeout: Duration::from_millis(300),
            attempts: 1,
            ..Options::default()
        })
        .unwrap();
        let e = r.mx_hosts("example.test").unwrap_err();
        assert_eq!(e.severity, Severity::Temporary, "{e}");
        assert_eq!(e.dsn, "4.4.3");
        assert!(e.text.contains("name=example.test type=MX"), "{e}");
    }
}
