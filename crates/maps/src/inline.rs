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

/// Postfix's extpar(): the text inside the `{ … }` that `s` (trimmed)
/// is, trimmed. Err, in Postfix's words, when `s` does not start with `{`,
/// the brace is not closed, or text follows the brace that closes it.
pub fn extpar(s: &str) -> Result<&str, String> {
    let t = trim_blanks(s);
    if !t.starts_with('{') {
        return Err(format!("no '{{' at start of text in \"{t}\""));
    }
    let mut level = 0usize;
    for (i, c) in t.char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    if i + 1 != t.len() {
                        return Err(format!("syntax error after '}}' in \"{t}\""));
                    }
                    return Ok(trim_blanks(&t[1..i]));
                }
            }
            _ => {}
        }
    }
    Err(format!("missing '}}' in \"{t}\""))
}

/// The rules of a pattern table written inline, `{ {rule}, {rule} … }`,
/// one per line, as Postfix 3.7 reads them: every rule in its own braces.
pub fn braced_rules(name: &str) -> Result<String, String> {
    let mut text = String::new();
    for item in split_list(extpar(name)?) {
        text.push_str(extpar(&item)?);
        text.push('\n');
    }
    Ok(text)
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
        if !trim_blanks(name).starts_with('{') {
            return Err(need("bad syntax"));
        }
        let inner = extpar(name).map_err(|_| need("bad syntax"))?;
        let mut m = InlineMap {
            spec: spec.clone(),
            fold: ctx.fold_case,
            index: HashMap::new(),
            entries: Vec::new(),
        };
        for item in split_list(inner) {
            let item = if item.starts_with('{') {
                extpar(&item).map_err(|e| need(&e))?
            } else {
                &item
            };
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
        if m.entries.is_empty() {
            return Err(need("empty table"));
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
    pub fn open(spec: String, name: &str) -> Result<StaticMap, MapError> {
        let value = if name.starts_with('{') {
            extpar(name).map_err(|e| MapError::BadSpec {
                spec: spec.clone(),
                reason: format!("bad static:name syntax: {e}"),
            })?
        } else {
            name
        };
        Ok(StaticMap {
            value: value.to_string(),
            spec,
        })
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
    fn braces_must_balance_as_in_postfix() {
        let ctx = Ctx::new().with_warn(|_| {});
        let err = |spec: &str| open(spec, &ctx).err().map(|e| e.to_string());
        // Stray text after a closing brace was taken into a value.
        assert_eq!(
            err("inline:{a=b}}").as_deref(),
            Some("bad syntax: \"inline:{a=b}}\"; need \"inline:{name=value...}\"")
        );
        assert!(err("inline:{a=b}{c=d}").is_some());
        assert_eq!(
            err("inline:{ {a=b}x }").as_deref(),
            Some("syntax error after '}' in \"{a=b}x\": \"inline:{ {a=b}x }\"; need \"inline:{name=value...}\"")
        );
        assert_eq!(
            err("inline:{ {a=b }").as_deref(),
            Some("bad syntax: \"inline:{ {a=b }\"; need \"inline:{name=value...}\"")
        );
        assert_eq!(
            err("inline:{ }").as_deref(),
            Some("empty table: \"inline:{ }\"; need \"inline:{name=value...}\"")
        );
        let m = open("inline:{a={b}, {c = {d e}}}", &ctx).unwrap();
        assert_eq!(m.lookup("a").unwrap().as_deref(), Some("{b}"));
        assert_eq!(m.lookup("c").unwrap().as_deref(), Some("{d e}"));
        assert_eq!(
            err("static:{a}x").as_deref(),
            Some("bad static:name syntax: syntax error after '}' in \"{a}x\"")
        );
        assert_eq!(
            err("static:{ a b").as_deref(),
            Some("bad static:name syntax: missing '}' in \"{ a b\"")
        );
        let m = open("static:a}", &ctx).unwrap();
        assert_eq!(m.lookup("k").unwrap().as_deref(), Some("a}"));
        // Pattern tables written inline: each rule in its own braces.
        assert_eq!(
            err("regexp:{ {/a/ b}} }").as_deref(),
            Some("regexp map: syntax error after '}' in \"{ {/a/ b}} }\"")
        );
        assert_eq!(
            err("pcre:{ /a/ b }").as_deref(),
            Some("pcre map: no '{' at start of text in \"/a/\"")
        );
        assert_eq!(
            err("cidr:{ {1.2.3.4 b }").as_deref(),
            Some("cidr map: missing '}' in \"{ {1.2.3.4 b }\"")
        );
        let m = open("regexp:{ {/a/ {b}}, {/c/ d} }", &ctx).unwrap();
        assert_eq!(m.lookup("a").unwrap().as_deref(), Some("{b}"));
        assert_eq!(m.lookup("c").unwrap().as_deref(), Some("d"));
        let m = open("cidr:{{10.0.0.0/8 ten}}", &ctx).unwrap();
        assert_eq!(m.lookup("10.1.2.3").unwrap().as_deref(), Some("ten"));
        assert!(open("regexp:{ }", &ctx).is_ok());
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
