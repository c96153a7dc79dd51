//! Stage 5: output. Events become Elastic Common Schema JSON documents ([`ecs`]) and
//! are written, one per line, to a sink ([`sink`]).

pub mod attack;
pub mod correlation;
pub mod ecs;
pub mod network;
pub mod session;
pub mod sink;
pub mod time;

pub use ecs::{EcsBuilder, HostInfo};
pub use sink::{Sink, SinkError};
