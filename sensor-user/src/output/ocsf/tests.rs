//! Mapping tests: real ECS builder output where it is cheap to build, and ECS documents
//! of the builders' exact shape for the rest.

use serde_json::{Value, json};

use super::*;
use crate::{
    decode::{Connect, Endpoint, Task, Trace},
    output::{EcsBuilder, HostInfo},
    process::{Ancestor, Process},
};

fn task(pid: u32, uid: u32) -> Task {
    Task {
        tgid: pid,
        tid: pid,
        ppid: 10,
        uid,
        gid: uid,
        euid: uid,
        egid: uid,
        loginuid: Some(uid),
        sessionid: Some(3),
        start_boottime_ns: 5,
        comm: "curl".into(),
    }
}

fn process(pid: u32, exe: &str) -> Process {
    Process {
        pid,
        ppid: 10,
        start_ns: 5,
        executable: exe.into(),
        args: vec![exe.into(), "-s".into(), "http://127.0.0.1/x?token=<redacted>".into()],
        args_truncated: false,
        name: exe.rsplit('/').next().unwrap_or_default().into(),
        uid: 1000,
        gid: 1000,
        euid: 1000,
        egid: 1000,
        loginuid: Some(1000),
        sessionid: Some(3),
        exec_ts_boot_ns: 5,
        exited_at: None,
        entity_id: format!("boot-{pid}-5"),
        exec_id: format!("boot-{pid}-5-1"),
        seeded: false,
        privilege_changes: Vec::new(),
    }
}

fn ancestry() -> Vec<Ancestor> {
    vec![Ancestor {
        pid: 10,
        entity_id: "boot-10-1".into(),
        executable: "/usr/bin/dash".into(),
        args: vec!["sh".into(), "-c".into(), "curl".into()],
        uid: 1000,
    }]
}

fn builder() -> EcsBuilder {
    EcsBuilder::new(HostInfo { name: "host-1".into(), id: "0123abcd".into() }, "inst".into())
}

/// Every leaf of an ECS document is either mapped somewhere or under `unmapped`.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaves(x, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

fn assert_common(o: &Value, ecs: &Value, class: Class) {
    assert_eq!(o["class_uid"], class.uid, "{o}");
    assert_eq!(o["category_uid"], class.category_uid);
    let activity = o["activity_id"].as_u64().expect("activity_id");
    assert_eq!(o["type_uid"], u64::from(class.uid) * 100 + activity);
    assert_eq!(o["metadata"]["version"], OCSF_VERSION);
    assert_eq!(o["metadata"]["product"]["name"], "tokenwarden");
    assert_eq!(o["metadata"]["uid"], ecs["event"]["id"]);
    assert_eq!(o["metadata"]["sequence"], ecs["event"]["sequence"]);
    assert_eq!(o["metadata"]["original_time"], ecs["@timestamp"]);
    let ms = epoch_ms(ecs["@timestamp"].as_str().expect("ts")).expect("rfc3339");
    assert_eq!(o["time"], ms);
    assert_eq!(o["device"]["hostname"], "host-1");
    assert_eq!(o["device"]["uid"], "0123abcd");
    // No field lost: the ECS leaves that are not under `unmapped` were mapped.
    let mut ecs_leaves = Vec::new();
    leaves(ecs, "", &mut ecs_leaves);
    let mut kept = Vec::new();
    leaves(&o["unmapped"], "", &mut kept);
    assert!(ecs_leaves.len() > kept.len(), "something was mapped: {o}");
    for k in &kept {
        let mut cur = ecs;
        for p in k.split('.').filter(|p| !p.is_empty()) {
            cur = &cur[p];
        }
        let mut u = &o["unmapped"];
        for p in k.split('.').filter(|p| !p.is_empty()) {
            u = &u[p];
        }
        assert_eq!(cur, u, "unmapped.{k} is the ECS value");
    }
    assert_eq!(o["unmapped"]["tokenwarden"], ecs["tokenwarden"], "tokenwarden.* kept whole");
}

