//! Bounce templates, as Postfix's bounce(5) describes them: the headers
//! (`Charset:`, `From:`, `Subject:`, `Postmaster-Subject:`) and the text
//! of the human-readable part of each kind of notice. The built-in ones
//! are Postfix 3.7's; `bounce_template_file` overrides any of the four
//! (`failure_template`, `delay_template`, `success_template`,
//! `verify_template`), each written `name = <<EOF` … `EOF`.
//!
//! Errors are Postfix's, at Postfix's levels: a file that cannot be read
//! or a line that is not `name = value` (or a bad `<<` marker) is fatal;
//! an unknown template name or a missing end marker is a warning; a
//! template with an unknown, empty or non-ASCII header, a
//! `Postmaster-Subject:` where none applies, no text, or 8-bit text with
//! `Charset: us-ascii` is ignored with a warning (the built-in one stays).
//! In the text, `$name` and `${name}` expand to main.cf values (an
//! undefined name or bad `$` syntax is fatal), and
//! `$delay_warning_time_UNIT` and `$maximal_queue_lifetime_UNIT` to those
//! times in seconds, minutes, hours, days or weeks.

use params::expand::{self, Lookup};
use params::table as p;
use params::Config;
use std::cell::RefCell;
use std::path::Path;

/// The four kinds of template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Failure,
    Delay,
    Success,
    Verify,
}

impl Class {
    /// In the order Postfix prints them.
    pub const ALL: [Class; 4] = [Class::Failure, Class::Delay, Class::Success, Class::Verify];

    /// `failure`, `delay`, `success`, `verify`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Failure => "failure",
            Class::Delay => "delay",
            Class::Success => "success",
            Class::Verify => "verify",
        }
    }

    fn index(self) -> usize {
        match self {
            Class::Failure => 0,
            Class::Delay => 1,
            Class::Success => 2,
            Class::Verify => 3,
        }
    }
}

/// Where the built-in templates come from, in messages.
pub const BUILTIN: &str = "[built-in]";

/// One template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub class: Class,
    /// The file it was read from, or [`BUILTIN`].
    pub origin: String,
    /// The MIME charset of the text.
    pub charset: String,
    pub from: String,
    pub subject: String,
    /// The subject of the postmaster's copy (failures and delays only).
    pub postmaster_subject: Option<String>,
    /// The text, line by line, before `$name` expansion.
    pub text: Vec<String>,
}

const FAILURE_TEXT: &[&str] = &[
    "This is the mail system at host $myhostname.",
    "",
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    "",
    "For further assistance, please send mail to postmaster.",
    "",
    "If you do so, please include this problem report. You can",
    "delete your own text from the attached returned message.",
    "",
    "                   The mail system",
];

const DELAY_TEXT: &[&str] = &[
    "This is the mail system at host $myhostname.",
    "",
    "####################################################################",
    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
    "####################################################################",
    "",
    "Your message could not be delivered for more than $delay_warning_time_hours hour(s).",
    "It will be retried until it is $maximal_queue_lifetime_days day(s) old.",
    "",
    "For further assistance, please send mail to postmaster.",
    "",
    "If you do so, please include this problem report. You can",
    "delete your own text from the attached returned message.",
    "",
    "                   The mail system",
];

const SUCCESS_TEXT: &[&str] = &[
    "This is the mail system at host $myhostname.",
    "",
    "Your message was successfully delivered to the destination(s)",
    "listed below. If the message was delivered to mailbox you will",
    "receive no further notifications. Otherwise you may still receive",
    "notifications of mail delivery errors from other systems.",
    "",
    "                   The mail system",
];

const VERIFY_TEXT: &[&str] = &[
    "This is the mail system at host $myhostname.",
    "",
    "Enclosed is the mail delivery report that you requested.",
    "",
    "                   The mail system",
];

impl Template {
    /// Postfix's built-in template of `class`.
    pub fn builtin(class: Class) -> Template {
        let (subject, postmaster_subject, text) = match class {
            Class::Failure => (
                "Undelivered Mail Returned to Sender",
                Some("Postmaster Copy: Undelivered Mail"),
                FAILURE_TEXT,
            ),
            Class::Delay => (
                "Delayed Mail (still being retried)",
                Some("Postmaster Warning: Delayed Mail"),
                DELAY_TEXT,
            ),
            Class::Success => ("Successful Mail Delivery Report", None, SUCCESS_TEXT),
            Class::Verify => ("Mail Delivery Status Report", None, VERIFY_TEXT),
        };
        Template {
            class,
            origin: BUILTIN.to_string(),
            charset: "us-ascii".to_string(),
            from: "Mail Delivery System <MAILER-DAEMON>".to_string(),
            subject: subject.to_string(),
            postmaster_subject: postmaster_subject.map(str::to_string),
            text: text.iter().map(|l| l.to_string()).collect(),
        }
    }

