//! Local parts: quoting (as Postfix's `quote_822_local`), unquoting
//! (`unquote_822_local`) and the `recipient_delimiter` split (`split_addr`).

use std::borrow::Cow;

/// RFC 5321 `atext`, plus (when `utf8`) any non-ASCII, non-control character.
pub(crate) fn is_atext(c: char, utf8: bool) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' => true,
        '!' | '#' | '$' | '%' | '&' | '\'' | '*' | '+' | '-' | '/' | '=' | '?' | '^' | '_'
        | '`' | '{' | '|' | '}' | '~' => true,
        c if !c.is_ascii() => utf8 && !c.is_control() && !c.is_whitespace(),
        _ => false,
    }
}

/// True if `s` is an RFC 5321 Dot-string: atoms of `atext` separated by
/// single dots, no leading or trailing dot. Non-ASCII counts as `atext`.
pub fn is_dot_string(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|a| !a.is_empty() && a.chars().all(|c| is_atext(c, true)))
}

/// Quote a local part for the wire when it is not a Dot-string, as Postfix
/// writes `"john doe"@example.com`: the whole part in double quotes, with
/// `"` and `\` escaped by a backslash. An empty local part becomes `""`.
pub fn quote_local(local: &str) -> Cow<'_, str> {
    if is_dot_string(local) {
        return Cow::Borrowed(local);
    }
    let mut out = String::with_capacity(local.len() + 2);
    out.push('"');
    for c in local.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Cow::Owned(out)
}

/// An address in internal form as it is written outside: the local part
/// quoted where needed (`"john doe"@example.com`), as Postfix's
/// `quote_822_local` gives it.
pub fn external(address: &str) -> Cow<'_, str> {
    let (local, domain) = match address.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (address, None),
    };
    match (quote_local(local), domain) {
        (Cow::Borrowed(_), _) => Cow::Borrowed(address),
        (quoted, Some(d)) => Cow::Owned(format!("{quoted}@{d}")),
        (quoted, None) => Cow::Owned(quoted.into_owned()),
    }
}

/// Undo [`quote_local`]: drop the double quotes and resolve backslash
/// escapes inside them. Mixed forms (`"a b".c`) work too; an unterminated
/// quote runs to the end.
pub fn unquote_local(local: &str) -> Cow<'_, str> {
    if !local.contains('"') {
        return Cow::Borrowed(local);
    }
    let mut out = String::with_capacity(local.len());
    let mut quoted = false;
    let mut chars = local.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' => match chars.next() {
                    Some(n) => out.push(n),
                    None => break,
                },
                '"' => quoted = false,
                _ => out.push(c),
            }
        } else if c == '"' {
            quoted = true;
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Postfix's default `double_bounce_sender`, which is never split.
pub const DOUBLE_BOUNCE: &str = "double-bounce";

/// Split `user+ext` at the first character of `delimiters` (Postfix
/// `recipient_delimiter`, which may hold several characters): returns
/// `(user, Some(ext))`, or `(local, None)` when there is nothing to split.
///
/// As Postfix's `split_addr`: `postmaster`, `MAILER-DAEMON` and
/// `double-bounce` are never split; when `-` is a delimiter, `owner-foo`
/// and `foo-request` are not split; and a split that would leave an empty
/// user part (`+foo`) is not made. The extension may be empty (`user+`).
pub fn split_delimiter<'a>(local: &'a str, delimiters: &str) -> (&'a str, Option<&'a str>) {
    if delimiters.is_empty()
        || local.eq_ignore_ascii_case("postmaster")
        || local.eq_ignore_ascii_case("mailer-daemon")
        || local.eq_ignore_ascii_case(DOUBLE_BOUNCE)
    {
        return (local, None);
    }
    if delimiters.contains('-') {
        let lower = local.to_ascii_lowercase();
        if lower.starts_with("owner-") || (lower.len() > 8 && lower.ends_with("-request")) {
            return (local, None);
        }
    }
    match local.char_indices().find(|(_, c)| delimiters.contains(*c)) {
        Some((0, _)) | None => (local, None),
        Some((i, c)) => (&local[..i], Some(&local[i + c.len_utf8()..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_local("john"), "john");
        assert_eq!(quote_local("john.doe"), "john.doe");
        assert_eq!(quote_local("a+b=c"), "a+b=c");
        assert_eq!(quote_local("john doe"), "\"john doe\"");
        assert_eq!(quote_local("a..b"), "\"a..b\"");
        assert_eq!(quote_local(".a"), "\".a\"");
        assert_eq!(quote_local("a@b"), "\"a@b\"");
        assert_eq!(quote_local("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote_local(""), "\"\"");
        assert_eq!(quote_local("jörg"), "jörg");
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote_local("john"), "john");
        assert_eq!(unquote_local("\"john doe\""), "john doe");
        assert_eq!(unquote_local("\"a\\\"b\\\\c\""), "a\"b\\c");
        assert_eq!(unquote_local("\"a b\".c"), "a b.c");
        assert_eq!(unquote_local("\"abc"), "abc");
        assert_eq!(unquote_local("\"abc\\"), "abc");
        for s in ["john doe", "a\"b\\c", "", "x", ".a.", "a@b"] {
            assert_eq!(unquote_local(&quote_local(s)), s, "round trip {s:?}");
        }
    }

    #[test]
    fn delimiter() {
        assert_eq!(split_delimiter("user+ext", "+"), ("user", Some("ext")));
        assert_eq!(split_delimiter("user+a+b", "+"), ("user", Some("a+b")));
        assert_eq!(split_delimiter("user", "+"), ("user", None));
        assert_eq!(split_delimiter("user+", "+"), ("user", Some("")));
        assert_eq!(split_delimiter("+ext", "+"), ("+ext", None));
        assert_eq!(split_delimiter("user-ext", "+-"), ("user", Some("ext")));
        assert_eq!(split_delimiter("user+ext", ""), ("user+ext", None));
        assert_eq!(split_delimiter("a-b+c", "+-"), ("a", Some("b+c")));
        assert_eq!(split_delimiter("owner-list", "-"), ("owner-list", None));
        assert_eq!(split_delimiter("list-request", "-"), ("list-request", None));
        assert_eq!(split_delimiter("list-request", "+"), ("list-request", None));
        assert_eq!(split_delimiter("owner-list", "+"), ("owner-list", None));
        assert_eq!(split_delimiter("owner+x", "+"), ("owner", Some("x")));
        assert_eq!(split_delimiter("Postmaster", "+"), ("Postmaster", None));
        assert_eq!(
            split_delimiter("MAILER-DAEMON", "-"),
            ("MAILER-DAEMON", None)
        );
        assert_eq!(
            split_delimiter("double-bounce", "-"),
            ("double-bounce", None)
        );
        assert_eq!(split_delimiter("jörg+x", "+"), ("jörg", Some("x")));
        assert_eq!(split_delimiter("a§b", "§"), ("a", Some("b")));
    }
}
