//! Keyed fingerprints: the only form in which a secret leaves the sensor.
//! HMAC-SHA256 with a host or fleet key, so one token has one fingerprint on every
//! host sharing the key, and nobody without the key can test a guess against it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex characters of a fingerprint (128 bits).
pub const FINGERPRINT_HEX: usize = 32;

#[derive(Clone)]
pub struct Fingerprinter {
    key: Vec<u8>,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter { key: <redacted> }")
    }
}

impl Fingerprinter {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// Truncated hex HMAC of `secret`.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(secret);
        let out = mac.finalize().into_bytes();
        out.iter().take(FINGERPRINT_HEX / 2).map(|b| format!("{b:02x}")).collect()
    }
}

/// At most the first 4 characters, and never more than 10 % of the secret; JWTs get
/// none (their claims are reported instead).
pub fn preview(secret: &str, is_jwt: bool) -> String {
    if is_jwt {
        return String::new();
    }
    let n = (secret.chars().count() / 10).min(4);
    if n == 0 {
        return String::new();
    }
    let head: String = secret.chars().take(n).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_fingerprint_other_key_other() {
        let a = Fingerprinter::new(b"fleet-key");
        let b = Fingerprinter::new(b"fleet-key");
        let c = Fingerprinter::new(b"other-key");
        assert_eq!(a.fingerprint(b"tok"), b.fingerprint(b"tok"));
        assert_ne!(a.fingerprint(b"tok"), c.fingerprint(b"tok"));
        assert_eq!(a.fingerprint(b"tok").len(), FINGERPRINT_HEX);
        assert!(!format!("{a:?}").contains("fleet"));
    }

    #[test]
    fn previews_are_tiny() {
        assert_eq!(preview("ghp_abcdefghijklmnopqrstuvwxyz0123456789", false), "ghp_…");
        assert_eq!(preview("short-tok", false), "");
        assert_eq!(preview("abcdefghijklmnopqrst", false), "ab…");
        assert_eq!(preview("eyJhbGciOi.x.y", true), "");
    }
}
