//! Tables written in the parameter value itself:
//!
//! * `inline:{ key=value, { key = text with spaces }, … }` (Postfix 3.0):
//!   items separated by commas or whitespace; an item in braces may hold
//!   spaces; blanks around `=` are dropped; keys are folded like a hash
//!   table's; a repeated key keeps its first value, with a warning.
//! * `static:value` and `static:{ text with spaces }`: every key finds the
//!   value.
//!
//! Also the brace helpers shared with the pattern tables' inline form
//! (`regexp:{ {rule}, {rule} }`).

use crate::error::MapError;
use crate::lines::trim_blanks;
use crate::{split_list, Ctx, Map, MapKind};
use std::collections::HashMap;

/// The text inside `{ … }`, trimmed; None when `s` is not braced.
pub fn strip_braces(s: &str) -> Option<&str> {
    let s = trim_blanks(s);
    s.strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .map(trim_blanks)
}

/// The items of a braced list, each item's own braces removed.
pub fn items(inner: &str) -> Vec<String> {
    split_list(inner)
        .into_iter()
        .map(|i| match strip_braces(&i) {
            Some(t) => t.to_string(),
            None => i,
        })
        .collect()
}

pub struct InlineMap {
    spec: String,
    fold: bool,
    index: HashMap<String, usize>,
    entries: Vec<(String, String)>,
}

impl InlineMap {
    pub fn open(spec: String, name: &str, ctx: &Ctx) -> Result<InlineMap, MapError> {
        let need = |what: &str| MapError::BadSpec {
            spec: spec.clone(),
            reason: format!("{what}: \"{spec}\"; need \"inline:{{name=value...}}\""),
        };
        let inner = strip_braces(name).ok_or_else(|| need("bad syntax"))?;
        let mut m = InlineMap {
            spec: spec.clone(),
            fold: ctx.fold_case,
            index: HashMap::new(),
            entries: Vec::new(),
        };
        for item in items(inner) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| need("missing '=' after attribute name"))?;
            let k = trim_blanks(k);
            if k.is_empty() {
                return Err(need("missing attribute name"));
            }
            let k = if m.fold {
                k.to_lowercase()
            } else {
                k.to_string()
            };
            if m.index.contains_key(&k) {
                ctx.warn(&format!("{spec}: duplicate entry: \"{k}\""));
                continue;
            }
            m.index.insert(k.clone(), m.entries.len());
            m.entries.push((k, trim_blanks(v).to_string()));
        }
        Ok(m)
    }
}

impl Map for InlineMap {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }
    fn lookup(&self, key: &str) -> Result<Option<String>, MapError> {
        let i = if self.fold {
            self.index.get(&key.to_lowercase())
        } else {
            self.index.get(key)
        };
        Ok(i.map(|&i| self.entries[i].1.clone()))
    }
    fn entries(&self) -> Result<Vec<(String, String)>, MapError> {
        Ok(self.entries.clone())
    }
}

pub struct StaticMap {
    spec: String,
    value: String,
}

impl StaticMap {
    pub fn open(spec: String, name: &str) -> StaticMap {
        let value = strip_braces(name).unwrap_or(name).to_string();
        StaticMap { spec, value }
    }
}

impl Map for StaticMap {
    fn spec(&self) -> &str {
        &self.spec
    }
    fn kind(&self) -> MapKind {
        MapKind::Fixed
    }
    fn lookup(&self, _key: &str) -> Result<Option<String>, MapError> {
        Ok(Some(self.value.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open;

    #[test]
    fn inline_syntax_and_lookup() {
        let ctx = Ctx::new().with_warn(|_| {});
        let m = open(
            "inline:{ Key=value, { other = text with spaces },k3=v3 }",
            &ctx,
        )
        .unwrap();
        assert_eq!(m.lookup("KEY").unwrap().as_deref(), Some("value"));
        assert_eq!(
            m.lookup("other").unwrap().as_deref(),
            Some("text with spaces")
        );
        assert_eq!(m.lookup("k3").unwrap().as_deref(), Some("v3"));
        assert_eq!(m.lookup("nope").unwrap(), None);
        assert_eq!(m.entries().unwrap()[0], ("key".into(), "value".into()));
        let m = open("inline:{ Key=value }", &ctx.clone().fold(false)).unwrap();
        assert_eq!(m.lookup("key").unwrap(), None);
        assert_eq!(m.lookup("Key").unwrap().as_deref(), Some("value"));
        let e = open("inline:{k=v, bad}", &ctx).err().unwrap();
        assert_eq!(
            e.to_string(),
            "missing '=' after attribute name: \"inline:{k=v, bad}\"; need \"inline:{name=value...}\""
        );
        let e = open("inline:{k=v", &ctx).err().unwrap();
        assert_eq!(
            e.to_string(),
            "bad syntax: \"inline:{k=v\"; need \"inline:{name=value...}\""
        );
        assert!(open("inline:{ =v }", &ctx).is_err());
        // As in Postfix, blanks split items unless the item is braced.
        assert!(open("inline:{k3 = v3}", &ctx).is_err());
    }

    #[test]
    fn static_values() {
        let ctx = Ctx::new();
        let m = open("static:foo", &ctx).unwrap();
        assert_eq!(m.lookup("anything").unwrap().as_deref(), Some("foo"));
        let m = open("static:{ a b }", &ctx).unwrap();
        assert_eq!(m.lookup("k").unwrap().as_deref(), Some("a b"));
        assert!(m.entries().is_err());
    }
}
