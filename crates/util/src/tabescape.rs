//! Dovecot's tab escaping (`str_append_tabescaped`), used where lines
//! carry tab-separated fields: the auth protocol, subscriptions files,
//! the proxymap protocol. `\x01` → `\x011`, NUL → `\x010`, tab →
//! `\x01t`, CR → `\x01r`, LF → `\x01n`.

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x01' => out.push_str("\x011"),
            '\0' => out.push_str("\x010"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`]; None on an unknown or cut-off escape.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '1' => '\x01',
            '0' => '\0',
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "a\tb\x01c\nd\re\0f";
        let e = escape(s);
        assert!(!e.contains(['\t', '\n', '\r', '\0']));
        assert_eq!(unescape(&e).as_deref(), Some(s));
        assert_eq!(unescape("x\x01q"), None);
        assert_eq!(unescape("x\x01"), None);
    }
}
