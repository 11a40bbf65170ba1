//! The man pages in `man/` are generated: from the parameter registry
//! (`mailsuite-postconf.5`) and from the `//!` block that opens each
//! program's `main.rs`. This test renders them and compares; with
//! `UPDATE_MAN=1` (what `scripts/gen-man` runs) it writes them instead.

use params::man;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `//!` lines at the top of `path`, without their `//! ` prefix.
fn doc_header(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = String::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("//!") else {
            break;
        };
        out.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        out.push('\n');
    }
    out
}

/// Programs that run under the master (section 8); other programs are commands (section 1).
const DAEMONS: &[&str] = &[
    "master",
    "smtpd",
    "cleanup",
    "qmgr",
    "pickup",
    "local",
    "virtual",
    "smtp",
    "lmtp",
    "bounce",
    "pop3d",
    "imapd",
    "auth",
    "showq",
    "postdrop",
    "proxymap",
    "anvil",
    "verify",
    "pipe",
    "spawn",
    "postscreen",
];

/// Every generated page: file name under `man/` and its text. A program is
/// any crate whose `src/main.rs` opens with a `//! NAME` block.
fn pages() -> Vec<(String, String)> {
    let mut out = vec![("mailsuite-postconf.5".to_string(), man::postconf_5())];
    let mut programs: Vec<(String, PathBuf)> = Vec::new();
    for krate in std::fs::read_dir(workspace().join("crates"))
        .expect("crates/")
        .flatten()
    {
        let name = krate.file_name().to_string_lossy().into_owned();
        programs.push((name, krate.path().join("src/main.rs")));
        // Extra binaries of a crate (src/bin/NAME.rs).
        if let Ok(bins) = std::fs::read_dir(krate.path().join("src/bin")) {
            for b in bins.flatten() {
                if let Some(stem) = b.path().file_stem() {
                    programs.push((stem.to_string_lossy().into_owned(), b.path()));
                }
            }
        }
    }
    programs
        .retain(|(_, main)| std::fs::read_to_string(main).is_ok_and(|t| t.starts_with("//! NAME")));
    programs.sort();
    for (name, main) in programs {
        let section = if DAEMONS.contains(&name.as_str()) {
            8
        } else {
            1
        };
        out.push((
            format!("{name}.{section}"),
            man::from_doc_header(&name, section, &doc_header(&main)),
        ));
    }
    out
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = workspace().join("man");
    let update = std::env::var_os("UPDATE_MAN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, text) in pages() {
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).expect("create man/");
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, &text)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run scripts/gen-man"
    );
}

#[test]
fn program_pages_have_the_postfix_sections() {
    for (file, text) in pages().into_iter().skip(1) {
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "SECURITY", "FILES"] {
            assert!(
                text.contains(&format!(".SH \"{heading}\"\n")),
                "{file}: no {heading}"
            );
        }
        let name = file.split('.').next().unwrap_or_default();
        assert!(
            text.contains(&format!(".SH \"NAME\"\n{name} \\- ")),
            "{file}: NAME must read \"{name} - summary\""
        );
    }
}
