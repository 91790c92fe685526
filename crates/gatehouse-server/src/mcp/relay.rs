//! What passes from an upstream to the client: each message read, `tools/list` answers filtered to the
//! tools the server's manifest enables, tool calls' answers logged, any upstream credential that a message
//! echoes masked; in a stream, the caller's access checked again before each message against the current
//! published view, so a revoked grant or token ends the stream at its next message.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use gatehouse_providers::openai::{SseDecoder, SseEvent};
use serde_json::Value;

use super::jsonrpc;
use super::log::ToolCall;
use super::table::Remote;
use super::upstream::Failure;
use crate::state::App;

/// Re-checks, against the current view, that the caller may still use the server.
pub struct Guard {
    pub app: App,
    /// The token the caller presented (kept in memory for the stream's life only).
    pub token: Option<String>,
    pub subject: gatehouse_core::Subject,
    pub server: String,
}

impl Guard {
    pub fn allowed(&self) -> bool {
        let view = self.app.published();
        let now = self.app.now();
        let subject = match &self.token {
            Some(t) => match view.snapshot.authenticate(t, now) {
                Ok(p) => p.subject,
                Err(_) => return false,
            },
            None => self.subject.clone(),
        };
        super::may_use(&view, &subject, &self.server, now)
    }
}

/// The state of one exchange with a remote server: what to do with the answers it is waiting for.
pub struct Exchange {
    pub remote: Arc<Remote>,
    /// Ids of `tools/list`, `resources/list`, `resources/templates/list` and `prompts/list` requests,
    /// whose answers are filtered.
    pub lists: HashMap<String, Listing>,
    /// Tool calls waiting for their answer, by id.
    pub calls: HashMap<String, ToolCall>,
}

impl Exchange {
    /// One message from the upstream, as the client may see it.
    pub async fn rewrite(&mut self, mut m: Value) -> Value {
        if jsonrpc::is_response(&m) {
            if let Some(k) = jsonrpc::id_key(&m) {
                if let Some(listing) = self.lists.remove(&k) {
                    listing.filter(&mut m, &self.remote.spec);
                }
                if let Some(mut call) = self.calls.remove(&k) {
                    m = super::checks::output(&mut call, m).await;
                }
            }
        }
        redact(m, &self.remote.secrets())
    }

    /// Every call still waiting ends with `status` (the upstream failed, or stopped answering).
    pub fn end_all(&mut self, status: u16) {
        for (_, mut c) in self.calls.drain() {
            c.ended(status);
        }
    }
}

/// What a list request asked for: its answer keeps only what the manifest enables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Tools,
    Resources,
    Templates,
    Prompts,
}

impl Listing {
    pub fn of(method: &str) -> Option<Listing> {
        match method {
            "tools/list" => Some(Listing::Tools),
            "resources/list" => Some(Listing::Resources),
            "resources/templates/list" => Some(Listing::Templates),
            "prompts/list" => Some(Listing::Prompts),
            _ => None,
        }
    }

    /// The result's list field, and the field of each item the manifest names.
    pub fn fields(self) -> (&'static str, &'static str) {
        match self {
            Listing::Tools => ("tools", "name"),
            Listing::Resources => ("resources", "uri"),
            Listing::Templates => ("resourceTemplates", "uriTemplate"),
            Listing::Prompts => ("prompts", "name"),
        }
    }

    pub fn filter(self, m: &mut Value, spec: &gatehouse_core::spec::McpServerSpec) {
        let (list, key) = self.fields();
        if let Some(Value::Array(items)) = m.get_mut("result").and_then(|r| r.get_mut(list)) {
            items.retain(|t| {
                t.get(key).and_then(Value::as_str).is_some_and(|v| match self {
                    Listing::Tools => spec.enables(v),
                    Listing::Resources => spec.enables_resource(v),
                    Listing::Templates => spec.enables_template(v),
                    Listing::Prompts => spec.enables_prompt(v),
                })
            });
        }
    }
}

