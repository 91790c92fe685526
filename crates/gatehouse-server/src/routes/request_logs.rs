//! The gateway's request log and usage: handlers over `service::usage`.

use axum::extract::State;
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
use crate::service::usage as service;
pub use crate::service::usage::{RequestLogOut, RequestLogPage, RequestLogQuery, UsageOut, UsageQuery, UsageReport};
use crate::state::App;

/// Gateway requests the caller may read, newest first: their own, those of the virtual accounts they may
/// manage, all for admins. Prompt and completion appear only when the server stores them.
#[utoipa::path(get, path = "/api/v1/request-logs", tag = "gateway", params(RequestLogQuery),
    responses((status = 200, body = RequestLogPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<RequestLogQuery>,
) -> Result<Json<RequestLogPage>, ApiError> {
    service::request_logs(&app, &p, q).await.map(Json)
}

/// Gateway usage per (subject, model) over the requests the caller may read (as for the request log).
#[utoipa::path(get, path = "/api/v1/usage", tag = "gateway", params(UsageQuery),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody)))]
pub async fn usage(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    service::usage(&app, &p, q).await.map(Json)
}
