//! The older HTTP+SSE transport (MCP 2024-11-05) to an upstream. The gateway opens the server's event
//! stream (GET); its first event, `endpoint`, names where messages are POSTed; every answer and every
//! message of the server's own then comes back on that one stream. A [`Link`] is one such stream: it is the
//! upstream session, held by one gateway session, and closes when that session is dropped. A task reads
//! the stream and routes each message: an answer to the request waiting for its id, a progress
//! notification to the request whose progress token it names, anything else to the client's own stream
//! (its GET), or, with none open, to a POST answered as a stream, or to a short backlog.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::Method;
use futures_util::stream::{BoxStream, StreamExt};
use gatehouse_providers::openai::{SseDecoder, SseEvent};
use serde_json::Value;
use tokio::sync::mpsc;

use super::jsonrpc;
use super::table::Remote;
use super::upstream::{self, Failure, Forwarded, Kind};
use crate::state::App;

/// Messages of the server's own kept for a client that has no stream open; older ones are dropped.
const BACKLOG: usize = 256;
/// Messages queued for one waiting POST, or for the client's stream.
const QUEUE: usize = 64;
/// The most bytes read before the `endpoint` event.
const MAX_PREAMBLE: usize = 64 * 1024;
/// The most of a POST's answer read (the answer to a message is `202 Accepted`; its body means nothing).
const MAX_ACK: usize = 64 * 1024;

/// One open event stream to a server.
pub struct Link {
    shared: Arc<Shared>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
        // Requests still waiting learn now that no answer will come, rather than at their timeout.
        self.shared.end();
    }
}

struct Shared {
    server: String,
    /// Where messages are POSTed: on the server's own origin (its credentials go there).
    endpoint: reqwest::Url,
    /// For the gateway's own requests (a virtual server's), ids no client can have chosen.
    next_id: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Requests waiting, by id key, to where their answer goes.
    waiting: HashMap<String, Sink>,
    /// Progress tokens (as JSON text) of requests waiting, to the request's id key.
    progress: HashMap<String, String>,
    /// The client's own stream, when one is open.
    listener: Option<mpsc::Sender<Value>>,
    backlog: VecDeque<Value>,
    ended: bool,
}

#[derive(Clone)]
struct Sink {
    tx: mpsc::Sender<Value>,
    /// Answered as a stream: it may also carry the server's own messages.
    streams: bool,
}

/// Why a request could not be registered.
#[derive(Debug)]
pub enum WaitError {
    /// A request with this id (as JSON text) is already waiting in the session.
    Duplicate(String),
    Ended,
}

