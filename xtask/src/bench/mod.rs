//! `cargo xtask bench [--quick]`: the sensor's cost and capacity, written to
//! `target/bench/report.json` (a flat object of numbers under stable keys) with a
//! Markdown table of the figures against their targets on stdout. Progress goes to
//! stderr.
//!
//! Overhead figures are ratios measured in one run, interleaved (detached, empty,
//! sensor, detached, … one process start per state and round) and reported as the
//! median of per-round ratios, because the machine is shared and noisy. Absolute
//! ns/op are context only.

/// A progress line on stderr, stamped with the seconds since the bench started.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("bench [{:>5.1} s]: {}", $crate::bench::since_start(), format_args!($($arg)*))
    };
}

mod criterion;
mod kernel;
mod load;
mod macrobench;
mod memory;
mod metrics;
mod micro;
mod pace;
mod procs;
mod report;
mod rounds;
mod states;
mod tls;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use self::{
    kernel::BpfStats,
    procs::TempDir,
    report::Report,
    rounds::ALL_STATES,
    states::{Layout, State},
    tls::Nginx,
};
use crate::root;

static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Seconds since the bench started (for progress lines).
fn since_start() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// How much to measure: `--quick` (under 3 minutes) or the full run (under 20).
struct Plan {
    quick: bool,
    rounds: usize,
    micro: Duration,
    tls: Duration,
    macro_run: Duration,
    /// Pause after a state's process is ready, before measuring.
    settle: Duration,
    load: load::Plan,
    memory: memory::Plan,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                rounds: 3,
                micro: Duration::from_millis(30),
                tls: Duration::from_millis(120),
                macro_run: Duration::from_millis(250),
                settle: Duration::from_millis(150),
                load: load::Plan { step: Duration::from_secs(1), burst: Duration::from_secs(1) },
                memory: memory::Plan {
                    settle: Duration::from_secs(2),
                    warm_up: Duration::from_secs(15),
                    churn: Duration::from_secs(20),
                },
            }
        } else {
            Plan {
                quick,
                rounds: 11,
                micro: Duration::from_millis(150),
                tls: Duration::from_millis(400),
                macro_run: Duration::from_secs(1),
                settle: Duration::from_millis(300),
                load: load::Plan { step: Duration::from_secs(3), burst: Duration::from_secs(1) },
                memory: memory::Plan {
                    settle: Duration::from_secs(5),
                    warm_up: Duration::from_secs(60),
                    churn: Duration::from_secs(180),
                },
            }
        }
    }
}

/// Parts that failed; the others still report.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, part: &str, result: anyhow::Result<()>) {
        if let Err(e) = result {
            progress!("{part} failed: {e:#}");
            self.0.push(format!("{part}: {e:#}"));
        }
    }
}

pub fn bench(quick: bool) -> anyhow::Result<()> {
    since_start();
    let plan = Plan::new(quick);
    let path = root().join("target/bench/report.json");
    // A report left by an earlier run must never pass for this one.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("remove {}", path.display()));
        }
        _ => {}
    }
    let mut report = Report::default();
    report.count("bench.rounds", plan.rounds as f64);
    let mut failures = Failures::default();
    criterion::run(&[&criterion::RULES, &criterion::PIPELINE], plan.quick, &mut report, &mut failures);
    let sensor = sensor_figures(&plan, &mut report, &mut failures);
    failures.check("sensor figures", sensor);

    report.write(&path)?;
    println!("{}", report.table());
    println!(
        "{} interleaved rounds; `sensor` is `tokenwarden run` with the embedded pack plus one append \
         that allows this program on `{}`; `empty` is `tokenwarden bench-floor`.",
        plan.rounds,
        states::WATCHED_RULE
    );
    println!("report: {}", path.strip_prefix(root()).unwrap_or(&path).display());
    progress!("done");
    let missing = report.missing();
    if !missing.is_empty() {
        const SHOWN: usize = 8;
        let more = missing.len().saturating_sub(SHOWN);
        let mut list = missing[..missing.len().min(SHOWN)].join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        failures.0.push(format!("report lacks {} key(s): {list}", missing.len()));
    }
    if !failures.0.is_empty() {
        bail!("{} part(s) failed:\n  {}", failures.0.len(), failures.0.join("\n  "));
    }
    Ok(())
}

/// Another sensor's probes are in every state: the figures understate the overhead.
fn warn_foreign_sensors() {
    let others = procs::foreign_sensors();
    if !others.is_empty() {
        progress!(
            "WARNING: other tokenwarden processes are running ({others:?}): every state, \
             `detached` too, includes their probes"
        );
    }
}

/// Everything that runs the sensor: the interleaved ratios, per-program kernel cost,
/// memory and sustained load.
fn sensor_figures(plan: &Plan, report: &mut Report, failures: &mut Failures) -> anyhow::Result<()> {
    if !crate::is_root() {
        bail!("not root: these figures load eBPF programs (sudo -E cargo xtask bench)");
    }
    for tool in ["nginx", "curl", "openssl", "hackbench", "stress-ng"] {
        if !procs::on_path(tool) {
            bail!("`{tool}` not found: run `cargo xtask setup`");
        }
    }
    let bin = crate::build()?;
    crate::setup::mount_kernel_fs()?;
    warn_foreign_sensors();
    let layout = Layout::new(&bin)?;
    let mut states = ALL_STATES.to_vec();
    if let Err(e) = states::check_floor(&layout.bin) {
        failures.check("`empty` state", Err(e));
        states.retain(|s| *s != State::Empty);
    }
    let stats = BpfStats::capture()?;
    stats.set(false)?;

    let nginx = Nginx::start()?;
    let scratch = TempDir::new("stress")?;
    let mut workloads = micro::workloads(&layout, plan.micro);
    workloads.push(nginx.workload(plan.tls));
    // The kernel-cost round runs these (the macro workloads only hit the same hooks again).
    let hooked = workloads.len();
    workloads.extend(macrobench::workloads(scratch.path(), plan.macro_run));
    progress!("calibrating (detached)");
    let ns = rounds::calibrate(&workloads)?;
    let samples = rounds::run(&layout, &workloads, &ns, &states, plan.rounds, plan.settle)?;
    warn_foreign_sensors();
    rounds::summarize(&workloads, &samples, report);

    progress!("kernel program costs (bpf_stats on, one sensor round)");
    stats.set(true)?;
    let costs = rounds::one_state(&layout, State::Sensor, &workloads[..hooked], &ns, plan.settle, |r| {
        kernel::record(r.pid(), report)
    });
    stats.set(false)?;
    failures.check("kernel program costs", costs.map(drop));
    drop(workloads);
    nginx.stop()?;

    progress!("memory and sustained load (one sensor run)");
    let mut sensor = layout.start(State::Sensor)?.context("the sensor state has a process")?;
    let addr = sensor.metrics.context("the sensor serves /metrics")?;
    failures.check("memory", memory::measure(&layout, sensor.pid(), &plan.memory, report));
    failures.check("sustained load", load::measure(&layout, addr, &plan.load, report));
    sensor.check()?;
    sensor.stop()
}
