//! Command lines carry secrets (`curl -H "Authorization: Bearer …"`, `--password x`,
//! `GITHUB_TOKEN=ghp_…`). They are redacted as they enter the process table, so no
//! later stage can write them out raw. A redacted value keeps only its kind and length.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

struct Pattern {
    kind: &'static str,
    re: Regex,
    /// Capture group holding the secret (the rest of the match is kept).
    group: usize,
}

fn p(kind: &'static str, re: &str, group: usize) -> Pattern {
    Pattern { kind, re: Regex::new(re).expect("static redaction pattern"), group }
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    vec![
        p("jwt", r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", 0),
        p(
            "token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|hv[sb]\.[A-Za-z0-9_-]{20,})",
            0,
        ),
        p("url-password", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", 1),
        p("authorization", r"(?i)\b(?:bearer|basic|token|negotiate)\s+([A-Za-z0-9._~+/=-]{8,})", 1),
        p(
            "secret-value",
            r#"(?i)[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|session|credential|auth|signature)[A-Za-z0-9_.-]*\s*[=:]\s*("[^"]*"|'[^']*'|[^\s&;'"]+)"#,
            1,
        ),
    ]
});

/// Every pattern at once: one pass tells which (if any) can match, so clean text (most
/// arguments) costs one scan instead of one per pattern.
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(PATTERNS.iter().map(|p| p.re.as_str())).expect("static redaction patterns")
});

/// A flag whose *next* argument is a secret (`--password hunter2`).
static SECRET_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^--?[a-z0-9-]*(?:password|passwd|secret|token|api-?key|access-?key|passphrase)[a-z0-9-]*$",
    )
    .expect("static flag pattern")
});

fn marker(kind: &str, len: usize) -> String {
    format!("[REDACTED:{kind}:len={len}]")
}

/// An HTTP auth scheme word: the value after `Authorization:` is the scheme, the
/// secret follows it (and is caught by the `authorization` pattern).
fn is_auth_scheme(v: &str) -> bool {
    ["bearer", "basic", "token", "negotiate", "digest", "aws4-hmac-sha256", "dpop"]
        .iter()
        .any(|s| v.eq_ignore_ascii_case(s))
}

/// Redacts secrets inside one string. All patterns run on the original text and
/// overlapping findings are merged, so a marker is never re-matched.
pub fn redact_str(s: &str) -> String {
    let candidates = ANY.matches(s);
    if !candidates.matched_any() {
        return s.to_string();
    }
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for pat in candidates.iter().filter_map(|i| PATTERNS.get(i)) {
        for c in pat.re.captures_iter(s) {
            let Some(secret) = c.get(pat.group) else { continue };
            if pat.kind == "secret-value" && is_auth_scheme(secret.as_str()) {
                continue;
            }
            found.push((secret.start(), secret.end(), pat.kind));
        }
    }
    if found.is_empty() {
        return s.to_string();
    }
    // Earliest first; at the same start the longest wins.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for (start, end, kind) in found {
        if start < pos {
            continue;
        }
        out.push_str(&s[pos..start]);
        out.push_str(&marker(kind, end - start));
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// Redacts an argv: secrets inside arguments, and arguments that follow a secret flag.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut next_is_secret = false;
    for a in args {
        if next_is_secret {
            out.push(marker("flag-value", a.len()));
            next_is_secret = false;
            continue;
        }
        next_is_secret = SECRET_FLAG.is_match(a);
        out.push(redact_str(a));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bearer_header_keeps_scheme_drops_token() {
        let r = redact_str("Authorization: Bearer abcdefghijklmnop.qrs");
        assert!(!r.contains("abcdefghijklmnop"), "{r}");
        assert!(r.contains("Bearer [REDACTED:authorization:len="), "{r}");
    }

    #[test]
    fn known_prefixes_and_jwts() {
        for secret in [
            "ghp_Zq3vW8xYt2LmN9pQr4sTu7vWx0yZa1bC2dE3",
            "glpat-abcdefghijklmnopqrstu",
            "xoxb-1234567890-abcdef",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        ] {
            let r = redact_str(&format!("x {secret} y"));
            assert!(!r.contains(secret), "{secret} leaked: {r}");
            assert!(r.starts_with("x ") && r.ends_with(" y"), "{r}");
        }
    }

    #[test]
    fn key_value_and_url_passwords() {
        let r = redact_str("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG password='hunter2 x'");
        assert!(!r.contains("wJalrXUtnFEMI") && !r.contains("hunter2"), "{r}");
        assert!(r.starts_with("AWS_SECRET_ACCESS_KEY=[REDACTED:"), "{r}");
        let r = redact_str("https://alice:s3cr3t@example.com/x");
        assert_eq!(r, "https://alice:[REDACTED:url-password:len=6]@example.com/x");
    }

    #[test]
    fn aws_signatures_in_headers_are_redacted() {
        let r = redact_str(
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20261204/us-east-1/s3/aws4_request, Signature=fe5f80f77d5f",
        );
        assert!(!r.contains("fe5f80f77d5f"), "{r}");
        assert!(r.contains("AWS4-HMAC-SHA256 Credential="), "scheme and key id stay readable: {r}");
    }

    #[test]
    fn flag_values_are_redacted() {
        let r = redact_args(&args(&["mysql", "--password", "hunter2", "-u", "root"]));
        assert_eq!(r, args(&["mysql", "--password", "[REDACTED:flag-value:len=7]", "-u", "root"]));
    }

    #[test]
    fn ordinary_arguments_are_untouched() {
        let a = args(&["cat", "/home/alice/.aws/credentials", "--number", "a=b"]);
        assert_eq!(redact_args(&a), a);
    }
}
