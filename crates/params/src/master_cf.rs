//! master.cf: one service per logical line in 8 columns
//! (`service type private unpriv chroot wakeup maxproc command + args`),
//! `-` for a column's default, `-o name=value` and `-o { name = value }`
//! overrides, continuation lines that start with white space, comments.
//! Keeps the physical lines so `postconf -M` edits leave the rest untouched.

use crate::error::ConfigError;
use crate::lines::{is_comment_or_blank, logical_lines, read_text, LogicalLine};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Inet,
    Unix,
    UnixDgram,
    Fifo,
    Pass,
}

impl ServiceType {
    pub fn parse(s: &str) -> Option<ServiceType> {
        Some(match s {
            "inet" => ServiceType::Inet,
            "unix" => ServiceType::Unix,
            "unix-dgram" => ServiceType::UnixDgram,
            "fifo" => ServiceType::Fifo,
            "pass" => ServiceType::Pass,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Inet => "inet",
            ServiceType::Unix => "unix",
            ServiceType::UnixDgram => "unix-dgram",
            ServiceType::Fifo => "fifo",
            ServiceType::Pass => "pass",
        }
    }
}

/// The wakeup column: trigger the service every `seconds`; `on_use` (a
/// trailing `?`) means only once the service has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wakeup {
    pub seconds: u32,
    pub on_use: bool,
}

/// One service entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub kind: ServiceType,
    /// Socket under `private/` (true) or `public/`.
    pub private: bool,
    /// Runs as `mail_owner` (true) or keeps root.
    pub unpriv: bool,
    /// Chroots into `queue_directory`.
    pub chroot: bool,
    pub wakeup: Option<Wakeup>,
    /// None: `default_process_limit`; Some(0): no limit.
    pub maxproc: Option<u32>,
    pub command: String,
    /// Arguments after the command; `-o { a = b }` is normalised to `-o`, `a=b`.
    pub args: Vec<String>,
    /// 1-based first line.
    pub line: usize,
    /// The columns as written (for `postconf -M` output).
    pub fields: Vec<String>,
    first: usize,
    last: usize,
}

impl Service {
    /// `name/type`, as postconf -M names a service.
    pub fn id(&self) -> String {
        format!("{}/{}", self.name, self.kind.as_str())
    }

