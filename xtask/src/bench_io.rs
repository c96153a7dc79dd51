//! Overhead of the sensor on write-heavy loops that carry no credential: regular file,
//! /dev/null and a TCP socket. Interleaved (detached, sensor, detached, sensor, …) and
//! reported as the median of per-pair ratios, because shared machines are noisy.

use std::{
    fs::OpenOptions,
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// One workload: name and a loop of `n` operations.
type Workload = (&'static str, fn(u64) -> anyhow::Result<Duration>);

fn write_file(n: u64) -> anyhow::Result<Duration> {
    let path = std::env::temp_dir().join("tw-bench-write");
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(b"x")?;
    }
    let d = t.elapsed();
    drop(f);
    let _ = std::fs::remove_file(path);
    Ok(d)
}

fn write_devnull(n: u64) -> anyhow::Result<Duration> {
    let mut f = OpenOptions::new().write(true).open("/dev/null")?;
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(b"x")?;
    }
    Ok(t.elapsed())
}

fn send_tcp(n: u64) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sink = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        let mut buf = [0u8; 65536];
        while s.read(&mut buf)? > 0 {}
        Ok(())
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let t = Instant::now();
    for _ in 0..n {
        c.write_all(b"status ping, no credential here\n")?;
    }
    let d = t.elapsed();
    drop(c);
    let _ = sink.join();
    Ok(d)
}

pub const WORKLOADS: [Workload; 3] =
    [("write_file", write_file), ("write_devnull", write_devnull), ("send_tcp", send_tcp)];

struct Sensor(Child);

impl Sensor {
    fn start(bin: &Path, dir: &Path) -> anyhow::Result<Sensor> {
        let ready = dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let child = Command::new(bin)
            .args(["run", "--output", &format!("file:{}", dir.join("out.jsonl").display())])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--fingerprint-key-file")
            .arg(dir.join("key"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start tokenwarden")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            if Instant::now() > deadline {
                bail!("tokenwarden not ready in 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Sensor(child))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { kill(self.0.id() as i32, 15) };
        let _ = self.0.wait();
    }
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (name, median ratio, detached ns/op, sensor ns/op) per workload.
pub fn measure(bin: &Path, pairs: usize, n: u64) -> anyhow::Result<Vec<(&'static str, f64, f64, f64)>> {
    let dir = std::env::temp_dir().join(format!("tw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); WORKLOADS.len()];
    let mut abs: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); WORKLOADS.len()];
    for _ in 0..pairs {
        let detached: Vec<f64> = WORKLOADS
            .iter()
            .map(|(_, f)| f(n).map(|d| d.as_nanos() as f64 / n as f64))
            .collect::<Result<_, _>>()?;
        let sensor = Sensor::start(bin, &dir)?;
        let with: Vec<f64> = WORKLOADS
            .iter()
            .map(|(_, f)| f(n).map(|d| d.as_nanos() as f64 / n as f64))
            .collect::<Result<_, _>>()?;
        drop(sensor);
        for i in 0..WORKLOADS.len() {
            ratios[i].push(with[i] / detached[i]);
            abs[i].0.push(detached[i]);
            abs[i].1.push(with[i]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(WORKLOADS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            (*name, median(ratios[i].clone()), median(abs[i].0.clone()), median(abs[i].1.clone()))
        })
        .collect())
}
