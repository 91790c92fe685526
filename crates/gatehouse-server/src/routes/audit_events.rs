use axum::extract::State;
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
pub use crate::service::audit::{AuditEventOut, AuditPage, AuditQuery};
use crate::state::App;

/// The audit log, newest first; for admins.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    crate::service::audit::list(&app, &p.subject, q).await.map(Json)
}
