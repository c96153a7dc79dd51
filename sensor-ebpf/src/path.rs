//! Resolved paths: walk a `struct path` (mount + dentry) up to the root of its mount
//! namespace, crossing mount points, recording each component's name.
//!
//! The walk runs under `bpf_loop` so the verifier checks one step, not every
//! unrolled iteration (a plain 48-step loop exceeds its 1M-instruction budget).

use core::ffi::c_void;

use aya_ebpf::helpers::generated::bpf_loop;
use sensor_common::{MAX_DEPTH, NAME_LEN, PATH_NAME_TRUNCATED, PATH_READ_ERROR, PATH_TRUNCATED, PathRec};

use crate::{
    kread::{read_ptr, read_str},
    maps::{SCRATCH_EXEC, SCRATCH_OPEN, off},
};

/// Loop bound: path components plus mount crossings.
const MAX_WALK: u32 = MAX_DEPTH as u32 + 16;

/// Which scratch record the walk writes into.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Target {
    Open = 0,
    Exec = 1,
}

#[repr(C)]
struct WalkCtx {
    dentry: *const u8,
    vfsmnt: *const u8,
    mnt: *const u8,
    target: Target,
    n: u32,
    flags: u32,
    done: u32,
}

#[inline(always)]
fn target_path(target: Target) -> Option<*mut PathRec> {
    match target {
        // SAFETY: per-CPU scratch records, only used by the program running on this CPU.
        Target::Open => SCRATCH_OPEN.get_ptr_mut(0).map(|e| unsafe { &raw mut (*e).path }),
        Target::Exec => SCRATCH_EXEC.get_ptr_mut(0).map(|e| unsafe { &raw mut (*e).exe_path }),
    }
}

/// Records the path of `path_ptr` (a `struct path *`) into the scratch record `target`.
#[inline(always)]
pub fn walk_path(path_ptr: *const u8, target: Target) {
    let Some(out) = target_path(target) else { return };
    // SAFETY: valid per-CPU map value.
    let out = unsafe { &mut *out };
    out.depth = 0;
    out.flags = 0;
    let (Ok(dentry), Ok(vfsmnt)) =
        (read_ptr(path_ptr, off!(path_dentry)), read_ptr(path_ptr, off!(path_mnt)))
    else {
        out.flags = PATH_READ_ERROR;
        return;
    };
    let mut ctx = WalkCtx {
        dentry,
        vfsmnt,
        mnt: vfsmnt.wrapping_sub(off!(mount_mnt)),
        target,
        n: 0,
        flags: 0,
        done: 0,
    };
    // SAFETY: the callback has the signature bpf_loop expects; ctx outlives the call.
    unsafe {
        bpf_loop(MAX_WALK, walk_step as *mut c_void, (&raw mut ctx).cast(), 0);
    }
    if ctx.done == 0 {
        ctx.flags |= PATH_TRUNCATED;
    }
    out.depth = ctx.n;
    out.flags = ctx.flags;
}

/// One step of the walk: emit a name or cross a mount. Returns 1 to stop.
extern "C" fn walk_step(_index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop passes back the pointer given to it.
    let ctx = unsafe { &mut *ctx.cast::<WalkCtx>() };
    match step(ctx) {
        Ok(true) => {
            ctx.done = 1;
            1
        }
        Ok(false) => 0,
        Err(_) => {
            ctx.flags |= PATH_READ_ERROR;
            ctx.done = 1;
            1
        }
    }
}

#[inline(always)]
fn step(ctx: &mut WalkCtx) -> Result<bool, i64> {
    let mnt_root = read_ptr(ctx.vfsmnt, off!(vfsmount_mnt_root))?;
    let parent = read_ptr(ctx.dentry, off!(dentry_d_parent))?;
    if ctx.dentry == mnt_root || ctx.dentry == parent {
        let mnt_parent = read_ptr(ctx.mnt, off!(mount_mnt_parent))?;
        if ctx.dentry != mnt_root || mnt_parent == ctx.mnt {
            // Root of the mount namespace (or an unattached tree): done.
            return Ok(true);
        }
        ctx.dentry = read_ptr(ctx.mnt, off!(mount_mnt_mountpoint))?;
        ctx.mnt = mnt_parent;
        ctx.vfsmnt = mnt_parent.wrapping_add(off!(mount_mnt));
        return Ok(false);
    }
    let n = ctx.n as usize;
    if n >= MAX_DEPTH {
        ctx.flags |= PATH_TRUNCATED;
        return Ok(true);
    }
    let name = read_ptr(ctx.dentry, off!(dentry_d_name) + off!(qstr_name))?;
    let Some(out) = target_path(ctx.target) else { return Err(-2) };
    // SAFETY: valid per-CPU map value.
    let out = unsafe { &mut *out };
    if let Some(slot) = out.names.get_mut(n) {
        let len = read_str(name, slot)?;
        if len >= NAME_LEN - 1 {
            ctx.flags |= PATH_NAME_TRUNCATED;
        }
    }
    ctx.n += 1;
    ctx.dentry = parent;
    Ok(false)
}
