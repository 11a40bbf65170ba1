//! Logical lines, as both main.cf and master.cf have them (Postfix's
//! readlline): blank lines and lines whose first non-blank character is `#`
//! are comments; a line that starts with white space continues the one
//! before (comment lines inside a continuation are skipped); a blank line
//! ends it.

use crate::error::ConfigError;
use std::path::Path;

/// One logical line and the physical lines (0-based, inclusive) it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    pub text: String,
    pub first: usize,
    pub last: usize,
}

/// True for a blank line or a comment line.
pub(crate) fn is_comment_or_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Joins continuation lines; errors on a continuation of nothing.
pub(crate) fn logical_lines(
    path: &Path,
    lines: &[String],
) -> Result<Vec<LogicalLine>, ConfigError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_comment_or_blank(&lines[i]) {
            i += 1;
            continue;
        }
        if lines[i].starts_with([' ', '\t']) {
            return Err(ConfigError::new(
                path,
                Some(i + 1),
                None,
                "line starts with white space but continues nothing",
            ));
        }
        let first = i;
        let mut text = lines[i].trim_end().to_string();
        let mut last = i;
        i += 1;
        while i < lines.len() && lines[i].starts_with([' ', '\t']) {
            let t = lines[i].trim();
            if t.is_empty() {
                break;
            }
            if !t.starts_with('#') {
                text.push(' ');
                text.push_str(t);
            }
            last = i;
            i += 1;
        }
        out.push(LogicalLine { text, first, last });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn joins_and_skips() {
        let l = logical_lines(Path::new("f"), &v("# c\na = 1,\n  # note\n  2\n\nb = 3\n")).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0],
            LogicalLine {
                text: "a = 1, 2".into(),
                first: 1,
                last: 3
            }
        );
        assert_eq!(l[1].first, 5);
        assert!(logical_lines(Path::new("f"), &v("  x = 1\n")).is_err());
    }
}
