//! Routing on the gateway: load-balancing rules (weights, priorities, latency), retries and fallbacks,
//! time-to-first-token timeouts, cool-downs, and virtual models; against a mock upstream made to fail,
//! slow down or cut streams by markers in the model id.

mod follow;
mod virtual_models;
use gatehouse_mock_upstream::{MockConfig, MockHandle};
use serde_json::{json, Value};

use crate::common::gateway::{chat_body, stream_text};
use crate::common::TestServer;

/// One account `up` that `usr` may use, whose models fail, slow down or cut streams as their ids say; and
/// an account `other` nobody but the admin may use.
pub(crate) async fn world(s: &TestServer) -> (MockHandle, String) {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let base = format!("{}/v1", mock.base_url());
    let usr = s.user("usr@example.com", "member").await;
    let models = json!([
        {"name": "a", "model_id": "mock-a", "types": ["chat", "completion"]},
        {"name": "b", "model_id": "mock-b", "types": ["chat", "completion"],
         "pricing": {"input_per_million_tokens": 1.0, "output_per_million_tokens": 2.0}},
        {"name": "bad", "model_id": "bad-fail-503", "types": ["chat"]},
        {"name": "flaky", "model_id": "flaky-fail-503x2", "types": ["chat"]},
        {"name": "refusing", "model_id": "r-fail-400", "types": ["chat"]},
        {"name": "slow", "model_id": "s-slow-3000ms", "types": ["chat"]},
        {"name": "lagging", "model_id": "l-slow-200ms", "types": ["chat"]},
        {"name": "cut", "model_id": "c-drip-20ms-cut-3", "types": ["chat"]}
    ]);
    let grant = json!([{"subject": "user:usr@example.com", "role": "provider-account-user"}]);
    let accounts = [
        json!({"type": "openai-compatible", "name": "up", "base_url": base, "auth": {"api_key": "sk-up"}, "models": models, "collaborators": grant}),
        json!({"type": "openai-compatible", "name": "other", "base_url": base, "auth": {"api_key": "sk-other"},
               "models": [{"name": "c", "model_id": "mock-c", "types": ["chat"]}]}),
    ];
    for a in accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    (mock, usr)
}

pub(crate) async fn apply(s: &TestServer, body: Value) -> crate::common::Resp {
    crate::common::apply::apply(s, &serde_json::to_string(&body).unwrap(), false).await
}

async fn balance(s: &TestServer, rule: Value) {
    let r = apply(s, json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [rule]})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

pub(crate) async fn chat(s: &TestServer, token: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The model ids the mock was asked for, in order.
pub(crate) fn asked(mock: &MockHandle) -> Vec<String> {
    mock.requests().iter().filter_map(|r| r.body["model"].as_str().map(str::to_owned)).collect()
}

pub(crate) fn resolved(r: &reqwest::Response) -> String {
    r.headers()["x-gatehouse-resolved-model"].to_str().unwrap().to_owned()
}

/// The request log once it holds `n` rows, newest first.
pub(crate) async fn logged(s: &TestServer, n: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    rows
}

fn target(name: &str, extra: Value) -> Value {
    let mut t = json!({"target": name});
    if let (Some(o), Some(e)) = (t.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    t
}

#[tokio::test]
async fn weights_are_observed_over_many_calls() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    balance(
        &s,
        json!({"id": "split", "when": {"models": ["up/a"]}, "type": "weight-based-routing",
        "load_balance_targets": [target("up/a", json!({"weight": 70})), target("other/c", json!({"weight": 30}))]}),
    )
    .await;
    let mut to_c = 0;
    for _ in 0..300 {
        let r = chat(&s, &usr, chat_body("up/a", false)).await;
        if r.status() != 200 {
            panic!("{}", r.text().await.unwrap());
        }
        let served = resolved(&r);
        assert!(served == "up/a" || served == "other/c", "{served}");
        to_c += usize::from(served == "other/c");
        // The body keeps the name the client asked for.
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["model"], "up/a");
    }
    // 30% of 300 is 90; the binomial's standard deviation is about 8.
    assert!((60..=120).contains(&to_c), "{to_c} of 300 went to other/c");
    assert_eq!(asked(&mock).iter().filter(|m| *m == "mock-c").count(), to_c);
}

