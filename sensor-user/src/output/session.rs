//! ECS alerts for session theft on jump hosts.

use serde_json::{Map, Value, json};

use super::ecs::{EcsBuilder, id, process_fields, severity_score, threat_for, tw_process};
use crate::{
    decode::{Connect, Task, Trace},
    detect::session::AgentHijack,
    process::{Ancestor, Process},
};

/// Executables whose memory or environment is worth more to a thief.
const HIGH_VALUE: &[&str] = &[
    "ssh-agent",
    "gpg-agent",
    "vault",
    "chrome",
    "chromium",
    "firefox",
    "aws",
    "gcloud",
    "az",
    "kubectl",
    "sshd",
];

/// `tokenwarden.target` for a process targeted through `/proc/<pid>/…`.
pub fn target_fields(pid: u32, target: Option<&Process>) -> Value {
    match target {
        Some(t) => {
            let name = t.executable.rsplit('/').next().unwrap_or_default();
            json!({"pid": pid, "executable": t.executable, "user": {"id": id(t.uid)}, "entity_id": t.entity_id,
                   "loginuid": t.loginuid, "sessionid": t.sessionid,
                   "high_value": HIGH_VALUE.iter().any(|h| name.starts_with(h))})
        }
        None => json!({"pid": pid}),
    }
}

/// What every session alert states.
struct Spec<'a> {
    action: &'a str,
    category: &'a str,
    severity: &'a str,
    rule_id: &'a str,
    rule_name: &'a str,
    techniques: &'a [&'a str],
    message: String,
}

impl EcsBuilder {
    /// The common part of a session alert; `extra` is merged into `tokenwarden`.
    fn session_alert(
        &mut self,
        ts_boot_ns: u64,
        task: &Task,
        p: &Process,
        ancestry: &[Ancestor],
        s: Spec<'_>,
        extra: Value,
    ) -> Map<String, Value> {
        let ts = self.clock.to_system(ts_boot_ns);
        let mut d = self.base(ts, "alert", &["intrusion_detection", s.category], &["access"], s.action);
        let score = severity_score(s.severity);
        d["event"]["severity"] = json!(score);
        d["event"]["risk_score"] = json!(score);
        d.insert(
            "rule".into(),
            json!({"id": s.rule_id, "name": s.rule_name, "ruleset": "tokenwarden-session"}),
        );
        let techniques: Vec<String> = s.techniques.iter().map(|t| t.to_string()).collect();
        d.insert("threat".into(), threat_for(&techniques));
        d.insert("message".into(), json!(s.message));
        d.insert("process".into(), process_fields(p, task, ancestry));
        d.insert("user".into(), json!({"id": id(task.uid)}));
        let mut tw = json!({"severity": s.severity, "process": tw_process(p, task, ancestry)});
        if let (Some(tw), Value::Object(extra)) = (tw.as_object_mut(), extra) {
            tw.extend(extra);
        }
        d.insert("tokenwarden".into(), tw);
        d
    }

    /// `ptrace` attach or `process_vm_*` against a process of another user or session.
    pub fn memory_access(
        &mut self,
        t: &Trace,
        p: &Process,
        ancestry: &[Ancestor],
        target: Option<&Process>,
    ) -> Value {
        let target_v = target_fields(t.target_pid, target);
        let severity = if target_v["high_value"] == true { "critical" } else { "high" };
        let what = match t.syscall {
            sensor_common::TRACE_PTRACE if t.request == 0x4206 => "ptrace(PTRACE_SEIZE)",
            sensor_common::TRACE_PTRACE => "ptrace(PTRACE_ATTACH)",
            sensor_common::TRACE_VM_READV => "process_vm_readv",
            _ => "process_vm_writev",
        };
        let message = format!(
            "{} used {what} on pid {} ({})",
            p.executable,
            t.target_pid,
            target_v["executable"].as_str().unwrap_or("?")
        );
        let spec = Spec {
            action: "process-memory-access",
            category: "process",
            severity,
            rule_id: "tw-session-memory-access",
            rule_name: "Another user's process memory accessed",
            techniques: &["T1003.007", "T1055.008"],
            message,
        };
        let d = self.session_alert(
            t.ts_boot_ns,
            &t.task,
            p,
            ancestry,
            spec,
            json!({"target": target_v, "syscall": what}),
        );
        Value::Object(d)
    }

    /// Another user's persistent keyring (Kerberos `KEYRING:persistent:<uid>` caches)
    /// taken with `keyctl(KEYCTL_GET_PERSISTENT)`.
    pub fn keyring_access(&mut self, t: &Trace, p: &Process, ancestry: &[Ancestor]) -> Value {
        let uid = t.target_pid;
        let name = crate::process::session::user_name(uid);
        let spec = Spec {
            action: "kerberos-keyring-access",
            category: "session",
            severity: "high",
            rule_id: "tw-session-keyring-access",
            rule_name: "Another user's persistent keyring taken",
            techniques: &["T1558.005"],
            message: format!(
                "{} took the persistent keyring (Kerberos KEYRING caches) of user {}",
                p.executable,
                name.as_deref().unwrap_or(&uid.to_string())
            ),
        };
        let target =
            json!({"user": {"id": uid.to_string(), "name": name}, "keyring": format!("_persistent.{uid}")});
        let d = self.session_alert(
            t.ts_boot_ns,
            &t.task,
            p,
            ancestry,
            spec,
            json!({"target": target, "syscall": "keyctl(KEYCTL_GET_PERSISTENT)"}),
        );
        Value::Object(d)
    }

    /// A program that has no business with Kerberos caches connected to the KCM socket.
    pub fn kcm_access(&mut self, c: &Connect, p: &Process, ancestry: &[Ancestor], socket: &str) -> Value {
        let spec = Spec {
            action: "kerberos-kcm-access",
            category: "session",
            severity: "medium",
            rule_id: "tw-session-kcm-access",
            rule_name: "Kerberos KCM cache accessed by an unexpected program",
            techniques: &["T1558.005"],
            message: format!("{} connected to the Kerberos KCM socket {socket}", p.executable),
        };
        let mut d = self.session_alert(
            c.ts_boot_ns,
            &c.task,
            p,
            ancestry,
            spec,
            json!({"target": {"socket": socket}}),
        );
        d.insert("destination".into(), json!({"address": socket}));
        Value::Object(d)
    }

    /// A process connected to another user's or session's ssh-agent.
    pub fn agent_hijack(
        &mut self,
        c: &Connect,
        p: &Process,
        ancestry: &[Ancestor],
        h: &AgentHijack,
    ) -> Value {
        let session = h.session_process.as_ref().map(|s| {
            json!({"pid": s.pid, "executable": s.executable, "user": {"id": id(s.uid)}, "loginuid": s.loginuid, "sessionid": s.sessionid})
        });
        let spec = Spec {
            action: "ssh-agent-hijack",
            category: "session",
            severity: "high",
            rule_id: "tw-session-ssh-agent-hijack",
            rule_name: "SSH agent used from another user or login session",
            techniques: &["T1563.001"],
            message: format!("{} connected to ssh-agent {}: {}", p.executable, h.socket, h.reason),
        };
        let target = json!({"target": {"socket": h.socket, "owner_uid": h.owner_uid, "session_process": session, "reason": h.reason}});
        let mut d = self.session_alert(c.ts_boot_ns, &c.task, p, ancestry, spec, target);
        d.insert("destination".into(), json!({"address": h.socket}));
        Value::Object(d)
    }
}
