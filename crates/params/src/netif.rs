//! The default `mynetworks`: this host's interface networks, per
//! `mynetworks_style` (host, subnet or class), in Postfix's notation.

use nix::ifaddrs::getifaddrs;
use std::net::{Ipv4Addr, Ipv6Addr};

fn mask_v4(a: Ipv4Addr, bits: u32) -> Ipv4Addr {
    let m = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask_v6(a: Ipv6Addr, bits: u32) -> Ipv6Addr {
    let m = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    Ipv6Addr::from(u128::from(a) & m)
}

fn class_bits(a: Ipv4Addr) -> u32 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// The networks for `style`; loopback is always included as 127.0.0.0/8.
pub fn mynetworks(style: &str) -> String {
    let mut out: Vec<String> = vec!["127.0.0.0/8".to_string()];
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if let Ok(addrs) = getifaddrs() {
        for ifa in addrs {
            let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
                continue;
            };
            if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
                let ip = a.ip();
                if ip.is_loopback() {
                    continue;
                }
                let bits = u32::from(m.ip()).count_ones();
                let s = match style {
                    "host" => format!("{ip}/32"),
                    "class" => {
                        let b = class_bits(ip);
                        format!("{}/{b}", mask_v4(ip, b))
                    }
                    _ => format!("{}/{bits}", mask_v4(ip, bits)),
                };
                push(s);
            } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                let ip = a.ip();
                let bits = u128::from(m.ip()).count_ones();
                let s = match (style, ip.is_loopback()) {
                    (_, true) => "[::1]/128".to_string(),
                    ("host", false) => format!("[{ip}]/128"),
                    _ => format!("[{}]/{bits}", mask_v6(ip, bits)),
                };
                push(s);
            }
        }
    }
    out.sort_by_key(|n| n.starts_with('['));
    out.join(" ")
}
