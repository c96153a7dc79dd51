//! Rule files: YAML (`tokenwarden_rules: 1`) → validated, compiled [`RuleSet`].
//! Every mistake is reported as `file:line:col: message`, all of them at once.
//! The format is documented in `rules/README.md`.

mod compile;
pub mod cond;
mod error;
mod exceptions;
pub mod facts;
mod kfilter;
mod model;
mod parse;
mod source;
pub mod testcases;
mod yaml;

use std::path::{Path, PathBuf};

pub use compile::RuleSet;
pub use error::{Pos, RuleError, RuleErrors};
pub use facts::{Facts, Field};
pub use kfilter::{
    KernelFilter, MAX_ANCESTOR_DEPTH, NameMatch, POS_FOREIGN_OWNER, POS_SUFFIX, foreign_only, pattern_names,
};
pub use model::{EventKind, OUTPUT_FIELDS, Rule, Severity};

/// A rule file's text and the name errors use for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// The default pack, embedded at build time.
pub fn embedded_default() -> Source {
    Source { name: "rules/default.yaml".into(), text: include_str!("../../../../rules/default.yaml").into() }
}

fn io_error(path: &Path, e: &std::io::Error) -> RuleError {
    RuleError { file: path.display().to_string(), line: 1, col: 1, message: format!("cannot read: {e}") }
}

fn is_rule_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.ends_with(".test.yaml")
        && !name.starts_with('.')
}

/// Reads rule files and directories (their `*.yaml`/`*.yml` files sorted by name,
/// skipping `*.test.yaml`), in the order given.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Source>, RuleErrors> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let mut read = |p: &Path, errors: &mut Vec<RuleError>| match std::fs::read_to_string(p) {
        Ok(text) => sources.push(Source { name: p.display().to_string(), text }),
        Err(e) => errors.push(io_error(p, &e)),
    };
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> =
                        rd.flatten().map(|e| e.path()).filter(|p| p.is_file() && is_rule_file(p)).collect();
                    files.sort();
                    for f in files {
                        read(&f, &mut errors);
                    }
                }
                Err(e) => errors.push(io_error(path, &e)),
            }
        } else {
            read(path, &mut errors);
        }
    }
    if errors.is_empty() { Ok(sources) } else { Err(RuleErrors { errors }) }
}

#[cfg(test)]
mod test_util {
    use super::Source;

    pub fn src(name: &str, text: &str) -> Source {
        Source { name: name.into(), text: text.into() }
    }

    /// Asserts that some error starts with `prefix` (`file:line:col:`) and mentions `needle`.
    pub fn has(errs: &[String], prefix: &str, needle: &str) {
        assert!(
            errs.iter().any(|e| e.starts_with(prefix) && e.contains(needle)),
            "no error starting with {prefix:?} containing {needle:?} in {errs:#?}"
        );
    }
}
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_layers;
