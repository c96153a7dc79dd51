//! Hot reload in the running sensor: a valid change takes effect without a restart
//! (SIGHUP and file change), an invalid one is reported and the old rules stay.

use std::time::Duration;

use tests::{Sensor, TempDir, is_action, is_alert, kernel_tests_enabled, sh};

const WAIT: Duration = Duration::from_secs(20);

fn rules(name: &str) -> String {
    format!(
        "tokenwarden_rules: 1
rules:
  - id: watch-{name}
    name: {name} opened
    severity: medium
    techniques: [T1552.001]
    event: file_open
    files: [\"**/{name}\"]
    output: \"{{process.executable}} opened {{file.path}}\"
"
    )
}

fn alerts_for(sensor: &Sensor, path: &str) -> usize {
    sensor.docs().iter().filter(|d| is_alert(d) && d["file"]["path"] == path).count()
}

#[test]
fn valid_reload_changes_detection_and_invalid_reload_keeps_old_rules() {
    let Some(_serial) = kernel_tests_enabled("hot_reload") else { return };
    let dir = TempDir::new("reload");
    let rules_dir = dir.path().join("rules.d");
    std::fs::create_dir_all(&rules_dir).expect("mkdir");
    let file = rules_dir.join("site.yaml");
    std::fs::write(&file, rules("tw-secret-a")).expect("write");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let a = data.join("tw-secret-a");
    let b = data.join("tw-secret-b");
    std::fs::write(&a, "a").expect("write");
    std::fs::write(&b, "b").expect("write");
    let (a_s, b_s) = (a.display().to_string(), b.display().to_string());

    let sensor = Sensor::start(&["--rules", &rules_dir.display().to_string()]);
    sh(&format!("cat {a_s} {b_s} >/dev/null"));
    sensor.wait_for("alert for a", WAIT, |d| is_alert(d) && d["file"]["path"] == a_s.as_str());
    assert_eq!(alerts_for(&sensor, &b_s), 0, "b is not watched yet");

    // Valid change, applied on SIGHUP.
    std::fs::write(&file, rules("tw-secret-b")).expect("rewrite");
    sensor.signal(libc::SIGHUP);
    let reloaded = sensor.wait_for("rules-reloaded", WAIT, |d| is_action(d, "rules-reloaded"));
    assert_eq!(reloaded["event"]["kind"], "state");
    assert_eq!(reloaded["tokenwarden"]["sensor"]["rules"]["enabled"], 1);
    let a_before = alerts_for(&sensor, &a_s);
    sh(&format!("cat {a_s} {b_s} >/dev/null"));
    sensor.wait_for("alert for b", WAIT, |d| is_alert(d) && d["file"]["path"] == b_s.as_str());
    assert_eq!(alerts_for(&sensor, &a_s), a_before, "a is no longer watched after the reload");

    // Invalid change, picked up from the file itself: reported, old rules stay in force.
    std::fs::write(&file, rules("tw-secret-a").replace("severity: medium", "severity: extreme"))
        .expect("break");
    let failed = sensor.wait_for("rules-reload-failed", WAIT, |d| is_action(d, "rules-reload-failed"));
    let errors = failed["tokenwarden"]["sensor"]["errors"].as_array().expect("errors");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with(&format!("{}:5:15:", file.display())))),
        "error with file:line:col: {errors:?}"
    );
    assert_eq!(failed["tokenwarden"]["sensor"]["trigger"], "file-change");
    let b_before = alerts_for(&sensor, &b_s);
    sh(&format!("cat {b_s} >/dev/null"));
    sensor.wait_for("b still alerts", WAIT, |d| {
        is_alert(d) && d["file"]["path"] == b_s.as_str() && alerts_for(&sensor, &b_s) > b_before
    });
    assert!(sensor.stderr().contains("rule reload rejected"), "logged too");
    let docs = sensor.stop();
    let stopped = docs.iter().find(|d| is_action(d, "sensor-stopped")).expect("stopped");
    let u = &stopped["tokenwarden"]["sensor"]["userspace"];
    assert_eq!(u["rule_reloads"], 1);
    assert_eq!(u["rule_reload_failures"], 1);
    // Every alert exactly once: sequence numbers are unique.
    let mut seqs: Vec<u64> = docs.iter().filter_map(|d| d["event"]["sequence"].as_u64()).collect();
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no document emitted twice");
}
