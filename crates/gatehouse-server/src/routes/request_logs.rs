//! The gateway's request log and usage: handlers over `service::usage`.

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
pub use crate::service::request_log_csv::RequestLogCsvQuery;
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

/// The filtered request log as CSV (`text/csv`), newest first, as many rows as `limit` (default and at
/// most 50000). When rows were left out, `x-gatehouse-next-before-id` says where the rest start.
#[utoipa::path(get, path = "/api/v1/request-logs.csv", tag = "gateway", params(RequestLogCsvQuery),
    responses((status = 200, content_type = "text/csv", body = String,
        headers(("x-gatehouse-next-before-id" = Option<i64>, description = "Pass as before_id for the rows left out"))),
        (status = 400, body = ErrorBody)))]
pub async fn csv(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<RequestLogCsvQuery>,
) -> Result<Response, ApiError> {
    let out = crate::service::request_log_csv::export(&app, &p, q).await?;
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"request-log.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        out.body,
    )
        .into_response();
    if let Some(next) = out.next_before_id {
        resp.headers_mut().insert(NEXT_BEFORE_ID, HeaderValue::from(next));
    }
    Ok(resp)
}

const NEXT_BEFORE_ID: HeaderName = HeaderName::from_static("x-gatehouse-next-before-id");
