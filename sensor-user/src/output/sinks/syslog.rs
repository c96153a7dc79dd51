//! RFC 5424 syslog over UDP (one datagram per message), TCP with octet-counting
//! framing (RFC 6587) and TLS (RFC 5425, rustls).
//!
//! TCP and TLS keep one connection. A batch is framed into one buffer and written at
//! once; any error drops the connection and fails the batch, which the sender thread
//! retries on a new connection (at-least-once: a batch cut half-way is sent again in
//! whole). Before each batch the connection is checked without waiting: a receiver
//! that closed it (restart, idle timeout) is noticed before data is written into a dead
//! socket. Plain syslog has no acknowledgement, so a receiver that dies after the
//! kernel took a batch can still lose it.

mod rfc5424;
mod tls;

use std::{
    io::{self, Write as _},
    net::{SocketAddr, TcpStream, ToSocketAddrs as _, UdpSocket},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tracing::{info, warn};

use super::{Record, SinkConfig, Transport, TransportError, config::SyslogTransportKind};
pub use rfc5424::{Header, SD_ID, escape_param_value, frame_octet_counted};

/// Largest message sent as one UDP datagram (header and JSON together). Larger records
/// are skipped and counted: a cut JSON document is worth nothing, and receivers commonly
/// stop at 8 KiB (rsyslog's default `maxMessageSize`).
pub const MAX_UDP_MESSAGE: usize = 8192;
/// Records per batch on TCP and TLS.
pub const MAX_BATCH: usize = 256;
/// Connect, handshake and write timeout when `timeout_secs` is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tls::TlsStream>),
}

impl Stream {
    /// Whether the receiver still holds the connection open (never waits).
    fn is_open(&mut self) -> bool {
        match self {
            Stream::Tcp(s) => {
                if s.set_nonblocking(true).is_err() {
                    return false;
                }
                // A syslog receiver never sends: any readable end is a close or a reset.
                let open = match s.peek(&mut [0u8; 1]) {
                    Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                    Ok(n) => n > 0,
                };
                s.set_nonblocking(false).is_ok() && open
            }
            Stream::Tls(s) => tls::is_open(s),
        }
    }

    fn write_batch(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).and_then(|()| s.flush()),
            Stream::Tls(s) => s.write_all(buf).and_then(|()| s.flush()),
        }
    }
}

struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

