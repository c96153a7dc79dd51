//! Stage 4: detection. Rules decide which opens are credential-store access, the store
//! index gives files their identity beyond the path used to open them.

pub mod correlate;
pub mod credentials;
pub mod egress;
pub mod engine;
pub mod oauth;
pub mod rules;
pub mod session;
pub mod stores;

pub use engine::{Detector, OpenMatch};
