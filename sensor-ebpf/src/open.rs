//! File opens: decide in the kernel whether the opened file can be a credential store
//! (watched inode, watched name, watched ancestor directory) and only then emit it with
//! its real identity (dev, inode) and resolved path.

use aya_ebpf::{
    helpers::{bpf_get_current_task_btf, bpf_get_current_uid_gid},
    macros::tracepoint,
    maps::lpm_trie::Key,
    programs::TracePointContext,
};
use sensor_common::{
    CONFIG_ANCESTOR_MASK, CONFIG_FLAGS, EVENT_OPEN, FLAG_PASS_ALL_OPENS, FLAG_SUFFIXES, GATE_ANCESTOR,
    GATE_BASENAME, GATE_SUFFIX, INODE_ANY_DEV, INODE_BITS, MATCH_ANCESTOR, MATCH_BASENAME, MATCH_INODE,
    MATCH_PASS_ALL, MATCH_SUFFIX, MAX_ANCESTOR_DEPTH, MAX_DEPTH, MAX_SUFFIX, NAME_KEY_LEN, NAME_LEN,
    OPEN_FIXED_LEN, OpenEvent, POS_BASENAME, POS_FOREIGN_OWNER, POS_SUFFIX, STAT_DROP_OPEN,
    STAT_OPEN_EMITTED, STAT_OPEN_FAILED, STAT_OPEN_FILTERED, STAT_READ_ERROR, STAT_SELF_SKIPPED,
    SUFFIX_MARKER, SYS_CREAT, SYS_OPEN, SYS_OPENAT, SYS_OPENAT2, gate_bit,
};

use crate::{
    kread::{read, read_ptr, read_str},
    maps::{
        CONFIG, INODE_BITMAP, INODE_FILTER, NAME_FILTER, NAME_GATE, SCRATCH_NAME, SCRATCH_OPEN, count, off,
        output_prefix, wakeup_flags,
    },
    path::{Target, walk_path},
    task::{fill_header, is_self, sys_exit_ret},
};

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
    let ret = sys_exit_ret(ctx)?;
    if ret < 0 {
        count(STAT_OPEN_FAILED);
        return Ok(());
    }
    if is_self() {
        count(STAT_SELF_SKIPPED);
        return Ok(());
    }
    // SAFETY: plain helper call. The task comes typed (BTF), so the pointers down to
    // the fd array are plain loads the verifier checks against the kernel's BTF
    // (offsets are constants of the frozen read-only OFFSETS).
    let task = unsafe { bpf_get_current_task_btf() } as *const u8;
    let files = btf_load(task, off!(task_files));
    let fdt = btf_load(files, off!(files_fdt));
    let fd_array = btf_load(fdt, off!(fdt_fd));
    if fd_array.is_null() {
        return Err(-14);
    }
    let file = read_ptr(fd_array, (ret as usize) * 8)?;
    let (inode, dentry) = file_inode_dentry(file)?;
    let ino = read::<u64>(inode, off!(inode_i_ino))?;
    let f_path = file.wrapping_add(off!(file_f_path));

    let matched = prefilter(inode, ino, dentry)?;
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
    // Only the path components the walk filled travel.
    let depth = (e.path.depth as usize).min(MAX_DEPTH);
    let len = OPEN_FIXED_LEN + depth * NAME_LEN;
    e.header.size = len as u32;
    if output_prefix(ev as *const u8, len, size_of::<OpenEvent>(), wakeup_flags()).is_err() {
        count(STAT_DROP_OPEN);
    } else {
        count(STAT_OPEN_EMITTED);
    }
    Ok(())
}

/// Loads the pointer at `base + off` of a BTF-typed kernel object: a plain load the
/// kernel turns into a fault-safe one (zero when `base` is bad).
#[inline(always)]
fn btf_load(base: *const u8, off: usize) -> *const u8 {
    // SAFETY: `base` is a BTF pointer and `off` a member offset from BTF; the verifier
    // checks the access and the JIT makes it fault-safe.
    unsafe { core::ptr::read_volatile(base.wrapping_add(off) as *const *const u8) }
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

/// Whether some watched entry of `class` has these two bytes (see `gate_bit`).
#[inline(always)]
fn gate(class: u32, first: u8, second: u8) -> bool {
    let (word, bit) = gate_bit(class, first, second);
    NAME_GATE.get(word).is_some_and(|w| (*w >> bit) & 1 != 0)
}

/// This CPU's trie key, its length set to the whole buffer.
#[inline(always)]
fn name_key() -> Result<&'static mut Key<[u8; NAME_KEY_LEN]>, i64> {
    let key = SCRATCH_NAME.get_ptr_mut(0).ok_or(-2i64)?;
    // SAFETY: this CPU's scratch slot, used by one program run at a time.
    let key = unsafe { &mut *key };
    key.prefix_len = (NAME_KEY_LEN * 8) as u32;
    Ok(key)
}

/// Whether the inode number's bit is set in the inode bitmap (then the exact map decides).
#[inline(always)]
fn inode_maybe_watched(ino: u64) -> bool {
    let bit = ino & (INODE_BITS - 1);
    INODE_BITMAP.get((bit / 64) as u32).is_some_and(|w| (*w >> (bit % 64)) & 1 != 0)
}