#[test]
fn exec_is_process_activity_launch_with_the_parent_as_actor() {
    let mut b = builder();
    let d = b.exec_event(1, &task(42, 1000), &process(42, "/usr/bin/curl"), &ancestry());
    let o = from_ecs(&d);
    assert_common(&o, &d, PROCESS_ACTIVITY);
    assert_eq!(o["activity_id"], 1);
    assert_eq!(o["severity_id"], 1);
    assert_eq!(o["process"]["pid"], 42);
    assert_eq!(o["process"]["uid"], "boot-42-5");
    assert_eq!(o["process"]["file"]["path"], "/usr/bin/curl");
    assert_eq!(o["process"]["cmd_line"], d["process"]["command_line"]);
    assert_eq!(o["process"]["user"]["uid"], "1000");
    assert_eq!(o["actor"]["process"]["pid"], 10);
    assert_eq!(o["actor"]["process"]["file"]["path"], "/usr/bin/dash");
    assert_eq!(o["actor"]["process"]["cmd_line"], "sh -c curl");
    assert_eq!(o["metadata"]["event_code"], "exec");
}

#[test]
fn connect_is_network_activity_open_or_fail() {
    let mut b = builder();
    let mut c = Connect {
        task: task(42, 1000),
        ts_boot_ns: 1,
        fd: 3,
        ret: 0,
        endpoint: Endpoint::Ip { addr: "127.0.0.1".parse().expect("ip"), port: 8080 },
        local: Some(("127.0.0.1".parse().expect("ip"), 40000)),
    };
    let d = b.connect_event(&c, &process(42, "/usr/bin/curl"), &ancestry(), Some("localhost"));
    let o = from_ecs(&d);
    assert_common(&o, &d, NETWORK_ACTIVITY);
    assert_eq!((o["activity_id"].clone(), o["status_id"].clone()), (json!(1), json!(1)));
    assert_eq!(o["dst_endpoint"], json!({"ip": "127.0.0.1", "port": 8080, "hostname": "localhost"}));
    assert_eq!(o["src_endpoint"]["port"], 40000);
    assert_eq!(o["connection_info"]["direction_id"], 2);
    assert_eq!(o["actor"]["process"]["pid"], 42);
    assert!(o["observables"].as_array().expect("observables").iter().any(|x| x["name"] == "dst_endpoint.ip"));
    c.ret = -libc::ECONNREFUSED;
    let o = from_ecs(&b.connect_event(&c, &process(42, "/usr/bin/curl"), &ancestry(), None));
    assert_eq!((o["activity_id"].clone(), o["status_id"].clone()), (json!(4), json!(2)));
    assert_eq!(o["type_uid"], 400104);
}

