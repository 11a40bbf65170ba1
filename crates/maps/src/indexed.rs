//! `hash:` and `btree:` tables: an indexed file `name.db` built from the
//! text file `name` by `postmap`.
//!
//! The file is a cdb (see `cdb.rs`): chosen over Berkeley DB because it is
//! a fixed, documented, tiny format with no library to track, a look-up
//! costs a few pread(2)s (the header is read once per open; the file is
//! never read whole), and it is written in one pass — which suits Postfix's
//! model of rebuilding the whole table from its source each time. The
//! rebuild goes through `util::safe_file::replace` (temp file, fsync,
//! rename, directory fsync), so readers see the old table or the new one,
//! never a half-built one, and an open reader notices the new inode on its
//! next look-up. `btree` differs from `hash` only in storing entries sorted,
//! so `postmap -s` lists them in key order, as Berkeley DB btrees do.
//!
//! A real Postfix `.db` (Berkeley DB) is not readable: it is recognised by
//! its magic number and refused with the command that rebuilds it
//! (`postmap FILE`, or `newaliases` for aliases), so a Postfix user who
//! switches sees at once what to run.

use crate::cdb;
use crate::error::MapError;
use crate::watch::Watched;
use crate::{Ctx, Map, MapKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The indexed file of the table named `name`.
pub fn db_path(name: &str) -> PathBuf {
    PathBuf::from(format!("{name}.db"))
}

pub struct IndexedMap {
    spec: String,
    fold: bool,
    file: Watched<cdb::Reader>,
}

fn damage(path: &Path, d: cdb::Damage) -> MapError {
    match d {
        // A table from a Postfix installation: say how to rebuild it.
        cdb::Damage::BerkeleyDb(kind) => {
            let source = path.with_extension("");
            let rebuild = if source.file_name().is_some_and(|n| n == "aliases") {
                "newaliases".to_string()
            } else {
                format!("postmap {}", source.display())
            };
            MapError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "a Berkeley DB {kind} file, as Postfix's postmap writes; rebuild it with \
                     mailsuite's \"{rebuild}\""
                ),
            }
        }
        cdb::Damage::Io(reason) => MapError::Lookup {
            spec: path.display().to_string(),
            reason,
        },
        cdb::Damage::Bad(reason) => MapError::Corrupt {
            path: path.to_path_buf(),
            reason,
        },
    }
}

impl IndexedMap {
    pub fn open(spec: String, name: &str, ctx: &Ctx) -> Result<IndexedMap, MapError> {
        let file = Watched::new(
            db_path(name),
            true,
            Box::new(|path, f| cdb::Reader::new(f).map_err(|d| damage(path, d))),
        )?;
        Ok(IndexedMap {
            spec,
            fold: ctx.fold_case,
            file,
        })
    }
}

impl Map for IndexedMap {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let r = self.file.current()?;
        let key = if self.fold {
            key.to_lowercase()
        } else {
            key.to_string()
        };
        Ok(r.get(key.as_bytes())
            .map_err(|d| damage(self.file.path(), d))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn entries(&self) -> Result<Vec<(String, String)>, MapError> {
        let r = self.file.current()?;
        Ok(r.entries()
            .map_err(|d| damage(self.file.path(), d))?
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect())
    }
}

/// What to do with a key that was already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// Keep the first value; warn `DB: duplicate entry: "key"` (Postfix's default).
    #[default]
    Warn,
    /// Keep the first value silently (`postmap -w`).
    Ignore,
    /// The later value replaces the earlier one silently (`postmap -r`).
    Replace,
}

/// How [`write()`] builds the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Store entries in key order (btree).
    pub sorted: bool,
    /// Permission bits of a new file; a rebuilt one keeps the old file's.
    pub mode: u32,
    pub duplicates: Duplicates,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            sorted: false,
            mode: 0o644,
            duplicates: Duplicates::Warn,
        }
    }
}

