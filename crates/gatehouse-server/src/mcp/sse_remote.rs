//! Remote servers reached over HTTP+SSE ([`super::sse`]), while clients still speak Streamable HTTP to the
//! gateway. `initialize` opens the server's event stream (the link), kept by the gateway session it starts;
//! each later message is POSTed to the link's endpoint, and the answers read from the stream go back as an
//! event stream when the client accepts one (with the progress the server reports and, while the client
//! has no stream of its own open, the server's own messages), else as JSON. The client's GET gets the
//! server's own messages. Filtering, logging and masking are the same as for Streamable HTTP servers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::{json, Value};

use super::jsonrpc::{self, Body};
use super::relay::{self, Exchange, Guard};
use super::remote::{self, Sorted};
use super::session::Session;
use super::sse::{self, Link, WaitError, Waiter};
use super::table::Remote;
use super::upstream::{self, Failure};
use super::{json_answer, Context};

pub async fn post(cx: Context, remote: Arc<Remote>, session: Option<Arc<Session>>, body: Body) -> Response {
    let Sorted { local, forward, mut ex } = remote::sort(&cx, &remote, body.messages).await;
    let session_id = cx.session_id();
    if forward.is_empty() {
        return json_answer(StatusCode::OK, local, body.batch, session_id.as_deref());
    }
    // `initialize` opens a new stream, the upstream session; anything else is sent in the session's.
    let initialize = forward.iter().any(|m| jsonrpc::method(m) == Some("initialize"));
    let link = if initialize {
        match Link::open(&cx.app, &remote).await {
            Ok(l) => Arc::new(l),
            Err(f) => return remote::failed(&cx, &mut ex, &f, &forward, local, body.batch),
        }
    } else {
        match session.as_ref() {
            Some(s) => match link_for(&cx, &remote, s).await {
                Ok(l) => l,
                Err(Failure::SessionGone { .. }) => {
                    ex.end_all(StatusCode::NOT_FOUND.as_u16());
                    return remote::session_gone(&cx).await;
                }
                Err(f) => return remote::failed(&cx, &mut ex, &f, &forward, local, body.batch),
            },
            None => {
                ex.end_all(StatusCode::NOT_FOUND.as_u16());
                return remote::session_gone(&cx).await;
            }
        }
    };
    let requests: Vec<&Value> = forward.iter().filter(|m| jsonrpc::is_request(m)).collect();
    let left: Vec<(String, Value)> =
        requests.iter().filter_map(|m| Some((jsonrpc::id_key(m)?, jsonrpc::id_of(m)))).collect();
    let streams = !initialize && accepts_stream(&cx.headers);
    let waiter = match link.wait(&requests, streams) {
        Ok(w) => w,
        Err(WaitError::Ended) => {
            ex.end_all(StatusCode::NOT_FOUND.as_u16());
            return remote::session_gone(&cx).await;
        }
        Err(WaitError::Duplicate(id)) => {
            ex.end_all(StatusCode::BAD_REQUEST.as_u16());
            let message = format!("a request with id {id} is already waiting for its answer in this session");
            let answer = jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, message, "duplicate_request_id");
            return json_answer(StatusCode::BAD_REQUEST, vec![answer], false, session_id.as_deref());
        }
    };
    // The old transport has no batches: each message is its own POST, in order.
    for m in &forward {
        if let Err(f) = link.send(&cx.app, &remote, m).await {
            return remote::failed(&cx, &mut ex, &f, &forward, local, body.batch);
        }
    }
    if left.is_empty() {
        if local.is_empty() {
            return accepted(session_id.as_deref());
        }
        return json_answer(StatusCode::OK, local, body.batch, session_id.as_deref());
    }
    if streams {
        let per_message = cx.app.config.upstream_first_byte_timeout;
        return answer_stream(&cx, waiter, ex, left, local, per_message, session_id.as_deref());
    }
    let (mut answers, failure) = collect(&cx, waiter, &mut ex, left).await;
    let status = failure.map_or(StatusCode::OK, |f| f.status());
    let session_id = match initialize {
        false => session_id,
        // The gateway's session starts once the server has accepted `initialize`.
        true => match answers.first().and_then(|a| a.get("result")) {
            Some(result) => {
                let protocol = result.get("protocolVersion").and_then(Value::as_str).map(str::to_owned);
                match cx.open_session(protocol, None).await {
                    Ok((id, s)) => {
                        s.set_link(remote.name(), link);
                        Some(id)
                    }
                    Err(e) => return e.into_response(),
                }
            }
            None => None,
        },
    };
    answers.extend(local);
    let batch = body.batch || answers.len() > 1;
    json_answer(status, answers, batch, session_id.as_deref())
}

