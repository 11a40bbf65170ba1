//! Domain lists as Postfix's `domain_list` reads them, for
//! `mydestination`, `relay_domains` and the virtual domain lists: names
//! (`.example.com` matches subdomains; with parent matching,
//! `example.com` does too), `/file/name`, `type:table` (the domain, and
//! with parent matching its parents, looked up), `!name` to exclude.
//!
//! [`Classes`] puts a recipient domain in its address class from those
//! lists, as Postfix's trivial-rewrite does for smtpd, cleanup and qmgr,
//! and resolves an address: this host's own domains stripped and routing
//! operators followed (`user%site@ours` goes to `user@site`).

use crate::{Ctx, MapError, MapList};
use addr::route::{Canon, Operators};
use params::{table as p, Config};
use std::net::IpAddr;

enum Pattern {
    Name(String),
    Table(MapList),
}

struct Entry {
    negate: bool,
    pattern: Pattern,
}

/// A parsed domain list.
pub struct DomainList {
    entries: Vec<Entry>,
    /// `example.com` also matches `sub.example.com`.
    parent_matches: bool,
}

impl std::fmt::Debug for DomainList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DomainList({} entries)", self.entries.len())
    }
}

impl DomainList {
    /// Parses the items of a list parameter; unreadable files are
    /// returned as warnings.
    pub fn parse(items: &[String], title: &str, parent_matches: bool) -> (DomainList, Vec<String>) {
        let (items, warnings) = list_items(items, title);
        let entries = items
            .into_iter()
            .map(|(negate, text)| {
                let pattern = if text.contains(':') && !text.starts_with('[') {
                    Pattern::Table(MapList::open_lenient(title, &text, &Ctx::new()))
                } else {
                    Pattern::Name(addr::fold_domain(&text))
                };
                Entry { negate, pattern }
            })
            .collect();
        (
            DomainList {
                entries,
                parent_matches,
            },
            warnings,
        )
    }

    /// A list of plain names.
    pub fn of(items: &[&str], parent_matches: bool) -> DomainList {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        DomainList::parse(&items, "test", parent_matches).0
    }

    fn name_matches(&self, pattern: &str, domain: &str) -> bool {
        if let Some(parent) = pattern.strip_prefix('.') {
            return domain
                .strip_suffix(parent)
                .is_some_and(|p| p.ends_with('.') && p.len() > 1);
        }
        domain == pattern
            || (self.parent_matches
                && domain
                    .strip_suffix(pattern)
                    .is_some_and(|p| p.ends_with('.') && p.len() > 1))
    }

    /// Whether `domain` is listed. A table that fails is an error (the
    /// caller defers).
    pub fn matches(&self, domain: &str) -> Result<bool, MapError> {
        let domain = addr::fold_domain(domain.trim_end_matches('.'));
        if domain.is_empty() {
            return Ok(false);
        }
        for e in &self.entries {
            let hit = match &e.pattern {
                Pattern::Name(n) => self.name_matches(n, &domain),
                Pattern::Table(t) => {
                    let mut found = t.find(&domain, false)?.is_some();
                    if !found && !domain.starts_with('[') {
                        let mut rest = domain.as_str();
                        while let Some(i) = rest.find('.') {
                            rest = &rest[i + 1..];
                            if rest.is_empty() {
                                break;
                            }
                            let key = if self.parent_matches {
                                rest.to_string()
                            } else {
                                format!(".{rest}")
                            };
                            if t.find(&key, true)?.is_some() {
                                found = true;
                                break;
                            }
                        }
                    }
                    found
                }
            };
            if hit {
                return Ok(!e.negate);
            }
        }
        Ok(false)
    }
}

