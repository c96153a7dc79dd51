//! Events and state documents → File System Activity (1001), Process Activity (1007),
//! Network Activity (4001), DNS Activity (4003), Application Lifecycle (6002).

use serde_json::{Map, Value, json};

use super::{
    VENDOR, objects,
    source::{Ecs, Obj},
};

/// `actor` from ECS `process` (with its parent) and `user`.
fn actor(e: &Ecs<'_>) -> Option<Value> {
    let mut a = Obj::new();
    a.opt("process", objects::process(e, "process", true, true));
    a.opt("user", objects::user(e, "user.id", true));
    a.some()
}

/// `status_id`/`status` from ECS `event.outcome`.
fn outcome(e: &Ecs<'_>, o: &mut Obj) {
    match e.peek("event.outcome").and_then(Value::as_str) {
        Some("success") => o.set("status_id", 1).set("status", "Success"),
        Some("failure") => o.set("status_id", 2).set("status", "Failure"),
        _ => return,
    };
    e.take("event.outcome");
}

/// File System Activity: a watched store opened (activity Open).
pub fn file_system(e: &Ecs<'_>, ev: &mut Map<String, Value>) {
    let mut o = Obj(std::mem::take(ev));
    o.opt("actor", actor(e));
    o.opt("file", objects::file(e));
    *ev = o.0;
}

/// Process Activity: an exec (activity Launch). The new process is `process`, its
/// parent the actor.
pub fn process(e: &Ecs<'_>, ev: &mut Map<String, Value>) {
    let mut o = Obj(std::mem::take(ev));
    let process = objects::process(e, "process", true, true);
    let mut a = Obj::new();
    a.opt("process", process.as_ref().and_then(|p| p.get("parent_process")).cloned());
    a.opt("user", objects::user(e, "user.id", true));
    o.opt("actor", a.some());
    o.opt("process", process);
    *ev = o.0;
}

/// `connection_info` for an outbound connection over `network.transport`.
fn connection_info(e: &Ecs<'_>) -> Value {
    let mut c = Obj::new();
    c.set("direction_id", 2).set("direction", "Outbound");
    match e.peek("network.transport").and_then(Value::as_str) {
        Some("tcp") => c.set("protocol_name", "tcp").set("protocol_num", 6),
        Some("udp") => c.set("protocol_name", "udp").set("protocol_num", 17),
        _ => return c.value(),
    };
    e.take("network.transport");
    c.value()
}

/// Network Activity: a connect (Open, or Fail when it failed) or a request that
/// carried credentials or OAuth parameters (Traffic). Returns the activity.
pub fn network(e: &Ecs<'_>, ev: &mut Map<String, Value>) -> (u8, &'static str) {
    let mut o = Obj(std::mem::take(ev));
    let activity = match e.peek("event.action").and_then(Value::as_str) {
        Some("connection-attempted") => match e.peek("event.outcome").and_then(Value::as_str) {
            Some("failure") => (4, "Fail"),
            _ => (1, "Open"),
        },
        Some(_) if e.peek("url").is_some() => (6, "Traffic"),
        _ => (99, "Other"),
    };
    outcome(e, &mut o);
    o.opt("actor", actor(e));
    o.opt("src_endpoint", objects::endpoint(e, "source", true));
    let url = objects::url(e, true);
    let dst = objects::endpoint(e, "destination", true)
        .or_else(|| url.as_ref().and_then(|u| u.get("hostname")).map(|h| json!({ "hostname": h })));
    o.opt("dst_endpoint", dst);
    o.opt("url", url);
    o.set("connection_info", connection_info(e));
    *ev = o.0;
    activity
}

/// DNS Activity: a question asked (Query).
pub fn dns(e: &Ecs<'_>, ev: &mut Map<String, Value>) {
    let mut o = Obj(std::mem::take(ev));
    o.opt("actor", actor(e));
    let mut q = Obj::new();
    q.opt("hostname", e.str("dns.question.name")).opt("type", e.str("dns.question.type"));
    o.opt("query", q.some());
    o.set("connection_info", connection_info(e));
    *ev = o.0;
}

/// Application Lifecycle activity for a sensor state document.
pub fn lifecycle_activity(action: &str) -> (u8, &'static str) {
    match action {
        "sensor-started" => (3, "Start"),
        "sensor-stopped" => (4, "Stop"),
        "rules-reloaded" | "rules-reload-failed" => (8, "Update"),
        _ => (99, "Other"),
    }
}

/// Application Lifecycle: the sensor itself as `app`; the details stay in `unmapped`.
pub fn lifecycle(e: &Ecs<'_>, ev: &mut Map<String, Value>) {
    let mut o = Obj(std::mem::take(ev));
    let mut app = Obj::new();
    app.set("name", "tokenwarden").set("vendor_name", VENDOR);
    app.opt("version", e.peek("agent.version").and_then(Value::as_str));
    app.opt("uid", e.peek("agent.id").and_then(Value::as_str));
    o.set("app", app.value());
    let failed = e.peek("event.action").and_then(Value::as_str).is_some_and(|a| a.ends_with("-failed"));
    if failed {
        o.set("status_id", 2).set("status", "Failure");
    } else {
        o.set("status_id", 1).set("status", "Success");
    }
    *ev = o.0;
}
