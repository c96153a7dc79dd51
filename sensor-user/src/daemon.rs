//! `tokenwarden run`: wires probes → decode → process table → detect → output, and
//! handles signals, periodic state reports and store re-scans.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};
use tracing::{info, warn};

use crate::{
    decode::{self, Event},
    detect::{
        Detector,
        rules::RuleSet,
        stores::{StoreIndex, home_dirs},
    },
    output::{EcsBuilder, HostInfo, Sink},
    probes::{Probes, filter, loader::LoadOptions, stats::KernelStats},
    process::{ProcessTable, boot_id, seed_from_procfs},
};

/// Options of `tokenwarden run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output: String,
    pub ready_file: Option<PathBuf>,
    pub emit_events: bool,
    pub stats_interval: Duration,
    pub rescan_interval: Duration,
    pub ringbuf_bytes: u32,
    pub exit_ttl: Duration,
    pub max_processes: usize,
}

/// Userspace counters, reported with the kernel's.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub records: u64,
    pub malformed: u64,
    pub exec: u64,
    pub fork: u64,
    pub exit: u64,
    pub open: u64,
    pub alerts: u64,
    pub watched_opens_allowed: u64,
    pub output_errors: u64,
}

/// Everything after the ring buffer.
pub struct Pipeline {
    pub table: ProcessTable,
    pub detector: Detector,
    pub ecs: EcsBuilder,
    pub sink: Sink,
    pub counters: Counters,
    pub emit_events: bool,
}

impl Pipeline {
    /// Handles one raw record. Malformed records are counted and skipped.
    pub fn handle(&mut self, raw: &[u8]) {
        self.counters.records += 1;
        let ev = match decode::decode(raw) {
            Ok(ev) => ev,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!("skipped malformed kernel record: {e}");
                return;
            }
        };
        match ev {
            Event::Exec(e) => {
                self.counters.exec += 1;
                self.table.on_exec(&e);
                if self.emit_events {
                    let p = self.table.resolve(&e.task).clone();
                    let anc = self.table.ancestry(p.pid);
                    let doc = self.ecs.exec_event(e.ts_boot_ns, &e.task, &p, &anc);
                    self.write(&doc);
                }
            }
            Event::Fork(f) => {
                self.counters.fork += 1;
                self.table.on_fork(&f);
            }
            Event::Exit(x) => {
                self.counters.exit += 1;
                self.table.on_exit(&x);
            }
            Event::Open(o) => {
                self.counters.open += 1;
                let p = self.table.resolve(&o.task).clone();
                let anc = self.table.ancestry(p.pid);
                let m = self.detector.on_open(&o, &p, &anc);
                for &r in &m.rules {
                    let Some(rule) = self.detector.rules.rules().get(r) else { continue };
                    let doc = self.ecs.open_alert(rule, &o, &p, &anc, &m);
                    self.counters.alerts += 1;
                    self.write(&doc);
                }
                if m.rules.is_empty() && m.watched {
                    self.counters.watched_opens_allowed += 1;
                    if self.emit_events {
                        let doc = self.ecs.open_event(&o, &p, &anc, &m);
                        self.write(&doc);
                    }
                }
            }
        }
    }

    fn write(&mut self, doc: &Value) {
        if let Err(e) = self.sink.write_doc(doc) {
            self.counters.output_errors += 1;
            warn!("output: {e}");
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.sink.flush() {
            self.counters.output_errors += 1;
            warn!("output: {e}");
        }
    }

    /// Counters for a state document.
    pub fn stats(&self, kernel: &KernelStats) -> Value {
        let c = &self.counters;
        let rule_hits: BTreeMap<&str, u64> = self
            .detector
            .rules
            .rules()
            .iter()
            .zip(&self.detector.rule_hits)
            .filter(|(_, h)| **h > 0)
            .map(|(r, h)| (r.id.as_str(), *h))
            .collect();
        json!({
            "kernel": kernel.named().collect::<BTreeMap<_, _>>(),
            "kernel_ringbuf_drops": kernel.ringbuf_drops(),
            "userspace": {
                "records": c.records,
                "malformed_records": c.malformed,
                "exec": c.exec, "fork": c.fork, "exit": c.exit, "open": c.open,
                "alerts": c.alerts,
                "watched_opens_allowed": c.watched_opens_allowed,
                "output_errors": c.output_errors,
                "process_table_size": self.table.len(),
                "process_table_evictions": self.table.evictions,
                "stores_indexed": self.detector.stores.len(),
            },
            "rule_hits": rule_hits,
            "exception_hits": self
                .detector
                .rules
                .exception_hits()
                .into_iter()
                .map(|(rule, name, hits)| json!({"rule": rule, "exception": name, "hits": hits}))
                .collect::<Vec<_>>(),
        })
    }
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
    let sink = Sink::open(&opts.output)?;
    let mut probes = Probes::load(&LoadOptions { ringbuf_bytes: opts.ringbuf_bytes })?;
    let kfilter = rules.kernel_filter();
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
    let mut pipe = Pipeline {
        table,
        detector: Detector::new(rules, stores),
        ecs: EcsBuilder::new(HostInfo::detect(), instance_id()),
        sink,
        counters: Counters::default(),
        emit_events: opts.emit_events,
    };
    let events = probes.events.take().ok_or_else(|| anyhow::anyhow!("ring buffer already taken"))?;
    // SAFETY: the ring buffer's fd stays open and owned by `ring` for as long as it is
    // registered; it is never closed behind tokio's back.
    let mut ring = unsafe { AsyncFd::register_with_interest(events, tokio::io::Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("ring buffer registration: {e}"))?;

    info!(probes = ?probes.attached, "probes attached");
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
            "instance_id": pipe.ecs.instance_id(),
        }),
    );
    pipe.write(&started);
    pipe.flush();
    if let Some(path) = &opts.ready_file {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
    }

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut stats_tick = tokio::time::interval(opts.stats_interval);
    stats_tick.tick().await;
    let mut maint_tick = tokio::time::interval(Duration::from_secs(2));
    let mut rescan_tick = tokio::time::interval(opts.rescan_interval);
    rescan_tick.tick().await;
    let patterns = pipe.detector.rules.file_patterns();

    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                let rb = guard.get_inner_mut();
                while let Some(item) = rb.next() {
                    pipe.handle(&item);
                }
                guard.clear_ready();
                pipe.flush();
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sigusr1.recv() => report(&mut pipe, &probes, "sensor-stats"),
            _ = stats_tick.tick() => report(&mut pipe, &probes, "sensor-stats"),
            _ = maint_tick.tick() => {
                pipe.table.expire(Instant::now());
                if pipe.detector.take_pending_inodes() {
                    filter::apply_inodes(&mut probes, &pipe.detector.stores.keys())?;
                }
            }
            _ = rescan_tick.tick() => {
                let mut fresh = StoreIndex::scan(&patterns, &home_dirs());
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
    let rb = ring.get_mut();
    while let Some(item) = rb.next() {
        pipe.handle(&item);
    }
    report(&mut pipe, &probes, "sensor-stopped");
    drop(probes);
    if let Some(path) = &opts.ready_file {
        let _ = std::fs::remove_file(path);
    }
    info!("detached; exiting");
    Ok(())
}

fn report(pipe: &mut Pipeline, probes: &Probes, action: &str) {
    let kernel = KernelStats::read(&probes.stats);
    let doc = pipe.ecs.state(action, pipe.stats(&kernel));
    pipe.write(&doc);
    pipe.flush();
}
