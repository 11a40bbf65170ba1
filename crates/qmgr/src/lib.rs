//! The queue manager's parts: routing ([`resolve`]), delivery through the
//! agents ([`dispatch`]) and what happens to each message ([`manager`]).

pub mod dispatch;
pub mod manager;
pub mod resolve;

use params::{table as p, Config};

/// The addresses this host receives mail on (`inet_interfaces`, with `all`
/// meaning every interface address), for `user@[address]` recipients.
pub fn local_addresses(cfg: &Config) -> Vec<std::net::IpAddr> {
    params::netif::addresses_of(&cfg.list(&p::INET_INTERFACES))
}
