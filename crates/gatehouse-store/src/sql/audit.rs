//! The audit log: inserted alongside a commit's changes, read back with a filter.

use sqlx::{AnyConnection, AnyPool, Row};

use super::codec::{time_from_db, time_to_db};
use crate::{AuditEvent, AuditFilter, AuditRecord, StoreError};

/// Inserts the records in order, so their ids follow that order. `conn` is the commit's transaction.
pub(crate) async fn insert(conn: &mut AnyConnection, records: &[AuditRecord]) -> Result<(), StoreError> {
    for r in records {
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, object_kind, object_name, changes, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(time_to_db(r.at)?)
        .bind(r.actor.as_str())
        .bind(r.action.as_str())
        .bind(r.object_kind.as_str())
        .bind(r.object_name.as_str())
        .bind(r.changes.as_str())
        .bind(r.request_id.as_deref())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One bound condition of the filter.
enum Param<'a> {
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
}

/// A LIKE pattern that matches any text containing `text`, with `!` as the escape character.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(crate) async fn events(pool: &AnyPool, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
    let limit = filter.limit.min(AuditFilter::MAX_LIMIT);
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Only the conditions that are set go into the SQL, so each can use its index; there are at most 2^9
    // shapes of statement, few enough to keep them all prepared. Each condition's `$` is its parameter.
    let mut conditions: Vec<(&str, Param<'_>)> = Vec::new();
    if let Some(actor) = &filter.actor {
        conditions.push(("actor = $", Param::Text(actor.as_str().into())));
    }
    if let Some(kind) = &filter.object_kind {
        conditions.push(("object_kind = $", Param::Text(kind.as_str().into())));
    }
    if let Some(name) = &filter.object_name {
        conditions.push(("object_name = $", Param::Text(name.as_str().into())));
    }
    if let Some(since) = filter.since {
        conditions.push(("at >= $", Param::Int(time_to_db(since)?)));
    }
    if let Some(until) = filter.until {
        conditions.push(("at < $", Param::Int(time_to_db(until)?)));
    }
    // Both sides go through the database's own LOWER, so the two databases agree with themselves on what a
    // case is; the text is escaped so that `%` and `_` in it match only themselves.
    for (condition, text) in [
        ("LOWER(actor) LIKE LOWER($) ESCAPE '!'", &filter.actor_contains),
        ("LOWER(object_kind || ':' || object_name) LIKE LOWER($) ESCAPE '!'", &filter.object_contains),
        ("LOWER(action) LIKE LOWER($) ESCAPE '!'", &filter.action_contains),
    ] {
        if let Some(text) = text {
            conditions.push((condition, Param::Text(like_pattern(text).into())));
        }
    }
    if let Some(before) = filter.before_id {
        conditions.push(("id < $", Param::Int(before)));
    }
    let mut sql =
        String::from("SELECT id, at, actor, action, object_kind, object_name, changes, request_id FROM audit_events");
    for (i, (condition, _)) in conditions.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(&condition.replacen('$', &format!("${}", i + 1), 1));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", conditions.len() + 1));

    let mut query = sqlx::query(&sql);
    for (_, param) in &conditions {
        query = match param {
            Param::Text(s) => query.bind(s.as_ref()),
            Param::Int(n) => query.bind(*n),
        };
    }
    query = query.bind(i64::from(limit));
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEvent {
                id: r.try_get("id")?,
                record: AuditRecord {
                    at: time_from_db(r.try_get("at")?)?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object_kind: r.try_get("object_kind")?,
                    object_name: r.try_get("object_name")?,
                    changes: r.try_get("changes")?,
                    request_id: r.try_get("request_id")?,
                },
            })
        })
        .collect()
}
