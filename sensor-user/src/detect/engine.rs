//! Decides which opens are credential-store access by a program the rule does not
//! allow, using the kernel path and every known path of the same inode.

use std::collections::HashSet;

use sensor_common::InodeKey;

use super::{
    rules::{Facts, RuleSet},
    stores::StoreIndex,
};
use crate::{
    decode::Open,
    process::{Ancestor, Process},
};

/// Result of checking one open against the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenMatch {
    /// Indices into `RuleSet::rules()` that alert.
    pub rules: Vec<usize>,
    /// The file is a watched store (whether or not a rule alerted).
    pub watched: bool,
    /// Rules whose files cover this store (alerting or not).
    pub watching: Vec<usize>,
    /// Other paths of the same file found by the store index.
    pub store_paths: Vec<String>,
}

/// Rules plus store index.
pub struct Detector {
    pub rules: RuleSet,
    pub stores: StoreIndex,
    /// Inodes learnt from events since the last sync to the kernel map.
    pending_inodes: HashSet<InodeKey>,
    pub rule_hits: Vec<u64>,
}

impl Detector {
    pub fn new(rules: RuleSet, stores: StoreIndex) -> Self {
        let n = rules.rules().len();
        Self { rules, stores, pending_inodes: HashSet::new(), rule_hits: vec![0; n] }
    }

    /// Checks an open made by process `p` (with its ancestry).
    pub fn on_open(&mut self, open: &Open, p: &Process, ancestry: &[Ancestor]) -> OpenMatch {
        let key = InodeKey { dev: open.dev, _pad0: 0, ino: open.ino };
        let store_paths: Vec<String> =
            self.stores.paths(&key).iter().filter(|p| **p != open.path.path).cloned().collect();
        let mut candidates: Vec<&str> = Vec::with_capacity(1 + store_paths.len());
        if open.path.is_complete() {
            candidates.push(&open.path.path);
        } else if let Some(i) = open.path.path.find('/') {
            // A truncated walk still ends in the real leaf components: `**/` patterns
            // can match them.
            candidates.push(&open.path.path[i..]);
        }
        candidates.extend(store_paths.iter().map(String::as_str));
        let command_line = p.args.join(" ");
        let facts = Facts {
            paths: candidates,
            executable: &p.executable,
            name: &open.task.comm,
            command_line: &command_line,
            pid: open.task.tgid,
            uid: open.task.uid,
            euid: open.task.euid,
            loginuid: open.task.loginuid,
            sessionid: open.task.sessionid,
            parent_executable: ancestry.first().map_or("", |a| a.executable.as_str()),
            ancestors: ancestry.iter().map(|a| a.executable.as_str()).collect(),
            file_uid: open.owner_uid,
            file_write: open.flags & 3 != 0 || open.flags & libc::O_TRUNC as u32 != 0,
        };
        let watching = self.rules.watching_rules(&facts.paths);
        let rules = self.rules.alerting(&facts, &watching);
        let watched = !rules.is_empty() || !watching.is_empty();
        if watched && open.path.is_complete() && !self.stores.contains(&key) {
            // A store created after the last scan: watch its inode from now on so hard
            // links and bind mounts of it are caught too.
            self.stores.add(key, open.path.path.clone());
            self.pending_inodes.insert(key);
        }
        for &r in &rules {
            if let Some(h) = self.rule_hits.get_mut(r) {
                *h += 1;
            }
        }
        OpenMatch { rules, watched, watching, store_paths }
    }

    /// Takes the inodes learnt since the last call.
    pub fn take_pending_inodes(&mut self) -> bool {
        let any = !self.pending_inodes.is_empty();
        self.pending_inodes.clear();
        any
    }
}
