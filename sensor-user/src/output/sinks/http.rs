//! HTTP collectors: Splunk HEC (`…/services/collector/event`) and Elasticsearch
//! `_bulk`. TLS is rustls (ring) with the configured CA file or the system roots.
//! The token is read once at start, sent as a sensitive header, and never logged nor
//! put in an error.

use std::{io::Write as _, net::ToSocketAddrs as _, path::Path, sync::Arc, time::Duration};

use flate2::{Compression, write::GzEncoder};
use reqwest::{
    blocking::Client,
    header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue},
};
use rustls_pki_types::{CertificateDer, pem::PemObject as _};
use serde::Deserialize;
use serde_json::json;

use super::{Format, Record, SinkConfig, Transport, TransportError, config::HttpShape};

const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

pub struct HttpTransport {
    client: Client,
    url: reqwest::Url,
    shape: HttpShape,
    auth: Option<HeaderValue>,
    gzip: bool,
    batch_max: usize,
    /// HEC: the fixed fields before `"event":`; `_bulk`: the index.
    hec_host: String,
    sourcetype: &'static str,
    index: Option<String>,
}

/// A rustls client configuration trusting the PEM certificates in `ca`.
fn tls_config(ca: &Path) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    add_roots(&mut roots, ca)?;
    client_config(roots)
}

fn add_roots(roots: &mut rustls::RootCertStore, ca: &Path) -> Result<(), String> {
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| format!("`ca_file` {}: {e}", ca.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("`ca_file` {}: {e}", ca.display()))?;
        // System bundles hold a few certificates rustls cannot use: skip those.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("`ca_file` {}: no usable CA certificate", ca.display()));
    }
    Ok(())
}

fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// The token from `token_file` (trimmed) or `token_env`; errors never quote it.
fn read_token(c: &SinkConfig) -> Result<Option<String>, String> {
    let token = if let Some(path) = &c.token_file {
        let t = std::fs::read_to_string(path).map_err(|e| format!("`token_file` {}: {e}", path.display()))?;
        Some((t.trim().to_string(), "`token_file`"))
    } else if let Some(var) = &c.token_env {
        let t =
            std::env::var(var).map_err(|_| format!("`token_env`: environment variable {var} is not set"))?;
        Some((t.trim().to_string(), "`token_env`"))
    } else {
        None
    };
    match token {
        Some((t, from)) if t.is_empty() => Err(format!("{from}: the token is empty")),
        Some((t, _)) => Ok(Some(t)),
        None => Ok(None),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".into(), |h| h.trim().into())
}

/// Seconds since the epoch of an RFC 3339 time (now when it does not parse).
fn epoch_secs(ts: &str) -> f64 {
    let t = humantime::parse_rfc3339_weak(ts).unwrap_or_else(|_| std::time::SystemTime::now());
    t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

impl HttpTransport {
    pub fn new(c: &SinkConfig) -> Result<Self, String> {
        let url_text = c.url.as_deref().ok_or("a http sink needs `url`")?;
        let mut url = reqwest::Url::parse(url_text).map_err(|e| format!("`url`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("`url` must be http:// or https://".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("`url` must not carry credentials: use `token_file` or `token_env`".into());
        }
        let shape = c.shape.ok_or("a http sink needs `shape`")?;
        let token = read_token(c)?;
        let auth = match (&token, shape) {
            (None, HttpShape::Hec) => return Err("a HEC sink needs `token_file` or `token_env`".into()),
            (None, HttpShape::Bulk) => None,
            (Some(t), _) => {
                let scheme = if shape == HttpShape::Hec { "Splunk" } else { "ApiKey" };
                let mut v = HeaderValue::from_str(&format!("{scheme} {t}"))
                    .map_err(|_| "the token has characters a HTTP header cannot carry".to_string())?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let ca = c.ca_file.as_deref().unwrap_or(Path::new(SYSTEM_ROOTS));
        let mut builder = Client::builder()
            .timeout(Duration::from_secs(c.timeout_secs.unwrap_or(10).max(1)))
            .connect_timeout(Duration::from_secs(c.timeout_secs.unwrap_or(10).clamp(1, 10)))
            .user_agent(concat!("tokenwarden/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        let tls = if url.scheme() == "https" {
            tls_config(ca)?
        } else if c.ca_file.is_some() {
            return Err("`ca_file` is set but `url` is not https://".into());
        } else {
            // Plain HTTP: reqwest still wants a TLS configuration (never used).
            client_config(rustls::RootCertStore::empty())?
        };
        builder = builder.tls_backend_preconfigured(tls);
        if let Some(name) = &c.server_name {
            // Verify (and ask for) `server_name` while connecting to the url's address.
            let port = url.port_or_known_default().unwrap_or(443);
            let addr = (url.host_str().unwrap_or_default(), port)
                .to_socket_addrs()
                .map_err(|e| format!("`url` host: {e}"))?
                .next()
                .ok_or("`url` host has no address")?;
            url.set_host(Some(name)).map_err(|e| format!("`server_name`: {e}"))?;
            builder = builder.resolve(name, addr);
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {}", e.without_url()))?;
        Ok(Self {
            client,
            url,
            shape,
            auth,
            gzip: c.gzip.unwrap_or(true),
            batch_max: c.batch_max.unwrap_or(500).max(1),
            hec_host: hostname(),
            sourcetype: if c.format == Format::Ocsf { "tokenwarden:ocsf" } else { "tokenwarden:ecs" },
            index: c.index.clone(),
        })
    }

    /// The request body for `batch`, uncompressed.
    fn body(&self, batch: &[Record]) -> Vec<u8> {
        let mut out = Vec::with_capacity(batch.iter().map(|r| r.body.len() + 160).sum());
        for r in batch {
            match self.shape {
                HttpShape::Hec => {
                    let mut head = json!({"time": epoch_secs(&r.timestamp), "host": self.hec_host,
                        "source": "tokenwarden", "sourcetype": self.sourcetype});
                    if let Some(i) = &self.index {
                        head["index"] = i.as_str().into();
                    }
                    let head = serde_json::to_vec(&head).unwrap_or_default();
                    // `{…fields…, "event": <body>}`
                    out.extend_from_slice(&head[..head.len() - 1]);
                    out.extend_from_slice(b",\"event\":");
                    out.extend_from_slice(&r.body);
                    out.extend_from_slice(b"}\n");
                }
                HttpShape::Bulk => {
                    let mut create = json!({"_index": self.index.as_deref().unwrap_or("tokenwarden")});
                    if let Some(id) = doc_id(&r.body) {
                        // Re-sent documents answer 409 instead of being indexed twice.
                        create["_id"] = id.into();
                    }
                    out.extend_from_slice(
                        &serde_json::to_vec(&json!({ "create": create })).unwrap_or_default(),
                    );
                    out.push(b'\n');
                    out.extend_from_slice(&r.body);
                    out.push(b'\n');
                }
            }
        }
        out
    }
}

/// The document's unique id: ECS `event.id`, OCSF `metadata.uid`.
fn doc_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Ids {
        event: Option<Id>,
        metadata: Option<Uid>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Uid {
        uid: Option<String>,
    }
    let ids: Ids = serde_json::from_slice(body).ok()?;
    ids.event.and_then(|e| e.id).or_else(|| ids.metadata.and_then(|m| m.uid))
}

/// Item errors of a `_bulk` answer, other than 409 (the document is already there).
fn bulk_rejections(answer: &[u8]) -> Result<(usize, Option<String>), TransportError> {
    let v: serde_json::Value = serde_json::from_slice(answer)
        .map_err(|e| TransportError::Rejected(format!("_bulk answer is not JSON: {e}")))?;
    if v["errors"] != true {
        return Ok((0, None));
    }
    let mut first = None;
    let mut n = 0;
    for item in v["items"].as_array().into_iter().flatten() {
        let Some(result) = item.as_object().and_then(|o| o.values().next()) else { continue };
        let status = result["status"].as_u64().unwrap_or(0);
        if (200..300).contains(&status) || status == 409 {
            continue;
        }
        n += 1;
        first.get_or_insert_with(|| {
            format!(
                "{status} {}: {}",
                result["error"]["type"].as_str().unwrap_or("?"),
                result["error"]["reason"].as_str().unwrap_or("?").chars().take(200).collect::<String>()
            )
        });
    }
    Ok((n, first))
}

impl Transport for HttpTransport {
    fn send(&mut self, batch: &[Record]) -> Result<(), TransportError> {
        let mut body = self.body(batch);
        let mut req = self.client.post(self.url.clone());
        if self.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            body = gz
                .write_all(&body)
                .and_then(|()| gz.finish())
                .map_err(|e| TransportError::Send(e.to_string()))?;
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let ctype = if self.shape == HttpShape::Bulk { "application/x-ndjson" } else { "application/json" };
        req = req.header(CONTENT_TYPE, ctype).body(body);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let resp = req.send().map_err(|e| {
            let e = e.without_url();
            if e.is_connect() || e.is_timeout() {
                TransportError::Connect(error_chain(&e))
            } else {
                TransportError::Send(error_chain(&e))
            }
        })?;
        let status = resp.status();
        let answer = resp.bytes().map_err(|e| TransportError::Send(error_chain(&e.without_url())))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
            return Err(TransportError::Rejected(format!("HTTP {status}: {}", text.trim())));
        }
        if self.shape == HttpShape::Bulk {
            let (n, first) = bulk_rejections(&answer)?;
            if n > 0 {
                return Err(TransportError::Rejected(format!(
                    "_bulk rejected {n} of {} documents; first: {}",
                    batch.len(),
                    first.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    fn max_batch(&self) -> usize {
        self.batch_max
    }
}

/// An error and its causes on one line (reqwest's own message is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sinks::SinkType;

    fn config(shape: HttpShape, token: Option<&Path>) -> SinkConfig {
        let mut c = SinkConfig::new(SinkType::Http);
        c.url = Some("http://127.0.0.1:9/_bulk".into());
        c.shape = Some(shape);
        c.token_file = token.map(Path::to_path_buf);
        c
    }

    #[test]
    fn frames_hec_and_bulk_and_keeps_the_token_out_of_errors() {
        let dir = std::env::temp_dir().join(format!("tw-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let token = dir.join("token");
        std::fs::write(&token, "s3cr3t-t0ken\n").expect("write");
        let doc = json!({"@timestamp": "2026-12-04T10:00:00.500Z",
            "event": {"kind": "alert", "sequence": 7, "id": "abc-7", "action": "x"}});
        let r = Record::new(&doc, &doc);

        let hec = HttpTransport::new(&config(HttpShape::Hec, Some(&token))).expect("hec");
        let line: serde_json::Value =
            serde_json::from_slice(&hec.body(std::slice::from_ref(&r))).expect("HEC JSON");
        assert_eq!(line["event"], doc);
        assert_eq!(line["time"], 1796378400.5);
        assert_eq!(line["sourcetype"], "tokenwarden:ecs");
        assert!(hec.auth.as_ref().is_some_and(|a| a.is_sensitive()));
        assert!(!format!("{:?}", hec.auth).contains("s3cr3t"), "sensitive header hidden in Debug");

        let mut bulk = HttpTransport::new(&config(HttpShape::Bulk, Some(&token))).expect("bulk");
        let body = String::from_utf8(bulk.body(&[r.clone(), r.clone()])).expect("utf8");
        let lines: Vec<serde_json::Value> =
            body.lines().map(|l| serde_json::from_str(l).expect("NDJSON line")).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], json!({"create": {"_index": "tokenwarden", "_id": "abc-7"}}));
        assert_eq!(lines[1], doc);
        // Nothing listens on port 9: the error says so, without the token.
        let e = bulk.send(&[r]).expect_err("no receiver").to_string();
        assert!(!e.contains("s3cr3t"), "{e}");

        assert!(HttpTransport::new(&config(HttpShape::Hec, None)).is_err(), "HEC needs a token");
        std::fs::write(&token, "  \n").expect("write");
        let e = HttpTransport::new(&config(HttpShape::Hec, Some(&token))).err().expect("empty token");
        assert!(e.contains("empty"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bulk_item_errors_reject_the_batch_except_conflicts() {
        let ok = br#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":201}}]}"#;
        assert_eq!(bulk_rejections(ok).expect("parse").0, 0);
        let bad = br#"{"errors":true,"items":[{"create":{"status":201}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}}]}"#;
        let (n, first) = bulk_rejections(bad).expect("parse");
        assert_eq!(n, 1);
        assert!(first.is_some_and(|f| f.contains("mapper_parsing_exception")));
        assert!(bulk_rejections(b"<html>").is_err());
    }
}
