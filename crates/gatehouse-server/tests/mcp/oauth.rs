//! OAuth2 client credentials for an upstream MCP server: a token endpoint and an MCP server served here.
//! The token endpoint issues `tok-00000001`, `tok-00000002`, ... (each valid for `LIFETIME` seconds, by what it says); the
//! MCP server accepts any token it issued and has not revoked.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::TestServer;

const CLIENT_ID: &str = "gatehouse-client";
const CLIENT_SECRET: &str = "cs-secret-1";
/// `Basic base64("gatehouse-client:cs-secret-1")`.
const BASIC: &str = "Basic Z2F0ZWhvdXNlLWNsaWVudDpjcy1zZWNyZXQtMQ==";
const LIFETIME: i64 = 300;

#[derive(Default)]
struct Auth {
    issued: AtomicU64,
    /// Every token request's form.
    forms: Mutex<Vec<HashMap<String, String>>>,
    revoked: Mutex<HashSet<String>>,
    /// The Authorization header of every MCP request, and the status it got.
    seen: Mutex<Vec<(String, u16)>>,
}

/// The n-th token issued (long enough to be masked when a server echoes it).
fn tok(n: u64) -> String {
    format!("tok-{n:08}")
}

fn form(body: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

async fn token(State(a): State<Arc<Auth>>, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    a.forms.lock().unwrap().push(f.clone());
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(BASIC);
    let in_body = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    if !(basic || in_body) {
        // A careless endpoint that echoes what it was sent.
        let echoed = format!("bad client {:?} {:?}", headers.get("authorization"), f.get("client_secret"));
        let body = json!({"error": "invalid_client", "error_description": echoed});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let n = a.issued.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"access_token": tok(n), "token_type": "bearer", "expires_in": LIFETIME})).into_response()
}

async fn mcp(State(a): State<Arc<Auth>>, headers: HeaderMap, Json(m): Json<Value>) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    let issued = a.issued.load(Ordering::SeqCst);
    let known = token.strip_prefix("tok-").and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n <= issued);
    let ok = known && !a.revoked.lock().unwrap().contains(token);
    a.seen.lock().unwrap().push((auth.clone(), if ok { 200 } else { 401 }));
    if !ok {
        return (StatusCode::UNAUTHORIZED, format!("token {auth} refused")).into_response();
    }
    let result = match m["method"].as_str() {
        Some("initialize") => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                      "serverInfo": {"name": "guarded", "version": "1"}}),
        Some("tools/call") => json!({"content": [{"type": "text", "text": format!("called with {token}")}]}),
        _ => return ([("mcp-session-id", "up-1")], StatusCode::ACCEPTED).into_response(),
    };
    ([("mcp-session-id", "up-1")], Json(json!({"jsonrpc": "2.0", "id": m["id"], "result": result}))).into_response()
}

async fn start() -> (String, Arc<Auth>) {
    let a = Arc::new(Auth::default());
    let app = Router::new().route("/token", post(token)).route("/mcp", post(mcp)).with_state(a.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, a)
}

