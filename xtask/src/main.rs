//! `cargo xtask setup | build | run | test`: one entry point for developers and CI.

mod bench;
mod setup;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "tokenwarden developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install every tool and package the build and tests need (idempotent).
    Setup,
    /// Build the sensor (release) including its eBPF programs.
    Build,
    /// Set up, build and run `tokenwarden run` as root with the embedded rules.
    Run {
        /// Extra arguments for `tokenwarden run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks (as root); writes target/bench/report.json and prints a table.
    Bench {
        /// Fewer rounds and shorter runs, same keys (under 3 minutes).
        #[arg(long)]
        quick: bool,
    },
    /// Set up, then run every test: lints, unit tests and the black-box kernel tests.
    Test {
        /// Skip `cargo fmt --check` and `cargo clippy`.
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.current_dir(root()).status().with_context(|| format!("spawn {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout; an error (with its stderr) on a non-zero exit.
pub(crate) fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.stdin(std::process::Stdio::null()).output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?}: output is not UTF-8"))
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.env("CARGO_TERM_COLOR", "never");
    c
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Runs `cargo test`, echoing its output, and ends with one summary line over every
/// test binary (`summary: N passed, N failed, N skipped`).
fn run_tests(cmd: &mut Command) -> anyhow::Result<()> {
    use std::io::{BufRead as _, BufReader};
    eprintln!("xtask: running {cmd:?}");
    let mut child = cmd
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {cmd:?}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let stdout = child.stdout.take().context("test stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| -> u64 {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .trim_start_matches("ok. ")
                            .trim_start_matches("FAILED. ")
                            .strip_suffix(word)
                    })
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
            ignored += count(" ignored");
        }
    }
    let status = child.wait()?;
    println!("summary: {passed} passed, {failed} failed, {ignored} skipped");
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

pub(crate) fn build() -> anyhow::Result<PathBuf> {
    run(cargo().args(["build", "--release", "--package", "sensor-user", "--bin", "tokenwarden"]))?;
    Ok(root().join("target/release/tokenwarden"))
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Setup => setup::setup(),
        Cmd::Build => build().map(|_| ()),
        Cmd::Bench { quick } => bench::bench(quick),
        Cmd::Run { args } => {
            setup::setup()?;
            let bin = build()?;
            if !is_root() {
                bail!("tokenwarden loads eBPF programs and must run as root: sudo -E cargo xtask run");
            }
            setup::mount_kernel_fs()?;
            run(Command::new(bin).arg("run").args(args))
        }
        Cmd::Test { no_lint, args } => {
            setup::setup()?;
            if is_root() {
                setup::mount_kernel_fs()?;
            }
            if !no_lint {
                run(cargo().args(["fmt", "--all", "--check"]))?;
                run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
            }
            // The black-box tests start this binary.
            let bin = build()?;
            run_tests(
                cargo().args(["test", "--workspace", "--release"]).args(&args).env("TOKENWARDEN_BIN", &bin),
            )
        }
    }
}
