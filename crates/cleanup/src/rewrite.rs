//! Address canonicalisation, as Postfix's trivial-rewrite does it for
//! cleanup: in the local context (mail posted on this host, or from
//! `local_header_rewrite_clients`) an address without a domain gets
//! `@$myorigin` (`append_at_myorigin`), `user@host` without a dot gets
//! `.$mydomain` (`append_dot_mydomain`); in the remote context an address
//! without a domain gets `@$remote_header_rewrite_domain` when that is set.
//! `masquerade_domains` then strips subdomains (`user@host.example.com` →
//! `user@example.com` for `masquerade_domains = example.com`), except for
//! users in `masquerade_exceptions` (seed 003: `masquerade_exceptions = root`).

use addr::route::Canon;
use params::{table as p, Config};

/// Where the message comes from, which decides how incomplete addresses are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Local,
    Remote,
}

/// The rewriting settings, read once.
#[derive(Debug, Clone)]
pub struct Rewriter {
    myorigin: String,
    /// The local context's rules (`myorigin`, `mydomain`).
    local: Canon,
    /// The remote context's (`remote_header_rewrite_domain` for both).
    remote: Canon,
    remote_domain: String,
    masquerade_domains: Vec<String>,
    masquerade_exceptions: Vec<String>,
}

/// Splits at the last `@` outside quotes.
fn split(addr: &str) -> (&str, Option<&str>) {
    let mut in_quotes = false;
    let mut at = None;
    for (i, c) in addr.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '@' if !in_quotes => at = Some(i),
            _ => {}
        }
    }
    match at {
        Some(i) => (&addr[..i], Some(&addr[i + 1..])),
        None => (addr, None),
    }
}

impl Rewriter {
    pub fn new(cfg: &Config) -> Rewriter {
        let myorigin = cfg.myorigin().unwrap_or_else(|e| maillog::fatal!("{e}"));
        let remote_domain = cfg.str(&p::REMOTE_HEADER_REWRITE_DOMAIN).to_string();
        let canon = |origin: &str, domain: &str| maps::domains::canon(cfg, origin, domain);
        Rewriter {
            local: canon(&myorigin, cfg.str(&p::MYDOMAIN)),
            remote: canon(&remote_domain, &remote_domain),
            myorigin,
            remote_domain,
            masquerade_domains: cfg
                .list(&p::MASQUERADE_DOMAINS)
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            masquerade_exceptions: cfg
                .list(&p::MASQUERADE_EXCEPTIONS)
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
        }
    }

    /// `myorigin`: the domain of local names, and a local domain itself.
    pub fn myorigin(&self) -> &str {
        &self.myorigin
    }

    /// Completes an address (internal form) as the context's rules say.
    /// The null address stays null.
    pub fn canonical(&self, addr: &str, ctx: Context) -> String {
        if addr.is_empty() {
            return String::new();
        }
        let (local, domain) = split(addr);
        let canon = match ctx {
            Context::Local => &self.local,
            Context::Remote => &self.remote,
        };
        match canon.rewrite(local, domain) {
            (local, Some(domain)) => format!("{local}@{domain}"),
            (local, None) => local,
        }
    }

    /// Whether headers from remote clients are rewritten at all
    /// (`remote_header_rewrite_domain` set, as Postfix has it).
    pub fn rewrites_remote_headers(&self) -> bool {
        !self.remote_domain.is_empty()
    }

    /// Whether `masquerade_domains` is set.
    pub fn masquerades(&self) -> bool {
        !self.masquerade_domains.is_empty()
    }

    /// Strips subdomains of a `masquerade_domains` entry (first match wins;
    /// `!domain` excludes). Only for the sender and header addresses.
    pub fn masquerade(&self, addr: &str) -> String {
        let (local, Some(domain)) = split(addr) else {
            return addr.to_string();
        };
        if self.masquerade_domains.is_empty()
            || self
                .masquerade_exceptions
                .iter()
                .any(|u| u.eq_ignore_ascii_case(local))
        {
            return addr.to_string();
        }
        let lower = domain.to_ascii_lowercase();
        for m in &self.masquerade_domains {
            let (negate, m) = match m.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, m.as_str()),
            };
            if lower.len() > m.len()
                && lower.ends_with(m)
                && lower.as_bytes()[lower.len() - m.len() - 1] == b'.'
            {
                return if negate {
                    addr.to_string()
                } else {
                    format!("{local}@{m}")
                };
            }
            if lower == m {
                return addr.to_string();
            }
        }
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(extra: &str) -> Rewriter {
        // Tests run side by side: each call gets its own directory (two
        // extras of one length would share one named by the length).
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cleanup_rw_{}_{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.cf"),
            format!("myhostname = mail.linuxcast.net\nmydomain = linuxcast.net\nmyorigin = $mydomain\n{extra}"),
        )
        .unwrap();
        let cfg = Config::load(&dir, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Rewriter::new(&cfg)
    }

    #[test]
    fn completes_local_addresses_with_myorigin() {
        let r = rw("");
        assert_eq!(r.canonical("root", Context::Local), "root@linuxcast.net");
        assert_eq!(r.canonical("root", Context::Remote), "root");
        assert_eq!(r.canonical("a@b", Context::Local), "a@b");
        assert_eq!(r.canonical("", Context::Local), "");
        assert_eq!(
            r.canonical("\"a@b\"", Context::Local),
            "\"a@b\"@linuxcast.net"
        );
        let r = rw("append_dot_mydomain = yes\nremote_header_rewrite_domain = example.org\n");
        assert_eq!(
            r.canonical("a@host", Context::Local),
            "a@host.linuxcast.net"
        );
        assert_eq!(r.canonical("a", Context::Remote), "a@example.org");
    }

    #[test]
    fn masquerading_with_exceptions() {
        let r = rw("masquerade_domains = linuxcast.net\nmasquerade_exceptions = root\n");
        assert_eq!(r.masquerade("bob@mail.linuxcast.net"), "bob@linuxcast.net");
        assert_eq!(
            r.masquerade("root@mail.linuxcast.net"),
            "root@mail.linuxcast.net"
        );
        assert_eq!(r.masquerade("bob@linuxcast.net"), "bob@linuxcast.net");
        assert_eq!(r.masquerade("bob@other.net"), "bob@other.net");
        let r = rw("masquerade_domains = !sub.linuxcast.net, linuxcast.net\n");
        assert_eq!(
            r.masquerade("bob@host.sub.linuxcast.net"),
            "bob@host.sub.linuxcast.net"
        );
    }
}
