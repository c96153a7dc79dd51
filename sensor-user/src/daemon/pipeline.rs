//! Everything after the ring buffer: decode → process table → detect → output, one
//! record at a time.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{
    decode::{self, Endpoint, Event, Task},
    detect::{Detector, egress::Egress},
    detect::{
        correlate::{Correlator, Party, Provenance, parsers::host_of},
        oauth, session,
    },
    output::session::target_fields,
    output::{EcsBuilder, Sinks},
    probes::stats::KernelStats,
    process::ProcessTable,
    process::{Ancestor, Process},
};

/// Userspace counters, reported with the kernel's.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub records: u64,
    pub malformed: u64,
    pub exec: u64,
    pub fork: u64,
    pub exit: u64,
    pub open: u64,
    pub alerts: u64,
    pub watched_opens_allowed: u64,
    pub reloads_ok: u64,
    pub connect: u64,
    pub dns: u64,
    pub oauth: u64,
    pub data: u64,
    pub credential_uses: u64,
    pub reloads_failed: u64,
    /// Records read in the last ring-buffer wake-up, and the most in one wake-up.
    pub last_batch: u64,
    pub max_batch: u64,
}

/// Everything after the ring buffer.
/// A process as the correlator sees it.
fn party(p: &Process, t: &Task, anc: &[Ancestor]) -> Party {
    Party {
        pid: t.tgid,
        entity_id: p.entity_id.clone(),
        executable: p.executable.clone(),
        uid: t.uid,
        loginuid: t.loginuid,
        sessionid: t.sessionid,
        ancestors: anc.iter().map(|a| a.entity_id.clone()).collect(),
        parent_entity: anc.first().map(|a| a.entity_id.clone()).unwrap_or_default(),
    }
}

pub struct Pipeline {
    pub sessions: crate::process::session::Sessions,
    pub maps_reads: session::MapsReads,
    pub correlator: Correlator,
    /// The first alert of each deduplicated finding, re-sent with its count when its
    /// window ends with repeats.
    pub first_alerts: std::collections::HashMap<String, Value>,
    pub consents: oauth::ConsentTracker,
    /// Executables seen at exec, to inspect for a statically linked TLS library.
    pub new_executables: Vec<String>,
    pub egress: Egress,
    /// JWTs living longer than this are flagged `long_lived`.
    pub jwt_max_lifetime_s: i64,
    pub table: ProcessTable,
    pub detector: Detector,
    pub ecs: EcsBuilder,
    pub sinks: Sinks,
    pub counters: Counters,
    pub emit_events: bool,
}

/// What a pipeline needs besides its rules, stores, process table and sinks.
pub struct PipelineOptions {
    pub fingerprint_key: Vec<u8>,
    pub correlation: crate::detect::correlate::CorrelationConfig,
    pub jwt_max_lifetime_s: i64,
    pub emit_events: bool,
    pub host: crate::output::HostInfo,
    pub instance_id: String,
}

impl Pipeline {
    /// A pipeline over `rules` and `stores`, writing to `sinks`.
    pub fn new(
        rules: crate::detect::rules::RuleSet,
        stores: crate::detect::stores::StoreIndex,
        table: ProcessTable,
        sinks: Sinks,
        opts: PipelineOptions,
    ) -> Self {
        use crate::detect::credentials::Fingerprinter;
        Self {
            consents: Default::default(),
            sessions: Default::default(),
            maps_reads: Default::default(),
            first_alerts: Default::default(),
            correlator: Correlator::new(opts.correlation, Fingerprinter::new(&opts.fingerprint_key)),
            new_executables: Vec::new(),
            egress: Egress::new(Fingerprinter::new(&opts.fingerprint_key)),
            jwt_max_lifetime_s: opts.jwt_max_lifetime_s,
            table,
            detector: Detector::new(rules, stores),
            ecs: EcsBuilder::new(opts.host, opts.instance_id),
            sinks,
            counters: Counters::default(),
            emit_events: opts.emit_events,
        }
    }

