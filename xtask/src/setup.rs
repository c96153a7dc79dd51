//! `cargo xtask setup`: idempotent installation of the eBPF toolchain and the programs
//! the tests drive. Fast when everything is present: it only checks.

use std::{path::Path, process::Command};

use anyhow::{Context as _, bail};

use crate::run;

/// Nightly used for the BPF target (the one this machine image ships).
pub const EBPF_TOOLCHAIN: &str = "nightly";
/// Its expected version prefix; a different nightly may not build aya-ebpf.
pub const EBPF_NIGHTLY_VERSION: &str = "1.97.0-nightly";
/// bpf-linker release the toolchain was verified with.
pub const BPF_LINKER_VERSION: &str = "0.13";
/// LLVM the linker is built against.
pub const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// Debian packages: LLVM for bpf-linker, and the real programs the tests run.
const PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    // black-box tests
    "keyutils",
    "curl",
    "wget",
    "openssl",
    "libssl-dev",
    "gcc",
    "python3",
    "openssh-client",
    "openssh-server",
    "util-linux",
    "passwd",
    "coreutils",
    // syslog sink tests: a real receiver, with its TLS stream driver (gtls)
    "rsyslog",
    "rsyslog-gnutls",
    // `cargo xtask bench`: a TLS server, macro workloads, BPF program names
    "nginx",
    "rt-tests",
    "stress-ng",
    "bpftool",
];

fn output(cmd: &mut Command) -> Option<String> {
    crate::output(cmd).ok()
}

fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f", "${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect()
}

pub fn setup() -> anyhow::Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        eprintln!("xtask setup: Debian packages present");
    } else {
        eprintln!("xtask setup: installing {missing:?}");
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }

    let version = output(Command::new("rustup").args(["run", EBPF_TOOLCHAIN, "rustc", "--version"]))
        .context("no nightly toolchain: the eBPF programs need `rustup toolchain install nightly`")?;
    if !version.contains(EBPF_NIGHTLY_VERSION) {
        bail!(
            "nightly is `{}`, expected {EBPF_NIGHTLY_VERSION}; aya-ebpf was verified with that nightly \
             (set TOKENWARDEN_EBPF_TOOLCHAIN to override at your own risk)",
            version.trim()
        );
    }
    eprintln!("xtask setup: {} for the BPF target", version.trim());
    let components = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        EBPF_TOOLCHAIN,
    ]))
    .unwrap_or_default();
    if components.lines().any(|l| l.starts_with("rust-src")) {
        eprintln!("xtask setup: rust-src present");
    } else {
        run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", EBPF_TOOLCHAIN]))?;
    }

    let linker = output(Command::new("bpf-linker").arg("--version")).unwrap_or_default();
    if linker.contains(&format!("bpf-linker {BPF_LINKER_VERSION}")) {
        eprintln!("xtask setup: {}", linker.trim());
    } else {
        eprintln!(
            "xtask setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (a few minutes, once)"
        );
        run(Command::new("cargo")
            .args(["install", "bpf-linker", "--version", &format!("~{BPF_LINKER_VERSION}")])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("LLVM_PREFIX", LLVM_PREFIX))?;
    }
    Ok(())
}

/// Mounts tracefs and bpffs when a fresh boot left them unmounted.
pub fn mount_kernel_fs() -> anyhow::Result<()> {
    if !Path::new("/sys/kernel/tracing/events").is_dir() {
        run(Command::new("mount").args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"]))?;
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts.lines().any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf")) {
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}
