//! `PUT /api/v1/apply` and `GET /api/v1/export`: parse the request, call the service, shape the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Params};
pub use crate::service::apply::ApplyResult;
use crate::state::App;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyParams {
    /// Report what would change, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyOut {
    pub dry_run: bool,
    pub results: Vec<ApplyResult>,
}

/// Applies manifests: roles, then users, teams, virtual accounts, provider accounts, MCP servers, agents
/// and gateway controls, so a manifest may refer to what it defines.
#[utoipa::path(put, path = "/api/v1/apply", tag = "apply", params(ApplyParams),
    request_body(content = String, description = "YAML or JSON manifests", content_type = "application/yaml"),
    responses((status = 200, body = ApplyOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<ApplyParams>,
    body: Bytes,
) -> Result<Json<ApplyOut>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
    let results = crate::service::apply::apply(&app, &p.subject, text, q.dry_run).await?;
    Ok(Json(ApplyOut { dry_run: q.dry_run, results }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// A manifest type (`user`, `provider-account/openai`, `gateway-budget-config`, ...) or a family of them:
    /// `provider-account`, `mcp-server`, `gateway-controls` (every `gateway-*-config`).
    #[serde(rename = "type")]
    pub manifest_type: Option<String>,
    /// An object's `name` (a user's `email`).
    pub name: Option<String>,
}

/// Everything the caller may read, as multi-document YAML that `apply` takes back (credentials left out);
/// `type` and `name` narrow it to a kind of object or to one.
#[utoipa::path(get, path = "/api/v1/export", tag = "apply", params(ExportParams),
    responses((status = 200, content_type = "application/yaml", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "`name` matches nothing the caller may read")))]
pub async fn export(
    State(app): State<App>,
    Caller(p): Caller,
    Params(q): Params<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let yaml = crate::service::export::export(&app, &p.subject, q.manifest_type, q.name)?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml))
}
