//! Moving a deployment between databases: `migrate` (bring a database to this binary's schema) and `copy`
//! (every row of every table from a migrated source into an empty target, SQLite or Postgres either way).
//!
//! The copy is generic: it reads the tables, columns, keys and counters from each database's catalogue,
//! so a table a later migration adds is copied with no change here. Values are converted by column type
//! (SQLite's 0/1 to Postgres booleans and back, bytes, numbers, anything else through its text form).

mod db;
pub mod schema;

use std::collections::BTreeMap;

pub use db::Value;
use db::{Db, Sink};
use schema::{Schema, Table};

use crate::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot open the {side}database {url}: {source}")]
    Open { side: &'static str, url: String, source: sqlx::Error },
    #[error("cannot migrate the target database: {0}")]
    Migrate(StoreError),
    #[error("the source database {url} has no Gatehouse schema (no schema_migrations table)")]
    NotGatehouse { url: String },
    #[error(
        "the source database is at schema version {found}, this binary's is {expected}: run `gatehouse migrate` \
         on it with this binary first (the copy never changes its source)"
    )]
    SourceBehind { found: i64, expected: i64 },
    #[error(
        "the {side}database is at schema version {found}, newer than this binary's {expected}: use a newer gatehouse"
    )]
    Newer { side: &'static str, found: i64, expected: i64 },
    #[error("the target database is not empty ({}): copy into a newly created database", describe(.0))]
    TargetNotEmpty(Vec<(String, i64)>),
    #[error("the source and target schemas differ: {0}")]
    SchemaMismatch(String),
    #[error("the tables {0:?} reference each other in a cycle; no insert order satisfies their foreign keys")]
    Cycle(Vec<String>),
    #[error("table {table}, column {column}: {why}")]
    Unconvertible { table: String, column: String, why: String },
    #[error("table {table}: read {read} rows from the source but the target holds {written}; nothing was committed")]
    CountMismatch { table: String, read: u64, written: i64 },
    #[error("table {table}: {source}")]
    Table { table: String, source: sqlx::Error },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

fn describe(tables: &[(String, i64)]) -> String {
    tables.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
}

/// A URL fit for messages: the password hidden.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:****{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// What `copy` did: rows per table (in the order copied) and the counters carried over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub schema_version: i64,
    pub tables: Vec<(String, u64)>,
    /// (table, column, position): the next id drawn on the target follows this one.
    pub counters: Vec<(String, String, i64)>,
}

/// What `migrate` found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    pub before: i64,
    pub version: i64,
}

/// The schema version this binary's migrations bring a database to.
pub fn current_version() -> i64 {
    crate::MIGRATIONS
}

async fn open(side: &'static str, url: &str) -> Result<Db, CopyError> {
    Db::open(url).await.map_err(|source| CopyError::Open { side, url: redacted(url), source })
}

/// Applies any migration not yet applied to the database at `url` (creating a SQLite file if missing).
/// Fails at once, naming the database, when it cannot be reached; fails if the database is at a newer
/// schema than this binary knows.
pub async fn migrate(url: &str) -> Result<Migrated, CopyError> {
    // One plain connection first: a pool retries a refused connection until its timeout, and then reports
    // only that it timed out.
    let before = match open("", url).await {
        Ok(mut db) => {
            let v = db.schema_version().await?;
            db.close().await?;
            v.unwrap_or(0)
        }
        // A SQLite file that does not exist yet is created by migrating.
        Err(_) if url.starts_with("sqlite:") => 0,
        Err(e) => return Err(e),
    };
    let store = crate::SqlStore::connect(url).await.map_err(|e| match e {
        StoreError::Database(source) => CopyError::Open { side: "", url: redacted(url), source },
        other => CopyError::Migrate(other),
    })?;
    store.close().await;
    let mut db = open("", url).await?;
    let version = db.schema_version().await?.unwrap_or(0);
    db.close().await?;
    if version > current_version() {
        return Err(CopyError::Newer { side: "", found: version, expected: current_version() });
    }
    Ok(Migrated { before, version })
}

/// How many rows each table of a freshly migrated database holds: rows the migrations themselves write
/// (the `state` row), which an empty target has and the copy replaces.
async fn seeded() -> Result<BTreeMap<String, i64>, CopyError> {
    let store = crate::SqlStore::connect("sqlite::memory:").await.map_err(CopyError::Migrate)?;
    let mut out = BTreeMap::new();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(store.pool())
    .await?;
    for name in names {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", schema::quote(&name)))
            .fetch_one(store.pool())
            .await?;
        out.insert(name, n);
    }
    store.close().await;
    Ok(out)
}

