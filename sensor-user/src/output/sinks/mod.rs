//! Where documents go. Each sink has a format (ECS or OCSF), a filter (which kinds of
//! document) and a delivery path:
//! - [`local`]: stdout and rotating files, written by the pipeline itself;
//! - [`remote`]: syslog ([`syslog`]) and HTTP collectors ([`http`]), delivered by a
//!   sender thread through a bounded on-disk [`spool`] (at-least-once, in order).

pub mod config;
pub mod http;
pub mod local;
pub mod record;
pub mod remote;
pub mod spool;
pub mod syslog;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use tracing::warn;

pub use config::{Format, SinkConfig, SinkType};
use local::{Local, RotatingFile};
pub use record::{Class, Record};
use remote::RemoteSink;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output {0:?}: expected `stdout` or `file:PATH`")]
    Spec(String),
    #[error("sink {name}: {reason}")]
    Config { name: String, reason: String },
    #[error("output file {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("writing output: {0}")]
    Write(#[from] std::io::Error),
    #[error("spool {path}: {source}")]
    Spool { path: PathBuf, source: std::io::Error },
}

/// Why a transport could not deliver a batch (the batch is retried from the spool).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("send: {0}")]
    Send(String),
    /// The receiver answered but refused the batch (e.g. HTTP 5xx/4xx).
    #[error("rejected: {0}")]
    Rejected(String),
}

/// Delivers records to one remote receiver. Implementations frame the records
/// (RFC 5424, HEC, `_bulk`) and must never log or return a credential (tokens come
/// from files or the environment).
pub trait Transport: Send + 'static {
    /// Sends `batch` in order. `Ok` means the receiver accepted every record.
    fn send(&mut self, batch: &[Record]) -> Result<(), TransportError>;
    /// Records per `send` call, at most.
    fn max_batch(&self) -> usize {
        1
    }
}

/// Counters of one sink, shared with its sender thread and the metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Records handed to the sink.
    pub accepted: AtomicU64,
    /// Records the receiver acknowledged (remote) or that were written (local).
    pub sent: AtomicU64,
    /// Failed delivery attempts (each is retried).
    pub failed: AtomicU64,
    /// Records written to the on-disk spool.
    pub spooled: AtomicU64,
    /// Records waiting in the spool now, and its size.
    pub spool_records: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Records dropped because the spool was full, by class.
    pub dropped_events: AtomicU64,
    pub dropped_alerts: AtomicU64,
    /// Local write errors and damaged spool lines.
    pub errors: AtomicU64,
    /// Whether the last delivery attempt succeeded (local sinks: the last write).
    pub up: AtomicBool,
}

impl SinkStats {
    pub fn snapshot(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "accepted": g(&self.accepted), "sent": g(&self.sent), "failed": g(&self.failed),
            "spooled": g(&self.spooled), "spool_records": g(&self.spool_records),
            "spool_bytes": g(&self.spool_bytes), "dropped_events": g(&self.dropped_events),
            "dropped_alerts": g(&self.dropped_alerts), "errors": g(&self.errors),
            "up": self.up.load(Ordering::Relaxed),
        })
    }
}

enum Out {
    Local(Local),
    Remote(RemoteSink),
}

struct Slot {
    name: String,
    kind: &'static str,
    format: Format,
    classes: Vec<Class>,
    stats: Arc<SinkStats>,
    out: Out,
}

/// Every configured sink; the pipeline writes each document once to this fan-out.
pub struct Sinks {
    slots: Vec<Slot>,
}

/// A document in a sink's format.
fn render(doc: &Value, format: Format) -> std::borrow::Cow<'_, Value> {
    match format {
        Format::Ecs => std::borrow::Cow::Borrowed(doc),
        Format::Ocsf => std::borrow::Cow::Owned(crate::output::ocsf::from_ecs(doc)),
    }
}

/// The transport of a remote sink (no connection is made).
fn transport(c: &SinkConfig, name: &str) -> Result<Box<dyn Transport>, SinkError> {
    let cfg = |reason| SinkError::Config { name: name.to_string(), reason };
    Ok(match c.kind {
        SinkType::Syslog => Box::new(syslog::SyslogTransport::new(c).map_err(cfg)?),
        _ => Box::new(http::HttpTransport::new(c).map_err(cfg)?),
    })
}

