//! The MCP gateway (`/mcp/<server>`) against a real Streamable HTTP upstream served here, which records
//! every request it gets.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::TestServer;

mod oauth;
mod sse;
mod sse_upstream;

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// An MCP server that answers in JSON, gives the session id `up-1`, and has tools `add` and `drop_db`.
async fn upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, Json(m): Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((headers, m.clone()));
                let id = m["id"].clone();
                let result = match m["method"].as_str() {
                    Some("initialize") => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                                  "serverInfo": {"name": "up", "version": "1"}}),
                    Some("tools/list") => json!({"tools": [{"name": "add", "inputSchema": {"type": "object"}},
                                                           {"name": "drop_db", "inputSchema": {"type": "object"}}]}),
                    Some("tools/call") => json!({"content": [{"type": "text", "text": "done with key-upstream-123"}]}),
                    _ => return ([("mcp-session-id", "up-1")], axum::http::StatusCode::ACCEPTED).into_response(),
                };
                let body = json!({"jsonrpc": "2.0", "id": id, "result": result});
                ([("mcp-session-id", "up-1")], Json(body)).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

use axum::response::IntoResponse;

async fn rpc(s: &TestServer, token: Option<&str>, session: Option<&str>, body: Value) -> (u16, HeaderMap, Value) {
    let mut rb = reqwest::Client::new().post(format!("{}/mcp/up", s.base)).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(id) = session {
        rb = rb.header("mcp-session-id", id);
    }
    let r = rb.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}})
}

#[tokio::test]
async fn mcp_sessions_are_the_callers_own_and_tools_are_filtered() {
    let s = TestServer::start().await;
    let (url, seen) = upstream().await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "remote", "name": "up", "url": url, "tools": ["add"],
                   "auth": {"type": "bearer", "token": "key-upstream-123"},
                   "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"},
                                     {"subject": "user:bob@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    let (status, headers, body) = rpc(&s, Some(&alice), None, init()).await;
    assert_eq!(status, 200, "{body}");
    let sid = headers["mcp-session-id"].to_str().unwrap().to_owned();
    assert_ne!(sid, "up-1");
    assert_eq!(sid.len(), 64);

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, _, body) = rpc(&s, Some(&alice), Some(&sid), list.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["result"]["tools"][0]["name"], "add");

    // Another caller, even one who may use the server, cannot use alice's session.
    let (status, _, body) = rpc(&s, Some(&bob), Some(&sid), list.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let before = seen.lock().unwrap().len();
    let call = |name: &str| json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name}});
    let (status, _, body) = rpc(&s, Some(&alice), Some(&sid), call("drop_db")).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["message"], "tool drop_db is not available on MCP server up");
    assert_eq!(seen.lock().unwrap().len(), before, "a filtered call reached the upstream");

    let (_, _, body) = rpc(&s, Some(&alice), Some(&sid), call("add")).await;
    assert_eq!(body["result"]["content"][0]["text"], "done with ****");

    // Upstream: its own credential and session, never the caller's token or the gateway's session id.
    for (h, _) in seen.lock().unwrap().iter() {
        assert_eq!(h["authorization"], "Bearer key-upstream-123");
        assert!(h.get("mcp-session-id").is_none_or(|v| v == "up-1"));
    }

    // Revoking the grant stops the next message of the open session.
    let r = s
        .put(
            "/api/v1/mcp-servers/up",
            &s.admin,
            json!({"type": "remote", "name": "up", "url": url, "tools": ["add"],
                   "collaborators": [{"subject": "user:bob@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (status, _, body) = rpc(&s, Some(&alice), Some(&sid), list).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn mcp_refusals_and_discovery() {
    let s = TestServer::start().await;
    let carol = s.user("carol@example.com", "member").await;
    let (status, _, a) = rpc(&s, Some(&carol), None, init()).await;
    assert_eq!(status, 403);
    assert_eq!(a["error"]["code"], "mcp_server_access_denied");

    let (status, headers, _) = rpc(&s, None, None, init()).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    let url = challenge.strip_prefix("Bearer resource_metadata=\"").unwrap().trim_end_matches('"');
    assert!(url.ends_with("/.well-known/oauth-protected-resource/mcp/up"), "{url}");
    let meta: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(meta["resource"], format!("{}/mcp/up", s.base));

    // Malformed JSON-RPC, for a caller who may use the server (admin): a JSON-RPC parse error.
    let r = reqwest::Client::new()
        .post(format!("{}/mcp/up", s.base))
        .bearer_auth(&s.admin)
        .body("{nope")
        .send()
        .await
        .unwrap();
    // The server does not exist: admin is refused like anyone else would be for a missing server.
    assert_eq!(r.status().as_u16(), 403);
}
