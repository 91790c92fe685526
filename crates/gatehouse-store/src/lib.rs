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

/// What a store holds at one moment, and the version it had then.
pub struct Loaded {
    pub world: World,
    pub version: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Everything the snapshot needs, read in one transaction. Revoked tokens are left out.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// Writes the changes in one transaction and returns the new state version once committed.
    /// On error nothing of the batch remains.
    async fn commit(&self, changes: &[Change]) -> Result<i64, StoreError>;

    /// The state version: bumped by every commit, from this process or any other (a `bootstrap`, a replica).
    async fn version(&self) -> Result<i64, StoreError>;

    /// A user's argon2id PHC string, if they have a local password.
    async fn password_hash(&self, email: &Email) -> Result<Option<Secret<String>>, StoreError>;

    /// Records when tokens were last used; later times win. Not a state change: no version bump.
    async fn touch_tokens(&self, used: &[(TokenId, OffsetDateTime)]) -> Result<(), StoreError>;

    /// When the given tokens were last used, for those that have been.
    async fn last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, StoreError>;
}

/// Opens (creating a SQLite file if missing) and migrates the database at `url`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
