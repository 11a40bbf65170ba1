//! `regexp:` (regexp_table(5)) and `pcre:` (pcre_table(5)) tables.
//!
//! Syntax, both types: `/pattern/flags result`, `!/pattern/flags result`,
//! `if /pattern/flags` … `endif` (nesting), `if !/pattern/flags`; any
//! non-alphanumeric, non-blank delimiter instead of `/`; comments, blank
//! lines and continuation lines as in every table file; `$1`, `${1}`,
//! `$(1)` in the result are the pattern's groups (empty when a group did not
//! take part), `$$` is a `$`. Rules are tried in order, the first that
//! matches wins; the key is never folded (patterns are case-insensitive by
//! default). Bad rules are skipped with Postfix's warnings (`regexp map
//! FILE, line N: …`), as Postfix does, so one typo does not disable a table.
//! `regexp:{ {rule}, {rule} }` (Postfix 3.7) writes the rules inline.
//!
//! Both use the `regex` crate, not libc regcomp or libpcre:
//!
//! * regexp: flags `i` (case-insensitive, default on), `m` (multi-line:
//!   `^`/`$` at newlines, `.` stops at newline; default off, where `.`
//!   matches newline as in POSIX without REG_NEWLINE) and `x` (extended
//!   syntax, default on). With `x` toggled off the pattern is POSIX basic
//!   syntax (`\(…\)`, `\{…\}`, GNU `\+ \? \|`) and is translated. Matching is
//!   leftmost-first rather than POSIX leftmost-longest, which only changes
//!   what groups capture under alternations; back-references are not
//!   supported (not in POSIX ERE either).
//! * pcre: flags `i` (default on), `m`, `s`, `x`, `U` map to the same
//!   options; `A` anchors at the start of the key; `E` is always in effect
//!   (`$` matches only at the very end); `X` is accepted and ignored. Not
//!   supported, reported as a bad rule when used: look-ahead and
//!   look-behind, back-references (`\1`), atomic groups and possessive
//!   quantifiers, recursion and subroutine calls, `\Q…\E`, callouts.

use crate::error::MapError;
use crate::inline::braced_rules;
use crate::lines::{logical_lines, trim_blanks};
use crate::watch::Watched;
use crate::{Ctx, Map, MapKind};
use regex::{Regex, RegexBuilder};
use std::io::Read;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Posix,
    Pcre,
}

