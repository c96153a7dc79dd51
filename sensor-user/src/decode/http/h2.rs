//! HTTP/2 client streams: frames → HEADERS (+ CONTINUATION) → HPACK-decoded requests.
//! One [`H2Conn`] per connection keeps the HPACK dynamic table across requests.

use fluke_hpack::Decoder;

use super::{HttpError, HttpRequest, Version, split_target};

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_DATA: u8 = 0x0;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// Header blocks larger than this are dropped (bounded memory per connection).
const MAX_BLOCK: usize = 64 * 1024;

/// State of one HTTP/2 client connection.
pub struct H2Conn {
    decoder: Decoder<'static>,
    /// Header block being assembled (HEADERS without END_HEADERS), by stream.
    pending: Option<(u32, Vec<u8>)>,
    /// Bytes of a frame split across captures.
    carry: Vec<u8>,
    /// Requests whose body (DATA) we still want the first bytes of: stream → index.
    awaiting_body: Vec<(u32, usize)>,
}

impl Default for H2Conn {
    fn default() -> Self {
        Self::new()
    }
}

impl H2Conn {
    pub fn new() -> Self {
        Self { decoder: Decoder::new(), pending: None, carry: Vec::new(), awaiting_body: Vec::new() }
    }

    /// Feeds bytes the client wrote; returns the requests completed by them. Malformed
    /// input is an error, and the connection state stays usable.
    pub fn feed(&mut self, buf: &[u8]) -> Result<Vec<HttpRequest>, HttpError> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(buf);
        let mut rest: &[u8] = &data;
        if let Some(after) = rest.strip_prefix(PREFACE) {
            rest = after;
        }
        let mut out: Vec<HttpRequest> = Vec::new();
        while rest.len() >= 9 {
            let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
            let (kind, flags) = (rest[3], rest[4]);
            let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
            if rest.len() < 9 + len {
                if len > MAX_BLOCK {
                    return Err(HttpError::Http2(format!("frame of {len} bytes")));
                }
                break;
            }
            let payload = &rest[9..9 + len];
            rest = &rest[9 + len..];
            match kind {
                FRAME_HEADERS => {
                    let block = headers_payload(payload, flags)?;
                    self.pending = Some((stream, block.to_vec()));
                }
                FRAME_CONTINUATION => match &mut self.pending {
                    Some((s, b)) if *s == stream && b.len() + payload.len() <= MAX_BLOCK => {
                        b.extend_from_slice(payload)
                    }
                    _ => {
                        self.pending = None;
                        return Err(HttpError::Http2("CONTINUATION without HEADERS".into()));
                    }
                },
                FRAME_DATA => {
                    if let Some(pos) = self.awaiting_body.iter().position(|(s, _)| *s == stream) {
                        let (_, idx) = self.awaiting_body.remove(pos);
                        if let Some(req) = out.get_mut(idx) {
                            let body = data_payload(payload, flags);
                            req.body = body[..body.len().min(1024)].to_vec();
                        }
                    }
                    continue;
                }
                _ => continue,
            }
            if flags & FLAG_END_HEADERS != 0
                && let Some((s, block)) = self.pending.take()
            {
                let req = self.decode_block(&block)?;
                self.awaiting_body.retain(|(st, _)| *st != s);
                self.awaiting_body.push((s, out.len()));
                out.push(req);
            }
        }
        self.carry = rest.to_vec();
        if self.carry.len() > MAX_BLOCK {
            self.carry.clear();
        }
        Ok(out)
    }

    fn decode_block(&mut self, block: &[u8]) -> Result<HttpRequest, HttpError> {
        let headers = self.decoder.decode(block).map_err(|e| HttpError::Http2(format!("HPACK: {e:?}")))?;
        let mut req = HttpRequest {
            version: Version::Http2,
            method: String::new(),
            path: String::new(),
            query: String::new(),
            host: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in headers {
            let text = || String::from_utf8_lossy(&value).into_owned();
            match name.as_slice() {
                b":method" => req.method = text(),
                b":path" => (req.path, req.query) = split_target(&text()),
                b":authority" => req.host = text(),
                b":scheme" => {}
                _ => req.headers.push((String::from_utf8_lossy(&name).to_ascii_lowercase(), value)),
            }
        }
        if req.host.is_empty() {
            let host = req.header("host").next().map(|h| String::from_utf8_lossy(h).into_owned());
            req.host = host.unwrap_or_default();
        }
        Ok(req)
    }
}

