//! The gateway (`/v1/*`) against a mock upstream.

use gatehouse_mock_upstream::{Endpoint, MockConfig, MockHandle};
use reqwest::Method;
use serde_json::json;

use crate::common::gateway::{chat_body, gateway_world, post_raw, stream_text};
use crate::common::TestServer;

mod stream_usage;

#[tokio::test]
async fn gateway_chat_on_every_provider_for_admin_and_granted_user() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    for model in ["compat/gpt", "claude/sonnet", "bedrock/haiku", "azure/gpt"] {
        for token in [s.admin.as_str(), usr.as_str()] {
            let r = s.post("/v1/chat/completions", token, chat_body(model, false)).await;
            assert_eq!(r.status, 200, "{model}: {:?}", r.body);
            assert_eq!(r.body["model"], model);
            let content = r.body["choices"][0]["message"]["content"].as_str().unwrap();
            assert!(content.contains("hello there"), "{model}: {content}");
            let timing = r.headers["server-timing"].to_str().unwrap();
            assert!(timing.starts_with("gateway;dur="), "{timing}");

            let auth = format!("Bearer {token}");
            let (status, body) =
                post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body(model, true)).await;
            assert_eq!(status, 200, "{model}: {body}");
            let (text, done) = stream_text(&body);
            assert!(text.contains("hello there") && done, "{model}: {body}");
            assert!(body.contains(&format!("\"model\":\"{model}\"")), "{body}");
        }
    }
    // The upstream got the account's credential and the provider's model id.
    let openai = mock.requests_to(Endpoint::OpenAiChat);
    assert_eq!(openai.len(), 4);
    assert!(openai
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer sk-compat") && r.body["model"] == "mock-gpt"));
    let anthropic = mock.requests_to(Endpoint::AnthropicMessages);
    assert_eq!(anthropic.len(), 4);
    assert!(anthropic.iter().all(|r| r.header("x-api-key") == Some("sk-ant-test")
        && r.header("anthropic-version") == Some("2023-06-01")
        && r.body["model"] == "claude-3-5-sonnet-20241022"));
    let converse = mock.requests_to(Endpoint::BedrockConverse);
    let converse_stream = mock.requests_to(Endpoint::BedrockConverseStream);
    assert_eq!((converse.len(), converse_stream.len()), (2, 2));
    for r in converse.iter().chain(&converse_stream) {
        assert!(r.path.starts_with("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"), "{}", r.path);
        assert!(r.header("authorization").unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/"));
        assert!(r.header("authorization").unwrap().contains("/us-east-1/bedrock/aws4_request"));
    }
    let azure = mock.requests_to(Endpoint::AzureChat);
    assert_eq!(azure.len(), 4);
    for r in &azure {
        assert_eq!(r.path, "/openai/deployments/gpt-prod/chat/completions");
        assert_eq!((r.query_param("api-version"), r.header("api-key")), (Some("2024-10-21"), Some("azure-key")));
    }
    // No credential ever reaches the client.
    let r = s.post("/v1/chat/completions", &usr, chat_body("compat/gpt", false)).await;
    assert!(!r.body.to_string().contains("sk-compat"));
}

#[tokio::test]
async fn gateway_refuses_alike_whether_or_not_the_model_exists() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let other = s.user("other@example.com", "member").await;
    for model in ["compat/gpt", "compat/nope", "nosuch/gpt", "no-slash", "secret/hidden"] {
        let r = s.post("/v1/chat/completions", &other, chat_body(model, false)).await;
        assert_eq!(r.status, 403, "{model}: {:?}", r.body);
        assert_eq!(
            r.message(),
            format!("user:other@example.com is not authorized to access model {model} or model does not exist")
        );
        assert_eq!(r.body["error"]["type"], "permission_error");
    }
    // The granted user is refused the one account they have no grant on, and a model that does not exist,
    // with the same message shape; every route uses the same check.
    for (path, model) in [
        ("/v1/chat/completions", "secret/hidden"),
        ("/v1/chat/completions", "compat/ghost"),
        ("/v1/completions", "secret/hidden"),
        ("/v1/embeddings", "secret/hidden"),
        ("/v1/messages", "secret/hidden"),
    ] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 5,
                          "prompt": "x", "input": "x"});
        let r = s.post(path, &usr, body).await;
        assert_eq!(r.status, 403, "{path} {model}: {:?}", r.body);
        assert_eq!(
            r.message(),
            format!("user:usr@example.com is not authorized to access model {model} or model does not exist")
        );
    }
    assert_eq!(mock.request_count(), 0, "a refused request never reaches the upstream");
}

