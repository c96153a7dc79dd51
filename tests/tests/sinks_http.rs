//! Black-box tests of the HTTP sink: real alerts from real programs reach a loopback
//! collector (Splunk HEC and Elasticsearch `_bulk` shapes) through the on-disk spool,
//! across receiver outages, 503s, sensor restarts and a full spool.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{Sensor, TempDir, is_action, is_alert, kernel_tests_enabled, sh, users::TestUser};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "tw-test-token-6f1c9a0e7d";

/// The python collector in `tests/data/http_receiver.py`, on a fixed loopback port once
/// started (so it can be stopped and started again).
struct Receiver {
    dir: PathBuf,
    port: u16,
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

impl Receiver {
    fn start(dir: &Path, tls: Option<(PathBuf, PathBuf)>) -> Receiver {
        let mut r = Receiver { dir: dir.to_path_buf(), port: 0, tls, child: None };
        r.up();
        r
    }

    fn up(&mut self) {
        assert!(self.child.is_none(), "receiver already running");
        let port_file = self.dir.join("port");
        let _ = std::fs::remove_file(&port_file);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/http_receiver.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg("--log")
            .arg(self.dir.join("requests.jsonl"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--fail-file")
            .arg(self.dir.join("fail"));
        if let Some((cert, key)) = &self.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let child = cmd.stdout(Stdio::null()).spawn().expect("spawn python3 receiver");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.port = std::fs::read_to_string(&port_file).expect("port").trim().parse().expect("port number");
    }

    /// Kills the receiver: connections are refused until `up`.
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn set_failing(&self, failing: bool) {
        let f = self.dir.join("fail");
        if failing {
            std::fs::write(&f, "").expect("fail flag");
        } else {
            let _ = std::fs::remove_file(&f);
        }
    }

    fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("requests.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("receiver log line")).collect()
    }

    /// Documents of the requests the receiver accepted, in arrival order.
    fn docs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for req in self.requests().iter().filter(|r| r["status"] == 200) {
            let body = req["body"].as_str().expect("body");
            let values: Vec<Value> = serde_json::Deserializer::from_str(body)
                .into_iter::<Value>()
                .map(|v| v.expect("request body is JSON"))
                .collect();
            if req["path"].as_str().is_some_and(|p| p.ends_with("/_bulk")) {
                out.extend(values.chunks(2).map(|pair| pair[1].clone()));
            } else {
                out.extend(values.into_iter().map(|v| v["event"].clone()));
            }
        }
        out
    }

    /// Waits until every `event.id` in `ids` arrived.
    fn wait_for_ids(&self, ids: &[String], what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got: HashSet<String> =
                self.docs().iter().filter_map(|d| d["event"]["id"].as_str().map(String::from)).collect();
            let missing: Vec<&String> = ids.iter().filter(|i| !got.contains(*i)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {} documents never arrived: {missing:?}",
                missing.len(),
                ids.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// `n` reads of the user's credential store by `cat` (one alert each).
fn cat_store(user: &TestUser, store: &Path, n: usize) {
    let out = user
        .sh(&format!("for i in $(seq {n}); do cat {} >/dev/null; done", store.display()))
        .output()
        .expect("spawn cats");
    assert!(out.status.success(), "cats failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn alerts(docs: &[Value]) -> Vec<Value> {
    docs.iter().filter(|d| is_alert(d)).cloned().collect()
}

/// Waits until the sensor's own file output holds `n` alerts; returns them.
fn wait_alerts(sensor: &Sensor, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let a = alerts(&sensor.docs());
        if a.len() >= n {
            return a;
        }
        assert!(Instant::now() < deadline, "only {} of {n} alerts: {}", a.len(), sensor.all_output());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter().map(|d| d["event"]["id"].as_str().expect("event.id").to_string()).collect()
}

fn write_config(dir: &Path, sink: &str) -> PathBuf {
    let p = dir.join("tokenwarden.toml");
    std::fs::write(&p, sink).expect("config");
    p
}

/// A config with one HEC sink `hec` to `port`, spooling to `dir/spool`, plus `extra`
/// settings (TOML lines); returns its path.
fn hec_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "[[sink]]\nname = \"hec\"\ntype = \"http\"\nshape = \"hec\"\n\
             url = \"http://127.0.0.1:{port}/services/collector/event\"\ntoken_file = \"{}\"\n\
             spool_dir = \"{}\"\n{extra}",
            token_file(dir).display(),
            dir.join("spool").display()
        ),
    )
}

fn token_file(dir: &Path) -> PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, format!("{TOKEN}\n")).expect("token");
    p
}

fn sink_stats(doc: &Value, name: &str) -> Value {
    doc["tokenwarden"]["sensor"]["sinks"][name].clone()
}

#[test]
fn hec_delivers_every_alert_in_order_across_outage_and_503() {
    let Some(_serial) = kernel_tests_enabled("sinks-hec") else { return };
    let tmp = TempDir::new("hec");
    let user = TestUser::create("hec");
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let mut rx = Receiver::start(tmp.path(), None);
    let cfg = hec_config(tmp.path(), rx.port, "kinds = [\"alert\"]\nbatch_max = 4\n");
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf8")]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));

    cat_store(&user, &store, 15);
    let first = wait_alerts(&sensor, 15);
    rx.wait_for_ids(&ids(&first), "before the outage");

    // Receiver gone: connections refused.
    rx.down();
    cat_store(&user, &store, 15);
    wait_alerts(&sensor, 30);
    std::thread::sleep(Duration::from_secs(2));
    // Back, but answering 503.
    rx.set_failing(true);
    rx.up();
    std::thread::sleep(Duration::from_secs(2));
    let stats = sink_stats(&sensor.stats(), "hec");
    assert!(stats["failed"].as_u64().is_some_and(|f| f > 0), "failures counted: {stats}");
    assert_eq!(stats["up"], false, "{stats}");
    assert!(stats["spool_records"].as_u64().is_some_and(|n| n >= 15), "alerts wait in the spool: {stats}");
    assert!(rx.requests().iter().any(|r| r["status"] == 503), "the 503 phase was exercised");
    rx.set_failing(false);
    cat_store(&user, &store, 15);
    let all = wait_alerts(&sensor, 45);
    rx.wait_for_ids(&ids(&all), "after the outage");

    // In order: by first arrival, the sensor's sequence never goes back.
    let mut seen = HashSet::new();
    let firsts: Vec<u64> = rx
        .docs()
        .iter()
        .filter(|d| seen.insert(d["event"]["id"].as_str().unwrap_or_default().to_string()))
        .map(|d| d["event"]["sequence"].as_u64().expect("event.sequence"))
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "delivered out of order: {firsts:?}");
    let want: Vec<u64> = all.iter().map(|d| d["event"]["sequence"].as_u64().expect("sequence")).collect();
    assert!(want.iter().all(|s| firsts.contains(s)), "every alert sequence delivered");
    // Only alerts (the sink's `kinds`), each in HEC framing with the token.
    assert!(rx.docs().iter().all(is_alert), "a non-alert reached the HEC sink");
    for req in rx.requests() {
        assert_eq!(req["path"], "/services/collector/event");
        assert_eq!(req["headers"]["authorization"], format!("Splunk {TOKEN}"));
        assert_eq!(req["headers"]["content-encoding"], "gzip", "gzip by default");
        let first: Value = serde_json::Deserializer::from_str(req["body"].as_str().expect("body"))
            .into_iter::<Value>()
            .next()
            .expect("one event")
            .expect("JSON");
        assert_eq!(first["source"], "tokenwarden");
        assert_eq!(first["sourcetype"], "tokenwarden:ecs");
        assert!(first["time"].as_f64().is_some_and(|t| t > 1.7e9), "epoch time: {first}");
    }
    let stats = sink_stats(&sensor.stats(), "hec");
    assert_eq!(stats["up"], true, "{stats}");
    let out_text = std::fs::read_to_string(&sensor.out).expect("output");
    let err_text = sensor.stderr();
    sensor.stop();
    assert!(
        !out_text.contains(TOKEN) && !err_text.contains(TOKEN),
        "the token leaked into the sensor's output"
    );
    let spool_text: String = std::fs::read_dir(tmp.path().join("spool"))
        .expect("spool dir")
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(!spool_text.contains(TOKEN), "the token leaked into the spool");
}

