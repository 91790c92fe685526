//! The model gateway: OpenAI-compatible routes and Anthropic's `/v1/messages`, in front of every provider.
//!
//! Each handler only parses and hands the request to a [`call::Call`], which runs the same named phases for
//! every route (resolve, admit, check input, dispatch, check output, answer) and logs itself once. The
//! differences between providers live behind one interface ([`dispatch`]); the accounts it calls are
//! compiled once per published version ([`table`]); transport is in [`upstream`], streaming in [`stream`].

pub mod attempt;
pub mod call;
pub mod dispatch;
pub mod follow;
pub mod health;
pub mod log;
pub mod metadata;
pub mod resolve;
pub mod route;
pub mod scan;
pub mod stream;
pub mod table;
pub mod upstream;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_providers::anthropic::MessagesRequest;
use gatehouse_providers::openai::{ChatRequest, CompletionRequest, EmbeddingRequest};
use serde_json::json;

use self::call::{Call, GatewayRoute};
use self::dispatch::Request;
use self::metadata::Meta;
use crate::extract::{Caller, Counted, View};
use crate::state::App;

/// The gateway's routes, outside `/api/v1`; the auth middleware of the whole router covers them.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/messages", post(messages))
}

/// A body that does not parse is answered by the call too, so that it is logged like any other refusal; its
/// size goes to the log either way.
type Parsed<T> = Counted<T>;

/// OpenAI Chat Completions (`stream: true` for server-sent events). `model` is `<provider-account>/<model>`;
/// a model the caller may not use, or that does not exist, is the same 403.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
               (status = 403, body = crate::error::ErrorBody), (status = 429, description = "a rate limit or budget refused the call (`rate_limit_exceeded`, `budget_exceeded`), with `Retry-After` and `x-ratelimit-*`", body = crate::error::ErrorBody),
               (status = 502, body = crate::error::ErrorBody), (status = 503, description = "the limit counters cannot be reached (`limits_unavailable`)", body = crate::error::ErrorBody), (status = 504, body = crate::error::ErrorBody)))]
pub async fn chat_completions(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Meta(meta): Meta,
    body: Parsed<ChatRequest>,
) -> Response {
    Call::new(app, view, p, meta, GatewayRoute::Chat)
        .request_bytes(body.bytes)
        .run(body.parsed.map(Request::Chat))
        .await
}

/// OpenAI legacy Completions; served through the chat API for Anthropic and Bedrock accounts.
#[utoipa::path(post, path = "/v1/completions", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn completions(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Meta(meta): Meta,
    body: Parsed<CompletionRequest>,
) -> Response {
    Call::new(app, view, p, meta, GatewayRoute::Completions)
        .request_bytes(body.bytes)
        .run(body.parsed.map(Request::Completions))
        .await
}

/// OpenAI Embeddings, for OpenAI-shaped accounts.
#[utoipa::path(post, path = "/v1/embeddings", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn embeddings(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Meta(meta): Meta,
    body: Parsed<EmbeddingRequest>,
) -> Response {
    Call::new(app, view, p, meta, GatewayRoute::Embeddings)
        .request_bytes(body.bytes)
        .run(body.parsed.map(Request::Embeddings))
        .await
}

/// Only the models the caller may use, in OpenAI's list shape. A read: not a call, not logged.
#[utoipa::path(get, path = "/v1/models", tag = "gateway", responses((status = 200, body = Object)))]
pub async fn models(State(app): State<App>, View(view): View, Caller(principal): Caller) -> Json<serde_json::Value> {
    let data: Vec<serde_json::Value> = resolve::usable_models(&view, &principal.subject, app.now())
        .into_iter()
        .map(|(id, account)| json!({"id": id, "object": "model", "created": 0, "owned_by": account}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Anthropic Messages: native to Anthropic accounts, translated for the others. Takes the token in
/// `x-api-key` too, as the Anthropic SDK sends it.
#[utoipa::path(post, path = "/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn messages(
    State(app): State<App>,
    View(view): View,
    Caller(p): Caller,
    Meta(meta): Meta,
    body: Parsed<MessagesRequest>,
) -> Response {
    Call::new(app, view, p, meta, GatewayRoute::Messages)
        .request_bytes(body.bytes)
        .run(body.parsed.map(Request::Messages))
        .await
}
