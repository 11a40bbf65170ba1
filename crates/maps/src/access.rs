//! The keys Postfix's access restrictions (`check_client_access`,
//! `check_helo_access`, `check_sender_access`, `check_recipient_access`, …;
//! access(5)) try, in order, for one piece of client or envelope data, and
//! the search that stops at the first key any table answers.
//!
//! Each key is a [`Probe`]: the first key made from the data is a *full*
//! key, asked of every table; the keys made by cutting the data down
//! (parent domains, `user@`, network prefixes) are *partial* and are asked
//! only of fixed-string tables (hash, texthash, inline, …), never of
//! regexp, pcre or cidr tables, which see just the whole string — as
//! Postfix does (smtpd_check.c: FULL / PARTIAL).
//!
//! Orders, from access(5) and smtpd_check.c:
//!
//! * mail address `user+ext@sub.example.com` ([`mail_probes`]):
//!   `user+ext@sub.example.com` (full), `user@sub.example.com`, the domain
//!   and its parents as for a host name below, `user+ext@`, `user@`. Without
//!   an extension the second and last keys are left out. An address without
//!   `@` (the null sender's `smtpd_null_access_lookup_key`, `<>`) is one
//!   full key.
//! * domain or host name `sub.example.com` ([`domain_probes`]): with
//!   `smtpd_access_maps` in `parent_domain_matches_subdomains` (the default):
//!   `sub.example.com`, `example.com`, `com`; otherwise `sub.example.com`,
//!   `.example.com`, `.com`. A name that is an IP address is not cut.
//! * client address ([`address_probes`]): IPv4 `1.2.3.4`, `1.2.3`, `1.2`,
//!   `1`; IPv6 cut at the last `:` each time, as Postfix does on the
//!   compressed form: `2001:db8::1`, `2001:db8:`, `2001:db8`, `2001`.
//! * client ([`client_probes`]): the name's keys, then the address's, both
//!   starting with a full key (check_namadr_access).
//! * HELO name (`check_helo_access`): [`domain_probes`] of the name as
//!   given, first key full — also for an address literal, which Postfix
//!   does not unbracket here (`[1.2.3.4]`, `2.3.4]`, …).
//! * sender `<>`: pass `smtpd_null_access_lookup_key` to [`mail_probes`].
//!
//! A table answer of `DUNNO` still ends the search: it means "stop, no
//! decision", which is the caller's to interpret, like every other action.

use crate::{MapError, MapList};
use std::net::IpAddr;

/// The feature name that `parent_domain_matches_subdomains` lists for the
/// access tables.
pub const SMTPD_ACCESS_MAPS: &str = "smtpd_access_maps";

/// The `double_bounce_sender` default, a local part that is never split.
pub const DOUBLE_BOUNCE: &str = "double-bounce";

/// One key to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub key: String,
    /// Cut-down key: fixed-string tables only.
    pub partial: bool,
}

fn full(key: &str) -> Probe {
    Probe {
        key: key.to_string(),
        partial: false,
    }
}

fn part(key: &str) -> Probe {
    Probe {
        key: key.to_string(),
        partial: true,
    }
}

/// True when `feature` is listed in `parent_domain_matches_subdomains`
/// (the parameter's value): then `example.com` also matches its
/// subdomains, and keys are parent names, not `.parent` names.
pub fn parent_matches(parent_domain_matches_subdomains: &str, feature: &str) -> bool {
    parent_domain_matches_subdomains
        .split(|c: char| c == ',' || c.is_whitespace())
        .any(|f| f.eq_ignore_ascii_case(feature))
}

/// Splits a local part at the first recipient delimiter as Postfix's
/// split_addr() (see [`addr::split_delimiter`]): (base, extension), or
/// None when nothing is split.
pub fn split_extension<'a>(local: &'a str, delims: &str) -> Option<(&'a str, &'a str)> {
    match addr::split_delimiter(local, delims) {
        (base, Some(ext)) => Some((base, ext)),
        (_, None) => None,
    }
}

/// `user+ext@domain` without its extension (`user@domain`); None when the
/// address has none.
pub fn strip_extension(addr: &str, delims: &str) -> Option<String> {
    let (local, domain) = match addr.rfind('@') {
        Some(i) => (&addr[..i], Some(&addr[i + 1..])),
        None => (addr, None),
    };
    let (base, _) = split_extension(local, delims)?;
    Some(match domain {
        Some(d) => format!("{base}@{d}"),
        None => base.to_string(),
    })
}

