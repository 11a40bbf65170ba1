//! `$name` expansion as in Postfix's main.cf: `$name`, `${name}`, `$(name)`,
//! `${name?text}` (text when name is non-empty), `${name:text}` (text when
//! name is empty), the `{text}` forms `${name?{a}:{b}}`, and `$$` for a
//! dollar sign. Undefined names expand to nothing. Loops are errors, and
//! so is nesting deeper than Postfix's limit of 100.

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// The names from the first to the repeated one.
    Loop(Vec<String>),
    /// A `${` or `$(` without its closing bracket.
    Unbalanced(String),
    /// Names or `${name?{text}}` forms nested more than [`MAX_NESTING`]
    /// deep; the text at the limit.
    TooDeep(String),
}

/// How deep expansions may nest, as Postfix's mac_expand().
pub const MAX_NESTING: usize = 100;

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::Loop(chain) => write!(f, "recursive expansion: ${}", chain.join(" -> $")),
            ExpandError::Unbalanced(v) => write!(f, "unbalanced bracket in \"{v}\""),
            ExpandError::TooDeep(v) => write!(f, "unreasonable macro call nesting: \"{v}\""),
        }
    }
}

impl std::error::Error for ExpandError {}

/// Looks a name up: its unexpanded text and whether to expand that text
/// (raw parameters are taken as written). None when the name is undefined.
pub trait Lookup {
    fn raw(&self, name: &str) -> Option<(String, bool)>;
}

