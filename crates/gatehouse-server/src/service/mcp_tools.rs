//! The tools of an MCP server that the caller may call, listed through the gateway as `/mcp/<server>` would
//! list them to that caller: the same access check (`use` on the server, the same refusal whether or not it
//! exists), a remote server's own `tools/list` filtered by its manifest, a virtual server's composed tools.
//! The upstream is reached with the server's stored credentials in a short session of the gateway's, ended
//! before the answer.

use std::sync::Arc;

use gatehouse_core::token::Principal;
use gatehouse_core::{Permission, Resource, ResourceKind};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, Forbidden};
use crate::mcp::relay::{filter_tools, redact};
use crate::mcp::table::Server;
use crate::mcp::upstream::Failure;
use crate::mcp::{remote, virtual_server, Context};
use crate::state::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct McpToolsOut {
    /// The server, as `/mcp/<server>` names it.
    pub server: String,
    /// `remote` or `virtual`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the caller may call, in the order the server lists them.
    pub tools: Vec<McpToolOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct McpToolOut {
    /// The name a `tools/call` uses (a virtual server's own name for it).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of the tool's arguments, as the server gives it.
    #[schema(value_type = Object)]
    pub input_schema: Value,
}

impl McpToolOut {
    pub(crate) fn of(tool: &Value) -> Option<McpToolOut> {
        let text = |k: &str| tool.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(McpToolOut {
            name: text("name")?,
            title: text("title"),
            description: text("description"),
            input_schema: tool.get("inputSchema").cloned().unwrap_or(Value::Null),
        })
    }
}

/// The tools of `name` that `caller` may call.
pub async fn list(app: &App, caller: &Principal, name: &str) -> Result<McpToolsOut, ApiError> {
    let view = app.published();
    let now = app.now();
    let refused =
        || ApiError::Forbidden(Forbidden::McpServer { subject: caller.subject.to_string(), server: name.to_owned() });
    if name.len() > 256 || !crate::mcp::may_use(&view, &caller.subject, name, now) {
        return Err(refused());
    }
    let Some(server) = view.mcp.server(name).cloned() else {
        // Those who may read every MCP server see the list of them anyway: a missing one is a 404 to them
        // alone. Anyone else gets the proxy's answer.
        let r = Resource::new(ResourceKind::McpServer, name);
        if super::can(&view.snapshot, &caller.subject, Permission::McpServerRead, &r, now) {
            return Err(ApiError::not_found("MCP server", name));
        }
        return Err(refused());
    };
    let cx = Context {
        app: app.clone(),
        view: Arc::clone(&view),
        principal: caller.clone(),
        headers: Default::default(),
        name: name.to_owned(),
        controls: Default::default(),
    };
    let (session_id, session) = cx.open_session(None, None).await?;
    let listed = match &server {
        Server::Remote(r) => virtual_server::list_all(&cx, r, &session).await.map(|mut tools| {
            let mut wrapped = serde_json::json!({"result": {"tools": tools}});
            filter_tools(&mut wrapped, |t| r.spec.enables(t));
            tools = wrapped["result"]["tools"].as_array().cloned().unwrap_or_default();
            tools.into_iter().map(|t| redact(t, &r.secrets())).collect::<Vec<Value>>()
        }),
        Server::Virtual(v) => {
            let (tools, mut failures) = virtual_server::compose(&cx, v, &session).await;
            // A partial list would pass for the whole one: a server that failed fails the listing.
            match failures.pop() {
                Some(f) => Err(f),
                None => Ok(tools),
            }
        }
    };
    remote::end_upstreams(&cx, &session).await;
    app.mcp_sessions.close(app, &session_id).await;
    let tools = listed.map_err(upstream_error)?;
    Ok(McpToolsOut {
        server: name.to_owned(),
        kind: match server {
            Server::Remote(_) => "remote",
            Server::Virtual(_) => "virtual",
        },
        tools: tools.iter().filter_map(McpToolOut::of).collect(),
    })
}

/// What failed upstream, by the failure's own words: the server and how, never its URL, body or credentials
/// (the answer's logging records it, as for any 5xx).
fn upstream_error(f: Failure) -> ApiError {
    match f {
        Failure::Timeout { .. } => ApiError::GatewayTimeout(f.to_string()),
        Failure::Credentials(_)
        | Failure::Unreachable { .. }
        | Failure::Status { .. }
        | Failure::Garbage { .. }
        | Failure::Token { .. }
        | Failure::SessionGone { .. } => ApiError::BadGateway(f.to_string()),
    }
}
