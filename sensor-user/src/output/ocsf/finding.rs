//! Alerts → Detection Finding (2004): the rule as the analytic, ATT&CK as `attacks`,
//! the process, file, destination and target as evidences and resources.

use serde_json::{Map, Value, json};

use super::{
    objects,
    source::{Ecs, Obj},
};
use crate::output::attack;

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn entity(uid: &str, name: Option<&str>) -> Value {
    let mut o = Obj::new();
    o.set("uid", uid).opt("name", name.filter(|n| !n.is_empty()));
    o.value()
}

/// One `attack` per sub-technique (or per technique without one), from ECS `threat.*`.
/// The tactic of each comes from the ATT&CK table the ECS builder used.
pub fn attacks(e: &Ecs<'_>) -> Vec<Value> {
    if e.peek("threat.framework").and_then(Value::as_str).is_some_and(|f| f != "MITRE ATT&CK") {
        return Vec::new();
    }
    let tech_ids = strings(e.peek("threat.technique.id"));
    let tech_names = strings(e.peek("threat.technique.name"));
    let sub_ids = strings(e.peek("threat.technique.subtechnique.id"));
    let sub_names = strings(e.peek("threat.technique.subtechnique.name"));
    let tactic_ids = strings(e.peek("threat.tactic.id"));
    let tactic_names = strings(e.peek("threat.tactic.name"));
    let tactic = |id: &str| {
        let tid = attack::lookup(id).or_else(|| attack::lookup(attack::parent(id))).map(|t| t.1)?;
        // Only a tactic the document itself names.
        let i = tactic_ids.iter().position(|t| *t == tid)?;
        Some(entity(tid, tactic_names.get(i).copied()))
    };
    let mut out = Vec::new();
    for (i, tech) in tech_ids.iter().enumerate() {
        let technique = entity(tech, tech_names.get(i).copied());
        let subs: Vec<(usize, &&str)> =
            sub_ids.iter().enumerate().filter(|(_, s)| attack::parent(s) == *tech).collect();
        if subs.is_empty() {
            let mut a = Obj::new();
            a.set("technique", technique.clone()).opt("tactic", tactic(tech));
            out.push(a.value());
        }
        for (j, sub) in subs {
            let mut a = Obj::new();
            a.set("technique", technique.clone())
                .set("sub_technique", entity(sub, sub_names.get(j).copied()))
                .opt("tactic", tactic(sub));
            out.push(a.value());
        }
    }
    // Everything in `threat` is now in `attacks` (ids, names and tactics).
    if !out.is_empty() {
        e.take("threat");
    }
    out
}

/// `finding_info`.
fn finding_info(e: &Ecs<'_>, time_ms: Option<i64>) -> Value {
    let mut f = Obj::new();
    f.opt("uid", e.peek("event.id").and_then(Value::as_str));
    let title = e.str("rule.name").or_else(|| e.peek("event.action").and_then(Value::as_str));
    f.opt("title", title);
    let desc = e.str("rule.description");
    f.opt("desc", desc);
    f.opt("types", e.peek("event.action").and_then(Value::as_str).map(|a| json!([a])));
    let mut analytic = Obj::new();
    analytic.opt("uid", e.str("rule.id")).opt("name", title).opt("category", e.str("rule.ruleset"));
    analytic.opt("desc", desc);
    if !analytic.is_empty() {
        analytic.set("type_id", 1).set("type", "Rule");
        f.set("analytic", analytic.value());
    }
    f.set("attacks", attacks(e));
    f.opt("created_time", time_ms);
    f.value()
}

/// Evidence and resource for the process another one targeted (`/proc/<pid>/…`).
fn target(e: &Ecs<'_>, evidences: &mut Vec<Value>, resources: &mut Vec<Value>) {
    if let Some(p) = objects::process(e, "tokenwarden.target", false, false) {
        let uid = p
            .get("uid")
            .or_else(|| p.get("pid"))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        let mut r = Obj::new();
        r.set("type", "process").opt("uid", uid).opt("name", p.pointer("/file/path").cloned());
        resources.push(r.value());
        evidences.push(json!({ "process": p }));
    }
    // The other party of a correlation (the store reader, the other user).
    if let Some(p) = objects::process(e, "tokenwarden.correlation.other", false, false) {
        evidences.push(json!({ "process": p }));
    }
}

/// Fills the Detection Finding attributes of `ev`.
pub fn fill(e: &Ecs<'_>, ev: &mut Map<String, Value>, time_ms: Option<i64>) {
    let mut o = Obj(std::mem::take(ev));
    o.set("finding_info", finding_info(e, time_ms));
    o.set("status_id", 1).set("status", "New");
    o.opt("risk_score", e.u64("event.risk_score"));
    let process = objects::process(e, "process", true, true);
    let user = objects::user(e, "user.id", true);
    let mut actor = Obj::new();
    actor.opt("process", process.clone()).opt("user", user);
    o.opt("actor", actor.some());

    let file = objects::file(e);
    let dst = objects::endpoint(e, "destination", true);
    let url = objects::url(e, true);
    let mut resources = Vec::new();
    if let Some(f) = &file {
        resources.push(json!({"type": "file", "uid": f["path"], "name": f["name"]}));
    }
    if let Some(d) = &dst {
        let uid = d.get("name").or_else(|| d.get("ip")).or_else(|| d.get("hostname")).cloned();
        let mut r = Obj::new();
        r.set("type", "network_endpoint").opt("uid", uid).opt("name", d.get("hostname").cloned());
        resources.push(r.value());
    }
    if let Some(u) = url.as_ref().and_then(|u| u.get("url_string").or_else(|| u.get("path"))) {
        resources.push(json!({"type": "url", "uid": u}));
    }
    // The acting process and what it touched (its user is in `actor`).
    let mut main = Obj::new();
    main.opt("process", process);
    main.opt("file", file).opt("dst_endpoint", dst).opt("url", url);
    let mut evidences: Vec<Value> = main.some().into_iter().collect();
    target(e, &mut evidences, &mut resources);
    o.set("evidences", evidences).set("resources", resources);
    *ev = o.0;
}
