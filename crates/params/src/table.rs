//! Every parameter mailsuite knows, declared once. Defaults are Postfix's
//! (at `compatibility_level = 3.6`) unless the doc says otherwise; Dovecot's
//! names are used for the POP3/IMAP/auth settings.

use crate::registry::Computed;

const MAX: i64 = i64::MAX;

crate::declare! {
    // --- identity -------------------------------------------------------
    MAIL_NAME = string("mail_name", "mailsuite", "The mail system name shown in the SMTP greeting and in DSNs.");
    MAIL_VERSION = computed("mail_version", Computed::MailVersion, "The version of this mail system.");
    MYHOSTNAME = computed("myhostname", Computed::MyHostname, "The internet hostname of this mail system.");
    MYDOMAIN = computed("mydomain", Computed::MyDomain, "The internet domain name of this mail system.");
    MYORIGIN = string("myorigin", "$myhostname", "The domain that locally-posted mail appears to come from.");
    MYDESTINATION = list("mydestination", "$myhostname, localhost.$mydomain, localhost", "The domains this machine delivers locally.");
    COMPATIBILITY_LEVEL = string("compatibility_level", "3.6", "The Postfix compatibility level whose defaults apply (mailsuite: 3.6).");

    // --- network --------------------------------------------------------
    INET_INTERFACES = list("inet_interfaces", "all", "The local network interface addresses this mail system receives mail on.");
    INET_PROTOCOLS = list("inet_protocols", "all", "The Internet protocols used: ipv4, ipv6 or all.");
    MYNETWORKS_STYLE = string("mynetworks_style", "host", "How mynetworks is computed when it is not set: host, subnet or class.");
    MYNETWORKS = computed("mynetworks", Computed::MyNetworks, "The trusted SMTP clients that may relay mail.").as_list();
    RELAY_DOMAINS = list("relay_domains", "", "The remote domains this system relays mail to.");

    // --- directories and owners ----------------------------------------
    CONFIG_DIRECTORY = string("config_directory", "/etc/mailsuite", "The directory with main.cf and master.cf.");
    QUEUE_DIRECTORY = string("queue_directory", "/var/spool/mailsuite", "The queue directory.");
    DAEMON_DIRECTORY = string("daemon_directory", "/usr/libexec/mailsuite", "The directory with the master and its daemon programs.");
    COMMAND_DIRECTORY = string("command_directory", "/usr/sbin", "The directory with the administrative commands.");
    DATA_DIRECTORY = string("data_directory", "/var/lib/mailsuite", "The directory with data files (caches, random seeds).");
    MAIL_OWNER = string("mail_owner", "postfix", "The account that owns the queue and runs the unprivileged daemons.");
    SETGID_GROUP = string("setgid_group", "postdrop", "The group of the queue submission programs.");
    DEFAULT_PRIVS = string("default_privs", "nobody", "The default rights of the local delivery agent for non-user destinations.");

    // --- delivery basics (used by the seeds) ------------------------------
    HOME_MAILBOX = string("home_mailbox", "", "The mailbox pathname relative to a user's home directory (Maildir/ for Maildir).");
    MAIL_SPOOL_DIRECTORY = string("mail_spool_directory", "/var/mail", "The directory with UNIX-style mailboxes.");
    MESSAGE_SIZE_LIMIT = size("message_size_limit", "10240000", 0, MAX, "The maximal size in bytes of a message, including envelope information.");
    MAILBOX_SIZE_LIMIT = size("mailbox_size_limit", "51200000", 0, MAX, "The maximal size of any local mailbox or maildir file, or zero for no limit.");
    SMTPD_BANNER = string("smtpd_banner", "$myhostname ESMTP $mail_name", "The text after the 220 status code in the SMTP greeting.");
    ALIAS_MAPS = list("alias_maps", "hash:/etc/aliases", "The alias databases used for local delivery.");
    ALIAS_DATABASE = list("alias_database", "hash:/etc/aliases", "The alias databases built by newaliases.");
    MASQUERADE_EXCEPTIONS = list("masquerade_exceptions", "", "User names that are not subjected to address masquerading.");

    // --- master and the process pools -----------------------------------
    DEFAULT_PROCESS_LIMIT = int("default_process_limit", "100", 1, MAX, "The default maximal number of processes per service (master.cf maxproc '-').");
    MAX_IDLE = time("max_idle", "100s", 's', 1, MAX, "How long an idle daemon waits for the next client before it exits.");
    MAX_USE = int("max_use", "100", 1, MAX, "How many clients a daemon serves before it exits.");
    SERVICE_THROTTLE_TIME = time("service_throttle_time", "60s", 's', 1, MAX, "How long the master waits before starting a service whose daemon failed at start.");
    IPC_TIMEOUT = time("ipc_timeout", "3600s", 's', 1, MAX, "The time limit for sending or receiving information over an internal channel.");
    DAEMON_TIMEOUT = time("daemon_timeout", "18000s", 's', 1, MAX, "How much time a daemon may take to handle a request before it is terminated.");
    MASTER_STOP_TIMEOUT = time("master_stop_timeout", "5s", 's', 0, MAX, "mailsuite: how long the master waits for its workers to exit on stop before killing them.");

    // --- logging ----------------------------------------------------------
    SYSLOG_NAME = string("syslog_name", "mailsuite", "The name that starts each log line's program field (mailsuite/smtpd).");
    SYSLOG_FACILITY = string("syslog_facility", "mail", "The syslog facility of mailsuite logging.");
    MAILLOG_FILE = string("maillog_file", "", "Append log lines to this file instead of sending them to syslog.");
    MAILLOG_FILE_PREFIXES = list("maillog_file_prefixes", "/var, /dev/stdout", "Pathname prefixes that maillog_file may start with.");
}

#[cfg(test)]
mod tests {
    use super::ALL;
    use crate::value;

    #[test]
    fn names_are_unique_and_sorted_output_is_stable() {
        let mut names: Vec<&str> = ALL.iter().map(|p| p.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a parameter is declared twice");
    }

    #[test]
    fn every_literal_default_fits_its_declaration() {
        for p in ALL {
            if p.computed.is_none() && !p.default.contains('$') {
                value::check(p, p.default)
                    .unwrap_or_else(|e| panic!("{}: default {:?}: {e}", p.name, p.default));
            }
        }
    }

    #[test]
    fn every_parameter_has_a_doc() {
        for p in ALL {
            assert!(
                p.doc.len() > 10 && p.doc.ends_with('.'),
                "{}: doc {:?}",
                p.name,
                p.doc
            );
        }
    }
}
