//! master.cf for `postconf -M`: entries shown in Postfix's columns (folded
//! with -f), as JSON (-j), and replaced (-e), removed (-X) or commented out
//! (-#) by `name/type`.

use crate::msg::{self, Fatal};
use crate::opts::{self, Opts};
use crate::show::{contains_ref, INDENT, LINE_LIMIT};
use params::expand::{self, Lookup};
use params::master_cf::{self, KeptComments, MasterCf, Service, ServiceType};
use params::Config;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where each of the 8 columns starts, as in Postfix's output.
const COLUMN_GOAL: [usize; 8] = [0, 11, 17, 25, 33, 41, 49, 57];

/// Postfix's names of the columns: `-F`'s field names and `-Mj`'s keys.
pub const FIELD_NAMES: [&str; 8] = [
    "service",
    "type",
    "private",
    "unprivileged",
    "chroot",
    "wakeup",
    "process_limit",
    "command",
];

pub fn path(dir: &Path) -> PathBuf {
    dir.join("master.cf")
}

/// Reads master.cf; a missing file is a warning (as Postfix when master.cf
/// is not what the command is about), a bad one is fatal.
pub fn read_lenient(dir: &Path) -> Result<Option<MasterCf>, Fatal> {
    let p = path(dir);
    if let Err(e) = std::fs::metadata(&p) {
        msg::warn(&format!("open {}: {}", p.display(), crate::io_text(&e)));
        return Ok(None);
    }
    MasterCf::read(&p).map(Some).map_err(|e| Fatal::config(&e))
}

/// Every `-o` value in master.cf, for "is $name used" checks.
pub fn all_override_text(m: &MasterCf) -> String {
    let mut s = String::new();
    for svc in m.services() {
        for (_, v) in svc.overrides() {
            s.push_str(&v);
            s.push(' ');
        }
    }
    s
}

/// Warns, as Postfix does, about `-o name=value` settings of names that no
/// program knows and no value uses.
pub fn warn_unused(m: &MasterCf, cfg: &Config) {
    let mut text = all_override_text(m);
    for d in cfg.main_cf.definitions() {
        text.push_str(&d.value);
        text.push(' ');
    }
    for svc in m.services() {
        for (n, v) in svc.overrides() {
            if params::lookup(&n).is_some() || params::is_dynamic_name(&n) {
                continue;
            }
            let used = [format!("${n}"), format!("${{{n}"), format!("$({n}")]
                .iter()
                .any(|r| contains_ref(&text, r));
            if !used {
                msg::warn(&format!("{}: unused parameter: {n}={v}", m.path.display()));
            }
        }
    }
}

/// The daemon arguments as Postfix's postconf normalises them: options
/// first (`-o` and its `name=value` as a pair), then the other arguments.
enum Item<'a> {
    Opt(&'a str),
    OptValue(&'a str, String),
    Arg(&'a str),
}

fn items<'a>(svc: &'a Service, expand_value: &dyn Fn(&str) -> String) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    let mut in_options = true;
    let mut i = 0;
    while i < svc.args.len() {
        let a = svc.args[i].as_str();
        if in_options && (!a.starts_with('-') || a == "--") {
            in_options = false;
        }
        if !in_options {
            out.push(Item::Arg(a));
        } else if a == "-o" && i + 1 < svc.args.len() {
            out.push(Item::OptValue(a, expand_value(&svc.args[i + 1])));
            i += 1;
        } else {
            out.push(Item::Opt(a));
        }
        i += 1;
    }
    out
}

fn has_blank(s: &str) -> bool {
    s.contains([' ', '\t', '\r', '\n'])
}

/// The command column and its arguments on one line, as `postconf -F`
/// shows the `command` field: `-o` pairs as `-o name=value` (in braces
/// when the value holds blanks), other arguments with blanks in braces.
pub fn command_text(svc: &Service, expand_value: &dyn Fn(&str) -> String) -> String {
    let mut out = svc.command.clone();
    for item in items(svc, expand_value) {
        out.push(' ');
        match item {
            Item::Opt(a) => out.push_str(a),
            Item::OptValue(a, v) if has_blank(&v) => out.push_str(&format!("{a} {{{v}}}")),
            Item::OptValue(a, v) => out.push_str(&format!("{a} {v}")),
            Item::Arg(a) if has_blank(a) => out.push_str(&format!("{{{a}}}")),
            Item::Arg(a) => out.push_str(a),
        }
    }
    out
}

/// Formats one entry as Postfix's pcf_print_master_entry: the 8 columns at
/// their goal positions, then the arguments; with `fold`, each `-o` pair on
/// a line of its own and other lines broken before column 80.
///
/// One deliberate difference: Postfix forgets the braces around the first
/// non-option argument when it holds white space (`pipe { a b }` comes out
/// as `pipe a b`, which means something else); this keeps them.
pub fn format_entry(svc: &Service, fold: bool, expand_value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut line_len = 0usize;
    for (k, field) in svc.fields.iter().enumerate().take(8) {
        if line_len > 0 {
            loop {
                out.push(' ');
                line_len += 1;
                if line_len >= COLUMN_GOAL[k] {
                    break;
                }
            }
        }
        out.push_str(field);
        line_len += field.len();
    }
    push_arguments(&mut out, line_len, svc, fold, expand_value);
    out
}

