//! Output guardrails: whole answers checked before they are sent, streams checked as they flow, values
//! split across stream events (the mock's `split-<N>` models send N characters per event).

use serde_json::{json, Value};

use super::{chat, control, guardrails, in_json, log_rows, post, values, world};
use crate::common::gateway::stream_text;
use crate::common::TestServer;

/// The text of an Anthropic Messages stream, and whether it reached `message_stop`.
fn anthropic_text(body: &str) -> (String, bool) {
    let mut text = String::new();
    let mut stopped = false;
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else { continue };
        let v: Value = serde_json::from_str(data).unwrap();
        match v["type"].as_str() {
            Some("content_block_delta") => text.push_str(v["delta"]["text"].as_str().unwrap_or_default()),
            Some("message_stop") => stopped = true,
            _ => {}
        }
    }
    (text, stopped)
}

/// The text of a legacy completions stream.
fn completion_text(body: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn each_class_is_redacted_in_whole_and_streamed_answers_even_split_across_events() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "out",
            json!([{"id": "redact", "output_guardrails": [
                {"type": "pii", "action": "redact"}, {"type": "secrets", "action": "redact"}]}]),
        ),
    )
    .await;
    // The upstream sends `split` answers three characters per event.
    let direct = reqwest::Client::new()
        .post(mock.url("/v1/chat/completions"))
        .bearer_auth("sk-test")
        .json(&chat("mock-split-3", "here is AKIAIOSFODNN7EXAMPLE", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(direct.contains(r#""content":"s A""#) && direct.contains(r#""content":"KIA""#), "{direct}");
    for (value, label, _) in values() {
        let said = format!("here is {value} thanks");
        let want = format!("mock reply to: here is [REDACTED:{label}] thanks");
        // The upstream saw the value (only the output is checked) and echoed it; the client does not.
        let a = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", &said, false), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.json()["choices"][0]["message"]["content"], want);
        assert_eq!(mock.last_request().unwrap().body["messages"][0]["content"], said);
        assert_eq!(a.applied(), "guardrail:out/redact;redacted");
        // Streamed three characters per event: every value arrives split, and is caught whole.
        let a = post(&s, &usr, "/v1/chat/completions", chat("oa/split", &said, true), None).await;
        assert_eq!(a.status, 200);
        assert_eq!(stream_text(&a.body), (want.clone(), true), "{value}");
        assert!(!a.body.contains(&in_json(&value)), "{value} sent: {}", a.body);
        // Anthropic's native stream, four characters per event.
        let body = json!({"model": "an/sonnet", "max_tokens": 200, "stream": true,
                          "messages": [{"role": "user", "content": said}]});
        let a = post(&s, &usr, "/v1/messages", body, None).await;
        assert_eq!(anthropic_text(&a.body), (want.clone(), true), "{value}");
        assert!(!a.body.contains(&in_json(&value)), "{value} sent: {}", a.body);
    }
    let key = "AKIAIOSFODNN7EXAMPLE";
    let want = "mock reply to: key [REDACTED:secret] ok";
    // Completions, streamed and whole.
    let a = post(
        &s,
        &usr,
        "/v1/completions",
        json!({"model": "oa/split", "prompt": format!("key {key} ok"), "stream": true}),
        None,
    )
    .await;
    assert_eq!(completion_text(&a.body), want);
    let a =
        post(&s, &usr, "/v1/completions", json!({"model": "oa/gpt", "prompt": format!("key {key} ok")}), None).await;
    assert_eq!(a.json()["choices"][0]["text"], want);
    // Chat translated from Anthropic's stream, and a whole Messages answer.
    let a = post(&s, &usr, "/v1/chat/completions", chat("an/sonnet", &format!("key {key} ok"), true), None).await;
    assert_eq!(stream_text(&a.body), (want.to_owned(), true));
    let body = json!({"model": "an/sonnet", "max_tokens": 200, "messages": [{"role": "user", "content": format!("key {key} ok")}]});
    let a = post(&s, &usr, "/v1/messages", body, None).await;
    assert_eq!(a.json()["content"][0]["text"], want, "{}", a.body);
}

#[tokio::test]
async fn a_block_in_a_stream_ends_it_with_an_error_event() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    control(&s, guardrails("out", json!([{"id": "keys", "output_guardrails": [{"type": "secrets"}]}]))).await;
    let said = "here is AKIAIOSFODNN7EXAMPLE thanks";
    // OpenAI's shape: the text before the secret, then an error event and no [DONE].
    let a = post(&s, &usr, "/v1/chat/completions", chat("oa/split", said, true), None).await;
    assert_eq!(a.status, 200);
    let (text, done) = stream_text(&a.body.replace("data: {\"error\"", "ignored: "));
    assert!(!done, "{}", a.body);
    assert!(!a.body.contains("AKIA") && !a.body.contains("thanks"), "{}", a.body);
    assert!("mock reply to: here is ".starts_with(&text) && !text.is_empty(), "{text:?}");
    let last = a.body.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap();
    let err: Value = serde_json::from_str(last).unwrap();
    assert_eq!(err["error"]["code"], "guardrail_blocked", "{err}");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(
        err["error"]["message"],
        "guardrail out/keys blocked the output: the secrets check (output_guardrails[0]) found aws_access_key_id"
    );
    // Anthropic's shape: an `error` event, no message_stop.
    let body = json!({"model": "an/sonnet", "max_tokens": 200, "stream": true, "messages": [{"role": "user", "content": said}]});
    let a = post(&s, &usr, "/v1/messages", body, None).await;
    let (_, stopped) = anthropic_text(&a.body);
    assert!(!stopped && a.body.contains("event: error") && !a.body.contains("AKIA"), "{}", a.body);
    // A whole answer is refused after the upstream answered.
    let before = mock.request_count();
    let msg = post(&s, &usr, "/v1/chat/completions", chat("oa/gpt", said, false), None).await.blocked();
    assert!(msg.starts_with("guardrail out/keys blocked the output"), "{msg}");
    assert_eq!(mock.request_count(), before + 1);
    // Each is logged as refused by the rule, streams included; the whole answer with the tokens it used.
    let rows = log_rows(&s, 3).await;
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!((r["status"].as_u64(), r["refused_by"].as_str()), (Some(400), Some("out/keys")), "{r}");
    }
    assert!(rows[0]["output_tokens"].as_u64().is_some_and(|t| t > 0), "{}", rows[0]);
}

#[tokio::test]
async fn keywords_and_patterns_split_across_events_are_caught_in_output() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "out",
            json!([{"id": "words", "output_guardrails": [
                {"type": "block-regex", "pattern": "order #[0-9]{6}", "action": "redact"},
                {"type": "block-keywords", "keywords": ["Project Falcon"], "action": "redact"},
                {"type": "block-keywords", "keywords": ["forbidden topic"]}]}]),
        ),
    )
    .await;
    let said = "about project falcon and order #123456 today";
    let a = post(&s, &usr, "/v1/chat/completions", chat("oa/split", said, true), None).await;
    let want = "mock reply to: about [REDACTED:keyword] and [REDACTED:pattern] today".to_owned();
    assert_eq!(stream_text(&a.body), (want, true));
    let a = post(&s, &usr, "/v1/chat/completions", chat("oa/split", "a forbidden topic here", true), None).await;
    assert!(a.body.contains("guardrail_blocked") && !a.body.contains("[DONE]"), "{}", a.body);
    assert!(!stream_text(&a.body.replace("data: {\"error\"", "x: ")).0.contains("forbidden"), "{}", a.body);
}
