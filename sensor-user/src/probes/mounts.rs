//! Pseudo filesystems the probes need. tracefs is unmounted on some fresh boots: mount
//! it, or fail with an error that names what is missing.

use std::{ffi::CString, path::Path};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "tracefs is not mounted at /sys/kernel/tracing and mounting it failed: {0} \
         (run `mount -t tracefs tracefs /sys/kernel/tracing` as root)"
    )]
    Tracefs(std::io::Error),
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// Makes sure tracefs is available (aya resolves tracepoint ids through it).
/// Returns true when this call mounted it.
pub fn ensure_tracefs() -> Result<bool, MountError> {
    if Path::new(TRACEFS).join("events").is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(false);
    }
    let src = CString::new("tracefs").expect("static string");
    let target = CString::new(TRACEFS).expect("static string");
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), target.as_ptr(), src.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(MountError::Tracefs(std::io::Error::last_os_error()));
    }
    Ok(true)
}
