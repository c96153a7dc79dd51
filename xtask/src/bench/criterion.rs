//! Userspace throughput from the criterion benches of `sensor-user`: rule evaluation
//! (`rules`) and the whole record pipeline (`pipeline`: raw ring-buffer records to ECS
//! documents).

use anyhow::Context as _;
use serde_json::Value;

use super::{Failures, procs, report::Report};
use crate::{cargo, root};

/// One criterion bench: bench target, group, function, report key.
pub struct Bench {
    pub target: &'static str,
    pub group: &'static str,
    pub function: &'static str,
    pub key: &'static str,
}

pub const RULES: Bench = Bench {
    target: "rules",
    group: "rules",
    function: "match_event_default_pack",
    key: "rules.events_per_sec",
};

pub const PIPELINE: Bench = Bench {
    target: "pipeline",
    group: "pipeline",
    function: "raw_records_to_ecs",
    key: "pipeline.events_per_sec",
};

impl Bench {
    fn missing(&self) -> Option<anyhow::Error> {
        let file = root().join("sensor-user/benches").join(format!("{}.rs", self.target));
        (!file.exists()).then(|| {
            anyhow::anyhow!(
                "sensor-user has no `{}` criterion bench ({}: group `{}`, function `{}`, element \
                 throughput): `{}` needs it",
                self.target,
                file.strip_prefix(root()).unwrap_or(&file).display(),
                self.group,
                self.function,
                self.key
            )
        })
    }
}

/// Runs the benches that exist in one `cargo bench` (one build) and records their
/// element rates; a missing bench is a failure of its own.
pub fn run(benches: &[&Bench], quick: bool, report: &mut Report, failures: &mut Failures) {
    let mut present = Vec::new();
    for b in benches {
        match b.missing() {
            Some(e) => failures.check(&format!("criterion `{}`", b.target), Err(e)),
            None => present.push(*b),
        }
    }
    if present.is_empty() {
        return;
    }
    let measure = if quick { "2" } else { "10" };
    let started = std::time::SystemTime::now();
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "sensor-user"]);
    for b in &present {
        cmd.args(["--bench", b.target]);
    }
    cmd.args(["--", "--warm-up-time", "1", "--measurement-time", measure]);
    if let Err(e) = procs::run_to_stderr(&mut cmd) {
        failures.check("criterion benches", Err(e));
        return;
    }
    for b in present {
        let rate = criterion_rate(b.group, b.function, started).map(|rate| {
            progress!("{}: {:.2} M events/s", b.key, rate / 1e6);
            report.count(b.key, rate);
        });
        failures.check(&format!("criterion `{}`", b.target), rate);
    }
}

/// Events per second of a criterion benchmark with element throughput.
/// Its estimates must be newer than `since` (not a previous run's).
fn criterion_rate(group: &str, name: &str, since: std::time::SystemTime) -> anyhow::Result<f64> {
    let dir = root().join("target/criterion").join(group).join(name).join("new");
    let estimates = dir.join("estimates.json");
    let modified = std::fs::metadata(&estimates).and_then(|m| m.modified()).with_context(|| {
        format!("criterion wrote no {} (is the group `{group}/{name}`?)", estimates.display())
    })?;
    if modified < since {
        anyhow::bail!("{} is from an earlier run: no benchmark `{group}/{name}` ran", estimates.display());
    }
    let read = |f: &str| -> anyhow::Result<Value> {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))
    };
    let mean_ns = read("estimates.json")?["mean"]["point_estimate"].as_f64().context("mean estimate")?;
    let elements =
        read("benchmark.json")?["throughput"]["Elements"].as_f64().context("element throughput")?;
    Ok(elements / (mean_ns * 1e-9))
}
