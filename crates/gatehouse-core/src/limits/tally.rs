//! One counter's state and its arithmetic, the same wherever the counter is kept: in process (a `Tally`
//! behind a lock) or in Redis (a script doing these steps on a hash of slots).

use std::collections::VecDeque;

use super::window::Period;

/// Why an amount does not fit, and when it would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// What is counted now.
    pub used: u64,
    /// Seconds from now until the amount fits, if it ever can (an amount above the limit never does).
    pub retry_after: Option<i64>,
}

/// The amounts counted in a counter's live slots, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    slots: VecDeque<(i64, u64)>,
}

impl Tally {
    /// A tally holding `amount` in `slot` (a calendar counter rebuilt from the store).
    pub fn with(slot: i64, amount: u64) -> Tally {
        Tally { slots: VecDeque::from([(slot, amount)]) }
    }

    /// Forgets slots that no longer count at `slot`.
    fn expire(&mut self, period: Period, slot: i64) {
        let oldest = period.oldest_counted(slot);
        while self.slots.front().is_some_and(|(s, _)| *s < oldest) {
            self.slots.pop_front();
        }
    }

    /// What counts at `slot`.
    pub fn used(&mut self, period: Period, slot: i64) -> u64 {
        self.expire(period, slot);
        self.slots.iter().fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    /// The oldest slot that still counts a non-zero amount at `slot`: when it leaves, the count drops.
    pub fn oldest(&mut self, period: Period, slot: i64) -> Option<i64> {
        self.expire(period, slot);
        self.slots.iter().find(|(_, n)| *n > 0).map(|(s, _)| *s)
    }

    /// Whether `amount` more fits under `limit` at `slot` (`now` in Unix seconds, for the retry time).
    pub fn check(&mut self, period: Period, slot: i64, now: i64, amount: u64, limit: u64) -> Result<u64, Full> {
        let used = self.used(period, slot);
        let after = used.saturating_add(amount);
        if after <= limit {
            return Ok(after);
        }
        if amount > limit {
            return Err(Full { used, retry_after: None });
        }
        // The oldest slots leave first: find the one whose leaving frees enough.
        let mut need = after - limit;
        for (s, n) in &self.slots {
            if *n >= need {
                return Err(Full { used, retry_after: Some((period.expires(*s) - now).max(1)) });
            }
            need -= n;
        }
        Err(Full { used, retry_after: Some((period.expires(slot) - now).max(1)) })
    }

    /// Counts `amount` in `slot` (which is never older than the newest slot held).
    pub fn add(&mut self, period: Period, slot: i64, amount: u64) -> u64 {
        self.expire(period, slot);
        match self.slots.back_mut() {
            Some((s, n)) if *s == slot => *n = n.saturating_add(amount),
            Some(_) | None => self.slots.push_back((slot, amount)),
        }
        self.used(period, slot)
    }

    /// Corrects what was counted in `slot` by `delta` (a reservation settled with the real amount). A slot
    /// that no longer counts is not revived: what it held has left the window anyway. Returns what counts
    /// at `now_slot` afterwards.
    pub fn adjust(&mut self, period: Period, slot: i64, now_slot: i64, delta: i64) -> u64 {
        self.expire(period, now_slot);
        if let Some((_, n)) = self.slots.iter_mut().find(|(s, _)| *s == slot) {
            *n = if delta >= 0 {
                n.saturating_add(delta.unsigned_abs())
            } else {
                n.saturating_sub(delta.unsigned_abs())
            };
        } else if delta > 0 && period.oldest_counted(now_slot) <= slot {
            // Not held (rebuilt, or swept): it still counts, so keep it, in order.
            let at = self.slots.iter().position(|(s, _)| *s > slot).unwrap_or(self.slots.len());
            self.slots.insert(at, (slot, delta.unsigned_abs()));
        }
        self.used(period, now_slot)
    }

    /// Whether nothing counts at `slot` any more (the counter can be forgotten).
    pub fn is_idle(&mut self, period: Period, slot: i64) -> bool {
        self.expire(period, slot);
        self.slots.iter().all(|(_, n)| *n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: Period = Period::Sliding(60);

    #[test]
    fn a_full_window_says_when_the_oldest_admissions_leave_it() {
        let mut t = Tally::default();
        let now = 1_000_000; // slot 200000
        let slot =
            MINUTE.slot(time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH));
        t.add(MINUTE, slot, 2);
        t.add(MINUTE, slot + 1, 1);
        let full = t.check(MINUTE, slot + 2, now + 10, 1, 3).unwrap_err();
        assert_eq!(full.used, 3);
        // The two of `slot` leave at (slot + 13) * 5.
        assert_eq!(full.retry_after, Some((slot + 13) * 5 - (now + 10)));
        assert_eq!(t.check(MINUTE, slot + 2, now + 10, 4, 3).unwrap_err().retry_after, None);
        assert_eq!(t.check(MINUTE, slot + 13, now + 65, 2, 3), Ok(3));
    }

    #[test]
    fn the_oldest_counting_slot_skips_emptied_and_expired_ones() {
        let mut t = Tally::default();
        assert_eq!(t.oldest(MINUTE, 100), None);
        t.add(MINUTE, 100, 2);
        t.add(MINUTE, 103, 1);
        assert_eq!(t.oldest(MINUTE, 105), Some(100));
        // Settled to nothing: it no longer holds the count up.
        t.adjust(MINUTE, 100, 105, -2);
        assert_eq!(t.oldest(MINUTE, 105), Some(103));
        // Thirteen buckets on, 103 has left the window too.
        assert_eq!(t.oldest(MINUTE, 116), None);
    }

    #[test]
    fn settling_corrects_the_slot_of_the_reservation() {
        let mut t = Tally::default();
        t.add(Period::Day, 86_400, 500);
        assert_eq!(t.adjust(Period::Day, 86_400, 86_400, -200), 300);
        assert_eq!(t.adjust(Period::Day, 86_400, 86_400, 50), 350);
        // The next day starts from nothing, and a late correction of yesterday does not leak into it.
        assert_eq!(t.adjust(Period::Day, 86_400, 172_800, 10), 0);
    }

    proptest! {
        /// Whatever the arrival times and amounts, no stretch of 60 seconds admits more than the limit.
        #[test]
        fn no_sixty_seconds_ever_admit_more_than_the_limit(
            limit in 1u64..20,
            gaps in proptest::collection::vec(0i64..9, 1..300),
            amounts in proptest::collection::vec(1u64..4, 300),
        ) {
            let mut t = Tally::default();
            let mut now = 1_700_000_000i64;
            let mut admitted: Vec<(i64, u64)> = Vec::new();
            for (i, gap) in gaps.iter().enumerate() {
                now += gap;
                let slot = now.div_euclid(5);
                let amount = amounts[i];
                if t.check(MINUTE, slot, now, amount, limit).is_ok() {
                    t.add(MINUTE, slot, amount);
                    admitted.push((now, amount));
                }
            }
            for (start, _) in &admitted {
                for from in [*start, start - 59] {
                    let within: u64 = admitted.iter().filter(|(t, _)| *t >= from && *t < from + 60).map(|(_, a)| a).sum();
                    prop_assert!(within <= limit, "{within} admitted in the minute from {from}, limit {limit}");
                }
            }
        }
    }
}
