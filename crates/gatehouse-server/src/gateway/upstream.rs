//! Calls to upstream providers: building each kind's request (URL, credentials, model id), sending it under
//! the gateway's timeouts, and turning failures into 502 / 504.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use gatehouse_core::spec::{ProviderAccountSpec, ProviderAuth, ProviderKind};
use gatehouse_providers::anthropic::{self, AnthropicStreamToChat, MessagesResponse};
use gatehouse_providers::bedrock::{self, ConverseRequest, ConverseResponse, ConverseStreamToChat, EventStreamDecoder};
use gatehouse_providers::openai::{ChatRequest, ChatResponse, SseDecoder};
use gatehouse_providers::{azure, sigv4, TranslateError};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::resolve::Target;
use super::stream::{chunks, ChunkStream, Decoder};
use crate::error::ApiError;
use crate::state::{App, ServerConfig};

pub const OPENAI_BASE: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_BASE: &str = "https://api.anthropic.com";
/// The Messages API version the translations are written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The client for upstream providers, with the gateway's connection settings.
pub fn client(config: &ServerConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().connect_timeout(config.upstream_connect_timeout).tcp_nodelay(true).build()
}

thread_local! {
    /// The upstream client of the runtime on this thread, when it has one of its own.
    static OWN_CLIENT: RefCell<Option<reqwest::Client>> = const { RefCell::new(None) };
}

/// Makes requests served on this thread call upstreams with `client` instead of the app's shared one. A
/// server running one single-threaded runtime per core gives each its own: a client's connections are
/// driven by tasks on the runtime that opened them, so with a shared pool a request and its upstream
/// connection could sit on two threads, and every exchange would wake the other one.
pub fn use_own_client(client: reqwest::Client) {
    OWN_CLIENT.set(Some(client));
}

/// The client this request calls upstreams with.
fn http(app: &App) -> reqwest::Client {
    OWN_CLIENT.with_borrow(|own| own.clone()).unwrap_or_else(|| app.http.clone())
}

/// Beyond this many distinct upstream URLs (edited accounts leave theirs behind) the memo starts afresh.
const PARSED_URLS_MAX: usize = 1024;

thread_local! {
    /// Upstream URLs already parsed, by their text. They come from the accounts' settings, so there are few,
    /// and parsing one (host normalisation included) cost more than the rest of building the request.
    static PARSED_URLS: RefCell<HashMap<String, reqwest::Url>> = RefCell::default();
}

/// A POST to `url` with the request's client.
fn post(app: &App, url: String) -> RequestBuilder {
    let parsed = PARSED_URLS.with_borrow_mut(|memo| {
        if let Some(u) = memo.get(&url) {
            return Some(u.clone());
        }
        let u = reqwest::Url::parse(&url).ok()?;
        if memo.len() >= PARSED_URLS_MAX {
            memo.clear();
        }
        memo.insert(url.clone(), u.clone());
        Some(u)
    });
    match parsed {
        Some(u) => http(app).post(u),
        // reqwest reports the malformed URL when the request is sent, as before.
        None => http(app).post(url),
    }
}

/// The OpenAI-shaped operations.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    Chat,
    Completions,
    Embeddings,
}

impl Operation {
    fn path(self) -> &'static str {
        match self {
            Operation::Chat => "chat/completions",
            Operation::Completions => "completions",
            Operation::Embeddings => "embeddings",
        }
    }
}

/// A chat answer: whole (with the time spent upstream, for `server-timing`), or a stream of chunks.
pub enum Reply<T> {
    Whole(T, Duration),
    Stream(ChunkStream),
}

/// A client's request the target provider cannot express is the client's 400; anything about what the
/// upstream sent is a 502.
pub fn translate_error(e: TranslateError) -> ApiError {
    match e {
        TranslateError::Invalid { field, message } => ApiError::invalid(field, message),
        other => ApiError::BadGateway(other.to_string()),
    }
}

fn wrong_credentials(target: &Target) -> ApiError {
    ApiError::BadGateway(format!(
        "provider account {} holds credentials of the wrong kind for {}",
        target.account().name(),
        target.kind()
    ))
}

