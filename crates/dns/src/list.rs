//! DNS block and allow lists, the part that needs no DNS (used by smtpd's
//! `reject_rbl_client` and friends, and by postscreen's
//! `postscreen_dnsbl_sites`): the names to ask ([`reversed`],
//! [`Entry::query`]) and the filter on a list's answer ([`Filter`],
//! `zen.example=127.0.0.[2..11]`).

use std::net::{IpAddr, Ipv4Addr};

/// One octet of a filter: the values it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Octet(Vec<(u8, u8)>);

/// The `=d.d.d.d` part: which answers count as a listing. Each octet is a
/// number, or a bracketed list of numbers and ranges: `127.0.0.[2..11]`,
/// `127.0.0.[2;4;6..8]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter([Octet; 4]);

impl Filter {
    pub fn parse(s: &str) -> Option<Filter> {
        // Split at dots outside brackets (`[2..11]` has its own).
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0usize, 0);
        for (i, c) in s.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.checked_sub(1)?,
                '.' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        let octets: Vec<Octet> = parts.into_iter().map(parse_octet).collect::<Option<_>>()?;
        let octets: [Octet; 4] = octets.try_into().ok()?;
        Some(Filter(octets))
    }

    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        self.0
            .iter()
            .zip(ip.octets())
            .all(|(o, b)| o.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&b)))
    }
}

fn parse_octet(s: &str) -> Option<Octet> {
    let number = |t: &str| t.trim().parse::<u8>().ok();
    match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => {
            let mut v = Vec::new();
            for item in inner.split(';') {
                match item.split_once("..") {
                    Some((lo, hi)) => {
                        let (lo, hi) = (number(lo)?, number(hi)?);
                        if lo > hi {
                            return None;
                        }
                        v.push((lo, hi));
                    }
                    None => {
                        let n = number(item)?;
                        v.push((n, n));
                    }
                }
            }
            (!v.is_empty()).then_some(Octet(v))
        }
        None => number(s).map(|n| Octet(vec![(n, n)])),
    }
}

/// One list as a restriction names it: `zone` or `zone=filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The list's zone, as written (the `rbl_reply_maps` key).
    pub zone: String,
    pub filter: Option<Filter>,
}

impl Entry {
    /// Parses a restriction's argument; `None` when the filter is malformed.
    pub fn parse(arg: &str) -> Option<Entry> {
        let (zone, filter) = match arg.split_once('=') {
            Some((z, f)) => (z, Some(Filter::parse(f)?)),
            None => (arg, None),
        };
        let zone = zone.trim_end_matches('.');
        (!zone.is_empty()).then(|| Entry {
            zone: zone.to_string(),
            filter,
        })
    }

    /// The name to ask about `key` (a reversed address or a domain).
    pub fn query(&self, key: &str) -> String {
        format!("{}.{}", key.trim_end_matches('.'), self.zone)
    }

    /// Whether the list's answer is a listing.
    pub fn listed(&self, answer: &[Ipv4Addr]) -> bool {
        match &self.filter {
            None => !answer.is_empty(),
            Some(f) => answer.iter().any(|ip| f.matches(*ip)),
        }
    }
}

/// An address as DNS lists want it: `4.3.2.1` for 1.2.3.4, nibbles in
/// reverse for IPv6 (an IPv4-mapped address counts as IPv4).
pub fn reversed(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut parts = Vec::with_capacity(32);
            for b in v6.octets().iter().rev() {
                parts.push(format!("{:x}", b & 0xf));
                parts.push(format!("{:x}", b >> 4));
            }
            parts.join(".")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_numbers_lists_and_ranges() {
        let f = Filter::parse("127.0.0.[2..11]").expect("range");
        assert!(f.matches(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(f.matches(Ipv4Addr::new(127, 0, 0, 11)));
        assert!(!f.matches(Ipv4Addr::new(127, 0, 0, 12)));
        assert!(!f.matches(Ipv4Addr::new(127, 0, 1, 2)));
        let f = Filter::parse("127.0.[0;1].[2;4..5]").expect("lists");
        assert!(f.matches(Ipv4Addr::new(127, 0, 1, 4)));
        assert!(!f.matches(Ipv4Addr::new(127, 0, 1, 3)));
        for bad in [
            "127.0.0",
            "127.0.0.256",
            "127.0.0.[5..2]",
            "127.0.0.[]",
            "a.b.c.d",
        ] {
            assert!(Filter::parse(bad).is_none(), "{bad}");
        }
        let e = Entry::parse("zen.example.=127.0.0.2").expect("entry");
        assert_eq!(e.zone, "zen.example");
        assert!(e.listed(&[Ipv4Addr::new(127, 0, 0, 3), Ipv4Addr::new(127, 0, 0, 2)]));
        assert!(!e.listed(&[Ipv4Addr::new(127, 0, 0, 3)]));
        assert!(Entry::parse("any.example")
            .expect("entry")
            .listed(&[Ipv4Addr::new(127, 0, 0, 9)]));
        assert!(Entry::parse("x.example=1.2.3").is_none());
    }

    #[test]
    fn addresses_are_reversed_for_the_query() {
        assert_eq!(reversed("192.0.2.7".parse().expect("ip")), "7.2.0.192");
        assert_eq!(
            reversed("::ffff:192.0.2.7".parse().expect("ip")),
            "7.2.0.192"
        );
        assert_eq!(
            reversed("2001:db8::1".parse().expect("ip")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
        );
        let e = Entry::parse("zen.example").expect("entry");
        assert_eq!(e.query("7.2.0.192"), "7.2.0.192.zen.example");
    }
}
