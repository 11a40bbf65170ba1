//! SMTP paths (RFC 5321 §4.1.2): `Reverse-path` / `Forward-path`.

use crate::domain::{valid_address_literal, valid_hostname, valid_hostname_utf8};
use crate::local::is_atext;
use crate::{AddrError, Mailbox};

/// How [`parse_path`] reads a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathOptions {
    /// SMTPUTF8: UTF-8 allowed in the local part and the domain. Without it
    /// every character must be ASCII.
    pub utf8: bool,
    /// RFC 5321 to the letter. Off (the default) reads paths the way
    /// Postfix does with `smtpd_strict_rfc821_envelopes = no`: the angle
    /// brackets may be missing, the local part may have empty atoms
    /// (`a..b`, `.a`, `a.` — common in Japanese mobile addresses), a bare
    /// name without domain is accepted, and one trailing dot on the domain
    /// is dropped. On: `<...>` required, Dot-string local parts, and a
    /// domain required except for `<postmaster>`.
    pub strict: bool,
}

/// Parse an SMTP path as it appears after `MAIL FROM:` or `RCPT TO:`
/// (parameters already split off). Returns `Ok(None)` for the null path
/// `<>` — whether that is allowed (MAIL yes, RCPT no) is the caller's call.
///
/// A source route (`<@a.example,@b.example:user@c.example>`) is checked
/// and dropped, as RFC 5321 §C asks. Surrounding whitespace is ignored.
pub fn parse_path(input: &str, opts: PathOptions) -> Result<Option<Mailbox>, AddrError> {
    let s = input.trim_matches(|c| c == ' ' || c == '\t');
    if s.is_empty() {
        return Err(AddrError::Empty);
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(AddrError::Control);
    }
    if !opts.utf8 && !s.is_ascii() {
        return Err(AddrError::NonAscii);
    }
    let inner = match s.strip_prefix('<') {
        Some(rest) => rest.strip_suffix('>').ok_or(AddrError::Brackets)?,
        None if opts.strict => return Err(AddrError::BracketsRequired),
        None if s.ends_with('>') => return Err(AddrError::Brackets),
        None => s,
    };
    if inner.is_empty() {
        return Ok(None);
    }
    let rest = skip_route(inner)?;
    let mb = parse_mailbox(rest, opts)?;
    if opts.strict && mb.domain.is_none() && !mb.local.eq_ignore_ascii_case("postmaster") {
        return Err(AddrError::MissingDomain);
    }
    Ok(Some(mb))
}

/// Check and skip an `A-d-l ":"` source route; returns what follows it.
fn skip_route(s: &str) -> Result<&str, AddrError> {
    if !s.starts_with('@') {
        return Ok(s);
    }
    let mut rest = s;
    loop {
        rest = rest.strip_prefix('@').ok_or(AddrError::BadRoute)?;
        let end = domain_end(rest, &[',', ':']);
        let dom = &rest[..end];
        if !(valid_hostname_utf8(dom) || valid_address_literal(dom)) {
            return Err(AddrError::BadRoute);
        }
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(':') {
            return Ok(r);
        } else {
            return Err(AddrError::BadRoute);
        }
    }
}

/// Byte index where a domain (possibly a `[...]` literal) ends: at the
/// first of `stops` outside brackets, or the end of `s`.
fn domain_end(s: &str, stops: &[char]) -> usize {
    let mut in_lit = false;
    for (i, c) in s.char_indices() {
        match c {
            '[' => in_lit = true,
            ']' => in_lit = false,
            c if !in_lit && stops.contains(&c) => return i,
            _ => {}
        }
    }
    s.len()
}

/// `Local-part ["@" Domain]`.
fn parse_mailbox(s: &str, opts: PathOptions) -> Result<Mailbox, AddrError> {
    let (local, rest) = if s.starts_with('"') {
        parse_quoted(s, opts.utf8)?
    } else {
        let end = s.find('@').unwrap_or(s.len());
        let local = &s[..end];
        check_dot_string(local, opts)?;
        (local.to_string(), &s[end..])
    };
    if rest.is_empty() {
        if local.is_empty() {
            return Err(AddrError::BadLocalPart);
        }
        return Ok(Mailbox {
            local,
            domain: None,
        });
    }
    let Some(domain) = rest.strip_prefix('@') else {
        return Err(AddrError::TrailingGarbage);
    };
    Ok(Mailbox {
        local,
        domain: Some(parse_domain(domain, opts)?),
    })
}

