//! Teams and team managers.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn managers_are_members_and_team_manager_role_applies_to_them() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &[]).await;
    s.team("web", &[], &["bob@example.com"]).await;
    let ml = s.get("/api/v1/teams/ml", &s.admin).await.body;
    assert_eq!(ml["members"], json!(["alice@example.com"]));
    // team-manager (team:read, team:manage by default) reaches only the teams alice manages.
    assert_eq!(s.get("/api/v1/teams/ml", &alice).await.status, 200);
    assert_eq!(s.get("/api/v1/teams/web", &alice).await.status, 403);
    let teams = s.get("/api/v1/teams", &alice).await.body;
    assert_eq!(teams.as_array().unwrap().len(), 1);
    let add = s
        .put(
            "/api/v1/teams/ml",
            &alice,
            json!({"name": "ml", "managers": ["alice@example.com"], "members": ["bob@example.com"]}),
        )
        .await;
    assert_eq!(add.status, 200, "{:?}", add.body);
    let r = s.put("/api/v1/teams/web", &alice, json!({"name": "web", "members": ["alice@example.com"]})).await;
    assert_eq!(r.status, 403);
    // bob is a member, not a manager, of ml.
    assert_eq!(s.get("/api/v1/teams/ml", &bob).await.status, 403);
    let me = s.get("/api/v1/me", &bob).await.body;
    assert_eq!(me["teams"], json!(["ml", "web"]));
    // Unknown members are named.
    let r = s.put("/api/v1/teams/ml", &s.admin, json!({"name": "ml", "members": ["ghost@example.com"]})).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("ghost@example.com"));
}

#[tokio::test]
async fn seed_faq_team_managers_manage_their_virtual_accounts() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com", "member").await;
    s.user("carol@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &[]).await;
    s.team("web", &["carol@example.com"], &[]).await;
    let theirs = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "web-app", "owner_team": "web"})).await;
    assert_eq!(theirs.status, 201);

    // Before the edit: no virtual-account permissions for team managers.
    let r = s.post("/api/v1/virtual-accounts", &alice, json!({"name": "ml-app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 403, "{:?}", r.body);

    // "Edit default Team Manager Role": add the four virtual-account permissions.
    s.set_role_permissions(
        "team-manager",
        &[
            "team:read",
            "team:manage",
            "virtual-account:read",
            "virtual-account:create",
            "virtual-account:manage",
            "virtual-account:delete",
        ],
    )
    .await;
    let r = s.post("/api/v1/virtual-accounts", &alice, json!({"name": "ml-app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // ... owned by their team only.
    let r = s.post("/api/v1/virtual-accounts", &alice, json!({"name": "sneaky", "owner_team": "web"})).await;
    assert_eq!(r.status, 403);
    let mut list = s.get("/api/v1/virtual-accounts", &alice).await.body;
    // Each item's version is checked elsewhere (versions).
    list[0].as_object_mut().unwrap().remove("etag");
    assert_eq!(list, json!([{"name": "ml-app", "owner_team": "ml", "description": "", "expires_at": null}]));
    assert_eq!(s.get("/api/v1/virtual-accounts/web-app", &alice).await.status, 403);
    // "Manage Virtual Account ... This also includes permission to get the token."
    let tok = s.post("/api/v1/virtual-accounts/ml-app/tokens", &alice, json!({})).await;
    assert_eq!(tok.status, 201, "{:?}", tok.body);
    let va_token = tok.body["token"].as_str().unwrap().to_owned();
    assert!(va_token.starts_with("gh_va_"));
    let me = s.get("/api/v1/me", &va_token).await.body;
    assert_eq!(me["subject"], "virtualaccount:ml-app");
    assert_eq!(me["kind"], "virtual-account");
    assert_eq!(s.post("/api/v1/virtual-accounts/web-app/tokens", &alice, json!({})).await.status, 403);
    let upd = s
        .put(
            "/api/v1/virtual-accounts/ml-app",
            &alice,
            json!({"name": "ml-app", "owner_team": "ml", "description": "checkout"}),
        )
        .await;
    assert_eq!(upd.status, 200);
    // Moving it to a team they do not manage is refused.
    let mv = s.put("/api/v1/virtual-accounts/ml-app", &alice, json!({"name": "ml-app", "owner_team": "web"})).await;
    assert_eq!(mv.status, 403);
    assert_eq!(s.delete("/api/v1/virtual-accounts/web-app", &alice).await.status, 403);
    assert_eq!(s.delete("/api/v1/virtual-accounts/ml-app", &alice).await.status, 204);
    // Deleting the account ended its token.
    assert_eq!(s.get("/api/v1/me", &va_token).await.status, 401);
    // "These permissions apply to all the Team Managers in the Account irrespective of their Teams."
    let carol = s.token_for("carol@example.com").await;
    assert_eq!(s.get("/api/v1/virtual-accounts/web-app", &carol).await.status, 200);
}

#[tokio::test]
async fn a_team_that_owns_virtual_accounts_cannot_be_deleted() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "a1", "owner_team": "ml"})).await;
    let r = s.delete("/api/v1/teams/ml", &s.admin).await;
    assert_eq!(r.status, 409);
    assert!(r.message().contains("1 virtual account"));
    let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "a2", "owner_team": "nope"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "owner_team");
}