fn headers_payload(p: &[u8], flags: u8) -> Result<&[u8], HttpError> {
    let mut p = p;
    let mut pad = 0usize;
    if flags & FLAG_PADDED != 0 {
        pad = usize::from(*p.first().ok_or_else(|| HttpError::Http2("empty padded HEADERS".into()))?);
        p = &p[1..];
    }
    if flags & FLAG_PRIORITY != 0 {
        p = p.get(5..).ok_or_else(|| HttpError::Http2("short PRIORITY".into()))?;
    }
    p.get(..p.len().checked_sub(pad).ok_or_else(|| HttpError::Http2("bad padding".into()))?)
        .ok_or_else(|| HttpError::Http2("bad padding".into()))
}

fn data_payload(p: &[u8], flags: u8) -> &[u8] {
    if flags & FLAG_PADDED != 0 && !p.is_empty() {
        let pad = usize::from(p[0]);
        return p.get(1..p.len().saturating_sub(pad)).unwrap_or(&[]);
    }
    p
}

#[cfg(test)]
mod tests {
    use fluke_hpack::Encoder;

    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn headers(enc: &mut Encoder<'_>, path: &str, auth: &str) -> Vec<u8> {
        enc.encode(vec![
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"https"),
            (b":authority", b"api.example.com"),
            (b":path", path.as_bytes()),
            (b"authorization", auth.as_bytes()),
        ])
    }

    #[test]
    fn decodes_requests_with_a_shared_dynamic_table() {
        let mut enc = Encoder::new();
        let mut conn = H2Conn::new();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        bytes.extend(frame(
            FRAME_HEADERS,
            FLAG_END_HEADERS | 0x1,
            1,
            &headers(&mut enc, "/v1/a?x=1", "Bearer one"),
        ));
        let reqs = conn.feed(&bytes).expect("first request");
        assert_eq!(reqs.len(), 1);
        assert_eq!(
            (reqs[0].host.as_str(), reqs[0].path.as_str(), reqs[0].query.as_str()),
            ("api.example.com", "/v1/a", "x=1")
        );
        assert_eq!(reqs[0].header("authorization").next(), Some(&b"Bearer one"[..]));
        // The second request reuses dynamic-table entries from the first.
        let second = frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, &headers(&mut enc, "/v1/b", "Bearer one"));
        let reqs = conn.feed(&second).expect("second request");
        assert_eq!(reqs[0].header("authorization").next(), Some(&b"Bearer one"[..]));
        assert_eq!(reqs[0].path, "/v1/b");
    }

    #[test]
    fn continuation_padding_and_split_frames() {
        let mut enc = Encoder::new();
        let block = headers(&mut enc, "/x", "Bearer two");
        let (a, b) = block.split_at(block.len() / 2);
        let mut padded = vec![3u8];
        padded.extend_from_slice(a);
        padded.extend_from_slice(&[0, 0, 0]);
        let mut bytes = frame(FRAME_HEADERS, FLAG_PADDED, 1, &padded);
        bytes.extend(frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 1, b));
        let mut conn = H2Conn::new();
        let (first, second) = bytes.split_at(7);
        assert!(conn.feed(first).expect("partial").is_empty());
        let reqs = conn.feed(second).expect("completed");
        assert_eq!(reqs[0].header("authorization").next(), Some(&b"Bearer two"[..]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut conn = H2Conn::new();
        assert!(conn.feed(&frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, &[0xff, 0xff, 0xff])).is_err());
        assert!(conn.feed(&frame(FRAME_CONTINUATION, FLAG_END_HEADERS, 9, b"x")).is_err());
        assert!(conn.feed(&frame(FRAME_HEADERS, FLAG_PADDED | FLAG_END_HEADERS, 1, &[200])).is_err());
        let mut seed = 7u32;
        for n in 0..500 {
            let buf: Vec<u8> = (0..n % 97)
                .map(|_| {
                    seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = H2Conn::new().feed(&buf);
        }
    }
}
