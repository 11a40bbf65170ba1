//! 8-bit mail for a server without 8BITMIME (RFC 6152): as Postfix does
//! unless `disable_mime_output_conversion` is set, every MIME part whose
//! body has 8-bit bytes and is not already base64 or quoted-printable is
//! sent quoted-printable (RFC 2045 §6.7), its Content-Transfer-Encoding
//! header changed to say so; multipart and message/rfc822 containers are
//! walked, and their own 8bit encoding becomes 7bit. A message without
//! MIME headers is taken as text/plain and gets `MIME-Version: 1.0`.
//! Header lines are left as they are (8-bit headers cannot be encoded
//! here). Works on the message as it goes on the wire: CRLF lines,
//! dot-stuffed, ending in `.` CRLF.

/// The wire form of `wire` with no 8-bit body byte left.
pub fn to_7bit_wire(wire: &[u8]) -> Vec<u8> {
    let body = wire.strip_suffix(b".\r\n").unwrap_or(wire);
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .map(|l| if l.starts_with(b"..") { &l[1..] } else { l })
        .collect();
    let mut out = Vec::with_capacity(lines.len() + 8);
    entity(&lines, true, &mut out);
    let mut wire_out = Vec::with_capacity(wire.len() + wire.len() / 4);
    for l in out {
        if l.first() == Some(&b'.') {
            wire_out.push(b'.');
        }
        wire_out.extend_from_slice(&l);
        wire_out.extend_from_slice(b"\r\n");
    }
    wire_out.extend_from_slice(b".\r\n");
    wire_out
}

/// A header field: where it starts and ends (continuation lines
/// included), its name, and its unfolded value.
struct Field {
    start: usize,
    end: usize,
    name: String,
    value: String,
}

fn fields(headers: &[&[u8]]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for (i, l) in headers.iter().enumerate() {
        if matches!(l.first(), Some(b' ' | b'\t')) {
            if let Some(f) = out.last_mut() {
                f.end = i + 1;
                f.value.push(' ');
                f.value.push_str(String::from_utf8_lossy(l).trim());
            }
            continue;
        }
        let text = String::from_utf8_lossy(l);
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        out.push(Field {
            start: i,
            end: i + 1,
            name: name.trim().to_ascii_lowercase(),
            value: value.trim().to_string(),
        });
    }
    out
}

/// `type/subtype` (lower case) and the boundary of a Content-Type value.
fn content_type(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let boundary = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    (kind, boundary.filter(|b| !b.is_empty()))
}

fn has_8bit(lines: &[&[u8]]) -> bool {
    lines.iter().any(|l| l.iter().any(|&b| b >= 0x80))
}

/// One MIME entity (headers, blank line, body) into `out`.
fn entity(lines: &[&[u8]], top: bool, out: &mut Vec<Vec<u8>>) {
    let split = lines.iter().position(|l| l.is_empty());
    let (headers, body) = match split {
        Some(i) => (&lines[..i], &lines[i + 1..]),
        None => (lines, &lines[lines.len()..]),
    };
    let fields = fields(headers);
    let value = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.clone())
    };
    let (kind, boundary) = content_type(&value("content-type").unwrap_or_default());
    let cte = value("content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = !top || value("mime-version").is_some();
    let emit_headers = |out: &mut Vec<Vec<u8>>, cte_value: Option<&str>, add_mime: bool| {
        let mut replaced = false;
        for f in &fields {
            if f.name == "content-transfer-encoding" {
                if let Some(v) = cte_value {
                    if !replaced {
                        out.push(format!("Content-Transfer-Encoding: {v}").into_bytes());
                        replaced = true;
                    }
                    continue;
                }
            }
            out.extend(headers[f.start..f.end].iter().map(|l| l.to_vec()));
        }
        if add_mime {
            out.push(b"MIME-Version: 1.0".to_vec());
        }
        if let (Some(v), false) = (cte_value, replaced) {
            out.push(format!("Content-Transfer-Encoding: {v}").into_bytes());
        }
        if split.is_some() {
            out.push(Vec::new());
        }
    };
    let container_cte = matches!(cte.as_str(), "8bit" | "binary").then_some("7bit");
    if !has_8bit(body) {
        emit_headers(out, None, false);
        out.extend(body.iter().map(|l| l.to_vec()));
    } else if let (true, Some(b)) = (mime && kind.starts_with("multipart/"), &boundary) {
        emit_headers(out, container_cte, false);
        multipart(body, b, out);
    } else if mime && kind == "message/rfc822" {
        emit_headers(out, container_cte, false);
        entity(body, false, out);
    } else if matches!(cte.as_str(), "base64" | "quoted-printable") {
        // Already 7-bit by its encoding (stray 8-bit bytes in it are the
        // sender's error, passed on).
        emit_headers(out, None, false);
        out.extend(body.iter().map(|l| l.to_vec()));
    } else {
        emit_headers(out, Some("quoted-printable"), top && !mime);
        for l in body {
            quoted_printable(l, out);
        }
    }
}

