//! `tokenwarden bench-floor`: do-nothing programs on exactly the sensor's hooks (the
//! same tracepoints, the same TLS libraries), so a benchmark can tell the cost of the
//! hook mechanism from the cost of the sensor's own work.

use std::path::PathBuf;

use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::probes::{Probes, loader::LoadOptions, tls::TlsAttacher};

/// Attaches the empty programs, writes `ready_file` (our pid) and waits for SIGINT/SIGTERM.
pub async fn floor(ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    let mut probes = Probes::load(&LoadOptions { ringbuf_bytes: 4096 * 16, empty: true })?;
    let mut tls = TlsAttacher::default();
    let libraries = tls.scan(&mut probes)?;
    info!(hooks = probes.attached.len(), tls_libraries = libraries.len(), "empty programs attached");
    if let Some(path) = &ready_file {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
