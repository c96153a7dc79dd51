//! Credentials in outbound requests: which kind, a keyed fingerprint, its length and a
//! tiny preview — never the secret itself.

mod classify;
pub mod fingerprint;
pub mod jwt;

pub use classify::{Credential, classify, redact_query, url_decode};
pub use fingerprint::Fingerprinter;
pub use jwt::JwtInfo;
