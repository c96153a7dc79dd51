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
