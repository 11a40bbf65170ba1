//! The local delivery agent's parts: per-delivery privileges ([`privs`])
//! and the delivery itself ([`deliver`]).

pub mod deliver;
pub mod privs;
