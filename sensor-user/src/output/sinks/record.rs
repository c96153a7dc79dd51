//! One rendered document on its way to a sink, and its spool encoding.

use serde::{Deserialize, Serialize};

/// What a document is, from `event.kind`. Spools drop events before alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Alert,
    Event,
    State,
}

impl Class {
    /// The class of an ECS document (`event.kind`).
    pub fn of(doc: &serde_json::Value) -> Self {
        match doc["event"]["kind"].as_str() {
            Some("alert") => Class::Alert,
            Some("state") => Class::State,
            _ => Class::Event,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Class::Alert => b'A',
            Class::Event => b'E',
            Class::State => b'S',
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            b'A' => Some(Class::Alert),
            b'E' => Some(Class::Event),
            b'S' => Some(Class::State),
            _ => None,
        }
    }
}

/// A document rendered in its sink's format, with what transports need to frame it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The sensor's sequence number (`event.sequence`): loss and duplicates are visible.
    pub seq: u64,
    pub class: Class,
    /// Syslog severity 0 (emergency) … 7 (debug), from the alert's severity.
    pub syslog_severity: u8,
    /// RFC 3339 time of the document (`@timestamp`).
    pub timestamp: String,
    /// `event.action` (syslog MSGID, at most 32 printable ASCII characters).
    pub action: String,
    /// The document as one line of JSON, no trailing newline.
    pub body: Vec<u8>,
}

/// Syslog severity for an ECS document: alerts by `event.severity`, the rest informational.
pub fn syslog_severity(doc: &serde_json::Value) -> u8 {
    if Class::of(doc) != Class::Alert {
        return 6;
    }
    match doc["event"]["severity"].as_u64().unwrap_or(47) {
        s if s >= 99 => 2, // critical
        s if s >= 73 => 3, // error
        s if s >= 47 => 4, // warning
        _ => 5,            // notice
    }
}

impl Record {
    /// Renders `doc` (already in the sink's format) with metadata taken from `ecs` (the
    /// original ECS document).
    pub fn new(ecs: &serde_json::Value, rendered: &serde_json::Value) -> Self {
        let action: String = ecs["event"]["action"]
            .as_str()
            .unwrap_or("-")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(32)
            .collect();
        Record {
            seq: ecs["event"]["sequence"].as_u64().unwrap_or(0),
            class: Class::of(ecs),
            syslog_severity: syslog_severity(ecs),
            timestamp: ecs["@timestamp"].as_str().unwrap_or("-").to_string(),
            action: if action.is_empty() { "-".into() } else { action },
            body: serde_json::to_vec(rendered).unwrap_or_default(),
        }
    }

    /// Spool encoding: one line `seq class severity timestamp action body`; the body is
    /// single-line JSON, so a record never contains a newline.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64);
        out.extend_from_slice(
            format!(
                "{} {} {} {} {} ",
                self.seq,
                self.class.code() as char,
                self.syslog_severity,
                self.timestamp,
                self.action
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.body);
        out.push(b'\n');
        out
    }

    /// Parses one spool line (without its newline). `None` for a damaged line.
    pub fn decode(line: &[u8]) -> Option<Self> {
        let mut parts = line.splitn(6, |b| *b == b' ');
        let seq = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        let class = match parts.next()? {
            [c] => Class::from_code(*c)?,
            _ => return None,
        };
        let syslog_severity = std::str::from_utf8(parts.next()?).ok()?.parse().ok().filter(|s| *s <= 7)?;
        let timestamp = String::from_utf8(parts.next()?.to_vec()).ok()?;
        let action = String::from_utf8(parts.next()?.to_vec()).ok()?;
        let body = parts.next()?.to_vec();
        if body.first() != Some(&b'{') || body.contains(&b'\n') {
            return None;
        }
        Some(Record { seq, class, syslog_severity, timestamp, action, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spool_line_round_trips_and_rejects_damage() {
        let doc = json!({"@timestamp": "2026-12-04T10:00:00.000Z",
            "event": {"kind": "alert", "severity": 73, "sequence": 42, "action": "credential-store-read"}});
        let r = Record::new(&doc, &doc);
        assert_eq!(r.class, Class::Alert);
        assert_eq!(r.syslog_severity, 3);
        let line = r.encode();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(Record::decode(&line[..line.len() - 1]), Some(r));
        assert_eq!(Record::decode(b"12 X 3 t a {}"), None, "unknown class");
        assert_eq!(Record::decode(b"12 A 9 t a {}"), None, "severity out of range");
        assert_eq!(Record::decode(b"x A 3 t a {}"), None, "bad sequence");
        assert_eq!(Record::decode(b"12 A 3 t a"), None, "no body");
    }
}
