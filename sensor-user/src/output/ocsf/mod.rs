//! OCSF 1.3.0 documents, mapped from the ECS documents (the only input: the mapping can
//! add no data, secrets included, that the ECS document does not already carry).
//!
//! | ECS | OCSF class |
//! |---|---|
//! | `event.kind: alert` (any action) | Detection Finding 2004, activity Create |
//! | event `credential-store-opened` | File System Activity 1001, activity Open |
//! | event `exec` | Process Activity 1007, activity Launch |
//! | event `connection-attempted` | Network Activity 4001, Open (Fail when it failed) |
//! | event `credential-used`, `oauth-activity` | Network Activity 4001, Traffic |
//! | event `dns-query` | DNS Activity 4003, Query |
//! | `event.kind: state` | Application Lifecycle 6002: Start, Stop, Update (rule reloads), Other |
//! | anything else | Base Event 0, activity Other |
//!
//! Every ECS field the mapping did not use is kept, in its ECS shape, under `unmapped`
//! (`unmapped.tokenwarden.*`, `unmapped.ecs.version`, …).

mod activity;
mod finding;
mod objects;
mod source;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};
use source::Ecs;

/// The OCSF schema version the documents follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// `vendor_name` of the product.
pub const VENDOR: &str = "tokenwarden";

#[derive(Debug, thiserror::Error)]
pub enum OcsfError {
    #[error("time {0:?} is not RFC 3339")]
    Time(String),
}

/// An OCSF event class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    pub uid: u32,
    pub name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
}

pub const BASE_EVENT: Class =
    Class { uid: 0, name: "Base Event", category_uid: 0, category_name: "Uncategorized" };
pub const FILE_SYSTEM_ACTIVITY: Class =
    Class { uid: 1001, name: "File System Activity", category_uid: 1, category_name: "System Activity" };
pub const PROCESS_ACTIVITY: Class =
    Class { uid: 1007, name: "Process Activity", category_uid: 1, category_name: "System Activity" };
pub const DETECTION_FINDING: Class =
    Class { uid: 2004, name: "Detection Finding", category_uid: 2, category_name: "Findings" };
pub const NETWORK_ACTIVITY: Class =
    Class { uid: 4001, name: "Network Activity", category_uid: 4, category_name: "Network Activity" };
pub const DNS_ACTIVITY: Class =
    Class { uid: 4003, name: "DNS Activity", category_uid: 4, category_name: "Network Activity" };
pub const APPLICATION_LIFECYCLE: Class = Class {
    uid: 6002,
    name: "Application Lifecycle",
    category_uid: 6,
    category_name: "Application Activity",
};

/// The class an ECS document maps to.
pub fn class_of(doc: &Value) -> Class {
    let action = doc["event"]["action"].as_str().unwrap_or_default();
    let category = |c: &str| doc["event"]["category"].as_array().is_some_and(|a| a.iter().any(|x| x == c));
    match doc["event"]["kind"].as_str() {
        Some("alert") => DETECTION_FINDING,
        Some("state") => APPLICATION_LIFECYCLE,
        Some("event") if action == "exec" || category("process") => PROCESS_ACTIVITY,
        Some("event") if category("file") => FILE_SYSTEM_ACTIVITY,
        Some("event") if action == "dns-query" => DNS_ACTIVITY,
        Some("event") if category("network") => NETWORK_ACTIVITY,
        _ => BASE_EVENT,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn epoch_ms(rfc3339: &str) -> Result<i64, OcsfError> {
    let t = humantime::parse_rfc3339(rfc3339).map_err(|_| OcsfError::Time(rfc3339.to_string()))?;
    let d = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| OcsfError::Time(rfc3339.to_string()))?;
    i64::try_from(d.as_millis()).map_err(|_| OcsfError::Time(rfc3339.to_string()))
}

/// OCSF `severity_id` and caption for an ECS `event.severity` (21/47/73/99 scale).
pub fn severity(score: Option<u64>) -> (u8, &'static str) {
    match score {
        None => (1, "Informational"),
        Some(s) if s >= 99 => (5, "Critical"),
        Some(s) if s >= 73 => (4, "High"),
        Some(s) if s >= 47 => (3, "Medium"),
        Some(s) if s >= 21 => (2, "Low"),
        Some(_) => (1, "Informational"),
    }
}

/// The OCSF form of an ECS document. Missing or mistyped ECS fields leave the OCSF
/// fields they feed out; this never fails.
pub fn from_ecs(doc: &Value) -> Value {
    let e = Ecs::new(doc);
    let class = class_of(doc);
    e.take("event.kind");
    let time_ms = e.peek("@timestamp").and_then(Value::as_str).and_then(|t| epoch_ms(t).ok());
    if time_ms.is_some() {
        e.take("@timestamp");
    }
    let mut ev = Map::new();
    let action = e.peek("event.action").and_then(Value::as_str).unwrap_or_default().to_string();
    let (activity_id, activity_name) = match class {
        DETECTION_FINDING => {
            finding::fill(&e, &mut ev, time_ms);
            (1, "Create")
        }
        FILE_SYSTEM_ACTIVITY => {
            activity::file_system(&e, &mut ev);
            (14, "Open")
        }
        PROCESS_ACTIVITY => {
            activity::process(&e, &mut ev);
            (1, "Launch")
        }
        NETWORK_ACTIVITY => activity::network(&e, &mut ev),
        DNS_ACTIVITY => {
            activity::dns(&e, &mut ev);
            (1, "Query")
        }
        APPLICATION_LIFECYCLE => {
            activity::lifecycle(&e, &mut ev);
            activity::lifecycle_activity(&action)
        }
        _ => (99, "Other"),
    };
    ev.insert("class_uid".into(), json!(class.uid));
    ev.insert("class_name".into(), json!(class.name));
    ev.insert("category_uid".into(), json!(class.category_uid));
    ev.insert("category_name".into(), json!(class.category_name));
    ev.insert("activity_id".into(), json!(activity_id));
    ev.insert("activity_name".into(), json!(activity_name));
    ev.insert("type_uid".into(), json!(u64::from(class.uid) * 100 + u64::from(activity_id)));
    ev.insert("type_name".into(), json!(format!("{}: {activity_name}", class.name)));
    if let Some(t) = time_ms {
        ev.insert("time".into(), json!(t));
    }
    ev.insert("timezone_offset".into(), json!(0));
    let score = e.u64("event.severity");
    let (severity_id, severity_name) = match (class, score) {
        (DETECTION_FINDING, None) => (0, "Unknown"),
        _ => severity(score),
    };
    ev.insert("severity_id".into(), json!(severity_id));
    ev.insert("severity".into(), json!(severity_name));
    if let Some(m) = e.str("message") {
        ev.insert("message".into(), json!(m));
    }
    ev.insert("metadata".into(), objects::metadata(&e, time_ms));
    ev.insert("device".into(), objects::device(&e));
    let observables = objects::observables(&ev);
    if !observables.is_empty() {
        ev.insert("observables".into(), json!(observables));
    }
    let unmapped = e.unmapped();
    if unmapped.as_object().is_none_or(|m| !m.is_empty()) {
        ev.insert("unmapped".into(), unmapped);
    }
    Value::Object(ev)
}
