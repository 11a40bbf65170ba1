//! LIST and LSUB: mailbox name patterns (`*` any characters, `%` any
//! characters but the hierarchy separator), and the attributes of a
//! mailbox (children, SPECIAL-USE by Dovecot's default names).

/// Whether `name` matches the LIST `pattern` (RFC 3501 6.3.8). INBOX
/// matches case-insensitively.
pub fn matches(pattern: &str, name: &str, sep: char) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".chars().collect()
    } else {
        name.chars().collect()
    };
    let p: Vec<char> = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case("INBOX") {
        "INBOX".chars().chain(p[5..].iter().copied()).collect()
    } else {
        p
    };
    glob(&p, &n, sep)
}

fn glob(p: &[char], n: &[char], sep: char) -> bool {
    // Iterative with memo-free backtracking on the last wildcard: fine
    // for mailbox names (short, few wildcards).
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => (0..=n.len()).any(|i| glob(rest, &n[i..], sep)),
        Some(('%', rest)) => {
            let stop = n.iter().position(|&c| c == sep).unwrap_or(n.len());
            (0..=stop).any(|i| glob(rest, &n[i..], sep))
        }
        Some((c, rest)) => n.first() == Some(c) && glob(rest, &n[1..], sep),
    }
}

/// The SPECIAL-USE attribute of a mailbox by its name, as Dovecot's
/// default configuration names them.
pub fn special_use(name: &str) -> Option<&'static str> {
    match name {
        "Sent" | "Sent Messages" | "Sent Items" => Some("\\Sent"),
        "Drafts" => Some("\\Drafts"),
        "Trash" | "Deleted Messages" => Some("\\Trash"),
        "Junk" | "Spam" => Some("\\Junk"),
        "Archive" => Some("\\Archive"),
        _ => None,
    }
}

/// The mailboxes created at first login, with their attributes.
pub const AUTO_CREATE: [&str; 4] = ["Drafts", "Sent", "Trash", "Junk"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*", "INBOX", '.'));
        assert!(matches("*", "a.b.c", '.'));
        assert!(matches("%", "Sent", '.'));
        assert!(!matches("%", "a.b", '.'));
        assert!(matches("a.%", "a.b", '.'));
        assert!(!matches("a.%", "a.b.c", '.'));
        assert!(matches("a.*", "a.b.c", '.'));
        assert!(matches("inbox", "INBOX", '.'));
        assert!(matches("S%t", "Sent", '.'));
        assert!(!matches("Sent", "Sentx", '.'));
        assert!(matches("", "", '.'));
    }
}
