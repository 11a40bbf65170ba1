//! The SMTP and LMTP delivery agents' parts: the daemon ([`agent`]), next-hop parsing ([`nexthop`]), one
//! connection ([`conn`]), SMTP AUTH ([`sasl`]), one delivery request
//! ([`deliver`]), what changes in mail on its way out ([`output`]:
//! smtp_generic_maps, smtp_header_checks, smtp_body_checks), and 8-bit mail
//! made 7-bit for servers without 8BITMIME (`downgrade`).

pub mod agent;
pub mod cache;
pub mod conn;
pub mod deliver;
mod downgrade;
pub mod nexthop;
pub mod output;
pub mod sasl;

#[cfg(test)]
mod tests;
