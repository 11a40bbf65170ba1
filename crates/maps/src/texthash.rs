//! `texthash:/path`: the postmap source file itself, read into memory at
//! open (and again when it changes), no indexed file needed. Duplicate
//! keys keep the first value, with Postfix's warning.

use crate::error::MapError;
use crate::source::{self, Reader};
use crate::watch::Watched;
use crate::{Ctx, Map, MapKind};
use std::collections::HashMap;
use std::io::Read;

struct Table {
    index: HashMap<String, usize>,
    entries: Vec<(String, String)>,
}

pub struct TexthashMap {
    spec: String,
    fold: bool,
    file: Watched<Table>,
}

impl TexthashMap {
    pub fn open(spec: String, name: &str, ctx: &Ctx) -> Result<TexthashMap, MapError> {
        let fold = ctx.fold_case;
        let c = ctx.clone();
        let file = Watched::new(
            name.into(),
            false,
            Box::new(move |path, mut f| {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).map_err(|source| MapError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let text = String::from_utf8_lossy(&bytes);
                let name = path.display().to_string();
                let warn = |s: &str| c.warn(s);
                let mut t = Table {
                    index: HashMap::new(),
                    entries: Vec::new(),
                };
                source::parse_each(&text, &name, fold, Reader::Texthash, &warn, &mut |e| {
                    if t.index.contains_key(&e.key) {
                        warn(&format!(
                            "{name}, line {}: duplicate entry: \"{}\"",
                            e.line, e.key
                        ));
                        return;
                    }
                    t.index.insert(e.key.clone(), t.entries.len());
                    t.entries.push((e.key, e.value));
                });
                Ok(t)
            }),
        )?;
        Ok(TexthashMap { spec, fold, file })
    }
}

impl Map for TexthashMap {
    fn spec(&self) -> &str {
        &self.spec
    }

    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }

    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let t = self.file.current()?;
        let found = if self.fold {
            t.index.get(&key.to_lowercase())
        } else {
            t.index.get(key)
        };
        Ok(found.map(|&i| t.entries[i].1.clone()))
    }

    fn entries(&self) -> Result<Vec<(String, String)>, MapError> {
        Ok(self.file.current()?.entries.clone())
    }
}
