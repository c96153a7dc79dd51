//! Finds credentials in a request head: headers, cookies, query string and the first
//! bytes of the body.

use std::sync::LazyLock;

use regex::Regex;

use super::{
    fingerprint::{Fingerprinter, preview},
    jwt::{self, JwtInfo},
};
use crate::decode::http::HttpRequest;

/// One credential seen in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// `jwt`, `bearer`, `basic`, `aws_sigv4`, `aws_session_token`, `cookie`, `api_key`,
    /// `github_token`, `gitlab_token`, `slack_token`, `vault_token`, `refresh_token`,
    /// `client_secret`, `password`.
    pub kind: &'static str,
    /// Where: `header:authorization`, `cookie:SESSIONID`, `query:access_token`, `body:refresh_token`.
    pub location: String,
    pub fingerprint: String,
    pub preview: String,
    pub length: usize,
    /// AWS access-key id (an identifier, not a secret) for SigV4.
    pub key_id: Option<String>,
    pub jwt: Option<JwtInfo>,
    /// Sender-constrained: DPoP proof, `cnf` claim, or a client certificate.
    pub bound: bool,
}

static JWT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*").expect("static")
});
static PREFIXED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abp]-[A-Za-z0-9-]{10,}|hv[sb]\.[A-Za-z0-9_-]{20,})")
        .expect("static")
});
static SIGV4_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Credential=((?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,})/").expect("static"));

/// Kind of a token from its well-known prefix.
fn prefixed_kind(t: &str) -> Option<&'static str> {
    if t.starts_with("ghp_")
        || t.starts_with("gho_")
        || t.starts_with("ghu_")
        || t.starts_with("ghs_")
        || t.starts_with("ghr_")
        || t.starts_with("github_pat_")
    {
        Some("github_token")
    } else if t.starts_with("glpat-") {
        Some("gitlab_token")
    } else if t.starts_with("xoxa-") || t.starts_with("xoxb-") || t.starts_with("xoxp-") {
        Some("slack_token")
    } else if t.starts_with("hvs.") || t.starts_with("hvb.") {
        Some("vault_token")
    } else {
        None
    }
}

/// Cookie names that hold sessions.
fn session_cookie(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["sess", "sid", "token", "auth", "jwt", "login", "remember", "csrf"].iter().any(|k| n.contains(k))
}

struct Found<'a> {
    fp: &'a Fingerprinter,
    out: Vec<Credential>,
}

impl Found<'_> {
    fn add(&mut self, kind: &'static str, location: String, secret: &str, key_id: Option<String>) {
        let jwt = jwt::decode(secret);
        let kind =
            if jwt.is_some() && matches!(kind, "bearer" | "cookie" | "api_key") { "jwt" } else { kind };
        let fingerprint = self.fp.fingerprint(secret.as_bytes());
        if self.out.iter().any(|c| c.fingerprint == fingerprint && c.location == location) {
            return;
        }
        let bound = jwt.as_ref().is_some_and(|j| j.cnf);
        self.out.push(Credential {
            kind,
            location,
            preview: if key_id.is_some() { String::new() } else { preview(secret, jwt.is_some()) },
            length: secret.len(),
            fingerprint,
            key_id,
            jwt,
            bound,
        });
    }

    /// JWTs and prefixed tokens anywhere in free text.
    fn scan(&mut self, text: &str, location: &str) {
        for m in JWT_RE.find_iter(text) {
            self.add("jwt", location.to_string(), m.as_str(), None);
        }
        for m in PREFIXED_RE.find_iter(text) {
            let kind = prefixed_kind(m.as_str()).unwrap_or("api_key");
            self.add(kind, location.to_string(), m.as_str(), None);
        }
    }
}

/// Percent-decodes a query or form value (`+` is a space); invalid escapes stay as they are.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match b
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query/form parameters whose value is a credential, by name.
fn param_kind(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "refresh_token" => "refresh_token",
        "client_secret" => "client_secret",
        "password" | "passwd" => "password",
        "access_token" | "id_token" | "token" | "assertion" | "client_assertion" | "subject_token" => {
            "bearer"
        }
        "api_key" | "apikey" | "key" | "x-api-key" => "api_key",
        "x-amz-security-token" => "aws_session_token",
        _ => return None,
    })
}

fn params(found: &mut Found<'_>, text: &str, origin: &str) {
    for pair in text.split('&') {
        let Some((k, v)) = pair.split_once('=') else { continue };
        let v = url_decode(v);
        if v.is_empty() {
            continue;
        }
        let k = url_decode(k);
        if k.eq_ignore_ascii_case("x-amz-credential")
            && let Some(akid) = v.split('/').next()
        {
            found.add("aws_sigv4", format!("{origin}:{k}"), akid, Some(akid.to_string()));
        } else if let Some(kind) = param_kind(&k) {
            found.add(kind, format!("{origin}:{k}"), &v, None);
        } else {
            found.scan(&v, &format!("{origin}:{k}"));
        }
    }
}

/// Every credential in `req`.
pub fn classify(req: &HttpRequest, fp: &Fingerprinter) -> Vec<Credential> {
    let mut found = Found { fp, out: Vec::new() };
    let dpop = req.header("dpop").next().is_some();
    for (name, raw) in &req.headers {
        let value = String::from_utf8_lossy(raw);
        let value = value.trim();
        let loc = format!("header:{name}");
        match name.as_str() {
            "authorization" | "proxy-authorization" => {
                let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                let rest = rest.trim();
                match scheme.to_ascii_lowercase().as_str() {
                    "bearer" | "dpop" => found.add("bearer", loc, rest, None),
                    "basic" => found.add("basic", loc, rest, None),
                    "token" => found.add(prefixed_kind(rest).unwrap_or("api_key"), loc, rest, None),
                    "aws4-hmac-sha256" => {
                        if let Some(c) = SIGV4_RE.captures(rest) {
                            let akid = c[1].to_string();
                            found.add("aws_sigv4", loc, &akid, Some(akid.clone()));
                        }
                    }
                    _ => found.scan(value, &loc),
                }
            }
            "x-amz-security-token" => found.add("aws_session_token", loc, value, None),
            "x-api-key" | "api-key" | "x-auth-token" | "private-token" | "x-goog-api-key" => {
                found.add(prefixed_kind(value).unwrap_or("api_key"), loc, value, None)
            }
            "x-vault-token" => found.add("vault_token", loc, value, None),
            "cookie" => {
                for c in value.split(';') {
                    let Some((n, v)) = c.trim().split_once('=') else { continue };
                    if session_cookie(n) || jwt::decode(v).is_some() {
                        found.add("cookie", format!("cookie:{n}"), v, None);
                    }
                }
            }
            _ => found.scan(value, &loc),
        }
    }
    params(&mut found, &req.query, "query");
    let body = String::from_utf8_lossy(&req.body);
    if body.contains('=') && !body.trim_start().starts_with('{') {
        params(&mut found, &body, "body");
    } else {
        found.scan(&body, "body");
    }
    if dpop {
        for c in &mut found.out {
            if matches!(c.kind, "bearer" | "jwt") {
                c.bound = true;
            }
        }
    }
    found.out
}

/// The query string with every credential value replaced (names kept).
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => {
                let dv = url_decode(v);
                let secret = param_kind(&url_decode(k)).is_some()
                    || k.eq_ignore_ascii_case("x-amz-signature")
                    || JWT_RE.is_match(&dv)
                    || PREFIXED_RE.is_match(&dv);
                if secret { format!("{k}=[REDACTED]") } else { pair.to_string() }
            }
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
