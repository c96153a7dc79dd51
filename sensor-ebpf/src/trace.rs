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
    maps::{EVENTS, URGENT_WAKEUP, count, off},
    task::fill_header,
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
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if off!(valid) == 0 || tgid == off!(self_tgid) as u32 {
        return Ok(());
    }
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
    entry.submit(URGENT_WAKEUP);
    count(STAT_TRACE_EMITTED);
    Ok(())
}

/// `ptrace(PTRACE_ATTACH|PTRACE_SEIZE, pid)`: taking control of another process.
#[tracepoint]
pub fn sys_enter_ptrace(ctx: TracePointContext) -> u32 {
    // SAFETY: sys_enter_ptrace layout: request@16, pid@24.
    let args = unsafe { (ctx.read_at::<u64>(16), ctx.read_at::<u64>(24)) };
    match args {
        (Ok(req), Ok(pid)) if req == PTRACE_ATTACH || req == PTRACE_SEIZE => {
            done(emit(TRACE_PTRACE, req, pid))
        }
        (Ok(_), Ok(_)) => 0,
        _ => done(Err(-14)),
    }
}

/// `process_vm_readv(pid, …)`: reading another process's memory without ptrace.
#[tracepoint]
pub fn sys_enter_process_vm_readv(ctx: TracePointContext) -> u32 {
    // SAFETY: pid@16.
    match unsafe { ctx.read_at::<u64>(16) } {
        Ok(pid) => done(emit(TRACE_VM_READV, 0, pid)),
        Err(_) => done(Err(-14)),
    }
}

/// `process_vm_writev(pid, …)`: writing into another process's memory.
#[tracepoint]
pub fn sys_enter_process_vm_writev(ctx: TracePointContext) -> u32 {
    // SAFETY: pid@16.
    match unsafe { ctx.read_at::<u64>(16) } {
        Ok(pid) => done(emit(TRACE_VM_WRITEV, 0, pid)),
        Err(_) => done(Err(-14)),
    }
}

/// `keyctl(KEYCTL_GET_PERSISTENT, uid, …)` with a uid other than the caller's: linking
/// another user's persistent keyring (Kerberos `KEYRING:persistent:` caches) to read it.
#[tracepoint]
pub fn sys_enter_keyctl(ctx: TracePointContext) -> u32 {
    // SAFETY: sys_enter_keyctl layout: option@16, arg2@24.
    let args = unsafe { (ctx.read_at::<u64>(16), ctx.read_at::<u64>(24)) };
    match args {
        (Ok(KEYCTL_GET_PERSISTENT), Ok(uid)) => {
            let uid = uid as u32;
            // SAFETY: plain helper call.
            let ids = aya_ebpf::helpers::bpf_get_current_uid_gid() as u32;
            // (uid_t)-1 means "my own".
            if uid == u32::MAX || uid == ids {
                return 0;
            }
            done(emit(TRACE_KEYCTL_PERSISTENT, KEYCTL_GET_PERSISTENT, u64::from(uid)))
        }
        (Ok(_), Ok(_)) => 0,
        _ => done(Err(-14)),
    }
}
