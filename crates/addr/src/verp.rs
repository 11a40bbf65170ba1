//! VERP (variable envelope return paths, Postfix's VERP_README): a mailing
//! list's sender `owner-list@origin` becomes, for recipient
//! `user@domain`, `owner-list+user=domain@origin`, so that a bounce names
//! the recipient it is about.

/// Whether `delims` may serve as VERP delimiters: exactly two characters,
/// each in `filter` (`verp_delimiter_filter`). The error says why not, in
/// Postfix's words.
pub fn check_delimiters(delims: &str, filter: &str) -> Result<(), String> {
    if delims.chars().count() != 2 {
        return Err("bad VERP delimiter character count".into());
    }
    let mut d = delims.chars();
    if !d.next().is_some_and(|c| filter.contains(c)) {
        return Err("bad first VERP delimiter character".into());
    }
    if !d.next().is_some_and(|c| filter.contains(c)) {
        return Err("bad second VERP delimiter character".into());
    }
    Ok(())
}

/// The VERP sender for one recipient: the sender's local part, the first
/// delimiter, the recipient's local part, the second delimiter and the
/// recipient's domain, then the sender's domain (Postfix's verp_sender()).
/// `delims` holds two characters (see [`check_delimiters`]).
pub fn sender(delims: &str, sender: &str, recipient: &str) -> String {
    let mut d = delims.chars();
    let (first, second) = (d.next().unwrap_or('+'), d.next().unwrap_or('='));
    let (send_local, send_domain) = match sender.rfind('@') {
        Some(i) => (&sender[..i], Some(&sender[i + 1..])),
        None => (sender, None),
    };
    let (rcpt_local, rcpt_domain) = match recipient.rfind('@') {
        Some(i) => (&recipient[..i], Some(&recipient[i + 1..])),
        None => (recipient, None),
    };
    let mut out = String::with_capacity(sender.len() + recipient.len() + 2);
    out.push_str(send_local);
    out.push(first);
    out.push_str(rcpt_local);
    if let Some(d) = rcpt_domain.filter(|d| !d.is_empty()) {
        out.push(second);
        out.push_str(d);
    }
    if let Some(d) = send_domain.filter(|d| !d.is_empty()) {
        out.push('@');
        out.push_str(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_as_postfix_writes_them() {
        assert_eq!(
            sender("+=", "owner-list@origin.example", "user@domain.example"),
            "owner-list+user=domain.example@origin.example"
        );
        assert_eq!(
            sender("-=", "bounces@lists.example", "bob"),
            "bounces-bob@lists.example"
        );
        assert_eq!(sender("+=", "owner", "a@b"), "owner+a=b");
        // The last @ separates, in both.
        assert_eq!(sender("+=", "o@x@y", "\"a@b\"@c"), "o@x+\"a@b\"=c@y");
    }

    #[test]
    fn delimiters_are_two_from_the_filter() {
        assert_eq!(check_delimiters("+=", "-=+"), Ok(()));
        assert_eq!(
            check_delimiters("+", "-=+"),
            Err("bad VERP delimiter character count".into())
        );
        assert_eq!(
            check_delimiters("+x", "-=+"),
            Err("bad second VERP delimiter character".into())
        );
    }
}
