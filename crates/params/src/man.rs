//! Man pages built from the code's own definitions: `mailsuite-postconf(5)`
//! from the parameter registry ([`crate::table::ALL`]), and a program's
//! page from the `//!` block that opens its `main.rs` (NAME, SYNOPSIS,
//! DESCRIPTION, OPTIONS, SECURITY, CONFIGURATION PARAMETERS, FILES, as
//! Postfix opens its daemons). `scripts/gen-man` writes them to `man/`.

use crate::registry::{Computed, Kind, Param};
use crate::table;

/// Escapes text for a roff text line: backslashes, hyphens as minus
/// signs, and a leading `.` or `'` that would start a request.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    if out.starts_with(['.', '\'']) {
        out.insert_str(0, "\\&");
    }
    out
}

/// Escapes `text` and shows `quoted` spans in bold, when the backquotes pair up.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    if !escaped.matches('`').count().is_multiple_of(2) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    let mut open = false;
    for c in escaped.chars() {
        if c == '`' {
            out.push_str(if open { "\\fR" } else { "\\fB" });
            open = !open;
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a macro argument (`.TH`, `.SH`).
fn arg(text: &str) -> String {
    format!("\"{}\"", escape(text).replace('"', "\\(dq"))
}

fn title(name: &str, section: u8) -> String {
    format!(
        ".TH {} {} \"\" \"mailsuite\" \"mailsuite manual\"\n.nh\n",
        arg(&name.to_ascii_uppercase()),
        section
    )
}

/// A number of seconds in the largest unit that divides it.
fn seconds_text(s: i64) -> String {
    for (unit, n) in [('w', 7 * 86400), ('d', 86400), ('h', 3600), ('m', 60)] {
        if s != 0 && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

fn unit_name(unit: char) -> &'static str {
    match unit {
        'm' => "minutes",
        'h' => "hours",
        'd' => "days",
        'w' => "weeks",
        _ => "seconds",
    }
}

fn bounds_text(min: i64, max: i64, show: impl Fn(i64) -> String) -> String {
    if max == i64::MAX {
        format!("at least {}", show(min))
    } else {
        format!("from {} to {}", show(min), show(max))
    }
}

/// What the man page says about a parameter's value beyond its doc.
fn value_notes(p: &Param) -> Option<String> {
    match p.kind {
        Kind::Int => Some(format!(
            "A whole number, {}.",
            bounds_text(p.min, p.max, |n| n.to_string())
        )),
        Kind::Size => Some(format!(
            "A size in bytes, {}.",
            bounds_text(p.min, p.max, |n| n.to_string())
        )),
        Kind::Time { unit } => Some(format!(
            "A time (unit s, m, h, d or w; a bare number is in {}), {}.",
            unit_name(unit),
            bounds_text(p.min, p.max, seconds_text)
        )),
        Kind::Bool => Some("Either yes or no.".to_string()),
        Kind::Raw => Some(
            "Kept as written and expanded at use, with the attributes of each delivery."
                .to_string(),
        ),
        Kind::Str | Kind::List => None,
    }
}

fn computed_text(how: Computed) -> &'static str {
    match how {
        Computed::MyHostname => {
            "computed: the fully-qualified domain name from gethostname(), \
             or the short name with .localdomain appended"
        }
        Computed::MyDomain => "computed: $myhostname without its first label",
        Computed::MyNetworks => {
            "computed: the networks of this host's interfaces, as mynetworks_style says"
        }
        Computed::MailVersion => "computed: the version of this build",
    }
}

fn entry(p: &Param) -> String {
    let default = match p.computed {
        Some(how) => escape(computed_text(how)),
        None if p.default.is_empty() => "empty".to_string(),
        None => format!("\\fI{}\\fR", escape(p.default)),
    };
    let mut s = format!(
        ".TP\n\\fB{}\\fR (default: {})\n{}\n",
        escape(p.name),
        default,
        escape(p.doc)
    );
    if let Some(notes) = value_notes(p) {
        s.push_str(&escape(&notes));
        s.push('\n');
    }
    s
}

const SYNTAX: &[&str] = &[
    "main.cf holds one setting per logical line, `name = value`. White space around the `=` \
     is ignored, and so is white space at the end of the line. A line that starts with white \
     space continues the logical line before it. Lines that start with `#` are comments, as are \
     empty lines. Text after a `#` that follows white space in a value is taken as a comment \
     and ignored, with a warning (Postfix would keep it as part of the value). When a name \
     is set twice, the later setting wins.",
    "A value may refer to other parameters. `$name` and `${name}` (or `$(name)`) are replaced \
     by the value of name. `${name?text}` gives text when name is set to a non-empty value, and \
     nothing otherwise; `${name:text}` gives text when name is empty or unset. `$$` is a \
     literal dollar sign. Expansion happens when a program reads the file, so a parameter \
     may name one defined later; a loop is an error.",
    "Lists take items separated by commas and/or white space; `{ ... }` groups one item that \
     holds either. Times are a number with an optional unit (s, m, h, d, w); sizes are bytes.",
    "`postconf` shows the values in force, `postconf -n` those that main.cf sets, and \
     `postconf -d` the defaults below; `postconf -e name=value` edits main.cf. A program \
     checks every value when it starts, and a value that does not fit its parameter stops \
     it with an error that names the file, the line and the parameter. `mailsuite reload` \
     makes running programs read the file again.",
    "Parameters with Postfix's names have Postfix's defaults (at compatibility_level 3.6) \
     and meanings. The POP3, IMAP and authentication settings use Dovecot's names, marked \
     \"Dovecot setting\" below; they live in the same main.cf.",
];

/// The `mailsuite-postconf(5)` man page: main.cf's syntax, then every
/// parameter of the registry, sorted by name.
pub fn postconf_5() -> String {
    let mut s = title("mailsuite-postconf", 5);
    s.push_str(".SH NAME\n");
    s.push_str(&escape(
        "mailsuite-postconf - mailsuite configuration parameters",
    ));
    s.push('\n');
    s.push_str(".SH SYNOPSIS\n");
    s.push_str(&inline("`postconf -d`"));
    s.push_str("\n.br\n");
    s.push_str(&inline("`postconf -e name=value`"));
    s.push('\n');
    s.push_str(".SH DESCRIPTION\n");
    s.push_str(&inline(
        "The file main.cf in the configuration directory (/etc/mailsuite, or -c dir, \
         or $MAIL_CONFIG) sets the parameters of every mailsuite program. Its syntax \
         is Postfix's.",
    ));
    s.push('\n');
    for para in SYNTAX {
        s.push_str(".PP\n");
        s.push_str(&inline(para));
        s.push('\n');
    }
    s.push_str(".SH PARAMETERS\n");
    let mut all: Vec<&Param> = table::ALL.to_vec();
    all.sort_by_key(|p| p.name);
    for p in all {
        s.push_str(&entry(p));
    }
    s.push_str(".SH \"SEE ALSO\"\n");
    s.push_str(&escape("postconf(1), mailsuite(1), master(8)"));
    s.push('\n');
    s
}

/// One paragraph of a `//!` section, as lines with the section's common
/// indentation removed.
fn render_paragraph(lines: &[&str], out: &mut String) {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut i = 0;
    let mut prose: Vec<&str> = Vec::new();
    let flush_prose = |prose: &mut Vec<&str>, out: &mut String| {
        if !prose.is_empty() {
            out.push_str(".PP\n");
            out.push_str(&inline(&prose.join(" ")));
            out.push('\n');
            prose.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        let next_deeper = lines.get(i + 1).is_some_and(|n| indent(n) > 0);
        let gap = line.find("  ").filter(|&at| {
            let tag = &line[..at];
            !tag.is_empty() && tag.len() <= 24 && !tag.ends_with('.')
        });
        if indent(line) > 0 || (gap.is_none() && !next_deeper) {
            prose.push(line.trim());
            i += 1;
            continue;
        }
        flush_prose(&mut prose, out);
        let (tag, first) = match gap {
            Some(at) => (&line[..at], line[at..].trim()),
            None => (line.trim(), ""),
        };
        let mut body: Vec<&str> = Vec::new();
        if !first.is_empty() {
            body.push(first);
        }
        i += 1;
        while i < lines.len() && indent(lines[i]) > 0 {
            body.push(lines[i].trim());
            i += 1;
        }
        out.push_str(".TP\n");
        out.push_str(&format!("\\fB{}\\fR\n", escape(tag)));
        if !body.is_empty() {
            out.push_str(&inline(&body.join(" ")));
            out.push('\n');
        }
    }
    flush_prose(&mut prose, out);
}

/// Renders a program's `//!` block (with the `//! ` prefixes removed) as
/// the man page `name(section)`. Headings are unindented upper-case
/// lines; under them, blank lines separate paragraphs, a line whose first
/// words are followed by two spaces or by more-indented lines is a tagged
/// entry (an option, a command, a file), and other text is filled. The
/// SYNOPSIS keeps its lines as written.
pub fn from_doc_header(name: &str, section: u8, header: &str) -> String {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in header.lines() {
        let l = line.trim_end();
        let is_heading = !l.is_empty()
            && !l.starts_with([' ', '\t'])
            && l.chars().any(|c| c.is_ascii_uppercase())
            && l.chars().all(|c| c.is_ascii_uppercase() || c == ' ');
        if is_heading {
            sections.push((l.to_string(), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push(l);
        }
    }
    let mut s = title(name, section);
    for (heading, body) in &sections {
        s.push_str(&format!(".SH {}\n", arg(heading)));
        let base = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let lines: Vec<&str> = body
            .iter()
            .map(|l| l.get(base..).unwrap_or("").trim_end())
            .collect();
        let paragraphs: Vec<&[&str]> = lines
            .split(|l| l.is_empty())
            .filter(|p| !p.is_empty())
            .collect();
        match heading.as_str() {
            "NAME" => {
                s.push_str(&escape(&lines.join(" ").trim().replace("  ", " ")));
                s.push('\n');
            }
            "SYNOPSIS" => {
                for (n, p) in paragraphs.iter().enumerate() {
                    if n > 0 {
                        s.push_str(".PP\n");
                    }
                    s.push_str(".nf\n");
                    for l in p.iter() {
                        s.push_str(&escape(l));
                        s.push('\n');
                    }
                    s.push_str(".fi\n");
                }
            }
            _ => {
                for p in paragraphs {
                    render_paragraph(p, &mut s);
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_roff_specials() {
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("'x"), "\\&'x");
        assert_eq!(escape("a\\b-c"), "a\\eb\\-c");
        assert_eq!(inline("use `postconf -n`"), "use \\fBpostconf \\-n\\fR");
        assert_eq!(inline("odd ` tick"), "odd ` tick");
    }

    #[test]
    fn seconds_in_largest_unit() {
        assert_eq!(seconds_text(8640000), "100d");
        assert_eq!(seconds_text(10), "10s");
        assert_eq!(seconds_text(0), "0s");
        assert_eq!(seconds_text(120), "2m");
    }

    #[test]
    fn doc_header_sections_and_entries() {
        let header = "NAME\n  foo - does things\n\nSYNOPSIS\n  foo [-x]\n    more\n\n\
                      DESCRIPTION\n  Some text\n  that continues.\n\n  -x  an option\n  -y val\n\
                      \x20       with a body\n  Trailing prose.\n\nCONFIGURATION PARAMETERS\n  a, b.\n";
        let page = from_doc_header("foo", 1, header);
        assert!(page.starts_with(".TH \"FOO\" 1 "), "{page}");
        assert!(
            page.contains(".SH \"NAME\"\nfoo \\- does things\n"),
            "{page}"
        );
        assert!(page.contains(".nf\nfoo [\\-x]\n  more\n.fi\n"), "{page}");
        assert!(page.contains(".PP\nSome text that continues.\n"), "{page}");
        assert!(page.contains(".TP\n\\fB\\-x\\fR\nan option\n"), "{page}");
        assert!(
            page.contains(".TP\n\\fB\\-y val\\fR\nwith a body\n"),
            "{page}"
        );
        assert!(page.contains(".PP\nTrailing prose.\n"), "{page}");
        assert!(
            page.contains(".SH \"CONFIGURATION PARAMETERS\"\n"),
            "{page}"
        );
    }

    #[test]
    fn postconf_5_lists_every_parameter_once() {
        let page = postconf_5();
        for p in table::ALL {
            let tag = format!(".TP\n\\fB{}\\fR (default: ", escape(p.name));
            assert_eq!(page.matches(&tag).count(), 1, "{}", p.name);
        }
        assert!(page.contains("\\fBmax_idle\\fR (default: \\fI100s\\fR)"));
        assert!(page.contains("\\fBmyhostname\\fR (default: computed:"));
    }
}
