//! RFC 5322 address lists in message headers (`From:`, `To:`, `Cc:`,
//! `Bcc:`, `Reply-To:`, `Sender:`...), read the forgiving way cleanup needs:
//! display names, groups, comments, quoted strings and obsolete routes are
//! understood; malformed pieces are skipped, never fatal.

use crate::Mailbox;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A run of atext (and anything else that is not a special).
    Atom(String),
    /// A quoted string, already unquoted.
    Quoted(String),
    /// A `[...]` domain literal, brackets included.
    Literal(String),
    /// One of `<>:;@,.`
    Special(char),
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {}
            '(' => {
                // Comment, possibly nested, with quoted-pairs.
                let mut depth = 1;
                while let Some(c) = it.next() {
                    match c {
                        '\\' => {
                            it.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ')' => {}
            '"' => {
                let mut q = String::new();
                while let Some(c) = it.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = it.next() {
                                q.push(n);
                            }
                        }
                        '"' => break,
                        '\r' | '\n' => {}
                        _ => q.push(c),
                    }
                }
                toks.push(Tok::Quoted(q));
            }
            '[' => {
                let mut l = String::from("[");
                for c in it.by_ref() {
                    match c {
                        ' ' | '\t' | '\r' | '\n' => {}
                        ']' => break,
                        _ => l.push(c),
                    }
                }
                l.push(']');
                toks.push(Tok::Literal(l));
            }
            '<' | '>' | ':' | ';' | '@' | ',' | '.' => toks.push(Tok::Special(c)),
            _ => {
                let mut a = String::new();
                a.push(c);
                while let Some(&n) = it.peek() {
                    if matches!(
                        n,
                        ' ' | '\t'
                            | '\r'
                            | '\n'
                            | '('
                            | ')'
                            | '"'
                            | '['
                            | ']'
                            | '<'
                            | '>'
                            | ':'
                            | ';'
                            | '@'
                            | ','
                            | '.'
                    ) {
                        break;
                    }
                    a.push(n);
                    it.next();
                }
                toks.push(Tok::Atom(a));
            }
        }
    }
    toks
}

/// Turn the tokens of one addr-spec into a mailbox; `None` if there is
/// nothing usable. Local part tokens are joined without spaces (`a . b` is
/// `a.b`), quoted strings contribute their content.
fn build(toks: &[Tok]) -> Option<Mailbox> {
    // Drop an obsolete route (`@a,@b:`) at the start.
    let toks = match toks.first() {
        Some(Tok::Special('@')) => {
            let colon = toks.iter().position(|t| *t == Tok::Special(':'))?;
            &toks[colon + 1..]
        }
        _ => toks,
    };
    let at = toks.iter().rposition(|t| *t == Tok::Special('@'));
    let (lp, dp) = match at {
        Some(i) => (&toks[..i], Some(&toks[i + 1..])),
        None => (toks, None),
    };
    let mut local = String::new();
    for t in lp {
        match t {
            Tok::Atom(a) => local.push_str(a),
            Tok::Quoted(q) => local.push_str(q),
            Tok::Literal(l) => local.push_str(l),
            Tok::Special(c) => local.push(*c),
        }
    }
    let domain = match dp {
        Some(d) => {
            let mut dom = String::new();
            for t in d {
                match t {
                    Tok::Atom(a) => dom.push_str(a),
                    Tok::Literal(l) => dom.push_str(l),
                    Tok::Special('.') => dom.push('.'),
                    _ => return None,
                }
            }
            if dom.is_empty() {
                return None;
            }
            Some(dom)
        }
        None => None,
    };
    if local.is_empty() && domain.is_none() {
        return None;
    }
    Some(Mailbox { local, domain })
}

