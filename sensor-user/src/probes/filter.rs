//! Writes the rules' kernel prefilter into the maps: watched names (LPM trie), watched
//! inodes (hash map) and switches (config array).

use std::collections::{HashMap, HashSet};

use aya::maps::lpm_trie::Key;
use sensor_common::{
    CONFIG_ANCESTOR_MASK, CONFIG_FLAGS, FLAG_PASS_ALL_OPENS, FLAG_SUFFIXES, GATE_ANCESTOR, GATE_BASENAME,
    GATE_SUFFIX, GATE_WORDS, INODE_ANY_DEV, INODE_BITS, INODE_BITS_WORDS, InodeKey, MAX_SUFFIX, NAME_KEY_LEN,
    NameFilterValue, POS_BASENAME, POS_FOREIGN_OWNER, POS_SUFFIX, SUFFIX_MARKER, gate_bit,
};

use super::{ProbeError, Probes};
use crate::detect::rules::{KernelFilter, NameMatch, foreign_only};

/// One LPM-trie entry as written to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrieEntry {
    pub prefix_bits: u32,
    pub data: [u8; NAME_KEY_LEN],
    pub positions: u32,
}

/// Turns name matches into trie entries. An exact name is stored with its NUL so it only
/// matches whole names; a prefix without. Because the trie answers with the longest
/// match only, each entry also carries the positions of every shorter entry that is a
/// prefix of it.
pub fn trie_entries(names: &[NameMatch]) -> Vec<TrieEntry> {
    let mut entries: Vec<TrieEntry> = names
        .iter()
        .filter(|n| u32::from(n.positions) & !POS_SUFFIX != 0)
        .map(|n| {
            let len = n.name.len().min(NAME_KEY_LEN - 1);
            let mut data = [0u8; NAME_KEY_LEN];
            data[..len].copy_from_slice(&n.name[..len]);
            let exact = !n.prefix && n.name.len() < NAME_KEY_LEN;
            let bytes = if exact { len + 1 } else { len };
            TrieEntry {
                prefix_bits: (bytes * 8) as u32,
                data,
                positions: u32::from(n.positions) & !POS_SUFFIX,
            }
        })
        .collect();
    let suffixes = names.iter().filter(|n| u32::from(n.positions) & POS_SUFFIX != 0).map(|n| {
        let len = n.name.len().min(MAX_SUFFIX);
        let mut data = [0u8; NAME_KEY_LEN];
        data[0] = SUFFIX_MARKER;
        for (i, b) in n.name.iter().rev().take(len).enumerate() {
            data[i + 1] = *b;
        }
        TrieEntry { prefix_bits: ((len + 1) * 8) as u32, data, positions: POS_SUFFIX }
    });
    entries.extend(suffixes);
    let snapshot = entries.clone();
    for e in &mut entries {
        for other in &snapshot {
            let ob = (other.prefix_bits / 8) as usize;
            if other.prefix_bits < e.prefix_bits && e.data[..ob] == other.data[..ob] {
                let foreign = foreign_only(e.positions as u8) && foreign_only(other.positions as u8);
                e.positions |= other.positions;
                if !foreign {
                    e.positions &= !POS_FOREIGN_OWNER;
                }
            }
        }
    }
    entries.sort_by_key(|e| (e.prefix_bits, e.data));
    entries.dedup_by(|a, b| {
        if a.prefix_bits == b.prefix_bits && a.data == b.data {
            let foreign = foreign_only(a.positions as u8) && foreign_only(b.positions as u8);
            b.positions |= a.positions;
            if !foreign {
                b.positions &= !POS_FOREIGN_OWNER;
            }
            true
        } else {
            false
        }
    });
    entries
}

/// The name gate for a set of trie entries: every (class, two bytes) some entry can
/// match (see `sensor_common::filter::gate_bit`).
pub fn gate_words(entries: &[TrieEntry]) -> Vec<u64> {
    let mut words = vec![0u64; GATE_WORDS as usize];
    let mut set = |class: u32, first: u8, second: Option<u8>| {
        let seconds = match second {
            Some(b) => b..=b,
            None => 0..=u8::MAX,
        };
        for b in seconds {
            let (w, bit) = gate_bit(class, first, b);
            words[w as usize] |= 1 << bit;
        }
    };
    for e in entries {
        let bytes = (e.prefix_bits / 8) as usize;
        if e.positions & POS_SUFFIX != 0 {
            // Marker, then the suffix reversed: its last byte first.
            match bytes {
                0 | 1 => (0..=u8::MAX).for_each(|b| set(GATE_SUFFIX, b, None)),
                2 => set(GATE_SUFFIX, e.data[1], None),
                _ => set(GATE_SUFFIX, e.data[1], Some(e.data[2])),
            }
            continue;
        }
        let mut classes = Vec::new();
        if e.positions & POS_BASENAME != 0 {
            classes.push(GATE_BASENAME);
        }
        if e.positions & ANCESTOR_POSITIONS != 0 {
            classes.push(GATE_ANCESTOR);
        }
        for class in classes {
            match bytes {
                0 => (0..=u8::MAX).for_each(|b| set(class, b, None)),
                1 => set(class, e.data[0], None),
                _ => set(class, e.data[0], Some(e.data[1])),
            }
        }
    }
    words
}