/// The keys for a domain or host name; the first is full unless
/// `first_partial` (the domain of a mail address is itself a partial key).
pub fn domain_probes(domain: &str, parent_style: bool, first_partial: bool) -> Vec<Probe> {
    let mut out = Vec::new();
    let numeric = domain.parse::<IpAddr>().is_ok();
    let mut start = 0;
    let mut partial = first_partial;
    while start < domain.len() {
        let name = &domain[start..];
        out.push(Probe {
            key: name.to_string(),
            partial,
        });
        if numeric {
            break;
        }
        let next = name
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '.')
            .map(|(i, _)| start + i);
        match next {
            None => break,
            Some(dot) => start = if parent_style { dot + 1 } else { dot },
        }
        partial = true;
    }
    out
}

/// The keys for a client IP address: the address, then its prefixes.
pub fn address_probes(addr: &str) -> Vec<Probe> {
    let delim = if addr.contains(':') { ':' } else { '.' };
    let mut out = vec![full(addr)];
    let mut cur = addr;
    while let Some(i) = cur.rfind(delim) {
        cur = &cur[..i];
        out.push(part(cur));
    }
    out
}

/// The keys for a client: its name's, then its address's.
pub fn client_probes(name: &str, addr: &str, parent_style: bool) -> Vec<Probe> {
    let mut out = domain_probes(name, parent_style, false);
    out.extend(address_probes(addr));
    out
}

/// The keys for a mail address (sender or recipient). `delims` is
/// `recipient_delimiter` (empty: no extensions).
pub fn mail_probes(addr: &str, delims: &str, parent_style: bool) -> Vec<Probe> {
    let Some(at) = addr.rfind('@') else {
        return vec![full(addr)];
    };
    let domain = &addr[at + 1..];
    let bare = strip_extension(addr, delims);
    let mut out = vec![full(addr)];
    if let Some(b) = &bare {
        out.push(part(b));
    }
    if !domain.is_empty() {
        out.extend(domain_probes(domain, parent_style, true));
    }
    out.push(part(&addr[..=at]));
    if let Some(b) = &bare {
        if let Some(bat) = b.rfind('@') {
            out.push(part(&b[..=bat]));
        }
    }
    out
}

/// One key of an address look-up ([`mail_addr_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrKey {
    pub key: String,
    /// Cut-down key: fixed-string tables only.
    pub partial: bool,
    /// The extension, with its delimiter, cut off to make this key.
    pub cut: Option<String>,
}

/// The keys Postfix's mail_addr_find tries for the address `local@domain`
/// in a table of addresses (virtual_alias_maps, canonical_maps, the
/// recipient tables, smtpd_sender_login_maps, virtual_mailbox_maps):
/// `user+ext@domain` (full), `user@domain`, then — when `local_domain`
/// (the domain is $myorigin, $mydestination or an interface address) —
/// `user+ext` and `user`, then `@domain`. Every key but the first is
/// partial, so regexp and pcre tables see only the whole address. An
/// address without a domain is `user+ext` (full) and `user`.
pub fn mail_addr_keys(
    local: &str,
    domain: Option<&str>,
    delims: &str,
    local_domain: bool,
) -> Vec<AddrKey> {
    let key = |key: String, partial: bool, cut: Option<&str>| AddrKey {
        key,
        partial,
        cut: cut.map(str::to_string),
    };
    // The extension with its delimiter: what follows the base.
    let split = split_extension(local, delims).map(|(base, _)| (base, &local[base.len()..]));
    let mut out = Vec::new();
    match domain {
        Some(d) => {
            out.push(key(format!("{local}@{d}"), false, None));
            if let Some((base, ext)) = split {
                out.push(key(format!("{base}@{d}"), true, Some(ext)));
            }
            if local_domain {
                out.push(key(local.to_string(), true, None));
                if let Some((base, ext)) = split {
                    out.push(key(base.to_string(), true, Some(ext)));
                }
            }
            out.push(key(format!("@{d}"), true, None));
        }
        None => {
            out.push(key(local.to_string(), false, None));
            if let Some((base, ext)) = split {
                out.push(key(base.to_string(), true, Some(ext)));
            }
        }
    }
    out
}

/// [`mail_addr_keys`] for a whole address `local@domain` (or a bare
/// `local`), without the `user` forms of local domains.
pub fn address_keys(addr: &str, delims: &str) -> Vec<AddrKey> {
    match addr.rsplit_once('@') {
        Some((local, domain)) => mail_addr_keys(local, Some(domain), delims, false),
        None => mail_addr_keys(addr, None, delims, false),
    }
}

