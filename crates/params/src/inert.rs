//! Parameters that mailsuite accepts, so that a Postfix main.cf loads
//! unchanged, but that nothing here reads: the features they steer are
//! not built (milters, policy services, rate limits, address verification,
//! session caches…) or mean nothing here (`html_directory`). `mailsuite
//! check` names each one a main.cf sets, so nobody believes a setting works
//! when it does not. A test keeps the list true: every name here is read
//! nowhere in the code, and every declared parameter the code never reads
//! is here.

/// The inert parameters, sorted.
pub const INERT: &[&str] = &[
    "address_verify_sender_ttl",
    "application_event_drain_time",
    "backwards_bounce_logfile_compatibility",
    "berkeley_db_create_buffer_size",
    "berkeley_db_read_buffer_size",
    "best_mx_transport",
    "cyrus_sasl_config_path",
    "daemon_table_open_error_is_fatal",
    "debug_peer_level",
    "debugger_command",
    "default_delivery_slot_cost",
    "default_delivery_slot_discount",
    "default_delivery_slot_loan",
    "default_extra_recipient_limit",
    "default_filter_nexthop",
    "default_minimum_delivery_slots",
    "default_recipient_limit",
    "default_recipient_refill_delay",
    "default_recipient_refill_limit",
    "defer_service_name",
    "dont_remove",
    "error_service_name",
    "fast_flush_purge_time",
    "fast_flush_refresh_time",
    "flush_service_name",
    "fork_attempts",
    "fork_delay",
    "helpful_warnings",
    "internal_mail_filter_classes",
    "ipc_idle",
    "ipc_ttl",
    "lmdb_map_size",
    "lmtp_assume_final",
    "lmtp_sasl_path",
    "lmtp_sasl_type",
    "lmtp_tls_session_cache_database",
    "mail_debug",
    "mail_privileged_group",
    "mailbox_idle_check_interval",
    "maildir_very_dirty_syncs",
    "mailq_path",
    "manpage_directory",
    "maps_rbl_domains",
    "mbox_lock_timeout",
    "mbox_read_locks",
    "mbox_write_locks",
    "milter_protocol",
    "milter_unknown_command_macros",
    "multi_instance_enable",
    "multi_instance_group",
    "multi_instance_name",
    "multi_instance_wrapper",
    "newaliases_path",
    "postlog_service_name",
    "postlogd_watchdog_timeout",
    "postscreen_watchdog_timeout",
    "process_id_directory",
    "proxy_write_maps",
    "proxywrite_service_name",
    "qmgr_clog_warn_time",
    "qmgr_daemon_timeout",
    "qmgr_fudge_factor",
    "qmgr_ipc_timeout",
    "qmgr_message_recipient_minimum",
    "rewrite_service_name",
    "sendmail_path",
    "smtp_always_send_ehlo",
    "smtp_balance_inet_protocols",
    "smtp_cname_overrides_servername",
    "smtp_dns_resolver_options",
    "smtp_pix_workaround_delay_time",
    "smtp_pix_workaround_maps",
    "smtp_pix_workaround_threshold_time",
    "smtp_pix_workarounds",
    "smtp_quote_rfc821_envelope",
    "smtp_sasl_auth_cache_name",
    "smtp_sasl_auth_cache_time",
    "smtp_sasl_path",
    "smtp_sasl_tls_verified_security_options",
    "smtp_sasl_type",
    "smtp_send_dummy_mail_auth",
    "smtp_tls_block_early_mail_reply",
    "smtp_tls_connection_reuse",
    "smtp_tls_dcert_file",
    "smtp_tls_dkey_file",
    "smtp_tls_enforce_peername",
    "smtp_tls_per_site",
    "smtp_tls_scert_verifydepth",
    "smtp_tls_session_cache_database",
    "smtp_tls_session_cache_timeout",
    "smtp_tls_trust_anchor_file",
    "smtpd_tls_always_issue_session_ids",
    "smtpd_tls_ccert_verifydepth",
    "smtpd_tls_dcert_file",
    "smtpd_tls_dh1024_param_file",
    "smtpd_tls_dkey_file",
    "smtpd_tls_session_cache_database",
    "ssl_ca",
    "ssl_prefer_server_ciphers",
    "sun_mailtool_compatibility",
    "tcp_windowsize",
    "tls_random_source",
    "tls_ssl_options",
    "tlsmgr_service_name",
    "trace_service_name",
    "transport_retry_time",
    "trigger_timeout",
];

