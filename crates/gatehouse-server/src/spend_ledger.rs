//! Budget spend on its way to the store, so that a restart or an emptied Redis never resets a period's
//! budget. The gateway records each settled request's spend on the hot path into its serving thread's own
//! shard (a lock no other serving thread takes), summed per (counter, period); a background task takes the
//! sums every interval and adds them to the store's totals in one transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration as StdDuration;

use gatehouse_store::{SpendDelta, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::token_use::{this_thread_shard, SHARDS};

/// The first wait before the final flush at shutdown is tried again; doubled each time, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: StdDuration = StdDuration::from_millis(100);
const MAX_BACKOFF: StdDuration = StdDuration::from_secs(2);

/// A counter's unrecorded spend per period start: rarely more than one period (two as one turns into the
/// next), so a short list rather than a map.
type Shard = HashMap<String, Vec<(i64, i64)>>;

/// Taken from the shards, not yet stored: what a failed flush keeps for the next.
#[derive(Default)]
struct Pending {
    sums: BTreeMap<(String, i64), i64>,
    /// Flushes failed in a row, to warn at powers of two only: a database down for an hour would otherwise
    /// write a warning every interval.
    failures: u64,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// Held for a whole flush, so that flushes take turns: a delta is in at most one write at a time, and
    /// `flush_now` returns only once everything recorded before it was called has been written.
    pending: tokio::sync::Mutex<Pending>,
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Moves every shard's sums into `pending`, holding each shard's lock only for a swap.
    fn take_shards(&self, pending: &mut BTreeMap<(String, i64), i64>) {
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *lock(shard));
            for (counter, periods) in taken {
                for (period_start, amount) in periods {
                    let sum = pending.entry((counter.clone(), period_start)).or_insert(0);
                    *sum = sum.saturating_add(amount);
                }
            }
        }
    }

    /// Adds everything recorded so far, and whatever earlier flushes failed to store, to the store's totals.
    /// On failure it is all kept for the next flush (the store adds all of a call or none of it).
    async fn flush(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().await;
        self.take_shards(&mut pending.sums);
        if pending.sums.is_empty() {
            return Ok(());
        }
        let deltas: Vec<SpendDelta> = pending
            .sums
            .iter()
            .map(|((counter, period_start), amount)| SpendDelta {
                counter: counter.clone(),
                period_start: *period_start,
                amount: *amount,
            })
            .collect();
        match store.add_spend(&deltas).await {
            Ok(()) => {
                if pending.failures > 0 {
                    tracing::info!(failures = pending.failures, "stored the budget spend kept from failed flushes");
                }
                pending.sums.clear();
                pending.failures = 0;
                Ok(())
            }
            Err(e) => {
                pending.failures += 1;
                // How much, never which counters: the sums are kept and tried again with the next flush.
                if pending.failures.is_power_of_two() {
                    tracing::warn!(
                        error = %e,
                        counters = deltas.len(),
                        failures = pending.failures,
                        "could not store budget spend; keeping it for the next flush"
                    );
                }
                Err(e)
            }
        }
    }
}

/// Budget spend not yet added to the store's totals.
pub struct SpendLedger {
    inner: Arc<Inner>,
    /// Where flushes go, once `start` has been called.
    store: OnceLock<Arc<dyn Store>>,
    stop: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Default for SpendLedger {
    fn default() -> Self {
        SpendLedger {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                pending: tokio::sync::Mutex::default(),
            }),
            store: OnceLock::new(),
            stop: Arc::new(Notify::new()),
            task: Mutex::new(None),
        }
    }
}

impl SpendLedger {
    /// Adds `amount` (nano-dollars or tokens, by the counter) to `counter` for the period starting at
    /// `period_start` (Unix seconds). Takes only the calling thread's own shard lock, which the flush visits
    /// for a moment every interval.
    pub fn record(&self, counter: &str, period_start: i64, amount: i64) {
        if amount == 0 {
            return;
        }
        let Some(shard) = self.inner.shards.get(this_thread_shard()) else { return };
        let mut m = lock(shard);
        match m.get_mut(counter) {
            Some(periods) => match periods.iter_mut().find(|(p, _)| *p == period_start) {
                Some((_, sum)) => *sum = sum.saturating_add(amount),
                None => periods.push((period_start, amount)),
            },
            None => {
                m.insert(counter.to_owned(), vec![(period_start, amount)]);
            }
        }
    }

    /// Starts flushing to `store` every `interval` on the current runtime, once: later calls do nothing.
    pub fn start(&self, store: Arc<dyn Store>, interval: StdDuration) {
        if self.store.set(store.clone()).is_err() {
            return;
        }
        let task = run(Arc::downgrade(&self.inner), store, interval, self.stop.clone());
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokio::spawn(task));
    }

    /// Adds everything recorded so far to the store now (after any flush under way). Before `start` there
    /// is no store to add to, and the spend stays recorded.
    pub async fn flush_now(&self) -> Result<(), StoreError> {
        match self.store.get() {
            Some(store) => self.inner.flush(store.as_ref()).await,
            None => Ok(()),
        }
    }

    /// Stops the background flushes and stores what is left, trying again until it is stored or `timeout`
    /// has passed. Spend recorded afterwards is not stored.
    pub async fn shutdown(&self, timeout: StdDuration) {
        self.stop.notify_one();
        let handle = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut handle) = handle else { return };
        if tokio::time::timeout(timeout, &mut handle).await.is_err() {
            handle.abort();
            tracing::error!("could not store the last budget spend before shutting down: it is lost");
        }
    }
}

