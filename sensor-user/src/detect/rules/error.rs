//! Rule-file errors: every one carries `file:line:col`.

use std::fmt;

/// One mistake in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Every mistake found in a set of rule files (never just the first).
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors {
    pub errors: Vec<RuleError>,
}

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl RuleErrors {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A position in a rule file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn error(&self, message: impl Into<String>) -> RuleError {
        RuleError { file: self.file.clone(), line: self.line, col: self.col, message: message.into() }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}
