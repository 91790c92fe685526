//! OpenAI (`/v1/...`) and Azure OpenAI (`/openai/deployments/{deployment}/...`) endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::body::{json_bytes_response, json_response, sse_data, stream_response};
use crate::controls::Controls;
use crate::errors::Api;
use crate::text::{self, ToolChoice, ToolDef};
use crate::{anthropic, Endpoint, Shared};

const FINGERPRINT: &str = "fp_mock";
const BAD_JSON: &str =
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
                        HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid \
                        JSON.)";
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// One request's identity, passed from the route to the shared OpenAI/Azure logic.
struct Call<'a> {
    api: Api,
    endpoint: Endpoint,
    seq: u64,
    /// The Azure deployment; it stands in for the model and may carry control markers.
    deployment: Option<&'a str>,
}

pub(crate) fn parse_object(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body).ok().filter(Value::is_object)
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn bearer(headers: &HeaderMap) -> Option<Response> {
    let token = header_str(headers, header::AUTHORIZATION)
        .filter(|v| v.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")))
        .map(|v| v[7..].trim());
    match token {
        Some(t) if !t.is_empty() => None,
        _ => Some(Api::OpenAi.error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using \
             Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )),
    }
}

fn azure_auth(headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    if header_str(headers, "api-key").is_none_or(|k| k.trim().is_empty()) {
        return Some(Api::Azure.error(
            401,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key \
             for an active subscription and use a correct regional API endpoint for your resource.",
        ));
    }
    if uri.query().and_then(|q| text::query_param(q, "api-version")).is_none_or(str::is_empty) {
        return Some(Api::Azure.error(400, "Missing required query parameter 'api-version'."));
    }
    None
}

// The non-streaming chat answer is what the load benchmark hammers, so it is serialised from borrowed
// structs (field order as OpenAI sends it) instead of being built as a `Value` tree.
#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChatChoice<'a>; 1],
    usage: UsageOut,
    system_fingerprint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_filter_results: Option<Value>,
}

#[derive(Serialize)]
struct ChatChoice<'a> {
    index: u32,
    message: ChatMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_filter_results: Option<Value>,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CachedTokens,
    completion_tokens_details: ReasoningTokens,
}

#[derive(Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

impl UsageOut {
    fn new(prompt: u64, completion: u64) -> Self {
        UsageOut {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: CachedTokens { cached_tokens: 0 },
            completion_tokens_details: ReasoningTokens { reasoning_tokens: 0 },
        }
    }
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

/// Azure's content-filter annotations: gateways must tolerate them, and the empty-choices first chunk of an
/// Azure stream in particular.
fn azure_filter_results() -> Value {
    let safe = json!({"filtered": false, "severity": "safe"});
    json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe})
}

fn max_tokens(req: &Value) -> Option<u64> {
    req.get("max_completion_tokens").or_else(|| req.get("max_tokens")).and_then(Value::as_u64)
}

fn include_usage(req: &Value) -> bool {
    req.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false)
}

fn streaming(req: &Value) -> bool {
    req.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) async fn chat(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::OpenAiChat, &method, &uri, &headers, &body);
    let resp = match bearer(&headers) {
        Some(resp) => resp,
        None => {
            let call = Call { api: Api::OpenAi, endpoint: Endpoint::OpenAiChat, seq, deployment: None };
            chat_reply(&s, call, &headers, &body).await
        }
    };
    Api::OpenAi.tag(resp, seq)
}

pub(crate) async fn azure_chat(
    State(s): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::AzureChat, &method, &uri, &headers, &body);
    let resp = match azure_auth(&headers, &uri) {
        Some(resp) => resp,
        None => {
            let call = Call { api: Api::Azure, endpoint: Endpoint::AzureChat, seq, deployment: Some(&deployment) };
            chat_reply(&s, call, &headers, &body).await
        }
    };
    Api::Azure.tag(resp, seq)
}

fn tools(req: &Value) -> Vec<ToolDef<'_>> {
    let Some(list) = req.get("tools").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|t| {
            let f = t.get("function")?;
            Some(ToolDef { name: f.get("name")?.as_str()?, schema: f.get("parameters") })
        })
        .collect()
}

fn tool_choice(req: &Value) -> ToolChoice {
    match req.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Forced(None),
        Some(Value::Object(o)) => {
            ToolChoice::Forced(o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_owned))
        }
        _ => ToolChoice::Auto,
    }
}

