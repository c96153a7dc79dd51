//! Micro workloads: one system call pattern in a loop in this process, timed per
//! operation. libc directly, so that nothing but the system calls is measured.

use std::{
    ffi::CStr,
    io,
    net::{SocketAddrV4, TcpListener, TcpStream},
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use super::{
    rounds::{ALL_STATES, Workload},
    states::Layout,
};

/// 32 bytes that carry no credential.
const MESSAGE: &[u8; 32] = b"status ping, no credential here\n";

/// A micro workload: name, operations of the first calibration run, and the loop.
type Micro = (&'static str, u64, fn(&Layout, u64) -> anyhow::Result<Duration>);

pub const MICRO: [Micro; 10] = [
    ("openat_close", 1000, |l, n| timed(n, || open_close(&l.plain))),
    ("openat_close_watched_allowed", 1000, |l, n| timed(n, || open_close(&l.store))),
    ("read_file", 4000, |l, n| read_file(&l.plain, n)),
    ("write_file", 4000, write_file),
    ("write_devnull", 4000, |_, n| write_devnull(n)),
    ("write_pipe", 2000, |_, n| write_pipe(n)),
    ("write_tcp", 2000, |_, n| tcp(n, TcpCall::Write)),
    ("send_tcp", 2000, |_, n| tcp(n, TcpCall::Send)),
    ("connect", 200, |_, n| connect(n)),
    ("fork_exec_exit", 50, |_, n| timed(n, spawn_true)),
];

/// The micro workloads over the layout's files, each run aiming at `target` wall time.
pub fn workloads(layout: &Layout, target: Duration) -> Vec<Workload<'_>> {
    MICRO
        .iter()
        .map(|&(name, probe_n, run)| Workload {
            name,
            states: ALL_STATES,
            target,
            probe_n,
            run: Box::new(move |n| run(layout, n)),
        })
        .collect()
}

/// Runs `op` `n` times and returns the elapsed time.
fn timed<E>(n: u64, mut op: impl FnMut() -> Result<(), E>) -> anyhow::Result<Duration>
where
    anyhow::Error: From<E>,
{
    let t = Instant::now();
    for _ in 0..n {
        op()?;
    }
    Ok(t.elapsed())
}

fn check(r: libc::ssize_t, want: usize, what: &str) -> anyhow::Result<()> {
    if r < 0 {
        return Err(io::Error::last_os_error()).context(what.to_string());
    }
    if r as usize != want {
        bail!("{what}: {r} bytes instead of {want}");
    }
    Ok(())
}

fn open_fd(path: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(O_RDONLY)` then `close` of `path`.
pub fn open_close(path: &CStr) -> io::Result<()> {
    open_fd(path, libc::O_RDONLY).map(drop)
}

/// Spawns `/bin/true` and waits for it.
pub fn spawn_true() -> anyhow::Result<()> {
    let status = Command::new("/bin/true").status().context("spawn /bin/true")?;
    if !status.success() {
        bail!("/bin/true: {status}");
    }
    Ok(())
}

fn read_file(path: &CStr, n: u64) -> anyhow::Result<Duration> {
    let fd = open_fd(path, libc::O_RDONLY).context("open the plain file")?;
    let mut byte = [0u8; 1];
    timed(n, || {
        // SAFETY: reads one byte into a one-byte buffer.
        check(unsafe { libc::pread(fd.as_raw_fd(), byte.as_mut_ptr().cast(), 1, 0) }, 1, "pread")
    })
}

fn write_file(layout: &Layout, n: u64) -> anyhow::Result<Duration> {
    let path = layout.dir().join("write.dat");
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes())?;
    let fd = open_fd(&c, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC).context("create write.dat")?;
    write_loop(fd.as_raw_fd(), n)
}

fn write_devnull(n: u64) -> anyhow::Result<Duration> {
    let fd = open_fd(c"/dev/null", libc::O_WRONLY).context("open /dev/null")?;
    write_loop(fd.as_raw_fd(), n)
}

fn write_loop(fd: RawFd, n: u64) -> anyhow::Result<Duration> {
    timed(n, || {
        // SAFETY: writes one byte from a static buffer.
        check(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) }, 1, "write")
    })
}

fn write_pipe(n: u64) -> anyhow::Result<Duration> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: two new descriptors that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut byte = [0u8; 1];
    timed(n, || {
        // SAFETY: one-byte write and read on our own pipe.
        check(unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1, "pipe write")?;
        check(unsafe { libc::read(r.as_raw_fd(), byte.as_mut_ptr().cast(), 1) }, 1, "pipe read")
    })
}

#[derive(Clone, Copy)]
enum TcpCall {
    Write,
    Send,
}

/// A loopback TCP connection whose other end a thread drains.
struct Drained {
    client: Option<TcpStream>,
    reader: Option<JoinHandle<io::Result<()>>>,
}

impl Drained {
    fn new() -> anyhow::Result<Drained> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind loopback")?;
        let addr = listener.local_addr()?;
        let reader = std::thread::spawn(move || -> io::Result<()> {
            let (mut s, _) = listener.accept()?;
            io::copy(&mut s, &mut io::sink())?;
            Ok(())
        });
        let client = TcpStream::connect(addr).context("connect loopback")?;
        Ok(Drained { client: Some(client), reader: Some(reader) })
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        // Closing our end ends the reader's copy.
        drop(self.client.take());
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn tcp(n: u64, call: TcpCall) -> anyhow::Result<Duration> {
    let conn = Drained::new()?;
    let fd = conn.client.as_ref().context("client")?.as_raw_fd();
    let d = timed(n, || {
        let p = MESSAGE.as_ptr().cast();
        // SAFETY: writes 32 bytes from a static buffer to our own socket.
        let r = match call {
            TcpCall::Write => unsafe { libc::write(fd, p, MESSAGE.len()) },
            TcpCall::Send => unsafe { libc::send(fd, p, MESSAGE.len(), 0) },
        };
        check(r, MESSAGE.len(), "tcp write")
    })?;
    drop(conn);
    Ok(d)
}

/// A loopback listener whose connections a thread accepts and drops.
struct Acceptor {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn new() -> anyhow::Result<Acceptor> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind loopback")?;
        // A deep backlog: a full one makes connect wait for a SYN retransmit.
        // SAFETY: re-listening on our own socket only changes its backlog.
        unsafe { libc::listen(listener.as_raw_fd(), 4096) };
        let addr = match listener.local_addr()? {
            std::net::SocketAddr::V4(a) => a,
            a => bail!("unexpected listener address {a}"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for s in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                drop(s);
            }
        });
        Ok(Acceptor { addr, stop, thread: Some(thread) })
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept call so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn connect(n: u64) -> anyhow::Result<Duration> {
    let acceptor = Acceptor::new()?;
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: acceptor.addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*acceptor.addr.ip()).to_be() },
        sin_zero: [0; 8],
    };
    // Abortive close (RST): no TIME_WAIT, so thousands of connects do not exhaust ports.
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let d = timed(n, || -> anyhow::Result<()> {
        // SAFETY: a new socket, owned right away.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("socket");
        }
        // SAFETY: a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: valid sockaddr_in and linger of the sizes given.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&raw const sa).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error()).context("connect");
        }
        // SAFETY: as above.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        Ok(())
    })?;
    drop(acceptor);
    Ok(d)
}
