//! Personal access tokens, virtual-account tokens and how users' lifecycles end them.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn personal_access_tokens_are_for_oneself_listed_without_secrets_and_revocable() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    // There is no way to name another owner.
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "x", "owner": "admin@example.com"})).await;
    assert_eq!(r.status, 400);
    let exp = (s.now() + time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "ci", "expires_at": exp})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ci = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(ci.starts_with(&format!("gh_pat_{id}_")));
    assert_eq!(s.get("/api/v1/me", &ci).await.status, 200);
    let list = s.get("/api/v1/personal-access-tokens", &bob).await;
    let text = list.body.to_string();
    assert!(!text.contains(&ci[ci.len() - 64..]), "secret leaked in list");
    let entry = list.body.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert_eq!(entry["name"], "ci");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(entry.get("token").is_none());
    // The admin's list does not show bob's tokens.
    let admin_list = s.get("/api/v1/personal-access-tokens", &s.admin).await.body;
    assert!(admin_list.as_array().unwrap().iter().all(|t| t["id"] != id.as_str()));
    // Expiry, with the clock moved instead of sleeping.
    s.advance(86_400 + 1);
    let r = s.get("/api/v1/me", &ci).await;
    assert_eq!(r.status, 401);
    assert!(r.message().contains("expired"));
    // Revoke: bob's other token stops working at once.
    let other = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "second"})).await.body;
    let other_tok = other["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.delete(&format!("/api/v1/personal-access-tokens/{}", other["id"].as_str().unwrap()), &bob).await.status,
        204
    );
    assert_eq!(s.get("/api/v1/me", &other_tok).await.status, 401);
    // Expiry in the past is refused.
    let past = (s.now() - time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "old", "expires_at": past})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "expires_at");
}

#[tokio::test]
async fn other_users_tokens_cannot_be_revoked_or_probed_by_non_admins() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    let carol = s.user("carol@example.com", "member").await;
    let bob_tokens = s.get("/api/v1/personal-access-tokens", &bob).await.body;
    let id = bob_tokens[0]["id"].as_str().unwrap();
    let r = s.delete(&format!("/api/v1/personal-access-tokens/{id}"), &carol).await;
    assert_eq!(r.status, 404);
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 200);
    // Admins can revoke other users' tokens.
    assert_eq!(s.delete(&format!("/api/v1/personal-access-tokens/{id}"), &s.admin).await.status, 204);
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 401);
}

#[tokio::test]
async fn bad_tokens_get_the_same_401() {
    let s = TestServer::start().await;
    let good = s.admin.clone();
    let wrong_secret = format!("{}{}", &good[..good.len() - 1], if good.ends_with('0') { '1' } else { '0' });
    let unknown_id = format!("gh_pat_0000000000000000_{}", &good[good.len() - 64..]);
    for bad in [wrong_secret.as_str(), unknown_id.as_str(), "gh_pat_nonsense", "Bearer", ""] {
        let r = s.get("/api/v1/me", bad).await;
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.body["error"]["type"], "authentication_error");
    }
    assert_eq!(s.get("/api/v1/me", &wrong_secret).await.message(), s.get("/api/v1/me", &unknown_id).await.message());
    let r = s.raw(Method::GET, "/api/v1/users", None, None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn virtual_account_rotation_keeps_the_old_token_for_the_grace_period_only() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    let old = s.post("/api/v1/virtual-accounts/checkout/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": 3600})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let new = r.body["token"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    s.advance(3599);
    assert_eq!(s.get("/api/v1/me", &old).await.status, 200);
    assert_eq!(s.get("/api/v1/me", &new).await.status, 200);
    s.advance(2);
    assert_eq!(s.get("/api/v1/me", &old).await.status, 401);
    assert_eq!(s.get("/api/v1/me", &new).await.status, 200);
    let list = s.get("/api/v1/virtual-accounts/checkout/tokens", &s.admin).await.body;
    assert_eq!(list.as_array().unwrap().len(), 2);
    for bad in [-1, 365 * 86_400 + 1] {
        let r =
            s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": bad})).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"]["param"], "grace_period_seconds");
    }
    // A zero grace period ends the old tokens at once.
    let r = s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": 0})).await;
    assert_eq!(s.get("/api/v1/me", &new).await.status, 401);
    assert_eq!(s.get("/api/v1/me", r.body["token"].as_str().unwrap()).await.status, 200);
}

