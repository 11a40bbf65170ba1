//! IP networks as Postfix writes them in `mynetworks` and friends:
//! `192.0.2.0/24`, `[2001:db8::]/32`, `2001:db8::/32`, or a bare address.

use std::net::IpAddr;

/// A network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `192.0.2.0/24`, `[2001:db8::]/32`, `2001:db8::/32`, `192.0.2.7`,
    /// `[::1]`. Host bits beyond the prefix are cleared, as Postfix does
    /// (it warns about them).
    pub fn parse(text: &str) -> Option<Cidr> {
        let t = text.trim();
        let (addr, bits) = match t.rsplit_once('/') {
            Some((a, b)) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                (a, Some(b.parse::<u8>().ok()?))
            }
            Some(_) => return None,
            None => (t, None),
        };
        let addr = match addr.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']')?,
            None => addr,
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return None;
        }
        let c = Cidr { net, bits };
        Some(Cidr {
            net: c.masked(net),
            bits,
        })
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let m = if self.bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.bits))
                };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = if self.bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.bits))
                };
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    /// Parses a list of networks (login_trusted_networks): the good ones,
    /// and the items that are not networks, for the caller to warn about.
    pub fn parse_list(items: &[String]) -> (Vec<Cidr>, Vec<String>) {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for n in items {
            match Cidr::parse(n) {
                Some(c) => good.push(c),
                None => bad.push(n.clone()),
            }
        }
        (good, bad)
    }

    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && self.masked(ip) == self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let n = Cidr::parse("192.168.10.0/24").unwrap();
        assert!(n.contains("192.168.10.77".parse().unwrap()));
        assert!(!n.contains("192.168.11.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.168.10.1".parse().unwrap()));
        let v6 = Cidr::parse("[2001:db8::]/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("not an address").is_none());
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }
}
