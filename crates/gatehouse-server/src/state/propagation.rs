//! Following other processes' commits: the change log's deltas applied to a copy of the published
//! snapshot (a full load only when the log no longer reaches back), and what the server knows of the
//! database's health, for `/readyz` and for the logs.

use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use gatehouse_store::StoreError;
use time::OffsetDateTime;

use super::AppState;
use crate::error::ApiError;

/// When the database was last reached, and the last failure to reach it.
#[derive(Clone, Debug, Default)]
pub struct StoreHealth {
    pub last_ok: Option<OffsetDateTime>,
    pub last_error: Option<StoreFailure>,
}

#[derive(Clone, Debug)]
pub struct StoreFailure {
    pub at: OffsetDateTime,
    pub message: String,
}

impl StoreHealth {
    /// Whether the latest contact with the database succeeded.
    pub fn reachable(&self) -> bool {
        match (&self.last_ok, &self.last_error) {
            (Some(ok), Some(e)) => *ok > e.at,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// How the published snapshot was last brought up to date with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadKind {
    /// The changes of the versions in between, from the change log.
    Incremental,
    /// Everything, loaded again: the log did not reach back far enough.
    Full,
}

#[derive(Clone, Copy, Debug)]
pub struct Reload {
    pub kind: ReloadKind,
    /// From asking the store to publishing the new view (compiling the gateway's tables included).
    pub duration: StdDuration,
    /// The version published.
    pub version: i64,
    /// Versions it moved forward by.
    pub versions: i64,
}

/// Shared by the request path (writes) and the background task; held for a few instructions only.
#[derive(Default)]
pub(crate) struct Tracker {
    health: Mutex<StoreHealth>,
    last_reload: Mutex<Option<Reload>>,
}

impl AppState {
    /// What the server knows of the database: cheap (no query), for `/readyz`.
    pub fn store_health(&self) -> StoreHealth {
        self.tracker.health.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The last time the snapshot caught up with other processes' commits, if it has.
    pub fn last_reload(&self) -> Option<Reload> {
        self.tracker.last_reload.lock().ok().and_then(|r| *r)
    }

    /// Records a reload: the one place reload timings go through (metrics hook here).
    pub fn note_reload(&self, reload: Reload) {
        self.metrics.reload_observed(reload.duration);
        self.metrics.snapshot_current(reload.version);
        if let Ok(mut r) = self.tracker.last_reload.lock() {
            *r = Some(reload);
        }
    }

    /// Records the outcome of a contact with the database and passes it on. Only a failure to reach it
    /// counts against its health: a refused statement (a stale commit) is a successful contact.
    pub(crate) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let now = self.now();
        if let Ok(mut h) = self.tracker.health.lock() {
            match &result {
                Err(e) if e.is_unavailable() => {
                    if h.reachable() {
                        tracing::warn!(error = %e, "the database cannot be reached; serving from the last snapshot");
                    }
                    h.last_error = Some(StoreFailure { at: now, message: e.to_string() });
                }
                Ok(_) | Err(_) => {
                    if h.last_error.is_some() && !h.reachable() {
                        tracing::info!("the database can be reached again");
                    }
                    h.last_ok = Some(now);
                }
            }
        }
        result
    }

    /// Brings the published snapshot from `version` to the store's latest, by applying the logged changes
    /// to a copy of it (what the writer that committed them did to its own), or by loading everything when
    /// the log does not reach back.
    pub(super) async fn follow(&self, version: &mut i64) -> Result<(), ApiError> {
        let started = Instant::now();
        let Some(entries) = self.observe(self.store.changes_since(*version).await)? else {
            return self.full_reload(version, started).await;
        };
        let Some(last) = entries.last().map(|e| e.version) else { return Ok(()) };
        let mut next = (*self.snapshot()).clone();
        for entry in &entries {
            for c in &entry.changes {
                next.apply(c);
            }
        }
        self.publish(last, next);
        let versions = last - *version;
        *version = last;
        let reload = Reload { kind: ReloadKind::Incremental, duration: started.elapsed(), version: last, versions };
        self.note_reload(reload);
        tracing::debug!(
            version = last,
            versions,
            micros = reload.duration.as_micros() as u64,
            "applied changes from the store"
        );
        Ok(())
    }

    async fn full_reload(&self, version: &mut i64, started: Instant) -> Result<(), ApiError> {
        let loaded = self.observe(self.store.load().await)?;
        let loaded_version = loaded.version;
        self.publish(loaded_version, crate::identity::snapshot(loaded));
        let versions = loaded_version - *version;
        *version = loaded_version;
        let reload = Reload { kind: ReloadKind::Full, duration: started.elapsed(), version: loaded_version, versions };
        self.note_reload(reload);
        tracing::info!(
            version = loaded_version,
            millis = reload.duration.as_millis() as u64,
            "reloaded the access graph from the store"
        );
        Ok(())
    }
}