/// A Quoted-string at the start of `s`; returns its content (unquoted) and
/// what follows the closing quote.
fn parse_quoted(s: &str, utf8: bool) -> Result<(String, &str), AddrError> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match it.next() {
                Some((_, n)) if (' '..='~').contains(&n) || (utf8 && !n.is_ascii()) => out.push(n),
                Some(_) => return Err(AddrError::BadLocalPart),
                None => return Err(AddrError::Unterminated),
            },
            ' '..='~' => out.push(c),
            c if utf8 && !c.is_ascii() => out.push(c),
            _ => return Err(AddrError::BadLocalPart),
        }
    }
    Err(AddrError::Unterminated)
}

fn check_dot_string(local: &str, opts: PathOptions) -> Result<(), AddrError> {
    if local.is_empty() {
        return Err(AddrError::BadLocalPart);
    }
    for atom in local.split('.') {
        if atom.is_empty() && opts.strict {
            return Err(AddrError::BadLocalPart);
        }
        if !atom.chars().all(|c| is_atext(c, opts.utf8)) {
            return Err(AddrError::BadLocalPart);
        }
    }
    if local.chars().all(|c| c == '.') {
        return Err(AddrError::BadLocalPart);
    }
    Ok(())
}

fn parse_domain(d: &str, opts: PathOptions) -> Result<String, AddrError> {
    if d.starts_with('[') {
        return if valid_address_literal(d) {
            Ok(d.to_string())
        } else {
            Err(AddrError::BadAddressLiteral)
        };
    }
    let name = match d.strip_suffix('.') {
        Some(n) if !opts.strict && !n.ends_with('.') => n,
        _ => d,
    };
    let ok = if opts.utf8 {
        valid_hostname_utf8(name)
    } else {
        valid_hostname(name)
    };
    if ok {
        Ok(name.to_string())
    } else {
        Err(AddrError::BadDomain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANT: PathOptions = PathOptions {
        utf8: false,
        strict: false,
    };
    const STRICT: PathOptions = PathOptions {
        utf8: false,
        strict: true,
    };
    const UTF8: PathOptions = PathOptions {
        utf8: true,
        strict: false,
    };

    fn mb(l: &str, d: Option<&str>) -> Option<Mailbox> {
        Some(Mailbox {
            local: l.into(),
            domain: d.map(Into::into),
        })
    }

    #[test]
    fn ordinary_and_null() {
        for o in [TOLERANT, STRICT, UTF8] {
            assert_eq!(
                parse_path("<user@example.com>", o),
                Ok(mb("user", Some("example.com")))
            );
            assert_eq!(parse_path("<>", o), Ok(None));
            assert_eq!(
                parse_path(" <a.b+c@Example.COM> ", o),
                Ok(mb("a.b+c", Some("Example.COM")))
            );
            assert_eq!(parse_path("<postmaster>", o), Ok(mb("postmaster", None)));
        }
    }

    #[test]
    fn source_routes_are_dropped() {
        let want = mb("user", Some("c.example"));
        assert_eq!(
            parse_path("<@a.example,@b.example:user@c.example>", STRICT),
            Ok(want.clone())
        );
        assert_eq!(
            parse_path("<@a.example:user@c.example>", TOLERANT),
            Ok(want.clone())
        );
        assert_eq!(
            parse_path("<@[192.0.2.1],@[IPv6:::1]:user@c.example>", STRICT),
            Ok(want)
        );
        for bad in [
            "<@:u@x>",
            "<@a.example u@x>",
            "<@a.example,u@x>",
            "<@-a:u@x>",
            "<@a,:u@x>",
            "<@a.example>",
        ] {
            assert_eq!(parse_path(bad, TOLERANT), Err(AddrError::BadRoute), "{bad}");
        }
    }

    #[test]
    fn quoted_local_parts() {
        assert_eq!(
            parse_path("<\"john doe\"@example.com>", STRICT),
            Ok(mb("john doe", Some("example.com")))
        );
        assert_eq!(
            parse_path(r#"<"a\"b"@x.example>"#, STRICT),
            Ok(mb("a\"b", Some("x.example")))
        );
        assert_eq!(
            parse_path(r#"<"a@b>"@x.example>"#, STRICT),
            Ok(mb("a@b>", Some("x.example")))
        );
        assert_eq!(
            parse_path("<\"\"@x.example>", STRICT),
            Ok(mb("", Some("x.example")))
        );
        assert_eq!(
            parse_path("<\"john@x.example>", STRICT),
            Err(AddrError::Unterminated)
        );
        assert_eq!(
            parse_path("<\"jo\"hn@x.example>", STRICT),
            Err(AddrError::TrailingGarbage)
        );
        assert_eq!(parse_path("<\"\">", STRICT), Err(AddrError::BadLocalPart));
        assert_eq!(parse_path("<\"a\tb\"@x>", STRICT), Err(AddrError::Control));
        let m = parse_path("<\"john doe\"@example.com>", STRICT)
            .ok()
            .flatten();
        assert_eq!(
            m.map(|m| m.to_string()).as_deref(),
            Some("\"john doe\"@example.com")
        );
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            parse_path("<user@[192.0.2.1]>", STRICT),
            Ok(mb("user", Some("[192.0.2.1]")))
        );
        assert_eq!(
            parse_path("<user@[IPv6:2001:db8::1]>", STRICT),
            Ok(mb("user", Some("[IPv6:2001:db8::1]")))
        );
        for bad in [
            "<u@[300.1.1.1]>",
            "<u@[1.2.3]>",
            "<u@[foo:bar]>",
            "<u@[127.0.0.1]x>",
            "<u@[IPv6:1.2.3.4]>",
        ] {
            assert_eq!(
                parse_path(bad, TOLERANT),
                Err(AddrError::BadAddressLiteral),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_domains() {
        for bad in [
            "<u@>",
            "<u@-bad.example>",
            "<u@a..b>",
            "<u@123.456>",
            "<u@1.2.3.4>",
            "<u@.x>",
            "<u@b@c>",
            "<u@x y>",
        ] {
            assert_eq!(
                parse_path(bad, TOLERANT),
                Err(AddrError::BadDomain),
                "{bad}"
            );
        }
        assert_eq!(
            parse_path("<u@example.com.>", TOLERANT),
            Ok(mb("u", Some("example.com")))
        );
        assert_eq!(
            parse_path("<u@example.com.>", STRICT),
            Err(AddrError::BadDomain)
        );
        assert_eq!(
            parse_path("<u@example.com..>", TOLERANT),
            Err(AddrError::BadDomain)
        );
    }

    #[test]
    fn brackets_and_leniency() {
        assert_eq!(
            parse_path("u@x.example", TOLERANT),
            Ok(mb("u", Some("x.example")))
        );
        assert_eq!(
            parse_path("u@x.example", STRICT),
            Err(AddrError::BracketsRequired)
        );
        assert_eq!(
            parse_path("<u@x.example", TOLERANT),
            Err(AddrError::Brackets)
        );
        assert_eq!(
            parse_path("u@x.example>", TOLERANT),
            Err(AddrError::Brackets)
        );
        assert_eq!(parse_path("", TOLERANT), Err(AddrError::Empty));
        assert_eq!(parse_path("  ", TOLERANT), Err(AddrError::Empty));
        assert_eq!(
            parse_path("<a..b@x.example>", TOLERANT),
            Ok(mb("a..b", Some("x.example")))
        );
        assert_eq!(
            parse_path("<.a@x.example>", TOLERANT),
            Ok(mb(".a", Some("x.example")))
        );
        assert_eq!(
            parse_path("<a..b@x.example>", STRICT),
            Err(AddrError::BadLocalPart)
        );
        assert_eq!(
            parse_path("<.@x.example>", TOLERANT),
            Err(AddrError::BadLocalPart)
        );
        assert_eq!(parse_path("<root>", TOLERANT), Ok(mb("root", None)));
        assert_eq!(parse_path("<root>", STRICT), Err(AddrError::MissingDomain));
        assert_eq!(
            parse_path("<@x.example>", TOLERANT),
            Err(AddrError::BadRoute)
        );
        assert_eq!(
            parse_path("<@x.example:>", TOLERANT),
            Err(AddrError::BadLocalPart)
        );
        for bad in [
            "<a b@x>",
            "<a,b@x>",
            "<a(b)@x>",
            "<a\\@b@x>",
            "<a<b@x>",
            "<a:b@x>",
        ] {
            assert_eq!(
                parse_path(bad, TOLERANT),
                Err(AddrError::BadLocalPart),
                "{bad}"
            );
        }
        assert_eq!(parse_path("<a@x\0>", TOLERANT), Err(AddrError::Control));
    }

    #[test]
    fn smtputf8() {
        assert_eq!(
            parse_path("<jörg@example.com>", TOLERANT),
            Err(AddrError::NonAscii)
        );
        assert_eq!(
            parse_path("<jörg@example.com>", UTF8),
            Ok(mb("jörg", Some("example.com")))
        );
        assert_eq!(
            parse_path("<用户@例子.广告>", UTF8),
            Ok(mb("用户", Some("例子.广告")))
        );
        assert_eq!(
            parse_path("<\"jö rg\"@example.com>", UTF8),
            Ok(mb("jö rg", Some("example.com")))
        );
        assert_eq!(
            parse_path("<a@é.example>", TOLERANT),
            Err(AddrError::NonAscii)
        );
        assert_eq!(
            parse_path("<a\u{a0}b@x.example>", UTF8),
            Err(AddrError::BadLocalPart)
        );
    }
}
