//! Request logs and usage belong to identities, not names: whoever re-creates a deleted user's or virtual
//! account's name sees none of its predecessor's requests.

use serde_json::json;

use super::bounded::rows;
use crate::common::gateway::{chat_body, post_raw};
use crate::common::TestServer;

async fn call(s: &TestServer, token: &str, n: usize) {
    for _ in 0..n {
        let (status, _) = post_raw(
            s,
            "/v1/chat/completions",
            &[("authorization", &format!("Bearer {token}"))],
            chat_body("x/y", false),
        )
        .await;
        assert_eq!(status, 403);
    }
}

async fn seen(s: &TestServer, token: &str) -> (usize, usize, usize) {
    let logs = s.get("/api/v1/request-logs", token).await.body["requests"].as_array().map_or(0, Vec::len);
    let usage = s.get("/api/v1/usage", token).await.body["usage"].as_array().map_or(0, Vec::len);
    let series = s.get("/api/v1/usage/series?bucket=day", token).await.body["series"].as_array().map_or(0, Vec::len);
    (logs, usage, series)
}

#[tokio::test]
async fn a_re_created_name_does_not_inherit_its_predecessors_requests() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;
    s.user("bob@example.com", "member").await;
    s.user("carol@example.com", "member").await;
    s.team("ml", &["bob@example.com"], &[]).await;
    s.team("web", &["carol@example.com"], &[]).await;

    // The first dave and the first `app` (ml's) make requests.
    let dave = s.user("dave@example.com", "member").await;
    call(&s, &dave, 3).await;
    assert_eq!(
        s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "ml"})).await.status,
        201
    );
    let app = s.post("/api/v1/virtual-accounts/app/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&s, &app, 2).await;
    assert_eq!(rows(&s, &s.admin, 5).await.len(), 5);
    let bob = s.token_for("bob@example.com").await;
    assert_eq!(seen(&s, &bob).await, (2, 1, 1), "ml's manager sees ml's app");

    // Both deleted; the names taken again, `app` now by web.
    assert_eq!(s.delete("/api/v1/users/dave@example.com", &s.admin).await.status, 204);
    assert_eq!(s.delete("/api/v1/virtual-accounts/app", &s.admin).await.status, 204);
    let dave2 = s.user("dave@example.com", "member").await;
    assert_eq!(
        s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "web"})).await.status,
        201
    );
    let app2 = s.post("/api/v1/virtual-accounts/app/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = s.token_for("carol@example.com").await;
    for (who, token) in [("the new dave", &dave2), ("the new app", &app2), ("web's manager", &carol)] {
        assert_eq!(seen(&s, token).await, (0, 0, 0), "{who} sees a predecessor's requests");
    }
    // Their own requests they do see; admins see everything, both holders of each name included.
    call(&s, &dave2, 1).await;
    call(&s, &app2, 1).await;
    assert_eq!(rows(&s, &s.admin, 7).await.len(), 7);
    assert_eq!(seen(&s, &dave2).await.0, 1);
    assert_eq!(seen(&s, &app2).await.0, 1);
    assert_eq!(seen(&s, &carol).await.0, 1);
    assert_eq!(seen(&s, &bob).await.0, 0, "ml's manager no longer manages any `app`");
}
