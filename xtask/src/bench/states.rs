//! The three states every overhead figure compares: `detached` (nothing loaded),
//! `empty` (`tokenwarden bench-floor`: do-nothing programs on the sensor's hooks) and
//! `sensor` (`tokenwarden run` with the embedded pack), plus the files they use.

use std::{
    ffi::CString,
    net::SocketAddr,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};

use super::procs::{self, Proc, TempDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Detached,
    Empty,
    Sensor,
}

impl State {
    pub fn key(self) -> &'static str {
        match self {
            State::Detached => "detached",
            State::Empty => "empty",
            State::Sensor => "sensor",
        }
    }
}

/// The rule that watches the store the `*_watched_allowed` workloads open.
pub const WATCHED_RULE: &str = "cred-aws-shared";

/// The bench's files: a plain file no rule watches, a watched store this program may
/// open, and the rules directory the sensor runs with.
pub struct Layout {
    dir: TempDir,
    pub bin: PathBuf,
    /// A file no rule watches (`openat_close`, `read_file`).
    pub plain: CString,
    /// `<dir>/home/.aws/credentials`: watched by [`WATCHED_RULE`], which allows us.
    pub store: CString,
    rules: PathBuf,
}

/// How long a state's process gets to attach its probes.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

impl Layout {
    /// Copies the binary `built` and creates the files and the rules directory: the embedded pack
    /// (`tokenwarden rules dump`) plus a file that appends this executable to the
    /// watched rule's `allowed_executables`.
    pub fn new(built: &Path) -> anyhow::Result<Layout> {
        let dir = TempDir::new("files")?;
        // A private copy: a concurrent `cargo build` must not swap the binary mid-run.
        let bin = dir.path().join("tokenwarden");
        std::fs::copy(built, &bin).with_context(|| format!("copy {}", built.display()))?;
        let bin = bin.as_path();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, "plain file, no rule watches it\n")
            .with_context(|| format!("write {}", plain.display()))?;
        let aws = dir.path().join("home/.aws");
        std::fs::create_dir_all(&aws).with_context(|| format!("create {}", aws.display()))?;
        let store = aws.join("credentials");
        std::fs::write(&store, "[default]\nregion = eu-west-1\n")
            .with_context(|| format!("write {}", store.display()))?;
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(&rules)?;
        let pack = crate::output(Command::new(bin).args(["rules", "dump"]))?;
        std::fs::write(rules.join("00-default.yaml"), pack)?;
        let me = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .context("resolve the xtask executable")?;
        let me = serde_json::to_string(&me.to_string_lossy())?;
        std::fs::write(
            rules.join("50-bench.yaml"),
            format!(
                "tokenwarden_rules: 1\nrules:\n  - id: {WATCHED_RULE}\n    append:\n      \
                 allowed_executables: [{me}]\n"
            ),
        )?;
        crate::output(Command::new(bin).arg("rules").arg("check").arg(&rules))
            .context("the bench's rules directory does not validate")?;
        Ok(Layout { bin: bin.to_path_buf(), plain: cstring(&plain)?, store: cstring(&store)?, rules, dir })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the process of `state` (none for `detached`) and waits until it is attached.
    pub fn start(&self, state: State) -> anyhow::Result<Option<Running>> {
        match state {
            State::Detached => Ok(None),
            State::Empty => {
                let ready = self.fresh("floor.ready")?;
                let mut cmd = Command::new(&self.bin);
                cmd.arg("bench-floor").arg("--ready-file").arg(&ready).stdout(Stdio::null());
                let mut proc =
                    Proc::spawn("tokenwarden bench-floor", &mut cmd, Some(&self.dir().join("floor.log")))?;
                proc.wait_for_file(&ready, READY_TIMEOUT)?;
                Ok(Some(Running { proc, metrics: None }))
            }
            State::Sensor => {
                let ready = self.fresh("sensor.ready")?;
                let port = procs::free_port()?;
                let out = self.dir().join("out.jsonl");
                let mut cmd = Command::new(&self.bin);
                cmd.arg("run")
                    .arg("--rules")
                    .arg(&self.rules)
                    .arg("--state-dir")
                    .arg(self.dir().join("state"))
                    .arg("--metrics-address")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--output")
                    .arg(format!("file:{}", out.display()))
                    .arg("--ready-file")
                    .arg(&ready)
                    .stdout(Stdio::null());
                let mut proc =
                    Proc::spawn("tokenwarden run", &mut cmd, Some(&self.dir().join("sensor.log")))?;
                proc.wait_for_file(&ready, READY_TIMEOUT)?;
                Ok(Some(Running { proc, metrics: Some(SocketAddr::from(([127, 0, 0, 1], port))) }))
            }
        }
    }

    /// `<dir>/<name>`, removed if a previous run left it.
    fn fresh(&self, name: &str) -> anyhow::Result<PathBuf> {
        let p = self.dir().join(name);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", p.display()))
            }
            _ => Ok(p),
        }
    }
}

/// A state's running process.
pub struct Running {
    proc: Proc,
    /// `/metrics` of a running sensor.
    pub metrics: Option<SocketAddr>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Fails when the process died while measuring (its figures would be `detached`).
    pub fn check(&mut self) -> anyhow::Result<()> {
        self.proc.check_running()
    }

    pub fn stop(self) -> anyhow::Result<()> {
        self.proc.stop()
    }
}

/// Whether `tokenwarden` has the hidden `bench-floor` subcommand the `empty` state needs.
pub fn check_floor(bin: &Path) -> anyhow::Result<()> {
    let out = Command::new(bin)
        .args(["bench-floor", "--help"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} has no `bench-floor` subcommand (do-nothing programs on the hooks `run` uses; it \
             writes --ready-file PATH when attached): the `empty` state and every `*_vs_empty` / \
             `empty_vs_detached` figure need it ({})",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim()
        );
    }
    Ok(())
}

fn cstring(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("NUL in {}", p.display()))
}
