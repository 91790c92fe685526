//! The MCP gateway (`/mcp/<server>`) against a real Streamable HTTP upstream served here, which records
//! every request it gets.

mod guard;
mod limits;
mod replicas;
mod resources;
mod tools;

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

/// Upstreams that fail: one that is slow to answer, one that answers HTML, one that answers broken JSON,
/// one that answers 500 with its credential in the body. Returns their base URL.
async fn misbehaving() -> String {
    use axum::http::StatusCode;
    let app = Router::new()
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Json(json!({"jsonrpc": "2.0", "id": 1, "result": {}}))
            }),
        )
        .route("/html", post(|| async { ([("content-type", "text/html")], "<html>hello</html>") }))
        .route("/broken", post(|| async { ([("content-type", "application/json")], "{\"jsonrpc\": \"2.0\", ") }))
        .route("/failing", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "failed with key-upstream-123") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn remote(s: &TestServer, name: &str, url: &str) {
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "remote", "name": name, "url": url, "auth": {"type": "bearer", "token": "key-upstream-123"},
                   "collaborators": [{"subject": "user:dana@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn post_to(s: &TestServer, server: &str, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/mcp/{server}", s.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn mcp_refusals_and_discovery() {
    let config = gatehouse_server::ServerConfig {
        body_limit: 64 * 1024,
        upstream_first_byte_timeout: std::time::Duration::from_millis(500),
        upstream_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let (url, seen) = upstream().await;
    let dana = s.user("dana@example.com", "member").await;
    let carol = s.user("carol@example.com", "member").await;
    remote(&s, "up", &url).await;

    // Refused alike whether or not the server exists; no token: a 401 pointing at the metadata document.
    for server in ["up", "nosuch"] {
        let (status, a) = post_to(&s, server, &carol, init().to_string()).await;
        assert_eq!(status, 403, "{a}");
        assert_eq!(a["error"]["code"], "mcp_server_access_denied");
    }
    let (status, headers, _) = rpc(&s, None, None, init()).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    let meta_url = challenge.strip_prefix("Bearer resource_metadata=\"").unwrap().trim_end_matches('"');
    assert!(meta_url.ends_with("/.well-known/oauth-protected-resource/mcp/up"), "{meta_url}");
    let meta: Value = reqwest::get(meta_url).await.unwrap().json().await.unwrap();
    assert_eq!(meta["resource"], format!("{}/mcp/up", s.base));

    // Malformed messages to a server the caller may use: JSON-RPC errors, and nothing reaches the upstream.
    for (body, code, message) in [
        ("{nope", -32700, "the body is not JSON: key must be a string at line 1 column 2"),
        ("[]", -32600, "an empty batch"),
        (
            r#"{"id": 1, "method": "ping"}"#,
            -32600,
            "message 0 is not a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")",
        ),
        (
            r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}, 7]"#,
            -32600,
            "message 1 is not a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")",
        ),
    ] {
        let (status, a) = post_to(&s, "up", &dana, body).await;
        assert_eq!(status, 400, "{body}: {a}");
        assert_eq!(a["jsonrpc"], "2.0", "{a}");
        assert_eq!(a["id"], Value::Null);
        assert_eq!(a["error"]["code"], code, "{body}: {a}");
        assert_eq!(a["error"]["message"], message, "{body}: {a}");
    }
    // A message over the size limit: 413, before anything is parsed or sent.
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                     "params": {"name": "add", "arguments": {"x": "a".repeat(70 * 1024)}}});
    let (status, a) = post_to(&s, "up", &dana, big.to_string()).await;
    assert_eq!(status, 413, "{a}");
    assert_eq!(a["error"]["code"], "body_too_large");
    assert!(seen.lock().unwrap().is_empty(), "a refused message reached the upstream");

    // Unknown methods on a virtual server: -32601, answered by the gateway.
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "virtual", "name": "v", "tools": [{"server": "up", "tool": "add"}],
                   "collaborators": [{"subject": "user:dana@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r =
        reqwest::Client::new().post(format!("{}/mcp/v", s.base)).bearer_auth(&dana).json(&init()).send().await.unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let ask = |body: Value| {
        let (dana, sid, base) = (dana.clone(), sid.clone(), s.base.clone());
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/mcp/v"))
                .bearer_auth(&dana)
                .header("mcp-session-id", &sid)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let a = ask(json!({"jsonrpc": "2.0", "id": 9, "method": "logging/setLevel", "params": {"level": "info"}})).await;
    assert_eq!(a["id"], 9);
    assert_eq!(a["error"]["code"], -32601);
    assert_eq!(
        a["error"]["message"],
        "logging/setLevel is not served by virtual MCP server v: only tools/list and tools/call"
    );
    // It exposes tools only: no resources or prompts to list, none to read.
    let a = ask(json!({"jsonrpc": "2.0", "id": 10, "method": "resources/list"})).await;
    assert_eq!(a["result"], json!({"resources": []}), "{a}");
    let a = ask(json!({"jsonrpc": "2.0", "id": 11, "method": "prompts/list"})).await;
    assert_eq!(a["result"], json!({"prompts": []}), "{a}");
    let a = ask(json!({"jsonrpc": "2.0", "id": 12, "method": "resources/templates/list"})).await;
    assert_eq!(a["result"], json!({"resourceTemplates": []}), "{a}");
    let a = ask(json!({"jsonrpc": "2.0", "id": 13, "method": "resources/read", "params": {"uri": "file:///x"}})).await;
    assert_eq!(a["error"]["message"], "resource file:///x is not available on MCP server v", "{a}");
    let a = ask(json!({"jsonrpc": "2.0", "id": 14, "method": "prompts/get", "params": {"name": "p"}})).await;
    assert_eq!(a["error"]["data"]["code"], "prompt_not_available", "{a}");
    assert!(seen.lock().unwrap().is_empty(), "the virtual server's refusal reached the upstream");

    // Upstreams that fail: each a JSON-RPC error naming the server and saying what happened.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", l.local_addr().unwrap())
    };
    let bad = misbehaving().await;
    remote(&s, "dead", &dead).await;
    remote(&s, "slow", &format!("{bad}/slow")).await;
    remote(&s, "html", &format!("{bad}/html")).await;
    remote(&s, "broken", &format!("{bad}/broken")).await;
    remote(&s, "failing", &format!("{bad}/failing")).await;
    let ping = json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}).to_string();
    for (server, status, code, message) in [
        (
            "dead",
            502,
            "upstream_failed",
            "MCP server dead could not be reached: could not connect: Connection refused (os error 111)",
        ),
        ("slow", 504, "upstream_timeout", "MCP server slow did not answer in time"),
        (
            "html",
            502,
            "upstream_malformed",
            "MCP server html answered something that is not MCP: content type \"text/html\"",
        ),
        (
            "broken",
            502,
            "upstream_malformed",
            "MCP server broken answered something that is not MCP: EOF while parsing a value at line 1 column 19",
        ),
        ("failing", 502, "upstream_failed", "MCP server failing answered HTTP 500"),
    ] {
        let started = std::time::Instant::now();
        let (got, a) = post_to(&s, server, &dana, ping.clone()).await;
        assert_eq!(got, status, "{server}: {a}");
        assert_eq!(a["id"], 4, "{server}: {a}");
        assert_eq!(a["error"]["code"], -32603, "{server}: {a}");
        assert_eq!(a["error"]["data"]["code"], code, "{server}: {a}");
        assert_eq!(a["error"]["message"], message, "{server}: {a}");
        assert!(!a.to_string().contains("key-upstream-123") && !a.to_string().contains("127.0.0.1"), "{a}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "{server} took {:?}", started.elapsed());
    }
    // The gateway keeps serving.
    let add = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add"}});
    let (status, a) = post_to(&s, "up", &dana, add.to_string()).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["result"]["content"][0]["text"], "done with ****", "{a}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}
