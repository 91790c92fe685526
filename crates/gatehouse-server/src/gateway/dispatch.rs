//! The one upstream interface: a gateway request, sent to whichever provider the target is on, answered in
//! the shape of the route it came in on. Every difference between providers (which API is native, which
//! is translated, what is not offered) is decided here, in one match per route, and nowhere else.

use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_core::limits::{estimate_input_tokens, Estimate, DEFAULT_OUTPUT_ESTIMATE};
use gatehouse_core::spec::{ProviderAccountSpec, ProviderKind};
use gatehouse_providers::anthropic::{
    self, AnthropicStreamToChat, ChatStreamToAnthropic, MessagesRequest, MessagesResponse,
};
use gatehouse_providers::bedrock::{self, ConverseResponse, ConverseStreamToChat, EventStreamDecoder};
use gatehouse_providers::openai::{
    self, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, EmbeddingRequest, EmbeddingResponse,
    SseDecoder,
};

use super::resolve::Target;
use super::stream::{chunks, ChunkStream, ClientUsage, Decoder, Encoder};
use super::table::Endpoint;
use super::upstream::{self, read_json, send, translate_error};
use crate::error::ApiError;
use crate::state::App;

/// A parsed gateway request, one variant per route that calls an upstream.
#[derive(Clone)]
pub enum Request {
    Chat(ChatRequest),
    Completions(CompletionRequest),
    Embeddings(EmbeddingRequest),
    Messages(MessagesRequest),
}

impl Request {
    /// The `model` as the client named it.
    pub fn model(&self) -> &str {
        match self {
            Request::Chat(r) => &r.model,
            Request::Completions(r) => &r.model,
            Request::Embeddings(r) => &r.model,
            Request::Messages(r) => &r.model,
        }
    }

    /// What the request is expected to use, for limits to reserve before it runs: its body's size as the
    /// prompt (one token per four bytes, so the JSON around the text makes this an over- rather than an
    /// under-estimate), and its output cap or, without one, `DEFAULT_OUTPUT_ESTIMATE`.
    pub fn estimate(&self) -> Estimate {
        let bytes = |v: Result<Vec<u8>, serde_json::Error>| v.map(|b| b.len()).unwrap_or(0);
        let (size, output) = match self {
            Request::Chat(r) => (bytes(serde_json::to_vec(r)), r.output_limit().map(u64::from)),
            Request::Completions(r) => (bytes(serde_json::to_vec(r)), r.max_tokens.map(u64::from)),
            Request::Embeddings(r) => (bytes(serde_json::to_vec(r)), Some(0)),
            Request::Messages(r) => (bytes(serde_json::to_vec(r)), Some(u64::from(r.max_tokens))),
        };
        Estimate { input_tokens: estimate_input_tokens(size), output_tokens: output.unwrap_or(DEFAULT_OUTPUT_ESTIMATE) }
    }

    /// The gateway route it came in on, as the request log names it.
    pub fn route(&self) -> &'static str {
        match self {
            Request::Chat(_) => "chat",
            Request::Completions(_) => "completions",
            Request::Embeddings(_) => "embeddings",
            Request::Messages(_) => "messages",
        }
    }

    /// The body as the request log may store it (when the operator stores bodies).
    pub fn loggable(&self) -> Option<String> {
        match self {
            Request::Chat(r) => crate::log_fields::body_of(r),
            Request::Completions(r) => crate::log_fields::body_of(r),
            Request::Embeddings(r) => crate::log_fields::body_of(r),
            Request::Messages(r) => crate::log_fields::body_of(r),
        }
    }
}

/// A whole answer, in the route's shape, with the model named as the client named it.
pub enum Whole {
    Chat(ChatResponse),
    Completion(CompletionResponse),
    Embedding(EmbeddingResponse),
    Messages(MessagesResponse),
}

