//! File opens: decide in the kernel whether the opened file can be a credential store
//! (watched inode, watched name, watched ancestor directory) and only then emit it with
//! its real identity (dev, inode) and resolved path.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_current_uid_gid},
    macros::tracepoint,
    maps::lpm_trie::Key,
    programs::TracePointContext,
};
use sensor_common::{
    CONFIG_ANCESTOR_MASK, CONFIG_FLAGS, EVENT_OPEN, FLAG_PASS_ALL_OPENS, FLAG_SUFFIXES, INODE_ANY_DEV,
    MATCH_ANCESTOR, MATCH_BASENAME, MATCH_INODE, MATCH_PASS_ALL, MATCH_SUFFIX, MAX_ANCESTOR_DEPTH,
    MAX_SUFFIX, NAME_KEY_LEN, OpenEvent, POS_BASENAME, POS_FOREIGN_OWNER, POS_SUFFIX, STAT_DROP_OPEN,
    STAT_OPEN_EMITTED, STAT_OPEN_FAILED, STAT_OPEN_FILTERED, STAT_READ_ERROR, STAT_SELF_SKIPPED,
    SUFFIX_MARKER, SYS_CREAT, SYS_OPEN, SYS_OPENAT, SYS_OPENAT2,
};

use crate::{
    kread::{read, read_ptr, read_str},
    maps::{CONFIG, EVENTS, INODE_FILTER, NAME_FILTER, SCRATCH_OPEN, URGENT_WAKEUP, count, off},
    path::{Target, walk_path},
    task::fill_header,
};

/// Offset of `ret` in the `sys_exit_*` tracepoint record.
const SYS_EXIT_RET: usize = 16;

/// `open(2)` results (legacy syscall still used by some static binaries).
#[tracepoint]
pub fn sys_exit_open(ctx: TracePointContext) -> u32 {
    handle(&ctx, SYS_OPEN)
}

/// `openat(2)` results: the path libc uses for nearly every open.
#[tracepoint]
pub fn sys_exit_openat(ctx: TracePointContext) -> u32 {
    handle(&ctx, SYS_OPENAT)
}

/// `openat2(2)` results (resolve-flags opens).
#[tracepoint]
pub fn sys_exit_openat2(ctx: TracePointContext) -> u32 {
    handle(&ctx, SYS_OPENAT2)
}

/// `creat(2)` results.
#[tracepoint]
pub fn sys_exit_creat(ctx: TracePointContext) -> u32 {
    handle(&ctx, SYS_CREAT)
}

#[inline(always)]
fn handle(ctx: &TracePointContext, syscall: u32) -> u32 {
    match try_open(ctx, syscall) {
        Ok(()) => 0,
        Err(_) => {
            count(STAT_READ_ERROR);
            0
        }
    }
}

#[inline(always)]
fn config(index: u32) -> u64 {
    CONFIG.get(index).copied().unwrap_or(0)
}

