//! JWT header and claims, decoded without verifying (no key needed, none is used).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

/// What a JWT says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtInfo {
    pub alg: String,
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
    /// A `cnf` claim: the token is bound to a key (sender-constrained).
    pub cnf: bool,
    /// `exp - iat`, in seconds.
    pub lifetime_s: Option<i64>,
}

impl JwtInfo {
    pub fn alg_none(&self) -> bool {
        self.alg.eq_ignore_ascii_case("none")
    }

    pub fn expired(&self, now_s: i64) -> bool {
        self.exp.is_some_and(|e| e < now_s)
    }
}

fn part(s: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str().map(String::from).or_else(|| x.as_i64().map(|n| n.to_string())))
}

/// Decodes `header.claims.signature`; None when it is not a JWT.
pub fn decode(token: &str) -> Option<JwtInfo> {
    let mut it = token.split('.');
    let (h, c, _sig) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !h.starts_with("eyJ") {
        return None;
    }
    let header = part(h)?;
    let claims = part(c)?;
    if !header.is_object() || !claims.is_object() {
        return None;
    }
    let num = |k: &str| claims.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
    let aud = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    let (exp, iat) = (num("exp"), num("iat"));
    Some(JwtInfo {
        alg: text(&header, "alg").unwrap_or_default(),
        iss: text(&claims, "iss"),
        sub: text(&claims, "sub"),
        aud,
        exp,
        iat,
        nbf: num("nbf"),
        jti: text(&claims, "jti"),
        cnf: claims.get("cnf").is_some(),
        lifetime_s: exp.zip(iat).map(|(e, i)| e - i),
    })
}

#[cfg(test)]
pub(crate) fn make(header: &str, claims: &str) -> String {
    format!("{}.{}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_claims_and_lifetime() {
        let t = make(
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"iss":"https://idp","sub":"alice","aud":["api","web"],"iat":1000,"exp":4600,"jti":"j1","cnf":{"jkt":"x"}}"#,
        );
        let j = decode(&t).expect("jwt");
        assert_eq!(j.alg, "RS256");
        assert_eq!(j.sub.as_deref(), Some("alice"));
        assert_eq!(j.aud, vec!["api", "web"]);
        assert_eq!(j.lifetime_s, Some(3600));
        assert!(j.cnf);
        assert!(j.expired(5000) && !j.expired(2000));
    }

    #[test]
    fn alg_none_and_non_jwts() {
        assert!(decode(&make(r#"{"alg":"none"}"#, r#"{"sub":"x"}"#)).expect("jwt").alg_none());
        assert!(decode("eyJnotbase64.x.y").is_none());
        assert!(decode("a.b.c").is_none());
        assert!(decode("ghp_xxx").is_none());
        assert!(decode(&make("[1]", "{}")).is_none());
    }
}
