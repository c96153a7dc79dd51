//! The table itself: pid → process, with lineage lookups.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use crate::decode::{Exec, Exit, Fork, Task};

/// Start times are compared at procfs precision (clock ticks, 10 ms at USER_HZ=100).
const START_GRANULARITY_NS: u64 = 10_000_000;
/// Ancestry walks stop here (and on loops).
pub const MAX_ANCESTRY: usize = 32;

/// What we know about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// Boot-time start in ns (tick precision for seeded entries).
    pub start_ns: u64,
    /// Resolved executable path (kernel dentry walk, or /proc/<pid>/exe when seeded).
    pub executable: String,
    pub args: Vec<String>,
    /// The command line was longer than [`sensor_common::ARGS_LEN`] bytes and was cut.
    pub args_truncated: bool,
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    /// Boot-time ns of the last exec (0 when seeded or inherited from fork).
    pub exec_ts_boot_ns: u64,
    pub exited_at: Option<Instant>,
    /// Stable id of the process (boot, pid, start time).
    pub entity_id: String,
    /// Id of the current program image: changes on every exec.
    pub exec_id: String,
    /// Came from procfs rather than from kernel events.
    pub seeded: bool,
    /// Credential changes in this lineage (sudo, su, setuid), oldest first, inherited by
    /// children: "alice became root, then…" stays one story.
    pub privilege_changes: Vec<PrivilegeChange>,
}

/// One change of real or effective uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeChange {
    pub pid: u32,
    pub from_uid: u32,
    pub from_euid: u32,
    pub to_uid: u32,
    pub to_euid: u32,
    /// The program that held the old credentials (e.g. `setpriv`, `su`'s parent shell).
    pub by: String,
    /// The program running with the new ones (e.g. `sudo`, the shell `su` started).
    pub into: String,
}

/// Changes kept per process, at most.
const MAX_PRIVILEGE_CHANGES: usize = 16;

fn record_change(list: &mut Vec<PrivilegeChange>, c: PrivilegeChange) {
    if list.len() >= MAX_PRIVILEGE_CHANGES {
        list.remove(0);
    }
    list.push(c);
}

/// One step of an ancestry chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub entity_id: String,
    pub executable: String,
    pub args: Vec<String>,
    pub uid: u32,
}