#[test]
fn memory_access_is_a_finding_with_attacks_target_and_severity() {
    let mut b = builder();
    let t = Trace {
        task: task(42, 0),
        ts_boot_ns: 1,
        syscall: sensor_common::TRACE_PTRACE,
        request: 0x10,
        target_pid: 77,
    };
    let mut victim = process(77, "/usr/bin/ssh-agent");
    victim.uid = 1001;
    let d = b.memory_access(&t, &process(42, "/usr/bin/python3"), &ancestry(), Some(&victim));
    let o = from_ecs(&d);
    assert_common(&o, &d, DETECTION_FINDING);
    assert_eq!(o["activity_id"], 1);
    assert_eq!(
        (o["severity_id"].clone(), o["severity"].clone()),
        (json!(5), json!("Critical")),
        "high-value target"
    );
    let fi = &o["finding_info"];
    assert_eq!(fi["uid"], d["event"]["id"]);
    assert_eq!(fi["title"], d["rule"]["name"]);
    assert_eq!(fi["analytic"]["uid"], "tw-session-memory-access");
    assert_eq!(fi["analytic"]["type_id"], 1);
    let attacks = fi["attacks"].as_array().expect("attacks");
    assert_eq!(
        attacks[0],
        json!({"technique": {"uid": "T1003", "name": "OS Credential Dumping"},
               "sub_technique": {"uid": "T1003.007", "name": "Proc Filesystem"},
               "tactic": {"uid": "TA0006", "name": "Credential Access"}})
    );
    // T1055.008 is not in the ATT&CK table: ids only, no invented tactic.
    assert_eq!(attacks[1], json!({"technique": {"uid": "T1055"}, "sub_technique": {"uid": "T1055.008"}}));
    assert!(o["unmapped"].get("threat").is_none(), "threat is fully in attacks");
    let ev = o["evidences"].as_array().expect("evidences");
    assert_eq!(ev[0]["process"]["pid"], 42);
    assert_eq!(ev[1]["process"]["pid"], 77, "the target");
    assert_eq!(ev[1]["process"]["file"]["path"], "/usr/bin/ssh-agent");
    assert!(
        o["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["type"] == "process" && r["uid"] == "boot-77-5")
    );
    assert_eq!(o["status_id"], 1);
    assert_eq!(o["risk_score"], 99);
    assert_eq!(o["message"], d["message"]);
}

#[test]
fn state_documents_are_application_lifecycle() {
    let mut b = builder();
    for (action, activity) in
        [("sensor-started", 3), ("sensor-stopped", 4), ("sensor-stats", 99), ("rules-reloaded", 8)]
    {
        let d = b.state(action, json!({"userspace": {"alerts": 2}}));
        let o = from_ecs(&d);
        assert_common(&o, &d, APPLICATION_LIFECYCLE);
        assert_eq!(o["activity_id"], activity, "{action}");
        assert_eq!(o["app"]["name"], "tokenwarden");
        assert_eq!(o["status_id"], 1);
        assert_eq!(o["unmapped"]["tokenwarden"]["sensor"]["userspace"]["alerts"], 2);
    }
    let o = from_ecs(&b.state("rules-reload-failed", json!({})));
    assert_eq!(o["status_id"], 2);
}

fn open_doc(kind: &str) -> Value {
    let mut d = json!({
        "@timestamp": "2026-01-02T03:04:05.123456Z",
        "event": {"kind": kind, "category": ["file"], "type": ["access"], "action": "credential-store-opened",
                  "module": "tokenwarden", "dataset": format!("tokenwarden.{kind}"), "sequence": 7, "id": "inst-7"},
        "host": {"name": "host-1", "id": "0123abcd"},
        "agent": {"type": "tokenwarden", "version": "0.1.0", "id": "inst"},
        "ecs": {"version": "8.11.0"},
        "process": {"pid": 42, "thread": {"id": 42}, "entity_id": "boot-42-5", "executable": "/usr/bin/cat", "name": "cat",
                    "args": ["cat", "/home/a/.aws/credentials"], "args_count": 2, "command_line": "cat /home/a/.aws/credentials",
                    "user": {"id": "1000"}, "group": {"id": "1000"}, "real_user": {"id": "1000"}, "effective_user": {"id": "1000"},
                    "parent": {"pid": 10, "entity_id": "boot-10-1", "executable": "/usr/bin/dash", "name": "dash", "args": ["sh"], "user": {"id": "1000"}}},
        "user": {"id": "1000", "effective": {"id": "1000"}},
        "file": {"path": "/home/a/.aws/credentials", "name": "credentials", "directory": "/home/a/.aws", "inode": "1234",
                 "device": "0:35", "uid": "1000", "mode": "0600", "type": "file"},
        "tokenwarden": {"process": {"exec_id": "x"}, "file": {"open_flags": ["O_RDONLY"], "fd": 3}},
    });
    if kind == "alert" {
        d["event"]["category"] = json!(["file", "intrusion_detection"]);
        d["event"]["severity"] = json!(47);
        d["event"]["risk_score"] = json!(47);
        d["rule"] = json!({"id": "cred-aws", "name": "AWS credentials read", "description": "d", "ruleset": "tokenwarden"});
        d["threat"] = crate::output::ecs::threat_for(&["T1552.001".into()]);
        d["tags"] = json!(["aws"]);
        d["message"] = json!("cat read AWS credentials");
        d["tokenwarden"]["severity"] = json!("medium");
    }
    d
}

#[test]
fn allowed_open_is_file_system_activity_open() {
    let d = open_doc("event");
    let o = from_ecs(&d);
    assert_common(&o, &d, FILE_SYSTEM_ACTIVITY);
    assert_eq!(o["activity_id"], 14);
    assert_eq!(o["type_uid"], 100114);
    assert_eq!(o["file"]["path"], "/home/a/.aws/credentials");
    assert_eq!(o["file"]["uid"], "1234");
    assert_eq!(o["file"]["owner"]["uid"], "1000");
    assert_eq!(o["file"]["type_id"], 1);
    assert_eq!(o["actor"]["process"]["parent_process"]["pid"], 10);
    assert_eq!(o["unmapped"]["file"], json!({"device": "0:35", "mode": "0600"}));
    assert_eq!(o["unmapped"]["ecs"]["version"], "8.11.0");
}

#[test]
fn open_alert_is_a_finding_naming_the_file() {
    let d = open_doc("alert");
    let o = from_ecs(&d);
    assert_common(&o, &d, DETECTION_FINDING);
    assert_eq!((o["severity_id"].clone(), o["severity"].clone()), (json!(3), json!("Medium")));
    assert_eq!(o["finding_info"]["types"], json!(["credential-store-opened"]));
    assert_eq!(o["finding_info"]["attacks"][0]["sub_technique"]["uid"], "T1552.001");
    assert_eq!(o["evidences"][0]["file"]["path"], "/home/a/.aws/credentials");
    assert_eq!(
        o["resources"][0],
        json!({"type": "file", "uid": "/home/a/.aws/credentials", "name": "credentials"})
    );
    assert_eq!(o["unmapped"]["tags"], json!(["aws"]));
}

#[test]
fn credential_use_is_network_traffic_with_url_and_no_more_than_ecs_had() {
    let d = json!({
        "@timestamp": "2026-01-02T03:04:05Z",
        "event": {"kind": "event", "category": ["network", "authentication"], "type": ["connection", "protocol"],
                  "action": "credential-used", "sequence": 9, "id": "inst-9"},
        "host": {"name": "host-1", "id": "0123abcd"},
        "destination": {"ip": "127.0.0.1", "port": 8443, "address": "127.0.0.1", "domain": "localhost"},
        "url": {"path": "/api", "scheme": "https", "domain": "localhost", "query": "x=1&token=<redacted>"},
        "http": {"request": {"method": "GET"}, "version": "1.1"},
        "network": {"protocol": "http", "transport": "tcp"},
        "process": {"pid": 42, "executable": "/usr/bin/curl"},
        "user": {"id": "0"},
        "tokenwarden": {"credential": {"kind": "jwt", "fingerprint": "ab12", "length": 300, "preview": "eyJh…"}},
    });
    let o = from_ecs(&d);
    assert_common(&o, &d, NETWORK_ACTIVITY);
    assert_eq!(o["activity_id"], 6);
    assert_eq!(o["url"]["url_string"], "https://localhost:8443/api?x=1&token=<redacted>");
    assert_eq!(o["url"]["port"], 8443);
    assert_eq!(o["connection_info"]["protocol_num"], 6);
    assert_eq!(o["unmapped"]["http"], d["http"]);
    assert_eq!(o["unmapped"]["network"], json!({"protocol": "http"}));
    // Every token-like string (long, no spaces: not an OCSF caption or attribute path) in the OCSF
    // document is one the ECS document held.
    let ecs_text = d.to_string();
    let mut strings = Vec::new();
    collect_strings(&o, &mut strings);
    for s in strings.iter().filter(|s| {
        s.len() > 16 && !s.contains(' ') && !s.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
    }) {
        assert!(ecs_text.contains(s.as_str()) || s.starts_with("https://localhost:8443/api"), "new text {s}");
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[test]
fn dns_query_is_dns_activity() {
    let d = json!({"@timestamp": "2026-01-02T03:04:05Z", "event": {"kind": "event", "category": ["network"], "action": "dns-query", "id": "i-1", "sequence": 1},
                   "dns": {"type": "query", "question": {"name": "example.test", "type": "A"}}, "network": {"transport": "udp"},
                   "host": {"name": "host-1", "id": "0123abcd"}});
    let o = from_ecs(&d);
    assert_common(&o, &d, DNS_ACTIVITY);
    assert_eq!(o["query"], json!({"hostname": "example.test", "type": "A"}));
    assert_eq!(o["type_uid"], 400301);
}

#[test]
fn bad_input_never_panics_and_keeps_everything() {
    for d in [
        json!(null),
        json!([1, 2]),
        json!("x"),
        json!({}),
        json!({"event": "x", "@timestamp": 5}),
        json!({"event": {"kind": "alert", "severity": "high", "id": 3}, "threat": {"technique": {"id": "T1"}}, "process": {"pid": "x"}}),
    ] {
        let o = from_ecs(&d);
        assert!(o["class_uid"].is_u64(), "{o}");
        assert_eq!(o["metadata"]["version"], OCSF_VERSION);
        assert!(o.get("time").is_none(), "no time invented: {o}");
    }
    let o = from_ecs(&json!({"event": "x", "@timestamp": 5}));
    assert_eq!(o["class_uid"], 0);
    assert_eq!(o["unmapped"], json!({"event": "x", "@timestamp": 5}));
    let o = from_ecs(&json!({"event": {"kind": "alert", "severity": "high"}, "process": {"pid": "x"}}));
    assert_eq!(o["severity_id"], 0, "an alert with no usable severity is Unknown");
    assert_eq!(o["unmapped"]["process"]["pid"], "x");
    assert_eq!(severity(Some(21)), (2, "Low"));
    assert_eq!(severity(Some(73)), (4, "High"));
}
