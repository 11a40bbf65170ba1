//! Configuration errors that name the file, the line and the parameter.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line number, when the error belongs to a line.
    pub line: Option<usize>,
    pub param: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            line,
            param: param.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(f, ": ")?;
        if let Some(p) = &self.param {
            write!(f, "parameter {p}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}
