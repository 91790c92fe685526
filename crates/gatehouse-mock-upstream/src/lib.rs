//! A mock LLM upstream for the gateway's integration tests and its load benchmark.
//!
//! It speaks the wire shapes of OpenAI (chat completions, completions, embeddings, models), Azure OpenAI
//! (deployment paths), Anthropic Messages and Bedrock Converse / ConverseStream, including their streaming
//! framings, auth-header checks and error shapes. Replies echo the last user text
//! (`"mock reply to: <text>"`) and usage is counted in whitespace-separated words, so a test can predict
//! every number the gateway reports.
//!
//! Behaviour is steered per request by headers or, for clients that cannot set headers, by markers in the
//! model name (the Azure deployment name and the Bedrock model id count as model names):
//!
//! | header | model marker | effect |
//! |---|---|---|
//! | `x-mock-delay-ms: N` | `slow-<N>ms` | wait N ms before the response headers |
//! | `x-mock-status: C` | `fail-<C>` | answer with status C in the provider's error shape, message `mock upstream failure C` |
//! | `x-mock-fail-times: K` | `fail-<C>x<K>` | only the first K such requests fail (counted per endpoint, model and status), later ones succeed |
//! | `x-mock-retry-after: S` | | add `retry-after: S` to the error response |
//! | `x-mock-cut-after: N` | `cut-<N>` | streams: send N events, then drop the connection without the terminating event; non-streaming: send the headers and the first N body bytes, then drop |
//! | `x-mock-chunk-delay-ms: N` | `drip-<N>ms` | wait N ms between stream events |
//! | `x-mock-tokens: N` | `tokens-<N>` | make the reply exactly N words (padded with `lorem`) |
//! | `x-mock-delta-chars: N` | `split-<N>` | streams: text deltas of at most N characters each, instead of one word each |
//!
//! Headers win over model markers. Auth is checked before any control applies, as a real provider would.
//!
//! `POST /mcp` is a minimal stateless MCP server (tools `echo` and `add`), for the MCP gateway's benchmark.
//!
//! Besides the provider routes the server answers `GET /__mock/stats` (the [`MockStats`] counters),
//! `GET /__mock/requests` and `DELETE /__mock/requests` (recorded requests), for the binary's users; these
//! are neither counted nor recorded. Any other path gets a 404 in OpenAI's error shape and is recorded as
//! [`Endpoint::Unknown`].
//!
//! See [`start`] and [`MockHandle`].

mod anthropic;
mod bedrock;
mod body;
mod controls;
mod errors;
pub mod eventstream;
mod faults;
mod mcp;
mod openai;
mod text;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

pub use axum::body::Bytes;
pub use axum::http::HeaderMap;

use crate::controls::Controls;
use crate::errors::Api;

/// How a mock server is set up.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Keep every request for [`MockHandle::requests`]. Costs a lock and a copy of the headers per request,
    /// so benchmarks turn it off.
    pub record_requests: bool,
    /// Where to listen; must be a loopback address. Port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig { record_requests: true, listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)) }
    }
}

impl MockConfig {
    /// The set-up for load benchmarks: nothing recorded, only counters kept.
    pub fn benchmark() -> Self {
        MockConfig { record_requests: false, ..MockConfig::default() }
    }
}

/// Which mock endpoint a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    OpenAiChat,
    OpenAiCompletions,
    OpenAiEmbeddings,
    /// `GET /v1/models`, answered in OpenAI's or (with an `anthropic-version` header) Anthropic's shape.
    Models,
    AzureChat,
    AzureCompletions,
    AzureEmbeddings,
    AnthropicMessages,
    BedrockConverse,
    BedrockConverseStream,
    /// `POST /mcp`: a minimal MCP server (see the `mcp` module).
    Mcp,
    /// No route matched; answered with 404 but still recorded, so a test can see a misrouted call.
    Unknown,
}

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub endpoint: Endpoint,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
    pub raw_body: Bytes,
}

impl RecordedRequest {
    /// The header's value, if present and valid UTF-8 (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter, not percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        text::query_param(self.query.as_deref()?, name)
    }

    /// A JSON view for the `/__mock/requests` admin endpoint.
    pub fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())))
            .collect();
        json!({
            "endpoint": format!("{:?}", self.endpoint),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "body": self.body,
        })
    }
}

