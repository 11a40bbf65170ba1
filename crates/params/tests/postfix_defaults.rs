//! The registry against Postfix 3.7.11's own `postconf -d`: every parameter
//! that Postfix also has must default to Postfix's text, unless it is listed
//! below with the reason it differs.

use params::{table, Computed, Config, Kind, Param};
use std::collections::HashMap;
use std::path::Path;

const GOLDEN: &str = include_str!("../../../tests/golden/postfix-3.7.11-postconf-d.txt");

/// Names whose default differs from Postfix's on purpose, and why.
const EXCEPTIONS: &[(&str, &str)] = &[
    // mailsuite is a different program with its own names and directories.
    ("mail_name", "mailsuite naming"),
    (
        "syslog_name",
        "mailsuite naming (no multi-instance expression)",
    ),
    ("config_directory", "mailsuite directory"),
    ("queue_directory", "mailsuite directory"),
    ("daemon_directory", "mailsuite directory"),
    ("data_directory", "mailsuite directory"),
    ("meta_directory", "mailsuite directory"),
    ("sample_directory", "mailsuite directory"),
    ("readme_directory", "mailsuite directory"),
    ("html_directory", "mailsuite ships no HTML documentation"),
    ("shlib_directory", "mailsuite has no shared libraries"),
    // Postfix writes these as ${{$compatibility_level} <level ...} expressions;
    // mailsuite runs at level 3.6 and writes the value they have there.
    (
        "compatibility_level",
        "mailsuite runs at compatibility level 3.6",
    ),
    ("append_dot_mydomain", "compatibility level 3.6 value"),
    ("mynetworks_style", "compatibility level 3.6 value"),
    ("relay_domains", "compatibility level 3.6 value"),
    ("smtputf8_enable", "compatibility level 3.6 value"),
    ("respectful_logging", "compatibility level 3.6 value"),
    ("smtpd_relay_restrictions", "compatibility level 3.6 value"),
    (
        "smtpd_relay_before_recipient_restrictions",
        "compatibility level 3.6 value",
    ),
    (
        "smtpd_tls_fingerprint_digest",
        "compatibility level 3.6 value",
    ),
    (
        "smtp_tls_fingerprint_digest",
        "compatibility level 3.6 value",
    ),
    (
        "lmtp_tls_fingerprint_digest",
        "compatibility level 3.6 value",
    ),
    // Worked out from the host or the build, not text.
    ("myhostname", "computed from the host name"),
    ("mydomain", "computed from myhostname"),
    ("mynetworks", "computed from the host's interfaces"),
    ("mail_version", "this build's version"),
    // mailsuite's own choices.
    ("alias_maps", "no NIS: hash:/etc/aliases only"),
    (
        "enable_long_queue_ids",
        "mailsuite always uses long queue IDs",
    ),
];

fn golden() -> HashMap<&'static str, &'static str> {
    GOLDEN
        .lines()
        .map(|l| match l.split_once(" = ") {
            Some((n, v)) => (n, v),
            None => (l.trim_end_matches(" ="), ""),
        })
        .collect()
}

fn exception(name: &str) -> Option<&'static str> {
    EXCEPTIONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

#[test]
fn golden_file_is_complete() {
    let g = golden();
    assert!(g.len() > 1000, "only {} names in the golden file", g.len());
    assert_eq!(g.get("mail_version"), Some(&"3.7.11"));
}

#[test]
fn defaults_match_postfix() {
    let g = golden();
    let mut wrong = Vec::new();
    for p in table::ALL {
        let Some(theirs) = g.get(p.name) else {
            continue;
        };
        if exception(p.name).is_some() {
            continue;
        }
        if p.computed.is_some() || p.default != *theirs {
            wrong.push(format!(
                "{}: ours {:?}, Postfix {:?}",
                p.name, p.default, theirs
            ));
        }
    }
    assert!(wrong.is_empty(), "defaults differ:\n{}", wrong.join("\n"));
}