impl Link {
    /// Opens the server's event stream and reads its `endpoint` event, within the first-byte timeout.
    pub async fn open(app: &App, remote: &Remote) -> Result<Link, Failure> {
        let server = remote.name().to_owned();
        let garbage = |d: &str| Failure::Garbage { server: server.clone(), detail: d.to_owned() };
        let rb = upstream::request(app, remote, Method::GET, None, &Forwarded::default()).await?;
        let resp = upstream::send(app, remote, rb, false).await?;
        if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
            return Err(Failure::Status { server, status: 405 });
        }
        match upstream::kind_of(&server, &resp)? {
            Kind::Stream => {}
            Kind::Json | Kind::Empty => return Err(garbage("its event stream is not an event stream")),
        }
        let mut body = resp.bytes_stream().boxed();
        let mut sse = SseDecoder::new();
        let preamble = async {
            let mut seen = 0usize;
            loop {
                let chunk = match body.next().await {
                    None => return Err(garbage("the event stream ended before its endpoint event")),
                    Some(Err(e)) => return Err(upstream::transport(&server, e)),
                    Some(Ok(c)) => c,
                };
                seen += chunk.len();
                let mut events = sse.feed(&chunk).into_iter();
                if let Some(first) = events.next() {
                    if first.event.as_deref() != Some("endpoint") {
                        return Err(garbage("the first event of its stream is not the endpoint event"));
                    }
                    return Ok((first.data, events.collect::<Vec<_>>()));
                }
                if seen > MAX_PREAMBLE {
                    return Err(garbage("no endpoint event in its stream"));
                }
            }
        };
        let (data, early) = match tokio::time::timeout(app.config.upstream_first_byte_timeout, preamble).await {
            Err(_) => return Err(Failure::Timeout { server }),
            Ok(r) => r?,
        };
        let endpoint = remote.url.join(data.trim()).map_err(|_| garbage("its endpoint event is not a URL"))?;
        // The server's credentials go to the endpoint: it must be the server's own origin.
        if endpoint.origin() != remote.url.origin() {
            return Err(garbage("its endpoint is on another origin"));
        }
        let shared = Arc::new(Shared {
            server: server.clone(),
            endpoint,
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
        });
        let reader = tokio::spawn(read(shared.clone(), body, sse, early)).abort_handle();
        Ok(Link { shared, reader })
    }

    /// Whether the server's stream has ended: the upstream session is over.
    pub fn ended(&self) -> bool {
        self.shared.state.lock().map(|s| s.ended).unwrap_or(true)
    }

    /// Registers `requests` before they are sent, so that no answer can come before its waiter. With
    /// `streams`, the waiter also gets their progress and, while the client has no stream open, the
    /// server's own messages.
    pub fn wait(&self, requests: &[&Value], streams: bool) -> Result<Waiter, WaitError> {
        let (tx, rx) = mpsc::channel(QUEUE.max(requests.len()));
        let sink = Sink { tx, streams };
        let mut st = self.shared.state.lock().map_err(|_| WaitError::Ended)?;
        if st.ended {
            return Err(WaitError::Ended);
        }
        let pairs: Vec<(&Value, String)> = requests.iter().filter_map(|m| Some((*m, jsonrpc::id_key(m)?))).collect();
        for (i, (_, k)) in pairs.iter().enumerate() {
            if st.waiting.contains_key(k) || pairs[..i].iter().any(|(_, seen)| seen == k) {
                return Err(WaitError::Duplicate(k.clone()));
            }
        }
        let mut tokens = Vec::new();
        for (m, k) in &pairs {
            st.waiting.insert(k.clone(), sink.clone());
            let token = m.pointer("/params/_meta/progressToken").filter(|t| t.is_string() || t.is_number());
            if let Some(t) = token.filter(|_| streams).map(Value::to_string) {
                if !st.progress.contains_key(&t) {
                    st.progress.insert(t.clone(), k.clone());
                    tokens.push(t);
                }
            }
        }
        let keys = pairs.into_iter().map(|(_, k)| k).collect();
        Ok(Waiter { shared: self.shared.clone(), keys, tokens, rx })
    }

    /// POSTs one message to the endpoint. The server answers on its stream, not here.
    pub async fn send(&self, app: &App, remote: &Remote, m: &Value) -> Result<(), Failure> {
        if self.ended() {
            return Err(Failure::SessionGone { server: self.shared.server.clone() });
        }
        let url = self.shared.endpoint.clone();
        let rb = upstream::request_to(app, remote, url, Method::POST, None, &Forwarded::default()).await?;
        // A 404 here is the server saying it no longer knows the stream's session.
        let resp = upstream::send(app, remote, rb.json(m), true).await?;
        if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
            return Err(Failure::Status { server: self.shared.server.clone(), status: 405 });
        }
        drain(app, resp).await;
        Ok(())
    }

    /// The gateway's own request: sent under an id of the link's, answered under the request's own id,
    /// within the upstream timeout.
    pub async fn request(&self, app: &App, remote: &Remote, m: &Value) -> Result<Value, Failure> {
        let server = || self.shared.server.clone();
        let mut sent = m.clone();
        sent["id"] = Value::String(format!("gatehouse-{}", self.shared.next_id.fetch_add(1, Ordering::Relaxed)));
        let mut waiter = self.wait(&[&sent], false).map_err(|_| Failure::SessionGone { server: server() })?;
        self.send(app, remote, &sent).await?;
        let answer = async {
            loop {
                match waiter.next().await {
                    Some(a) if jsonrpc::is_response(&a) => return Some(a),
                    Some(_) => continue,
                    None => return None,
                }
            }
        };
        match tokio::time::timeout(app.config.upstream_timeout, answer).await {
            Err(_) => Err(Failure::Timeout { server: server() }),
            Ok(None) => Err(ended(&self.shared.server)),
            Ok(Some(mut a)) => {
                a["id"] = m["id"].clone();
                Ok(a)
            }
        }
    }

    /// The client's own stream: messages of the server's own, starting with those kept for it. A stream
    /// opened later replaces this one, which then ends.
    pub fn listen(&self) -> Option<mpsc::Receiver<Value>> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut st = self.shared.state.lock().ok()?;
        if st.ended {
            return None;
        }
        while let Some(m) = st.backlog.pop_front() {
            if tx.try_send(m).is_err() {
                break;
            }
        }
        st.listener = Some(tx);
        Some(rx)
    }
}

/// The failure of a request whose answer can no longer come.
pub fn ended(server: &str) -> Failure {
    Failure::Unreachable { server: server.to_owned(), detail: "its event stream ended before the answer".into() }
}

