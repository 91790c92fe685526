//! Requests to a remote MCP server over Streamable HTTP: the server's own credentials added, the caller's
//! never (nothing of the client's request is copied but the JSON-RPC body, the protocol version and, on a
//! resumed stream, `Last-Event-ID`). Failures say which server failed and how, never its URL, its answer's
//! body or its credentials.

use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode};
use futures_util::StreamExt;
use gatehouse_providers::openai::SseDecoder;
use serde_json::Value;

use super::jsonrpc;
use super::table::Remote;
use crate::state::App;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// The largest whole answer read from an upstream.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Credentials(String),
    #[error("MCP server {server} could not be reached: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("MCP server {server} did not answer in time")]
    Timeout { server: String },
    #[error("MCP server {server} answered HTTP {status}")]
    Status { server: String, status: u16 },
    #[error("MCP server {server} answered something that is not MCP: {detail}")]
    Garbage { server: String, detail: String },
    /// No access token could be had from the server's OAuth2 token endpoint.
    #[error("MCP server {server} could not get an access token: {detail}")]
    Token { server: String, detail: String },
    /// The upstream no longer knows the session (HTTP 404): the client must start a new one.
    #[error("MCP server {server} ended the session")]
    SessionGone { server: String },
}

impl Failure {
    /// The HTTP status the gateway answers (and logs) for it.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Failure::SessionGone { .. } => StatusCode::NOT_FOUND,
            Failure::Credentials(_)
            | Failure::Unreachable { .. }
            | Failure::Status { .. }
            | Failure::Token { .. }
            | Failure::Garbage { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Failure::Credentials(_) => "upstream_credentials_unreadable",
            Failure::Unreachable { .. } | Failure::Status { .. } => "upstream_failed",
            Failure::Timeout { .. } => "upstream_timeout",
            Failure::Token { .. } => "upstream_auth_failed",
            Failure::Garbage { .. } => "upstream_malformed",
            Failure::SessionGone { .. } => "session_not_found",
        }
    }

    /// As a JSON-RPC error answering `id`.
    pub fn to_jsonrpc(&self, id: Value) -> Value {
        jsonrpc::error(id, jsonrpc::INTERNAL_ERROR, self.to_string(), self.code())
    }
}

/// What the client's request carries that goes upstream.
#[derive(Clone, Default)]
pub struct Forwarded {
    pub protocol: Option<String>,
    pub last_event_id: Option<String>,
}

impl Forwarded {
    /// Only well-formed values (short, visible ASCII) are passed on.
    pub fn from_headers(headers: &HeaderMap) -> Forwarded {
        let get = |name: &str| {
            let v = headers.get(name)?.to_str().ok()?;
            (v.len() <= 128 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic())).then(|| v.to_owned())
        };
        Forwarded { protocol: get(PROTOCOL_HEADER), last_event_id: get("last-event-id") }
    }
}

/// A request to `remote` with its credentials, the upstream session and what the client forwarded.
pub async fn request(
    app: &App,
    remote: &Remote,
    method: Method,
    session: Option<&str>,
    fwd: &Forwarded,
) -> Result<reqwest::RequestBuilder, Failure> {
    request_to(app, remote, remote.url.clone(), method, session, fwd).await
}

/// A request to `url` of `remote` (the server's own URL, or the message endpoint its SSE stream named).
pub async fn request_to(
    app: &App,
    remote: &Remote,
    url: reqwest::Url,
    method: Method,
    session: Option<&str>,
    fwd: &Forwarded,
) -> Result<reqwest::RequestBuilder, Failure> {
    // A GET asks for the server's event stream; a POST takes an answer as JSON or as a stream.
    let accept = if method == Method::GET { "text/event-stream" } else { "application/json, text/event-stream" };
    let mut rb = app.http.request(method, url);
    for (name, value) in remote.headers().map_err(Failure::Credentials)? {
        rb = rb.header(name, value);
    }
    if let Some(source) = remote.oauth() {
        rb = rb.header(AUTHORIZATION, source.header(app).await?);
    }
    rb = rb.header("accept", accept);
    if let Some(s) = session {
        rb = rb.header(SESSION_HEADER, s);
    }
    if let Some(p) = &fwd.protocol {
        rb = rb.header(PROTOCOL_HEADER, p);
    }
    if let Some(l) = &fwd.last_event_id {
        rb = rb.header("last-event-id", l);
    }
    Ok(rb)
}

/// Sends under the first-byte timeout. A 404 on a request that carried a session means the upstream
/// forgot it; any other status outside 2xx is a failure (its body is not read: it may echo credentials).
/// 405 is returned as it is, for a GET stream or a DELETE the server does not offer.
///
/// A server with OAuth2 credentials that refuses the token (401) gets the request once more, with a new one.
pub async fn send(
    app: &App,
    remote: &Remote,
    rb: reqwest::RequestBuilder,
    with_session: bool,
) -> Result<reqwest::Response, Failure> {
    let server = remote.name().to_owned();
    let req = crate::observability::trace::propagate(rb).build().map_err(|e| transport(&server, e))?;
    let again = remote.oauth().and_then(|_| req.try_clone());
    let mut resp = execute(app, &server, req).await?;
    if let (StatusCode::UNAUTHORIZED, Some(source), Some(mut again)) = (resp.status(), remote.oauth(), again) {
        let fresh = source.renew(app, again.headers().get(AUTHORIZATION)).await?;
        again.headers_mut().insert(AUTHORIZATION, fresh);
        resp = execute(app, &server, again).await?;
    }
    let status = resp.status();
    if status.is_success() || status == StatusCode::METHOD_NOT_ALLOWED {
        return Ok(resp);
    }
    if status == StatusCode::NOT_FOUND && with_session {
        return Err(Failure::SessionGone { server });
    }
    Err(Failure::Status { server, status: status.as_u16() })
}