/// The addr-specs of an RFC 5322 address list, in order, in internal form
/// (local part unquoted). Display names, comments, group names and group
/// ends are dropped; an empty group (`undisclosed-recipients:;`) yields
/// nothing. A bare word (`root`) yields a mailbox without domain, for the
/// caller to qualify. Unparseable pieces are skipped.
///
/// The value may still contain folding (CRLF + whitespace); it is treated
/// as whitespace.
pub fn parse_address_list(value: &str) -> Vec<Mailbox> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    // Tokens of the current address (outside angle brackets), and of the
    // angle-addr if one was seen.
    let mut plain: Vec<Tok> = Vec::new();
    let mut angle: Option<Vec<Tok>> = None;
    let mut in_angle = false;
    let flush = |plain: &mut Vec<Tok>, angle: &mut Option<Vec<Tok>>, out: &mut Vec<Mailbox>| {
        let mb = match angle.take() {
            Some(a) => build(&a),
            None => build(plain),
        };
        if let Some(mb) = mb {
            out.push(mb);
        }
        plain.clear();
    };
    for t in toks {
        if in_angle {
            match t {
                Tok::Special('>') => in_angle = false,
                Tok::Special('<') => angle = Some(Vec::new()),
                t => {
                    if let Some(a) = angle.as_mut() {
                        a.push(t);
                    }
                }
            }
            continue;
        }
        match t {
            Tok::Special('<') => {
                in_angle = true;
                angle = Some(Vec::new());
            }
            Tok::Special(',') | Tok::Special(';') => flush(&mut plain, &mut angle, &mut out),
            // A group name (display name followed by ':') is dropped.
            Tok::Special(':') if angle.is_none() => plain.clear(),
            Tok::Special('>') => {}
            t => {
                if angle.is_none() {
                    plain.push(t)
                }
            }
        }
    }
    flush(&mut plain, &mut angle, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &str) -> Vec<String> {
        parse_address_list(v)
            .iter()
            .map(Mailbox::internal)
            .collect()
    }

    #[test]
    fn simple_forms() {
        assert_eq!(list("user@example.com"), ["user@example.com"]);
        assert_eq!(
            list(" a@x.example , b@y.example "),
            ["a@x.example", "b@y.example"]
        );
        assert_eq!(list("John Doe <john@example.com>"), ["john@example.com"]);
        assert_eq!(
            list("\"Doe, John\" <john@example.com>, jane@example.com"),
            ["john@example.com", "jane@example.com"]
        );
        assert_eq!(list("<john@example.com>"), ["john@example.com"]);
        assert_eq!(list("root"), ["root"]);
        assert_eq!(list(""), Vec::<String>::new());
        assert_eq!(list("   "), Vec::<String>::new());
    }

    #[test]
    fn comments_and_quotes() {
        assert_eq!(list("john@example.com (John Doe)"), ["john@example.com"]);
        assert_eq!(
            list("john(comment)@example(another).com"),
            ["john@example.com"]
        );
        assert_eq!(list("(a (nested) comment) x@y.example"), ["x@y.example"]);
        assert_eq!(
            list("(unterminated comment x@y.example"),
            Vec::<String>::new()
        );
        assert_eq!(list("\"john doe\"@example.com"), ["john doe@example.com"]);
        assert_eq!(list("\"a\\\"b\"@example.com"), ["a\"b@example.com"]);
        assert_eq!(
            list("\"Joe Q. Public\" <john.q.public@example.com>"),
            ["john.q.public@example.com"]
        );
        assert_eq!(
            list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            ["pete@silly.test"]
        );
        assert_eq!(
            list("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            ["mary@x.test", "jdoe@example.org", "one@y.test"]
        );
        assert_eq!(
            list("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
            ["boss@nil.test", "sysservices@example.net"]
        );
    }

    #[test]
    fn groups() {
        assert_eq!(list("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(
            list("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
            ["c@a.test", "joe@where.test", "jdoe@one.test"]
        );
        assert_eq!(
            list("Team: a@x.example, b@x.example; c@y.example"),
            ["a@x.example", "b@x.example", "c@y.example"]
        );
        assert_eq!(
            list("Undisclosed recipients:;, x@y.example"),
            ["x@y.example"]
        );
    }

    #[test]
    fn literals_routes_folding() {
        assert_eq!(list("user@[192.0.2.1]"), ["user@[192.0.2.1]"]);
        assert_eq!(list("user@[IPv6:2001:db8::1]"), ["user@[IPv6:2001:db8::1]"]);
        assert_eq!(
            list("<@a.example,@b.example:user@c.example>"),
            ["user@c.example"]
        );
        assert_eq!(
            list("John\r\n Doe <john@\r\n\texample.com>"),
            ["john@example.com"]
        );
        assert_eq!(list("jörg <jörg@bücher.example>"), ["jörg@bücher.example"]);
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        assert_eq!(list("<unterminated@x.example"), ["unterminated@x.example"]);
        assert_eq!(list("a@, b@x.example"), ["b@x.example"]);
        assert_eq!(list(",,,"), Vec::<String>::new());
        assert_eq!(list("@@@"), Vec::<String>::new());
        assert_eq!(list("<>"), Vec::<String>::new());
        assert_eq!(list(">>a@b.example<<"), Vec::<String>::new());
        let _ = list("\"unterminated");
        let _ = list("[unterminated");
        let _ = list("(");
        let _ = list("\\");
    }
}
