//! Correlation: credential reads → outbound use, token provenance, reuse.

pub mod parsers;
