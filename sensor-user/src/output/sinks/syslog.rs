//! RFC 5424 syslog over UDP, TCP (octet counting) and TLS (to be built).

use super::{Record, SinkConfig, Transport, TransportError};

pub struct SyslogTransport;

impl SyslogTransport {
    pub fn new(_c: &SinkConfig) -> Result<Self, String> {
        Err("syslog sink not built yet".into())
    }
}

impl Transport for SyslogTransport {
    fn send(&mut self, _batch: &[Record]) -> Result<(), TransportError> {
        Err(TransportError::Send("not built".into()))
    }
}
