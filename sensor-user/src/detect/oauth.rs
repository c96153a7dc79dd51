//! OAuth activity in outbound requests: token-endpoint grants, authorization URLs and
//! device-code flows, with the client and scopes asked for (never the secrets).

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    time::{Duration, Instant},
};

use super::credentials::url_decode;
use crate::decode::http::HttpRequest;

/// What a request does in OAuth terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthActivity {
    /// `token_request`, `authorization_request` or `device_authorization`.
    pub kind: &'static str,
    /// `refresh_token`, `client_credentials`, `authorization_code`, device code, token exchange …
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub endpoint: String,
}

impl OAuthActivity {
    pub fn is_device_code(&self) -> bool {
        self.kind == "device_authorization"
            || self.grant_type.as_deref().is_some_and(|g| g.ends_with("device_code"))
    }
}

fn params(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (url_decode(k).to_ascii_lowercase(), url_decode(v)))
        .collect()
}

/// OAuth activity in `req`, if any.
pub fn detect(req: &HttpRequest) -> Option<OAuthActivity> {
    let body = String::from_utf8_lossy(&req.body);
    let form = if body.contains('=') && !body.trim_start().starts_with('{') {
        params(&body)
    } else {
        HashMap::new()
    };
    let query = params(&req.query);
    let endpoint = format!("{}{}", req.host, req.path);
    let scopes = |m: &HashMap<String, String>| -> Vec<String> {
        m.get("scope").map(|s| s.split_whitespace().map(String::from).collect()).unwrap_or_default()
    };
    let path = req.path.to_ascii_lowercase();
    if let Some(grant) = form.get("grant_type") {
        return Some(OAuthActivity {
            kind: "token_request",
            grant_type: Some(grant.clone()),
            client_id: form.get("client_id").cloned(),
            scopes: scopes(&form),
            endpoint,
        });
    }
    if req.method == "POST"
        && (path.ends_with("/devicecode")
            || path.contains("device/code")
            || path.contains("device_authorization"))
    {
        return Some(OAuthActivity {
            kind: "device_authorization",
            grant_type: None,
            client_id: form.get("client_id").cloned(),
            scopes: scopes(&form),
            endpoint,
        });
    }
    if query.contains_key("response_type") && query.contains_key("client_id") {
        return Some(OAuthActivity {
            kind: "authorization_request",
            grant_type: None,
            client_id: query.get("client_id").cloned(),
            scopes: scopes(&query),
            endpoint,
        });
    }
    None
}

/// Scope sets seen per client on this host, and the rate of new ones.
#[derive(Default)]
pub struct ConsentTracker {
    seen: HashMap<String, BTreeSet<String>>,
    recent_new: VecDeque<Instant>,
}

/// A scope set not seen before for its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsent {
    pub client_id: String,
    pub scopes: String,
    /// New scope sets on this host in the last hour, this one included.
    pub last_hour: usize,
}

impl ConsentTracker {
    pub fn observe(&mut self, a: &OAuthActivity) -> Option<NewConsent> {
        let client = a.client_id.clone()?;
        if a.scopes.is_empty() {
            return None;
        }
        let mut sorted = a.scopes.clone();
        sorted.sort();
        let set = sorted.join(" ");
        if self.seen.len() > 10_000 {
            self.seen.clear();
        }
        let known = self.seen.entry(client.clone()).or_default();
        if !known.insert(set.clone()) {
            return None;
        }
        let now = Instant::now();
        self.recent_new.push_back(now);
        while self.recent_new.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600)) {
            self.recent_new.pop_front();
        }
        Some(NewConsent { client_id: client, scopes: set, last_hour: self.recent_new.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::http::parse_http1;

    fn req(raw: &str) -> HttpRequest {
        parse_http1(raw.as_bytes()).expect("request")
    }

    #[test]
    fn grants_device_code_and_authorization_urls() {
        let a = detect(&req("POST /oauth2/token HTTP/1.1\r\nHost: idp\r\n\r\ngrant_type=refresh_token&refresh_token=rt&client_id=cli&scope=openid%20email")).expect("grant");
        assert_eq!(
            (a.kind, a.grant_type.as_deref(), a.client_id.as_deref()),
            ("token_request", Some("refresh_token"), Some("cli"))
        );
        assert_eq!(a.scopes, vec!["openid", "email"]);
        let d = detect(&req("POST /oauth2/v2.0/devicecode HTTP/1.1\r\nHost: login.example\r\n\r\nclient_id=c&scope=offline_access")).expect("device");
        assert!(d.is_device_code());
        let g = detect(&req("POST /token HTTP/1.1\r\n\r\ngrant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=x")).expect("grant");
        assert!(g.is_device_code());
        let z = detect(&req("GET /authorize?response_type=code&client_id=app&scope=repo+admin:org HTTP/1.1\r\nHost: gh\r\n\r\n")).expect("authz");
        assert_eq!((z.kind, z.scopes.len()), ("authorization_request", 2));
        assert!(detect(&req("GET /api HTTP/1.1\r\n\r\n")).is_none());
    }

    #[test]
    fn new_scope_sets_per_client_are_reported_once_with_a_rate() {
        let mut t = ConsentTracker::default();
        let a = |scopes: &[&str]| OAuthActivity {
            kind: "token_request",
            grant_type: None,
            client_id: Some("app".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            endpoint: "idp/token".into(),
        };
        assert_eq!(t.observe(&a(&["openid"])).map(|n| n.last_hour), Some(1));
        assert!(t.observe(&a(&["openid"])).is_none());
        let drift = t.observe(&a(&["openid", "admin"])).expect("new scope set");
        assert_eq!((drift.scopes.as_str(), drift.last_hour), ("admin openid", 2));
    }
}