/// The items of a match list parameter as Postfix's match_list reads
/// them, each with whether it is negated (an odd number of `!`s): a
/// `/file/name` item is replaced by the words of that file (lines starting
/// with `#` skipped; at most 20 files), each negated when the file's name
/// was, as Postfix prepends the `!` to each. A file that cannot be read
/// becomes a `fail:` table, whose lookups fail (Postfix's `nofile:`), and
/// a warning.
pub fn list_items(items: &[String], title: &str) -> (Vec<(bool, String)>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut queue: Vec<(bool, String)> = items.iter().rev().map(|i| (false, i.clone())).collect();
    let mut files = 0;
    while let Some((outer, item)) = queue.pop() {
        let mut negate = outer;
        let mut text = item.trim();
        while let Some(rest) = text.strip_prefix('!') {
            negate = !negate;
            text = rest.trim_start();
        }
        if text.is_empty() {
            continue;
        }
        if text.starts_with('/') {
            files += 1;
            if files > 20 {
                warnings.push(format!("{title}: {text}: too many nested files"));
                out.push((negate, format!("fail:{title}")));
                continue;
            }
            match std::fs::read_to_string(text) {
                Ok(body) => {
                    let mut more: Vec<(bool, String)> = body
                        .lines()
                        .filter(|l| !l.trim_start().starts_with('#'))
                        .flat_map(|l| l.split([' ', '\t', ',']))
                        .filter(|w| !w.is_empty())
                        .map(|w| (negate, w.to_string()))
                        .collect();
                    more.reverse();
                    queue.extend(more);
                }
                Err(e) => {
                    warnings.push(format!("{title}: {text}: {e}"));
                    out.push((negate, format!("fail:{title}")));
                }
            }
            continue;
        }
        out.push((negate, text.to_string()));
    }
    (out, warnings)
}

/// The address class of a domain (Postfix ADDRESS_CLASS_README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// mydestination, or a literal address of this host.
    Local,
    VirtualAlias,
    VirtualMailbox,
    Relay,
    /// Anything else: relaying to it needs permission.
    Default,
}

/// How long a domain's class is reused: a burst of mail to the same
/// domains asks the lists' tables (SQL through proxymap) once, and a change
/// to them takes effect within this.
pub const CLASS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The domain lists that decide address classes, and this host's
/// addresses (inet_interfaces, proxy_interfaces) for `user@[addr]`.
pub struct Classes {
    mydestination: DomainList,
    virtual_alias_domains: DomainList,
    virtual_mailbox_domains: DomainList,
    relay_domains: DomainList,
    own_addresses: Vec<IpAddr>,
    /// Recent answers of [`Classes::classify`].
    recent: util::ttl_cache::TtlCache<AddrClass>,
    /// The local context's canonical form, for [`Classes::resolve`].
    canon: Canon,
    /// resolve_null_domain, resolve_numeric_domain.
    null_domain: bool,
    numeric_domain: bool,
    myhostname: String,
    empty_address_recipient: String,
}

/// What [`Classes::resolve`] makes of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where the mail goes, internal form: the address with this host's
    /// domains stripped and routing operators followed.
    pub local: String,
    pub domain: String,
    pub class: AddrClass,
    /// The resulting domain is not a valid host name or address literal
    /// (Postfix: "bad address syntax").
    pub bad_syntax: bool,
}

impl Resolved {
    /// `local@domain`, internal form.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// main.cf's routing operators: allow_percent_hack, swap_bangpath,
/// resolve_dequoted_address.
pub fn routing_operators(cfg: &Config) -> Operators {
    Operators {
        percent: cfg.bool(&p::ALLOW_PERCENT_HACK),
        bang: cfg.bool(&p::SWAP_BANGPATH),
        dequoted: cfg.bool(&p::RESOLVE_DEQUOTED_ADDRESS),
    }
}

/// One rewriting context's canonical form as main.cf sets it: `origin`
/// appended to bare names (with append_at_myorigin), `domain` to domains
/// without a dot (with append_dot_mydomain), and the routing operators.
pub fn canon(cfg: &Config, origin: &str, domain: &str) -> Canon {
    let when = |on: bool, v: &str| if on { v.to_string() } else { String::new() };
    Canon {
        operators: routing_operators(cfg),
        origin: when(cfg.bool(&p::APPEND_AT_MYORIGIN), origin),
        domain: when(cfg.bool(&p::APPEND_DOT_MYDOMAIN), domain),
    }
}

/// How many times [`Classes::resolve`] strips a domain or follows an
/// operator before it settles for what it has (Postfix's resolver loop
/// gives up the same way).
const RESOLVE_ROUNDS: usize = 100;

impl Classes {
    /// The lists as main.cf sets them (each matching parent domains when
    /// parent_domain_matches_subdomains names it); warnings about
    /// unreadable list files are returned.
    pub fn from_config(cfg: &Config) -> (Classes, Vec<String>) {
        let parents = cfg.list(&p::PARENT_DOMAIN_MATCHES_SUBDOMAINS);
        let mut warnings = Vec::new();
        let myorigin = cfg.myorigin().unwrap_or_else(|e| {
            warnings.push(e);
            cfg.str(&p::MYHOSTNAME).to_string()
        });
        let mut list = |param: &params::Param| {
            let parent = parents.iter().any(|n| n == param.name);
            let (l, w) = DomainList::parse(&cfg.list(param), param.name, parent);
            warnings.extend(w);
            l
        };
        let classes = Classes {
            mydestination: list(&p::MYDESTINATION),
            virtual_alias_domains: list(&p::VIRTUAL_ALIAS_DOMAINS),
            virtual_mailbox_domains: list(&p::VIRTUAL_MAILBOX_DOMAINS),
            relay_domains: list(&p::RELAY_DOMAINS),
            own_addresses: [&p::INET_INTERFACES, &p::PROXY_INTERFACES]
                .into_iter()
                .flat_map(|param| params::netif::addresses_of(&cfg.list(param)))
                .collect(),
            recent: util::ttl_cache::TtlCache::new(CLASS_TTL, 20_000),
            canon: canon(cfg, &myorigin, cfg.str(&p::MYDOMAIN)),
            null_domain: cfg.bool(&p::RESOLVE_NULL_DOMAIN),
            numeric_domain: cfg.bool(&p::RESOLVE_NUMERIC_DOMAIN),
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
            empty_address_recipient: cfg.str(&p::EMPTY_ADDRESS_RECIPIENT).to_string(),
        };
        (classes, warnings)
    }

