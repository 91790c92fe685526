//! Gateway usage over time, for the console's charts: a handler over `service::usage_series`.

use axum::extract::State;
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
pub use crate::service::usage_series::{UsagePoint, UsageSeries, UsageSeriesQuery, MAX_BUCKETS};
use crate::state::App;

/// Gateway usage per hour or day and per model or subject, over the requests the caller may read (as
/// for `/api/v1/usage`: their own, those of the virtual accounts they may manage, all for admins).
#[utoipa::path(get, path = "/api/v1/usage/series", tag = "gateway", params(UsageSeriesQuery),
    responses((status = 200, body = UsageSeries), (status = 400, body = ErrorBody)))]
pub async fn series(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<UsageSeriesQuery>,
) -> Result<Json<UsageSeries>, ApiError> {
    crate::service::usage_series::series(&app, &p, q).await.map(Json)
}