/// Ancestor bits of `NameFilterValue::positions` (depths 1..=4).
const ANCESTOR_POSITIONS: u32 = 0b1_1110;

/// Replaces the name trie, the name gate and switches with `filter`'s.
pub fn apply_names(probes: &mut Probes, filter: &KernelFilter) -> Result<usize, ProbeError> {
    let wrap = |source| ProbeError::Map { name: "NAME_FILTER", source };
    let entries = trie_entries(&filter.names);
    let wanted: HashSet<(u32, [u8; NAME_KEY_LEN])> =
        entries.iter().map(|e| (e.prefix_bits, e.data)).collect();
    for e in &entries {
        let key = Key::new(e.prefix_bits, e.data);
        probes
            .name_filter
            .insert(&key, NameFilterValue { positions: e.positions, _pad0: 0 }, 0)
            .map_err(wrap)?;
    }
    let stale: Vec<Key<[u8; NAME_KEY_LEN]>> = probes
        .name_filter
        .keys()
        .filter_map(Result::ok)
        .filter(|k| !wanted.contains(&(k.prefix_len(), k.data())))
        .collect();
    for k in stale {
        probes.name_filter.remove(&k).map_err(wrap)?;
    }
    write_words(&mut probes.name_gate, &mut probes.gate, gate_words(&entries), "NAME_GATE")?;
    let ancestor_mask =
        entries.iter().fold(0u64, |m, e| m | u64::from(e.positions & !(1 | POS_SUFFIX | POS_FOREIGN_OWNER)));
    let mut flags = if filter.pass_all { FLAG_PASS_ALL_OPENS } else { 0 };
    if entries.iter().any(|e| e.positions & POS_SUFFIX != 0) {
        flags |= FLAG_SUFFIXES;
    }
    let cwrap = |source| ProbeError::Map { name: "CONFIG", source };
    probes.config.set(CONFIG_ANCESTOR_MASK, ancestor_mask, 0).map_err(cwrap)?;
    probes.config.set(CONFIG_FLAGS, flags, 0).map_err(cwrap)?;
    Ok(entries.len())
}

/// The kernel map's content for a set of watched files: inode number → device, or
/// `INODE_ANY_DEV` when the number is watched on several devices.
pub fn inode_map_entries(wanted: &HashSet<InodeKey>) -> HashMap<u64, u32> {
    let mut m: HashMap<u64, u32> = HashMap::new();
    for k in wanted {
        m.entry(k.ino)
            .and_modify(|d| {
                if *d != k.dev {
                    *d = INODE_ANY_DEV
                }
            })
            .or_insert(k.dev);
    }
    m
}

/// Makes the kernel's watched-inode map equal to `wanted`.
pub fn apply_inodes(probes: &mut Probes, wanted: &HashSet<InodeKey>) -> Result<(), ProbeError> {
    let wrap = |source| ProbeError::Map { name: "INODE_FILTER", source };
    let target = inode_map_entries(wanted);
    // Bits first when widening, so a new store is never hidden behind a clear bit; the
    // stale bits go after the map entries (a set bit only costs a hash lookup).
    let bits = inode_bitmap(target.keys().copied());
    let union: Vec<u64> = bits.iter().zip(&probes.inode_bits).map(|(a, b)| a | b).collect();
    write_words(&mut probes.inode_bitmap, &mut probes.inode_bits, union, "INODE_BITMAP")?;
    let present: HashMap<u64, u32> = probes.inode_filter.iter().filter_map(Result::ok).collect();
    for (ino, dev) in &target {
        if present.get(ino) != Some(dev) {
            probes.inode_filter.insert(ino, dev, 0).map_err(wrap)?;
        }
    }
    for ino in present.keys().filter(|i| !target.contains_key(i)) {
        probes.inode_filter.remove(ino).map_err(wrap)?;
    }
    write_words(&mut probes.inode_bitmap, &mut probes.inode_bits, bits, "INODE_BITMAP")
}