/// Keeps in a `tools/list` answer only the tools `keep` accepts.
pub fn filter_tools(m: &mut Value, keep: impl Fn(&str) -> bool) {
    if let Some(Value::Array(tools)) = m.get_mut("result").and_then(|r| r.get_mut("tools")) {
        tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(&keep));
    }
}

/// The message with every occurrence of a credential masked.
pub fn redact(m: Value, secrets: &[String]) -> Value {
    if secrets.is_empty() {
        return m;
    }
    let text = m.to_string();
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return m;
    }
    let masked = secrets.iter().fold(text, |t, s| t.replace(s.as_str(), "****"));
    serde_json::from_str(&masked).unwrap_or(Value::Null)
}

/// One SSE event as the client gets it.
pub fn encode(id: Option<&str>, event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

struct Relay {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    sse: SseDecoder,
    ex: Exchange,
    guard: Guard,
    pending: VecDeque<Bytes>,
    per_chunk: Option<Duration>,
    done: bool,
}

impl Relay {
    async fn event(&mut self, ev: SseEvent) {
        let data = match serde_json::from_str::<Value>(&ev.data) {
            Ok(m) => self.ex.rewrite(m).await.to_string(),
            // Not JSON: passed on as text, still masked.
            Err(_) => match redact(Value::String(ev.data), &self.ex.remote.secrets()) {
                Value::String(s) => s,
                _ => String::new(),
            },
        };
        self.pending.push_back(encode(ev.id.as_deref(), ev.event.as_deref(), &data));
    }

    async fn step(&mut self) {
        let next = match self.per_chunk {
            Some(t) => match tokio::time::timeout(t, self.body.next()).await {
                Ok(n) => n,
                Err(_) => {
                    self.fail(&Failure::Timeout { server: self.ex.remote.name().to_owned() });
                    return;
                }
            },
            None => self.body.next().await,
        };
        match next {
            None => {
                if let Some(ev) = self.sse.finish() {
                    self.event(ev).await;
                }
                self.done = true;
                self.ex.end_all(502);
            }
            Some(Err(e)) => self.fail(&super::upstream::transport(self.ex.remote.name(), e)),
            Some(Ok(chunk)) => {
                for ev in self.sse.feed(&chunk) {
                    if !self.guard.allowed() {
                        // Revoked mid-stream: nothing more reaches the caller.
                        self.done = true;
                        self.ex.end_all(403);
                        return;
                    }
                    self.event(ev).await;
                }
            }
        }
    }

    fn fail(&mut self, f: &Failure) {
        self.done = true;
        let status = f.status().as_u16();
        for (_, mut c) in self.ex.calls.drain() {
            c.ended(status);
        }
        tracing::warn!(error = %f, "an MCP stream broke off");
    }
}

/// Streams the upstream's answer to the client, with `first` (the gateway's own answers) ahead of it.
pub fn stream(
    resp: reqwest::Response,
    ex: Exchange,
    guard: Guard,
    first: Vec<Value>,
    per_chunk: Option<Duration>,
    session: Option<&str>,
) -> Response {
    let pending = first.iter().map(|m| encode(None, Some("message"), &m.to_string())).collect();
    let relay =
        Relay { body: resp.bytes_stream().boxed(), sse: SseDecoder::new(), ex, guard, pending, per_chunk, done: false };
    let body = stream::unfold(relay, |mut r| async move {
        loop {
            if let Some(b) = r.pending.pop_front() {
                return Some((Ok::<Bytes, std::io::Error>(b), r));
            }
            if r.done {
                return None;
            }
            r.step().await;
        }
    });
    event_stream(Body::from_stream(body), session)
}

/// An event stream answer to the client, with the session header.
pub fn event_stream(body: Body, session: Option<&str>) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert(super::upstream::SESSION_HEADER, id);
    }
    resp
}