pub struct SyslogTransport {
    kind: SyslogTransportKind,
    /// `host:port` as configured (resolved at each connect).
    address: String,
    host: String,
    port: u16,
    header: Header,
    timeout: Duration,
    tls: Option<Tls>,
    stream: Option<Stream>,
    udp: Option<UdpSocket>,
    /// UDP messages skipped for being over [`MAX_UDP_MESSAGE`].
    udp_oversize: u64,
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub fn split_address(address: &str) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("`address` {address:?}: {why} (expected host:port or [ipv6]:port)");
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or_else(|| bad("no port after the IPv6 address"))?;
        (h, p)
    } else {
        let (h, p) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if h.contains(':') {
            return Err(bad("IPv6 addresses need brackets"));
        }
        (h, p)
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("no host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number 1–65535"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok((host.to_string(), port))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

impl SyslogTransport {
    /// Checks the configuration and loads the CA file; connects only when sending.
    pub fn new(c: &SinkConfig) -> Result<Self, String> {
        let address = c.address.clone().ok_or("a syslog sink needs `address`")?;
        let (host, port) = split_address(&address)?;
        let kind = c.transport.unwrap_or(SyslogTransportKind::Tcp);
        let header = Header::new(
            c.facility.unwrap_or(10),
            &hostname(),
            c.app_name.as_deref().unwrap_or("tokenwarden"),
            std::process::id(),
        )?;
        let timeout = match c.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(0) => return Err("`timeout_secs` must be at least 1".into()),
            Some(s) => Duration::from_secs(s),
        };
        let tls = if kind == SyslogTransportKind::Tls {
            let ca = c.ca_file.clone().unwrap_or_else(|| PathBuf::from(tls::SYSTEM_CA_BUNDLE));
            let name = tls::server_name(c.server_name.as_deref().unwrap_or(&host))?;
            Some(Tls { config: tls::client_config(&ca)?, name })
        } else {
            if c.server_name.is_some() || c.ca_file.is_some() {
                return Err("`server_name` and `ca_file` need `transport = \"tls\"`".into());
            }
            None
        };
        Ok(Self { kind, address, host, port, header, timeout, tls, stream: None, udp: None, udp_oversize: 0 })
    }

    fn resolve(&self) -> Result<Vec<SocketAddr>, TransportError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| TransportError::Connect(format!("resolve {}: {e}", self.address)))?
            .collect();
        if addrs.is_empty() {
            return Err(TransportError::Connect(format!("resolve {}: no address", self.address)));
        }
        Ok(addrs)
    }

    fn connect(&self) -> Result<Stream, TransportError> {
        let mut last = None;
        for addr in self.resolve()? {
            match self.connect_one(addr) {
                Ok(s) => {
                    info!("syslog sink connected to {} ({addr}) over {:?}", self.address, self.kind);
                    return Ok(s);
                }
                Err(e) => last = Some(format!("{e} (at {addr})")),
            }
        }
        Err(TransportError::Connect(format!("{}: {}", self.address, last.unwrap_or_default())))
    }

    fn connect_one(&self, addr: SocketAddr) -> io::Result<Stream> {
        let sock = TcpStream::connect_timeout(&addr, self.timeout)?;
        sock.set_write_timeout(Some(self.timeout))?;
        sock.set_read_timeout(Some(self.timeout))?;
        sock.set_nodelay(true)?;
        Ok(match &self.tls {
            None => Stream::Tcp(sock),
            Some(t) => Stream::Tls(Box::new(tls::handshake(&t.config, &t.name, sock)?)),
        })
    }

    fn send_stream(&mut self, batch: &[Record]) -> Result<(), TransportError> {
        let mut buf = Vec::with_capacity(batch.iter().map(|r| r.body.len() + 200).sum());
        for r in batch {
            frame_octet_counted(&mut buf, &self.header.message(r));
        }
        if let Some(s) = &mut self.stream
            && !s.is_open()
        {
            info!("syslog sink: {} closed the connection; reconnecting", self.address);
            self.stream = None;
        }
        let stream = match &mut self.stream {
            Some(s) => s,
            None => self.stream.insert(self.connect()?),
        };
        if let Err(e) = stream.write_batch(&buf) {
            self.stream = None;
            return Err(TransportError::Send(format!("{}: {e}", self.address)));
        }
        Ok(())
    }

    fn udp_socket(&mut self) -> Result<&UdpSocket, TransportError> {
        if self.udp.is_none() {
            let mut last = String::new();
            for addr in self.resolve()? {
                let local: SocketAddr =
                    if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                match UdpSocket::bind(local).and_then(|s| s.connect(addr).map(|()| s)) {
                    Ok(s) => {
                        s.set_write_timeout(Some(self.timeout))
                            .map_err(|e| TransportError::Connect(e.to_string()))?;
                        self.udp = Some(s);
                        break;
                    }
                    Err(e) => last = format!("{e} (at {addr})"),
                }
            }
            if self.udp.is_none() {
                return Err(TransportError::Connect(format!("{}: {last}", self.address)));
            }
        }
        self.udp.as_ref().ok_or_else(|| TransportError::Connect("no socket".into()))
    }

    fn send_udp(&mut self, batch: &[Record]) -> Result<(), TransportError> {
        for r in batch {
            let msg = self.header.message(r);
            if msg.len() > MAX_UDP_MESSAGE {
                self.udp_oversize += 1;
                if self.udp_oversize == 1 || self.udp_oversize.is_multiple_of(100) {
                    warn!(
                        seq = r.seq,
                        bytes = msg.len(),
                        skipped = self.udp_oversize,
                        "syslog sink {}: message over {MAX_UDP_MESSAGE} bytes not sent over UDP \
                         (use tcp or tls for large documents)",
                        self.address
                    );
                }
                continue;
            }
            let address = self.address.clone();
            let sock = self.udp_socket()?;
            // A refused earlier datagram (ICMP port unreachable) is reported on this send,
            // which then did not go out: send once more.
            let sent = match sock.send(&msg) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => sock.send(&msg),
                other => other,
            };
            match sent {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {} // best effort
                Err(e) => {
                    self.udp = None;
                    return Err(TransportError::Send(format!("{address}: {e}")));
                }
            }
        }
        Ok(())
    }
}

impl Transport for SyslogTransport {
    fn send(&mut self, batch: &[Record]) -> Result<(), TransportError> {
        match self.kind {
            SyslogTransportKind::Udp => self.send_udp(batch),
            SyslogTransportKind::Tcp | SyslogTransportKind::Tls => self.send_stream(batch),
        }
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Read as _,
        net::TcpListener,
        time::{Duration, Instant},
    };

    use super::*;
    use crate::output::sinks::{Class, SinkType};

    fn config(address: &str, transport: SyslogTransportKind) -> SinkConfig {
        let mut c = SinkConfig::new(SinkType::Syslog);
        c.address = Some(address.into());
        c.transport = Some(transport);
        c.timeout_secs = Some(2);
        c
    }

    fn record(seq: u64) -> Record {
        Record {
            seq,
            class: Class::Event,
            syslog_severity: 6,
            timestamp: "2026-12-04T10:00:00.000001Z".into(),
            action: "process-started".into(),
            body: format!("{{\"n\":{seq}}}").into_bytes(),
        }
    }

