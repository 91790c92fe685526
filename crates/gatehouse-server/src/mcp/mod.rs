//! The MCP gateway: `/mcp/<server>` speaks MCP's Streamable HTTP transport to clients, in front of remote
//! MCP servers (reached over Streamable HTTP) and of virtual servers composed of their tools.
//!
//! Every message is checked with the caller's own token, against the view the auth middleware loaded for
//! that request: the caller needs `use` on `mcp-server:<server>`, and a server they may not use gets the
//! same 403 as one that does not exist. Sessions are the gateway's own ([`session`]); what goes upstream
//! carries the server's stored credentials and never the caller's ([`upstream`]); what comes back is
//! filtered, logged and, in streams, checked again per message ([`relay`]). See docs/mcp.md.

pub mod checks;
pub mod controls;
pub mod discovery;
pub mod jsonrpc;
pub mod limits;
pub mod log;
pub mod oauth;
pub mod relay;
pub mod remote;
pub mod session;
pub mod sse;
pub mod sse_remote;
pub mod table;
pub mod upstream;
pub mod virtual_server;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::spec::McpTransport;
use gatehouse_core::token::Principal;
use gatehouse_core::{Action, Resource, ResourceKind, Subject};
use serde_json::Value;
use time::OffsetDateTime;

use self::session::{Owner, Session};
use self::table::Server;
use crate::error::{ApiError, Forbidden, NotFound};
use crate::extract::{Caller, View};
use crate::state::{App, Published};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/mcp/{server}", get(open_stream).post(post).delete(end_session))
        .route(discovery::METADATA_ROUTE, get(discovery::metadata))
}

/// Whether `subject` may use the MCP server `server` (remote or virtual), in `view`.
pub fn may_use(view: &Published, subject: &Subject, server: &str, now: OffsetDateTime) -> bool {
    let r = Resource::new(ResourceKind::McpServer, server);
    view.snapshot.verdict(subject, Action::Use, &r, now).is_allowed()
}

/// The server, if the caller may use it; the access check comes first, so a refusal is the same whether
/// or not the server exists.
fn admit(app: &App, view: &Published, p: &Principal, server: &str) -> Result<Server, ApiError> {
    let refused =
        || ApiError::Forbidden(Forbidden::McpServer { subject: p.subject.to_string(), server: server.to_owned() });
    if server.len() > 256 || !crate::observability::mcp_use(app, view, &p.subject, server) {
        return Err(refused());
    }
    view.mcp.server(server).cloned().ok_or_else(refused)
}

/// The raw token the request came with, for re-checking a stream's access later.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization").and_then(|v| v.to_str().ok());
    let bearer = v.and_then(|v| v.split_once(' ')).filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t);
    bearer.or_else(|| headers.get("x-api-key")?.to_str().ok()).map(|t| t.trim().to_owned())
}

fn guard(app: &App, p: &Principal, headers: &HeaderMap, server: &str) -> relay::Guard {
    relay::Guard {
        app: app.clone(),
        token: presented_token(headers),
        subject: p.subject.clone(),
        server: server.to_owned(),
    }
}

/// The caller's session named by `Mcp-Session-Id`: missing is a 400, anything not theirs a 404.
async fn session(
    app: &App,
    view: &Published,
    p: &Principal,
    headers: &HeaderMap,
    server: &str,
) -> Result<Arc<Session>, ApiError> {
    let id = headers
        .get(upstream::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::invalid("mcp-session-id", "the Mcp-Session-Id header is required after initialize"))?;
    app.mcp_sessions.find(app, id, server, &Owner::of(view, p)).await?.ok_or(ApiError::NotFound(NotFound::McpSession))
}

/// A fresh session id: 256 random bits.
fn new_session_id(app: &App) -> String {
    let mut b = [0u8; 32];
    app.entropy.fill(&mut b);
    hex::encode(b)
}

/// A JSON-RPC answer (or a batch of them) with the session header.
fn json_answer(status: StatusCode, answers: Vec<Value>, batch: bool, session: Option<&str>) -> Response {
    let body = if batch { Value::Array(answers) } else { answers.into_iter().next().unwrap_or(Value::Null) };
    let mut resp = (status, Json(body)).into_response();
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        resp.headers_mut().insert(upstream::SESSION_HEADER, id);
    }
    resp
}

