//! The message content as milters see it, and back: [`split`] takes the
//! content cleanup spooled (header lines, an empty line, the body; LF line
//! ends) apart into headers (name, value without the colon's space, folded
//! lines joined by `\n`) and body; [`join`] puts the milters' result back
//! together, writing every header a milter left alone exactly as it came.

/// One header of the spooled content.
#[derive(Debug, Clone)]
pub struct Header {
    pub name: String,
    pub value: String,
    /// As written, with its line ends.
    raw: Vec<u8>,
}

/// Headers and body of spooled content.
pub fn split(content: &[u8]) -> (Vec<Header>, &[u8]) {
    let mut headers: Vec<Header> = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        if text.is_empty() {
            return (headers, tail);
        }
        match (text[0], headers.last_mut()) {
            (b' ' | b'\t', Some(h)) => {
                h.value.push('\n');
                h.value.push_str(&String::from_utf8_lossy(text));
                h.raw.extend_from_slice(line);
            }
            _ => {
                let s = String::from_utf8_lossy(text);
                let Some((name, value)) = s.split_once(':') else {
                    // Not a header: the body starts here (no empty line).
                    return (headers, rest);
                };
                headers.push(Header {
                    name: name.to_string(),
                    value: value.strip_prefix(' ').unwrap_or(value).to_string(),
                    raw: line.to_vec(),
                });
            }
        }
        rest = tail;
    }
    (headers, rest)
}

/// The content from the milters' headers and body; a header equal to one
/// of `original` is written as that one was.
pub fn join(original: &[Header], headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut used = vec![false; original.len()];
    let mut out = Vec::with_capacity(body.len() + 4096);
    for (name, value) in headers {
        let same = original
            .iter()
            .enumerate()
            .position(|(i, h)| !used[i] && h.name == *name && h.value == *value);
        match same {
            Some(i) => {
                used[i] = true;
                out.extend_from_slice(&original[i].raw);
                if !original[i].raw.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            None => {
                let sep = if value.starts_with([' ', '\t']) || value.is_empty() {
                    ":"
                } else {
                    ": "
                };
                out.extend_from_slice(format!("{name}{sep}{value}\n").as_bytes());
            }
        }
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_keep_untouched_headers_byte_for_byte() {
        let content = b"Received: from x\n\tby y\nSubject:  two spaces\nTo:b@x\n\nbody\n\nmore\n";
        let (h, body) = split(content);
        let pairs: Vec<(String, String)> = h
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("Received".to_string(), "from x\n\tby y".to_string()),
                ("Subject".into(), " two spaces".into()),
                ("To".into(), "b@x".into()),
            ]
        );
        assert_eq!(body, b"body\n\nmore\n");
        assert_eq!(join(&h, &pairs, body), content.to_vec());
        // An added and a changed header are written fresh.
        let mut edited = pairs.clone();
        edited[2].1 = "c@x".into();
        edited.push(("DKIM-Signature".into(), "v=1;\n\tb=x".into()));
        assert_eq!(
            join(&h, &edited, b"new\n"),
            b"Received: from x\n\tby y\nSubject:  two spaces\nTo: c@x\nDKIM-Signature: v=1;\n\tb=x\n\nnew\n".to_vec()
        );
        // No empty line: everything after the headers is body.
        let (h, body) = split(b"Subject: a\nnot a header\n");
        assert_eq!(h.len(), 1);
        assert_eq!(body, b"not a header\n");
    }
}
