//! RFC 5424 message text and RFC 6587 / RFC 5425 octet-counting framing.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [tokenwarden@32473 seq="…" kind="…"] MSG`
//!
//! MSG is the record's one-line JSON body, sent as plain UTF-8 bytes without a BOM
//! (RFC 5424 `MSG-ANY`): JSON consumers choke on a leading BOM, and every record is
//! framed the same way.

use super::super::{Class, Record};

/// SD-ID of the sensor's structured-data element. 32473 is the private enterprise
/// number RFC 5612 reserves for examples; a registered number replaces it later.
pub const SD_ID: &str = "tokenwarden@32473";

/// The parts of the header that are the same for every message of one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Facility 0–23.
    pub facility: u8,
    /// HOSTNAME field, already sanitized.
    pub hostname: String,
    /// APP-NAME field, already validated.
    pub app_name: String,
    /// PROCID field (the sensor's pid).
    pub procid: String,
}

impl Header {
    /// A header for `facility` with `hostname` made safe for the HOSTNAME field.
    pub fn new(facility: u8, hostname: &str, app_name: &str, pid: u32) -> Result<Self, String> {
        if facility > 23 {
            return Err(format!("facility {facility} is out of range (0–23)"));
        }
        validate_app_name(app_name)?;
        Ok(Self {
            facility,
            hostname: printable_field(hostname, 255),
            app_name: app_name.to_string(),
            procid: pid.to_string(),
        })
    }

    /// The whole RFC 5424 message of `r`, without framing.
    pub fn message(&self, r: &Record) -> Vec<u8> {
        let severity = r.syslog_severity.min(7);
        let pri = u16::from(self.facility) * 8 + u16::from(severity);
        let mut out = Vec::with_capacity(r.body.len() + 160);
        out.extend_from_slice(
            format!(
                "<{pri}>1 {} {} {} {} {} [{SD_ID} seq=\"{}\" kind=\"{}\"] ",
                timestamp_field(&r.timestamp),
                self.hostname,
                self.app_name,
                self.procid,
                printable_field(&r.action, 32),
                escape_param_value(&r.seq.to_string()),
                escape_param_value(class_name(r.class)),
            )
            .as_bytes(),
        );
        out.extend_from_slice(&r.body);
        out
    }
}

pub fn class_name(c: Class) -> &'static str {
    match c {
        Class::Alert => "alert",
        Class::Event => "event",
        Class::State => "state",
    }
}

/// APP-NAME is 1–48 printable US-ASCII characters (RFC 5424 §6.2.5).
pub fn validate_app_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 48 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`app_name` {name:?} must be 1–48 printable ASCII characters without spaces"));
    }
    Ok(())
}

/// A header field of printable US-ASCII (`PRINTUSASCII`, 33–126), at most `max` long;
/// other characters are dropped, and an empty result is the NILVALUE `-`.
pub fn printable_field(s: &str, max: usize) -> String {
    let v: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if v.is_empty() { "-".into() } else { v }
}

/// PARAM-VALUE escaping (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash.
pub fn escape_param_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The TIMESTAMP field: the record's RFC 3339 time when it fits RFC 5424 §6.2.3
/// (`T` and `Z` upper case, at most 6 fraction digits, which are cut to 6), else `-`.
pub fn timestamp_field(ts: &str) -> String {
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date_time = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !date_time {
        return "-".into();
    }
    let (mut out, mut rest) = (ts[..19].to_string(), &ts[19..]);
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return "-".into();
        }
        out.push('.');
        out.push_str(&frac[..n.min(6)]);
        rest = &frac[n..];
    }
    let rb = rest.as_bytes();
    let offset_ok = rest == "Z"
        || (rb.len() == 6
            && matches!(rb[0], b'+' | b'-')
            && rb[1..3].iter().all(u8::is_ascii_digit)
            && rb[3] == b':'
            && rb[4..6].iter().all(u8::is_ascii_digit));
    if !offset_ok {
        return "-".into();
    }
    out.push_str(rest);
    out
}

