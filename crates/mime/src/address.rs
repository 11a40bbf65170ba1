//! RFC 5322 §3.4 address lists, parsed the way IMAP's ENVELOPE wants
//! them (RFC 3501 §7.4.2), tolerant of real-world junk.
//!
//! Like Dovecot: quoted strings are unquoted (display name and local
//! part), phrase words are joined by one space, an addr-spec without
//! display name takes its trailing comment as name, a missing local
//! part or domain becomes `MISSING_MAILBOX` / `MISSING_DOMAIN` so that
//! `host == None` only ever marks group syntax. Encoded words are left
//! as written. Beyond that: `Name addr@host` without brackets, an
//! unterminated `<`, `addr@host <addr@host>` and stray specials are
//! accepted.

/// One ENVELOPE address. Group syntax is two markers around the
/// members: start `(NIL NIL "group name" NIL)`, end `(NIL NIL NIL NIL)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    /// The obsolete source route, `@a,@b`.
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

impl Address {
    pub fn is_group_start(&self) -> bool {
        self.host.is_none() && self.mailbox.is_some()
    }

    pub fn is_group_end(&self) -> bool {
        self.host.is_none() && self.mailbox.is_none()
    }

    fn group_start(name: Vec<u8>) -> Address {
        Address {
            mailbox: Some(name),
            ..Address::default()
        }
    }
}

pub const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
pub const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// An atom or encoded word; `quoted` for a quoted string (unquoted).
    Word {
        quoted: bool,
    },
    Comment,
    /// A domain literal, brackets included.
    Literal,
    Special(u8),
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: Vec<u8>,
    ws_before: bool,
}

fn is_special(b: u8) -> bool {
    b"()<>[]:;@\\,.\"".contains(&b)
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut ws = false;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_whitespace() {
            ws = true;
            i += 1;
            continue;
        }
        let (kind, text, next) = match b {
            b'"' => {
                let mut out = Vec::new();
                let mut j = i + 1;
                while j < s.len() && s[j] != b'"' {
                    if s[j] == b'\\' && j + 1 < s.len() {
                        j += 1;
                    }
                    if s[j] != b'\r' && s[j] != b'\n' {
                        out.push(s[j]);
                    }
                    j += 1;
                }
                (Kind::Word { quoted: true }, out, (j + 1).min(s.len()))
            }
            b'(' => {
                let mut out = Vec::new();
                let mut depth = 0usize;
                let mut j = i;
                while j < s.len() {
                    match s[j] {
                        b'\\' if j + 1 < s.len() => {
                            j += 1;
                            out.push(s[j]);
                        }
                        b'(' => {
                            if depth > 0 {
                                out.push(b'(');
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            out.push(b')');
                        }
                        b'\r' | b'\n' => {}
                        c => out.push(c),
                    }
                    j += 1;
                }
                (Kind::Comment, out, (j + 1).min(s.len()))
            }
            b'[' => {
                let end = s[i..]
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(s.len(), |p| i + p + 1);
                let text: Vec<u8> = s[i..end]
                    .iter()
                    .copied()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                (Kind::Literal, text, end)
            }
            _ if is_special(b) => (Kind::Special(b), vec![b], i + 1),
            _ => {
                let mut j = i;
                if s[i..].starts_with(b"=?") {
                    // An encoded word is one word even if it holds specials.
                    if let Some(p) = s[i + 2..].windows(2).position(|w| w == b"?=") {
                        let end = i + 2 + p + 2;
                        if !s[i..end].iter().any(|c| c.is_ascii_whitespace()) {
                            j = end;
                        }
                    }
                }
                while j < s.len() && !s[j].is_ascii_whitespace() && !is_special(s[j]) {
                    j += 1;
                }
                (Kind::Word { quoted: false }, s[i..j].to_vec(), j)
            }
        };
        toks.push(Tok {
            kind,
            text,
            ws_before: ws,
        });
        ws = false;
        i = next;
    }
    toks
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    out: Vec<Address>,
}

/// Words joined by one space where the input had blanks.
fn phrase_text(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks.iter().filter(|t| t.kind != Kind::Comment) {
        if t.ws_before && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(&t.text);
    }
    out
}

/// Words joined without blanks (local part, domain).
fn joined(toks: &[Tok]) -> Vec<u8> {
    toks.iter()
        .filter(|t| t.kind != Kind::Comment)
        .flat_map(|t| t.text.iter().copied())
        .collect()
}