/// Copies every table of the database at `from` into the one at `to`, which is migrated first and must be
/// empty. Everything is written in one transaction on the target: on any error nothing is.
pub async fn copy(from: &str, to: &str) -> Result<CopyReport, CopyError> {
    let mut source = open("source ", from).await?;
    let expected = current_version();
    match source.schema_version().await? {
        None => return Err(CopyError::NotGatehouse { url: redacted(from) }),
        Some(v) if v < expected => return Err(CopyError::SourceBehind { found: v, expected }),
        Some(v) if v > expected => return Err(CopyError::Newer { side: "source ", found: v, expected }),
        Some(_) => {}
    }
    let migrated = migrate(to).await.map_err(|e| match e {
        CopyError::Newer { found, expected, .. } => CopyError::Newer { side: "target ", found, expected },
        CopyError::Open { url, source, .. } => CopyError::Open { side: "target ", url, source },
        other => other,
    })?;
    let mut target = open("target ", to).await?;
    let seeds = seeded().await?;

    // A consistent view of the source, even while its server still runs.
    source.execute(begin_read(&source)).await?;
    let source_schema = schema::read(&mut source).await?;
    let target_schema = schema::read(&mut target).await?;
    schema::compare(&source_schema, &target_schema)?;
    let order = schema::dependency_order(&target_schema)?;

    match &target {
        Db::Sqlite(_) => target.execute("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON").await?,
        Db::Postgres(_) => {
            // Locked against every writer (a server started too early, a `bootstrap`) until the copy commits.
            let all: Vec<String> = order.iter().map(|t| schema::quote(t)).collect();
            target.execute(&format!("BEGIN; LOCK TABLE {} IN EXCLUSIVE MODE", all.join(", "))).await?;
        }
    }
    let result = fill(&mut source, &mut target, &source_schema, &target_schema, &order, &seeds).await;
    let report = match result {
        Ok((tables, counters)) => {
            target.execute("COMMIT").await?;
            CopyReport { schema_version: migrated.version, tables, counters }
        }
        Err(e) => {
            let _ = target.execute("ROLLBACK").await;
            let _ = source.execute("ROLLBACK").await;
            return Err(e);
        }
    };
    source.execute("COMMIT").await?;
    source.close().await?;
    target.close().await?;
    Ok(report)
}

fn begin_read(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "BEGIN",
        Db::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    }
}

type Filled = (Vec<(String, u64)>, Vec<(String, String, i64)>);

async fn fill(
    source: &mut Db,
    target: &mut Db,
    source_schema: &Schema,
    target_schema: &Schema,
    order: &[String],
    seeds: &BTreeMap<String, i64>,
) -> Result<Filled, CopyError> {
    // Empty means: only what the migrations wrote.
    let mut found = Vec::new();
    for name in order {
        let n = target.scalar(&format!("SELECT COUNT(*) FROM {}", schema::quote(name))).await?;
        if n != seeds.get(name).copied().unwrap_or(0) {
            found.push((name.clone(), n));
        }
    }
    if !found.is_empty() {
        return Err(CopyError::TargetNotEmpty(found));
    }
    for name in order.iter().rev() {
        if seeds.get(name).is_some_and(|n| *n > 0) {
            target.execute(&format!("DELETE FROM {}", schema::quote(name))).await?;
        }
    }
    let mut tables = Vec::new();
    for name in order {
        let (Some(st), Some(tt)) = (source_schema.get(name), target_schema.get(name)) else { continue };
        let read = aligned(st, tt);
        let batch = target.batch_rows(tt.columns.len());
        let n =
            source.read_rows(&read, batch, &mut Sink::Insert { db: target, table: tt }).await.map_err(|e| match e {
                CopyError::Database(source) => CopyError::Table { table: name.clone(), source },
                other => other,
            })?;
        let written = target.scalar(&format!("SELECT COUNT(*) FROM {}", schema::quote(name))).await?;
        if written != n as i64 {
            return Err(CopyError::CountMismatch { table: name.clone(), read: n, written });
        }
        // On stderr as it goes: a large request log takes a while, and nothing is committed until the end.
        tracing::info!(table = %name, rows = n, "table copied (committed once every table is)");
        tables.push((name.clone(), n));
    }
    let counters = counters::carry(source, target, source_schema, target_schema, order).await?;
    Ok((tables, counters))
}

/// The source table with its columns in the target's order, so that a row read is a row to insert.
fn aligned(source: &Table, target: &Table) -> Table {
    let columns = target.columns.iter().filter_map(|c| source.column(&c.name).cloned()).collect();
    Table { columns, ..source.clone() }
}

/// Every row of every table (the bookkeeping one aside), by table, in primary-key order, with the columns
/// in name order (the two dialects may order them differently), as read: what a test compares two
/// databases with.
pub async fn contents(url: &str) -> Result<BTreeMap<String, Vec<Vec<Value>>>, CopyError> {
    let mut db = open("", url).await?;
    db.execute(begin_read(&db)).await?;
    let schema = schema::read(&mut db).await?;
    let mut out = BTreeMap::new();
    for table in schema.values() {
        let mut table = table.clone();
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rows = Vec::new();
        db.read_rows(&table, 1000, &mut Sink::Collect(&mut rows)).await?;
        out.insert(table.name.clone(), rows);
    }
    db.execute("COMMIT").await?;
    db.close().await?;
    Ok(out)
}

/// The tables (the bookkeeping one aside) and their columns of the database at `url`.
pub async fn tables(url: &str) -> Result<Schema, CopyError> {
    let mut db = open("", url).await?;
    let schema = schema::read(&mut db).await?;
    db.close().await?;
    Ok(schema)
}

mod counters;

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(super::redacted("postgres://u:secret@h:5432/db"), "postgres://u:****@h:5432/db");
        assert_eq!(super::redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redacted("sqlite:///var/lib/g.db"), "sqlite:///var/lib/g.db");
    }
}
