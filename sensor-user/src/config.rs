//! Settings of `tokenwarden run`: command-line flags over a TOML config file over
//! defaults. Every flag has a config key of the same name (`-` becomes `_`); sinks
//! beyond stdout/files are `[[sink]]` tables (see [`crate::output::sinks::config`]).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::output::sinks::{Format, SinkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// `path:line:col: message`, like rule-file errors.
    #[error("{path}:{line}:{col}: {message}")]
    Parse { path: PathBuf, line: usize, col: usize, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Default address of `/metrics`, `/healthz` and `/readyz`: loopback only.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9464";

/// The config file. Keys mirror the flags of `tokenwarden run`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub rules: Option<Vec<PathBuf>>,
    /// `stdout` or `file:PATH` entries (simple sinks; `[[sink]]` for everything else).
    pub output: Option<Vec<String>>,
    /// Format of the `output` entries.
    pub format: Option<Format>,
    pub ready_file: Option<PathBuf>,
    pub emit_events: Option<bool>,
    pub stats_interval: Option<u64>,
    pub rescan_interval: Option<u64>,
    pub ringbuf_bytes: Option<u32>,
    pub fingerprint_key_file: Option<PathBuf>,
    pub jwt_max_lifetime: Option<i64>,
    pub correlation_window: Option<u64>,
    pub reuse_window: Option<u64>,
    pub max_stored_fingerprints: Option<usize>,
    pub sensitive_destinations: Option<Vec<String>>,
    pub state_dir: Option<PathBuf>,
    /// `host:port` for `/metrics`, `/healthz`, `/readyz`; `off` disables.
    pub metrics_address: Option<String>,
    #[serde(default)]
    pub sink: Vec<SinkConfig>,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let cfg: FileConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse { path: path.to_path_buf(), line, col, message: e.message().to_string() }
        })?;
        for (i, s) in cfg.sink.iter().enumerate() {
            s.validate()
                .map_err(|e| ConfigError::Invalid(format!("{}: [[sink]] #{}: {e}", path.display(), i + 1)))?;
        }
        Ok(cfg)
    }
}

/// Flags of `tokenwarden run`. Unset flags fall back to the config file, then defaults.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RunArgs {
    /// TOML config file; flags given on the command line override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Rule files or directories, in order. Default: the embedded rule pack.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// `stdout` or `file:PATH` (repeatable; replaces the config file's `output`, and adds
    /// to its `[[sink]]` tables). Default: stdout when no sink is configured.
    #[arg(long = "output", value_name = "SPEC")]
    pub output: Vec<String>,
    /// Format of `--output` sinks: `ecs` (default) or `ocsf`.
    #[arg(long, value_parser = ["ecs", "ocsf"])]
    pub format: Option<String>,
    /// Written (with the sensor's pid) once every probe is attached.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Also emit `event.kind: event` documents for process starts and for watched
    /// stores opened by allowed programs.
    #[arg(long)]
    pub emit_events: bool,
    /// Seconds between `sensor-stats` state documents (also sent on SIGUSR1). Default 60.
    #[arg(long, value_name = "SECONDS")]
    pub stats_interval: Option<u64>,
    /// Seconds between re-scans of the stores on disk (watched inodes). Default 30.
    #[arg(long, value_name = "SECONDS")]
    pub rescan_interval: Option<u64>,
    /// Kernel ring-buffer size in bytes (power of two). Default 8 MiB.
    #[arg(long)]
    pub ringbuf_bytes: Option<u32>,
    /// Key for credential fingerprints (HMAC-SHA256). Share one key across a fleet to
    /// join fingerprints between hosts. Created (random, mode 0600) if missing.
    /// Default `<state-dir>/fingerprint.key`.
    #[arg(long, value_name = "PATH")]
    pub fingerprint_key_file: Option<PathBuf>,
    /// JWTs with a lifetime (exp - iat) above this many seconds are flagged long-lived. Default 3600.
    #[arg(long, value_name = "SECONDS")]
    pub jwt_max_lifetime: Option<i64>,
    /// Seconds between a store read and an outbound request by the same lineage that
    /// still count as exfiltration. Default 600.
    #[arg(long, value_name = "SECONDS")]
    pub correlation_window: Option<u64>,
    /// Seconds within which one token used by two users or sessions is reuse. Default 3600.
    #[arg(long, value_name = "SECONDS")]
    pub reuse_window: Option<u64>,
    /// Stored-credential fingerprints kept for provenance, at most (oldest evicted). Default 100000.
    #[arg(long)]
    pub max_stored_fingerprints: Option<usize>,
    /// Destination host glob where an unbound bearer token is a finding (repeatable).
    #[arg(long = "sensitive-destination", value_name = "GLOB")]
    pub sensitive_destinations: Vec<String>,
    /// Directory for spools and the fingerprint key. Default `/var/lib/tokenwarden`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// `host:port` for `/metrics`, `/healthz` and `/readyz` (loopback by default); `off`
    /// disables. Default 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_address: Option<String>,
}

