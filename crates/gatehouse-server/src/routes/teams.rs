use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_core::{Op, Permission, Resource, Snapshot, Subject, TeamName};
use serde_json::Value;

use super::require;
use crate::convert;
use crate::dto::{TeamBody, TeamOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller, Params};
use crate::service::lists::teams::TeamListQuery;
use crate::service::lists::Listing;
use crate::state::App;
use crate::versioning::merge_patch::MergePatch;
use crate::versioning::write::{self, Item};
use crate::versioning::{self, Current, IfMatch, IfMatchHeader, TEAM};

fn name(s: &str) -> Result<TeamName, ApiError> {
    TeamName::new(s).map_err(|e| ApiError::invalid("name", e.to_string()))
}

fn current(s: &Snapshot, n: &TeamName) -> Option<Current> {
    s.team(n.as_str()).map(|x| Current::of_typed(&TeamOut::from(&**x)))
}

fn may_read(s: &Snapshot, caller: &Subject, n: &TeamName, now: time::OffsetDateTime) -> Result<(), ApiError> {
    require(s, caller, Permission::TeamRead, &Resource::team(n), now)
}

/// The object as stored in `s`, with its version (body and `ETag` header).
fn out(s: &Snapshot, n: &TeamName) -> Result<(HeaderMap, Json<TeamOut>), ApiError> {
    let x = s.team(n.as_str()).ok_or_else(|| ApiError::not_found("team", n))?;
    let (o, etag) = versioning::stamp(TeamOut::from(&**x));
    Ok((etag.header(), Json(o)))
}

/// A body (read-only fields removed) as the object; every failure names the field.
fn parse(body: Value) -> Result<Op, ApiError> {
    Ok(Op::PutTeam(convert::team(versioning::parse_body::<TeamBody>(body)?)?))
}

/// The write path's view of one object.
fn item<'a>(caller: &'a Subject, n: &'a TeamName) -> Item<'a> {
    Item {
        kind: TEAM,
        name: n.as_str(),
        current: Box::new(move |s| current(s, n)),
        may_read: Box::new(move |s, now| may_read(s, caller, n, now)),
        build: Box::new(move |_, body, _| {
            let op = parse(body)?;
            if let Op::PutTeam(x) = &op {
                convert::same_key("name", n.as_str(), x.name.as_str())?;
            }
            Ok(vec![op])
        }),
    }
}

/// Teams the caller may read (`team:read`, tenant-wide or on the teams they manage). Searched and sorted as
/// asked; with `limit` or `cursor`, one page `{items, next_cursor}` (see docs/api.md, "Lists").
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", params(TeamListQuery),
    responses((status = 200, body = Listing<TeamOut>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<TeamListQuery>,
) -> Result<Json<Listing<TeamOut>>, ApiError> {
    crate::service::lists::teams::list(&app.snapshot(), &p.subject, app.now(), q).map(Json)
}

/// Read-only fields of an object read back (`etag`) are accepted and ignored.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = TeamBody,
    responses((status = 201, body = TeamOut, headers(("ETag" = String, description = "the new object's version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<Value>,
) -> Result<(StatusCode, HeaderMap, Json<TeamOut>), ApiError> {
    let op = parse(versioning::strip_read_only(b, TEAM.read_only))?;
    let Op::PutTeam(x) = &op else { return Err(ApiError::Internal("unexpected operation".into())) };
    let key = x.name.clone();
    let s = app
        .write(&p.subject, vec![op], |s| match s.team(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("team", &key)),
            None => Ok(()),
        })
        .await?;
    let (headers, body) = out(&s, &key)?;
    Ok((StatusCode::CREATED, headers, body))
}

#[utoipa::path(get, path = "/api/v1/teams/{name}", tag = "teams",
    responses((status = 200, body = TeamOut, headers(("ETag" = String, description = "the object's version, for If-Match"))),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> Result<(HeaderMap, Json<TeamOut>), ApiError> {
    let n = name(&n)?;
    let s = app.snapshot();
    may_read(&s, &p.subject, &n, app.now())?;
    out(&s, &n)
}

/// Replaces a team.
/// With `If-Match`, only if the object is still at that version (else 412); read-only fields of an
/// object read back are accepted and ignored.
#[utoipa::path(put, path = "/api/v1/teams/{name}", tag = "teams", request_body = TeamBody, params(IfMatchHeader),
    responses((status = 200, body = TeamOut, headers(("ETag" = String, description = "the object's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
    Body(b): Body<Value>,
) -> Result<(HeaderMap, Json<TeamOut>), ApiError> {
    let n = name(&n)?;
    let s = write::replace(&app, &p.subject, &item(&p.subject, &n), &if_match, b).await?;
    out(&s, &n)
}

/// Changes some fields: a JSON merge patch (RFC 7396) applied to the object as a read shows it, then
/// checked exactly like a `PUT` of the result.
#[utoipa::path(patch, path = "/api/v1/teams/{name}", tag = "teams", params(IfMatchHeader),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = TeamOut, headers(("ETag" = String, description = "the object's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn patch(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
    MergePatch(m): MergePatch,
) -> Result<(HeaderMap, Json<TeamOut>), ApiError> {
    let n = name(&n)?;
    let s = write::patch(&app, &p.subject, &item(&p.subject, &n), &if_match, m).await?;
    out(&s, &n)
}

/// Deletes a team.
#[utoipa::path(delete, path = "/api/v1/teams/{name}", tag = "teams", params(IfMatchHeader),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
) -> Result<StatusCode, ApiError> {
    let n = name(&n)?;
    let ops = vec![Op::DeleteTeam(n.clone())];
    write::delete(&app, &p.subject, &item(&p.subject, &n), &if_match, ops).await?;
    Ok(StatusCode::NO_CONTENT)
}
