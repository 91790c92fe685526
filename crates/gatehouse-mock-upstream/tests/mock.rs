//! The mock upstream, driven over HTTP the way the gateway drives it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gatehouse_mock_upstream::{eventstream, start, Endpoint, MockConfig, MockHandle};
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn mock() -> MockHandle {
    start(MockConfig::default()).await
}

const BEARER: (&str, &str) = ("authorization", "Bearer sk-test-account");
const ANTHROPIC: [(&str, &str); 2] = [("x-api-key", "sk-ant-test"), ("anthropic-version", "2023-06-01")];
const SIGV4: [(&str, &str); 2] = [
    (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=abcdef",
    ),
    ("x-amz-date", "20250101T000000Z"),
];

async fn post(m: &MockHandle, path: &str, headers: &[(&str, &str)], body: Value) -> reqwest::Response {
    let mut req = client().post(m.url(path)).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn post_json(m: &MockHandle, path: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    let resp = post(m, path, headers, body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]})
}

fn anthropic_body(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]})
}

fn bedrock_body(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": text}]}], "system": [{"text": "be brief"}]})
}

/// SSE events as (event name, data) pairs, checking the framing: events end with a blank line and every
/// line is `event:` or `data:`.
fn sse(body: &str) -> Vec<(Option<String>, String)> {
    assert!(body.ends_with("\n\n"), "stream must end with a complete event: {body:?}");
    body.trim_end_matches('\n')
        .split("\n\n")
        .map(|ev| {
            let mut name = None;
            let mut data = None;
            for line in ev.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per event");
                    data = Some(v.to_owned());
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (name, data.unwrap())
        })
        .collect()
}

fn sse_json(body: &str) -> Vec<Value> {
    sse(body).into_iter().filter(|(_, d)| d != "[DONE]").map(|(_, d)| serde_json::from_str(&d).unwrap()).collect()
}

/// Reads a body chunk by chunk until it ends or breaks; returns what arrived and whether it broke.
async fn read_all(mut resp: reqwest::Response) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c),
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

// --- AWS event-stream decoding, written independently of the mock's encoder ---

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[derive(Debug)]
struct Frame {
    headers: HashMap<String, String>,
    payload: Value,
}

/// Decodes whole frames, asserting both CRCs and string-typed headers; returns the frames and the count of
/// trailing bytes that do not make a whole frame.
fn decode_frames(mut buf: &[u8]) -> (Vec<Frame>, usize) {
    let mut frames = Vec::new();
    while buf.len() >= 12 {
        let total = be32(&buf[0..4]) as usize;
        let headers_len = be32(&buf[4..8]) as usize;
        assert_eq!(crc32(&buf[0..8]), be32(&buf[8..12]), "prelude CRC");
        assert!(total >= 16 + headers_len);
        if buf.len() < total {
            break;
        }
        let msg = &buf[..total];
        assert_eq!(crc32(&msg[..total - 4]), be32(&msg[total - 4..]), "message CRC");
        let mut h = &msg[12..12 + headers_len];
        let mut headers = HashMap::new();
        while !h.is_empty() {
            let name_len = h[0] as usize;
            let name = std::str::from_utf8(&h[1..1 + name_len]).unwrap().to_owned();
            h = &h[1 + name_len..];
            assert_eq!(h[0], 7, "header {name} must be string-typed");
            let value_len = u16::from_be_bytes([h[1], h[2]]) as usize;
            let value = std::str::from_utf8(&h[3..3 + value_len]).unwrap().to_owned();
            h = &h[3 + value_len..];
            headers.insert(name, value);
        }
        let payload = serde_json::from_slice(&msg[12 + headers_len..total - 4]).unwrap();
        frames.push(Frame { headers, payload });
        buf = &buf[total..];
    }
    (frames, buf.len())
}

// --- OpenAI ---

#[tokio::test]
async fn openai_chat_happy_path_and_recording() {
    let m = mock().await;
    let resp = post(&m, "/v1/chat/completions", &[BEARER], chat_body("gpt-4o-mini", "hello there world")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req_mock1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "chatcmpl-mock1");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: hello there world");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // 2 system words + 3 user words; the reply has 6 words.
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 6);
    assert_eq!(v["usage"]["total_tokens"], 11);

    let reqs = m.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].endpoint, Endpoint::OpenAiChat);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer sk-test-account"));
    assert_eq!(reqs[0].body["model"], "gpt-4o-mini");
    assert_eq!(m.request_count(), 1);
    m.clear();
    assert!(m.requests().is_empty());
    assert_eq!(m.request_count(), 1);
}

