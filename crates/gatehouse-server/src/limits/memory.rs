//! Counters in this process: exact for one replica. Each counter has its own small lock, held for a few
//! additions; a request charged against several takes theirs in key order, so two requests never wait on
//! each other in a cycle. Requests that share no counter never share a lock: the map itself is lock-free.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use gatehouse_core::limits::{Period, Tally};
use time::OffsetDateTime;

use super::counters::{Ask, Correction, Counters, Held, Unavailable, Usage, Verdict};

#[derive(Default)]
pub struct MemoryCounters {
    map: papaya::HashMap<String, Arc<Mutex<Tally>>>,
}

impl MemoryCounters {
    pub fn new() -> MemoryCounters {
        MemoryCounters::default()
    }

    /// Counts `amount` in `slot` of `counter` as already spent (start-up, from the store's spend).
    pub fn seed(&self, counter: &str, period: Period, slot: i64, amount: u64) {
        let tally = self.tally(counter);
        let mut t = lock(&tally);
        t.add(period, slot, amount);
    }

    fn tally(&self, counter: &str) -> Arc<Mutex<Tally>> {
        let map = self.map.pin();
        if let Some(t) = map.get(counter) {
            return t.clone();
        }
        map.get_or_insert_with(counter.to_owned(), || Arc::new(Mutex::new(Tally::default()))).clone()
    }

    /// Forgets counters with nothing left in their window, so that counters keyed by values clients choose
    /// (metadata) do not accumulate. `period_of` says each counter's period, from the rules in force; a
    /// counter no rule knows any more is dropped.
    pub fn sweep(&self, now: OffsetDateTime, period_of: impl Fn(&str) -> Option<Period>) {
        let map = self.map.pin();
        map.retain(|key, tally| match period_of(key) {
            Some(p) => !lock(tally).is_idle(p, p.slot(now)),
            None => false,
        });
    }

