//! When each token was last used, recorded on every authenticated request without a lock that another core
//! contends on: each serving thread writes its own shard, and only the periodic flush (and the rare read of
//! `last_used`) visits the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use gatehouse_core::TokenId;
use time::OffsetDateTime;

/// More than the threads that serve requests: each gets a shard of its own.
pub(crate) const SHARDS: usize = 64;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard: an index only, the same in every app, so threads never share one unless there
    /// are more than `SHARDS` of them.
    static SHARD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// The calling thread's shard index, below `SHARDS`: shared by every per-thread structure (token use,
/// budget spend), so a serving thread takes only locks that no other serving thread takes.
pub(crate) fn this_thread_shard() -> usize {
    SHARD.with(|s| *s)
}

type Shard = HashMap<TokenId, OffsetDateTime>;

/// Token uses not yet flushed to the store.
pub struct TokenUse {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for TokenUse {
    fn default() -> Self {
        TokenUse { shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenUse {
    pub fn record(&self, id: &TokenId, at: OffsetDateTime) {
        let Some(shard) = self.shards.get(this_thread_shard()) else { return };
        let mut m = lock(shard);
        match m.get_mut(id) {
            Some(t) => *t = (*t).max(at),
            None => {
                m.insert(id.clone(), at);
            }
        }
    }

    /// The latest unflushed use of each of `ids` that has one.
    pub fn pending(&self, ids: &[TokenId]) -> HashMap<TokenId, OffsetDateTime> {
        let mut out: HashMap<TokenId, OffsetDateTime> = HashMap::new();
        for shard in self.shards.iter() {
            let m = lock(shard);
            for id in ids {
                if let Some(t) = m.get(id) {
                    let e = out.entry(id.clone()).or_insert(*t);
                    *e = (*e).max(*t);
                }
            }
        }
        out
    }

    /// Takes every unflushed use, the latest per token.
    pub fn drain(&self) -> Vec<(TokenId, OffsetDateTime)> {
        let mut out: HashMap<TokenId, OffsetDateTime> = HashMap::new();
        for shard in self.shards.iter() {
            for (id, t) in lock(shard).drain() {
                let e = out.entry(id).or_insert(t);
                *e = (*e).max(t);
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_use_across_threads_until_drained() {
        let uses = std::sync::Arc::new(TokenUse::default());
        let a = TokenId::from_bytes([0xaa; 8]);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let handles: Vec<_> = (0..4i64)
            .map(|i| {
                let (uses, a) = (uses.clone(), a.clone());
                std::thread::spawn(move || uses.record(&a, t0 + time::Duration::seconds(i)))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        uses.record(&a, t0);
        assert_eq!(uses.pending(std::slice::from_ref(&a)).get(&a), Some(&(t0 + time::Duration::seconds(3))));
        assert_eq!(uses.drain(), vec![(a.clone(), t0 + time::Duration::seconds(3))]);
        assert!(uses.drain().is_empty());
        assert!(uses.pending(&[a]).is_empty());
    }
}
