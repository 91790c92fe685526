//! The metadata values each subject's requests were counted under, as this replica saw them at admission.
//!
//! Counters kept per `metadata.<key>` are keyed by values that clients choose, so a report of a subject's
//! counters (`GET /api/v1/limits`) cannot enumerate them from the rules: it lists those seen here. The
//! index is small and bounded, and it is this process's alone: with several replicas, each knows the
//! values that reached it; after a restart it starts empty. The counters themselves are exact either
//! way (in process or in Redis); only which of them a report lists depends on this index.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Subjects indexed at most (give or take a few racing to be added); beyond, indexing a new one forgets
/// another's values.
pub const MAX_SUBJECTS: usize = 10_000;

/// Distinct metadata maps kept per subject, the most recently seen.
pub const PER_SUBJECT: usize = 32;

type Maps = VecDeque<BTreeMap<String, String>>;

#[derive(Default)]
pub struct SeenMetadata {
    map: papaya::HashMap<String, Arc<Mutex<Maps>>>,
}

impl SeenMetadata {
    pub fn new() -> SeenMetadata {
        SeenMetadata::default()
    }

    /// Notes that `subject` (`user:<email>`, `virtualaccount:<name>`) sent `metadata` (already narrowed to
    /// the keys limit rules use) in a request that was counted per some of it.
    pub fn record(&self, subject: &str, metadata: BTreeMap<String, String>) {
        let map = self.map.pin();
        let entry = match map.get(subject) {
            Some(e) => e.clone(),
            None => {
                if map.len() >= MAX_SUBJECTS {
                    // Forget someone's values rather than grow without bound; which one does not matter
                    // enough to keep an order of arrival for.
                    if let Some(victim) = map.keys().next().cloned() {
                        map.remove(&victim);
                    }
                }
                map.get_or_insert_with(subject.to_owned(), || Arc::new(Mutex::new(VecDeque::new()))).clone()
            }
        };
        let mut maps = lock(&entry);
        if let Some(at) = maps.iter().position(|m| *m == metadata) {
            // Already known: the common case, for clients that send the same few values. Keep it fresh.
            if at + 1 != maps.len() {
                if let Some(m) = maps.remove(at) {
                    maps.push_back(m);
                }
            }
            return;
        }
        if maps.len() >= PER_SUBJECT {
            maps.pop_front();
        }
        maps.push_back(metadata);
    }

    /// The metadata maps seen for `subject`, oldest first.
    pub fn of(&self, subject: &str) -> Vec<BTreeMap<String, String>> {
        self.map.pin().get(subject).map(|e| lock(e).iter().cloned().collect()).unwrap_or_default()
    }

    pub fn subjects(&self) -> usize {
        self.map.pin().len()
    }
}

fn lock(m: &Mutex<Maps>) -> MutexGuard<'_, Maps> {
    // What a panicking holder left is still a list of maps: keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(project: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("project".to_owned(), project.to_owned())])
    }

    #[test]
    fn keeps_the_most_recent_distinct_maps_per_subject() {
        let s = SeenMetadata::new();
        s.record("user:a@x.io", md("p0"));
        s.record("user:a@x.io", md("p0"));
        assert_eq!(s.of("user:a@x.io"), vec![md("p0")]);
        for i in 1..=PER_SUBJECT {
            s.record("user:a@x.io", md(&format!("p{i}")));
        }
        let seen = s.of("user:a@x.io");
        assert_eq!(seen.len(), PER_SUBJECT);
        // p0 was the oldest and made room; seeing p1 again makes it the newest.
        assert_eq!(seen[0], md("p1"));
        s.record("user:a@x.io", md("p1"));
        assert_eq!(s.of("user:a@x.io").last(), Some(&md("p1")));
        assert_eq!(s.of("user:a@x.io")[0], md("p2"));
        assert!(s.of("user:b@x.io").is_empty());
    }

    #[test]
    fn the_number_of_subjects_is_bounded() {
        let s = SeenMetadata::new();
        for i in 0..MAX_SUBJECTS + 5 {
            s.record(&format!("user:u{i}@x.io"), md("p"));
        }
        assert_eq!(s.subjects(), MAX_SUBJECTS);
        // The newest is always kept.
        assert_eq!(s.of(&format!("user:u{}@x.io", MAX_SUBJECTS + 4)), vec![md("p")]);
    }
}
