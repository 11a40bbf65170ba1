//! Structured MIME header values: Content-Type (RFC 2045 §5),
//! Content-Disposition (RFC 2183), Content-Language (RFC 3282) and
//! parameters with RFC 2231 continuations.

use crate::decode::{decode_charset, is_wsp};

/// One `name=value` parameter. `value` is unquoted but otherwise raw
/// (encoded words and RFC 2231 `%XX` left alone). RFC 2231 continuations
/// (`name*0`, `name*1*`…) are joined into one parameter, named `name*`
/// if any piece was extended (`charset'lang'%XX` syntax), else `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Vec<u8>,
}

/// A parsed Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// As written (`text`, `Multipart`…); compare case-insensitively.
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<Param>,
}

impl ContentType {
    /// text/plain; charset=us-ascii — RFC 2045 §5.2's default.
    pub fn text_plain() -> ContentType {
        ContentType {
            media_type: "text".into(),
            subtype: "plain".into(),
            params: vec![Param {
                name: "charset".into(),
                value: b"us-ascii".to_vec(),
            }],
        }
    }

    /// message/rfc822, the default inside multipart/digest.
    pub fn message_rfc822() -> ContentType {
        ContentType {
            media_type: "message".into(),
            subtype: "rfc822".into(),
            params: Vec::new(),
        }
    }

    /// Whether this is `t/s` (case-insensitive).
    pub fn is(&self, t: &str, s: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(t) && self.subtype.eq_ignore_ascii_case(s)
    }

    pub fn is_type(&self, t: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(t)
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        param(&self.params, name)
    }
}

/// The first parameter named `name` in `params` (case-insensitive).
pub fn param<'a>(params: &'a [Param], name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_slice())
}

/// Content-Disposition: its type and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    pub kind: String,
    pub params: Vec<Param>,
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tspecial(b: u8) -> bool {
    b"()<>@,;:\\\"/[]?=".contains(&b)
}

impl<'a> Lexer<'a> {
    /// Skips blanks and (nested) comments.
    fn skip_cfws(&mut self) {
        while self.i < self.s.len() {
            let b = self.s[self.i];
            if is_wsp(b) {
                self.i += 1;
            } else if b == b'(' {
                let mut depth = 0usize;
                while self.i < self.s.len() {
                    match self.s[self.i] {
                        b'\\' => self.i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                // A trailing backslash may step past the end.
                self.i = self.i.min(self.s.len());
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.i < self.s.len() {
            let b = self.s[self.i];
            if is_wsp(b) || b < 0x20 || b == 0x7f || is_tspecial(b) {
                break;
            }
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A quoted string (at `"`), unquoted; an unterminated one runs to
    /// the end.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' if self.i + 1 < self.s.len() => {
                    out.push(self.s[self.i + 1]);
                    self.i += 2;
                    continue;
                }
                b'\r' | b'\n' => {}
                b => out.push(b),
            }
            self.i += 1;
        }
        out
    }

    /// A parameter value: quoted string, or (tolerantly) anything up to
    /// `;` or a blank, so `boundary=----=_Part_1` works unquoted.
    fn value(&mut self) -> Vec<u8> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        let start = self.i;
        while self.i < self.s.len() && !is_wsp(self.s[self.i]) && self.s[self.i] != b';' {
            self.i += 1;
        }
        self.s[start..self.i].to_vec()
    }

    fn skip_past(&mut self, b: u8) {
        while self.i < self.s.len() {
            self.i += 1;
            if self.s[self.i - 1] == b {
                break;
            }
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a Content-Type value. None if there is no `type/subtype`
/// (the caller then uses the default, RFC 2045 §5.2).
pub fn parse_content_type(raw: &[u8]) -> Option<ContentType> {
    let mut lx = Lexer { s: raw, i: 0 };
    lx.skip_cfws();
    let t = lx.token();
    lx.skip_cfws();
    if t.is_empty() || lx.peek() != Some(b'/') {
        return None;
    }
    lx.i += 1;
    lx.skip_cfws();
    let s = lx.token();
    if s.is_empty() {
        return None;
    }
    Some(ContentType {
        media_type: lossy(t),
        subtype: lossy(s),
        params: parse_params(&mut lx),
    })
}

/// Parses a Content-Disposition value; None when it has no type token.
pub fn parse_disposition(raw: &[u8]) -> Option<Disposition> {
    let mut lx = Lexer { s: raw, i: 0 };
    lx.skip_cfws();
    let t = lx.token();
    if t.is_empty() {
        return None;
    }
    Some(Disposition {
        kind: lossy(t),
        params: parse_params(&mut lx),
    })
}

/// Content-Language: the language tags, comments and blanks dropped.
pub fn parse_language(raw: &[u8]) -> Vec<String> {
    let mut lx = Lexer { s: raw, i: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.i += 1,
            Some(_) => {
                let t = lx.token();
                if t.is_empty() {
                    lx.i += 1;
                } else {
                    out.push(lossy(t));
                }
            }
        }
    }
    out
}

/// The first token of a value (Content-Transfer-Encoding), comments
/// and blanks skipped.
pub fn parse_token(raw: &[u8]) -> Option<String> {
    let mut lx = Lexer { s: raw, i: 0 };
    lx.skip_cfws();
    let t = lx.token();
    (!t.is_empty()).then(|| lossy(t))
}

fn parse_params(lx: &mut Lexer<'_>) -> Vec<Param> {
    let mut raw: Vec<Param> = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b';') => {
                lx.i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = lx.token();
        lx.skip_cfws();
        if name.is_empty() || lx.peek() != Some(b'=') {
            lx.skip_past(b';');
            continue;
        }
        lx.i += 1;
        lx.skip_cfws();
        let value = lx.value();
        raw.push(Param {
            name: lossy(name),
            value,
        });
    }
    join_rfc2231(raw)
}

/// `name*N` / `name*N*` → (name, N, extended).
fn continuation(name: &str) -> Option<(&str, u32, bool)> {
    let (base, rest) = name.split_once('*')?;
    let (num, ext) = match rest.strip_suffix('*') {
        Some(n) => (n, true),
        None => (rest, false),
    };
    if num.is_empty() || num.len() > 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, num.parse().ok()?, ext))
}

