//! Reads of kernel memory at offsets found in BTF.

use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes};

/// Reads a `T` at `base + off`.
#[inline(always)]
pub fn read<T>(base: *const u8, off: usize) -> Result<T, i64> {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad pointer is an error.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off) as *const T) }.map_err(i64::from)
}

/// Reads a pointer at `base + off`; a null result is an error.
#[inline(always)]
pub fn read_ptr(base: *const u8, off: usize) -> Result<*const u8, i64> {
    let p: *const u8 = read(base, off)?;
    if p.is_null() { Err(-14) } else { Ok(p) }
}

/// Copies a NUL-terminated kernel string into `dst`; returns the bytes copied
/// (without the NUL).
#[inline(always)]
pub fn read_str(src: *const u8, dst: &mut [u8]) -> Result<usize, i64> {
    // SAFETY: the helper bounds the copy by dst.len() and checks the source address.
    unsafe { bpf_probe_read_kernel_str_bytes(src, dst) }.map(|s| s.len()).map_err(i64::from)
}
