//! The logging parameters (`syslog_name`, `syslog_facility`,
//! `maillog_file`, `myhostname`) turned into maillog settings, for every
//! program alike.

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
    let settings = maillog::Settings {
        syslog_name: config.str(&p::SYSLOG_NAME).to_string(),
        program: program.to_string(),
        facility: config.str(&p::SYSLOG_FACILITY).to_string(),
        maillog_file: Some(config.path(&p::MAILLOG_FILE)).filter(|f| !f.as_os_str().is_empty()),
        hostname: config.str(&p::MYHOSTNAME).to_string(),
        stderr,
        inherited_fd,
    };
    if let Err(e) = maillog::init(settings) {
        maillog::warning!("{e}");
    }
}
