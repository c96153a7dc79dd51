//! Kernel prefilter maps: which opens may leave the kernel.

/// Bytes of a name key in the `NAME_FILTER` LPM trie.
pub const NAME_KEY_LEN: usize = 64;
/// `NameFilterValue::positions` bit 0: the entry matches the file's own name.
pub const POS_BASENAME: u32 = 1;
/// `NameFilterValue::positions` bit 5: a suffix of the file's own name. Suffix entries
/// are stored as [`SUFFIX_MARKER`] followed by the suffix reversed, and looked up with
/// the reversed name, so the trie's longest-prefix match is a suffix match.
pub const POS_SUFFIX: u32 = 1 << 5;
/// `NameFilterValue::positions` bit 6: the basename entry only counts when the file's
/// owner is not the opener (`/proc/<pid>/maps` of another user's process).
pub const POS_FOREIGN_OWNER: u32 = 1 << 6;
/// First byte of suffix keys (never part of a UTF-8 name).
pub const SUFFIX_MARKER: u8 = 0xff;
/// Longest suffix compared.
pub const MAX_SUFFIX: usize = 32;
/// Ancestor directories checked by the kernel (depth 1 = parent directory).
pub const MAX_ANCESTOR_DEPTH: u32 = 4;

/// The name gate: one bit per (class, first byte, second byte), so the kernel can
/// reject a name that no watched entry can match with a 2-byte read and an array
/// lookup, before any string copy or trie walk. Classes:
/// the file's own name (its first two bytes), an ancestor directory's name (its first
/// two bytes), and the file's name read backwards (its last two bytes) for suffixes.
pub const GATE_BASENAME: u32 = 0;
pub const GATE_ANCESTOR: u32 = 1;
pub const GATE_SUFFIX: u32 = 2;
/// Bits per gate class (two bytes).
pub const GATE_CLASS_BITS: u32 = 1 << 16;
/// `u64` words of the `NAME_GATE` array map.
pub const GATE_WORDS: u32 = 3 * GATE_CLASS_BITS / 64;

/// Word index and bit of a gate entry: `class`, then the two bytes (the second is 0
/// for a one-byte name: the NUL that ends it).
#[inline(always)]
pub const fn gate_bit(class: u32, first: u8, second: u8) -> (u32, u32) {
    let idx = class * GATE_CLASS_BITS + ((first as u32) << 8 | second as u32);
    (idx / 64, idx % 64)
}

/// Bits of the kernel's inode bitmap (`ino % INODE_BITS`), a cheap first check before
/// the exact inode map.
pub const INODE_BITS: u64 = 1 << 20;
/// `u64` words of the `INODE_BITMAP` array map.
pub const INODE_BITS_WORDS: u32 = (INODE_BITS / 64) as u32;

/// A watched file's identity. The kernel map `INODE_FILTER` is keyed by `ino` alone
/// (so the hot path need not read the superblock) with the device as value, checked
/// only on a hit; [`INODE_ANY_DEV`] marks an inode number watched on several devices.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InodeKey {
    /// Kernel `s_dev` (major<<20|minor).
    pub dev: u32,
    pub _pad0: u32,
    pub ino: u64,
}

/// `INODE_FILTER` value: the inode number is watched on more than one device.
pub const INODE_ANY_DEV: u32 = u32::MAX;

/// Value of `NAME_FILTER` (an LPM trie keyed by name bytes): where the name must stand.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameFilterValue {
    /// Bit 0: basename; bit d (1..=4): ancestor directory at depth d.
    pub positions: u32,
    pub _pad0: u32,
}

/// Index into the `CONFIG` array map.
pub const CONFIG_FLAGS: u32 = 0;
/// `CONFIG[CONFIG_FLAGS]` bit: every successful open leaves the kernel (a rule cannot
/// be prefiltered).
pub const FLAG_PASS_ALL_OPENS: u64 = 1;
/// `CONFIG[CONFIG_FLAGS]` bit: some rule watches a name suffix (`*.keytab`).
pub const FLAG_SUFFIXES: u64 = 2;
/// Index into `CONFIG`: OR of the ancestor bits (1 << depth) any name entry uses, so
/// the kernel skips walking parents nobody watches.
pub const CONFIG_ANCESTOR_MASK: u32 = 1;
/// Index into `CONFIG`: bytes waiting in the ring buffer at which a record wakes the
/// consumer; below, userspace picks records up on its poll tick. 0: the kernel's
/// adaptive wake-up per record.
pub const CONFIG_WAKEUP_BYTES: u32 = 2;
/// Entries in the `CONFIG` array.
pub const CONFIG_ENTRIES: u32 = 4;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `#[repr(C)]`, integers only, explicit padding.
    unsafe impl aya::Pod for super::InodeKey {}
    unsafe impl aya::Pod for super::NameFilterValue {}
}
