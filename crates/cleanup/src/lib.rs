//! The cleanup daemon's parts, kept in a library so they can be tested on their own.

pub mod headers;
pub mod message;
pub mod milters;
pub mod mime;
pub mod rewrite;
pub mod tokens;
