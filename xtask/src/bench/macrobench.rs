//! Whole-system workloads timed by wall clock: hackbench (scheduler and socket
//! messaging between many processes) and stress-ng with fixed-ops stressors (opens,
//! forks, socket traffic).

use std::{path::Path, process::Command, time::Duration};

use super::{
    procs,
    rounds::{NO_FLOOR, Workload},
};

const TIMEOUT: Duration = Duration::from_secs(120);

/// hackbench and stress-ng, each run aiming at `target`; stress-ng works in `tmp`.
pub fn workloads(tmp: &Path, target: Duration) -> Vec<Workload<'_>> {
    vec![
        Workload {
            name: "hackbench",
            states: NO_FLOOR,
            target,
            // n = messages per sender (-l); 4 groups of 40 processes.
            probe_n: 50,
            run: Box::new(|n| {
                let mut cmd = Command::new("hackbench");
                cmd.args(["-g", "4", "-l", &n.to_string()]);
                procs::run_timed("hackbench", &mut cmd, TIMEOUT)
            }),
        },
        Workload {
            name: "stress_ng",
            states: NO_FLOOR,
            target,
            // n scales the three stressors together (about equal time each).
            probe_n: 5,
            run: Box::new(move |n| {
                let port = procs::free_port()?;
                let mut cmd = Command::new("stress-ng");
                cmd.args(["--open", "1", "--open-ops", &(200 * n).to_string()])
                    .args(["--fork", "1", "--fork-ops", &(25 * n).to_string()])
                    .args(["--sock", "1", "--sock-ops", &(8 * n).to_string()])
                    .args(["--sock-port", &port.to_string(), "--quiet", "--timeout", "100"])
                    .arg("--temp-path")
                    .arg(tmp)
                    // Its open stressor also leaves files in the working directory.
                    .current_dir(tmp);
                procs::run_timed("stress-ng", &mut cmd, TIMEOUT)
            }),
        },
    ]
}
