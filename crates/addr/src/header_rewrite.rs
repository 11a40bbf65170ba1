//! Addresses in address headers (From:, To:, …), rewritten in place as
//! Postfix's cleanup does for `canonical_classes` and
//! `masquerade_classes`, and its SMTP client for `smtp_generic_maps`: every addr-spec of an address list — inside
//! `<…>`, or a bare `user@domain` — goes through a mapping, and display
//! names, comments, quoted strings and group syntax stay as they were.

/// The headers whose addresses are senders, and recipients.
pub const SENDER_HEADERS: [&str; 8] = [
    "From",
    "Sender",
    "Reply-To",
    "Errors-To",
    "Return-Receipt-To",
    "Resent-From",
    "Resent-Sender",
    "Resent-Reply-To",
];
pub const RECIPIENT_HEADERS: [&str; 7] = [
    "To",
    "Cc",
    "Bcc",
    "Apparently-To",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];

/// The headers that say a message is being resent (Postfix's header_opts
/// with HDR_OPT_RR): sendmail -t then takes the recipients of
/// [`RESENT_RECIPIENT_HEADERS`] instead of [`PLAIN_RECIPIENT_HEADERS`].
pub const RESENT_HEADERS: [&str; 8] = [
    "Resent-Bcc",
    "Resent-Cc",
    "Resent-Date",
    "Resent-From",
    "Resent-Message-ID",
    "Resent-Reply-To",
    "Resent-Sender",
    "Resent-To",
];
/// The headers sendmail -t takes recipients from.
pub const PLAIN_RECIPIENT_HEADERS: [&str; 3] = ["To", "Cc", "Bcc"];
/// The same, of a message being resent.
pub const RESENT_RECIPIENT_HEADERS: [&str; 3] = ["Resent-To", "Resent-Cc", "Resent-Bcc"];

/// Whether `name` is one of `names` (header names fold case).
pub fn is_one_of(name: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name.trim()))
}

/// The value with each address replaced by `map(address)`; None when no
/// address changed (the header is then kept byte for byte).
pub fn rewrite(value: &str, map: impl Fn(&str) -> String) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 16);
    let mut changed = false;
    for (segment, delimiter) in segments(value) {
        // A group's display name ("Team: a@b, c@d;") is no address.
        if delimiter == Some(':') {
            out.push_str(segment);
        } else {
            match rewrite_mailbox(segment, &map) {
                Some(s) => {
                    out.push_str(&s);
                    changed = true;
                }
                None => out.push_str(segment),
            }
        }
        if let Some(d) = delimiter {
            out.push(d);
        }
    }
    changed.then_some(out)
}

/// A rewritten address header, whole (`Name: value`), folded as Postfix's
/// cleanup folds the headers it rebuilds: the addresses one after the
/// other, each followed by its comma, on a line while it stays under 70
/// characters (the continuation's TAB not counted), else on a new line
/// that starts with a TAB. The folds the value came with are gone (it was
/// unfolded to be rewritten).
pub fn fold(name: &str, value: &str) -> String {
    // The pieces between the commas that separate addresses (a group's
    // `:` and `;` stay inside a piece).
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for (segment, delimiter) in segments(value) {
        current.push_str(segment);
        match delimiter {
            Some(',') => {
                current.push(',');
                pieces.push(std::mem::take(&mut current));
            }
            Some(d) => current.push(d),
            None => {}
        }
    }
    pieces.push(current);
    let mut out = format!("{name}:");
    let mut line_len = out.len();
    let mut first = true;
    for piece in pieces.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if first || line_len + 1 + piece.len() < FOLD_WIDTH {
            out.push(' ');
            line_len += 1 + piece.len();
            first = false;
        } else {
            out.push_str("\n\t");
            line_len = piece.len();
        }
        out.push_str(piece);
    }
    out
}

/// Postfix's cleanup_fold_header joins lines while they stay shorter.
const FOLD_WIDTH: usize = 70;

