//! HTTP collectors: Splunk HEC and Elasticsearch _bulk (to be built).

use super::{Record, SinkConfig, Transport, TransportError};

pub struct HttpTransport;

impl HttpTransport {
    pub fn new(_c: &SinkConfig) -> Result<Self, String> {
        Err("http sink not built yet".into())
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, _batch: &[Record]) -> Result<(), TransportError> {
        Err(TransportError::Send("not built".into()))
    }
}