impl Flavour {
    fn label(self) -> &'static str {
        match self {
            Flavour::Posix => "regexp",
            Flavour::Pcre => "pcre",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Group(usize),
}

#[derive(Debug)]
enum Rule {
    Match {
        re: Regex,
        negate: bool,
        result: Vec<Part>,
    },
    If {
        re: Regex,
        negate: bool,
        /// The rule to go on with when the condition fails.
        next: usize,
    },
    Endif,
}

#[derive(Debug, Default)]
pub struct Table {
    rules: Vec<Rule>,
}

/// Translates POSIX basic syntax to extended syntax.
fn bre_to_ere(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if in_bracket {
            out.push(c);
            if c == '[' && chars.peek() == Some(&':') {
                // [:class:] inside a bracket expression.
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            } else if c == ']' {
                in_bracket = false;
            }
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                if chars.peek() == Some(&']') {
                    if let Some(n) = chars.next() {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '\\' => match chars.next() {
                Some(d @ ('(' | ')' | '{' | '}' | '+' | '?' | '|')) => out.push(d),
                Some(d) => {
                    out.push('\\');
                    out.push(d);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '+' | '?' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The last line of a regex error, which says what is wrong.
fn regex_error_text(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    last.trim().trim_start_matches("error: ").to_string()
}

struct Parsed<'a> {
    negate: bool,
    pattern: String,
    flags: &'a str,
    rest: &'a str,
}

/// Parses `[!]DpatternDflags rest`. Err is the warning text.
fn parse_pattern(text: &str) -> Result<Parsed<'_>, String> {
    let mut s = text;
    let mut negate = false;
    while let Some(r) = s.strip_prefix('!') {
        negate = !negate;
        s = r.trim_start();
    }
    let mut chars = s.char_indices();
    let delim = match chars.next() {
        Some((_, d)) if !d.is_alphanumeric() && !d.is_whitespace() && d != '\\' => d,
        _ => return Err("ignoring unrecognized request".into()),
    };
    let mut pattern = String::new();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == delim {
            end = Some(i + c.len_utf8());
            break;
        }
        pattern.push(c);
        if c == '\\' {
            if let Some((_, d)) = chars.next() {
                pattern.push(d);
            }
        }
    }
    let end =
        end.ok_or_else(|| format!("no closing regexp delimiter \"{delim}\": skipping this rule"))?;
    let after = &s[end..];
    let flag_end = after
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(after.len());
    Ok(Parsed {
        negate,
        pattern,
        flags: &after[..flag_end],
        rest: trim_blanks(&after[flag_end..]),
    })
}

fn compile(p: &Parsed<'_>, flavour: Flavour) -> Result<Regex, String> {
    let mut icase = true;
    let mut multi = false;
    let mut extended = true;
    let (mut dotall, mut verbose, mut ungreedy, mut anchored) = (false, false, false, false);
    for f in p.flags.chars() {
        match (flavour, f) {
            (_, 'i') => icase = !icase,
            (_, 'm') => multi = !multi,
            (Flavour::Posix, 'x') => extended = !extended,
            (Flavour::Pcre, 'x') => verbose = !verbose,
            (Flavour::Pcre, 's') => dotall = !dotall,
            (Flavour::Pcre, 'U') => ungreedy = !ungreedy,
            (Flavour::Pcre, 'A') => anchored = !anchored,
            (Flavour::Pcre, 'E' | 'X') => {}
            (_, other) => {
                return Err(format!(
                    "unknown {} option \"{other}\": skipping this rule",
                    flavour.label()
                ))
            }
        }
    }
    let mut b = match flavour {
        Flavour::Posix => {
            let pat = if extended {
                p.pattern.clone()
            } else {
                bre_to_ere(&p.pattern)
            };
            let mut b = RegexBuilder::new(&pat);
            b.multi_line(multi).dot_matches_new_line(!multi);
            b
        }
        Flavour::Pcre => {
            let pat = if anchored {
                format!("\\A(?:{})", p.pattern)
            } else {
                p.pattern.clone()
            };
            let mut b = RegexBuilder::new(&pat);
            b.multi_line(multi)
                .dot_matches_new_line(dotall)
                .ignore_whitespace(verbose)
                .swap_greed(ungreedy);
            b
        }
    };
    b.case_insensitive(icase);
    b.build().map_err(|e| regex_error_text(&e))
}

/// Parses a result text into literal text and group references.
fn parse_result(text: &str) -> Result<Vec<Part>, Vec<String>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    let bad = |name: &str| {
        vec![
            format!("non-numeric replacement index \"{name}\""),
            "bad replacement syntax: skipping this rule".to_string(),
        ]
    };
    while let Some(c) = chars.next() {
        if c != '$' {
            lit.push(c);
            continue;
        }
        let name: String = match chars.peek() {
            Some('$') => {
                chars.next();
                lit.push('$');
                continue;
            }
            Some(&open @ ('{' | '(')) => {
                chars.next();
                let close = if open == '{' { '}' } else { ')' };
                let mut n = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == close {
                        closed = true;
                        break;
                    }
                    n.push(d);
                }
                if !closed {
                    return Err(vec![
                        "bad replacement syntax: skipping this rule".to_string()
                    ]);
                }
                n
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                let mut n = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        n.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                n
            }
            _ => {
                lit.push('$');
                continue;
            }
        };
        let index: usize = match name.parse() {
            Ok(i) if name.bytes().all(|b| b.is_ascii_digit()) => i,
            _ => return Err(bad(&name)),
        };
        if !lit.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut lit)));
        }
        parts.push(Part::Group(index));
    }
    if !lit.is_empty() {
        parts.push(Part::Text(lit));
    }
    Ok(parts)
}

fn is_keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &text[word.len()..];
    match rest.chars().next() {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(rest.trim_start()),
    }
}

