//! tokenwarden's kernel programs. Built for the BPF target by `sensor-user/build.rs`.
#![no_std]
#![no_main]

mod kread;
mod maps;
mod open;
mod path;
mod process;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// GPL: the programs use GPL-only helpers (bpf_probe_read_kernel).
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
