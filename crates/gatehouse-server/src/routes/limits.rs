//! A caller's rate limits and budgets as they stand: a handler over `service::limits`.

use axum::extract::State;
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params, View};
pub use crate::service::limits::{Amount, LimitEntry, Limits, LimitsQuery, MAX_ENTRIES};
use crate::state::App;

/// The counters of the rate limits and budgets that apply to the caller (or, with `gateway-controls:list`,
/// to `subject`): what each counts now, the limit, what remains and when it frees up. Reads the counters
/// where the gateway keeps them (in process or in Redis); counts nothing.
#[utoipa::path(get, path = "/api/v1/limits", tag = "gateway", params(LimitsQuery),
    responses((status = 200, body = Limits), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn limits(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Params(q): Params<LimitsQuery>,
) -> Result<Json<Limits>, ApiError> {
    crate::service::limits::limits(&app, &view, &p, q).await.map(Json)
}