/// pid → process, with exited entries kept for a while so late events and orphans
/// still resolve their lineage.
pub struct ProcessTable {
    /// By pid; foldhash (randomly seeded) instead of SipHash: looked up several times
    /// per record.
    procs: HashMap<u32, Process, foldhash::fast::RandomState>,
    boot_id: String,
    exit_ttl: Duration,
    max_entries: usize,
    pub evictions: u64,
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = String::with_capacity(24);
    for b in &h.finalize()[..12] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl ProcessTable {
    pub fn new(boot_id: String, exit_ttl: Duration, max_entries: usize) -> Self {
        Self { procs: HashMap::default(), boot_id, exit_ttl, max_entries, evictions: 0 }
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Distinct executables of the known processes.
    pub fn executables(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.procs.values().map(|p| p.executable.clone()).filter(|e| e.starts_with('/')).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    fn entity_id(&self, pid: u32, start_ns: u64) -> String {
        let ticks = start_ns / START_GRANULARITY_NS;
        short_hash(&[self.boot_id.as_bytes(), &pid.to_le_bytes(), &ticks.to_le_bytes()])
    }

    /// Inserts (or replaces) a process, computing its ids.
    pub fn insert(&mut self, mut p: Process) {
        p.entity_id = match self.procs.get(&p.pid) {
            // The same process after exec: its id does not change.
            Some(old) if old.start_ns / START_GRANULARITY_NS == p.start_ns / START_GRANULARITY_NS => {
                old.entity_id.clone()
            }
            _ => self.entity_id(p.pid, p.start_ns),
        };
        p.exec_id = short_hash(&[p.entity_id.as_bytes(), &p.exec_ts_boot_ns.to_le_bytes()]);
        self.procs.insert(p.pid, p);
    }

    /// True when the entry for `pid` is the same process (not a reused pid).
    fn same_process(&self, pid: u32, start_ns: u64) -> bool {
        self.procs
            .get(&pid)
            .is_some_and(|p| p.start_ns / START_GRANULARITY_NS == start_ns / START_GRANULARITY_NS)
    }

    /// A new process: it runs its parent's program until it execs.
    pub fn on_fork(&mut self, f: &Fork) {
        let parent = self.procs.get(&f.parent.tgid).cloned();
        let p = match parent {
            Some(parent) => Process {
                pid: f.child_tgid,
                ppid: f.parent.tgid,
                start_ns: f.child_start_boottime_ns,
                exited_at: None,
                seeded: false,
                ..parent
            },
            None => process_from_task(&f.parent, f.child_tgid, f.parent.tgid, f.child_start_boottime_ns),
        };
        self.insert(p);
    }

    /// The process replaced its program.
    pub fn on_exec(&mut self, e: &Exec) {
        let t = &e.task;
        let ppid = match self.procs.get(&t.tgid) {
            // Keep the parent recorded at fork: orphans get reparented in the kernel,
            // but their lineage is the one they were born into.
            Some(old) if self.same_process(t.tgid, t.start_boottime_ns) => old.ppid,
            _ => t.ppid,
        };
        let mut p = process_from_task(t, t.tgid, ppid, t.start_boottime_ns);
        p.executable =
            if e.executable.is_complete() { e.executable.path.clone() } else { e.filename.clone() };
        p.args = super::redact::redact_args(&e.args);
        p.args_truncated = e.args_truncated;
        p.exec_ts_boot_ns = e.ts_boot_ns;
        // What ran before this exec: the same process (after fork), else its parent.
        let before = if self.same_process(t.tgid, t.start_boottime_ns) {
            self.procs.get(&t.tgid)
        } else {
            self.procs.get(&ppid)
        };
        if let Some(b) = before {
            p.privilege_changes = b.privilege_changes.clone();
            if (b.uid, b.euid) != (t.uid, t.euid) && b.uid != u32::MAX {
                record_change(
                    &mut p.privilege_changes,
                    PrivilegeChange {
                        pid: t.tgid,
                        from_uid: b.uid,
                        from_euid: b.euid,
                        to_uid: t.uid,
                        to_euid: t.euid,
                        by: b.executable.clone(),
                        into: p.executable.clone(),
                    },
                );
            }
        }
        self.insert(p);
    }

    /// The process exited: keep it for `exit_ttl` so later lookups still resolve.
    pub fn on_exit(&mut self, e: &Exit) {
        if let Some(p) = self.procs.get_mut(&e.task.tgid) {
            p.exited_at = Some(Instant::now());
        }
    }

    /// Returns the process for an event's task, creating it from the task when the
    /// table does not know it (or knows an older process with a reused pid). Fields
    /// that change without exec (credentials, session) are refreshed from the task.
    pub fn resolve(&mut self, t: &Task) -> &Process {
        if !self.same_process(t.tgid, t.start_boottime_ns) {
            let mut p = process_from_task(t, t.tgid, t.ppid, t.start_boottime_ns);
            if let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", t.tgid)) {
                p.executable = exe.to_string_lossy().into_owned();
            }
            self.insert(p);
        }
        let p = self.procs.get_mut(&t.tgid).expect("inserted above");
        if (p.uid, p.euid) != (t.uid, t.euid) && p.uid != u32::MAX {
            // setuid() without exec.
            let c = PrivilegeChange {
                pid: t.tgid,
                from_uid: p.uid,
                from_euid: p.euid,
                to_uid: t.uid,
                to_euid: t.euid,
                by: p.executable.clone(),
                into: p.executable.clone(),
            };
            record_change(&mut p.privilege_changes, c);
        }
        p.uid = t.uid;
        p.gid = t.gid;
        p.euid = t.euid;
        p.egid = t.egid;
        p.loginuid = t.loginuid;
        p.sessionid = t.sessionid;
        p
    }

    /// Parent chain of `pid`, nearest first, up to [`MAX_ANCESTRY`].
    pub fn ancestry(&self, pid: u32) -> Vec<Ancestor> {
        let mut out = Vec::new();
        let mut cur = self.procs.get(&pid).map(|p| p.ppid);
        while let Some(ppid) = cur {
            if ppid == 0 || out.len() >= MAX_ANCESTRY || out.iter().any(|a: &Ancestor| a.pid == ppid) {
                break;
            }
            match self.procs.get(&ppid) {
                Some(p) => {
                    out.push(Ancestor {
                        pid: p.pid,
                        entity_id: p.entity_id.clone(),
                        executable: p.executable.clone(),
                        args: p.args.clone(),
                        uid: p.uid,
                    });
                    cur = (p.pid != p.ppid).then_some(p.ppid);
                }
                None => {
                    out.push(Ancestor {
                        pid: ppid,
                        entity_id: String::new(),
                        executable: String::new(),
                        args: Vec::new(),
                        uid: u32::MAX,
                    });
                    break;
                }
            }
        }
        out
    }

    /// Drops exited entries nobody needs: after [`LEAF_GRACE`] an exited process with
    /// no children in the table (records still in flight have arrived by then), after
    /// the TTL any exited process (ancestors of live processes are kept that long, so
    /// lineage survives a parent's exit); then the oldest exited ones if the table is
    /// over its size limit. Returns how many were removed. Exited ancestors become
    /// leaves when their last child goes and leave on a later sweep.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.procs.len();
        let ttl = self.exit_ttl;
        let parents: std::collections::HashSet<u32> = self.procs.values().map(|p| p.ppid).collect();
        self.procs.retain(|pid, p| {
            p.exited_at.is_none_or(|t| {
                let age = now.duration_since(t);
                age < ttl && (age < LEAF_GRACE || parents.contains(pid))
            })
        });
        if self.procs.len() > self.max_entries {
            let mut exited: Vec<(Instant, u32)> =
                self.procs.values().filter_map(|p| p.exited_at.map(|t| (t, p.pid))).collect();
            exited.sort();
            let excess = self.procs.len() - self.max_entries;
            for (_, pid) in exited.into_iter().take(excess) {
                self.procs.remove(&pid);
                self.evictions += 1;
            }
        }
        before - self.procs.len()
    }
}

/// How long an exited process with no children stays in the table.
pub const LEAF_GRACE: Duration = Duration::from_secs(5);

fn process_from_task(t: &Task, pid: u32, ppid: u32, start_ns: u64) -> Process {
    Process {
        pid,
        ppid,
        start_ns,
        executable: String::new(),
        args: Vec::new(),
        args_truncated: false,
        name: t.comm.clone(),
        uid: t.uid,
        gid: t.gid,
        euid: t.euid,
        egid: t.egid,
        loginuid: t.loginuid,
        sessionid: t.sessionid,
        exec_ts_boot_ns: 0,
        exited_at: None,
        entity_id: String::new(),
        exec_id: String::new(),
        seeded: false,
        privilege_changes: Vec::new(),
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
