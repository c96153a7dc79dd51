//! Cross-process memory access: `ptrace` attach/seize and `process_vm_readv`/`writev`;
//! and another user's persistent keyring taken with `keyctl`. Rare syscalls; only
//! attaches (not every PEEK), cross-process calls and foreign uids are emitted.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task},
    macros::tracepoint,
    programs::TracePointContext,
};
use sensor_common::{
    EVENT_TRACE, STAT_DROP_TRACE, STAT_READ_ERROR, STAT_TRACE_EMITTED, TRACE_KEYCTL_PERSISTENT, TRACE_PTRACE,
    TRACE_VM_READV, TRACE_VM_WRITEV, TraceEvent,
};

use crate::{
    maps::{EVENTS, count, off, wakeup_flags},
    task::{fill_header, is_self, syscall_arg},
};

const PTRACE_ATTACH: u64 = 16;
const PTRACE_SEIZE: u64 = 0x4206;

#[inline(always)]
fn done(r: Result<(), i64>) -> u32 {
    if r.is_err() {
        count(STAT_READ_ERROR);
    }
    0
}

const KEYCTL_GET_PERSISTENT: u64 = 22;

fn emit(syscall: u32, request: u64, target: u64) -> Result<(), i64> {
    if off!(valid) == 0 || is_self() {
        return Ok(());
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if syscall != TRACE_KEYCTL_PERSISTENT && (target as u32 == tgid || target == 0) {
        return Ok(());
    }
    let Some(mut entry) = EVENTS.reserve::<TraceEvent>(0) else {
        count(STAT_DROP_TRACE);
        return Ok(());
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: a live reservation of size_of::<TraceEvent>().
    let e = unsafe { &mut *ev };
    // SAFETY: plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    if let Err(err) = fill_header(&raw mut e.header, EVENT_TRACE, size_of::<TraceEvent>(), task) {
        entry.discard(0);
        return Err(err);
    }
    e.syscall = syscall;
    e.request = request as u32;
    e.target_pid = target as u32;
    e._pad0 = 0;
    entry.submit(wakeup_flags());
    count(STAT_TRACE_EMITTED);
    Ok(())
}

/// `ptrace(PTRACE_ATTACH|PTRACE_SEIZE, pid)`: taking control of another process
/// (attempts are reported whatever their outcome).
#[tracepoint]
pub fn sys_exit_ptrace(_ctx: TracePointContext) -> u32 {
    let (req, pid) = (syscall_arg::<0>(), syscall_arg::<1>());
    if req == PTRACE_ATTACH || req == PTRACE_SEIZE { done(emit(TRACE_PTRACE, req, pid)) } else { 0 }
}

/// `process_vm_readv(pid, …)`: reading another process's memory without ptrace.
#[tracepoint]
pub fn sys_exit_process_vm_readv(_ctx: TracePointContext) -> u32 {
    done(emit(TRACE_VM_READV, 0, syscall_arg::<0>()))
}

/// `process_vm_writev(pid, …)`: writing into another process's memory.
#[tracepoint]
pub fn sys_exit_process_vm_writev(_ctx: TracePointContext) -> u32 {
    done(emit(TRACE_VM_WRITEV, 0, syscall_arg::<0>()))
}

/// `keyctl(KEYCTL_GET_PERSISTENT, uid, …)` with a uid other than the caller's: linking
/// another user's persistent keyring (Kerberos `KEYRING:persistent:` caches) to read it.
#[tracepoint]
pub fn sys_exit_keyctl(_ctx: TracePointContext) -> u32 {
    if syscall_arg::<0>() != KEYCTL_GET_PERSISTENT {
        return 0;
    }
    let uid = syscall_arg::<1>() as u32;
    let ids = aya_ebpf::helpers::bpf_get_current_uid_gid() as u32;
    // (uid_t)-1 means "my own".
    if uid == u32::MAX || uid == ids {
        return 0;
    }
    done(emit(TRACE_KEYCTL_PERSISTENT, KEYCTL_GET_PERSISTENT, u64::from(uid)))
}
