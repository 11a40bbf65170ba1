//! Tables whose values are files (Postfix's `postmap -F`, its
//! `DICT_FLAG_SRC_RHS_IS_FILE`), such as `tls_server_sni_maps`: each value
//! names files whose contents, one after the other, are what the key finds.
//!
//! An indexed table (`hash`, `btree`) built with `postmap -F` holds the
//! contents already, base64-encoded. A `texthash` or `inline` table holds
//! the file names (separated by whitespace or commas), read when the table
//! is loaded. Either way the whole table is loaded at once, while the
//! program may still read the files (before it drops its privileges).

use crate::error::MapError;
use crate::{split_list, split_spec, Ctx};
use std::path::PathBuf;

/// The contents of the files `value` names, one after the other.
pub fn read_named(value: &str) -> Result<Vec<u8>, MapError> {
    let mut content = Vec::new();
    let names = split_list(value);
    if names.is_empty() {
        return Err(MapError::BadSpec {
            spec: value.to_string(),
            reason: "no file names".into(),
        });
    }
    for name in names {
        let path = PathBuf::from(&name);
        let bytes = std::fs::read(&path).map_err(|source| MapError::Open {
            path,
            indexed: false,
            source,
        })?;
        content.extend_from_slice(&bytes);
    }
    Ok(content)
}

/// Every entry of the file-valued table `spec` with its contents. Only
/// the types above can be listed this way.
pub fn entries(spec: &str, ctx: &Ctx) -> Result<Vec<(String, Vec<u8>)>, MapError> {
    // Read here, not through proxymap (which cannot read the files).
    let mut spec = spec.trim();
    while let Some(inner) = spec.strip_prefix("proxy:") {
        spec = inner;
    }
    let (table_type, _) = split_spec(spec)?;
    let encoded = match table_type {
        "hash" | "btree" => true,
        "texthash" | "inline" => false,
        _ => {
            return Err(MapError::Unsupported {
                spec: spec.to_string(),
                operation: "file-valued (postmap -F) lookup".into(),
            })
        }
    };
    let table = crate::open(spec, ctx)?;
    table
        .entries()?
        .into_iter()
        .map(|(key, value)| {
            let content = if encoded {
                util::base64::decode(value.trim()).ok_or_else(|| MapError::Lookup {
                    spec: spec.to_string(),
                    reason: format!("{key}: the value is not base64 (build it with postmap -F)"),
                })?
            } else {
                read_named(&value)?
            };
            Ok((key, content))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tables_name_files_and_indexed_ones_hold_them() {
        let d = std::env::temp_dir().join(format!("maps-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join("a.pem"), b"AAA\n").expect("a");
        std::fs::write(d.join("b.pem"), b"BBB\n").expect("b");
        let ctx = Ctx::new();
        let spec = format!(
            "inline:{{ {{mail.example = {0}/a.pem, {0}/b.pem}} }}",
            d.display()
        );
        assert_eq!(
            entries(&spec, &ctx).expect("inline"),
            vec![("mail.example".to_string(), b"AAA\nBBB\n".to_vec())]
        );
        let missing = format!("inline:{{ x.example={}/none.pem }}", d.display());
        let got = entries(&missing, &ctx);
        assert!(matches!(got, Err(MapError::Open { .. })), "{got:?}");
        assert!(matches!(
            entries("regexp:{ {/x/ y} }", &ctx),
            Err(MapError::Unsupported { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
