//! An MCP server speaking the older HTTP+SSE transport, served here: `GET /sse` opens a stream whose first
//! event names `/messages?session_id=N`; a POST there is answered `202`, and the answer comes on the stream.
//! It records every request (path, Authorization, body). Tools: `add` (reports progress when asked),
//! `drop_db`, `notify` (sends a log message of its own before answering), `hangup` (closes the stream
//! without answering), `slow` (never answers).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const SECRET: &str = "key-sse-secret-1";

#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
pub struct Upstream {
    streams: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
    pub seen: Mutex<Vec<Seen>>,
    next: AtomicU64,
    /// What the endpoint event says, when not the usual path.
    pub endpoint: Mutex<Option<String>>,
}

impl Upstream {
    pub fn calls(&self, tool: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.body["method"] == "tools/call" && s.body["params"]["name"] == tool).count()
    }

    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap().values().filter(|t| !t.is_closed()).count()
    }

    fn note(&self, path: &str, headers: &HeaderMap, body: Value) {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.seen.lock().unwrap().push(Seen { path: path.to_owned(), authorization, body });
    }
}

fn event(m: &Value) -> String {
    format!("event: message\ndata: {m}\n\n")
}

async fn open(State(up): State<Arc<Upstream>>, headers: HeaderMap) -> Response {
    up.note("/sse", &headers, Value::Null);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SECRET}")) {
        return (StatusCode::UNAUTHORIZED, format!("bad credentials, expected {SECRET}")).into_response();
    }
    let id = up.next.fetch_add(1, Ordering::Relaxed).to_string();
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let endpoint = up.endpoint.lock().unwrap().clone().unwrap_or_else(|| format!("/messages?session_id={id}"));
    tx.send(format!("event: endpoint\ndata: {endpoint}\n\n")).unwrap();
    up.streams.lock().unwrap().insert(id, tx);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|s| (Ok::<_, Infallible>(s), rx)) });
    ([("content-type", "text/event-stream")], Body::from_stream(body)).into_response()
}

async fn message(
    State(up): State<Arc<Upstream>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(m): Json<Value>,
) -> Response {
    up.note("/messages", &headers, m.clone());
    let id = q.get("session_id").cloned().unwrap_or_default();
    let Some(tx) = up.streams.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "Could not find session").into_response();
    };
    let rid = m["id"].clone();
    let answer = |result: Value| json!({"jsonrpc": "2.0", "id": rid, "result": result});
    match m["method"].as_str() {
        Some("initialize") => {
            let _ = tx.send(event(&answer(json!({"protocolVersion": "2024-11-05",
                "capabilities": {"tools": {}}, "serverInfo": {"name": "sse-up", "version": "1"}}))));
        }
        Some("tools/list") => {
            let tools: Vec<Value> = ["add", "drop_db", "notify", "hangup", "slow"]
                .iter()
                .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
                .collect();
            let _ = tx.send(event(&answer(json!({"tools": tools}))));
        }
        Some("tools/call") => match m["params"]["name"].as_str() {
            Some("hangup") => {
                up.streams.lock().unwrap().remove(&id);
            }
            Some("slow") => {}
            Some(name) => {
                if let Some(token) = m.pointer("/params/_meta/progressToken") {
                    let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                          "params": {"progressToken": token, "progress": 1, "total": 2}});
                    let _ = tx.send(event(&progress));
                }
                if name == "notify" {
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                                      "params": {"level": "info", "data": "a message of the server's own"}});
                    let _ = tx.send(event(&note));
                }
                let text = format!("{name} done with {SECRET}");
                let _ = tx.send(event(&answer(json!({"content": [{"type": "text", "text": text}]}))));
            }
            None => {}
        },
        Some("ping") => {
            let _ = tx.send(event(&answer(json!({}))));
        }
        _ => {}
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

/// Serves the upstream; returns the URL of its event stream.
pub async fn start() -> (String, Arc<Upstream>) {
    let up = Arc::new(Upstream::default());
    let app = Router::new().route("/sse", get(open)).route("/messages", post(message)).with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sse", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, up)
}
