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
        let names = &rec.names[..depth];
        let ends: Vec<usize> =
            names.iter().map(|n| n.iter().position(|b| *b == 0).unwrap_or(n.len())).collect();
        let mut path = String::with_capacity(ends.iter().map(|e| e + 1).sum::<usize>() + 3);
        if truncated || read_error {
            path.push('…');
        }
        for (name, &end) in names.iter().zip(&ends).rev() {
            path.push('/');
            match std::str::from_utf8(&name[..end]) {
                Ok(s) => path.push_str(s),
                Err(_) => path.push_str(&String::from_utf8_lossy(&name[..end])),
            }
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