fn try_open(ctx: &TracePointContext, syscall: u32) -> Result<(), i64> {
    if off!(valid) == 0 {
        return Ok(());
    }
    // SAFETY: `ret` is a long at this offset in every sys_exit_* record.
    let ret: i64 = unsafe { ctx.read_at(SYS_EXIT_RET) }.map_err(i64::from)?;
    if ret < 0 {
        count(STAT_OPEN_FAILED);
        return Ok(());
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if tgid == off!(self_tgid) as u32 {
        count(STAT_SELF_SKIPPED);
        return Ok(());
    }
    // SAFETY: plain helper call.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let files = read_ptr(task, off!(task_files))?;
    let fdt = read_ptr(files, off!(files_fdt))?;
    let fd_array = read_ptr(fdt, off!(fdt_fd))?;
    let file = read_ptr(fd_array, (ret as usize) * 8)?;
    let inode = read_ptr(file, off!(file_f_inode))?;
    let ino = read::<u64>(inode, off!(inode_i_ino))?;
    let f_path = file.wrapping_add(off!(file_f_path));

    let matched = prefilter(inode, ino, f_path)?;
    if matched == 0 {
        count(STAT_OPEN_FILTERED);
        return Ok(());
    }
    // Only opens that leave the kernel pay for the superblock reads.
    let sb = read_ptr(inode, off!(inode_i_sb))?;
    let dev = read::<u32>(sb, off!(sb_s_dev))?;

    let Some(ev) = SCRATCH_OPEN.get_ptr_mut(0) else {
        return Err(-2);
    };
    // SAFETY: this CPU's scratch record.
    let e = unsafe { &mut *ev };
    let filled = fill_header(&raw mut e.header, EVENT_OPEN, size_of::<OpenEvent>(), task).and_then(|()| {
        e.syscall = syscall;
        e.fd = ret as i32;
        e.matched = matched;
        e.dev = dev;
        e.ino = ino;
        e._pad0 = 0;
        e.flags = read::<u32>(file, off!(file_f_flags))?;
        e.mode = u32::from(read::<u16>(inode, off!(inode_i_mode))?);
        e.owner_uid = read::<u32>(inode, off!(inode_i_uid))?;
        Ok(())
    });
    filled?;
    walk_path(f_path, Target::Open);
    // SAFETY: the scratch record is fully assembled.
    if EVENTS.output::<OpenEvent>(unsafe { &*ev }, URGENT_WAKEUP).is_err() {
        count(STAT_DROP_OPEN);
    } else {
        count(STAT_OPEN_EMITTED);
    }
    Ok(())
}

/// Whether the inode belongs to someone other than the opener (real uid).
#[inline(always)]
fn foreign_owner(inode: *const u8) -> Result<bool, i64> {
    let owner = read::<u32>(inode, off!(inode_i_uid))?;
    Ok(owner != bpf_get_current_uid_gid() as u32)
}

/// Whether a watched suffix ends the name `data[..len]`: the reversed name, behind the
/// marker byte, looked up in the same trie.
#[inline(always)]
fn suffix_watched(data: &[u8; NAME_KEY_LEN], len: usize) -> bool {
    let mut rev = Key::new(0, [0u8; NAME_KEY_LEN]);
    rev.data[0] = SUFFIX_MARKER;
    let n = if len < MAX_SUFFIX { len } else { MAX_SUFFIX };
    for i in 0..MAX_SUFFIX {
        if i >= n {
            break;
        }
        rev.data[i + 1] = data[(len.wrapping_sub(1).wrapping_sub(i)) & (NAME_KEY_LEN - 1)];
    }
    rev.prefix_len = ((n + 1) * 8) as u32;
    NAME_FILTER.get(&rev).is_some_and(|v| v.positions & POS_SUFFIX != 0)
}

/// Returns the `MATCH_*` reason this open may be a credential store, or 0.
#[inline(always)]
fn prefilter(inode: *const u8, ino: u64, f_path: *const u8) -> Result<u32, i64> {
    // SAFETY: read-only lookup of a plain value.
    if let Some(&watched_dev) = unsafe { INODE_FILTER.get(&ino) } {
        let sb = read_ptr(inode, off!(inode_i_sb))?;
        if watched_dev == INODE_ANY_DEV || read::<u32>(sb, off!(sb_s_dev))? == watched_dev {
            return Ok(MATCH_INODE);
        }
    }
    if config(CONFIG_FLAGS) & FLAG_PASS_ALL_OPENS != 0 {
        return Ok(MATCH_PASS_ALL);
    }
    let mut dentry = read_ptr(f_path, off!(path_dentry))?;
    let mut name = Key::new((NAME_KEY_LEN * 8) as u32, [0u8; NAME_KEY_LEN]);
    let name_off = off!(dentry_d_name) + off!(qstr_name);
    let len = read_str(read_ptr(dentry, name_off)?, &mut name.data)?;
    if let Some(v) = NAME_FILTER.get(&name) {
        if v.positions & POS_BASENAME != 0 && (v.positions & POS_FOREIGN_OWNER == 0 || foreign_owner(inode)?)
        {
            return Ok(MATCH_BASENAME);
        }
    }
    if config(CONFIG_FLAGS) & FLAG_SUFFIXES != 0 && suffix_watched(&name.data, len) {
        return Ok(MATCH_SUFFIX);
    }
    let ancestors = config(CONFIG_ANCESTOR_MASK) as u32;
    if ancestors == 0 {
        return Ok(0);
    }
    for depth in 1..=MAX_ANCESTOR_DEPTH {
        let parent = read_ptr(dentry, off!(dentry_d_parent))?;
        if parent == dentry {
            break;
        }
        dentry = parent;
        let bit = 1u32 << depth;
        if ancestors & bit == 0 {
            continue;
        }
        read_str(read_ptr(dentry, name_off)?, &mut name.data)?;
        if let Some(v) = NAME_FILTER.get(&name) {
            if v.positions & bit != 0 {
                return Ok(MATCH_ANCESTOR);
            }
        }
    }
    Ok(0)
}
