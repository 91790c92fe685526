//! "Test connection": asks the upstream of an unsaved provider account for its models, or of an unsaved MCP
//! server for its tools, and says what came back, without saving anything. The body is checked as the write
//! it previews would be (the same permission: create, or manage on an existing object; the same validation;
//! the same refusal to send stored credentials to a new destination), so it reaches no upstream that its
//! caller could not already make the gateway reach by saving the object.

mod mcp;
mod provider;

use std::time::Duration;

use gatehouse_core::resource::ResourceRecord;
use gatehouse_core::token::Principal;
use gatehouse_core::Op;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::mcp_tools::McpToolOut;
use crate::error::ApiError;
use crate::resources::{body_type, parse_manifest, plan, Collection};
use crate::state::App;
use crate::versioning;

/// How long a test may take in all, whatever the gateway's own upstream timeouts.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the upstream answered. An upstream that fails is still a 200: `ok` is false and `error` says why.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestConnectionOut {
    /// Whether the upstream answered the listing.
    pub ok: bool,
    /// A provider account's models, by the provider's ids (provider accounts only, when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// An MCP server's tools, every one it lists (MCP servers only, when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<TestedTool>>,
    /// Why the upstream could not be listed (when not `ok`): never a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One tool an MCP server lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestedTool {
    #[serde(flatten)]
    pub tool: McpToolOut,
    /// Whether the manifest's `tools` list lets callers use it through Gatehouse.
    pub enabled: bool,
}

impl TestConnectionOut {
    fn failed(error: String) -> TestConnectionOut {
        TestConnectionOut { ok: false, models: None, tools: None, error: Some(error) }
    }
}

/// The record a write of `body` to `coll` would store (credentials sealed: the sent ones, or the stored ones
/// when the body has none and names an existing object), once the write's whole check has passed on a
/// scratch copy of the state.
fn record(app: &App, caller: &Principal, coll: Collection, body: Value) -> Result<ResourceRecord, ApiError> {
    let mut body = versioning::strip_read_only(body, versioning::resource_kind(coll.noun()).read_only);
    let parsed = parse_manifest(body_type(coll, &mut body)?, body)?;
    let s = app.snapshot();
    let now = app.now();
    let planned = plan(&s, &app.key, parsed, &caller.subject, now)?;
    gatehouse_core::execute(&s, &caller.subject, planned.ops.clone(), now).map_err(|e| ApiError::from(e.refusal))?;
    planned
        .ops
        .into_iter()
        .find_map(|op| {
            let Op::PutResource(rec) = op else { return None };
            Some(rec)
        })
        .ok_or_else(|| ApiError::Internal("a planned write holds no resource".into()))
}

/// Lists the models of the provider account `body` describes.
pub async fn provider_account(app: &App, caller: &Principal, body: Value) -> Result<TestConnectionOut, ApiError> {
    let rec = record(app, caller, Collection::ProviderAccount, body)?;
    Ok(match tokio::time::timeout(TEST_TIMEOUT, provider::models(app, &rec)).await {
        Err(_) => TestConnectionOut::failed(format!("the provider did not answer within {}s", TEST_TIMEOUT.as_secs())),
        Ok(Err(e)) => TestConnectionOut::failed(e),
        Ok(Ok(models)) => TestConnectionOut { ok: true, models: Some(models), tools: None, error: None },
    })
}

/// Lists the tools of the MCP server `body` describes.
pub async fn mcp_server(app: &App, caller: &Principal, body: Value) -> Result<TestConnectionOut, ApiError> {
    let rec = record(app, caller, Collection::McpServer, body)?;
    Ok(match tokio::time::timeout(TEST_TIMEOUT, mcp::tools(app, caller, rec)).await {
        Err(_) => {
            TestConnectionOut::failed(format!("the MCP server did not answer within {}s", TEST_TIMEOUT.as_secs()))
        }
        Ok(Err(e)) => TestConnectionOut::failed(e),
        Ok(Ok(tools)) => TestConnectionOut { ok: true, models: None, tools: Some(tools), error: None },
    })
}
