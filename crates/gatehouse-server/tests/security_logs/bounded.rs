//! Request log rows are bounded whatever the client sends: an over-long `model` is a 400 naming it and is
//! logged cut short; every field has a bound; request ids are validated before any log sees them.

use serde_json::json;

use crate::common::gateway::{chat_body, gateway_world, post_raw};
use crate::common::TestServer;

/// The request log rows `token` may read, once at least `n` are there.
pub async fn rows(s: &TestServer, token: &str, n: usize) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = s.get("/api/v1/request-logs?limit=1000", token).await.body["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    rows
}

#[tokio::test]
async fn an_over_long_model_is_a_400_and_its_row_stays_small() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let huge = format!("compat/{}", "m".repeat(900_000));
    let routes = [
        ("/v1/chat/completions", json!({"model": huge, "messages": [{"role": "user", "content": "x"}]})),
        ("/v1/completions", json!({"model": huge, "prompt": "x"})),
        ("/v1/embeddings", json!({"model": huge, "input": "x"})),
        ("/v1/messages", json!({"model": huge, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})),
    ];
    for (path, body) in &routes {
        let r = s.post(path, &usr, body.clone()).await;
        assert_eq!(r.status, 400, "{path}: {}", r.message().chars().take(200).collect::<String>());
        assert_eq!(r.body["error"]["param"], "model", "{path}");
        assert!(r.body.to_string().len() < 1_000, "{path}: the error echoes the name");
    }
    // The longest name that could exist is still refused like any other the caller may not use.
    let longest = format!("{}/{}", "a".repeat(64), "b".repeat(128));
    let r = s.post("/v1/chat/completions", &usr, chat_body(&longest, false)).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(mock.request_count(), 0);

    let logged = rows(&s, &usr, routes.len() + 1).await;
    assert_eq!(logged.len(), routes.len() + 1);
    for row in &logged {
        assert!(row.to_string().len() < 2_000, "a row of {} bytes", row.to_string().len());
        assert!(row["model"].as_str().unwrap().starts_with("compat/mmm") || row["model"] == longest.as_str());
    }
    // In the database too: every stored field is bounded.
    let stored = s.app.store.request_logs(&gatehouse_store::RequestLogFilter::default()).await.unwrap();
    for (_, l) in stored {
        let size = l.subject.len()
            + l.token_id.len()
            + l.model.len()
            + l.route.len()
            + l.virtual_account.map_or(0, |v| v.len())
            + l.request_id.map_or(0, |v| v.len());
        assert!(size < 1_000, "{size} bytes");
        assert!(l.prompt.is_none() && l.completion.is_none());
    }
}

#[tokio::test]
async fn client_request_ids_are_bounded_and_validated_before_any_log() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let long = "a".repeat(129);
    for (sent, kept) in [
        ("abc-123_X.y", true),
        (long.as_str(), false),
        ("has space", false),
        ("<script>alert(1)</script>", false),
        ("quote\"d", false),
        ("", false),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/teams", s.base))
            .bearer_auth(&s.admin)
            .header("x-request-id", sent)
            .json(&json!({"name": format!("t{}", sent.len()), "managers": [], "members": []}))
            .send()
            .await
            .unwrap();
        let got = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        if kept {
            assert_eq!(got, sent);
        } else {
            assert_ne!(got, sent);
            assert!(got.len() == 32 && got.chars().all(|c| c.is_ascii_hexdigit()), "{got}");
        }
        let events = s.get("/api/v1/audit-events?limit=1", &s.admin).await.body;
        assert_eq!(events["events"][0]["request_id"], got.as_str(), "{sent}");
        let (_, _) = post_raw(
            &s,
            "/v1/chat/completions",
            &[("authorization", &format!("Bearer {usr}")), ("x-request-id", sent)],
            chat_body("secret/hidden", false),
        )
        .await;
    }
    for row in rows(&s, &usr, 6).await {
        let id = row["request_id"].as_str().unwrap();
        assert!(id == "abc-123_X.y" || (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())), "{id}");
    }
}
