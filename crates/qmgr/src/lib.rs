//! The queue manager's parts: routing ([`resolve`]), delivery through the
//! agents ([`dispatch`]) and what happens to each message ([`manager`]).

pub mod dispatch;
pub mod manager;
pub mod resolve;

use params::{table as p, Config};

/// The addresses this host receives mail on (`inet_interfaces`, with `all`
/// meaning every interface address), for `user@[address]` recipients.
pub fn local_addresses(cfg: &Config) -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    for item in cfg.list(&p::INET_INTERFACES) {
        match item.as_str() {
            "all" => {
                if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
                    for ifa in addrs {
                        if let Some(a) = ifa.address {
                            if let Some(v4) = a.as_sockaddr_in() {
                                out.push(std::net::IpAddr::V4(v4.ip()));
                            } else if let Some(v6) = a.as_sockaddr_in6() {
                                out.push(std::net::IpAddr::V6(v6.ip()));
                            }
                        }
                    }
                }
            }
            "loopback-only" => {
                out.push(std::net::Ipv4Addr::LOCALHOST.into());
                out.push(std::net::Ipv6Addr::LOCALHOST.into());
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