    #[test]
    fn addresses_are_checked_without_resolving() {
        assert_eq!(split_address("logs.example.com:6514").unwrap(), ("logs.example.com".into(), 6514));
        assert_eq!(split_address("[::1]:514").unwrap(), ("::1".into(), 514));
        for (bad, why) in [
            ("logs.example.com", "no port"),
            (":514", "no host"),
            ("h:0", "port 0"),
            ("h:70000", "not a number"),
            ("h:x", "not a number"),
            ("::1:514", "brackets"),
            ("[::1]514", "no port"),
            ("a b:514", "no host"),
        ] {
            let e = split_address(bad).unwrap_err();
            assert!(e.contains(why) && e.contains("address"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_configs_are_errors_not_panics() {
        let e = |c: &SinkConfig| SyslogTransport::new(c).err().expect("an error");
        let mut c = config("127.0.0.1:514", SyslogTransportKind::Tcp);
        c.address = None;
        assert!(e(&c).contains("address"));
        c.address = Some("nowhere".into());
        assert!(e(&c).contains("no port"));
        let mut c = config("127.0.0.1:514", SyslogTransportKind::Tcp);
        c.app_name = Some("has space".into());
        assert!(e(&c).contains("app_name"));
        c.app_name = None;
        c.ca_file = Some("/nonexistent.pem".into());
        assert!(e(&c).contains("tls"), "ca_file without tls");
        let mut c = config("127.0.0.1:514", SyslogTransportKind::Tls);
        c.ca_file = Some("/nonexistent/ca.pem".into());
        let msg = e(&c);
        assert!(msg.contains("/nonexistent/ca.pem") && msg.contains("ca_file"), "{msg}");
        c.timeout_secs = Some(0);
        assert!(e(&c).contains("timeout_secs"));
        let mut c = config("127.0.0.1:514", SyslogTransportKind::Udp);
        c.facility = Some(30);
        assert!(e(&c).contains("facility"));
    }

    #[test]
    fn unreachable_receiver_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut t =
            SyslogTransport::new(&config(&format!("127.0.0.1:{port}"), SyslogTransportKind::Tcp)).unwrap();
        assert!(matches!(t.send(&[record(1)]), Err(TransportError::Connect(_))));
    }

    /// Reads octet-counted frames from one accepted connection until `n` arrived.
    fn read_frames(conn: &mut TcpStream, n: usize) -> Vec<String> {
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut data = Vec::new();
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while frames.len() < n && Instant::now() < deadline {
            let mut chunk = [0u8; 4096];
            let got = conn.read(&mut chunk).unwrap();
            assert!(got > 0, "connection closed after {} frames", frames.len());
            data.extend_from_slice(&chunk[..got]);
            while let Some(sp) = data.iter().position(|b| *b == b' ') {
                let len: usize = std::str::from_utf8(&data[..sp]).unwrap().parse().unwrap();
                if data.len() < sp + 1 + len {
                    break;
                }
                frames.push(String::from_utf8(data[sp + 1..sp + 1 + len].to_vec()).unwrap());
                data.drain(..sp + 1 + len);
            }
        }
        frames
    }

    #[test]
    fn tcp_batches_are_framed_and_a_closed_connection_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut t = SyslogTransport::new(&config(&addr.to_string(), SyslogTransportKind::Tcp)).unwrap();
        assert_eq!(t.max_batch(), MAX_BATCH);
        t.send(&[record(1), record(2)]).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let frames = read_frames(&mut conn, 2);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].starts_with("<86>1 2026-12-04T10:00:00.000001Z "), "{}", frames[0]);
        assert!(
            frames[1].ends_with(" process-started [tokenwarden@32473 seq=\"2\" kind=\"event\"] {\"n\":2}")
        );
        // The receiver goes away: the next batch notices and goes over a new connection.
        drop(conn);
        std::thread::sleep(Duration::from_millis(50));
        t.send(&[record(3)]).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let frames = read_frames(&mut conn, 1);
        assert!(frames[0].contains("seq=\"3\""), "{frames:?}");
    }

    #[test]
    fn udp_sends_one_datagram_per_message_and_skips_oversize() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut t =
            SyslogTransport::new(&config(&rx.local_addr().unwrap().to_string(), SyslogTransportKind::Udp))
                .unwrap();
        let mut big = record(2);
        big.body = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_UDP_MESSAGE)).into_bytes();
        t.send(&[record(1), big, record(3)]).unwrap();
        let mut buf = [0u8; 65536];
        let n = rx.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(first.starts_with("<86>1 ") && first.ends_with("{\"n\":1}"), "{first}");
        let n = rx.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("{\"n\":3}"), "oversize skipped");
        assert_eq!(t.udp_oversize, 1);
    }
}
