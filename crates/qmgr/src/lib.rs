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
            "all" => out.extend(params::netif::interface_addresses()),
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
