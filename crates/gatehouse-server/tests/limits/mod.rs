//! Rate limits and budgets on the gateway: exact under concurrency, matched and counted as documented.

mod alerts;

use futures_util::future::join_all;
use gatehouse_mock_upstream::{MockConfig, MockHandle};
use serde_json::{json, Value};

use crate::common::TestServer;

/// An account on a mock upstream whose model answers after `delay` ms with exactly 7 output tokens (and
/// 2 prompt tokens for "hello there"), priced at $1 / $2 per million tokens; `usr` may use it.
async fn world(s: &TestServer, delay: u64) -> (MockHandle, String, String) {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let usr = s.user("usr@example.com", "member").await;
    let two = s.user("two@example.com", "member").await;
    let account = json!({
        "type": "openai-compatible", "name": "acct", "base_url": format!("{}/v1", mock.base_url()), "auth": {"api_key": "sk-test"},
        "models": [
            {"name": "m", "model_id": format!("mock-slow-{delay}ms-tokens-7"), "types": ["chat", "completion", "embedding"],
             "pricing": {"input_per_million_tokens": 1.0, "output_per_million_tokens": 2.0}},
            {"name": "other", "model_id": "mock-tokens-7", "types": ["chat"]}
        ],
        "collaborators": [{"subject": "user:usr@example.com", "role": "provider-account-user"},
                          {"subject": "user:two@example.com", "role": "provider-account-user"}]
    });
    let r = s.post("/api/v1/provider-accounts", &s.admin, account).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (mock, usr, two)
}

async fn control(s: &TestServer, body: Value) {
    let r = crate::common::apply::apply(s, &serde_json::to_string(&body).unwrap(), false).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 10})
}

async fn send(s: &TestServer, token: &str, body: Value, metadata: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(format!("{}/v1/chat/completions", s.base)).bearer_auth(token).json(&body);
    if let Some(m) = metadata {
        req = req.header("x-gatehouse-metadata", m);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn of_200_concurrent_requests_exactly_the_limit_pass() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 300).await;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "all", "limit_to": 37, "unit": "requests_per_minute"}]}),
    )
    .await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(200).build().unwrap();
    let calls = (0..200).map(|_| {
        let req = client.post(format!("{}/v1/chat/completions", s.base)).bearer_auth(&usr).json(&chat("acct/m"));
        async move { req.send().await.unwrap() }
    });
    let answers = join_all(calls).await;
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == 429).collect();
    assert_eq!((ok, limited.len()), (37, 163));
    let h = limited[0].headers();
    assert_eq!(h["x-ratelimit-limit-requests"], "37");
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    let retry: i64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=65).contains(&retry), "{retry}");
    let ok_answer = answers.into_iter().find(|r| r.status() == 200).unwrap();
    assert_eq!(ok_answer.headers()["x-gatehouse-applied-controls"], "rate-limit:rl/all");
}

