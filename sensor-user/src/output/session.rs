//! ECS alerts for session theft on jump hosts.

use serde_json::{Value, json};

use super::ecs::{EcsBuilder, id, process_fields, threat_for, tw_process};
use crate::{
    decode::Connect,
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
