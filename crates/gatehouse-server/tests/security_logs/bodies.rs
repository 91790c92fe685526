//! `GATEHOUSE_LOG_BODIES`: every gateway route stores its prompt and completion, bounded and redacted of
//! credentials; nothing is stored without it.

use gatehouse_server::ServerConfig;
use serde_json::json;

use super::bounded::rows;
use crate::common::gateway::{chat_body, gateway_world, post_raw};
use crate::common::TestServer;

#[tokio::test]
async fn bodies_are_stored_for_every_route_bounded_and_redacted() {
    let s = TestServer::start_with(ServerConfig { log_bodies: true, ..ServerConfig::default() }).await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let secrets = [usr.as_str(), "sk-live-0123456789abcdef", "AKIAIOSFODNN7EXAMPLE", "zzz-field-secret"];
    let said = format!("hello there, my keys are {} and {} and {}", usr, secrets[1], secrets[2]);
    let message = json!([{"role": "user", "content": said}]);
    let calls = [
        ("/v1/chat/completions", json!({"model": "compat/gpt", "messages": message, "api_key": secrets[3]})),
        ("/v1/chat/completions", json!({"model": "compat/gpt", "messages": message, "stream": true})),
        ("/v1/chat/completions", json!({"model": "claude/sonnet", "messages": message, "stream": true})),
        ("/v1/completions", json!({"model": "compat/gpt", "prompt": said})),
        ("/v1/completions", json!({"model": "compat/gpt", "prompt": said, "stream": true})),
        ("/v1/embeddings", json!({"model": "compat/emb", "input": said})),
        ("/v1/messages", json!({"model": "claude/sonnet", "max_tokens": 50, "messages": message})),
        ("/v1/messages", json!({"model": "bedrock/haiku", "max_tokens": 50, "messages": message, "stream": true})),
        ("/v1/chat/completions", json!({"model": "secret/hidden", "messages": message})),
    ];
    for (path, body) in &calls {
        let (status, text) = post_raw(&s, path, &[("authorization", &auth)], body.clone()).await;
        let want = if body["model"] == "secret/hidden" { 403 } else { 200 };
        assert_eq!(status, want, "{path} {}: {text}", body["model"]);
    }
    // A prompt far over the bound.
    let long = json!({"model": "compat/gpt", "messages": [{"role": "user", "content": "y".repeat(300_000)}]});
    let (status, _) = post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], long).await;
    assert_eq!(status, 200);

    let logged = rows(&s, &s.admin, calls.len() + 1).await;
    assert_eq!(logged.len(), calls.len() + 1, "{logged:?}");
    for row in &logged {
        let text = row.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} stored: {text}");
        }
        assert!(!text.contains("gh_pat_"), "{text}");
        let prompt = row["prompt"].as_str().unwrap_or_else(|| panic!("no prompt: {row}"));
        assert!(prompt.len() <= 64 * 1024, "{}", prompt.len());
        if row["status"] == 200 {
            let completion = row["completion"].as_str().unwrap_or_else(|| panic!("no completion: {row}"));
            assert!(!completion.is_empty() && completion.len() <= 64 * 1024, "{row}");
        }
    }
    let with = |needle: &str| logged.iter().filter(|r| r["prompt"].as_str().unwrap_or("").contains(needle)).count();
    assert_eq!(with("hello there"), calls.len(), "every route stores its prompt");
    assert!(logged.iter().any(|r| r["prompt"].as_str().unwrap().contains("[redacted]")));
    let cut = logged.iter().find(|r| r["prompt"].as_str().unwrap().contains("yyyy")).unwrap();
    assert!(cut["prompt"].as_str().unwrap().ends_with("[truncated]"), "{}", cut["prompt"]);
    // The echoing upstream's answers carried the secrets back: stored redacted, streams included.
    let answered = logged.iter().filter(|r| r["completion"].as_str().is_some_and(|c| c.contains("hello there")));
    let answered: Vec<_> = answered.collect();
    assert!(answered.len() >= 5, "{logged:#?}");
}

#[tokio::test]
async fn without_the_setting_no_body_is_stored() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    for stream in [false, true] {
        let (status, _) =
            post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("compat/gpt", stream)).await;
        assert_eq!(status, 200);
    }
    for row in rows(&s, &usr, 2).await {
        assert!(row.get("prompt").is_none() && row.get("completion").is_none(), "{row}");
    }
}