#[tokio::test]
async fn a_refusal_is_openai_shaped_names_the_rule_and_is_logged() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 0).await;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "two", "limit_to": 2, "unit": "requests_per_minute"}]}),
    )
    .await;
    for _ in 0..2 {
        let r = send(&s, &usr, chat("acct/m"), None).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let r = send(&s, &usr, chat("acct/m"), None).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("rl/two"), "{body}");
    // The request log has the rule that refused, and the cost of the calls that ran at their price.
    let mut logged = Value::Null;
    for _ in 0..100 {
        logged = s.get("/api/v1/request-logs", &s.admin).await.body;
        if logged["requests"].as_array().is_some_and(|r| r.len() == 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = logged["requests"].as_array().unwrap();
    assert_eq!(rows[0]["status"], 429);
    assert_eq!(rows[0]["refused_by"], "rl/two");
    assert_eq!(rows[1]["refused_by"], Value::Null);
    // 2 prompt tokens at $1 and 7 completion tokens at $2 per million.
    assert!((rows[1]["cost_usd"].as_f64().unwrap() - 0.000016).abs() < 1e-12, "{}", rows[1]);
    // A sliding minute: still refused 59 s on, admitted once the first two have left the window.
    s.advance(59);
    assert_eq!(send(&s, &usr, chat("acct/m"), None).await.status(), 429);
    s.advance(10);
    assert_eq!(send(&s, &usr, chat("acct/m"), None).await.status(), 200);
}

#[tokio::test]
async fn counters_per_user_model_and_metadata_are_kept_apart_and_the_first_rule_applies() {
    let s = TestServer::start().await;
    let (_mock, usr, two) = world(&s, 0).await;
    control(&s, json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "per-project", "when": {"metadata": {"env": "prod"}}, "limit_to": 1, "unit": "requests_per_hour",
         "rate_limit_applies_per": ["metadata.project"]},
        {"id": "per-user-model", "limit_to": 2, "unit": "requests_per_minute", "rate_limit_applies_per": ["user", "model"]}]}))
    .await;
    for (token, model) in [(&usr, "acct/m"), (&usr, "acct/m"), (&usr, "acct/other"), (&two, "acct/m"), (&two, "acct/m")]
    {
        assert_eq!(send(&s, token, chat(model), None).await.status(), 200, "{model}");
    }
    assert_eq!(send(&s, &usr, chat("acct/m"), None).await.status(), 429);
    assert_eq!(send(&s, &two, chat("acct/m"), None).await.status(), 429);
    // The metadata rule comes first and counts per project, whoever calls.
    let a = r#"{"env":"prod","project":"a"}"#;
    let r = send(&s, &usr, chat("acct/m"), Some(a)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-gatehouse-applied-controls"], "rate-limit:rl/per-project");
    assert_eq!(send(&s, &two, chat("acct/m"), Some(a)).await.status(), 429);
    assert_eq!(send(&s, &two, chat("acct/m"), Some(r#"{"env":"prod","project":"b"}"#)).await.status(), 200);
    // A malformed header is a 400 naming it, before anything is counted.
    let r = send(&s, &usr, chat("acct/m"), Some("{not json")).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_metadata");
    assert_eq!(body["error"]["param"], "x-gatehouse-metadata");
}

#[tokio::test]
async fn token_limits_reserve_an_estimate_and_settle_with_the_real_usage() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 0).await;
    // Each call uses 9 tokens (2 in, 7 out) and reserves far more (its body's bytes / 4 plus max_tokens 10).
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "tokens", "limit_to": 100, "unit": "tokens_per_minute"}]}),
    )
    .await;
    let mut ok = 0;
    for _ in 0..20 {
        let r = send(&s, &usr, chat("acct/m"), None).await;
        if r.status() == 200 {
            ok += 1;
            assert_eq!(r.headers()["x-ratelimit-limit-tokens"], "100");
        } else {
            assert_eq!(r.status(), 429);
            break;
        }
    }
    // One at a time, each reserves about 35 (a ~100-byte body is 25, plus max_tokens 10) and settles at 9,
    // so reservations never pile up: the ninth call would need 35 on top of 72 settled, and is refused.
    assert_eq!(ok, 8);
    let r = send(
        &s,
        &usr,
        json!({"model": "acct/m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 500}),
        None,
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("more than the limit"), "{body}");
}

#[tokio::test]
async fn token_limits_settle_a_streamed_answer_with_the_usage_the_client_did_not_ask_for() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 0).await;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "tokens", "limit_to": 100, "unit": "tokens_per_minute"}]}),
    )
    .await;
    let mut body = chat("acct/m");
    body["stream"] = json!(true);
    let mut ok = 0;
    for _ in 0..20 {
        let r = send(&s, &usr, body.clone(), None).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        if status != 200 {
            assert_eq!(status, 429, "{text}");
            break;
        }
        assert!(text.ends_with("data: [DONE]\n\n") && !text.contains("usage"), "{text}");
        ok += 1;
    }
    // Each stream reserves 36 (its 101-byte body is 26, plus max_tokens 10) and settles at the 9 tokens the
    // upstream reported (2 in, 7 out): the ninth would need 36 on top of 72 settled. Settled at its
    // reservation, as a stream without usage would be, the third would already be refused.
    assert_eq!(ok, 8);
}

#[tokio::test]
async fn budgets_count_cost_at_the_price_in_force_and_audit_mode_only_records() {
    let s = TestServer::start().await;
    let (_mock, usr, two) = world(&s, 0).await;
    // One call costs 2 * $1 + 7 * $2 per million = $0.000016.
    control(&s, json!({"type": "gateway-budget-config", "name": "money", "rules": [
        {"id": "watch", "when": {"subjects": ["user:usr@example.com"]}, "limit_to": 0.0001, "unit": "cost_per_day", "mode": "audit"},
        {"id": "cap", "limit_to": 0.00012, "unit": "cost_per_day"}]}))
    .await;
    // Each call reserves about $0.000045 (25 prompt tokens estimated, 10 output) and settles at $0.000016.
    let mut headers = Vec::new();
    for _ in 0..5 {
        let r = send(&s, &usr, chat("acct/m"), None).await;
        assert_eq!(r.status(), 200);
        headers.push(r.headers()["x-gatehouse-applied-controls"].to_str().unwrap().to_owned());
    }
    // The audit rule decides for usr (first match) and never refuses; the cap counts without deciding.
    assert_eq!(headers[0], "budget:money/watch, budget:money/cap");
    assert_eq!(headers[3], "budget:money/watch, budget:money/cap");
    assert_eq!(headers[4], "budget:money/watch;exceeded, budget:money/cap");
    // $0.00008 spent on the cap; two's call must reserve its estimate on top and is refused.
    let r = send(&s, &two, chat("acct/m"), None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("money/cap"), "{body}");
    // The next UTC day starts afresh.
    s.advance(86_400);
    assert_eq!(send(&s, &two, chat("acct/m"), None).await.status(), 200);
}