/// Counters kept whether or not requests are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    /// Requests received on the provider endpoints (admin endpoints not counted).
    pub requests: u64,
    /// Streaming bodies that were sent to the end.
    pub completed_streams: u64,
    /// Streaming bodies dropped before the end without the mock cutting them: the client (or the gateway
    /// between) went away.
    pub cancelled_streams: u64,
    /// Streaming bodies the mock cut on purpose (`x-mock-cut-after`).
    pub cut_streams: u64,
    /// Requests whose handler was dropped while it waited out `x-mock-delay-ms`, before any header was sent.
    pub cancelled_requests: u64,
}

pub(crate) struct Shared {
    record: bool,
    recorded: Mutex<Vec<RecordedRequest>>,
    fail_counts: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
    completed_streams: AtomicU64,
    cancelled_streams: AtomicU64,
    cut_streams: AtomicU64,
    cancelled_requests: AtomicU64,
    changed: Notify,
    /// How many `wait_for` calls are waiting; `notify_waiters` takes a lock, so the hot path skips it
    /// unless someone listens.
    waiters: AtomicUsize,
}

#[derive(Clone, Copy)]
pub(crate) enum Counter {
    CompletedStreams,
    CancelledStreams,
    CutStreams,
    CancelledRequests,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data half-updated, so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn new(record: bool) -> Self {
        Shared {
            record,
            recorded: Mutex::new(Vec::new()),
            fail_counts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            completed_streams: AtomicU64::new(0),
            cancelled_streams: AtomicU64::new(0),
            cut_streams: AtomicU64::new(0),
            cancelled_requests: AtomicU64::new(0),
            changed: Notify::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Counts (and maybe records) a request; the returned sequence number makes response ids unique.
    pub(crate) fn begin(
        &self,
        endpoint: Endpoint,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> u64 {
        let seq = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if self.record {
            let rec = RecordedRequest {
                endpoint,
                method: method.as_str().to_owned(),
                path: uri.path().to_owned(),
                query: uri.query().map(str::to_owned),
                headers: headers.clone(),
                body: serde_json::from_slice(body).unwrap_or(Value::Null),
                raw_body: body.clone(),
            };
            lock(&self.recorded).push(rec);
        }
        self.notify();
        seq
    }

    pub(crate) fn bump(&self, counter: Counter) {
        let c = match counter {
            Counter::CompletedStreams => &self.completed_streams,
            Counter::CancelledStreams => &self.cancelled_streams,
            Counter::CutStreams => &self.cut_streams,
            Counter::CancelledRequests => &self.cancelled_requests,
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.notify();
    }

    fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn stats(&self) -> MockStats {
        MockStats {
            requests: self.requests.load(Ordering::Relaxed),
            completed_streams: self.completed_streams.load(Ordering::Relaxed),
            cancelled_streams: self.cancelled_streams.load(Ordering::Relaxed),
            cut_streams: self.cut_streams.load(Ordering::Relaxed),
            cancelled_requests: self.cancelled_requests.load(Ordering::Relaxed),
        }
    }

    /// Whether this request should fail, honouring `fail-times` (which needs shared state, hence the lock;
    /// it is only taken when a test asked for it).
    fn should_fail(&self, controls: &Controls, endpoint: Endpoint, model: &str) -> Option<u16> {
        let status = controls.status?;
        let Some(times) = controls.fail_times else { return Some(status) };
        let mut counts = lock(&self.fail_counts);
        let n = counts.entry(format!("{endpoint:?}|{model}|{status}")).or_insert(0);
        if *n < times {
            *n += 1;
            Some(status)
        } else {
            None
        }
    }

    /// The common part before a provider builds its answer: the first-byte delay, then an injected failure.
    pub(crate) async fn before_reply(
        &self,
        api: Api,
        controls: &Controls,
        endpoint: Endpoint,
        model: &str,
    ) -> Option<Response> {
        if controls.delay_ms > 0 {
            let guard = body::PendingGuard::new(self);
            tokio::time::sleep(Duration::from_millis(controls.delay_ms)).await;
            guard.disarm();
        }
        if let Some(resp) = faults::response(controls) {
            return Some(resp);
        }
        let status = self.should_fail(controls, endpoint, model)?;
        let mut resp = api.error(status, &format!("mock upstream failure {status}"));
        if let Some(ra) = controls.retry_after.as_deref() {
            errors::set_header(&mut resp, "retry-after", ra);
        }
        Some(resp)
    }
}

/// A running mock server. Dropping it stops the server; [`MockHandle::shutdown`] also waits for it.
pub struct MockHandle {
    /// The bound address (always loopback).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl MockHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Every recorded request, oldest first (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).clone()
    }

    /// The recorded requests that reached `endpoint`.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        lock(&self.shared.recorded).iter().filter(|r| r.endpoint == endpoint).cloned().collect()
    }

    /// The most recent recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.recorded).last().cloned()
    }

    /// Forgets the recorded requests and the progress of `fail-times` counters. The [`MockStats`] counters
    /// keep counting.
    pub fn clear(&self) {
        lock(&self.shared.recorded).clear();
        lock(&self.shared.fail_counts).clear();
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    pub fn cancelled_streams(&self) -> u64 {
        self.shared.cancelled_streams.load(Ordering::Relaxed)
    }

    pub fn completed_streams(&self) -> u64 {
        self.shared.completed_streams.load(Ordering::Relaxed)
    }

    pub fn cancelled_requests(&self) -> u64 {
        self.shared.cancelled_requests.load(Ordering::Relaxed)
    }

    /// Waits until `pred` holds for the stats, or `timeout` passes; returns whether it held. Cancellation is
    /// noticed asynchronously, so tests wait with this rather than reading a counter once.
    pub async fn wait_for(&self, pred: impl Fn(&MockStats) -> bool, timeout: Duration) -> bool {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.shared.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.shared.waiters);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Registering before checking closes the gap where a change lands between check and wait.
            notified.as_mut().enable();
            if pred(&self.shared.stats()) {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            // The counters are bumped with relaxed ordering, so a re-check every few milliseconds covers a
            // notification that raced past the waiter count.
            let _ = tokio::time::timeout((deadline - now).min(Duration::from_millis(10)), notified).await;
        }
    }

    /// Stops accepting, gives in-flight responses a second to finish, then stops the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a mock server on `config.listen` (by default 127.0.0.1 with a free port), serving in a tokio task.
///
/// # Panics
///
/// If the address cannot be bound or is not a loopback address; tests want to stop there. Use [`try_start`]
/// to handle the error.
pub async fn start(config: MockConfig) -> MockHandle {
    match try_start(config).await {
        Ok(handle) => handle,
        Err(e) => panic!("gatehouse-mock-upstream: cannot start: {e}"),
    }
}

/// Like [`start`], returning the bind error instead of panicking.
pub async fn try_start(config: MockConfig) -> std::io::Result<MockHandle> {
    if !config.listen.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a loopback address; the mock listens on loopback only", config.listen),
        ));
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config.record_requests));
    let app = router(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    // Without TCP_NODELAY small stream events sit in Nagle's buffer behind the peer's delayed ACK (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(MockHandle { addr, shared, stop: Some(stop), task: Some(task) })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/openai/deployments/{deployment}/chat/completions", post(openai::azure_chat))
        .route("/openai/deployments/{deployment}/completions", post(openai::azure_completions))
        .route("/openai/deployments/{deployment}/embeddings", post(openai::azure_embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .route("/model/{model_id}/converse", post(bedrock::converse))
        .route("/model/{model_id}/converse-stream", post(bedrock::converse_stream))
        .route("/mcp", post(mcp::post))
        .route("/__mock/stats", get(admin_stats))
        .route("/__mock/requests", get(admin_requests).delete(admin_clear))
        .fallback(unknown)
        // Gateway tests send large bodies on purpose; the mock must not be the one that refuses them.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

async fn unknown(State(s): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.begin(Endpoint::Unknown, &method, &uri, &headers, &body);
    let msg = format!("mock upstream: no route for {} {}", method, uri.path());
    Api::OpenAi.error(404, &msg)
}

async fn admin_stats(State(s): State<Arc<Shared>>) -> Response {
    let st = s.stats();
    Json(json!({
        "requests": st.requests,
        "completed_streams": st.completed_streams,
        "cancelled_streams": st.cancelled_streams,
        "cut_streams": st.cut_streams,
        "cancelled_requests": st.cancelled_requests,
        "recording": s.record,
    }))
    .into_response()
}

async fn admin_requests(State(s): State<Arc<Shared>>) -> Response {
    let all: Vec<Value> = lock(&s.recorded).iter().map(RecordedRequest::to_json).collect();
    Json(Value::Array(all)).into_response()
}

async fn admin_clear(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.recorded).clear();
    lock(&s.fail_counts).clear();
    StatusCode::NO_CONTENT
}
