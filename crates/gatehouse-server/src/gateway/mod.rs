//! The model gateway: OpenAI-compatible routes and Anthropic's `/v1/messages`, in front of every provider.
//!
//! Each handler resolves the body's `model` once ([`resolve::resolve`]); that one value decides access,
//! the upstream, and the `model` of the answer. Handlers stay thin: translation lives in the providers crate,
//! transport in [`upstream`], streaming in [`stream`].

pub mod credentials;
pub mod log;
pub mod resolve;
pub mod stream;
pub mod upstream;

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_core::spec::{ModelType, ProviderKind};
use gatehouse_providers::anthropic::{self, ChatStreamToAnthropic, MessagesRequest, MessagesResponse};
use gatehouse_providers::openai::EmbeddingResponse;
use gatehouse_providers::openai::{self, ChatRequest, CompletionRequest, CompletionResponse, EmbeddingRequest};
use serde::Serialize;
use serde_json::json;

use self::resolve::resolve;
use self::stream::{chunks, sse_response, Decoder, Encoder};
use self::upstream::{read_json, send, translate_error, Operation, Reply};
use crate::error::ApiError;
use crate::extract::{Body, Caller};
use crate::state::App;
use gatehouse_core::token::Principal;

/// The gateway's routes, outside `/api/v1`; the auth middleware of the whole router covers them.
pub fn routes(app: App) -> Router<App> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/messages", post(messages))
        .layer(axum::middleware::from_fn_with_state(app, log::middleware))
}

/// What the request log keeps of a request before it is handled: the model as named (bounded, however long
/// the client made it) and, when the operator stores bodies, the request body (redacted of credentials).
struct Asked {
    model: String,
    prompt: Option<String>,
}

impl Asked {
    fn new<T: Serialize>(app: &App, model: &str, req: &T) -> Asked {
        let prompt = if app.config.log_bodies { crate::log_fields::body_of(req) } else { None };
        Asked { model: crate::log_fields::loggable_model(model), prompt }
    }
}

/// Attaches what the request log needs to a handler's answer, whichever way it went.
fn outcome(result: Result<Response, ApiError>, asked: Asked) -> Response {
    let mut resp = result.unwrap_or_else(|e| e.into_response());
    let Asked { model, prompt } = asked;
    match resp.extensions_mut().get_mut::<log::Outcome>() {
        Some(o) => {
            o.model = model;
            o.prompt = prompt;
        }
        None => {
            resp.extensions_mut().insert(log::Outcome { model, prompt, ..Default::default() });
        }
    }
    resp
}

/// A whole JSON answer with `server-timing: gateway;dur=<ms>`: the time spent here, not upstream.
fn timed(app: &App, body: &(impl Serialize + log::Tokens), started: Instant, upstream: Duration) -> Response {
    let overhead = started.elapsed().saturating_sub(upstream);
    let mut resp = Json(body).into_response();
    let completion = if app.config.log_bodies { crate::log_fields::body_of(body) } else { None };
    resp.extensions_mut().insert(log::Outcome {
        upstream: Some(upstream),
        tokens: body.tokens(),
        completion,
        ..Default::default()
    });
    let value = format!("gateway;dur={:.3}", overhead.as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

fn openai_shaped(kind: ProviderKind) -> bool {
    matches!(kind, ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi)
}

/// OpenAI Chat Completions (`stream: true` for server-sent events). `model` is `<provider-account>/<model>`;
/// a model the caller may not use, or that does not exist, is the same 403.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
               (status = 403, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody), (status = 504, body = crate::error::ErrorBody)))]
pub async fn chat_completions(State(app): State<App>, Caller(p): Caller, Body(req): Body<ChatRequest>) -> Response {
    let asked = Asked::new(&app, &req.model, &req);
    let prompt = asked.prompt.clone();
    outcome(chat_inner(app, p, req, prompt).await, asked)
}

async fn chat_inner(
    app: App,
    principal: Principal,
    req: ChatRequest,
    prompt: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let target = resolve(&app, &principal, &req.model, ModelType::Chat)?;
    Ok(match upstream::chat(&app, &target, req).await? {
        Reply::Whole(r, upstream) => timed(&app, &r, started, upstream),
        Reply::Stream(s) => {
            sse_response(s, Encoder::Chat, log::StreamLog::new(&app, &principal, "chat", &target.name, started, prompt))
        }
    })
}

/// OpenAI legacy Completions; served through the chat API for Anthropic and Bedrock accounts.
#[utoipa::path(post, path = "/v1/completions", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn completions(State(app): State<App>, Caller(p): Caller, Body(req): Body<CompletionRequest>) -> Response {
    let asked = Asked::new(&app, &req.model, &req);
    let prompt = asked.prompt.clone();
    outcome(completions_inner(app, p, req, prompt).await, asked)
}