/// Answers (and, for a streamed POST, related messages) of requests sent over a link. Dropping it
/// unregisters the requests still waiting: an answer that comes later is dropped.
pub struct Waiter {
    shared: Arc<Shared>,
    keys: Vec<String>,
    tokens: Vec<String>,
    rx: mpsc::Receiver<Value>,
}

impl Waiter {
    /// The next message; `None` once the server's stream has ended.
    pub async fn next(&mut self) -> Option<Value> {
        self.rx.recv().await
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            for k in &self.keys {
                st.waiting.remove(k);
            }
            for t in &self.tokens {
                st.progress.remove(t);
            }
        }
    }
}

/// Reads the answer to a POST to the endpoint, a little of it at most, so the connection can be reused.
async fn drain(app: &App, resp: reqwest::Response) {
    let read = async {
        let mut body = resp.bytes_stream();
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len();
            if seen > MAX_ACK {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(app.config.upstream_first_byte_timeout, read).await;
}

/// The reading task: routes every message of the stream until it ends, then ends the link.
async fn read(
    shared: Arc<Shared>,
    mut body: BoxStream<'static, reqwest::Result<Bytes>>,
    mut sse: SseDecoder,
    early: Vec<SseEvent>,
) {
    for ev in early {
        shared.event(ev).await;
    }
    loop {
        match body.next().await {
            Some(Ok(chunk)) => {
                for ev in sse.feed(&chunk) {
                    shared.event(ev).await;
                }
            }
            Some(Err(e)) => {
                tracing::info!(server = %shared.server, error = %e.without_url(), "an MCP server's event stream broke off");
                break;
            }
            None => {
                if let Some(ev) = sse.finish() {
                    shared.event(ev).await;
                }
                break;
            }
        }
    }
    shared.end();
}

/// Where a message goes.
enum Route {
    /// An answer: delivered even if the waiter is slow to read (its own session's stream waits).
    Answer(Sink),
    /// Progress or a message of the server's own: dropped rather than waited for.
    Offer(mpsc::Sender<Value>),
    Kept,
    Dropped,
}

impl Shared {
    async fn event(&self, ev: SseEvent) {
        // `message` is the only event that carries JSON-RPC (an event without a name is a `message`).
        if ev.event.as_deref().is_some_and(|e| e != "message") {
            return;
        }
        let messages = match serde_json::from_str::<Value>(&ev.data) {
            Ok(Value::Array(items)) => items,
            Ok(m) => vec![m],
            Err(_) => {
                tracing::warn!(server = %self.server, "an MCP server sent an event that is not JSON; dropped");
                return;
            }
        };
        for m in messages {
            self.route(m).await;
        }
    }

    async fn route(&self, m: Value) {
        let route = match self.state.lock() {
            Ok(mut st) => st.route_of(&m),
            Err(_) => Route::Dropped,
        };
        match route {
            Route::Answer(sink) => {
                let _ = sink.tx.send(m).await;
            }
            Route::Offer(tx) => {
                if let Err(mpsc::error::TrySendError::Full(m)) = tx.try_send(m) {
                    if let Ok(mut st) = self.state.lock() {
                        st.keep(m);
                    }
                }
            }
            Route::Kept | Route::Dropped => {}
        }
    }

    fn end(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.ended = true;
            st.waiting.clear();
            st.progress.clear();
            st.listener = None;
            st.backlog.clear();
        }
    }
}

impl State {
    fn route_of(&mut self, m: &Value) -> Route {
        if jsonrpc::is_response(m) {
            let Some(k) = jsonrpc::id_key(m) else { return Route::Dropped };
            let Some(sink) = self.waiting.remove(&k) else { return Route::Dropped };
            self.progress.retain(|_, v| v != &k);
            return Route::Answer(sink);
        }
        if jsonrpc::method(m) == Some("notifications/progress") {
            let token = m.pointer("/params/progressToken").map(Value::to_string);
            let sink = token.and_then(|t| self.progress.get(&t)).and_then(|k| self.waiting.get(k));
            if let Some(sink) = sink {
                return Route::Offer(sink.tx.clone());
            }
        }
        if let Some(l) = self.listener.as_ref().filter(|l| !l.is_closed()) {
            return Route::Offer(l.clone());
        }
        self.listener = None;
        if let Some(sink) = self.waiting.values().find(|s| s.streams) {
            return Route::Offer(sink.tx.clone());
        }
        self.keep(m.clone());
        Route::Kept
    }

    fn keep(&mut self, m: Value) {
        if self.backlog.len() >= BACKLOG {
            self.backlog.pop_front();
        }
        self.backlog.push_back(m);
    }
}
