//! TLS library uprobes. Libraries are found on disk (standard library directories) and
//! in every process's memory maps (containers, bundled copies), and attached once per
//! file identity. A uprobe on a library file covers every process that maps it, now or
//! later (a process that `dlopen`s libssl after start is covered).

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use aya::programs::{
    UProbe,
    uprobe::{UProbeAttachLocation, UProbeScope},
};
use tracing::{info, warn};

use super::{ProbeError, Probes, uprobe_site::symbol_sites};

/// (library file name prefix, [(symbol, program)]).
const OPENSSL: &[(&str, &str)] = &[
    ("SSL_write", "ssl_write"),
    ("SSL_write_ex", "ssl_write_ex"),
    ("SSL_CTX_use_certificate", "tls_client_cert"),
    ("SSL_use_certificate", "tls_client_cert"),
];
const LIBRARIES: &[(&str, &[(&str, &str)])] = &[
    ("libssl.so.3", OPENSSL),
    ("libssl.so.1.1", OPENSSL),
    (
        "libgnutls.so.30",
        &[
            ("gnutls_record_send", "gnutls_record_send"),
            ("gnutls_certificate_set_x509_key_file2", "tls_client_cert"),
            ("gnutls_certificate_set_x509_key", "tls_client_cert"),
            ("gnutls_certificate_set_x509_key_mem2", "tls_client_cert"),
        ],
    ),
];

/// Programs the TLS layer uses (loaded once, attached per library).
pub const TLS_PROGRAMS: [&str; 4] = ["ssl_write", "ssl_write_ex", "gnutls_record_send", "tls_client_cert"];

const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/usr/local/lib",
];

fn which_library(path: &Path) -> Option<&'static (&'static str, &'static [(&'static str, &'static str)])> {
    let name = path.file_name()?.to_str()?;
    LIBRARIES.iter().find(|(lib, _)| name == *lib)
}

/// Executables larger than this are not inspected for a static OpenSSL.
const MAX_EXE_BYTES: u64 = 512 * 1024 * 1024;
/// Executables remembered as inspected, at most.
const MAX_CHECKED: usize = 65_536;

/// Attached libraries by (dev, inode).
#[derive(Default)]
pub struct TlsAttacher {
    attached: HashMap<(u64, u64), String>,
    failed: HashMap<(u64, u64), String>,
    /// Executables already inspected for a statically linked OpenSSL.
    checked: std::collections::HashSet<(u64, u64)>,
}

/// Attaches `program` to `symbol` in `path` at `offset` from its start (the site
/// [`symbol_sites`] chose: a hit on a branch is emulated, one on the entry
/// single-stepped).
fn attach_at(
    probes: &mut Probes,
    program: &str,
    symbol: &str,
    offset: u64,
    path: &Path,
) -> Result<(), String> {
    let prog: &mut UProbe = probes.uprobe_mut(program).map_err(|e| e.to_string())?;
    prog.attach(UProbeAttachLocation::SymbolOffset(symbol, offset), path, UProbeScope::AllProcesses)
        .map(|_| ())
        .map_err(|e| e.to_string())?;
    tracing::debug!(symbol, offset, path = %path.display(), "uprobe attached");
    Ok(())
}

impl TlsAttacher {
    /// Paths of the libraries attached so far, for the state documents.
    /// Libraries and executables with uprobes.
    pub fn attached_count(&self) -> usize {
        self.attached.len()
    }

    pub fn attached(&self) -> Vec<String> {
        let mut v: Vec<String> = self.attached.values().cloned().collect();
        v.sort();
        v
    }

    fn candidates() -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in LIB_DIRS {
            for (lib, _) in LIBRARIES {
                out.push(Path::new(dir).join(lib));
            }
        }
        // Libraries mapped by running processes, through their own root (containers).
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let pid = p.file_name();
                if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let Ok(maps) = std::fs::read_to_string(p.path().join("maps")) else { continue };
                for line in maps.lines() {
                    let Some(path) = line.split_whitespace().nth(5) else { continue };
                    if which_library(Path::new(path)).is_some() {
                        out.push(p.path().join("root").join(path.trim_start_matches('/')));
                    }
                }
            }
        }
        out
    }

    /// Inspects new executables (by identity) and attaches the OpenSSL uprobes to those
    /// that link OpenSSL statically. Returns the newly attached paths.
    pub fn check_executables(
        &mut self,
        probes: &mut Probes,
        exes: &[String],
    ) -> Result<Vec<String>, ProbeError> {
        let mut new = Vec::new();
        for exe in exes {
            let path = Path::new(exe);
            let Ok(meta) = std::fs::metadata(path) else { continue };
            let key = (meta.dev(), meta.ino());
            if meta.len() > MAX_EXE_BYTES || self.attached.contains_key(&key) || !self.checked.insert(key) {
                continue;
            }
            if self.checked.len() > MAX_CHECKED {
                self.checked.clear();
            }
            if which_library(path).is_some() {
                continue;
            }
            let sites = symbol_sites(path, &["SSL_write", "SSL_write_ex"]);
            if sites[0].is_none() {
                continue;
            }
            let mut ok = 0;
            for ((symbol, program), site) in
                [("SSL_write", "ssl_write"), ("SSL_write_ex", "ssl_write_ex")].into_iter().zip(sites)
            {
                let Some(offset) = site else { continue };
                match attach_at(probes, program, symbol, offset, path) {
                    Ok(()) => ok += 1,
                    Err(e) => warn!("TLS uprobe {symbol} in static binary {exe}: {e}"),
                }
            }
            if ok > 0 {
                info!(executable = %exe, "TLS uprobes attached to a statically linked OpenSSL");
                self.attached.insert(key, exe.clone());
                new.push(exe.clone());
            }
        }
        Ok(new)
    }

    /// Attaches to every library not attached yet. Returns the newly attached paths.
    pub fn scan(&mut self, probes: &mut Probes) -> Result<Vec<String>, ProbeError> {
        let mut new = Vec::new();
        for path in Self::candidates() {
            let Some((_, symbols)) = which_library(&path) else { continue };
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let key = (meta.dev(), meta.ino());
            if self.attached.contains_key(&key) || self.failed.contains_key(&key) {
                continue;
            }
            let shown = path.display().to_string();
            let mut ok = 0;
            let names: Vec<&str> = symbols.iter().map(|(s, _)| *s).collect();
            for ((symbol, program), site) in symbols.iter().zip(symbol_sites(&path, &names)) {
                // A symbol this parse did not find is left for the loader to resolve.
                match attach_at(probes, program, symbol, site.unwrap_or(0), &path) {
                    Ok(()) => ok += 1,
                    Err(e) => warn!("TLS uprobe {symbol} in {shown}: {e}"),
                }
            }
            if ok > 0 {
                info!(library = %shown, "TLS uprobes attached");
                self.attached.insert(key, shown.clone());
                new.push(shown);
            } else {
                self.failed.insert(key, shown);
            }
        }
        Ok(new)
    }
}
