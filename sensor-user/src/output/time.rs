//! Kernel boot-time timestamps → wall-clock RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Converts `bpf_ktime_get_boot_ns` values to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct BootClock {
    /// Wall-clock ns at boot.
    boot_epoch_ns: u64,
}

impl BootClock {
    pub fn now() -> Self {
        let real = clock_ns(libc::CLOCK_REALTIME);
        let boot = clock_ns(libc::CLOCK_BOOTTIME);
        Self { boot_epoch_ns: real.saturating_sub(boot) }
    }

    pub fn to_system(self, ts_boot_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.boot_epoch_ns + ts_boot_ns)
    }
}

/// RFC 3339 with microseconds, UTC (what ECS `@timestamp` expects).
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}
