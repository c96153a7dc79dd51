//! `cargo xtask bench`: runs the benchmarks and writes `target/bench/report.json`
//! (stable keys) and a Markdown table on stdout.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::{cargo, root, run};

/// Events per second of a criterion benchmark with element throughput.
fn criterion_rate(group: &str, name: &str) -> anyhow::Result<f64> {
    let dir = root().join("target/criterion").join(group).join(name).join("new");
    let read = |f: &str| -> anyhow::Result<Value> {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let mean_ns = read("estimates.json")?["mean"]["point_estimate"].as_f64().context("mean estimate")?;
    let elements =
        read("benchmark.json")?["throughput"]["Elements"].as_f64().context("element throughput")?;
    Ok(elements / (mean_ns * 1e-9))
}

pub fn bench(quick: bool) -> anyhow::Result<()> {
    let measure = if quick { "2" } else { "10" };
    run(cargo().args([
        "bench",
        "-p",
        "sensor-user",
        "--bench",
        "rules",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        measure,
    ]))?;
    let mut report: BTreeMap<String, Value> = BTreeMap::new();
    let rules_rate = criterion_rate("rules", "match_event_default_pack")?;
    report.insert("rules.events_per_sec".into(), json!(rules_rate.round()));
    let mut rows = vec![format!(
        "| rule evaluation, default pack, one core | {:.2} M events/s | ≥ 1 M events/s |",
        rules_rate / 1e6
    )];
    if crate::is_root() {
        let bin = crate::build()?;
        let (pairs, n) = if quick { (3, 200_000) } else { (9, 1_000_000) };
        for (name, ratio, det, sen) in crate::bench_io::measure(&bin, pairs, n)? {
            report
                .insert(format!("ratio.{name}.sensor_vs_detached"), json!((ratio * 1000.0).round() / 1000.0));
            rows.push(format!(
                "| `{name}` sensor vs detached | {ratio:.3}× ({det:.0} → {sen:.0} ns/op) | ≤ 1.05× |"
            ));
        }
    } else {
        eprintln!("xtask bench: not root: skipping the sensor overhead figures");
    }
    let out_dir = root().join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("| figure | value | goal |");
    println!("|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("report: {}", display(&path));
    Ok(())
}

fn display(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}