/// One RFC 2231 piece: number, extended, value.
type Piece = (u32, bool, Vec<u8>);

fn join_rfc2231(raw: Vec<Param>) -> Vec<Param> {
    if !raw.iter().any(|p| continuation(&p.name).is_some()) {
        return raw;
    }
    let mut out: Vec<Param> = Vec::new();
    // (index in out, base) of joined parameters and their pieces.
    let mut groups: Vec<(usize, String, Vec<Piece>)> = Vec::new();
    for p in raw {
        let Some((base, n, ext)) = continuation(&p.name) else {
            out.push(p);
            continue;
        };
        match groups.iter_mut().find(|g| g.1.eq_ignore_ascii_case(base)) {
            Some(g) => {
                if !g.2.iter().any(|piece| piece.0 == n) {
                    g.2.push((n, ext, p.value));
                }
            }
            None => {
                out.push(Param {
                    name: String::new(),
                    value: Vec::new(),
                });
                groups.push((out.len() - 1, base.to_string(), vec![(n, ext, p.value)]));
            }
        }
    }
    for (idx, base, mut pieces) in groups {
        pieces.sort_by_key(|p| p.0);
        let extended = pieces.first().is_some_and(|p| p.1);
        let mut value = Vec::new();
        for (_, ext, v) in pieces {
            if extended && !ext {
                // A plain piece inside an extended value: escape it so
                // the joined value still decodes.
                for b in v {
                    if !b.is_ascii_graphic() || b"*'%".contains(&b) || is_tspecial(b) {
                        value.extend_from_slice(format!("%{b:02X}").as_bytes());
                    } else {
                        value.push(b);
                    }
                }
            } else {
                value.extend_from_slice(&v);
            }
        }
        out[idx] = Param {
            name: if extended { format!("{base}*") } else { base },
            value,
        };
    }
    out
}

/// Decodes an RFC 2231 extended value (`charset'lang'%XX…`) to text.
/// An unknown charset decodes as UTF-8, lossily.
pub fn decode_rfc2231(value: &[u8]) -> String {
    let mut parts = value.splitn(3, |&b| b == b'\'');
    let (cs, text) = match (parts.next(), parts.next(), parts.next()) {
        (Some(cs), Some(_lang), Some(text)) => (cs, text),
        _ => (&b""[..], value),
    };
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hexv = |c: u8| (c as char).to_digit(16);
        if text[i] == b'%' && i + 2 < text.len() {
            if let (Some(h), Some(l)) = (hexv(text[i + 1]), hexv(text[i + 2])) {
                bytes.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        bytes.push(text[i]);
        i += 1;
    }
    let cs = String::from_utf8_lossy(cs);
    decode_charset(&bytes, &cs).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> Param {
        Param {
            name: name.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn content_type() {
        let ct = parse_content_type(b" Text/HTML ; (c) charset=\"UTF-8\";format=flowed").unwrap();
        assert_eq!(
            (ct.media_type.as_str(), ct.subtype.as_str()),
            ("Text", "HTML")
        );
        assert_eq!(
            ct.params,
            vec![p("charset", "UTF-8"), p("format", "flowed")]
        );
        assert!(ct.is("text", "html"));
        let ct = parse_content_type(b"multipart/mixed;\r\n\tboundary=----=_Part_1_2.3").unwrap();
        assert_eq!(ct.param("BOUNDARY"), Some(&b"----=_Part_1_2.3"[..]));
        assert_eq!(parse_content_type(b"text"), None);
        assert_eq!(parse_content_type(b""), None);
        assert_eq!(parse_content_type(b"/plain"), None);
        let ct = parse_content_type(b"text/plain; junk; a=\"q\\\"x\"; b=").unwrap();
        assert_eq!(ct.params, vec![p("a", "q\"x"), p("b", "")]);
    }

    #[test]
    fn rfc2231() {
        let ct = parse_content_type(
            b"application/x-stuff; title*0*=us-ascii'en'This%20is%20even; x=1;\r\n title*2=\"isn't it!\"; title*1*=%20more%20",
        )
        .unwrap();
        assert_eq!(
            ct.params,
            vec![
                p(
                    "title*",
                    "us-ascii'en'This%20is%20even%20more%20isn%27t%20it!"
                ),
                p("x", "1")
            ]
        );
        assert_eq!(
            decode_rfc2231(&ct.params[0].value),
            "This is even more isn't it!"
        );
        let d = parse_disposition(b"attachment; filename*0=\"a\"; filename*1=\"b.txt\"").unwrap();
        assert_eq!(d.kind, "attachment");
        assert_eq!(d.params, vec![p("filename", "ab.txt")]);
        assert_eq!(decode_rfc2231(b"utf-8''%C3%A9t%C3%A9.pdf"), "été.pdf");
        assert_eq!(decode_rfc2231(b"plain%4"), "plain%4");
    }

    #[test]
    fn language_and_token() {
        assert_eq!(
            parse_language(b"en, de (German)\r\n fr"),
            vec!["en", "de", "fr"]
        );
        assert_eq!(parse_token(b" (c) Base64 "), Some("Base64".into()));
        assert_eq!(parse_token(b" "), None);
    }
}