/// Parses a whole table. `name` is the file name (or inline text) for
/// warnings. Without `substitution` (tables whose results name commands or
/// transports), a rule whose result has `$number` is skipped.
pub fn parse(
    text: &str,
    name: &str,
    flavour: Flavour,
    substitution: bool,
    warn: &dyn Fn(&str),
) -> Table {
    let mut t = Table::default();
    let mut open_ifs: Vec<(usize, usize)> = Vec::new(); // (rule index, line)
    let label = flavour.label();
    for l in logical_lines(text, name, warn) {
        let w = |msg: &str| warn(&format!("{label} map {name}, line {}: {msg}", l.number));
        let line = trim_blanks(&l.text);
        if let Some(rest) = is_keyword(line, "endif") {
            if !rest.is_empty() {
                w(&format!("ignoring extra text after ENDIF: \"{rest}\""));
            }
            match open_ifs.pop() {
                Some((i, _)) => {
                    t.rules.push(Rule::Endif);
                    let next = t.rules.len();
                    if let Some(Rule::If { next: n, .. }) = t.rules.get_mut(i) {
                        *n = next;
                    }
                }
                None => w("ignoring ENDIF without matching IF"),
            }
            continue;
        }
        let (is_if, body) = match is_keyword(line, "if") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let p = match parse_pattern(body) {
            Ok(p) => p,
            Err(msg) => {
                w(&msg);
                continue;
            }
        };
        let re = match compile(&p, flavour) {
            Ok(re) => re,
            Err(msg) => {
                w(&msg);
                continue;
            }
        };
        if is_if {
            if !p.rest.is_empty() {
                w(&format!(
                    "ignoring extra text after IF statement: \"{}\"",
                    p.rest
                ));
            }
            open_ifs.push((t.rules.len(), l.number));
            t.rules.push(Rule::If {
                re,
                negate: p.negate,
                next: usize::MAX,
            });
            continue;
        }
        if p.rest.is_empty() {
            w("no replacement text: using empty string");
        }
        let result = match parse_result(p.rest) {
            Ok(r) => r,
            Err(msgs) => {
                for m in msgs {
                    w(&m);
                }
                continue;
            }
        };
        let max = result
            .iter()
            .filter_map(|x| match x {
                Part::Group(i) => Some(*i),
                Part::Text(_) => None,
            })
            .max();
        if let Some(max) = max {
            if p.negate {
                w("$number found in negative match replacement text: skipping this rule");
                continue;
            }
            if !substitution {
                w("$number substitution is not allowed in this table: skipping this rule");
                continue;
            }
            if max == 0 || max >= re.captures_len() {
                w(&format!(
                    "out of range replacement index \"{max}\": skipping this rule"
                ));
                continue;
            }
        }
        t.rules.push(Rule::Match {
            re,
            negate: p.negate,
            result,
        });
    }
    let end = t.rules.len();
    for (i, line) in open_ifs {
        warn(&format!(
            "{label} map {name}, line {line}: IF has no matching ENDIF"
        ));
        if let Some(Rule::If { next, .. }) = t.rules.get_mut(i) {
            *next = end;
        }
    }
    t
}

