//! `GET /api/v1/mcp-servers/{name}/tools`: the tools of an MCP server the caller may call.

use axum::extract::{Path, State};
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Caller;
use crate::service::mcp_tools::{self, McpToolsOut};
use crate::state::App;

/// The tools the caller may call on an MCP server, listed through the gateway with their own access, as
/// `/mcp/{name}` would list them: a remote server's tools as its manifest filters them, a virtual server's
/// composed tools. The same 403 as the gateway for a server the caller may not use, whether or not it exists
/// (404 only to those who may read every MCP server); 502 or 504 when the upstream fails, naming the server
/// and how, never its address, answer or credentials.
#[utoipa::path(get, path = "/api/v1/mcp-servers/{name}/tools", tag = "mcp-servers",
    responses((status = 200, body = McpToolsOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Json<McpToolsOut>, ApiError> {
    mcp_tools::list(&app, &p, &name).await.map(Json)
}
