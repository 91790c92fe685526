//! Virtual servers: the gateway is the MCP server. It answers `initialize` and `ping` itself, lists the
//! chosen tools under their own names, and calls each through its remote server, in an upstream session it
//! opens per remote server on the client session's behalf. Only `tools/list` and `tools/call` (with
//! `initialize`, `ping` and notifications) are served, and empty lists of resources and prompts; answers
//! are always whole JSON.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_core::spec::McpTransport;
use serde_json::{json, Value};

use super::jsonrpc::{self, Body};
use super::log::ToolCall;
use super::relay::{filter_tools, redact};
use super::remote::{not_available, tool_refused};
use super::session::Session;
use super::table::{Remote, Virtual};
use super::upstream::{self, Failure, Forwarded};
use super::{json_answer, Context};

/// The protocol versions the gateway speaks as a server, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// How many pages of one upstream's `tools/list` are read at most.
const MAX_PAGES: usize = 20;

pub async fn post(cx: Context, v: Arc<Virtual>, session: Option<Arc<Session>>, body: Body) -> Response {
    let mut answers = Vec::new();
    let mut session_id = cx.session_id();
    for m in &body.messages {
        if !jsonrpc::is_request(m) {
            continue;
        }
        let id = jsonrpc::id_of(m);
        let answer = match jsonrpc::method(m) {
            Some("initialize") => {
                let asked = m.pointer("/params/protocolVersion").and_then(Value::as_str);
                let version = asked.filter(|a| PROTOCOL_VERSIONS.contains(a)).unwrap_or(PROTOCOL_VERSIONS[0]);
                match cx.open_session(Some(version.to_owned()), None).await {
                    Ok((sid, _)) => session_id = Some(sid),
                    Err(e) => return e.into_response(),
                }
                jsonrpc::result(
                    id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": {"tools": {"listChanged": false}},
                        "serverInfo": {"name": v.spec.name.as_str(), "version": env!("CARGO_PKG_VERSION")},
                        "instructions": v.spec.description,
                    }),
                )
            }
            Some("ping") => jsonrpc::result(id, json!({})),
            Some("tools/list") => match &session {
                Some(s) => jsonrpc::result(id, json!({"tools": list(&cx, &v, s).await})),
                None => no_session(id),
            },
            Some("tools/call") => match &session {
                Some(s) => call(&cx, &v, s, m).await,
                None => no_session(id),
            },
            // A virtual server exposes tools only: it has no resources or prompts to list, and none to read.
            Some("resources/list") => jsonrpc::result(id, json!({"resources": []})),
            Some("resources/templates/list") => jsonrpc::result(id, json!({"resourceTemplates": []})),
            Some("prompts/list") => jsonrpc::result(id, json!({"prompts": []})),
            Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
                let uri = m.pointer("/params/uri").and_then(Value::as_str).unwrap_or("");
                not_available(id, "resource", uri, &cx.name)
            }
            Some("prompts/get") => {
                let name = m.pointer("/params/name").and_then(Value::as_str).unwrap_or("");
                not_available(id, "prompt", name, &cx.name)
            }
            Some(other) => jsonrpc::error(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("{other} is not served by virtual MCP server {}: only tools/list and tools/call", cx.name),
                "method_not_found",
            ),
            None => continue,
        };
        answers.push(answer);
    }
    if answers.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    json_answer(StatusCode::OK, answers, body.batch, session_id.as_deref())
}

fn no_session(id: Value) -> Value {
    jsonrpc::error(id, jsonrpc::INVALID_REQUEST, "initialize first", "session_required")
}

/// The chosen tools, renamed, from each remote server that still exists and enables them; a server that
/// fails to list its tools is left out (and logged).
async fn list(cx: &Context, v: &Virtual, s: &Session) -> Vec<Value> {
    let (tools, failures) = compose(cx, v, s).await;
    for f in failures {
        tracing::warn!(virtual_server = %cx.name, error = %f, "a server of a virtual MCP server failed to list its tools");
    }
    tools
}

/// The chosen tools, renamed, from each remote server that still exists and enables them, and the failures
/// of the servers that could not list theirs.
pub async fn compose(cx: &Context, v: &Virtual, s: &Session) -> (Vec<Value>, Vec<Failure>) {
    let mut out = Vec::new();
    let mut failures = Vec::new();
    let mut servers: Vec<&str> = v.tools.iter().map(|t| t.server.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    for server in servers {
        let Some(remote) = cx.view.mcp.remote(server) else { continue };
        let mut tools = match list_all(cx, remote, s).await {
            Ok(t) => t,
            Err(f) => {
                failures.push(f);
                continue;
            }
        };
        let mut wrapped = json!({"result": {"tools": tools}});
        filter_tools(&mut wrapped, |name| remote.spec.enables(name));
        tools = wrapped["result"]["tools"].as_array().cloned().unwrap_or_default();
        for exposed in v.tools.iter().filter(|t| t.server == server) {
            if let Some(tool) = tools.iter().find(|t| t["name"] == exposed.tool.as_str()) {
                let mut tool = redact(tool.clone(), &remote.secrets());
                tool["name"] = Value::String(exposed.name.clone());
                out.push(tool);
            }
        }
    }
    (out, failures)
}

/// Every page of `remote`'s own `tools/list`, unfiltered, in the gateway's session with it for `s`.
pub async fn list_all(cx: &Context, remote: &Remote, s: &Session) -> Result<Vec<Value>, Failure> {
    let mut tools = Vec::new();
    let mut cursor: Option<Value> = None;
    for page in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let m =
            json!({"jsonrpc": "2.0", "id": format!("gatehouse-list-{page}"), "method": "tools/list", "params": params});
        let answer = exchange(cx, remote, s, &m).await?;
        if let Some(list) = answer.pointer("/result/tools").and_then(Value::as_array) {
            tools.extend(list.iter().cloned());
        }
        cursor = answer.pointer("/result/nextCursor").filter(|c| !c.is_null()).cloned();
        if cursor.is_none() {
            break;
        }
    }
    Ok(tools)
}

