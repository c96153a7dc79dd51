//! Ring-buffer records. Every record starts with an [`EventHeader`].

/// Record kinds (`EventHeader::kind`).
pub const EVENT_EXEC: u32 = 1;
pub const EVENT_FORK: u32 = 2;
pub const EVENT_EXIT: u32 = 3;
pub const EVENT_OPEN: u32 = 4;
pub const EVENT_CONNECT: u32 = 5;
pub const EVENT_DATA: u32 = 6;
pub const EVENT_TRACE: u32 = 7;

/// `TraceEvent::syscall`.
pub const TRACE_PTRACE: u32 = 1;
pub const TRACE_VM_READV: u32 = 2;
pub const TRACE_VM_WRITEV: u32 = 3;
/// `keyctl(KEYCTL_GET_PERSISTENT, uid)` for another user's persistent keyring (where
/// Kerberos `KEYRING:persistent:<uid>` caches live); `target_pid` holds the uid.
pub const TRACE_KEYCTL_PERSISTENT: u32 = 4;

/// Bytes of an outbound request head copied by the kernel.
pub const DATA_CAP: usize = 4096;
/// Bytes of a socket address kept (`sockaddr_un` is the largest we read).
pub const SOCKADDR_CAP: usize = 112;

/// `DataEvent::source`: where the plaintext was captured.
pub const SRC_OPENSSL: u32 = 1;
pub const SRC_GNUTLS: u32 = 2;
pub const SRC_SENDTO: u32 = 3;
pub const SRC_SENDMSG: u32 = 4;
/// A DNS query sent with an explicit destination (unconnected UDP to port 53).
pub const SRC_DNS: u32 = 5;
/// The process configured a TLS client certificate (no data: a marker).
pub const SRC_CLIENT_CERT: u32 = 6;

/// Longest path component copied by the kernel (bytes, including the NUL).
pub const NAME_LEN: usize = 64;
/// Deepest path the kernel walks (components). Deeper paths are marked truncated.
pub const MAX_DEPTH: usize = 32;
/// Bytes of the `execve` filename argument copied.
pub const FILENAME_LEN: usize = 256;
/// Bytes of argv copied (NUL-separated, as in `/proc/<pid>/cmdline`).
pub const ARGS_LEN: usize = 1024;

/// `PathRec::flags`: the walk hit [`MAX_DEPTH`] before reaching the root.
pub const PATH_TRUNCATED: u32 = 1;
/// `PathRec::flags`: at least one component was longer than [`NAME_LEN`] - 1.
pub const PATH_NAME_TRUNCATED: u32 = 2;
/// `PathRec::flags`: a kernel read failed during the walk.
pub const PATH_READ_ERROR: u32 = 4;

/// `OpenEvent::matched`: why the kernel let this open through.
pub const MATCH_INODE: u32 = 1;
pub const MATCH_BASENAME: u32 = 2;
pub const MATCH_ANCESTOR: u32 = 4;
pub const MATCH_PASS_ALL: u32 = 8;
pub const MATCH_SUFFIX: u32 = 16;

/// `OpenEvent::syscall`: which syscall opened the file.
pub const SYS_OPEN: u32 = 1;
pub const SYS_OPENAT: u32 = 2;
pub const SYS_OPENAT2: u32 = 3;
pub const SYS_CREAT: u32 = 4;

/// Identity of the task that caused the event, read from `task_struct` in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TaskInfo {
    /// Process id (`task->tgid`).
    pub tgid: u32,
    /// Thread id (`task->pid`).
    pub pid: u32,
    /// Parent process id (`task->real_parent->tgid`).
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    /// Audit login uid (`u32::MAX` when unset).
    pub loginuid: u32,
    /// Audit session id (`u32::MAX` when unset).
    pub sessionid: u32,
    pub _pad0: u32,
    /// `group_leader->start_boottime` in ns: with `tgid`, identifies the process.
    pub start_boottime_ns: u64,
    pub comm: [u8; 16],
}

/// Common prefix of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EventHeader {
    /// One of the `EVENT_*` constants.
    pub kind: u32,
    /// Total record size in bytes (header included).
    pub size: u32,
    /// `bpf_ktime_get_boot_ns()` when the event happened.
    pub ts_boot_ns: u64,
    pub task: TaskInfo,
}

/// A path as the kernel sees it: dentry names from the file up to the root of its
/// mount namespace, crossing mount points. `names[0]` is the file's own name.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PathRec {
    /// Number of valid entries in `names`.
    pub depth: u32,
    /// `PATH_*` flags.
    pub flags: u32,
    pub names: [[u8; NAME_LEN]; MAX_DEPTH],
}

/// `execve` completed (`sched_process_exec`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Kernel `s_dev` (major<<20|minor) of the executable.
    pub exe_dev: u32,
    /// Bytes valid in `args`.
    pub args_len: u32,
    pub exe_ino: u64,
    /// 1 when argv was longer than [`ARGS_LEN`].
    pub args_truncated: u32,
    pub _pad0: u32,
    /// The filename argument of execve, as passed.
    pub filename: [u8; FILENAME_LEN],
    /// NUL-separated argv.
    pub args: [u8; ARGS_LEN],
    /// Resolved path of the executable file.
    pub exe_path: PathRec,
}