impl Sinks {
    /// Checks every sink's settings as `open` would (CA files, tokens, addresses) without
    /// connecting, writing or creating spools.
    pub fn check(configs: &[SinkConfig]) -> Result<(), SinkError> {
        for (i, c) in configs.iter().enumerate() {
            c.validate()?;
            if matches!(c.kind, SinkType::Syslog | SinkType::Http) {
                transport(c, &c.display_name(i))?;
            }
        }
        Ok(())
    }

    /// Opens every sink. Remote sinks spool under `state_dir/spool/<name>` unless
    /// configured otherwise.
    pub fn open(configs: &[SinkConfig], state_dir: &Path) -> Result<Self, SinkError> {
        let mut slots = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            c.validate()?;
            let name = c.display_name(i);
            let stats = Arc::new(SinkStats::default());
            stats.up.store(true, Ordering::Relaxed);
            let out = match c.kind {
                SinkType::Stdout => Out::Local(Local::stdout()),
                SinkType::File => {
                    let path = c.path.clone().ok_or_else(|| c.missing(i, "path"))?;
                    Out::Local(Local::File(RotatingFile::open(
                        &path,
                        c.max_bytes.unwrap_or(0),
                        c.keep.unwrap_or(5),
                    )?))
                }
                SinkType::Syslog | SinkType::Http => {
                    let transport = transport(c, &name)?;
                    let dir = c.spool_dir.clone().unwrap_or_else(|| state_dir.join("spool").join(&name));
                    let max = c.spool_max_bytes.unwrap_or(config::DEFAULT_SPOOL_BYTES);
                    Out::Remote(RemoteSink::start(&name, transport, &dir, max, stats.clone())?)
                }
            };
            slots.push(Slot {
                name,
                kind: c.kind.as_str(),
                format: c.format,
                classes: c.classes(),
                stats,
                out,
            });
        }
        Ok(Self { slots })
    }

    /// Writes one ECS document to every sink whose filter takes it.
    pub fn write(&mut self, doc: &Value) {
        let class = Class::of(doc);
        let mut rendered: [Option<Record>; 2] = [None, None];
        for s in &mut self.slots {
            if !s.classes.contains(&class) {
                continue;
            }
            let r =
                rendered[s.format as usize].get_or_insert_with(|| Record::new(doc, &render(doc, s.format)));
            s.stats.accepted.fetch_add(1, Ordering::Relaxed);
            match &mut s.out {
                Out::Local(l) => match l.write_line(&r.body) {
                    Ok(()) => {
                        s.stats.sent.fetch_add(1, Ordering::Relaxed);
                        s.stats.up.store(true, Ordering::Relaxed);
                    }
                    Err(e) => {
                        s.stats.errors.fetch_add(1, Ordering::Relaxed);
                        s.stats.up.store(false, Ordering::Relaxed);
                        warn!(sink = %s.name, "output: {e}");
                    }
                },
                Out::Remote(r_sink) => r_sink.push(r.clone()),
            }
        }
    }

    /// Flushes local buffers and hands remote records to their spools.
    pub fn flush(&mut self) {
        for s in &mut self.slots {
            match &mut s.out {
                Out::Local(l) => {
                    if let Err(e) = l.flush() {
                        s.stats.errors.fetch_add(1, Ordering::Relaxed);
                        warn!(sink = %s.name, "output: {e}");
                    }
                }
                Out::Remote(r) => r.flush(),
            }
        }
    }

    /// `(name, type, stats)` of every sink.
    pub fn stats(&self) -> impl Iterator<Item = (&str, &'static str, &Arc<SinkStats>)> {
        self.slots.iter().map(|s| (s.name.as_str(), s.kind, &s.stats))
    }

    /// Counters of every sink, for state documents.
    pub fn snapshot(&self) -> Value {
        Value::Object(
            self.slots
                .iter()
                .map(|s| {
                    let mut v = s.stats.snapshot();
                    v["type"] = s.kind.into();
                    (s.name.clone(), v)
                })
                .collect(),
        )
    }

    /// Gives remote sinks up to `grace` to deliver, then stops them; what is left stays
    /// in their spools for the next start.
    pub fn shutdown(&mut self, grace: Duration) {
        self.flush();
        for s in self.slots.drain(..) {
            if let Out::Remote(r) = s.out {
                r.stop(grace);
            }
        }
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}
