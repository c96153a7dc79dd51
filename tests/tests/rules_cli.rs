//! `tokenwarden rules check` and `run` on bad rule files: clear `file:line:col` errors,
//! non-zero exit, no root or BPF needed.

use std::process::Command;

use tests::{TempDir, binary};

const BAD: &str = "tokenwarden_rules: 1
rules:
  - id: cred-test
    name: Test
    serverity: high
    description: x
    severity: extreme
    techniques: [T1552.001]
    event: file_open
    files: [\"**/.aws/credentials\"]
    output: \"{process.executable} read {file.path}\"
";

#[test]
fn rules_check_reports_every_error_with_position() {
    let dir = TempDir::new("rules-cli");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, BAD).expect("write");
    let out = Command::new(binary()).args(["rules", "check"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1 on invalid rules; stderr: {err}");
    let file = path.display().to_string();
    assert!(err.contains(&format!("{file}:5:5:")), "unknown field at 5:5 in: {err}");
    assert!(err.contains("serverity"), "names the offending key: {err}");
    assert!(err.contains(&format!("{file}:7:15:")), "bad severity at 7:15 in: {err}");
}

#[test]
fn rules_check_accepts_the_default_pack() {
    let dump = Command::new(binary()).args(["rules", "dump"]).output().expect("dump");
    assert!(dump.status.success());
    let dir = TempDir::new("rules-dump");
    let path = dir.path().join("default.yaml");
    std::fs::write(&path, &dump.stdout).expect("write");
    let out = Command::new(binary()).args(["rules", "check"]).arg(&path).output().expect("check");
    assert!(out.status.success(), "default pack must validate: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

#[test]
fn run_refuses_invalid_rules_before_loading_probes() {
    let dir = TempDir::new("rules-run");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, BAD).expect("write");
    let out = Command::new(binary()).arg("run").arg("--rules").arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run must fail on invalid rules");
    assert!(err.contains(&format!("{}:5:5:", path.display())), "{err}");
    assert!(!err.contains("probes attached"), "no probe may be loaded: {err}");
}

#[test]
fn rules_test_runs_the_default_pack_cases_with_full_coverage() {
    let rules_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let out = Command::new(binary())
        .args(["rules", "test", "--require-coverage"])
        .arg(&rules_dir)
        .output()
        .expect("rules test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn rules_test_reports_a_wrong_expectation_with_its_position() {
    let dir = TempDir::new("rules-test");
    let rules = dir.path().join("site.yaml");
    std::fs::write(
        &rules,
        "tokenwarden_rules: 1\nrules:\n  - id: r1\n    name: R\n    severity: low\n    techniques: [T1552]\n    event: file_open\n    files: [\"**/.netrc\"]\n    output: o\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("site.test.yaml"),
        "tokenwarden_rule_tests: 1\ntests:\n  - name: wrong on purpose\n    rule: r1\n    expect: no_alert\n    event: {process.executable: /usr/bin/cat, file.path: /home/a/.netrc}\n",
    )
    .expect("write");
    let out = Command::new(binary()).args(["rules", "test"]).arg(&rules).output().expect("rules test");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("site.test.yaml:3:5: wrong on purpose: expected no alert from r1"), "{err}");
}
