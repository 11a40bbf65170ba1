//! The SMTP and LMTP delivery agents' parts: the daemon ([`agent`]), next-hop parsing ([`nexthop`]), one
//! connection ([`conn`]), SMTP AUTH ([`sasl`]), and one delivery request
//! ([`deliver`]).

pub mod agent;
pub mod cache;
pub mod conn;
pub mod deliver;
pub mod nexthop;
pub mod sasl;

#[cfg(test)]
mod tests;