#[tokio::test]
async fn virtual_account_expiry_ends_its_tokens() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    let exp = (s.now() + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = s
        .post("/api/v1/virtual-accounts", &s.admin, json!({"name": "tmp", "owner_team": "ml", "expires_at": exp}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let tok = s.post("/api/v1/virtual-accounts/tmp/tokens", &s.admin, json!({})).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.get("/api/v1/me", &tok).await.status, 200);
    s.advance(3601);
    assert_eq!(s.get("/api/v1/me", &tok).await.status, 401);
    assert_eq!(s.post("/api/v1/virtual-accounts/tmp/tokens", &s.admin, json!({})).await.status, 409);
}

#[tokio::test]
async fn deactivating_a_user_ends_every_token_and_session_at_once() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    let session = s.login("bob@example.com", "password-123").await.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/api/v1/me", &session).await.status, 200);
    let r =
        s.put("/api/v1/users/bob@example.com", &s.admin, json!({"email": "bob@example.com", "active": false})).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 401);
    assert_eq!(s.get("/api/v1/me", &session).await.status, 401);
    // Same answer as a wrong password.
    let wrong = s.login("bob@example.com", "wrong-password").await;
    let inactive = s.login("bob@example.com", "password-123").await;
    let unknown = s.login("nobody@example.com", "password-123").await;
    assert_eq!((wrong.status, inactive.status, unknown.status), (401u16, 401u16, 401u16).into_statuses());
    assert_eq!(wrong.body, inactive.body);
    assert_eq!(wrong.body, unknown.body);
    // Reactivation does not bring the old tokens back.
    s.put("/api/v1/users/bob@example.com", &s.admin, json!({"email": "bob@example.com", "active": true})).await;
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 401);
    assert_eq!(s.login("bob@example.com", "password-123").await.status, 200);
}

trait IntoStatuses {
    fn into_statuses(self) -> (reqwest::StatusCode, reqwest::StatusCode, reqwest::StatusCode);
}
impl IntoStatuses for (u16, u16, u16) {
    fn into_statuses(self) -> (reqwest::StatusCode, reqwest::StatusCode, reqwest::StatusCode) {
        let c = |x| reqwest::StatusCode::from_u16(x).unwrap();
        (c(self.0), c(self.1), c(self.2))
    }
}

#[tokio::test]
async fn deleting_a_user_removes_memberships_and_tokens() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["bob@example.com"], &[]).await;
    assert_eq!(s.delete("/api/v1/users/bob@example.com", &s.admin).await.status, 204);
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 401);
    assert_eq!(s.get("/api/v1/teams/ml", &s.admin).await.body["members"], json!([]));
    // A new user with the same email does not inherit anything.
    s.post("/api/v1/users", &s.admin, json!({"email": "bob@example.com"})).await;
    assert_eq!(s.get("/api/v1/me", &bob).await.status, 401);
    assert_eq!(s.delete("/api/v1/users/bob@example.com", &s.admin).await.status, 204);
    assert_eq!(s.delete("/api/v1/users/bob@example.com", &s.admin).await.status, 404);
}

#[tokio::test]
async fn tokens_follow_their_owners_access_live() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    assert_eq!(s.get("/api/v1/users", &bob).await.body.as_array().unwrap().len(), 2);
    s.set_role_permissions("member", &["team:read"]).await;
    let users = s.get("/api/v1/users", &bob).await.body;
    assert_eq!(users.as_array().unwrap().len(), 1, "only himself once user:list is gone: {users}");
    assert_eq!(s.get("/api/v1/users/admin@example.com", &bob).await.status, 403);
}
