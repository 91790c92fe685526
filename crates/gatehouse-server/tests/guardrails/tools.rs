//! Tool calls and thinking are text to the guardrails: OpenAI tool calls' arguments (value by value, so the
//! JSON stays valid), tool messages, Anthropic `tool_use` inputs, tool results and thinking blocks, on
//! input (the upstream's recorded request proves the redaction) and in answers, whole and streamed.

use serde_json::{json, Value};

use super::{control, guardrails, in_json, post, upstream_bodies, world};
use crate::common::TestServer;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const MAIL: &str = "jane.doe@example.com";

async fn redacting(s: &TestServer) {
    let both = json!([{"type": "pii", "action": "redact"}, {"type": "secrets", "action": "redact"}]);
    control(s, guardrails("safety", json!([{"id": "r", "input_guardrails": both, "output_guardrails": both}]))).await;
}

/// A tool whose only argument the mock fills with `KEY` (the first value of its enum).
fn key_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "store_key", "parameters": {"type": "object",
        "properties": {"key": {"type": "string", "enum": [KEY]}}}}}])
}

#[tokio::test]
async fn tool_calls_tool_results_and_thinking_are_redacted_before_the_upstream() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    redacting(&s).await;
    let body = json!({"model": "oa/gpt", "messages": [
        {"role": "user", "content": "mail them"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "send", "arguments": format!(r#"{{"to": "{MAIL}", "n": 2, "cc": ["x", "{MAIL}"]}}"#)}},
            {"id": "c2", "type": "function", "function": {"name": "raw", "arguments": format!("not json {MAIL}")}}]},
        {"role": "tool", "tool_call_id": "c1", "content": format!("sent with key {KEY}")}]});
    let a = post(&s, &usr, "/v1/chat/completions", body, None).await;
    assert_eq!((a.status, a.applied()), (200, "guardrail:safety/r;redacted".to_owned()), "{}", a.body);
    let sent = mock.last_request().unwrap().body;
    let calls = &sent["messages"][1]["tool_calls"];
    let args: Value = serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"to": "[REDACTED:email]", "n": 2, "cc": ["x", "[REDACTED:email]"]}));
    assert_eq!(calls[1]["function"]["arguments"], "not json [REDACTED:email]");
    assert_eq!(sent["messages"][2]["content"], "sent with key [REDACTED:secret]");

    let body = json!({"model": "an/sonnet", "max_tokens": 50, "messages": [
        {"role": "user", "content": "mail them"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": format!("the key is {KEY}"), "signature": "sig"},
            {"type": "tool_use", "id": "t1", "name": "send", "input": {"to": MAIL, "meta": {"n": 1, "key": KEY}}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": format!("delivered to {MAIL}")}]}]}]});
    let a = post(&s, &usr, "/v1/messages", body, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = mock.last_request().unwrap().body;
    let turn = &sent["messages"][1]["content"];
    assert_eq!(turn[0]["thinking"], "the key is [REDACTED:secret]");
    assert_eq!(turn[1]["input"], json!({"to": "[REDACTED:email]", "meta": {"n": 1, "key": "[REDACTED:secret]"}}));
    assert_eq!(sent["messages"][2]["content"][0]["content"][0]["text"], "delivered to [REDACTED:email]");
    let all = upstream_bodies(&mock);
    assert!(!all.contains(KEY) && !all.contains(&in_json(MAIL)), "{all}");
}

#[tokio::test]
async fn tool_call_arguments_in_answers_are_redacted_whole_and_streamed() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    redacting(&s).await;
    let ask = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream, "tools": key_tool_openai(), "tool_choice": "required",
               "messages": [{"role": "user", "content": "store it"}]})
    };
    let a = post(&s, &usr, "/v1/chat/completions", ask("oa/gpt", false), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let args = a.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap().to_owned();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"key": "[REDACTED:secret]"}));

    // Anthropic's tool_use input, whole.
    let body = json!({"model": "an/sonnet", "max_tokens": 50, "tool_choice": {"type": "any"},
        "tools": [{"name": "store_key", "input_schema": {"type": "object", "properties": {"key": {"type": "string", "enum": [KEY]}}}}],
        "messages": [{"role": "user", "content": "store it"}]});
    let a = post(&s, &usr, "/v1/messages", body.clone(), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let block = a.json()["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").cloned().unwrap();
    assert_eq!(block["input"], json!({"key": "[REDACTED:secret]"}));

    // Streamed: the arguments arrive in pieces, and are put back together redacted.
    for model in ["oa/gpt", "oa/split"] {
        let a = post(&s, &usr, "/v1/chat/completions", ask(model, true), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(!a.body.contains(KEY), "{}", a.body);
        let mut args = String::new();
        for line in a.body.lines().filter_map(|l| l.strip_prefix("data: ")).filter(|l| *l != "[DONE]") {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(a) = v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str() {
                args.push_str(a);
            }
        }
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"key": "[REDACTED:secret]"}), "{model}");
    }
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let a = post(&s, &usr, "/v1/messages", streamed, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!a.body.contains(KEY), "{}", a.body);
    let mut args = String::new();
    for line in a.body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(p) = v["delta"]["partial_json"].as_str() {
            args.push_str(p);
        }
    }
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"key": "[REDACTED:secret]"}));
}
