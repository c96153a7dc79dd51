//! Harness for black-box tests: starts the real `tokenwarden` binary, waits for its
//! ready file, and reads the JSON documents it writes.
//!
//! Kernel tests need root and a BTF kernel. Outside CI they skip with a one-line
//! reason; under `CI=true` a missing capability is a failure, never a skip.

pub mod users;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde_json::Value;

/// Kernel tests observe the whole host: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The binary under test (`TOKENWARDEN_BIN`, set by `cargo xtask test`).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TOKENWARDEN_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("tokenwarden");
        if p.exists() {
            return p;
        }
    }
    panic!("tokenwarden binary not found: run the tests with `cargo xtask test`");
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Held for the whole of a kernel test: the sensor sees every process on the host, so
/// another test's users, files and programs must not run at the same time.
pub type Serial = MutexGuard<'static, ()>;

/// Whether kernel tests can run here (and then the serial guard). Panics in CI when
/// they cannot.
pub fn kernel_tests_enabled(test: &str) -> Option<Serial> {
    if !kernel_tests_possible(test) {
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn kernel_tests_possible(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let reason = if !root {
        Some("not running as root")
    } else if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        Some("kernel has no BTF (/sys/kernel/btf/vmlinux)")
    } else {
        None
    };
    match reason {
        None => true,
        Some(r) if in_ci() => panic!("{test}: kernel test cannot run in CI: {r}"),
        Some(r) => {
            eprintln!("skipped {test}: {r}");
            false
        }
    }
}

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
        let p = std::env::temp_dir().join(format!("tw-{tag}-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
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

/// A running sensor.
pub struct Sensor {
    child: Child,
    pub dir: TempDir,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Sensor {
    /// Starts `tokenwarden run` with `args`, and waits until it is ready.
    pub fn start(args: &[&str]) -> Sensor {
        let dir = TempDir::new("sensor");
        // A free loopback port for /metrics unless the test picks one (the bound address
        // is in the `sensor-started` document); spools and the key stay in the temp dir.
        let mut extra: Vec<String> = Vec::new();
        if !args.contains(&"--metrics-address") {
            extra.extend(["--metrics-address".into(), "127.0.0.1:0".into()]);
        }
        if !args.contains(&"--state-dir") {
            extra.extend(["--state-dir".into(), dir.path().join("state").display().to_string()]);
        }
        let out = dir.path().join("out.jsonl");
        let err = dir.path().join("stderr.log");
        let ready = dir.path().join("ready");
        let child = Command::new(binary())
            .arg("run")
            .arg("--output")
            .arg(format!("file:{}", out.display()))
            .arg("--ready-file")
            .arg(&ready)
            .args(&extra)
            .args(args)
            .env("TOKENWARDEN_LOG", "debug,aya=info,aya_obj=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn tokenwarden");
        let mut s = Sensor { child, dir, out, err };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("tokenwarden exited before ready ({status}): {}", s.stderr());
            }
            assert!(Instant::now() < deadline, "tokenwarden not ready in 60 s: {}", s.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Every byte the sensor wrote (output and logs).
    pub fn all_output(&self) -> String {
        format!("{}{}", std::fs::read_to_string(&self.out).unwrap_or_default(), self.stderr())
    }

    /// Every document written so far. Each line must be one JSON object.
    pub fn docs(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // Only complete lines: the sensor may be half-way through writing the last one.
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}")))
            .collect()
    }

    /// Waits until a document satisfies `pred`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.docs().into_iter().find(|d| pred(d)) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output:\n{}",
                self.all_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks for a state report (SIGUSR1) and returns it.
    pub fn stats(&self) -> Value {
        let before = self.docs().iter().filter(|d| is_action(d, "sensor-stats")).count();
        self.signal(libc::SIGUSR1);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stats: Vec<Value> =
                self.docs().into_iter().filter(|d| is_action(d, "sensor-stats")).collect();
            if stats.len() > before {
                return stats.last().expect("non-empty").clone();
            }
            assert!(Instant::now() < deadline, "no stats report: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://ADDR` of the sensor's metrics endpoint (from its `sensor-started` document).
    pub fn metrics_url(&self) -> String {
        let started =
            self.wait_for("sensor-started", Duration::from_secs(10), |d| is_action(d, "sensor-started"));
        let addr = started["tokenwarden"]["sensor"]["metrics_address"]
            .as_str()
            .unwrap_or_else(|| panic!("sensor-started has no metrics_address: {started}"));
        format!("http://{addr}")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM; asserts a clean exit 0 and returns every document.
    pub fn stop(mut self) -> Vec<Value> {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "tokenwarden exited with {status}: {}", self.stderr());
                break;
            }
            assert!(Instant::now() < deadline, "tokenwarden did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.docs()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of a real program placed at an allowlisted path for a test, removed on drop
/// (even when the test fails). A file already there that is not a copy of `src` is left
/// alone and used as is.
pub struct Planted {
    pub path: PathBuf,
    ours: bool,
}

impl Planted {
    pub fn new(src: &str, dst: &str) -> Planted {
        let path = PathBuf::from(dst);
        let same = std::fs::read(&path).ok() == std::fs::read(src).ok();
        let ours = !path.exists() || same;
        if ours {
            std::fs::copy(src, &path).unwrap_or_else(|e| panic!("plant {dst}: {e}"));
        }
        Planted { path, ours }
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        if self.ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn is_action(d: &Value, action: &str) -> bool {
    d["event"]["action"] == action
}

pub fn is_alert(d: &Value) -> bool {
    d["event"]["kind"] == "alert"
}

/// A kernel counter from a stats document.
pub fn kernel_counter(stats: &Value, name: &str) -> u64 {
    stats["tokenwarden"]["sensor"]["kernel"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("stats have no kernel counter {name}: {stats}"))
}

/// `GET url` with curl: (HTTP status, body).
pub fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .expect("spawn curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The value of one Prometheus sample (`name{labels}` exactly as exposed), 0 if absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs a shell snippet and returns its stdout; panics on failure.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().expect("spawn sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A loopback HTTP server (python3) that answers every GET and POST with an empty 200;
/// `.1` is its port. Killed on drop.
pub struct HttpServer(Child, pub u16);

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns a server that prints the port it listens on as its first line; returns it
/// with that port.
pub fn spawn_reporting_port(cmd: &mut Command) -> (Child, u16) {
    use std::io::{BufRead as _, BufReader};
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("{cmd:?} printed {line:?}, not a port"));
    (child, port)
}

/// Starts an [`HttpServer`] on a free port.
pub fn http_server() -> HttpServer {
    let (child, port) = spawn_reporting_port(Command::new("python3").args([
            "-c",
            "import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n    def do_POST(self):\n        self.rfile.read(int(self.headers.get('Content-Length') or 0)); self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()\n    do_GET = do_POST\n    def log_message(self, *a): pass\ns = h.ThreadingHTTPServer(('127.0.0.1', 0), H)\nprint(s.server_address[1], flush=True)\ns.serve_forever()",
    ]));
    HttpServer(child, port)
}
