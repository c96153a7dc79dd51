//! ECS alerts for session theft on jump hosts.

use serde_json::{Value, json};

use super::ecs::{EcsBuilder, id, process_fields, threat_for, tw_process};
use crate::{
    decode::{Connect, Trace},
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

impl EcsBuilder {
    /// `ptrace` attach or `process_vm_*` against a process of another user or session.
    pub fn memory_access(
        &mut self,
        t: &Trace,
        p: &Process,
        ancestry: &[Ancestor],
        target: Option<&Process>,
    ) -> Value {
        let ts = self.clock.to_system(t.ts_boot_ns);
        let target_v = target_fields(t.target_pid, target);
        let high_value = target_v["high_value"] == true;
        let (score, label) = if high_value { (99, "critical") } else { (73, "high") };
        let what = match t.syscall {
            sensor_common::TRACE_PTRACE if t.request == 0x4206 => "ptrace(PTRACE_SEIZE)",
            sensor_common::TRACE_PTRACE => "ptrace(PTRACE_ATTACH)",
            sensor_common::TRACE_VM_READV => "process_vm_readv",
            _ => "process_vm_writev",
        };
        let mut d =
            self.base(ts, "alert", &["intrusion_detection", "process"], &["access"], "process-memory-access");
        d["event"]["severity"] = json!(score);
        d["event"]["risk_score"] = json!(score);
        d.insert(
            "rule".into(),
            json!({"id": "tw-session-memory-access", "name": "Another user's process memory accessed", "ruleset": "tokenwarden-session"}),
        );
        d.insert("threat".into(), threat_for(&["T1003.007".to_string(), "T1055.008".to_string()]));
        d.insert(
            "message".into(),
            json!(format!(
                "{} used {what} on pid {} ({})",
                p.executable,
                t.target_pid,
                target_v["executable"].as_str().unwrap_or("?")
            )),
        );
        d.insert("process".into(), process_fields(p, &t.task, ancestry));
        d.insert("user".into(), json!({"id": id(t.task.uid)}));
        d.insert(
            "tokenwarden".into(),
            json!({"severity": label, "process": tw_process(p, &t.task, ancestry), "target": target_v, "syscall": what}),
        );
        Value::Object(d)
    }

    /// A program that has no business with Kerberos caches connected to the KCM socket.
    pub fn kcm_access(&mut self, c: &Connect, p: &Process, ancestry: &[Ancestor], socket: &str) -> Value {
        let ts = self.clock.to_system(c.ts_boot_ns);
        let mut d =
            self.base(ts, "alert", &["intrusion_detection", "session"], &["access"], "kerberos-kcm-access");
        d["event"]["severity"] = json!(47);
        d["event"]["risk_score"] = json!(47);
        d.insert(
            "rule".into(),
            json!({"id": "tw-session-kcm-access", "name": "Kerberos KCM cache accessed by an unexpected program", "ruleset": "tokenwarden-session"}),
        );
        d.insert("threat".into(), threat_for(&["T1558.005".to_string()]));
        d.insert(
            "message".into(),
            json!(format!("{} connected to the Kerberos KCM socket {socket}", p.executable)),
        );
        d.insert("destination".into(), json!({"address": socket}));
        d.insert("process".into(), process_fields(p, &c.task, ancestry));
        d.insert("user".into(), json!({"id": id(c.task.uid)}));
        d.insert("tokenwarden".into(), json!({"severity": "medium", "process": tw_process(p, &c.task, ancestry), "target": {"socket": socket}}));
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
        let ts = self.clock.to_system(c.ts_boot_ns);
        let mut d =
            self.base(ts, "alert", &["intrusion_detection", "session"], &["access"], "ssh-agent-hijack");
        d["event"]["severity"] = json!(73);
        d["event"]["risk_score"] = json!(73);
        d.insert(
            "rule".into(),
            json!({"id": "tw-session-ssh-agent-hijack", "name": "SSH agent used from another user or login session", "ruleset": "tokenwarden-session"}),
        );
        d.insert("threat".into(), threat_for(&["T1563.001".to_string()]));
        d.insert(
            "message".into(),
            json!(format!("{} connected to ssh-agent {}: {}", p.executable, h.socket, h.reason)),
        );
        d.insert("destination".into(), json!({"address": h.socket}));
        d.insert("process".into(), process_fields(p, &c.task, ancestry));
        d.insert("user".into(), json!({"id": id(c.task.uid)}));
        let session = h.session_process.as_ref().map(|s| {
            json!({"pid": s.pid, "executable": s.executable, "user": {"id": id(s.uid)}, "loginuid": s.loginuid, "sessionid": s.sessionid})
        });
        d.insert(
            "tokenwarden".into(),
            json!({
                "severity": "high",
                "process": tw_process(p, &c.task, ancestry),
                "target": {"socket": h.socket, "owner_uid": h.owner_uid, "session_process": session, "reason": h.reason},
            }),
        );
        Value::Object(d)
    }
}
