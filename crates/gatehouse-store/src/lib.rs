//! Storage: one trait, implemented for SQLite (the embedded default) and Postgres, with versioned
//! migrations side by side. The store is the system of record; the engine reads only its snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::{Change, Email, Secret, TokenId, World};
use time::OffsetDateTime;

mod sql;
pub mod testing;

pub use sql::SqlStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("migration {version} failed: {message}")]
    Migration { version: i64, message: String },
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

/// One entry of the audit log, as the caller writes it: who did what to which object. `changes` is a JSON
/// document the caller has already redacted (no secrets, no hashes); the store keeps it as text and never
/// parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it happened, as the caller's clock has it. Stored to the nanosecond.
    pub at: OffsetDateTime,
    /// A subject string such as `user:alice@example.com`, or `system`.
    pub actor: String,
    /// What was done: `user.create`, `role.update`, `token.issue`, `token.revoke`, `virtual-account.rotate`, ...
    pub action: String,
    /// The kind of object acted on: `user`, `role`, `team`, `virtual-account`, `token`, ...
    pub object_kind: String,
    pub object_name: String,
    /// A redacted JSON document describing the change.
    pub changes: String,
    /// The `x-request-id` of the request that caused it, if any.
    pub request_id: Option<String>,
}

/// An audit record as stored. `id` grows with every event and follows commit order: the events of one
/// commit get consecutive ids in the order they were given, and those of a later commit get higher ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub record: AuditRecord,
}

/// Which audit events to read. Conditions that are set must all hold. Events come newest first (highest id
/// first); to read the next page, pass the last id of this page as `before_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events by this actor (exact match).
    pub actor: Option<String>,
    /// Only events on objects of this kind.
    pub object_kind: Option<String>,
    /// Only events on objects of this name (usually together with `object_kind`).
    pub object_name: Option<String>,
    /// Only events at or after this time (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Only events before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// Only events with an id below this one: the next page after an event with this id.
    pub before_id: Option<i64>,
    /// At most this many events; values above `AuditFilter::MAX_LIMIT` are treated as it, and 0 returns none.
    pub limit: u32,
}

impl AuditFilter {
    /// The most events one query returns.
    pub const MAX_LIMIT: u32 = 1000;
    /// The limit of `AuditFilter::default()`.
    pub const DEFAULT_LIMIT: u32 = 100;
}

impl Default for AuditFilter {
    /// No conditions, and a page of `DEFAULT_LIMIT` events.
    fn default() -> Self {
        AuditFilter {
            actor: None,
            object_kind: None,
            object_name: None,
            since: None,
            until: None,
            before_id: None,
            limit: AuditFilter::DEFAULT_LIMIT,
        }
    }
}

/// What a store holds at one moment, and the version it had then.
pub struct Loaded {
    pub world: World,
    pub version: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Everything the snapshot needs, read in one transaction. Revoked tokens are left out.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// Writes the changes and the audit records describing them in one transaction, and returns the new
    /// state version once committed. On error nothing of the batch remains, events included: an event
    /// exists if and only if the changes it came with were committed. The records get consecutive ids in
    /// the order given.
    async fn commit(&self, changes: &[Change], audit: &[AuditRecord]) -> Result<i64, StoreError>;

    /// The state version: bumped by every commit, from this process or any other (a `bootstrap`, a replica).
    async fn version(&self) -> Result<i64, StoreError>;

    /// A user's argon2id PHC string, if they have a local password.
    async fn password_hash(&self, email: &Email) -> Result<Option<Secret<String>>, StoreError>;

    /// Records when tokens were last used; later times win. Not a state change: no version bump.
    async fn touch_tokens(&self, used: &[(TokenId, OffsetDateTime)]) -> Result<(), StoreError>;

    /// When the given tokens were last used, for those that have been.
    async fn last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, StoreError>;

    /// The audit events matching `filter`, newest (highest id) first, at most `filter.limit` of them
    /// (capped at `AuditFilter::MAX_LIMIT`). The order is that of commits, not of the events' `at`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Opens (creating a SQLite file if missing) and migrates the database at `url`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