/// Appends `msg` with octet-counting framing: `MSG-LEN SP SYSLOG-MSG` (no trailer).
pub fn frame_octet_counted(out: &mut Vec<u8>, msg: &[u8]) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, severity: u8, ts: &str, action: &str, body: &str) -> Record {
        Record {
            seq,
            class: Class::Alert,
            syslog_severity: severity,
            timestamp: ts.into(),
            action: action.into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn message_has_every_rfc5424_field() {
        let h = Header::new(10, "web-01", "tokenwarden", 4242).unwrap();
        let r = record(42, 3, "2026-12-04T10:00:00.123456Z", "credential-store-read", r#"{"a":"é ]\""}"#);
        let m = String::from_utf8(h.message(&r)).unwrap();
        assert_eq!(
            m,
            "<83>1 2026-12-04T10:00:00.123456Z web-01 tokenwarden 4242 credential-store-read \
             [tokenwarden@32473 seq=\"42\" kind=\"alert\"] {\"a\":\"é ]\\\"\"}"
        );
        // PRI = facility * 8 + severity, severity clamped to 7.
        let m = h.message(&record(1, 9, "x", "a", "{}"));
        assert!(m.starts_with(b"<87>1 - "), "{}", String::from_utf8_lossy(&m));
        let h0 = Header::new(0, "h", "a", 1).unwrap();
        assert!(h0.message(&record(1, 0, "x", "a", "{}")).starts_with(b"<0>1 "));
        let h23 = Header::new(23, "h", "a", 1).unwrap();
        assert!(h23.message(&record(1, 7, "x", "a", "{}")).starts_with(b"<191>1 "));
    }

    #[test]
    fn header_fields_are_printable_ascii_or_nil() {
        let h = Header::new(4, "bad host\u{e9}name", "tw", 1).unwrap();
        assert_eq!(h.hostname, "badhostname");
        assert_eq!(Header::new(4, "", "tw", 1).unwrap().hostname, "-");
        let long = "h".repeat(300);
        assert_eq!(Header::new(4, &long, "tw", 1).unwrap().hostname.len(), 255);
        assert_eq!(printable_field("a b\tc", 32), "abc");
        assert_eq!(printable_field(&"m".repeat(40), 32).len(), 32);
        assert_eq!(printable_field(" \n", 32), "-");
        let e = Header::new(4, "h", "two words", 1).unwrap_err();
        assert!(e.contains("app_name"), "{e}");
        assert!(Header::new(4, "h", "", 1).is_err());
        assert!(Header::new(4, "h", &"a".repeat(49), 1).is_err());
        assert!(Header::new(4, "h", &"a".repeat(48), 1).is_ok());
        assert!(Header::new(24, "h", "a", 1).unwrap_err().contains("facility"));
    }

    #[test]
    fn param_values_escape_quote_backslash_and_bracket() {
        assert_eq!(escape_param_value("plain 42"), "plain 42");
        assert_eq!(escape_param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(escape_param_value("[x]"), r"[x\]");
        assert_eq!(escape_param_value("é"), "é");
        assert_eq!(escape_param_value(""), "");
    }

    #[test]
    fn timestamps_are_kept_cut_to_microseconds_or_nil() {
        assert_eq!(timestamp_field("2026-12-04T10:00:00Z"), "2026-12-04T10:00:00Z");
        assert_eq!(timestamp_field("2026-12-04T10:00:00.5+02:00"), "2026-12-04T10:00:00.5+02:00");
        assert_eq!(timestamp_field("2026-12-04T10:00:00.123456789Z"), "2026-12-04T10:00:00.123456Z");
        for bad in [
            "-",
            "",
            "2026-12-04 10:00:00Z",
            "2026-12-04T10:00:00z",
            "2026-12-04T10:00:00.Z",
            "2026-12-04T10:00:00",
            "2026-12-04T10:00:00+0200",
            "2026-1x-04T10:00:00Z",
            "é026-12-04T10:00:00Z",
        ] {
            assert_eq!(timestamp_field(bad), "-", "{bad:?}");
        }
    }

    #[test]
    fn octet_counting_frames_count_bytes_not_characters() {
        let mut out = Vec::new();
        frame_octet_counted(&mut out, b"<1>1 - - - - - - {}");
        frame_octet_counted(&mut out, "é".as_bytes());
        frame_octet_counted(&mut out, b"");
        assert_eq!(out, "19 <1>1 - - - - - - {}2 é0 ".as_bytes());
        // A receiver can split the stream back into the messages.
        let mut rest = &out[..];
        let mut msgs = Vec::new();
        while !rest.is_empty() {
            let sp = rest.iter().position(|b| *b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
            msgs.push(&rest[sp + 1..sp + 1 + len]);
            rest = &rest[sp + 1 + len..];
        }
        assert_eq!(msgs, [&b"<1>1 - - - - - - {}"[..], "é".as_bytes(), b""]);
    }
}
