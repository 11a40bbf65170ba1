//! `local_login_sender_maps` (Postfix 3.6): which envelope senders a
//! login may use when it posts mail. The tables are searched by the login
//! name (`uid:N` when the uid has no name) and give a list of patterns,
//! separated by commas or spaces:
//!
//! * `*`: any sender;
//! * `<>` (`empty_address_local_login_sender_maps_lookup_key`): the null
//!   sender;
//! * `@domain`: any sender in that domain;
//! * an address or bare name, in external (quoted) form: that sender,
//!   whatever extension it has (`recipient_delimiter`), in any case.

use maps::MapList;

/// Whether `login` may post as `sender` (internal form, "" for `<>`):
/// Ok(false) when the tables say not, or do not know the login; Err when
/// a table failed.
pub fn allowed(
    maps: &MapList,
    login: &str,
    sender: &str,
    delimiters: &str,
    null_sender: &str,
) -> Result<bool, String> {
    let Some(patterns) = maps.lookup(login).map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    Ok(split(&patterns)
        .iter()
        .any(|p| matches(p, sender, delimiters, null_sender)))
}

/// The patterns of a table's answer: split at commas and white space
/// outside double quotes.
fn split(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in list.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ',' | ' ' | '\t' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn matches(pattern: &str, sender: &str, delimiters: &str, null_sender: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern == null_sender {
        return sender.is_empty();
    }
    if sender.is_empty() {
        return false;
    }
    let (local, domain) = match sender.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (sender, None),
    };
    if let Some(want) = pattern.strip_prefix('@') {
        return domain.is_some_and(|d| d.eq_ignore_ascii_case(want));
    }
    // The pattern in internal form: its local part unquoted.
    let (p_local, p_domain) = match pattern.rsplit_once('@') {
        Some((l, d)) => (addr::local::unquote_local(l), Some(d)),
        None => (addr::local::unquote_local(pattern), None),
    };
    let (bare, _) = addr::local::split_delimiter(local, delimiters);
    let same_domain = match (domain, p_domain) {
        (None, None) => true,
        (Some(d), Some(p)) => d.eq_ignore_ascii_case(p),
        _ => false,
    };
    same_domain && bare.eq_ignore_ascii_case(&p_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MapList {
        MapList::open(
            "local_login_sender_maps",
            r#"inline:{ root=*, {foo = foo,foo@example.com}, bar=<>, {web = @site.example} }, inline:{ {quoted = "first last"@example.com} }"#,
            &maps::Ctx::new(),
        )
        .expect("table")
    }

    #[test]
    fn patterns_as_postfix_reads_them() {
        let t = table();
        let ok = |login: &str, sender: &str| allowed(&t, login, sender, "+", "<>").expect("lookup");
        assert!(ok("root", "anything@anywhere.example"));
        assert!(!ok("toor", "anything"));
        assert!(ok("foo", "foo"));
        assert!(ok("foo", "Foo@Example.COM"));
        assert!(ok("foo", "foo+lists@example.com"));
        assert!(!ok("foo", "foo@other.example"));
        assert!(!ok("foo", "root@example.com"));
        assert!(!ok("foo", ""));
        assert!(ok("bar", ""));
        assert!(!ok("bar", "bar"));
        assert!(ok("web", "anyone@site.example"));
        assert!(!ok("web", "anyone@elsewhere.example"));
        assert!(ok("quoted", "first last@example.com"));
        assert!(!ok("quoted", "other last@example.com"));
    }
}