impl Whole {
    /// Input and output token counts, as the answer reports them.
    pub fn tokens(&self) -> Option<(u64, u64)> {
        match self {
            Whole::Chat(r) => r.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)),
            Whole::Completion(r) => r.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)),
            Whole::Embedding(r) => Some((r.usage.prompt_tokens, 0)),
            Whole::Messages(r) => Some((r.usage.input_tokens, r.usage.output_tokens)),
        }
    }

    /// The client's JSON answer.
    pub fn response(&self) -> Response {
        match self {
            Whole::Chat(r) => Json(r).into_response(),
            Whole::Completion(r) => Json(r).into_response(),
            Whole::Embedding(r) => Json(r).into_response(),
            Whole::Messages(r) => Json(r).into_response(),
        }
    }

    /// The answer as the request log may store it (when the operator stores bodies).
    pub fn loggable(&self) -> Option<String> {
        match self {
            Whole::Chat(r) => crate::log_fields::body_of(r),
            Whole::Completion(r) => crate::log_fields::body_of(r),
            Whole::Embedding(r) => crate::log_fields::body_of(r),
            Whole::Messages(r) => crate::log_fields::body_of(r),
        }
    }
}

/// What an upstream answered: whole (with the time spent upstream, for `server-timing` and the log), or a
/// stream of items with the encoder that writes them in the route's shape.
pub enum Answer {
    Whole(Box<Whole>, Duration),
    Stream(ChunkStream, Encoder),
}

fn whole(w: Whole, upstream: Duration) -> Answer {
    Answer::Whole(Box::new(w), upstream)
}

/// How a provider is spoken to.
#[derive(Clone, Copy)]
enum Provider {
    /// OpenAI, OpenAI-compatible servers and Azure OpenAI: OpenAI's API, natively.
    OpenAiShaped,
    Anthropic,
    Bedrock,
}

impl Provider {
    fn of(kind: ProviderKind) -> Provider {
        match kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi => Provider::OpenAiShaped,
            ProviderKind::Anthropic => Provider::Anthropic,
            ProviderKind::AwsBedrock => Provider::Bedrock,
            // Never dispatched (calls to it are routed to its targets); its models have no URLs, a 502.
            ProviderKind::VirtualModel => Provider::OpenAiShaped,
        }
    }
}

/// The first Azure OpenAI API version that takes `stream_options`; older ones refuse it as an unknown
/// parameter (400), so their streams are sent as the client wrote them.
const AZURE_STREAM_OPTIONS_SINCE: &str = "2024-09-01";

/// Whether an OpenAI-shaped upstream may be asked for a stream's usage (`stream_options.include_usage`).
fn takes_stream_options(target: &Target) -> bool {
    match target.account() {
        // Dated versions compare as strings; the v1 API's words (`preview`, `latest`) are all recent.
        ProviderAccountSpec::AzureOpenAi(a) => {
            !a.api_version.starts_with(|c: char| c.is_ascii_digit())
                || a.api_version.as_str() >= AZURE_STREAM_OPTIONS_SINCE
        }
        // A virtual model is never dispatched to itself: routing sends the call to a real target first.
        ProviderAccountSpec::OpenAi(_)
        | ProviderAccountSpec::OpenAiCompatible(_)
        | ProviderAccountSpec::Anthropic(_)
        | ProviderAccountSpec::AwsBedrock(_)
        | ProviderAccountSpec::VirtualModel(_) => true,
    }
}

/// One attempt at `request` on `target`: timed per provider account and route for the metrics, and a span
/// of its own (the parent the upstream sees) when spans are exported.
pub async fn dispatch(app: &App, target: &Target, request: Request) -> Result<Answer, ApiError> {
    use opentelemetry::trace::SpanKind;
    let route = request.route();
    let account = target.account().name().to_string();
    let mut span = crate::observability::trace::start("upstream attempt", SpanKind::Client);
    let started = Instant::now();
    let result = dispatch_once(app, target, request).await;
    let took = started.elapsed();
    if let Some(error) = upstream_outcome(&result) {
        app.metrics.upstream(&account, route, took, error);
    }
    if let Some(s) = &mut span {
        s.attribute("gatehouse.route", route);
        s.attribute("gatehouse.provider_account", account);
        s.attribute("gatehouse.model", target.served.clone());
        s.status(match &result {
            Ok(_) => 200,
            Err(e) => e.parts().0.as_u16(),
        });
        s.leave();
    }
    result
}

