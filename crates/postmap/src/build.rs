//! Building (`postmap file`, `postmap -i file`) and editing (`postmap -d`)
//! indexed tables. Every change writes a whole new file and renames it
//! into place (maps::indexed::write), under an exclusive lock on the
//! source file so that concurrent runs do not lose each other's entries.

use crate::{map_fatal, spec_of, stdin_text, warn, Fatal, Opts};
use maps::indexed::{self, Duplicates, WriteOptions};
use maps::source::{self, Reader};
use maps::{Ctx, MapError};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether `type` is built sorted (btree) or not (hash); other types
/// cannot be built.
fn sorted_for(spec: &str, t: &str) -> Result<bool, Fatal> {
    maps::indexed::bulk_sorted(t).map_err(|e| match e {
        maps::indexed::BulkError::NotBulk(t) => Fatal::usage(format!(
            "unsupported dictionary type: {t} does not support bulk-mode creation."
        )),
        maps::indexed::BulkError::Unknown(t) => map_fatal(&MapError::UnsupportedType {
            spec: spec.to_string(),
            type_name: t,
        }),
    })
}

/// Holds an exclusive lock on the source file while the table is rebuilt.
fn read_source(src: &Path) -> Result<String, Fatal> {
    match fs::read(src) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(source) => Err(map_fatal(&MapError::Open {
            path: src.to_path_buf(),
            indexed: false,
            source,
        })),
    }
}

/// Builds each named table from its source file (or, with -i, adds the
/// entries on standard input to it).
pub fn create(o: &Opts, ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let added = if o.incremental {
        Some(stdin_text()?)
    } else {
        None
    };
    let duplicates = if o.replace {
        Duplicates::Replace
    } else if o.quiet_dups {
        Duplicates::Ignore
    } else {
        Duplicates::Warn
    };
    for arg in &o.maps {
        let spec = spec_of(arg, default_type);
        let (t, name) = maps::split_spec(&spec).map_err(|e| map_fatal(&e))?;
        let sorted = sorted_for(&spec, t)?;
        let src = Path::new(name);
        let db = indexed::db_path(name);
        let _lock = indexed::lock_source(src, &warn);
        let meta = fs::metadata(src).ok();
        let mut entries: Vec<(String, String)> = Vec::new();
        let (text, label) = match &added {
            Some(stdin) => {
                entries = indexed::read_existing(&db).map_err(|e| map_fatal(&e))?;
                (stdin.clone(), "stdin".to_string())
            }
            None => (read_source(src)?, name.to_string()),
        };
        // The entries read now (with -F, file names still to be read; those
        // already in the table (-i) hold contents).
        let mut fresh: Vec<usize> = Vec::new();
        // Duplicates are settled while reading, so that the warnings come
        // in line order, as Postfix prints them.
        let mut index: HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        let db_name = db.display().to_string();
        source::parse_each(
            &text,
            &label,
            ctx.fold_case,
            Reader::Postmap,
            &warn,
            &mut |e| match index.get(&e.key) {
                Some(&i) => match duplicates {
                    Duplicates::Warn => warn(&format!("{db_name}: duplicate entry: \"{}\"", e.key)),
                    Duplicates::Ignore => {}
                    Duplicates::Replace => {
                        entries[i].1 = e.value;
                        fresh.push(i);
                    }
                },
                None => {
                    index.insert(e.key.clone(), entries.len());
                    fresh.push(entries.len());
                    entries.push((e.key, e.value));
                }
            },
        );
        if o.files {
            fresh.sort_unstable();
            fresh.dedup();
            for i in fresh {
                let value = &mut entries[i].1;
                let content = maps::files::read_named(value).map_err(|e| map_fatal(&e))?;
                *value = util::base64::encode(&content);
            }
        }
        let mode = match &meta {
            Some(m) if !o.default_mode => 0o600 | (m.mode() & 0o044),
            _ => 0o644,
        };
        let opts = WriteOptions {
            sorted,
            mode,
            duplicates: Duplicates::Ignore,
        };
        indexed::write(&db, entries, &opts, &warn).map_err(|e| map_fatal(&e))?;
        if let Some(m) = &meta {
            give_to_owner(o, &db, m);
        }
    }
    Ok(0)
}

/// Run as root, a table belongs to its source file's owner (Postfix runs
/// as that owner instead); -o keeps root's.
fn give_to_owner(o: &Opts, db: &Path, src: &fs::Metadata) {
    if o.keep_root || !nix::unistd::geteuid().is_root() || src.uid() == 0 {
        return;
    }
    if let Err(e) = std::os::unix::fs::chown(db, Some(src.uid()), Some(src.gid())) {
        warn(&format!(
            "chown {}: {}",
            db.display(),
            maps::error::io_text(&e)
        ));
    }
}

/// Removes each key from each named indexed table; 0 when one was found.
pub fn delete(o: &Opts, keys: &[String], ctx: &Ctx, default_type: &str) -> Result<i32, Fatal> {
    let mut found = false;
    for arg in &o.maps {
        let spec = spec_of(arg, default_type);
        if indexed::delete_keys(&spec, keys, ctx.fold_case, &warn).map_err(|e| map_fatal(&e))? {
            found = true;
        }
    }
    Ok(if found { 0 } else { 1 })
}
