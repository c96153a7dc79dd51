//! Where in a function to put a uprobe so that a hit is cheap.
//!
//! A uprobe at a function's first instruction usually lands on one the kernel cannot
//! emulate (`sub rsp`, `mov`), so every hit single-steps it out of line: two traps. On
//! virtual machines each trap can exit to the hypervisor (measured here: ≈ 23 µs per
//! hit at `SSL_write+0`, ≈ 2 µs at its first `call`). Relative `call`/`jmp`/`jcc`
//! instructions are emulated, so the probe goes on the function's first branch when
//! everything before it runs straight through and leaves the argument registers
//! untouched: the program then reads the same arguments it would at the entry.

use std::path::Path;

use iced_x86::{Decoder, DecoderOptions, FlowControl, InstructionInfoFactory, OpAccess, Register};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

/// Bytes of a function examined.
const WINDOW: usize = 64;

/// Argument registers the TLS programs read (first three integer arguments).
const ARGS: [Register; 3] = [Register::RDI, Register::RSI, Register::RDX];

/// For each of `symbols`: `None` when `path` does not define it (an import is not a
/// definition), else where to probe it, as an offset from its start: its first branch
/// when the instructions before it run straight through without writing an argument
/// register, else 0 (the entry). The file is parsed once, and read only in the ranges
/// the symbol tables and the functions' first bytes need.
pub fn symbol_sites(path: &Path, symbols: &[&str]) -> Vec<Option<u64>> {
    let none = || vec![None; symbols.len()];
    let Ok(f) = std::fs::File::open(path) else { return none() };
    let cache = object::read::ReadCache::new(f);
    let Ok(file) = object::File::parse(&cache) else { return none() };
    let mut sites = none();
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        if sym.is_undefined() || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        for (i, wanted) in symbols.iter().enumerate() {
            if sites[i].is_none() && name == *wanted {
                sites[i] = Some(branch_in(&file, &sym).unwrap_or(0));
            }
        }
    }
    sites
}

/// The first safe branch of a defined symbol (see [`first_safe_branch`]), on x86-64.
fn branch_in<'d, R: object::ReadRef<'d>>(
    file: &object::File<'d, R>,
    sym: &object::Symbol<'d, '_, R>,
) -> Option<u64> {
    if file.architecture() != object::Architecture::X86_64 {
        return None;
    }
    let section = file.section_by_index(sym.section_index()?).ok()?;
    let start = usize::try_from(sym.address().checked_sub(section.address())?).ok()?;
    let data = section.data().ok()?;
    let end = start.checked_add((sym.size() as usize).clamp(1, WINDOW))?.min(data.len());
    first_safe_branch(data.get(start..end)?, sym.address())
}

/// The offset within `code` (a function's first bytes at address `ip`) of its first
/// relative branch, if nothing before it branches or writes an argument register.
pub fn first_safe_branch(code: &[u8], ip: u64) -> Option<u64> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut info = InstructionInfoFactory::new();
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        match insn.flow_control() {
            FlowControl::Next => {}
            FlowControl::Call | FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
                if insn.is_call_near() || insn.is_jmp_short_or_near() || insn.is_jcc_short_or_near() =>
            {
                return Some(insn.ip() - ip);
            }
            _ => return None,
        }
        let writes_arg = info.info(&insn).used_registers().iter().any(|u| {
            matches!(
                u.access(),
                OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
            ) && ARGS.contains(&u.register().full_register())
                && !sign_extends_in_place(&insn)
        });
        if writes_arg {
            return None;
        }
    }
    None
}

/// `movsxd r64, r32` of the same register: an `int` argument widened, same value.
fn sign_extends_in_place(insn: &iced_x86::Instruction) -> bool {
    insn.mnemonic() == iced_x86::Mnemonic::Movsxd
        && insn.op_count() == 2
        && insn.op0_register().full_register() == insn.op1_register().full_register()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_style_prologue_moves_the_probe_to_the_first_branch() {
        // sub rsp,0x18; mov rax,fs:[0x28]; mov [rsp+8],rax; xor eax,eax; test edx,edx; js +0x2f
        let code = [
            0x48, 0x83, 0xec, 0x18, 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00, 0x48, 0x89, 0x44,
            0x24, 0x08, 0x31, 0xc0, 0x85, 0xd2, 0x78, 0x2f,
        ];
        assert_eq!(first_safe_branch(&code, 0x1000), Some(0x16));
    }

    #[test]
    fn a_write_to_an_argument_register_keeps_the_probe_at_the_entry() {
        // mov rdi,[rdi]; call +0
        let code = [0x48, 0x8b, 0x3f, 0xe8, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(first_safe_branch(&code, 0), None);
        // movsxd rdx,edx; call +0: the same value, widened.
        let code = [0x48, 0x63, 0xd2, 0xe8, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(first_safe_branch(&code, 0), Some(3));
    }

    #[test]
    fn a_tail_jump_is_a_branch_and_a_return_is_not() {
        // xor r8d,r8d; xor ecx,ecx; jmp rel32 (gnutls_record_send)
        let code = [0x45, 0x31, 0xc0, 0x31, 0xc9, 0xe9, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(first_safe_branch(&code, 0), Some(5));
        assert_eq!(first_safe_branch(&[0xc3], 0), None);
    }

    #[test]
    fn the_systems_libssl_gets_an_emulated_probe_site() {
        let lib = Path::new("/lib/x86_64-linux-gnu/libssl.so.3");
        if !lib.exists() {
            return;
        }
        let sites = symbol_sites(lib, &["SSL_write", "no_such_symbol"]);
        let off = sites[0].expect("libssl defines SSL_write");
        assert!(off > 0 && off < WINDOW as u64, "SSL_write has a branch before any argument write: {off}");
        assert_eq!(sites[1], None, "a symbol the library does not define");
    }
}