#[tokio::test]
async fn every_gateway_route_is_limited() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 0).await;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "one", "limit_to": 1, "unit": "requests_per_day", "rate_limit_applies_per": ["user"]}]}),
    )
    .await;
    let routes = [
        ("/v1/chat/completions", chat("acct/m")),
        ("/v1/completions", json!({"model": "acct/m", "prompt": "hi", "max_tokens": 5})),
        ("/v1/embeddings", json!({"model": "acct/m", "input": "hi"})),
        ("/v1/messages", json!({"model": "acct/m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})),
    ];
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for (path, body) in routes {
        let r = client.post(format!("{}{path}", s.base)).bearer_auth(&usr).json(&body).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 429, 429, 429]);
}

#[tokio::test]
async fn bad_limits_are_refused_naming_the_field_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let (_mock, _, _) = world(&s, 0).await;
    let rate = |rule: Value| json!({"type": "gateway-rate-limiting-config", "name": "bad", "rules": [rule]});
    let budget = |rule: Value| json!({"type": "gateway-budget-config", "name": "bad", "rules": [rule]});
    for (manifest, param) in [
        (rate(json!({"id": "r", "limit_to": 0, "unit": "requests_per_minute"})), "rules[0].limit_to"),
        (rate(json!({"id": "r", "limit_to": 5, "unit": "requests_per_fortnight"})), "rules[0].unit"),
        (
            rate(json!({"id": "r", "limit_to": 5, "unit": "requests_per_minute",
                        "rate_limit_applies_per": ["user", "model", "metadata.team"]})),
            "rules[0].rate_limit_applies_per",
        ),
        (
            rate(
                json!({"id": "r", "limit_to": 5, "unit": "requests_per_minute", "rate_limit_applies_per": ["metadata.a b"]}),
            ),
            "rules[0].rate_limit_applies_per[0]",
        ),
        (budget(json!({"id": "b", "limit_to": -1.5, "unit": "cost_per_day"})), "rules[0].limit_to"),
        (budget(json!({"id": "b", "limit_to": 0, "unit": "cost_per_month"})), "rules[0].limit_to"),
    ] {
        let r = crate::common::apply::apply(&s, &serde_json::to_string(&manifest).unwrap(), false).await;
        assert_eq!(r.status, 400, "{manifest}: {:?}", r.body);
        let got = r.body["error"]["param"].as_str().unwrap_or_default().to_owned();
        assert!(got.ends_with(param), "{manifest}: param {got:?}, want {param}");
        assert_eq!(s.get("/api/v1/gateway-controls/bad", &s.admin).await.status, 404);
    }
}

#[tokio::test]
async fn under_concurrency_a_token_limit_is_overshot_only_by_what_calls_in_flight_use_beyond_their_estimates() {
    let s = TestServer::start().await;
    let (_mock, usr, _) = world(&s, 300).await;
    let limit = 5000u64;
    control(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
        {"id": "tokens", "limit_to": limit, "unit": "tokens_per_minute"}]}),
    )
    .await;
    // The mock counts a word as a token: 1,000 one-letter words are 2,000 bytes, estimated at about 520
    // tokens (bytes / 4 with the JSON around them, plus max_tokens 10) but using 1,007 (1,000 in, 7 out).
    let prompt = "a ".repeat(1000);
    let body = json!({"model": "acct/m", "messages": [{"role": "user", "content": prompt}], "max_tokens": 10});
    let lowest_estimate = (prompt.len() as u64).div_ceil(4) + 10;
    let client = reqwest::Client::builder().pool_max_idle_per_host(200).build().unwrap();
    let calls = (0..200).map(|_| {
        let req = client.post(format!("{}/v1/chat/completions", s.base)).bearer_auth(&usr).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = join_all(calls).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert_eq!(admitted + statuses.iter().filter(|s| **s == 429).count() as u64, 200);
    // Each admission fit its estimate under the limit; what they really used went over it, by no more than
    // what they used beyond those estimates.
    let used = admitted * 1007;
    assert!(admitted >= 1 && admitted * lowest_estimate <= limit, "{admitted} admitted");
    assert!(used > limit, "the prompts were underestimated: {used}");
    assert!(used - limit <= admitted * (1007 - lowest_estimate), "overshoot {} for {admitted} calls", used - limit);
    // Now settled, the counter is over the limit: the next call waits for the window.
    let r = send(&s, &usr, chat("acct/m"), None).await;
    assert_eq!(r.status(), 429);
}
