//! The main.cf and master.cf that mailsuite ships (`etc/`) load without
//! errors or warnings, name only declared parameters, and every commented
//! example in them is a valid setting.

use params::master_cf::{MasterCf, ServiceType};
use params::Config;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn etc(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc")
        .join(file)
}

fn read(file: &str) -> String {
    let path = etc(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A fresh directory holding `main_cf` as main.cf, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn with_main_cf(main_cf: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "params-shipped-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        std::fs::write(dir.join("main.cf"), main_cf).expect("write main.cf");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(main_cf: &str) -> Config {
    let dir = TempDir::with_main_cf(main_cf);
    Config::load(&dir.0, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// `#name = value` example lines, uncommented.
fn examples(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(n, _)| {
            let n = n.trim_end();
            !n.is_empty()
                && n.len() == n.trim_start().len()
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn main_cf_loads_without_warnings() {
    let cfg = load(&read("main.cf"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.value("compatibility_level"), Some("3.6"));
    // Only compatibility_level is set; everything else is a commented example.
    let set: Vec<&str> = cfg
        .main_cf
        .definitions()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(set, ["compatibility_level"]);
}

#[test]
fn every_main_cf_example_is_declared_and_valid() {
    let text = read("main.cf");
    let examples = examples(&text);
    assert!(examples.len() > 30, "found only {examples:?}");
    for (name, value) in &examples {
        assert!(params::lookup(name).is_some(), "{name} is not declared");
        // Each example on its own, so that alternatives do not mask one another.
        let cfg = load(&format!("{name} = {value}\n"));
        assert!(cfg.warnings.is_empty(), "{name}: {:?}", cfg.warnings);
    }
    // And all together, last one wins, as a person who uncomments them all would get.
    let all: String = examples
        .iter()
        .map(|(n, v)| format!("{n} = {v}\n"))
        .collect();
    let cfg = load(&all);
    assert!(
        cfg.warnings
            .iter()
            .all(|w| w.contains("overriding earlier entry")),
        "{:?}",
        cfg.warnings
    );
}

#[test]
fn every_main_cf_default_shown_first_is_the_real_default() {
    // The first example of a parameter with a literal default is that default.
    let text = read("main.cf");
    let mut seen = std::collections::HashSet::new();
    for (name, value) in examples(&text) {
        if !seen.insert(name.clone()) {
            continue;
        }
        let p = params::lookup(&name).expect("declared");
        if p.computed.is_none() {
            assert_eq!(value, p.default, "{name}: first example is not the default");
        }
    }
}

#[test]
fn master_cf_parses_with_the_expected_services() {
    let path = etc("master.cf");
    let m = MasterCf::read(&path).unwrap_or_else(|e| panic!("{e}"));
    // No flush, error or retry lines: there is no flush daemon, and qmgr
    // does the error and retry transports itself.
    let expect = [
        ("smtp", ServiceType::Inet, "smtpd"),
        ("pickup", ServiceType::Unix, "pickup"),
        ("cleanup", ServiceType::Unix, "cleanup"),
        ("qmgr", ServiceType::Unix, "qmgr"),
        ("bounce", ServiceType::Unix, "bounce"),
        ("defer", ServiceType::Unix, "bounce"),
        ("trace", ServiceType::Unix, "bounce"),
        ("verify", ServiceType::Unix, "verify"),
        ("showq", ServiceType::Unix, "showq"),
        ("proxymap", ServiceType::Unix, "proxymap"),
        ("anvil", ServiceType::Unix, "anvil"),
        ("smtp", ServiceType::Unix, "smtp"),
        ("relay", ServiceType::Unix, "smtp"),
        ("lmtp", ServiceType::Unix, "lmtp"),
        ("local", ServiceType::Unix, "local"),
        ("virtual", ServiceType::Unix, "virtual"),
        ("auth", ServiceType::Unix, "auth"),
        ("pop3", ServiceType::Inet, "pop3d"),
        ("imap", ServiceType::Inet, "imapd"),
    ];
    for (name, kind, command) in expect {
        let s = m
            .find(name, kind)
            .unwrap_or_else(|| panic!("no {name}/{}", kind.as_str()));
        assert_eq!(s.command, command, "{name}");
    }
    assert_eq!(m.services().len(), expect.len());
    for s in m.services() {
        assert!(!s.chroot, "{} is chrooted", s.id());
        for (n, _) in s.overrides() {
            assert!(
                params::lookup(&n).is_some(),
                "{}: -o {n} undeclared",
                s.id()
            );
        }
    }
    let qmgr = m.find("qmgr", ServiceType::Unix).expect("qmgr");
    assert_eq!(qmgr.wakeup.map(|w| w.seconds), Some(300));
    assert_eq!(qmgr.maxproc, Some(1));
    let relay = m.find("relay", ServiceType::Unix).expect("relay");
    assert_eq!(
        relay.overrides(),
        [("syslog_name".into(), "mailsuite/$service_name".into())]
    );
}

#[test]
fn master_cf_commented_entries_parse_when_uncommented() {
    // Uncomment the postscreen, submission, smtps, pop3s and imaps blocks
    // (and the relay example), as a person enabling them would.
    let text = read("master.cf");
    let mut out = String::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix('#') else {
            out.push_str(l);
            out.push('\n');
            continue;
        };
        let entry = rest
            .split_whitespace()
            .nth(1)
            .is_some_and(|t| ServiceType::parse(t).is_some());
        let option = rest.starts_with(' ') && rest.trim_start().starts_with("-o ");
        if entry && rest.split_whitespace().last() == Some("postscreen") {
            // postscreen takes the smtp port: its line replaces smtpd's.
            out = out
                .lines()
                .filter(|l| !(l.starts_with("smtp ") && l.contains(" inet ")))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        if (entry && !rest.starts_with(' ') && !rest.starts_with("127.0.0.1:")) || option {
            out.push_str(if option && !rest.starts_with("  ") {
                " "
            } else {
                ""
            });
            out.push_str(rest);
            out.push('\n');
        }
    }
    let m = MasterCf::parse(&etc("master.cf"), &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    for name in ["submission", "smtps", "pop3s", "imaps"] {
        let s = m
            .find(name, ServiceType::Inet)
            .unwrap_or_else(|| panic!("no {name}\n{out}"));
        assert!(!s.overrides().is_empty(), "{name}");
        for (n, _) in s.overrides() {
            assert!(params::lookup(&n).is_some(), "{name}: -o {n} undeclared");
        }
    }
    let screen = m.find("smtp", ServiceType::Inet).expect("smtp");
    assert_eq!(screen.command, "postscreen");
    assert_eq!(
        m.find("smtpd", ServiceType::Pass).expect("pass").command,
        "smtpd"
    );
    let sub = m.find("submission", ServiceType::Inet).expect("submission");
    assert!(sub
        .overrides()
        .contains(&("smtpd_tls_security_level".into(), "encrypt".into())));
    let relay = m.find("relay", ServiceType::Unix).expect("relay");
    for (n, _) in relay.overrides() {
        assert!(params::lookup(&n).is_some(), "relay: -o {n} undeclared");
    }
}
