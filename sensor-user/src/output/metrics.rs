//! Prometheus exposition of the sensor's counters (the same numbers as the `sensor-stats`
//! state documents, which are rendered from the same snapshot).

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use serde_json::Value;

type Labels = Vec<(String, String)>;

/// Builds families on a fresh registry for one scrape.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn counter(&mut self, name: &str, help: &str, rows: Vec<(Labels, u64)>) {
        let fam = Family::<Labels, Counter>::default();
        for (labels, v) in rows {
            fam.get_or_create(&labels).inc_by(v);
        }
        self.registry.register(name, help, fam);
    }

    fn gauge(&mut self, name: &str, help: &str, rows: Vec<(Labels, i64)>) {
        let fam = Family::<Labels, Gauge>::default();
        for (labels, v) in rows {
            fam.get_or_create(&labels).set(v);
        }
        self.registry.register(name, help, fam);
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Userspace event counters (`tokenwarden.sensor.userspace.*`) reported as
/// `tokenwarden_events_total{kind=…}`.
const EVENT_KINDS: &[(&str, &str)] = &[
    ("exec", "exec"),
    ("fork", "fork"),
    ("exit", "exit"),
    ("open", "open"),
    ("connect", "connect"),
    ("dns", "dns_queries"),
    ("request_head", "request_heads"),
    ("oauth", "oauth_requests"),
    ("credential_use", "credential_uses"),
    ("http_request", "http_requests"),
];

/// Renders `stats` (a `sensor-stats` snapshot: `Pipeline::stats`) plus the number of
/// attached probes as Prometheus text.
pub fn render(stats: &Value, probes_attached: usize, tls_libraries: usize) -> String {
    let mut s = Scrape { registry: Registry::with_prefix("tokenwarden") };
    let us = &stats["userspace"];
    s.counter(
        "events",
        "Kernel events handled in userspace, by kind.",
        EVENT_KINDS.iter().map(|(kind, key)| (l(&[("kind", kind)]), u(&us[*key]))).collect(),
    );
    s.counter("records", "Kernel records read from the ring buffer.", vec![(vec![], u(&us["records"]))]);
    s.counter(
        "malformed_records",
        "Kernel records that failed to decode (skipped).",
        vec![(vec![], u(&us["malformed_records"]))],
    );
    s.counter("alerts", "Alerts emitted.", vec![(vec![], u(&us["alerts"]))]);
    let kernel = stats["kernel"].as_object().cloned().unwrap_or_default();
    s.counter(
        "kernel_ringbuf_drops",
        "Records the kernel could not reserve in the ring buffer (lost), by probe.",
        kernel
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("ringbuf_drop_").map(|p| (l(&[("probe", p)]), u(v))))
            .collect(),
    );
    s.counter(
        "kernel",
        "Every kernel-side counter (filter decisions, drops, read failures), by name.",
        kernel.iter().map(|(k, v)| (l(&[("counter", k)]), u(v))).collect(),
    );
    s.gauge(
        "ringbuf_last_batch_records",
        "Records read from the ring buffer in the last wake-up (userspace backlog).",
        vec![(vec![], u(&us["last_batch_records"]) as i64)],
    );
    s.gauge(
        "ringbuf_max_batch_records",
        "Largest ring-buffer backlog read in one wake-up since start.",
        vec![(vec![], u(&us["max_batch_records"]) as i64)],
    );
    let hits = stats["rule_hits"].as_object().cloned().unwrap_or_default();
    s.counter(
        "rule_hits",
        "Rule matches, by rule id.",
        hits.iter().map(|(r, v)| (l(&[("rule", r)]), u(v))).collect(),
    );
    let exceptions = stats["exception_hits"].as_array().cloned().unwrap_or_default();
    s.counter(
        "exception_hits",
        "Rule exceptions that suppressed an alert, by rule and exception.",
        exceptions
            .iter()
            .map(|e| {
                let labels = l(&[
                    ("rule", e["rule"].as_str().unwrap_or("")),
                    ("exception", e["exception"].as_str().unwrap_or("")),
                ]);
                (labels, u(&e["hits"]))
            })
            .collect(),
    );
    let sinks = stats["sinks"].as_object().cloned().unwrap_or_default();
    let per_sink = |key: &str| -> Vec<(Labels, u64)> {
        sinks
            .iter()
            .map(|(n, v)| (l(&[("sink", n), ("type", v["type"].as_str().unwrap_or(""))]), u(&v[key])))
            .collect()
    };
    s.counter("sink_sent", "Records delivered (acknowledged or written), by sink.", per_sink("sent"));
    s.counter("sink_failed", "Failed delivery attempts (retried), by sink.", per_sink("failed"));
    s.counter("sink_spooled", "Records written to the sink's on-disk spool.", per_sink("spooled"));
    s.counter("sink_errors", "Local write errors and damaged spool lines, by sink.", per_sink("errors"));
    s.counter(
        "sink_dropped",
        "Records dropped because the spool was full, by sink and class.",
        sinks
            .iter()
            .flat_map(|(n, v)| {
                [("event", "dropped_events"), ("alert", "dropped_alerts")]
                    .map(|(class, key)| (l(&[("sink", n), ("class", class)]), u(&v[key])))
            })
            .collect(),
    );
    let gauge = |key: &str| per_sink(key).into_iter().map(|(l, v)| (l, v as i64)).collect::<Vec<_>>();
    s.gauge("sink_queue_records", "Records waiting for delivery (spool), by sink.", gauge("spool_records"));
    s.gauge("sink_spool_bytes", "Bytes in the sink's spool.", gauge("spool_bytes"));
    s.gauge(
        "sink_up",
        "1 when the sink's last delivery succeeded.",
        sinks
            .iter()
            .map(|(n, v)| (l(&[("sink", n)]), i64::from(v["up"].as_bool().unwrap_or(false))))
            .collect(),
    );
    s.gauge("process_table_size", "Processes tracked.", vec![(vec![], u(&us["process_table_size"]) as i64)]);
    s.counter(
        "process_table_evictions",
        "Processes evicted from a full process table.",
        vec![(vec![], u(&us["process_table_evictions"]))],
    );
    s.gauge(
        "correlation_state_size",
        "Entries in correlation state, by table.",
        vec![
            (l(&[("table", "reads")]), u(&us["correlation_state_size"]) as i64),
            (l(&[("table", "provenance")]), u(&us["provenance_index_size"]) as i64),
            (l(&[("table", "connections")]), u(&us["tracked_connections"]) as i64),
        ],
    );
    s.counter(
        "correlation_evictions",
        "Correlation entries evicted before their window ended, by table.",
        vec![
            (l(&[("table", "provenance")]), u(&us["correlation_index_evictions"])),
            (l(&[("table", "reads")]), u(&us["correlation_reads_evicted"])),
        ],
    );
    s.counter(
        "rule_reloads",
        "Rule reloads, by result.",
        vec![
            (l(&[("result", "ok")]), u(&us["rule_reloads"])),
            (l(&[("result", "failed")]), u(&us["rule_reload_failures"])),
        ],
    );
    s.gauge("probes_attached", "Kernel programs attached.", vec![(vec![], probes_attached as i64)]);
    s.gauge(
        "tls_libraries_attached",
        "TLS libraries and executables with uprobes.",
        vec![(vec![], tls_libraries as i64)],
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &s.registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_counters_with_labels() {
        let stats = json!({
            "kernel": {"ringbuf_drop_open": 3, "open_filtered": 10},
            "userspace": {"open": 5, "alerts": 2, "process_table_size": 7, "rule_reloads": 1},
            "sinks": {"siem": {"type": "http", "sent": 4, "dropped_events": 1, "up": true}},
            "rule_hits": {"aws-credentials": 2},
            "exception_hits": [{"rule": "aws-credentials", "exception": "aws-cli", "hits": 9}],
        });
        let text = render(&stats, 12, 1);
        for want in [
            "tokenwarden_events_total{kind=\"open\"} 5",
            "tokenwarden_kernel_ringbuf_drops_total{probe=\"open\"} 3",
            "tokenwarden_sink_sent_total{sink=\"siem\",type=\"http\"} 4",
            "tokenwarden_sink_dropped_total{sink=\"siem\",class=\"event\"} 1",
            "tokenwarden_sink_up{sink=\"siem\"} 1",
            "tokenwarden_rule_hits_total{rule=\"aws-credentials\"} 2",
            "tokenwarden_exception_hits_total{rule=\"aws-credentials\",exception=\"aws-cli\"} 9",
            "tokenwarden_process_table_size 7",
            "tokenwarden_probes_attached 12",
            "tokenwarden_rule_reloads_total{result=\"ok\"} 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }
}