fn manifest(base: &str, secret: &str, client_auth: &str) -> Value {
    json!({"type": "remote", "name": "guarded", "url": format!("{base}/mcp"),
           "auth": {"type": "oauth2-client-credentials", "token_url": format!("{base}/token"),
                    "client_id": CLIENT_ID, "client_secret": secret, "scope": "mcp:tools",
                    "audience": "https://mcp.example.com", "client_auth": client_auth},
           "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}]})
}

async fn rpc(s: &TestServer, token: &str, session: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
    let mut rb = reqwest::Client::new().post(format!("{}/mcp/guarded", s.base)).bearer_auth(token).json(&body);
    if let Some(id) = session {
        rb = rb.header("mcp-session-id", id);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (status, sid, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn call(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "add", "arguments": {}}})
}

#[tokio::test]
async fn mcp_oauth2_client_credentials_fetched_cached_refreshed_and_retried() {
    let s = TestServer::start().await;
    let (base, auth) = start().await;
    let alice = s.user("alice@example.com", "member").await;
    let r = s.post("/api/v1/mcp-servers", &s.admin, manifest(&base, CLIENT_SECRET, "basic")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["auth_configured"], true);
    // The secret is stored sealed and never read back.
    for path in ["/api/v1/mcp-servers/guarded", "/api/v1/export?type=mcp-server/remote"] {
        let r = s.get(path, &s.admin).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert!(!r.body.to_string().contains(CLIENT_SECRET), "{path}: {:?}", r.body);
    }

    // One token for many calls.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}});
    let (status, sid, body) = rpc(&s, &alice, None, init).await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.unwrap();
    for i in 1..=5 {
        let (status, _, body) = rpc(&s, &alice, Some(&sid), call(i)).await;
        assert_eq!(status, 200, "{body}");
        // The token is the server's credential too: echoed back, it is masked.
        assert_eq!(body["result"]["content"][0]["text"], "called with ****");
    }
    assert_eq!(auth.issued.load(Ordering::SeqCst), 1);
    let f = auth.forms.lock().unwrap()[0].clone();
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["scope"], "mcp:tools");
    assert_eq!(f["audience"], "https://mcp.example.com");
    assert!(!f.contains_key("client_secret"), "basic client authentication puts no secret in the body");
    assert!(auth.seen.lock().unwrap().iter().all(|(a, st)| *a == format!("Bearer {}", tok(1)) && *st == 200));

    // Still fresh a while later; renewed shortly before it expires (by the app's clock).
    s.advance(100);
    rpc(&s, &alice, Some(&sid), call(6)).await;
    assert_eq!(auth.issued.load(Ordering::SeqCst), 1);
    s.advance(LIFETIME - 100 - 30);
    let (status, _, _) = rpc(&s, &alice, Some(&sid), call(7)).await;
    assert_eq!(status, 200);
    assert_eq!(auth.issued.load(Ordering::SeqCst), 2);
    assert_eq!(auth.seen.lock().unwrap().last().unwrap().0, format!("Bearer {}", tok(2)));

    // Many calls at once when the token is stale: one fetch.
    s.advance(LIFETIME);
    let calls = (10..20).map(|i| {
        let (s, alice, sid) = (&s, &alice, &sid);
        async move { rpc(s, alice, Some(sid), call(i)).await.0 }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|st| *st == 200), "{statuses:?}");
    assert_eq!(auth.issued.load(Ordering::SeqCst), 3);

    // The server stops accepting the token before it expires: one retry with a new one.
    auth.revoked.lock().unwrap().insert(tok(3));
    let (status, _, body) = rpc(&s, &alice, Some(&sid), call(30)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(auth.issued.load(Ordering::SeqCst), 4);
    let seen = auth.seen.lock().unwrap().clone();
    assert_eq!(seen[seen.len() - 2], (format!("Bearer {}", tok(3)), 401));
    assert_eq!(seen[seen.len() - 1], (format!("Bearer {}", tok(4)), 200));
    // A server that refuses every token: one retry only, then the 401 is reported.
    for n in 5..=6 {
        auth.revoked.lock().unwrap().insert(tok(n));
    }
    auth.revoked.lock().unwrap().insert(tok(4));
    let before = auth.seen.lock().unwrap().len();
    let (status, _, body) = rpc(&s, &alice, Some(&sid), call(31)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["message"], "MCP server guarded answered HTTP 401");
    assert_eq!(auth.seen.lock().unwrap().len(), before + 2);
    auth.revoked.lock().unwrap().clear();

    // Wrong client credentials: a 502 naming the server and the endpoint's status and error code, and
    // nothing of what the endpoint echoed.
    let r = s.put("/api/v1/mcp-servers/guarded", &s.admin, manifest(&base, "cs-wrong-secret", "basic")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (status, _, body) = rpc(&s, &alice, Some(&sid), call(40)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["error"]["message"],
        "MCP server guarded could not get an access token: its token endpoint answered HTTP 401 (invalid_client)"
    );
    assert_eq!(body["error"]["data"]["code"], "upstream_auth_failed");
    let text = body.to_string();
    assert!(!text.contains("cs-wrong-secret") && !text.contains("Basic") && !text.contains("bad client"), "{text}");

    // The client secret in the form body instead, when the endpoint wants it there.
    let r = s.put("/api/v1/mcp-servers/guarded", &s.admin, manifest(&base, CLIENT_SECRET, "body")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (status, _, body) = rpc(&s, &alice, Some(&sid), call(41)).await;
    assert_eq!(status, 200, "{body}");
    let f = auth.forms.lock().unwrap().last().unwrap().clone();
    assert_eq!((f["client_id"].as_str(), f["client_secret"].as_str()), (CLIENT_ID, CLIENT_SECRET));

    // The failed call is in the request log as an upstream failure.
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.iter().any(|r| r["status"] == 502) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(rows.iter().any(|r| r["model"] == "guarded/add" && r["status"] == 502), "{rows:?}");
    assert!(!serde_json::to_string(&rows).unwrap().contains("secret-1"));
}