#[tokio::test]
async fn openai_rejects_missing_or_non_bearer_auth() {
    let m = mock().await;
    for headers in [vec![], vec![("authorization", "Basic abc")], vec![("authorization", "Bearer ")]] {
        let (status, v) = post_json(&m, "/v1/chat/completions", &headers, chat_body("gpt-4o", "hi")).await;
        assert_eq!(status, 401);
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("API key"));
    }
    for path in ["/v1/completions", "/v1/embeddings"] {
        let (status, _) = post_json(&m, path, &[], json!({"model": "m", "prompt": "x", "input": "x"})).await;
        assert_eq!(status, 401, "{path}");
    }
    let resp = client().get(m.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // Rejected requests are still recorded, so a test can see what the gateway sent.
    assert_eq!(m.requests().len(), 6);
}

#[tokio::test]
async fn openai_validates_body() {
    let m = mock().await;
    let resp = client()
        .post(m.url("/v1/chat/completions"))
        .header("authorization", "Bearer k")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (status, v) = post_json(&m, "/v1/chat/completions", &[BEARER], json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("messages"));
    let (status, _) = post_json(&m, "/v1/chat/completions", &[BEARER], json!({"messages": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn openai_chat_stream_with_usage_chunk() {
    let m = mock().await;
    let mut body = chat_body("gpt-4o", "stream me please");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = post(&m, "/v1/chat/completions", &[BEARER], body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    let events = sse(&text);
    assert!(events.iter().all(|(name, _)| name.is_none()), "OpenAI streams carry no event: lines");
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = sse_json(&text);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "chatcmpl-mock1"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(content, "mock reply to: stream me please");
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 5);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 6);
    assert!(rest.iter().all(|c| c.get("usage") == Some(&Value::Null)), "other chunks carry usage: null");
    let finish: Vec<&Value> = rest.iter().map(|c| &c["choices"][0]["finish_reason"]).collect();
    assert_eq!(finish.last().unwrap().as_str(), Some("stop"));
    assert!(finish[..finish.len() - 1].iter().all(|f| f.is_null()));
    assert!(m.wait_for(|s| s.completed_streams == 1, Duration::from_secs(5)).await);
    assert_eq!(m.cancelled_streams(), 0);
}

#[tokio::test]
async fn openai_chat_stream_without_usage() {
    let m = mock().await;
    let mut body = chat_body("gpt-4o", "hi");
    body["stream"] = json!(true);
    let text = post(&m, "/v1/chat/completions", &[BEARER], body).await.text().await.unwrap();
    let chunks = sse_json(&text);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks.iter().all(|c| c["choices"].as_array().unwrap().len() == 1));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

fn weather_tools_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]
    }}}])
}