fn last_comment(toks: &[Tok]) -> Option<Vec<u8>> {
    toks.iter()
        .rev()
        .find(|t| t.kind == Kind::Comment && !t.text.is_empty())
        .map(|t| t.text.clone())
}

fn non_empty(v: Vec<u8>) -> Option<Vec<u8>> {
    (!v.is_empty()).then_some(v)
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.toks.get(self.i).map(|t| &t.kind)
    }

    fn at(&self, b: u8) -> bool {
        self.peek() == Some(&Kind::Special(b))
    }

    /// Tokens up to (not including) one of `stops` at top level.
    fn collect(&mut self, stops: &[u8]) -> Vec<Tok> {
        let start = self.i;
        while let Some(k) = self.peek() {
            if let Kind::Special(b) = k {
                if stops.contains(b) {
                    break;
                }
            }
            self.i += 1;
        }
        self.toks[start..self.i].to_vec()
    }

    fn list(&mut self) {
        let mut guard = 0;
        while self.i < self.toks.len() && guard < 100_000 {
            guard += 1;
            if self.at(b',') || self.at(b';') {
                self.i += 1;
                continue;
            }
            let start = self.i;
            let phrase = self.collect(b"<@,;:");
            if self.at(b':') {
                self.i += 1;
                self.out.push(Address::group_start(phrase_text(&phrase)));
                loop {
                    if self.i >= self.toks.len() {
                        break;
                    }
                    if self.at(b',') {
                        self.i += 1;
                        continue;
                    }
                    if self.at(b';') {
                        self.i += 1;
                        break;
                    }
                    self.mailbox();
                }
                self.out.push(Address::default());
            } else {
                self.i = start;
                self.mailbox();
            }
        }
    }

    /// One mailbox; consumes at least one token, stops before `,`/`;`.
    fn mailbox(&mut self) {
        let start = self.i;
        let phrase = self.collect(b"<@,;");
        match self.peek() {
            Some(Kind::Special(b'<')) => self.angle(phrase),
            Some(Kind::Special(b'@')) => {
                // Local part: the words after the last blank; anything
                // before is a display name that lacked its brackets.
                let split = phrase
                    .iter()
                    .rposition(|t| t.ws_before && t.kind != Kind::Comment)
                    .filter(|&p| p > 0)
                    .unwrap_or(0);
                let (name_toks, local_toks) = phrase.split_at(split);
                self.i += 1;
                let domain = self.collect(b"<>,;");
                if self.at(b'<') {
                    // `addr@host <addr@host>`: all of it is the name.
                    let name: Vec<Tok> = self.toks[start..self.i].to_vec();
                    self.angle(name);
                    return;
                }
                let name = non_empty(phrase_text(name_toks))
                    .or_else(|| last_comment(&domain))
                    .or_else(|| last_comment(local_toks));
                self.push(name, None, joined(local_toks), Some(joined(&domain)));
                self.skip_junk();
            }
            _ => {
                if phrase.iter().any(|t| t.kind != Kind::Comment) {
                    let name = last_comment(&phrase);
                    self.push(name, None, phrase_text(&phrase), None);
                } else if self.i == start {
                    self.i += 1;
                }
            }
        }
    }

    /// At `<`: `[@route:]local@domain>`, `>` optional.
    fn angle(&mut self, name: Vec<Tok>) {
        self.i += 1;
        let mut adl = None;
        if self.at(b'@') {
            let route = self.collect(b":>");
            if self.at(b':') {
                self.i += 1;
                adl = Some(joined(&route));
            } else {
                // No colon: not a route after all.
                self.i -= route.len();
            }
        }
        let local = self.collect(b"@>");
        let domain = if self.at(b'@') {
            self.i += 1;
            Some(joined(&self.collect(b">")))
        } else {
            None
        };
        if self.at(b'>') {
            self.i += 1;
        }
        let name = non_empty(phrase_text(&name));
        let local = joined(&local);
        if local.is_empty() && domain.is_none() {
            // `<>`: the null address.
            self.out.push(Address {
                name,
                adl,
                mailbox: Some(Vec::new()),
                host: Some(Vec::new()),
            });
        } else {
            self.push(name, adl, local, domain);
        }
        self.skip_junk();
    }

    fn push(
        &mut self,
        name: Option<Vec<u8>>,
        adl: Option<Vec<u8>>,
        local: Vec<u8>,
        host: Option<Vec<u8>>,
    ) {
        let mailbox = non_empty(local).unwrap_or_else(|| MISSING_MAILBOX.to_vec());
        let host = host
            .and_then(non_empty)
            .unwrap_or_else(|| MISSING_DOMAIN.to_vec());
        self.out.push(Address {
            name,
            adl,
            mailbox: Some(mailbox),
            host: Some(host),
        });
    }

    fn skip_junk(&mut self) {
        self.collect(b",;");
    }
}