#[test]
fn exceptions_are_honest() {
    let g = golden();
    for (name, reason) in EXCEPTIONS {
        assert!(!reason.is_empty());
        let p = params::lookup(name).unwrap_or_else(|| panic!("{name}: not declared"));
        let theirs = g
            .get(name)
            .unwrap_or_else(|| panic!("{name}: not a Postfix parameter"));
        assert!(
            p.computed.is_some() || p.default != *theirs,
            "{name}: listed as an exception but matches Postfix"
        );
    }
    let mut names: Vec<&str> = EXCEPTIONS.iter().map(|(n, _)| *n).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        EXCEPTIONS.len(),
        "an exception is listed twice"
    );
}

#[test]
fn no_relational_expressions_in_defaults() {
    for p in table::ALL {
        assert!(
            !p.default.contains("${{"),
            "{}: {:?} uses a ${{{{...}}}} expression",
            p.name,
            p.default
        );
    }
}

/// Postfix takes the unit of a bare number from its default's last letter.
#[test]
fn time_units_follow_postfix() {
    let g = golden();
    for p in table::ALL {
        let Kind::Time { unit } = p.kind else {
            continue;
        };
        let Some(theirs) = g.get(p.name) else {
            continue;
        };
        let expected = theirs
            .chars()
            .last()
            .filter(char::is_ascii_alphabetic)
            .unwrap_or('s');
        assert_eq!(unit, expected, "{}: Postfix default {theirs:?}", p.name);
    }
}

/// The kind fits Postfix's own default text.
#[test]
fn kinds_fit_postfix_values() {
    let g = golden();
    for p in table::ALL {
        let Some(theirs) = g.get(p.name) else {
            continue;
        };
        if theirs.contains('$') || exception(p.name).is_some() {
            continue;
        }
        match p.kind {
            Kind::Bool => assert!(
                *theirs == "yes" || *theirs == "no",
                "{}: {theirs:?} is not a boolean",
                p.name
            ),
            Kind::Int | Kind::Size => assert!(
                theirs.parse::<i64>().is_ok(),
                "{}: {theirs:?} is not a number",
                p.name
            ),
            _ => {}
        }
    }
}

/// Every default, `$name` references included, expands and fits its bounds.
#[test]
fn all_defaults_expand_and_check() {
    let dir = Path::new("/nonexistent/mailsuite-defaults");
    let main_cf = params::main_cf::MainCf::empty(&dir.join("main.cf"));
    let cfg = Config::from_parts(dir, main_cf, &[]).expect("defaults load");
    assert_eq!(cfg.str(&table::MAIL_NAME), "mailsuite");
    assert_eq!(
        cfg.str(&table::LOCAL_RECIPIENT_MAPS),
        "proxy:unix:passwd.byname hash:/etc/aliases"
    );
    assert_eq!(cfg.int(&table::SMTPD_HARD_ERROR_LIMIT), 20);
    assert_eq!(cfg.time(&table::SMTPD_TIMEOUT).as_secs(), 300);
    assert_eq!(
        cfg.time(&table::MAXIMAL_QUEUE_LIFETIME).as_secs(),
        5 * 86400
    );
    assert_eq!(
        cfg.int(&table::SMTP_DESTINATION_CONCURRENCY_LIMIT),
        cfg.int(&table::DEFAULT_DESTINATION_CONCURRENCY_LIMIT)
    );
    assert!(cfg.bool(&table::SMTPUTF8_ENABLE));
    assert!(!cfg.bool(&table::APPEND_DOT_MYDOMAIN));
    assert!(cfg.bool(&table::ENABLE_LONG_QUEUE_IDS));
    // Raw parameters stay as written.
    assert_eq!(cfg.str(&table::FORWARD_PATH), table::FORWARD_PATH.default);
    assert!(cfg.str(&table::FORWARD_PATH).contains("$home"));
}