/// The inode bitmap for a set of inode numbers (bit `ino % INODE_BITS`).
pub fn inode_bitmap(inos: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut words = vec![0u64; INODE_BITS_WORDS as usize];
    for ino in inos {
        let bit = ino % INODE_BITS;
        words[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    words
}

/// Writes the words of an array map that differ from `current` (what the kernel holds).
fn write_words(
    map: &mut aya::maps::Array<aya::maps::MapData, u64>,
    current: &mut [u64],
    words: Vec<u64>,
    name: &'static str,
) -> Result<(), ProbeError> {
    for (i, (&new, old)) in words.iter().zip(current.iter_mut()).enumerate() {
        if new != *old {
            map.set(i as u32, new, 0).map_err(|source| ProbeError::Map { name, source })?;
            *old = new;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nm(name: &str, prefix: bool, positions: u8) -> NameMatch {
        NameMatch { name: name.as_bytes().to_vec(), prefix, positions }
    }

    #[test]
    fn foreign_owner_only_survives_only_when_every_source_asks_for_it() {
        let foreign = (1 | POS_FOREIGN_OWNER) as u8;
        let e = trie_entries(&[nm("maps", false, foreign)]);
        assert_eq!(e[0].positions, 1 | POS_FOREIGN_OWNER);
        // A shorter plain basename prefix lets every "maps" through.
        let e = trie_entries(&[nm("maps", false, foreign), nm("ma", true, 1)]);
        let maps = e.iter().find(|x| x.prefix_bits == 40).expect("maps entry");
        assert_eq!(maps.positions, 1, "{e:?}");
        let mut f = KernelFilter::default();
        f.add_name(nm("maps", false, foreign));
        f.add_name(nm("maps", false, 1 << 2));
        assert_eq!(
            u32::from(f.names[0].positions),
            1 | POS_FOREIGN_OWNER | 4,
            "ancestor use keeps the restriction"
        );
        f.add_name(nm("maps", false, 1));
        assert_eq!(f.names[0].positions, 1 | 4, "a plain basename use lifts it");
    }

    #[test]
    fn suffixes_are_stored_reversed_behind_the_marker() {
        let entries = trie_entries(&[nm(".keytab", true, POS_SUFFIX as u8), nm("cache", false, 1)]);
        let s = entries.iter().find(|e| e.positions == POS_SUFFIX).expect("suffix entry");
        assert_eq!(s.prefix_bits, 64, "marker + 7 bytes");
        assert_eq!(&s.data[..8], b"\xffbatyek.");
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn exact_names_include_nul_and_inherit_prefix_positions() {
        let entries = trie_entries(&[nm("id_", true, 1), nm("id_rsa", false, 2), nm("cache", false, 2)]);
        let id = entries.iter().find(|e| e.prefix_bits == 24).expect("prefix entry");
        assert_eq!(&id.data[..3], b"id_");
        assert_eq!(id.positions, 1);
        let rsa = entries.iter().find(|e| e.prefix_bits == 56).expect("exact id_rsa with NUL");
        assert_eq!(&rsa.data[..7], b"id_rsa\0");
        assert_eq!(rsa.positions, 3, "exact entry carries the prefix entry's basename bit");
        let cache = entries.iter().find(|e| &e.data[..5] == b"cache").expect("cache");
        assert_eq!(cache.positions, 2);
    }

    #[test]
    fn inode_numbers_shared_by_two_devices_match_any_device() {
        let k = |dev, ino| InodeKey { dev, _pad0: 0, ino };
        let m = inode_map_entries(&[k(1, 10), k(2, 10), k(1, 11)].into_iter().collect());
        assert_eq!(m[&10], INODE_ANY_DEV);
        assert_eq!(m[&11], 1);
    }

    #[test]
    fn the_gate_admits_exactly_the_first_bytes_of_watched_names() {
        let names = [
            nm("credentials", false, 0b1),
            nm(".aws", false, 0b10),
            nm(".keytab", true, POS_SUFFIX as u8),
            nm("k", true, 0b1),
        ];
        let words = gate_words(&trie_entries(&names));
        let has = |class, a: u8, b: u8| {
            let (w, bit) = gate_bit(class, a, b);
            words[w as usize] >> bit & 1 == 1
        };
        assert!(has(GATE_BASENAME, b'c', b'r'));
        assert!(!has(GATE_BASENAME, b'c', b'o'), "no watched basename starts with co");
        assert!(!has(GATE_ANCESTOR, b'c', b'r'), "credentials is not an ancestor entry");
        assert!(has(GATE_ANCESTOR, b'.', b'a'));
        assert!(has(GATE_SUFFIX, b'b', b'a'), "last two bytes of .keytab, reversed");
        assert!(!has(GATE_SUFFIX, b'a', b'b'));
        for b in [0u8, b'x', 0xff] {
            assert!(has(GATE_BASENAME, b'k', b), "a one-byte prefix admits every second byte");
        }
    }

    #[test]
    fn duplicates_merge_positions() {
        let entries = trie_entries(&[nm("secrets", false, 2), nm("secrets", false, 4)]);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].positions, 6);
    }
}
