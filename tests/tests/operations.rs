//! Operating the sensor: `/metrics`, `/healthz`, `/readyz`, periodic state documents,
//! the TOML config file and `tokenwarden config check`.

use std::{process::Command, time::Duration};

use tests::{Sensor, TempDir, binary, http_get, is_action, kernel_tests_enabled, metric, sh};

#[test]
fn metrics_show_drops_and_sink_counters_moving() {
    let Some(_serial) = kernel_tests_enabled("metrics") else { return };
    // A tiny ring buffer and a stopped consumer make the kernel drop exec records.
    let sensor = Sensor::start(&["--ringbuf-bytes", "16384"]);
    let url = sensor.metrics_url();
    assert_eq!(http_get(&format!("{url}/readyz")).0, 200, "ready once started");
    let (code, health) = http_get(&format!("{url}/healthz"));
    assert_eq!(code, 200, "healthy: {health}");
    assert!(health.contains("\"sinks_down\":[]"), "{health}");
    let (code, before) = http_get(&format!("{url}/metrics"));
    assert_eq!(code, 200, "{before}");
    let drops = "tokenwarden_kernel_ringbuf_drops_total{probe=\"exec\"}";
    let sent = "tokenwarden_sink_sent_total{sink=\"file-1\",type=\"file\"}";
    assert!(before.contains(drops) && before.contains(sent), "series exposed:\n{before}");

    sensor.signal(libc::SIGSTOP);
    sh("for i in $(seq 80); do /bin/true; done");
    sensor.signal(libc::SIGCONT);
    // A state document (SIGUSR1) moves the file sink's counter too.
    sensor.stats();
    let (_, after) = http_get(&format!("{url}/metrics"));
    assert!(
        metric(&after, drops) > metric(&before, drops),
        "exec ring-buffer drops moved: {} → {}",
        metric(&before, drops),
        metric(&after, drops)
    );
    assert!(metric(&after, sent) > metric(&before, sent), "file sink sent moved:\n{after}");
    assert!(metric(&after, "tokenwarden_events_total{kind=\"exec\"}") > 0.0, "{after}");
    assert!(metric(&after, "tokenwarden_probes_attached") >= 10.0, "{after}");
    assert!(metric(&after, "tokenwarden_process_table_size") > 0.0, "{after}");
    sensor.stop();
}

#[test]
fn periodic_state_documents_carry_every_counter() {
    let Some(_serial) = kernel_tests_enabled("state-docs") else { return };
    let sensor = Sensor::start(&["--stats-interval", "1"]);
    let first =
        sensor.wait_for("a periodic sensor-stats", Duration::from_secs(10), |d| is_action(d, "sensor-stats"));
    let seq = first["event"]["sequence"].as_u64().expect("sequence");
    let second = sensor.wait_for("a second sensor-stats", Duration::from_secs(10), |d| {
        is_action(d, "sensor-stats") && d["event"]["sequence"].as_u64() > Some(seq)
    });
    let s = &second["tokenwarden"]["sensor"];
    for key in ["kernel", "kernel_ringbuf_drops", "userspace", "sinks", "rule_hits", "exception_hits"] {
        assert!(!s[key].is_null(), "state document has {key}: {second}");
    }
    assert!(s["sinks"]["file-1"]["sent"].as_u64() > Some(0), "sink counters: {second}");
    assert_eq!(second["event"]["kind"], "state");
    assert!(!second["host"]["id"].as_str().unwrap_or("").is_empty(), "host.id: {second}");
    assert!(!second["agent"]["id"].as_str().unwrap_or("").is_empty(), "instance id: {second}");
    sensor.stop();
}

#[test]
fn config_file_sets_run_options_and_flags_override_it() {
    let Some(_serial) = kernel_tests_enabled("config-file") else { return };
    let dir = TempDir::new("config");
    let alerts = dir.path().join("alerts.jsonl");
    let config = dir.path().join("tokenwarden.toml");
    std::fs::write(
        &config,
        format!(
            "stats_interval = 1\nemit_events = true\n\n[[sink]]\nname = \"alerts-only\"\ntype = \"file\"\n\
             path = \"{}\"\nkinds = [\"alert\"]\n",
            alerts.display()
        ),
    )
    .expect("write config");
    let cfg = config.display().to_string();
    // The flag wins over the file's stats_interval = 1: no periodic report within 3 s.
    let sensor = Sensor::start(&["--config", &cfg, "--stats-interval", "3600"]);
    sh("/bin/true");
    sensor.wait_for("an exec event (emit_events from the file)", Duration::from_secs(10), |d| {
        d["event"]["kind"] == "event" && d["process"]["executable"] == "/usr/bin/true"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(!sensor.docs().iter().any(|d| is_action(d, "sensor-stats")), "the flag overrides the file");
    let docs = sensor.stop();
    assert!(docs.iter().any(|d| is_action(d, "sensor-stopped")));
    let only_alerts = std::fs::read_to_string(&alerts).expect("alert sink file exists");
    assert!(
        only_alerts.lines().all(|l| l.contains("\"kind\":\"alert\"")),
        "the alerts-only sink got only alerts: {only_alerts}"
    );
}

#[test]
fn config_check_reports_errors_with_position() {
    let dir = TempDir::new("config-check");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "stats_interval = 60\n[[sink]]\ntype = \"http\"\nurll = \"https://siem\"\n")
        .expect("write");
    let out = Command::new(binary()).args(["config", "check"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit 1; stderr: {err}");
    assert!(err.contains(&format!("{}:4:1:", path.display())), "file:line:col in: {err}");
    assert!(err.contains("urll"), "names the key: {err}");

    // Transport settings are checked too (without connecting).
    std::fs::write(
        &path,
        "[[sink]]\ntype = \"syslog\"\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\n\
         ca_file = \"/nonexistent/ca.pem\"\n",
    )
    .expect("write");
    let out = Command::new(binary()).args(["config", "check"]).arg(&path).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a missing CA file fails the check: {err}");
    assert!(err.contains("/nonexistent/ca.pem"), "names the CA file: {err}");

    std::fs::write(
        &path,
        "metrics_address = \"127.0.0.1:9999\"\n[[sink]]\nname = \"siem\"\ntype = \"http\"\n\
         url = \"https://siem.example/services/collector/event\"\nshape = \"hec\"\n\
         token_env = \"HEC_TOKEN\"\nkinds = [\"alert\"]\n",
    )
    .expect("write");
    let out = Command::new(binary())
        .args(["config", "check"])
        .arg(&path)
        .env("HEC_TOKEN", "check-only-token")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "valid config: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("siem (http)") && text.contains("127.0.0.1:9999"), "{text}");
}
