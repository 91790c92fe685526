//! A minimal MCP server over Streamable HTTP at `POST /mcp`, for the MCP gateway's benchmark: stateless
//! (it issues no session and needs none), every answer whole JSON. It requires a bearer token (any), lists
//! the tools `echo` and `add`, and calls them: `echo` answers `echo: <text>`, `add` the sum of `a` and `b`.
//! Notifications and responses are accepted with `202`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::{Endpoint, Shared};

const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

pub(crate) async fn post(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.begin(Endpoint::Mcp, &method, &uri, &headers, &body);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty());
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "a bearer token is required").into_response();
    }
    let Ok(m) = serde_json::from_slice::<Value>(&body) else {
        return error(Value::Null, -32700, "parse error");
    };
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    let result = match m.get("method").and_then(Value::as_str) {
        None => return StatusCode::ACCEPTED.into_response(),
        Some(_) if id.is_null() => return StatusCode::ACCEPTED.into_response(),
        Some("initialize") => {
            let asked = m.pointer("/params/protocolVersion").and_then(Value::as_str);
            let version = asked.filter(|v| PROTOCOL_VERSIONS.contains(v)).unwrap_or(PROTOCOL_VERSIONS[0]);
            json!({"protocolVersion": version, "capabilities": {"tools": {"listChanged": false}},
                   "serverInfo": {"name": "gatehouse-mock-upstream", "version": env!("CARGO_PKG_VERSION")}})
        }
        Some("ping") => json!({}),
        Some("tools/list") => json!({"tools": [
            {"name": "echo", "description": "Echoes the text.",
             "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
            {"name": "add", "description": "Adds two numbers.",
             "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                             "required": ["a", "b"]}}
        ]}),
        Some("tools/call") => {
            let args = m.pointer("/params/arguments").cloned().unwrap_or(Value::Null);
            let text = match m.pointer("/params/name").and_then(Value::as_str) {
                Some("echo") => format!("echo: {}", args.get("text").and_then(Value::as_str).unwrap_or("")),
                Some("add") => {
                    let n = |k: &str| args.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                    format!("{}", n("a") + n("b"))
                }
                _ => return error(id, -32602, "unknown tool"),
            };
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        Some(_) => return error(id, -32601, "method not found"),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn error(id: Value, code: i64, message: &str) -> Response {
    Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})).into_response()
}
