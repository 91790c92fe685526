//! What routing remembers of each target between requests, in this process: consecutive failures (a
//! target that keeps failing is skipped for a cool-down, by the app's clock) and recent latency (for
//! latency-based routing). Per process on purpose: it is a hint for choosing, never a limit to enforce.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Failures in a row after which a target cools down.
pub const FAILURES_TO_COOL: u32 = 3;
/// How long a failing target is skipped.
pub const COOL_DOWN: Duration = Duration::seconds(30);
/// Weight of the newest latency sample in the moving average.
const SMOOTHING: f64 = 0.3;

#[derive(Default)]
struct Entry {
    failures: u32,
    cool_until: Option<OffsetDateTime>,
    /// Milliseconds per output token, or per answer when it reported none; a moving average.
    latency: Option<f64>,
}

/// Each target's health, by `<account>/<model>`.
#[derive(Default)]
pub struct Health {
    targets: Mutex<HashMap<String, Entry>>,
}

impl Health {
    fn with<T>(&self, target: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update of a hint: keep using it.
        let mut map = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(target.to_owned()).or_default())
    }

    /// Whether `target` is being skipped at `now`.
    pub fn cooling(&self, target: &str, now: OffsetDateTime) -> bool {
        self.with(target, |e| e.cool_until.is_some_and(|until| now < until))
    }

    /// A failed attempt: the third in a row starts a cool-down (and so does every one after it while the
    /// target keeps failing when tried again).
    pub fn failed(&self, target: &str, now: OffsetDateTime) {
        self.with(target, |e| {
            e.failures = e.failures.saturating_add(1);
            if e.failures >= FAILURES_TO_COOL {
                e.cool_until = Some(now + COOL_DOWN);
            }
        })
    }

    /// A served attempt, with its latency sample (see `Entry::latency`).
    pub fn served(&self, target: &str, sample_ms: f64) {
        self.with(target, |e| {
            e.failures = 0;
            e.cool_until = None;
            e.latency = Some(match e.latency {
                Some(avg) => avg + SMOOTHING * (sample_ms - avg),
                None => sample_ms,
            });
        })
    }

    /// The recent latency of `target`, if it served lately.
    pub fn latency(&self, target: &str) -> Option<f64> {
        self.with(target, |e| e.latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cools_after_three_failures_and_recovers() {
        let h = Health::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        h.failed("a/m", t0);
        h.failed("a/m", t0);
        assert!(!h.cooling("a/m", t0));
        h.failed("a/m", t0);
        assert!(h.cooling("a/m", t0 + Duration::seconds(29)));
        assert!(!h.cooling("a/m", t0 + Duration::seconds(30)));
        h.served("a/m", 10.0);
        h.failed("a/m", t0);
        assert!(!h.cooling("a/m", t0));
        assert!(!h.cooling("b/m", t0));
    }

    #[test]
    fn latency_is_a_moving_average() {
        let h = Health::default();
        h.served("a/m", 10.0);
        h.served("a/m", 20.0);
        assert_eq!(h.latency("a/m"), Some(13.0));
        assert_eq!(h.latency("b/m"), None);
    }
}