    /// Whether `ip` is one of this host's addresses.
    pub fn is_own_address(&self, ip: &IpAddr) -> bool {
        self.own_addresses.contains(ip)
    }

    /// Whether `domain` is local (Postfix's resolve_local): listed in
    /// mydestination, or a literal address of this host. Asks only
    /// mydestination's tables, not the other lists'.
    pub fn is_local(&self, domain: &str) -> Result<bool, MapError> {
        if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            let bare = lit
                .strip_prefix("IPv6:")
                .or_else(|| lit.strip_prefix("ipv6:"))
                .unwrap_or(lit);
            return Ok(bare
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.is_own_address(&ip)));
        }
        self.mydestination.matches(domain)
    }

    /// The class of a recipient domain; no domain (or an empty one) is a
    /// local name. A table that fails is an error (the caller defers; the
    /// failure is not remembered). An answer is reused for [`CLASS_TTL`].
    pub fn classify(&self, domain: Option<&str>) -> Result<AddrClass, MapError> {
        let domain = match domain {
            None | Some("") => return Ok(AddrClass::Local),
            Some(d) => d,
        };
        if let Some(c) = self.recent.get(domain) {
            return Ok(c);
        }
        let c = self.classify_now(domain)?;
        self.recent.put(domain.to_string(), c);
        Ok(c)
    }

    /// Resolves a recipient (internal form; `domain` None for a bare name)
    /// as Postfix's trivial-rewrite does for smtpd and qmgr: the address
    /// in canonical form, then, while its domain is this host's, the
    /// domain stripped and the local part's routing operators followed
    /// (`user%site`, `site!user`, `"user@site"`); an address that ends up
    /// with no domain of its own is this host's at the last domain
    /// stripped (`$myhostname` if none was). The class is the final
    /// domain's. Err: a table failed.
    pub fn resolve(&self, local: &str, domain: Option<&str>) -> Result<Resolved, MapError> {
        let (mut local, mut domain) = self.canon.rewrite(local, domain);
        let mut ours: Option<String> = None;
        let mut class = AddrClass::Local;
        for _ in 0..RESOLVE_ROUNDS {
            if let Some(d) = domain.take() {
                // resolve_numeric_domain: user@1.2.3.4 is user@[1.2.3.4].
                let d = match d.parse::<IpAddr>() {
                    Ok(IpAddr::V6(_)) if self.numeric_domain => format!("[IPv6:{d}]"),
                    Ok(IpAddr::V4(_)) if self.numeric_domain => format!("[{d}]"),
                    _ => d,
                };
                if d.is_empty() && self.null_domain {
                    // user@ is this host's (resolve_null_domain).
                } else if d.is_empty() {
                    // Kept for the syntax check below.
                    domain = Some(d);
                    class = AddrClass::Default;
                    break;
                } else {
                    let c = self.classify(Some(&d))?;
                    if c != AddrClass::Local {
                        domain = Some(d);
                        class = c;
                        break;
                    }
                    ours = Some(d);
                }
            }
            let Some((user, site)) = self.canon.operators.resolve_split(&local) else {
                break;
            };
            let (user, site) = self.canon.rewrite(user, Some(site));
            local = user;
            domain = site;
        }
        if local.is_empty() {
            local = self.empty_address_recipient.clone();
        }
        let domain = domain.or(ours).unwrap_or_else(|| self.myhostname.clone());
        let bad_syntax = if domain.starts_with('[') {
            !addr::valid_address_literal(&domain)
        } else {
            !addr::domain::valid_hostname_utf8(&domain)
        };
        Ok(Resolved {
            local,
            domain,
            class,
            bad_syntax,
        })
    }

    fn classify_now(&self, domain: &str) -> Result<AddrClass, MapError> {
        if domain.starts_with('[') && domain.ends_with(']') {
            return Ok(if self.is_local(domain)? {
                AddrClass::Local
            } else {
                AddrClass::Default
            });
        }
        Ok(if self.mydestination.matches(domain)? {
            AddrClass::Local
        } else if self.virtual_alias_domains.matches(domain)? {
            AddrClass::VirtualAlias
        } else if self.virtual_mailbox_domains.matches(domain)? {
            AddrClass::VirtualMailbox
        } else if self.relay_domains.matches(domain)? {
            AddrClass::Relay
        } else {
            AddrClass::Default
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(main_cf: &str) -> Classes {
        let cfg = Config::from_text(main_cf).expect("main.cf");
        let (c, warnings) = Classes::from_config(&cfg);
        assert!(warnings.is_empty(), "{warnings:?}");
        c
    }

    /// The cases compared with Postfix 3.7's trivial-rewrite (mail sent
    /// with its sendmail, the qmgr's `to=` and `orig_to=` read back).
    #[test]
    fn routing_operators_resolve_as_postfix_resolves_them() {
        let main_cf = "myhostname = mx.local.test\nmydomain = local.test\nmyorigin = local.test\nmydestination = $myhostname, localhost, local.test\ninet_interfaces = 127.0.0.1\nrelay_domains = relay.example\n";
        let c = classes(main_cf);
        let r = |a: &str| {
            let (l, d) = match a.rsplit_once('@') {
                Some((l, d)) => (l, Some(d)),
                None => (a, None),
            };
            let r = c.resolve(l, d).expect("resolve");
            (r.address(), r.class, r.bad_syntax)
        };
        let remote = |a: &str| (a.to_string(), AddrClass::Default, false);
        let local = |a: &str| (a.to_string(), AddrClass::Local, false);
        assert_eq!(r("bob%remote.example"), remote("bob@remote.example"));
        assert_eq!(
            r("bob%remote.example@local.test"),
            remote("bob@remote.example")
        );
        assert_eq!(r("remote.example!bob"), remote("bob@remote.example"));
        assert_eq!(
            r("remote.example!bob@localhost"),
            remote("bob@remote.example")
        );
        assert_eq!(r("bob%remote@local.test"), remote("bob@remote"));
        assert_eq!(
            r("bob@remote.example@local.test"),
            remote("bob@remote.example")
        );
        assert_eq!(
            r("carol%remote.example%x.example@local.test"),
            remote("carol%remote.example@x.example")
        );
        // Operators past a remote domain are the next host's business.
        assert_eq!(
            r("bob%x.example@far.example"),
            remote("bob%x.example@far.example")
        );
        assert_eq!(
            r("bob%relay.example@LOCAL.test."),
            ("bob@relay.example".to_string(), AddrClass::Relay, false)
        );
        // Local results keep the last local domain stripped.
        assert_eq!(r("bob%localhost@local.test"), local("bob@localhost"));
        assert_eq!(r("bob"), local("bob@local.test"));
        assert_eq!(r("bob@[127.0.0.1]"), local("bob@[127.0.0.1]"));
        assert_eq!(r("@local.test"), local("MAILER-DAEMON@local.test"));
        // Bad forms: "bad address syntax".
        assert!(r("bob@").2);
        assert!(r("bob@127.0.0.1").2);
        assert!(r("bob%@local.test").2);

        let off = classes(&format!(
            "{main_cf}allow_percent_hack = no\nswap_bangpath = no\nresolve_dequoted_address = no\nresolve_null_domain = yes\nresolve_numeric_domain = yes\n"
        ));
        let r = |l: &str, d: Option<&str>| {
            let r = off.resolve(l, d).expect("resolve");
            (r.address(), r.class, r.bad_syntax)
        };
        assert_eq!(
            r("bob%remote.example", None),
            local("bob%remote.example@local.test")
        );
        assert_eq!(r("bob%x", Some("local.test")), local("bob%x@local.test"));
        assert_eq!(r("x!bob", Some("localhost")), local("x!bob@localhost"));
        assert_eq!(
            r("bob@x.example", Some("local.test")),
            local("bob@x.example@local.test")
        );
        assert_eq!(r("bob", Some("")), local("bob@mx.local.test"));
        assert_eq!(r("bob", Some("127.0.0.1")), local("bob@[127.0.0.1]"));
        assert_eq!(
            r("bob", Some("192.0.2.1")),
            ("bob@[192.0.2.1]".to_string(), AddrClass::Default, false)
        );
    }

    #[test]
    fn address_classes_as_trivial_rewrite_gives_them() {
        let c = classes(
            "myhostname = mail.example.com\nmydestination = $myhostname, localhost\ninet_interfaces = 127.0.0.1\nproxy_interfaces = 192.0.2.7\nvirtual_alias_domains = alias.example\nvirtual_mailbox_domains = inline:{box.example=x}\nrelay_domains = relay.example\n",
        );
        let class = |d: Option<&str>| c.classify(d).expect("classify");
        assert_eq!(class(None), AddrClass::Local);
        assert_eq!(class(Some("Mail.Example.COM")), AddrClass::Local);
        assert_eq!(class(Some("[127.0.0.1]")), AddrClass::Local);
        assert_eq!(class(Some("[192.0.2.7]")), AddrClass::Local);
        assert_eq!(class(Some("[192.0.2.8]")), AddrClass::Default);
        assert_eq!(class(Some("[IPv6:::1]")), AddrClass::Default);
        assert_eq!(class(Some("alias.example")), AddrClass::VirtualAlias);
        assert_eq!(class(Some("box.example")), AddrClass::VirtualMailbox);
        assert_eq!(class(Some("relay.example")), AddrClass::Relay);
        // relay_domains matches subdomains by default (parent_domain_matches_subdomains).
        assert_eq!(class(Some("mx.relay.example")), AddrClass::Relay);
        assert_eq!(class(Some("elsewhere.example")), AddrClass::Default);
        // is_local asks mydestination and the addresses only.
        assert!(c.is_local("localhost").expect("local"));
        assert!(c.is_local("[192.0.2.7]").expect("local"));
        assert!(!c.is_local("box.example").expect("local"));
    }

    #[test]
    fn exact_parent_and_dot_forms() {
        let exact = DomainList::of(&["example.com", ".sub.example.net"], false);
        assert!(exact.matches("Example.COM").expect("lookup"));
        assert!(exact.matches("example.com.").expect("lookup"));
        assert!(!exact.matches("a.example.com").expect("lookup"));
        assert!(exact.matches("x.sub.example.net").expect("lookup"));
        assert!(!exact.matches("sub.example.net").expect("lookup"));
        let parent = DomainList::of(&["example.com", "!bad.example.org", "example.org"], true);
        assert!(parent.matches("a.b.example.com").expect("lookup"));
        assert!(!parent.matches("badexample.com").expect("lookup"));
        assert!(!parent.matches("bad.example.org").expect("lookup"));
        assert!(parent.matches("good.example.org").expect("lookup"));
        assert!(!parent.matches("").expect("lookup"));
    }

    #[test]
    fn tables_and_failures() {
        let (l, w) = DomainList::parse(
            &["inline:{relay.example=yes}".to_string()],
            "relay_domains",
            true,
        );
        assert!(w.is_empty());
        assert!(l.matches("relay.example").expect("lookup"));
        assert!(l.matches("mx.relay.example").expect("lookup"));
        assert!(!l.matches("other.example").expect("lookup"));
        let (l, _) = DomainList::parse(&["fail:x".to_string()], "relay_domains", true);
        assert!(l.matches("x.example").is_err());
    }
}
