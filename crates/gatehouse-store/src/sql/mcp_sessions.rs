//! The gateway's MCP sessions, shared by every replica on one database. Keyed by the SHA-256 of the
//! session id; the id itself is never stored.

use std::collections::BTreeMap;

use sqlx::{AnyPool, Row};
use time::OffsetDateTime;

use super::codec::{corrupt, time_from_db, time_to_db};
use crate::{McpSessionRecord, StoreError};

pub(crate) async fn put(pool: &AnyPool, s: &McpSessionRecord) -> Result<(), StoreError> {
    let upstreams = serde_json::to_string(&s.upstreams).map_err(corrupt)?;
    sqlx::query(
        "INSERT INTO mcp_sessions (id_hash, server, owner_subject, owner_identity, protocol, upstreams, created_at, \
         last_used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id_hash) DO UPDATE SET protocol = excluded.protocol, upstreams = excluded.upstreams, \
         last_used = excluded.last_used",
    )
    .bind(&s.id_hash)
    .bind(&s.server)
    .bind(&s.owner_subject)
    .bind(s.owner_identity.as_deref())
    .bind(s.protocol.as_deref())
    .bind(upstreams)
    .bind(time_to_db(s.created_at)?)
    .bind(time_to_db(s.last_used)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn get(pool: &AnyPool, id_hash: &str) -> Result<Option<McpSessionRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT id_hash, server, owner_subject, owner_identity, protocol, upstreams, created_at, last_used \
         FROM mcp_sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let upstreams: String = r.try_get("upstreams")?;
    let upstreams: BTreeMap<String, Option<String>> = serde_json::from_str(&upstreams).map_err(corrupt)?;
    Ok(Some(McpSessionRecord {
        id_hash: r.try_get("id_hash")?,
        server: r.try_get("server")?,
        owner_subject: r.try_get("owner_subject")?,
        owner_identity: r.try_get("owner_identity")?,
        protocol: r.try_get("protocol")?,
        upstreams,
        created_at: time_from_db(r.try_get("created_at")?)?,
        last_used: time_from_db(r.try_get("last_used")?)?,
    }))
}

pub(crate) async fn touch(pool: &AnyPool, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
    sqlx::query("UPDATE mcp_sessions SET last_used = $2 WHERE id_hash = $1 AND last_used < $2")
        .bind(id_hash)
        .bind(time_to_db(at)?)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn delete(pool: &AnyPool, id_hash: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM mcp_sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn expire(pool: &AnyPool, before: OffsetDateTime) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM mcp_sessions WHERE last_used < $1").bind(time_to_db(before)?).execute(pool).await?;
    Ok(done.rows_affected())
}