/// Appends the entry's arguments to `out`, whose last line is `line_len`
/// long, as [`format_entry`] lays them out.
pub fn push_arguments(
    out: &mut String,
    mut line_len: usize,
    svc: &Service,
    fold: bool,
    expand_value: &dyn Fn(&str) -> String,
) {
    for item in items(svc, expand_value) {
        let (arg, value, parens) = match &item {
            Item::Opt(a) => (*a, None, false),
            Item::OptValue(a, v) => (*a, Some(v.as_str()), has_blank(v)),
            Item::Arg(a) => (*a, None, has_blank(a)),
        };
        let mut arg_len = arg.len();
        if let Some(v) = value {
            // Force a line break before an option with a value.
            line_len = LINE_LIMIT;
            arg_len += v.len() + 3 + if parens { 2 } else { 0 };
        }
        if line_len > INDENT.len() {
            if !fold || line_len + 1 + arg_len < LINE_LIMIT {
                out.push(' ');
                line_len += 1;
            } else {
                out.push('\n');
                out.push_str(INDENT);
                line_len = INDENT.len();
            }
        }
        let brace_arg = matches!(item, Item::Arg(_)) && parens;
        if brace_arg {
            out.push('{');
        }
        out.push_str(arg);
        line_len += arg.len();
        if brace_arg {
            out.push('}');
            line_len += 2;
        }
        if let Some(v) = value {
            out.push(' ');
            if parens {
                out.push('{');
            }
            out.push_str(v);
            if parens {
                out.push('}');
            }
            // Force a line break after an option with a value.
            line_len = LINE_LIMIT;
        }
    }
    out.push('\n');
}

/// The JSON form of one entry.
fn entry_json(svc: &Service, expand_value: &dyn Fn(&str) -> String) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for (k, name) in FIELD_NAMES.iter().enumerate() {
        let v = svc.fields.get(k).cloned().unwrap_or_default();
        obj.insert(name.to_string(), serde_json::Value::String(v));
    }
    let mut args = Vec::new();
    let mut overrides = serde_json::Map::new();
    for item in items(svc, expand_value) {
        match item {
            Item::Opt(a) | Item::Arg(a) => args.push(serde_json::Value::String(a.to_string())),
            Item::OptValue(a, v) => {
                if let Some((n, val)) = v.split_once('=') {
                    overrides.insert(n.to_string(), serde_json::Value::String(val.to_string()));
                }
                args.push(serde_json::Value::String(a.to_string()));
                args.push(serde_json::Value::String(v));
            }
        }
    }
    obj.insert("args".into(), serde_json::Value::Array(args));
    obj.insert("overrides".into(), serde_json::Value::Object(overrides));
    serde_json::Value::Object(obj)
}

/// A `name` or `name/type` filter.
struct Filter<'a> {
    raw: &'a str,
    name: &'a str,
    kind: Option<&'a str>,
    matched: bool,
}

fn parse_filter(raw: &str) -> Result<Filter<'_>, Fatal> {
    let parts: Vec<&str> = raw.split('/').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Fatal::usage("-M option requires service_name[/type]"));
    }
    Ok(Filter {
        raw,
        name: parts[0],
        kind: parts.get(1).copied(),
        matched: false,
    })
}

