//! Paths recorded by the kernel's dentry walk.

use sensor_common::{MAX_DEPTH, PATH_NAME_TRUNCATED, PATH_READ_ERROR, PATH_TRUNCATED, PathRec};

/// A NUL-terminated byte string as (lossy) UTF-8.
pub fn cstr_lossy(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The path of a file as the kernel resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelPath {
    /// Absolute path; starts with `…/` when the walk did not reach the root.
    pub path: String,
    /// The walk stopped at its depth limit: leading components are missing.
    pub truncated: bool,
    /// A component was longer than the kernel copies.
    pub name_truncated: bool,
    /// A kernel read failed during the walk; the path is partial.
    pub read_error: bool,
}

impl KernelPath {
    /// Builds the path from the record: names are stored leaf first.
    pub fn from_rec(rec: &PathRec) -> Self {
        let depth = (rec.depth as usize).min(MAX_DEPTH);
        let truncated = rec.flags & PATH_TRUNCATED != 0;
        let read_error = rec.flags & PATH_READ_ERROR != 0;
        let mut path = String::new();
        if truncated || read_error {
            path.push('…');
        }
        for name in rec.names[..depth].iter().rev() {
            path.push('/');
            path.push_str(&cstr_lossy(name));
        }
        if path.is_empty() {
            path.push('/');
        }
        Self { path, truncated, name_truncated: rec.flags & PATH_NAME_TRUNCATED != 0, read_error }
    }

    /// True when the path is complete from the root.
    pub fn is_complete(&self) -> bool {
        !self.truncated && !self.read_error
    }
}