    /// True when the text is not ASCII: the notice's text part is 8bit.
    pub fn eight_bit(&self) -> bool {
        self.text.iter().any(|l| !l.is_ascii())
    }

    /// The subject for the sender's notice or the postmaster's copy.
    pub fn subject_for(&self, postmaster: bool) -> &str {
        match &self.postmaster_subject {
            Some(s) if postmaster => s,
            _ => &self.subject,
        }
    }

    /// The template as a template file writes it (`postconf -t`).
    pub fn dump(&self) -> String {
        let mut out = format!(
            "Charset: {}\nFrom: {}\nSubject: {}\n",
            self.charset, self.from, self.subject
        );
        if let Some(s) = &self.postmaster_subject {
            out.push_str(&format!("Postmaster-Subject: {s}\n"));
        }
        out.push('\n');
        for l in &self.text {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The text with `$name` expanded, each line ending in LF, and the
    /// warnings the time conversions drew (Postfix's "zero result" and
    /// "excessive result").
    pub fn expand(&self, cfg: &Config) -> Result<(String, Vec<String>), Error> {
        let ctx = Ctx {
            cfg,
            template: self,
            warnings: RefCell::new(Vec::new()),
            error: RefCell::new(None),
        };
        let mut out = String::new();
        for line in &self.text {
            let expanded = ctx.line(line);
            if let Some(e) = ctx.error.borrow_mut().take() {
                return Err(e);
            }
            out.push_str(&expanded?);
            out.push('\n');
        }
        Ok((out, ctx.warnings.into_inner()))
    }
}

/// A fatal error in a template file or its expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The four templates in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    all: [Template; 4],
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            all: Class::ALL.map(Template::builtin),
        }
    }
}

/// What loading a template file gave: the templates and the warnings.
#[derive(Debug)]
pub struct Loaded {
    pub templates: Templates,
    pub warnings: Vec<String>,
}

impl Templates {
    pub fn get(&self, class: Class) -> &Template {
        &self.all[class.index()]
    }

    /// The built-in templates overridden by those of `path`.
    pub fn load(path: &Path) -> Result<Loaded, Error> {
        let data = std::fs::read(path)
            .map_err(|e| Error(format!("open {}: {}", path.display(), util::strerror(&e))))?;
        Templates::parse(&path.display().to_string(), &data)
    }

    /// The templates in force with `bounce_template_file` (the built-in
    /// ones when it is empty).
    pub fn from_config(cfg: &Config) -> Result<Loaded, Error> {
        let file = cfg.str(&p::BOUNCE_TEMPLATE_FILE);
        if file.is_empty() {
            return Ok(Loaded {
                templates: Templates::default(),
                warnings: Vec::new(),
            });
        }
        Templates::load(Path::new(file))
    }

