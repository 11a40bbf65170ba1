//! `postconf -b [file]` and `postconf -t [file]`: the bounce templates
//! (bounce(5)) of `file`, or of `bounce_template_file` when none is
//! named, with the built-in ones for those it leaves out; `-t` as a
//! template file writes them, `-b` their texts with `$name` expanded as
//! the bounce daemon expands them. Problems in the file are reported as
//! the bounce daemon reports them: warnings, or a fatal error.

use crate::msg::{self, Fatal};
use crate::opts::{self, Opts};
use bounce::template::Templates;
use params::Config;
use std::io::Write;
use std::path::Path;

/// A template problem that stops the command: a missing file is
/// EX_NOINPUT, anything else EX_CONFIG.
fn fatal(e: bounce::template::Error) -> Fatal {
    let mut f = Fatal::config_text(e.0);
    if f.message.starts_with("open ") {
        f.code = util::sysexits::EX_NOINPUT;
    }
    f
}

pub fn run(o: &Opts, dir: &Path, out: &mut dyn Write) -> Result<(), Fatal> {
    let cfg = Config::load(dir, &o.overrides).map_err(|e| Fatal::config(&e))?;
    let loaded = match o.operands.first() {
        Some(file) => Templates::load(Path::new(file)),
        None => Templates::from_config(&cfg),
    }
    .map_err(fatal)?;
    for w in &loaded.warnings {
        msg::warn(w);
    }
    let text = if o.has(opts::BOUNCE_DUMP) {
        loaded.templates.dump()
    } else {
        let (text, warnings) = loaded.templates.expand_all(&cfg).map_err(fatal)?;
        for w in &warnings {
            msg::warn(w);
        }
        text
    };
    crate::write_out(out, &text)
}
