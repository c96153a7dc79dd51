//! Interleaved measurement: every round starts each state's process once (detached,
//! empty, sensor, detached, …), runs every workload of that state under it and stops
//! it. An overhead figure is the median over rounds of that round's ratio, so slow
//! drifts of a shared machine cancel out.

use std::time::Duration;

use anyhow::Context as _;

use super::{
    report::Report,
    states::{Layout, Running, State},
};

pub const ALL_STATES: &[State] = &[State::Detached, State::Empty, State::Sensor];
pub const NO_FLOOR: &[State] = &[State::Detached, State::Sensor];

/// A measured loop: `run(n)` does `n` operations and returns the wall time.
pub struct Workload<'a> {
    pub name: &'static str,
    /// The states it is measured in.
    pub states: &'static [State],
    /// Wall time one run should take (`n` is calibrated for it).
    pub target: Duration,
    /// Operations of the first calibration run.
    pub probe_n: u64,
    pub run: Box<dyn Fn(u64) -> anyhow::Result<Duration> + 'a>,
}

/// Picks each workload's `n` from detached runs: grows a probe run until it takes at
/// least an eighth of the target, then scales.
pub fn calibrate(workloads: &[Workload<'_>]) -> anyhow::Result<Vec<u64>> {
    workloads
        .iter()
        .map(|w| {
            let mut n = w.probe_n;
            loop {
                let t = (w.run)(n).with_context(|| format!("calibrate {}", w.name))?;
                if t >= w.target / 8 || n >= 1 << 32 {
                    let scaled = n as f64 * w.target.as_secs_f64() / t.as_secs_f64().max(1e-9);
                    let n = (scaled as u64).max(w.probe_n);
                    progress!("{}: n = {n} (~{:?} per run)", w.name, w.target);
                    return Ok(n);
                }
                n *= 4;
            }
        })
        .collect()
}

/// Nanoseconds per operation: `[workload][state][round]`.
pub struct Samples {
    ns: Vec<Vec<Vec<f64>>>,
}

impl Samples {
    fn get(&self, w: usize, s: State) -> &[f64] {
        &self.ns[w][index(s)]
    }
}

fn index(s: State) -> usize {
    match s {
        State::Detached => 0,
        State::Empty => 1,
        State::Sensor => 2,
    }
}

/// Starts `state`, runs its workloads once, calls `before_stop` with the running
/// process, and stops it. Returns ns/op for each workload of the state (None for the
/// others).
pub fn one_state(
    layout: &Layout,
    state: State,
    workloads: &[Workload<'_>],
    ns: &[u64],
    settle: Duration,
    before_stop: impl FnOnce(&Running) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Option<f64>>> {
    let mut running = layout.start(state)?;
    std::thread::sleep(settle);
    let mut out = Vec::with_capacity(workloads.len());
    for (w, &n) in workloads.iter().zip(ns) {
        if !w.states.contains(&state) {
            out.push(None);
            continue;
        }
        let d = (w.run)(n).with_context(|| format!("{} ({})", w.name, state.key()))?;
        out.push(Some(d.as_nanos() as f64 / n as f64));
    }
    if let Some(r) = running.as_mut() {
        // A state whose process died would have measured `detached`.
        r.check().with_context(|| format!("while measuring `{}`", state.key()))?;
        before_stop(r)?;
    }
    if let Some(r) = running {
        r.stop()?;
    }
    Ok(out)
}

/// `rounds` interleaved rounds over `states`.
pub fn run(
    layout: &Layout,
    workloads: &[Workload<'_>],
    ns: &[u64],
    states: &[State],
    rounds: usize,
    settle: Duration,
) -> anyhow::Result<Samples> {
    let mut samples = Samples { ns: vec![vec![Vec::new(); 3]; workloads.len()] };
    for round in 1..=rounds {
        for &state in states {
            progress!("round {round}/{rounds}: {}", state.key());
            let got = one_state(layout, state, workloads, ns, settle, |_| Ok(()))?;
            for (w, v) in got.into_iter().enumerate() {
                if let Some(v) = v {
                    samples.ns[w][index(state)].push(v);
                }
            }
        }
    }
    Ok(samples)
}

pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Median of per-round ratios `a[i] / b[i]`.
fn median_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    median(&r)
}

/// Writes `ratio.<name>.<a>_vs_<b>` and `abs.<name>.<state>_ns` for every workload.
pub fn summarize(workloads: &[Workload<'_>], samples: &Samples, report: &mut Report) {
    const PAIRS: [(State, State); 3] =
        [(State::Sensor, State::Detached), (State::Sensor, State::Empty), (State::Empty, State::Detached)];
    for (i, w) in workloads.iter().enumerate() {
        for &s in w.states {
            if let Some(m) = median(samples.get(i, s)) {
                report.abs(&format!("abs.{}.{}_ns", w.name, s.key()), m);
            }
        }
        for (a, b) in PAIRS {
            if !(w.states.contains(&a) && w.states.contains(&b)) {
                continue;
            }
            let per_round: Vec<String> = samples
                .get(i, a)
                .iter()
                .zip(samples.get(i, b))
                .map(|(x, y)| format!("{:.3}", x / y))
                .collect();
            if !per_round.is_empty() {
                progress!("{} {}/{} per round: {}", w.name, a.key(), b.key(), per_round.join(" "));
            }
            if let Some(r) = median_ratio(samples.get(i, a), samples.get(i, b)) {
                report.ratio(&format!("ratio.{}.{}_vs_{}", w.name, a.key(), b.key()), r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_ratios_pairs_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        // Round 2 is slow in both states: its ratio is still 1.1.
        let r = median_ratio(&[110.0, 220.0, 111.0], &[100.0, 200.0, 100.0]).unwrap();
        assert!((r - 1.1).abs() < 1e-9, "{r}");
    }
}
