//! Black-box tests of the syslog sink against a real rsyslogd started here: RFC 5424
//! fields as rsyslog parses them, octet-counted TCP and TLS, UDP, certificate name
//! checking, and reconnection after rsyslog restarts.

use std::{
    collections::BTreeMap,
    net::{TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{Sensor, TempDir, is_action, is_alert, kernel_tests_enabled, sh, users::TestUser};

const WAIT: Duration = Duration::from_secs(20);

/// rsyslog writes every message it parsed as one JSON line of its RFC 5424 fields.
const TEMPLATE: &str = r#"template(name="fields" type="string" string="{\"pri\":\"%pri%\",\"version\":\"%protocol-version%\",\"timestamp\":\"%timereported:::date-rfc3339%\",\"hostname\":\"%hostname:::json%\",\"app_name\":\"%app-name:::json%\",\"procid\":\"%procid:::json%\",\"msgid\":\"%msgid:::json%\",\"sd\":\"%structured-data:::json%\",\"msg\":\"%msg:::json%\"}\n")"#;

/// A private rsyslogd: its own config, work directory and pid file, no /dev/log (no
/// imuxsock) and no kernel log, only the three listeners on loopback.
struct Rsyslog {
    child: Option<Child>,
    dir: PathBuf,
    tcp: u16,
    tls: u16,
    udp: u16,
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Whether `port` is bound on 127.0.0.1 (TCP: listening) per /proc/net.
fn bound(proto: &str, port: u16) -> bool {
    let table = std::fs::read_to_string(format!("/proc/net/{proto}")).unwrap_or_default();
    let want = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want && (proto == "udp" || f[3] == "0A")
    })
}

impl Rsyslog {
    fn start(dir: &Path) -> Rsyslog {
        let mut r = Rsyslog {
            child: None,
            dir: dir.to_path_buf(),
            tcp: free_tcp_port(),
            tls: free_tcp_port(),
            udp: free_udp_port(),
        };
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="64k"
  defaultNetstreamDriverCAFile="{d}/ca.pem"
  defaultNetstreamDriverCertFile="{d}/server.pem"
  defaultNetstreamDriverKeyFile="{d}/server.key")
module(load="imtcp")
module(load="imudp")
{TEMPLATE}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.jsonl" template="fields") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.jsonl" template="fields") }}
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.jsonl" template="fields") }}
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="tls"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
"#,
            tcp = r.tcp,
            tls = r.tls,
            udp = r.udp,
        );
        std::fs::create_dir_all(dir.join("work")).expect("work dir");
        std::fs::write(dir.join("rsyslog.conf"), conf).expect("write rsyslog.conf");
        let check = Command::new("rsyslogd")
            .args(["-N1", "-f"])
            .arg(dir.join("rsyslog.conf"))
            .output()
            .expect("rsyslogd not installed: run `cargo xtask setup`");
        assert!(check.status.success(), "rsyslog.conf invalid: {}", String::from_utf8_lossy(&check.stderr));
        r.run();
        r
    }

    /// Starts rsyslogd on the ports already chosen and waits until it listens.
    fn run(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rsyslogd.log"))
            .expect("rsyslogd log");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn rsyslogd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(bound("tcp", self.tcp) && bound("tcp", self.tls) && bound("udp", self.udp)) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("rsyslogd exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "rsyslogd not listening in 15 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait: rsyslog writes what it received and closes every connection.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while c.try_wait().expect("wait rsyslogd").is_none() {
                assert!(Instant::now() < deadline, "rsyslogd did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(!bound("tcp", self.tcp), "TCP port still listening after rsyslogd stopped");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
    }

    /// Every message rsyslog wrote for one listener (`tcp`, `tls` or `udp`).
    fn received(&self, listener: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join(format!("{listener}.jsonl"))).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        complete
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("rsyslog line is not JSON ({e}): {l}"))
            })
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A test CA and a server certificate for `localhost` / 127.0.0.1, made with openssl.
fn make_certs(dir: &Path) {
    let d = dir.display();
    sh(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
           -subj '/CN=tokenwarden test CA' 2>&1 \
         && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' 2>&1 \
         && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.cnf \
         && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
           -days 2 -extfile san.cnf 2>&1 && chmod 600 ca.key server.key"
    ));
}

