//! Anthropic Messages (`POST /v1/messages`) and its model list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::body::{json_response, sse_event, stream_response};
use crate::controls::Controls;
use crate::errors::Api;
use crate::openai::parse_object;
use crate::text::{self, ToolChoice, ToolDef};
use crate::{Endpoint, Shared};

fn check(headers: &HeaderMap) -> Option<Response> {
    let present = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| !v.trim().is_empty());
    if !present("x-api-key") {
        return Some(Api::Anthropic.error(401, "x-api-key header is required"));
    }
    if !present("anthropic-version") {
        return Some(Api::Anthropic.error(400, "anthropic-version: header is required"));
    }
    None
}

pub(crate) fn models(headers: &HeaderMap) -> Response {
    if let Some(resp) = check(headers) {
        return resp;
    }
    let data: Vec<Value> = [
        ("claude-sonnet-4-20250514", "Claude Sonnet 4"),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5"),
    ]
    .iter()
    .map(|(id, name)| json!({"type": "model", "id": id, "display_name": name, "created_at": "2025-05-14T00:00:00Z"}))
    .collect();
    let (first, last) = (data.first().map(|m| m["id"].clone()), data.last().map(|m| m["id"].clone()));
    Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last})).into_response()
}

pub(crate) async fn messages(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seq = s.begin(Endpoint::AnthropicMessages, &method, &uri, &headers, &body);
    let resp = match check(&headers) {
        Some(resp) => resp,
        None => reply(&s, seq, &headers, &body).await,
    };
    Api::Anthropic.tag(resp, seq)
}

fn tools(req: &Value) -> Vec<ToolDef<'_>> {
    let Some(list) = req.get("tools").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|t| Some(ToolDef { name: t.get("name")?.as_str()?, schema: t.get("input_schema") }))
        .collect()
}

fn tool_choice(req: &Value) -> ToolChoice {
    let Some(choice) = req.get("tool_choice") else { return ToolChoice::Auto };
    match choice.get("type").and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Forced(None),
        Some("tool") => ToolChoice::Forced(choice.get("name").and_then(Value::as_str).map(str::to_owned)),
        _ => ToolChoice::Auto,
    }
}

async fn reply(s: &Arc<Shared>, seq: u64, headers: &HeaderMap, body: &[u8]) -> Response {
    let api = Api::Anthropic;
    let Some(req) = parse_object(body) else {
        return api.error(400, "There was an error parsing the body of your request: invalid JSON");
    };
    let Some(model) = req.get("model").and_then(Value::as_str) else { return api.error(400, "model: Field required") };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return api.error(400, "messages: Field required");
    };
    let Some(max_tokens) = req.get("max_tokens").and_then(Value::as_u64) else {
        return api.error(400, "max_tokens: Field required");
    };
    let controls = Controls::parse(headers, &[model]);
    if let Some(resp) = s.before_reply(api, &controls, Endpoint::AnthropicMessages, model).await {
        return resp;
    }

    let input_tokens =
        req.get("system").map_or(0, text::prompt_words) + messages.iter().map(text::prompt_words).sum::<u64>();
    let tool = text::decide_tool(&tools(&req), &tool_choice(&req), messages);
    let reply = text::reply(&text::last_user_text(messages), controls.tokens, Some(max_tokens));
    let output_tokens = tool.as_ref().map_or(reply.tokens, |t| t.tokens);
    let stop_reason = match (&tool, reply.truncated) {
        (Some(_), _) => "tool_use",
        (None, true) => "max_tokens",
        (None, false) => "end_turn",
    };
    let id = format!("msg_mock{seq}");
    let tool_id = format!("toolu_mock{seq}");
    let usage = |input: u64, output: u64| {
        json!({
            "input_tokens": input,
            "output_tokens": output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        })
    };

    if !req.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let block = match &tool {
            Some(t) => json!({"type": "tool_use", "id": tool_id, "name": t.name, "input": t.arguments}),
            None => json!({"type": "text", "text": reply.text}),
        };
        let out = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": usage(input_tokens, output_tokens),
        });
        return json_response(out, &controls);
    }

    let mut frames = vec![
        sse_event(
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": usage(input_tokens, 1),
                },
            }),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    let delta = |delta: Value| {
        sse_event("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": delta}))
    };
    match &tool {
        None => {
            frames.push(sse_event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            for d in text::stream_deltas(&reply.text, controls.delta_chars) {
                frames.push(delta(json!({"type": "text_delta", "text": d})));
            }
        }
        Some(t) => {
            frames.push(sse_event(
                "content_block_start",
                &json!({
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": t.name, "input": {}},
                }),
            ));
            // Anthropic opens a tool's input with an empty fragment; parsers must cope with it.
            frames.push(delta(json!({"type": "input_json_delta", "partial_json": ""})));
            for f in text::fragments(&t.arguments_json, 8) {
                frames.push(delta(json!({"type": "input_json_delta", "partial_json": f})));
            }
        }
    }
    frames.push(sse_event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    frames.push(sse_event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens},
        }),
    ));
    frames.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    stream_response(s, "text/event-stream; charset=utf-8", frames, &controls)
}
