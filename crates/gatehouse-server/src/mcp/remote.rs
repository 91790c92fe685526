//! Remote servers: the client's messages passed to the upstream in its session, its answers passed back
//! (JSON or a stream, as the upstream chose), with tool calls of tools the manifest does not enable
//! answered by the gateway and never sent.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::jsonrpc::{self, Body};
use super::log::ToolCall;
use super::relay::{self, Exchange, Listing};
use super::session::Session;
use super::table::Remote;
use super::upstream::{self, Failure, Forwarded, Kind};
use super::{json_answer, Context};
use crate::error::{ApiError, NotFound};

/// The error a tool call gets for a tool the caller may not call: the same whether the tool exists or not.
pub fn tool_refused(id: Value, tool: &str, server: &str) -> Value {
    jsonrpc::error(
        id,
        jsonrpc::INVALID_PARAMS,
        format!("tool {tool} is not available on MCP server {server}"),
        "tool_not_available",
    )
}

/// The error a request for a resource or prompt the caller may not have gets: the same whether it exists
/// or not.
pub fn not_available(id: Value, what: &str, name: &str, server: &str) -> Value {
    jsonrpc::error(
        id,
        jsonrpc::INVALID_PARAMS,
        format!("{what} {name} is not available on MCP server {server}"),
        &format!("{what}_not_available"),
    )
}

/// The gateway's refusal of a request that names a resource or prompt the manifest does not enable
/// (reading, subscribing, getting, or completing an argument of it).
fn unavailable(m: &Value, method: &str, remote: &Remote, server: &str) -> Option<Value> {
    let param = |p: &str| m.pointer(p).and_then(Value::as_str).unwrap_or("");
    let spec = &remote.spec;
    let (what, name, ok) = match method {
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = param("/params/uri");
            ("resource", uri, spec.enables_resource(uri))
        }
        "prompts/get" => {
            let name = param("/params/name");
            ("prompt", name, spec.enables_prompt(name))
        }
        "completion/complete" => match param("/params/ref/type") {
            "ref/prompt" => ("prompt", param("/params/ref/name"), spec.enables_prompt(param("/params/ref/name"))),
            "ref/resource" => {
                let uri = param("/params/ref/uri");
                ("resource", uri, spec.enables_template(uri) || spec.enables_resource(uri))
            }
            _ => return None,
        },
        _ => return None,
    };
    (!ok).then(|| not_available(jsonrpc::id_of(m), what, name, server))
}

/// A client's messages, sorted: what the gateway answers itself, and what goes upstream (with the
/// exchange that will filter and log its answers).
pub struct Sorted {
    pub local: Vec<Value>,
    pub forward: Vec<Value>,
    pub ex: Exchange,
}

/// Tool calls of tools the manifest does not enable are answered here and never forwarded; every other
/// message goes upstream, tool calls logged and `tools/list` answers to be filtered.
pub async fn sort(cx: &Context, remote: &Arc<Remote>, messages: Vec<Value>) -> Sorted {
    let mut local = Vec::new();
    let mut forward = Vec::new();
    let mut ex = Exchange { remote: remote.clone(), lists: HashMap::new(), calls: HashMap::new() };
    for mut m in messages {
        if jsonrpc::is_request(&m) {
            let key = jsonrpc::id_key(&m).unwrap_or_default();
            match jsonrpc::method(&m) {
                Some("tools/call") => {
                    let mut call = ToolCall::new(&cx.app, &cx.view, &cx.principal, &cx.name, &m);
                    let tool = jsonrpc::tool_name(&m).unwrap_or("").to_owned();
                    if !remote.spec.enables(&tool) {
                        call.ended(403);
                        local.push(tool_refused(jsonrpc::id_of(&m), &tool, &cx.name));
                        continue;
                    }
                    if let Err(r) = super::limits::admit(cx, &tool, None).await {
                        call.refused(r.status, r.rule.clone());
                        local.push(r.answer(jsonrpc::id_of(&m)));
                        continue;
                    }
                    if let Err(answer) = super::checks::input(cx, &mut call, &mut m, &tool, None).await {
                        local.push(answer);
                        continue;
                    }
                    call.sent();
                    ex.calls.insert(key, call);
                }
                Some(method) => {
                    if let Some(refused) = unavailable(&m, method, remote, &cx.name) {
                        local.push(refused);
                        continue;
                    }
                    if let Some(listing) = Listing::of(method) {
                        ex.lists.insert(key, listing);
                    }
                }
                None => {}
            }
        }
        forward.push(m);
    }
    Sorted { local, forward, ex }
}

