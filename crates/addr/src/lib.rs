//! Mail addresses as RFC 5321 (SMTP envelopes) and RFC 5322 (message
//! headers) write them, checked the way Postfix checks them. No I/O.
//!
//! What it does:
//!
//! * [`parse_path`]: an SMTP path (`<user@example.com>`, the null path `<>`,
//!   source routes `<@a,@b:user@c>` which are accepted and dropped, quoted
//!   local parts `"john doe"@example.com`, address literals `user@[192.0.2.1]`
//!   and `user@[IPv6:2001:db8::1]`) into a [`Mailbox`], with an SMTPUTF8
//!   switch and a strict (RFC 5321) or tolerant (Postfix-like) mode.
//! * Domains ([`domain`]): Postfix's `valid_hostname` and address checks,
//!   [`is_fqdn`], lowercase folding.
//! * Local parts ([`local`]): quoting as Postfix writes `"a b"@x`,
//!   unquoting, and the `recipient_delimiter` split (`user+ext`).
//! * IP networks ([`net`]): `mynetworks`-style CIDR blocks and matching.
//! * VERP ([`verp`]): a sender address with the recipient in it.
//! * The canonical form and routing operators ([`route`]): `user%site`,
//!   `site!user`, `@origin` and `.domain`, as trivial-rewrite fixes them.
//! * Header address lists ([`header`]): the addr-specs in a `From:`, `To:`,
//!   `Cc:` or `Bcc:` value, past display names, groups, comments and quoted
//!   strings — what cleanup needs to find recipients and senders; and
//!   ([`header_rewrite`]) each of them replaced in place, the rest of the
//!   header kept byte for byte.
//!
//! What it does not do: DNS lookups, IDNA (U-label ↔ A-label) conversion,
//! alias or canonical rewriting, or deciding whether an address is local.
//! The SMTP reply texts for a bad address live in `smtp-proto`.
//!
//! Addresses are kept in *internal* form, as Postfix does: the local part
//! unquoted (`john doe`), the domain as received (case preserved; fold with
//! [`fold_domain`] for comparisons). [`Mailbox`]'s `Display` writes the
//! external, quoted form.

pub mod domain;
pub mod header;
pub mod header_rewrite;
pub mod local;
pub mod net;
mod path;
pub mod route;
pub mod verp;

pub use domain::{
    fold_domain, is_fqdn, valid_address_literal, valid_hostname, valid_ipv4, valid_ipv6,
};
pub use header::parse_address_list;
pub use local::{external, quote_local, split_delimiter, unquote_local};
pub use path::{parse_path, PathOptions};

use std::fmt;

/// One mailbox: `local@domain`, or a bare `local` (Postfix accepts
/// `RCPT TO:<postmaster>` and unqualified names, and so do we).
///
/// `local` is in internal (unquoted) form; `domain` is a hostname, a
/// bracketed address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), or
/// `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Mailbox {
    pub local: String,
    pub domain: Option<String>,
}

impl Mailbox {
    pub fn new(local: impl Into<String>, domain: Option<impl Into<String>>) -> Self {
        Mailbox {
            local: local.into(),
            domain: domain.map(Into::into),
        }
    }

    /// Internal form, as Postfix keeps it in queue files: `john doe@example.com`.
    pub fn internal(&self) -> String {
        match &self.domain {
            Some(d) => format!("{}@{}", self.local, d),
            None => self.local.clone(),
        }
    }

    /// True when neither part has a non-ASCII character (no SMTPUTF8 needed).
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.as_deref().is_none_or(str::is_ascii)
    }

    /// The domain folded to lowercase, or `None`.
    pub fn folded_domain(&self) -> Option<String> {
        self.domain.as_deref().map(fold_domain)
    }
}

