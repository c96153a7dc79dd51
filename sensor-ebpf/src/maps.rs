//! Maps shared by all programs. Userspace finds them by these names.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, RingBuf},
};
use sensor_common::{
    CONFIG_ENTRIES, DataEvent, ExecEvent, GATE_WORDS, INODE_BITS_WORDS, KernelOffsets, NAME_KEY_LEN,
    NameFilterValue, OpenEvent, STAT_COUNT,
};

/// All records for userspace. Size is replaced at load time (`--ringbuf-bytes`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-CPU counters (`sensor_common::stats`).
#[map]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_COUNT, 0);

/// Watched files: inode number → device (or `INODE_ANY_DEV`), filled by userspace.
#[map]
pub static INODE_FILTER: HashMap<u64, u32> = HashMap::with_max_entries(65536, 0);

/// Watched name components (exact or prefix), filled by userspace from the rules.
#[map]
pub static NAME_FILTER: LpmTrie<[u8; NAME_KEY_LEN], NameFilterValue> =
    LpmTrie::with_max_entries(4096, 1 /* BPF_F_NO_PREALLOC, required for LPM tries */);

/// Inode bitmap: bit `ino % INODE_BITS` is set for every watched inode, so most opens
/// skip the hash lookup of `INODE_FILTER`.
#[map]
pub static INODE_BITMAP: Array<u64> = Array::with_max_entries(INODE_BITS_WORDS, 0);

/// Name gate (`sensor_common::filter::gate_bit`): a name whose first (or, for
/// suffixes, last) two bytes no watched entry has is rejected without a string copy.
#[map]
pub static NAME_GATE: Array<u64> = Array::with_max_entries(GATE_WORDS, 0);

/// Per-CPU trie key for name lookups (68 bytes: too costly to build on the stack).
#[map]
pub static SCRATCH_NAME: PerCpuArray<aya_ebpf::maps::lpm_trie::Key<[u8; NAME_KEY_LEN]>> =
    PerCpuArray::with_max_entries(1, 0);

/// Per-CPU space where an open record is assembled before `bpf_ringbuf_output`.
#[map]
pub static SCRATCH_OPEN: PerCpuArray<OpenEvent> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU space where an exec record is assembled.
#[map]
pub static SCRATCH_EXEC: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU space where a request-head record is assembled.
#[map]
pub static SCRATCH_DATA: PerCpuArray<DataEvent> = PerCpuArray::with_max_entries(1, 0);

/// Run-time switches (`sensor_common::filter::CONFIG_*`).
#[map]
pub static CONFIG: Array<u64> = Array::with_max_entries(CONFIG_ENTRIES, 0);

/// Kernel struct offsets from the running kernel's BTF, set by the loader.
#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = KernelOffsets {
    valid: 0,
    self_tgid: 0,
    task_tgid: 0,
    task_pid: 0,
    task_real_parent: 0,
    task_group_leader: 0,
    task_files: 0,
    task_cred: 0,
    task_mm: 0,
    task_comm: 0,
    task_loginuid: 0,
    task_sessionid: 0,
    task_start_boottime: 0,
    task_exit_code: 0,
    cred_uid: 0,
    cred_gid: 0,
    cred_euid: 0,
    cred_egid: 0,
    files_fdt: 0,
    fdt_fd: 0,
    fdt_max_fds: 0,
    file_f_path: 0,
    file_f_inode: 0,
    file_f_flags: 0,
    path_mnt: 0,
    path_dentry: 0,
    dentry_d_parent: 0,
    dentry_d_name: 0,
    qstr_name: 0,
    dentry_d_iname: 0,
    inode_i_ino: 0,
    inode_i_sb: 0,
    inode_i_mode: 0,
    inode_i_uid: 0,
    sb_s_dev: 0,
    mount_mnt: 0,
    mount_mnt_parent: 0,
    mount_mnt_mountpoint: 0,
    vfsmount_mnt_root: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    bprm_file: 0,
    bprm_filename: 0,
    file_private_data: 0,
    socket_sk: 0,
    skc_rcv_saddr: 0,
    skc_num: 0,
    skc_v6_rcv_saddr: 0,
    skc_family: 0,
    regs_arg: [0; 5],
};

/// Reads one offset. Volatile so the compiler cannot fold the zero initial value.
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::maps::OFFSETS.$field) as usize }
    };
}
pub(crate) use off;

/// Adds one to a per-CPU counter.
#[inline(always)]
pub fn count(index: u32) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *slot += 1 };
    }
}

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

/// Bytes above the wake-up threshold within which records force a wake-up. A consumer
/// only sleeps once it has drained the ring, so a filling ring always passes through
/// this window (records are at most a few KiB), and a consumer that is already
/// draining a fuller ring is not signalled again for every record.
const WAKEUP_WINDOW: u64 = 64 * 1024;

/// Submit flags for every record: no wake-up of the consumer unless
/// `CONFIG_WAKEUP_BYTES` are waiting; userspace collects records on a short poll tick.
/// A wake-up is an irq_work (a self-IPI, a VM exit on virtual machines) in the
/// producing syscall: batching keeps it off the path of the program being observed.
#[inline(always)]
pub fn wakeup_flags() -> u64 {
    let threshold = CONFIG.get(sensor_common::CONFIG_WAKEUP_BYTES).copied().unwrap_or(0);
    if threshold == 0 {
        return 0;
    }
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA);
    if waiting >= threshold && waiting < threshold + WAKEUP_WINDOW {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// Copies the first `len` bytes of the scratch record at `rec` (`max` bytes long) into
/// the ring buffer: records with a variable tail (path components, captured bytes) send
/// only what they use. The header's `size` must already say `len`.
#[inline(always)]
pub fn output_prefix(rec: *const u8, len: usize, max: usize, flags: u64) -> Result<(), i32> {
    let len = if len > max { max } else { len };
    // SAFETY: `rec` is a per-CPU scratch record of `max` bytes and `len <= max`.
    let bytes = unsafe { core::slice::from_raw_parts(rec, len) };
    EVENTS.output::<[u8]>(bytes, flags)
}
