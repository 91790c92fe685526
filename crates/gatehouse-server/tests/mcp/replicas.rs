//! MCP sessions across replicas: two servers on one database, as behind a load balancer. A session opened
//! on one is used on the other (same owner, same upstream session), refused to anyone else, ended
//! everywhere by a DELETE, and dropped when idle by either one's clock. An upstream over HTTP+SSE, whose
//! event stream lives on the replica that opened it, gets a stream of its own from the other.

use std::sync::Arc;

use gatehouse_core::clock::ManualClock;
use gatehouse_server::{AppState, OsEntropy, ServerConfig};
use serde_json::{json, Value};

use super::{sse_upstream, upstream};
use crate::common::TestServer;

/// A second replica on `s`'s database, with a clock of its own.
struct Replica {
    base: String,
    clock: Arc<ManualClock>,
    app: gatehouse_server::App,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn replica(s: &TestServer) -> Replica {
    let store = gatehouse_store::open(&s.db_url).await.unwrap();
    let clock = Arc::new(ManualClock::new(s.now()));
    let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
    let app = AppState::new(store, clock.clone(), Arc::new(OsEntropy), ServerConfig::default(), key).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    let task = tokio::spawn(async move {
        gatehouse_server::serve(listener, served, std::future::pending()).await.unwrap();
    });
    Replica { base, clock, app, task }
}

async fn rpc(
    base: &str,
    server: &str,
    token: &str,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut rb = reqwest::Client::new()
        .post(format!("{base}/mcp/{server}"))
        .bearer_auth(token)
        .header("accept", "application/json")
        .json(&body);
    if let Some(id) = session {
        rb = rb.header("mcp-session-id", id);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (status, sid, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": {"a": 1, "b": 2}}})
}

#[tokio::test]
async fn mcp_sessions_are_shared_by_replicas_on_one_database() {
    let a = TestServer::start().await;
    let (url, seen) = upstream().await;
    let alice = a.user("alice@example.com", "member").await;
    let bob = a.user("bob@example.com", "member").await;
    let grants = json!([{"subject": "user:alice@example.com", "role": "mcp-server-user"},
                        {"subject": "user:bob@example.com", "role": "mcp-server-user"}]);
    let server = |collaborators: Value| json!({"type": "remote", "name": "up", "url": url, "tools": ["add"], "collaborators": collaborators});
    let r = a.post("/api/v1/mcp-servers", &a.admin, server(grants.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b = replica(&a).await;

    // Opened on A, used on B: the same upstream session, the same filter.
    let (status, sid, body) = rpc(&a.base, "up", &alice, None, init()).await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.unwrap();
    let (status, _, body) = rpc(&b.base, "up", &alice, Some(&sid), list()).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> =
        body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add"]);
    let (status, _, body) = rpc(&b.base, "up", &alice, Some(&sid), call("add")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "done with key-upstream-123");
    let last = seen.lock().unwrap().last().unwrap().0.clone();
    assert_eq!(last["mcp-session-id"], "up-1", "B did not use the upstream session A opened");
    // Nobody else, on either replica.
    for base in [&a.base, &b.base] {
        let (status, _, body) = rpc(base, "up", &bob, Some(&sid), list()).await;
        assert_eq!(status, 404, "{body}");
    }
    // The store holds the id's hash, never the id.
    let store = gatehouse_store::open(&a.db_url).await.unwrap();
    let hash = gatehouse_server::mcp::session::id_hash(&sid);
    assert!(store.mcp_session(&hash).await.unwrap().is_some());
    assert!(store.mcp_session(&sid).await.unwrap().is_none());

    // Revoked on A: once B has the change, the next message there is refused.
    let r = a.put("/api/v1/mcp-servers/up", &a.admin, server(json!([grants[1].clone()]))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // B reloads the access graph when it next writes (propagation without a write is another change's).
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/users", b.base))
        .bearer_auth(&a.admin)
        .json(&json!({"email": "carol@example.com", "display_name": "Carol", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let (status, _, body) = rpc(&b.base, "up", &alice, Some(&sid), list()).await;
    assert_eq!(status, 403, "{body}");

    // Bob's session, opened on B: ended by a DELETE on A, on both (B within its recheck time).
    let (_, sid, _) = rpc(&b.base, "up", &bob, None, init()).await;
    let sid = sid.unwrap();
    let (status, _, _) = rpc(&a.base, "up", &bob, Some(&sid), list()).await;
    assert_eq!(status, 200);
    let r = reqwest::Client::new()
        .delete(format!("{}/mcp/up", a.base))
        .bearer_auth(&bob)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _, _) = rpc(&a.base, "up", &bob, Some(&sid), list()).await;
    assert_eq!(status, 404);
    b.clock.advance(gatehouse_server::mcp::session::RECHECK + time::Duration::seconds(1));
    let (status, _, _) = rpc(&b.base, "up", &bob, Some(&sid), list()).await;
    assert_eq!(status, 404, "a session ended on A lived on on B");

    // Idle: dropped by the clock of the replica that sees it next.
    let (_, sid, _) = rpc(&a.base, "up", &bob, None, init()).await;
    let sid = sid.unwrap();
    let (status, _, _) = rpc(&b.base, "up", &bob, Some(&sid), list()).await;
    assert_eq!(status, 200);
    b.clock.advance(gatehouse_server::mcp::session::IDLE);
    let (status, _, _) = rpc(&b.base, "up", &bob, Some(&sid), list()).await;
    assert_eq!(status, 404, "an idle session lived on");
    assert!(b.app.mcp_sessions.len() <= 1);
}

#[tokio::test]
async fn an_sse_upstream_session_gets_its_own_stream_on_another_replica() {
    let a = TestServer::start().await;
    let (url, up) = sse_upstream::start().await;
    let alice = a.user("alice@example.com", "member").await;
    let r = a
        .post(
            "/api/v1/mcp-servers",
            &a.admin,
            json!({"type": "remote", "name": "old", "url": url, "transport": "sse",
                   "auth": {"type": "bearer", "token": sse_upstream::SECRET},
                   "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b = replica(&a).await;

    let (status, sid, body) = rpc(&a.base, "old", &alice, None, init()).await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.unwrap();
    assert_eq!(up.open_streams(), 1);
    // On B: a stream of its own, initialized in the session's protocol version, then the call.
    let (status, _, body) = rpc(&b.base, "old", &alice, Some(&sid), call("add")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("result").is_some(), "{body}");
    assert_eq!(up.open_streams(), 2);
    assert_eq!(up.calls("add"), 1);
    let inits: Vec<Value> = up
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body["method"] == "initialize")
        .map(|s| s.body["params"]["protocolVersion"].clone())
        .collect();
    assert_eq!(inits, [json!("2024-11-05"), json!("2024-11-05")]);
    // Both replicas keep serving it, each on its own stream.
    let (status, _, body) = rpc(&a.base, "old", &alice, Some(&sid), call("add")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = rpc(&b.base, "old", &alice, Some(&sid), list()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.open_streams(), 2);
}
