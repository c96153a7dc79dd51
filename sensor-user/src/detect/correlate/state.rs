//! The correlator's state and rules.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{CorrelationConfig, parsers, reads::RecentReads};
use crate::detect::credentials::{Credential, Fingerprinter};

/// A process taking part in a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub pid: u32,
    pub entity_id: String,
    pub executable: String,
    pub uid: u32,
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    /// Ancestors' entity ids, nearest first.
    pub ancestors: Vec<String>,
    pub parent_entity: String,
}

impl Party {
    fn login_user(&self) -> u32 {
        self.loginuid.unwrap_or(self.uid)
    }

    fn root(&self) -> &str {
        // The session leader side of the lineage: 3 levels up, or the farthest known.
        self.ancestors.get(2).or(self.ancestors.last()).map_or(&self.entity_id, String::as_str)
    }
}

/// Where a stored secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub path: String,
    pub owner_uid: u32,
    pub rule_id: String,
    pub kind: &'static str,
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// A store read, then data sent by the same lineage.
    Exfiltration,
    /// A stored token sent by a non-owner program or to a foreign destination.
    StoredTokenMisuse,
    /// One fingerprint used by two users / sessions / lineages.
    TokenReuse,
    /// Long-lived JWT, long-term AWS key, or unbound bearer to a sensitive destination.
    WeakCredential,
}

/// A correlated alert.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: &'static str,
    pub techniques: Vec<&'static str>,
    pub reason: String,
    pub sender: Party,
    /// The process that read the store (exfiltration) or used the token before (reuse).
    pub other: Option<Party>,
    pub store: Option<Provenance>,
    pub fingerprint: Option<String>,
    pub destination: String,
    /// Times the same finding was seen in its dedup window (this one included).
    pub count: u64,
    /// Dedup key: lineage + store or token + destination.
    pub key: String,
}

struct UseSite {
    at: Instant,
    party: Party,
}

/// Counters of the correlator.
#[derive(Debug, Default, Clone)]
pub struct CorrelationCounters {
    pub stores_parsed: u64,
    pub store_parse_failures: u64,
    pub index_evictions: u64,
    pub findings: u64,
    pub deduplicated: u64,
}

/// Correlation state: the provenance index, recent reads and uses, dedup windows.
pub struct Correlator {
    cfg: CorrelationConfig,
    fp: Fingerprinter,
    index: HashMap<String, Provenance>,
    order: VecDeque<String>,
    /// What is known of each store path opened (at most `MAX_STORES`).
    stores: HashMap<String, StoreSeen>,
    reads: RecentReads,
    /// Last full sweep of the reuse and dedup tables.
    swept: Instant,
    uses: HashMap<String, Vec<UseSite>>,
    dedup: HashMap<String, (Instant, u64)>,
    /// Deduplicated findings whose window ended with repeats: (key, total count).
    summaries: Vec<(String, u64)>,
    sensitive: GlobSet,
    pub counters: CorrelationCounters,
}

/// What the correlator remembers of one store path.
#[derive(Default)]
struct StoreSeen {
    /// Last check for changes: a store opened in a loop is stat'ed at most once per
    /// `RECHECK`.
    checked: Option<Instant>,
    /// Modification time and size when it was last parsed.
    stamp: Option<(i64, u64)>,
    /// The endpoint the store itself names (kubeconfig server, netrc machine, AWS).
    endpoint: Option<String>,
    /// The last process that opened it.
    last_reader: Option<Party>,
}

const MAX_READS: usize = 10_000;
/// A store opened again within this time is not re-checked for changes.
const RECHECK: Duration = Duration::from_secs(1);
/// Stores whose endpoint and last reader are remembered, at most.
const MAX_STORES: usize = 65_536;
/// How often the reuse and dedup tables are swept for expired entries.
const SWEEP: Duration = Duration::from_secs(1);
const MAX_STORE_BYTES: u64 = 4 * 1024 * 1024;

fn host_matches(endpoint: &str, host: &str) -> bool {
    !host.is_empty() && (host == endpoint || host.ends_with(&format!(".{endpoint}")))
}

impl Correlator {
    pub fn new(cfg: CorrelationConfig, fp: Fingerprinter) -> Self {
        let mut b = GlobSetBuilder::new();
        for g in &cfg.sensitive_destinations {
            if let Ok(g) = Glob::new(g) {
                b.add(g);
            }
        }
        Self {
            sensitive: b.build().unwrap_or_else(|_| GlobSet::empty()),
            cfg,
            fp,
            index: HashMap::new(),
            order: VecDeque::new(),
            stores: HashMap::new(),
            reads: RecentReads::default(),
            swept: Instant::now(),
            uses: HashMap::new(),
            dedup: HashMap::new(),
            summaries: Vec::new(),
            counters: CorrelationCounters::default(),
        }
    }

    /// Recent reads dropped for the size bound.
    pub fn reads_evicted(&self) -> u64 {
        self.reads.evicted
    }

    pub fn index_len(&self) -> usize {
        self.index.len()
    }