/// A request to an OpenAI-shaped upstream (openai, openai-compatible, azure-openai), authenticated.
pub fn openai_like(
    app: &App,
    target: &Target,
    op: Operation,
    body: &impl Serialize,
) -> Result<RequestBuilder, ApiError> {
    let auth = target.credentials(app)?;
    let rb = match target.account() {
        ProviderAccountSpec::AzureOpenAi(a) => {
            let deployment = a.deployments.get(&target.model().name).map(String::as_str).unwrap_or(target.model_id());
            let endpoint = a.base_url.as_ref().unwrap_or(&a.endpoint);
            let url = azure::Deployment::new(endpoint.as_str(), deployment, Some(&a.api_version)).url(op.path());
            let Some(ProviderAuth::AzureOpenAi(k)) = auth.as_deref() else { return Err(wrong_credentials(target)) };
            post(app, url).header(azure::API_KEY_HEADER, k.api_key.expose().as_str())
        }
        acct => {
            let base = acct.base_url().map(|u| u.as_str()).unwrap_or(OPENAI_BASE);
            let url = format!("{}/{}", base.trim_end_matches('/'), op.path());
            let key = match auth.as_deref() {
                Some(ProviderAuth::OpenAi(k)) => Some(k.api_key.expose()),
                Some(ProviderAuth::OpenAiCompatible(k)) => k.api_key.as_ref().map(|k| k.expose()),
                None => None,
                Some(_) => return Err(wrong_credentials(target)),
            };
            let rb = post(app, url);
            match key {
                Some(k) => rb.bearer_auth(k),
                None => rb,
            }
        }
    };
    Ok(rb.json(body))
}

/// A Messages API request to an Anthropic account.
pub fn anthropic(app: &App, target: &Target, body: &impl Serialize) -> Result<RequestBuilder, ApiError> {
    let auth = target.credentials(app)?;
    let Some(ProviderAuth::Anthropic(k)) = auth.as_deref() else { return Err(wrong_credentials(target)) };
    let base = target.account().base_url().map(|u| u.as_str()).unwrap_or(ANTHROPIC_BASE);
    Ok(post(app, anthropic::messages_url(base))
        .header(anthropic::API_KEY_HEADER, k.api_key.expose().as_str())
        .header(anthropic::VERSION_HEADER, ANTHROPIC_VERSION)
        .json(body))
}

/// A Converse (or ConverseStream) request, signed with SigV4 for the account's region.
pub fn bedrock(app: &App, target: &Target, body: &ConverseRequest, stream: bool) -> Result<RequestBuilder, ApiError> {
    let ProviderAccountSpec::AwsBedrock(a) = target.account() else { return Err(wrong_credentials(target)) };
    let auth = target.credentials(app)?;
    let Some(ProviderAuth::AwsBedrock(k)) = auth.as_deref() else { return Err(wrong_credentials(target)) };
    let base = a.base_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned());
    let base = base.unwrap_or_else(|| bedrock::runtime_endpoint(&a.region));
    let path = if stream {
        bedrock::converse_stream_path(target.model_id())
    } else {
        bedrock::converse_path(target.model_id())
    };
    let url = format!("{base}{path}");
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    let credentials = sigv4::Credentials {
        access_key_id: k.access_key_id.expose().clone(),
        secret_access_key: k.secret_access_key.expose().clone(),
        session_token: k.session_token.as_ref().map(|t| t.expose().clone()),
    };
    let request = sigv4::Request { method: "POST", url: &url, headers: &headers, body: &bytes };
    // Wall-clock time, not the app's clock: AWS refuses signatures more than a few minutes off real time.
    let now = time::OffsetDateTime::now_utc();
    let signed = sigv4::sign(&request, &credentials, &a.region, bedrock::SIGNING_SERVICE, now)
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    let mut rb = post(app, url).header("content-type", "application/json");
    for (name, value) in signed {
        rb = rb.header(name, value);
    }
    Ok(rb.body(bytes))
}

