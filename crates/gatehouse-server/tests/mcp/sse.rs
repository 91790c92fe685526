//! The MCP gateway in front of a server speaking the older HTTP+SSE transport: clients speak Streamable HTTP
//! to the gateway, which holds the server's event stream for each session.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::sse_upstream::{self, SECRET};
use crate::common::TestServer;

struct Answer {
    status: u16,
    session: Option<String>,
    content_type: String,
    /// The JSON body, or every message of an event stream.
    messages: Vec<Value>,
}

async fn send(s: &TestServer, server: &str, token: &str, session: Option<&str>, stream: bool, body: Value) -> Answer {
    let accept = if stream { "application/json, text/event-stream" } else { "application/json" };
    let mut rb = reqwest::Client::new()
        .post(format!("{}/mcp/{server}", s.base))
        .bearer_auth(token)
        .header("accept", accept)
        .json(&body);
    if let Some(id) = session {
        rb = rb.header("mcp-session-id", id);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let session = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = r.text().await.unwrap();
    let messages = if content_type.starts_with("text/event-stream") {
        events(&text)
    } else if text.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_str(&text).unwrap_or(Value::String(text)) {
            Value::Array(items) => items,
            other => vec![other],
        }
    };
    Answer { status, session, content_type, messages }
}

fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).unwrap())
        })
        .collect()
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

fn call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

