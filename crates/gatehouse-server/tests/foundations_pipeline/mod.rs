//! The gateway's call pipeline and the published view: every call is logged once however it ends, and a
//! request sees one compiled version of the accounts.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_mock_upstream::MockConfig;
use serde_json::{json, Value};

use crate::common::TestServer;

/// One OpenAI-compatible account on a mock upstream, usable by everyone who is an admin; returns the mock.
async fn account(s: &TestServer, name: &str, models: Value) -> gatehouse_mock_upstream::MockHandle {
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let body = json!({
        "type": "openai-compatible", "name": name, "base_url": format!("{}/v1", mock.base_url()),
        "auth": {"api_key": "sk-test"}, "models": models,
    });
    let r = s.post("/api/v1/provider-accounts", &s.admin, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    mock
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// The request log's rows (as the admin sees them), once there are at least `n`.
async fn rows(s: &TestServer, n: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rows
}

#[tokio::test]
async fn a_whole_call_whose_client_disconnects_is_logged_once() {
    let s = TestServer::start().await;
    let _mock = account(&s, "compat", json!([{"name": "slow", "model_id": "slow-1500ms", "types": ["chat"]}])).await;
    let started = std::time::Instant::now();
    // The client gives up while the gateway still waits for the upstream's answer.
    let sent = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&s.admin)
        .timeout(Duration::from_millis(300))
        .json(&chat("compat/slow"))
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the client should have timed out");
    let rows = rows(&s, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row["route"].as_str(), row["model"].as_str()), (Some("chat"), Some("compat/slow")), "{row}");
    assert_eq!(row["status"].as_u64(), Some(499), "client closed request: {row}");
    assert_eq!(row["subject"], "user:admin@example.com");
    // Logged when the client left, not when the upstream would have answered.
    assert!(row["latency_us"].as_i64().unwrap() < 1_400_000, "{row}");
    assert!(started.elapsed() < Duration::from_millis(1400), "the log did not wait for the upstream");
    // And only once: nothing more is written after the upstream's delay has passed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.settle().await;
    assert_eq!(s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_body_that_does_not_parse_is_logged_like_any_refusal() {
    let s = TestServer::start().await;
    let r = s.post("/v1/embeddings", &s.admin, json!({"model": 7})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let rows = rows(&s, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["route"].as_str(), rows[0]["status"].as_u64()), (Some("embeddings"), Some(400)));
}

#[tokio::test]
async fn accounts_are_compiled_once_per_version_of_their_record() {
    let s = TestServer::start().await;
    let _mock = account(&s, "compat", json!([{"name": "gpt", "model_id": "mock-gpt", "types": ["chat"]}])).await;
    let before = s.app.published();
    let (account, _) = before.gateway.model("compat/gpt").cloned().expect("compiled");
    // A write that leaves the account alone publishes a new version with the same compiled account.
    assert_eq!(s.post("/api/v1/teams", &s.admin, json!({"name": "ml"})).await.status, 201);
    let after = s.app.published();
    assert!(after.version > before.version);
    assert!(Arc::ptr_eq(&account, &after.gateway.model("compat/gpt").unwrap().0), "compiled again");
    // An edit of the account compiles it again; the old view keeps what it had.
    let mut spec = s.get("/api/v1/provider-accounts/compat", &s.admin).await.body;
    spec["models"][0]["model_id"] = json!("mock-gpt-2");
    spec.as_object_mut().unwrap().remove("auth_configured");
    spec["auth"] = json!({"api_key": "sk-test"});
    let r = s.put("/api/v1/provider-accounts/compat", &s.admin, spec).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let edited = s.app.published();
    let (recompiled, model) = edited.gateway.model("compat/gpt").cloned().unwrap();
    assert!(!Arc::ptr_eq(&account, &recompiled));
    assert_eq!(model.spec.model_id, "mock-gpt-2");
    assert_eq!(before.gateway.model("compat/gpt").unwrap().1.spec.model_id, "mock-gpt");
    assert_eq!(s.post("/v1/chat/completions", &s.admin, chat("compat/gpt")).await.status, 200);
}

#[tokio::test]
async fn credentials_that_cannot_be_opened_fail_only_their_account() {
    let s = TestServer::start().await;
    let _sealed = account(&s, "sealed", json!([{"name": "gpt", "model_id": "mock-gpt", "types": ["chat"]}])).await;
    // A second server on the same database with another key cannot open `sealed`'s credentials.
    let store = gatehouse_store::open(&s.db_url).await.unwrap();
    let other = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([8; 32]));
    let config = gatehouse_server::ServerConfig::default();
    let app =
        gatehouse_server::AppState::new(store, s.clock.clone(), Arc::new(gatehouse_server::OsEntropy), config, other)
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(gatehouse_server::serve(listener, app, std::future::pending()));
    // An account the second server seals itself, which it can open.
    let fresh = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let body = json!({
        "type": "openai-compatible", "name": "fresh", "base_url": format!("{}/v1", fresh.base_url()),
        "auth": {"api_key": "sk-fresh"}, "models": [{"name": "gpt", "model_id": "mock-gpt", "types": ["chat"]}],
    });
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/provider-accounts"))
        .bearer_auth(&s.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let call = |model: &'static str| {
        let base = base.clone();
        let token = s.admin.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(token)
                .json(&chat(model))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = call("sealed/gpt").await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("provider-account:sealed"), "{body}");
    assert!(!body.to_string().contains("sk-test"));
    let (status, body) = call("fresh/gpt").await;
    assert_eq!(status, 200, "{body}");
    task.abort();
}
