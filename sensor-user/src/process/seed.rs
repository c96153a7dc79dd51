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
        // Redacted first, so a cut never splits a secret out of a pattern's reach.
        let (args, args_truncated) =
            bound_args(super::redact::redact_args(&proc.cmdline().unwrap_or_default()));
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
            args_truncated,
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

/// Cuts a command line to the kernel's exec record budget ([`sensor_common::ARGS_LEN`]
/// bytes with NUL separators), so seeded processes carry no larger command lines than
/// exec'd ones: an ancestor with a huge command line must not make every alert huge.
fn bound_args(mut args: Vec<String>) -> (Vec<String>, bool) {
    let mut used = 0;
    for i in 0..args.len() {
        let room = sensor_common::ARGS_LEN.saturating_sub(used);
        if args[i].len() < room {
            used += args[i].len() + 1;
            continue;
        }
        let mut cut = room;
        while !args[i].is_char_boundary(cut) {
            cut -= 1;
        }
        args[i].truncate(cut);
        args.truncate(if cut == 0 { i } else { i + 1 });
        return (args, true);
    }
    (args, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::ARGS_LEN;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_command_lines_are_kept_whole() {
        assert_eq!(bound_args(strings(&["bash", "-c", "true"])), (strings(&["bash", "-c", "true"]), false));
    }

    #[test]
    fn long_command_lines_are_cut_to_the_kernel_budget() {
        let long = "é".repeat(ARGS_LEN);
        let (args, cut) = bound_args(vec!["bash".into(), "-c".into(), long, "tail".into()]);
        assert!(cut);
        assert_eq!(args.len(), 3, "the argument that crosses the budget is cut, later ones go");
        let bytes: usize = args.iter().map(|a| a.len() + 1).sum();
        assert!(bytes <= ARGS_LEN + 1, "{bytes} bytes");
        assert!(args[2].chars().all(|c| c == 'é'), "cut on a character boundary");
    }

    #[test]
    fn an_argument_starting_at_the_budget_is_dropped_not_left_empty() {
        let first = "a".repeat(ARGS_LEN - 1);
        let (args, cut) = bound_args(vec![first.clone(), "next".into()]);
        assert!(cut);
        assert_eq!(args, vec![first]);
    }
}