/// Parses an address-list header value (raw or unfolded). An empty or
/// blank value gives an empty list.
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let mut p = Parser {
        toks: tokenize(value),
        i: 0,
        out: Vec::new(),
    };
    p.list();
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, mailbox: &str, host: &str) -> Address {
        Address {
            name: name.map(|n| n.as_bytes().to_vec()),
            adl: None,
            mailbox: Some(mailbox.as_bytes().to_vec()),
            host: Some(host.as_bytes().to_vec()),
        }
    }

    fn parse(s: &str) -> Vec<Address> {
        parse_address_list(s.as_bytes())
    }

    #[test]
    fn basics() {
        assert_eq!(
            parse("user@example.com"),
            vec![a(None, "user", "example.com")]
        );
        assert_eq!(
            parse("\"Doe, John\" <john@x.org>, Jane Q. Public <jane@y.org>"),
            vec![
                a(Some("Doe, John"), "john", "x.org"),
                a(Some("Jane Q. Public"), "jane", "y.org")
            ]
        );
        assert_eq!(parse("<bare@x>"), vec![a(None, "bare", "x")]);
        assert_eq!(parse("j@x (John Doe)"), vec![a(Some("John Doe"), "j", "x")]);
        assert_eq!(
            parse("=?utf-8?Q?J=C3=B6rg?= <j@x>"),
            vec![a(Some("=?utf-8?Q?J=C3=B6rg?="), "j", "x")]
        );
        assert_eq!(parse("\"john doe\"@x"), vec![a(None, "john doe", "x")]);
        assert_eq!(parse("  "), vec![]);
        assert_eq!(parse("a@[1.2.3.4]"), vec![a(None, "a", "[1.2.3.4]")]);
        assert_eq!(
            parse("John\r\n Doe <j@x>"),
            vec![a(Some("John Doe"), "j", "x")]
        );
    }

    #[test]
    fn groups() {
        let g = parse("undisclosed-recipients:;");
        assert_eq!(
            g,
            vec![
                Address::group_start(b"undisclosed-recipients".to_vec()),
                Address::default()
            ]
        );
        assert!(g[0].is_group_start() && g[1].is_group_end());
        assert_eq!(
            parse("A Group: a@x, B <b@y>; c@z"),
            vec![
                Address::group_start(b"A Group".to_vec()),
                a(None, "a", "x"),
                a(Some("B"), "b", "y"),
                Address::default(),
                a(None, "c", "z")
            ]
        );
        // Unterminated group.
        assert_eq!(
            parse("g: a@x"),
            vec![
                Address::group_start(b"g".to_vec()),
                a(None, "a", "x"),
                Address::default()
            ]
        );
    }

    #[test]
    fn junk() {
        assert_eq!(
            parse("John Doe john@x"),
            vec![a(Some("John Doe"), "john", "x")]
        );
        assert_eq!(parse("John <j@x"), vec![a(Some("John"), "j", "x")]);
        assert_eq!(parse("j@x <j@x>"), vec![a(Some("j@x"), "j", "x")]);
        assert_eq!(parse("nobody"), vec![a(None, "nobody", "MISSING_DOMAIN")]);
        assert_eq!(parse("a@"), vec![a(None, "a", "MISSING_DOMAIN")]);
        assert_eq!(parse("@x"), vec![a(None, "MISSING_MAILBOX", "x")]);
        assert_eq!(parse("first.last.@x"), vec![a(None, "first.last.", "x")]);
        assert_eq!(
            parse("<>"),
            vec![Address {
                mailbox: Some(vec![]),
                host: Some(vec![]),
                ..Address::default()
            }]
        );
        let r = parse("<@a.net,@b.net:u@c.net>");
        assert_eq!(r[0].adl.as_deref(), Some(&b"@a.net,@b.net"[..]));
        assert_eq!(r[0].mailbox.as_deref(), Some(&b"u"[..]));
        assert_eq!(
            parse(",,a@x,,;>"),
            vec![a(None, "a", "x"), a(None, ">", "MISSING_DOMAIN")]
        );
        assert_eq!(parse("(only a comment)"), vec![]);
    }
}