async fn chat_reply(s: &Arc<Shared>, call: Call<'_>, headers: &HeaderMap, body: &[u8]) -> Response {
    let api = call.api;
    let Some(req) = parse_object(body) else { return api.error(400, BAD_JSON) };
    let model_field = req.get("model").and_then(Value::as_str);
    let Some(model) = model_field.or(call.deployment) else {
        return api.error(400, "you must provide a model parameter");
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return api.error(400, "Missing required parameter: 'messages'.");
    };
    let controls = Controls::parse(headers, &[model, call.deployment.unwrap_or("")]);
    if let Some(resp) = s.before_reply(api, &controls, call.endpoint, model).await {
        return resp;
    }

    let azure = api == Api::Azure;
    let prompt_tokens: u64 = messages.iter().map(text::prompt_words).sum();
    let tool = text::decide_tool(&tools(&req), &tool_choice(&req), messages);
    let reply = text::reply(&text::last_user_text(messages), controls.tokens, max_tokens(&req));
    let completion_tokens = tool.as_ref().map_or(reply.tokens, |t| t.tokens);
    let finish = match (&tool, reply.truncated) {
        (Some(_), _) => "tool_calls",
        (None, true) => "length",
        (None, false) => "stop",
    };
    let id = format!("chatcmpl-mock{}", call.seq);
    let call_id = format!("call_mock{}", call.seq);
    let created = text::unix_now();
    let usage = usage(prompt_tokens, completion_tokens);

    if !streaming(&req) {
        let tool_calls = tool.as_ref().map(|t| {
            [ToolCallOut {
                id: &call_id,
                kind: "function",
                function: FunctionOut { name: &t.name, arguments: &t.arguments_json },
            }]
        });
        let out = ChatCompletion {
            id: &id,
            object: "chat.completion",
            created,
            model,
            choices: [ChatChoice {
                index: 0,
                message: ChatMessage {
                    role: "assistant",
                    content: if tool.is_some() { None } else { Some(&reply.text) },
                    tool_calls,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: finish,
                content_filter_results: azure.then(azure_filter_results),
            }],
            usage: UsageOut::new(prompt_tokens, completion_tokens),
            system_fingerprint: FINGERPRINT,
            prompt_filter_results: azure
                .then(|| json!([{"prompt_index": 0, "content_filter_results": azure_filter_results()}])),
        };
        return json_bytes_response(serde_json::to_vec(&out).unwrap_or_default(), &controls);
    }

    let with_usage = include_usage(&req);
    let chunk = |choice: Value| {
        let mut v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [choice],
        });
        if with_usage {
            v["usage"] = Value::Null;
        }
        sse_data(&v)
    };
    let mut frames = Vec::new();
    if azure {
        frames.push(sse_data(&json!({
            "choices": [], "created": 0, "id": "", "model": "", "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": azure_filter_results()}],
        })));
    }
    match &tool {
        None => {
            frames.push(chunk(json!({
                "index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                "logprobs": null, "finish_reason": null,
            })));
            for d in text::stream_deltas(&reply.text, controls.delta_chars) {
                frames
                    .push(chunk(json!({"index": 0, "delta": {"content": d}, "logprobs": null, "finish_reason": null})));
            }
        }
        Some(t) => {
            frames.push(chunk(json!({
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": t.name, "arguments": ""}}],
                    "refusal": null,
                },
                "logprobs": null,
                "finish_reason": null,
            })));
            for f in text::fragments(&t.arguments_json, 8) {
                frames.push(chunk(json!({
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": f}}]},
                    "logprobs": null,
                    "finish_reason": null,
                })));
            }
        }
    }
    frames.push(chunk(json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish})));
    if with_usage {
        frames.push(sse_data(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": usage,
        })));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    stream_response(s, EVENT_STREAM, frames, &controls)
}

pub(crate) async fn completions(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::OpenAiCompletions, &method, &uri, &headers, &body);
    let resp = match bearer(&headers) {
        Some(resp) => resp,
        None => {
            let call = Call { api: Api::OpenAi, endpoint: Endpoint::OpenAiCompletions, seq, deployment: None };
            completion_reply(&s, call, &headers, &body).await
        }
    };
    Api::OpenAi.tag(resp, seq)
}

pub(crate) async fn azure_completions(
    State(s): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::AzureCompletions, &method, &uri, &headers, &body);
    let resp = match azure_auth(&headers, &uri) {
        Some(resp) => resp,
        None => {
            let call =
                Call { api: Api::Azure, endpoint: Endpoint::AzureCompletions, seq, deployment: Some(&deployment) };
            completion_reply(&s, call, &headers, &body).await
        }
    };
    Api::Azure.tag(resp, seq)
}

