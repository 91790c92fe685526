//! The audit log, for admins: a filtered page of events, newest first.

use gatehouse_core::{Resource, Subject};
use gatehouse_store::AuditFilter;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::state::App;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// A subject, e.g. `user:alice@example.com`, or `system`.
    pub actor: Option<String>,
    /// An object, e.g. `team:ml` or `token:0123456789abcdef`.
    pub object: Option<String>,
    /// Part of the actor, ignoring case: `alice` finds `user:alice@example.com`.
    pub actor_contains: Option<String>,
    /// Part of the object as `<kind>:<name>`, ignoring case: `ml` finds `team:ml-platform`.
    pub object_contains: Option<String>,
    /// Part of the action, ignoring case: `team.create` exactly, `team.` for every team action, `delete`
    /// for every deletion.
    pub action: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    /// For the next page: the smallest `id` of the previous one.
    pub before_id: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventOut {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    /// `<kind>:<name>`.
    pub object: String,
    /// The fields that changed; secrets are never recorded.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEventOut>,
    /// Pass as `before_id` for the next page; absent on the last one.
    pub next_before_id: Option<i64>,
}

pub(crate) fn time_param(name: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|s| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| ApiError::invalid(name, format!("not an RFC 3339 time: {e}")))
            .and_then(|t| crate::bounds::client_time(name, t))
    })
    .transpose()
}

/// The longest text a part-of filter takes: more than any name the log holds.
const MAX_PART: usize = 256;

/// A part-of filter's text: something to look for, not too long.
fn part(name: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(t) if t.trim().is_empty() => Err(ApiError::invalid(name, "must not be empty; leave it out to match all")),
        Some(t) if t.chars().count() > MAX_PART => {
            Err(ApiError::invalid(name, format!("at most {MAX_PART} characters")))
        }
        v => Ok(v.map(|t| t.trim().to_owned())),
    }
}

/// One page of the audit log as `caller` asked for it.
pub async fn list(app: &App, caller: &Subject, q: AuditQuery) -> Result<AuditPage, ApiError> {
    let is_admin = matches!(caller, Subject::User(e) if app.snapshot().is_admin(e));
    if !is_admin {
        return Err(ApiError::Forbidden(crate::error::Forbidden::AuditLog));
    }
    let (object_kind, object_name) = match q.object.as_deref() {
        None => (None, None),
        Some(o) => match o.split_once(':') {
            Some(("token", id)) => (Some("token".to_owned()), Some(id.to_owned())),
            _ => {
                let r: Resource = o.parse().map_err(|e| ApiError::invalid("object", format!("{e}")))?;
                (Some(r.kind.as_str().to_owned()), Some(r.name.to_string()))
            }
        },
    };
    let limit = q.limit.unwrap_or(AuditFilter::DEFAULT_LIMIT);
    if limit == 0 || limit > AuditFilter::MAX_LIMIT {
        return Err(ApiError::invalid("limit", format!("must be 1 to {}", AuditFilter::MAX_LIMIT)));
    }
    let filter = AuditFilter {
        actor_contains: part("actor_contains", q.actor_contains)?,
        object_contains: part("object_contains", q.object_contains)?,
        action_contains: part("action", q.action)?,
        actor: q.actor,
        object_kind,
        object_name,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        before_id: q.before_id,
        limit,
    };
    let events = app.store.audit_events(&filter).await?;
    let next_before_id = (events.len() == limit as usize).then(|| events.last().map(|e| e.id)).flatten();
    let events = events
        .into_iter()
        .map(|e| AuditEventOut {
            id: e.id,
            at: e.record.at,
            actor: e.record.actor,
            action: e.record.action,
            object: format!("{}:{}", e.record.object_kind, e.record.object_name),
            changes: serde_json::from_str(&e.record.changes).unwrap_or(serde_json::Value::String(e.record.changes)),
            request_id: e.record.request_id,
        })
        .collect();
    Ok(AuditPage { events, next_before_id })
}