    /// The built-in templates overridden by those in `data`, a template
    /// file's text; `origin` names it in messages.
    pub fn parse(origin: &str, data: &[u8]) -> Result<Loaded, Error> {
        let mut warnings = Vec::new();
        let mut given: [Option<Vec<u8>>; 4] = Default::default();
        let mut lines = data.split(|&b| b == b'\n').enumerate().peekable();
        // A last line with its LF leaves an empty piece after it.
        let count = data.split(|&b| b == b'\n').count() - usize::from(data.ends_with(b"\n"));
        while let Some((i, raw)) = lines.next() {
            if i >= count {
                break;
            }
            let lineno = i + 1;
            let line = String::from_utf8_lossy(raw);
            let body = line.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let (name, value) = split_nameval(&line)
                .map_err(|e| Error(format!("{origin}, line {lineno}: {e}: \"{line}\"")))?;
            let value = match value.strip_prefix("<<") {
                Some(marker) => {
                    let marker = marker.trim_start();
                    if marker.is_empty() {
                        return Err(Error(format!(
                            "{origin}, line {lineno}: missing end marker after <<"
                        )));
                    }
                    if !marker.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                        return Err(Error(format!(
                            "{origin}, line {lineno}: malformed end marker after <<"
                        )));
                    }
                    let mut buf: Vec<u8> = Vec::new();
                    let mut ended = false;
                    let mut last = lineno;
                    for (j, raw) in lines.by_ref() {
                        if j >= count {
                            break;
                        }
                        last = j + 1;
                        if raw == marker.as_bytes() {
                            ended = true;
                            break;
                        }
                        // As Postfix: lines are joined with LF, and empty
                        // lines before the first text leave nothing.
                        if !buf.is_empty() {
                            buf.push(b'\n');
                        }
                        buf.extend_from_slice(raw);
                    }
                    if !ended {
                        warnings.push(format!(
                            "{origin}, line {last}: missing \"{marker}\" end marker"
                        ));
                    }
                    buf
                }
                None => value.as_bytes().to_vec(),
            };
            match Class::ALL
                .iter()
                .find(|c| name.strip_suffix("_template") == Some(c.name()))
            {
                Some(c) => given[c.index()] = Some(value),
                None => warnings.push(format!(
                    "{origin}, line {lineno}: unknown template name: {name} -- ignoring this template"
                )),
            }
        }
        let mut templates = Templates::default();
        for class in Class::ALL {
            let Some(buf) = &given[class.index()] else {
                continue;
            };
            match parse_template(class, origin, buf) {
                Ok(t) => templates.all[class.index()] = t,
                Err(w) => warnings.extend(w),
            }
        }
        Ok(Loaded {
            templates,
            warnings,
        })
    }

    /// The templates as a template file writes them (`postconf -t`).
    pub fn dump(&self) -> String {
        let parts: Vec<String> = self
            .all
            .iter()
            .map(|t| format!("{}_template = <<EOF\n{}EOF\n", t.class.name(), t.dump()))
            .collect();
        parts.join("\n")
    }

    /// The texts with `$name` expanded (`postconf -b`), and the warnings.
    pub fn expand_all(&self, cfg: &Config) -> Result<(String, Vec<String>), Error> {
        let mut parts = Vec::new();
        let mut warnings = Vec::new();
        for t in &self.all {
            let (text, w) = t.expand(cfg)?;
            warnings.extend(w);
            parts.push(format!(
                "expanded_{}_text = <<EOF\n{text}EOF\n",
                t.class.name()
            ));
        }
        Ok((parts.join("\n"), warnings))
    }
}

/// Postfix's split_nameval: `name = value`, white space around both
/// dropped.
fn split_nameval(line: &str) -> Result<(&str, &str), &'static str> {
    let is_space = |c: char| c.is_ascii_whitespace() || c == '\x0b';
    let rest = line.trim_start_matches(is_space);
    if rest.is_empty() || rest.starts_with('=') {
        return Err("missing attribute name");
    }
    let end = rest
        .find(|c: char| is_space(c) || c == '=')
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    let Some(value) = after.trim_start_matches(is_space).strip_prefix('=') else {
        return Err("missing '=' after attribute name");
    };
    Ok((name, value.trim_matches(is_space)))
}

/// Postfix's is_header: the length of the label when `line` starts with
/// `label:` (white space allowed before the colon), else 0.
fn header_label_len(line: &str) -> usize {
    let mut len = 0;
    let mut after_space = false;
    for b in line.bytes() {
        match b {
            b':' => return len,
            b' ' | b'\t' if len > 0 => after_space = true,
            _ if !b.is_ascii() || b.is_ascii_control() || b == b' ' || after_space => return 0,
            _ => len += 1,
        }
    }
    0
}

/// Whether a template's header lines (ASCII, up to the first line that is
/// not a header) name ISO-8859-1 as its charset.
fn declares_latin1(buf: &[u8]) -> bool {
    buf.split(|&b| b == b'\n')
        .map_while(|line| std::str::from_utf8(line).ok())
        .take_while(|line| header_label_len(line) > 0)
        .filter_map(|line| line.split_once(':'))
        .any(|(label, value)| {
            label.trim().eq_ignore_ascii_case("charset")
                && ["iso-8859-1", "iso_8859-1", "latin1", "latin-1", "l1"]
                    .iter()
                    .any(|c| value.trim().eq_ignore_ascii_case(c))
        })
}

