//! The store index: every existing file the rules watch, by (device, inode). It lets a
//! store opened through a hard link, a bind mount or another mount namespace still be
//! recognised, and it fills the kernel's watched-inode map.

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use globset::{Glob, GlobMatcher};
use sensor_common::InodeKey;

/// Directory levels a `**` may descend while scanning.
const MAX_STAR_DEPTH: usize = 8;
/// Directories read in one scan, at most.
const MAX_DIRS: usize = 50_000;
/// Files indexed, at most.
const MAX_FILES: usize = 60_000;

/// Converts a userspace `st_dev` to the kernel's `s_dev` encoding (major<<20 | minor).
pub fn kernel_dev(st_dev: u64) -> u32 {
    let major = libc::major(st_dev);
    let minor = libc::minor(st_dev);
    (major << 20) | (minor & 0xfffff)
}

/// Watched files by identity.
#[derive(Debug, Default, Clone)]
pub struct StoreIndex {
    by_inode: HashMap<InodeKey, Vec<String>>,
    /// Directories read by the last scan (for the state event).
    pub dirs_scanned: usize,
    /// The scan stopped at a size limit.
    pub limited: bool,
}

impl StoreIndex {
    /// Finds every existing file matching `patterns` (absolute globs, or `**/...` meaning
    /// under any home directory).
    pub fn scan(patterns: &[String], homes: &[PathBuf]) -> Self {
        let mut idx = StoreIndex::default();
        let mut seen_roots = HashSet::new();
        for pat in patterns {
            let roots: Vec<(PathBuf, &str)> = if let Some(rest) = pat.strip_prefix("**/") {
                homes.iter().map(|h| (h.clone(), rest)).collect()
            } else if let Some(rest) = pat.strip_prefix('/') {
                vec![(PathBuf::from("/"), rest)]
            } else {
                continue;
            };
            for (root, rest) in roots {
                if !seen_roots.insert((root.clone(), rest.to_string())) {
                    continue;
                }
                let comps: Vec<&str> = rest.split('/').filter(|c| !c.is_empty()).collect();
                idx.expand(&root, &comps, MAX_STAR_DEPTH);
            }
        }
        idx
    }

    fn expand(&mut self, base: &Path, comps: &[&str], star_budget: usize) {
        if self.dirs_scanned >= MAX_DIRS || self.len_paths() >= MAX_FILES {
            self.limited = true;
            return;
        }
        let Some((first, rest)) = comps.split_first() else {
            self.add_file(base);
            return;
        };
        if *first == "**" {
            self.expand(base, rest, star_budget);
            if star_budget == 0 {
                return;
            }
            for dir in self.subdirs(base) {
                self.expand(&dir, comps, star_budget - 1);
            }
        } else if first.contains(['*', '?', '[', '{']) {
            let Some(m) = component_matcher(first) else { return };
            for entry in self.entries(base) {
                if entry.file_name().is_some_and(|n| m.is_match(n)) {
                    self.expand(&entry, rest, star_budget);
                }
            }
        } else {
            let next = base.join(first);
            if rest.is_empty() || next.is_dir() {
                self.expand(&next, rest, star_budget);
            }
        }
    }

    fn entries(&mut self, dir: &Path) -> Vec<PathBuf> {
        self.dirs_scanned += 1;
        std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    }