    pub fn state_len(&self) -> usize {
        self.reads.len() + self.uses.len() + self.dedup.len()
    }

    /// A store was opened by process `opener` as `opened` (its path in the opener's
    /// mount namespace): (re)parse it if it changed, remember who read it. The sensor
    /// reads it through the opener's root, or by `opened` when the opener is gone.
    pub fn on_store_open(&mut self, mut store: Provenance, opener: u32, opened: &str, reader: Party) {
        let now = Instant::now();
        self.index_store(&store, opener, opened, now);
        let seen = self.seen(&store.path);
        seen.last_reader = Some(reader.clone());
        if store.endpoint.is_none() {
            store.endpoint = seen.endpoint.clone();
        }
        self.reads.expire(now, self.cfg.window);
        self.reads.push(reader, store, now, MAX_READS);
    }

    /// The entry of a store path; the table starts over when it holds `MAX_STORES`.
    fn seen(&mut self, path: &str) -> &mut StoreSeen {
        // Looked up by `&str` first: a store opened again costs no key allocation.
        if !self.stores.contains_key(path) {
            if self.stores.len() >= MAX_STORES {
                self.stores.clear();
            }
            self.stores.insert(path.to_string(), StoreSeen::default());
        }
        self.stores.get_mut(path).expect("inserted above")
    }

    fn index_store(&mut self, store: &Provenance, opener: u32, opened: &str, now: Instant) {
        use std::os::unix::fs::MetadataExt as _;
        let seen = self.seen(&store.path);
        if seen.checked.is_some_and(|t| now.duration_since(t) < RECHECK) {
            return;
        }
        seen.checked = Some(now);
        let via_root = format!("/proc/{opener}/root{opened}");
        let (read_path, meta) = match std::fs::metadata(&via_root) {
            Ok(m) => (via_root.as_str(), m),
            Err(_) => match std::fs::metadata(opened) {
                Ok(m) => (opened, m),
                Err(_) => return,
            },
        };
        if !meta.is_file() || meta.len() > MAX_STORE_BYTES {
            return;
        }
        let stamp = (meta.mtime(), meta.len());
        if self.seen(&store.path).stamp == Some(stamp) {
            return;
        }
        let Ok(bytes) = std::fs::read(read_path) else {
            self.counters.store_parse_failures += 1;
            tracing::debug!(path = %store.path, "store could not be read for provenance");
            return;
        };
        self.seen(&store.path).stamp = Some(stamp);
        self.counters.stores_parsed += 1;
        for f in parsers::parse(&store.path, &bytes) {
            let fp = self.fp.fingerprint(f.secret.as_bytes());
            let prov = Provenance {
                kind: f.kind,
                endpoint: f.endpoint.clone().or(store.endpoint.clone()),
                ..store.clone()
            };
            if prov.endpoint.is_some() {
                self.seen(&store.path).endpoint = prov.endpoint.clone();
            }
            if self.index.insert(fp.clone(), prov).is_none() {
                self.order.push_back(fp);
            }
            while self.index.len() > self.cfg.max_index {
                if let Some(old) = self.order.pop_front() {
                    self.index.remove(&old);
                    self.counters.index_evictions += 1;
                }
            }
        }
    }

    /// Where a stored fingerprint came from.
    pub fn provenance(&self, fingerprint: &str) -> Option<&Provenance> {
        self.index.get(fingerprint)
    }

