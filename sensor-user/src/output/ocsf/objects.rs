//! OCSF objects built from ECS field sets: process, user, file, network endpoint, URL,
//! device, metadata, observables.

use serde_json::{Value, json};

use super::{
    OCSF_VERSION, VENDOR,
    source::{Ecs, Obj},
};

fn basename(path: &str) -> &str {
    path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(path)
}

/// `user` from an ECS user id (a string in ECS, a string `uid` in OCSF).
pub fn user(e: &Ecs<'_>, path: &str, mark: bool) -> Option<Value> {
    let v = e.get(path, mark)?;
    let uid = match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(json!({ "uid": uid }))
}

/// `file` for an executable path.
fn exe_file(path: &str) -> Value {
    json!({"path": path, "name": basename(path), "type_id": 1, "type": "Regular File"})
}

/// `process` from an ECS process-shaped object at `prefix` (`process`, `process.parent`,
/// `tokenwarden.target`…). Fields are recorded as mapped only when `mark`. `None`
/// when it has neither pid nor entity id (OCSF needs one of them).
pub fn process(e: &Ecs<'_>, prefix: &str, mark: bool, with_parent: bool) -> Option<Value> {
    let f = |name: &str| format!("{prefix}.{name}");
    let num = |name: &str| e.peek(&f(name)).and_then(Value::as_u64).inspect(|_| _ = e.get(&f(name), mark));
    let text = |name: &str| {
        e.peek(&f(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .inspect(|_| _ = e.get(&f(name), mark))
    };
    let mut p = Obj::new();
    p.opt("pid", num("pid"));
    p.opt("tid", num("thread.id"));
    p.opt("uid", text("entity_id"));
    if !p.has("pid") && !p.has("uid") {
        return None;
    }
    let exe = text("executable");
    p.opt("name", text("name").or_else(|| exe.map(basename)));
    p.opt("file", exe.map(exe_file));
    match text("command_line") {
        Some(c) => p.set("cmd_line", c),
        // A parent has only its (already redacted) arguments; they also stay in
        // `unmapped` as the list they are.
        None => p.opt(
            "cmd_line",
            e.peek(&f("args")).and_then(Value::as_array).map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        ),
    };
    p.opt("user", user(e, &f("user.id"), mark));
    if with_parent {
        p.opt("parent_process", process(e, &f("parent"), mark, false));
    }
    p.some()
}

/// `network_endpoint` from an ECS `destination`/`source`.
pub fn endpoint(e: &Ecs<'_>, prefix: &str, mark: bool) -> Option<Value> {
    let f = |name: &str| format!("{prefix}.{name}");
    let ip = e.peek(&f("ip")).and_then(Value::as_str);
    let address = e.peek(&f("address")).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mut ep = Obj::new();
    ep.opt("ip", ip);
    ep.opt("port", e.peek(&f("port")).and_then(Value::as_u64));
    ep.opt("hostname", e.peek(&f("domain")).and_then(Value::as_str));
    // A unix socket path or `host:port` text: the endpoint's name.
    if address.is_some() && address != ip {
        ep.opt("name", address);
    }
    let v = ep.some()?;
    for name in ["ip", "port", "domain", "address"] {
        e.get(&f(name), mark);
    }
    Some(v)
}

/// `url` from ECS `url.*` (the query was already redacted by the ECS builder).
pub fn url(e: &Ecs<'_>, mark: bool) -> Option<Value> {
    let s = |name: &str| e.peek(&format!("url.{name}")).and_then(Value::as_str).filter(|v| !v.is_empty());
    let (scheme, host, path, query) = (s("scheme"), s("domain"), s("path"), s("query"));
    let mut u = Obj::new();
    u.opt("scheme", scheme).opt("hostname", host).opt("path", path).opt("query_string", query);
    // ECS `url.domain` has no port: the destination's, unless it is the scheme's default.
    let port = e.peek("destination.port").and_then(Value::as_u64);
    u.opt("port", port);
    if let (Some(scheme), Some(host)) = (scheme, host) {
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        let p = match (scheme, port) {
            ("http", Some(80)) | ("https", Some(443)) | (_, None) => String::new(),
            (_, Some(p)) => format!(":{p}"),
        };
        u.set("url_string", format!("{scheme}://{host}{p}{}{q}", path.unwrap_or("/")));
    }
    // OCSF needs `url_string` or `path`.
    if !u.has("url_string") && !u.has("path") {
        return None;
    }
    for name in ["scheme", "domain", "path", "query"] {
        e.get(&format!("url.{name}"), mark);
    }
    u.some()
}

/// `file` from ECS `file.*`.
pub fn file(e: &Ecs<'_>) -> Option<Value> {
    let path = e.peek("file.path").and_then(Value::as_str)?;
    e.take("file.path");
    let mut f = Obj::new();
    f.set("path", path);
    f.set("name", e.str("file.name").unwrap_or_else(|| basename(path)));
    f.opt("parent_folder", e.str("file.directory"));
    // The inode: what identifies the file to the file system.
    f.opt("uid", e.str("file.inode"));
    f.opt("owner", user(e, "file.uid", true));
    let (type_id, type_name) = match e.peek("file.type").and_then(Value::as_str) {
        Some("file") => (1, "Regular File"),
        Some("dir") => (2, "Folder"),
        Some("symlink") => (7, "Symbolic Link"),
        _ => (0, "Unknown"),
    };
    if type_id != 0 {
        e.take("file.type");
    }
    f.set("type_id", type_id).set("type", type_name);
    f.some()
}

/// `device`: this host, with the sensor as its agent.
pub fn device(e: &Ecs<'_>) -> Value {
    let mut d = Obj::new();
    d.opt("hostname", e.str("host.name"));
    d.opt("uid", e.str("host.id"));
    // What kind of machine this is is not known to the sensor.
    d.set("type_id", 0).set("type", "Unknown");
    d.set("os", json!({"name": "Linux", "type_id": 200, "type": "Linux"}));
    let mut agent = Obj::new();
    agent
        .opt("name", e.str("agent.type"))
        .opt("uid", e.str("agent.id"))
        .opt("version", e.str("agent.version"));
    if !agent.is_empty() {
        agent.set("type_id", 1).set("type", "Endpoint Detection and Response").set("vendor_name", VENDOR);
        d.set("agent_list", json!([agent.value()]));
    }
    d.value()
}

/// `metadata`: schema version, product, the ECS id, sequence and time.
pub fn metadata(e: &Ecs<'_>, time_ms: Option<i64>) -> Value {
    let mut product = Obj::new();
    product.set("name", "tokenwarden").set("vendor_name", VENDOR);
    product.opt("version", e.str("agent.version"));
    let mut m = Obj::new();
    m.set("version", OCSF_VERSION);
    m.set("product", product.value());
    m.set("profiles", json!(["host"]));
    m.opt("uid", e.str("event.id"));
    m.opt("sequence", e.u64("event.sequence"));
    m.opt("event_code", e.str("event.action"));
    m.opt("log_name", e.str("event.dataset"));
    m.opt("log_provider", e.str("event.module"));
    m.opt("original_time", e.peek("@timestamp").and_then(Value::as_str));
    m.opt("logged_time", time_ms);
    m.value()
}

/// `observables` for the values an analyst pivots on, naming where they are in the
/// OCSF event.
pub fn observables(ev: &serde_json::Map<String, Value>) -> Vec<Value> {
    const WANTED: &[(&str, u8, &str)] = &[
        ("device.hostname", 1, "Hostname"),
        ("actor.process.name", 9, "Process Name"),
        ("actor.process.pid", 15, "Process ID"),
        ("actor.user.uid", 99, "Other"),
        ("process.name", 9, "Process Name"),
        ("process.pid", 15, "Process ID"),
        ("file.name", 7, "File Name"),
        ("dst_endpoint.ip", 2, "IP Address"),
        ("dst_endpoint.hostname", 1, "Hostname"),
        ("dst_endpoint.port", 11, "Port"),
        ("src_endpoint.ip", 2, "IP Address"),
        ("url.url_string", 6, "URL String"),
        ("query.hostname", 1, "Hostname"),
    ];
    let mut out = Vec::new();
    for &(name, type_id, type_name) in WANTED {
        let mut cur = ev.get(name.split('.').next().unwrap_or_default());
        for part in name.split('.').skip(1) {
            cur = cur.and_then(|c| c.get(part));
        }
        let value = match cur {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        out.push(json!({"name": name, "type_id": type_id, "type": type_name, "value": value}));
    }
    out
}
