//! Streamed answers report their usage to the gateway on every provider, whether or not the client asked
//! for it (`stream_options.include_usage`): the request log and the token limits count the real tokens,
//! and a client that did not ask sees the stream as OpenAI would send it.

use gatehouse_mock_upstream::Endpoint;
use serde_json::{json, Value};

use crate::common::gateway::{gateway_world, stream_text};
use crate::common::TestServer;

/// The chat models of `gateway_world`, one per provider kind the mock speaks.
const MODELS: [&str; 4] = ["compat/gpt", "azure/gpt", "claude/sonnet", "bedrock/haiku"];

fn streamed(model: &str, include_usage: Option<bool>) -> Value {
    let mut body = json!({"model": model, "stream": true, "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello there general kenobi"}]});
    if let Some(u) = include_usage {
        body["stream_options"] = json!({"include_usage": u});
    }
    body
}

/// A streamed answer: its status, the remaining-tokens header, its events' JSON (without `[DONE]`), and
/// whether it ended with `[DONE]`.
struct Streamed {
    remaining_tokens: Option<u64>,
    events: Vec<Value>,
    done: bool,
    text: String,
}

async fn stream(s: &TestServer, token: &str, path: &str, body: Value) -> Streamed {
    let r =
        reqwest::Client::new().post(format!("{}{path}", s.base)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    let remaining_tokens =
        r.headers().get("x-ratelimit-remaining-tokens").map(|v| v.to_str().unwrap().parse().unwrap());
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (text, done) = stream_text(&body);
    let events = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    Streamed { remaining_tokens, events, done, text }
}

/// `(prompt, completion)` of the usage-only last chunk, which must be the stream's last event.
fn usage_chunk(events: &[Value]) -> (i64, i64) {
    let last = events.last().unwrap();
    assert_eq!(last["choices"], json!([]), "{last}");
    let u = &last["usage"];
    let (p, c) = (u["prompt_tokens"].as_i64().unwrap(), u["completion_tokens"].as_i64().unwrap());
    assert_eq!(u["total_tokens"].as_i64(), Some(p + c), "{u}");
    (p, c)
}

/// No event carries usage, and none is the usage-only chunk.
fn assert_no_usage(model: &str, events: &[Value]) {
    for e in events {
        assert!(e.get("usage").is_none(), "{model}: usage reached a client that did not ask: {e}");
    }
    assert!(!events.is_empty());
}

/// Waits (bounded) until the request log writer has stored `n` entries, then returns the newest `n` rows
/// for `model`, newest first.
async fn logged(s: &TestServer, model: &str, n: u64, total: u64) -> Vec<Value> {
    for _ in 0..400 {
        if s.app.request_logs_written() >= total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        s.app.request_logs_written() >= total,
        "the request log stored {} of {total}",
        s.app.request_logs_written()
    );
    let r = s.get(&format!("/api/v1/request-logs?model={model}&limit={n}"), &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["requests"].as_array().unwrap().clone()
}

fn tokens(row: &Value) -> (Option<i64>, Option<i64>) {
    (row["input_tokens"].as_i64(), row["output_tokens"].as_i64())
}

#[tokio::test]
async fn a_streamed_chat_is_logged_with_its_usage_whether_or_not_the_client_asked_for_it() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let mut total = 0;
    for model in MODELS {
        let asked = stream(&s, &usr, "/v1/chat/completions", streamed(model, Some(true))).await;
        assert!(asked.done && asked.text.contains("general kenobi"), "{model}: {:?}", asked.events);
        let usage = usage_chunk(&asked.events);
        assert!(usage.0 > 0 && usage.1 > 0, "{model}: {usage:?}");
        // Not asked for at all, and explicitly declined: the same stream without any usage.
        for declined in [None, Some(false)] {
            let plain = stream(&s, &usr, "/v1/chat/completions", streamed(model, declined)).await;
            assert!(plain.done && plain.text == asked.text, "{model}: {:?}", plain.events);
            assert_no_usage(model, &plain.events);
            let finish = plain.events.iter().filter(|e| e["choices"][0]["finish_reason"].is_string()).count();
            assert_eq!(finish, 1, "{model}: {:?}", plain.events);
        }
        total += 3;
        let rows = logged(&s, model, 3, total).await;
        assert_eq!(rows.len(), 3, "{model}: {rows:?}");
        for row in &rows {
            assert_eq!((row["status"].as_u64(), row["route"].as_str()), (Some(200), Some("chat")), "{row}");
            assert_eq!(tokens(row), (Some(usage.0), Some(usage.1)), "{model}: {row}");
        }
    }
    // OpenAI-shaped upstreams were asked for usage every time, keeping what else the client sent.
    for endpoint in [Endpoint::OpenAiChat, Endpoint::AzureChat] {
        let sent = mock.requests_to(endpoint);
        assert_eq!(sent.len(), 3, "{endpoint:?}");
        for r in &sent {
            assert_eq!(r.body["stream_options"], json!({"include_usage": true}), "{endpoint:?}: {}", r.body);
        }
    }
}

#[tokio::test]
async fn a_streamed_legacy_completion_is_logged_with_its_usage() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let body = |include_usage: bool| {
        json!({"model": "compat/gpt", "prompt": "hello there", "max_tokens": 20, "stream": true,
               "stream_options": {"include_usage": include_usage}})
    };
    let asked = stream(&s, &usr, "/v1/completions", body(true)).await;
    let last = asked.events.last().unwrap();
    assert_eq!(last["choices"], json!([]), "{last}");
    let usage =
        (last["usage"]["prompt_tokens"].as_i64().unwrap(), last["usage"]["completion_tokens"].as_i64().unwrap());
    let plain = stream(&s, &usr, "/v1/completions", body(false)).await;
    assert!(plain.done);
    assert_no_usage("compat/gpt", &plain.events);
    assert!(plain
        .events
        .iter()
        .all(|e| e["object"] == "text_completion" && !e["choices"].as_array().unwrap().is_empty()));
    let rows = logged(&s, "compat/gpt", 2, 2).await;
    for row in &rows {
        assert_eq!(row["route"], "completions");
        assert_eq!(tokens(row), (Some(usage.0), Some(usage.1)), "{row}");
    }
    let sent = mock.requests_to(Endpoint::OpenAiCompletions);
    assert!(sent.iter().all(|r| r.body["stream_options"]["include_usage"] == true), "{sent:?}");
}

