//! header_checks and body_checks actions (Postfix header_checks(5)): a
//! table maps a header (or body line) to an action. cleanup acts on all of
//! them; the SMTP client's smtp_header_checks and smtp_body_checks on those
//! that change the content only.

/// What a matching rule says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `REJECT [text]`: refuse the message.
    Reject(String),
    /// `WARN [text]`: log and go on.
    Warn(String),
    /// `INFO [text]`: log and go on.
    Info(String),
    /// `HOLD [text]`: queue it in hold/.
    Hold(String),
    /// `DISCARD [text]`: accept and drop it.
    Discard(String),
    /// `IGNORE`: delete this header or line.
    Ignore,
    /// `REPLACE text`: put text in its place.
    Replace(String),
    /// `PREPEND text`: insert text before it.
    Prepend(String),
    /// `FILTER transport:destination`: the message's content filter.
    Filter(String),
    /// `REDIRECT user@domain`: deliver to that address instead.
    Redirect(String),
    /// `BCC user@domain`: add a blind copy.
    Bcc(String),
    /// `DUNNO`, `OK`, and actions that do not apply here: nothing.
    None,
}

/// Parses a table result. Unknown actions are reported so they can be logged.
pub fn parse(result: &str) -> Result<Action, String> {
    let r = result.trim();
    let (word, rest) = match r.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim().to_string()),
        None => (r, String::new()),
    };
    Ok(match word.to_ascii_uppercase().as_str() {
        "REJECT" => Action::Reject(rest),
        "WARN" => Action::Warn(rest),
        "INFO" => Action::Info(rest),
        "HOLD" => Action::Hold(rest),
        "DISCARD" => Action::Discard(rest),
        "IGNORE" => Action::Ignore,
        "REPLACE" if !rest.is_empty() => Action::Replace(rest),
        "PREPEND" if !rest.is_empty() => Action::Prepend(rest),
        "FILTER" if rest.contains(':') => Action::Filter(rest),
        "FILTER" => {
            return Err(format!(
                "bad FILTER command \"{rest}\" -- need transport:destination"
            ))
        }
        "REDIRECT" if rest.contains('@') => Action::Redirect(rest),
        "REDIRECT" => {
            return Err(format!(
                "bad REDIRECT target \"{rest}\" -- need user@domain"
            ))
        }
        "BCC" if rest.contains('@') => Action::Bcc(rest),
        "BCC" => return Err(format!("bad BCC address \"{rest}\" -- need user@domain")),
        "DUNNO" | "OK" | "STRIP" => Action::None,
        _ => return Err(format!("unknown action: \"{r}\"")),
    })
}

/// The SMTP reply for a REJECT: Postfix's default text, or the rule's text
/// with an enhanced status code added when it has none.
pub fn reject_reply(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "550 5.7.1 Message content rejected".into();
    }
    let b = t.as_bytes();
    let has_code = b.len() >= 4
        && (b[0] == b'4' || b[0] == b'5')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b' ';
    if has_code {
        let rest = &t[4..];
        let has_enhanced = rest.split(' ').next().is_some_and(|w| {
            w.split('.').count() == 3 && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
        if has_enhanced {
            t.to_string()
        } else {
            format!("{} {}.7.1 {rest}", &t[..3], &t[..1])
        }
    } else {
        format!("550 5.7.1 {t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_reject_texts() {
        assert_eq!(
            parse("REJECT sensitive word"),
            Ok(Action::Reject("sensitive word".into()))
        );
        assert_eq!(parse("reject"), Ok(Action::Reject(String::new())));
        assert_eq!(parse("HOLD audit"), Ok(Action::Hold("audit".into())));
        assert_eq!(parse("IGNORE"), Ok(Action::Ignore));
        assert_eq!(
            parse("PREPEND X-Audit: yes"),
            Ok(Action::Prepend("X-Audit: yes".into()))
        );
        assert_eq!(
            parse("FILTER smtp:[127.0.0.1]:10025"),
            Ok(Action::Filter("smtp:[127.0.0.1]:10025".into()))
        );
        assert_eq!(
            parse("REDIRECT spam@example.com"),
            Ok(Action::Redirect("spam@example.com".into()))
        );
        assert_eq!(
            parse("BCC audit@example.com"),
            Ok(Action::Bcc("audit@example.com".into()))
        );
        assert!(parse("FILTER nocolon").is_err());
        assert!(parse("REDIRECT nobody").is_err());
        assert!(parse("BCC").is_err());
        assert!(parse("REPLACE").is_err());
        assert!(parse("FROB x").is_err());
        assert_eq!(reject_reply(""), "550 5.7.1 Message content rejected");
        assert_eq!(reject_reply("no thanks"), "550 5.7.1 no thanks");
        assert_eq!(reject_reply("554 go away"), "554 5.7.1 go away");
        assert_eq!(reject_reply("451 4.7.0 later"), "451 4.7.0 later");
    }
}
