use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use gatehouse_core::{Op, Permission, Resource, VaName};

use super::{can, require};
use crate::convert;
use crate::dto::{VirtualAccountBody, VirtualAccountOut};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::state::App;

pub fn name(s: &str) -> Result<VaName, ApiError> {
    VaName::new(s).map_err(|e| ApiError::invalid("name", e.to_string()))
}

fn out(s: &gatehouse_core::Snapshot, n: &VaName) -> Result<Json<VirtualAccountOut>, ApiError> {
    s.virtual_account(n.as_str())
        .map(|v| Json(VirtualAccountOut::from(&**v)))
        .ok_or_else(|| ApiError::not_found("virtual account", n))
}

/// Virtual accounts the caller may read (tenant-wide, or those of the teams they manage).
#[utoipa::path(get, path = "/api/v1/virtual-accounts", tag = "virtual-accounts", responses((status = 200, body = [VirtualAccountOut])))]
pub async fn list(State(app): State<App>, Caller(p): Caller) -> Json<Vec<VirtualAccountOut>> {
    let s = app.snapshot();
    let now = app.now();
    let mut v: Vec<VirtualAccountOut> = s
        .virtual_accounts()
        .filter(|v| can(&s, &p.subject, Permission::VirtualAccountRead, &Resource::virtual_account(&v.name), now))
        .map(|v| VirtualAccountOut::from(&**v))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Json(v)
}

#[utoipa::path(post, path = "/api/v1/virtual-accounts", tag = "virtual-accounts", request_body = VirtualAccountBody,
    responses((status = 201, body = VirtualAccountOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<VirtualAccountBody>,
) -> Result<(StatusCode, Json<VirtualAccountOut>), ApiError> {
    let va = convert::virtual_account(b)?;
    let key = va.name.clone();
    let s = app
        .write(&p.subject, vec![Op::PutVirtualAccount(va)], |s| match s.virtual_account(key.as_str()) {
            Some(_) => Err(ApiError::already_exists("virtual account", &key)),
            None => Ok(()),
        })
        .await?;
    Ok((StatusCode::CREATED, out(&s, &key)?))
}

#[utoipa::path(get, path = "/api/v1/virtual-accounts/{name}", tag = "virtual-accounts",
    responses((status = 200, body = VirtualAccountOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> Result<Json<VirtualAccountOut>, ApiError> {
    let n = name(&n)?;
    let s = app.snapshot();
    require(&s, &p.subject, Permission::VirtualAccountRead, &Resource::virtual_account(&n), app.now())?;
    out(&s, &n)
}

#[utoipa::path(put, path = "/api/v1/virtual-accounts/{name}", tag = "virtual-accounts", request_body = VirtualAccountBody,
    responses((status = 200, body = VirtualAccountOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn replace(
    State(app): State<App>,
    Caller(p): Caller,
    Path(n): Path<String>,
    Body(b): Body<VirtualAccountBody>,
) -> Result<Json<VirtualAccountOut>, ApiError> {
    let n = name(&n)?;
    let va = convert::virtual_account(b)?;
    convert::same_key("name", n.as_str(), va.name.as_str())?;
    let s = app
        .write(&p.subject, vec![Op::PutVirtualAccount(va)], |s| match s.virtual_account(n.as_str()) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("virtual account", &n)),
        })
        .await?;
    out(&s, &n)
}

/// Deletes the account and revokes all of its tokens.
#[utoipa::path(delete, path = "/api/v1/virtual-accounts/{name}", tag = "virtual-accounts",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(app): State<App>, Caller(p): Caller, Path(n): Path<String>) -> Result<StatusCode, ApiError> {
    app.write(&p.subject, vec![Op::DeleteVirtualAccount(name(&n)?)], |_| Ok(())).await?;
    Ok(StatusCode::NO_CONTENT)
}
