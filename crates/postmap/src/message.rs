//! Look-up keys from a message, for `postmap -hq -` and `-bq -`: each
//! logical header (a folded header is one key, its lines joined with
//! newlines) up to the first empty line, and each body line after it, as
//! header_checks(5) and body_checks(5) see them.

/// The keys of `text`: headers when `headers`, body lines when `body`.
pub fn keys(text: &str, headers: bool, body: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut current: Option<String> = None;
    let mut in_body = false;
    for line in lines.by_ref() {
        if line.is_empty() {
            in_body = true;
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(h) = current.as_mut() {
                h.push('\n');
                h.push_str(line);
                continue;
            }
        }
        if let Some(h) = current.take() {
            out.push(h);
        }
        current = Some(line.to_string());
    }
    if let Some(h) = current.take() {
        out.push(h);
    }
    if !headers {
        out.clear();
    }
    if body && in_body {
        let rest: Vec<&str> = lines.collect();
        let n = match rest.last() {
            Some(&"") => rest.len() - 1,
            _ => rest.len(),
        };
        out.extend(rest[..n].iter().map(|l| l.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::keys;

    #[test]
    fn headers_and_body() {
        let m = "Subject: hi\n there\nFrom: a\n\nbody line\nline2\n";
        assert_eq!(keys(m, true, false), ["Subject: hi\n there", "From: a"]);
        assert_eq!(keys(m, false, true), ["body line", "line2"]);
        assert_eq!(keys(m, true, true).len(), 4);
        assert_eq!(keys("A: b\r\n\r\nx\r\n", true, true), ["A: b", "x"]);
        assert!(keys("", true, true).is_empty());
    }
}