/// Each call is charged its estimate at admission, so `x-ratelimit-remaining-tokens` of the next call is
/// lower by what the previous call settled at: its real usage, not its estimate.
#[tokio::test]
async fn a_token_limit_settles_a_stream_with_its_real_usage_on_every_provider() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let rule = json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "tokens", "limit_to": 100000, "unit": "tokens_per_minute", "rate_limit_applies_per": ["model"]}]});
    let r = crate::common::apply::apply(&s, &rule.to_string(), false).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    for model in MODELS {
        let first = stream(&s, &usr, "/v1/chat/completions", streamed(model, None)).await;
        let second = stream(&s, &usr, "/v1/chat/completions", streamed(model, None)).await;
        assert_no_usage(model, &second.events);
        let (a, b) = (first.remaining_tokens.unwrap(), second.remaining_tokens.unwrap());
        // The estimate alone (~20 prompt tokens from the body's size, plus max_tokens 50) is charged first.
        let estimate = 100000 - a;
        assert!(estimate >= 50, "{model}: {estimate}");
        // Measured by the same upstream, asked for it.
        let asked = stream(&s, &usr, "/v1/chat/completions", streamed(model, Some(true))).await;
        let (p, c) = usage_chunk(&asked.events);
        let used = u64::try_from(p + c).unwrap();
        assert!(used < estimate, "{model}: the test needs usage ({used}) below the estimate ({estimate})");
        assert_eq!(a - b, used, "{model}: the first stream settled at {} tokens, it used {used}", a - b);
    }
}

/// Azure API versions before 2024-09-01 refuse `stream_options` as an unknown parameter: their streams go
/// upstream as the client wrote them.
#[tokio::test]
async fn old_azure_api_versions_are_not_sent_stream_options() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let account = json!({
        "type": "azure-openai", "name": "azure-old", "base_url": mock.base_url(), "endpoint": "https://r.openai.azure.com",
        "api_version": "2024-02-01", "auth": {"api_key": "azure-key"},
        "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}],
        "collaborators": [{"subject": "user:usr@example.com", "role": "provider-account-user"}]
    });
    let r = s.post("/api/v1/provider-accounts", &s.admin, account).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let plain = stream(&s, &usr, "/v1/chat/completions", streamed("azure-old/gpt", None)).await;
    assert!(plain.done);
    assert_no_usage("azure-old/gpt", &plain.events);
    let asked = stream(&s, &usr, "/v1/chat/completions", streamed("azure-old/gpt", Some(true))).await;
    usage_chunk(&asked.events);
    let sent = mock.requests_to(Endpoint::AzureChat);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].body.get("stream_options").is_none(), "{}", sent[0].body);
    assert_eq!(sent[1].body["stream_options"], json!({"include_usage": true}));
}