/// Every setting of `run`, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rules: Vec<PathBuf>,
    pub sinks: Vec<SinkConfig>,
    pub ready_file: Option<PathBuf>,
    pub emit_events: bool,
    pub stats_interval: Duration,
    pub rescan_interval: Duration,
    pub ringbuf_bytes: u32,
    pub fingerprint_key_file: PathBuf,
    pub jwt_max_lifetime: i64,
    pub correlation_window: Duration,
    pub reuse_window: Duration,
    pub max_stored_fingerprints: usize,
    pub sensitive_destinations: Vec<String>,
    pub state_dir: PathBuf,
    /// `None`: metrics endpoint off.
    pub metrics_address: Option<std::net::SocketAddr>,
}

impl RunArgs {
    /// Flags over the config file (if any) over defaults.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        resolve(self, file)
    }
}

fn nonempty<T: Clone>(flag: &[T], file: Option<Vec<T>>) -> Vec<T> {
    if flag.is_empty() { file.unwrap_or_default() } else { flag.to_vec() }
}

/// Merges `args` over `file` over defaults.
pub fn resolve(args: &RunArgs, file: FileConfig) -> Result<Settings, ConfigError> {
    let format = match args.format.as_deref() {
        Some("ocsf") => Format::Ocsf,
        Some(_) => Format::Ecs,
        None => file.format.unwrap_or_default(),
    };
    let outputs = nonempty(&args.output, file.output);
    let mut sinks = Vec::new();
    for spec in &outputs {
        sinks.push(SinkConfig::from_spec(spec, format).map_err(|e| ConfigError::Invalid(e.to_string()))?);
    }
    // `--output` overrides the file's `output` list; its [[sink]] tables always apply.
    sinks.extend(file.sink);
    if sinks.is_empty() {
        sinks.push(SinkConfig::from_spec("stdout", format).map_err(|e| ConfigError::Invalid(e.to_string()))?);
    }
    let mut names = std::collections::HashSet::new();
    for (i, s) in sinks.iter().enumerate() {
        if !names.insert(s.display_name(i)) {
            return Err(ConfigError::Invalid(format!("two sinks are named {:?}", s.display_name(i))));
        }
    }
    let state_dir =
        args.state_dir.clone().or(file.state_dir).unwrap_or_else(|| PathBuf::from("/var/lib/tokenwarden"));
    let metrics = args
        .metrics_address
        .clone()
        .or(file.metrics_address)
        .unwrap_or_else(|| DEFAULT_METRICS_ADDRESS.to_string());
    let metrics_address = if metrics == "off" {
        None
    } else {
        Some(metrics.parse().map_err(|_| {
            ConfigError::Invalid(format!("metrics address {metrics:?}: expected host:port or `off`"))
        })?)
    };
    let ringbuf_bytes = args.ringbuf_bytes.or(file.ringbuf_bytes).unwrap_or(8 << 20);
    if !ringbuf_bytes.is_power_of_two() || ringbuf_bytes < 4096 {
        return Err(ConfigError::Invalid(format!(
            "ringbuf_bytes {ringbuf_bytes}: must be a power of two ≥ 4096"
        )));
    }
    let secs = |flag: Option<u64>, file: Option<u64>, default: u64| {
        Duration::from_secs(flag.or(file).unwrap_or(default).max(1))
    };
    Ok(Settings {
        rules: nonempty(&args.rules, file.rules),
        sinks,
        ready_file: args.ready_file.clone().or(file.ready_file),
        emit_events: args.emit_events || file.emit_events.unwrap_or(false),
        stats_interval: secs(args.stats_interval, file.stats_interval, 60),
        rescan_interval: secs(args.rescan_interval, file.rescan_interval, 30),
        ringbuf_bytes,
        fingerprint_key_file: args
            .fingerprint_key_file
            .clone()
            .or(file.fingerprint_key_file)
            .unwrap_or_else(|| state_dir.join("fingerprint.key")),
        jwt_max_lifetime: args.jwt_max_lifetime.or(file.jwt_max_lifetime).unwrap_or(3600),
        correlation_window: secs(args.correlation_window, file.correlation_window, 600),
        reuse_window: secs(args.reuse_window, file.reuse_window, 3600),
        max_stored_fingerprints: args
            .max_stored_fingerprints
            .or(file.max_stored_fingerprints)
            .unwrap_or(100_000),
        sensitive_destinations: nonempty(&args.sensitive_destinations, file.sensitive_destinations),
        state_dir,
        metrics_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(Path::new("tw.toml"), text)
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let file = parse(
            "stats_interval = 10\nreuse_window = 99\nmetrics_address = \"off\"\n\
             [[sink]]\ntype = \"file\"\npath = \"/tmp/a.jsonl\"\nkinds = [\"alert\"]\n",
        )
        .unwrap();
        let args = RunArgs { stats_interval: Some(5), ..Default::default() };
        let s = resolve(&args, file.clone()).unwrap();
        assert_eq!(s.stats_interval, Duration::from_secs(5), "flag wins");
        assert_eq!(s.reuse_window, Duration::from_secs(99), "file wins over default");
        assert_eq!(s.correlation_window, Duration::from_secs(600), "default");
        assert_eq!(s.metrics_address, None);
        assert_eq!(s.sinks.len(), 1);
        let args = RunArgs { output: vec!["stdout".into()], ..Default::default() };
        let s = resolve(&args, file).unwrap();
        assert_eq!(s.sinks.len(), 2, "--output adds to the file's [[sink]] tables");
        assert_eq!(s.metrics_address, None);
        let s = resolve(&RunArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(s.metrics_address.unwrap().to_string(), DEFAULT_METRICS_ADDRESS, "loopback by default");
        assert_eq!(s.fingerprint_key_file, PathBuf::from("/var/lib/tokenwarden/fingerprint.key"));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("stats_interval = 10\nstats_intervl = 3\n").unwrap_err().to_string();
        assert!(e.starts_with("tw.toml:2:1: "), "{e}");
        assert!(e.contains("stats_intervl"), "{e}");
        let e =
            parse("[[sink]]\ntype = \"file\"\nurl = \"http://x\"\npath = \"/x\"\n").unwrap_err().to_string();
        assert!(e.contains("`url` does not apply to a file sink"), "{e}");
        let e = parse("[[sink]]\ntype = \"http\"\nurl = \"http://x\"\n").unwrap_err().to_string();
        assert!(e.contains("needs `shape`"), "{e}");
        let e = parse("[[sink]]\ntype = \"carrier-pigeon\"\n").unwrap_err().to_string();
        assert!(e.starts_with("tw.toml:2:8: "), "{e}");
        let two =
            parse("[[sink]]\nname = \"a\"\ntype = \"stdout\"\n[[sink]]\nname = \"a\"\ntype = \"stdout\"\n");
        let e = resolve(&RunArgs::default(), two.unwrap()).unwrap_err().to_string();
        assert!(e.contains("two sinks"), "{e}");
    }
}