/// The prompt to echo and its word count; a prompt may be a string, strings, or token arrays (counted one
/// token per element).
fn completion_prompt(prompt: &Value) -> (String, u64) {
    fn tokens(v: &Value) -> u64 {
        match v {
            Value::String(s) => text::words(s),
            Value::Number(_) => 1,
            Value::Array(a) => a.iter().map(tokens).sum(),
            _ => 0,
        }
    }
    let echo = match prompt {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().rev().find_map(Value::as_str).unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    (echo, tokens(prompt))
}

async fn completion_reply(s: &Arc<Shared>, call: Call<'_>, headers: &HeaderMap, body: &[u8]) -> Response {
    let api = call.api;
    let Some(req) = parse_object(body) else { return api.error(400, BAD_JSON) };
    let model_field = req.get("model").and_then(Value::as_str);
    let Some(model) = model_field.or(call.deployment) else {
        return api.error(400, "you must provide a model parameter");
    };
    let Some(prompt) = req.get("prompt") else { return api.error(400, "Missing required parameter: 'prompt'.") };
    let controls = Controls::parse(headers, &[model, call.deployment.unwrap_or("")]);
    if let Some(resp) = s.before_reply(api, &controls, call.endpoint, model).await {
        return resp;
    }
    let (echo, prompt_tokens) = completion_prompt(prompt);
    let reply = text::reply(&echo, controls.tokens, max_tokens(&req));
    let finish = if reply.truncated { "length" } else { "stop" };
    let id = format!("cmpl-mock{}", call.seq);
    let created = text::unix_now();
    let usage = usage(prompt_tokens, reply.tokens);

    if !streaming(&req) {
        let out = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"text": reply.text, "index": 0, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        });
        return json_response(out, &controls);
    }
    let with_usage = include_usage(&req);
    let chunk = |text: &str, finish: Value| {
        let mut v = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        });
        if with_usage {
            v["usage"] = Value::Null;
        }
        sse_data(&v)
    };
    let mut frames: Vec<Bytes> =
        text::stream_deltas(&reply.text, controls.delta_chars).into_iter().map(|d| chunk(d, Value::Null)).collect();
    frames.push(chunk("", Value::from(finish)));
    if with_usage {
        frames.push(sse_data(&json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": usage,
        })));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    stream_response(s, EVENT_STREAM, frames, &controls)
}

pub(crate) async fn embeddings(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::OpenAiEmbeddings, &method, &uri, &headers, &body);
    let resp = match bearer(&headers) {
        Some(resp) => resp,
        None => {
            let call = Call { api: Api::OpenAi, endpoint: Endpoint::OpenAiEmbeddings, seq, deployment: None };
            embedding_reply(&s, call, &headers, &body).await
        }
    };
    Api::OpenAi.tag(resp, seq)
}

pub(crate) async fn azure_embeddings(
    State(s): State<Arc<Shared>>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::AzureEmbeddings, &method, &uri, &headers, &body);
    let resp = match azure_auth(&headers, &uri) {
        Some(resp) => resp,
        None => {
            let call =
                Call { api: Api::Azure, endpoint: Endpoint::AzureEmbeddings, seq, deployment: Some(&deployment) };
            embedding_reply(&s, call, &headers, &body).await
        }
    };
    Api::Azure.tag(resp, seq)
}

/// The inputs to embed, each as the text its vector derives from and its token count. A flat array of
/// numbers is one pre-tokenised input, not many.
fn embedding_inputs(input: &Value) -> Vec<(String, u64)> {
    let one = |v: &Value| match v {
        Value::String(s) => Some((s.clone(), text::words(s))),
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_number) => Some((v.to_string(), a.len() as u64)),
        _ => None,
    };
    match input {
        Value::Array(a) if !a.is_empty() && !a.iter().all(Value::is_number) => {
            a.iter().map(one).collect::<Option<Vec<_>>>().unwrap_or_default()
        }
        v => one(v).into_iter().collect(),
    }
}

async fn embedding_reply(s: &Arc<Shared>, call: Call<'_>, headers: &HeaderMap, body: &[u8]) -> Response {
    let api = call.api;
    let Some(req) = parse_object(body) else { return api.error(400, BAD_JSON) };
    let model_field = req.get("model").and_then(Value::as_str);
    let Some(model) = model_field.or(call.deployment) else {
        return api.error(400, "you must provide a model parameter");
    };
    let inputs = req.get("input").map(embedding_inputs).unwrap_or_default();
    if inputs.is_empty() {
        return api.error(400, "'input' must be a non-empty string, array of strings, or array of token arrays.");
    }
    let controls = Controls::parse(headers, &[model, call.deployment.unwrap_or("")]);
    if let Some(resp) = s.before_reply(api, &controls, call.endpoint, model).await {
        return resp;
    }
    let dims = req.get("dimensions").and_then(Value::as_u64).filter(|d| (1..=8192).contains(d)).unwrap_or(8);
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut total = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (key, tokens))| {
            total += tokens;
            let vector = text::embedding(key, dims as usize);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::from(text::base64(&bytes))
            } else {
                Value::from(vector)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let out = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    });
    json_response(out, &controls)
}

const OPENAI_MODELS: &[&str] = &["gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "mock-model"];

/// `GET /v1/models` is both OpenAI's and Anthropic's path; the Anthropic headers decide which one answers.
pub(crate) async fn models(State(s): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let seq = s.begin(Endpoint::Models, &method, &uri, &headers, &Bytes::new());
    if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
        return Api::Anthropic.tag(anthropic::models(&headers), seq);
    }
    let resp = match bearer(&headers) {
        Some(resp) => resp,
        None => {
            let data: Vec<Value> = OPENAI_MODELS
                .iter()
                .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "mock"}))
                .collect();
            Json(json!({"object": "list", "data": data})).into_response()
        }
    };
    Api::OpenAi.tag(resp, seq)
}
