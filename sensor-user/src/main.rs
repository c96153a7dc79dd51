//! The `tokenwarden` command line.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use tokenwarden::{
    config::RunArgs,
    daemon::{self, RunOptions},
    detect::rules::{self, RuleErrors, RuleSet, Source, testcases},
};

/// The pipeline allocates small strings and JSON values per record; mimalloc's
/// per-thread free lists make that several times cheaper than glibc malloc.
/// (Feature `mimalloc`, on by default; off for heap profilers that hook malloc.)
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tokenwarden", version, about = "eBPF sensor for credential and session theft after login")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the probes and report credential-store access (needs root).
    Run(Box<RunArgs>),
    /// The config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Benchmark floor: do-nothing programs on exactly the hooks `run` uses (needs root).
    #[command(hide = true)]
    BenchFloor {
        /// Written with our pid once every hook is attached.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file (and the rule files it names) without root. Exit 0 when valid.
    Check {
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate rule files without root or BPF. Exit 0 when valid, 1 otherwise.
    Check {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Run the test cases kept beside the rules (`*.test.yaml`). Exit 0 when all pass.
    Test {
        /// Fail when an enabled rule lacks an `alert` or a `no_alert` case.
        #[arg(long)]
        require_coverage: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print the embedded default rule pack.
    Dump,
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKENWARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, RuleErrors> {
    let sources: Vec<Source> =
        if paths.is_empty() { vec![rules::embedded_default()] } else { rules::load_paths(paths)? };
    RuleSet::compile(&sources)
}

/// Reads the fingerprint key, or creates a random one (mode 0600).
fn load_or_create_key(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(k) if !k.is_empty() => return Ok(k),
        Ok(_) => return Err(std::io::Error::other("key file is empty")),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut key = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut key)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    std::io::Write::write_all(&mut f, &key)?;
    Ok(key.to_vec())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match cli.command {
        Command::Rules { command: RulesCommand::Dump } => {
            print!("{}", rules::embedded_default().text);
            ExitCode::SUCCESS
        }
        Command::Rules { command: RulesCommand::Check { paths } } => match load_rules(&paths) {
            Ok(set) => {
                let f = set.kernel_filter();
                for w in &set.warnings {
                    eprintln!("warning: {w}");
                }
                println!(
                    "ok: {} rules ({} enabled), {} kernel name filters",
                    set.rules().len(),
                    set.enabled_count(),
                    f.names.len()
                );
                ExitCode::SUCCESS
            }
            Err(errs) => {
                eprintln!("{errs}");
                ExitCode::from(1)
            }
        },
        Command::Rules { command: RulesCommand::Test { require_coverage, paths } } => {
            let set = match load_rules(&paths) {
                Ok(s) => s,
                Err(errs) => {
                    eprintln!("{errs}");
                    return ExitCode::from(1);
                }
            };
            let cases = match testcases::load(&paths) {
                Ok(c) => c,
                Err(errs) => {
                    eprintln!("{errs}");
                    return ExitCode::from(1);
                }
            };
            let report = testcases::run(&set, &cases, require_coverage);
            for f in &report.failed {
                eprintln!("FAIL {f}");
            }
            println!("rules test: {} passed, {} failed", report.passed.len(), report.failed.len());
            if report.failed.is_empty() && !report.passed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Config { command: ConfigCommand::Check { path } } => {
            let path_display = path.display().to_string();
            let args = RunArgs { config: Some(path), ..Default::default() };
            let settings = match args.resolve() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            if let Err(e) = tokenwarden::output::Sinks::check(&settings.sinks) {
                eprintln!("{}: {e}", path_display);
                return ExitCode::from(1);
            }
            match load_rules(&settings.rules) {
                Ok(set) => {
                    let sinks: Vec<String> = settings
                        .sinks
                        .iter()
                        .enumerate()
                        .map(|(i, s)| format!("{} ({})", s.display_name(i), s.kind.as_str()))
                        .collect();
                    println!(
                        "ok: {} rules ({} enabled), sinks: {}, metrics: {}",
                        set.rules().len(),
                        set.enabled_count(),
                        sinks.join(", "),
                        settings.metrics_address.map_or("off".to_string(), |a| a.to_string())
                    );
                    ExitCode::SUCCESS
                }
                Err(errs) => {
                    eprintln!("{errs}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Run(args) => {
            let s = match args.resolve() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let set = match load_rules(&s.rules) {
                Ok(s) => s,
                Err(errs) => {
                    eprintln!("{errs}");
                    return ExitCode::from(2);
                }
            };
            let fingerprint_key = match load_or_create_key(&s.fingerprint_key_file) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("error: fingerprint key {}: {e}", s.fingerprint_key_file.display());
                    return ExitCode::from(2);
                }
            };
            let opts = RunOptions {
                sinks: s.sinks,
                state_dir: s.state_dir,
                metrics_address: s.metrics_address,
                ready_file: s.ready_file,
                emit_events: s.emit_events,
                stats_interval: s.stats_interval,
                rescan_interval: s.rescan_interval,
                ringbuf_bytes: s.ringbuf_bytes,
                exit_ttl: Duration::from_secs(300),
                rule_paths: s.rules.clone(),
                fingerprint_key,
                jwt_max_lifetime_s: s.jwt_max_lifetime,
                correlation: tokenwarden::detect::correlate::CorrelationConfig {
                    window: s.correlation_window,
                    reuse_window: s.reuse_window,
                    max_index: s.max_stored_fingerprints,
                    sensitive_destinations: s.sensitive_destinations,
                    jwt_max_lifetime_s: s.jwt_max_lifetime,
                },
                max_processes: 65_536,
            };
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: tokio runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            finish(rt.block_on(daemon::run(set, opts)))
        }
        Command::BenchFloor { ready_file } => {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => finish(rt.block_on(daemon::floor(ready_file))),
                Err(e) => {
                    eprintln!("error: tokio runtime: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
