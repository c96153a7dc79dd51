//! Do-nothing programs for `tokenwarden bench-floor`: attached to exactly the hooks the
//! sensor uses, they measure what the hook mechanism itself costs (the floor the
//! sensor's own overhead is compared with).

use aya_ebpf::{
    macros::{btf_tracepoint, tracepoint, uprobe},
    programs::{BtfTracePointContext, ProbeContext, TracePointContext},
};

/// Floor for every classic syscall tracepoint the sensor attaches.
#[tracepoint]
pub fn empty_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}

/// Floor for `tp_btf/sched_process_exec`.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn empty_sched_process_exec(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Floor for `tp_btf/sched_process_fork`.
#[btf_tracepoint(function = "sched_process_fork")]
pub fn empty_sched_process_fork(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Floor for `tp_btf/sched_process_exit`.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn empty_sched_process_exit(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Floor for every TLS library uprobe.
#[uprobe]
pub fn empty_uprobe(_ctx: ProbeContext) -> u32 {
    0
}
