//! `target/bench/report.json` (a flat object of numbers under stable keys) and the
//! Markdown table of the figures against their targets.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context as _;

#[derive(Default)]
pub struct Report {
    values: BTreeMap<String, f64>,
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl Report {
    /// A ratio, rounded to 3 decimals.
    pub fn ratio(&mut self, key: &str, v: f64) {
        self.set(key, round(v, 3));
    }

    /// Nanoseconds (context only), rounded to 0.1.
    pub fn abs(&mut self, key: &str, v: f64) {
        self.set(key, round(v, 1));
    }

    /// A count or a rate, rounded to a whole number.
    pub fn count(&mut self, key: &str, v: f64) {
        self.set(key, v.round());
    }

    /// Anything else (MiB, fractions), rounded to 6 decimals.
    pub fn value(&mut self, key: &str, v: f64) {
        self.set(key, round(v, 6));
    }

    fn set(&mut self, key: &str, v: f64) {
        if v.is_finite() {
            self.values.insert(key.to_string(), v);
        } else {
            progress!("{key} is not a finite number ({v}): left out");
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let json = serde_json::to_string_pretty(&self.values)?;
        std::fs::write(path, json + "\n").with_context(|| format!("write {}", path.display()))
    }

    /// The Markdown table: every figure with a target, then context figures.
    pub fn table(&self) -> String {
        let mut t = String::from("| figure | value | target | |\n|---|---|---|---|\n");
        for row in TARGETS {
            let (value, status) = match self.get(row.key) {
                Some(v) => (self.describe(row, v), if row.goal.met(v) { "met" } else { "**not met**" }),
                None => ("missing".to_string(), "**not met**"),
            };
            let (sign, g) = match row.goal {
                Goal::AtMost(g) => ("≤", g),
                Goal::AtLeast(g) => ("≥", g),
            };
            let goal = match row.unit {
                Unit::Ratio => format!("{sign} {g:.2}×"),
                Unit::Mib => format!("{sign} {g} MiB"),
                unit => format!("{sign} {}", fmt_unit(g, unit)),
            };
            let _ = writeln!(t, "| {} | {value} | {goal} | {status} |", row.label);
        }
        for &(label, key, unit) in CONTEXT {
            if let Some(v) = self.get(key) {
                let _ = writeln!(t, "| {label} | {} | — | |", fmt_unit(v, unit));
            }
        }
        t
    }

    fn describe(&self, row: &Target, v: f64) -> String {
        let mut s = fmt_unit(v, row.unit);
        // Ratios show the absolute figures they come from.
        if let Some(rest) = row.key.strip_prefix("ratio.")
            && let Some((name, pair)) = rest.split_once('.')
            && let Some((a, b)) = pair.split_once("_vs_")
            && let (Some(x), Some(y)) =
                (self.get(&format!("abs.{name}.{b}_ns")), self.get(&format!("abs.{name}.{a}_ns")))
        {
            let _ = write!(s, " ({} → {})", fmt_ns(x), fmt_ns(y));
        }
        s
    }
}

fn fmt_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e8 => format!("{:.0} ms", n / 1e6),
        n if n >= 1e5 => format!("{:.0} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Ratio,
    EventsPerSec,
    Mib,
    Fraction,
    Ms,
}

fn fmt_unit(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ratio => format!("{v:.3}×"),
        Unit::EventsPerSec if v >= 1e6 => format!("{} M/s", trim(v / 1e6)),
        Unit::EventsPerSec => format!("{} k/s", trim(v / 1e3)),
        Unit::Mib => format!("{v:.2} MiB"),
        Unit::Fraction => format!("{:.3} %", v * 100.0),
        Unit::Ms => format!("{v:.0} ms"),
    }
}

/// Two decimals at most, none when whole.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(&self, v: f64) -> bool {
        match *self {
            Goal::AtMost(g) => v <= g,
            Goal::AtLeast(g) => v >= g,
        }
    }
}

struct Target {
    label: &'static str,
    key: &'static str,
    unit: Unit,
    goal: Goal,
}

const fn ratio(label: &'static str, key: &'static str, max: f64) -> Target {
    Target { label, key, unit: Unit::Ratio, goal: Goal::AtMost(max) }
}

