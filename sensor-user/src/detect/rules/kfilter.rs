//! Kernel prefilter derivation: the name components the kernel checks so that only
//! opens a rule could match leave it. The kernel looks at the file's own name and the
//! names of its nearest [`MAX_ANCESTOR_DEPTH`] parent directories.

use super::model::Rule;

/// `NameMatch::positions` bit: a basename entry that only counts when the file's owner
/// is not the opener.
pub const POS_FOREIGN_OWNER: u8 = sensor_common::POS_FOREIGN_OWNER as u8;

/// Whether an entry's basename bit (if any) is restricted to foreign owners.
pub fn foreign_only(positions: u8) -> bool {
    positions & 1 == 0 || positions & POS_FOREIGN_OWNER != 0
}

/// `NameMatch::positions` bit: the name is a suffix of the file's own name.
pub const POS_SUFFIX: u8 = sensor_common::POS_SUFFIX as u8;
use sensor_common::MAX_SUFFIX;

/// Parent directories the kernel checks (depth 1 = the file's directory).
pub const MAX_ANCESTOR_DEPTH: u8 = 4;
/// Longest name the kernel compares; longer literals become prefixes.
pub const MAX_NAME: usize = 63;

/// One name the kernel accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    pub name: Vec<u8>,
    /// Match names that start with `name`.
    pub prefix: bool,
    /// Bit 0: the file's own name; bit d (1..=4): the ancestor at depth d; bit 5
    /// ([`POS_SUFFIX`]): a suffix of the file's own name.
    pub positions: u8,
}

/// What the kernel must let through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFilter {
    /// One entry per (name, prefix), positions OR-ed.
    pub names: Vec<NameMatch>,
    /// Some rule cannot be expressed as names: every open must leave the kernel.
    pub pass_all: bool,
    /// Rule ids (with the pattern) that forced `pass_all`.
    pub unfilterable: Vec<String>,
}

fn is_literal(c: &str) -> bool {
    !c.is_empty() && !c.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Name constraints for one pattern, or None when it cannot be prefiltered.
pub fn pattern_names(pattern: &str) -> Option<Vec<NameMatch>> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let last = *comps.last()?;
    if is_literal(last) {
        return Some(vec![name(last, false, 1)]);
    }
    if let Some(alts) = brace_alternatives(last) {
        return Some(alts.iter().map(|a| name(a, false, 1)).collect());
    }
    if let Some(prefix) = last.strip_suffix('*')
        && prefix.len() >= 2
        && is_literal(prefix)
    {
        return Some(vec![name(prefix, true, 1)]);
    }
    // Walk back to the nearest literal directory within reach.
    let mut depth: u8 = 0;
    let mut unbounded = last == "**";
    for c in comps.iter().rev().skip(1) {
        if *c == "**" {
            unbounded = true;
            continue;
        }
        depth += 1;
        if depth > MAX_ANCESTOR_DEPTH {
            break;
        }
        if is_literal(c) {
            let mut positions = 1u8 << depth;
            if unbounded {
                for d in depth..=MAX_ANCESTOR_DEPTH {
                    positions |= 1 << d;
                }
            }
            return Some(vec![name(c, false, positions)]);
        }
    }
    // No literal directory within reach: `**/*.keytab` is a name suffix, checked on the
    // file's own name wherever it is.
    if let Some(suffix) = last.strip_prefix('*')
        && suffix.len() >= 3
        && suffix.len() <= MAX_SUFFIX
        && is_literal(suffix)
    {
        return Some(vec![NameMatch {
            name: suffix.as_bytes().to_vec(),
            prefix: true,
            positions: POS_SUFFIX,
        }]);
    }
    None
}

fn name(s: &str, prefix: bool, positions: u8) -> NameMatch {
    let b = s.as_bytes();
    if b.len() > MAX_NAME {
        return NameMatch { name: b[..MAX_NAME].to_vec(), prefix: true, positions };
    }
    NameMatch { name: b.to_vec(), prefix, positions }
}

/// `{a,b,c}` with literal alternatives.
fn brace_alternatives(c: &str) -> Option<Vec<&str>> {
    let inner = c.strip_prefix('{')?.strip_suffix('}')?;
    let alts: Vec<&str> = inner.split(',').collect();
    alts.iter().all(|a| is_literal(a)).then_some(alts)
}

impl KernelFilter {
    /// Adds a name, OR-ing its positions into an existing entry for the same name.
    pub fn add_name(&mut self, n: NameMatch) {
        match self.names.iter_mut().find(|e| e.name == n.name && e.prefix == n.prefix) {
            Some(e) => {
                // Foreign-owner-only holds when every basename source asks for it.
                let foreign = foreign_only(e.positions) && foreign_only(n.positions);
                e.positions |= n.positions;
                if !foreign {
                    e.positions &= !POS_FOREIGN_OWNER;
                }
            }
            None => self.names.push(n),
        }
    }
}

/// Merges the names of every rule's patterns.
pub fn derive<'a>(rules: impl Iterator<Item = &'a Rule>) -> KernelFilter {
    let mut f = KernelFilter::default();
    for r in rules {
        if r.files.is_empty() {
            f.pass_all = true;
            f.unfilterable.push(format!("{} (condition only, no files)", r.id));
        }
        for p in &r.files {
            match pattern_names(p) {
                Some(names) => names.into_iter().for_each(|n| f.add_name(n)),
                None => {
                    f.pass_all = true;
                    f.unfilterable.push(format!("{} ({p})", r.id));
                }
            }
        }
    }
    f.names.sort_by(|a, b| (&a.name, a.prefix).cmp(&(&b.name, b.prefix)));
    f
}
