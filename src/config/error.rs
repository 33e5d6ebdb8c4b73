//! Config errors: where a problem is (file, line, column, key path) and what it is.
//!
//! Owns `ConfigError`, `ConfigErrors`, and `Loc`, the position every read value carries
//! so that later checks can point at it. Never decides what is wrong; the readers and
//! `validate` do.

use std::fmt;
use std::ops::Range;

/// One problem in the configuration.
///
/// Displayed as `sitewarden.toml:23:8: device[3].unit: 300 is out of range 1..=247`.
/// Values set from the environment name the variable instead of a file
/// (`$SITEWARDEN__UPLINK__INFLIGHT: uplink.inflight: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `$VARIABLE`) the problem is in.
    pub file: String,
    /// 1-based line, when the problem has a place in a file.
    pub line: Option<usize>,
    /// 1-based column in characters.
    pub column: Option<usize>,
    /// Key path such as `device[3].unit`; empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one load, in file order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Orders the errors by file (in order of first appearance), then line and column,
    /// so a technician can walk the file top to bottom.
    pub(super) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        let mut files: Vec<String> = Vec::new();
        for e in &errors {
            if !files.contains(&e.file) {
                files.push(e.file.clone());
            }
        }
        errors.sort_by_key(|e| {
            let rank = files
                .iter()
                .position(|f| *f == e.file)
                .unwrap_or(usize::MAX);
            (rank, e.line.unwrap_or(0), e.column.unwrap_or(0))
        });
        errors.dedup();
        ConfigErrors(errors)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where a value was read: its file (or variable), position and key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) file: String,
    pub(super) line: Option<usize>,
    pub(super) column: Option<usize>,
    pub(super) key: String,
}

impl Loc {
    /// A value that came from an environment variable.
    pub(super) fn env(var: &str, key: String) -> Self {
        Loc {
            file: format!("${var}"),
            line: None,
            column: None,
            key,
        }
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            key: self.key.clone(),
            message: message.into(),
        }
    }

    /// The same place, under another key path (a default standing in for a missing key).
    pub(super) fn with_key(&self, key: String) -> Self {
        Loc {
            key,
            ..self.clone()
        }
    }
}

/// A text being read: its display name and contents, for turning byte spans into
/// line and column.
pub(super) struct Source<'t> {
    pub(super) name: String,
    pub(super) text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub(super) fn new(name: impl Into<String>, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The location of the start of `span`.
    pub(super) fn loc(&self, span: Range<usize>, key: String) -> Loc {
        let (line, column) = self.line_col(span.start);
        Loc {
            file: self.name.clone(),
            line: Some(line),
            column: Some(column),
            key,
        }
    }

    /// A location with no position (a key absent from the file).
    pub(super) fn whole(&self, key: String) -> Loc {
        Loc {
            file: self.name.clone(),
            line: None,
            column: None,
            key,
        }
    }

    /// 1-based line and character column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// A syntax error of this text as a `ConfigError`.
    pub(super) fn syntax_error(&self, error: &toml::de::Error) -> ConfigError {
        let (line, column) = match error.span() {
            Some(span) => {
                let (l, c) = self.line_col(span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let mut message = error.message().to_string();
        if message == "duplicate key"
            && let Some(key) = error.span().and_then(|s| self.text.get(s))
        {
            message = format!("duplicate key `{}`", key.trim());
        }
        ConfigError {
            file: self.name.clone(),
            line,
            column,
            key: String::new(),
            message,
        }
    }
}
