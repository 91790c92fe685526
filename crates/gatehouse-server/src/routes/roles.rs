use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::{Op, Permission, Resource, RoleName};

use super::{can, require};
use crate::convert;
use crate::dto::{RoleBody, RoleOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::state::App;

fn name(s: &str) -> Result<RoleName, ApiError> {
    RoleName::new(s).map_err(|e| ApiError::invalid("name", e.to_string()))
}

fn out(s: &gatehouse_core::Snapshot, n: &RoleName) -> Result<Json<RoleOut>, ApiError> {
    s.role(n.as_str()).map(|r| Json(RoleOut::from(&**r))).ok_or_else(|| ApiError::not_found("role", n))
}

/// Built-in roles first, then custom roles by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", responses((status = 200, body = [RoleOut])))]
pub async fn list(State(app): State<App>, Caller(p): Caller) -> Json<Vec<RoleOut>> {
    let s = app.snapshot();
    let now = app.now();
    let mut v: Vec<RoleOut> = s
        .roles()
        .filter(|r| can(&s, &p.subject, Permission::RoleList, &Resource::role(&r.name), now))
        .map(|r| RoleOut::from(&**r))
        .collect();
    v.sort_by(|a, b| (!a.builtin, &a.name).cmp(&(!b.builtin, &b.name)));
    Json(v)
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = RoleBody,
    responses((status = 201, body = RoleOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<RoleBody>,
) -> Result<(StatusCode, Json<RoleOut>), ApiError> {
    let role = convert::role(b)?;
    let key = role.name.clone();
    let s = app
        .write(&p.subject, vec![Op::PutRole(role)], |s| match s.role(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("role", &key)),
            None => Ok(()),
        })
        .await?;
    Ok((StatusCode::CREATED, out(&s, &key)?))
}

#[utoipa::path(get, path = "/api/v1/roles/{name}", tag = "roles",
    responses((status = 200, body = RoleOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<App>, Caller(p): Caller, Path(n): Path<String>) -> Result<Json<RoleOut>, ApiError> {
    let n = name(&n)?;
    let s = app.snapshot();
    require(&s, &p.subject, Permission::RoleList, &Resource::role(&n), app.now())?;
    out(&s, &n)
}

/// Replaces a role. `member` and `team-manager` may be edited; `admin` may not.
#[utoipa::path(put, path = "/api/v1/roles/{name}", tag = "roles", request_body = RoleBody,
    responses((status = 200, body = RoleOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
    Body(b): Body<RoleBody>,
) -> Result<Json<RoleOut>, ApiError> {
    let n = name(&n)?;
    let role = convert::role(b)?;
    convert::same_key("name", n.as_str(), role.name.as_str())?;
    let s = app
        .write(&p.subject, vec![Op::PutRole(role)], |s| match s.role(n.as_str()) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("role", &n)),
        })
        .await?;
    out(&s, &n)
}

#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "roles",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(State(app): State<App>, Caller(p): Caller, Path(n): Path<String>) -> Result<StatusCode, ApiError> {
    app.write(&p.subject, vec![Op::DeleteRole(name(&n)?)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}