const TARGETS: &[Target] = &[
    ratio("`openat_close` sensor vs detached", "ratio.openat_close.sensor_vs_detached", 1.30),
    ratio("`openat_close` sensor vs empty", "ratio.openat_close.sensor_vs_empty", 1.2),
    ratio("`connect` sensor vs empty", "ratio.connect.sensor_vs_empty", 1.2),
    ratio("`fork_exec_exit` sensor vs empty", "ratio.fork_exec_exit.sensor_vs_empty", 1.2),
    ratio("`read_file` sensor vs detached", "ratio.read_file.sensor_vs_detached", 1.05),
    ratio("`write_file` sensor vs detached", "ratio.write_file.sensor_vs_detached", 1.05),
    ratio("`write_pipe` sensor vs detached", "ratio.write_pipe.sensor_vs_detached", 1.05),
    ratio("`write_devnull` sensor vs detached", "ratio.write_devnull.sensor_vs_detached", 1.05),
    ratio("`connect` sensor vs detached", "ratio.connect.sensor_vs_detached", 1.05),
    ratio("`fork_exec_exit` sensor vs detached", "ratio.fork_exec_exit.sensor_vs_detached", 1.05),
    ratio("hackbench sensor vs detached", "ratio.hackbench.sensor_vs_detached", 1.03),
    ratio("stress-ng sensor vs detached", "ratio.stress_ng.sensor_vs_detached", 1.03),
    ratio("TLS request loop sensor vs detached", "ratio.tls_request_loop.sensor_vs_detached", 1.05),
    Target {
        label: "pipeline: raw records → ECS, one core",
        key: "pipeline.events_per_sec",
        unit: Unit::EventsPerSec,
        goal: Goal::AtLeast(1e6),
    },
    Target {
        label: "rule evaluation, default pack, one core",
        key: "rules.events_per_sec",
        unit: Unit::EventsPerSec,
        goal: Goal::AtLeast(1e6),
    },
    Target {
        label: "sustained relevant opens with zero drops",
        key: "load.zero_drop_events_per_sec",
        unit: Unit::EventsPerSec,
        goal: Goal::AtLeast(1e5),
    },
    Target { label: "sensor RSS", key: "memory.rss_mib", unit: Unit::Mib, goal: Goal::AtMost(64.0) },
    Target {
        label: "RSS growth over exec churn",
        key: "memory.rss_growth_mib",
        unit: Unit::Mib,
        goal: Goal::AtMost(2.0),
    },
];

/// Figures shown for context (no target).
const CONTEXT: &[(&str, &str, Unit)] = &[
    ("`openat_close` floor (empty vs detached)", "ratio.openat_close.empty_vs_detached", Unit::Ratio),
    (
        "`openat_close_watched_allowed` sensor vs detached",
        "ratio.openat_close_watched_allowed.sensor_vs_detached",
        Unit::Ratio,
    ),
    ("`write_tcp` sensor vs detached", "ratio.write_tcp.sensor_vs_detached", Unit::Ratio),
    ("`send_tcp` sensor vs detached", "ratio.send_tcp.sensor_vs_detached", Unit::Ratio),
    ("drops at 2× the zero-drop rate", "load.drops_at_2x", Unit::Fraction),
    ("drops at 5× the zero-drop rate", "load.drops_at_5x", Unit::Fraction),
    ("catch-up after the 5× burst", "load.recovery_ms", Unit::Ms),
    ("BPF maps (memlock)", "memory.bpf_map_mib", Unit::Mib),
];

/// Every key of the report (the kernel.* keys, one pair per program, come on top).
pub fn required_keys() -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for (name, ..) in super::micro::MICRO {
        for pair in ["sensor_vs_detached", "sensor_vs_empty", "empty_vs_detached"] {
            keys.push(format!("ratio.{name}.{pair}"));
        }
        for state in ["detached", "empty", "sensor"] {
            keys.push(format!("abs.{name}.{state}_ns"));
        }
    }
    for name in ["tls_request_loop", "hackbench", "stress_ng"] {
        keys.push(format!("ratio.{name}.sensor_vs_detached"));
    }
    for k in [
        "pipeline.events_per_sec",
        "rules.events_per_sec",
        "load.zero_drop_events_per_sec",
        "load.drops_at_2x",
        "load.drops_at_5x",
        "load.recovery_ms",
        "memory.rss_mib",
        "memory.bpf_map_mib",
        "memory.rss_growth_mib",
    ] {
        keys.push(k.to_string());
    }
    keys
}

impl Report {
    /// Required keys the report lacks.
    pub fn missing(&self) -> Vec<String> {
        let mut missing: Vec<String> =
            required_keys().into_iter().filter(|k| !self.values.contains_key(k)).collect();
        if !self.values.keys().any(|k| k.starts_with("kernel.") && k.ends_with(".ns_per_run")) {
            missing.push("kernel.<program>.ns_per_run".into());
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_marks_targets_and_missing() {
        let mut r = Report::default();
        r.ratio("ratio.openat_close.sensor_vs_detached", 1.23456);
        r.abs("abs.openat_close.detached_ns", 500.0);
        r.abs("abs.openat_close.sensor_ns", 617.0);
        r.value("memory.rss_mib", 80.0);
        let t = r.table();
        assert!(
            t.contains("| `openat_close` sensor vs detached | 1.235× (500 ns → 617 ns) | ≤ 1.30× | met |"),
            "{t}"
        );
        assert!(t.contains("| sensor RSS | 80.00 MiB | ≤ 64 MiB | **not met** |"), "{t}");
        assert!(t.contains("| `connect` sensor vs empty | missing |"), "{t}");
        assert_eq!(r.get("ratio.openat_close.sensor_vs_detached"), Some(1.235));
        assert!(r.missing().contains(&"load.recovery_ms".to_string()));
    }
}
