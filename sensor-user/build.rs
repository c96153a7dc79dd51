//! Builds the kernel programs (`sensor-ebpf`) for the BPF target with aya-build and
//! places the object in OUT_DIR, where `probes::loader` embeds it.
use std::{env, fs, path::PathBuf};

use anyhow::Context as _;

/// Toolchain used for the BPF target; `cargo xtask setup` checks its version.
const DEFAULT_EBPF_TOOLCHAIN: &str = "nightly";

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=TOKENWARDEN_EBPF_TOOLCHAIN");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR not set")?);
    if env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        // Userspace-only build (e.g. `rules check` on a workstation): the daemon refuses to
        // load probes from this empty object with a clear error.
        fs::write(out_dir.join("sensor-ebpf"), b"").context("write placeholder object")?;
        return Ok(());
    }
    let toolchain = env::var("TOKENWARDEN_EBPF_TOOLCHAIN").unwrap_or_else(|_| DEFAULT_EBPF_TOOLCHAIN.into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../sensor-ebpf");
    aya_build::build_ebpf(
        [aya_build::Package { name: "sensor-ebpf", root_dir: root, ..Default::default() }],
        aya_build::Toolchain::Custom(&toolchain),
    )
    .context("building the eBPF programs failed; run `cargo xtask setup`")
}
