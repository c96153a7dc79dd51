//! Stage 1 of the pipeline: load the kernel programs, attach them, and own their maps.
//! Records leave through the `EVENTS` ring buffer to [`crate::decode`].

pub mod btf;
pub mod filter;
pub mod loader;
pub mod mounts;
pub mod stats;
pub mod tls;
pub mod uprobe_site;

pub use loader::{ProbeError, Probes};
