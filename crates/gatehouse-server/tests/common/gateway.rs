//! A world of provider accounts on one mock upstream, and calls through the gateway.

use gatehouse_mock_upstream::{MockConfig, MockHandle};
use serde_json::json;

use super::TestServer;

/// Accounts of three provider types on one mock upstream; `usr@example.com` is a `provider-account-user`
/// on each but `secret`, where nobody is.
pub async fn gateway_world(s: &TestServer) -> (MockHandle, String) {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let base = mock.base_url();
    let usr = s.user("usr@example.com", "member").await;
    let grant = json!([{"subject": "user:usr@example.com", "role": "provider-account-user"}]);
    let accounts = [
        json!({
            "type": "openai-compatible", "name": "compat", "base_url": format!("{base}/v1"),
            "auth": {"api_key": "sk-compat"},
            "models": [
                {"name": "gpt", "model_id": "mock-gpt", "types": ["chat", "completion"]},
                {"name": "emb", "model_id": "mock-emb", "types": ["embedding"]},
                {"name": "broken", "model_id": "fail-500", "types": ["chat"]},
                {"name": "slow", "model_id": "slow-3000ms", "types": ["chat"]},
                {"name": "drip", "model_id": "drip-200ms-tokens-50", "types": ["chat"]}
            ],
            "collaborators": grant
        }),
        json!({
            "type": "anthropic", "name": "claude", "base_url": base,
            "auth": {"api_key": "sk-ant-test"},
            "models": [{"name": "sonnet", "model_id": "claude-3-5-sonnet-20241022", "types": ["chat"]}],
            "collaborators": grant
        }),
        json!({
            "type": "aws-bedrock", "name": "bedrock", "base_url": base, "region": "us-east-1",
            "auth": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "aws-secret"},
            "models": [{"name": "haiku", "model_id": "anthropic.claude-3-haiku-20240307-v1:0", "types": ["chat"]}],
            "collaborators": grant
        }),
        json!({
            "type": "azure-openai", "name": "azure", "base_url": base, "endpoint": "https://r.openai.azure.com",
            "api_version": "2024-10-21", "deployments": {"gpt": "gpt-prod"},
            "auth": {"api_key": "azure-key"},
            "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}],
            "collaborators": grant
        }),
        json!({
            "type": "openai-compatible", "name": "secret", "base_url": format!("{base}/v1"),
            "models": [{"name": "hidden", "model_id": "mock-hidden", "types": ["chat"]}]
        }),
    ];
    for a in accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    (mock, usr)
}

pub fn chat_body(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Posts and returns the status and the raw body (for streams).
pub async fn post_raw(s: &TestServer, path: &str, headers: &[(&str, &str)], body: serde_json::Value) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{}{}", s.base, path)).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The text of a chat completion stream, and whether it ended with `[DONE]`.
pub fn stream_text(body: &str) -> (String, bool) {
    let mut text = String::new();
    let mut done = false;
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    (text, done)
}
