//! This host's interfaces: their addresses (`inet_interfaces = all`,
//! `permit_inet_interfaces`), and the default `mynetworks`, their
//! networks per `mynetworks_style` (host, subnet or class), in Postfix's
//! notation.

use nix::ifaddrs::getifaddrs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

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

/// The networks for `style`, loopback included as Postfix gives it
/// (`host`: 127.0.0.1/32; `subnet` and `class`: 127.0.0.0/8).
/// Worked out once per process and style (as Postfix does at start):
/// every parameter whose default names `$mynetworks` asks again, and
/// each walk of the interfaces is a netlink dump.
pub fn mynetworks(style: &str) -> String {
    static CACHE: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = cache.iter().find(|(s, _)| s == style) {
        return v.clone();
    }
    let v = from_interfaces(style);
    cache.push((style.to_string(), v.clone()));
    v
}

fn from_interfaces(style: &str) -> String {
    let mut out: Vec<String> = Vec::new();
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
    if out.is_empty() {
        out.push(
            if style == "host" {
                "127.0.0.1/32"
            } else {
                "127.0.0.0/8"
            }
            .to_string(),
        );
    }
    out.sort_by_key(|n| n.starts_with('['));
    out.join(" ")
}

/// Every address of this host's interfaces.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = getifaddrs() {
        for ifa in addrs {
            let Some(a) = ifa.address else { continue };
            if let Some(v4) = a.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = a.as_sockaddr_in6() {
                out.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    out
}

/// The addresses `inet_interfaces`-style `items` stand for: `all` (every
/// interface address), `loopback-only` or `localhost` (127.0.0.1 and
/// ::1), and address literals (bracketed or not); anything else
/// (a host name) is skipped.
pub fn addresses_of(items: &[String]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            "all" => out.extend(interface_addresses()),
            "loopback-only" | "localhost" => {
                out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
                out.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
            }
            other => {
                if let Ok(ip) = other.trim_start_matches('[').trim_end_matches(']').parse() {
                    out.push(ip);
                }
            }
        }
    }
    out
}
