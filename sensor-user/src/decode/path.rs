//! Paths recorded by the kernel's dentry walk.

use sensor_common::{MAX_DEPTH, NAME_LEN, PATH_NAME_TRUNCATED, PATH_READ_ERROR, PATH_TRUNCATED, PathRec};

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
        Self::from_names(rec.depth, rec.flags, rec.names.as_flattened())
    }

    /// Builds the path from a walk's depth, flags and names (`NAME_LEN` bytes each,
    /// leaf first; at most `names.len() / NAME_LEN` of them are read).
    pub fn from_names(depth: u32, flags: u32, names: &[u8]) -> Self {
        let depth = (depth as usize).min(MAX_DEPTH).min(names.len() / NAME_LEN);
        let truncated = flags & PATH_TRUNCATED != 0;
        let read_error = flags & PATH_READ_ERROR != 0;
        let trim = |n: &'_ [u8]| -> usize { n.iter().position(|b| *b == 0).unwrap_or(n.len()) };
        let names = names[..depth * NAME_LEN].chunks_exact(NAME_LEN);
        let mut path = String::with_capacity(names.clone().map(|n| trim(n) + 1).sum::<usize>() + 3);
        if truncated || read_error {
            path.push('…');
        }
        for name in names.rev().map(|n| &n[..trim(n)]) {
            path.push('/');
            match std::str::from_utf8(name) {
                Ok(s) => path.push_str(s),
                Err(_) => path.push_str(&String::from_utf8_lossy(name)),
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        Self { path, truncated, name_truncated: flags & PATH_NAME_TRUNCATED != 0, read_error }
    }

    /// True when the path is complete from the root.
    pub fn is_complete(&self) -> bool {
        !self.truncated && !self.read_error
    }
}
