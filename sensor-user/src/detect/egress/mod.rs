//! Outbound requests: ties captured request heads to their connection and destination,
//! decodes HTTP/1.x and HTTP/2 (per-connection HPACK state), and classifies the
//! credentials they carry.

use std::{
    collections::{HashMap, VecDeque},
    time::Instant,
};

use sensor_common::{SRC_GNUTLS, SRC_OPENSSL};

use super::credentials::{Credential, Fingerprinter, classify};
use crate::decode::{
    Connect, Data, Endpoint,
    http::{
        HttpRequest,
        h2::{H2Conn, PREFACE},
        parse_http1,
    },
};

/// Connections tracked at most (oldest forgotten first).
const MAX_CONNS: usize = 4096;

/// A request that carried at least one credential.
#[derive(Debug)]
pub struct CredentialUse {
    pub request: HttpRequest,
    pub credentials: Vec<Credential>,
    pub destination: Option<Endpoint>,
    pub tls: Option<&'static str>,
}

/// Counters of the egress stage.
#[derive(Debug, Default, Clone)]
pub struct EgressCounters {
    pub requests: u64,
    pub requests_with_credentials: u64,
    pub unparsed: u64,
    pub h2_errors: u64,
}

/// The first question of a DNS query: (name, type). None when malformed.
pub fn dns_question(b: &[u8]) -> Option<(String, u16)> {
    let qdcount = u16::from_be_bytes([*b.get(4)?, *b.get(5)?]);
    if qdcount == 0 || b.get(2)? & 0x80 != 0 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = usize::from(*b.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 || labels.len() > 127 {
            return None;
        }
        let label = b.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        i += len;
    }
    let qtype = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
    let name = labels.join(".");
    (!name.is_empty() && name.len() <= 253).then_some((name, qtype))
}

#[cfg(test)]
mod tests {
    use super::{Egress, dns_question};
    use crate::decode::{Connect, Data, Endpoint, Task};
    use crate::detect::credentials::Fingerprinter;

    fn task(tgid: u32, tid: u32) -> Task {
        Task {
            tgid,
            tid,
            ppid: 1,
            uid: 0,
            gid: 0,
            euid: 0,
            egid: 0,
            loginuid: None,
            sessionid: None,
            start_boottime_ns: 1,
            comm: "t".into(),
        }
    }

    fn ip(port: u16) -> Endpoint {
        Endpoint::Ip { addr: std::net::Ipv4Addr::LOCALHOST.into(), port }
    }

    fn connect(e: &mut Egress, tgid: u32, tid: u32, fd: i32, port: u16) {
        e.on_connect(&Connect {
            task: task(tgid, tid),
            ts_boot_ns: 0,
            fd,
            ret: 0,
            endpoint: ip(port),
            local: None,
        });
    }

    /// Where a TLS write (no socket named) from this thread goes.
    fn tls_destination(e: &Egress, tgid: u32, tid: u32) -> Option<Endpoint> {
        let d = Data {
            task: task(tgid, tid),
            ts_boot_ns: 0,
            source: 0,
            fd: -1,
            conn: 0,
            len: 0,
            bytes: Vec::new(),
        };
        e.destination(&d)
    }

    #[test]
    fn tls_writes_go_where_their_thread_last_connected_and_exit_forgets_every_thread() {
        let mut e = Egress::new(Fingerprinter::new(b"k"));
        connect(&mut e, 10, 10, 3, 443);
        connect(&mut e, 10, 11, 4, 8443);
        assert_eq!(tls_destination(&e, 10, 10), Some(ip(443)));
        assert_eq!(tls_destination(&e, 10, 11), Some(ip(8443)));
        assert_eq!(
            tls_destination(&e, 10, 12),
            Some(ip(8443)),
            "a thread that never connected: the process's last"
        );
        assert_eq!(tls_destination(&e, 20, 11), None, "a thread id of another process is not this one");
        assert_eq!((e.last_tids, e.fds), (2, 2));
        e.on_exit(10);
        assert_eq!(tls_destination(&e, 10, 11), None);
        assert_eq!((e.last_tids, e.fds), (0, 0), "the exit dropped the threads' entries and sockets");
    }

    #[test]
    fn dns_questions() {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["api", "example", "com"] {
            q.push(l.len() as u8);
            q.extend(l.as_bytes());
        }
        q.extend([0, 0, 1, 0, 1]);
        assert_eq!(dns_question(&q), Some(("api.example.com".into(), 1)));
        assert_eq!(dns_question(&q[..14]), None);
        let mut answer = q.clone();
        answer[2] |= 0x80;
        assert_eq!(dns_question(&answer), None, "responses are not questions");
        assert_eq!(dns_question(&[0; 12]), None);
    }
}

struct LastConnect {
    process: Endpoint,
    by_tid: HashMap<u32, Endpoint>,
}

#[derive(Default)]
struct ConnState {
    h2: Option<H2Conn>,
    /// Fixed at the connection's first request (the thread's connect just before).
    destination: Option<Endpoint>,
}

pub struct Egress {
    fp: Fingerprinter,
    conns: HashMap<(u32, u32, u64), ConnState>,
    order: VecDeque<(u32, u32, u64)>,
    /// Last connect per process and per thread of it: TLS writes do not name their
    /// socket. Keyed by process first, so an exit drops its threads' entries too.
    last: HashMap<u32, LastConnect>,
    /// Thread entries in `last`.
    last_tids: usize,
    /// Destination per socket for plain send*, by process then fd (a process's exit
    /// drops its sockets in one step).
    by_fd: HashMap<u32, HashMap<i32, Endpoint>>,
    /// Sockets in `by_fd`.
    fds: usize,
    /// Processes that configured a TLS client certificate (mTLS).
    client_cert: std::collections::HashSet<u32>,
    /// Last DNS name each process asked, and when.
    last_dns: HashMap<u32, (String, Instant)>,
    pub counters: EgressCounters,
    started: Instant,
}