/// Splits at `,`, `:` and `;` outside quoted strings, comments and `<…>`;
/// each piece with the delimiter that ends it.
fn segments(value: &str) -> Vec<(&str, Option<char>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = value.char_indices().peekable();
    let (mut quoted, mut comment, mut angle) = (false, 0usize, false);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted || comment > 0 => {
                chars.next();
            }
            '"' if comment == 0 => quoted = !quoted,
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            '<' if !quoted && comment == 0 => angle = true,
            '>' if !quoted && comment == 0 => angle = false,
            ',' | ':' | ';' if !quoted && comment == 0 && !angle => {
                out.push((&value[start..i], Some(c)));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((&value[start..], None));
    out
}

/// One mailbox: the address in `<…>`, or the segment's one bare word (a
/// display name without `<…>` is not an address).
fn rewrite_mailbox(segment: &str, map: &impl Fn(&str) -> String) -> Option<String> {
    let (start, end) = address_span(segment)?;
    let address = &segment[start..end];
    // An angle address may carry a source route (@a,@b:user@host).
    let (route, addr) = match address.rfind(':') {
        Some(i) if address.starts_with('@') => address.split_at(i + 1),
        _ => ("", address),
    };
    if addr.is_empty() {
        return None;
    }
    let mapped = map(addr);
    (mapped != addr).then(|| format!("{}{route}{mapped}{}", &segment[..start], &segment[end..]))
}

/// Where the address of a mailbox segment is.
fn address_span(segment: &str) -> Option<(usize, usize)> {
    let bytes = segment.as_bytes();
    // Tokens outside comments: (start, end, is an angle address).
    let mut tokens: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'<' => {
                let end = segment[i..].find('>').map(|e| i + e)?;
                tokens.push((i + 1, end, true));
                i = end + 1;
            }
            _ => {
                // A word, quoted strings inside it included.
                let start = i;
                let mut quoted = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if quoted => i += 1,
                        b'"' => quoted = !quoted,
                        b' ' | b'\t' | b'\r' | b'\n' | b'(' | b'<' if !quoted => break,
                        _ => {}
                    }
                    i += 1;
                }
                tokens.push((start, i.min(bytes.len()), false));
            }
        }
    }
    if let Some(&(s, e, _)) = tokens.iter().find(|t| t.2) {
        return Some((s, e));
    }
    match tokens.as_slice() {
        [(s, e, false)] if segment[*s..*e].contains('@') || !segment[*s..*e].contains('"') => {
            Some((*s, *e))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Postfix 3.7's cleanup folded a To: header of many addresses it
    /// rebuilt (seen with postcat).
    #[test]
    fn rebuilt_headers_fold_as_postfix_folds_them() {
        let value: Vec<String> = (0..13).map(|i| format!("u{i}@x.test")).collect();
        assert_eq!(
            fold("To", &format!(" {}", value.join(",\t"))),
            "To: u0@x.test, u1@x.test, u2@x.test, u3@x.test, u4@x.test, u5@x.test,\n\tu6@x.test, u7@x.test, u8@x.test, u9@x.test, u10@x.test, u11@x.test,\n\tu12@x.test"
        );
        assert_eq!(fold("Cc", " a@b.example"), "Cc: a@b.example");
        // Quoted commas, comments and groups stay inside their piece.
        assert_eq!(
            fold(
                "To",
                " \"Doe, J\" <j@x.example>,  team: a@x.example, b@x.example;"
            ),
            "To: \"Doe, J\" <j@x.example>, team: a@x.example, b@x.example;"
        );
        // A piece too long for any line has one of its own.
        let long = format!("{}@x.example", "l".repeat(80));
        assert_eq!(
            fold("To", &format!("a@x.example, {long}, b@x.example")),
            format!("To: a@x.example,\n\t{long},\n\tb@x.example")
        );
    }

    fn old_to_new_domain(a: &str) -> String {
        match a.rsplit_once('@') {
            Some((l, "old.example")) => format!("{l}@new.example"),
            _ => a.to_string(),
        }
    }

    #[test]
    fn addresses_change_and_everything_else_stays() {
        let cases = [
            ("joe@old.example", "joe@new.example"),
            (
                "\"Joe, Jr.\" <joe@old.example> (work), ann@other.example",
                "\"Joe, Jr.\" <joe@new.example> (work), ann@other.example",
            ),
            (
                "Joe <@relay.example:joe@old.example>",
                "Joe <@relay.example:joe@new.example>",
            ),
            (
                "Team: a@old.example, b@x.example;, c@old.example (C)",
                "Team: a@new.example, b@x.example;, c@new.example (C)",
            ),
            (
                "(comment, with <a@b>) joe@old.example",
                "(comment, with <a@b>) joe@new.example",
            ),
            ("\"a b\"@old.example", "\"a b\"@new.example"),
        ];
        for (input, want) in cases {
            assert_eq!(
                rewrite(input, old_to_new_domain).as_deref(),
                Some(want),
                "{input}"
            );
        }
    }

    #[test]
    fn nothing_to_change_is_none() {
        for input in [
            "ann@other.example",
            "Undisclosed recipients:;",
            "Joe Bloggs",
            "",
            "\"x@old.example\" <ann@other.example>",
        ] {
            assert_eq!(rewrite(input, old_to_new_domain), None, "{input}");
        }
    }
}