    fn subdirs(&mut self, dir: &Path) -> Vec<PathBuf> {
        // Only real directories: following symlinks here could loop.
        self.entries(dir).into_iter().filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir())).collect()
    }

    fn add_file(&mut self, path: &Path) {
        // Follows symlinks: the identity is the file the link points at.
        let Ok(meta) = std::fs::metadata(path) else { return };
        if !meta.is_file() {
            return;
        }
        let key = InodeKey { dev: kernel_dev(meta.dev()), _pad0: 0, ino: meta.ino() };
        self.add(key, path.to_string_lossy().into_owned());
    }

    /// Records `path` as a name of the store with identity `key`.
    pub fn add(&mut self, key: InodeKey, path: String) -> bool {
        let paths = self.by_inode.entry(key).or_default();
        if paths.contains(&path) {
            return false;
        }
        paths.push(path);
        true
    }

    /// Paths under which the store `key` was found.
    pub fn paths(&self, key: &InodeKey) -> &[String] {
        self.by_inode.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn contains(&self, key: &InodeKey) -> bool {
        self.by_inode.contains_key(key)
    }

    pub fn keys(&self) -> HashSet<InodeKey> {
        self.by_inode.keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.by_inode.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_inode.is_empty()
    }

    fn len_paths(&self) -> usize {
        self.by_inode.values().map(Vec::len).sum()
    }
}

fn component_matcher(comp: &str) -> Option<GlobMatcher> {
    Glob::new(comp).ok().map(|g| g.compile_matcher())
}

/// Home directories of people: root's, those of /etc/passwd users with uid ≥ 1000
/// (`UID_MIN`), and everything under /home. Service accounts' homes (/var/lib/…) are
/// left out of the scan; their stores are still caught by name in the kernel.
pub fn home_dirs() -> Vec<PathBuf> {
    let mut homes: Vec<PathBuf> = vec![PathBuf::from("/root")];
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            let uid = f.get(2).and_then(|u| u.parse::<u32>().ok());
            if let (Some(uid), Some(home)) = (uid, f.get(5))
                && (uid == 0 || (1000..65534).contains(&uid))
                && home.len() > 1
            {
                homes.push(PathBuf::from(home));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/home") {
        homes.extend(rd.flatten().map(|e| e.path()));
    }
    homes.retain(|h| h.is_dir());
    homes.sort();
    homes.dedup();
    homes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_stores_under_homes_and_absolute_globs() {
        let tmp = std::env::temp_dir().join(format!("tw-stores-{}", std::process::id()));
        let home = tmp.join("home/alice");
        std::fs::create_dir_all(home.join(".aws/cli/cache")).expect("mkdir");
        std::fs::write(home.join(".aws/credentials"), "x").expect("write");
        std::fs::write(home.join(".aws/cli/cache/a.json"), "x").expect("write");
        std::fs::write(home.join(".aws/cli/cache/a.txt"), "x").expect("write");
        std::fs::create_dir_all(home.join(".mozilla/firefox/p1.default")).expect("mkdir");
        std::fs::write(home.join(".mozilla/firefox/p1.default/cookies.sqlite"), "x").expect("write");
        let abs = format!("{}/etc/*.conf", tmp.display());
        std::fs::create_dir_all(tmp.join("etc")).expect("mkdir");
        std::fs::write(tmp.join("etc/admin.conf"), "x").expect("write");
        let patterns = vec![
            "**/.aws/credentials".to_string(),
            "**/.aws/cli/cache/*.json".to_string(),
            "**/.mozilla/firefox/**/cookies.sqlite".to_string(),
            abs,
        ];
        let idx = StoreIndex::scan(&patterns, std::slice::from_ref(&home));
        let all: Vec<String> = idx.by_inode.values().flatten().cloned().collect();
        assert_eq!(idx.len(), 4, "found: {all:?}");
        assert!(all.iter().any(|p| p.ends_with(".aws/credentials")));
        assert!(all.iter().any(|p| p.ends_with("a.json")));
        assert!(!all.iter().any(|p| p.ends_with("a.txt")));
        assert!(all.iter().any(|p| p.ends_with("cookies.sqlite")));
        assert!(all.iter().any(|p| p.ends_with("admin.conf")));
        std::fs::remove_dir_all(&tmp).expect("cleanup");
    }

    #[test]
    fn kernel_dev_encoding() {
        // 8:1 in glibc's st_dev encoding is 0x801.
        assert_eq!(kernel_dev(0x801), (8 << 20) | 1);
    }
}