pub async fn post(cx: Context, remote: Arc<Remote>, session: Option<Arc<Session>>, body: Body) -> Response {
    let Sorted { local, forward, mut ex } = sort(&cx, &remote, body.messages).await;
    let session_id = cx.session_id();
    if forward.is_empty() {
        return json_answer(StatusCode::OK, local, body.batch, session_id.as_deref());
    }
    let upstream_session = session.as_ref().and_then(|s| s.upstream(remote.name()).flatten());
    let payload = if body.batch { Value::Array(forward.clone()) } else { forward[0].clone() };
    let fwd = Forwarded::from_headers(&cx.headers);
    let sent = async {
        let rb = upstream::request(&cx.app, &remote, Method::POST, upstream_session.as_deref(), &fwd).await?;
        upstream::send(&cx.app, &remote, rb.json(&payload), upstream_session.is_some()).await
    };
    let resp = match sent.await {
        Ok(r) => r,
        Err(f) => return failed(&cx, &mut ex, &f, &forward, local, body.batch),
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        ex.end_all(502);
        let f = Failure::Status { server: cx.name.clone(), status: 405 };
        return failed(&cx, &mut ex, &f, &forward, local, body.batch);
    }
    // The first answer of a session: the gateway's session starts, holding the upstream's.
    let initialize = forward.iter().any(|m| jsonrpc::method(m) == Some("initialize"));
    let session_id = match &session {
        Some(_) => session_id,
        None if !initialize => None,
        None => {
            let upstream = (remote.name().to_owned(), upstream::session_of(&resp));
            match cx.open_session(fwd.protocol.clone(), Some(upstream)).await {
                Ok((id, _)) => Some(id),
                Err(e) => {
                    ex.end_all(500);
                    return e.into_response();
                }
            }
        }
    };
    let kind = match upstream::kind_of(remote.name(), &resp) {
        Ok(k) => k,
        Err(f) => return failed(&cx, &mut ex, &f, &forward, local, body.batch),
    };
    match kind {
        Kind::Empty if local.is_empty() => {
            let mut r = StatusCode::ACCEPTED.into_response();
            if let Some(id) = session_id.as_deref().and_then(|s| axum::http::HeaderValue::from_str(s).ok()) {
                r.headers_mut().insert(upstream::SESSION_HEADER, id);
            }
            r
        }
        Kind::Empty => json_answer(StatusCode::OK, local, body.batch, session_id.as_deref()),
        Kind::Json => match upstream::read_json(&cx.app, remote.name(), resp).await {
            Ok(v) => {
                let items = match v {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                let mut answers = Vec::with_capacity(items.len() + local.len());
                for m in items {
                    answers.push(ex.rewrite(m).await);
                }
                answers.extend(local);
                ex.end_all(502);
                json_answer(StatusCode::OK, answers, body.batch, session_id.as_deref())
            }
            Err(f) => failed(&cx, &mut ex, &f, &forward, local, body.batch),
        },
        Kind::Stream => {
            let per_chunk = Some(cx.app.config.upstream_first_byte_timeout);
            relay::stream(resp, ex, cx.guard(), local, per_chunk, session_id.as_deref())
        }
    }
}

/// An upstream that failed: each forwarded request gets a JSON-RPC error saying how, under the failure's
/// HTTP status; an upstream that forgot the session ends the gateway's too (404: the client starts anew).
pub fn failed(
    cx: &Context,
    ex: &mut Exchange,
    f: &Failure,
    forward: &[Value],
    local: Vec<Value>,
    batch: bool,
) -> Response {
    ex.end_all(f.status().as_u16());
    tracing::warn!(server = %cx.name, error = %f, "an MCP request failed upstream");
    if let Failure::SessionGone { .. } = f {
        if let Some(id) = cx.session_id() {
            // Gone here at once; from the store off the request path.
            cx.app.mcp_sessions.forget(&id);
            let app = cx.app.clone();
            tokio::spawn(async move { app.mcp_sessions.close(&app, &id).await });
        }
        return ApiError::NotFound(NotFound::McpSession).into_response();
    }
    let mut answers: Vec<Value> =
        forward.iter().filter(|m| jsonrpc::is_request(m)).map(|m| f.to_jsonrpc(jsonrpc::id_of(m))).collect();
    answers.extend(local);
    if answers.is_empty() {
        answers.push(f.to_jsonrpc(Value::Null));
    }
    let batch = batch || answers.len() > 1;
    json_answer(f.status(), answers, batch, cx.session_id().as_deref())
}

/// GET: the upstream's own stream, relayed with the same filtering and per-message access checks.
pub async fn get(cx: Context, remote: Arc<Remote>, session: Arc<Session>) -> Response {
    let upstream_session = session.upstream(remote.name()).flatten();
    let mut fwd = Forwarded::from_headers(&cx.headers);
    if fwd.protocol.is_none() {
        fwd.protocol = session.protocol();
    }
    let sent = async {
        let rb = upstream::request(&cx.app, &remote, Method::GET, upstream_session.as_deref(), &fwd).await?;
        upstream::send(&cx.app, &remote, rb, upstream_session.is_some()).await
    };
    let resp = match sent.await {
        Ok(r) => r,
        Err(Failure::SessionGone { .. }) => return session_gone(&cx).await,
        Err(f) => return (f.status(), axum::Json(f.to_jsonrpc(Value::Null))).into_response(),
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::MethodNotAllowed(format!("MCP server {} offers no stream of its own", cx.name))
            .into_response();
    }
    match upstream::kind_of(remote.name(), &resp) {
        Ok(Kind::Stream) => {
            let ex = Exchange { remote: remote.clone(), lists: HashMap::new(), calls: HashMap::new() };
            // A server's stream may stay quiet for long: no per-message timeout.
            relay::stream(resp, ex, cx.guard(), Vec::new(), None, cx.session_id().as_deref())
        }
        Ok(Kind::Json | Kind::Empty) | Err(_) => {
            let f = Failure::Garbage { server: cx.name.clone(), detail: "its stream is not an event stream".into() };
            (f.status(), axum::Json(f.to_jsonrpc(Value::Null))).into_response()
        }
    }
}

/// The upstream ended the session: the gateway's ends too, and the client is told it does not exist (404),
/// to start a new one.
pub async fn session_gone(cx: &Context) -> Response {
    if let Some(id) = cx.session_id() {
        cx.app.mcp_sessions.close(&cx.app, &id).await;
    }
    ApiError::NotFound(NotFound::McpSession).into_response()
}

/// Ends the upstream sessions held for `session`, best effort (a server may not offer DELETE).
pub async fn end_upstreams(cx: &Context, session: &Session) {
    // Closing a server's event stream is how an HTTP+SSE session ends.
    session.close_links();
    for (server, id) in session.upstreams() {
        let Some(remote) = cx.view.mcp.remote(&server) else { continue };
        let Ok(rb) = upstream::request(&cx.app, remote, Method::DELETE, Some(&id), &Forwarded::default()).await else {
            continue;
        };
        if let Err(f) = upstream::send(&cx.app, remote, rb, true).await {
            tracing::debug!(server = %server, error = %f, "ending an upstream MCP session failed");
        }
    }
}