fn accepts_stream(headers: &HeaderMap) -> bool {
    headers.get_all("accept").iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/event-stream"))
}

fn accepted(session: Option<&str>) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        r.headers_mut().insert(upstream::SESSION_HEADER, id);
    }
    r
}

/// Every answer, within the upstream timeout; the requests left unanswered get the failure's JSON-RPC error.
async fn collect(
    cx: &Context,
    mut waiter: Waiter,
    ex: &mut Exchange,
    mut left: Vec<(String, Value)>,
) -> (Vec<Value>, Option<Failure>) {
    let mut answers = Vec::new();
    let read = async {
        while !left.is_empty() {
            let Some(m) = waiter.next().await else { return Some(sse::ended(&cx.name)) };
            let Some(k) = jsonrpc::id_key(&m).filter(|_| jsonrpc::is_response(&m)) else { continue };
            if let Some(i) = left.iter().position(|(key, _)| *key == k) {
                left.swap_remove(i);
                answers.push(ex.rewrite(m).await);
            }
        }
        None
    };
    let failure = match tokio::time::timeout(cx.app.config.upstream_timeout, read).await {
        Err(_) => Some(Failure::Timeout { server: cx.name.clone() }),
        Ok(f) => f,
    };
    if let Some(f) = &failure {
        tracing::warn!(server = %cx.name, error = %f, "an MCP request failed upstream");
        answers.extend(left.into_iter().map(|(_, id)| f.to_jsonrpc(id)));
        ex.end_all(f.status().as_u16());
    }
    (answers, failure)
}

/// A POST answered as an event stream: the gateway's own answers first, then what the server sends for
/// these requests until each is answered.
struct Answering {
    waiter: Waiter,
    ex: Exchange,
    guard: Guard,
    left: Vec<(String, Value)>,
    pending: VecDeque<Bytes>,
    per_message: Duration,
    server: String,
    done: bool,
}

impl Answering {
    async fn step(&mut self) {
        match tokio::time::timeout(self.per_message, self.waiter.next()).await {
            Err(_) => self.fail(&Failure::Timeout { server: self.server.clone() }),
            Ok(None) => self.fail(&sse::ended(&self.server)),
            Ok(Some(m)) => {
                if !self.guard.allowed() {
                    // Revoked while waiting: nothing more reaches the caller.
                    self.done = true;
                    self.ex.end_all(StatusCode::FORBIDDEN.as_u16());
                    return;
                }
                if jsonrpc::is_response(&m) {
                    if let Some(k) = jsonrpc::id_key(&m) {
                        self.left.retain(|(key, _)| *key != k);
                    }
                }
                let m = self.ex.rewrite(m).await;
                self.pending.push_back(relay::encode(None, Some("message"), &m.to_string()));
                self.done = self.left.is_empty();
            }
        }
    }

    fn fail(&mut self, f: &Failure) {
        tracing::warn!(server = %self.server, error = %f, "an MCP request failed upstream");
        for (_, id) in self.left.drain(..) {
            self.pending.push_back(relay::encode(None, Some("message"), &f.to_jsonrpc(id).to_string()));
        }
        self.ex.end_all(f.status().as_u16());
        self.done = true;
    }
}

