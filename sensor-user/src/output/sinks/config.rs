//! Sink settings, as written in the `[[sink]]` tables of the config file (or built from
//! `--output`). One flat table per sink; `validate` rejects keys of another sink type.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Class, SinkError};

/// Spool size per remote sink when not configured: 256 MiB.
pub const DEFAULT_SPOOL_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Elastic Common Schema JSON.
    #[default]
    Ecs = 0,
    /// OCSF 1.x JSON.
    Ocsf = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    Stdout,
    File,
    Syslog,
    Http,
}

impl SinkType {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkType::Stdout => "stdout",
            SinkType::File => "file",
            SinkType::Syslog => "syslog",
            SinkType::Http => "http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransportKind {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpShape {
    /// Splunk HTTP Event Collector (`/services/collector/event`).
    Hec,
    /// Elasticsearch `_bulk` (NDJSON: an action line, then the document).
    Bulk,
}

/// One sink. Keys that belong to another type are rejected by [`SinkConfig::validate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Name in metrics, state documents and the spool directory (default `<type>-<n>`).
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: SinkType,
    #[serde(default)]
    pub format: Format,
    /// Which documents: `alert`, `event`, `state` (default: all three).
    pub kinds: Option<Vec<Class>>,

    // file
    pub path: Option<PathBuf>,
    /// Rotate when the file would pass this size (0 or unset: never).
    pub max_bytes: Option<u64>,
    /// Rotated files kept (default 5).
    pub keep: Option<u32>,

    // syslog
    /// `host:port` of the syslog receiver.
    pub address: Option<String>,
    pub transport: Option<SyslogTransportKind>,
    /// RFC 5424 APP-NAME (default `tokenwarden`).
    pub app_name: Option<String>,
    /// Syslog facility number 0–23 (default 10, authpriv).
    pub facility: Option<u8>,
    /// TLS server name to verify (default: the host part of `address`).
    pub server_name: Option<String>,

    // http
    pub url: Option<String>,
    pub shape: Option<HttpShape>,
    /// File holding the HEC token or the Elasticsearch API key (never logged).
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the token (used when `token_file` is unset).
    pub token_env: Option<String>,
    /// Elasticsearch index for `_bulk` (default `tokenwarden`); HEC `index` when set.
    pub index: Option<String>,
    /// Records per request (default 500).
    pub batch_max: Option<usize>,
    /// Compress request bodies (default true).
    pub gzip: Option<bool>,
    /// Request timeout in seconds (default 10).
    pub timeout_secs: Option<u64>,

    // syslog and http
    /// PEM file of the CA that signs the receiver's certificate (default: system roots).
    pub ca_file: Option<PathBuf>,
    /// Spool directory (default `<state_dir>/spool/<name>`).
    pub spool_dir: Option<PathBuf>,
    /// Spool size limit in bytes (default 256 MiB).
    pub spool_max_bytes: Option<u64>,
}

impl SinkConfig {
    /// A sink of `kind` with every option unset.
    pub fn new(kind: SinkType) -> Self {
        Self {
            name: None,
            kind,
            format: Format::Ecs,
            kinds: None,
            path: None,
            max_bytes: None,
            keep: None,
            address: None,
            transport: None,
            app_name: None,
            facility: None,
            server_name: None,
            url: None,
            shape: None,
            token_file: None,
            token_env: None,
            index: None,
            batch_max: None,
            gzip: None,
            timeout_secs: None,
            ca_file: None,
            spool_dir: None,
            spool_max_bytes: None,
        }
    }

    /// Parses an `--output` value: `stdout` or `file:PATH`.
    pub fn from_spec(spec: &str, format: Format) -> Result<Self, SinkError> {
        let mut c = if spec == "stdout" || spec == "-" {
            Self::new(SinkType::Stdout)
        } else if let Some(path) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) {
            let mut c = Self::new(SinkType::File);
            c.path = Some(PathBuf::from(path));
            c
        } else {
            return Err(SinkError::Spec(spec.into()));
        };
        c.format = format;
        Ok(c)
    }

    pub fn display_name(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| format!("{}-{}", self.kind.as_str(), index + 1))
    }

    pub fn classes(&self) -> Vec<Class> {
        self.kinds.clone().unwrap_or_else(|| vec![Class::Alert, Class::Event, Class::State])
    }

    pub(super) fn missing(&self, index: usize, key: &str) -> SinkError {
        SinkError::Config {
            name: self.display_name(index),
            reason: format!("a {} sink needs `{key}`", self.kind.as_str()),
        }
    }

    /// Rejects options of another sink type and missing required ones.
    pub fn validate(&self) -> Result<(), SinkError> {
        let name = self.display_name(0);
        let err = |reason: String| Err(SinkError::Config { name: name.clone(), reason });
        let set: [(&str, bool, &[SinkType]); 20] = [
            ("path", self.path.is_some(), &[SinkType::File]),
            ("max_bytes", self.max_bytes.is_some(), &[SinkType::File]),
            ("keep", self.keep.is_some(), &[SinkType::File]),
            ("address", self.address.is_some(), &[SinkType::Syslog]),
            ("transport", self.transport.is_some(), &[SinkType::Syslog]),
            ("app_name", self.app_name.is_some(), &[SinkType::Syslog]),
            ("facility", self.facility.is_some(), &[SinkType::Syslog]),
            ("server_name", self.server_name.is_some(), &[SinkType::Syslog, SinkType::Http]),
            ("url", self.url.is_some(), &[SinkType::Http]),
            ("shape", self.shape.is_some(), &[SinkType::Http]),
            ("token_file", self.token_file.is_some(), &[SinkType::Http]),
            ("token_env", self.token_env.is_some(), &[SinkType::Http]),
            ("index", self.index.is_some(), &[SinkType::Http]),
            ("batch_max", self.batch_max.is_some(), &[SinkType::Http]),
            ("gzip", self.gzip.is_some(), &[SinkType::Http]),
            ("timeout_secs", self.timeout_secs.is_some(), &[SinkType::Http, SinkType::Syslog]),
            ("ca_file", self.ca_file.is_some(), &[SinkType::Syslog, SinkType::Http]),
            ("spool_dir", self.spool_dir.is_some(), &[SinkType::Syslog, SinkType::Http]),
            ("spool_max_bytes", self.spool_max_bytes.is_some(), &[SinkType::Syslog, SinkType::Http]),
            ("kinds", self.kinds.as_ref().is_some_and(|k| k.is_empty()), &[]),
        ];
        for (key, present, types) in set {
            if present && !types.contains(&self.kind) {
                if key == "kinds" {
                    return err("`kinds` is empty: the sink would receive nothing".into());
                }
                return err(format!("`{key}` does not apply to a {} sink", self.kind.as_str()));
            }
        }
        let need = |key: &str, present: bool| {
            if present { Ok(()) } else { err(format!("a {} sink needs `{key}`", self.kind.as_str())) }
        };
        match self.kind {
            SinkType::Stdout => {}
            SinkType::File => need("path", self.path.is_some())?,
            SinkType::Syslog => need("address", self.address.is_some())?,
            SinkType::Http => {
                need("url", self.url.is_some())?;
                need("shape", self.shape.is_some())?;
            }
        }
        if self.facility.is_some_and(|f| f > 23) {
            return err("`facility` must be 0–23".into());
        }
        if self.batch_max == Some(0) {
            return err("`batch_max` must be at least 1".into());
        }
        if let Some(n) = &self.name
            && (n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return err(
                "`name` may use letters, digits, `-` and `_` only (it names the spool directory)".into()
            );
        }
        Ok(())
    }
}
