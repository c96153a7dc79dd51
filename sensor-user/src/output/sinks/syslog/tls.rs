//! TLS for syslog (RFC 5425) with rustls and the `ring` provider: the receiver's
//! certificate must chain to `ca_file` and match the server name.

use std::{
    io::{self, Read as _},
    net::TcpStream,
    path::Path,
    sync::Arc,
};

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject as _};

/// The system CA bundle on Debian and derivatives.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client configuration trusting the CA certificates of the PEM file `ca_file`.
pub fn client_config(ca_file: &Path) -> Result<Arc<ClientConfig>, String> {
    let pem = std::fs::read(ca_file).map_err(|e| format!("`ca_file` {}: {e}", ca_file.display()))?;
    let mut roots = RootCertStore::empty();
    let mut bad = 0usize;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        match cert {
            Ok(c) => {
                if roots.add(c).is_err() {
                    bad += 1;
                }
            }
            Err(e) => return Err(format!("`ca_file` {}: not PEM certificates: {e}", ca_file.display())),
        }
    }
    if roots.is_empty() {
        return Err(format!("`ca_file` {}: no usable CA certificate ({bad} unparsable)", ca_file.display()));
    }
    if bad > 0 {
        tracing::warn!("syslog sink: {bad} certificates of {} were not usable", ca_file.display());
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the receiver's certificate must carry (a DNS name or an IP address).
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    let bare = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    ServerName::try_from(bare.to_string())
        .map_err(|_| format!("`server_name` {name:?} is neither a DNS name nor an IP address"))
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Runs the handshake on a connected socket (its timeouts bound the wait).
pub fn handshake(
    config: &Arc<ClientConfig>,
    name: &ServerName<'static>,
    mut sock: TcpStream,
) -> io::Result<TlsStream> {
    let mut conn = ClientConnection::new(config.clone(), name.clone()).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// Whether the receiver is still there: reads what it sent (syslog receivers send no
/// application data; TLS 1.3 session tickets and alerts are processed) without waiting.
/// `false` when it closed the connection or sent something invalid.
pub fn is_open(s: &mut TlsStream) -> bool {
    if s.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let open = loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => break false,
            Ok(_) => match s.conn.process_new_packets() {
                Ok(state) if state.peer_has_closed() => break false,
                Ok(_) => {
                    let mut discard = [0u8; 512];
                    while matches!(s.conn.reader().read(&mut discard), Ok(n) if n > 0) {}
                }
                Err(_) => break false,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    s.sock.set_nonblocking(false).is_ok() && open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("tw-syslog-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = client_config(&dir.join("missing.pem")).unwrap_err();
        assert!(e.contains("ca_file") && e.contains("missing.pem"), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(&empty).unwrap_err();
        assert!(e.contains("no usable CA certificate"), "{e}");
        let broken = dir.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
        let e = client_config(&broken).unwrap_err();
        assert!(e.contains("ca_file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn system_bundle_loads_when_present() {
        if Path::new(SYSTEM_CA_BUNDLE).exists() {
            client_config(Path::new(SYSTEM_CA_BUNDLE)).unwrap();
        }
    }

    #[test]
    fn server_names_are_dns_names_or_ip_addresses() {
        assert!(server_name("logs.example.com").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("bad name").unwrap_err().contains("server_name"));
        assert!(server_name("").is_err());
    }
}
