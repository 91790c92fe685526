//! Limits follow a routed call: the rules of the target that serves (a fallback, a virtual model's next
//! choice) are charged before the call goes to it, a refusal by one moves on to the next target (or is the
//! 429 when none is left), and the call's cost and budgets are at the price of the target that served.

use serde_json::{json, Value};

use super::{apply, asked, balance, chat, logged, resolved, world};
use crate::common::gateway::chat_body;
use crate::common::TestServer;

async fn limits(s: &TestServer, body: Value) {
    let r = apply(s, body).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

/// `used` of the caller's counter of `config/rule`.
async fn used(s: &TestServer, token: &str, config: &str, rule: &str) -> f64 {
    let r = s.get("/api/v1/limits", token).await;
    let entries = r.body["entries"].as_array().cloned().unwrap_or_default();
    let e = entries.iter().find(|e| e["config"] == config && e["rule"] == rule);
    e.unwrap_or_else(|| panic!("{config}/{rule} not in {:#}", r.body))["used"].as_f64().unwrap()
}

#[tokio::test]
async fn a_fallback_is_charged_to_the_target_that_serves_and_refused_by_its_limits() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    // Requests for up/a go first to up/bad (which fails with 503), then to up/b.
    balance(
        &s,
        json!({"id": "spread", "when": {"models": ["up/a"]}, "type": "priority-based-routing",
            "load_balance_targets": [
            {"target": "up/bad", "priority": 0, "retry_config": {"attempts": 0}},
            {"target": "up/b", "priority": 1}]}),
    )
    .await;
    limits(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": [
            {"id": "b", "when": {"models": ["up/b"]}, "limit_to": 2, "unit": "requests_per_minute"}]}),
    )
    .await;
    limits(
        &s,
        json!({"type": "gateway-rate-limiting-config", "name": "tok", "rules": [
            {"id": "bad", "when": {"models": ["up/bad"]}, "limit_to": 100000, "unit": "tokens_per_minute"}]}),
    )
    .await;
    limits(
        &s,
        json!({"type": "gateway-budget-config", "name": "money", "rules": [
            {"id": "b", "when": {"models": ["up/b"]}, "limit_to": 10, "unit": "cost_per_day"}]}),
    )
    .await;
    for _ in 0..2 {
        let r = chat(&s, &usr, chat_body("up/a", false)).await;
        assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/b".to_owned()));
        let applied = r.headers()["x-gatehouse-applied-controls"].to_str().unwrap().to_owned();
        assert!(applied.contains("rate-limit:rl/b") && applied.contains("budget:money/b"), "{applied}");
    }
    // The fallbacks were counted on up/b: a direct call is over its limit now.
    assert_eq!(used(&s, &usr, "rl", "b").await, 2.0);
    assert_eq!(chat(&s, &usr, chat_body("up/b", false)).await.status(), 429);
    // The target fallen back from keeps nothing of the tokens it never used.
    assert_eq!(used(&s, &usr, "tok", "bad").await, 0.0);
    // Spend and the logged cost are at up/b's price (1 and 2 dollars per million tokens).
    let spent = used(&s, &usr, "money", "b").await;
    assert!(spent > 0.0, "{spent}");
    let rows = logged(&s, 7).await;
    let call = rows.iter().find(|r| r["route"] == "chat" && r["model"] == "up/a").unwrap();
    let (input, output) = (call["input_tokens"].as_f64().unwrap(), call["output_tokens"].as_f64().unwrap());
    let cost = (input * 1.0 + output * 2.0) / 1e6;
    assert!((call["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12, "{call}");
    assert!((spent - 2.0 * cost).abs() < 1e-9, "{spent} vs {}", 2.0 * cost);

    // up/b's limit now refuses: with no target left, the call is that refusal, and nothing reached up/b.
    mock.clear();
    let r = chat(&s, &usr, chat_body("up/a", false)).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("rl/b"), "{body}");
    assert_eq!(asked(&mock), ["bad-fail-503"]);
    let rows = logged(&s, 10).await;
    assert!(rows.iter().any(|r| r["route"] == "chat" && r["status"] == 429 && r["refused_by"] == "rl/b"), "{rows:#?}");
    // The target its limit refused is an attempt of its own, with the refusal's status.
    assert!(
        rows.iter().any(|r| r["route"] == "chat:attempt" && r["model"] == "up/b" && r["status"] == 429),
        "{rows:#?}"
    );

    // A refusal by the first choice's limit moves on to the next target.
    balance(
        &s,
        json!({"id": "spread", "when": {"models": ["up/a"]}, "type": "priority-based-routing",
            "load_balance_targets": [{"target": "up/b", "priority": 0}, {"target": "up/a", "priority": 1}]}),
    )
    .await;
    mock.clear();
    let r = chat(&s, &usr, chat_body("up/a", false)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "up/a".to_owned()));
    assert_eq!(asked(&mock), ["mock-a"]);
}