/// One template from its text; the warnings when it must be ignored.
fn parse_template(class: Class, origin: &str, buf: &[u8]) -> Result<Template, Vec<String>> {
    let ignoring = |what: String| {
        vec![format!(
            "{origin}: {what} in {} template -- ignoring this template",
            class.name()
        )]
    };
    // A Latin-1 template (Charset: iso-8859-1, as Postfix sites in Europe
    // have them) is read as Latin-1 and sent as the same text in UTF-8.
    let transcoded;
    let (text, latin1) = match std::str::from_utf8(buf) {
        Ok(text) => (text, false),
        Err(_) if declares_latin1(buf) => {
            transcoded = buf.iter().map(|&b| char::from(b)).collect::<String>();
            (transcoded.as_str(), true)
        }
        Err(_) => {
            return Err(ignoring(
                "message text that is neither UTF-8 nor the ISO-8859-1 its Charset names (mailsuite reads templates as UTF-8)".into(),
            ))
        }
    };
    let mut t = Template::builtin(class);
    t.origin = origin.to_string();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.peek() {
        let len = header_label_len(line);
        if len == 0 {
            break;
        }
        let label = &line[..len];
        let value = line[len..].trim_start_matches(|c: char| c == ':' || c.is_ascii_whitespace());
        if value.is_empty() {
            return Err(ignoring(format!("empty \"{label}\" header value")));
        }
        if !value.is_ascii() {
            return Err(ignoring(format!("non-ASCII \"{label}\" header value")));
        }
        match label.to_ascii_lowercase().as_str() {
            "charset" => t.charset = value.to_string(),
            "from" => t.from = value.to_string(),
            "subject" => t.subject = value.to_string(),
            "postmaster-subject" if t.postmaster_subject.is_some() => {
                t.postmaster_subject = Some(value.to_string())
            }
            "postmaster-subject" => {
                return Err(ignoring(format!("inapplicable \"{label}\" header label")))
            }
            _ => return Err(ignoring(format!("unknown \"{label}\" header label"))),
        }
        lines.next();
    }
    while lines
        .peek()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_whitespace() || c == '\x0b'))
    {
        lines.next();
    }
    if lines.peek().is_none() {
        return Err(ignoring("missing message text".into()));
    }
    t.text = lines.map(str::to_string).collect();
    if latin1 {
        t.charset = "utf-8".into();
    }
    if t.eight_bit() && t.charset.eq_ignore_ascii_case("us-ascii") {
        return Err(vec![
            format!("{origin}: 8-bit message text in {} template", class.name()),
            "please specify a charset value other than us-ascii".into(),
            "-- ignoring this template for now".into(),
        ]);
    }
    Ok(t)
}

/// The time parameters with `_seconds` … `_weeks` forms.
const TIME_PARAMETERS: [&params::Param; 2] = [&p::DELAY_WARNING_TIME, &p::MAXIMAL_QUEUE_LIFETIME];

const TIME_UNITS: [(&str, i64); 5] = [
    ("seconds", 1),
    ("minutes", 60),
    ("hours", 3600),
    ("days", 86400),
    ("weeks", 7 * 86400),
];

/// Expansion of one template's text.
struct Ctx<'a> {
    cfg: &'a Config,
    template: &'a Template,
    warnings: RefCell<Vec<String>>,
    /// A fatal error met inside a `${name?text}` form.
    error: RefCell<Option<Error>>,
}

