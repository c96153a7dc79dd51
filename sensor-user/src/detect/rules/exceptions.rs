//! Structured exceptions: allow entries a site adds without touching a rule's logic.
//! Each keeps a hit counter so dead exceptions are visible.

use std::sync::atomic::{AtomicU64, Ordering};

use globset::GlobSet;

use super::facts::Facts;

/// A compiled exception. Every field that is set must match; within a field, any item.
#[derive(Debug)]
pub struct Exception {
    pub name: String,
    pub executables: Option<GlobSet>,
    pub files: Option<GlobSet>,
    pub users: Option<Vec<u32>>,
    pub parent_executables: Option<GlobSet>,
    pub ancestors: Option<GlobSet>,
    pub hits: AtomicU64,
}

impl Exception {
    /// True (and counted) when the event is covered by this exception.
    pub fn check(&self, f: &Facts<'_>) -> bool {
        let ok = self.executables.as_ref().is_none_or(|g| g.is_match(f.executable))
            && self.files.as_ref().is_none_or(|g| f.paths.iter().any(|p| g.is_match(p)))
            && self
                .users
                .as_ref()
                .is_none_or(|u| u.contains(&f.uid) || f.loginuid.is_some_and(|l| u.contains(&l)))
            && self.parent_executables.as_ref().is_none_or(|g| g.is_match(f.parent_executable))
            && self.ancestors.as_ref().is_none_or(|g| f.ancestors.iter().any(|a| g.is_match(a)));
        if ok {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// uid of a user name from /etc/passwd.
pub fn uid_of(name: &str) -> Option<u32> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name)).then(|| f.nth(1)?.parse().ok()).flatten()
    })
}