    /// The `-o name=value` overrides, in order.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if !a.starts_with('-') || a == "--" {
                break;
            }
            if a == "-o" {
                if let Some((n, v)) = it.next().and_then(|kv| kv.split_once('=')) {
                    out.push((n.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        out
    }
}

/// Where the comment lines inside an entry go when the entry is replaced:
/// Postfix's `postconf -Me` puts them after the new entry, `-Fe`, `-Pe`
/// and `-PX` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptComments {
    Before,
    After,
}

#[derive(Debug, Clone, Default)]
pub struct MasterCf {
    pub path: PathBuf,
    lines: Vec<String>,
    services: Vec<Service>,
}

/// Splits a logical line into words as Postfix's mystrtokq() does: white
/// space separates words except inside `{ … }`, which may also stand
/// within a word (`-o a=x,{b c},d` is one word). A word that starts with
/// `{` is one argument: its braces are removed and its text trimmed
/// (Postfix's extpar()).
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut depth = 0usize;
        while i < chars.len() && (depth > 0 || !chars[i].is_whitespace()) {
            match chars[i] {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        let word = &chars[start..i];
        if word[0] != '{' {
            out.push(word.iter().collect());
            continue;
        }
        // The brace that closes the first one.
        let mut level = 0usize;
        let close = word.iter().position(|&c| {
            match c {
                '{' => level += 1,
                '}' => level -= 1,
                _ => {}
            }
            level == 0
        });
        let shown: String = word.iter().collect();
        match close {
            None => return Err(format!("missing '}}' in \"{shown}\"")),
            Some(end) if end + 1 != word.len() => {
                return Err(format!("syntax error after '}}' in \"{shown}\""))
            }
            Some(end) => out.push(word[1..end].iter().collect::<String>().trim().to_string()),
        }
    }
    Ok(out)
}

fn yes_no(field: &str, default: bool) -> Option<bool> {
    match field {
        "-" => Some(default),
        "y" => Some(true),
        "n" => Some(false),
        _ => None,
    }
}

/// Parses one logical line (already joined) into a service.
pub fn parse_entry(path: &Path, line: usize, text: &str) -> Result<Service, ConfigError> {
    let err = |m: String| ConfigError::new(path, Some(line), None, m);
    let w = words(text).map_err(err)?;
    if w.len() < 8 {
        return Err(err(format!(
            "entry has {} fields, needs at least 8: \"{}\"",
            w.len(),
            text.trim()
        )));
    }
    let kind = ServiceType::parse(&w[1])
        .ok_or_else(|| err(format!("unknown service type \"{}\"", w[1])))?;
    let flag = |i: usize, what: &str, default: bool| {
        yes_no(&w[i], default)
            .ok_or_else(|| err(format!("bad {what} field \"{}\" (y, n or -)", w[i])))
    };
    let private = flag(2, "private", kind != ServiceType::Inet)?;
    let unpriv = flag(3, "unprivileged", true)?;
    let chroot = flag(4, "chroot", false)?;
    let wakeup = match w[5].as_str() {
        "-" | "0" => None,
        s => {
            let (num, on_use) = match s.strip_suffix('?') {
                Some(n) => (n, true),
                None => (s, false),
            };
            let seconds: u32 = num
                .parse()
                .map_err(|_| err(format!("bad wakeup time field \"{s}\"")))?;
            (seconds > 0).then_some(Wakeup { seconds, on_use })
        }
    };
    let maxproc = match w[6].as_str() {
        "-" => None,
        s => Some(
            s.parse::<u32>()
                .map_err(|_| err(format!("bad process limit field \"{s}\"")))?,
        ),
    };
    let mut args = Vec::new();
    let mut rest = w[8..].iter();
    // As the daemons' getopt: options end at the first non-option argument.
    let mut in_options = true;
    while let Some(a) = rest.next() {
        if in_options && (!a.starts_with('-') || a == "--") {
            in_options = false;
        }
        if in_options && a.starts_with("-o") {
            let kv = match a.strip_prefix("-o").filter(|s| !s.is_empty()) {
                Some(attached) => attached,
                None => rest
                    .next()
                    .ok_or_else(|| err("-o without name=value".to_string()))?,
            };
            let Some((n, v)) = kv.split_once('=') else {
                return Err(err(format!("-o {kv}: missing '='")));
            };
            args.push("-o".to_string());
            args.push(format!("{}={}", n.trim(), v.trim()));
        } else {
            args.push(a.clone());
        }
    }
    Ok(Service {
        name: w[0].clone(),
        kind,
        private,
        unpriv,
        chroot,
        wakeup,
        maxproc,
        command: w[7].clone(),
        args,
        line,
        fields: w[..8].to_vec(),
        first: line - 1,
        last: line - 1,
    })
}

impl MasterCf {
    pub fn read(path: &Path) -> Result<MasterCf, ConfigError> {
        let text = read_text(path)?;
        MasterCf::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<MasterCf, ConfigError> {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut services: Vec<Service> = Vec::new();
        for LogicalLine {
            text: logical,
            first,
            last,
        } in logical_lines(path, &lines)?
        {
            let mut svc = parse_entry(path, first + 1, &logical)?;
            svc.first = first;
            svc.last = last;
            if let Some(prev) = services
                .iter()
                .find(|s| s.name == svc.name && s.kind == svc.kind)
            {
                return Err(ConfigError::new(
                    path,
                    Some(first + 1),
                    None,
                    format!(
                        "duplicate service {} (first at line {})",
                        svc.id(),
                        prev.line
                    ),
                ));
            }
            services.push(svc);
        }
        Ok(MasterCf {
            path: path.to_path_buf(),
            lines,
            services,
        })
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn find(&self, name: &str, kind: ServiceType) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.name == name && s.kind == kind)
    }

    pub fn render(&self) -> String {
        let mut s = self.lines.join("\n");
        if !self.lines.is_empty() {
            s.push('\n');
        }
        s
    }

    /// Replaces the entry `name/type` with `entry` (one logical line), or
    /// appends it when there is none; the old entry's comment lines stay
    /// where `comments` says. Fails when `entry` does not parse.
    pub fn set_entry(
        &mut self,
        name: &str,
        kind: ServiceType,
        entry: &str,
        comments: KeptComments,
    ) -> Result<(), ConfigError> {
        let svc = parse_entry(&self.path, 1, entry)?;
        if svc.name != name || svc.kind != kind {
            return Err(ConfigError::new(
                &self.path,
                None,
                None,
                format!(
                    "entry \"{}\" does not define {name}/{}",
                    entry.trim(),
                    kind.as_str()
                ),
            ));
        }
        let new_line = entry.trim().to_string();
        let mut lines = self.lines.clone();
        match self.find(name, kind) {
            Some(s) => {
                // As Postfix: comment lines inside the old entry stay.
                let kept: Vec<String> = lines[s.first..=s.last]
                    .iter()
                    .filter(|l| is_comment_or_blank(l))
                    .cloned()
                    .collect();
                let entry = match comments {
                    KeptComments::After => std::iter::once(new_line).chain(kept).collect(),
                    KeptComments::Before => kept.into_iter().chain([new_line]).collect::<Vec<_>>(),
                };
                lines.splice(s.first..=s.last, entry);
            }
            None => lines.push(new_line),
        }
        self.replace_lines(lines)
    }

    /// Removes (`comment == false`) or comments out the entry `name/type`.
    /// Returns whether there was one.
    pub fn remove_entry(
        &mut self,
        name: &str,
        kind: ServiceType,
        comment: bool,
    ) -> Result<bool, ConfigError> {
        let Some(s) = self.find(name, kind) else {
            return Ok(false);
        };
        let mut lines = self.lines.clone();
        let old: Vec<String> = lines[s.first..=s.last].to_vec();
        // As Postfix: comment lines inside the entry stay as they are.
        let new: Vec<String> = old
            .iter()
            .filter_map(|l| {
                if is_comment_or_blank(l) {
                    Some(l.clone())
                } else if comment {
                    Some(format!("#{l}"))
                } else {
                    None
                }
            })
            .collect();
        lines.splice(s.first..=s.last, new);
        self.replace_lines(lines).map(|_| true)
    }

    fn replace_lines(&mut self, lines: Vec<String>) -> Result<(), ConfigError> {
        let text = lines.join("\n") + if lines.is_empty() { "" } else { "\n" };
        *self = MasterCf::parse(&self.path, &text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\nsmtp      inet  n       -       y       -       -       smtpd\nsubmission inet n       -       y       -       -       smtpd\n  -o syslog_name=postfix/submission\n  # a note\n  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\nqmgr      unix  n       -       n       300     1       qmgr\ntlsmgr    unix  -       -       y       1000?   1       tlsmgr\n";

    #[test]
    fn parses_columns_and_overrides() {
        let m = MasterCf::parse(Path::new("/x/master.cf"), SAMPLE).unwrap();
        assert_eq!(m.services().len(), 4);
        let sub = m.find("submission", ServiceType::Inet).unwrap();
        assert!(!sub.private && sub.unpriv && sub.chroot);
        assert_eq!(sub.maxproc, None);
        assert_eq!(
            sub.overrides(),
            vec![
                ("syslog_name".into(), "postfix/submission".into()),
                (
                    "smtpd_client_restrictions".into(),
                    "permit_sasl_authenticated, reject".into()
                )
            ]
        );
        let q = m.find("qmgr", ServiceType::Unix).unwrap();
        assert_eq!(
            q.wakeup,
            Some(Wakeup {
                seconds: 300,
                on_use: false
            })
        );
        assert_eq!(q.maxproc, Some(1));
        let t = m.find("tlsmgr", ServiceType::Unix).unwrap();
        assert_eq!(
            t.wakeup,
            Some(Wakeup {
                seconds: 1000,
                on_use: true
            })
        );
        assert!(t.private);
        assert_eq!(m.render(), SAMPLE);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = MasterCf::parse(Path::new("/x/master.cf"), "\nsmtp inet n - y - - \n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e =
            MasterCf::parse(Path::new("/x/master.cf"), "smtp tcp n - y - - smtpd\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/master.cf, line 1: unknown service type \"tcp\""
        );
        let e =
            MasterCf::parse(Path::new("/x/master.cf"), "smtp inet x - y - - smtpd\n").unwrap_err();
        assert!(e.to_string().contains("bad private field \"x\""));
        let e = MasterCf::parse(
            Path::new("/x/master.cf"),
            "a unix - - n - - x\na unix - - n - - y\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2: duplicate service a/unix"));
    }

    #[test]
    fn options_end_at_the_first_argument() {
        let m = MasterCf::parse(
            Path::new("/x/master.cf"),
            "a unix - n n - - pipe -oa=1 -v -o b=2 flags=R argv=/bin/x -o c\n",
        )
        .unwrap();
        let a = m.find("a", ServiceType::Unix).unwrap();
        assert_eq!(
            a.overrides(),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(a.args[5..], ["flags=R", "argv=/bin/x", "-o", "c"]);
    }

    #[test]
    fn braces_as_postfix_groups_them() {
        let p = Path::new("/x/master.cf");
        // Braces within a word keep its blanks.
        let m = MasterCf::parse(p, "a unix - n n - - smtpd -o x=1,{b c},d -v\n").unwrap();
        let a = m.find("a", ServiceType::Unix).unwrap();
        assert_eq!(a.overrides(), vec![("x".into(), "1,{b c},d".into())]);
        assert_eq!(a.args, ["-o", "x=1,{b c},d", "-v"]);
        let m = MasterCf::parse(p, "a unix - n n - - smtpd -o { y = {1 2} }\n").unwrap();
        let a = m.find("a", ServiceType::Unix).unwrap();
        assert_eq!(a.overrides(), vec![("y".into(), "{1 2}".into())]);
        // Text after the closing brace is not silently another argument.
        for bad in ["-o {x=1}}", "-o {x=1}y", "-o {x=1"] {
            let e = MasterCf::parse(p, &format!("a unix - n n - - smtpd {bad}\n")).unwrap_err();
            assert_eq!(e.line, Some(1));
            assert!(e.message.contains("'}' in \"{"), "{e}");
        }
    }

    #[test]
    fn edits_keep_other_lines() {
        let mut m = MasterCf::parse(Path::new("/x/master.cf"), SAMPLE).unwrap();
        m.set_entry(
            "submission",
            ServiceType::Inet,
            "submission inet n - n - 5 smtpd",
            KeptComments::After,
        )
        .unwrap();
        assert_eq!(
            m.find("submission", ServiceType::Inet).unwrap().maxproc,
            Some(5)
        );
        assert!(m.render().starts_with("# comment\nsmtp "));
        assert!(m.remove_entry("qmgr", ServiceType::Unix, true).unwrap());
        let mut c = MasterCf::parse(Path::new("/x/master.cf"), SAMPLE).unwrap();
        assert!(c
            .remove_entry("submission", ServiceType::Inet, true)
            .unwrap());
        assert!(c.render().contains(
            "#submission inet n       -       y       -       -       smtpd\n#  -o syslog_name=postfix/submission\n  # a note\n#  -o {"
        ));
        c.set_entry(
            "smtp",
            ServiceType::Inet,
            "smtp inet n - n - - smtpd\n    -o a=b",
            KeptComments::After,
        )
        .unwrap();
        assert_eq!(
            c.find("smtp", ServiceType::Inet).unwrap().overrides(),
            vec![("a".into(), "b".into())]
        );
        assert!(m.render().contains("#qmgr "));
        assert!(m.find("qmgr", ServiceType::Unix).is_none());
    }
}