impl Ctx<'_> {
    /// `$delay_warning_time_hours` and the like: None for other names.
    fn time_value(&self, name: &str) -> Option<Result<String, Error>> {
        let (param, suffix) = TIME_PARAMETERS.iter().find_map(|p| {
            let rest = name.strip_prefix(p.name)?.strip_prefix('_')?;
            Some((*p, rest))
        })?;
        let t = &self.template;
        let Some(&(_, divisor)) = TIME_UNITS.iter().find(|(u, _)| *u == suffix) else {
            return Some(Err(Error(format!(
                "{}: unrecognized suffix \"{suffix}\" in parameter \"{name}\"",
                t.origin
            ))));
        };
        let value = self.cfg.time(param).as_secs() as i64;
        let result = value / divisor;
        let class = t.class.name();
        let mut w = self.warnings.borrow_mut();
        if result > 999 && divisor < 86400 {
            w.push(format!(
                "{}: excessive result \"{result}\" in {class} template conversion of parameter \"{name}\"",
                t.origin
            ));
            w.push(format!(
                "please increase time unit \"{suffix}\" of \"{name}\" in {class} template"
            ));
            w.push("for instructions see the bounce(5) manual".into());
        } else if result == 0 && value != 0 && divisor > 1 {
            w.push(format!(
                "{}: zero result in {class} template conversion of parameter \"{name}\"",
                t.origin
            ));
            w.push(format!(
                "please reduce time unit \"{suffix}\" of \"{name}\" in {class} template"
            ));
            w.push("for instructions see the bounce(5) manual".into());
        }
        Some(Ok(result.to_string()))
    }

    /// The value of a name the text uses plainly (`$name`, `${name}`).
    fn value(&self, name: &str) -> Result<Option<String>, Error> {
        match self.time_value(name) {
            Some(v) => v.map(Some),
            None => Ok(self.cfg.value(name).map(str::to_string)),
        }
    }

    fn bad_syntax(&self, line: &str) -> Error {
        Error(format!(
            "{}: bad $name syntax in {} template: {line}",
            self.template.origin,
            self.template.class.name()
        ))
    }

    /// One line expanded as Postfix's mac_expand does it for templates.
    fn line(&self, line: &str) -> Result<String, Error> {
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            let (name, form) = if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            } else if let Some(open) = rest.chars().next().filter(|c| *c == '{' || *c == '(') {
                let close = if open == '{' { '}' } else { ')' };
                let mut depth = 0;
                let mut end = None;
                for (i, c) in rest.char_indices() {
                    if c == open {
                        depth += 1;
                    } else if c == close {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                }
                let end = end.ok_or_else(|| self.bad_syntax(line))?;
                // White space around the name is allowed: `${ name }`.
                let inner = rest[1..end].trim_matches(|c: char| c.is_ascii_whitespace());
                let form = &rest[..=end];
                rest = &rest[end + 1..];
                (inner, Some(form))
            } else {
                let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
                let name = &rest[..end];
                rest = &rest[end..];
                (name, None)
            };
            let name_end = name.find(|c: char| !is_name(c)).unwrap_or(name.len());
            if name_end == 0 {
                return Err(self.bad_syntax(line));
            }
            match form {
                // `${name?text}`, `${name:text}`: an undefined name is
                // empty there.
                Some(form) if name_end < name.len() => {
                    let v = expand::expand_text(&format!("${form}"), self)
                        .map_err(|_| self.bad_syntax(line))?;
                    out.push_str(&v);
                }
                _ => match self.value(name)? {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(Error(format!(
                            "{}: undefined $name in {} template: {line}",
                            self.template.origin,
                            self.template.class.name()
                        )))
                    }
                },
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl Lookup for Ctx<'_> {
    fn raw(&self, name: &str) -> Option<(String, bool)> {
        match self.time_value(name) {
            Some(Ok(v)) => Some((v, false)),
            Some(Err(e)) => {
                self.error.borrow_mut().get_or_insert(e);
                Some((String::new(), false))
            }
            None => Lookup::raw(self.cfg, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Loaded {
        Templates::parse("bounce.cf", text.as_bytes()).expect("parses")
    }

    fn cfg(main_cf: &str) -> Config {
        Config::from_text(main_cf).expect("main.cf")
    }

    #[test]
    fn the_defaults_are_postfix_3_7s() {
        let dump = Templates::default().dump();
        assert!(dump.starts_with("failure_template = <<EOF\nCharset: us-ascii\nFrom: Mail Delivery System <MAILER-DAEMON>\nSubject: Undelivered Mail Returned to Sender\nPostmaster-Subject: Postmaster Copy: Undelivered Mail\n\nThis is the mail system at host $myhostname.\n"));
        assert!(dump.contains("EOF\n\ndelay_template = <<EOF\n"));
        assert!(dump.contains("Subject: Successful Mail Delivery Report\n\nThis is"));
        assert!(dump.ends_with("Enclosed is the mail delivery report that you requested.\n\n                   The mail system\nEOF\n"));
        let c = cfg("myhostname = mx.example.test\ndelay_warning_time = 4h\n");
        let (text, warnings) = Templates::default().expand_all(&c).expect("expands");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(text.starts_with(
            "expanded_failure_text = <<EOF\nThis is the mail system at host mx.example.test.\n"
        ));
        assert!(text
            .contains("for more than 4 hour(s).\nIt will be retried until it is 5 day(s) old.\n"));
    }

    #[test]
    fn a_file_overrides_the_templates_it_names() {
        let l = parse(
            "# comment\n\n  failure_template = <<END\ncharset:  utf-8\nFROM: Postmaster <postmaster>\nSubject: Nicht zustellbar\nPostmaster-Subject: Kopie\n\n\nGrüße von $myhostname, ${mail_name} $$5\n  eingerückt\n\nEND\nsuccess_template = <<EOF\nSubject: Zugestellt\n\nok\nEOF\n",
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let f = l.templates.get(Class::Failure);
        assert_eq!(f.origin, "bounce.cf");
        assert_eq!(f.charset, "utf-8");
        assert_eq!(f.from, "Postmaster <postmaster>");
        assert_eq!(f.subject_for(false), "Nicht zustellbar");
        assert_eq!(f.subject_for(true), "Kopie");
        assert_eq!(
            f.text,
            [
                "Grüße von $myhostname, ${mail_name} $$5",
                "  eingerückt",
                ""
            ]
        );
        assert!(f.eight_bit());
        let s = l.templates.get(Class::Success);
        assert_eq!(s.from, "Mail Delivery System <MAILER-DAEMON>");
        assert_eq!(s.charset, "us-ascii");
        assert_eq!(s.text, ["ok"]);
        assert_eq!(
            l.templates.get(Class::Delay),
            &Template::builtin(Class::Delay)
        );
        let (text, _) = f
            .expand(&cfg("myhostname = mx.example.test\nmail_name = Post\n"))
            .expect("expands");
        assert_eq!(text, "Grüße von mx.example.test, Post $5\n  eingerückt\n\n");
    }

    #[test]
    fn a_bad_template_keeps_the_default_with_a_warning() {
        let cases = [
            ("Charset: us-ascii\n\nGrüße", "bounce.cf: 8-bit message text in failure template"),
            ("X-Foo: x\n\nhi", "bounce.cf: unknown \"X-Foo\" header label in failure template -- ignoring this template"),
            ("Subject: \n\nhi", "bounce.cf: empty \"Subject\" header value in failure template -- ignoring this template"),
            ("Subject: Grüße\n\nhi", "bounce.cf: non-ASCII \"Subject\" header value in failure template -- ignoring this template"),
            ("Subject: x\n\n", "bounce.cf: missing message text in failure template -- ignoring this template"),
            ("Note : x\n\nhi", "bounce.cf: unknown \"Note\" header label in failure template -- ignoring this template"),
        ];
        for (body, warning) in cases {
            let l = parse(&format!("failure_template = <<EOF\n{body}\nEOF\n"));
            assert_eq!(l.warnings[0], warning, "{body}");
            assert_eq!(l.templates, Templates::default(), "{body}");
        }
        let l = parse("success_template = <<EOF\nPostmaster-Subject: x\n\nhi\nEOF\n");
        assert_eq!(l.warnings, ["bounce.cf: inapplicable \"Postmaster-Subject\" header label in success template -- ignoring this template"]);
        // A Latin-1 template is read as Latin-1 and becomes UTF-8 text.
        let l = Templates::parse(
            "f",
            b"verify_template = <<EOF\nCharset: latin1\n\nGr\xfc\xdfe\nEOF\n",
        )
        .expect("parses");
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let t = l.templates.get(Class::Verify);
        assert_eq!(t.text, ["Grüße"]);
        assert_eq!(t.charset, "utf-8");
        // Any other 8-bit text that is not UTF-8 is ignored.
        let l = Templates::parse(
            "f",
            b"verify_template = <<EOF\nCharset: koi8-r\n\n\xf0\xd2\xc9\nEOF\n",
        )
        .expect("parses");
        assert!(
            l.warnings[0].contains("neither UTF-8 nor"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn text_without_headers_and_odd_lines_are_taken_as_postfix_takes_them() {
        // No headers: the text starts at the first line that is none.
        let l = parse("\nfailure_template = <<EOF\n\nDear customer: sorry\nEOF\n");
        assert_eq!(
            l.templates.get(Class::Failure).text,
            ["Dear customer: sorry"]
        );
        // A plain value is a one-line text; an indented marker is text.
        let l = parse("delay_template = late\nsuccess_template=<<EOF  \nhi\n EOF\nEOF\n");
        assert_eq!(l.templates.get(Class::Delay).text, ["late"]);
        assert_eq!(l.templates.get(Class::Success).text, ["hi", " EOF"]);
        // A later definition wins.
        let l = parse("verify_template = one\nverify_template = two\n");
        assert_eq!(l.templates.get(Class::Verify).text, ["two"]);
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let err = |text: &str| {
            Templates::parse("bounce.cf", text.as_bytes())
                .unwrap_err()
                .0
        };
        assert_eq!(
            err("\n\nfailure_template <<EOF\nx\nEOF\n"),
            "bounce.cf, line 3: missing '=' after attribute name: \"failure_template <<EOF\""
        );
        assert_eq!(
            err("# x\nfailure_template = <<\n"),
            "bounce.cf, line 2: missing end marker after <<"
        );
        assert_eq!(
            err("failure_template = <<\"EOF\"\nx\nEOF\n"),
            "bounce.cf, line 1: malformed end marker after <<"
        );
        assert_eq!(
            err(" = x\n"),
            "bounce.cf, line 1: missing attribute name: \" = x\""
        );
        // Warnings, not errors.
        let l = parse("bogus_template = <<EOF\nSubject: x\n\nhi\nEOF\nfailure_template = <<EOF\nSubject: y\n\nhi\n");
        assert_eq!(
            l.warnings,
            [
                "bounce.cf, line 1: unknown template name: bogus_template -- ignoring this template",
                "bounce.cf, line 9: missing \"EOF\" end marker"
            ]
        );
        assert_eq!(l.templates.get(Class::Failure).subject, "y");
        let e = Templates::load(Path::new("/nonexistent/bounce.cf")).unwrap_err();
        assert_eq!(
            e.0,
            "open /nonexistent/bounce.cf: No such file or directory"
        );
    }

    #[test]
    fn expansion_follows_postfix() {
        let c = cfg("myhostname = mx.example.test\ndelay_warning_time = 4h\nmaximal_queue_lifetime = 2d\nmy_own = x$myhostname\n");
        let one = |line: &str| {
            let mut t = Template::builtin(Class::Failure);
            t.origin = "bounce.cf".into();
            t.text = vec![line.to_string()];
            t.expand(&c)
                .map(|(text, w)| (text.trim_end().to_string(), w))
        };
        let ok = |line: &str| one(line).expect("expands").0;
        assert_eq!(
            ok("$delay_warning_time_hours $delay_warning_time_minutes ${maximal_queue_lifetime_hours} $(maximal_queue_lifetime_days)"),
            "4 240 48 2"
        );
        assert_eq!(ok("$delay_warning_time $my_own"), "4h xmx.example.test");
        assert_eq!(ok("${ myhostname }."), "mx.example.test.");
        assert_eq!(
            ok("${nosuch?a}${myhostname?{yes}:{no}} ${nosuch:$delay_warning_time_seconds} $$x"),
            "yes 14400 $x"
        );
        let (_, w) = one("$delay_warning_time_days").expect("expands");
        assert_eq!(w[0], "bounce.cf: zero result in failure template conversion of parameter \"delay_warning_time_days\"");
        let (_, w) = one("$maximal_queue_lifetime_seconds").expect("expands");
        assert_eq!(w[0], "bounce.cf: excessive result \"172800\" in failure template conversion of parameter \"maximal_queue_lifetime_seconds\"");
        let err = |line: &str| one(line).unwrap_err().0;
        assert_eq!(
            err("hi $nosuch"),
            "bounce.cf: undefined $name in failure template: hi $nosuch"
        );
        assert_eq!(
            err("hi $bounce_queue_lifetime_days"),
            "bounce.cf: undefined $name in failure template: hi $bounce_queue_lifetime_days"
        );
        for bad in ["hi $ there", "hi $", "hi ${myhostname", "${}"] {
            assert_eq!(
                err(bad),
                format!("bounce.cf: bad $name syntax in failure template: {bad}")
            );
        }
        assert_eq!(
            err("$delay_warning_time_years"),
            "bounce.cf: unrecognized suffix \"years\" in parameter \"delay_warning_time_years\""
        );
        assert_eq!(
            err("${x:$delay_warning_time_years}"),
            "bounce.cf: unrecognized suffix \"years\" in parameter \"delay_warning_time_years\""
        );
    }
}
