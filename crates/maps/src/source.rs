//! The postmap(1) input format, shared by `postmap` (building `hash:` and
//! `btree:` files) and `texthash:` (read at open): one `key whitespace
//! value` entry per logical line (see [`crate::lines`]), key and value
//! trimmed, the key lowercased unless folding is off. Postfix's warnings for
//! bad lines are kept word for word.

use crate::lines::{logical_lines, trim_blanks};

/// Splits a line at the first whitespace that is not inside double quotes
/// (Postfix 3.2: `"john doe"@example.com value`; the quotes stay part of
/// the key, as in Postfix, and a backslash inside quotes escapes the next
/// character). None when a quote is not closed.
pub fn split_quoted_key(line: &str) -> Option<(&str, &str)> {
    let line = trim_blanks(line);
    let mut quoted = false;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                chars.next();
            }
            c if !quoted && c.is_ascii_whitespace() => {
                return Some((&line[..i], trim_blanks(&line[i..])));
            }
            _ => {}
        }
    }
    if quoted {
        None
    } else {
        Some((line, ""))
    }
}

/// One table entry from a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    /// The physical line the entry starts on.
    pub line: usize,
}

/// Who reads the source: the words of the bad-line warning differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// `postmap` building an indexed file.
    Postmap,
    /// A `texthash:` table read at open.
    Texthash,
}

/// Parses `text` (the contents of `name`) into entries, in file order and
/// with duplicates kept; bad lines are warned about and skipped.
pub fn parse(
    text: &str,
    name: &str,
    fold: bool,
    reader: Reader,
    warn: &dyn Fn(&str),
) -> Vec<Entry> {
    let mut out = Vec::new();
    parse_each(text, name, fold, reader, warn, &mut |e| out.push(e));
    out
}

/// As [`parse`], handing each entry to `each` as soon as it is read, so
/// that the caller's own warnings (duplicates) come in line order among the
/// parser's.
pub fn parse_each(
    text: &str,
    name: &str,
    fold: bool,
    reader: Reader,
    warn: &dyn Fn(&str),
    each: &mut dyn FnMut(Entry),
) {
    for l in logical_lines(text, name, warn) {
        let Some((key, value)) = split_quoted_key(&l.text) else {
            warn(&format!(
                "{name}, line {}: unbalanced '\"' in '{}' -- ignoring this line",
                l.number,
                trim_blanks(&l.text)
            ));
            continue;
        };
        if key.is_empty() || value.is_empty() {
            let tail = match reader {
                Reader::Postmap => "",
                Reader::Texthash => " -- ignoring this line",
            };
            warn(&format!(
                "{name}, line {}: expected format: key whitespace value{tail}",
                l.number
            ));
            continue;
        }
        if key.ends_with(':') {
            warn(&format!(
                "{name}, line {}: record is in \"key: value\" format; is this an alias file?",
                l.number
            ));
        }
        each(Entry {
            key: if fold {
                key.to_lowercase()
            } else {
                key.to_string()
            },
            value: value.to_string(),
            line: l.number,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn quoted_keys_keep_their_quotes() {
        let warnings = RefCell::new(Vec::new());
        let w = |s: &str| warnings.borrow_mut().push(s.to_string());
        let text = "\"a b\" v1\n\"x\\\"y\" v2\n\"unterminated v3\n\"q\"rest v4\nplain\"q v5\n";
        let e = parse(text, "q", true, Reader::Postmap, &w);
        let keys: Vec<_> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("\"a b\"", "v1"), ("\"x\\\"y\"", "v2"), ("\"q\"rest", "v4")]
        );
        assert_eq!(
            warnings.borrow().as_slice(),
            [
                "q, line 3: unbalanced '\"' in '\"unterminated v3' -- ignoring this line",
                "q, line 5: unbalanced '\"' in 'plain\"q v5' -- ignoring this line"
            ]
        );
    }

    #[test]
    fn bad_lines_named_with_file_and_line() {
        let warnings = RefCell::new(Vec::new());
        let w = |s: &str| warnings.borrow_mut().push(s.to_string());
        let text =
            "Foo bar\nfoo baz\n# comment\n\nkey1 value one\n  continued here\nbadline\nk2: v\n";
        let e = parse(text, "/etc/t", true, Reader::Postmap, &w);
        let keys: Vec<_> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            keys,
            [
                ("foo", "bar", 1),
                ("foo", "baz", 2),
                ("key1", "value one  continued here", 5),
                ("k2:", "v", 8)
            ]
        );
        assert_eq!(
            warnings.borrow().as_slice(),
            [
                "/etc/t, line 7: expected format: key whitespace value",
                "/etc/t, line 8: record is in \"key: value\" format; is this an alias file?"
            ]
        );
        warnings.borrow_mut().clear();
        let e = parse("Kx\nKy v", "t", false, Reader::Texthash, &w);
        assert_eq!(e[0].key, "Ky");
        assert_eq!(
            warnings.borrow().as_slice(),
            ["t, line 1: expected format: key whitespace value -- ignoring this line"]
        );
    }
}