#[tokio::test]
async fn gateway_needs_a_live_token_and_takes_x_api_key() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    // No token, a garbage one, and a session that logged out.
    let (status, _) = post_raw(&s, "/v1/chat/completions", &[], chat_body("compat/gpt", false)).await;
    assert_eq!(status, 401);
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("x-api-key", "gh_pat_nope_nope")], chat_body("compat/gpt", false))
            .await;
    assert_eq!(status, 401);
    let session = s.login("usr@example.com", "password-123").await.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.post("/v1/chat/completions", &session, chat_body("compat/gpt", false)).await.status, 200);
    assert_eq!(s.post("/api/v1/auth/logout", &session, json!({})).await.status, 204);
    let r = s.post("/v1/chat/completions", &session, chat_body("compat/gpt", false)).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert_eq!(s.get("/v1/models", &session).await.status, 401);

    // x-api-key, as the Anthropic SDK sends it: natively to Anthropic, and translated to another provider.
    let headers = [("x-api-key", usr.as_str()), ("anthropic-version", "2023-06-01")];
    for model in ["claude/sonnet", "compat/gpt", "bedrock/haiku"] {
        let body = json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi you"}]});
        let (status, text) = post_raw(&s, "/v1/messages", &headers, body.clone()).await;
        assert_eq!(status, 200, "{model}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["model"], model);
        assert!(v["content"][0]["text"].as_str().unwrap().contains("hi you"), "{v}");
        let mut stream = body;
        stream["stream"] = json!(true);
        let (status, text) = post_raw(&s, "/v1/messages", &headers, stream).await;
        assert_eq!(status, 200, "{model}: {text}");
        assert!(text.contains("event: message_start") && text.contains("event: message_stop"), "{model}: {text}");
        assert!(text.contains(&format!("\"model\":\"{model}\"")), "{model}: {text}");
    }
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("x-api-key", usr.as_str())], chat_body("compat/gpt", false)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn gateway_lists_only_the_models_the_caller_may_use() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let other = s.user("other@example.com", "member").await;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    let r = s.get("/v1/models", &usr).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["object"], "list");
    assert_eq!(
        ids(&r.body),
        [
            "azure/gpt",
            "bedrock/haiku",
            "claude/sonnet",
            "compat/broken",
            "compat/drip",
            "compat/emb",
            "compat/gpt",
            "compat/slow"
        ]
    );
    assert_eq!(r.body["data"][0]["object"], "model");
    assert!(ids(&s.get("/v1/models", &other).await.body).is_empty());
    assert!(ids(&s.get("/v1/models", &s.admin).await.body).contains(&"secret/hidden".to_owned()));
}

