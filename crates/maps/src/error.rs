//! The one error type of every table. Returned by [`crate::open`] it means
//! the table cannot be used (a configuration problem); returned by
//! [`crate::Map::lookup`] it means a temporary failure: the caller must
//! defer, never treat it as "not found".

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum MapError {
    /// The text is not `type:name` (empty `reason`), or the name does not
    /// parse for its type (`reason` is then the whole message).
    BadSpec { spec: String, reason: String },
    /// A type this build does not provide (`nis`, `ldap`, …).
    UnsupportedType { spec: String, type_name: String },
    /// A table file (the text file, or the indexed `.db` file) cannot be opened.
    Open {
        path: PathBuf,
        indexed: bool,
        source: io::Error,
    },
    /// Reading an open table file failed.
    Read { path: PathBuf, source: io::Error },
    /// Writing a rebuilt indexed file failed; the old file is unchanged.
    Write { path: PathBuf, source: io::Error },
    /// An indexed file that is not a valid table (damaged, or made by another program).
    Corrupt { path: PathBuf, reason: String },
    /// The table is too big for the indexed format (4 GiB).
    TooLarge { path: PathBuf },
    /// A lookup failed for a reason that may go away (`fail:` tables, a
    /// system call that failed).
    Lookup { spec: String, reason: String },
    /// The table type cannot do this (`operation` "sequence": list the
    /// entries of a pattern table or `unix:`; "delete": remove a key).
    Unsupported { spec: String, operation: String },
    /// A table list found an empty result, which Postfix treats as a
    /// configuration error ("should return NO RESULT in case of NOT FOUND").
    EmptyResult { title: String, key: String },
}

pub use util::strerror as io_text;

impl MapError {
    /// True when the named file does not exist.
    pub fn is_missing_file(&self) -> bool {
        matches!(self, MapError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// The sysexits.h status a table command (postmap, postalias) stops
    /// with for this error.
    pub fn exit_status(&self) -> i32 {
        use util::sysexits::*;
        match self {
            MapError::Open { .. } | MapError::Read { .. } => EX_NOINPUT,
            MapError::BadSpec { .. }
            | MapError::UnsupportedType { .. }
            | MapError::Unsupported { .. } => EX_USAGE,
            MapError::Write { .. } | MapError::TooLarge { .. } => EX_IOERR,
            MapError::Corrupt { .. } => EX_DATAERR,
            MapError::Lookup { .. } | MapError::EmptyResult { .. } => EX_TEMPFAIL,
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::BadSpec { spec, reason } if reason.is_empty() => {
                write!(f, "expecting \"type:name\" form instead of \"{spec}\"")
            }
            MapError::BadSpec { reason, .. } => f.write_str(reason),
            MapError::UnsupportedType { type_name, .. } => {
                write!(f, "unsupported dictionary type: {type_name}")
            }
            MapError::Open {
                path,
                indexed: true,
                source,
            } => write!(f, "open database {}: {}", path.display(), io_text(source)),
            MapError::Open { path, source, .. } => {
                write!(f, "open {}: {}", path.display(), io_text(source))
            }
            MapError::Read { path, source } => {
                write!(f, "read {}: {}", path.display(), io_text(source))
            }
            MapError::Write { path, source } => write!(
                f,
                "cannot update database {}: {}; the old table is unchanged",
                path.display(),
                io_text(source)
            ),
            MapError::Corrupt { path, reason } => {
                write!(f, "{}: not a valid table file: {reason}", path.display())
            }
            MapError::TooLarge { path } => write!(
                f,
                "{}: table too large for the indexed format (4 GiB)",
                path.display()
            ),
            MapError::Lookup { spec, reason } => {
                write!(f, "{spec}: table lookup problem: {reason}")
            }
            MapError::Unsupported { spec, operation } => {
                write!(f, "table {spec}: {operation} operation is not supported")
            }
            MapError::EmptyResult { title, key } => write!(
                f,
                "{title} lookup of {key} returns an empty string result; \
                 a table should return no result when a key is not found"
            ),
        }
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapError::Open { source, .. }
            | MapError::Read { source, .. }
            | MapError::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}
