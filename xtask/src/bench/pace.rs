//! Runs an operation at a fixed rate, in 1 ms batches, for the sustained load and the
//! exec churn. A generator that falls behind does not catch up later: the achieved rate
//! then shows what it could do.

use std::time::{Duration, Instant};

use anyhow::Context as _;

/// What a paced run did.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    pub done: u64,
    pub elapsed: Duration,
}

impl Paced {
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

const TICK: Duration = Duration::from_millis(1);
/// Further behind schedule than this, a thread gives up the missed ticks.
const MAX_LAG: Duration = Duration::from_millis(10);

/// Calls `op(i)` `rate` times a second for `duration`, spread over `threads` threads.
pub fn run(
    rate: f64,
    duration: Duration,
    threads: usize,
    op: &(dyn Fn(u64) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<Paced> {
    let per_tick = rate / threads as f64 * TICK.as_secs_f64();
    let start = Instant::now();
    let end = start + duration;
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> anyhow::Result<u64> {
                    let (mut done, mut scheduled, mut next) = (0u64, 0f64, start);
                    while next < end {
                        scheduled += per_tick;
                        while (done as f64) < scheduled {
                            op(done)?;
                            done += 1;
                        }
                        next += TICK;
                        let now = Instant::now();
                        if now < next {
                            std::thread::sleep(next - now);
                        } else if now - next > MAX_LAG {
                            next = now;
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("paced thread panicked"))))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut done = 0;
    for r in results {
        done += r.context("paced operation")?;
    }
    Ok(Paced { done, elapsed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_a_modest_rate_and_reports_a_slow_one() {
        let p = run(2000.0, Duration::from_millis(200), 1, &|_| Ok(())).unwrap();
        assert!((250..=400).contains(&p.done), "{p:?}");
        // 2 ms per op cannot reach 2000/s.
        let slow = run(2000.0, Duration::from_millis(100), 1, &|_| {
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        })
        .unwrap();
        assert!(slow.rate() < 1000.0, "{slow:?}");
    }
}
