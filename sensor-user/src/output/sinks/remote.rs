//! Delivery to a remote receiver: the pipeline pushes records; a sender thread sends
//! them in order through a [`Transport`], retrying with backoff.
//! (First version: an in-memory queue; the on-disk spool replaces it.)

use std::{
    collections::VecDeque,
    path::Path,
    sync::{Arc, Condvar, Mutex, atomic::Ordering},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::{Record, SinkError, SinkStats, Transport};

struct Shared {
    queue: Mutex<(VecDeque<Record>, bool)>,
    wake: Condvar,
}

pub struct RemoteSink {
    shared: Arc<Shared>,
    pending: Vec<Record>,
    stats: Arc<SinkStats>,
    worker: Option<JoinHandle<()>>,
}

impl RemoteSink {
    pub fn start(
        name: &str,
        mut transport: Box<dyn Transport>,
        _spool_dir: &Path,
        _spool_max_bytes: u64,
        stats: Arc<SinkStats>,
    ) -> Result<Self, SinkError> {
        let shared = Arc::new(Shared { queue: Mutex::new((VecDeque::new(), false)), wake: Condvar::new() });
        let (sh, st) = (shared.clone(), stats.clone());
        let worker = std::thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || {
                let mut backoff = Duration::from_millis(100);
                loop {
                    let batch: Vec<Record> = {
                        let mut q = sh.queue.lock().unwrap_or_else(|p| p.into_inner());
                        while q.0.is_empty() && !q.1 {
                            q = sh.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                        }
                        if q.0.is_empty() {
                            return;
                        }
                        let n = q.0.len().min(transport.max_batch());
                        q.0.iter().take(n).cloned().collect()
                    };
                    match transport.send(&batch) {
                        Ok(()) => {
                            let mut q = sh.queue.lock().unwrap_or_else(|p| p.into_inner());
                            q.0.drain(..batch.len());
                            st.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                            st.up.store(true, Ordering::Relaxed);
                            backoff = Duration::from_millis(100);
                        }
                        Err(e) => {
                            st.failed.fetch_add(1, Ordering::Relaxed);
                            st.up.store(false, Ordering::Relaxed);
                            tracing::warn!("sink delivery failed: {e}");
                            let q = sh.queue.lock().unwrap_or_else(|p| p.into_inner());
                            if q.1 {
                                return;
                            }
                            let _ = sh.wake.wait_timeout(q, backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            })
            .map_err(SinkError::Write)?;
        Ok(Self { shared, pending: Vec::new(), stats, worker: Some(worker) })
    }

    pub fn push(&mut self, r: Record) {
        self.pending.push(r);
    }

    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.0.extend(self.pending.drain(..));
        self.stats.spool_records.store(q.0.len() as u64, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }

    pub fn stop(mut self, grace: Duration) {
        self.flush();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).0.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.shared.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
