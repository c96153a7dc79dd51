//! ECS documents for the network side: connections and credential use.

use serde_json::{Map, Value, json};

use super::ecs::{EcsBuilder, id, process_fields, tw_process};
use crate::{
    decode::{Connect, Data, Endpoint, http::Version},
    detect::{
        credentials::{Credential, redact_query},
        egress::CredentialUse,
    },
    process::{Ancestor, Process},
};

fn destination(e: &Endpoint, domain: &str) -> Value {
    let mut d = match e {
        Endpoint::Ip { addr, port } => {
            json!({"ip": addr.to_string(), "port": port, "address": addr.to_string()})
        }
        Endpoint::Unix(path) => json!({"address": path}),
        Endpoint::Unknown => json!({"address": "unknown"}),
    };
    if !domain.is_empty() {
        d["domain"] = json!(domain);
    }
    d
}

fn qtype_name(t: u16) -> String {
    match t {
        1 => "A".into(),
        28 => "AAAA".into(),
        5 => "CNAME".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        other => other.to_string(),
    }
}

fn credential(c: &Credential, now_s: i64, jwt_max_lifetime_s: i64) -> Value {
    let mut v = json!({
        "kind": c.kind,
        "location": c.location,
        "fingerprint": c.fingerprint,
        "length": c.length,
        "bound": c.bound,
    });
    if !c.preview.is_empty() {
        v["preview"] = json!(c.preview);
    }
    if let Some(k) = &c.key_id {
        v["key_id"] = json!(k);
        v["long_term_key"] = json!(k.starts_with("AKIA"));
    }
    if let Some(j) = &c.jwt {
        v["jwt"] = json!({
            "alg": j.alg, "iss": j.iss, "sub": j.sub, "aud": j.aud, "exp": j.exp, "iat": j.iat,
            "nbf": j.nbf, "jti": j.jti, "cnf": j.cnf, "lifetime_s": j.lifetime_s,
            "alg_none": j.alg_none(),
            "expired": j.expired(now_s),
            "long_lived": j.lifetime_s.is_some_and(|l| l > jwt_max_lifetime_s),
        });
    }
    v
}

impl EcsBuilder {
    /// A request that carried credentials: which ones (fingerprints only), from whom, to where.
    pub fn credential_use(
        &mut self,
        d: &Data,
        p: &Process,
        ancestry: &[Ancestor],
        u: &CredentialUse,
        jwt_max_lifetime_s: i64,
    ) -> Value {
        let ts = self.clock.to_system(d.ts_boot_ns);
        let now_s = ts.duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs() as i64);
        let mut doc: Map<String, Value> = self.base(
            ts,
            "event",
            &["network", "authentication"],
            &["connection", "protocol"],
            "credential-used",
        );
        let r = &u.request;
        let domain = r
            .host
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .map_or(r.host.as_str(), |(h, _)| h);
        if let Some(dest) = &u.destination {
            doc.insert("destination".into(), destination(dest, domain));
        } else if !domain.is_empty() {
            doc.insert("destination".into(), json!({"domain": domain}));
        }
        let mut url = json!({"path": r.path, "scheme": if u.tls.is_some() { "https" } else { "http" }});
        if !domain.is_empty() {
            url["domain"] = json!(domain);
        }
        if !r.query.is_empty() {
            url["query"] = json!(redact_query(&r.query));
        }
        doc.insert("url".into(), url);
        doc.insert(
            "http".into(),
            json!({"request": {"method": r.method}, "version": match r.version { Version::Http1 => "1.1", Version::Http2 => "2" }}),
        );
        doc.insert("network".into(), json!({"protocol": "http", "transport": "tcp"}));
        doc.insert("process".into(), process_fields(p, &d.task, ancestry));
        doc.insert("user".into(), json!({"id": id(d.task.uid)}));
        let creds: Vec<Value> =
            u.credentials.iter().map(|c| credential(c, now_s, jwt_max_lifetime_s)).collect();
        doc.insert(
            "tokenwarden".into(),
            json!({
                "process": tw_process(p, &d.task, ancestry),
                "credential": creds.first().cloned().unwrap_or(Value::Null),
                "credentials": creds,
                "tls": {"library": u.tls},
                "capture": {"bytes_written": d.len, "bytes_captured": d.bytes.len()},
            }),
        );
        Value::Object(doc)
    }

    /// A DNS question (only with `--emit-events`).
    pub fn dns_event(
        &mut self,
        d: &Data,
        p: &Process,
        ancestry: &[Ancestor],
        name: &str,
        qtype: u16,
    ) -> Value {
        let ts = self.clock.to_system(d.ts_boot_ns);
        let mut doc = self.base(ts, "event", &["network"], &["protocol"], "dns-query");
        doc.insert(
            "dns".into(),
            json!({"type": "query", "question": {"name": name, "type": qtype_name(qtype)}}),
        );
        doc.insert("network".into(), json!({"protocol": "dns", "transport": "udp"}));
        doc.insert("process".into(), process_fields(p, &d.task, ancestry));
        doc.insert("tokenwarden".into(), json!({"process": tw_process(p, &d.task, ancestry)}));
        Value::Object(doc)
    }

    /// A `connect(2)` (only with `--emit-events`).
    pub fn connect_event(
        &mut self,
        c: &Connect,
        p: &Process,
        ancestry: &[Ancestor],
        name: Option<&str>,
    ) -> Value {
        let ts = self.clock.to_system(c.ts_boot_ns);
        let outcome = if c.ret == 0 || c.ret == -libc::EINPROGRESS { "success" } else { "failure" };
        let mut doc = self.base(ts, "event", &["network"], &["connection", "start"], "connection-attempted");
        doc["event"]["outcome"] = json!(outcome);
        doc.insert("destination".into(), destination(&c.endpoint, name.unwrap_or_default()));
        if let Some((ip, port)) = c.local {
            doc.insert(
                "source".into(),
                json!({"ip": ip.to_string(), "port": port, "address": ip.to_string()}),
            );
        }
        doc.insert("process".into(), process_fields(p, &c.task, ancestry));
        doc.insert("user".into(), json!({"id": id(c.task.uid)}));
        doc.insert(
            "tokenwarden".into(),
            json!({"process": tw_process(p, &c.task, ancestry), "network": {"fd": c.fd, "result": c.ret}}),
        );
        Value::Object(doc)
    }
}
