//! The model gateway's request log, written off the hot path: a request hands its entry to a bounded
//! channel without waiting (and the entry is counted and dropped if the channel is full), and one
//! background task writes the entries in batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use gatehouse_store::{RequestLog, Store};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// How many times a failed batch is tried in all before it is given up.
const ATTEMPTS: u32 = 4;
/// The wait before the first retry; doubled before each next one.
const FIRST_BACKOFF: StdDuration = StdDuration::from_millis(100);

/// What the gateway may store of a request's bodies: nothing unless the operator turned body logging on.
/// Applied again when an entry is queued, so an entry built carelessly still cannot store a prompt.
pub fn apply_body_policy(log_bodies: bool, mut entry: RequestLog) -> RequestLog {
    if !log_bodies {
        entry.prompt = None;
        entry.completion = None;
    }
    entry
}

/// Counters shared with the writer task, which must not hold the app (that would keep it alive).
#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    lost: AtomicU64,
}

/// The sending half, held by the app; the receiving half waits here until the writer task takes it.
pub struct RequestLogger {
    tx: mpsc::Sender<RequestLog>,
    rx: Mutex<Option<mpsc::Receiver<RequestLog>>>,
    /// The most entries written in one transaction; a queue this long calls the writer early.
    batch: usize,
    counters: Arc<Counters>,
    shutdown: Arc<Notify>,
    /// Rung once a whole batch is queued. The writer does not wait on the channel itself: that would wake
    /// it, on another thread, for every request.
    full: Arc<Notify>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RequestLogger {
    pub fn new(capacity: usize, batch: usize) -> RequestLogger {
        // A zero-capacity tokio channel panics; one slot is the least that still logs.
        let (tx, rx) = mpsc::channel(capacity.max(1));
        RequestLogger {
            tx,
            rx: Mutex::new(Some(rx)),
            batch: batch.max(1),
            counters: Arc::default(),
            shutdown: Arc::new(Notify::new()),
            full: Arc::new(Notify::new()),
            writer: Mutex::new(None),
        }
    }

    /// Queues an entry without waiting. When the writer has fallen behind and the channel is full, the entry
    /// is dropped and counted: a slow database must never slow down or fail the requests themselves.
    pub fn push(&self, entry: RequestLog) {
        if self.tx.try_send(entry).is_ok() {
            // Only a full batch is worth a wake-up; anything less waits for the writer's next round.
            if self.tx.max_capacity() - self.tx.capacity() >= self.batch {
                self.full.notify_one();
            }
            return;
        }
        let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // At powers of two only: a full channel under load would otherwise flood the log it is about.
        if n.is_power_of_two() {
            tracing::warn!(dropped = n, "the request log is full or closed: entries are being dropped");
        }
    }

    /// Entries dropped because the channel was full (or closed, after shutdown).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Entries waiting in the channel.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Entries stored by the writer.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Entries the writer gave up on after retrying.
    pub fn lost(&self) -> u64 {
        self.counters.lost.load(Ordering::Relaxed)
    }

    /// Starts the writer task on the current runtime, once: later calls do nothing (the receiver is gone).
    pub fn start(&self, store: Arc<dyn Store>, flush_interval: StdDuration) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let writer = Writer {
            store,
            counters: self.counters.clone(),
            batch: self.batch,
            flush_interval,
            shutdown: self.shutdown.clone(),
            full: self.full.clone(),
        };
        let handle = tokio::spawn(writer.run(rx));
        *self.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// Closes the channel and waits, at most `timeout`, for the writer to store what was queued. Entries
    /// logged afterwards are dropped (and counted).
    pub async fn shutdown(&self, timeout: StdDuration) {
        self.shutdown.notify_one();
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if tokio::time::timeout(timeout, handle).await.is_err() {
                tracing::warn!("the request log writer did not finish draining in time");
            }
        }
    }
}

struct Writer {
    store: Arc<dyn Store>,
    counters: Arc<Counters>,
    batch: usize,
    flush_interval: StdDuration,
    shutdown: Arc<Notify>,
    full: Arc<Notify>,
}

impl Writer {
    /// Each round (every flush interval, or sooner once a batch is queued) writes all that is queued, in
    /// batches. Ends after draining, on shutdown or once every sender is gone (the app was dropped).
    async fn run(self, mut rx: mpsc::Receiver<RequestLog>) {
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            let closing = tokio::select! {
                biased;
                () = self.shutdown.notified() => true,
                () = self.full.notified() => false,
                () = tokio::time::sleep(self.flush_interval) => false,
            };
            if closing {
                // Closed, the channel still yields what it holds.
                rx.close();
            }
            let ended = loop {
                let ended = take(&mut rx, &mut batch, self.batch);
                let taken = batch.len();
                if taken > 0 {
                    self.write(&batch).await;
                    batch.clear();
                }
                // A short batch emptied the queue: what arrived during its write waits for the next round
                // (one transaction per round under a steady trickle), unless closing, which leaves nothing.
                if ended || taken == 0 || (taken < self.batch && !closing) {
                    break ended;
                }
            };
            if closing || ended {
                return;
            }
        }
    }

    async fn write(&self, batch: &[RequestLog]) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match self.store.append_request_logs(batch).await {
                Ok(()) => {
                    self.counters.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, rows = batch.len(), "could not write request logs; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(e) => {
                    self.counters.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    // Who and when, never the bodies: prompts must not end up in the server's own log.
                    let request_ids: Vec<&str> = batch.iter().filter_map(|l| l.request_id.as_deref()).collect();
                    tracing::error!(
                        error = %e,
                        rows = batch.len(),
                        first_at = %batch.first().map(|l| l.at.to_string()).unwrap_or_default(),
                        last_at = %batch.last().map(|l| l.at.to_string()).unwrap_or_default(),
                        ?request_ids,
                        "gave up writing request logs"
                    );
                }
            }
        }
    }
}

/// Moves up to `max` queued entries into `batch` without waiting; true once the channel is closed and empty.
fn take(rx: &mut mpsc::Receiver<RequestLog>, batch: &mut Vec<RequestLog>, max: usize) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(entry) => batch.push(entry),
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => return true,
        }
    }
    false
}