#[tokio::test]
async fn gateway_other_routes_and_bad_requests() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let r = s.post("/v1/embeddings", &usr, json!({"model": "compat/emb", "input": "a b c"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["model"], "compat/emb");
    assert_eq!(mock.last_request().unwrap().body["model"], "mock-emb");
    let r = s.post("/v1/completions", &usr, json!({"model": "compat/gpt", "prompt": "say this"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["model"], "compat/gpt");
    assert_eq!(mock.last_request().unwrap().endpoint, Endpoint::OpenAiCompletions);

    // The model's types decide the routes it serves.
    let r = s.post("/v1/chat/completions", &usr, chat_body("compat/emb", false)).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("model")), "{:?}", r.body);
    let r = s.post("/v1/embeddings", &usr, json!({"model": "compat/gpt", "input": "x"})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("model")));
    // Malformed bodies name the field.
    let r = s.post("/v1/chat/completions", &usr, json!({"model": "compat/gpt"})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("messages")));
    let r = s.post("/v1/chat/completions", &usr, json!({"messages": []})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("model")));
    let r = s.raw(Method::POST, "/v1/chat/completions", Some(&usr), Some(b"{not json".to_vec())).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["param"].as_str()), (400, Some("body")));

    // An upstream failure is a 502 with the provider's message.
    let r = s.post("/v1/chat/completions", &usr, chat_body("compat/broken", false)).await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert!(r.message().contains("mock upstream failure 500"), "{}", r.message());
}

#[tokio::test]
async fn gateway_times_out_a_slow_upstream_with_504() {
    let config = gatehouse_server::ServerConfig {
        upstream_first_byte_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let (_mock, usr) = gateway_world(&s).await;
    let started = std::time::Instant::now();
    let r = s.post("/v1/chat/completions", &usr, chat_body("compat/slow", false)).await;
    assert_eq!(r.status, 504, "{:?}", r.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(s.post("/v1/chat/completions", &usr, chat_body("compat/gpt", false)).await.status, 200);
}

#[tokio::test]
async fn gateway_client_going_away_drops_the_upstream_stream() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&usr)
        .json(&chat_body("compat/drip", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut resp = resp;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(resp);
    let cancelled = mock.wait_for(|st| st.cancelled_streams == 1, std::time::Duration::from_secs(5)).await;
    assert!(cancelled, "{:?}", mock.stats());
    assert_eq!(mock.completed_streams(), 0);
}

#[tokio::test]
async fn a_stream_may_outlast_the_total_timeout_while_it_keeps_coming() {
    let cfg = gatehouse_server::ServerConfig {
        upstream_timeout: std::time::Duration::from_millis(300),
        upstream_first_byte_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let s = TestServer::start_with(cfg).await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let acct = json!({
        "type": "openai-compatible", "name": "dripping", "base_url": format!("{}/v1", mock.base_url()),
        "auth": {"api_key": "sk"},
        "models": [{"name": "m", "model_id": "drip-100ms-tokens-8", "types": ["chat"]}]
    });
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    let started = std::time::Instant::now();
    let (status, body) = post_raw(
        &s,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {}", s.admin))],
        chat_body("dripping/m", true),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() > std::time::Duration::from_millis(300),
        "the stream must take longer than the total timeout"
    );
    let (text, done) = stream_text(&body);
    assert!(done, "the stream was cut: {body}");
    assert!(!text.is_empty());
}

#[tokio::test]
async fn new_provider_credentials_are_used_from_the_next_call() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let sent_key = |mock: &MockHandle| {
        mock.requests_to(Endpoint::OpenAiChat).pop().unwrap().header("authorization").unwrap().to_owned()
    };
    for _ in 0..2 {
        let (status, _) =
            post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("compat/gpt", false)).await;
        assert_eq!(status, 200);
        assert_eq!(sent_key(&mock), "Bearer sk-compat");
    }
    let replaced = json!({
        "type": "openai-compatible", "name": "compat", "base_url": format!("{}/v1", mock.base_url()),
        "auth": {"api_key": "sk-rotated"},
        "models": [{"name": "gpt", "model_id": "mock-gpt", "types": ["chat", "completion"]}],
        "collaborators": [{"subject": "user:usr@example.com", "role": "provider-account-user"}]
    });
    let r = s.put("/api/v1/provider-accounts/compat", &s.admin, replaced).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("compat/gpt", false)).await;
    assert_eq!(status, 200);
    assert_eq!(sent_key(&mock), "Bearer sk-rotated");
}
