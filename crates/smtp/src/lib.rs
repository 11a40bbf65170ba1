//! The SMTP and LMTP delivery agents' parts: the daemon ([`agent`]), next-hop parsing ([`nexthop`]), one
//! connection ([`conn`]), SMTP AUTH ([`sasl`]), one delivery request
//! ([`deliver`]), and 8-bit mail made 7-bit for servers without 8BITMIME
//! (`downgrade`).

pub mod agent;
pub mod cache;
pub mod conn;
pub mod deliver;
mod downgrade;
pub mod nexthop;
pub mod sasl;

#[cfg(test)]
mod tests;