/// Whether `name` is accepted but has no effect.
pub fn is_inert(name: &str) -> bool {
    INERT.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every `.rs` file under `dir`, comments stripped, but for the
    /// parameter table and this file.
    fn code(dir: &Path, out: &mut String) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                code(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.ends_with("params/src/table.rs")
                && !p.ends_with("params/src/inert.rs")
            {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for line in text.lines() {
                    let line = match line.find("//") {
                        Some(i) => &line[..i],
                        None => line,
                    };
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }

    fn mentions_ident(code: &str, ident: &str) -> bool {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        code.match_indices(ident).any(|(i, _)| {
            let before = code.as_bytes().get(i.wrapping_sub(1)).copied();
            let after = code.as_bytes().get(i + ident.len()).copied();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    #[test]
    fn the_list_is_sorted_and_declared() {
        assert!(
            INERT.windows(2).all(|w| w[0] < w[1]),
            "INERT must be sorted"
        );
        for n in INERT {
            assert!(crate::lookup(n).is_some(), "{n} is not declared");
        }
    }

    #[test]
    fn the_list_says_what_the_code_reads() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut all = String::new();
        code(&crates, &mut all);
        let mut read_but_listed = Vec::new();
        let mut unread_not_listed = Vec::new();
        // Each declaration's constant: `IDENT = kind("name", …`.
        let table = std::fs::read_to_string(crates.join("params/src/table.rs")).unwrap();
        let ident_of = |name: &str| {
            table.lines().find_map(|l| {
                let (ident, rest) = l.trim().split_once(" = ")?;
                let quoted = rest.split_once('(')?.1.strip_prefix('"')?;
                (quoted.split('"').next()? == name).then(|| ident.to_string())
            })
        };
        let mut read: std::collections::BTreeSet<&str> = crate::table::ALL
            .iter()
            .filter(|p| {
                let ident =
                    ident_of(p.name).unwrap_or_else(|| panic!("{} has no constant", p.name));
                mentions_ident(&all, &ident)
                    || all.contains(&format!("\"{}\"", p.name))
                    || (crate::is_dynamic_name(p.name) && !p.name.starts_with("default_"))
            })
            .map(|p| p.name)
            .collect();
        // A parameter named in the default of one that is read takes effect
        // through it (`virtual_alias_maps = $virtual_maps`); proxy_read_maps
        // only lists tables the proxy may open.
        loop {
            let defaults: String = crate::table::ALL
                .iter()
                .filter(|p| read.contains(p.name) && p.name != "proxy_read_maps")
                .map(|p| format!("{}\n", p.default))
                .collect();
            let more: Vec<&str> = crate::table::ALL
                .iter()
                .filter(|p| !read.contains(p.name))
                .filter(|p| {
                    mentions_ident(&defaults, &format!("${}", p.name))
                        || defaults.contains(&format!("${{{}", p.name))
                })
                .map(|p| p.name)
                .collect();
            if more.is_empty() {
                break;
            }
            read.extend(more);
        }
        for p in crate::table::ALL {
            let read = read.contains(p.name);
            match (read, is_inert(p.name)) {
                (true, true) => read_but_listed.push(p.name),
                (false, false) => unread_not_listed.push(p.name),
                _ => {}
            }
        }
        assert!(
            read_but_listed.is_empty(),
            "read by the code, so not inert: {read_but_listed:?}"
        );
        assert!(
            unread_not_listed.is_empty(),
            "read nowhere, so inert (add to INERT): {unread_not_listed:?}"
        );
    }
}
