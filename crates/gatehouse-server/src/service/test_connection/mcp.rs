//! An MCP server's tools, asked of the server as the gateway asks it (`initialize`, then `tools/list`, over
//! either transport, with the server's credentials) in a short session of the gateway's, ended before the
//! answer.

use std::sync::Arc;

use axum::http::Method;
use gatehouse_core::resource::ResourceRecord;
use gatehouse_core::token::Principal;
use serde_json::Value;

use super::TestedTool;
use crate::mcp::relay::redact;
use crate::mcp::table::{remote_of, Remote};
use crate::mcp::upstream::{self, Forwarded};
use crate::mcp::{virtual_server, Context};
use crate::service::mcp_tools::McpToolOut;
use crate::state::App;

/// The server's tools, or why they could not be listed (in words safe to show the caller).
pub async fn tools(app: &App, caller: &Principal, rec: ResourceRecord) -> Result<Vec<TestedTool>, String> {
    let rec = Arc::new(rec);
    let remote = remote_of(&rec, &app.key)
        .ok_or_else(|| "only a remote MCP server (with a `url`) has an upstream to ask".to_owned())?;
    remote.headers()?;
    let cx = Context {
        app: app.clone(),
        view: app.published(),
        principal: caller.clone(),
        headers: Default::default(),
        name: remote.name().to_owned(),
        controls: Default::default(),
    };
    let (session_id, session) = cx.open_session(None, None).await.map_err(|e| e.to_string())?;
    let listed = virtual_server::list_all(&cx, &remote, &session).await;
    end(app, &remote, &session).await;
    app.mcp_sessions.close(app, &session_id).await;
    let listed = listed.map_err(|f| f.to_string())?;
    Ok(listed
        .into_iter()
        .map(|t| redact(t, &remote.secrets()))
        .filter_map(|t| {
            let enabled = t.get("name").and_then(Value::as_str).is_some_and(|n| remote.spec.enables(n));
            McpToolOut::of(&t).map(|tool| TestedTool { tool, enabled })
        })
        .collect())
}

/// Ends the upstream session opened for the test, best effort (`remote::end_upstreams` finds servers in the
/// published table, which an unsaved one is not in).
async fn end(app: &App, remote: &Remote, session: &crate::mcp::session::Session) {
    session.close_links();
    for (_, id) in session.upstreams() {
        let Ok(rb) = upstream::request(app, remote, Method::DELETE, Some(&id), &Forwarded::default()).await else {
            continue;
        };
        if let Err(f) = upstream::send(app, remote, rb, true).await {
            tracing::debug!(server = %remote.name(), error = %f, "ending a tested MCP server's session failed");
        }
    }
}
