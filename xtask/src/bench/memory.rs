//! The sensor's memory: resident set after start and light activity, the BPF maps it
//! holds (memlock), and RSS growth over a long exec churn (a leak in the process table
//! or correlation state shows here).

use std::time::Duration;

use anyhow::Context as _;

use super::{
    micro::{open_close, spawn_true},
    pace,
    procs::{fdinfo, field},
    report::Report,
    states::Layout,
};

pub struct Plan {
    /// Light activity after start, before RSS is read.
    pub settle: Duration,
    /// Churn before the "before" reading: mimalloc re-commits the pages it returned
    /// after start-up (BTF parsing peaks at ≈ 36 MiB of heap) over the first ≈ 40 s of
    /// churn and is flat after; the warm-up lets the figure show growth, not warm-up.
    pub warm_up: Duration,
    /// The measured churn.
    pub churn: Duration,
}

/// Execs per second of the churn.
const CHURN_RATE: f64 = 1000.0;
const MIB: f64 = 1024.0 * 1024.0;

/// `VmRSS` of `pid`, in bytes.
fn rss(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kib * 1024.0)
}

/// Bytes of BPF map memory (`memlock`) held by `pid`, each map counted once.
fn bpf_maps(pid: u32) -> anyhow::Result<f64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0.0;
    for info in fdinfo(pid)? {
        if field(&info, "map_type").is_none() {
            continue;
        }
        if !seen.insert(field(&info, "map_id").unwrap_or_default().to_string()) {
            continue;
        }
        total += field(&info, "memlock").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    }
    Ok(total)
}

fn churn(duration: Duration) -> anyhow::Result<()> {
    let p = pace::run(CHURN_RATE, duration, 2, &|_| spawn_true())?;
    progress!("exec churn: {} execs in {:.1} s ({:.0}/s)", p.done, p.elapsed.as_secs_f64(), p.rate());
    Ok(())
}

/// Writes `memory.*` for the running sensor `pid`.
pub fn measure(layout: &Layout, pid: u32, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    // Light activity: store opens, and an exec every tenth operation.
    let light = |i: u64| -> anyhow::Result<()> {
        if i.is_multiple_of(10) { spawn_true() } else { Ok(open_close(&layout.store)?) }
    };
    pace::run(500.0, plan.settle, 1, &light)?;
    report.value("memory.rss_mib", rss(pid)? / MIB);
    report.value("memory.bpf_map_mib", bpf_maps(pid)? / MIB);
    progress!("exec churn: warm-up {:?}, then {:?}", plan.warm_up, plan.churn);
    churn(plan.warm_up)?;
    let before = rss(pid)?;
    churn(plan.churn)?;
    // Let the sensor finish the records of the last execs.
    std::thread::sleep(Duration::from_millis(500));
    let after = rss(pid)?;
    report.value("memory.rss_before_churn_mib", before / MIB);
    report.value("memory.rss_after_churn_mib", after / MIB);
    report.value("memory.rss_growth_mib", (after - before) / MIB);
    Ok(())
}
