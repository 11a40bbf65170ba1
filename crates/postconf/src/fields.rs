//! `postconf -F` and `postconf -P`: master.cf one field
//! (`service/type/field`) or one `-o` parameter (`service/type/name`) at a
//! time, shown and edited as Postfix's postconf does. `-Fe` and `-Pe`
//! rewrite the entry they change in `postconf -M`'s folded layout and leave
//! every other line as it was; `-PX` removes a parameter.

use crate::master::{self, command_text, expand_override, format_entry, push_arguments};
use crate::msg::{self, Fatal};
use crate::opts::{self, Opts};
use crate::show::fold_line;
use params::master_cf::{self, KeptComments, MasterCf, Service, ServiceType};
use params::Config;
use std::io::Write;
use std::path::Path;

/// The columns of an entry by their `-F` names.
const FIELDS: [&str; 8] = master::FIELD_NAMES;

/// `-F` or `-P`, as the messages name them.
fn flag(o: &Opts) -> &'static str {
    if o.has(opts::FIELDS) {
        "-F"
    } else {
        "-P"
    }
}

/// What one operand asks for: `name[/type[/attribute]]`.
struct Filter<'a> {
    raw: &'a str,
    name: &'a str,
    kind: Option<&'a str>,
    attribute: Option<&'a str>,
    matched: bool,
}

impl Filter<'_> {
    fn takes(&self, svc: &Service) -> bool {
        self.name == svc.name && self.kind.is_none_or(|k| k == svc.kind.as_str())
    }
}

fn parse_filter<'a>(o: &Opts, raw: &'a str) -> Result<Filter<'a>, Fatal> {
    let parts: Vec<&str> = raw.split('/').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        let what = if o.has(opts::FIELDS) {
            "field"
        } else {
            "parameter"
        };
        return Err(Fatal::usage(format!(
            "{} option requires service_name[/type[/{what}]]",
            flag(o)
        )));
    }
    let attribute = parts.get(2).copied();
    if o.has(opts::FIELDS) {
        if let Some(a) = attribute.filter(|a| !FIELDS.contains(a)) {
            return Err(invalid_field(a));
        }
    }
    Ok(Filter {
        raw,
        name: parts[0],
        kind: parts.get(1).copied(),
        attribute,
        matched: false,
    })
}

fn invalid_field(name: &str) -> Fatal {
    Fatal::usage(format!("invalid service attribute name: \"{name}\""))
}

/// `name=value` of an `-o` of `svc`, expanded with -x.
fn expand(o: &Opts, svc: &Service, cfg: &Config, kv: &str) -> String {
    if o.has(opts::EXPAND) {
        expand_override(kv, svc, cfg)
    } else {
        kv.to_string()
    }
}

/// The `(attribute, value)` pairs of an entry that `-F` or `-P` shows.
fn attributes(o: &Opts, svc: &Service, cfg: &Config) -> Vec<(String, String)> {
    let expand = |kv: &str| expand(o, svc, cfg, kv);
    if o.has(opts::FIELDS) {
        let mut values: Vec<String> = svc.fields.iter().take(7).cloned().collect();
        values.push(command_text(svc, &expand));
        FIELDS.iter().map(|f| f.to_string()).zip(values).collect()
    } else {
        let mut pairs: Vec<(String, String)> = svc
            .overrides()
            .iter()
            .map(|(n, v)| {
                let kv = expand(&format!("{n}={v}"));
                let value = kv.split_once('=').map_or("", |(_, v)| v).to_string();
                (n.clone(), value)
            })
            .collect();
        // Postfix lists a service's parameters by name.
        pairs.sort();
        pairs
    }
}

