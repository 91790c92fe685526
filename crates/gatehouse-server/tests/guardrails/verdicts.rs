//! What the guardrails did, per check, in the request log: redactions, audit findings, blocks and failures,
//! whole and streamed, with their counts, and never the text they found.

use serde_json::{json, Value};

use super::{control, guardrails, log_rows, post, world};
use crate::common::TestServer;

fn verdict(rule: &str, check: &str, kind: &str, hook: &str, outcome: &str, count: u64) -> Value {
    json!({"config": "safety", "rule": rule, "check": check, "type": kind, "hook": hook, "outcome": outcome,
           "count": count})
}

#[tokio::test]
async fn the_request_log_keeps_every_verdict_with_its_count_but_not_the_text() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    control(
        &s,
        guardrails(
            "safety",
            json!([
                {"id": "r", "input_guardrails": [
                    {"type": "pii", "entities": ["email"], "action": "redact"},
                    {"type": "secrets", "strategy": "audit"},
                    {"type": "block-keywords", "keywords": ["forbidden"]}],
                 "output_guardrails": [{"type": "secrets", "action": "redact"}]},
                {"id": "hook", "when": {"metadata": {"hook": "down"}}, "input_guardrails": [
                    {"type": "webhook", "url": "http://127.0.0.1:9/", "timeout_ms": 500,
                     "strategy": "enforce_but_ignore_on_error"}]}
            ]),
        ),
    )
    .await;
    let key = "AKIAIOSFODNN7EXAMPLE";
    let text = format!("mail a@example.com and b@example.com the key {key}");
    for (i, stream) in [false, true].into_iter().enumerate() {
        // `split` streams three characters per event: the key is cut across chunks.
        let body = json!({"model": "oa/split", "stream": stream, "messages": [{"role": "user", "content": text}]});
        let a = post(&s, &usr, "/v1/chat/completions", body, Some(r#"{"hook":"down"}"#)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(!a.body.contains(key), "{}", a.body);
        let rows = log_rows(&s, i + 1).await;
        let row = &rows[0];
        assert_eq!(
            row["guardrails"],
            json!([
                verdict("r", "input_guardrails[0]", "pii", "input", "redacted", 2),
                verdict("r", "input_guardrails[1]", "secrets", "input", "flagged", 1),
                verdict("hook", "input_guardrails[0]", "webhook", "input", "error_ignored", 1),
                verdict("r", "output_guardrails[0]", "secrets", "output", "redacted", 1),
            ]),
            "stream: {stream}: {row:#}"
        );
        assert_eq!(row["refused_by"], Value::Null);
        let stored = row.to_string();
        assert!(!stored.contains(key) && !stored.contains("a@example.com"), "{stored}");
    }
    // A block: the rule that refused, and what it found, counted.
    let body = json!({"model": "oa/gpt", "messages": [{"role": "user", "content": "a forbidden word"}]});
    post(&s, &usr, "/v1/chat/completions", body, None).await.blocked();
    let rows = log_rows(&s, 3).await;
    assert_eq!(rows[0]["refused_by"], "safety/r");
    assert_eq!(
        rows[0]["guardrails"],
        json!([verdict("r", "input_guardrails[2]", "block-keywords", "input", "blocked", 1)])
    );
    // A call no guardrail acted on has an empty list.
    let body = json!({"model": "oa/gpt", "messages": [{"role": "user", "content": "nothing to see"}]});
    assert_eq!(post(&s, &usr, "/v1/chat/completions", body, None).await.status, 200);
    let rows = log_rows(&s, 4).await;
    assert_eq!(rows[0]["guardrails"], json!([]));
    // The schema describes the field.
    let spec = s.get("/openapi.json", &s.admin).await.body;
    let props = &spec["components"]["schemas"]["GuardrailVerdictOut"]["properties"];
    for field in ["config", "rule", "check", "type", "hook", "outcome", "count"] {
        assert!(props.get(field).is_some(), "{field}: {props:#}");
    }
    assert_eq!(
        spec["components"]["schemas"]["RequestLogOut"]["properties"]["guardrails"]["items"]["$ref"],
        "#/components/schemas/GuardrailVerdictOut"
    );
}
