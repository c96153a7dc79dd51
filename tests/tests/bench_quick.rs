//! `cargo xtask bench --quick` end to end: it runs every part and writes a report with
//! every key as a finite number.

use std::{path::Path, process::Command};

use serde_json::Value;
use tests::kernel_tests_enabled;

/// Micro workloads: each has all three ratios and three absolute figures.
const MICRO: &[&str] = &[
    "openat_close",
    "openat_close_watched_allowed",
    "read_file",
    "write_file",
    "write_devnull",
    "write_pipe",
    "write_tcp",
    "send_tcp",
    "connect",
    "fork_exec_exit",
];

const OTHER_KEYS: &[&str] = &[
    "ratio.tls_request_loop.sensor_vs_detached",
    "ratio.hackbench.sensor_vs_detached",
    "ratio.stress_ng.sensor_vs_detached",
    "pipeline.events_per_sec",
    "rules.events_per_sec",
    "load.zero_drop_events_per_sec",
    "load.drops_at_2x",
    "load.drops_at_5x",
    "load.recovery_ms",
    "memory.rss_mib",
    "memory.bpf_map_mib",
    "memory.rss_growth_mib",
];

fn expected_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for name in MICRO {
        for pair in ["sensor_vs_detached", "sensor_vs_empty", "empty_vs_detached"] {
            keys.push(format!("ratio.{name}.{pair}"));
        }
        for state in ["detached", "empty", "sensor"] {
            keys.push(format!("abs.{name}.{state}_ns"));
        }
    }
    keys.extend(OTHER_KEYS.iter().map(|k| k.to_string()));
    keys
}

#[test]
fn bench_quick_reports_every_figure() {
    let Some(_serial) = kernel_tests_enabled("bench_quick_reports_every_figure") else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let report_path = root.join("target/bench/report.json");
    // A report left by an earlier run must not pass for this one.
    let _ = std::fs::remove_file(&report_path);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["xtask", "bench", "--quick"])
        .current_dir(root)
        .output()
        .expect("run cargo xtask bench --quick");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&report_path).unwrap_or_else(|e| {
        panic!("no {} ({e}); bench exited {}:\n{stderr}", report_path.display(), out.status)
    });
    let report: Value = serde_json::from_str(&text).expect("report.json is JSON");
    let report = report.as_object().expect("report.json is an object");
    let finite = |k: &str| report.get(k).and_then(Value::as_f64).is_some_and(f64::is_finite);
    let mut missing: Vec<String> = expected_keys().into_iter().filter(|k| !finite(k)).collect();
    let kernel =
        report.iter().filter(|(k, v)| k.starts_with("kernel.") && v.as_f64().is_some_and(f64::is_finite));
    for suffix in [".ns_per_run", ".runs"] {
        if !kernel.clone().any(|(k, _)| k.ends_with(suffix)) {
            missing.push(format!("kernel.<program>{suffix}"));
        }
    }
    assert!(
        missing.is_empty(),
        "report.json lacks finite values for: {}\nbench exited {}; stdout:\n{stdout}\nstderr (end):\n{}",
        missing.join(", "),
        out.status,
        tail(&stderr, 60)
    );
    assert!(out.status.success(), "bench exited {}:\n{}", out.status, tail(&stderr, 60));
    assert!(stdout.contains("| figure | value | target |"), "no Markdown table on stdout:\n{stdout}");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