#[tokio::test]
async fn openai_tool_call_on_weather() {
    let m = mock().await;
    let mut body = chat_body("gpt-4o", "What is the weather in Paris?");
    body["tools"] = weather_tools_openai();
    let (status, v) = post_json(&m, "/v1/chat/completions", &[BEARER], body.clone()).await;
    assert_eq!(status, 200);
    let msg = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert!(msg["content"].is_null());
    let call = &msg["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris", "unit": "celsius"}));

    body["stream"] = json!(true);
    let text = post(&m, "/v1/chat/completions", &[BEARER], body.clone()).await.text().await.unwrap();
    let chunks = sse_json(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(serde_json::from_str::<Value>(&streamed).unwrap(), args);
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");

    // After the tool result the model answers in text instead of looping.
    body["stream"] = json!(false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "sunny"}));
    let (_, v) = post_json(&m, "/v1/chat/completions", &[BEARER], body.clone()).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: What is the weather in Paris?");

    // tool_choice "none" suppresses the call; "required" forces one.
    let mut plain = chat_body("gpt-4o", "weather?");
    plain["tools"] = weather_tools_openai();
    plain["tool_choice"] = json!("none");
    let (_, v) = post_json(&m, "/v1/chat/completions", &[BEARER], plain.clone()).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let mut forced = chat_body("gpt-4o", "hello");
    forced["tools"] = weather_tools_openai();
    forced["tool_choice"] = json!("required");
    let (_, v) = post_json(&m, "/v1/chat/completions", &[BEARER], forced).await;
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn openai_completions_plain_and_streamed() {
    let m = mock().await;
    let (status, v) =
        post_json(&m, "/v1/completions", &[BEARER], json!({"model": "gpt-3.5-turbo-instruct", "prompt": "say this"}))
            .await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "mock reply to: say this");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );

    let body = json!({"model": "m", "prompt": ["a", "b c"], "stream": true, "stream_options": {"include_usage": true}});
    let text = post(&m, "/v1/completions", &[BEARER], body).await.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = sse_json(&text);
    let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(streamed, "mock reply to: b c");
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 3);
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn openai_embeddings_are_deterministic() {
    let m = mock().await;
    let (status, v) = post_json(
        &m,
        "/v1/embeddings",
        &[BEARER],
        json!({"model": "text-embedding-3-small", "input": ["one two", "three", "one two"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let vecs: Vec<Vec<f64>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            d["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        })
        .collect();
    assert_eq!(vecs[0].len(), 8);
    assert_eq!(vecs[0], vecs[2]);
    assert_ne!(vecs[0], vecs[1]);
    let norm: f64 = vecs[1].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-3);
    assert_eq!(v["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));

    // base64 is what the OpenAI Python SDK asks for by default: little-endian f32s.
    let (_, b) = post_json(
        &m,
        "/v1/embeddings",
        &[BEARER],
        json!({"model": "e", "input": "three", "encoding_format": "base64", "dimensions": 4}),
    )
    .await;
    let (_, f) =
        post_json(&m, "/v1/embeddings", &[BEARER], json!({"model": "e", "input": "three", "dimensions": 4})).await;
    let decoded = b64decode(b["data"][0]["embedding"].as_str().unwrap());
    let floats: Vec<f64> = decoded.chunks(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect();
    let plain: Vec<f64> = f["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(floats.len(), 4);
    for (a, b) in floats.iter().zip(&plain) {
        assert!((a - b).abs() < 1e-6);
    }
    let (status, _) = post_json(&m, "/v1/embeddings", &[BEARER], json!({"model": "e", "input": []})).await;
    assert_eq!(status, 400);
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[tokio::test]
async fn models_in_both_shapes() {
    let m = mock().await;
    let v: Value = client()
        .get(m.url("/v1/models"))
        .header("authorization", "Bearer k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["object"], "model");
    let mut req = client().get(m.url("/v1/models"));
    for (k, val) in ANTHROPIC {
        req = req.header(k, val);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
    let resp = client().get(m.url("/v1/models")).header("anthropic-version", "2023-06-01").send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

// --- Azure ---

const AZURE_CHAT: &str = "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21";

#[tokio::test]
async fn azure_chat_happy_path() {
    let m = mock().await;
    let body = json!({"messages": [{"role": "user", "content": "hi azure"}]});
    let resp = post(&m, AZURE_CHAT, &[("api-key", "azkey")], body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("apim-request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "my-gpt4o");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: hi azure");
    assert_eq!(v["prompt_filter_results"][0]["prompt_index"], 0);
    let rec = m.last_request().unwrap();
    assert_eq!(rec.endpoint, Endpoint::AzureChat);
    assert_eq!(rec.path, "/openai/deployments/my-gpt4o/chat/completions");
    assert_eq!(rec.query_param("api-version"), Some("2024-10-21"));
    assert_eq!(rec.header("api-key"), Some("azkey"));

    // Azure streams open with an empty-choices chunk carrying prompt filter results.
    let mut sbody = body;
    sbody["stream"] = json!(true);
    let text = post(&m, AZURE_CHAT, &[("api-key", "azkey")], sbody).await.text().await.unwrap();
    let chunks = sse_json(&text);
    assert_eq!(chunks[0]["choices"], json!([]));
    assert!(chunks[0]["prompt_filter_results"].is_array());
    let content: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(content, "mock reply to: hi azure");

    let (status, v) = post_json(
        &m,
        "/openai/deployments/emb/embeddings?api-version=2024-10-21",
        &[("api-key", "k")],
        json!({"input": "x"}),
    )
    .await;
    assert_eq!((status, v["model"].as_str()), (200, Some("emb")));
    let (status, v) = post_json(
        &m,
        "/openai/deployments/inst/completions?api-version=2024-10-21",
        &[("api-key", "k")],
        json!({"prompt": "x"}),
    )
    .await;
    assert_eq!((status, v["choices"][0]["text"].as_str()), (200, Some("mock reply to: x")));
}

#[tokio::test]
async fn azure_rejects_missing_key_and_version() {
    let m = mock().await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post_json(&m, AZURE_CHAT, &[BEARER], body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "401");
    assert!(v["error"]["message"].as_str().unwrap().contains("Access denied"));
    let (status, v) = post_json(&m, "/openai/deployments/d/chat/completions", &[("api-key", "k")], body.clone()).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("api-version"));
}

// --- Anthropic ---

#[tokio::test]
async fn anthropic_messages_happy_path() {
    let m = mock().await;
    let mut body = anthropic_body("claude-sonnet-4", "hello claude");
    body["system"] = json!([{"type": "text", "text": "be very brief"}]);
    let resp = post(&m, "/v1/messages", &ANTHROPIC, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["request-id"], "req_mock1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["id"], "msg_mock1");
    assert_eq!(v["content"], json!([{"type": "text", "text": "mock reply to: hello claude"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["usage"]["input_tokens"], 5);
    assert_eq!(v["usage"]["output_tokens"], 5);
    let rec = m.last_request().unwrap();
    assert_eq!(rec.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn anthropic_rejects_missing_headers_and_fields() {
    let m = mock().await;
    let body = anthropic_body("claude", "hi");
    let (status, v) = post_json(&m, "/v1/messages", &[("anthropic-version", "2023-06-01")], body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    let (status, v) = post_json(&m, "/v1/messages", &[("x-api-key", "k")], body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("anthropic-version"));
    // A bearer token is not how Anthropic authenticates.
    let (status, _) = post_json(&m, "/v1/messages", &[BEARER, ("anthropic-version", "2023-06-01")], body).await;
    assert_eq!(status, 401);
    let (status, v) = post_json(
        &m,
        "/v1/messages",
        &ANTHROPIC,
        json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("max_tokens"));
}

#[tokio::test]
async fn anthropic_stream_event_sequence() {
    let m = mock().await;
    let mut body = anthropic_body("claude-sonnet-4", "one two three");
    body["stream"] = json!(true);
    let resp = post(&m, "/v1/messages", &ANTHROPIC, body).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();
    let events = sse(&text);
    let mut names = Vec::new();
    let mut text_out = String::new();
    for (name, data) in &events {
        let v: Value = serde_json::from_str(data).unwrap();
        let name = name.as_deref().unwrap();
        assert_eq!(v["type"], name, "event: line matches the data's type");
        names.push(name.to_owned());
        if name == "content_block_delta" {
            assert_eq!(v["delta"]["type"], "text_delta");
            text_out.push_str(v["delta"]["text"].as_str().unwrap());
        }
        if name == "message_start" {
            assert_eq!(v["message"]["usage"]["input_tokens"], 3);
            assert!(v["message"]["content"].as_array().unwrap().is_empty());
        }
        if name == "message_delta" {
            assert_eq!(v["delta"]["stop_reason"], "end_turn");
            assert_eq!(v["usage"]["output_tokens"], 6);
        }
    }
    assert_eq!(text_out, "mock reply to: one two three");
    let deltas = names.iter().filter(|n| *n == "content_block_delta").count();
    let mut expected = vec!["message_start", "ping", "content_block_start"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
}

fn weather_tools_anthropic() -> Value {
    json!([{"name": "get_weather", "description": "weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]
    }}])
}

#[tokio::test]
async fn anthropic_tool_use_on_weather() {
    let m = mock().await;
    let mut body = anthropic_body("claude", "How is the Weather today?");
    body["tools"] = weather_tools_anthropic();
    let (_, v) = post_json(&m, "/v1/messages", &ANTHROPIC, body.clone()).await;
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "get_weather");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["input"], json!({"city": "Paris", "days": 1}));

    body["stream"] = json!(true);
    let text = post(&m, "/v1/messages", &ANTHROPIC, body.clone()).await.text().await.unwrap();
    let events = sse_json(&text);
    let start = events.iter().find(|e| e["type"] == "content_block_start").unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let partial: String = events
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| {
            assert_eq!(e["delta"]["type"], "input_json_delta");
            e["delta"]["partial_json"].as_str().unwrap()
        })
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), block["input"]);
    let md = events.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(md["delta"]["stop_reason"], "tool_use");

    // A tool_result turn gets a text answer.
    body["stream"] = json!(false);
    let msgs = body["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": [block]}));
    msgs.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "sunny weather"}]}));
    let (_, v) = post_json(&m, "/v1/messages", &ANTHROPIC, body).await;
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["content"][0]["type"], "text");
}

#[tokio::test]
async fn max_tokens_truncates() {
    let m = mock().await;
    let mut body = anthropic_body("claude", "a b c d e f");
    body["max_tokens"] = json!(3);
    let (_, v) = post_json(&m, "/v1/messages", &ANTHROPIC, body).await;
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["text"], "mock reply to:");
    assert_eq!(v["usage"]["output_tokens"], 3);
    let mut body = chat_body("gpt-4o", "a b c");
    body["max_completion_tokens"] = json!(2);
    let (_, v) = post_json(&m, "/v1/chat/completions", &[BEARER], body).await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply");
}

// --- Bedrock ---

#[tokio::test]
async fn bedrock_converse_happy_path() {
    let m = mock().await;
    let path = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";
    let mut body = bedrock_body("hello bedrock");
    body["inferenceConfig"] = json!({"maxTokens": 100});
    let resp = post(&m, path, &SIGV4, body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(v["output"]["message"]["content"], json!([{"text": "mock reply to: hello bedrock"}]));
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(v["usage"], json!({"inputTokens": 4, "outputTokens": 5, "totalTokens": 9}));
    assert!(v["metrics"]["latencyMs"].is_u64());
    let rec = m.last_request().unwrap();
    assert_eq!(rec.endpoint, Endpoint::BedrockConverse);
    assert!(rec.header("authorization").unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert_eq!(rec.header("x-amz-date"), Some("20250101T000000Z"));
}

#[tokio::test]
async fn bedrock_rejects_missing_signature() {
    let m = mock().await;
    let path = "/model/m/converse";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "MissingAuthenticationTokenException"),
        (vec![BEARER, SIGV4[1]], "IncompleteSignatureException"),
        (vec![SIGV4[0]], "IncompleteSignatureException"),
    ];
    for (headers, kind) in cases {
        let resp = post(&m, path, &headers, bedrock_body("x")).await;
        assert_eq!(resp.status(), 403);
        let et = resp.headers()["x-amzn-errortype"].to_str().unwrap().to_owned();
        assert!(et.starts_with(kind), "{et}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["message"].is_string());
    }
}

#[tokio::test]
async fn bedrock_converse_stream_frames() {
    let m = mock().await;
    let resp = post(&m, "/model/amazon.nova-lite-v1:0/converse-stream", &SIGV4, bedrock_body("stream it")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/vnd.amazon.eventstream");
    let bytes = resp.bytes().await.unwrap();
    let (frames, leftover) = decode_frames(&bytes);
    assert_eq!(leftover, 0);
    for f in &frames {
        assert_eq!(f.headers[":message-type"], "event");
        assert_eq!(f.headers[":content-type"], "application/json");
    }
    let names: Vec<&str> = frames.iter().map(|f| f.headers[":event-type"].as_str()).collect();
    let deltas = names.iter().filter(|n| **n == "contentBlockDelta").count();
    let mut expected = vec!["messageStart"];
    expected.extend(std::iter::repeat_n("contentBlockDelta", deltas));
    expected.extend(["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(names, expected);
    assert_eq!(frames[0].payload["role"], "assistant");
    let text: String = frames
        .iter()
        .filter(|f| f.headers[":event-type"] == "contentBlockDelta")
        .map(|f| {
            assert_eq!(f.payload["contentBlockIndex"], 0);
            f.payload["delta"]["text"].as_str().unwrap()
        })
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(text, "mock reply to: stream it");
    assert_eq!(frames[frames.len() - 2].payload["stopReason"], "end_turn");
    let meta = &frames.last().unwrap().payload;
    assert_eq!(meta["usage"], json!({"inputTokens": 4, "outputTokens": 5, "totalTokens": 9}));
    assert!(meta["metrics"]["latencyMs"].is_u64());
    assert!(m.wait_for(|s| s.completed_streams == 1, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn bedrock_tool_use() {
    let m = mock().await;
    let mut body = bedrock_body("weather in Paris?");
    body["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}}]});
    let (_, v) = post_json(&m, "/model/m/converse", &SIGV4, body.clone()).await;
    assert_eq!(v["stopReason"], "tool_use");
    let tu = &v["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(tu["name"], "get_weather");
    assert_eq!(tu["input"], json!({"location": "Paris"}));

    let bytes = post(&m, "/model/m/converse-stream", &SIGV4, body).await.bytes().await.unwrap();
    let (frames, _) = decode_frames(&bytes);
    assert_eq!(frames[1].headers[":event-type"], "contentBlockStart");
    assert_eq!(frames[1].payload["start"]["toolUse"]["name"], "get_weather");
    let input: String =
        frames.iter().filter_map(|f| f.payload["delta"]["toolUse"]["input"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({"location": "Paris"}));
    assert_eq!(frames[frames.len() - 2].payload["stopReason"], "tool_use");
}

#[test]
fn eventstream_known_answers() {
    // Vectors from a public encoder's documentation: no headers, then one content-type header.
    let payload = br#"{"foo": "bar"}"#;
    let no_headers = eventstream::encode_message(&[], payload);
    assert_eq!(&no_headers[..12], &[0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138]);
    assert_eq!(&no_headers[no_headers.len() - 4..], &[174, 114, 88, 228]);
    let with_header = eventstream::encode_message(&[("content-type", "application/json")], payload);
    assert_eq!(&with_header[..13], &[0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12]);
    assert_eq!(&with_header[with_header.len() - 4..], &[111, 162, 191, 59]);
    let (frames, _) = decode_frames(&with_header);
    assert_eq!(frames[0].headers["content-type"], "application/json");
    assert_eq!(frames[0].payload, json!({"foo": "bar"}));
}

// --- Behaviour controls ---

#[tokio::test]
async fn delay_before_headers_by_header_and_model() {
    let m = mock().await;
    let t = Instant::now();
    let resp = post(&m, "/v1/chat/completions", &[BEARER, ("x-mock-delay-ms", "200")], chat_body("gpt-4o", "hi")).await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(resp.status(), 200);
    let t = Instant::now();
    let resp = post(&m, "/v1/messages", &ANTHROPIC, anthropic_body("claude-slow-150ms", "hi")).await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(resp.status(), 200);
    let t = Instant::now();
    let resp = post(&m, "/model/m-slow-120ms/converse", &SIGV4, bedrock_body("hi")).await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    assert_eq!(resp.status(), 200);
    let t = Instant::now();
    let resp = post(
        &m,
        "/openai/deployments/dep-slow-100ms/chat/completions?api-version=1",
        &[("api-key", "k")],
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn injected_failures_use_each_providers_shape() {
    let m = mock().await;
    let (status, v) =
        post_json(&m, "/v1/chat/completions", &[BEARER, ("x-mock-status", "500")], chat_body("gpt-4o", "hi")).await;
    assert_eq!(status, 500);
    assert_eq!(v["error"]["message"], "mock upstream failure 500");
    assert_eq!(v["error"]["type"], "server_error");
    let (status, v) = post_json(&m, "/v1/chat/completions", &[BEARER], chat_body("gpt-4o-fail-429", "hi")).await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let (status, v) = post_json(&m, "/v1/messages", &ANTHROPIC, anthropic_body("claude-fail-529", "hi")).await;
    assert_eq!(status, 529);
    assert_eq!(
        v,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "mock upstream failure 529"}})
    );
    let (status, v) = post_json(&m, "/v1/messages", &ANTHROPIC, anthropic_body("claude-fail-400", "hi")).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let resp = post(&m, "/model/m-fail-429/converse-stream", &SIGV4, bedrock_body("hi")).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers()["x-amzn-errortype"].to_str().unwrap().starts_with("ThrottlingException"));
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"message": "mock upstream failure 429"}));

    let (status, v) = post_json(
        &m,
        "/openai/deployments/d-fail-503/chat/completions?api-version=1",
        &[("api-key", "k")],
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(v["error"]["code"], "503");
    assert_eq!(v["error"]["message"], "mock upstream failure 503");

    // Auth is checked before injected failures, as a real provider would.
    let (status, _) = post_json(&m, "/v1/chat/completions", &[("x-mock-status", "500")], chat_body("m", "hi")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn fail_times_then_succeed_and_retry_after() {
    let m = mock().await;
    let body = chat_body("retry-fail-503x2", "hi");
    for _ in 0..2 {
        let (status, _) = post_json(&m, "/v1/chat/completions", &[BEARER], body.clone()).await;
        assert_eq!(status, 503);
    }
    let (status, _) = post_json(&m, "/v1/chat/completions", &[BEARER], body.clone()).await;
    assert_eq!(status, 200);
    m.clear();
    let (status, _) = post_json(&m, "/v1/chat/completions", &[BEARER], body).await;
    assert_eq!(status, 503, "clear() restarts the count");

    let headers = [BEARER, ("x-mock-status", "429"), ("x-mock-fail-times", "1"), ("x-mock-retry-after", "2")];
    let resp = post(&m, "/v1/chat/completions", &headers, chat_body("other", "hi")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let resp = post(&m, "/v1/chat/completions", &headers, chat_body("other", "hi")).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn cut_stream_drops_connection_without_terminator() {
    let m = mock().await;
    let mut body = chat_body("gpt-4o", "one two three four five");
    body["stream"] = json!(true);
    let resp = post(&m, "/v1/chat/completions", &[BEARER, ("x-mock-cut-after", "3")], body.clone()).await;
    assert_eq!(resp.status(), 200);
    let (got, broke) = read_all(resp).await;
    assert!(broke, "the body must end in an error, not a clean end");
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("data: ").count(), 3);
    assert!(!text.contains("[DONE]"));

    // A cut larger than the stream still withholds the terminator.
    body["model"] = json!("gpt-4o-cut-1000");
    let (got, broke) = read_all(post(&m, "/v1/chat/completions", &[BEARER], body).await).await;
    assert!(broke);
    assert!(!String::from_utf8(got).unwrap().contains("[DONE]"));

    let mut ab = anthropic_body("claude-cut-2", "hi");
    ab["stream"] = json!(true);
    let (got, broke) = read_all(post(&m, "/v1/messages", &ANTHROPIC, ab).await).await;
    assert!(broke);
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("event: ").count(), 2);
    assert!(!text.contains("message_stop"));

    let (got, broke) = read_all(post(&m, "/model/m-cut-2/converse-stream", &SIGV4, bedrock_body("a b c")).await).await;
    assert!(broke);
    let (frames, leftover) = decode_frames(&got);
    assert_eq!((frames.len(), leftover), (2, 0));
    assert!(frames.iter().all(|f| f.headers[":event-type"] != "metadata"));

    assert!(m.wait_for(|s| s.cut_streams == 4, Duration::from_secs(5)).await);
    assert_eq!(m.cancelled_streams(), 0);
    assert_eq!(m.completed_streams(), 0);
}

#[tokio::test]
async fn cut_non_streaming_body() {
    let m = mock().await;
    let resp = post(&m, "/v1/chat/completions", &[BEARER, ("x-mock-cut-after", "10")], chat_body("m", "hi")).await;
    assert_eq!(resp.status(), 200);
    let (got, broke) = read_all(resp).await;
    assert!(broke);
    assert_eq!(got.len(), 10);
}

#[tokio::test]
async fn chunk_delay_paces_events() {
    let m = mock().await;
    let mut body = chat_body("gpt-4o", "a b");
    body["stream"] = json!(true);
    let t = Instant::now();
    let resp = post(&m, "/v1/chat/completions", &[BEARER, ("x-mock-chunk-delay-ms", "40")], body.clone()).await;
    let headers_at = t.elapsed();
    let text = resp.text().await.unwrap();
    let events = sse(&text).len();
    assert!(headers_at < Duration::from_millis(40 * (events as u64 - 1)));
    assert!(t.elapsed() >= Duration::from_millis(40 * (events as u64 - 1)));

    body["model"] = json!("gpt-4o-drip-30ms");
    let t = Instant::now();
    let events = sse(&post(&m, "/v1/chat/completions", &[BEARER], body).await.text().await.unwrap()).len();
    assert!(t.elapsed() >= Duration::from_millis(30 * (events as u64 - 1)));
}

#[tokio::test]
async fn tokens_control_sets_reply_length() {
    let m = mock().await;
    let (_, v) = post_json(&m, "/v1/chat/completions", &[BEARER, ("x-mock-tokens", "12")], chat_body("m", "hi")).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mock reply to: hi lorem lorem lorem lorem lorem lorem lorem lorem"
    );
    assert_eq!(v["usage"]["completion_tokens"], 12);
    let (_, v) = post_json(&m, "/model/m-tokens-2/converse", &SIGV4, bedrock_body("hi")).await;
    assert_eq!(v["output"]["message"]["content"][0]["text"], "mock reply");
}

#[tokio::test]
async fn client_cancel_is_seen_by_the_stream() {
    let m = mock().await;
    let mut body = anthropic_body("claude-drip-50ms", "a b c d e f g h i j");
    body["stream"] = json!(true);
    let mut resp = post(&m, "/v1/messages", &ANTHROPIC, body).await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    drop(resp);
    assert!(m.wait_for(|s| s.cancelled_streams == 1, Duration::from_secs(5)).await, "{:?}", m.stats());
    assert_eq!(m.completed_streams(), 0);

    // Same for the binary framing.
    let mut resp = post(&m, "/model/m-drip-50ms/converse-stream", &SIGV4, bedrock_body("a b c d e f")).await;
    resp.chunk().await.unwrap().unwrap();
    drop(resp);
    assert!(m.wait_for(|s| s.cancelled_streams == 2, Duration::from_secs(5)).await, "{:?}", m.stats());
}

#[tokio::test]
async fn client_cancel_during_first_byte_delay() {
    let m = mock().await;
    let c = reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(100)).build().unwrap();
    let err = c
        .post(m.url("/v1/chat/completions"))
        .header("authorization", "Bearer k")
        .header("x-mock-delay-ms", "5000")
        .json(&chat_body("m", "hi"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(m.wait_for(|s| s.cancelled_requests == 1, Duration::from_secs(3)).await, "{:?}", m.stats());
}

// --- Server plumbing ---

#[tokio::test]
async fn recording_can_be_off() {
    let m = start(MockConfig::benchmark()).await;
    for _ in 0..3 {
        let (status, _) = post_json(&m, "/v1/chat/completions", &[BEARER], chat_body("m", "hi")).await;
        assert_eq!(status, 200);
    }
    assert!(m.requests().is_empty());
    assert_eq!(m.request_count(), 3);
}

#[tokio::test]
async fn unknown_routes_are_404_and_recorded() {
    let m = mock().await;
    let resp = client().post(m.url("/v2/whatever?x=1")).body("raw").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("/v2/whatever"));
    let rec = m.requests_to(Endpoint::Unknown);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].query.as_deref(), Some("x=1"));
    assert_eq!(&rec[0].raw_body[..], b"raw");
    assert!(rec[0].body.is_null());
}

#[tokio::test]
async fn admin_endpoints() {
    let m = mock().await;
    post_json(&m, "/v1/chat/completions", &[BEARER], chat_body("m", "hi")).await;
    let stats: Value = client().get(m.url("/__mock/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"], 1);
    let reqs: Value = client().get(m.url("/__mock/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(reqs[0]["path"], "/v1/chat/completions");
    assert_eq!(reqs[0]["headers"]["authorization"], "Bearer sk-test-account");
    assert_eq!(reqs[0]["body"]["model"], "m");
    let resp = client().delete(m.url("/__mock/requests")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(m.requests().is_empty());
    assert_eq!(m.request_count(), 1, "admin calls are not counted");
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let m = mock().await;
    let url = m.url("/v1/models");
    assert!(m.addr.ip().is_loopback());
    m.shutdown().await;
    assert!(client().get(url).send().await.is_err());
}

#[tokio::test]
async fn concurrent_requests() {
    let m = start(MockConfig::benchmark()).await;
    let c = client();
    let url = m.url("/v1/chat/completions");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let c = c.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let v: Value = c
                    .post(url)
                    .header("authorization", "Bearer k")
                    .json(&chat_body("m", &format!("n{i}")))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(v["choices"][0]["message"]["content"], format!("mock reply to: n{i}"));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(m.request_count(), 200);
}

#[tokio::test]
async fn mcp_server_lists_and_calls_tools_statelessly() {
    let m = mock().await;
    let rpc =
        |id: i64, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let (status, v) =
        post_json(&m, "/mcp", &[BEARER], rpc(1, "initialize", json!({"protocolVersion": "2025-06-18"}))).await;
    assert_eq!(status, 200);
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let (_, v) = post_json(&m, "/mcp", &[BEARER], rpc(2, "tools/list", json!({}))).await;
    let names: Vec<&str> =
        v["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "add"]);
    let (_, v) =
        post_json(&m, "/mcp", &[BEARER], rpc(3, "tools/call", json!({"name": "echo", "arguments": {"text": "hi"}})))
            .await;
    assert_eq!(v["id"], 3);
    assert_eq!(v["result"]["content"][0]["text"], "echo: hi");
    let (_, v) =
        post_json(&m, "/mcp", &[BEARER], rpc(4, "tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}})))
            .await;
    assert_eq!(v["result"]["content"][0]["text"], "5");
    let (_, v) = post_json(&m, "/mcp", &[BEARER], rpc(5, "tools/call", json!({"name": "nope"}))).await;
    assert_eq!(v["error"]["code"], -32602);
    let note = post(&m, "/mcp", &[BEARER], json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(note.status(), 202);
    assert_eq!(post(&m, "/mcp", &[], rpc(6, "ping", json!({}))).await.status(), 401);
    assert_eq!(m.requests_to(Endpoint::Mcp).len(), 7);
}