impl Table {
    /// The first rule's result for `key`.
    pub fn lookup(&self, key: &str) -> Option<String> {
        let mut i = 0;
        while let Some(rule) = self.rules.get(i) {
            match rule {
                Rule::Match {
                    re,
                    negate: true,
                    result,
                } => {
                    if !re.is_match(key) {
                        return Some(expand(result, None));
                    }
                }
                Rule::Match { re, result, .. } => {
                    if let Some(c) = re.captures(key) {
                        return Some(expand(result, Some(&c)));
                    }
                }
                Rule::If { re, negate, next } => {
                    if re.is_match(key) == *negate {
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

fn expand(parts: &[Part], caps: Option<&regex::Captures<'_>>) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Group(i) => {
                if let Some(m) = caps.and_then(|c| c.get(*i)) {
                    out.push_str(m.as_str());
                }
            }
        }
    }
    out
}

type Source = crate::watch::TableSource<Table>;

pub struct RegexpMap {
    spec: String,
    source: Source,
}

impl RegexpMap {
    pub fn open(
        spec: String,
        name: &str,
        flavour: Flavour,
        ctx: &Ctx,
    ) -> Result<RegexpMap, MapError> {
        if name.starts_with('{') {
            let text = braced_rules(name).map_err(|e| MapError::BadSpec {
                spec: spec.clone(),
                reason: format!("{} map: {e}", flavour.label()),
            })?;
            let c = ctx.clone();
            let t = parse(&text, name, flavour, c.substitution, &|s: &str| c.warn(s));
            return Ok(RegexpMap {
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
                Ok(parse(
                    &text,
                    &path.display().to_string(),
                    flavour,
                    c.substitution,
                    &|s: &str| c.warn(s),
                ))
            }),
        )?;
        Ok(RegexpMap {
            spec,
            source: Source::File(file),
        })
    }
}

impl Map for RegexpMap {
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

    fn table(text: &str, flavour: Flavour) -> (Table, Vec<String>) {
        let warnings = RefCell::new(Vec::new());
        let t = parse(text, "r", flavour, true, &|s: &str| {
            warnings.borrow_mut().push(s.to_string())
        });
        (t, warnings.into_inner())
    }

    #[test]
    fn substitution_can_be_refused() {
        let warnings = RefCell::new(Vec::new());
        let text = "/^(.*)@x$/ pipe:$1\n/^admin@/ lmtp:unix:private/admin\n";
        let t = parse(text, "r", Flavour::Posix, false, &|s: &str| {
            warnings.borrow_mut().push(s.to_string())
        });
        assert_eq!(t.lookup("evil;rm -rf@x"), None);
        assert_eq!(
            t.lookup("admin@x").as_deref(),
            Some("lmtp:unix:private/admin")
        );
        assert_eq!(
            warnings.into_inner(),
            ["regexp map r, line 1: $number substitution is not allowed in this table: skipping this rule"]
        );
    }

    #[test]
    fn substitution_and_case() {
        let (t, w) = table(
            "/^(.*)@example\\.com$/  local $1 and ${1}x $(1) $$ done\n!/foo/   notfoo\n",
            Flavour::Posix,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            t.lookup("BOB@Example.COM").as_deref(),
            Some("local BOB and BOBx BOB $ done")
        );
        assert_eq!(t.lookup("xz").as_deref(), Some("notfoo"));
        assert_eq!(t.lookup("foo1"), None);
    }

    #[test]
    fn bad_rules_warn_with_file_and_line() {
        let text = "/a(b/  bad\n/^q$/\n/^w(.)$/ $2\n/a/q x\nendif\n/(b)/ $(1)-$x\n\
                    /c/ ${1}\n!/(d)/ $1\nif /e/ extra\n/e/ yes\nendif\n@f@ at\n/g\nFoo bar\nif /^zz/\n/zzz/ deep\n";
        let (t, w) = table(text, Flavour::Posix);
        assert_eq!(w.len(), 13, "{w:#?}");
        assert!(w[0].starts_with("regexp map r, line 1: "), "{}", w[0]);
        assert_eq!(
            w[1],
            "regexp map r, line 2: no replacement text: using empty string"
        );
        assert_eq!(
            w[2],
            "regexp map r, line 3: out of range replacement index \"2\": skipping this rule"
        );
        assert_eq!(
            w[3],
            "regexp map r, line 4: unknown regexp option \"q\": skipping this rule"
        );
        assert_eq!(
            w[4],
            "regexp map r, line 5: ignoring ENDIF without matching IF"
        );
        assert_eq!(
            w[5],
            "regexp map r, line 6: non-numeric replacement index \"x\""
        );
        assert_eq!(
            w[6],
            "regexp map r, line 6: bad replacement syntax: skipping this rule"
        );
        assert_eq!(
            w[7],
            "regexp map r, line 7: out of range replacement index \"1\": skipping this rule"
        );
        assert_eq!(
            w[8],
            "regexp map r, line 8: $number found in negative match replacement text: skipping this rule"
        );
        assert_eq!(
            w[9],
            "regexp map r, line 9: ignoring extra text after IF statement: \"extra\""
        );
        assert_eq!(
            w[10],
            "regexp map r, line 13: no closing regexp delimiter \"/\": skipping this rule"
        );
        assert_eq!(
            w[11],
            "regexp map r, line 14: ignoring unrecognized request"
        );
        assert_eq!(w[12], "regexp map r, line 15: IF has no matching ENDIF");
        assert_eq!(t.lookup("q").as_deref(), Some(""));
        assert_eq!(t.lookup("e").as_deref(), Some("yes"));
        assert_eq!(t.lookup("f").as_deref(), Some("at"));
        assert_eq!(t.lookup("zzz").as_deref(), Some("deep"));
        assert_eq!(t.lookup("nothing"), None);
    }

    #[test]
    fn nested_if_blocks() {
        let text = "if /example\\.com$/\nif !/^admin@/\n/^(.*)@/ user $1\nendif\n/^admin@/ admin\nendif\n/./ other\n";
        let (t, w) = table(text, Flavour::Posix);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.lookup("bob@example.com").as_deref(), Some("user bob"));
        assert_eq!(t.lookup("admin@example.com").as_deref(), Some("admin"));
        assert_eq!(t.lookup("bob@example.org").as_deref(), Some("other"));
    }

    #[test]
    fn flags() {
        let (t, _) = table(
            "/^ABC$/i exact\n/^x.y$/ dot\n/^l2$/m multi\n",
            Flavour::Posix,
        );
        assert_eq!(t.lookup("abc"), None);
        assert_eq!(t.lookup("ABC").as_deref(), Some("exact"));
        assert_eq!(t.lookup("x\ny").as_deref(), Some("dot"));
        assert_eq!(t.lookup("l1\nl2\nl3").as_deref(), Some("multi"));
        // Basic syntax with x toggled off: \( \) group, bare + literal.
        let (t, w) = table("/^a\\(b\\)+c$/x $1\n", Flavour::Posix);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.lookup("ab+c").as_deref(), Some("b"));
        assert_eq!(t.lookup("abbc"), None);
        // PCRE: verbose, anchored, ungreedy, non-greedy syntax.
        let (t, w) = table(
            "/ ^ a \\s b $ /x spaced\n/b+/A anch\n/^(a+?)/ lazy:$1\n/^(c+)/U ungreedy:$1\n",
            Flavour::Pcre,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.lookup("A B").as_deref(), Some("spaced"));
        assert_eq!(t.lookup("abb").as_deref(), Some("lazy:a"));
        assert_eq!(t.lookup("bbb").as_deref(), Some("anch"));
        assert_eq!(t.lookup("ccc").as_deref(), Some("ungreedy:c"));
        let (_, w) = table("/(?<=a)b/ lookbehind\n/x/s ok\n", Flavour::Pcre);
        assert_eq!(w.len(), 1, "{w:?}");
        let (_, w) = table("/x/s bad\n", Flavour::Posix);
        assert_eq!(
            w,
            ["regexp map r, line 1: unknown regexp option \"s\": skipping this rule"]
        );
    }

    #[test]
    fn other_delimiters_and_escapes() {
        let (t, w) = table("|a/b|  slash\n/a\\/c/ escaped\n", Flavour::Posix);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(t.lookup("xa/by").as_deref(), Some("slash"));
        assert_eq!(t.lookup("a/c").as_deref(), Some("escaped"));
    }

    #[test]
    fn header_checks_style() {
        let (t, _) = table(
            "/^Subject:.*viagra/   REJECT spam\n/^Received: from (\\S+)/ PREPEND X-Seen: $1\n",
            Flavour::Pcre,
        );
        assert_eq!(
            t.lookup("Subject: buy VIAGRA now").as_deref(),
            Some("REJECT spam")
        );
        assert_eq!(
            t.lookup("Received: from mx.example.com by ...").as_deref(),
            Some("PREPEND X-Seen: mx.example.com")
        );
    }
}
