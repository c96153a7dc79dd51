//! `tokenwarden run`: wires probes → decode → process table → detect → output, and
//! handles signals, periodic state reports and store re-scans.

mod floor;
mod pipeline;
mod reload;
mod serve;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};
use tracing::{info, warn};

pub use floor::floor;
pub use pipeline::{Counters, Pipeline, PipelineOptions};
use reload::RuleSource;

use crate::{
    detect::{
        correlate::CorrelationConfig,
        rules::RuleSet,
        stores::{StoreIndex, home_dirs},
    },
    output::{HostInfo, Sinks, sinks::SinkConfig},
    probes::{Probes, filter, loader::LoadOptions, stats::KernelStats, tls::TlsAttacher},
    process::{ProcessTable, boot_id, seed_from_procfs},
};

/// Options of `tokenwarden run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Every sink (at least one).
    pub sinks: Vec<SinkConfig>,
    /// Spools and other state live here (default `/var/lib/tokenwarden`).
    pub state_dir: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` listen (`None`: off).
    pub metrics_address: Option<std::net::SocketAddr>,
    pub ready_file: Option<PathBuf>,
    pub emit_events: bool,
    pub stats_interval: Duration,
    pub rescan_interval: Duration,
    pub ringbuf_bytes: u32,
    pub exit_ttl: Duration,
    /// Rule files and directories (empty: the embedded pack); watched for changes.
    pub rule_paths: Vec<PathBuf>,
    /// Key for credential fingerprints (same key across a fleet: same fingerprints).
    pub fingerprint_key: Vec<u8>,
    pub jwt_max_lifetime_s: i64,
    pub correlation: CorrelationConfig,
    pub max_processes: usize,
}

fn instance_id() -> String {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        b = (std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads everything, reports `sensor-started`, then runs until SIGINT/SIGTERM.
pub async fn run(rules: RuleSet, opts: RunOptions) -> anyhow::Result<()> {
    let sinks = Sinks::open(&opts.sinks, &opts.state_dir)?;
    let mut probes = Probes::load(&LoadOptions { ringbuf_bytes: opts.ringbuf_bytes, empty: false })?;
    // Records wake the sensor only when 1/8 of the ring is waiting; the poll tick below
    // collects them otherwise (an alert waits at most POLL_INTERVAL).
    probes
        .config
        .set(sensor_common::CONFIG_WAKEUP_BYTES, u64::from(opts.ringbuf_bytes / 8), 0)
        .map_err(|e| anyhow::anyhow!("CONFIG map: {e}"))?;
    let kfilter = crate::detect::session::kernel_filter(&rules);
    let names = filter::apply_names(&mut probes, &kfilter)?;
    for id in &kfilter.unfilterable {
        warn!("rule {id} cannot be prefiltered in the kernel: every open goes through userspace");
    }
    let homes = home_dirs();
    let stores = StoreIndex::scan(&rules.file_patterns(), &homes);
    filter::apply_inodes(&mut probes, &stores.keys())?;

    let mut table = ProcessTable::new(boot_id(), opts.exit_ttl, opts.max_processes);
    let seeded = seed_from_procfs(&mut table);
    let rule_count = rules.rules().len();
    let enabled = rules.enabled_count();
    let mut tls = TlsAttacher::default();
    let mut tls_libs = tls.scan(&mut probes)?;
    tls_libs.extend(tls.check_executables(&mut probes, &table.executables())?);
    let mut pipe = Pipeline::new(
        rules,
        stores,
        table,
        sinks,
        PipelineOptions {
            fingerprint_key: opts.fingerprint_key.clone(),
            correlation: opts.correlation.clone(),
            jwt_max_lifetime_s: opts.jwt_max_lifetime_s,
            emit_events: opts.emit_events,
            host: HostInfo::detect(),
            instance_id: instance_id(),
        },
    );
    let events = probes.events.take().ok_or_else(|| anyhow::anyhow!("ring buffer already taken"))?;
    // SAFETY: the ring buffer's fd stays open and owned by `ring` for as long as it is
    // registered; it is never closed behind tokio's back.
    let mut ring = unsafe { AsyncFd::register_with_interest(events, tokio::io::Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("ring buffer registration: {e}"))?;

    let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (metrics_addr, mut queries) = match opts.metrics_address {
        Some(addr) => {
            let (bound, rx) = serve::start(addr, ready.clone())
                .await
                .map_err(|e| anyhow::anyhow!("metrics endpoint {addr}: {e}"))?;
            info!(address = %bound, "serving /metrics, /healthz and /readyz");
            (Some(bound), rx)
        }
        None => (None, tokio::sync::mpsc::channel(1).1),
    };
    info!(probes = ?probes.attached, "probes attached");
    info!(rules = ?pipe.detector.rules.rules().iter().filter(|r| r.enabled).map(|r| r.id.as_str()).collect::<Vec<_>>(), "rules enabled");
    info!(
        rules = rule_count,
        enabled,
        kernel_names = names,
        stores = pipe.detector.stores.len(),
        "rules loaded"
    );
    let started = pipe.ecs.state(
        "sensor-started",
        json!({
            "probes": probes.attached,
            "rules": {"loaded": rule_count, "enabled": enabled, "kernel_name_filters": names,
                      "kernel_pass_all": kfilter.pass_all, "unfilterable": kfilter.unfilterable},
            "stores_indexed": pipe.detector.stores.len(),
            "homes": homes,
            "processes_seeded": seeded,
        "tls_libraries": tls_libs,
            "instance_id": pipe.ecs.instance_id(),
            "metrics_address": metrics_addr.map(|a| a.to_string()),
            "sinks": opts.sinks.iter().enumerate()
                .map(|(i, s)| json!({"name": s.display_name(i), "type": s.kind.as_str()}))
                .collect::<Vec<_>>(),
        }),
    );
    pipe.write(started);
    pipe.flush();
    release_free_memory();
    ready.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(path) = &opts.ready_file {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut rule_source = RuleSource::new(opts.rule_paths.clone());
    let mut stats_tick = tokio::time::interval(opts.stats_interval);
    stats_tick.tick().await;
    let mut maint_tick = tokio::time::interval(Duration::from_secs(2));
    let mut maint_rounds: u64 = 0;
    let mut poll_tick = tokio::time::interval(POLL_INTERVAL);
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rescan_tick = tokio::time::interval(opts.rescan_interval);
    rescan_tick.tick().await;

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                let rb = guard.get_inner_mut();
                let mut n = 0;
                while let Some(item) = rb.next() {
                    pipe.handle(&item);
                    n += 1;
                }
                pipe.batch_done(n);
                guard.clear_ready();
                pipe.flush();
            }
            Some(q) = queries.recv() => {
                let _ = q.reply.send(answer(&pipe, &probes, tls.attached_count(), q.query));
            }
            _ = poll_tick.tick() => drain(&mut ring, &mut pipe),
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sigusr1.recv() => report(&mut pipe, &probes, "sensor-stats"),
            _ = stats_tick.tick() => report(&mut pipe, &probes, "sensor-stats"),
            _ = sighup.recv() => {
                drain(&mut ring, &mut pipe);
                let doc = reload::reload(&mut pipe, &mut probes, &rule_source, "SIGHUP")?;
                state(&mut pipe, doc);
            }
            _ = maint_tick.tick() => {
                if rule_source.changed() {
                    drain(&mut ring, &mut pipe);
                    let doc = reload::reload(&mut pipe, &mut probes, &rule_source, "file-change")?;
                    state(&mut pipe, doc);
                }
                pipe.table.expire(Instant::now());
                pipe.flush_correlation_summaries();
                maint_rounds += 1;
                let exes = std::mem::take(&mut pipe.new_executables);
                for exe in tls.check_executables(&mut probes, &exes)? {
                    let doc = json!({"action": "tls-library-attached", "library": exe, "static": true});
                    state(&mut pipe, doc);
                }
                if maint_rounds.is_multiple_of(5) {
                    for lib in tls.scan(&mut probes)? {
                        let doc = json!({"action": "tls-library-attached", "library": lib});
                        state(&mut pipe, doc);
                    }
                    release_free_memory();
                }
                if pipe.detector.take_pending_inodes() {
                    filter::apply_inodes(&mut probes, &pipe.detector.stores.keys())?;
                }
            }
            _ = rescan_tick.tick() => {
                let mut fresh = StoreIndex::scan(&pipe.detector.rules.file_patterns(), &home_dirs());
                // Keep stores learnt from events (created outside the scanned places).
                for key in pipe.detector.stores.keys() {
                    for p in pipe.detector.stores.paths(&key) {
                        if std::path::Path::new(p).exists() {
                            fresh.add(key, p.clone());
                        }
                    }
                }
                pipe.detector.stores = fresh;
                filter::apply_inodes(&mut probes, &pipe.detector.stores.keys())?;
            }
        }
    }
    // Drain what the kernel already produced, then report and detach.
    drain(&mut ring, &mut pipe);
    report(&mut pipe, &probes, "sensor-stopped");
    drop(probes);
    pipe.sinks.shutdown(Duration::from_secs(5));
    if let Some(path) = &opts.ready_file {
        let _ = std::fs::remove_file(path);
    }
    info!("detached; exiting");
    Ok(())
}

/// Returns memory the allocator holds but no longer uses to the system: start-up
/// (kernel BTF parsing, the store scan) peaks far above the steady state, and an idle
/// sensor would otherwise keep that peak resident.
fn release_free_memory() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect only walks mimalloc's own free lists.
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
    #[cfg(not(feature = "mimalloc"))]
    // SAFETY: malloc_trim only returns free glibc heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often records that did not wake the sensor are collected.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Handles every record already in the ring buffer (without waiting).
fn drain(ring: &mut AsyncFd<aya::maps::RingBuf<aya::maps::MapData>>, pipe: &mut Pipeline) {
    let rb = ring.get_mut();
    let mut n = 0;
    while let Some(item) = rb.next() {
        pipe.handle(&item);
        n += 1;
    }
    if n > 0 {
        pipe.batch_done(n);
        pipe.flush();
    }
}

/// Emits a state document whose `action` field names the event action.
fn state(pipe: &mut Pipeline, mut details: serde_json::Value) {
    let action = details["action"].as_str().unwrap_or("state").to_string();
    if let Some(m) = details.as_object_mut() {
        m.remove("action");
    }
    let doc = pipe.ecs.state(&action, details);
    pipe.write(doc);
    pipe.flush();
}

/// Answers a `/metrics` or `/healthz` request from the current counters.
fn answer(pipe: &Pipeline, probes: &Probes, tls_libraries: usize, query: serve::Query) -> serve::Answer {
    match query {
        serve::Query::Metrics => {
            let stats = pipe.stats(&KernelStats::read(&probes.stats));
            (200, crate::output::metrics::render(&stats, probes.attached.len(), tls_libraries))
        }
        serve::Query::Health => {
            let down: Vec<&str> = pipe
                .sinks
                .stats()
                .filter(|(_, _, s)| !s.up.load(std::sync::atomic::Ordering::Relaxed))
                .map(|(n, _, _)| n)
                .collect();
            let body = json!({
                "probes_attached": probes.attached.len(),
                "sinks_down": down,
            });
            let ok = !probes.attached.is_empty() && down.is_empty();
            (if ok { 200 } else { 503 }, format!("{body}\n"))
        }
    }
}

fn report(pipe: &mut Pipeline, probes: &Probes, action: &str) {
    let kernel = KernelStats::read(&probes.stats);
    let doc = pipe.ecs.state(action, pipe.stats(&kernel));
    pipe.write(doc);
    pipe.flush();
}
