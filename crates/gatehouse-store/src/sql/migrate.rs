//! Versioned migrations, one list per dialect, applied in order and recorded in `schema_migrations`.

use sqlx::AnyPool;

use super::connect::Dialect;
use crate::StoreError;

/// (version, SQL). Append only: an applied migration is never edited, a change is a new version.
const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_audit.sql")),
    (3, include_str!("../../migrations/sqlite/0003_resources.sql")),
    (4, include_str!("../../migrations/sqlite/0004_request_logs.sql")),
    (5, include_str!("../../migrations/sqlite/0005_identities.sql")),
    (6, include_str!("../../migrations/sqlite/0006_key_derivation.sql")),
    (7, include_str!("../../migrations/sqlite/0007_spend.sql")),
    (8, include_str!("../../migrations/sqlite/0008_sizes.sql")),
    (9, include_str!("../../migrations/sqlite/0009_mcp_sessions.sql")),
    (10, include_str!("../../migrations/sqlite/0010_guardrail_verdicts.sql")),
    (11, include_str!("../../migrations/sqlite/0011_change_log.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_audit.sql")),
    (3, include_str!("../../migrations/postgres/0003_resources.sql")),
    (4, include_str!("../../migrations/postgres/0004_request_logs.sql")),
    (5, include_str!("../../migrations/postgres/0005_identities.sql")),
    (6, include_str!("../../migrations/postgres/0006_key_derivation.sql")),
    (7, include_str!("../../migrations/postgres/0007_spend.sql")),
    (8, include_str!("../../migrations/postgres/0008_sizes.sql")),
    (9, include_str!("../../migrations/postgres/0009_mcp_sessions.sql")),
    (10, include_str!("../../migrations/postgres/0010_guardrail_verdicts.sql")),
    (11, include_str!("../../migrations/postgres/0011_change_log.sql")),
];

/// How many migrations a database has once migrated: the same on both databases.
pub(crate) const COUNT: usize = SQLITE.len();
const _: () = assert!(SQLITE.len() == POSTGRES.len());

/// An arbitrary constant: the advisory lock that serialises Postgres migrators.
const PG_LOCK_KEY: i64 = 0x6761_7465_686f_7573;

pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    let migrations = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    for &(version, sql) in migrations {
        // Each migration in its own transaction, under a lock, so that two processes starting together
        // cannot both decide a migration is pending and both apply it.
        let mut tx = pool.begin_with(dialect.begin_write()).await?;
        if dialect == Dialect::Postgres {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(&mut *tx).await?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let applied = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if applied.is_some() {
            continue;
        }
        let failed = |e: sqlx::Error| StoreError::Migration { version, message: e.to_string() };
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(failed)?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(time::OffsetDateTime::now_utc().unix_timestamp())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
