use std::time::{Duration, Instant};

use super::*;
use crate::decode::{Exec, Exit, Fork, KernelPath, Task};

fn task(tgid: u32, ppid: u32, start: u64) -> Task {
    Task {
        tgid,
        tid: tgid,
        ppid,
        uid: 1000,
        gid: 1000,
        euid: 1000,
        egid: 1000,
        loginuid: Some(1000),
        sessionid: Some(3),
        start_boottime_ns: start,
        comm: "x".into(),
    }
}

fn exec(tgid: u32, ppid: u32, start: u64, exe: &str) -> Exec {
    Exec {
        task: task(tgid, ppid, start),
        ts_boot_ns: start + 1,
        filename: exe.into(),
        executable: KernelPath { path: exe.into(), ..Default::default() },
        exe_dev: 1,
        exe_ino: 2,
        args: vec![exe.into(), "arg".into()],
        args_truncated: false,
    }
}

fn table() -> ProcessTable {
    ProcessTable::new("boot".into(), Duration::from_secs(60), 1000)
}

#[test]
fn fork_then_exec_builds_lineage() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    t.on_fork(&Fork {
        parent: task(10, 1, 1_000_000_000),
        ts_boot_ns: 5,
        child_tgid: 11,
        child_start_boottime_ns: 2_000_000_000,
    });
    assert_eq!(t.get(11).expect("child").executable, "/usr/bin/bash", "child runs parent's image until exec");
    t.on_exec(&exec(11, 10, 2_000_000_000, "/usr/bin/cat"));
    let child = t.get(11).expect("child");
    assert_eq!(child.executable, "/usr/bin/cat");
    assert_eq!(child.ppid, 10);
    let anc = t.ancestry(11);
    assert_eq!(anc[0].pid, 10);
    assert_eq!(anc[0].executable, "/usr/bin/bash");
}

#[test]
fn orphan_keeps_birth_parent_after_reparenting() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    t.on_fork(&Fork {
        parent: task(10, 1, 1_000_000_000),
        ts_boot_ns: 5,
        child_tgid: 11,
        child_start_boottime_ns: 2_000_000_000,
    });
    // Parent died; the kernel reports ppid 1 at exec time.
    t.on_exec(&exec(11, 1, 2_000_000_000, "/usr/bin/cat"));
    assert_eq!(t.get(11).expect("child").ppid, 10);
}

#[test]
fn exec_changes_exec_id_not_entity_id() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    let (e1, x1) = {
        let p = t.get(10).expect("p");
        (p.entity_id.clone(), p.exec_id.clone())
    };
    let mut second = exec(10, 1, 1_000_000_000, "/usr/bin/python3");
    second.ts_boot_ns += 100;
    t.on_exec(&second);
    let p = t.get(10).expect("p");
    assert_eq!(p.entity_id, e1);
    assert_ne!(p.exec_id, x1);
}

#[test]
fn pid_reuse_gets_a_new_identity() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    let old = t.get(10).expect("p").entity_id.clone();
    let p = t.resolve(&task(10, 1, 9_000_000_000));
    assert_ne!(p.entity_id, old, "same pid, later start time: different process");
    assert_eq!(p.executable, "", "not the old program");
}

#[test]
fn resolve_refreshes_credentials() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    let mut root = task(10, 1, 1_000_000_000);
    root.euid = 0;
    assert_eq!(t.resolve(&root).euid, 0);
    assert_eq!(t.resolve(&root).executable, "/usr/bin/bash");
}

#[test]
fn exited_entries_expire_after_ttl() {
    let mut t = ProcessTable::new("b".into(), Duration::from_millis(10), 1000);
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    t.on_exit(&Exit { task: task(10, 1, 1_000_000_000), ts_boot_ns: 9, exit_code: 0 });
    assert_eq!(t.expire(Instant::now()), 0, "kept within ttl");
    assert_eq!(t.expire(Instant::now() + Duration::from_secs(1)), 1);
    assert!(t.is_empty());
}

#[test]
fn exited_leaves_go_after_the_grace_and_exited_parents_stay_while_children_live() {
    let mut t = ProcessTable::new("b".into(), Duration::from_secs(3600), 1000);
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    t.on_fork(&Fork {
        parent: task(10, 1, 1_000_000_000),
        ts_boot_ns: 2,
        child_tgid: 11,
        child_start_boottime_ns: 2_000_000_000,
    });
    t.on_exec(&exec(12, 1, 3_000_000_000, "/bin/true"));
    for pid in [10, 12] {
        t.on_exit(&Exit { task: task(pid, 1, 1_000_000_000), ts_boot_ns: 9, exit_code: 0 });
    }
    let later = Instant::now() + LEAF_GRACE + Duration::from_secs(1);
    assert_eq!(t.expire(later), 1, "the exited leaf goes, the exited shell stays: its child lives");
    assert!(t.get(10).is_some() && t.get(12).is_none());
    assert_eq!(t.ancestry(11)[0].executable, "/usr/bin/bash", "lineage survives the parent's exit");
    t.on_exit(&Exit { task: task(11, 10, 2_000_000_000), ts_boot_ns: 9, exit_code: 0 });
    assert_eq!(t.expire(later + LEAF_GRACE), 1, "the child goes first");
    assert_eq!(t.expire(later + LEAF_GRACE), 1, "then its parent is a leaf");
    assert!(t.is_empty());
}

#[test]
fn size_limit_evicts_oldest_exited() {
    let mut t = ProcessTable::new("b".into(), Duration::from_secs(3600), 2);
    for pid in 10..14 {
        t.on_exec(&exec(pid, 1, u64::from(pid) * 1_000_000_000, "/bin/x"));
        t.on_exit(&Exit { task: task(pid, 1, u64::from(pid) * 1_000_000_000), ts_boot_ns: 1, exit_code: 0 });
    }
    t.expire(Instant::now());
    assert_eq!(t.len(), 2);
    assert_eq!(t.evictions, 2);
}

#[test]
fn privilege_changes_are_recorded_and_inherited() {
    let mut t = table();
    t.on_exec(&exec(10, 1, 1_000_000_000, "/usr/bin/bash"));
    t.on_fork(&Fork {
        parent: task(10, 1, 1_000_000_000),
        ts_boot_ns: 5,
        child_tgid: 11,
        child_start_boottime_ns: 2_000_000_000,
    });
    // The child execs sudo (setuid root): euid 0 from then on.
    let mut sudo = exec(11, 10, 2_000_000_000, "/usr/bin/sudo");
    sudo.task.euid = 0;
    t.on_exec(&sudo);
    let c = &t.get(11).expect("sudo").privilege_changes;
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].from_euid, c[0].to_euid, c[0].by.as_str(), c[0].into.as_str()),
        (1000, 0, "/usr/bin/bash", "/usr/bin/sudo")
    );
    // Its child inherits the story.
    t.on_fork(&Fork {
        parent: sudo.task.clone(),
        ts_boot_ns: 6,
        child_tgid: 12,
        child_start_boottime_ns: 3_000_000_000,
    });
    assert_eq!(t.get(12).expect("child").privilege_changes.len(), 1);
}

#[test]
fn ancestry_stops_on_loops() {
    let mut t = table();
    t.on_exec(&exec(10, 11, 1_000_000_000, "/a"));
    t.on_exec(&exec(11, 10, 2_000_000_000, "/b"));
    assert!(t.ancestry(10).len() <= 2);
}
