//! The external guardrail against a small webhook server started here: allow, block, rewrite (input and
//! output, whole and streamed), and each strategy when it fails or does not answer in time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{chat, control, guardrails, post as call, world};
use crate::common::gateway::stream_text;
use crate::common::TestServer;

type Seen = Arc<Mutex<Vec<Value>>>;

/// `/<behaviour>`: `allow`, `block`, `upper` (rewrites the last text in capitals), `tag-all` (rewrites every
/// text), `slow` (answers after 2 s), `fail` (500), `garbage` (not JSON). Every payload is kept.
async fn webhook_server() -> (String, Seen) {
    async fn hook(State(seen): State<Seen>, Path(how): Path<String>, Json(p): Json<Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        seen.lock().unwrap().push(p.clone());
        let texts: Vec<String> =
            p["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect();
        match how.as_str() {
            "allow" => Json(json!({"action": "allow"})).into_response(),
            "block" => Json(json!({"action": "block", "reason": "toxic; call 555-123-4567 to appeal"})).into_response(),
            "upper" => Json(json!({"action": "rewrite", "text": texts.last().unwrap().to_uppercase()})).into_response(),
            "tag-all" => {
                let all: Vec<String> = texts.iter().map(|t| format!("[{t}]")).collect();
                Json(json!({"action": "rewrite", "texts": all})).into_response()
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Json(json!({"action": "allow"})).into_response()
            }
            "fail" => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
            _ => "not json".into_response(),
        }
    }
    let seen: Seen = Arc::default();
    let app = Router::new().route("/{how}", post(hook)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn hook(base: &str, how: &str, strategy: &str, timeout_ms: u64) -> Value {
    json!({"type": "webhook", "url": format!("{base}/{how}"), "timeout_ms": timeout_ms, "strategy": strategy})
}

#[tokio::test]
async fn the_webhook_allows_blocks_and_rewrites_input_and_output() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    let (base, seen) = webhook_server().await;
    let two = json!({"model": "oa/gpt", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]});

    control(&s, guardrails("ext", json!([{"id": "in", "input_guardrails": [hook(&base, "allow", "enforce", 2000)]}])))
        .await;
    let a = call(&s, &usr, "/v1/chat/completions", two.clone(), None).await;
    assert_eq!((a.status, a.applied()), (200, "guardrail:ext/in".to_owned()), "{}", a.body);
    let payload = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        payload,
        json!({"hook": "input", "config": "ext", "rule": "in", "model": "oa/gpt", "subject": "user:usr@example.com",
               "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]})
    );

    control(&s, guardrails("ext", json!([{"id": "in", "input_guardrails": [hook(&base, "block", "enforce", 2000)]}])))
        .await;
    let before = mock.request_count();
    let msg = call(&s, &usr, "/v1/chat/completions", two.clone(), None).await.blocked();
    assert_eq!(
        msg,
        "guardrail ext/in blocked the input: the webhook check (input_guardrails[0]) was refused by the webhook: \
         toxic; call [REDACTED:phone] to appeal"
    );
    assert_eq!(mock.request_count(), before);

    control(
        &s,
        guardrails("ext", json!([{"id": "in", "input_guardrails": [hook(&base, "tag-all", "enforce", 2000)]}])),
    )
    .await;
    let a = call(&s, &usr, "/v1/chat/completions", two.clone(), None).await;
    assert_eq!(a.applied(), "guardrail:ext/in;redacted");
    let sent = mock.last_request().unwrap().body["messages"].clone();
    assert_eq!((sent[0]["content"].as_str(), sent[1]["content"].as_str()), (Some("[be brief]"), Some("[hello there]")));

    // On the output: the whole answer, and a stream held whole and rewritten at its end.
    control(
        &s,
        guardrails("ext", json!([{"id": "out", "output_guardrails": [hook(&base, "upper", "enforce", 2000)]}])),
    )
    .await;
    let a = call(&s, &usr, "/v1/chat/completions", chat("oa/gpt", "hello there", false), None).await;
    assert_eq!(a.json()["choices"][0]["message"]["content"], "MOCK REPLY TO: HELLO THERE");
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last["hook"].as_str(), last["messages"][0]["role"].as_str()), (Some("output"), Some("assistant")));
    let a = call(&s, &usr, "/v1/chat/completions", chat("oa/split", "hello there", true), None).await;
    assert_eq!(stream_text(&a.body), ("MOCK REPLY TO: HELLO THERE".to_owned(), true), "{}", a.body);
    let a = call(
        &s,
        &usr,
        "/v1/messages",
        json!({"model": "an/sonnet", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hello there"}]}),
        None,
    )
    .await;
    assert!(a.body.contains("MOCK REPLY TO: HELLO THERE") && a.body.contains("message_stop"), "{}", a.body);
}

#[tokio::test]
async fn each_strategy_on_a_failing_or_slow_webhook() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    let (base, _) = webhook_server().await;
    let ask = || call(&s, &usr, "/v1/chat/completions", chat("oa/gpt", "hello there", false), None);
    let with = |how: &str, strategy: &str| {
        guardrails("ext", json!([{"id": "r", "input_guardrails": [hook(&base, how, strategy, 300)]}]))
    };

    // enforce: a failure blocks, within the timeout.
    for (how, why) in [
        ("slow", "failed: the webhook did not answer within 300 ms"),
        ("fail", "failed: the webhook answered 500"),
        ("garbage", "failed: the webhook's answer is not understood"),
    ] {
        control(&s, with(how, "enforce")).await;
        let started = Instant::now();
        let a = ask().await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{how}: {:?}", started.elapsed());
        let msg = a.blocked();
        assert!(msg.contains(&format!("the webhook check (input_guardrails[0]) {why}")), "{how}: {msg}");
        assert_eq!(a.applied(), "guardrail:ext/r;blocked;error");
    }
    // enforce_but_ignore_on_error: a failure lets the call through, marked; a refusal still blocks.
    control(&s, with("slow", "enforce_but_ignore_on_error")).await;
    let a = ask().await;
    assert_eq!((a.status, a.applied()), (200, "guardrail:ext/r;error".to_owned()), "{}", a.body);
    control(&s, with("block", "enforce_but_ignore_on_error")).await;
    ask().await.blocked();
    // audit: never blocks, whatever the webhook says or does.
    control(&s, with("block", "audit")).await;
    let a = ask().await;
    assert_eq!((a.status, a.applied()), (200, "guardrail:ext/r;flagged".to_owned()));
    control(&s, with("upper", "audit")).await;
    let a = ask().await;
    assert_eq!(a.json()["choices"][0]["message"]["content"], "mock reply to: hello there");
    control(&s, with("fail", "audit")).await;
    assert_eq!(ask().await.applied(), "guardrail:ext/r;error");
}
