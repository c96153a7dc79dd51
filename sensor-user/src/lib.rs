//! tokenwarden: an eBPF host sensor for credential and session theft after login.
//!
//! The event path is a pipeline and the modules follow it:
//! [`probes`] (load/attach, kernel maps) → [`decode`] (raw records → events) →
//! [`process`] (process table: exec identity, lineage) → [`detect`] (rules, store
//! index) → [`output`] (ECS/OCSF documents, sinks). [`daemon`] wires the stages together;
//! [`config`] resolves its settings.

pub mod config;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod output;
pub mod probes;
pub mod process;