/// `postconf -F|-P [-fhHx] [service[/type[/name]]...]`.
pub fn show(o: &Opts, dir: &Path, out: &mut dyn Write) -> Result<(), Fatal> {
    let m = MasterCf::read(&master::path(dir)).map_err(|e| Fatal::config(&e))?;
    let cfg = Config::load(dir, &o.overrides).map_err(|e| Fatal::config(&e))?;
    let mut filters = o
        .operands
        .iter()
        .map(|r| parse_filter(o, r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut text = String::new();
    for svc in m.services() {
        let wanted: Vec<Option<&str>> = if filters.is_empty() {
            vec![None]
        } else {
            filters
                .iter_mut()
                .filter(|f| f.takes(svc))
                .map(|f| {
                    f.matched = true;
                    f.attribute
                })
                .collect()
        };
        if wanted.is_empty() {
            continue;
        }
        let pairs = attributes(o, svc, &cfg);
        for only in wanted {
            for (name, value) in pairs.iter().filter(|(n, _)| only.is_none_or(|a| a == n)) {
                let full = format!("{}/{name}", svc.id());
                if o.has(opts::FIELDS)
                    && o.has(opts::FOLD)
                    && name == "command"
                    && !o.has(opts::HIDE_VALUE)
                {
                    // Folded as postconf -Mf folds the arguments.
                    let mut line = if o.has(opts::HIDE_NAME) {
                        svc.command.clone()
                    } else {
                        format!("{full} = {}", svc.command)
                    };
                    let len = line.len();
                    push_arguments(&mut line, len, svc, true, &|kv| expand(o, svc, &cfg, kv));
                    text.push_str(&line);
                    continue;
                }
                let line = if o.has(opts::HIDE_NAME) {
                    value.clone()
                } else if o.has(opts::HIDE_VALUE) {
                    full
                } else {
                    format!("{full} = {value}")
                };
                text.push_str(&fold_line(&line, o.has(opts::FOLD)));
            }
        }
    }
    crate::write_out(out, &text)?;
    for f in filters.iter().filter(|f| !f.matched) {
        msg::warn(&format!("unmatched request: \"{}\"", f.raw));
    }
    Ok(())
}

/// One edit: the service, the attribute, and the new value (None: remove).
struct Edit {
    raw: String,
    name: String,
    kind: ServiceType,
    attribute: String,
    value: Option<String>,
}

fn parse_edit(o: &Opts, raw: &str) -> Result<Edit, Fatal> {
    let (id, value) = if o.has(opts::EDIT) {
        let (id, value) = raw
            .split_once('=')
            .ok_or_else(|| Fatal::usage(format!("missing '=' after attribute name: \"{raw}\"")))?;
        (id.trim(), Some(value.trim().to_string()))
    } else {
        (raw, None)
    };
    let what = if o.has(opts::FIELDS) {
        "field"
    } else {
        "parameter"
    };
    let bad = || {
        Fatal::usage(format!(
            "{}{} requires service_name/type/{what}",
            flag(o),
            if o.has(opts::EDIT) { "e" } else { "X" }
        ))
    };
    let parts: Vec<&str> = id.split('/').collect();
    let [name, kind, attribute] = parts[..] else {
        return Err(bad());
    };
    if name.is_empty() || attribute.is_empty() {
        return Err(bad());
    }
    let kind = ServiceType::parse(kind)
        .ok_or_else(|| Fatal::usage(format!("{id}: unknown service type \"{kind}\"")))?;
    if o.has(opts::FIELDS) && !FIELDS.contains(&attribute) {
        return Err(invalid_field(attribute));
    }
    if o.has(opts::PARAMS) && value.as_deref().is_some_and(|v| v.contains([' ', '\t'])) {
        return Err(Fatal::usage(
            "-Pe does not accept whitespace in parameter value",
        ));
    }
    Ok(Edit {
        raw: raw.to_string(),
        name: name.to_string(),
        kind,
        attribute: attribute.to_string(),
        value,
    })
}

/// The entry's text with one edit made, one logical line.
fn edited_entry(svc: &Service, e: &Edit) -> String {
    let mut fields: Vec<String> = svc.fields.iter().take(7).cloned().collect();
    let mut command = command_text(svc, &|kv| kv.to_string());
    match (FIELDS.iter().position(|f| *f == e.attribute), &e.value) {
        (Some(7), Some(v)) => command = v.clone(),
        (Some(i), Some(v)) => fields[i] = v.clone(),
        _ => {
            // A -o parameter: replaced where it stands, else added after
            // the other options; removed with -X.
            let mut args = svc.args.clone();
            let mut i = 0;
            let mut found = false;
            let mut options_end = 0;
            while i < args.len() {
                let a = args[i].as_str();
                if !a.starts_with('-') || a == "--" {
                    break;
                }
                let named = a == "-o"
                    && args
                        .get(i + 1)
                        .and_then(|kv| kv.split_once('='))
                        .is_some_and(|(n, _)| n.trim() == e.attribute);
                if named {
                    match &e.value {
                        Some(v) if !found => {
                            args[i + 1] = format!("{}={v}", e.attribute);
                            found = true;
                            i += 2;
                        }
                        _ => {
                            args.drain(i..i + 2);
                        }
                    }
                    options_end = i;
                    continue;
                }
                i += if a == "-o" { 2 } else { 1 };
                options_end = i.min(args.len());
            }
            if let (Some(v), false) = (&e.value, found) {
                args.splice(
                    options_end..options_end,
                    ["-o".to_string(), format!("{}={v}", e.attribute)],
                );
            }
            let mut edited = svc.clone();
            edited.args = args;
            command = command_text(&edited, &|kv| kv.to_string());
        }
    }
    fields.push(command);
    fields.join(" ")
}

/// `postconf -Fe`, `-Pe` and `-PX`: `service/type/name[=value]`.
pub fn edit(o: &Opts, dir: &Path) -> Result<(), Fatal> {
    let p = master::path(dir);
    let mut m = MasterCf::read(&p).map_err(|e| Fatal::config(&e))?;
    let before = m.render();
    let edits = o
        .operands
        .iter()
        .map(|raw| parse_edit(o, raw))
        .collect::<Result<Vec<_>, _>>()?;
    for e in edits {
        let Some(svc) = m.find(&e.name, e.kind).cloned() else {
            msg::warn(&format!("unmatched service_name/type: \"{}\"", e.raw));
            continue;
        };
        let text = edited_entry(&svc, &e);
        let id = svc.id();
        let parsed = master_cf::parse_entry(&p, svc.line, &text)
            .map_err(|err| Fatal::config_text(format!("{}: {}", e.raw, err.message)))?;
        let formatted = format_entry(&parsed, true, &|v| v.to_string());
        m.set_entry(
            &svc.name,
            svc.kind,
            formatted.trim_end(),
            KeptComments::Before,
        )
        .map_err(|err| Fatal::config_text(format!("{id}: {}", err.message)))?;
    }
    let after = m.render();
    if after != before {
        crate::write_file(&p, &after)?;
    }
    Ok(())
}
