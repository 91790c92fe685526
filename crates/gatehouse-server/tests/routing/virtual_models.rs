//! Virtual models: `provider-account/virtual-model` groups whose models route to real models of other
//! accounts; used with access to the virtual model alone.

use serde_json::{json, Value};

use super::{apply, asked, chat, logged, resolved, world};
use crate::common::gateway::{chat_body, stream_text};
use crate::common::TestServer;

fn group(name: &str, models: Value) -> Value {
    json!({"type": "provider-account/virtual-model", "name": name, "models": models,
           "collaborators": [{"subject": "user:usr@example.com", "role": "provider-account-user"}]})
}

/// Applies the group `vm` with the one virtual model `model` routed by `routing`, and checks it was accepted.
async fn route_vm(s: &TestServer, model: &str, routing: Value) {
    let r = apply(s, group("vm", json!([{"name": model, "routing_config": routing}]))).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

/// Replaces the rate-limiting config `rl` with `rules`, and checks it was accepted.
async fn limit(s: &TestServer, rules: Value) {
    let r = apply(s, json!({"type": "gateway-rate-limiting-config", "name": "rl", "rules": rules})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

#[tokio::test]
async fn a_virtual_model_routes_to_targets_its_caller_cannot_use() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    route_vm(
        &s,
        "chat",
        json!({"type": "priority", "targets": [
        {"target": "up/bad", "priority": 0, "retry_config": {"attempts": 0}},
        {"target": "other/c", "priority": 1}]}),
    )
    .await;

    // usr may not call other/c directly, but may through the virtual model.
    assert_eq!(chat(&s, &usr, chat_body("other/c", false)).await.status(), 403);
    let r = chat(&s, &usr, chat_body("vm/chat", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(resolved(&r), "other/c");
    assert_eq!(r.headers()["x-gatehouse-applied-controls"], "virtual-model:vm/chat");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "vm/chat");
    assert_eq!(asked(&mock), ["bad-fail-503", "mock-c"]);

    // Streamed, falling back before the first byte.
    let r = chat(&s, &usr, chat_body("vm/chat", true)).await;
    assert_eq!((r.status().as_u16(), resolved(&r)), (200, "other/c".to_owned()));
    let (text, done) = stream_text(&r.text().await.unwrap());
    assert!(done && !text.is_empty());

    // Listed to its users, not to others; access is checked on the virtual model itself.
    let listed = s.get("/v1/models", &usr).await.body;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"vm/chat") && !ids.contains(&"other/c"), "{ids:?}");
    let stranger = s.user("stranger@example.com", "member").await;
    assert_eq!(chat(&s, &stranger, chat_body("vm/chat", false)).await.status(), 403);
    let listed = s.get("/v1/models", &stranger).await.body;
    assert!(!listed.to_string().contains("vm/chat"), "{listed}");

    // The request log: the call on the virtual model, each attempt on the model it tried.
    let rows = logged(&s, 6).await;
    assert!(rows.iter().any(|r| r["route"] == "chat" && r["model"] == "vm/chat" && r["status"] == 200));
    assert!(rows.iter().any(|r| r["route"] == "chat:attempt" && r["model"] == "up/bad" && r["status"] == 503));
    assert!(rows.iter().any(|r| r["route"] == "chat:attempt" && r["model"] == "other/c" && r["status"] == 200));
}

#[tokio::test]
async fn sticky_weights_keep_a_caller_on_one_target() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    route_vm(
        &s,
        "w",
        json!({"type": "weight", "sticky": true, "targets": [
        {"target": "up/a", "weight": 50}, {"target": "up/b", "weight": 50}]}),
    )
    .await;
    let first = resolved(&chat(&s, &usr, chat_body("vm/w", false)).await);
    for _ in 0..20 {
        assert_eq!(resolved(&chat(&s, &usr, chat_body("vm/w", false)).await), first);
    }
}

#[tokio::test]
async fn bad_virtual_models_are_refused_and_targets_cannot_be_deleted_under_them() {
    let s = TestServer::start().await;
    let (mock, _usr) = world(&s).await;
    route_vm(
        &s,
        "p",
        json!({"type": "priority", "targets": [
        {"target": "other/c"}]}),
    )
    .await;
    let cases = [
        (json!({"type": "priority", "targets": [{"target": "up/nope"}]}), "models[0].routing_config.targets[0].target"),
        (json!({"type": "priority", "targets": [{"target": "vm/p"}]}), "models[0].routing_config.targets[0].target"),
        (
            json!({"type": "weight", "targets": [{"target": "up/a", "weight": 50}, {"target": "up/b", "weight": 40}]}),
            "models[0].routing_config.targets",
        ),
        (json!({"type": "priority", "targets": []}), "models[0].routing_config.targets"),
        (
            json!({"type": "priority", "sticky": true, "targets": [{"target": "up/a"}]}),
            "models[0].routing_config.sticky",
        ),
    ];
    for (routing, field) in cases {
        let r = apply(&s, group("vm2", json!([{"name": "x", "routing_config": routing}]))).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(r.body["error"]["param"].as_str().unwrap_or_default().ends_with(field), "{field}: {:?}", r.body);
    }
    let r = apply(
        &s,
        group(
            "vm2",
            json!([{"name": "x", "model_id": "gpt", "routing_config":
        {"type": "priority", "targets": [{"target": "up/a"}]}}]),
        ),
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/provider-accounts/vm2", &s.admin).await.status, 404);

    // other/c is routed to: neither it nor its account can go.
    assert_eq!(s.delete("/api/v1/provider-accounts/other", &s.admin).await.status, 409);
    let r = apply(
        &s,
        json!({"type": "provider-account/openai-compatible", "name": "other",
        "base_url": format!("{}/v1", mock.base_url()), "models": [{"name": "d", "model_id": "mock-d", "types": ["chat"]}]}),
    )
    .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    // Once the virtual model is gone, they can.
    assert_eq!(s.delete("/api/v1/provider-accounts/vm", &s.admin).await.status, 204);
    assert_eq!(s.delete("/api/v1/provider-accounts/other", &s.admin).await.status, 204);
}

#[tokio::test]
async fn limits_hold_on_the_virtual_name_and_on_the_target_that_serves() {
    let s = TestServer::start().await;
    let (_mock, usr) = world(&s).await;
    route_vm(
        &s,
        "p",
        json!({"type": "priority", "targets": [
        {"target": "up/b"}]}),
    )
    .await;
    limit(
        &s,
        json!([
        {"id": "virtual", "when": {"models": ["vm/p"]}, "limit_to": 2, "unit": "requests_per_minute"}]),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(chat(&s, &usr, chat_body("vm/p", false)).await.status(), 200);
    }
    let r = chat(&s, &usr, chat_body("vm/p", false)).await;
    assert_eq!(r.status(), 429);
    // The target's own rules count the calls routed to it.
    limit(
        &s,
        json!([
        {"id": "target", "when": {"models": ["up/b"]}, "limit_to": 1, "unit": "requests_per_minute"}]),
    )
    .await;
    s.advance(61);
    assert_eq!(chat(&s, &usr, chat_body("vm/p", false)).await.status(), 200);
    assert_eq!(chat(&s, &usr, chat_body("up/b", false)).await.status(), 429);
}
