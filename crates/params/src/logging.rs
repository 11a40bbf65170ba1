//! The logging parameters (`syslog_name`, `syslog_facility`,
//! `maillog_file`, `maillog_file_prefixes`, `myhostname`) turned into
//! maillog settings, for every program alike.

use crate::table as p;
use crate::Config;

/// Sets up logging for `program` from `config`. `stderr`: also print
/// `program: text` on standard error (commands, and the master until it
/// detaches). A worker passes the maillog descriptor the master gave it.
pub fn init(
    config: &Config,
    program: &str,
    stderr: bool,
    inherited_fd: Option<std::os::fd::RawFd>,
) {
    let maillog_file = config.str(&p::MAILLOG_FILE);
    // maillog_file_prefixes contains a mistake in maillog_file (the master
    // opens it as root): a file outside them stops every program, as in
    // Postfix's maillog_client_init(), and is never opened.
    let allowed = maillog_file.is_empty()
        || config
            .list(&p::MAILLOG_FILE_PREFIXES)
            .iter()
            .any(|prefix| maillog_file.starts_with(prefix.as_str()));
    let settings = maillog::Settings {
        syslog_name: config.str(&p::SYSLOG_NAME).to_string(),
        program: program.to_string(),
        facility: config.str(&p::SYSLOG_FACILITY).to_string(),
        maillog_file: Some(config.path(&p::MAILLOG_FILE))
            .filter(|f| !f.as_os_str().is_empty() && allowed),
        hostname: config.str(&p::MYHOSTNAME).to_string(),
        stderr: stderr || !allowed,
        inherited_fd: inherited_fd.filter(|_| allowed),
        internal_addresses: config.str(&p::INFO_LOG_ADDRESS_FORMAT).trim() == "internal",
    };
    if let Err(e) = maillog::init(settings) {
        maillog::warning!("{e}");
    }
    if !allowed {
        maillog::fatal!(
            "{} value '{maillog_file}' does not match any prefix in {}",
            p::MAILLOG_FILE.name,
            p::MAILLOG_FILE_PREFIXES.name
        );
    }
}
