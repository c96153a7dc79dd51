//! Identity of a task (`task_struct`), filled into every record's header.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task_btf, bpf_ktime_get_boot_ns, bpf_task_pt_regs},
    programs::TracePointContext,
};
use sensor_common::{EventHeader, TaskInfo};

use crate::{
    kread::{read, read_ptr},
    maps::off,
};

/// Fills `info` from `task`. Fields that cannot be read stay as they are.
#[inline(always)]
pub fn fill_task(info: &mut TaskInfo, task: *const u8) -> Result<(), i64> {
    info.tgid = read::<u32>(task, off!(task_tgid))?;
    info.pid = read::<u32>(task, off!(task_pid))?;
    let parent = read_ptr(task, off!(task_real_parent))?;
    info.ppid = read::<u32>(parent, off!(task_tgid))?;
    let cred = read_ptr(task, off!(task_cred))?;
    info.uid = read::<u32>(cred, off!(cred_uid))?;
    info.gid = read::<u32>(cred, off!(cred_gid))?;
    info.euid = read::<u32>(cred, off!(cred_euid))?;
    info.egid = read::<u32>(cred, off!(cred_egid))?;
    info.loginuid = read::<u32>(task, off!(task_loginuid))?;
    info.sessionid = read::<u32>(task, off!(task_sessionid))?;
    let leader = read_ptr(task, off!(task_group_leader))?;
    info.start_boottime_ns = read::<u64>(leader, off!(task_start_boottime))?;
    info.comm = read::<[u8; 16]>(task, off!(task_comm))?;
    Ok(())
}

/// Writes a header for a record of `kind` and `size` caused by `task`.
#[inline(always)]
pub fn fill_header(hdr: *mut EventHeader, kind: u32, size: usize, task: *const u8) -> Result<(), i64> {
    // SAFETY: `hdr` points into a ring-buffer reservation of at least `size` bytes.
    let hdr = unsafe { &mut *hdr };
    hdr.kind = kind;
    hdr.size = size as u32;
    // SAFETY: plain helper call.
    hdr.ts_boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    hdr.task = TaskInfo {
        tgid: 0,
        pid: 0,
        ppid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
        euid: u32::MAX,
        egid: u32::MAX,
        loginuid: u32::MAX,
        sessionid: u32::MAX,
        _pad0: 0,
        start_boottime_ns: 0,
        comm: [0; 16],
    };
    fill_task(&mut hdr.task, task)
}

/// Argument `N` (0-based, N < 5) of the current syscall, read from the task's saved
/// registers. Syscalls do not change their caller's saved argument registers, so this
/// holds at syscall exit, where every syscall hook of the sensor sits (exit hooks only:
/// a `sys_enter_*` hook would put every syscall of every task on the tracing path).
#[inline(always)]
pub fn syscall_arg<const N: usize>() -> u64 {
    // SAFETY: typed helpers; the registers are a BTF object, read with a plain load the
    // verifier checks (the offset is a constant of the frozen OFFSETS).
    unsafe {
        let off = core::ptr::read_volatile(&raw const crate::maps::OFFSETS.regs_arg[N]) as usize;
        let regs = bpf_task_pt_regs(bpf_get_current_task_btf()) as *const u8;
        core::ptr::read_volatile(regs.wrapping_add(off) as *const u64)
    }
}

/// Offset of `ret` in every `sys_exit_*` tracepoint record.
const SYS_EXIT_RET: usize = 16;

/// The syscall's return value, in a `sys_exit_*` tracepoint.
#[inline(always)]
pub fn sys_exit_ret(ctx: &TracePointContext) -> Result<i64, i64> {
    // SAFETY: `ret` is a long at this offset in every sys_exit_* record.
    unsafe { ctx.read_at(SYS_EXIT_RET) }.map_err(i64::from)
}

/// True when the current task belongs to the sensor itself (its own activity is not
/// reported).
#[inline(always)]
pub fn is_self() -> bool {
    (bpf_get_current_pid_tgid() >> 32) as u32 == off!(self_tgid) as u32
}
