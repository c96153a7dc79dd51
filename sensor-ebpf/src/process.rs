//! Process lifecycle: exec, fork and exit keep userspace's process table exact.

use aya_ebpf::{helpers::bpf_probe_read_user_buf, macros::btf_tracepoint, programs::BtfTracePointContext};
use sensor_common::{
    ARGS_LEN, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EventHeader, ExecEvent, ExitEvent, ForkEvent,
    STAT_DROP_EXEC, STAT_DROP_EXIT, STAT_DROP_FORK, STAT_EXEC_EMITTED, STAT_EXIT_EMITTED, STAT_FORK_EMITTED,
    STAT_READ_ERROR, STAT_THREAD_SKIPPED,
};

use crate::{
    kread::{read, read_ptr, read_str},
    maps::{EVENTS, SCRATCH_EXEC, count, off, wakeup_flags},
    path::{Target, walk_path},
    task::fill_header,
};

#[inline(always)]
fn offsets_ready() -> bool {
    off!(valid) != 0
}

/// Exec identity after `execve`: resolved executable (inode + path), argv, credentials, session.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    match try_exec(&ctx) {
        Ok(()) => 0,
        Err(_) => {
            count(STAT_READ_ERROR);
            0
        }
    }
}

fn try_exec(ctx: &BtfTracePointContext) -> Result<(), i64> {
    if !offsets_ready() {
        return Ok(());
    }
    let task: *const u8 = ctx.arg(0);
    let bprm: *const u8 = ctx.arg(2);
    let Some(ev) = SCRATCH_EXEC.get_ptr_mut(0) else {
        return Err(-2);
    };
    fill_exec(ev, task, bprm)?;
    // SAFETY: the scratch record is fully assembled.
    if EVENTS.output::<ExecEvent>(unsafe { &*ev }, wakeup_flags()).is_err() {
        count(STAT_DROP_EXEC);
    } else {
        count(STAT_EXEC_EMITTED);
    }
    Ok(())
}

#[inline(always)]
fn fill_exec(ev: *mut ExecEvent, task: *const u8, bprm: *const u8) -> Result<(), i64> {
    // SAFETY: `ev` is this CPU's scratch record.
    let e = unsafe { &mut *ev };
    fill_header(&raw mut e.header, EVENT_EXEC, size_of::<ExecEvent>(), task)?;
    e.exe_dev = 0;
    e.exe_ino = 0;
    e.args_len = 0;
    e.args_truncated = 0;
    e._pad0 = 0;
    e.filename[0] = 0;
    let filename = read_ptr(bprm, off!(bprm_filename))?;
    let _ = read_str(filename, &mut e.filename);
    let file = read_ptr(bprm, off!(bprm_file))?;
    let inode = read_ptr(file, off!(file_f_inode))?;
    e.exe_ino = read::<u64>(inode, off!(inode_i_ino))?;
    let sb = read_ptr(inode, off!(inode_i_sb))?;
    e.exe_dev = read::<u32>(sb, off!(sb_s_dev))?;
    walk_path(file.wrapping_add(off!(file_f_path)), Target::Exec);
    // argv lives in the new mm, between arg_start and arg_end.
    let mm = read_ptr(task, off!(task_mm))?;
    let start = read::<u64>(mm, off!(mm_arg_start))?;
    let end = read::<u64>(mm, off!(mm_arg_end))?;
    let total = end.saturating_sub(start) as usize;
    if total >= ARGS_LEN {
        e.args_truncated = u32::from(total > ARGS_LEN);
        // SAFETY: the helper validates the user address; dst is the whole buffer.
        unsafe { bpf_probe_read_user_buf(start as *const u8, &mut e.args) }.map_err(i64::from)?;
        e.args_len = ARGS_LEN as u32;
    } else if total > 0 {
        let len = total & (ARGS_LEN - 1);
        if let Some(dst) = e.args.get_mut(..len) {
            // SAFETY: as above, with a length the verifier can bound.
            unsafe { bpf_probe_read_user_buf(start as *const u8, dst) }.map_err(i64::from)?;
            e.args_len = len as u32;
        }
    }
    Ok(())
}

/// New processes (not threads) with their parent, so lineage survives short-lived parents.
#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    match try_fork(&ctx) {
        Ok(()) => 0,
        Err(_) => {
            count(STAT_READ_ERROR);
            0
        }
    }
}

/// Reserves a `T` record, lets `fill` write it after the header, and submits it (or
/// discards it when a read fails). Counts drops and emissions.
#[inline(always)]
fn emit_small<T: 'static>(
    kind: u32,
    task: *const u8,
    drop_stat: u32,
    emitted_stat: u32,
    fill: impl FnOnce(&mut T) -> Result<(), i64>,
) -> Result<(), i64> {
    let Some(mut entry) = EVENTS.reserve::<T>(0) else {
        count(drop_stat);
        return Ok(());
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: a live reservation of size_of::<T>() bytes; every record starts with its header.
    let filled = fill_header(ev.cast::<EventHeader>(), kind, size_of::<T>(), task)
        .and_then(|()| fill(unsafe { &mut *ev }));
    match filled {
        Ok(()) => {
            entry.submit(wakeup_flags());
            count(emitted_stat);
            Ok(())
        }
        Err(err) => {
            entry.discard(0);
            Err(err)
        }
    }
}

fn try_fork(ctx: &BtfTracePointContext) -> Result<(), i64> {
    if !offsets_ready() {
        return Ok(());
    }
    let parent: *const u8 = ctx.arg(0);
    let child: *const u8 = ctx.arg(1);
    let child_pid = read::<u32>(child, off!(task_pid))?;
    let child_tgid = read::<u32>(child, off!(task_tgid))?;
    if child_pid != child_tgid {
        count(STAT_THREAD_SKIPPED);
        return Ok(());
    }
    emit_small(EVENT_FORK, parent, STAT_DROP_FORK, STAT_FORK_EMITTED, |e: &mut ForkEvent| {
        e.child_tgid = child_tgid;
        e._pad0 = 0;
        e.child_start_boottime_ns = read::<u64>(child, off!(task_start_boottime))?;
        Ok(())
    })
}

/// Process exit (thread-group leader only), so the table can retire the entry.
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    match try_exit(&ctx) {
        Ok(()) => 0,
        Err(_) => {
            count(STAT_READ_ERROR);
            0
        }
    }
}

fn try_exit(ctx: &BtfTracePointContext) -> Result<(), i64> {
    if !offsets_ready() {
        return Ok(());
    }
    let task: *const u8 = ctx.arg(0);
    let pid = read::<u32>(task, off!(task_pid))?;
    let tgid = read::<u32>(task, off!(task_tgid))?;
    if pid != tgid {
        count(STAT_THREAD_SKIPPED);
        return Ok(());
    }
    emit_small(EVENT_EXIT, task, STAT_DROP_EXIT, STAT_EXIT_EMITTED, |e: &mut ExitEvent| {
        e.exit_code = read::<u32>(task, off!(task_exit_code))?;
        e._pad0 = 0;
        Ok(())
    })
}