/// A sensor whose HEC receiver is down, after `n` alerts (reads of a user's AWS store by
/// `cat`) went to the spool; what the restart and crash tests start from.
struct Spooled {
    _tmp: TempDir,
    _user: TestUser,
    rx: Receiver,
    cfg: String,
    sensor: Sensor,
    first_run: Vec<Value>,
}

impl Spooled {
    fn start(tag: &str, user_tag: &str, n: usize) -> Spooled {
        let tmp = TempDir::new(tag);
        let user = TestUser::create(user_tag);
        let store =
            user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
        let mut rx = Receiver::start(tmp.path(), None);
        rx.down();
        let cfg = hec_config(tmp.path(), rx.port, "kinds = [\"alert\"]\n");
        let cfg = cfg.to_str().expect("utf8").to_string();
        let sensor = Sensor::start(&["--config", &cfg]);
        sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
        cat_store(&user, &store, n);
        let first_run = wait_alerts(&sensor, n);
        Spooled { _tmp: tmp, _user: user, rx, cfg, sensor, first_run }
    }
}

#[test]
fn spooled_alerts_survive_a_sensor_restart() {
    let Some(_serial) = kernel_tests_enabled("sinks-restart") else { return };
    let Spooled { _tmp, _user, mut rx, cfg, sensor, first_run } = Spooled::start("restart", "rst", 10);
    let cfg = cfg.as_str();
    let docs = sensor.stop();
    let stopped = docs.iter().find(|d| is_action(d, "sensor-stopped")).expect("sensor-stopped");
    let st = sink_stats(stopped, "hec");
    assert_eq!(st["sent"], 0, "nothing could be delivered: {st}");
    assert!(st["spool_records"].as_u64().is_some_and(|n| n >= 10), "alerts spooled: {st}");

    rx.up();
    let sensor = Sensor::start(&["--config", cfg]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    rx.wait_for_ids(&ids(&first_run), "alerts of the previous run");
    let seqs: Vec<u64> =
        rx.docs().iter().take(10).map(|d| d["event"]["sequence"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "replayed in order: {seqs:?}");
    sensor.stop();
}

#[test]
fn spooled_alerts_survive_a_sensor_crash() {
    let Some(_serial) = kernel_tests_enabled("sinks-crash") else { return };
    let Spooled { _tmp, _user, mut rx, cfg, sensor, first_run } = Spooled::start("crash", "crs", 5);
    let cfg = cfg.as_str();
    // SIGKILL: no drain, no clean stop; what reached the spool must survive. (The file
    // sink and the spool are flushed in the same step; give that step a moment.)
    std::thread::sleep(std::time::Duration::from_millis(300));
    sensor.signal(libc::SIGKILL);
    drop(sensor);
    rx.up();
    let sensor = Sensor::start(&["--config", cfg]);
    rx.wait_for_ids(&ids(&first_run), "alerts spooled before the crash");
    sensor.stop();
}

/// Bytes of the spool's segment files (the limit's scope; the cursor file is one line).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

#[test]
fn full_spool_drops_events_and_keeps_alerts() {
    let Some(_serial) = kernel_tests_enabled("sinks-full") else { return };
    let tmp = TempDir::new("full");
    let user = TestUser::create("full");
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let mut rx = Receiver::start(tmp.path(), None);
    rx.down();
    // Twelve alerts (≈ 6 KB each here, more under a deep CI process tree) fit many times
    // over; the exec events below are many times the limit.
    let limit: u64 = 512 << 10;
    let spool = tmp.path().join("spool");
    let cfg = hec_config(tmp.path(), rx.port, &format!("spool_max_bytes = {limit}\n"));
    let cfg = cfg.to_str().expect("utf8");
    let sensor = Sensor::start(&["--config", cfg, "--emit-events"]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    cat_store(&user, &store, 6);
    // Far more exec events than the spool holds.
    for _ in 0..6 {
        sh("for i in $(seq 250); do /bin/true; done");
        assert!(dir_size(&spool) <= limit, "spool {} bytes, limit {limit}", dir_size(&spool));
    }
    cat_store(&user, &store, 6);
    let alerts_run = wait_alerts(&sensor, 12);
    std::thread::sleep(Duration::from_millis(500));
    assert!(dir_size(&spool) <= limit, "spool {} bytes, limit {limit}", dir_size(&spool));
    let docs = sensor.stop();
    assert!(dir_size(&spool) <= limit, "spool {} bytes, limit {limit}", dir_size(&spool));
    let stopped = docs.iter().find(|d| is_action(d, "sensor-stopped")).expect("sensor-stopped");
    let st = sink_stats(stopped, "hec");
    assert!(st["dropped_events"].as_u64().is_some_and(|n| n > 100), "events dropped: {st}");
    assert_eq!(st["dropped_alerts"], 0, "{st}");
    assert!(st["spool_bytes"].as_u64().is_some_and(|b| b <= limit), "{st}");

    // Every alert is still there: the next run delivers them.
    rx.up();
    let sensor = Sensor::start(&["--config", cfg]);
    rx.wait_for_ids(&ids(&alerts_run), "alerts kept in the full spool");
    sensor.stop();
}

#[test]
fn bulk_over_tls_with_a_private_ca() {
    let Some(_serial) = kernel_tests_enabled("sinks-bulk") else { return };
    let tmp = TempDir::new("bulk");
    let d = tmp.path().display();
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
           -subj '/CN=tokenwarden test CA' 2>/dev/null && \
         openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj '/CN=localhost' 2>/dev/null && \
         printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
           -extfile ext 2>/dev/null"
    ));
    let user = TestUser::create("bulk");
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let rx = Receiver::start(tmp.path(), Some((tmp.path().join("srv.pem"), tmp.path().join("srv.key"))));
    let cfg = write_config(
        tmp.path(),
        &format!(
            "[[sink]]\nname = \"es\"\ntype = \"http\"\nshape = \"bulk\"\n\
             url = \"https://127.0.0.1:{}/_bulk\"\ntoken_file = \"{}\"\nca_file = \"{d}/ca.pem\"\n\
             index = \"tw-alerts\"\nkinds = [\"alert\"]\ngzip = true\n",
            rx.port,
            token_file(tmp.path()).display(),
        ),
    );
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf8")]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    cat_store(&user, &store, 5);
    let sent = wait_alerts(&sensor, 5);
    rx.wait_for_ids(&ids(&sent), "bulk documents");
    for req in rx.requests() {
        assert_eq!(req["status"], 200);
        assert_eq!(req["headers"]["authorization"], format!("ApiKey {TOKEN}"));
        assert_eq!(req["headers"]["content-type"], "application/x-ndjson");
        assert_eq!(req["headers"]["content-encoding"], "gzip");
        let body = req["body"].as_str().expect("body");
        assert!(body.ends_with('\n'), "NDJSON ends with a newline");
        let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("NDJSON line")).collect();
        assert!(lines.len().is_multiple_of(2) && !lines.is_empty());
        for pair in lines.chunks(2) {
            assert_eq!(pair[0]["create"]["_index"], "tw-alerts", "action line: {}", pair[0]);
            assert_eq!(pair[0]["create"]["_id"], pair[1]["event"]["id"], "document id is event.id");
            assert!(is_alert(&pair[1]));
        }
    }
    let stats = sink_stats(&sensor.stats(), "es");
    assert_eq!(stats["up"], true, "{stats}");
    assert_eq!(stats["failed"], 0, "TLS with the private CA verified at once: {stats}");
    let logs = sensor.stderr();
    let docs = sensor.stop();
    assert!(!logs.contains(TOKEN), "the token leaked into the logs");
    assert!(!docs.iter().any(|d| d.to_string().contains(TOKEN)), "the token leaked into the output");
}
