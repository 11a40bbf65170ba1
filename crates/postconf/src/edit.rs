//! Editing main.cf: `-e name=value...` (replace every definition of each
//! name in place, append new names at the end), `-X name...` (remove) and
//! `-# name...` (comment out). Every other line stays byte for byte; the
//! file is replaced atomically, so a failure leaves it as it was.

use crate::msg::{self, Fatal};
use crate::opts::{self, split_nameval, Opts};
use params::main_cf::MainCf;
use params::Config;
use std::path::Path;

fn valid_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
}

/// Applies the edits that `o` asks for to `dir/main.cf`.
pub fn run(o: &Opts, dir: &Path) -> Result<(), Fatal> {
    let path = dir.join("main.cf");
    let mut cf = MainCf::read(&path).map_err(|e| Fatal::config(&e))?;
    let before_text = cf.render();
    let before = Config::from_parts(dir, cf.clone(), &[]);

    let mut names: Vec<String> = Vec::new();
    if o.has(opts::EDIT) {
        let mut edits = Vec::with_capacity(o.operands.len());
        for arg in &o.operands {
            let (n, v) = split_nameval(arg)?;
            if !valid_name(&n) {
                return Err(Fatal::usage(format!("bad parameter name: \"{n}\"")));
            }
            if v.contains(['\n', '\r']) {
                return Err(Fatal::usage(format!(
                    "{n}: a value cannot hold a line break"
                )));
            }
            names.push(n.clone());
            edits.push((n, v));
        }
        cf.set(&edits);
    } else {
        for arg in &o.operands {
            if !valid_name(arg) {
                return Err(Fatal::usage(format!("bad parameter name: \"{arg}\"")));
            }
            names.push(arg.clone());
        }
        cf.remove(&names, o.has(opts::COMMENT_OUT));
    }

    // An edit may not turn a configuration that loads into one that does
    // not: refuse it and leave main.cf alone. A configuration that was
    // already bad is written (the edit may be a step towards fixing it).
    match (before, Config::from_parts(dir, cf.clone(), &[])) {
        (Ok(_), Err(e)) => return Err(Fatal::config(&e)),
        (Err(_), Err(e)) => msg::warn(&e.to_string()),
        _ => {}
    }

    // As Postfix, which notices while it copies the file.
    let mut warned: Vec<&str> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    if let Ok(old) = MainCf::parse(&path, &before_text) {
        for d in old.definitions() {
            let n = d.name.as_str();
            if names.iter().any(|x| x == n) && seen.contains(&n) && !warned.contains(&n) {
                msg::warn(&format!("{}: multiple entries for \"{n}\"", path.display()));
                warned.push(n);
            }
            seen.push(n);
        }
    }

    let after_text = cf.render();
    if after_text != before_text {
        crate::write_file(&path, &after_text)?;
    }
    Ok(())
}
