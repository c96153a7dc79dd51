use super::*;
use crate::decode::http::{h2::H2Conn, parse_http1};

fn fp() -> Fingerprinter {
    Fingerprinter::new(b"test-fleet-key")
}

fn creds(raw: &str) -> Vec<Credential> {
    classify(&parse_http1(raw.as_bytes()).expect("request"), &fp())
}

fn only(raw: &str) -> Credential {
    let c = creds(raw);
    assert_eq!(c.len(), 1, "{c:#?}");
    c.into_iter().next().expect("one")
}

fn assert_no_secret(c: &Credential, secret: &str) {
    let dump = format!("{c:?}");
    assert!(!dump.contains(secret), "secret leaked: {dump}");
}

#[test]
fn bearer_jwt_with_claims() {
    let t = crate::detect::credentials::jwt::make(
        r#"{"alg":"ES256"}"#,
        r#"{"sub":"alice","iat":100,"exp":7300}"#,
    );
    let c = only(&format!("GET /api HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\n\r\n"));
    assert_eq!((c.kind, c.location.as_str()), ("jwt", "header:authorization"));
    assert_eq!(c.fingerprint, fp().fingerprint(t.as_bytes()));
    assert_eq!(c.length, t.len());
    assert_eq!(c.preview, "");
    let j = c.jwt.as_ref().expect("claims");
    assert_eq!((j.sub.as_deref(), j.lifetime_s), (Some("alice"), Some(7200)));
    assert!(!c.bound);
    assert_no_secret(&c, &t);
}

#[test]
fn opaque_bearer_basic_and_dpop_binding() {
    let c = only(
        "GET / HTTP/1.1\r\nAuthorization: Bearer opaque-token-0123456789abcdef\r\nDPoP: eyJproof\r\n\r\n",
    );
    assert_eq!(c.kind, "bearer");
    assert!(c.bound, "DPoP makes the bearer sender-constrained");
    assert_eq!(c.preview, "op…", "at most 10 % of 29 characters");
    let c = only("GET / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6aHVudGVyMg==\r\n\r\n");
    assert_eq!(c.kind, "basic");
    assert_no_secret(&c, "YWxpY2U6aHVudGVyMg==");
}

#[test]
fn aws_sigv4_reports_key_id_not_signature() {
    let raw = "GET / HTTP/1.1\r\nHost: sts.amazonaws.com\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\nX-Amz-Security-Token: IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN\r\n\r\n";
    let c = creds(raw);
    let sig = c.iter().find(|c| c.kind == "aws_sigv4").expect("sigv4");
    assert_eq!(sig.key_id.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
    let st = c.iter().find(|c| c.kind == "aws_session_token").expect("session token");
    for c in &c {
        assert_no_secret(c, "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024");
    }
    assert_no_secret(st, "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN");
}

#[test]
fn cookies_api_keys_and_prefixed_tokens() {
    let raw = "GET / HTTP/1.1\r\nCookie: theme=dark; SESSIONID=s3ss10nv4lu3abcdef; lang=en\r\nX-Api-Key: k-1234567890abcdefghij\r\nPrivate-Token: glpat-abcdefghijklmnopqrstu\r\nX-Trace: ghp_abcdefghijklmnopqrstuvwxyz0123456789\r\nX-Other: xoxb-1234567890-abcdefghij\r\n\r\n";
    let c = creds(raw);
    let kinds: Vec<(&str, &str)> = c.iter().map(|c| (c.kind, c.location.as_str())).collect();
    assert!(kinds.contains(&("cookie", "cookie:SESSIONID")), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k.1 == "cookie:theme"));
    assert!(kinds.contains(&("api_key", "header:x-api-key")));
    assert!(kinds.contains(&("gitlab_token", "header:private-token")));
    assert!(kinds.contains(&("github_token", "header:x-trace")));
    assert!(kinds.contains(&("slack_token", "header:x-other")));
}

#[test]
fn oauth_form_bodies_and_query_strings() {
    let raw = "POST /token?access_token=qs-secret-token-value&state=x HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type=refresh_token&refresh_token=rt-0123456789abcdef&client_id=app&client_secret=cs%2Fsecret";
    let c = creds(raw);
    let kinds: Vec<&str> = c.iter().map(|c| c.kind).collect();
    assert!(
        kinds.contains(&"refresh_token") && kinds.contains(&"client_secret") && kinds.contains(&"bearer"),
        "{kinds:?}"
    );
    let cs = c.iter().find(|c| c.kind == "client_secret").expect("client secret");
    assert_eq!(cs.fingerprint, fp().fingerprint(b"cs/secret"), "url-decoded before fingerprinting");
    assert_eq!(
        redact_query("access_token=abc&state=x&X-Amz-Signature=ff"),
        "access_token=[REDACTED]&state=x&X-Amz-Signature=[REDACTED]"
    );
}

#[test]
fn jwt_anywhere_in_the_body() {
    let t =
        crate::detect::credentials::jwt::make(r#"{"alg":"none"}"#, r#"{"sub":"svc","cnf":{"x5t#S256":"a"}}"#);
    let c = only(&format!("POST /x HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"token\":\"{t}\"}}"));
    assert_eq!((c.kind, c.location.as_str()), ("jwt", "body"));
    assert!(c.jwt.as_ref().expect("jwt").alg_none());
    assert!(c.bound, "cnf claim binds the token");
}

#[test]
fn http2_request_credentials() {
    let mut enc = fluke_hpack::Encoder::new();
    let block = enc.encode(vec![
        (&b":method"[..], &b"GET"[..]),
        (b":path", b"/v1/me"),
        (b":authority", b"api.example.com"),
        (b"authorization", b"Bearer h2-opaque-token-abcdefghij"),
    ]);
    let mut frame = vec![0, 0, block.len() as u8, 1, 4, 0, 0, 0, 1];
    frame.extend(block);
    let reqs = H2Conn::new().feed(&frame).expect("h2");
    let c = classify(&reqs[0], &fp());
    assert_eq!(c[0].kind, "bearer");
    assert_eq!(reqs[0].host, "api.example.com");
}

#[test]
fn malformed_and_credential_free_requests() {
    assert!(creds("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n").is_empty());
    assert!(
        creds("GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n")
            .iter()
            .all(|c| c.length == 0 || c.kind == "bearer")
    );
    assert!(creds("GET /?a=%zz&b=%4 HTTP/1.1\r\n\r\n").is_empty());
    assert!(
        creds("GET / HTTP/1.1\r\nCookie: ;;=;a\r\nAuthorization: AWS4-HMAC-SHA256 garbage\r\n\r\n")
            .is_empty()
    );
}