/// `file->f_inode` and `file->f_path.dentry`, in one read when they lie within 48 bytes
/// of each other (they do on every recent kernel).
#[inline(always)]
fn file_inode_dentry(file: *const u8) -> Result<(*const u8, *const u8), i64> {
    let i = off!(file_f_inode);
    let d = off!(file_f_path) + off!(path_dentry);
    let (inode, dentry) = if d > i && d - i < 48 && (d - i) % 8 == 0 {
        let w: [u64; 6] = read(file, i)?;
        (w[0] as *const u8, w[((d - i) / 8).min(5)] as *const u8)
    } else {
        (read_ptr(file, i)?, read_ptr(file, d)?)
    };
    if inode.is_null() || dentry.is_null() {
        return Err(-14);
    }
    Ok((inode, dentry))
}

/// A dentry's parent and name: the length, the address of the bytes and the first 16
/// bytes (NUL-padded past the end for short names).
struct Name {
    parent: *const u8,
    len: usize,
    bytes: *const u8,
    head: [u8; 16],
}

/// Reads a dentry's parent and name. `d_parent`, `d_name` and the inline name buffer
/// follow each other in `struct dentry`, so a short name costs one 48-byte read; the
/// length is the upper half of `qstr.hash_len` (little-endian kernels).
#[inline(always)]
fn dentry_name(dentry: *const u8) -> Result<Name, i64> {
    let p = off!(dentry_d_parent);
    let n = off!(dentry_d_name);
    let inl = off!(dentry_d_iname);
    let q = off!(qstr_name);
    let (parent, hash_len, bytes, inline_head) =
        if n == p + 8 && q == 8 && inl >= n + 16 && inl + 16 <= p + 48 {
            let w: [u64; 6] = read(dentry, p)?;
            let k = ((inl - p) / 8).min(4);
            (w[0] as *const u8, w[1], w[2] as *const u8, Some([w[k], w[k + 1]]))
        } else {
            let qs: [u64; 2] = read(dentry, n)?;
            (read_ptr(dentry, p)?, qs[0], qs[(q / 8) & 1] as *const u8, None)
        };
    if bytes.is_null() {
        return Err(-14);
    }
    let head: [u8; 16] = match inline_head {
        Some(w) if bytes == dentry.wrapping_add(inl) => {
            let mut h = [0u8; 16];
            h[..8].copy_from_slice(&w[0].to_le_bytes());
            h[8..].copy_from_slice(&w[1].to_le_bytes());
            h
        }
        _ => read(bytes, 0)?,
    };
    Ok(Name { parent, len: (hash_len >> 32) as usize, bytes, head })
}

/// The last two bytes of a name, from its head when it is short enough.
#[inline(always)]
fn tail(name: &Name) -> Result<[u8; 2], i64> {
    match name.len {
        0 => Ok([0, 0]),
        1 => Ok([0, name.head[0]]),
        l if l <= 16 => Ok([name.head[(l - 2) & 15], name.head[(l - 1) & 15]]),
        l => read(name.bytes, l - 2),
    }
}

/// Returns the `MATCH_*` reason this open may be a credential store, or 0. Every name
/// passes the gate first: an unrelated open ends after a few reads, with no string copy
/// and no trie walk.
#[inline(always)]
fn prefilter(inode: *const u8, ino: u64, dentry: *const u8) -> Result<u32, i64> {
    if inode_maybe_watched(ino) {
        // SAFETY: read-only lookup of a plain value.
        if let Some(&watched_dev) = unsafe { INODE_FILTER.get(&ino) } {
            let sb = read_ptr(inode, off!(inode_i_sb))?;
            if watched_dev == INODE_ANY_DEV || read::<u32>(sb, off!(sb_s_dev))? == watched_dev {
                return Ok(MATCH_INODE);
            }
        }
    }
    if config(CONFIG_FLAGS) & FLAG_PASS_ALL_OPENS != 0 {
        return Ok(MATCH_PASS_ALL);
    }
    let own = dentry_name(dentry)?;
    // The trie key lives in per-CPU scratch, touched only when a gate lets a name on:
    // nothing to zero (entries end at the name's NUL, so bytes after it never matter).
    let mut copied = None;
    if gate(GATE_BASENAME, own.head[0], own.head[1]) {
        let key = name_key()?;
        let n = read_str(own.bytes, &mut key.data)?;
        copied = Some(n);
        if let Some(v) = NAME_FILTER.get(key) {
            if v.positions & POS_BASENAME != 0
                && (v.positions & POS_FOREIGN_OWNER == 0 || foreign_owner(inode)?)
            {
                return Ok(MATCH_BASENAME);
            }
        }
    }
    if config(CONFIG_FLAGS) & FLAG_SUFFIXES != 0 {
        let t = tail(&own)?;
        if gate(GATE_SUFFIX, t[1], t[0]) {
            let key = name_key()?;
            let n = match copied {
                Some(n) => n,
                None => read_str(own.bytes, &mut key.data)?,
            };
            if suffix_watched(&key.data, n) {
                return Ok(MATCH_SUFFIX);
            }
        }
    }
    let ancestors = config(CONFIG_ANCESTOR_MASK) as u32;
    let mut current = dentry;
    let mut parent = own.parent;
    for depth in 1..=MAX_ANCESTOR_DEPTH {
        if ancestors >> depth == 0 || parent.is_null() || parent == current {
            break;
        }
        current = parent;
        let dir = dentry_name(current)?;
        parent = dir.parent;
        let bit = 1u32 << depth;
        if ancestors & bit == 0 || !gate(GATE_ANCESTOR, dir.head[0], dir.head[1]) {
            continue;
        }
        let key = name_key()?;
        read_str(dir.bytes, &mut key.data)?;
        if let Some(v) = NAME_FILTER.get(key) {
            if v.positions & bit != 0 {
                return Ok(MATCH_ANCESTOR);
            }
        }
    }
    Ok(0)
}