    /// Handles one raw record. Malformed records are counted and skipped.
    pub fn handle(&mut self, raw: &[u8]) {
        self.counters.records += 1;
        let ev = match decode::decode(raw) {
            Ok(ev) => ev,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::debug!("skipped malformed kernel record: {e}");
                return;
            }
        };
        match ev {
            Event::Exec(e) => {
                self.counters.exec += 1;
                self.table.on_exec(&e);
                if self.new_executables.len() < 4096 && e.executable.is_complete() {
                    self.new_executables.push(e.executable.path.clone());
                }
                if self.emit_events {
                    let p = self.table.resolve(&e.task).clone();
                    let anc = self.table.ancestry(p.pid);
                    let doc = self.ecs.exec_event(e.ts_boot_ns, &e.task, &p, &anc);
                    self.write(doc);
                }
            }
            Event::Fork(f) => {
                self.counters.fork += 1;
                self.table.on_fork(&f);
            }
            Event::Exit(x) => {
                self.counters.exit += 1;
                self.table.on_exit(&x);
                self.egress.on_exit(x.task.tgid);
            }
            Event::Trace(t) if t.syscall == sensor_common::TRACE_KEYCTL_PERSISTENT => {
                // The kernel only sends foreign uids; a login user reaching their own
                // keyring after sudo is not theft.
                if t.task.loginuid != Some(t.target_pid) {
                    let p = self.table.resolve(&t.task).clone();
                    let anc = self.table.ancestry(p.pid);
                    let doc = self.ecs.keyring_access(&t, &p, &anc);
                    self.counters.alerts += 1;
                    self.write(doc);
                }
            }
            Event::Trace(t) => {
                let p = self.table.resolve(&t.task).clone();
                let target = self.table.get(t.target_pid).cloned();
                let caller_login = t.task.loginuid.unwrap_or(t.task.uid);
                let foreign = target
                    .as_ref()
                    .is_none_or(|g| g.uid != t.task.uid || g.loginuid.unwrap_or(g.uid) != caller_login);
                if foreign {
                    let anc = self.table.ancestry(p.pid);
                    let doc = self.ecs.memory_access(&t, &p, &anc, target.as_ref());
                    self.counters.alerts += 1;
                    self.write(doc);
                }
            }
            Event::Connect(c) => {
                self.counters.connect += 1;
                self.egress.on_connect(&c);
                let unix = matches!(c.endpoint, Endpoint::Unix(_));
                let hijack = if unix { session::agent_hijack(&c, &self.table) } else { None };
                if !unix && !self.emit_events {
                    return;
                }
                // One lookup of the process and its lineage for everything below.
                let p = self.table.resolve(&c.task).clone();
                let anc = self.table.ancestry(p.pid);
                if let Some(sock) = session::unexpected_kcm(&c, &p.executable) {
                    let doc = self.ecs.kcm_access(&c, &p, &anc, &sock);
                    self.counters.alerts += 1;
                    self.write(doc);
                }
                if let Some(h) = hijack {
                    let doc = self.ecs.agent_hijack(&c, &p, &anc, &h);
                    self.counters.alerts += 1;
                    self.write(doc);
                }
                if self.emit_events {
                    let name = self.egress.recent_name(c.task.tgid).map(str::to_string);
                    let doc = self.ecs.connect_event(&c, &p, &anc, name.as_deref());
                    self.write(doc);
                }
            }
            Event::Data(d) if d.source == sensor_common::SRC_CLIENT_CERT => {
                self.egress.on_client_cert(d.task.tgid);
            }
            Event::Data(d) if d.source == sensor_common::SRC_DNS => {
                self.counters.dns += 1;
                if let Some((name, qtype)) = self.egress.on_dns(&d)
                    && self.emit_events
                {
                    let p = self.table.resolve(&d.task).clone();
                    let anc = self.table.ancestry(p.pid);
                    let doc = self.ecs.dns_event(&d, &p, &anc, &name, qtype);
                    self.write(doc);
                }
            }
            Event::Data(d) => {
                self.counters.data += 1;
                let uses = self.egress.on_data(&d);
                if !uses.is_empty() {
                    let p = self.table.resolve(&d.task).clone();
                    let anc = self.table.ancestry(p.pid);
                    let sender = party(&p, &d.task, &anc);
                    for u in &uses {
                        if !u.credentials.is_empty() {
                            let doc = self.ecs.credential_use(&d, &p, &anc, u, self.jwt_max_lifetime_s);
                            self.counters.credential_uses += 1;
                            self.write(doc);
                        }
                        if let Some(a) = oauth::detect(&u.request) {
                            self.oauth(&d, &p, &anc, &a);
                        }
                        let host = host_of(&u.request.host);
                        let destination = match &u.destination {
                            Some(Endpoint::Ip { addr, port }) => format!("{addr}:{port}"),
                            _ => u.request.host.clone(),
                        };
                        let rules = &self.detector.rules;
                        let allowed = |prov: &Provenance, exe: &str| rules.allows(&prov.rule_id, exe);
                        let findings = self.correlator.on_request(
                            &sender,
                            &u.credentials,
                            &host,
                            &destination,
                            &allowed,
                        );
                        for f in &findings {
                            let doc = self.ecs.finding(d.ts_boot_ns, &d.task, &p, &anc, f);
                            self.counters.alerts += 1;
                            if self.first_alerts.len() > 10_000 {
                                self.first_alerts.clear();
                            }
                            self.first_alerts.insert(f.key.clone(), doc.clone());
                            self.write(doc);
                        }
                    }
                }
            }
            Event::Open(o) => {
                self.counters.open += 1;
                let p = self.table.resolve(&o.task).clone();
                let anc = self.table.ancestry(p.pid);
                let m = self.detector.on_open(&o, &p, &anc);
                if let Some(target) = session::proc_maps_target(&o.path.path) {
                    self.maps_reads.on_maps(o.task.tgid, target, o.ts_boot_ns);
                }
                if let Some(&r) = m.watching.first()
                    && o.path.is_complete()
                {
                    let rule = &self.detector.rules.rules()[r];
                    let store_path = m.store_paths.first().cloned().unwrap_or_else(|| o.path.path.clone());
                    let prov = Provenance {
                        path: store_path,
                        owner_uid: o.owner_uid,
                        rule_id: rule.id.clone(),
                        kind: "store",
                        endpoint: None,
                    };
                    self.correlator.on_store_open(prov, o.task.tgid, &o.path.path, party(&p, &o.task, &anc));
                }
                for &r in &m.rules {
                    let Some(rule) = self.detector.rules.rules().get(r) else { continue };
                    let mut doc = self.ecs.open_alert(rule, &o, &p, &anc, &m);
                    if let Some(pid) = session::proc_target(&o.path.path) {
                        doc["tokenwarden"]["target"] = target_fields(pid, self.table.get(pid));
                        if o.path.path.ends_with("/mem")
                            && let Some(gap) = self.maps_reads.before_mem(o.task.tgid, pid, o.ts_boot_ns)
                        {
                            // maps then mem: the reader located the memory to copy.
                            doc["tokenwarden"]["sequence"] = serde_json::json!({
                                "name": "maps-then-mem", "maps_read_ms_before": gap / 1_000_000,
                            });
                            crate::output::raise_to_critical(&mut doc);
                        }
                    }
                    self.counters.alerts += 1;
                    self.write(doc);
                }
                if m.rules.is_empty() && m.watched {
                    self.counters.watched_opens_allowed += 1;
                    if self.emit_events {
                        let doc = self.ecs.open_event(&o, &p, &anc, &m);
                        self.write(doc);
                    }
                }
            }
        }
    }

    /// Reports OAuth activity, and alerts on device-code flows and new scope sets.
    fn oauth(&mut self, d: &decode::Data, p: &Process, anc: &[Ancestor], a: &oauth::OAuthActivity) {
        self.counters.oauth += 1;
        let doc = self.ecs.oauth(d.ts_boot_ns, &d.task, p, anc, a, None);
        self.write(doc);
        if a.is_device_code() {
            let reason = format!("device-code OAuth flow started on this server by {}", p.executable);
            let doc = self.ecs.oauth(
                d.ts_boot_ns,
                &d.task,
                p,
                anc,
                a,
                Some(("device-code-flow", "medium", reason)),
            );
            self.counters.alerts += 1;
            self.write(doc);
        }
        if let Some(n) = self.consents.observe(a) {
            let severity = if n.last_hour > 3 { "medium" } else { "low" };
            let reason = format!(
                "OAuth client {} asked for a scope set not seen before on this host: {} ({} new in the last hour)",
                n.client_id, n.scopes, n.last_hour
            );
            let doc =
                self.ecs.oauth(d.ts_boot_ns, &d.task, p, anc, a, Some(("new-oauth-scope", severity, reason)));
            self.counters.alerts += 1;
            self.write(doc);
        }
    }

    /// Re-sends deduplicated alerts whose window ended with repeats, with the total count.
    pub fn flush_correlation_summaries(&mut self) {
        let summaries = self.correlator.take_summaries();
        if summaries.is_empty() {
            return;
        }
        for (key, count) in summaries {
            if let Some(mut doc) = self.first_alerts.remove(&key) {
                self.ecs.restamp(&mut doc);
                doc["tokenwarden"]["correlation"]["count"] = serde_json::json!(count);
                doc["tokenwarden"]["correlation"]["summary"] = serde_json::json!(true);
                self.counters.alerts += 1;
                self.write(doc);
            }
        }
        self.flush();
    }

    pub fn write(&mut self, mut doc: Value) {
        // Every document about a process says which login session it belongs to.
        let pid = doc["process"]["pid"].as_u64().map(|p| p as u32);
        if let Some(pid) = pid
            && doc["tokenwarden"]["session"].is_null()
        {
            let loginuid = doc["tokenwarden"]["process"]["loginuid"].as_u64().map(|v| v as u32);
            let sessionid = doc["tokenwarden"]["process"]["sessionid"].as_u64().map(|v| v as u32);
            if let Some(s) = self.sessions.describe(&self.table, pid, loginuid, sessionid) {
                doc["tokenwarden"]["session"] = s;
            }
        }
        self.sinks.write(&doc);
    }

    /// Notes how many records one ring-buffer wake-up delivered.
    pub fn batch_done(&mut self, records: u64) {
        self.counters.last_batch = records;
        self.counters.max_batch = self.counters.max_batch.max(records);
    }

    pub fn flush(&mut self) {
        self.sinks.flush();
    }

    /// Counters for a state document.
    pub fn stats(&self, kernel: &KernelStats) -> Value {
        let c = &self.counters;
        let rule_hits: BTreeMap<&str, u64> = self
            .detector
            .rules
            .rules()
            .iter()
            .zip(&self.detector.rule_hits)
            .filter(|(_, h)| **h > 0)
            .map(|(r, h)| (r.id.as_str(), *h))
            .collect();
        json!({
            "kernel": kernel.named().collect::<BTreeMap<_, _>>(),
            "kernel_ringbuf_drops": kernel.ringbuf_drops(),
            "userspace": {
                "records": c.records,
                "malformed_records": c.malformed,
                "exec": c.exec, "fork": c.fork, "exit": c.exit, "open": c.open,
                "alerts": c.alerts,
                "watched_opens_allowed": c.watched_opens_allowed,
                "rule_reloads": c.reloads_ok,
                "connect": c.connect,
                "dns_queries": c.dns,
                "oauth_requests": c.oauth,
                "request_heads": c.data,
                "credential_uses": c.credential_uses,
                "http_requests": self.egress.counters.requests,
                "http_unparsed": self.egress.counters.unparsed,
                "http2_resyncs": self.egress.counters.h2_errors,
                "tracked_connections": self.egress.tracked_connections(),
                "provenance_index_size": self.correlator.index_len(),
                "correlation_state_size": self.correlator.state_len(),
                "correlation_index_evictions": self.correlator.counters.index_evictions,
                "correlation_reads_evicted": self.correlator.reads_evicted(),
                "correlation_findings": self.correlator.counters.findings,
                "correlation_deduplicated": self.correlator.counters.deduplicated,
                "stores_parsed": self.correlator.counters.stores_parsed,
                "store_parse_failures": self.correlator.counters.store_parse_failures,
                "rule_reload_failures": c.reloads_failed,
                "last_batch_records": c.last_batch,
                "max_batch_records": c.max_batch,
                "process_table_size": self.table.len(),
                "process_table_evictions": self.table.evictions,
                "stores_indexed": self.detector.stores.len(),
            },
            "sinks": self.sinks.snapshot(),
            "rule_hits": rule_hits,
            "exception_hits": self
                .detector
                .rules
                .exception_hits()
                .into_iter()
                .map(|(rule, name, hits)| json!({"rule": rule, "exception": name, "hits": hits}))
                .collect::<Vec<_>>(),
        })
    }
}