fn transport(e: reqwest::Error) -> ApiError {
    // Without the URL: an operator's internal base URL is none of the caller's business.
    let e = e.without_url();
    if e.is_timeout() {
        ApiError::GatewayTimeout(format!("the upstream provider timed out: {e}"))
    } else {
        ApiError::BadGateway(format!("the upstream provider could not be reached: {e}"))
    }
}

/// Sends under the first-byte timeout; a non-2xx answer becomes a 502 carrying the provider's message.
pub async fn send(app: &App, rb: RequestBuilder) -> Result<reqwest::Response, ApiError> {
    let resp = match tokio::time::timeout(app.config.upstream_first_byte_timeout, rb.send()).await {
        Err(_) => return Err(ApiError::GatewayTimeout("the upstream provider did not answer in time".into())),
        Ok(Err(e)) => return Err(transport(e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    Err(ApiError::BadGateway(format!("the upstream provider answered {status}: {}", provider_message(&body))))
}

/// The message of an error body in OpenAI's or Anthropic's (`error.message`) or Bedrock's (`message`) shape.
fn provider_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let m = v["error"]["message"].as_str().or(v["message"].as_str()).or(v["Message"].as_str());
        if let Some(m) = m {
            return m.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    text.chars().take(500).collect()
}

/// A whole answer's body, within `upstream_timeout`.
pub async fn read_json<T: DeserializeOwned>(app: &App, resp: reqwest::Response) -> Result<T, ApiError> {
    let bytes = match tokio::time::timeout(app.config.upstream_timeout, resp.bytes()).await {
        Err(_) => return Err(ApiError::GatewayTimeout("the upstream provider's answer did not finish in time".into())),
        Ok(r) => r.map_err(transport)?,
    };
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadGateway(format!("malformed upstream response: {e}")))
}

/// A chat request to whichever provider the target is on, answered in OpenAI's shape with the model named as
/// the client named it.
pub async fn chat(app: &App, target: &Target, mut req: ChatRequest) -> Result<Reply<ChatResponse>, ApiError> {
    let stream = req.is_stream();
    let include_usage = req.wants_stream_usage();
    let created = app.now().unix_timestamp();
    let started = Instant::now();
    match target.kind() {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi => {
            target.model_id().clone_into(&mut req.model);
            let resp = send(app, openai_like(app, target, Operation::Chat, &req)?).await?;
            if stream {
                return Ok(Reply::Stream(chunks(app, resp, Decoder::openai(&target.name, false))));
            }
            let mut r: ChatResponse = read_json(app, resp).await?;
            target.name.clone_into(&mut r.model);
            Ok(Reply::Whole(r, started.elapsed()))
        }
        ProviderKind::Anthropic => {
            let areq = anthropic::chat_request_to_anthropic(&req, target.model_id()).map_err(translate_error)?;
            let resp = send(app, self::anthropic(app, target, &areq)?).await?;
            if stream {
                let conv = AnthropicStreamToChat::new(target.name.as_str(), created, include_usage);
                return Ok(Reply::Stream(chunks(app, resp, Decoder::Anthropic { sse: SseDecoder::new(), conv })));
            }
            let r: MessagesResponse = read_json(app, resp).await?;
            Ok(Reply::Whole(anthropic::anthropic_response_to_chat(&r, &target.name, created), started.elapsed()))
        }
        ProviderKind::AwsBedrock => {
            let creq = bedrock::chat_request_to_converse(&req).map_err(translate_error)?;
            let resp = send(app, self::bedrock(app, target, &creq, stream)?).await?;
            let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
            if stream {
                let conv = ConverseStreamToChat::new(id, target.name.as_str(), created, include_usage);
                return Ok(Reply::Stream(chunks(
                    app,
                    resp,
                    Decoder::Bedrock { frames: EventStreamDecoder::new(), conv },
                )));
            }
            let r: ConverseResponse = read_json(app, resp).await?;
            Ok(Reply::Whole(bedrock::converse_response_to_chat(&r, &target.name, &id, created), started.elapsed()))
        }
    }
}