/// Sends under the first-byte timeout.
async fn execute(app: &App, server: &str, req: reqwest::Request) -> Result<reqwest::Response, Failure> {
    match tokio::time::timeout(app.config.upstream_first_byte_timeout, app.http.execute(req)).await {
        Err(_) => Err(Failure::Timeout { server: server.to_owned() }),
        Ok(Err(e)) => Err(transport(server, e)),
        Ok(Ok(r)) => Ok(r),
    }
}

pub fn transport(server: &str, e: reqwest::Error) -> Failure {
    let e = e.without_url();
    if e.is_timeout() {
        return Failure::Timeout { server: server.to_owned() };
    }
    Failure::Unreachable { server: server.to_owned(), detail: what_failed(&e) }
}

/// What a request error was. reqwest says only "error sending request"; what happened is at the end of its
/// chain of causes (with no URL: that is only in reqwest's own error, which the caller has stripped).
pub fn what_failed(e: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(next) = root.source() {
        root = next;
    }
    match (e.is_connect(), root.to_string()) {
        (true, cause) => format!("could not connect: {cause}"),
        (false, cause) if cause != e.to_string() => format!("{e}: {cause}"),
        (false, _) => e.to_string(),
    }
}

/// The upstream's session id from an answer.
pub fn session_of(resp: &reqwest::Response) -> Option<String> {
    let v = resp.headers().get(SESSION_HEADER)?.to_str().ok()?;
    (!v.is_empty() && v.len() <= 1024).then(|| v.to_owned())
}

/// What an answer's body holds.
pub enum Kind {
    Json,
    Stream,
    /// 202 or another body-less answer.
    Empty,
}

pub fn kind_of(server: &str, resp: &reqwest::Response) -> Result<Kind, Failure> {
    if resp.status() == StatusCode::ACCEPTED || resp.status() == StatusCode::NO_CONTENT {
        return Ok(Kind::Empty);
    }
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("application/json") {
        Ok(Kind::Json)
    } else if ct.starts_with("text/event-stream") {
        Ok(Kind::Stream)
    } else {
        Err(Failure::Garbage { server: server.to_owned(), detail: format!("content type {ct:?}") })
    }
}

/// A whole JSON answer, bounded in size and time.
pub async fn read_json(app: &App, server: &str, resp: reqwest::Response) -> Result<Value, Failure> {
    let read = async {
        let mut body = Vec::new();
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| transport(server, e))?;
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(Failure::Garbage { server: server.to_owned(), detail: "the answer is too large".into() });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| Failure::Garbage { server: server.to_owned(), detail: e.to_string() })
    };
    match tokio::time::timeout(app.config.upstream_timeout, read).await {
        Err(_) => Err(Failure::Timeout { server: server.to_owned() }),
        Ok(r) => r,
    }
}

/// Reads an answer (JSON or a stream) until the response to `id` arrives, and returns it. For the
/// gateway's own exchanges (a virtual server's calls), where nothing else in the stream is wanted.
pub async fn response_to(app: &App, server: &str, resp: reqwest::Response, id: &Value) -> Result<Value, Failure> {
    let garbage = |d: &str| Failure::Garbage { server: server.to_owned(), detail: d.to_owned() };
    match kind_of(server, &resp)? {
        Kind::Empty => Err(garbage("no answer to a request")),
        Kind::Json => {
            let v = read_json(app, server, resp).await?;
            let items = match v {
                Value::Array(items) => items,
                other => vec![other],
            };
            items.into_iter().find(|m| m.get("id") == Some(id)).ok_or_else(|| garbage("no answer to the request"))
        }
        Kind::Stream => {
            let mut sse = SseDecoder::new();
            let mut chunks = resp.bytes_stream();
            let per_chunk: Duration = app.config.upstream_first_byte_timeout;
            let mut seen = 0usize;
            loop {
                let chunk = match tokio::time::timeout(per_chunk, chunks.next()).await {
                    Err(_) => return Err(Failure::Timeout { server: server.to_owned() }),
                    Ok(None) => return Err(garbage("the stream ended before the answer")),
                    Ok(Some(c)) => c.map_err(|e| transport(server, e))?,
                };
                seen += chunk.len();
                if seen > MAX_ANSWER {
                    return Err(garbage("the answer is too large"));
                }
                for ev in sse.feed(&chunk) {
                    let Ok(m) = serde_json::from_str::<Value>(&ev.data) else { continue };
                    if jsonrpc::is_response(&m) && m.get("id") == Some(id) {
                        return Ok(m);
                    }
                }
            }
        }
    }
}
