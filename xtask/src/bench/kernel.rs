//! Per-program kernel cost: with `kernel.bpf_stats_enabled=1` the kernel counts each
//! BPF program's runs and run time, shown in the fdinfo of the sensor's program fds.
//! The statistics cost time themselves, so they are on only for a dedicated round.

use std::{collections::BTreeMap, process::Command};

use anyhow::Context as _;

use super::{
    procs::{self, fdinfo, field},
    report::Report,
};

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// `kernel.bpf_stats_enabled`, restored to its value at creation when dropped.
pub struct BpfStats {
    original: String,
}

impl BpfStats {
    pub fn capture() -> anyhow::Result<BpfStats> {
        let original = std::fs::read_to_string(SYSCTL).with_context(|| format!("read {SYSCTL}"))?;
        let original = original.trim().to_string();
        if original != "0" {
            progress!("{SYSCTL} was {original}: off for the ratio rounds, restored at the end");
        }
        Ok(BpfStats { original })
    }

    pub fn set(&self, on: bool) -> anyhow::Result<()> {
        std::fs::write(SYSCTL, if on { "1" } else { "0" }).with_context(|| format!("write {SYSCTL}"))
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(SYSCTL, &self.original) {
            progress!("could not restore {SYSCTL} to {}: {e}", self.original);
        }
    }
}

/// One program's counters.
struct Prog {
    id: String,
    run_time_ns: f64,
    run_cnt: f64,
}

/// The BPF programs `pid` holds, each once.
fn programs(pid: u32) -> anyhow::Result<Vec<Prog>> {
    let mut by_id = BTreeMap::new();
    for info in fdinfo(pid)? {
        // Link fds carry a prog_id too; only program fds have prog_type and run counts.
        if field(&info, "prog_type").is_none() {
            continue;
        }
        let Some(id) = field(&info, "prog_id") else { continue };
        let num = |k: &str| field(&info, k).and_then(|v| v.parse::<f64>().ok());
        let (Some(run_time_ns), Some(run_cnt)) = (num("run_time_ns"), num("run_cnt")) else { continue };
        by_id.insert(id.to_string(), Prog { id: id.to_string(), run_time_ns, run_cnt });
    }
    Ok(by_id.into_values().collect())
}

/// The program's name from `bpftool prog show id N` (None without bpftool).
fn name(id: &str) -> Option<String> {
    if !procs::on_path("bpftool") {
        return None;
    }
    let out = crate::output(Command::new("bpftool").args(["-j", "prog", "show", "id", id])).ok()?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    let name = v["name"].as_str()?;
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    (!clean.is_empty()).then_some(clean)
}

/// Writes `kernel.<name>.ns_per_run` and `kernel.<name>.runs` for the programs of the
/// running sensor `pid`.
pub fn record(pid: u32, report: &mut Report) -> anyhow::Result<()> {
    let progs = programs(pid)?;
    if progs.is_empty() {
        anyhow::bail!("no BPF program fds in /proc/{pid}/fdinfo");
    }
    if !procs::on_path("bpftool") {
        progress!("no bpftool: kernel.* figures are keyed by program id");
    }
    let mut used = BTreeMap::new();
    for p in progs {
        let mut key = name(&p.id).unwrap_or_else(|| format!("prog_{}", p.id));
        // Names are cut at 15 characters and need not be unique.
        if used.insert(key.clone(), ()).is_some() {
            key = format!("{key}_{}", p.id);
        }
        report.count(&format!("kernel.{key}.runs"), p.run_cnt);
        if p.run_cnt > 0.0 {
            let ns = p.run_time_ns / p.run_cnt;
            report.abs(&format!("kernel.{key}.ns_per_run"), ns);
            progress!("kernel {key}: {ns:.0} ns/run over {} runs", p.run_cnt);
        }
    }
    Ok(())
}
