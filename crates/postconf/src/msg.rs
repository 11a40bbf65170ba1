//! Messages in Postfix's form (`postconf: warning: …`, `postconf: fatal: …`)
//! and the fatal error that `main` turns into an exit status.

use util::sysexits;

/// A reason to stop, with the sysexits.h status to stop with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub code: i32,
    pub message: String,
}

impl Fatal {
    /// Bad flags or arguments.
    pub fn usage(message: impl Into<String>) -> Fatal {
        Fatal {
            code: sysexits::EX_USAGE,
            message: message.into(),
        }
    }

    /// A configuration file that does not parse or check.
    pub fn config(e: &params::ConfigError) -> Fatal {
        let code = if e.message.starts_with("cannot read") {
            sysexits::EX_NOINPUT
        } else {
            sysexits::EX_CONFIG
        };
        Fatal {
            code,
            message: e.to_string(),
        }
    }

    /// A configuration error not tied to a parsed file.
    pub fn config_text(message: impl Into<String>) -> Fatal {
        Fatal {
            code: sysexits::EX_CONFIG,
            message: message.into(),
        }
    }

    /// A file that could not be written.
    pub fn io(message: impl Into<String>) -> Fatal {
        Fatal {
            code: sysexits::EX_IOERR,
            message: message.into(),
        }
    }
}

/// Prints `postconf: warning: text` on stderr.
pub fn warn(text: &str) {
    eprintln!("postconf: warning: {text}");
}

/// Prints `postconf: fatal: text` on stderr.
pub fn fatal(text: &str) {
    eprintln!("postconf: fatal: {text}");
}