#[tokio::test]
async fn priority_retries_then_falls_back_and_logs_every_attempt() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    balance(
        &s,
        json!({"id": "p", "when": {"models": ["up/bad"]}, "type": "priority-based-routing",
        "load_balance_targets": [
            target("up/b", json!({"priority": 2})),
            target("up/bad", json!({"priority": 1, "retry_config": {"attempts": 2, "delay_ms": 10}}))]}),
    )
    .await;
    let r = chat(&s, &usr, chat_body("up/bad", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(resolved(&r), "up/b");
    assert_eq!(r.headers()["x-gatehouse-applied-controls"], "load-balancing:lb/p");
    assert_eq!(asked(&mock), ["bad-fail-503", "bad-fail-503", "bad-fail-503", "mock-b"]);
    let rows = logged(&s, 5).await;
    let seen: Vec<(String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["route"].as_str().unwrap().to_owned(),
                r["model"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, u64)> = vec![
        ("chat:attempt".into(), "up/bad".into(), 503),
        ("chat:attempt".into(), "up/bad".into(), 503),
        ("chat:attempt".into(), "up/bad".into(), 503),
        ("chat:attempt".into(), "up/b".into(), 200),
        ("chat".into(), "up/bad".into(), 200),
    ];
    let mut got = seen.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{rows:?}");
    // The call's row is priced at the model that served (up/b: $1 / $2 per million tokens).
    let call = rows.iter().find(|r| r["route"] == "chat").unwrap();
    assert!(call["cost_usd"].as_f64().unwrap() > 0.0, "{call}");
    for a in rows.iter().filter(|r| r["route"] == "chat:attempt") {
        assert!(a["latency_us"].as_i64().unwrap() > 0);
    }

    // Three failures in a row: up/bad cools down and is skipped, by the app's clock.
    mock.clear();
    let r = chat(&s, &usr, chat_body("up/bad", false)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/b".to_owned()));
    assert_eq!(asked(&mock), ["mock-b"]);
    s.advance(29);
    mock.clear();
    chat(&s, &usr, chat_body("up/bad", false)).await;
    assert_eq!(asked(&mock), ["mock-b"]);
    s.advance(2);
    mock.clear();
    let r = chat(&s, &usr, chat_body("up/bad", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(asked(&mock), ["bad-fail-503", "bad-fail-503", "bad-fail-503", "mock-b"]);
}

#[tokio::test]
async fn a_retry_can_succeed_on_the_same_target() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    balance(
        &s,
        json!({"id": "p", "when": {"models": ["up/flaky"]}, "type": "priority-based-routing",
        "load_balance_targets": [target("up/flaky", json!({"retry_config": {"attempts": 2, "delay_ms": 1}})),
                                 target("up/b", json!({"priority": 1}))]}),
    )
    .await;
    let r = chat(&s, &usr, chat_body("up/flaky", false)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/flaky".to_owned()));
    assert_eq!(asked(&mock), ["flaky-fail-503x2"; 3]);
}

#[tokio::test]
async fn an_unreachable_target_falls_back() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    // Nothing listens on the discard port.
    let dead = json!({"type": "openai-compatible", "name": "dead", "base_url": "http://127.0.0.1:9/v1",
        "auth": {"api_key": "sk-dead"}, "models": [{"name": "m", "model_id": "mock-dead", "types": ["chat"]}]});
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, dead).await.status, 201);
    balance(
        &s,
        json!({"id": "p", "when": {"models": ["up/a"]}, "type": "priority-based-routing",
        "load_balance_targets": [target("dead/m", json!({})), target("up/b", json!({"priority": 1}))]}),
    )
    .await;
    let r = chat(&s, &usr, chat_body("up/a", false)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/b".to_owned()));
    assert_eq!(asked(&mock), ["mock-b"]);
    let rows = logged(&s, 3).await;
    assert!(
        rows.iter().any(|r| r["route"] == "chat:attempt" && r["model"] == "dead/m" && r["status"] == 502),
        "{rows:?}"
    );
}

#[tokio::test]
async fn only_fallback_statuses_and_candidates_fall_back() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    // 400 is the client's request: not in the default fallback codes.
    balance(
        &s,
        json!({"id": "p", "when": {"models": ["up/refusing", "up/bad"]}, "type": "priority-based-routing",
        "load_balance_targets": [target("up/refusing", json!({})), target("up/b", json!({"priority": 1}))]}),
    )
    .await;
    let r = chat(&s, &usr, chat_body("up/refusing", false)).await;
    assert_eq!(r.status(), 502);
    assert_eq!(asked(&mock), ["r-fail-400"]);

    // Its own fallback codes, and a target that is no fallback candidate.
    let r = apply(&s, json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [
        {"id": "codes", "when": {"models": ["up/bad"]}, "type": "priority-based-routing", "load_balance_targets": [
            target("up/bad", json!({"retry_config": {"attempts": 0}, "fallback_status_codes": [500]})),
            target("up/b", json!({"priority": 1}))]},
        {"id": "candidate", "when": {"models": ["up/refusing"]}, "type": "priority-based-routing", "load_balance_targets": [
            target("up/bad", json!({"retry_config": {"attempts": 0}})),
            target("up/b", json!({"priority": 1, "fallback_candidate": false}))]}]}))
    .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    mock.clear();
    assert_eq!(chat(&s, &usr, chat_body("up/bad", false)).await.status(), 502);
    assert_eq!(chat(&s, &usr, chat_body("up/refusing", false)).await.status(), 502);
    assert_eq!(asked(&mock), ["bad-fail-503", "bad-fail-503"]);
}

