//! Credential-store parsers. The sensor (root) reads a store when it is opened and keeps
//! only keyed fingerprints of the secrets in it, in the form they take on the wire
//! (a netrc password becomes the `Basic` value a client would send).

use base64::{Engine as _, engine::general_purpose::STANDARD};
use regex::bytes::Regex;
use std::sync::LazyLock;

/// A secret found in a store (raw only in memory, for fingerprinting, then dropped).
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub secret: String,
    /// The endpoint the store names for this secret (kubeconfig `server`, a netrc machine).
    pub endpoint: Option<String>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Found {{ kind: {}, len: {}, endpoint: {:?} }}",
            self.kind,
            self.secret.len(),
            self.endpoint
        )
    }
}

fn found(kind: &'static str, secret: &str, endpoint: Option<String>) -> Option<Found> {
    let s = secret.trim().trim_matches('"').trim_matches('\'');
    (s.len() >= 8).then(|| Found { kind, secret: s.to_string(), endpoint })
}

static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*").expect("static")
});
static PREFIXED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|xox[abp]-[A-Za-z0-9-]{10,}|hv[sb]\.[A-Za-z0-9_-]{20,}|ya29\.[A-Za-z0-9_-]{20,}|1//[A-Za-z0-9_-]{20,})")
        .expect("static")
});

/// JWTs and well-known token prefixes anywhere in the bytes (binary caches too).
fn scan(bytes: &[u8], out: &mut Vec<Found>) {
    for m in JWT.find_iter(bytes).chain(PREFIXED.find_iter(bytes)) {
        if let Ok(s) = std::str::from_utf8(m.as_bytes())
            && let Some(f) = found("token", s, None)
            && !out.iter().any(|o| o.secret == f.secret)
        {
            out.push(f);
        }
    }
}

fn key_value(line: &str) -> Option<(String, &str)> {
    let (k, v) = line.split_once('=').or_else(|| line.split_once(':'))?;
    Some((k.trim().to_ascii_lowercase(), v.trim()))
}

/// `~/.aws/credentials` and `~/.aws/config` (INI).
fn aws_ini(text: &str, out: &mut Vec<Found>) {
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = key_value(line) else { continue };
        let kind = match k.as_str() {
            "aws_access_key_id" => "aws_access_key_id",
            "aws_secret_access_key" => "aws_secret_access_key",
            "aws_session_token" | "aws_security_token" => "aws_session_token",
            _ => continue,
        };
        out.extend(found(kind, v, Some("amazonaws.com".into())));
    }
}

/// kubeconfig: user tokens and client keys, with the cluster server they belong to.
fn kubeconfig(text: &str, out: &mut Vec<Found>) {
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:").map(|s| s.trim().trim_matches('"').to_string()))
        .map(|s| host_of(&s));
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = line.split_once(':') else { continue };
        let kind = match k.trim() {
            "token" => "bearer",
            "client-key-data" => "client_key",
            "password" => "password",
            _ => continue,
        };
        out.extend(found(kind, v, server.clone()));
    }
}

/// The host of a URL (`https://h:6443/x` → `h`).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
        None => host.split(':').next().unwrap_or(host).to_string(),
    }
}

/// JSON caches (gcloud ADC, Azure MSAL, AWS SSO/CLI caches, gh, terraform, docker).
fn json_store(bytes: &[u8], out: &mut Vec<Found>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        scan(bytes, out);
        return;
    };
    fn walk(v: &serde_json::Value, key: &str, out: &mut Vec<Found>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk(v, k, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            serde_json::Value::String(s) => {
                let kind = match key.to_ascii_lowercase().as_str() {
                    "refresh_token" | "refreshtoken" => "refresh_token",
                    "access_token" | "accesstoken" | "accesstokentoken" | "token" | "identitytoken" => {
                        "bearer"
                    }
                    "client_secret" => "client_secret",
                    "secret" => "bearer",
                    "auth" => "basic",
                    "accesskeyid" => "aws_access_key_id",
                    "secretaccesskey" => "aws_secret_access_key",
                    "sessiontoken" => "aws_session_token",
                    _ => return,
                };
                out.extend(found(kind, s, None));
            }
            _ => {}
        }
    }
    walk(&v, "", out);
    scan(bytes, out);
}

/// `.netrc`: `machine h login u password p` → the `Basic` value a client sends.
fn netrc(text: &str, out: &mut Vec<Found>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (mut machine, mut login) = (None, None);
    let mut i = 0;
    while i + 1 < words.len() {
        match words[i] {
            "machine" => machine = Some(words[i + 1].to_string()),
            "login" => login = Some(words[i + 1]),
            "password" => {
                let basic = STANDARD.encode(format!("{}:{}", login.unwrap_or(""), words[i + 1]));
                out.extend(found("basic", &basic, machine.clone()));
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
}

/// `.git-credentials`: `https://user:token@host` per line.
fn git_credentials(text: &str, out: &mut Vec<Found>) {
    for line in text.lines().map(str::trim) {
        let Some((_, rest)) = line.split_once("://") else { continue };
        let Some((userinfo, host)) = rest.split_once('@') else { continue };
        let Some((user, pass)) = userinfo.split_once(':') else { continue };
        let host = host.split('/').next().unwrap_or(host).to_string();
        out.extend(found("basic", &STANDARD.encode(format!("{user}:{pass}")), Some(host.clone())));
        out.extend(found("token", pass, Some(host)));
    }
}

/// gh `hosts.yml`: `oauth_token: gho_...` under a host key.
fn gh_hosts(text: &str, out: &mut Vec<Found>) {
    let mut host = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.trim_end().ends_with(':') {
            host = Some(line.trim().trim_end_matches(':').to_string());
        } else if let Some(v) = line.trim().strip_prefix("oauth_token:") {
            out.extend(found("github_token", v, host.clone()));
        }
    }
}

/// Parses a store by its file name. Unknown or malformed content falls back to a scan
/// for JWTs and token prefixes; nothing here panics on any input.
pub fn parse(path: &str, bytes: &[u8]) -> Vec<Found> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    if path.contains("/.aws/") && (name == "credentials" || name == "config") {
        aws_ini(&text, &mut out);
    } else if path.ends_with("/.kube/config")
        || name.ends_with(".conf")
        || name == "kubeconfig"
        || name == "k3s.yaml"
    {
        kubeconfig(&text, &mut out);
    } else if name.ends_with(".json") {
        json_store(bytes, &mut out);
    } else if name == ".netrc" {
        netrc(&text, &mut out);
    } else if name == ".git-credentials" {
        git_credentials(&text, &mut out);
    } else if name == "hosts.yml" {
        gh_hosts(&text, &mut out);
    } else if name == ".vault-token" || name == "token" || path.contains("/secrets/") {
        out.extend(found(if name == ".vault-token" { "vault_token" } else { "bearer" }, &text, None));
    }
    scan(bytes, &mut out);
    out.dedup_by(|a, b| a.secret == b.secret && a.kind == b.kind);
    out
}

#[cfg(test)]
#[path = "parsers_tests.rs"]
mod tests;
