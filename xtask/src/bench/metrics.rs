//! The sensor's `/metrics` (Prometheus text), fetched over plain HTTP/1.0.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::{Context as _, bail};

/// One scrape: `(series name, labels as written, value)`.
pub struct Metrics {
    series: Vec<(String, String, f64)>,
}

pub const EVENTS: &str = "tokenwarden_events_total";
pub const KERNEL_DROPS: &str = "tokenwarden_kernel_ringbuf_drops_total";
pub const SINK_DROPS: &str = "tokenwarden_sink_dropped_total";
pub const ALERTS: &str = "tokenwarden_alerts_total";

impl Metrics {
    pub fn scrape(addr: SocketAddr) -> anyhow::Result<Metrics> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connect to /metrics at {addr}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body).with_context(|| format!("read /metrics from {addr}"))?;
        let (head, text) = body.split_once("\r\n\r\n").context("malformed HTTP answer from /metrics")?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!("/metrics answered {}", head.lines().next().unwrap_or(""));
        }
        Ok(Metrics::parse(text))
    }

    fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                let value: f64 = value.trim().parse().ok()?;
                let (name, labels) = match key.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (key, ""),
                };
                Some((name.to_string(), labels.to_string(), value))
            })
            .collect();
        Metrics { series }
    }

    /// Sum of every series of `name` whose labels contain `label` (e.g. `kind="open"`;
    /// empty: all of them).
    pub fn sum(&self, name: &str, label: &str) -> f64 {
        self.series.iter().filter(|(n, l, _)| n == name && l.contains(label)).map(|(_, _, v)| v).sum()
    }

    /// Opens handled in userspace.
    pub fn opens(&self) -> f64 {
        self.sum(EVENTS, "kind=\"open\"")
    }

    /// Kernel ring-buffer drops over every probe.
    pub fn kernel_drops(&self) -> f64 {
        self.sum(KERNEL_DROPS, "")
    }

    /// Kernel ring-buffer drops of open records.
    pub fn open_drops(&self) -> f64 {
        self.sum(KERNEL_DROPS, "probe=\"open\"")
    }

    /// Alerts emitted.
    pub fn alerts(&self) -> f64 {
        self.sum(ALERTS, "")
    }

    /// Records sinks dropped (full spools), every sink and class.
    pub fn sink_drops(&self) -> f64 {
        self.sum(SINK_DROPS, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_series_by_label() {
        let m = Metrics::parse(
            "# TYPE tokenwarden_events counter\n\
             tokenwarden_events_total{kind=\"open\"} 12\n\
             tokenwarden_events_total{kind=\"exec\"} 3\n\
             tokenwarden_kernel_ringbuf_drops_total{probe=\"open\"} 2\n\
             tokenwarden_kernel_ringbuf_drops_total{probe=\"exec\"} 5\n\
             tokenwarden_sink_dropped_total{sink=\"f\",class=\"event\"} 1\n\
             tokenwarden_sink_dropped_total{sink=\"f\",class=\"alert\"} 1\n\
             tokenwarden_probes_attached 9\n# EOF\n",
        );
        assert_eq!(m.opens(), 12.0);
        assert_eq!(m.kernel_drops(), 7.0);
        assert_eq!(m.open_drops(), 2.0);
        assert_eq!(m.sink_drops(), 2.0);
        assert_eq!(m.sum("tokenwarden_probes_attached", ""), 9.0);
    }
}