/// The syslog sink settings of the sensor: TCP (alerts only, authpriv), TLS (every
/// document, auth), UDP (alerts only, local0), and TLS with a name the certificate
/// does not carry (alerts only: must deliver nothing).
fn sensor_config(r: &Rsyslog, dir: &Path) -> PathBuf {
    let ca = dir.join("ca.pem");
    let conf = format!(
        r#"
[[sink]]
name = "syslog-tcp"
type = "syslog"
address = "127.0.0.1:{tcp}"
transport = "tcp"
kinds = ["alert"]

[[sink]]
name = "syslog-tls"
type = "syslog"
address = "127.0.0.1:{tls}"
transport = "tls"
server_name = "localhost"
ca_file = "{ca}"
app_name = "tw-tls"
facility = 4
timeout_secs = 5

[[sink]]
name = "syslog-udp"
type = "syslog"
address = "127.0.0.1:{udp}"
transport = "udp"
facility = 16
kinds = ["alert"]

[[sink]]
name = "syslog-wrong-name"
type = "syslog"
address = "127.0.0.1:{tls}"
transport = "tls"
server_name = "not-the-receiver.example"
ca_file = "{ca}"
app_name = "tw-wrong-name"
kinds = ["alert"]
"#,
        tcp = r.tcp,
        tls = r.tls,
        udp = r.udp,
        ca = ca.display()
    );
    let path = dir.join("tokenwarden.toml");
    std::fs::write(&path, conf).expect("write sensor config");
    path
}

/// Reads the user's credential store with `cat` (not allowlisted): one alert.
fn steal(sensor: &Sensor, user: &TestUser, store: &Path) -> Value {
    let out = user
        .sh(&format!("cat {} >/dev/null & echo $!; wait $!", store.display()))
        .output()
        .expect("spawn cat");
    assert!(out.status.success(), "cat failed: {}", String::from_utf8_lossy(&out.stderr));
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("cat pid");
    sensor.wait_for(&format!("alert for cat {pid}"), WAIT, |d| is_alert(d) && d["process"]["pid"] == pid)
}

fn seq(d: &Value) -> u64 {
    d["event"]["sequence"].as_u64().unwrap_or_else(|| panic!("no event.sequence in {d}"))
}

/// Messages of one listener by their SD sequence number, for one APP-NAME.
fn by_seq(msgs: &[Value], app_name: &str) -> BTreeMap<u64, Vec<Value>> {
    let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for m in msgs.iter().filter(|m| m["app_name"] == app_name) {
        let sd = m["sd"].as_str().unwrap_or_default();
        let n = sd
            .strip_prefix("[tokenwarden@32473 seq=\"")
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no sequence in SD {sd:?}: {m}"));
        out.entry(n).or_default().push(m.clone());
    }
    out
}

