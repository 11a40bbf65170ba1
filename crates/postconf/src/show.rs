//! Showing main.cf parameters: all of them, the ones main.cf sets (-n),
//! the built-in defaults (-d), named ones; as `name = value`, values only
//! (-h), names only (-H), expanded (-x), folded (-f) or as JSON (-j).

use crate::master;
use crate::msg::{self, Fatal};
use crate::opts::{self, Opts};
use params::{Config, Origin};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

/// Postfix's output line limit and the indent of folded lines.
pub const LINE_LIMIT: usize = 80;
pub const INDENT: &str = "    ";

/// Formats one output line as Postfix's pcf_print_line does: unfolded as
/// is, or folded at white space before column 80 with a 4-space indent.
pub fn fold_line(text: &str, fold: bool) -> String {
    if !fold {
        return format!("{text}\n");
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_len = 0;
    for word in text
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        if line_len > 0 {
            if line_len + word.len() < LINE_LIMIT {
                out.push(' ');
                line_len += 1;
            } else {
                out.push('\n');
                out.push_str(INDENT);
                line_len = INDENT.len();
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out.push('\n');
    out
}

/// `name = value`, or `name =` for an empty value, as Postfix prints it.
fn param_line(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name} =")
    } else {
        format!("{name} = {value}")
    }
}

/// True when main.cf's `name` is either declared or used by some value
/// (`used`: the names that values refer to), so that Postfix would list it.
fn listed_user_name(name: &str, used: &HashSet<&str>) -> bool {
    params::lookup(name).is_some() || params::is_dynamic_name(name) || used.contains(name)
}

/// True when `text` holds `r` not followed by another name character
/// (`$foobar` is no use of `foo`).
pub fn contains_ref(text: &str, r: &str) -> bool {
    text.match_indices(r).any(|(i, _)| {
        !text[i + r.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Shows main.cf parameters as `opts` asks.
pub fn run(o: &Opts, dir: &Path, out: &mut dyn Write) -> Result<(), Fatal> {
    let defaults = o.has(opts::DEFAULTS);
    let cfg = if defaults {
        Config::defaults()
    } else {
        Config::load(dir, &o.overrides).map_err(|e| Fatal::config(&e))?
    };
    // Postfix reads master.cf here too: for its -o settings' $name uses
    // and to warn about unused ones. It does without when there is none.
    // (Not for -d, which shows no master.cf-derived names.)
    let master = if defaults {
        None
    } else {
        master::read_lenient(dir)?
    };
    let master_text = master
        .as_ref()
        .map(master::all_override_text)
        .unwrap_or_default();

    let (unused, other): (Vec<&String>, Vec<&String>) = cfg
        .warnings
        .iter()
        .partition(|w| w.contains(": unused parameter: "));
    if !defaults {
        for w in other {
            msg::warn(w);
        }
    }

    let mut listed: Vec<String> = params::table::ALL
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    if !defaults {
        let used: HashSet<&str> = cfg
            .main_cf
            .definitions()
            .iter()
            .flat_map(|d| params::expand::names_used(&d.value))
            .chain(params::expand::names_used(&master_text))
            .collect();
        for d in cfg.main_cf.definitions() {
            if listed_user_name(&d.name, &used) {
                listed.push(d.name.clone());
            }
        }
        listed.extend(o.overrides.iter().map(|(n, _)| n.clone()));
    }
    listed.sort();
    listed.dedup();

    let config_dir_shown = dir != Path::new(params::DEFAULT_CONFIG_DIR);
    let non_default = |name: &str| {
        matches!(
            cfg.origin(name),
            Some(Origin::MainCf { .. }) | Some(Origin::Override)
        ) || (name == "config_directory" && config_dir_shown)
    };

    let names: Vec<String> = if o.operands.is_empty() {
        listed.clone()
    } else {
        let mut names = Vec::new();
        for n in &o.operands {
            if listed.binary_search(n).is_ok() {
                names.push(n.clone());
            } else {
                msg::warn(&format!("{n}: unknown parameter"));
            }
        }
        names
    };

    let mut json = BTreeMap::new();
    let mut text = String::new();
    for name in &names {
        if o.has(opts::NON_DEFAULT) && !non_default(name) {
            continue;
        }
        let value = if o.has(opts::EXPAND) {
            cfg.value(name).map(str::to_string)
        } else {
            cfg.raw_text(name)
        }
        .unwrap_or_default();
        if o.has(opts::JSON) {
            json.insert(name.clone(), serde_json::Value::String(value));
            continue;
        }
        let line = if o.has(opts::HIDE_NAME) {
            value
        } else if o.has(opts::HIDE_VALUE) {
            name.clone()
        } else {
            param_line(name, &value)
        };
        text.push_str(&fold_line(&line, o.has(opts::FOLD)));
    }
    if o.has(opts::JSON) {
        text = crate::json_text(&serde_json::Value::Object(json.into_iter().collect()));
    }
    crate::write_out(out, &text)?;

    if !defaults && !o.quiet {
        for w in unused {
            // A main.cf name used only by master.cf is used after all.
            let used_by_master = w
                .split(": unused parameter: ")
                .nth(1)
                .and_then(|nv| nv.split('=').next())
                .is_some_and(|n| listed.binary_search(&n.to_string()).is_ok());
            if !used_by_master {
                msg::warn(w);
            }
        }
        if let Some(m) = &master {
            master::warn_unused(m, &cfg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_postfix() {
        let long = "smtpd_banner = $myhostname ESMTP $mail_name aaaa bbbbbb cccccc dddddd eeeee fffff ggggg hhhhhh iiiii jjjjj kkkk lll";
        assert_eq!(
            fold_line(long, true),
            "smtpd_banner = $myhostname ESMTP $mail_name aaaa bbbbbb cccccc dddddd eeeee\n    fffff ggggg hhhhhh iiiii jjjjj kkkk lll\n"
        );
        assert_eq!(fold_line("a =", true), "a =\n");
        assert_eq!(fold_line("a =  b", false), "a =  b\n");
    }

    #[test]
    fn references() {
        assert!(contains_ref("x $foo y", "$foo"));
        assert!(!contains_ref("x $foobar y", "$foo"));
        assert!(contains_ref("${foo?x}", "${foo"));
    }
}
