//! Loads `sensor-ebpf` with offsets from the running kernel's BTF and attaches every hook.

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, TracePoint, UProbe},
};
use sensor_common::{NAME_KEY_LEN, NameFilterValue};

use super::{btf, mounts};

/// The kernel programs, built by `build.rs` (empty when built with AYA_BUILD_SKIP=1).
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf"));

/// Syscall tracepoints for file opens (exit only: the result carries the fd).
pub const OPEN_TRACEPOINTS: [&str; 4] =
    ["sys_exit_open", "sys_exit_openat", "sys_exit_openat2", "sys_exit_creat"];
/// Socket-only syscalls: connections and plaintext request heads. Every syscall hook is
/// an exit hook (arguments come from the saved registers): attaching any `sys_enter_*`
/// tracepoint would make every syscall of every task run the enter-tracing path too.
pub const NET_TRACEPOINTS: [&str; 3] = ["sys_exit_connect", "sys_exit_sendto", "sys_exit_sendmsg"];
/// Cross-process memory access and other users' keyrings.
pub const TRACE_TRACEPOINTS: [&str; 4] =
    ["sys_exit_ptrace", "sys_exit_process_vm_readv", "sys_exit_process_vm_writev", "sys_exit_keyctl"];
/// Typed scheduler tracepoints for the process table.
pub const PROCESS_TRACEPOINTS: [&str; 3] = ["sched_process_exec", "sched_process_fork", "sched_process_exit"];

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "this binary was built without its eBPF programs (AYA_BUILD_SKIP); rebuild with `cargo xtask build`"
    )]
    NoObject,
    #[error("loading eBPF needs root (CAP_BPF and CAP_PERFMON); running as uid {0}")]
    NotRoot(u32),
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    #[error(transparent)]
    Mount(#[from] mounts::MountError),
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program { name: String, source: aya::programs::ProgramError },
    #[error("map {0} missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("map {name}: {source}")]
    Map { name: &'static str, source: aya::maps::MapError },
    #[error("kernel BTF for typed tracepoints: {0}")]
    KernelBtf(#[from] aya::BtfError),
}

/// Loaded, attached programs and the maps userspace uses.
pub struct Probes {
    /// Keeps programs (and their links) alive; dropping detaches everything.
    ebpf: Ebpf,
    /// Taken by the daemon to wait on it.
    pub events: Option<RingBuf<MapData>>,
    pub stats: PerCpuArray<MapData, u64>,
    pub inode_filter: HashMap<MapData, u64, u32>,
    pub name_filter: LpmTrie<MapData, [u8; NAME_KEY_LEN], NameFilterValue>,
    pub config: Array<MapData, u64>,
    pub name_gate: Array<MapData, u64>,
    /// What `name_gate` holds, so that updates write only the words that change.
    pub gate: Vec<u64>,
    pub inode_bitmap: Array<MapData, u64>,
    /// What `inode_bitmap` holds.
    pub inode_bits: Vec<u64>,
    /// Names of the attached hooks, for the start-up state event.
    pub attached: Vec<String>,
    /// Do-nothing programs on the sensor's hooks (`bench-floor`).
    empty: bool,
}

/// Options for [`Probes::load`].
pub struct LoadOptions {
    /// Ring-buffer size in bytes (power of two, multiple of the page size).
    pub ringbuf_bytes: u32,
    /// Attach the do-nothing programs of `sensor-ebpf/src/empty.rs` to the same hooks
    /// instead of the sensor's (`tokenwarden bench-floor`: the cost of the mechanism).
    pub empty: bool,
}

/// The do-nothing program standing in for every classic tracepoint in empty mode.
const EMPTY_TRACEPOINT: &str = "empty_tracepoint";
/// The do-nothing program standing in for every uprobe in empty mode.
const EMPTY_UPROBE: &str = "empty_uprobe";

impl Probes {
    /// Loads and attaches every program. Fails with an error naming what is missing.
    pub fn load(opts: &LoadOptions) -> Result<Self, ProbeError> {
        if EBPF_OBJECT.is_empty() {
            return Err(ProbeError::NoObject);
        }
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(ProbeError::NotRoot(euid));
        }
        mounts::ensure_tracefs()?;
        let offsets = btf::kernel_offsets(std::process::id())?;
        let mut ebpf = EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .map_max_entries("EVENTS", opts.ringbuf_bytes)
            .load(EBPF_OBJECT)?;
        let kernel_btf = aya::Btf::from_sys_fs()?;
        let mut attached = Vec::new();
        for name in PROCESS_TRACEPOINTS {
            let empty_name = format!("empty_{name}");
            let prog_name = if opts.empty { empty_name.as_str() } else { name };
            let prog: &mut BtfTracePoint = program(&mut ebpf, prog_name)?;
            let wrap = |source| ProbeError::Program { name: prog_name.into(), source };
            prog.load(name, &kernel_btf).map_err(wrap)?;
            prog.attach().map_err(wrap)?;
            attached.push(format!("tp_btf/{name}"));
        }
        let uprobes: &[&str] = if opts.empty { &[EMPTY_UPROBE] } else { &crate::probes::tls::TLS_PROGRAMS };
        for &name in uprobes {
            let prog: &mut UProbe = program(&mut ebpf, name)?;
            prog.load().map_err(|source| ProbeError::Program { name: name.into(), source })?;
        }
        if opts.empty {
            let prog: &mut TracePoint = program(&mut ebpf, EMPTY_TRACEPOINT)?;
            prog.load().map_err(|source| ProbeError::Program { name: EMPTY_TRACEPOINT.into(), source })?;
        }
        for name in syscall_tracepoints() {
            let prog_name = if opts.empty { EMPTY_TRACEPOINT } else { name };
            let prog: &mut TracePoint = program(&mut ebpf, prog_name)?;
            let wrap = |source| ProbeError::Program { name: name.into(), source };
            if !opts.empty {
                prog.load().map_err(wrap)?;
            }
            prog.attach("syscalls", name).map_err(wrap)?;
            attached.push(format!("tracepoint/syscalls/{name}"));
        }
        Ok(Self {
            events: Some(take_map(&mut ebpf, "EVENTS")?),
            stats: take_map(&mut ebpf, "STATS")?,
            inode_filter: take_map(&mut ebpf, "INODE_FILTER")?,
            name_filter: take_map(&mut ebpf, "NAME_FILTER")?,
            config: take_map(&mut ebpf, "CONFIG")?,
            name_gate: take_map(&mut ebpf, "NAME_GATE")?,
            gate: vec![0; sensor_common::GATE_WORDS as usize],
            inode_bitmap: take_map(&mut ebpf, "INODE_BITMAP")?,
            inode_bits: vec![0; sensor_common::INODE_BITS_WORDS as usize],
            ebpf,
            attached,
            empty: opts.empty,
        })
    }
}

/// Every classic syscall tracepoint the sensor attaches.
pub fn syscall_tracepoints() -> impl Iterator<Item = &'static str> {
    OPEN_TRACEPOINTS.iter().chain(NET_TRACEPOINTS.iter()).chain(TRACE_TRACEPOINTS.iter()).copied()
}

impl Probes {
    /// A loaded program by name (for attaching more targets later).
    pub fn program_mut<'a, T>(&'a mut self, name: &str) -> Result<&'a mut T, ProbeError>
    where
        &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
    {
        program(&mut self.ebpf, name)
    }

    /// The uprobe program to attach for `name`: the do-nothing one in empty mode.
    pub fn uprobe_mut(&mut self, name: &str) -> Result<&mut UProbe, ProbeError> {
        let name = if self.empty { EMPTY_UPROBE } else { name };
        program(&mut self.ebpf, name)
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, ProbeError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or_else(|| ProbeError::Program {
        name: name.into(),
        source: aya::programs::ProgramError::UnexpectedProgramType,
    })?;
    prog.try_into().map_err(|source| ProbeError::Program { name: name.into(), source })
}

fn take_map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, ProbeError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or(ProbeError::MissingMap(name))?;
    T::try_from(map).map_err(|source| ProbeError::Map { name, source })
}
