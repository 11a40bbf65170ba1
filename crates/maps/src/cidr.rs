//! `cidr:` tables (cidr_table(5)): `network/prefix result` or `address
//! result`, IPv4 and IPv6, `!pattern result`, `if [!]pattern` … `endif`,
//! the address optionally in `[]`; rules tried in order, first match wins.
//! Keys and patterns are compared as binary addresses, so `2001:DB8::5`
//! matches `2001:db8::/32`; a key that is not an address matches nothing.
//! Bad rules are skipped with Postfix's warnings. `cidr:{ {rule}, … }`
//! writes the rules inline.

use crate::error::MapError;
use crate::inline::braced_rules;
use crate::lines::{logical_lines, split_key_value, trim_blanks};
use crate::watch::Watched;
use crate::{Ctx, Map, MapKind};
use std::io::Read;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    v6: bool,
    bits: u128,
    prefix: u32,
}

impl Net {
    fn width(v6: bool) -> u32 {
        if v6 {
            128
        } else {
            32
        }
    }

    fn mask(v6: bool, prefix: u32) -> u128 {
        let w = Net::width(v6);
        if prefix == 0 {
            0
        } else {
            let all: u128 = if v6 { u128::MAX } else { u128::from(u32::MAX) };
            (all << (w - prefix)) & all
        }
    }

    /// None when `a` is of the other address family: then the rule does
    /// not apply at all, negated or not (an `if` block is skipped).
    fn contains(&self, a: &IpAddr) -> Option<bool> {
        let (v6, bits) = addr_bits(a);
        (v6 == self.v6).then(|| bits & Net::mask(v6, self.prefix) == self.bits)
    }
}

fn addr_bits(a: &IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(*v))),
        IpAddr::V6(v) => (true, u128::from(*v)),
    }
}

fn bits_to_addr(v6: bool, bits: u128) -> String {
    if v6 {
        std::net::Ipv6Addr::from(bits).to_string()
    } else {
        std::net::Ipv4Addr::from(bits as u32).to_string()
    }
}

/// Parses `[!]address[/prefix]`. Err is the warning text.
fn parse_net(text: &str) -> Result<(bool, Net), String> {
    let mut s = text;
    let mut negate = false;
    if let Some(r) = s.strip_prefix('!') {
        negate = true;
        s = r;
    }
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: IpAddr = bare
        .parse()
        .map_err(|_| format!("bad address pattern: \"{s}\": skipping this rule"))?;
    let (v6, bits) = addr_bits(&ip);
    let width = Net::width(v6);
    let prefix = match prefix {
        None => width,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= width && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("bad mask length in \"{s}\": skipping this rule")),
        },
    };
    let net = bits & Net::mask(v6, prefix);
    if net != bits {
        return Err(format!(
            "non-null host address bits in \"{s}\", perhaps you should use \"{}/{prefix}\" instead: skipping this rule",
            bits_to_addr(v6, net)
        ));
    }
    Ok((
        negate,
        Net {
            v6,
            bits: net,
            prefix,
        },
    ))
}

#[derive(Debug)]
enum Rule {
    Match {
        net: Net,
        negate: bool,
        result: String,
    },
    If {
        net: Net,
        negate: bool,
        next: usize,
    },
    Endif,
}

#[derive(Debug, Default)]
pub struct Table {
    rules: Vec<Rule>,
}

fn keyword<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let head = line.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &line[word.len()..];
    match rest.chars().next() {
        None => Some(""),
        Some(c) if c.is_ascii_whitespace() => Some(trim_blanks(rest)),
        _ => None,
    }
}

/// Parses a whole table; `name` names it in warnings.
pub fn parse(text: &str, name: &str, warn: &dyn Fn(&str)) -> Table {
    let mut t = Table::default();
    let mut open_ifs: Vec<(usize, usize)> = Vec::new();
    for l in logical_lines(text, name, warn) {
        let w = |msg: &str| warn(&format!("cidr map {name}, line {}: {msg}", l.number));
        let line = trim_blanks(&l.text);
        if keyword(line, "endif").is_some() {
            match open_ifs.pop() {
                Some((i, _)) => {
                    t.rules.push(Rule::Endif);
                    let next = t.rules.len();
                    if let Some(Rule::If { next: n, .. }) = t.rules.get_mut(i) {
                        *n = next;
                    }
                }
                None => w("ENDIF without IF: skipping this rule"),
            }
            continue;
        }
        if let Some(rest) = keyword(line, "if") {
            let (pat, extra) = split_key_value(rest);
            match parse_net(pat) {
                Ok((negate, net)) => {
                    if !extra.is_empty() {
                        w(&format!(
                            "ignoring extra text after IF statement: \"{extra}\""
                        ));
                    }
                    open_ifs.push((t.rules.len(), l.number));
                    t.rules.push(Rule::If {
                        net,
                        negate,
                        next: usize::MAX,
                    });
                }
                Err(msg) => w(&msg),
            }
            continue;
        }
        let (pat, result) = split_key_value(line);
        let (negate, net) = match parse_net(pat) {
            Ok(x) => x,
            Err(msg) => {
                w(&msg);
                continue;
            }
        };
        if result.is_empty() {
            w("no lookup result: skipping this rule");
            continue;
        }
        t.rules.push(Rule::Match {
            net,
            negate,
            result: result.to_string(),
        });
    }
    let end = t.rules.len();
    for (i, line) in open_ifs {
        warn(&format!(
            "cidr map {name}, line {line}: IF has no matching ENDIF"
        ));
        if let Some(Rule::If { next, .. }) = t.rules.get_mut(i) {
            *next = end;
        }
    }
    t
}

