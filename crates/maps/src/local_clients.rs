//! Whether a client counts as local for header rewriting
//! (`local_header_rewrite_clients`): `permit_inet_interfaces` (the client
//! connected from one of this host's addresses), `permit_mynetworks`,
//! `permit_sasl_authenticated`, `static:all`, or an address or CIDR block.

use addr::net::Cidr;
use std::net::IpAddr;

/// The `local_header_rewrite_clients` rules.
#[derive(Debug, Clone, Default)]
pub struct LocalClients {
    inet_interfaces: bool,
    sasl: bool,
    all: bool,
    networks: Vec<Cidr>,
    interfaces: Vec<IpAddr>,
}

impl LocalClients {
    /// Builds the rules; `mynetworks` is used for `permit_mynetworks`.
    pub fn new(rules: &[String], mynetworks: &[String]) -> LocalClients {
        let mut lc = LocalClients::default();
        for r in rules {
            match r.as_str() {
                "permit_inet_interfaces" => {
                    lc.inet_interfaces = true;
                    lc.interfaces = params::netif::interface_addresses();
                }
                "permit_sasl_authenticated" => lc.sasl = true,
                "permit_mynetworks" => lc
                    .networks
                    .extend(mynetworks.iter().filter_map(|n| Cidr::parse(n))),
                "static:all" => lc.all = true,
                other => lc.networks.extend(Cidr::parse(other)),
            }
        }
        lc
    }

    pub fn is_local(&self, addr: Option<IpAddr>, sasl_user: bool) -> bool {
        if self.all || (self.sasl && sasl_user) {
            return true;
        }
        let Some(ip) = addr else { return false };
        (self.inet_interfaces && self.interfaces.contains(&ip))
            || self.networks.iter().any(|n| n.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_client_rules() {
        let lc = LocalClients::new(&["permit_inet_interfaces".into()], &[]);
        assert!(lc.is_local(Some("127.0.0.1".parse().unwrap()), false));
        assert!(!lc.is_local(Some("192.0.2.1".parse().unwrap()), false));
        let lc = LocalClients::new(
            &[
                "permit_mynetworks".into(),
                "permit_sasl_authenticated".into(),
            ],
            &["192.0.2.0/24".into()],
        );
        assert!(lc.is_local(Some("192.0.2.1".parse().unwrap()), false));
        assert!(lc.is_local(None, true));
        assert!(!lc.is_local(None, false));
    }
}