#[test]
fn seed_parameters_are_declared() {
    for name in [
        "myhostname",
        "mydomain",
        "myorigin",
        "inet_interfaces",
        "inet_protocols",
        "mydestination",
        "mynetworks",
        "mynetworks_style",
        "relay_domains",
        "home_mailbox",
        "message_size_limit",
        "mailbox_size_limit",
        "smtpd_banner",
        "masquerade_exceptions",
        "smtpd_sasl_type",
        "smtpd_sasl_path",
        "smtpd_sasl_auth_enable",
        "smtpd_sasl_security_options",
        "smtpd_sasl_local_domain",
        "smtpd_recipient_restrictions",
        "alias_maps",
        "mail_name",
        "virtual_mailbox_domains",
        "virtual_mailbox_maps",
        "virtual_alias_maps",
        "transport_maps",
        // Dovecot's names, read from main.cf.
        "mail_location",
        "disable_plaintext_auth",
        "login_trusted_networks",
        "auth_mechanisms",
        "ssl",
        "ssl_cert",
        "ssl_key",
        "protocols",
        "listen",
    ] {
        assert!(params::lookup(name).is_some(), "{name} is not declared");
    }
}

#[test]
fn identifiers_follow_names() {
    // Spot checks of the naming rule: upper-cased name; a leading digit spelled out.
    let pairs: [(&Param, &str); 4] = [
        (
            &table::DOUBLE_BOUNCE_NOTICE_RECIPIENT,
            "2bounce_notice_recipient",
        ),
        (&table::SMTPD_TLS_CAFILE, "smtpd_tls_CAfile"),
        (&table::MESSAGE_SIZE_LIMIT, "message_size_limit"),
        (&table::MAIL_LOCATION, "mail_location"),
    ];
    for (p, name) in pairs {
        assert_eq!(p.name, name);
    }
    assert_eq!(table::MYNETWORKS.computed, Some(Computed::MyNetworks));
    assert_eq!(table::MYNETWORKS.kind, Kind::List);
}

#[test]
fn dovecot_defaults() {
    let dir = Path::new("/nonexistent/mailsuite-defaults");
    let main_cf = params::main_cf::MainCf::empty(&dir.join("main.cf"));
    let cfg = Config::from_parts(dir, main_cf, &[]).expect("defaults load");
    assert_eq!(cfg.str(&table::MAIL_LOCATION), "");
    assert!(cfg.bool(&table::DISABLE_PLAINTEXT_AUTH));
    assert_eq!(cfg.list(&table::AUTH_MECHANISMS), vec!["plain"]);
    assert_eq!(cfg.str(&table::SSL), "yes");
    assert_eq!(cfg.str(&table::SSL_MIN_PROTOCOL), "TLSv1.2");
    assert_eq!(cfg.int(&table::MAIL_MAX_USERIP_CONNECTIONS), 10);
    assert_eq!(cfg.int(&table::FIRST_VALID_UID), 500);
    assert_eq!(cfg.str(&table::POP3_UIDL_FORMAT), "%08Xu%08Xv");
    assert_eq!(cfg.time(&table::IMAP_IDLE_NOTIFY_INTERVAL).as_secs(), 120);
    assert_eq!(cfg.time(&table::AUTH_FAILURE_DELAY).as_secs(), 2);
    assert_eq!(cfg.list(&table::PROTOCOLS), vec!["imap", "pop3", "lmtp"]);
}

/// `mynetworks` for each `mynetworks_style` is what Postfix's own postconf
/// works out on this host (skipped where Postfix is not installed).
#[test]
fn mynetworks_styles_match_postfix() {
    let postconf = std::path::Path::new("/usr/sbin/postconf");
    if !postconf.exists() {
        eprintln!("skipped: Postfix's postconf not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mynetworks_styles_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    for style in ["host", "subnet", "class"] {
        std::fs::write(dir.join("main.cf"), format!("mynetworks_style = {style}\n"))
            .expect("main.cf");
        let out = std::process::Command::new(postconf)
            .args(["-c", &dir.to_string_lossy(), "-h", "mynetworks"])
            .output()
            .expect("postconf");
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            params::netif::mynetworks(style),
            theirs,
            "mynetworks_style = {style}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
