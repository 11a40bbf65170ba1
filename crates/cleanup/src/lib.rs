//! The cleanup daemon's parts, kept in a library so they can be tested on their own.

pub mod checks;
pub mod clients;
pub mod header_addr;
pub mod headers;
pub mod message;
pub mod rewrite;
