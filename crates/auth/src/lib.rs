//! The authentication service and its client: the Dovecot auth protocol
//! (version 1.2) over a UNIX socket, so that `smtpd_sasl_type = dovecot`
//! works against this service or against a real Dovecot.
//!
//! * [`protocol`]: line framing, escaping and typed parsing, both sides;
//! * [`mech`]: PLAIN and LOGIN, server side;
//! * [`passdb`], [`passwd_file`], [`crypt`]: the password databases (the
//!   system's accounts, Dovecot's passwd-file) and the system's crypt;
//! * [`throttle`]: the per-address failure delay;
//! * [`service`]: the server engine and its place under the skeleton;
//! * [`client`]: what smtpd, pop3d and imapd use.

pub use util::base64;
pub mod client;
pub mod crypt;
pub mod mech;
pub mod passdb;
pub mod passwd_file;
pub mod protocol;
pub mod service;
pub mod throttle;

/// `text` for a log line: control characters shown as `?`, at most `max`
/// characters.
pub fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
