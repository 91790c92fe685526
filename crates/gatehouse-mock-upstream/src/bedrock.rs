//! Bedrock Converse (`POST /model/{modelId}/converse`) and ConverseStream (`.../converse-stream`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use crate::body::{json_response, stream_response};
use crate::controls::Controls;
use crate::errors::{bedrock_error, Api};
use crate::eventstream;
use crate::openai::parse_object;
use crate::text::{self, ToolChoice, ToolDef};
use crate::{Endpoint, Shared};

/// Real Bedrock pads stream payloads with a `p` field of varying length so sizes leak nothing; a gateway
/// that parses strictly must meet it here rather than in production.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Returns the rejection, if any. Only presence and form are checked: SigV4 correctness is tested against the gateway's signer itself, and
/// the recorded headers let tests look closer.
fn check(headers: &HeaderMap) -> Option<Response> {
    let forbidden = |kind: &str, msg: &str| Some(bedrock_error(StatusCode::FORBIDDEN, kind, msg));
    let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return forbidden("MissingAuthenticationTokenException", "Missing Authentication Token");
    };
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=") {
        return forbidden(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' \
             parameter. Authorization header requires 'SignedHeaders' parameter.",
        );
    }
    if !headers.contains_key("x-amz-date") {
        return forbidden(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    None
}

pub(crate) async fn converse(
    State(s): State<Arc<Shared>>,
    Path(model_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let seq = s.begin(Endpoint::BedrockConverse, &method, &uri, &headers, &body);
    let resp = match check(&headers) {
        Some(resp) => resp,
        None => reply(&s, Endpoint::BedrockConverse, &model_id, &headers, &body, started, seq).await,
    };
    Api::Bedrock.tag(resp, seq)
}

pub(crate) async fn converse_stream(
    State(s): State<Arc<Shared>>,
    Path(model_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let seq = s.begin(Endpoint::BedrockConverseStream, &method, &uri, &headers, &body);
    let resp = match check(&headers) {
        Some(resp) => resp,
        None => reply(&s, Endpoint::BedrockConverseStream, &model_id, &headers, &body, started, seq).await,
    };
    Api::Bedrock.tag(resp, seq)
}

fn tools(req: &Value) -> Vec<ToolDef<'_>> {
    let Some(list) = req.pointer("/toolConfig/tools").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|t| {
            let spec = t.get("toolSpec")?;
            Some(ToolDef { name: spec.get("name")?.as_str()?, schema: spec.pointer("/inputSchema/json") })
        })
        .collect()
}

fn tool_choice(req: &Value) -> ToolChoice {
    match req.pointer("/toolConfig/toolChoice") {
        Some(c) if c.get("any").is_some() => ToolChoice::Forced(None),
        Some(c) if c.get("tool").is_some() => {
            ToolChoice::Forced(c.pointer("/tool/name").and_then(Value::as_str).map(str::to_owned))
        }
        _ => ToolChoice::Auto,
    }
}

fn event(name: &str, mut payload: Value, n: usize) -> Bytes {
    let pad = n * 7 % PADDING.len() + 1;
    payload["p"] = Value::from(&PADDING[..pad]);
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    Bytes::from(eventstream::encode_event(name, &json))
}

async fn reply(
    s: &Arc<Shared>,
    endpoint: Endpoint,
    model_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    started: Instant,
    seq: u64,
) -> Response {
    let api = Api::Bedrock;
    let Some(req) = parse_object(body) else {
        return api.error(400, "Malformed input request, please reformat your input and try again.");
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return api.error(
            400,
            "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be \
             null",
        );
    };
    let controls = Controls::parse(headers, &[model_id]);
    if let Some(resp) = s.before_reply(api, &controls, endpoint, model_id).await {
        return resp;
    }

    let input_tokens =
        req.get("system").map_or(0, text::prompt_words) + messages.iter().map(text::prompt_words).sum::<u64>();
    let tool = text::decide_tool(&tools(&req), &tool_choice(&req), messages);
    let max_tokens = req.pointer("/inferenceConfig/maxTokens").and_then(Value::as_u64);
    let reply = text::reply(&text::last_user_text(messages), controls.tokens, max_tokens);
    let output_tokens = tool.as_ref().map_or(reply.tokens, |t| t.tokens);
    let stop_reason = match (&tool, reply.truncated) {
        (Some(_), _) => "tool_use",
        (None, true) => "max_tokens",
        (None, false) => "end_turn",
    };
    let tool_id = format!("tooluse_mock{seq}");
    let usage = json!({"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens});
    let metrics = json!({"latencyMs": started.elapsed().as_millis() as u64});

    if endpoint == Endpoint::BedrockConverse {
        let block = match &tool {
            Some(t) => json!({"toolUse": {"toolUseId": tool_id, "name": t.name, "input": t.arguments}}),
            None => json!({"text": reply.text}),
        };
        let out = json!({
            "output": {"message": {"role": "assistant", "content": [block]}},
            "stopReason": stop_reason,
            "usage": usage,
            "metrics": metrics,
        });
        return json_response(out, &controls);
    }

    let mut frames = vec![event("messageStart", json!({"role": "assistant"}), 0)];
    match &tool {
        None => {
            for d in text::stream_deltas(&reply.text, controls.delta_chars) {
                let n = frames.len();
                frames.push(event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": d}}), n));
            }
        }
        Some(t) => {
            frames.push(event(
                "contentBlockStart",
                json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": tool_id, "name": t.name}}}),
                1,
            ));
            for f in text::fragments(&t.arguments_json, 8) {
                let n = frames.len();
                frames.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": f}}}),
                    n,
                ));
            }
        }
    }
    let n = frames.len();
    frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0}), n));
    frames.push(event("messageStop", json!({"stopReason": stop_reason}), n + 1));
    frames.push(event("metadata", json!({"usage": usage, "metrics": metrics}), n + 2));
    stream_response(s, "application/vnd.amazon.eventstream", frames, &controls)
}