impl<F: Fn(&str) -> Option<(String, bool)>> Lookup for F {
    fn raw(&self, name: &str) -> Option<(String, bool)> {
        self(name)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names that `text` refers to as `$name`, `${name…}` or `$(name…)`,
/// each as often as it appears (`$$name` counts as a use of `name`).
pub fn names_used(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('$').filter_map(move |(i, _)| {
        let rest = &text[i + 1..];
        let rest = rest.strip_prefix(['{', '(']).unwrap_or(rest);
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// Expands the value of parameter `name`.
pub fn expand_name(name: &str, lookup: &dyn Lookup) -> Result<String, ExpandError> {
    let mut stack = Vec::new();
    value_of(name, lookup, &mut stack, 0)
}

/// Expands `text` (the value of no particular parameter).
pub fn expand_text(text: &str, lookup: &dyn Lookup) -> Result<String, ExpandError> {
    let mut stack = Vec::new();
    expand(text, lookup, &mut stack, 0)
}

fn value_of(
    name: &str,
    lookup: &dyn Lookup,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<String, ExpandError> {
    if let Some(pos) = stack.iter().position(|n| n == name) {
        let mut chain = stack[pos..].to_vec();
        chain.push(name.to_string());
        return Err(ExpandError::Loop(chain));
    }
    let Some((text, expandable)) = lookup.raw(name) else {
        return Ok(String::new());
    };
    if !expandable {
        return Ok(text);
    }
    stack.push(name.to_string());
    let result = expand(&text, lookup, stack, depth);
    stack.pop();
    result
}

/// Finds the index of the bracket closing the one opened just before `from`.
fn closing(chars: &[char], from: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 1;
    for (i, &c) in chars.iter().enumerate().skip(from) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Strips one pair of `{ }` around `text` (after trimming), as in `${x?{a}:{b}}`.
fn unbrace(text: &str) -> &str {
    let t = text.trim();
    if t.starts_with('{') && t.ends_with('}') && t.len() >= 2 {
        &t[1..t.len() - 1]
    } else {
        text
    }
}

/// Splits `{a}:{b}` into its two texts; None for the plain form.
fn split_braced_pair(text: &str) -> Option<(&str, &str)> {
    let t = text.trim();
    if !t.starts_with('{') {
        return None;
    }
    let chars: Vec<char> = t.chars().collect();
    let end = closing(&chars, 1, '{', '}')?;
    let first_len: usize = chars[..=end].iter().map(|c| c.len_utf8()).sum();
    let rest = t[first_len..].trim_start();
    let second = rest.strip_prefix(':')?;
    Some((&t[1..first_len - 1], unbrace(second)))
}

fn expand(
    text: &str,
    lookup: &dyn Lookup,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<String, ExpandError> {
    if depth >= MAX_NESTING {
        return Err(ExpandError::TooDeep(
            stack.last().cloned().unwrap_or_else(|| text.to_string()),
        ));
    }
    let depth = depth + 1;
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some(&open @ ('{' | '(')) => {
                let close = if open == '{' { '}' } else { ')' };
                let end = closing(&chars, i + 2, open, close)
                    .ok_or_else(|| ExpandError::Unbalanced(text.to_string()))?;
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&expand_braced(&inner, lookup, stack, depth)?);
                i = end + 1;
            }
            Some(&c2) if is_name_char(c2) => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && is_name_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                out.push_str(&value_of(&name, lookup, stack, depth)?);
                i = end;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expands what stands between `${` and `}`.
fn expand_braced(
    inner: &str,
    lookup: &dyn Lookup,
    stack: &mut Vec<String>,
    depth: usize,
) -> Result<String, ExpandError> {
    let name_end = inner
        .find(|c: char| !is_name_char(c))
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let rest = &inner[name_end..];
    let value = value_of(name, lookup, stack, depth)?;
    let Some(op) = rest.chars().next() else {
        return Ok(value);
    };
    let arg = &rest[1..];
    let (when_set, when_empty) = match (op, split_braced_pair(arg)) {
        ('?', Some((a, b))) => (Some(a), Some(b)),
        ('?', None) => (Some(unbrace(arg)), None),
        (':', _) => (None, Some(unbrace(arg))),
        _ => return Ok(value),
    };
    let chosen = if value.is_empty() {
        when_empty
    } else {
        when_set
    };
    match chosen {
        Some(t) => expand(t, lookup, stack, depth),
        None => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<(String, bool)> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |n: &str| m.get(n).map(|v| (v.clone(), true))
    }

    #[test]
    fn forms() {
        let l = with(&[
            ("h", "mail.example.com"),
            ("d", "example.com"),
            ("e", ""),
            ("o", "$d"),
        ]);
        assert_eq!(
            expand_text("$h, ${d}, $(d)", &l).unwrap(),
            "mail.example.com, example.com, example.com"
        );
        assert_eq!(expand_text("x${h?yes}x${e?no}x", &l).unwrap(), "xyesxx");
        assert_eq!(expand_text("${e:empty}/${h:empty}", &l).unwrap(), "empty/");
        assert_eq!(
            expand_text("${e?{a}:{b}} ${h?{a $d}:{b}}", &l).unwrap(),
            "b a example.com"
        );
        assert_eq!(
            expand_text("$o $undefined. $$ $", &l).unwrap(),
            "example.com . $ $"
        );
    }

    #[test]
    fn loops_are_named() {
        let l = with(&[("a", "$b"), ("b", "x ${c}"), ("c", "$a")]);
        assert_eq!(
            expand_name("a", &l),
            Err(ExpandError::Loop(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "a".into()
            ]))
        );
        assert!(matches!(
            expand_text("${a", &l),
            Err(ExpandError::Unbalanced(_))
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // A chain of names far deeper than any real main.cf.
        let n = 100_000;
        let l = move |name: &str| {
            let i: usize = name.strip_prefix('a')?.parse().ok()?;
            Some((
                if i < n {
                    format!("$a{}", i + 1)
                } else {
                    "end".into()
                },
                true,
            ))
        };
        assert!(matches!(
            expand_name("a0", &l),
            Err(ExpandError::TooDeep(_))
        ));
        let l = move |name: &str| {
            let i: usize = name.strip_prefix('a')?.parse().ok()?;
            Some((
                if i < 50 {
                    format!("$a{}", i + 1)
                } else {
                    "end".into()
                },
                true,
            ))
        };
        assert_eq!(expand_name("a0", &l).unwrap(), "end");
        // ${x?${x?...}} nested in one value.
        let l = with(&[("x", "1")]);
        let deep = format!("{}y{}", "${x?".repeat(50_000), "}".repeat(50_000));
        assert!(matches!(
            expand_text(&deep, &l),
            Err(ExpandError::TooDeep(_))
        ));
        let ok = format!("{}y{}", "${x?".repeat(20), "}".repeat(20));
        assert_eq!(expand_text(&ok, &l).unwrap(), "y");
    }
}