/// `postconf -M [-f] [-x] [-j] [name[/type]...]`.
pub fn show(o: &Opts, dir: &Path, out: &mut dyn Write) -> Result<(), Fatal> {
    let m = MasterCf::read(&path(dir)).map_err(|e| Fatal::config(&e))?;
    let cfg = Config::load(dir, &o.overrides).map_err(|e| Fatal::config(&e))?;
    for w in cfg
        .warnings
        .iter()
        .filter(|w| !w.contains(": unused parameter: "))
    {
        msg::warn(w);
    }
    let mut filters = o
        .operands
        .iter()
        .map(|r| parse_filter(r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut text = String::new();
    let mut json = Vec::new();
    for svc in m.services() {
        let expand_value = |kv: &str| -> String {
            if !o.has(opts::EXPAND) {
                return kv.to_string();
            }
            expand_override(kv, svc, &cfg)
        };
        let mut emit = |svc: &Service| {
            if o.has(opts::JSON) {
                json.push(entry_json(svc, &expand_value));
            } else {
                text.push_str(&format_entry(svc, o.has(opts::FOLD), &expand_value));
            }
        };
        if filters.is_empty() {
            emit(svc);
        }
        for f in filters.iter_mut() {
            if f.name == svc.name && f.kind.is_none_or(|k| k == svc.kind.as_str()) {
                f.matched = true;
                emit(svc);
            }
        }
    }
    if o.has(opts::JSON) {
        text = crate::json_text(&serde_json::Value::Array(json));
    }
    crate::write_out(out, &text)?;
    for f in &filters {
        if !f.matched {
            msg::warn(&format!("unmatched request: \"{}\"", f.raw));
        }
    }
    if !o.quiet {
        warn_unused(&m, &cfg);
    }
    Ok(())
}

/// Expands the value of `name=value` with the service's own `-o` settings
/// in scope, as Postfix's `postconf -Mx` does.
pub fn expand_override(kv: &str, svc: &Service, cfg: &Config) -> String {
    let Some((n, v)) = kv.split_once('=') else {
        return kv.to_string();
    };
    let local = svc.overrides();
    let lookup = |name: &str| -> Option<(String, bool)> {
        match local.iter().find(|(ln, _)| ln == name) {
            Some((_, lv)) => Some((lv.clone(), true)),
            // Postfix's built-in per-service names.
            None if name == "service_name" => Some((svc.name.clone(), false)),
            None => cfg.raw(name),
        }
    };
    match expand::expand_text(v, &lookup) {
        Ok(x) => format!("{n}={x}"),
        Err(_) => kv.to_string(),
    }
}

/// Splits `name/type` for the editing modes.
fn service_id(raw: &str) -> Result<(String, ServiceType), Fatal> {
    let bad = || Fatal::usage("-Me, -MX or -M# requires service_name/type");
    let (name, kind) = raw.split_once('/').ok_or_else(bad)?;
    if name.is_empty() || kind.contains('/') {
        return Err(bad());
    }
    let kind = ServiceType::parse(kind)
        .ok_or_else(|| Fatal::usage(format!("{raw}: unknown service type \"{kind}\"")))?;
    Ok((name.to_string(), kind))
}

/// `postconf -M -e name/type='entry'`, `-MX name/type`, `-M# name/type`.
pub fn edit(o: &Opts, dir: &Path) -> Result<(), Fatal> {
    let p = path(dir);
    let mut m = MasterCf::read(&p).map_err(|e| Fatal::config(&e))?;
    let before = m.render();
    for arg in &o.operands {
        if o.has(opts::EDIT) {
            let (id, entry) = arg
                .split_once('=')
                .ok_or_else(|| Fatal::usage("-Me, -MX or -M# requires service_name/type"))?;
            let (name, kind) = service_id(id.trim())?;
            let svc = master_cf::parse_entry(&p, 1, entry)
                .map_err(|e| Fatal::config_text(format!("{id}: {}", e.message)))?;
            // Written in Postfix's folded form, as `postconf -M` does.
            let formatted = format_entry(&svc, true, &|v| v.to_string());
            m.set_entry(&name, kind, formatted.trim_end(), KeptComments::After)
                .map_err(|e| Fatal::config_text(format!("{id}: {}", e.message)))?;
        } else {
            if arg.contains('=') {
                return Err(Fatal::usage("-Me, -MX or -M# requires service_name/type"));
            }
            let (name, kind) = service_id(arg)?;
            m.remove_entry(&name, kind, o.has(opts::COMMENT_OUT))
                .map_err(|e| Fatal::config(&e))?;
        }
    }
    let after = m.render();
    if after != before {
        crate::write_file(&p, &after)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Service {
        master_cf::parse_entry(Path::new("/x/master.cf"), 1, text).unwrap()
    }

    fn fmt(text: &str, fold: bool) -> String {
        format_entry(&entry(text), fold, &|v| v.to_string())
    }

    #[test]
    fn columns() {
        assert_eq!(
            fmt("smtp inet n - y - - smtpd", false),
            "smtp       inet  n       -       y       -       -       smtpd\n"
        );
        assert_eq!(
            fmt("verylongservicename_here unix - - n - - pipe flags=DRhu user=vmail argv=/usr/bin/maildrop -d ${recipient}", true),
            "verylongservicename_here unix - - n      -       -       pipe flags=DRhu\n    user=vmail argv=/usr/bin/maildrop -d ${recipient}\n"
        );
    }

    #[test]
    fn options_fold_one_per_line() {
        let t = "submission inet n - y - - smtpd -o syslog_name=postfix/submission -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }";
        assert_eq!(
            fmt(t, true),
            "submission inet  n       -       y       -       -       smtpd\n    -o syslog_name=postfix/submission\n    -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}\n"
        );
        assert_eq!(
            fmt(t, false),
            "submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/submission -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}\n"
        );
        assert_eq!(
            fmt("smtp inet n - n - - smtpd -v -o a=b", true),
            "smtp       inet  n       -       n       -       -       smtpd -v\n    -o a=b\n"
        );
    }

    #[test]
    fn braces_kept_on_arguments_with_blanks() {
        assert_eq!(
            fmt("new unix - - n - - pipe { a b } c", false),
            "new        unix  -       -       n       -       -       pipe {a b} c\n"
        );
    }
}