impl Egress {
    pub fn new(fp: Fingerprinter) -> Self {
        Self {
            fp,
            conns: HashMap::new(),
            order: VecDeque::new(),
            last: HashMap::new(),
            last_tids: 0,
            by_fd: HashMap::new(),
            fds: 0,
            last_dns: HashMap::new(),
            client_cert: std::collections::HashSet::new(),
            counters: EgressCounters::default(),
            started: Instant::now(),
        }
    }

    pub fn fingerprinter(&self) -> &Fingerprinter {
        &self.fp
    }

    /// Remembers where a socket connects (IP destinations only).
    pub fn on_connect(&mut self, c: &Connect) {
        if !matches!(c.endpoint, Endpoint::Ip { .. }) {
            return;
        }
        if self.fds > 4 * MAX_CONNS || self.last_tids > 4 * MAX_CONNS {
            self.by_fd.clear();
            self.fds = 0;
            self.last.clear();
            self.last_tids = 0;
        }
        if self.by_fd.entry(c.task.tgid).or_default().insert(c.fd, c.endpoint.clone()).is_none() {
            self.fds += 1;
        }
        let last = self
            .last
            .entry(c.task.tgid)
            .or_insert_with(|| LastConnect { process: c.endpoint.clone(), by_tid: HashMap::new() });
        last.process = c.endpoint.clone();
        if last.by_tid.insert(c.task.tid, c.endpoint.clone()).is_none() {
            self.last_tids += 1;
        }
    }

    /// Records the name a DNS query asks; returns (name, query type).
    pub fn on_dns(&mut self, d: &Data) -> Option<(String, u16)> {
        let q = dns_question(&d.bytes)?;
        if self.last_dns.len() > MAX_CONNS {
            self.last_dns.clear();
        }
        self.last_dns.insert(d.task.tgid, (q.0.clone(), Instant::now()));
        Some(q)
    }

    /// The name this process looked up just before (within 10 s), to name a destination.
    pub fn recent_name(&self, tgid: u32) -> Option<&str> {
        self.last_dns
            .get(&tgid)
            .filter(|(_, t)| t.elapsed() < std::time::Duration::from_secs(10))
            .map(|(n, _)| n.as_str())
    }

    /// The process configured a TLS client certificate.
    pub fn on_client_cert(&mut self, tgid: u32) {
        if self.client_cert.len() > MAX_CONNS {
            self.client_cert.clear();
        }
        self.client_cert.insert(tgid);
    }

    /// Forgets what belonged to an exited process.
    pub fn on_exit(&mut self, tgid: u32) {
        self.client_cert.remove(&tgid);
        self.last_dns.remove(&tgid);
        if let Some(last) = self.last.remove(&tgid) {
            self.last_tids -= last.by_tid.len();
        }
        if let Some(fds) = self.by_fd.remove(&tgid) {
            self.fds -= fds.len();
        }
    }

    fn destination(&self, d: &Data) -> Option<Endpoint> {
        if d.fd >= 0
            && let Some(e) = self.by_fd.get(&d.task.tgid).and_then(|f| f.get(&d.fd))
        {
            return Some(e.clone());
        }
        let last = self.last.get(&d.task.tgid)?;
        Some(last.by_tid.get(&d.task.tid).unwrap_or(&last.process).clone())
    }

    /// Decodes a captured write; returns every request in it with the credentials it carries
    /// (possibly none: the correlator also needs credential-free requests).
    pub fn on_data(&mut self, d: &Data) -> Vec<CredentialUse> {
        let key = (d.task.tgid, d.source, d.conn);
        if !self.conns.contains_key(&key) {
            if self.order.len() >= MAX_CONNS
                && let Some(old) = self.order.pop_front()
            {
                self.conns.remove(&old);
            }
            self.order.push_back(key);
        }
        let first_destination = self.destination(d);
        let state = self.conns.entry(key).or_default();
        if state.destination.is_none() {
            state.destination = first_destination;
        }
        let destination = state.destination.clone();
        let requests = if d.bytes.starts_with(PREFACE) || state.h2.is_some() {
            let h2 = state.h2.get_or_insert_with(H2Conn::new);
            match h2.feed(&d.bytes) {
                Ok(r) => r,
                Err(_) => {
                    // Lost sync (a frame we did not see): start over on this connection.
                    state.h2 = None;
                    self.counters.h2_errors += 1;
                    return Vec::new();
                }
            }
        } else {
            match parse_http1(&d.bytes) {
                Ok(r) => vec![r],
                Err(_) => {
                    self.counters.unparsed += 1;
                    return Vec::new();
                }
            }
        };
        let tls = match d.source {
            SRC_OPENSSL => Some("openssl"),
            SRC_GNUTLS => Some("gnutls"),
            _ => None,
        };
        let mtls = tls.is_some() && self.client_cert.contains(&d.task.tgid);
        let mut out = Vec::new();
        for request in requests {
            self.counters.requests += 1;
            let mut credentials = classify(&request, &self.fp);
            if mtls {
                for c in &mut credentials {
                    c.bound = true;
                }
            }
            if !credentials.is_empty() {
                self.counters.requests_with_credentials += 1;
            }
            out.push(CredentialUse { request, credentials, destination: destination.clone(), tls });
        }
        out
    }

    pub fn tracked_connections(&self) -> usize {
        self.conns.len()
    }

    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}