/// Waits until rsyslog wrote a message for each of `seqs` on `listener` for `app_name`.
fn wait_received(r: &Rsyslog, listener: &str, app_name: &str, seqs: &[u64], sensor: &Sensor) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = by_seq(&r.received(listener), app_name);
        let missing: Vec<u64> = seqs.iter().copied().filter(|s| !got.contains_key(s)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{listener}: sequences {missing:?} never reached rsyslog; rsyslog: {}\nsensor: {}",
            r.log(),
            sensor.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Syslog severity the sensor documents for an alert's `event.severity`.
fn severity(d: &Value) -> u64 {
    match d["event"]["severity"].as_u64().expect("event.severity") {
        s if s >= 99 => 2,
        s if s >= 73 => 3,
        s if s >= 47 => 4,
        _ => 5,
    }
}

/// One message as rsyslog parsed it, against the sensor's own copy of the document.
fn check_message(m: &Value, d: &Value, facility: u64, app_name: &str, sensor_pid: u32) {
    let kind = d["event"]["kind"].as_str().expect("event.kind");
    let sev = if kind == "alert" { severity(d) } else { 6 };
    assert_eq!(m["pri"], (facility * 8 + sev).to_string(), "PRI of {m}");
    assert_eq!(m["version"], "1");
    assert_eq!(m["timestamp"], d["@timestamp"], "TIMESTAMP is the document's @timestamp");
    assert_eq!(m["hostname"], d["host"]["name"]);
    assert_eq!(m["app_name"], app_name);
    assert_eq!(m["procid"], sensor_pid.to_string());
    assert_eq!(m["msgid"], d["event"]["action"]);
    assert_eq!(m["sd"], format!("[tokenwarden@32473 seq=\"{}\" kind=\"{kind}\"]", seq(d)));
    let body: Value = serde_json::from_str(m["msg"].as_str().expect("msg"))
        .unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {m}"));
    assert_eq!(&body, d, "MSG is the sensor's document");
}

#[test]
fn alerts_reach_real_rsyslog_over_tcp_tls_and_udp_and_tcp_reconnects_after_restart() {
    let Some(_serial) = kernel_tests_enabled("sinks_syslog") else { return };
    let tmp = TempDir::new("syslog");
    make_certs(tmp.path());
    let mut rsyslog = Rsyslog::start(tmp.path());
    let config = sensor_config(&rsyslog, tmp.path());
    let user = TestUser::create("syslog");
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let config_arg = config.display().to_string();
    let sensor = Sensor::start(&["--config", &config_arg]);
    let started = sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    let pid = sensor.pid();

    // Three real alerts from real programs.
    let alerts: Vec<Value> = (0..3).map(|_| steal(&sensor, &user, &store)).collect();
    let seqs: Vec<u64> = alerts.iter().map(seq).collect();
    wait_received(&rsyslog, "tcp", "tokenwarden", &seqs, &sensor);
    wait_received(&rsyslog, "tls", "tw-tls", &seqs, &sensor);
    wait_received(&rsyslog, "tls", "tw-tls", &[seq(&started)], &sensor);
    wait_received(&rsyslog, "udp", "tokenwarden", &seqs, &sensor);

    let tcp = by_seq(&rsyslog.received("tcp"), "tokenwarden");
    let tls = by_seq(&rsyslog.received("tls"), "tw-tls");
    let udp = by_seq(&rsyslog.received("udp"), "tokenwarden");
    for d in &alerts {
        let n = seq(d);
        assert_eq!(tcp[&n].len(), 1, "alert {n} once over TCP: {:?}", tcp[&n]);
        assert_eq!(tls[&n].len(), 1, "alert {n} once over TLS: {:?}", tls[&n]);
        check_message(&tcp[&n][0], d, 10, "tokenwarden", pid);
        check_message(&tls[&n][0], d, 4, "tw-tls", pid);
        check_message(&udp[&n][0], d, 16, "tokenwarden", pid);
    }
    // `kinds = ["alert"]` on TCP; the TLS sink takes every kind (the start document too).
    assert!(tcp.values().flatten().all(|m| m["sd"].as_str().is_some_and(|s| s.ends_with("kind=\"alert\"]"))));
    check_message(&tls[&seq(&started)][0], &started, 4, "tw-tls", pid);

    // The certificate does not carry the other name: nothing delivered, and the log says why.
    assert!(
        !rsyslog.received("tls").iter().any(|m| m["app_name"] == "tw-wrong-name"),
        "a receiver with the wrong name must not get alerts"
    );
    let log = sensor.stderr();
    assert!(
        log.contains("certificate not valid for name \"not-the-receiver.example\""),
        "the certificate error is logged: {log}"
    );
    assert!(!log.contains("BEGIN") && !log.contains("PRIVATE KEY"), "no key material in logs");

    // rsyslog goes away: an alert raised meanwhile and one after its return both arrive.
    rsyslog.stop();
    let during = steal(&sensor, &user, &store);
    std::thread::sleep(Duration::from_millis(1500));
    rsyslog.run();
    let after = steal(&sensor, &user, &store);
    let later = [seq(&during), seq(&after)];
    wait_received(&rsyslog, "tcp", "tokenwarden", &later, &sensor);
    wait_received(&rsyslog, "tls", "tw-tls", &later, &sensor);
    let tcp = by_seq(&rsyslog.received("tcp"), "tokenwarden");
    for d in [&during, &after] {
        check_message(&tcp[&seq(d)][0], d, 10, "tokenwarden", pid);
    }
    assert!(sensor.stderr().contains("reconnecting"), "the closed connection was noticed");

    // Every alert of the sensor's own output went over TCP and TLS, and nothing else did
    // over TCP.
    let all_alerts: Vec<u64> = sensor.docs().iter().filter(|d| is_alert(d)).map(seq).collect();
    wait_received(&rsyslog, "tcp", "tokenwarden", &all_alerts, &sensor);
    wait_received(&rsyslog, "tls", "tw-tls", &all_alerts, &sensor);
    let docs = sensor.stop();
    let tcp = by_seq(&rsyslog.received("tcp"), "tokenwarden");
    for n in tcp.keys() {
        assert!(docs.iter().any(|d| is_alert(d) && seq(d) == *n), "TCP message {n} is one of the alerts");
    }
    rsyslog.stop();
}
