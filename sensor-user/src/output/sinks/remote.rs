//! Delivery to a remote receiver: the pipeline pushes records, `flush` writes them to
//! the sink's on-disk [`Spool`] (write-ahead), and a sender thread delivers batches
//! from the spool cursor through a [`Transport`], in order, advancing the cursor only
//! when the receiver accepted a batch; failures back off exponentially.

use std::{
    path::Path,
    sync::{Arc, Condvar, Mutex, MutexGuard, atomic::Ordering, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracing::{debug, info, warn};

use super::{Record, SinkError, SinkStats, Transport, spool::Spool};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The sender wakes at least this often (to sync the spool).
const IDLE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Control {
    /// Set by `stop`: deliver until then, then exit.
    stop_at: Option<Instant>,
    /// Records were appended since the sender last looked.
    new_data: bool,
}

struct Shared {
    spool: Mutex<Spool>,
    control: Mutex<Control>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct RemoteSink {
    name: String,
    shared: Arc<Shared>,
    pending: Vec<Record>,
    stats: Arc<SinkStats>,
    worker: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
}

impl RemoteSink {
    /// Opens the spool in `spool_dir` (records left by the last run are delivered first)
    /// and starts the sender thread.
    pub fn start(
        name: &str,
        transport: Box<dyn Transport>,
        spool_dir: &Path,
        spool_max_bytes: u64,
        stats: Arc<SinkStats>,
    ) -> Result<Self, SinkError> {
        let spool = Spool::open(spool_dir, spool_max_bytes, stats.clone())
            .map_err(|e| SinkError::Spool { path: e.path, source: e.source })?;
        if spool.pending() > 0 {
            info!(sink = name, records = spool.pending(), "spool holds records from the last run");
        }
        let shared =
            Arc::new(Shared { spool: Mutex::new(spool), control: Mutex::default(), wake: Condvar::new() });
        let (tx, done) = mpsc::channel();
        let sender =
            Sender { name: name.to_string(), shared: shared.clone(), stats: stats.clone(), transport };
        let worker = std::thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || {
                sender.run();
                let _ = tx.send(());
            })
            .map_err(SinkError::Write)?;
        Ok(Self { name: name.to_string(), shared, pending: Vec::new(), stats, worker: Some(worker), done })
    }

    pub fn push(&mut self, r: Record) {
        self.pending.push(r);
    }

    /// Writes pushed records to the spool (flushed to the OS) and wakes the sender.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = lock(&self.shared.spool).append(&self.pending) {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            warn!(sink = %self.name, "spool write: {e}");
        }
        self.pending.clear();
        lock(&self.shared.control).new_data = true;
        self.shared.wake.notify_all();
    }

    /// Delivers for up to `grace`, then stops the sender; what is left stays in the
    /// spool (synced to disk) for the next start.
    pub fn stop(mut self, grace: Duration) {
        self.flush();
        lock(&self.shared.control).stop_at = Some(Instant::now() + grace);
        self.shared.wake.notify_all();
        // A request in progress may take up to its timeout: do not wait for it forever.
        match self.done.recv_timeout(grace + Duration::from_secs(1)) {
            Ok(()) => {
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
            }
            Err(_) => {
                warn!(sink = %self.name, "sender still busy at shutdown; undelivered records stay spooled")
            }
        }
        let mut spool = lock(&self.shared.spool);
        spool.sync();
        if spool.pending() > 0 {
            info!(sink = %self.name, records = spool.pending(), "undelivered records kept in the spool");
        }
    }
}

/// The sender thread.
struct Sender {
    name: String,
    shared: Arc<Shared>,
    stats: Arc<SinkStats>,
    transport: Box<dyn Transport>,
}

impl Sender {
    fn run(mut self) {
        let max = self.transport.max_batch().max(1);
        let mut backoff = BACKOFF_MIN;
        loop {
            let batch = {
                let mut spool = lock(&self.shared.spool);
                spool.sync_if_due();
                spool.read_batch(max)
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    warn!(sink = %self.name, "spool read: {e}");
                    if !self.pause(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            if batch.is_empty() {
                let mut c = lock(&self.shared.control);
                if c.stop_at.is_some() {
                    return;
                }
                if !c.new_data {
                    c = self.shared.wake.wait_timeout(c, IDLE).unwrap_or_else(|p| p.into_inner()).0;
                }
                c.new_data = false;
                continue;
            }
            match self.transport.send(&batch) {
                Ok(()) => {
                    if let Err(e) = lock(&self.shared.spool).ack(batch.len()) {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        warn!(sink = %self.name, "spool cursor: {e}");
                    }
                    self.stats.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    if !self.stats.up.swap(true, Ordering::Relaxed) {
                        info!(sink = %self.name, "delivering again");
                    }
                    backoff = BACKOFF_MIN;
                    if lock(&self.shared.control).stop_at.is_some_and(|t| Instant::now() >= t) {
                        return;
                    }
                }
                Err(e) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    if self.stats.up.swap(false, Ordering::Relaxed) {
                        warn!(sink = %self.name, "delivery failed, retrying with backoff: {e}");
                    } else {
                        debug!(sink = %self.name, "delivery failed again, next try in {backoff:?}: {e}");
                    }
                    if !self.pause(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Waits `d`, or less: until the stop deadline, or until `stop` is called (then
    /// one more try at once). False once the stop deadline has passed.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        let mut c = lock(&self.shared.control);
        let stopping_before = c.stop_at.is_some();
        loop {
            let now = Instant::now();
            if let Some(t) = c.stop_at {
                if now >= t {
                    return false;
                }
                if !stopping_before {
                    return true;
                }
            }
            if now >= until {
                return true;
            }
            let end = c.stop_at.map_or(until, |t| t.min(until));
            c = self.shared.wake.wait_timeout(c, end - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}
