//! Kernel struct field offsets, read by the daemon from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`) and handed to the programs as a read-only global.

/// Byte offsets of the kernel struct fields the programs read. `valid` is 1 only when
/// userspace filled them; programs do nothing while it is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub valid: u32,
    /// Process id of the daemon itself: its own opens are ignored.
    pub self_tgid: u32,
    pub task_tgid: u32,
    pub task_pid: u32,
    pub task_real_parent: u32,
    pub task_group_leader: u32,
    pub task_files: u32,
    pub task_cred: u32,
    pub task_mm: u32,
    pub task_comm: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub task_start_boottime: u32,
    pub task_exit_code: u32,
    pub cred_uid: u32,
    pub cred_gid: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub files_fdt: u32,
    pub fdt_fd: u32,
    pub fdt_max_fds: u32,
    pub file_f_path: u32,
    pub file_f_inode: u32,
    pub file_f_flags: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub dentry_d_parent: u32,
    pub dentry_d_name: u32,
    pub qstr_name: u32,
    /// The dentry's inline name buffer (`d_shortname`, `d_iname` before 6.14).
    pub dentry_d_iname: u32,
    pub inode_i_ino: u32,
    pub inode_i_sb: u32,
    pub inode_i_mode: u32,
    pub inode_i_uid: u32,
    pub sb_s_dev: u32,
    /// Offset of `struct vfsmount mnt` inside `struct mount`.
    pub mount_mnt: u32,
    pub mount_mnt_parent: u32,
    pub mount_mnt_mountpoint: u32,
    pub vfsmount_mnt_root: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub bprm_file: u32,
    pub bprm_filename: u32,
    pub file_private_data: u32,
    pub socket_sk: u32,
    /// `sock_common.skc_rcv_saddr` (IPv4 local address).
    pub skc_rcv_saddr: u32,
    /// `sock_common.skc_num` (local port, host order).
    pub skc_num: u32,
    /// `sock_common.skc_v6_rcv_saddr`.
    pub skc_v6_rcv_saddr: u32,
    /// `sock_common.skc_family`.
    pub skc_family: u32,
    /// `pt_regs` members holding the first five syscall arguments (x86-64: di, si, dx,
    /// r10, r8), read at syscall exit.
    pub regs_arg: [u32; 5],
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]`, u32 fields only.
unsafe impl aya::Pod for KernelOffsets {}