/// Tries `keys` in order against `maps`: the first answer, and the
/// extension cut off to find it (for propagate_unmatched_extensions). An
/// error is a temporary failure.
pub fn mail_addr_find<'k>(
    maps: &MapList,
    keys: &'k [AddrKey],
) -> Result<Option<(String, Option<&'k str>)>, MapError> {
    for k in keys {
        if let Some(v) = maps.find(&k.key, k.partial)? {
            return Ok(Some((v, k.cut.as_deref())));
        }
    }
    Ok(None)
}

/// A canonical(5) or generic(5) rewrite of `addr` by `maps`: the first of
/// Postfix's keys that a table answers (`user@domain`, `user` when
/// `local_domain` says the domain is this host's, `@domain`; each also
/// without the address's extension) gives the new address. A result
/// `@other` keeps the user part; an extension cut off to find the entry is
/// put back when `propagate` (propagate_unmatched_extensions). None when no
/// table answers; an error is a temporary failure.
pub fn rewrite_address(
    maps: &MapList,
    addr: &str,
    delims: &str,
    local_domain: bool,
    propagate: bool,
) -> Result<Option<String>, MapError> {
    if maps.is_empty() || addr.is_empty() {
        return Ok(None);
    }
    let keys = match addr.rsplit_once('@') {
        Some((local, domain)) => mail_addr_keys(local, Some(domain), delims, local_domain),
        None => mail_addr_keys(addr, None, delims, false),
    };
    let Some((v, cut)) = mail_addr_find(maps, &keys)? else {
        return Ok(None);
    };
    let v = match (v.strip_prefix('@'), addr.rsplit_once('@')) {
        (Some(d), Some((local, _))) => format!("{local}@{d}"),
        _ => v,
    };
    Ok(Some(match cut {
        Some(ext) if propagate => add_extension(&v, ext),
        _ => v,
    }))
}

/// `addr` with an extension (delimiter included) put back at the end of
/// its local part: `user@domain` and `+ext` give `user+ext@domain`.
pub fn add_extension(addr: &str, ext: &str) -> String {
    match addr.rfind('@') {
        Some(at) => format!("{}{ext}{}", &addr[..at], &addr[at..]),
        None => format!("{addr}{ext}"),
    }
}

/// What matched: the key that a table answered, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub key: String,
    pub value: String,
}

