//! Elastic Common Schema documents. ECS names where ECS has them; everything else
//! under `tokenwarden.*`.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::{
    attack,
    time::{BootClock, rfc3339},
};
use crate::{
    decode::{Open, Task},
    detect::{OpenMatch, rules::Rule},
    process::{Ancestor, Process},
};

/// Identity of this host and sensor, stamped on every document.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub name: String,
    /// `/etc/machine-id`.
    pub id: String,
}

impl HostInfo {
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
        Self { name: read("/proc/sys/kernel/hostname"), id: read("/etc/machine-id") }
    }
}

/// Builds documents; owns the per-sensor sequence number.
pub struct EcsBuilder {
    host: HostInfo,
    instance_id: String,
    seq: u64,
    pub(super) clock: BootClock,
}

/// ECS `event.severity` for a severity label (the 21/47/73/99 scale).
pub(super) fn severity_score(label: &str) -> u8 {
    match label {
        "low" => 21,
        "medium" => 47,
        "high" => 73,
        _ => 99,
    }
}

pub(super) fn id(v: u32) -> String {
    v.to_string()
}

fn open_flags(flags: u32) -> Vec<&'static str> {
    let mut out = vec![match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        _ => "O_RDWR",
    }];
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_PATH, "O_PATH"),
        (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    ] {
        if flags & bit as u32 != 0 {
            out.push(name);
        }
    }
    out
}

fn syscall_name(s: u32) -> &'static str {
    match s {
        sensor_common::SYS_OPEN => "open",
        sensor_common::SYS_OPENAT => "openat",
        sensor_common::SYS_OPENAT2 => "openat2",
        sensor_common::SYS_CREAT => "creat",
        _ => "unknown",
    }
}

fn match_reason(m: u32) -> &'static str {
    if m & sensor_common::MATCH_INODE != 0 {
        "inode"
    } else if m & sensor_common::MATCH_BASENAME != 0 {
        "basename"
    } else if m & sensor_common::MATCH_ANCESTOR != 0 {
        "ancestor"
    } else if m & sensor_common::MATCH_SUFFIX != 0 {
        "suffix"
    } else {
        "pass_all"
    }
}

/// `process.*` for the acting process.
pub(super) fn process_fields(p: &Process, t: &Task, ancestry: &[Ancestor]) -> Value {
    let name = p.executable.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&t.comm);
    let mut v = json!({
        "pid": t.tgid,
        "thread": {"id": t.tid},
        "entity_id": p.entity_id,
        "executable": p.executable,
        "name": name,
        "args": p.args,
        "args_count": p.args.len(),
        "command_line": p.args.join(" "),
        "user": {"id": id(t.uid)},
        "group": {"id": id(t.gid)},
        "real_user": {"id": id(t.uid)},
        "effective_user": {"id": id(t.euid)},
    });
    if let Some(parent) = ancestry.first() {
        v["parent"] = json!({
            "pid": parent.pid,
            "entity_id": parent.entity_id,
            "executable": parent.executable,
            "name": parent.executable.rsplit('/').next().unwrap_or_default(),
            "args": parent.args,
            "user": {"id": id(parent.uid)},
        });
    } else {
        v["parent"] = json!({"pid": t.ppid});
    }
    v
}

/// `tokenwarden.process.*`: identity and lineage beyond ECS.
pub(super) fn tw_process(p: &Process, t: &Task, ancestry: &[Ancestor]) -> Value {
    json!({
        "exec_id": p.exec_id,
        "comm": t.comm,
        "loginuid": t.loginuid,
        "sessionid": t.sessionid,
        "seeded": p.seeded,
        "args_truncated": p.args_truncated,
        "privilege_changes": p.privilege_changes.iter().map(|c| json!({
            "pid": c.pid,
            "from": {"uid": c.from_uid, "euid": c.from_euid},
            "to": {"uid": c.to_uid, "euid": c.to_euid},
            "by": c.by,
            "into": c.into,
        })).collect::<Vec<_>>(),
        "ancestry": ancestry.iter().map(|a| json!({
            "pid": a.pid,
            "entity_id": a.entity_id,
            "executable": a.executable,
            "args": a.args,
            "user": {"id": id(a.uid)},
        })).collect::<Vec<_>>(),
    })
}

fn file_fields(o: &Open) -> Value {
    let path = &o.path.path;
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    json!({
        "path": path,
        "name": name,
        "directory": if dir.is_empty() { "/" } else { dir },
        "inode": o.ino.to_string(),
        "device": format!("{}:{}", o.dev >> 20, o.dev & 0xfffff),
        "uid": id(o.owner_uid),
        "mode": format!("{:04o}", o.mode & 0o7777),
        "type": "file",
    })
}