/// Flushes every `interval` until stopped, then stores what is left; ends early once the ledger is gone.
async fn run(inner: Weak<Inner>, store: Arc<dyn Store>, interval: StdDuration, stop: Arc<Notify>) {
    loop {
        let stopping = tokio::select! {
            biased;
            () = stop.notified() => true,
            () = tokio::time::sleep(interval) => false,
        };
        let Some(inner) = inner.upgrade() else { return };
        if !stopping {
            // A failure keeps the spend for the next round, and is logged by `flush`.
            let _ = inner.flush(store.as_ref()).await;
            continue;
        }
        let mut backoff = FIRST_BACKOFF;
        while inner.flush(store.as_ref()).await.is_err() {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_store::testing;
    use gatehouse_store::SqlStore;

    const THREADS: i64 = 8;
    const RECORDS: i64 = 2_000;

    /// What each thread records, and what the store must hold for it in the end.
    fn record_from_threads(ledger: &Arc<SpendLedger>) -> Vec<std::thread::JoinHandle<()>> {
        (0..THREADS)
            .map(|t| {
                let ledger = ledger.clone();
                std::thread::spawn(move || {
                    for i in 0..RECORDS {
                        ledger.record("budget/shared", 1_000, 1);
                        ledger.record("budget/shared", 2_000, i);
                        ledger.record(&format!("budget/thread-{t}"), 1_000, t + 1);
                    }
                })
            })
            .collect()
    }

    async fn assert_totals(store: &dyn Store) {
        assert_eq!(store.spend_of("budget/shared", 1_000).await.unwrap(), THREADS * RECORDS);
        assert_eq!(store.spend_of("budget/shared", 2_000).await.unwrap(), THREADS * (0..RECORDS).sum::<i64>());
        for t in 0..THREADS {
            assert_eq!(store.spend_of(&format!("budget/thread-{t}"), 1_000).await.unwrap(), RECORDS * (t + 1));
        }
        assert_eq!(store.spend_since(i64::MIN).await.unwrap().len(), 2 + THREADS as usize);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spend_from_many_threads_sums_exactly_in_the_store() {
        let db = testing::sqlite();
        let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        let ledger = Arc::new(SpendLedger::default());
        // Flushing all the while: what is recorded during a flush goes to a later one, never nowhere.
        ledger.start(store.clone(), StdDuration::from_millis(1));
        for h in record_from_threads(&ledger) {
            h.join().unwrap();
        }
        ledger.flush_now().await.unwrap();
        assert_totals(store.as_ref()).await;
        // Nothing is written twice: a later flush adds nothing.
        ledger.flush_now().await.unwrap();
        assert_totals(store.as_ref()).await;
        // Shutdown stores what was recorded since.
        ledger.record("budget/late", 3_000, 5);
        ledger.shutdown(StdDuration::from_secs(5)).await;
        assert_eq!(store.spend_of("budget/late", 3_000).await.unwrap(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_store_keeps_the_spend_for_the_next_flush() {
        let db = testing::sqlite();
        let closed = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        let open: Arc<dyn Store> = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        // A store whose connections are gone fails every call.
        closed.close().await;
        let ledger = Arc::new(SpendLedger::default());
        ledger.start(closed, StdDuration::from_millis(1));
        for h in record_from_threads(&ledger) {
            h.join().unwrap();
        }
        assert!(ledger.flush_now().await.is_err());
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        assert!(open.spend_since(i64::MIN).await.unwrap().is_empty());
        // Failed flushes, background and on demand, lost nothing: the next working one stores it all, once.
        ledger.inner.flush(open.as_ref()).await.unwrap();
        assert_totals(open.as_ref()).await;
        ledger.inner.flush(open.as_ref()).await.unwrap();
        assert_totals(open.as_ref()).await;
        // Shutdown against a store that never comes back gives up at its timeout.
        ledger.record("budget/late", 3_000, 5);
        let started = std::time::Instant::now();
        ledger.shutdown(StdDuration::from_millis(300)).await;
        assert!(started.elapsed() < StdDuration::from_secs(5));
        assert_eq!(open.spend_of("budget/late", 3_000).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn nothing_is_flushed_before_start() {
        let ledger = SpendLedger::default();
        ledger.record("budget/a", 1, 1);
        ledger.flush_now().await.unwrap();
        ledger.shutdown(StdDuration::from_millis(10)).await;
        let db = testing::sqlite();
        let store = SqlStore::connect(&db.url).await.unwrap();
        ledger.inner.flush(&store).await.unwrap();
        assert_eq!(store.spend_of("budget/a", 1).await.unwrap(), 1);
    }
}