/// Tries `probes` in order against `maps`; the first answer wins. An error
/// is a temporary failure (Postfix answers "451 4.3.5 Server configuration
/// error" and logs "table lookup problem").
pub fn search(maps: &MapList, probes: &[Probe]) -> Result<Option<Hit>, MapError> {
    for p in probes {
        if let Some(value) = maps.find(&p.key, p.partial)? {
            return Ok(Some(Hit {
                key: p.key.clone(),
                value,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ctx;

    fn keys(p: &[Probe]) -> Vec<(&str, bool)> {
        p.iter().map(|p| (p.key.as_str(), p.partial)).collect()
    }

    #[test]
    fn mail_address_order() {
        assert_eq!(
            keys(&mail_probes("user+ext@sub.example.com", "+", true)),
            [
                ("user+ext@sub.example.com", false),
                ("user@sub.example.com", true),
                ("sub.example.com", true),
                ("example.com", true),
                ("com", true),
                ("user+ext@", true),
                ("user@", true),
            ]
        );
        assert_eq!(
            keys(&mail_probes("user@sub.example.com", "+", false)),
            [
                ("user@sub.example.com", false),
                ("sub.example.com", true),
                (".example.com", true),
                (".com", true),
                ("user@", true),
            ]
        );
        // No recipient_delimiter: the extension is part of the name.
        assert_eq!(mail_probes("a+b@x", "", true).len(), 3);
        assert_eq!(keys(&mail_probes("<>", "+", true)), [("<>", false)]);
        // Domain literal: not cut.
        assert_eq!(
            keys(&mail_probes("u@1.2.3.4", "+", true)),
            [("u@1.2.3.4", false), ("1.2.3.4", true), ("u@", true)]
        );
    }

    #[test]
    fn extension_rules() {
        assert_eq!(split_extension("user+ext", "+"), Some(("user", "ext")));
        assert_eq!(split_extension("user-a-b", "+-"), Some(("user", "a-b")));
        assert_eq!(split_extension("+ext", "+"), None);
        assert_eq!(split_extension("user", "+"), None);
        assert_eq!(split_extension("Postmaster", "+"), None);
        assert_eq!(split_extension("owner-list", "-"), None);
        assert_eq!(split_extension("list-request", "-"), None);
        assert_eq!(split_extension("owner-x+y", "+"), Some(("owner-x", "y")));
        assert_eq!(strip_extension("u+x@d", "+").as_deref(), Some("u@d"));
        assert_eq!(strip_extension("u@d", "+"), None);
    }

    fn addr_keys(k: &[AddrKey]) -> Vec<(&str, bool, Option<&str>)> {
        k.iter()
            .map(|k| (k.key.as_str(), k.partial, k.cut.as_deref()))
            .collect()
    }

    #[test]
    fn mail_addr_find_order() {
        assert_eq!(
            addr_keys(&mail_addr_keys("joe+x", Some("example.com"), "+", true)),
            [
                ("joe+x@example.com", false, None),
                ("joe@example.com", true, Some("+x")),
                ("joe+x", true, None),
                ("joe", true, Some("+x")),
                ("@example.com", true, None),
            ]
        );
        assert_eq!(
            addr_keys(&mail_addr_keys("joe", Some("example.com"), "+", false)),
            [
                ("joe@example.com", false, None),
                ("@example.com", true, None)
            ]
        );
        assert_eq!(
            addr_keys(&mail_addr_keys("joe-a-b", None, "+-", true)),
            [("joe-a-b", false, None), ("joe", true, Some("-a-b"))]
        );
        assert_eq!(add_extension("ann@other.org", "+x"), "ann+x@other.org");
        assert_eq!(add_extension("ann", "+x"), "ann+x");

        // Only the whole address reaches a regexp table.
        let ctx = Ctx::new().with_warn(|_| {});
        let maps = MapList::open(
            "virtual_alias_maps",
            "regexp:{{/^joe@/ pattern@x}} inline:{@example.com=domain@x}",
            &ctx,
        )
        .unwrap();
        let keys = mail_addr_keys("joe+y", Some("example.com"), "+", false);
        assert_eq!(
            mail_addr_find(&maps, &keys).unwrap(),
            Some(("domain@x".to_string(), None))
        );
        let maps = MapList::open(
            "virtual_alias_maps",
            "inline:{joe@example.com=ann@other.org}",
            &ctx,
        )
        .unwrap();
        assert_eq!(
            mail_addr_find(&maps, &keys).unwrap(),
            Some(("ann@other.org".to_string(), Some("+y")))
        );
    }

    #[test]
    fn host_and_address_order() {
        assert_eq!(
            keys(&client_probes("mail.example.com", "1.2.3.4", true)),
            [
                ("mail.example.com", false),
                ("example.com", true),
                ("com", true),
                ("1.2.3.4", false),
                ("1.2.3", true),
                ("1.2", true),
                ("1", true),
            ]
        );
        assert_eq!(
            keys(&address_probes("2001:db8::1")),
            [
                ("2001:db8::1", false),
                ("2001:db8:", true),
                ("2001:db8", true),
                ("2001", true)
            ]
        );
        assert_eq!(
            keys(&domain_probes("10.0.0.1", true, false)),
            [("10.0.0.1", false)]
        );
        assert_eq!(
            keys(&domain_probes("host.", true, false)),
            [("host.", false)]
        );
        assert!(parent_matches(
            "debug_peer_list,smtpd_access_maps relay_domains",
            SMTPD_ACCESS_MAPS
        ));
        assert!(!parent_matches("relay_domains", SMTPD_ACCESS_MAPS));
    }

    #[test]
    fn search_skips_patterns_for_partial_keys() {
        let ctx = Ctx::new().with_warn(|_| {});
        let maps = MapList::open(
            "check_client_access",
            "regexp:{{/^1\\.2\\.3$/ PATTERN}} inline:{1.2.3=REJECT, example.com=OK}",
            &ctx,
        )
        .unwrap();
        let hit = search(&maps, &client_probes("unknown", "1.2.3.4", true))
            .unwrap()
            .unwrap();
        assert_eq!(
            hit,
            Hit {
                key: "1.2.3".into(),
                value: "REJECT".into()
            }
        );
        let hit = search(&maps, &mail_probes("Bob+x@Mail.Example.COM", "+", true))
            .unwrap()
            .unwrap();
        assert_eq!(hit.key, "Example.COM");
        assert_eq!(hit.value, "OK");
        assert_eq!(
            search(&maps, &client_probes("a.test", "9.9.9.9", true)).unwrap(),
            None
        );
        let failing = MapList::open("t", "fail:x", &ctx).unwrap();
        assert!(search(&failing, &address_probes("1.2.3.4")).is_err());
    }
}
