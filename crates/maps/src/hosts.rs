//! Host and network lists as Postfix's `namadr_list` reads them, for
//! `mynetworks`: addresses and CIDR blocks (`192.0.2.0/24`,
//! `[2001:db8::]/32`, a bare address), host or domain names (a parent
//! domain matches its subdomains, as `parent_domain_matches_subdomains`
//! says by default for mynetworks), `/file/name` (patterns read from a
//! file), `type:table` (the client name, then its address, looked up), and
//! `!pattern` to exclude. The first pattern that matches decides.

use addr::net::Cidr;
use std::net::IpAddr;

enum Pattern {
    Net(Cidr),
    /// A host or domain name, lowercase; matches subdomains too.
    Name(String),
    Table(crate::MapList),
}

struct Entry {
    negate: bool,
    pattern: Pattern,
}

/// A parsed host/network list.
pub struct HostList {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for HostList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostList({} entries)", self.entries.len())
    }
}

/// A list entry that makes no sense; the caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry(pub String);

impl HostList {
    /// Parses the items of a list parameter. Bad items are returned for
    /// logging and skipped, as Postfix warns and goes on.
    pub fn parse(items: &[String], title: &str) -> (HostList, Vec<BadEntry>) {
        let mut entries = Vec::new();
        let mut bad = Vec::new();
        let mut queue: Vec<String> = items.iter().rev().cloned().collect();
        let mut files_read = 0;
        while let Some(item) = queue.pop() {
            let (negate, text) = match item.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, item.as_str()),
            };
            if text.is_empty() {
                continue;
            }
            if text.starts_with('/') {
                files_read += 1;
                if files_read > 20 {
                    bad.push(BadEntry(format!("{text}: too many nested files")));
                    continue;
                }
                match std::fs::read_to_string(text) {
                    Ok(body) => {
                        let mut more: Vec<String> = body
                            .lines()
                            .map(|l| l.split('#').next().unwrap_or("").trim())
                            .flat_map(|l| l.split([' ', '\t', ',']))
                            .filter(|w| !w.is_empty())
                            .map(str::to_string)
                            .collect();
                        more.reverse();
                        queue.extend(more);
                    }
                    Err(e) => bad.push(BadEntry(format!("{text}: {e}"))),
                }
                continue;
            }
            let pattern = if let Some(c) = Cidr::parse(text) {
                Pattern::Net(c)
            } else if text.contains(':') && !text.starts_with('[') {
                Pattern::Table(crate::MapList::open_lenient(
                    title,
                    text,
                    &crate::Ctx::new(),
                ))
            } else if addr::valid_hostname(text.trim_start_matches('.')) {
                Pattern::Name(text.trim_start_matches('.').to_ascii_lowercase())
            } else {
                bad.push(BadEntry(format!("{title}: bad address pattern: {text}")));
                continue;
            };
            entries.push(Entry { negate, pattern });
        }
        (HostList { entries }, bad)
    }

    /// A list of CIDR blocks only (tests, computed defaults).
    pub fn of(items: &[&str]) -> HostList {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        HostList::parse(&items, "test").0
    }

    /// Whether the client (`name` as logged, `unknown` when it has none)
    /// matches. A table lookup error counts as no match.
    pub fn matches(&self, name: &str, ip: Option<IpAddr>) -> bool {
        let lname = name.to_ascii_lowercase();
        for e in &self.entries {
            let hit = match &e.pattern {
                Pattern::Net(c) => ip.is_some_and(|ip| c.contains(ip)),
                Pattern::Name(n) => {
                    lname != "unknown"
                        && (lname == *n
                            || lname
                                .strip_suffix(n.as_str())
                                .is_some_and(|p| p.ends_with('.')))
                }
                Pattern::Table(t) => {
                    let addr = ip.map(|i| i.to_string()).unwrap_or_default();
                    [lname.as_str(), addr.as_str()]
                        .iter()
                        .filter(|k| !k.is_empty())
                        .any(|k| matches!(t.find(k, false), Ok(Some(_))))
                }
            };
            if hit {
                return !e.negate;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn cidr_forms() {
        let n = Cidr::parse("192.168.10.9/24").expect("cidr");
        assert!(n.contains("192.168.10.77".parse().expect("ip")));
        assert!(!n.contains("192.168.11.1".parse().expect("ip")));
        assert!(n.contains("::ffff:192.168.10.1".parse().expect("ip")));
        let v6 = Cidr::parse("[2001:db8::]/32").expect("cidr");
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        assert!(Cidr::parse("[::1]").is_some());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("example.com").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("cidr")
            .contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn lists_names_negation_and_files() {
        let l = HostList::of(&["!127.0.0.2", "127.0.0.0/8", "[::1]/128", "example.com"]);
        assert!(l.matches("unknown", ip("127.0.0.1")));
        assert!(!l.matches("unknown", ip("127.0.0.2")));
        assert!(l.matches("unknown", ip("::1")));
        assert!(!l.matches("unknown", ip("10.1.1.1")));
        assert!(l.matches("mx.Example.COM", ip("10.1.1.1")));
        assert!(!l.matches("badexample.com", ip("10.1.1.1")));
        let dir = std::env::temp_dir().join(format!("smtpd-nets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("nets");
        std::fs::write(&f, "# trusted\n10.0.0.0/8, 172.16.0.0/12\n").expect("write");
        let (l, bad) = HostList::parse(
            &[f.display().to_string(), "not/valid/x".to_string()],
            "mynetworks",
        );
        assert_eq!(bad.len(), 1);
        assert!(l.matches("unknown", ip("10.9.9.9")));
        assert!(l.matches("unknown", ip("172.16.5.5")));
        assert!(!l.matches("unknown", ip("192.168.0.1")));
        let (l, bad) = HostList::parse(&["cidr:/nonexistent/table".to_string()], "mynetworks");
        assert!(bad.is_empty());
        assert!(!l.matches("unknown", ip("10.9.9.9")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
