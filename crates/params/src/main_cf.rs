//! main.cf as a file: logical lines (a line that starts with white space
//! continues the one before), comments, `name = value` definitions, and
//! the line-preserving edits behind `postconf -e`, `-X` and `-#`.

use crate::error::ConfigError;
use crate::lines::{is_comment_or_blank, logical_lines, read_text, LogicalLine};
use std::path::{Path, PathBuf};

/// One `name = value` definition and where it stands in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub value: String,
    /// 1-based number of the definition's first physical line.
    pub line: usize,
    /// Physical lines `first..=last` (0-based) hold the definition.
    first: usize,
    last: usize,
}

/// A parsed main.cf that remembers every physical line, so edits leave
/// everything they do not touch byte for byte as it was.
#[derive(Debug, Clone, Default)]
pub struct MainCf {
    pub path: PathBuf,
    lines: Vec<String>,
    defs: Vec<Definition>,
    /// Notes about lines that parse but look wrong (e.g. a `#` after a value).
    pub warnings: Vec<String>,
}

/// Removes a trailing ` # comment` from a value. Postfix keeps such text as
/// part of the value, which is never what the writer meant.
fn strip_trailing_comment(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t'))
        .map(|i| value[..i].trim_end())
}

impl MainCf {
    /// A main.cf with nothing in it.
    pub fn empty(path: &Path) -> MainCf {
        MainCf {
            path: path.to_path_buf(),
            ..MainCf::default()
        }
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<MainCf, ConfigError> {
        let text = read_text(path)?;
        MainCf::parse(path, &text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<MainCf, ConfigError> {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut cf = MainCf {
            path: path.to_path_buf(),
            lines,
            defs: Vec::new(),
            warnings: Vec::new(),
        };
        for LogicalLine {
            text: logical,
            first,
            last,
        } in logical_lines(path, &cf.lines)?
        {
            let Some((name, value)) = logical.split_once('=') else {
                return Err(ConfigError::new(
                    path,
                    Some(first + 1),
                    None,
                    format!("missing '=' after parameter name: \"{}\"", logical.trim()),
                ));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
            {
                return Err(ConfigError::new(
                    path,
                    Some(first + 1),
                    None,
                    format!("bad parameter name: \"{name}\""),
                ));
            }
            let mut value = value.trim();
            if let Some(stripped) = strip_trailing_comment(value) {
                cf.warnings.push(format!(
                    "{}, line {}: parameter {name}: text after '#' is taken as a comment and ignored",
                    path.display(),
                    first + 1
                ));
                value = stripped;
            }
            cf.defs.push(Definition {
                name: name.to_string(),
                value: value.to_string(),
                line: first + 1,
                first,
                last,
            });
        }
        Ok(cf)
    }

    /// Every definition, in file order (a name may appear more than once).
    pub fn definitions(&self) -> &[Definition] {
        &self.defs
    }

    /// The value in force for `name`: the last definition wins.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.defs.iter().rev().find(|d| d.name == name)
    }

    /// Names defined more than once, each once, in file order.
    pub fn duplicates(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        let mut dups = Vec::new();
        for d in &self.defs {
            if seen.contains(&d.name.as_str()) {
                if !dups.contains(&d.name.as_str()) {
                    dups.push(d.name.as_str());
                }
            } else {
                seen.push(&d.name);
            }
        }
        dups
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = self.lines.join("\n");
        if !self.lines.is_empty() {
            s.push('\n');
        }
        s
    }

    /// Applies `edits` in one pass: each definition of an edited name is
    /// replaced by `name = value` (continuation lines and all); names not
    /// yet defined are appended at the end. Everything else is kept.
    pub fn set(&mut self, edits: &[(String, String)]) {
        let mut out: Vec<String> = Vec::with_capacity(self.lines.len() + edits.len());
        let mut done = vec![false; edits.len()];
        let mut i = 0;
        while i < self.lines.len() {
            match self.defs.iter().find(|d| d.first == i) {
                Some(d) => {
                    match edits.iter().position(|(n, _)| *n == d.name) {
                        Some(k) => {
                            out.push(format!("{} = {}", edits[k].0, edits[k].1));
                            // As Postfix: comment lines inside the old definition stay.
                            out.extend(self.comments_within(d));
                            done[k] = true;
                        }
                        None => out.extend(self.lines[d.first..=d.last].iter().cloned()),
                    }
                    i = d.last + 1;
                }
                None => {
                    out.push(self.lines[i].clone());
                    i += 1;
                }
            }
        }
        for (k, (n, v)) in edits.iter().enumerate() {
            if !done[k] && !edits[k + 1..].iter().any(|(n2, _)| n2 == n) {
                out.push(format!("{n} = {v}"));
            }
        }
        self.reparse(out);
    }

    /// Removes (`comment == false`) or comments out (`comment == true`)
    /// every definition of the given names.
    pub fn remove(&mut self, names: &[String], comment: bool) {
        let mut out = Vec::with_capacity(self.lines.len());
        let mut i = 0;
        while i < self.lines.len() {
            match self.defs.iter().find(|d| d.first == i) {
                Some(d) => {
                    if names.contains(&d.name) {
                        // As Postfix: comment lines inside the definition stay as they are.
                        for l in &self.lines[d.first..=d.last] {
                            if is_comment_or_blank(l) {
                                out.push(l.clone());
                            } else if comment {
                                out.push(format!("#{l}"));
                            }
                        }
                    } else {
                        out.extend(self.lines[d.first..=d.last].iter().cloned());
                    }
                    i = d.last + 1;
                }
                None => {
                    out.push(self.lines[i].clone());
                    i += 1;
                }
            }
        }
        self.reparse(out);
    }

    /// The comment lines between the first and last line of `d`.
    fn comments_within<'a>(&'a self, d: &Definition) -> impl Iterator<Item = String> + 'a {
        self.lines[d.first..=d.last]
            .iter()
            .filter(|l| is_comment_or_blank(l))
            .cloned()
    }

    fn reparse(&mut self, lines: Vec<String>) {
        let text = lines.join("\n") + if lines.is_empty() { "" } else { "\n" };
        match MainCf::parse(&self.path, &text) {
            Ok(cf) => *self = cf,
            Err(_) => {
                // Edits only produce well-formed lines; keep the text even so.
                self.lines = lines;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# head comment\n\nmyhostname = mail.example.com\nmydestination = $myhostname,\n    localhost.$mydomain,\n  # inside comment\n    localhost\n\n# tail\nmyorigin=$mydomain\n";

    fn parse(s: &str) -> MainCf {
        MainCf::parse(Path::new("/x/main.cf"), s).unwrap()
    }

    #[test]
    fn continuation_and_comments() {
        let cf = parse(SAMPLE);
        assert_eq!(
            cf.get("mydestination").unwrap().value,
            "$myhostname, localhost.$mydomain, localhost"
        );
        assert_eq!(cf.get("mydestination").unwrap().line, 4);
        assert_eq!(cf.get("myorigin").unwrap().value, "$mydomain");
        assert_eq!(cf.render(), SAMPLE);
    }

    #[test]
    fn set_keeps_everything_else() {
        let mut cf = parse(SAMPLE);
        cf.set(&[
            ("mydestination".into(), "a, b".into()),
            ("new_one".into(), "1".into()),
        ]);
        assert_eq!(
            cf.render(),
            "# head comment\n\nmyhostname = mail.example.com\nmydestination = a, b\n  # inside comment\n\n# tail\nmyorigin=$mydomain\nnew_one = 1\n"
        );
    }

    #[test]
    fn remove_and_comment_out() {
        let mut cf = parse(SAMPLE);
        cf.remove(&["myhostname".into()], true);
        assert!(cf.render().contains("#myhostname = mail.example.com\n"));
        assert!(cf.get("myhostname").is_none());
        cf.remove(&["myorigin".into()], false);
        assert!(!cf.render().contains("myorigin"));
        let mut cf = parse(SAMPLE);
        cf.remove(&["mydestination".into()], true);
        assert!(cf.render().contains(
            "#mydestination = $myhostname,\n#    localhost.$mydomain,\n  # inside comment\n#    localhost\n"
        ));
        let mut cf = parse(SAMPLE);
        cf.remove(&["mydestination".into()], false);
        assert!(cf
            .render()
            .contains("mail.example.com\n  # inside comment\n\n# tail"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = MainCf::parse(Path::new("/x/main.cf"), "a = 1\nbogus line\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/main.cf, line 2: missing '=' after parameter name: \"bogus line\""
        );
        let e = MainCf::parse(Path::new("/x/main.cf"), "  a = 1\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn trailing_comment_is_dropped_with_a_warning() {
        let cf = parse("myhostname = mail.linuxprobe.com # the host name\n");
        assert_eq!(cf.get("myhostname").unwrap().value, "mail.linuxprobe.com");
        assert_eq!(cf.warnings.len(), 1);
    }
}
