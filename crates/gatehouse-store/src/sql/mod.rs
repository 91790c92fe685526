//! `Store` over SQL through sqlx's `Any` driver: one code path and one SQL text for both databases, with
//! the few differences (begin statements, pragmas, migration files) kept in `Dialect`.

mod audit;
mod change_log;
mod codec;
mod connect;
mod identities;
mod mcp_sessions;
mod migrate;
mod notify;
mod read;
mod request_logs;
mod resources;
mod spend;
mod usage_series;
mod write;

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use gatehouse_core::{Change, Email, Secret, TokenId};
use sqlx::AnyPool;
use sqlx::Row;
use time::OffsetDateTime;

use crate::{
    AuditEvent, AuditFilter, AuditRecord, Loaded, LoggedChanges, McpSessionRecord, RequestLog, RequestLogFilter,
    SpendDelta, Store, StoreError, UsageBucket, UsageGroup, UsageRow, UsageSeriesRow,
};
use connect::Dialect;

/// How many migrations a migrated database has applied (rows of `schema_migrations`).
pub const MIGRATIONS: i64 = migrate::COUNT as i64;

/// A SQLite or Postgres database, migrated on connect.
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Kept for the notification listener's own connection (Postgres); never printed.
    url: String,
}

// By hand, so that nothing reachable from the pool (a URL with a password) is ever printed.
impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore").field("dialect", &self.dialect).finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Connects to `sqlite://PATH` (created if missing), `sqlite::memory:`, or `postgres://...`, and
    /// applies any migrations not yet applied.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        let (pool, dialect) = connect::pool(url).await?;
        migrate::run(&pool, dialect).await?;
        Ok(SqlStore { pool, dialect, url: url.to_owned() })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    fn pool_stats(&self) -> Option<crate::PoolStats> {
        Some(crate::PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        })
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_read()).await?;
        let version = read::version(&mut tx).await?;
        let world = read::world(&mut tx).await?;
        let identities = identities::load(&mut tx).await?;
        tx.commit().await?;
        Ok(Loaded { world, version, identities })
    }

    async fn commit(&self, changes: &[Change], audit: &[AuditRecord]) -> Result<i64, StoreError> {
        self.commit_when(None, changes, audit).await
    }

    async fn commit_at(&self, expected: i64, changes: &[Change], audit: &[AuditRecord]) -> Result<i64, StoreError> {
        self.commit_when(Some(expected), changes, audit).await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read::version(&mut conn).await
    }

    async fn changes_since(&self, since: i64) -> Result<Option<Vec<LoggedChanges>>, StoreError> {
        let mut tx = self.pool.begin_with(self.dialect.begin_read()).await?;
        let head = read::version(&mut tx).await?;
        let out = change_log::since(&mut tx, since, head).await?;
        tx.commit().await?;
        Ok(out)
    }

    fn listen(&self, wake: tokio::sync::watch::Sender<i64>) -> bool {
        match self.dialect {
            Dialect::Sqlite => false,
            Dialect::Postgres => {
                tokio::spawn(notify::listen(self.url.clone(), wake));
                true
            }
        }
    }

    async fn key_salt(&self, fresh: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO key_derivation (id, salt) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let salt: String =
            sqlx::query("SELECT salt FROM key_derivation WHERE id = 1").fetch_one(&self.pool).await?.try_get(0)?;
        Ok(salt)
    }

    async fn password_hash(&self, email: &Email) -> Result<Option<Secret<String>>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let hash: Option<String> = match row {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        Ok(hash.map(Secret::new))
    }

    async fn touch_tokens(&self, used: &[(TokenId, OffsetDateTime)]) -> Result<(), StoreError> {
        if used.is_empty() {
            return Ok(());
        }
        // One transaction: one fsync for the whole batch instead of one per token.
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $2 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id.as_str())
            .bind(codec::time_to_db(*at)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, OffsetDateTime>, StoreError> {
        read::last_used(&self.pool, ids).await
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        audit::events(&self.pool, filter).await
    }

    async fn append_request_logs(&self, logs: &[RequestLog]) -> Result<(), StoreError> {
        if logs.is_empty() {
            return Ok(());
        }
        // One transaction: one fsync for the whole batch. No version bump: the log is not access state.
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        request_logs::insert(&mut tx, self.dialect, logs).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn request_logs(&self, filter: &RequestLogFilter) -> Result<Vec<(i64, RequestLog)>, StoreError> {
        request_logs::read(&self.pool, filter).await
    }

    async fn usage_summary(&self, filter: &RequestLogFilter) -> Result<Vec<UsageRow>, StoreError> {
        request_logs::usage(&self.pool, filter).await
    }

    async fn usage_series(
        &self,
        filter: &RequestLogFilter,
        bucket: UsageBucket,
        group: UsageGroup,
    ) -> Result<Vec<UsageSeriesRow>, StoreError> {
        usage_series::read(&self.pool, filter, bucket, group).await
    }

    async fn add_spend(&self, deltas: &[SpendDelta]) -> Result<(), StoreError> {
        spend::add(&self.pool, self.dialect, deltas).await
    }

    async fn spend_since(&self, since: i64) -> Result<Vec<SpendDelta>, StoreError> {
        spend::since(&self.pool, since).await
    }

    async fn spend_of(&self, counter: &str, period_start: i64) -> Result<i64, StoreError> {
        spend::of(&self.pool, counter, period_start).await
    }

    async fn claim_alert(
        &self,
        counter: &str,
        period_start: i64,
        threshold: u32,
        at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<bool, StoreError> {
        spend::claim_alert(&self.pool, counter, period_start, threshold, at, audit).await
    }

    async fn put_mcp_session(&self, session: &McpSessionRecord) -> Result<(), StoreError> {
        mcp_sessions::put(&self.pool, session).await
    }

    async fn mcp_session(&self, id_hash: &str) -> Result<Option<McpSessionRecord>, StoreError> {
        mcp_sessions::get(&self.pool, id_hash).await
    }

    async fn touch_mcp_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        mcp_sessions::touch(&self.pool, id_hash, at).await
    }

    async fn delete_mcp_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        mcp_sessions::delete(&self.pool, id_hash).await
    }

    async fn expire_mcp_sessions(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        mcp_sessions::expire(&self.pool, before).await
    }
}

