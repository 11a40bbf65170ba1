//! Low-level helpers shared by every mailsuite program.
//!
//! Nothing here knows about mail: descriptors ([`fd`]), sets of bytes as
//! main.cf writes them ([`byteset`]), files written so a crash
//! leaves the old or the new content ([`safe_file`]), the locked pid file
//! ([`pidfile`]), the fixed-order privilege drop ([`privs`]), Postfix-style
//! option parsing ([`getopt`]), exit codes ([`sysexits`]), the host's name
//! ([`host`]), sockets and the services main.cf names ([`socket`]), answers
//! reused for a while ([`ttl_cache`]) and files that get their name only
//! when whole ([`unnamed`]), and an OS error in C's words ([`strerror`]).

pub mod base64;
pub mod byteset;
pub mod command;
pub mod fd;
pub mod getopt;
pub mod heap;
pub mod host;
pub mod mutf7;
pub mod pidfile;
pub mod privs;
pub mod random;
pub mod safe_file;
pub mod socket;
pub mod sysexits;
pub mod tabescape;
pub mod text;
pub mod time;
pub mod ttl_cache;
pub mod unnamed;

/// An I/O error's text as C's `strerror` gives it ("No space left on
/// device"), without Rust's " (os error 28)" suffix: what Postfix prints.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod strerror_tests {
    #[test]
    fn os_errors_read_as_strerror() {
        let e = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(super::strerror(&e), "No space left on device");
        let e = std::io::Error::other("no address");
        assert_eq!(super::strerror(&e), "no address");
    }
}
