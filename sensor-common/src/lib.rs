//! Types shared by the kernel programs (`sensor-ebpf`) and the daemon (`sensor-user`).
//!
//! Everything that crosses the kernel/user boundary is `#[repr(C)]` with explicit
//! padding and only integer fields (no `bool`, no enums): userspace decodes records by
//! checking length and kind first and then reading them with `read_unaligned`.
#![no_std]

pub mod event;
pub mod filter;
pub mod offsets;
pub mod stats;

pub use event::*;
pub use filter::*;
pub use offsets::KernelOffsets;
pub use stats::*;
