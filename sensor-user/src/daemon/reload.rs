//! Rule hot reload, on SIGHUP or when a rule file changes. The new set is compiled and
//! validated in full before it replaces the old one; an invalid set is reported and the
//! old rules keep running. The kernel filter is widened to old ∪ new before the swap
//! and narrowed after it, so no open either set watches is filtered out meanwhile.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash as _, Hasher as _},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::pipeline::Pipeline;
use crate::{
    detect::{
        Detector,
        rules::{self, KernelFilter, RuleErrors, RuleSet},
        session,
        stores::{StoreIndex, home_dirs},
    },
    probes::{ProbeError, Probes, filter},
};

/// Where the rules come from: files and directories, or the embedded pack.
pub struct RuleSource {
    paths: Vec<PathBuf>,
    fingerprint: u64,
}

fn stamp(h: &mut DefaultHasher, p: &Path) {
    p.hash(h);
    if let Ok(m) = std::fs::metadata(p) {
        (m.mtime(), m.mtime_nsec(), m.len(), m.ino()).hash(h);
    }
}

impl RuleSource {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let mut s = RuleSource { paths, fingerprint: 0 };
        s.fingerprint = s.compute();
        s
    }

    /// Hash of every rule file's identity, size and mtime (follows symlinks, so a
    /// Kubernetes ConfigMap's atomic symlink swap counts as a change).
    fn compute(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for p in &self.paths {
            stamp(&mut h, p);
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                entries.sort();
                for e in entries {
                    stamp(&mut h, &e);
                }
            }
        }
        h.finish()
    }

    /// True once per change of the files on disk.
    pub fn changed(&mut self) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let now = self.compute();
        let changed = now != self.fingerprint;
        self.fingerprint = now;
        changed
    }

    pub fn load(&self) -> Result<RuleSet, RuleErrors> {
        let sources = if self.paths.is_empty() {
            vec![rules::embedded_default()]
        } else {
            rules::load_paths(&self.paths)?
        };
        RuleSet::compile(&sources)
    }
}

fn union(a: &KernelFilter, b: &KernelFilter) -> KernelFilter {
    let mut u =
        KernelFilter { names: a.names.clone(), pass_all: a.pass_all || b.pass_all, unfilterable: Vec::new() };
    b.names.iter().cloned().for_each(|n| u.add_name(n));
    u
}

/// Loads the rules again and swaps them in if they are valid. Returns the state
/// document to emit (`rules-reloaded` or `rules-reload-failed`).
pub fn reload(
    pipe: &mut Pipeline,
    probes: &mut Probes,
    source: &RuleSource,
    trigger: &str,
) -> Result<Value, ProbeError> {
    let new = match source.load() {
        Ok(set) => set,
        Err(errs) => {
            pipe.counters.reloads_failed += 1;
            for e in &errs.errors {
                warn!("rule reload rejected, previous rules stay in force: {e}");
            }
            return Ok(json!({
                "action": "rules-reload-failed",
                "trigger": trigger,
                "errors": errs.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "rules_in_force": pipe.detector.rules.enabled_count(),
            }));
        }
    };
    let old_filter = session::kernel_filter(&pipe.detector.rules);
    let new_filter = session::kernel_filter(&new);
    // Widen the kernel filter first: during the swap both sets' files get through.
    filter::apply_names(probes, &union(&old_filter, &new_filter))?;
    let stores = StoreIndex::scan(&new.file_patterns(), &home_dirs());
    let mut inodes = pipe.detector.stores.keys();
    inodes.extend(stores.keys());
    filter::apply_inodes(probes, &inodes)?;
    let loaded = new.rules().len();
    let enabled = new.enabled_count();
    pipe.detector = Detector::new(new, stores);
    // Then narrow it to the new set.
    let names = filter::apply_names(probes, &new_filter)?;
    filter::apply_inodes(probes, &pipe.detector.stores.keys())?;
    pipe.counters.reloads_ok += 1;
    info!(rules = loaded, enabled, kernel_names = names, trigger, "rules reloaded");
    Ok(json!({
        "action": "rules-reloaded",
        "trigger": trigger,
        "rules": {"loaded": loaded, "enabled": enabled, "kernel_name_filters": names,
                  "kernel_pass_all": new_filter.pass_all, "unfilterable": new_filter.unfilterable},
        "stores_indexed": pipe.detector.stores.len(),
    }))
}
