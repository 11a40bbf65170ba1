//! Domain lists as Postfix's `domain_list` reads them, for
//! `mydestination`, `relay_domains` and the virtual domain lists: names
//! (`.example.com` matches subdomains; with parent matching,
//! `example.com` does too), `/file/name`, `type:table` (the domain, and
//! with parent matching its parents, looked up), `!name` to exclude.
//!
//! [`Classes`] puts a recipient domain in its address class from those
//! lists, as Postfix's trivial-rewrite does for smtpd, cleanup and qmgr.

use crate::{Ctx, MapError, MapList};
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
}

impl Classes {
    /// The lists as main.cf sets them (each matching parent domains when
    /// parent_domain_matches_subdomains names it); warnings about
    /// unreadable list files are returned.
    pub fn from_config(cfg: &Config) -> (Classes, Vec<String>) {
        let parents = cfg.list(&p::PARENT_DOMAIN_MATCHES_SUBDOMAINS);
        let mut warnings = Vec::new();
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
