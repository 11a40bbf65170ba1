//! Logical lines, as Postfix's readllines() makes them from every table
//! source file: blank lines and lines whose first non-blank character is
//! `#` are skipped; a line that starts with whitespace continues the logical
//! line before it (joined without the newline, its leading whitespace kept);
//! a logical line may not start with whitespace (warned about and dropped).

/// One logical line and the number of the physical line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub text: String,
}

/// Postfix's "%.30s%s" for quoting a possibly long text in a warning.
pub fn clip30(s: &str) -> String {
    if s.chars().count() > 30 {
        let head: String = s.chars().take(30).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// Splits `text` into logical lines. `name` is the file name for warnings.
pub fn logical_lines(text: &str, name: &str, warn: &dyn Fn(&str)) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let mut current: Option<Line> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let number = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.trim_end().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let starts_blank = raw.starts_with(|c: char| c.is_ascii_whitespace());
        if starts_blank {
            match current.as_mut() {
                Some(l) => l.text.push_str(raw),
                None => warn(&format!(
                    "{name}: logical line must not start with whitespace: \"{}\"",
                    clip30(raw.trim_end_matches('\r'))
                )),
            }
            continue;
        }
        if let Some(l) = current.take() {
            out.push(l);
        }
        current = Some(Line {
            number,
            text: raw.to_string(),
        });
    }
    if let Some(l) = current.take() {
        out.push(l);
    }
    out
}

/// Trims ASCII whitespace (Postfix's ISSPACE) from both ends.
pub fn trim_blanks(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Splits a `key whitespace value` line at the first whitespace, both parts
/// trimmed. The value may be empty.
pub fn split_key_value(line: &str) -> (&str, &str) {
    match line.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (trim_blanks(&line[..i]), trim_blanks(&line[i..])),
        None => (trim_blanks(line), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn comments_blank_and_continuations() {
        let warnings = RefCell::new(Vec::new());
        let w = |s: &str| warnings.borrow_mut().push(s.to_string());
        let text = "  lead value\nk1 v1\n  # inner comment\n  more\n\n#c\nk2 v2\r\n   \nk3 v3";
        let lines = logical_lines(text, "f", &w);
        assert_eq!(
            lines,
            vec![
                Line {
                    number: 2,
                    text: "k1 v1  more".into()
                },
                Line {
                    number: 7,
                    text: "k2 v2\r".into()
                },
                Line {
                    number: 9,
                    text: "k3 v3".into()
                },
            ]
        );
        assert_eq!(
            warnings.borrow().as_slice(),
            ["f: logical line must not start with whitespace: \"  lead value\""]
        );
    }

    #[test]
    fn key_value_split() {
        assert_eq!(split_key_value("k3\t \tv3  \t"), ("k3", "v3"));
        assert_eq!(split_key_value("bad"), ("bad", ""));
        assert_eq!(split_key_value("a b c"), ("a", "b c"));
    }

    #[test]
    fn clip() {
        assert_eq!(clip30("short"), "short");
        assert_eq!(clip30(&"x".repeat(31)), format!("{}...", "x".repeat(30)));
    }
}