#[tokio::test]
async fn streams_fall_back_before_their_first_byte_only() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    let r = apply(
        &s,
        json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [
        {"id": "status", "when": {"models": ["up/bad"]}, "type": "priority-based-routing", "load_balance_targets": [
            target("up/bad", json!({"retry_config": {"attempts": 0}})), target("up/b", json!({"priority": 1}))]},
        {"id": "ttft", "when": {"models": ["up/slow"]}, "type": "priority-based-routing", "ttft_timeout_ms": 300,
         "load_balance_targets": [target("up/slow", json!({})), target("up/b", json!({"priority": 1}))]},
        {"id": "cut", "when": {"models": ["up/cut"]}, "type": "priority-based-routing", "ttft_timeout_ms": 300,
         "load_balance_targets": [target("up/cut", json!({})), target("up/b", json!({"priority": 1}))]}]}),
    )
    .await;
    assert!(r.status.is_success(), "{:?}", r.body);

    // The upstream's error status, before anything was sent: the stream comes from the fallback.
    let r = chat(&s, &usr, chat_body("up/bad", true)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/b".to_owned()));
    let (text, done) = stream_text(&r.text().await.unwrap());
    assert!(done && !text.is_empty());
    assert_eq!(asked(&mock), ["bad-fail-503", "mock-b"]);

    // No first chunk within the time-to-first-token timeout: the fallback, quickly.
    mock.clear();
    let started = std::time::Instant::now();
    let r = chat(&s, &usr, chat_body("up/slow", true)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/b".to_owned()));
    assert!(stream_text(&r.text().await.unwrap()).1);
    assert!(started.elapsed() < std::time::Duration::from_millis(2500), "{:?}", started.elapsed());
    assert_eq!(asked(&mock), ["s-slow-3000ms", "mock-b"]);

    // Cut after its first bytes reached the client: no fallback can take them back.
    mock.clear();
    let r = chat(&s, &usr, chat_body("up/cut", true)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/cut".to_owned()));
    let (_, done) = stream_text(&r.text().await.unwrap());
    assert!(!done);
    assert_eq!(asked(&mock), ["c-drip-20ms-cut-3"]);
}

#[tokio::test]
async fn latency_routing_prefers_the_fastest_and_override_params_apply() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    balance(
        &s,
        json!({"id": "fast", "when": {"models": ["up/lagging"]}, "type": "latency-based-routing",
        "load_balance_targets": [target("up/lagging", json!({})),
            target("up/b", json!({"override_params": {"temperature": 0.1, "max_tokens": 5}}))]}),
    )
    .await;
    // Each is measured by being tried; then the fast one takes every call.
    for _ in 0..4 {
        assert_eq!(chat(&s, &usr, chat_body("up/lagging", false)).await.status(), 200);
    }
    let asked_before = asked(&mock);
    assert!(asked_before.iter().any(|m| m == "mock-b"), "{asked_before:?}");
    mock.clear();
    for _ in 0..10 {
        let r = chat(&s, &usr, chat_body("up/lagging", false)).await;
        assert_eq!(resolved(&r), "up/b");
    }
    assert_eq!(asked(&mock), ["mock-b"; 10]);
    let sent = &mock.requests()[0].body;
    assert_eq!((sent["temperature"].as_f64(), sent["max_tokens"].as_u64()), (Some(0.1), Some(5)));
}

#[tokio::test]
async fn bad_load_balancing_configs_are_refused_naming_the_field() {
    let s = TestServer::start().await;
    let (_mock, _usr) = world(&s).await;
    let cases = [
        (
            json!([target("up/a", json!({"weight": 60})), target("up/b", json!({"weight": 30}))]),
            "weight-based-routing",
            "rules[0].load_balance_targets",
        ),
        (
            json!([target("up/a", json!({"override_params": {"model": "x"}}))]),
            "priority-based-routing",
            "rules[0].load_balance_targets[0].override_params.model",
        ),
        (
            json!([target("up/a", json!({"override_params": {"temperature": "hot"}}))]),
            "priority-based-routing",
            "rules[0].load_balance_targets[0].override_params.temperature",
        ),
        (
            json!([target("up/a", json!({"ttft_timeout_ms": 0}))]),
            "priority-based-routing",
            "rules[0].load_balance_targets[0].ttft_timeout_ms",
        ),
        (json!([target("up/nope", json!({}))]), "priority-based-routing", "rules[0].load_balance_targets[0].target"),
        (json!([]), "priority-based-routing", "rules[0].load_balance_targets"),
    ];
    for (targets, strategy, field) in cases {
        let r = apply(
            &s,
            json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [
            {"id": "r", "when": {"models": ["up/a"]}, "type": strategy, "load_balance_targets": targets}]}),
        )
        .await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(r.body["error"]["param"].as_str().unwrap_or_default().ends_with(field), "{field}: {:?}", r.body);
    }
    // Nothing was stored.
    assert_eq!(s.get("/api/v1/gateway-controls/lb", &s.admin).await.status, 404);
}
