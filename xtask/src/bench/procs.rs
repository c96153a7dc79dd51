//! Processes and files the bench creates. Every child is owned by a [`Proc`], which
//! stops it when dropped (also on an error path), and every temporary directory by a
//! [`TempDir`].

use std::{
    io::Read as _,
    net::TcpListener,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    child: Option<Child>,
    name: String,
    /// Where its stderr goes, quoted in errors.
    log: Option<PathBuf>,
}

/// Time a process gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

impl Proc {
    /// Spawns `cmd`; its stderr goes to `log` when given (else it is inherited).
    pub fn spawn(name: &str, cmd: &mut Command, log: Option<&Path>) -> anyhow::Result<Proc> {
        if let Some(log) = log {
            let f = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
            cmd.stderr(f);
        }
        let child = cmd.stdin(Stdio::null()).spawn().with_context(|| format!("start {name}: {cmd:?}"))?;
        Ok(Proc { child: Some(child), name: name.to_string(), log: log.map(Path::to_path_buf) })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The last lines of its stderr log, for error messages.
    pub fn log_tail(&self) -> String {
        let Some(log) = &self.log else { return String::new() };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("\n--- {} ---\n{tail}", log.display())
    }

    /// Fails when the process has already exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        let child = self.child.as_mut().context("process already stopped")?;
        if let Some(status) = child.try_wait().with_context(|| format!("wait for {}", self.name))? {
            self.child = None;
            bail!("{} exited early ({status}){}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// Waits until `path` exists (the process writes it when ready).
    pub fn wait_for_file(&mut self, path: &Path, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !path.exists() {
            self.check_running()?;
            if Instant::now() > deadline {
                bail!("{} did not write {} within {timeout:?}{}", self.name, path.display(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// SIGTERM and wait; an error when it does not exit in time or exits non-zero.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { bail!("{} already stopped", self.name) };
        signal(&child, libc::SIGTERM);
        match wait_timeout(&mut child, STOP_GRACE)? {
            Some(status) if status.success() => Ok(()),
            Some(status) => {
                bail!("{} exited with {status} (expected 0 after SIGTERM){}", self.name, self.log_tail())
            }
            None => {
                kill_and_reap(&mut child);
                bail!("{} did not stop within {STOP_GRACE:?} of SIGTERM (killed)", self.name)
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGTERM);
            if !matches!(wait_timeout(&mut child, STOP_GRACE), Ok(Some(_))) {
                kill_and_reap(&mut child);
            }
        }
    }
}

fn signal(child: &Child, sig: i32) {
    let Ok(pid) = i32::try_from(child.id()) else { return };
    // SAFETY: `child` is not reaped yet, so `pid` still names our own child.
    unsafe { libc::kill(pid, sig) };
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` to exit for at most `timeout` (a pidfd, so the wake-up is exact).
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait()? {
        return Ok(Some(status));
    }
    // SAFETY: pidfd_open takes a pid and flags; our unreaped child's pid is valid.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::c_int, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("pidfd_open");
    }
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll pidfd");
        }
        if r > 0 {
            return Ok(Some(child.wait()?));
        }
        if left.is_zero() {
            return Ok(None);
        }
    }
}

/// Runs `cmd` to completion (stdout discarded, stderr inherited) and returns its wall
/// time; an error on a non-zero exit or after `timeout` (then it is killed).
pub fn run_timed(name: &str, cmd: &mut Command, timeout: Duration) -> anyhow::Result<Duration> {
    cmd.stdout(Stdio::null());
    let t = Instant::now();
    let mut p = Proc::spawn(name, cmd, None)?;
    let child = p.child.as_mut().context("child")?;
    let status = wait_timeout(child, timeout)?;
    let elapsed = t.elapsed();
    match status {
        Some(s) if s.success() => {
            p.child = None;
            Ok(elapsed)
        }
        Some(s) => {
            p.child = None;
            bail!("{name} failed: {s}")
        }
        None => bail!("{name} did not finish within {timeout:?}"),
    }
}

/// Runs a cargo command with its stdout sent to our stderr (stdout is the report).
pub fn run_to_stderr(cmd: &mut Command) -> anyhow::Result<()> {
    crate::run(cmd.stdin(Stdio::null()).stdout(std::io::stderr()))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Whether an executable is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// A directory removed (with its content) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `/var/tmp/tw-bench-<pid>-<tag>`, emptied first.
    pub fn new(tag: &str) -> anyhow::Result<TempDir> {
        let p = PathBuf::from(format!("/var/tmp/tw-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Other running `tokenwarden` processes (their probes make `detached` not detached).
pub fn foreign_sensors() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let mut comm = String::new();
            std::fs::File::open(format!("/proc/{pid}/comm"))
                .and_then(|mut f| f.read_to_string(&mut comm))
                .is_ok_and(|_| comm.trim() == "tokenwarden")
        })
        .collect()
}

/// The fields of every `/proc/<pid>/fdinfo/*` entry.
pub fn fdinfo(pid: u32) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let dir = PathBuf::from(format!("/proc/{pid}/fdinfo"));
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
        // A descriptor closed while listing is skipped.
        let Ok(text) = std::fs::read_to_string(e?.path()) else { continue };
        out.push(
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        );
    }
    Ok(out)
}

pub fn field<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