/// Looks up a dotted field (`process.parent.pid`) in a document, as text.
pub fn field_text(doc: &Value, dotted: &str) -> Option<String> {
    let mut cur = doc;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    Some(match cur {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => return None,
        other => other.to_string(),
    })
}

impl EcsBuilder {
    pub fn new(host: HostInfo, instance_id: String) -> Self {
        Self { host, instance_id, seq: 0, clock: BootClock::now() }
    }

    /// Gives a re-sent document a new sequence number, id and timestamp.
    pub fn restamp(&mut self, doc: &mut Value) {
        self.seq += 1;
        doc["@timestamp"] = json!(rfc3339(SystemTime::now()));
        doc["event"]["sequence"] = json!(self.seq);
        doc["event"]["id"] = json!(format!("{}-{}", self.instance_id, self.seq));
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub(super) fn base(
        &mut self,
        ts: SystemTime,
        kind: &str,
        category: &[&str],
        types: &[&str],
        action: &str,
    ) -> Map<String, Value> {
        self.seq += 1;
        let mut m = Map::new();
        m.insert("@timestamp".into(), json!(rfc3339(ts)));
        m.insert(
            "event".into(),
            json!({
                "kind": kind,
                "category": category,
                "type": types,
                "action": action,
                "module": "tokenwarden",
                "dataset": format!("tokenwarden.{kind}"),
                "sequence": self.seq,
                "id": format!("{}-{}", self.instance_id, self.seq),
            }),
        );
        m.insert("host".into(), json!({"name": self.host.name, "id": self.host.id}));
        m.insert(
            "agent".into(),
            json!({"type": "tokenwarden", "version": env!("CARGO_PKG_VERSION"), "id": self.instance_id}),
        );
        m.insert("ecs".into(), json!({"version": "8.11.0"}));
        m
    }

    /// An alert: `rule` matched an open of a credential store.
    pub fn open_alert(
        &mut self,
        rule: &Rule,
        o: &Open,
        p: &Process,
        ancestry: &[Ancestor],
        m: &OpenMatch,
    ) -> Value {
        let ts = self.clock.to_system(o.ts_boot_ns);
        let mut d = self.base(
            ts,
            "alert",
            &["file", "intrusion_detection"],
            &["access", "info"],
            "credential-store-opened",
        );
        // Someone else's store (by real uid or by login session): one level more severe.
        let login_user = o.task.loginuid.unwrap_or(o.task.uid);
        let cross_user = o.task.uid != o.owner_uid || login_user != o.owner_uid;
        let severity = if cross_user { rule.severity.raised() } else { rule.severity };
        d["event"]["severity"] = json!(severity.ecs_score());
        d["event"]["risk_score"] = json!(severity.ecs_score());
        d.insert(
            "rule".into(),
            json!({
                "id": rule.id,
                "name": rule.name,
                "description": rule.description,
                "ruleset": "tokenwarden",
            }),
        );
        d.insert("threat".into(), threat_for(&rule.techniques));
        d.insert("tags".into(), json!(rule.tags));
        self.fill_open(&mut d, o, p, ancestry, m);
        d["tokenwarden"]["severity"] = json!(severity.as_str());
        d["tokenwarden"]["cross_user"] = json!(cross_user);
        let mut doc = Value::Object(d);
        let message = rule.render_output(&|f| field_text(&doc, f));
        doc["message"] = json!(message);
        doc
    }

    /// A watched store opened without an alert (only with `--emit-events`).
    pub fn open_event(&mut self, o: &Open, p: &Process, ancestry: &[Ancestor], m: &OpenMatch) -> Value {
        let ts = self.clock.to_system(o.ts_boot_ns);
        let mut d = self.base(ts, "event", &["file"], &["access"], "credential-store-opened");
        self.fill_open(&mut d, o, p, ancestry, m);
        Value::Object(d)
    }

    fn fill_open(
        &self,
        d: &mut Map<String, Value>,
        o: &Open,
        p: &Process,
        ancestry: &[Ancestor],
        m: &OpenMatch,
    ) {
        d.insert("process".into(), process_fields(p, &o.task, ancestry));
        d.insert("user".into(), json!({"id": id(o.task.uid), "effective": {"id": id(o.task.euid)}}));
        d.insert("file".into(), file_fields(o));
        d.insert(
            "tokenwarden".into(),
            json!({
                "process": tw_process(p, &o.task, ancestry),
                "file": {
                    "open_flags": open_flags(o.flags),
                    "fd": o.fd,
                    "syscall": syscall_name(o.syscall),
                    "kernel_match": match_reason(o.matched),
                    "path_complete": o.path.is_complete(),
                    "store_paths": m.store_paths,
                },
            }),
        );
    }

    /// A process started (only with `--emit-events`).
    pub fn exec_event(&mut self, ts_boot_ns: u64, t: &Task, p: &Process, ancestry: &[Ancestor]) -> Value {
        let ts = self.clock.to_system(ts_boot_ns);
        let mut d = self.base(ts, "event", &["process"], &["start"], "exec");
        d.insert("process".into(), process_fields(p, t, ancestry));
        d.insert("user".into(), json!({"id": id(t.uid)}));
        d.insert("tokenwarden".into(), json!({"process": tw_process(p, t, ancestry)}));
        Value::Object(d)
    }

    /// A sensor state document (`event.kind: state`).
    pub fn state(&mut self, action: &str, details: Value) -> Value {
        let mut d = self.base(SystemTime::now(), "state", &["host"], &["info"], action);
        d.insert("tokenwarden".into(), json!({ "sensor": details }));
        Value::Object(d)
    }
}

/// Makes an alert critical (`event.severity`, `event.risk_score`, `tokenwarden.severity`).
pub fn raise_to_critical(doc: &mut Value) {
    let score = severity_score("critical");
    doc["event"]["severity"] = json!(score);
    doc["event"]["risk_score"] = json!(score);
    doc["tokenwarden"]["severity"] = json!("critical");
}

/// `threat.*` for a rule's technique ids.
pub(super) fn threat_for(ids: &[String]) -> Value {
    let mut tech_ids: Vec<String> = Vec::new();
    let mut tech_names: Vec<String> = Vec::new();
    let mut sub_ids: Vec<String> = Vec::new();
    let mut sub_names: Vec<String> = Vec::new();
    let mut tactic_ids: Vec<String> = Vec::new();
    let mut tactic_names: Vec<String> = Vec::new();
    for t in ids {
        let parent = attack::parent(t).to_string();
        if !tech_ids.contains(&parent) {
            tech_names.push(attack::lookup(&parent).map(|x| x.0).unwrap_or_default().to_string());
            tech_ids.push(parent.clone());
        }
        if t.contains('.') && !sub_ids.contains(t) {
            sub_ids.push(t.clone());
            sub_names.push(attack::lookup(t).map(|x| x.0).unwrap_or_default().to_string());
        }
        if let Some((_, tid, tname)) = attack::lookup(t).or_else(|| attack::lookup(&parent))
            && !tactic_ids.iter().any(|x| x == tid)
        {
            tactic_ids.push(tid.into());
            tactic_names.push(tname.into());
        }
    }
    json!({
        "framework": "MITRE ATT&CK",
        "technique": {
            "id": tech_ids,
            "name": tech_names,
            "subtechnique": {"id": sub_ids, "name": sub_names},
        },
        "tactic": {"id": tactic_ids, "name": tactic_names},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threat_splits_subtechniques() {
        let t = threat_for(&["T1552.001".into(), "T1552.004".into(), "T1539".into()]);
        assert_eq!(t["framework"], "MITRE ATT&CK");
        assert_eq!(t["technique"]["id"], json!(["T1552", "T1539"]));
        assert_eq!(t["technique"]["subtechnique"]["id"], json!(["T1552.001", "T1552.004"]));
        assert_eq!(t["tactic"]["name"], json!(["Credential Access"]));
    }

    #[test]
    fn field_text_walks_dotted_paths() {
        let d = json!({"process": {"pid": 5, "args": ["cat", "x"], "parent": {"executable": "/bin/sh"}}});
        assert_eq!(field_text(&d, "process.pid").as_deref(), Some("5"));
        assert_eq!(field_text(&d, "process.args").as_deref(), Some("cat x"));
        assert_eq!(field_text(&d, "process.parent.executable").as_deref(), Some("/bin/sh"));
        assert_eq!(field_text(&d, "nope.x"), None);
    }

    #[test]
    fn flags_render() {
        assert_eq!(open_flags(0), vec!["O_RDONLY"]);
        assert_eq!(open_flags((libc::O_WRONLY | libc::O_CREAT) as u32), vec!["O_WRONLY", "O_CREAT"]);
    }
}