fn answer_stream(
    cx: &Context,
    waiter: Waiter,
    ex: Exchange,
    left: Vec<(String, Value)>,
    local: Vec<Value>,
    per_message: Duration,
    session: Option<&str>,
) -> Response {
    let pending = local.iter().map(|m| relay::encode(None, Some("message"), &m.to_string())).collect();
    let state =
        Answering { waiter, ex, guard: cx.guard(), left, pending, per_message, server: cx.name.clone(), done: false };
    let body = stream::unfold(state, |mut a| async move {
        loop {
            if let Some(b) = a.pending.pop_front() {
                return Some((Ok::<Bytes, std::io::Error>(b), a));
            }
            if a.done {
                return None;
            }
            a.step().await;
        }
    });
    relay::event_stream(HttpBody::from_stream(body), session)
}

/// GET: the server's own messages, for as long as the link lives and the caller may use the server.
pub async fn get(cx: Context, remote: Arc<Remote>, session: Arc<Session>) -> Response {
    let link = match link_for(&cx, &remote, &session).await {
        Ok(l) => l,
        Err(Failure::SessionGone { .. }) => return remote::session_gone(&cx).await,
        Err(f) => return (f.status(), axum::Json(f.to_jsonrpc(Value::Null))).into_response(),
    };
    let Some(rx) = link.listen() else {
        return remote::session_gone(&cx).await;
    };
    let ex = Exchange { remote, lists: HashMap::new(), calls: HashMap::new() };
    let body = stream::unfold((rx, ex, cx.guard()), |(mut rx, mut ex, guard)| async move {
        let m = rx.recv().await?;
        if !guard.allowed() {
            return None;
        }
        let bytes = relay::encode(None, Some("message"), &ex.rewrite(m).await.to_string());
        Some((Ok::<Bytes, std::io::Error>(bytes), (rx, ex, guard)))
    });
    relay::event_stream(HttpBody::from_stream(body), cx.session_id().as_deref())
}

/// The session's link with `remote`. A session opened on another replica has its link there, which this
/// one cannot use: it opens one of its own, initialized in the session's protocol version, and holds it
/// from then on. One this replica held and the server closed is a `SessionGone` (the client starts anew).
async fn link_for(cx: &Context, remote: &Remote, s: &Session) -> Result<Arc<Link>, Failure> {
    if let Some(l) = s.link(remote.name()) {
        return Ok(l);
    }
    if s.held_link(remote.name()) {
        return Err(Failure::SessionGone { server: remote.name().to_owned() });
    }
    let l = Arc::new(Link::open(&cx.app, remote).await?);
    initialize(cx, remote, s, &l).await?;
    s.set_link(remote.name(), l.clone());
    tracing::info!(server = %remote.name(), "an MCP session opened on another replica got its own upstream stream here");
    Ok(l)
}

/// One request of the gateway's own (a virtual server's) to `remote`, over the link it holds with it for
/// `s`, opened and initialized on first use. A link found ended is opened again, once.
pub async fn exchange(cx: &Context, remote: &Remote, s: &Session, m: &Value) -> Result<Value, Failure> {
    for _ in 0..2 {
        let link = match s.link(remote.name()) {
            Some(l) => l,
            None => {
                let l = Arc::new(Link::open(&cx.app, remote).await?);
                initialize(cx, remote, s, &l).await?;
                s.set_link(remote.name(), l.clone());
                l
            }
        };
        match link.request(&cx.app, remote, m).await {
            Err(Failure::SessionGone { .. }) => s.forget_link(remote.name()),
            r => return r,
        }
    }
    Err(Failure::SessionGone { server: remote.name().to_owned() })
}

async fn initialize(cx: &Context, remote: &Remote, s: &Session, link: &Link) -> Result<(), Failure> {
    let version = s.protocol().unwrap_or_else(|| super::virtual_server::PROTOCOL_VERSIONS[0].to_owned());
    let answer = link.request(&cx.app, remote, &super::virtual_server::init_message(&version)).await?;
    if answer.get("result").is_none() {
        let detail = "it did not accept initialize".to_owned();
        return Err(Failure::Garbage { server: remote.name().to_owned(), detail });
    }
    link.send(&cx.app, remote, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await
}
