//! Correlation: credential reads → outbound use, token provenance, reuse, long-lived
//! and unbound credentials. State is keyed by exec identity (entity ids), bounded, and
//! windows are wall-clock so records that arrive slightly out of order still match.

pub mod parsers;
mod reads;
mod state;

use std::time::Duration;

pub use state::{Correlator, Finding, FindingKind, Party, Provenance};

/// Windows and limits (all configurable on the command line).
#[derive(Debug, Clone)]
pub struct CorrelationConfig {
    /// A store read and an outbound request by related processes within this window
    /// are an exfiltration.
    pub window: Duration,
    /// One fingerprint used by two users / sessions / lineages within this window is reuse.
    pub reuse_window: Duration,
    /// Stored fingerprints kept at most.
    pub max_index: usize,
    /// Destinations (host globs) where an unbound bearer token is a finding.
    pub sensitive_destinations: Vec<String>,
    /// JWTs living longer than this (seconds) are a finding.
    pub jwt_max_lifetime_s: i64,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            reuse_window: Duration::from_secs(3600),
            max_index: 100_000,
            sensitive_destinations: Vec::new(),
            jwt_max_lifetime_s: 3600,
        }
    }
}
