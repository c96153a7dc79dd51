//! ECS alerts for correlated findings.

use serde_json::{Value, json};

use super::ecs::{EcsBuilder, id, process_fields, severity_score, threat_for, tw_process};
use crate::{
    decode::Task,
    detect::{
        correlate::{Finding, FindingKind, Party, parsers::host_of},
        oauth::OAuthActivity,
    },
    process::{Ancestor, Process},
};

fn party(p: &Party) -> Value {
    json!({"pid": p.pid, "entity_id": p.entity_id, "executable": p.executable, "user": {"id": id(p.uid)},
           "loginuid": p.loginuid, "sessionid": p.sessionid})
}

impl EcsBuilder {
    /// An alert for a correlated finding, with the sender as `process`.
    pub fn finding(
        &mut self,
        ts_boot_ns: u64,
        task: &Task,
        p: &Process,
        ancestry: &[Ancestor],
        f: &Finding,
    ) -> Value {
        let ts = self.clock.to_system(ts_boot_ns);
        let (action, rule_id, name) = match f.kind {
            FindingKind::Exfiltration => (
                "credential-exfiltration",
                "tw-correlate-exfiltration",
                "Credential store read, then sent out by the same lineage",
            ),
            FindingKind::StoredTokenMisuse => (
                "stored-token-misuse",
                "tw-correlate-provenance",
                "Stored token sent by a foreign program or to a foreign destination",
            ),
            FindingKind::TokenReuse => {
                ("token-reuse", "tw-correlate-reuse", "Same token used by two users or sessions")
            }
            FindingKind::WeakCredential => {
                ("weak-credential", "tw-correlate-weak-credential", "Long-lived or unbound credential in use")
            }
        };
        let mut d = self.base(ts, "alert", &["intrusion_detection", "network"], &["info"], action);
        d["event"]["severity"] = json!(severity_score(f.severity));
        d["event"]["risk_score"] = json!(severity_score(f.severity));
        d.insert("rule".into(), json!({"id": rule_id, "name": name, "ruleset": "tokenwarden-correlation"}));
        let techniques: Vec<String> = f.techniques.iter().map(|t| t.to_string()).collect();
        d.insert("threat".into(), threat_for(&techniques));
        d.insert("message".into(), json!(f.reason));
        d.insert("process".into(), process_fields(p, task, ancestry));
        d.insert("user".into(), json!({"id": id(task.uid)}));
        if !f.destination.is_empty() {
            d.insert("destination".into(), json!({"address": f.destination}));
        }
        d.insert(
            "tokenwarden".into(),
            json!({
                "severity": f.severity,
                "process": tw_process(p, task, ancestry),
                "correlation": {
                    "count": f.count,
                    "sender": party(&f.sender),
                    "other": f.other.as_ref().map(party),
                    "store": f.store.as_ref().map(|s| json!({"path": s.path, "owner_uid": s.owner_uid, "rule_id": s.rule_id,
                                                             "kind": s.kind, "endpoint": s.endpoint})),
                    "fingerprint": f.fingerprint,
                },
            }),
        );
        Value::Object(d)
    }
}

impl EcsBuilder {
    /// An OAuth grant, authorization or device-code request (`event`), or an alert about
    /// one when `alert` is `Some((action, severity, reason))`.
    pub fn oauth(
        &mut self,
        ts_boot_ns: u64,
        task: &Task,
        p: &Process,
        ancestry: &[Ancestor],
        a: &OAuthActivity,
        alert: Option<(&str, &str, String)>,
    ) -> Value {
        let ts = self.clock.to_system(ts_boot_ns);
        let (kind, action) =
            alert.as_ref().map_or(("event", "oauth-activity"), |(act, _, _)| ("alert", *act));
        let mut d = self.base(ts, kind, &["authentication", "network"], &["info"], action);
        if let Some((act, severity, reason)) = &alert {
            d["event"]["severity"] = json!(severity_score(severity));
            d.insert("rule".into(), json!({"id": format!("tw-oauth-{act}"), "name": reason, "ruleset": "tokenwarden-correlation"}));
            d.insert("threat".into(), threat_for(&["T1528".to_string()]));
            d.insert("message".into(), json!(reason));
        }
        let host = a.endpoint.split('/').next().unwrap_or_default();
        d.insert(
            "url".into(),
            json!({"domain": host_of(host), "path": a.endpoint.strip_prefix(host).unwrap_or_default()}),
        );
        d.insert("process".into(), process_fields(p, task, ancestry));
        d.insert("user".into(), json!({"id": id(task.uid)}));
        d.insert(
            "tokenwarden".into(),
            json!({
                "process": tw_process(p, task, ancestry),
                "oauth": {"kind": a.kind, "grant_type": a.grant_type, "client_id": a.client_id, "scopes": a.scopes, "endpoint": a.endpoint},
                "severity": alert.as_ref().map(|(_, s, _)| *s),
            }),
        );
        Value::Object(d)
    }
}
