//! Seeding the table from procfs, for processes that started before the sensor.

use super::{Process, ProcessTable};

/// This boot's id (`/proc/sys/kernel/random/boot_id`), part of every entity id.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Nanoseconds per clock tick (procfs start times are in ticks).
fn ns_per_tick() -> u64 {
    1_000_000_000 / procfs::ticks_per_second().max(1)
}

/// Adds every live process. Processes that vanish while being read are skipped.
pub fn seed_from_procfs(table: &mut ProcessTable) -> usize {
    let Ok(all) = procfs::process::all_processes() else {
        return 0;
    };
    let tick = ns_per_tick();
    let mut n = 0;
    for proc in all.flatten() {
        let Ok(stat) = proc.stat() else { continue };
        let status = proc.status().ok();
        let exe = proc.exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let args = super::redact::redact_args(&proc.cmdline().unwrap_or_default());
        let read_id = |name: &str| {
            std::fs::read_to_string(format!("/proc/{}/{name}", proc.pid))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|v| *v != u32::MAX)
        };
        let (uid, euid, gid, egid) = status.as_ref().map(|s| (s.ruid, s.euid, s.rgid, s.egid)).unwrap_or((
            u32::MAX,
            u32::MAX,
            u32::MAX,
            u32::MAX,
        ));
        let p = Process {
            pid: proc.pid as u32,
            ppid: stat.ppid as u32,
            start_ns: stat.starttime * tick,
            executable: exe,
            args,
            name: stat.comm.clone(),
            uid,
            gid,
            euid,
            egid,
            loginuid: read_id("loginuid"),
            sessionid: read_id("sessionid"),
            exec_ts_boot_ns: 0,
            exited_at: None,
            entity_id: String::new(),
            exec_id: String::new(),
            seeded: true,
            privilege_changes: Vec::new(),
        };
        table.insert(p);
        n += 1;
    }
    n
}