/// A new process (not a thread) was created (`sched_process_fork`). The header's task
/// is the parent.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ForkEvent {
    pub header: EventHeader,
    pub child_tgid: u32,
    pub _pad0: u32,
    pub child_start_boottime_ns: u64,
}

/// A process exited (`sched_process_exit` of the thread-group leader).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    pub header: EventHeader,
    /// Raw `task->exit_code` (status << 8 | signal).
    pub exit_code: u32,
    pub _pad0: u32,
}

/// A file was opened successfully and passed the kernel prefilter.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenEvent {
    pub header: EventHeader,
    /// `SYS_*` constant.
    pub syscall: u32,
    /// Returned file descriptor.
    pub fd: i32,
    /// `file->f_flags` (O_* flags as the file was opened).
    pub flags: u32,
    /// `MATCH_*` bits.
    pub matched: u32,
    /// Kernel `s_dev` of the file's superblock (major<<20|minor).
    pub dev: u32,
    /// `inode->i_mode`.
    pub mode: u32,
    pub ino: u64,
    /// Owner of the file (`inode->i_uid`).
    pub owner_uid: u32,
    pub _pad0: u32,
    pub path: PathRec,
}

/// Bytes of an [`OpenEvent`] before its path components: the kernel sends these, then
/// only the `path.depth` names it walked.
pub const OPEN_FIXED_LEN: usize =
    core::mem::offset_of!(OpenEvent, path) + core::mem::offset_of!(PathRec, names);

/// A `connect(2)` finished (AF_INET, AF_INET6 or AF_UNIX).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ConnectEvent {
    pub header: EventHeader,
    pub fd: i32,
    /// Syscall result (0, or -errno; -EINPROGRESS for non-blocking sockets).
    pub ret: i32,
    /// Bytes valid in `sockaddr`.
    pub addr_len: u32,
    /// Local port the socket got (host order), 0 when unknown.
    pub local_port: u32,
    /// Local address (IPv4 in the first 4 bytes when `local_family` is AF_INET).
    pub local_addr: [u8; 16],
    pub local_family: u32,
    pub _pad0: u32,
    /// The `struct sockaddr` as passed by the caller.
    pub sockaddr: [u8; SOCKADDR_CAP],
}

/// The head of an outbound write that begins like a client request.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DataEvent {
    pub header: EventHeader,
    /// `SRC_*`.
    pub source: u32,
    /// Socket fd for send*, -1 for TLS libraries.
    pub fd: i32,
    /// Connection identity: the `SSL*` / `gnutls_session_t`, or the fd.
    pub conn: u64,
    /// Bytes the caller wrote.
    pub len: u32,
    /// Bytes valid in `data`.
    pub captured: u32,
    pub data: [u8; DATA_CAP],
}

/// Bytes of a [`DataEvent`] before its captured bytes: the kernel sends these, then only
/// the `captured` bytes.
pub const DATA_FIXED_LEN: usize = core::mem::offset_of!(DataEvent, data);

/// `ptrace` attach/seize or `process_vm_readv`/`writev` against another process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TraceEvent {
    pub header: EventHeader,
    /// `TRACE_*`.
    pub syscall: u32,
    /// The ptrace request (0 for process_vm_*).
    pub request: u32,
    /// The target process; for [`TRACE_KEYCTL_PERSISTENT`] the target uid.
    pub target_pid: u32,
    pub _pad0: u32,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are `#[repr(C)]`, contain only integers and arrays of
    // integers, and have no implicit padding (explicit `_pad` fields).
    unsafe impl aya::Pod for super::TaskInfo {}
    unsafe impl aya::Pod for super::EventHeader {}
    unsafe impl aya::Pod for super::ForkEvent {}
    unsafe impl aya::Pod for super::ExitEvent {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(size_of::<TaskInfo>(), 10 * 4 + 8 + 16);
        assert_eq!(size_of::<EventHeader>(), 16 + size_of::<TaskInfo>());
        assert_eq!(size_of::<PathRec>(), 8 + NAME_LEN * MAX_DEPTH);
        assert_eq!(
            size_of::<ExecEvent>(),
            size_of::<EventHeader>() + 24 + FILENAME_LEN + ARGS_LEN + size_of::<PathRec>()
        );
        assert_eq!(size_of::<ForkEvent>(), size_of::<EventHeader>() + 16);
        assert_eq!(size_of::<ExitEvent>(), size_of::<EventHeader>() + 8);
        assert_eq!(size_of::<OpenEvent>(), size_of::<EventHeader>() + 40 + size_of::<PathRec>());
        assert_eq!(size_of::<ConnectEvent>(), size_of::<EventHeader>() + 40 + SOCKADDR_CAP);
        assert_eq!(size_of::<DataEvent>(), size_of::<EventHeader>() + 24 + DATA_CAP);
    }
}