/// How an attempt went upstream: `Some(None)` answered, `Some(Some(kind))` failed there, `None` never got
/// there (the client's request could not be sent, or the gateway failed itself).
fn upstream_outcome(result: &Result<Answer, ApiError>) -> Option<Option<&'static str>> {
    let Err(e) = result else { return Some(None) };
    if let ApiError::UpstreamStatus { status, .. } = e {
        return Some(Some(if *status >= 500 { "status_5xx" } else { "status_4xx" }));
    }
    if let ApiError::GatewayTimeout(_) = e {
        return Some(Some("timeout"));
    }
    if let ApiError::BadGateway(_) = e {
        return Some(Some("unreachable"));
    }
    None
}

async fn dispatch_once(app: &App, target: &Target, request: Request) -> Result<Answer, ApiError> {
    let provider = Provider::of(target.kind());
    match request {
        Request::Chat(req) => {
            let usage = ClientUsage::asked(req.wants_stream_usage());
            Ok(match chat(app, target, provider, req).await? {
                Chat::Whole(r, upstream) => whole(Whole::Chat(*r), upstream),
                Chat::Stream(s) => Answer::Stream(s, Encoder::Chat(usage)),
            })
        }
        Request::Completions(req) => completions(app, target, provider, req).await,
        Request::Embeddings(req) => embeddings(app, target, provider, req).await,
        Request::Messages(req) => messages(app, target, provider, req).await,
    }
}

/// A chat answer in OpenAI's shape: whole, or a stream of chat chunks.
enum Chat {
    Whole(Box<ChatResponse>, Duration),
    Stream(ChunkStream),
}

/// A chat request to any provider, answered in OpenAI's shape. A stream always reports its usage (in a
/// last usage-only chunk), whether or not the client asked for it: limits, budgets and the request log
/// need it, and the encoder hides it from a client that did not ask.
async fn chat(app: &App, target: &Target, provider: Provider, mut req: ChatRequest) -> Result<Chat, ApiError> {
    let stream = req.is_stream();
    let created = app.now().unix_timestamp();
    let started = Instant::now();
    match provider {
        Provider::OpenAiShaped => {
            target.model_id().clone_into(&mut req.model);
            if stream && takes_stream_options(target) {
                req.ask_stream_usage();
            }
            let resp = send(app, upstream::openai_like(app, target, Endpoint::Chat, &req)?).await?;
            if stream {
                return Ok(Chat::Stream(chunks(app, resp, Decoder::openai(&target.name, false))));
            }
            let mut r: ChatResponse = read_json(app, resp).await?;
            target.name.clone_into(&mut r.model);
            Ok(Chat::Whole(Box::new(r), started.elapsed()))
        }
        Provider::Anthropic => {
            let areq = anthropic::chat_request_to_anthropic(&req, target.model_id()).map_err(translate_error)?;
            let resp = send(app, upstream::anthropic(app, target, &areq)?).await?;
            if stream {
                let conv = AnthropicStreamToChat::new(target.name.as_str(), created, true);
                return Ok(Chat::Stream(chunks(app, resp, Decoder::Anthropic { sse: SseDecoder::new(), conv })));
            }
            let r: MessagesResponse = read_json(app, resp).await?;
            Ok(Chat::Whole(
                Box::new(anthropic::anthropic_response_to_chat(&r, &target.name, created)),
                started.elapsed(),
            ))
        }
        Provider::Bedrock => {
            let creq = bedrock::chat_request_to_converse(&req).map_err(translate_error)?;
            let resp = send(app, upstream::bedrock(app, target, &creq, stream)?).await?;
            let id = format!("chatcmpl-{}", crate::request_id::random_uuid().simple());
            if stream {
                let conv = ConverseStreamToChat::new(id, target.name.as_str(), created, true);
                let decoder = Decoder::Bedrock { frames: EventStreamDecoder::new(), conv };
                return Ok(Chat::Stream(chunks(app, resp, decoder)));
            }
            let r: ConverseResponse = read_json(app, resp).await?;
            Ok(Chat::Whole(
                Box::new(bedrock::converse_response_to_chat(&r, &target.name, &id, created)),
                started.elapsed(),
            ))
        }
    }
}