async fn completions_inner(
    app: App,
    principal: Principal,
    mut req: CompletionRequest,
    prompt: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let target = resolve(&app, &principal, &req.model, ModelType::Completion)?;
    if openai_shaped(target.kind()) {
        let stream = req.stream == Some(true);
        target.model_id().clone_into(&mut req.model);
        let upstream_started = Instant::now();
        let resp = send(&app, upstream::openai_like(&app, &target, Operation::Completions, &req)?).await?;
        if stream {
            let log = log::StreamLog::new(&app, &principal, "completions", &target.name, started, prompt);
            return Ok(sse_response(chunks(&app, resp, Decoder::openai(&target.name, true)), Encoder::Completion, log));
        }
        let mut r: CompletionResponse = read_json(&app, resp).await?;
        target.name.clone_into(&mut r.model);
        return Ok(timed(&app, &r, started, upstream_started.elapsed()));
    }
    // Anthropic and Bedrock have no legacy completions: served through their chat API.
    let chat = openai::completion_request_to_chat(&req).map_err(translate_error)?;
    Ok(match upstream::chat(&app, &target, chat).await? {
        Reply::Whole(r, upstream) => timed(&app, &openai::chat_response_to_completion(&r), started, upstream),
        Reply::Stream(s) => sse_response(
            s,
            Encoder::Completion,
            log::StreamLog::new(&app, &principal, "completions", &target.name, started, prompt),
        ),
    })
}

/// OpenAI Embeddings, for OpenAI-shaped accounts.
#[utoipa::path(post, path = "/v1/embeddings", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn embeddings(State(app): State<App>, Caller(p): Caller, Body(req): Body<EmbeddingRequest>) -> Response {
    let asked = Asked::new(&app, &req.model, &req);
    let prompt = asked.prompt.clone();
    outcome(embeddings_inner(app, p, req, prompt).await, asked)
}

async fn embeddings_inner(
    app: App,
    principal: Principal,
    mut req: EmbeddingRequest,
    _prompt: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let target = resolve(&app, &principal, &req.model, ModelType::Embedding)?;
    if !openai_shaped(target.kind()) {
        return Err(ApiError::invalid(
            "model",
            format!("{}: embeddings are not available through {} accounts", target.name, target.kind()),
        ));
    }
    target.model_id().clone_into(&mut req.model);
    let upstream_started = Instant::now();
    let resp = send(&app, upstream::openai_like(&app, &target, Operation::Embeddings, &req)?).await?;
    let mut r: EmbeddingResponse = read_json(&app, resp).await?;
    let upstream = upstream_started.elapsed();
    target.name.clone_into(&mut r.model);
    Ok(timed(&app, &r, started, upstream))
}

/// Only the models the caller may use, in OpenAI's list shape.
#[utoipa::path(get, path = "/v1/models", tag = "gateway", responses((status = 200, body = Object)))]
pub async fn models(State(app): State<App>, Caller(principal): Caller) -> Json<serde_json::Value> {
    let data: Vec<serde_json::Value> = resolve::usable_models(&app, &principal)
        .into_iter()
        .map(|(id, account)| json!({"id": id, "object": "model", "created": 0, "owned_by": account}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Anthropic Messages: native to Anthropic accounts, translated for the others. Takes the token in
/// `x-api-key` too, as the Anthropic SDK sends it.
#[utoipa::path(post, path = "/v1/messages", tag = "gateway", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody)))]
pub async fn messages(State(app): State<App>, Caller(p): Caller, Body(req): Body<MessagesRequest>) -> Response {
    let asked = Asked::new(&app, &req.model, &req);
    let prompt = asked.prompt.clone();
    outcome(messages_inner(app, p, req, prompt).await, asked)
}

async fn messages_inner(
    app: App,
    principal: Principal,
    mut req: MessagesRequest,
    prompt: Option<String>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let target = resolve(&app, &principal, &req.model, ModelType::Chat)?;
    if target.kind() == ProviderKind::Anthropic {
        let stream = req.is_stream();
        target.model_id().clone_into(&mut req.model);
        let upstream_started = Instant::now();
        let resp = send(&app, upstream::anthropic(&app, &target, &req)?).await?;
        if stream {
            let decoder = Decoder::AnthropicNative { sse: openai::SseDecoder::new(), model: target.name.clone() };
            let log = log::StreamLog::new(&app, &principal, "messages", &target.name, started, prompt);
            return Ok(sse_response(chunks(&app, resp, decoder), Encoder::Anthropic(None), log));
        }
        let mut r: MessagesResponse = read_json(&app, resp).await?;
        let upstream = upstream_started.elapsed();
        target.name.clone_into(&mut r.model);
        return Ok(timed(&app, &r, started, upstream));
    }
    let chat = anthropic::messages_request_to_chat(&req, target.model_id()).map_err(translate_error)?;
    Ok(match upstream::chat(&app, &target, chat).await? {
        Reply::Whole(r, upstream) => timed(
            &app,
            &anthropic::chat_response_to_messages(&r, &target.name).map_err(translate_error)?,
            started,
            upstream,
        ),
        Reply::Stream(s) => {
            let log = log::StreamLog::new(&app, &principal, "messages", &target.name, started, prompt);
            sse_response(s, Encoder::Anthropic(Some(Box::new(ChatStreamToAnthropic::new(target.name.as_str())))), log)
        }
    })
}
