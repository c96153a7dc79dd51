//! Stage 2: raw ring-buffer records → typed events. Every record is checked for length
//! and kind before any field is read, and read with `read_unaligned`; a malformed
//! record is counted and skipped, never trusted.

pub mod http;
mod path;

use std::mem::size_of;

use sensor_common::{
    ARGS_LEN, ConnectEvent, DATA_CAP, DATA_FIXED_LEN, DataEvent, EVENT_CONNECT, EVENT_DATA, EVENT_EXEC,
    EVENT_EXIT, EVENT_FORK, EVENT_OPEN, EVENT_TRACE, EventHeader, ExecEvent, ExitEvent, ForkEvent, MAX_DEPTH,
    NAME_LEN, OPEN_FIXED_LEN, OpenEvent, PathRec, TaskInfo, TraceEvent,
};

pub use path::{KernelPath, cstr_lossy};
pub use sockaddr::{Endpoint, parse_sockaddr};

mod sockaddr;

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than a header")]
    Short(usize),
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("record kind {kind} needs {need} bytes, got {got}")]
    Truncated { kind: u32, need: usize, got: usize },
    #[error("record header says {claimed} bytes, buffer has {got}")]
    SizeMismatch { claimed: usize, got: usize },
}

/// Who did it: the task identity the kernel read at the time of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    /// `None` when the audit login uid is unset.
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    pub start_boottime_ns: u64,
    pub comm: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub task: Task,
    pub ts_boot_ns: u64,
    pub filename: String,
    pub executable: KernelPath,
    pub exe_dev: u32,
    pub exe_ino: u64,
    pub args: Vec<String>,
    pub args_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    pub parent: Task,
    pub ts_boot_ns: u64,
    pub child_tgid: u32,
    pub child_start_boottime_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub task: Task,
    pub ts_boot_ns: u64,
    pub exit_code: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub task: Task,
    pub ts_boot_ns: u64,
    pub syscall: u32,
    pub fd: i32,
    pub flags: u32,
    pub matched: u32,
    pub dev: u32,
    pub ino: u64,
    pub mode: u32,
    pub owner_uid: u32,
    pub path: KernelPath,
}

/// A `connect(2)` and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub task: Task,
    pub ts_boot_ns: u64,
    pub fd: i32,
    pub ret: i32,
    pub endpoint: Endpoint,
    /// Local address and port of the socket, when the kernel had them.
    pub local: Option<(std::net::IpAddr, u16)>,
}

/// The head of an outbound request (plaintext, before any TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub task: Task,
    pub ts_boot_ns: u64,
    /// `sensor_common::SRC_*`.
    pub source: u32,
    pub fd: i32,
    pub conn: u64,
    /// Bytes the program wrote (may exceed what was captured).
    pub len: u32,
    pub bytes: Vec<u8>,
}

/// `ptrace` attach/seize or `process_vm_readv`/`writev` against another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub task: Task,
    pub ts_boot_ns: u64,
    /// `sensor_common::TRACE_*`.
    pub syscall: u32,
    pub request: u32,
    pub target_pid: u32,
}

/// A decoded kernel record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Trace(Trace),
    Exec(Exec),
    Fork(Fork),
    Exit(Exit),
    Open(Open),
    Connect(Connect),
    Data(Data),
}

impl Event {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::Exec(_) => "exec",
            Event::Fork(_) => "fork",
            Event::Exit(_) => "exit",
            Event::Open(_) => "open",
            Event::Connect(_) => "connect",
            Event::Data(_) => "data",
            Event::Trace(_) => "trace",
        }
    }
}

/// Reads a `T` from the start of `buf` after checking its length.
fn read_record<T: Copy>(buf: &[u8], kind: u32) -> Result<T, DecodeError> {
    field(buf, 0, kind)
}