impl Table {
    pub fn lookup(&self, key: &str) -> Option<String> {
        let addr: IpAddr = key.parse().ok()?;
        let mut i = 0;
        while let Some(rule) = self.rules.get(i) {
            match rule {
                Rule::Match {
                    net,
                    negate,
                    result,
                } => {
                    if net.contains(&addr).is_some_and(|m| m != *negate) {
                        return Some(result.clone());
                    }
                }
                Rule::If { net, negate, next } => {
                    if net.contains(&addr).is_none_or(|m| m == *negate) {
                        i = *next;
                        continue;
                    }
                }
                Rule::Endif => {}
            }
            i += 1;
        }
        None
    }
}

type Source = crate::watch::TableSource<Table>;

pub struct CidrMap {
    spec: String,
    source: Source,
}

impl CidrMap {
    pub fn open(spec: String, name: &str, ctx: &Ctx) -> Result<CidrMap, MapError> {
        if name.starts_with('{') {
            let text = braced_rules(name).map_err(|e| MapError::BadSpec {
                spec: spec.clone(),
                reason: format!("cidr map: {e}"),
            })?;
            let c = ctx.clone();
            let t = parse(&text, name, &|s: &str| c.warn(s));
            return Ok(CidrMap {
                spec,
                source: Source::Inline(Arc::new(t)),
            });
        }
        let c = ctx.clone();
        let file = Watched::new(
            name.into(),
            false,
            Box::new(move |path, mut f| {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).map_err(|source| MapError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let text = String::from_utf8_lossy(&bytes);
                Ok(parse(&text, &path.display().to_string(), &|s: &str| {
                    c.warn(s)
                }))
            }),
        )?;
        Ok(CidrMap {
            spec,
            source: Source::File(file),
        })
    }
}

impl Map for CidrMap {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> MapKind {
        MapKind::Pattern
    }
    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        Ok(self.source.current()?.lookup(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn postfix_example_and_bad_lines() {
        let text = "1.2.3.4/24 hostbits\n[10.0.0.0]/8 bracketed\n300.1.1.1 bad\n2001:db8::/32  v6\n\
                    192.168.1.1\n!172.16.0.0/12 notprivate\nif 127.0.0.0/8\n127.0.0.1 lo\nendif\nendif\nfoo\n1.2.3.4/33 x\n";
        let warnings = RefCell::new(Vec::new());
        let t = parse(text, "c", &|s: &str| {
            warnings.borrow_mut().push(s.to_string())
        });
        assert_eq!(
            warnings.into_inner(),
            [
                "cidr map c, line 1: non-null host address bits in \"1.2.3.4/24\", perhaps you should use \"1.2.3.0/24\" instead: skipping this rule",
                "cidr map c, line 3: bad address pattern: \"300.1.1.1\": skipping this rule",
                "cidr map c, line 5: no lookup result: skipping this rule",
                "cidr map c, line 10: ENDIF without IF: skipping this rule",
                "cidr map c, line 11: bad address pattern: \"foo\": skipping this rule",
                "cidr map c, line 12: bad mask length in \"1.2.3.4/33\": skipping this rule",
            ]
        );
        // The same answers as Postfix 3.7's postmap -q gives for this file.
        assert_eq!(t.lookup("1.2.3.9").as_deref(), Some("notprivate"));
        assert_eq!(t.lookup("10.1.1.1").as_deref(), Some("bracketed"));
        assert_eq!(t.lookup("2001:DB8::5").as_deref(), Some("v6"));
        assert_eq!(t.lookup("172.16.1.1"), None);
        assert_eq!(t.lookup("[1.2.3.4]"), None);
        assert_eq!(t.lookup("::ffff:1.2.3.4"), None);
        assert_eq!(t.lookup("junk"), None);
    }

    #[test]
    fn first_match_and_if_blocks() {
        let text = "192.168.1.1 OK\n192.168.0.0/16 REJECT\n2001:db8::1 OK\n2001:db8::/32 REJECT\n\
                    if 10.0.0.0/8\nif !10.1.0.0/16\n10.2.3.4 inner\nendif\n10.0.0.0/8 ten\nendif\n0.0.0.0/0 any4\n::/0 any6\n";
        let t = parse(text, "c", &|s: &str| panic!("{s}"));
        assert_eq!(t.lookup("192.168.1.1").as_deref(), Some("OK"));
        assert_eq!(t.lookup("192.168.7.1").as_deref(), Some("REJECT"));
        assert_eq!(t.lookup("2001:db8:0::1").as_deref(), Some("OK"));
        assert_eq!(t.lookup("2001:db8::2").as_deref(), Some("REJECT"));
        assert_eq!(t.lookup("10.2.3.4").as_deref(), Some("inner"));
        assert_eq!(t.lookup("10.1.3.4").as_deref(), Some("ten"));
        assert_eq!(t.lookup("11.0.0.1").as_deref(), Some("any4"));
        assert_eq!(t.lookup("fe80::1").as_deref(), Some("any6"));
    }
}