async fn call(cx: &Context, v: &Virtual, s: &Session, m: &Value) -> Value {
    let id = jsonrpc::id_of(m);
    let mut log = ToolCall::new(&cx.app, &cx.view, &cx.principal, &cx.name, m);
    let name = jsonrpc::tool_name(m).unwrap_or("");
    let target = v.tool(name).and_then(|t| Some((t, cx.view.mcp.remote(&t.server)?)));
    let Some((exposed, remote)) = target.filter(|(t, r)| r.spec.enables(&t.tool)) else {
        log.ended(403);
        return tool_refused(id, name, &cx.name);
    };
    if let Err(r) = super::limits::admit(cx, name, Some((&exposed.server, &exposed.tool))).await {
        log.refused(r.status, r.rule.clone());
        return r.answer(id);
    }
    let mut upstream_call = m.clone();
    if let Err(answer) =
        super::checks::input(cx, &mut log, &mut upstream_call, name, Some((&exposed.server, &exposed.tool))).await
    {
        return answer;
    }
    upstream_call["params"]["name"] = Value::String(exposed.tool.clone());
    log.sent();
    match exchange(cx, remote, s, &upstream_call).await {
        Ok(mut answer) => {
            answer["id"] = id;
            let answer = super::checks::output(&mut log, answer).await;
            redact(answer, &remote.secrets())
        }
        Err(f) => {
            log.ended(f.status().as_u16());
            f.to_jsonrpc(id)
        }
    }
}

/// One request to `remote` in the session the gateway holds with it for `s`, opened on first use. An
/// upstream that forgot its session gets a new one, once.
async fn exchange(cx: &Context, remote: &Remote, s: &Session, m: &Value) -> Result<Value, Failure> {
    match remote.transport() {
        McpTransport::StreamableHttp => {}
        McpTransport::Sse => return super::sse_remote::exchange(cx, remote, s, m).await,
    }
    for _ in 0..2 {
        let upstream_session = match s.upstream(remote.name()) {
            Some(id) => id,
            None => {
                let id = initialize(cx, remote, s).await?;
                s.set_upstream(remote.name(), id.clone());
                // Shared with the other replicas, so that they use this upstream session too.
                if let Err(e) = cx.app.mcp_sessions.save(&cx.app, s).await {
                    tracing::warn!(error = %e, "sharing an MCP session's upstream session failed");
                }
                id
            }
        };
        let fwd = Forwarded { protocol: s.protocol(), last_event_id: None };
        let rb = upstream::request(&cx.app, remote, Method::POST, upstream_session.as_deref(), &fwd).await?;
        match upstream::send(&cx.app, remote, rb.json(m), upstream_session.is_some()).await {
            Ok(resp) => return upstream::response_to(&cx.app, remote.name(), resp, &m["id"]).await,
            Err(Failure::SessionGone { .. }) => s.forget_upstream(remote.name()),
            Err(f) => return Err(f),
        }
    }
    Err(Failure::SessionGone { server: remote.name().to_owned() })
}

/// Opens an upstream session: `initialize`, then `notifications/initialized`. Returns the upstream's id.
async fn initialize(cx: &Context, remote: &Remote, s: &Session) -> Result<Option<String>, Failure> {
    let version = s.protocol().unwrap_or_else(|| PROTOCOL_VERSIONS[0].to_owned());
    let init = init_message(&version);
    let rb = upstream::request(&cx.app, remote, Method::POST, None, &Forwarded::default()).await?;
    let resp = upstream::send(&cx.app, remote, rb.json(&init), false).await?;
    let id = upstream::session_of(&resp);
    let answer = upstream::response_to(&cx.app, remote.name(), resp, &init["id"]).await?;
    let agreed = answer.pointer("/result/protocolVersion").and_then(Value::as_str).map(str::to_owned);
    let fwd = Forwarded { protocol: agreed.or(Some(version)), last_event_id: None };
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let rb = upstream::request(&cx.app, remote, Method::POST, id.as_deref(), &fwd).await?;
    upstream::send(&cx.app, remote, rb.json(&note), id.is_some()).await?;
    Ok(id)
}

/// The gateway's own `initialize`, as the client of a remote server behind a virtual one.
pub fn init_message(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": "gatehouse-init", "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "gatehouse", "version": env!("CARGO_PKG_VERSION")}}})
}
