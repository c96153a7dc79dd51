//! Recent store reads, indexed by lineage so that a request finds the reads of its own
//! process, ancestors, descendants and siblings without scanning every read.
//!
//! Reads live in a time-ordered queue (bounded, oldest evicted first). Each read is
//! indexed under its reader's entity id, its parent's and its nearest ancestors'; a
//! repeated read of the same store by the same process refreshes the existing entry
//! instead of adding one, so an owner program that opens its store in a loop costs one
//! entry.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use super::state::{Party, Provenance};

/// Ancestors of a reader indexed (`related` looks this far in either direction).
const ANCESTORS_INDEXED: usize = 4;

pub struct Read {
    pub at: Instant,
    pub reader: Party,
    pub store: Provenance,
}

/// Sequence number of a read (position in the queue plus `first`).
type Seq = u64;

#[derive(Default)]
pub struct RecentReads {
    queue: VecDeque<Read>,
    /// Sequence number of `queue[0]`.
    first: Seq,
    /// Reads by the reader's own entity id.
    by_reader: HashMap<String, Vec<Seq>>,
    /// Reads by the reader's parent entity id (siblings share it).
    by_parent: HashMap<String, Vec<Seq>>,
    /// Reads by each of the reader's nearest ancestors (descendants of a sender).
    by_ancestor: HashMap<String, Vec<Seq>>,
    /// Latest read per (reader, store path).
    latest: HashMap<(String, String), Seq>,
    pub evicted: u64,
}

impl RecentReads {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    fn get(&self, seq: Seq) -> Option<&Read> {
        self.queue.get(usize::try_from(seq.checked_sub(self.first)?).ok()?)
    }

    /// Records a read; a repeat by the same process of the same store refreshes it.
    pub fn push(&mut self, reader: Party, store: Provenance, now: Instant, max: usize) {
        let key = (reader.entity_id.clone(), store.path.clone());
        if let Some(&seq) = self.latest.get(&key)
            && let Some(i) = seq.checked_sub(self.first)
            && let Some(r) = self.queue.get_mut(i as usize)
        {
            r.at = now;
            r.store = store;
            return;
        }
        while self.queue.len() >= max.max(1) {
            self.pop_oldest();
            self.evicted += 1;
        }
        let seq = self.first + self.queue.len() as u64;
        self.by_reader.entry(reader.entity_id.clone()).or_default().push(seq);
        if !reader.parent_entity.is_empty() {
            self.by_parent.entry(reader.parent_entity.clone()).or_default().push(seq);
        }
        for a in reader.ancestors.iter().take(ANCESTORS_INDEXED) {
            self.by_ancestor.entry(a.clone()).or_default().push(seq);
        }
        self.latest.insert(key, seq);
        self.queue.push_back(Read { at: now, reader, store });
    }

    fn pop_oldest(&mut self) {
        if let Some(r) = self.queue.pop_front() {
            self.first += 1;
            self.unindex(self.first - 1, &r);
        }
    }

    fn unindex(&mut self, seq: Seq, r: &Read) {
        let drop_seq = |m: &mut HashMap<String, Vec<Seq>>, k: &str| {
            if let Some(v) = m.get_mut(k) {
                v.retain(|s| *s != seq);
                if v.is_empty() {
                    m.remove(k);
                }
            }
        };
        drop_seq(&mut self.by_reader, &r.reader.entity_id);
        drop_seq(&mut self.by_parent, &r.reader.parent_entity);
        for a in r.reader.ancestors.iter().take(ANCESTORS_INDEXED) {
            drop_seq(&mut self.by_ancestor, a);
        }
        let key = (r.reader.entity_id.clone(), r.store.path.clone());
        if self.latest.get(&key) == Some(&seq) {
            self.latest.remove(&key);
        }
    }

    /// Drops reads older than `window` from the front of the queue. A refreshed read
    /// keeps its place, so some may outlive the window a little: callers check `at`.
    pub fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(r) = self.queue.front() {
            if now.duration_since(r.at) <= window {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Reads within `window` by the sender itself, its ancestors, its descendants or
    /// its siblings, newest first.
    pub fn related(&self, sender: &Party, now: Instant, window: Duration) -> Vec<&Read> {
        let mut seqs: Vec<Seq> = Vec::new();
        let mut add = |v: Option<&Vec<Seq>>| seqs.extend(v.into_iter().flatten().copied());
        add(self.by_reader.get(&sender.entity_id));
        if !sender.parent_entity.is_empty() {
            add(self.by_parent.get(&sender.parent_entity));
        }
        for a in sender.ancestors.iter().take(ANCESTORS_INDEXED) {
            add(self.by_reader.get(a));
        }
        add(self.by_ancestor.get(&sender.entity_id));
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        seqs.into_iter().filter_map(|s| self.get(s)).filter(|r| now.duration_since(r.at) <= window).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: &str, parent: &str, ancestors: &[&str]) -> Party {
        Party {
            pid: 1,
            entity_id: id.into(),
            executable: "/usr/bin/cat".into(),
            uid: 1000,
            loginuid: Some(1000),
            sessionid: Some(1),
            ancestors: ancestors.iter().map(|s| s.to_string()).collect(),
            parent_entity: parent.into(),
        }
    }

    fn store(path: &str) -> Provenance {
        Provenance { path: path.into(), owner_uid: 1000, rule_id: "r".into(), kind: "store", endpoint: None }
    }

    const W: Duration = Duration::from_secs(600);

    #[test]
    fn finds_self_ancestor_descendant_and_sibling_reads_only() {
        let mut r = RecentReads::default();
        let now = Instant::now();
        r.push(party("shell", "sshd", &["sshd"]), store("/a"), now, 100);
        r.push(party("cat", "shell", &["shell", "sshd"]), store("/b"), now, 100);
        r.push(party("stranger", "cron", &["cron"]), store("/c"), now, 100);
        let curl = party("curl", "shell", &["shell", "sshd"]);
        let paths: Vec<&str> = r.related(&curl, now, W).iter().map(|x| x.store.path.as_str()).collect();
        assert_eq!(paths, ["/b", "/a"], "sibling cat and ancestor shell, newest first; never the stranger");
        let sshd = party("sshd", "init", &["init"]);
        assert_eq!(r.related(&sshd, now, W).len(), 2, "descendants of the sender");
    }

    #[test]
    fn repeats_refresh_and_the_bound_evicts_the_oldest() {
        let mut r = RecentReads::default();
        let t0 = Instant::now();
        for _ in 0..1000 {
            r.push(party("aws", "shell", &["shell"]), store("/creds"), t0, 3);
        }
        assert_eq!(r.len(), 1, "one entry per process and store");
        for i in 0..5 {
            r.push(party(&format!("p{i}"), "shell", &["shell"]), store("/x"), t0, 3);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.evicted, 3);
        let me = party("p9", "shell", &["shell"]);
        assert_eq!(r.related(&me, t0, W).len(), 3, "evicted reads are gone from every index");
        r.expire(t0 + W + Duration::from_secs(1), W);
        assert_eq!(r.len(), 0);
        assert!(r.related(&me, t0, W).is_empty());
    }
}