/// POST: one JSON-RPC message or a batch.
pub async fn post(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let server = match admit(&app, &view, &p, &name) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let bytes = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return ApiError::TooLarge.into_response(),
        Err(e) => return ApiError::invalid("body", e.body_text()).into_response(),
    };
    let body = match jsonrpc::parse(&bytes) {
        Ok(b) => b,
        Err(e) => {
            let answer = jsonrpc::error(Value::Null, e.code(), e.to_string(), "malformed_message");
            return json_answer(StatusCode::BAD_REQUEST, vec![answer], false, None);
        }
    };
    let initialize = body.messages.iter().any(|m| jsonrpc::method(m) == Some("initialize"));
    if initialize && body.messages.len() > 1 {
        let answer =
            jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, "initialize must be sent alone", "malformed_message");
        return json_answer(StatusCode::BAD_REQUEST, vec![answer], false, None);
    }
    // Without a session header, a remote server is reached without a session (MCP's sessionless protocol
    // era, where each request carries its own version); a virtual server, or one reached over HTTP+SSE
    // (whose event stream is the session), needs one.
    let sessionless = !headers.contains_key(upstream::SESSION_HEADER)
        && matches!(&server, Server::Remote(r) if r.transport() == McpTransport::StreamableHttp);
    let session = if initialize || sessionless {
        None
    } else {
        match self::session(&app, &view, &p, &headers, &name).await {
            Ok(s) => Some(s),
            Err(e) => return e.into_response(),
        }
    };
    let controls = controls::Controls::default();
    let cx = Context { app, view, principal: p, headers, name, controls: controls.clone() };
    let mut resp = match server {
        Server::Remote(r) => match r.transport() {
            McpTransport::StreamableHttp => remote::post(cx, r, session, body).await,
            McpTransport::Sse => sse_remote::post(cx, r, session, body).await,
        },
        Server::Virtual(v) => virtual_server::post(cx, v, session, body).await,
    };
    controls.apply(&mut resp);
    resp
}

/// What every handler needs of the request.
pub struct Context {
    pub app: App,
    pub view: Arc<Published>,
    pub principal: Principal,
    pub headers: HeaderMap,
    /// The server as the caller named it.
    pub name: String,
    /// The limits and guardrails that applied to the request's tool calls, for the answer's headers.
    pub controls: controls::Controls,
}

impl Context {
    pub fn guard(&self) -> relay::Guard {
        guard(&self.app, &self.principal, &self.headers, &self.name)
    }

    /// Opens a gateway session for this caller, with the protocol agreed and the upstream session opened
    /// (`(server, its session id)`) if any.
    pub async fn open_session(
        &self,
        protocol: Option<String>,
        upstream: Option<(String, Option<String>)>,
    ) -> Result<(String, Arc<Session>), ApiError> {
        let id = new_session_id(&self.app);
        let owner = Owner::of(&self.view, &self.principal);
        let s = self.app.mcp_sessions.open(&self.app, &id, &self.name, owner, protocol, upstream).await?;
        Ok((id, s))
    }

    pub fn session_id(&self) -> Option<String> {
        self.headers.get(upstream::SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// GET: the server's stream of messages to the client (remote servers that offer one).
pub async fn open_stream(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let server = match admit(&app, &view, &p, &name) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let session = match self::session(&app, &view, &p, &headers, &name).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let cx = Context { app, view, principal: p, headers, name, controls: Default::default() };
    match server {
        Server::Remote(r) => match r.transport() {
            McpTransport::StreamableHttp => remote::get(cx, r, session).await,
            McpTransport::Sse => sse_remote::get(cx, r, session).await,
        },
        Server::Virtual(_) => {
            ApiError::MethodNotAllowed("a virtual MCP server sends no messages of its own".into()).into_response()
        }
    }
}

/// DELETE: ends the session, and the upstream sessions the gateway held for it.
pub async fn end_session(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = admit(&app, &view, &p, &name) {
        return e.into_response();
    }
    let session = match self::session(&app, &view, &p, &headers, &name).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let cx = Context { app, view, principal: p, headers, name, controls: Default::default() };
    if let Some(id) = cx.session_id() {
        cx.app.mcp_sessions.close(&cx.app, &id).await;
    }
    remote::end_upstreams(&cx, &session).await;
    StatusCode::NO_CONTENT.into_response()
}