    fn dedup(&mut self, key: String, now: Instant) -> Option<u64> {
        let window = self.cfg.window;
        let e = self.dedup.entry(key).or_insert((now, 0));
        if now.duration_since(e.0) > window {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > 1 {
            self.counters.deduplicated += 1;
            return None;
        }
        Some(e.1)
    }

    fn expire(&mut self, now: Instant) {
        let w = self.cfg.window;
        self.reads.expire(now, w);
        if now.duration_since(self.swept) < SWEEP {
            return;
        }
        self.swept = now;
        let rw = self.cfg.reuse_window;
        self.uses.retain(|_, v| {
            v.retain(|u| now.duration_since(u.at) <= rw);
            !v.is_empty()
        });
        let summaries = &mut self.summaries;
        self.dedup.retain(|k, (t, n)| {
            let live = now.duration_since(*t) <= w;
            if !live && *n > 1 {
                summaries.push((k.clone(), *n));
            }
            live
        });
    }

    /// Findings that repeated within their window, once the window is over: (key, count).
    pub fn take_summaries(&mut self) -> Vec<(String, u64)> {
        self.swept = Instant::now() - SWEEP;
        self.expire(Instant::now());
        std::mem::take(&mut self.summaries)
    }

    /// An outbound request by `sender` to `host`/`destination`, with its credentials.
    pub fn on_request(
        &mut self,
        sender: &Party,
        creds: &[Credential],
        host: &str,
        destination: &str,
        allowed: &dyn Fn(&Provenance, &str) -> bool,
    ) -> Vec<Finding> {
        let now = Instant::now();
        self.expire(now);
        let mut out = Vec::new();
        let base = |kind, severity, techniques: Vec<&'static str>, reason: String| Finding {
            kind,
            severity,
            techniques,
            reason,
            sender: sender.clone(),
            other: None,
            store: None,
            fingerprint: None,
            destination: destination.to_string(),
            count: 1,
            key: String::new(),
        };
        // 1. Exfiltration: a related process read a store within the window.
        // One finding per store per request: the latest related read of it.
        let mut hits: Vec<(Party, Provenance)> = Vec::new();
        for r in self.reads.related(sender, now, self.cfg.window) {
            if !r.store.endpoint.as_deref().is_some_and(|e| host_matches(e, host))
                && !hits.iter().any(|(_, s)| s.path == r.store.path)
            {
                hits.push((r.reader.clone(), r.store.clone()));
            }
        }
        for (reader, store) in hits {
            let key = format!("exfil|{}|{}|{destination}", sender.root(), store.path);
            if let Some(count) = self.dedup(key.clone(), now) {
                let mut f = base(
                    FindingKind::Exfiltration,
                    "high",
                    vec!["T1552.001", "T1041", "T1567"],
                    format!(
                        "{} read {}, then {} sent data to {destination}",
                        reader.executable, store.path, sender.executable
                    ),
                );
                f.other = Some(reader);
                f.store = Some(store);
                f.count = count;
                f.key = key.clone();
                out.push(f);
            }
        }
        for c in creds {
            // 2. Provenance: a stored token leaving with the wrong program or to the wrong place.
            if let Some(p) = self.index.get(&c.fingerprint).cloned() {
                let foreign_program = !allowed(&p, &sender.executable);
                let foreign_destination = p.endpoint.as_deref().is_some_and(|e| !host_matches(e, host));
                if foreign_program || foreign_destination {
                    let why = match (foreign_program, foreign_destination) {
                        (true, true) => {
                            "a program that does not own the store, to a destination the store does not name"
                        }
                        (true, false) => "a program that does not own the store",
                        _ => "a destination the store does not name",
                    };
                    let key = format!("prov|{}|{}|{destination}", sender.root(), c.fingerprint);
                    if let Some(count) = self.dedup(key.clone(), now) {
                        let mut f = base(
                            FindingKind::StoredTokenMisuse,
                            "high",
                            vec!["T1550.001", "T1528"],
                            format!(
                                "token from {} sent by {why} ({} → {destination})",
                                p.path, sender.executable
                            ),
                        );
                        f.other = self.stores.get(&p.path).and_then(|s| s.last_reader.clone());
                        f.store = Some(p);
                        f.fingerprint = Some(c.fingerprint.clone());
                        f.count = count;
                        f.key = key.clone();
                        out.push(f);
                    }
                }
            }
            // 3. Reuse: the same fingerprint from another user, session or lineage.
            let sites = self.uses.entry(c.fingerprint.clone()).or_default();
            let prior = sites
                .iter()
                .find(|u| {
                    u.party.uid != sender.uid
                        || u.party.login_user() != sender.login_user()
                        || u.party.sessionid != sender.sessionid
                })
                .map(|u| u.party.clone());
            if sites.len() < 64 {
                sites.push(UseSite { at: now, party: sender.clone() });
            }
            if let Some(prior) = prior {
                let key = format!("reuse|{}|{}|{}", c.fingerprint, prior.login_user(), sender.login_user());
                if let Some(count) = self.dedup(key.clone(), now) {
                    let mut f = base(
                        FindingKind::TokenReuse,
                        "high",
                        vec!["T1550.001"],
                        format!(
                            "the same {} was used by uid {} (session {:?}) and uid {} (session {:?})",
                            c.kind, prior.uid, prior.sessionid, sender.uid, sender.sessionid
                        ),
                    );
                    f.other = Some(prior);
                    f.fingerprint = Some(c.fingerprint.clone());
                    f.count = count;
                    f.key = key.clone();
                    out.push(f);
                }
            }
            // 4. Weak credentials (hygiene findings, low severity).
            let weak = if c
                .jwt
                .as_ref()
                .is_some_and(|j| j.lifetime_s.is_some_and(|l| l > self.cfg.jwt_max_lifetime_s))
            {
                Some("a JWT living longer than the configured limit")
            } else if c.key_id.as_deref().is_some_and(|k| k.starts_with("AKIA")) {
                Some("a request signed with a long-term AWS access key (AKIA), not a temporary one")
            } else if matches!(c.kind, "bearer" | "jwt") && !c.bound && self.sensitive.is_match(host) {
                Some("an unbound bearer token sent to a sensitive destination")
            } else {
                None
            };
            if let Some(what) = weak {
                let key = format!("weak|{}|{}", c.fingerprint, host);
                if let Some(count) = self.dedup(key.clone(), now) {
                    let mut f = base(
                        FindingKind::WeakCredential,
                        "low",
                        vec!["T1550.001"],
                        format!("{what} ({host})"),
                    );
                    f.fingerprint = Some(c.fingerprint.clone());
                    f.count = count;
                    f.key = key.clone();
                    out.push(f);
                }
            }
        }
        self.counters.findings += out.len() as u64;
        out
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
