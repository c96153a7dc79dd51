//! Kernel-side counters (per-CPU array `STATS`), summed over CPUs.

use aya::maps::{MapData, PerCpuArray};
use sensor_common::{STAT_COUNT, STAT_NAMES};

/// Snapshot of every kernel counter, in `STAT_NAMES` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub values: Vec<u64>,
}

impl KernelStats {
    /// Reads and sums every counter. A counter that cannot be read reports 0.
    pub fn read(map: &PerCpuArray<MapData, u64>) -> Self {
        let values = (0..STAT_COUNT)
            .map(|i| map.get(&i, 0).map(|per_cpu| per_cpu.iter().sum()).unwrap_or(0))
            .collect();
        Self { values }
    }

    /// (name, value) pairs.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        STAT_NAMES.iter().copied().zip(self.values.iter().copied())
    }

    /// Sum of all ring-buffer drop counters.
    pub fn ringbuf_drops(&self) -> u64 {
        self.named().filter(|(n, _)| n.starts_with("ringbuf_drop")).map(|(_, v)| v).sum()
    }
}
