//! Which database a URL names, and a pool configured for it.

use std::borrow::Cow;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use sqlx::Executor;

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Starts a transaction that will write.
    pub(crate) const fn begin_write(self) -> &'static str {
        match self {
            // IMMEDIATE takes the write lock up front, waiting out the busy timeout; a deferred transaction
            // that reads first can fail with SQLITE_BUSY at its first write without waiting at all.
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// Starts a transaction whose reads all see one consistent state.
    pub(crate) const fn begin_read(self) -> &'static str {
        match self {
            // In WAL mode a read transaction sees the database as of its first read.
            Dialect::Sqlite => "BEGIN",
            // Postgres' default, READ COMMITTED, takes a new snapshot per statement.
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }
}

/// Run on every new SQLite connection: these settings are per connection (WAL persists in the file, but
/// asking again costs nothing). FULL makes a commit durable before it is acknowledged; the busy timeout
/// lets a second process (`gatehouse bootstrap`) and the server take turns writing.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

pub(crate) async fn pool(url: &str) -> Result<(AnyPool, Dialect), StoreError> {
    sqlx::any::install_default_drivers();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // A short wait for a connection: when the database is down, a request is refused (503) in seconds
        // rather than held for sqlx's default half minute.
        let pool = AnyPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        return Ok((pool, Dialect::Postgres));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    };
    let memory = rest.contains(":memory:") || rest.contains("mode=memory");
    let options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            conn.execute(SQLITE_PRAGMAS).await?;
            Ok(())
        })
    });
    let options = if memory {
        // Every connection the Any driver opens gets a fresh in-memory database, so keep exactly one, forever.
        options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
    } else {
        options.max_connections(8)
    };
    let pool = options.connect(&create_if_missing(url, memory)).await?;
    Ok((pool, Dialect::Sqlite))
}

/// SQLite opens an existing file only, unless the URL asks for `mode=rwc`.
fn create_if_missing(url: &str, memory: bool) -> Cow<'_, str> {
    if memory || url.contains("mode=") {
        Cow::Borrowed(url)
    } else if url.contains('?') {
        Cow::Owned(format!("{url}&mode=rwc"))
    } else {
        Cow::Owned(format!("{url}?mode=rwc"))
    }
}