/// External form: the local part quoted where needed (`"john doe"@example.com`).
impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_local(&self.local))?;
        if let Some(d) = &self.domain {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// Nothing where an address was expected.
    Empty,
    /// `<` without its `>` (or the reverse), or text after the `>`.
    Brackets,
    /// Strict mode: the path is not enclosed in `<...>`.
    BracketsRequired,
    /// A malformed source route (`@a,@b:`).
    BadRoute,
    /// A local part with a character or structure SMTP does not allow.
    BadLocalPart,
    /// An unterminated quoted string.
    Unterminated,
    /// A domain that fails Postfix's `valid_hostname`.
    BadDomain,
    /// A malformed `[...]` address literal.
    BadAddressLiteral,
    /// A non-ASCII character without SMTPUTF8.
    NonAscii,
    /// A control character (NUL, CR, LF, ...).
    Control,
    /// A domain is required (strict mode, except for `postmaster`).
    MissingDomain,
    /// Text after the address.
    TrailingGarbage,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrError::Empty => "empty address",
            AddrError::Brackets => "unbalanced angle brackets",
            AddrError::BracketsRequired => "address must be enclosed in <>",
            AddrError::BadRoute => "malformed source route",
            AddrError::BadLocalPart => "malformed local part",
            AddrError::Unterminated => "unterminated quoted string",
            AddrError::BadDomain => "malformed domain name",
            AddrError::BadAddressLiteral => "malformed address literal",
            AddrError::NonAscii => "non-ASCII character without SMTPUTF8",
            AddrError::Control => "control character in address",
            AddrError::MissingDomain => "address has no domain",
            AddrError::TrailingGarbage => "text after the address",
        })
    }
}

impl std::error::Error for AddrError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_internal_does_not() {
        let m = Mailbox::new("john doe", Some("Example.COM"));
        assert_eq!(m.to_string(), "\"john doe\"@Example.COM");
        assert_eq!(m.internal(), "john doe@Example.COM");
        assert_eq!(m.folded_domain().as_deref(), Some("example.com"));
        let p = Mailbox::new("postmaster", None::<String>);
        assert_eq!(p.to_string(), "postmaster");
        assert!(p.is_ascii());
        assert!(!Mailbox::new("é", Some("x")).is_ascii());
        assert!(!Mailbox::new("e", Some("é.x")).is_ascii());
    }

    #[test]
    fn errors_display() {
        for e in [
            AddrError::Empty,
            AddrError::Brackets,
            AddrError::BracketsRequired,
            AddrError::BadRoute,
            AddrError::BadLocalPart,
            AddrError::Unterminated,
            AddrError::BadDomain,
            AddrError::BadAddressLiteral,
            AddrError::NonAscii,
            AddrError::Control,
            AddrError::MissingDomain,
            AddrError::TrailingGarbage,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Pseudo-random strings (LCG, no rand crate) through every parser:
    /// nothing may panic, and whatever parses must print and re-parse.
    #[test]
    fn random_inputs_do_not_panic() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "@",
            "\"",
            "\\",
            "(",
            ")",
            "[",
            "]",
            ":",
            ";",
            ",",
            ".",
            " ",
            "a",
            "b.example",
            "IPv6:",
            "::1",
            "192.0.2.1",
            "é",
            "用",
            "\t",
            "\0",
            "-",
            "+",
            "postmaster",
        ];
        let mut state: u64 = 42;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for i in 0..5000 {
            let n = next() % 24;
            let s: String = (0..n).map(|_| PIECES[next() % PIECES.len()]).collect();
            let opts = PathOptions {
                utf8: i % 2 == 0,
                strict: i % 3 == 0,
            };
            if let Ok(Some(m)) = parse_path(&s, opts) {
                let again = parse_path(
                    &format!("<{m}>"),
                    PathOptions {
                        utf8: true,
                        strict: false,
                    },
                );
                assert_eq!(again, Ok(Some(m.clone())), "{s:?}");
            }
            let _ = parse_address_list(&s);
            let _ = valid_hostname(&s);
            let _ = valid_address_literal(&s);
            let _ = is_fqdn(&s);
            let (u, _) = split_delimiter(&s, "+-");
            assert!(s.starts_with(u));
            assert_eq!(unquote_local(&quote_local(&s)), s);
        }
    }
}
