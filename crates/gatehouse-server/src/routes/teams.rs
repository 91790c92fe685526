use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::{Op, Permission, Resource, TeamName};

use super::{can, require};
use crate::convert;
use crate::dto::{TeamBody, TeamOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::state::App;

fn name(s: &str) -> Result<TeamName, ApiError> {
    TeamName::new(s).map_err(|e| ApiError::invalid("name", e.to_string()))
}

fn out(s: &gatehouse_core::Snapshot, n: &TeamName) -> Result<Json<TeamOut>, ApiError> {
    s.team(n.as_str()).map(|t| Json(TeamOut::from(&**t))).ok_or_else(|| ApiError::not_found("team", n))
}

/// Teams the caller may read (`team:read`, tenant-wide or on the teams they manage).
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, body = [TeamOut])))]
pub async fn list(State(app): State<App>, Caller(p): Caller) -> Json<Vec<TeamOut>> {
    let s = app.snapshot();
    let now = app.now();
    let mut v: Vec<TeamOut> = s
        .teams()
        .filter(|t| can(&s, &p.subject, Permission::TeamRead, &Resource::team(&t.name), now))
        .map(|t| TeamOut::from(&**t))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Json(v)
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = TeamBody,
    responses((status = 201, body = TeamOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<TeamBody>,
) -> Result<(StatusCode, Json<TeamOut>), ApiError> {
    let team = convert::team(b)?;
    let key = team.name.clone();
    let s = app
        .write(&p.subject, vec![Op::PutTeam(team)], |s| match s.team(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("team", &key)),
            None => Ok(()),
        })
        .await?;
    Ok((StatusCode::CREATED, out(&s, &key)?))
}

#[utoipa::path(get, path = "/api/v1/teams/{name}", tag = "teams",
    responses((status = 200, body = TeamOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<App>, Caller(p): Caller, Path(n): Path<String>) -> Result<Json<TeamOut>, ApiError> {
    let n = name(&n)?;
    let s = app.snapshot();
    require(&s, &p.subject, Permission::TeamRead, &Resource::team(&n), app.now())?;
    out(&s, &n)
}

#[utoipa::path(put, path = "/api/v1/teams/{name}", tag = "teams", request_body = TeamBody,
    responses((status = 200, body = TeamOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
    Body(b): Body<TeamBody>,
) -> Result<Json<TeamOut>, ApiError> {
    let n = name(&n)?;
    let team = convert::team(b)?;
    convert::same_key("name", n.as_str(), team.name.as_str())?;
    let s = app
        .write(&p.subject, vec![Op::PutTeam(team)], |s| match s.team(n.as_str()) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("team", &n)),
        })
        .await?;
    out(&s, &n)
}

#[utoipa::path(delete, path = "/api/v1/teams/{name}", tag = "teams",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(State(app): State<App>, Caller(p): Caller, Path(n): Path<String>) -> Result<StatusCode, ApiError> {
    app.write(&p.subject, vec![Op::DeleteTeam(name(&n)?)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}
