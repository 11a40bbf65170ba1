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

/// Reads `path` as text. Bytes that are not UTF-8 (a Latin-1 or GBK
/// comment) are an error that names their line, so they can be found.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(path, None, None, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = e.utf8_error().valid_up_to();
        let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
        ConfigError::new(
            path,
            Some(line),
            None,
            "text is not UTF-8; save the file in UTF-8",
        )
    })
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
    fn bytes_that_are_not_utf8_are_an_error_naming_their_line() {
        let dir = std::env::temp_dir().join(format!("params-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("main.cf");
        std::fs::write(&f, b"a = 1\n# caf\xe9\nb = 2\n").unwrap();
        let e = read_text(&f).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().contains("main.cf, line 2: text is not UTF-8"),
            "{e}"
        );
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