pub(crate) use notify::unavailable;

impl SqlStore {
    async fn commit_when(
        &self,
        expected: Option<i64>,
        changes: &[Change],
        audit: &[AuditRecord],
    ) -> Result<i64, StoreError> {
        let now = codec::time_to_db(OffsetDateTime::now_utc())?;
        let mut tx = self.pool.begin_with(self.dialect.begin_write()).await?;
        // The version first: bumping it locks the state row until commit, so writers are serialised on
        // Postgres too, and a conditional bump sees the latest committed version (Postgres re-reads the row
        // once the lock is free). SQLite's IMMEDIATE transaction already holds the database's write lock.
        let bumped = match expected {
            Some(v) => {
                sqlx::query("UPDATE state SET version = version + 1 WHERE id = 1 AND version = $1 RETURNING version")
                    .bind(v)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query("UPDATE state SET version = version + 1 WHERE id = 1 RETURNING version")
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let version: i64 = match bumped {
            Some(row) => row.try_get(0)?,
            None => {
                let found = read::version(&mut tx).await?;
                return Err(StoreError::Stale { expected: expected.unwrap_or(found), found });
            }
        };
        for change in changes {
            write::apply(&mut tx, change, now).await?;
        }
        // After the version bump: on Postgres ids are then drawn in commit order, and a reader paging by id
        // misses nothing.
        audit::insert(&mut tx, audit).await?;
        change_log::record(&mut tx, version, now, changes).await?;
        if self.dialect == Dialect::Postgres {
            // Delivered to listeners only when (and if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(notify::CHANNEL)
                .bind(version.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(version)
    }
}
