//! Stage 5: output. Events become Elastic Common Schema JSON documents ([`ecs`]) and
//! are rendered (ECS, or [`ocsf`]) and written to every configured sink ([`sinks`]).

pub mod attack;
pub mod correlation;
pub mod ecs;
pub mod metrics;
pub mod network;
pub mod ocsf;
pub mod session;
pub mod sinks;
pub mod time;

pub use ecs::{EcsBuilder, HostInfo, raise_to_critical};
pub use sinks::{SinkError, Sinks};
