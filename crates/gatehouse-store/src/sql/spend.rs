//! Budget spend per counter and period, added to by every replica, and the alerts already sent for it.

use std::collections::BTreeMap;

use sqlx::{AnyPool, Row};
use time::OffsetDateTime;

use super::codec::time_to_db;
use super::connect::Dialect;
use crate::{AuditRecord, SpendDelta, StoreError};

/// The deltas summed per (counter, period) and sorted. One row per key, because Postgres refuses an
/// upsert that touches a row twice in one statement, and in one order for every writer, so that two
/// transactions adding to the same rows lock them in the same order and cannot deadlock.
fn merged(deltas: &[SpendDelta]) -> BTreeMap<(&str, i64), i64> {
    let mut out: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for d in deltas {
        let sum = out.entry((d.counter.as_str(), d.period_start)).or_insert(0);
        *sum = sum.saturating_add(d.amount);
    }
    out
}

pub(crate) async fn add(pool: &AnyPool, dialect: Dialect, deltas: &[SpendDelta]) -> Result<(), StoreError> {
    let rows = merged(deltas);
    if rows.is_empty() {
        return Ok(());
    }
    // One transaction: a flush lands whole or not at all, so a retried flush never counts a delta twice.
    // The upsert adds to what is stored at the time it runs (Postgres re-reads a row another transaction
    // changed once its lock is free; SQLite's IMMEDIATE transaction holds the write lock), so concurrent
    // writers from any number of processes all count.
    let mut tx = pool.begin_with(dialect.begin_write()).await?;
    for ((counter, period_start), amount) in rows {
        sqlx::query(
            "INSERT INTO spend_counters (counter, period_start, amount) VALUES ($1, $2, $3) \
             ON CONFLICT (counter, period_start) DO UPDATE SET amount = spend_counters.amount + excluded.amount",
        )
        .bind(counter)
        .bind(period_start)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn since(pool: &AnyPool, since: i64) -> Result<Vec<SpendDelta>, StoreError> {
    let rows = sqlx::query(
        "SELECT counter, period_start, amount FROM spend_counters WHERE period_start >= $1 \
         ORDER BY counter, period_start",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SpendDelta {
                counter: r.try_get("counter")?,
                period_start: r.try_get("period_start")?,
                amount: r.try_get("amount")?,
            })
        })
        .collect()
}

pub(crate) async fn of(pool: &AnyPool, counter: &str, period_start: i64) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT amount FROM spend_counters WHERE counter = $1 AND period_start = $2")
        .bind(counter)
        .bind(period_start)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => Ok(r.try_get("amount")?),
        None => Ok(0),
    }
}

pub(crate) async fn claim_alert(
    pool: &AnyPool,
    counter: &str,
    period_start: i64,
    threshold: u32,
    at: OffsetDateTime,
    audit: &AuditRecord,
) -> Result<bool, StoreError> {
    // The column is INTEGER (32 bits on Postgres); thresholds are percentages, far below its limit.
    let threshold = i32::try_from(threshold).map_err(|_| {
        StoreError::Database(sqlx::Error::Encode(format!("alert threshold {threshold} is above {}", i32::MAX).into()))
    })?;
    let mut tx = pool.begin().await?;
    // The primary key decides: of any number of callers, from any number of processes, exactly one inserts.
    let done = sqlx::query(
        "INSERT INTO limit_alerts (counter, period_start, threshold, fired_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (counter, period_start, threshold) DO NOTHING",
    )
    .bind(counter)
    .bind(period_start)
    .bind(threshold)
    .bind(time_to_db(at)?)
    .execute(&mut *tx)
    .await?;
    let claimed = done.rows_affected() == 1;
    // The audit event lands with the claim or not at all: an alert is never recorded twice or lost.
    if claimed {
        super::audit::insert(&mut tx, std::slice::from_ref(audit)).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}