    pub fn len(&self) -> usize {
        self.map.pin().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn admit_now(&self, now: OffsetDateTime, asks: &[Ask<'_>]) -> Verdict {
        let tallies: Vec<Arc<Mutex<Tally>>> = asks.iter().map(|a| self.tally(a.counter)).collect();
        // Lock in key order (each distinct counter once), so concurrent admissions cannot deadlock.
        let mut order: Vec<usize> = (0..asks.len()).collect();
        order.sort_by(|a, b| asks[*a].counter.cmp(asks[*b].counter));
        order.dedup_by(|a, b| asks[*a].counter == asks[*b].counter);
        let mut guards: Vec<(usize, MutexGuard<'_, Tally>)> = order.iter().map(|i| (*i, lock(&tallies[*i]))).collect();
        let guard_of = |i: usize, gs: &mut Vec<(usize, MutexGuard<'_, Tally>)>| {
            let key = asks[i].counter;
            gs.iter().position(|(j, _)| asks[*j].counter == key)
        };
        let t = now.unix_timestamp();
        // Asks on one counter add up: check each counter against what all its asks together would add.
        for (i, ask) in asks.iter().enumerate() {
            if !ask.decides {
                continue;
            }
            let Some(g) = guard_of(i, &mut guards) else { continue };
            let same: u64 = asks
                .iter()
                .enumerate()
                .filter(|(j, a)| *j != i && a.counter == ask.counter)
                .map(|(_, a)| a.amount)
                .sum();
            let slot = ask.period.slot(now);
            if let Err(full) = guards[g].1.check(ask.period, slot, t, ask.amount.saturating_add(same), ask.limit) {
                return Verdict::Refused { index: i, full };
            }
        }
        let mut held = Vec::with_capacity(asks.len());
        for (i, ask) in asks.iter().enumerate() {
            let slot = ask.period.slot(now);
            let used = match guard_of(i, &mut guards) {
                Some(g) => guards[g].1.add(ask.period, slot, ask.amount),
                None => 0,
            };
            held.push(Held { slot, used });
        }
        Verdict::Admitted(held)
    }
}

fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    // A panic while holding a tally cannot leave it half-updated in a way that matters more than losing
    // the counter: carry on with what it holds.
    t.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn admit(&self, now: OffsetDateTime, asks: &[Ask<'_>]) -> Result<Verdict, Unavailable> {
        Ok(self.admit_now(now, asks))
    }

    async fn settle(&self, now: OffsetDateTime, corrections: &[Correction<'_>]) -> Result<Vec<u64>, Unavailable> {
        Ok(corrections
            .iter()
            .map(|c| {
                let tally = self.tally(c.counter);
                let mut t = lock(&tally);
                t.adjust(c.period, c.slot, c.period.slot(now), c.delta)
            })
            .collect())
    }

    async fn usage(&self, now: OffsetDateTime, counters: &[(&str, Period)]) -> Result<Vec<Usage>, Unavailable> {
        let map = self.map.pin();
        Ok(counters
            .iter()
            .map(|(k, p)| {
                map.get(*k)
                    .map(|t| {
                        let mut t = lock(t);
                        let slot = p.slot(now);
                        Usage { used: t.used(*p, slot), oldest: t.oldest(*p, slot) }
                    })
                    .unwrap_or_default()
            })
            .collect())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ask(counter: &str, limit: u64, amount: u64) -> Ask<'_> {
        Ask { counter, period: Period::Sliding(60), limit, amount, decides: true }
    }

    #[tokio::test]
    async fn all_or_nothing_over_several_counters() {
        let c = MemoryCounters::new();
        let now = datetime!(2026-12-06 10:00:00 UTC);
        assert!(matches!(c.admit(now, &[ask("a", 2, 1), ask("b", 1, 1)]).await.unwrap(), Verdict::Admitted(_)));
        // `b` is full: `a` must not be charged either.
        let v = c.admit(now, &[ask("a", 2, 1), ask("b", 1, 1)]).await.unwrap();
        assert!(matches!(v, Verdict::Refused { index: 1, .. }), "{v:?}");
        assert_eq!(c.peek(now, &[("a", Period::Sliding(60)), ("b", Period::Sliding(60))]).await.unwrap(), vec![1, 1]);
        // A counter that does not decide is charged past its limit.
        let v = c.admit(now, &[Ask { decides: false, ..ask("b", 1, 1) }]).await.unwrap();
        assert_eq!(v, Verdict::Admitted(vec![Held { slot: now.unix_timestamp() / 5, used: 2 }]));
    }

    #[tokio::test]
    async fn two_asks_on_one_counter_are_checked_together() {
        let c = MemoryCounters::new();
        let now = datetime!(2026-12-06 10:00:00 UTC);
        let v = c.admit(now, &[ask("a", 3, 2), ask("a", 3, 2)]).await.unwrap();
        assert!(matches!(v, Verdict::Refused { .. }));
        assert!(matches!(c.admit(now, &[ask("a", 4, 2), ask("a", 4, 2)]).await.unwrap(), Verdict::Admitted(_)));
    }

    #[test]
    fn exactly_the_limit_passes_from_many_threads() {
        let c = Arc::new(MemoryCounters::new());
        let now = datetime!(2026-12-06 10:00:00 UTC);
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let c = c.clone();
                    s.spawn(move || {
                        (0..500)
                            .filter(|_| {
                                matches!(
                                    c.admit_now(now, &[ask("shared", 1000, 1), ask("other", 5000, 1)]),
                                    Verdict::Admitted(_)
                                )
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 1000);
    }

    #[tokio::test]
    async fn sweeping_forgets_idle_counters_only() {
        let c = MemoryCounters::new();
        let now = datetime!(2026-12-06 10:00:00 UTC);
        c.admit(now, &[ask("old", 5, 1)]).await.unwrap();
        let later = now + time::Duration::seconds(30);
        c.admit(later, &[ask("new", 5, 1)]).await.unwrap();
        c.sweep(now + time::Duration::seconds(70), |_| Some(Period::Sliding(60)));
        assert_eq!(c.len(), 1);
        c.sweep(now, |_| None);
        assert!(c.is_empty());
    }
}
