//! Transport to upstream providers: building each kind's request from the compiled account (URL,
//! credentials), sending it under the gateway's timeouts, and turning failures into 502 / 504.

use std::cell::RefCell;

use gatehouse_core::spec::{ProviderAccountSpec, ProviderAuth};
use gatehouse_providers::anthropic;
use gatehouse_providers::bedrock::{self, ConverseRequest};
use gatehouse_providers::{azure, sigv4, TranslateError};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::resolve::Target;
use super::table::Endpoint;
use crate::error::ApiError;
use crate::state::{App, ServerConfig};

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

/// The client this request calls upstreams with (and guardrail webhooks).
pub(crate) fn http(app: &App) -> reqwest::Client {
    OWN_CLIENT.with_borrow(|own| own.clone()).unwrap_or_else(|| app.http.clone())
}

/// A POST to a compiled URL with the request's client.
fn post(app: &App, url: &reqwest::Url) -> RequestBuilder {
    http(app).post(url.clone())
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
    endpoint: Endpoint,
    body: &impl Serialize,
) -> Result<RequestBuilder, ApiError> {
    let url = target.url(endpoint)?;
    let rb = match (target.account(), target.compiled().credentials()?) {
        (ProviderAccountSpec::AzureOpenAi(_), Some(ProviderAuth::AzureOpenAi(k))) => {
            post(app, url).header(azure::API_KEY_HEADER, k.api_key.expose().as_str())
        }
        (ProviderAccountSpec::AzureOpenAi(_), _) => return Err(wrong_credentials(target)),
        (_, Some(ProviderAuth::OpenAi(k))) => post(app, url).bearer_auth(k.api_key.expose()),
        (_, Some(ProviderAuth::OpenAiCompatible(k))) => match &k.api_key {
            Some(key) => post(app, url).bearer_auth(key.expose()),
            None => post(app, url),
        },
        (_, None) => post(app, url),
        (_, Some(ProviderAuth::Anthropic(_) | ProviderAuth::AwsBedrock(_) | ProviderAuth::AzureOpenAi(_))) => {
            return Err(wrong_credentials(target))
        }
    };
    Ok(rb.json(body))
}

/// A Messages API request to an Anthropic account.
pub fn anthropic(app: &App, target: &Target, body: &impl Serialize) -> Result<RequestBuilder, ApiError> {
    let Some(ProviderAuth::Anthropic(k)) = target.compiled().credentials()? else {
        return Err(wrong_credentials(target));
    };
    Ok(post(app, target.url(Endpoint::Messages)?)
        .header(anthropic::API_KEY_HEADER, k.api_key.expose().as_str())
        .header(anthropic::VERSION_HEADER, ANTHROPIC_VERSION)
        .json(body))
}

/// A Converse (or ConverseStream) request, signed with SigV4 for the account's region.
pub fn bedrock(app: &App, target: &Target, body: &ConverseRequest, stream: bool) -> Result<RequestBuilder, ApiError> {
    let ProviderAccountSpec::AwsBedrock(a) = target.account() else { return Err(wrong_credentials(target)) };
    let Some(ProviderAuth::AwsBedrock(k)) = target.compiled().credentials()? else {
        return Err(wrong_credentials(target));
    };
    let url = target.url(if stream { Endpoint::ConverseStream } else { Endpoint::Converse })?;
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    let credentials = sigv4::Credentials {
        access_key_id: k.access_key_id.expose().clone(),
        secret_access_key: k.secret_access_key.expose().clone(),
        session_token: k.session_token.as_ref().map(|t| t.expose().clone()),
    };
    let request = sigv4::Request { method: "POST", url: url.as_str(), headers: &headers, body: &bytes };
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
    let rb = crate::observability::trace::propagate(rb);
    let resp = match tokio::time::timeout(app.config.upstream_first_byte_timeout, rb.send()).await {
        Err(_) => return Err(ApiError::GatewayTimeout("the upstream provider did not answer in time".into())),
        Ok(Err(e)) => return Err(transport(e)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    // An error body is only quoted: a little of it, within the answer timeout, is enough.
    let body = tokio::time::timeout(app.config.upstream_timeout, read_limited(resp, 64 * 1024))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Err(ApiError::UpstreamStatus {
        status: status.as_u16(),
        message: format!("the upstream provider answered {status}: {}", provider_message(&body)),
    })
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
    let bytes =
        match tokio::time::timeout(app.config.upstream_timeout, read_limited(resp, app.config.max_upstream_body)).await
        {
            Err(_) => {
                return Err(ApiError::GatewayTimeout("the upstream provider's answer did not finish in time".into()))
            }
            Ok(r) => r?,
        };
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadGateway(format!("malformed upstream response: {e}")))
}

/// A whole body of at most `max` bytes, refused as soon as it is known to be larger (by its
/// `content-length` or by what has arrived), so a huge or endless answer never sits in memory.
async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::BadGateway(format!("the upstream provider's answer exceeds {max} bytes"));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if out.len() + chunk.len() > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
