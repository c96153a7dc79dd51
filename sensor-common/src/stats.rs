//! Per-CPU counters kept by the kernel programs (`STATS` per-CPU array).

//! Successful opens are counted exactly once, as filtered, emitted, dropped, self or
//! read error; their sum is every successful open the hooks saw (no separate counter
//! on the hot path).

pub const STAT_OPEN_FILTERED: u32 = 0;
pub const STAT_OPEN_EMITTED: u32 = 1;
pub const STAT_OPEN_FAILED: u32 = 2;
pub const STAT_EXEC_EMITTED: u32 = 3;
pub const STAT_FORK_EMITTED: u32 = 4;
pub const STAT_EXIT_EMITTED: u32 = 5;
pub const STAT_THREAD_SKIPPED: u32 = 6;
pub const STAT_DROP_OPEN: u32 = 7;
pub const STAT_DROP_EXEC: u32 = 8;
pub const STAT_DROP_FORK: u32 = 9;
pub const STAT_DROP_EXIT: u32 = 10;
pub const STAT_READ_ERROR: u32 = 11;
pub const STAT_SELF_SKIPPED: u32 = 12;
pub const STAT_CONNECT_EMITTED: u32 = 13;
pub const STAT_DROP_CONNECT: u32 = 14;
pub const STAT_DATA_EMITTED: u32 = 15;
pub const STAT_DATA_NOT_REQUEST: u32 = 16;
pub const STAT_DROP_DATA: u32 = 17;
pub const STAT_TRACE_EMITTED: u32 = 18;
pub const STAT_DROP_TRACE: u32 = 19;
pub const STAT_COUNT: u32 = 20;

/// Names of the counters, in index order, as reported by the daemon.
pub const STAT_NAMES: [&str; STAT_COUNT as usize] = [
    "open_filtered",
    "open_emitted",
    "open_failed_ignored",
    "exec_emitted",
    "fork_emitted",
    "exit_emitted",
    "thread_skipped",
    "ringbuf_drop_open",
    "ringbuf_drop_exec",
    "ringbuf_drop_fork",
    "ringbuf_drop_exit",
    "kernel_read_error",
    "self_skipped",
    "connect_emitted",
    "ringbuf_drop_connect",
    "data_emitted",
    "data_not_request",
    "ringbuf_drop_data",
    "trace_emitted",
    "ringbuf_drop_trace",
];