async fn server(s: &TestServer, name: &str, url: &str, users: &[&str]) {
    let collaborators: Vec<Value> =
        users.iter().map(|u| json!({"subject": format!("user:{u}"), "role": "mcp-server-user"})).collect();
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "remote", "name": name, "url": url, "transport": "sse",
                   "tools": ["add", "notify", "hangup", "slow"],
                   "auth": {"type": "bearer", "token": SECRET}, "collaborators": collaborators}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn mcp_sse_upstream_sessions_streams_and_filtering() {
    let s = TestServer::start().await;
    let (url, up) = sse_upstream::start().await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    server(&s, "old", &url, &["alice@example.com", "bob@example.com"]).await;

    // initialize opens the server's event stream; the gateway's session holds it.
    let a = send(&s, "old", &alice, None, false, init()).await;
    assert_eq!(a.status, 200, "{:?}", a.messages);
    assert_eq!(a.messages[0]["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(a.messages[0]["id"], 1);
    let sid = a.session.unwrap();
    assert_eq!(sid.len(), 64);
    assert_eq!(up.open_streams(), 1);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(send(&s, "old", &alice, Some(&sid), false, note).await.status, 202);

    // JSON answers, the list filtered by the manifest.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let a = send(&s, "old", &alice, Some(&sid), false, list.clone()).await;
    assert_eq!(a.status, 200);
    assert!(a.content_type.starts_with("application/json"));
    let names: Vec<&str> =
        a.messages[0]["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add", "notify", "hangup", "slow"]);

    // A stream for a client that accepts one: the call's progress, then its answer, masked.
    let mut with_progress = call(3, "add");
    with_progress["params"]["_meta"] = json!({"progressToken": "p-3"});
    let a = send(&s, "old", &alice, Some(&sid), true, with_progress).await;
    assert_eq!(a.status, 200);
    assert!(a.content_type.starts_with("text/event-stream"), "{}", a.content_type);
    assert_eq!(a.messages.len(), 2, "{:?}", a.messages);
    assert_eq!(a.messages[0]["method"], "notifications/progress");
    assert_eq!(a.messages[0]["params"]["progressToken"], "p-3");
    assert_eq!(a.messages[1]["id"], 3);
    assert_eq!(a.messages[1]["result"]["content"][0]["text"], "add done with ****");

    // A tool outside the manifest's list never reaches the server.
    let a = send(&s, "old", &alice, Some(&sid), false, call(4, "drop_db")).await;
    assert_eq!(a.messages[0]["error"]["message"], "tool drop_db is not available on MCP server old");
    assert_eq!(up.calls("drop_db"), 0);

    // The server's own messages reach the client's GET stream.
    let get = reqwest::Client::new()
        .get(format!("{}/mcp/old", s.base))
        .bearer_auth(&alice)
        .header("mcp-session-id", &sid)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let mut stream = get.bytes_stream();
    let a = send(&s, "old", &alice, Some(&sid), false, call(5, "notify")).await;
    assert_eq!(a.messages[0]["result"]["content"][0]["text"], "notify done with ****");
    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
    let got = events(std::str::from_utf8(&chunk).unwrap());
    assert_eq!(got[0]["method"], "notifications/message", "{got:?}");
    drop(stream);

    // The session is alice's alone.
    let a = send(&s, "old", &bob, Some(&sid), false, list.clone()).await;
    assert_eq!(a.status, 404);
    // Without a session, a server reached over SSE cannot be used (its stream is the session).
    let a = send(&s, "old", &alice, None, false, list.clone()).await;
    assert_eq!(a.status, 400);

    // The server only ever saw its own credential.
    for seen in up.seen.lock().unwrap().iter() {
        assert_eq!(seen.authorization.as_deref(), Some(format!("Bearer {SECRET}").as_str()), "{seen:?}");
    }
    assert!(up.seen.lock().unwrap().iter().all(|x| !x.body.to_string().contains(&alice)));

    // The server drops the stream while a call waits: the call fails saying so, and the session is over.
    let a = send(&s, "old", &alice, Some(&sid), false, call(6, "hangup")).await;
    assert_eq!(a.status, 502, "{:?}", a.messages);
    assert_eq!(a.messages[0]["error"]["data"]["code"], "upstream_failed");
    assert_eq!(
        a.messages[0]["error"]["message"],
        "MCP server old could not be reached: its event stream ended before the answer"
    );
    let a = send(&s, "old", &alice, Some(&sid), false, list.clone()).await;
    assert_eq!(a.status, 404);

    // DELETE closes the server's stream.
    let a = send(&s, "old", &bob, None, false, init()).await;
    let bob_sid = a.session.unwrap();
    let streams = up.open_streams();
    let r = reqwest::Client::new()
        .delete(format!("{}/mcp/old", s.base))
        .bearer_auth(&bob)
        .header("mcp-session-id", &bob_sid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for _ in 0..100 {
        if up.open_streams() < streams {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.open_streams(), streams - 1);

    // Tool calls are logged like any other.
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged: Vec<(String, i64)> =
        rows.iter().map(|r| (r["model"].as_str().unwrap().to_owned(), r["status"].as_i64().unwrap())).collect();
    for expected in [("old/add", 200), ("old/drop_db", 403), ("old/notify", 200), ("old/hangup", 502)] {
        assert!(logged.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} not in {logged:?}");
    }
    // With the sizes of the call's message and of the server's answer.
    let notify = rows.iter().find(|r| r["model"] == "old/notify").unwrap();
    let answer = json!({"jsonrpc": "2.0", "id": 5,
                        "result": {"content": [{"type": "text", "text": format!("notify done with {SECRET}")}]}});
    assert_eq!(notify["request_bytes"].as_u64(), Some(call(5, "notify").to_string().len() as u64));
    assert_eq!(notify["response_bytes"].as_u64(), Some(answer.to_string().len() as u64));
    let refused = rows.iter().find(|r| r["model"] == "old/drop_db").unwrap();
    assert!(refused["request_bytes"].as_u64().is_some() && refused["response_bytes"].is_null(), "{refused}");
}

#[tokio::test]
async fn mcp_sse_upstream_behind_a_virtual_server_and_its_failures() {
    let config = gatehouse_server::ServerConfig {
        upstream_timeout: Duration::from_millis(800),
        upstream_first_byte_timeout: Duration::from_millis(800),
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let (url, up) = sse_upstream::start().await;
    let carol = s.user("carol@example.com", "member").await;
    server(&s, "old", &url, &[]).await;
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "virtual", "name": "v", "tools": [{"server": "old", "tool": "add", "as": "plus"},
                                                             {"server": "old", "tool": "slow"}],
                   "collaborators": [{"subject": "user:carol@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let a = send(&s, "v", &carol, None, false, init()).await;
    let sid = a.session.unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let a = send(&s, "v", &carol, Some(&sid), false, list).await;
    let names: Vec<&str> =
        a.messages[0]["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["plus", "old__slow"]);
    let a = send(&s, "v", &carol, Some(&sid), false, call(3, "plus")).await;
    assert_eq!(a.messages[0]["id"], 3);
    assert_eq!(a.messages[0]["result"]["content"][0]["text"], "add done with ****");
    // One stream for the virtual session's calls.
    assert_eq!(up.seen.lock().unwrap().iter().filter(|x| x.path == "/sse").count(), 1);
    // A server that never answers: a timeout naming the server, and the gateway goes on serving.
    let a = send(&s, "v", &carol, Some(&sid), false, call(4, "old__slow")).await;
    assert_eq!(a.messages[0]["error"]["data"]["code"], "upstream_timeout", "{:?}", a.messages);
    assert_eq!(a.messages[0]["error"]["message"], "MCP server old did not answer in time");
    let a = send(&s, "v", &carol, Some(&sid), false, call(5, "plus")).await;
    assert_eq!(a.messages[0]["result"]["content"][0]["text"], "add done with ****");

    // An endpoint on another origin is refused: the server's credentials would go there.
    *up.endpoint.lock().unwrap() = Some("http://127.0.0.2:9/steal".into());
    let a = send(&s, "old", &s.admin, None, false, init()).await;
    assert_eq!(a.status, 502, "{:?}", a.messages);
    assert_eq!(
        a.messages[0]["error"]["message"],
        "MCP server old answered something that is not MCP: its endpoint is on another origin"
    );
    *up.endpoint.lock().unwrap() = None;
    // Wrong credentials: the server's 401 is reported by status, never with its body (which echoes them).
    let r = s
        .put(
            "/api/v1/mcp-servers/old",
            &s.admin,
            json!({"type": "remote", "name": "old", "url": url, "transport": "sse",
                   "auth": {"type": "bearer", "token": "wrong-token-1"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = send(&s, "old", &s.admin, None, false, init()).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.messages[0]["error"]["message"], "MCP server old answered HTTP 401");
    assert!(!serde_json::to_string(&a.messages).unwrap().contains(SECRET));
}
