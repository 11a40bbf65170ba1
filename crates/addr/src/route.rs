//! The form of an address as Postfix's trivial-rewrite fixes it before any
//! table is asked: the canonical form (its `rewrite_tree`: `site!user` and
//! `user%site` without a domain become `user@site`, a bare name gets
//! `@origin`, a domain without a dot gets `.domain`, a trailing dot goes),
//! and the routing operators its resolver looks for in a local part once
//! this host's own domain is stripped (`user%site@ours`, `site!user@ours`,
//! `"user@site"@ours`). Which operators count is main.cf's:
//! `allow_percent_hack`, `swap_bangpath`, `resolve_dequoted_address`.
//!
//! Addresses here are in internal form (the local part unquoted); a local
//! part that is not a dot-string is one quoted string in external form, so
//! its `%` and `!` are not operators there (only a resolver that may
//! "crack open" quoted local parts looks inside).

use crate::local::is_dot_string;

/// The routing operators that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operators {
    /// `allow_percent_hack`: `user%site` is `user@site`.
    pub percent: bool,
    /// `swap_bangpath`: `site!user` is `user@site`.
    pub bang: bool,
    /// `resolve_dequoted_address`: a quoted local part is looked into
    /// (`"user@site"`, `"user%site"`, `"site!user"`).
    pub dequoted: bool,
}

impl Default for Operators {
    /// Postfix's defaults: all of them.
    fn default() -> Self {
        Operators {
            percent: true,
            bang: true,
            dequoted: true,
        }
    }
}

impl Operators {
    /// Where a local part without a domain routes to, as rewrite_tree
    /// reads it: `site!user` (at the first `!`), else `user%site` (at the
    /// last `%`); None when neither applies.
    pub fn rewrite_split<'a>(&self, local: &'a str) -> Option<(&'a str, &'a str)> {
        if !is_dot_string(local) {
            return None;
        }
        if self.bang {
            if let Some((site, user)) = local.split_once('!') {
                return Some((user, site));
            }
        }
        if self.percent {
            return local.rsplit_once('%');
        }
        None
    }

    /// Where a local part routes to once this host's domain is stripped, as
    /// the resolver reads it: as [`Operators::rewrite_split`], and with
    /// `dequoted` also inside a quoted local part (at its last `@`, else
    /// its last `%`, else its first `!`).
    pub fn resolve_split<'a>(&self, local: &'a str) -> Option<(&'a str, &'a str)> {
        if is_dot_string(local) {
            return self.rewrite_split(local);
        }
        if !self.dequoted {
            return None;
        }
        if let Some(split) = local.rsplit_once('@') {
            return Some(split);
        }
        if self.percent {
            if let Some(split) = local.rsplit_once('%') {
                return Some(split);
            }
        }
        if self.bang {
            if let Some((site, user)) = local.split_once('!') {
                return Some((user, site));
            }
        }
        None
    }
}

/// One rewriting context's rules (Postfix's "local" context: `myorigin`
/// and `mydomain`; its "remote" one: `remote_header_rewrite_domain` for
/// both).
#[derive(Debug, Clone, Default)]
pub struct Canon {
    pub operators: Operators,
    /// Appended as `@origin` to a bare name (empty: nothing is).
    pub origin: String,
    /// Appended as `.domain` to a domain without a dot (empty: nothing is).
    pub domain: String,
}

impl Canon {
    /// The canonical form of `local@domain` (internal form; `domain` None
    /// for a bare name): Postfix's rewrite_tree.
    pub fn rewrite(&self, local: &str, domain: Option<&str>) -> (String, Option<String>) {
        let (local, mut domain) = match domain {
            Some(d) => (local.to_string(), Some(d.to_string())),
            None => match self.operators.rewrite_split(local) {
                Some((user, site)) => (user.to_string(), Some(site.to_string())),
                None if !self.origin.is_empty() => (local.to_string(), Some(self.origin.clone())),
                None => (local.to_string(), None),
            },
        };
        if let Some(d) = &mut domain {
            if !self.domain.is_empty() && !d.is_empty() && !d.contains('.') && !d.starts_with('[') {
                d.push('.');
                d.push_str(&self.domain);
            }
            // A trailing dot goes, but not from "x.." or a lone ".".
            if d.len() > 1 && d.ends_with('.') && !d.ends_with("..") {
                d.pop();
            }
        }
        (local, domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Operators = Operators {
        percent: true,
        bang: true,
        dequoted: true,
    };
    const NONE: Operators = Operators {
        percent: false,
        bang: false,
        dequoted: false,
    };

    #[test]
    fn operators_in_a_bare_local_part() {
        assert_eq!(
            ALL.rewrite_split("bob%x.example"),
            Some(("bob", "x.example"))
        );
        assert_eq!(ALL.rewrite_split("a%b%c"), Some(("a%b", "c")));
        assert_eq!(ALL.rewrite_split("x!bob"), Some(("bob", "x")));
        // The first `!`, before any `%`.
        assert_eq!(ALL.rewrite_split("a!b!bob"), Some(("b!bob", "a")));
        assert_eq!(ALL.rewrite_split("a!b%c"), Some(("b%c", "a")));
        assert_eq!(ALL.rewrite_split("bob"), None);
        assert_eq!(NONE.rewrite_split("bob%x"), None);
        assert_eq!(NONE.rewrite_split("x!bob"), None);
        // Quoted in external form: no operators for rewriting.
        assert_eq!(ALL.rewrite_split("a b%c"), None);
    }

    #[test]
    fn quoted_local_parts_are_cracked_open_only_when_allowed() {
        assert_eq!(
            ALL.resolve_split("bob@x.example"),
            Some(("bob", "x.example"))
        );
        assert_eq!(ALL.resolve_split("a b%c"), Some(("a b", "c")));
        assert_eq!(ALL.resolve_split("a b!c"), Some(("c", "a b")));
        // The last `@` first.
        assert_eq!(ALL.resolve_split("a%b@c"), Some(("a%b", "c")));
        assert_eq!(NONE.resolve_split("bob@x.example"), None);
        assert_eq!(ALL.resolve_split("bob"), None);
    }

    #[test]
    fn canonical_forms() {
        let local = Canon {
            operators: ALL,
            origin: "example.com".into(),
            domain: "example.com".into(),
        };
        let rw = |l: &str, d: Option<&str>| {
            let (l, d) = local.rewrite(l, d);
            match d {
                Some(d) => format!("{l}@{d}"),
                None => l,
            }
        };
        assert_eq!(rw("bob", None), "bob@example.com");
        assert_eq!(rw("bob%far.example", None), "bob@far.example");
        assert_eq!(rw("far!bob", None), "bob@far.example.com");
        assert_eq!(rw("bob", Some("host")), "bob@host.example.com");
        assert_eq!(rw("bob", Some("far.example.")), "bob@far.example");
        assert_eq!(rw("bob", Some("[192.0.2.1]")), "bob@[192.0.2.1]");
        assert_eq!(rw("bob%x", Some("y.example")), "bob%x@y.example");
        // Broken forms are left for the diagnostics.
        assert_eq!(rw("bob", Some("")), "bob@");
        assert_eq!(rw("bob", Some("x..")), "bob@x..");
        let bare = Canon {
            operators: NONE,
            ..Canon::default()
        };
        assert_eq!(bare.rewrite("bob%x", None), ("bob%x".to_string(), None));
    }
}
