//! What the console's forms need beside the collections' own routes: a connection test of an unsaved
//! provider account or MCP server, and a manifest's YAML read as JSON objects (for the form | YAML switch).

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Caller};
use crate::service::test_connection::{self as service, TestConnectionOut};
use crate::state::App;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(test_provider_account, test_mcp_server, parse_manifests),
    components(schemas(TestConnectionOut, service::TestedTool, ParsedManifests, crate::service::creator::Warning))
)]
pub struct Doc;

/// Asks the upstream of a provider account for its models, without saving anything. The body is the
/// account as `POST /provider-accounts` (or, for an existing one, `PUT`) takes it; without `auth`, an
/// existing account's stored credentials are used (refused, as a `PUT` would be, if the body changes where
/// they would be sent). Needs the permission that write needs. An upstream failure is `ok: false` with
/// `error`, not an error status.
#[utoipa::path(post, path = "/api/v1/test-connection/provider-accounts", tag = "provider-accounts", request_body = Object,
    responses((status = 200, body = TestConnectionOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn test_provider_account(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<Value>,
) -> Result<Json<TestConnectionOut>, ApiError> {
    service::provider_account(&app, &p, b).await.map(Json)
}

/// Asks a remote MCP server for its tools (`initialize`, then `tools/list`), without saving anything. The
/// body is the server as `POST /mcp-servers` takes it; credentials as for provider accounts. Each tool says
/// whether the manifest's `tools` list lets it through.
#[utoipa::path(post, path = "/api/v1/test-connection/mcp-servers", tag = "mcp-servers", request_body = Object,
    responses((status = 200, body = TestConnectionOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn test_mcp_server(
    State(app): State<App>,
    Caller(p): Caller,
    Body(b): Body<Value>,
) -> Result<Json<TestConnectionOut>, ApiError> {
    service::mcp_server(&app, &p, b).await.map(Json)
}

#[derive(Serialize, ToSchema)]
pub struct ParsedManifests {
    /// Each document as a JSON object, `type` included, in the order written.
    #[schema(value_type = Vec<Object>)]
    pub documents: Vec<Value>,
}

/// Reads YAML (or JSON) manifests as `apply` reads them and returns them as JSON objects, checking only
/// their syntax and `type`: nothing is looked up or saved.
#[utoipa::path(post, path = "/api/v1/manifests/parse", tag = "apply",
    request_body(content = String, description = "YAML or JSON manifests", content_type = "application/yaml"),
    responses((status = 200, body = ParsedManifests), (status = 400, body = ErrorBody)))]
pub async fn parse_manifests(_caller: Caller, body: Bytes) -> Result<Json<ParsedManifests>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
    let documents = crate::manifest::parse_documents(text)?
        .into_iter()
        .map(|d| {
            let mut out = serde_json::Map::new();
            out.insert("type".into(), Value::String(d.manifest_type.as_str().to_owned()));
            if let Value::Object(mut fields) = d.fields {
                out.append(&mut fields);
            }
            Value::Object(out)
        })
        .collect();
    Ok(Json(ParsedManifests { documents }))
}
