//! The crate's error and warning types.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::Location;
use crate::time::TimeError;
use crate::value::ValueError;
use crate::vars::ExpandError;

/// One located problem: `file:line:col: message`, the source line, a caret under the column,
/// and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong, in Dovecot's words where Dovecot has them.
    pub message: String,
    /// What the parser expected at that position, if that helps.
    pub expected: Option<String>,
    /// The source line, without its line break.
    pub source_line: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        let line = self.source_line.replace('\t', " ");
        let caret_at = usize::try_from(self.location.column.saturating_sub(1)).unwrap_or(0);
        write!(f, "\n  | {line}\n  | {}^", " ".repeat(caret_at))?;
        if let Some(expected) = &self.expected {
            write!(f, " expected {expected}")?;
        }
        Ok(())
    }
}

/// Something Dovecot accepts (or silently ignores) but that is probably not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where, when it concerns one line.
    pub location: Option<Location>,
    /// What to tell the operator.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything that can go wrong loading or using a configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The top-level configuration file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration has syntax or include errors, each with its position.
    #[error("{}", join_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    /// A `key = <file` value whose file cannot be read.
    #[error("{location}: {key}: Can't open file {}: {source}", path.display())]
    ValueFile {
        /// The setting.
        key: String,
        /// The file named after `<`.
        path: PathBuf,
        /// Where the setting was written.
        location: Location,
        /// Why.
        source: std::io::Error,
    },
    /// A `%` variable that cannot be expanded in a setting.
    #[error("{location}: {key}: {source}")]
    Expand {
        /// The setting.
        key: String,
        /// Where the setting was written.
        location: Location,
        /// Which variable and why.
        source: ExpandError,
    },
    /// A setting Dovecot would reject (`Unknown setting: …`, a value it refuses), with
    /// Dovecot's message.
    #[error("{location}: {message}")]
    Setting {
        /// The setting.
        key: String,
        /// Where the setting was written.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A time interval setting Dovecot would reject.
    #[error("{location}: {key}: {source}")]
    Time {
        /// The setting.
        key: String,
        /// Where the setting was written.
        location: Location,
        /// Dovecot's message.
        source: TimeError,
    },
    /// A typed setting ([`crate::types::TYPED_SETTINGS`]) whose value Dovecot would refuse.
    #[error("{location}: {key}: {source}")]
    Value {
        /// The setting.
        key: String,
        /// Where the setting was written.
        location: Location,
        /// Dovecot's message.
        source: ValueError,
    },
}

fn join_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The located diagnostics of an [`ConfigError::Invalid`] configuration (empty otherwise).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            _ => &[],
        }
    }
}