/// OpenAI legacy Completions: native for OpenAI-shaped accounts, served through the chat API for the others.
async fn completions(
    app: &App,
    target: &Target,
    provider: Provider,
    mut req: CompletionRequest,
) -> Result<Answer, ApiError> {
    let usage = ClientUsage::asked(req.wants_stream_usage());
    match provider {
        Provider::OpenAiShaped => {
            let stream = req.stream == Some(true);
            target.model_id().clone_into(&mut req.model);
            if stream && takes_stream_options(target) {
                req.ask_stream_usage();
            }
            let started = Instant::now();
            let resp = send(app, upstream::openai_like(app, target, Endpoint::Completions, &req)?).await?;
            if stream {
                let decoder = Decoder::openai(&target.name, true);
                return Ok(Answer::Stream(chunks(app, resp, decoder), Encoder::Completion(usage)));
            }
            let mut r: CompletionResponse = read_json(app, resp).await?;
            target.name.clone_into(&mut r.model);
            Ok(whole(Whole::Completion(r), started.elapsed()))
        }
        Provider::Anthropic | Provider::Bedrock => {
            let chat_req = openai::completion_request_to_chat(&req).map_err(translate_error)?;
            Ok(match chat(app, target, provider, chat_req).await? {
                Chat::Whole(r, upstream) => whole(Whole::Completion(openai::chat_response_to_completion(&r)), upstream),
                Chat::Stream(s) => Answer::Stream(s, Encoder::Completion(usage)),
            })
        }
    }
}

/// OpenAI Embeddings, offered by OpenAI-shaped accounts only.
async fn embeddings(
    app: &App,
    target: &Target,
    provider: Provider,
    mut req: EmbeddingRequest,
) -> Result<Answer, ApiError> {
    match provider {
        Provider::OpenAiShaped => {
            target.model_id().clone_into(&mut req.model);
            let started = Instant::now();
            let resp = send(app, upstream::openai_like(app, target, Endpoint::Embeddings, &req)?).await?;
            let mut r: EmbeddingResponse = read_json(app, resp).await?;
            let upstream = started.elapsed();
            target.name.clone_into(&mut r.model);
            Ok(whole(Whole::Embedding(r), upstream))
        }
        Provider::Anthropic | Provider::Bedrock => Err(ApiError::invalid(
            "model",
            format!("{}: embeddings are not available through {} accounts", target.name, target.kind()),
        )),
    }
}

/// Anthropic Messages: native to Anthropic accounts, translated for the others.
async fn messages(
    app: &App,
    target: &Target,
    provider: Provider,
    mut req: MessagesRequest,
) -> Result<Answer, ApiError> {
    match provider {
        Provider::Anthropic => {
            let stream = req.is_stream();
            target.model_id().clone_into(&mut req.model);
            let started = Instant::now();
            let resp = send(app, upstream::anthropic(app, target, &req)?).await?;
            if stream {
                let decoder = Decoder::AnthropicNative { sse: SseDecoder::new(), model: target.name.clone() };
                return Ok(Answer::Stream(chunks(app, resp, decoder), Encoder::Anthropic(None)));
            }
            let mut r: MessagesResponse = read_json(app, resp).await?;
            let upstream = started.elapsed();
            target.name.clone_into(&mut r.model);
            Ok(whole(Whole::Messages(r), upstream))
        }
        Provider::OpenAiShaped | Provider::Bedrock => {
            let chat_req = anthropic::messages_request_to_chat(&req, target.model_id()).map_err(translate_error)?;
            Ok(match chat(app, target, provider, chat_req).await? {
                Chat::Whole(r, upstream) => whole(
                    Whole::Messages(anthropic::chat_response_to_messages(&r, &target.name).map_err(translate_error)?),
                    upstream,
                ),
                Chat::Stream(s) => Answer::Stream(
                    s,
                    Encoder::Anthropic(Some(Box::new(ChatStreamToAnthropic::new(target.name.as_str())))),
                ),
            })
        }
    }
}
