use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_core::{Op, Permission, Resource, RoleName, Snapshot, Subject};
use serde_json::Value;

use super::{can, require};
use crate::convert;
use crate::dto::{RoleBody, RoleOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::state::App;
use crate::versioning::merge_patch::MergePatch;
use crate::versioning::write::{self, Item};
use crate::versioning::{self, Current, IfMatch, IfMatchHeader, ROLE};

fn name(s: &str) -> Result<RoleName, ApiError> {
    RoleName::new(s).map_err(|e| ApiError::invalid("name", e.to_string()))
}

fn current(s: &Snapshot, n: &RoleName) -> Option<Current> {
    s.role(n.as_str()).map(|x| Current::of_typed(&RoleOut::from(&**x)))
}

fn may_read(s: &Snapshot, caller: &Subject, n: &RoleName, now: time::OffsetDateTime) -> Result<(), ApiError> {
    require(s, caller, Permission::RoleList, &Resource::role(n), now)
}

/// The object as stored in `s`, with its version (body and `ETag` header).
fn out(s: &Snapshot, n: &RoleName) -> Result<(HeaderMap, Json<RoleOut>), ApiError> {
    let x = s.role(n.as_str()).ok_or_else(|| ApiError::not_found("role", n))?;
    let (o, etag) = versioning::stamp(RoleOut::from(&**x));
    Ok((etag.header(), Json(o)))
}

/// A body (read-only fields removed) as the object; every failure names the field.
fn parse(body: Value) -> Result<Op, ApiError> {
    Ok(Op::PutRole(convert::role(versioning::parse_body::<RoleBody>(body)?)?))
}

/// The write path's view of one object.
fn item<'a>(caller: &'a Subject, n: &'a RoleName) -> Item<'a> {
    Item {
        kind: ROLE,
        name: n.as_str(),
        current: Box::new(move |s| current(s, n)),
        may_read: Box::new(move |s, now| may_read(s, caller, n, now)),
        build: Box::new(move |_, body, _| {
            let op = parse(body)?;
            if let Op::PutRole(x) = &op {
                convert::same_key("name", n.as_str(), x.name.as_str())?;
            }
            Ok(vec![op])
        }),
    }
}

/// Built-in roles first, then custom roles by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", responses((status = 200, body = [RoleOut])))]
pub async fn list(State(app): State<App>, Caller(p): Caller) -> Json<Vec<RoleOut>> {
    let s = app.snapshot();
    let now = app.now();
    let mut v: Vec<RoleOut> = s
        .roles()
        .filter(|x| can(&s, &p.subject, Permission::RoleList, &Resource::role(&x.name), now))
        .map(|x| versioning::stamp(RoleOut::from(&**x)).0)
        .collect();
    v.sort_by(|a, b| (!a.builtin, &a.name).cmp(&(!b.builtin, &b.name)));
    Json(v)
}

/// Read-only fields of an object read back (`builtin`, `editable`, `deletable`, `etag`) are accepted and ignored.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = RoleBody,
    responses((status = 201, body = RoleOut, headers(("ETag" = String, description = "the new object's version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<Value>,
) -> Result<(StatusCode, HeaderMap, Json<RoleOut>), ApiError> {
    let op = parse(versioning::strip_read_only(b, ROLE.read_only))?;
    let Op::PutRole(x) = &op else { return Err(ApiError::Internal("unexpected operation".into())) };
    let key = x.name.clone();
    let s = app
        .write(&p.subject, vec![op], |s| match s.role(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("role", &key)),
            None => Ok(()),
        })
        .await?;
    let (headers, body) = out(&s, &key)?;
    Ok((StatusCode::CREATED, headers, body))
}

#[utoipa::path(get, path = "/api/v1/roles/{name}", tag = "roles",
    responses((status = 200, body = RoleOut, headers(("ETag" = String, description = "the object's version, for If-Match"))),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> Result<(HeaderMap, Json<RoleOut>), ApiError> {
    let n = name(&n)?;
    let s = app.snapshot();
    may_read(&s, &p.subject, &n, app.now())?;
    out(&s, &n)
}

/// Replaces a role. `member` and `team-manager` may be edited; `admin` may not.
/// With `If-Match`, only if the object is still at that version (else 412); read-only fields of an
/// object read back are accepted and ignored.
#[utoipa::path(put, path = "/api/v1/roles/{name}", tag = "roles", request_body = RoleBody, params(IfMatchHeader),
    responses((status = 200, body = RoleOut, headers(("ETag" = String, description = "the object's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
    Body(b): Body<Value>,
) -> Result<(HeaderMap, Json<RoleOut>), ApiError> {
    let n = name(&n)?;
    let s = write::replace(&app, &p.subject, &item(&p.subject, &n), &if_match, b).await?;
    out(&s, &n)
}

/// Changes some fields: a JSON merge patch (RFC 7396) applied to the object as a read shows it, then
/// checked exactly like a `PUT` of the result.
#[utoipa::path(patch, path = "/api/v1/roles/{name}", tag = "roles", params(IfMatchHeader),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = RoleOut, headers(("ETag" = String, description = "the object's new version"))),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn patch(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
    MergePatch(m): MergePatch,
) -> Result<(HeaderMap, Json<RoleOut>), ApiError> {
    let n = name(&n)?;
    let s = write::patch(&app, &p.subject, &item(&p.subject, &n), &if_match, m).await?;
    out(&s, &n)
}

/// Deletes a custom role.
#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "roles", params(IfMatchHeader),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(app): State<App>,
    Caller(p): Caller,
    if_match: IfMatch,
    Path(n): Path<String>,
) -> Result<StatusCode, ApiError> {
    let n = name(&n)?;
    let ops = vec![Op::DeleteRole(n.clone())];
    write::delete(&app, &p.subject, &item(&p.subject, &n), &if_match, ops).await?;
    Ok(StatusCode::NO_CONTENT)
}
