//! Request heads captured from sockets and TLS libraries → HTTP requests. HTTP/1.x with
//! `httparse`; HTTP/2 HEADERS through HPACK with a per-connection dynamic table ([`h2`]).
//! Only the head (and the first bytes of a body) is ever captured.

pub mod h2;

/// Which protocol a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http1,
    Http2,
}

/// A client request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub version: Version,
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (without `?`), possibly empty.
    pub query: String,
    /// `Host` or `:authority`.
    pub host: String,
    /// Lower-case names, raw values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// First bytes of the body, when they were in the captured buffer.
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("not an HTTP/1.x request: {0}")]
    NotHttp1(String),
    #[error("incomplete request head")]
    Incomplete,
    #[error("HTTP/2: {0}")]
    Http2(String),
}

/// Most headers kept from one request.
const MAX_HEADERS: usize = 64;

/// Splits `/p?q` into path and query.
pub fn split_target(target: &str) -> (String, String) {
    match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    }
}

/// Parses an HTTP/1.x request head (and whatever body bytes follow it in `buf`). A head
/// cut off by the capture limit still yields the headers seen so far.
pub fn parse_http1(buf: &[u8]) -> Result<HttpRequest, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| HttpError::NotHttp1(e.to_string()));
    let (complete_len, partial) = match status {
        Ok(httparse::Status::Complete(n)) => (Some(n), false),
        Ok(httparse::Status::Partial) => (None, true),
        Err(e) => return Err(e),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HttpError::Incomplete);
    };
    let (path, query) = split_target(target);
    let mut out = HttpRequest {
        version: Version::Http1,
        method: method.to_string(),
        path,
        query,
        host: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for h in req.headers.iter().take_while(|h| !h.name.is_empty()) {
        let name = h.name.to_ascii_lowercase();
        if name == "host" {
            out.host = String::from_utf8_lossy(h.value).into_owned();
        }
        out.headers.push((name, h.value.to_vec()));
    }
    if let Some(n) = complete_len {
        out.body = buf[n..].to_vec();
    }
    if partial && out.headers.is_empty() {
        return Err(HttpError::Incomplete);
    }
    Ok(out)
}

/// True when `buf` starts like a client request: an HTTP/1.x method and a space, or the
/// HTTP/2 connection preface (the kernel uses the same test before copying).
pub fn looks_like_request(buf: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] =
        [b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"CONNECT ", b"TRACE "];
    METHODS.iter().any(|m| buf.starts_with(m)) || buf.starts_with(h2::PREFACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head_query_and_body_start() {
        let raw = b"POST /oauth/token?client_id=abc&x=1 HTTP/1.1\r\nHost: idp.example.com\r\nAuthorization: Bearer tok\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type=refresh_token&refresh_token=r1";
        let r = parse_http1(raw).expect("valid");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("POST", "/oauth/token", "client_id=abc&x=1")
        );
        assert_eq!(r.host, "idp.example.com");
        assert_eq!(r.header("authorization").next(), Some(&b"Bearer tok"[..]));
        assert!(r.body.starts_with(b"grant_type=refresh_token"));
    }

    #[test]
    fn truncated_head_keeps_what_was_seen() {
        let r = parse_http1(b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x").expect("partial head");
        assert_eq!(r.host, "a");
        assert!(parse_http1(b"GET").is_err());
        assert!(parse_http1(b"\x16\x03\x01 tls").is_err());
        assert!(parse_http1(b"").is_err());
    }

    #[test]
    fn request_detection() {
        assert!(looks_like_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_request(h2::PREFACE));
        assert!(!looks_like_request(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_request(b"\x16\x03\x01"));
    }
}