/// A multipart body: preamble, parts between `--boundary` lines, the
/// closing `--boundary--`, epilogue.
fn multipart(body: &[&[u8]], boundary: &str, out: &mut Vec<Vec<u8>>) {
    let open = format!("--{boundary}").into_bytes();
    let close = format!("--{boundary}--").into_bytes();
    let is = |l: &[u8], b: &[u8]| {
        l.strip_suffix(b" ").unwrap_or(l).starts_with(b) && {
            let rest = &l[b.len()..];
            rest.iter().all(|c| *c == b' ' || *c == b'\t')
        }
    };
    let mut part: Option<Vec<&[u8]>> = None;
    let mut closed = false;
    for &l in body {
        if closed {
            out.push(l.to_vec());
        } else if is(l, &close) {
            if let Some(p) = part.take() {
                entity(&p, false, out);
            }
            out.push(l.to_vec());
            closed = true;
        } else if is(l, &open) {
            if let Some(p) = part.take() {
                entity(&p, false, out);
            }
            out.push(l.to_vec());
            part = Some(Vec::new());
        } else if let Some(p) = part.as_mut() {
            p.push(l);
        } else {
            // The preamble.
            out.push(l.to_vec());
        }
    }
    if let Some(p) = part.take() {
        entity(&p, false, out);
    }
}

/// One line, quoted-printable: at most 76 characters a line, soft breaks
/// (`=`) between them, white space at the end encoded.
fn quoted_printable(line: &[u8], out: &mut Vec<Vec<u8>>) {
    const MAX: usize = 76;
    let mut cur: Vec<u8> = Vec::with_capacity(MAX + 1);
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal = matches!(b, 33..=60 | 62..=126) || (matches!(b, b' ' | b'\t') && !last);
        let token: Vec<u8> = if literal {
            vec![b]
        } else {
            format!("={b:02X}").into_bytes()
        };
        // Room for the token and, unless the line ends here, a soft break.
        let room = if last { MAX } else { MAX - 1 };
        if cur.len() + token.len() > room {
            cur.push(b'=');
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(&token);
    }
    out.push(cur);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for l in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            if l.starts_with('.') {
                w.push(b'.');
            }
            w.extend_from_slice(l.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b".\r\n");
        w
    }

    fn text(w: &[u8]) -> String {
        String::from_utf8(w.to_vec()).expect("7-bit output is ASCII")
    }

    #[test]
    fn a_plain_8bit_message_becomes_quoted_printable() {
        let w = wire("Subject: hi\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n你好, world\n.dot line\n");
        let t = text(&to_7bit_wire(&w));
        assert_eq!(
            t,
            "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E4=BD=A0=E5=A5=BD, world\r\n..dot line\r\n.\r\n"
        );
    }

    #[test]
    fn without_mime_headers_it_becomes_mime() {
        let t = text(&to_7bit_wire(&wire("Subject: hi\n\ncafé\n")));
        assert_eq!(
            t,
            "Subject: hi\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n.\r\n"
        );
    }

    #[test]
    fn seven_bit_mail_is_left_alone() {
        let w = wire("Subject: hi\n\nplain\n..two dots\n");
        assert_eq!(to_7bit_wire(&w), w);
    }

    #[test]
    fn only_the_8bit_parts_of_a_multipart_change() {
        let w = wire(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\nContent-Transfer-Encoding: 8bit\n\npreamble\n--XX\nContent-Type: text/plain; charset=utf-8\n\nÜber\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n--XX\nContent-Type: message/rfc822\n\nSubject: inner\n\nnaïve\n--XX--\nepilogue\n",
        );
        let t = text(&to_7bit_wire(&w));
        assert!(t.contains("Content-Type: multipart/mixed; boundary=\"XX\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\npreamble\r\n--XX\r\n"), "{t}");
        assert!(t.contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=9Cber\r\n--XX\r\n"), "{t}");
        assert!(
            t.contains("Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--XX\r\n"),
            "{t}"
        );
        assert!(t.contains("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve\r\n--XX--\r\nepilogue\r\n.\r\n"), "{t}");
    }

    #[test]
    fn long_lines_get_soft_breaks_and_trailing_space_is_encoded() {
        let mut out = Vec::new();
        quoted_printable("é".repeat(40).as_bytes(), &mut out);
        assert!(out.iter().all(|l| l.len() <= 76), "{out:?}");
        assert!(out[..out.len() - 1].iter().all(|l| l.ends_with(b"=")));
        let joined: String = out
            .iter()
            .map(|l| String::from_utf8_lossy(l).trim_end_matches('=').to_string())
            .collect();
        assert_eq!(joined, "=C3=A9".repeat(40));
        let mut out = Vec::new();
        quoted_printable(b"tail \t", &mut out);
        assert_eq!(out, vec![b"tail =09".to_vec()]);
        let mut out = Vec::new();
        quoted_printable(b"a=b", &mut out);
        assert_eq!(out, vec![b"a=3Db".to_vec()]);
    }
}
