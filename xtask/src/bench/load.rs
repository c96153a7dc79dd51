//! Sustained load: a generator opens the watched store this program is allowed to open
//! (every open is a relevant record that reaches userspace) at rising rates (25 k/s,
//! doubled until the generator falls short or a record is lost), and the sensor's
//! `/metrics` tell what it lost. Then bursts at 2× and 5× the highest loss-free rate,
//! and how long the sensor takes to catch up after the 5× burst.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::bail;

use super::{metrics::Metrics, micro::open_close, pace, report::Report, states::Layout};

/// The first rate tried, in relevant opens per second; each next step doubles it.
const FIRST_STEP: f64 = 25_000.0;
/// Steps stop here even without loss (the generator could not go much faster anyway).
const LAST_STEP: f64 = 3_200_000.0;
/// A step counts when the generator reached this share of its rate.
const REACHED: f64 = 0.95;
/// How long the sensor gets to catch up after a step before its counters are read.
const CATCH_UP: Duration = Duration::from_secs(30);

pub struct Plan {
    /// Length of each rising step.
    pub step: Duration,
    /// Length of the 2× and 5× bursts.
    pub burst: Duration,
}

/// One paced run and what the sensor did meanwhile.
struct Step {
    target: f64,
    generated: f64,
    rate: f64,
    kernel_drops: f64,
    sink_drops: f64,
    /// Time from the end of the run until handled opens caught up with generated ones.
    catch_up: Duration,
}

impl Step {
    fn drops(&self) -> f64 {
        self.kernel_drops + self.sink_drops
    }
}

/// Where the generator runs and what one of its threads can do.
struct Generator<'a> {
    layout: &'a Layout,
    addr: SocketAddr,
    /// Opens per second of one thread with the sensor attached.
    capacity: f64,
}

impl Generator<'_> {
    /// One thread while it can reach `rate` (a core stays free for the sensor), else two.
    fn threads(&self, rate: f64) -> usize {
        if rate <= 0.9 * self.capacity { 1 } else { 2 }
    }
}

fn step(g: &Generator<'_>, rate: f64, duration: Duration) -> anyhow::Result<Step> {
    let addr = g.addr;
    let before = Metrics::scrape(addr)?;
    let op = |_| -> anyhow::Result<()> { Ok(open_close(&g.layout.store)?) };
    let paced = pace::run(rate, duration, g.threads(rate), &op)?;
    let ended = Instant::now();
    let generated = paced.done as f64;
    // Poll until every generated open that the kernel did not drop was handled.
    let after = loop {
        let m = Metrics::scrape(addr)?;
        let expected = before.opens() + generated - (m.open_drops() - before.open_drops());
        if m.opens() >= expected {
            break m;
        }
        if ended.elapsed() > CATCH_UP {
            bail!(
                "the sensor handled {} of {generated} opens at {rate}/s and stopped catching up \
                 ({} kernel drops)",
                m.opens() - before.opens(),
                m.open_drops() - before.open_drops()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let s = Step {
        target: rate,
        generated,
        rate: paced.rate(),
        kernel_drops: after.kernel_drops() - before.kernel_drops(),
        sink_drops: after.sink_drops() - before.sink_drops(),
        catch_up: ended.elapsed(),
    };
    progress!(
        "load {:.0}/s: generated {:.0} at {:.0}/s, drops {} kernel + {} sinks, caught up in {} ms",
        s.target,
        s.generated,
        s.rate,
        s.kernel_drops,
        s.sink_drops,
        s.catch_up.as_millis()
    );
    Ok(s)
}

/// Checks once that the generator's opens reach userspace (else every figure is moot),
/// and measures what one generator thread can do.
fn generator(layout: &Layout, addr: SocketAddr) -> anyhow::Result<Generator<'_>> {
    const N: u64 = 10_000;
    let first = Metrics::scrape(addr)?;
    let before = first.opens();
    let t = Instant::now();
    for _ in 0..N {
        open_close(&layout.store)?;
    }
    let capacity = N as f64 / t.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = Metrics::scrape(addr)?;
        let handled = now.opens() - before;
        if handled >= N as f64 {
            let alerts = now.alerts() - first.alerts();
            if alerts >= N as f64 / 2.0 {
                bail!(
                    "{alerts} alerts for {N} opens of the watched store: the bench's rule file did not \
                     allow this program, so the figures would measure alert output"
                );
            }
            progress!("load: one generator thread does {capacity:.0} relevant opens/s");
            return Ok(Generator { layout, addr, capacity });
        }
        if Instant::now() > deadline {
            bail!(
                "only {handled} of {N} opens of the watched store reached userspace \
                 (tokenwarden_events_total{{kind=\"open\"}}): the load figures need relevant records"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `load.*` into `report`.
pub fn measure(layout: &Layout, addr: SocketAddr, plan: &Plan, report: &mut Report) -> anyhow::Result<()> {
    let g = generator(layout, addr)?;
    let mut zero_drop = 0.0;
    let mut rate = FIRST_STEP;
    while rate <= LAST_STEP {
        let s = step(&g, rate, plan.step)?;
        if s.drops() > 0.0 || s.rate < REACHED * rate {
            break;
        }
        zero_drop = rate;
        rate *= 2.0;
    }
    report.count("load.zero_drop_events_per_sec", zero_drop);
    // With loss even at the lowest step, the bursts are relative to that step.
    let base = if zero_drop > 0.0 { zero_drop } else { FIRST_STEP };
    for (factor, key) in [(2.0, "load.drops_at_2x"), (5.0, "load.drops_at_5x")] {
        let s = step(&g, base * factor, plan.burst)?;
        report.value(key, s.drops() / s.generated.max(1.0));
        report.count(&format!("{key}_generated_per_sec"), s.rate);
        if factor == 5.0 {
            report.count("load.recovery_ms", s.catch_up.as_secs_f64() * 1000.0);
        }
    }
    Ok(())
}