/// Reads a `T` at `off` in `buf` (bounds checked) without copying the rest of the
/// record: records with a variable tail are decoded field by field.
fn field<T: Copy>(buf: &[u8], off: usize, kind: u32) -> Result<T, DecodeError> {
    let need = off + size_of::<T>();
    let bytes = buf.get(off..need).ok_or(DecodeError::Truncated { kind, need, got: buf.len() })?;
    // SAFETY: `bytes` holds size_of::<T>() bytes; T is an integer or a `#[repr(C)]`
    // record of integers, valid for any bit pattern; read_unaligned has no alignment
    // requirement.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

fn task(t: &TaskInfo) -> Task {
    let opt = |v: u32| (v != u32::MAX).then_some(v);
    Task {
        tgid: t.tgid,
        tid: t.pid,
        ppid: t.ppid,
        uid: t.uid,
        gid: t.gid,
        euid: t.euid,
        egid: t.egid,
        loginuid: opt(t.loginuid),
        sessionid: opt(t.sessionid),
        start_boottime_ns: t.start_boottime_ns,
        comm: cstr_lossy(&t.comm),
    }
}

/// Splits NUL-separated argv.
fn split_args(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

fn local_endpoint(family: u32, addr: &[u8; 16], port: u32) -> Option<(std::net::IpAddr, u16)> {
    let port = u16::try_from(port).ok().filter(|p| *p != 0)?;
    match family {
        2 => Some((std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).into(), port)),
        10 => {
            let v6 = std::net::Ipv6Addr::from(*addr);
            Some((v6.to_ipv4_mapped().map_or(v6.into(), Into::into), port))
        }
        _ => None,
    }
}

/// Decodes one ring-buffer record.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
    let hdr: EventHeader = read_record(buf, 0).map_err(|_| DecodeError::Short(buf.len()))?;
    let claimed = hdr.size as usize;
    if claimed > buf.len() {
        return Err(DecodeError::SizeMismatch { claimed, got: buf.len() });
    }
    let buf = &buf[..claimed];
    match hdr.kind {
        EVENT_EXEC => {
            let e: ExecEvent = read_record(buf, hdr.kind)?;
            let args_len = (e.args_len as usize).min(ARGS_LEN);
            Ok(Event::Exec(Exec {
                task: task(&e.header.task),
                ts_boot_ns: e.header.ts_boot_ns,
                filename: cstr_lossy(&e.filename),
                executable: KernelPath::from_rec(&e.exe_path),
                exe_dev: e.exe_dev,
                exe_ino: e.exe_ino,
                args: split_args(&e.args[..args_len]),
                args_truncated: e.args_truncated != 0,
            }))
        }
        EVENT_FORK => {
            let e: ForkEvent = read_record(buf, hdr.kind)?;
            Ok(Event::Fork(Fork {
                parent: task(&e.header.task),
                ts_boot_ns: e.header.ts_boot_ns,
                child_tgid: e.child_tgid,
                child_start_boottime_ns: e.child_start_boottime_ns,
            }))
        }
        EVENT_EXIT => {
            let e: ExitEvent = read_record(buf, hdr.kind)?;
            Ok(Event::Exit(Exit {
                task: task(&e.header.task),
                ts_boot_ns: e.header.ts_boot_ns,
                exit_code: e.exit_code,
            }))
        }
        EVENT_OPEN => {
            // The kernel sends the fixed part, then only the path components it walked.
            use std::mem::offset_of;
            let kind = hdr.kind;
            if buf.len() < OPEN_FIXED_LEN {
                return Err(DecodeError::Truncated { kind, need: OPEN_FIXED_LEN, got: buf.len() });
            }
            let at = |f: usize| offset_of!(OpenEvent, path) + f;
            let depth: u32 = field(buf, at(offset_of!(PathRec, depth)), kind)?;
            let path_flags: u32 = field(buf, at(offset_of!(PathRec, flags)), kind)?;
            let need = OPEN_FIXED_LEN + (depth as usize).min(MAX_DEPTH) * NAME_LEN;
            let names =
                buf.get(OPEN_FIXED_LEN..need).ok_or(DecodeError::Truncated { kind, need, got: buf.len() })?;
            Ok(Event::Open(Open {
                task: task(&hdr.task),
                ts_boot_ns: hdr.ts_boot_ns,
                syscall: field(buf, offset_of!(OpenEvent, syscall), kind)?,
                fd: field(buf, offset_of!(OpenEvent, fd), kind)?,
                flags: field(buf, offset_of!(OpenEvent, flags), kind)?,
                matched: field(buf, offset_of!(OpenEvent, matched), kind)?,
                dev: field(buf, offset_of!(OpenEvent, dev), kind)?,
                ino: field(buf, offset_of!(OpenEvent, ino), kind)?,
                mode: field(buf, offset_of!(OpenEvent, mode), kind)?,
                owner_uid: field(buf, offset_of!(OpenEvent, owner_uid), kind)?,
                path: KernelPath::from_names(depth, path_flags, names),
            }))
        }
        EVENT_CONNECT => {
            let e: ConnectEvent = read_record(buf, hdr.kind)?;
            let n = (e.addr_len as usize).min(e.sockaddr.len());
            Ok(Event::Connect(Connect {
                task: task(&e.header.task),
                ts_boot_ns: e.header.ts_boot_ns,
                fd: e.fd,
                ret: e.ret,
                endpoint: parse_sockaddr(&e.sockaddr[..n]),
                local: local_endpoint(e.local_family, &e.local_addr, e.local_port),
            }))
        }
        EVENT_DATA => {
            // The fixed part, then only the bytes captured.
            use std::mem::offset_of;
            let kind = hdr.kind;
            let captured: u32 = field(buf, offset_of!(DataEvent, captured), kind)?;
            let need = DATA_FIXED_LEN + (captured as usize).min(DATA_CAP);
            let bytes =
                buf.get(DATA_FIXED_LEN..need).ok_or(DecodeError::Truncated { kind, need, got: buf.len() })?;
            Ok(Event::Data(Data {
                task: task(&hdr.task),
                ts_boot_ns: hdr.ts_boot_ns,
                source: field(buf, offset_of!(DataEvent, source), kind)?,
                fd: field(buf, offset_of!(DataEvent, fd), kind)?,
                conn: field(buf, offset_of!(DataEvent, conn), kind)?,
                len: field(buf, offset_of!(DataEvent, len), kind)?,
                bytes: bytes.to_vec(),
            }))
        }
        EVENT_TRACE => {
            let e: TraceEvent = read_record(buf, hdr.kind)?;
            Ok(Event::Trace(Trace {
                task: task(&e.header.task),
                ts_boot_ns: e.header.ts_boot_ns,
                syscall: e.syscall,
                request: e.request,
                target_pid: e.target_pid,
            }))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests;
