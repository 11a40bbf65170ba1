//! `header_address_token_limit`: how much of an address header cleanup
//! parses, as Postfix's tok822_scan_limit() counts it. An address token is
//! an atom, a quoted string, a comment, a domain literal or one special
//! character (`|"(),.:;<>@[]`); white space does not count. Postfix stops
//! scanning after the limit'th token and "information that exceeds the
//! limit is discarded": only the addresses in that first part are
//! rewritten, and a header that a rewrite changes is rebuilt from that part
//! alone. A header nothing changes in stays as it came.

/// Postfix's tok822_opchar, less the characters that start a token of
/// their own kind (`(`, `[`, `"`) and the backslash.
fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'|' | b')' | b',' | b'.' | b':' | b';' | b'<' | b'>' | b'@' | b']'
    )
}

/// Where a quoted string or domain literal that starts at `i` (after its
/// opening character) ends: after its closing `close`, or at the end.
fn skip_quoted(b: &[u8], mut i: usize, close: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Where a comment that starts at `i` (after its `(`) ends; comments nest.
fn skip_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1usize;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// The part of an address header's value that holds its first `limit`
/// tokens (all of it when it has no more); never more than the value, and
/// ends on a character boundary.
pub fn limited(value: &str, limit: usize) -> &str {
    // Every token takes a byte at least: a short value cannot have more.
    if value.len() <= limit {
        return value;
    }
    let b = value.as_bytes();
    let mut i = 0;
    let mut count = 0usize;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        i = match c {
            b'(' => skip_comment(b, i + 1),
            b'[' => skip_quoted(b, i + 1, b']'),
            b'"' => skip_quoted(b, i + 1, b'"'),
            c if is_special(c) => i + 1,
            _ => {
                // An atom: up to white space or a special; a backslash
                // takes the next character with it.
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'\\' => j += 2,
                        c if c.is_ascii_whitespace()
                            || is_special(c)
                            || matches!(c, b'(' | b'[' | b'"') =>
                        {
                            break
                        }
                        _ => j += 1,
                    }
                }
                j
            }
        }
        .min(b.len());
        count += 1;
        if count >= limit {
            break;
        }
    }
    // (a backslash before a multi-byte character may stop inside it)
    let mut end = i;
    while !value.is_char_boundary(end) {
        end += 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tokens_as_postfix_does() {
        // a1 @ example . com , a2 : the 7th token ends the part.
        let v = "a1@example.com, a2@example.com, a3@example.com";
        assert_eq!(limited(v, 7), "a1@example.com, a2");
        assert_eq!(limited(v, 5), "a1@example.com");
        assert_eq!(limited(v, 6), "a1@example.com,");
        assert_eq!(limited(v, 10240), v);
        assert_eq!(limited(v, 18), v);
        // Comments, quoted strings and domain literals are one token each,
        // however long; white space is none.
        let v = "\"Joe, Jr. (x)\" (a comment, (nested)) <joe@[192.0.2.1]>   ,  b@c";
        assert_eq!(limited(v, 1), "\"Joe, Jr. (x)\"");
        assert_eq!(limited(v, 2), "\"Joe, Jr. (x)\" (a comment, (nested))");
        assert_eq!(
            limited(v, 6),
            "\"Joe, Jr. (x)\" (a comment, (nested)) <joe@[192.0.2.1]"
        );
        assert_eq!(
            limited(v, 8),
            "\"Joe, Jr. (x)\" (a comment, (nested)) <joe@[192.0.2.1]>   ,"
        );
        // An escaped special stays in its atom.
        assert_eq!(limited("a\\,b@c, d", 1), "a\\,b");
        // Unterminated quotes and comments run to the end.
        assert_eq!(limited("\"abc, def", 1), "\"abc, def");
        assert_eq!(limited("(abc, def", 1), "(abc, def");
        // UTF-8 stays whole.
        assert_eq!(limited("jö@ex, b", 1), "jö");
        assert_eq!(limited("a\\ö, b, c", 1), "a\\ö");
    }

    #[test]
    fn a_huge_header_is_cut_in_one_pass() {
        let v: String = (0..100_000)
            .map(|i| format!("u{i}@example.com, "))
            .collect();
        let part = limited(&v, 10240);
        // 6 tokens an address with its comma: 1706 whole ones, then
        // `u1706@example.` (4 more).
        assert!(
            part.ends_with("u1705@example.com, u1706@example."),
            "{}",
            &part[part.len() - 40..]
        );
    }
}