/// Writes the indexed file `db` holding `entries`, atomically (temp file,
/// fsync, rename, directory fsync). Returns the number of entries stored.
pub fn write(
    db: &Path,
    entries: Vec<(String, String)>,
    opts: &WriteOptions,
    warn: &dyn Fn(&str),
) -> Result<usize, MapError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<(String, String)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match index.get(&k) {
            Some(&i) => match opts.duplicates {
                Duplicates::Warn => {
                    warn(&format!("{}: duplicate entry: \"{k}\"", db.display()));
                }
                Duplicates::Ignore => {}
                Duplicates::Replace => kept[i].1 = v,
            },
            None => {
                index.insert(k.clone(), kept.len());
                kept.push((k, v));
            }
        }
    }
    if opts.sorted {
        kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    let bytes =
        cdb::build(kept.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))).ok_or_else(|| {
            MapError::TooLarge {
                path: db.to_path_buf(),
            }
        })?;
    util::safe_file::replace(db, &bytes, opts.mode).map_err(|source| MapError::Write {
        path: db.to_path_buf(),
        source,
    })?;
    Ok(kept.len())
}

/// The entries of an existing indexed file, for `postmap -i`; an absent
/// file has none.
pub fn read_existing(db: &Path) -> Result<Vec<(String, String)>, MapError> {
    let f = match std::fs::File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MapError::Open {
                path: db.to_path_buf(),
                indexed: true,
                source,
            })
        }
    };
    let r = cdb::Reader::new(f).map_err(|d| damage(db, d))?;
    Ok(r.entries()
        .map_err(|d| damage(db, d))?
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect())
}

/// An exclusive flock(2) on a table's source file while its database is
/// rebuilt or edited, so two postmap/postalias runs do not interleave;
/// None (after a warning) when the lock cannot be had.
pub fn lock_source(src: &Path, warn: &dyn Fn(&str)) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let f = std::fs::File::open(src).ok()?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive) {
        Ok(l) => Some(l),
        Err((_, e)) => {
            warn(&format!("lock {}: {}", src.display(), e.desc()));
            None
        }
    }
}

/// `postmap -d` and `postalias -d`: removes `keys` (lower-cased when
/// `fold`) from the indexed table `spec` (`hash:` or `btree:`), rewriting
/// its database only when one was there. True when one was.
pub fn delete_keys(
    spec: &str,
    keys: &[String],
    fold: bool,
    warn: &dyn Fn(&str),
) -> Result<bool, MapError> {
    let (t, name) = crate::split_spec(spec)?;
    let sorted = match t {
        "hash" => false,
        "btree" => true,
        _ => {
            return Err(MapError::Unsupported {
                spec: spec.to_string(),
                operation: "delete".into(),
            })
        }
    };
    let db = db_path(name);
    let _lock = lock_source(Path::new(name), warn);
    if let Err(source) = std::fs::metadata(&db) {
        return Err(MapError::Open {
            path: db,
            indexed: true,
            source,
        });
    }
    let mut entries = read_existing(&db)?;
    let before = entries.len();
    for k in keys {
        let k = if fold { k.to_lowercase() } else { k.clone() };
        if let Some(i) = entries.iter().position(|(ek, _)| *ek == k) {
            entries.remove(i);
        }
    }
    if entries.len() == before {
        return Ok(false);
    }
    let opts = WriteOptions {
        sorted,
        mode: 0o644,
        duplicates: Duplicates::Ignore,
    };
    write(&db, entries, &opts, warn)?;
    Ok(true)
}

/// `type:name` for a command-line table argument, with `default_type`
/// (default_database_type) when it names no type, as postmap and
/// postalias take them.
pub fn spec_with_default(arg: &str, default_type: &str) -> String {
    if arg.contains(':') {
        arg.to_string()
    } else {
        format!("{default_type}:{arg}")
    }
}

/// Why a type cannot be built in bulk (postmap/postalias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkError {
    /// A type this build has that is not built from a text file (SQL, cidr…).
    NotBulk(String),
    /// A type this build does not know.
    Unknown(String),
}

/// Whether a bulk-built type is sorted (btree) or not (hash).
pub fn bulk_sorted(type_name: &str) -> Result<bool, BulkError> {
    match type_name {
        "hash" => Ok(false),
        "btree" => Ok(true),
        t if crate::TYPES.contains(&t) => Err(BulkError::NotBulk(t.to_string())),
        t => Err(BulkError::Unknown(t.to_string())),
    }
}
