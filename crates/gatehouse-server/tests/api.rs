//! The admin API over HTTP against the real server: every rule of the access core.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod console_session;
mod foundations_catalogue;
mod foundations_errors;
mod security_limits;
mod security_logs;
mod security_signin;
mod security_writes;

use common::TestServer;
use gatehouse_server::ServerConfig;
use gatehouse_store::RequestLog;
use reqwest::Method;
use serde_json::json;

// ---------- catalogue, roles ----------

#[tokio::test]
async fn permission_catalogue_has_the_sixty_seed_permissions() {
    let s = TestServer::start().await;
    let r = s.get("/api/v1/permissions", &s.admin).await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 60);
    let vam = list.iter().find(|p| p["id"] == "virtual-account:manage").unwrap();
    assert_eq!(vam["description"], "Allows updating virtual account configuration and tokens");
    assert_eq!(vam["name"], "Manage Virtual Account");
    let uses = list.iter().find(|p| p["id"] == "provider-account:use-integrations").unwrap();
    assert_eq!(uses["group"], "AI Gateway");
}

#[tokio::test]
async fn default_roles_exist_and_admin_is_immutable() {
    let s = TestServer::start().await;
    let roles = s.get("/api/v1/roles", &s.admin).await.body;
    let names: Vec<&str> = roles.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..3], &["admin", "member", "team-manager"]);
    let admin = &roles[0];
    assert_eq!(admin["permissions"].as_array().unwrap().len(), 60);
    assert_eq!(admin["editable"], false);
    let member = s.get("/api/v1/roles/member", &s.admin).await.body;
    let perms: Vec<&str> = member["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(perms.contains(&"user:list") && perms.contains(&"team:read") && perms.contains(&"role:list"));
    assert!(!perms.contains(&"gateway-controls:list"));

    let edit = s
        .put(
            "/api/v1/roles/admin",
            &s.admin,
            json!({"name": "admin", "display_name": "A", "description": "d", "permissions": ["user:list"]}),
        )
        .await;
    assert_eq!(edit.status, 403, "{:?}", edit.body);
    assert!(edit.message().contains("admin"));
    for name in ["admin", "member", "team-manager"] {
        let del = s.delete(&format!("/api/v1/roles/{name}"), &s.admin).await;
        assert_eq!(del.status, 403, "{name}: {:?}", del.body);
    }
    // Renaming through PUT is refused.
    let rename = s
        .put(
            "/api/v1/roles/member",
            &s.admin,
            json!({"name": "members", "display_name": "M", "description": "d", "permissions": []}),
        )
        .await;
    assert_eq!(rename.status, 400);
    assert_eq!(rename.body["error"]["param"], "name");
    // member and team-manager are editable.
    s.set_role_permissions("member", &["user:list", "gateway-controls:list"]).await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read"]).await;
}

#[tokio::test]
async fn custom_role_form_is_validated_field_by_field() {
    let s = TestServer::start().await;
    let base = json!({"name": "gateway-viewer", "display_name": "Gateway Viewer", "description": "Can see gateway controls", "permissions": ["gateway-controls:list"]});
    let cases = [
        ("name", json!("gateway viewer")),
        ("name", json!("under_score")),
        ("name", json!("")),
        ("display_name", json!(" ")),
        ("description", json!("")),
        ("permissions[1]", json!(["gateway-controls:list", "gateway-controls:view"])),
        ("permissions", json!([])),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        let key = field.split('[').next().unwrap();
        body[key] = value;
        let r = s.post("/api/v1/roles", &s.admin, body).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], field, "{:?}", r.body);
        assert_eq!(r.body["error"]["type"], "invalid_request_error");
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("display_name");
    let r = s.post("/api/v1/roles", &s.admin, missing).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "display_name");
    let mut extra = base.clone();
    extra["colour"] = json!("red");
    let r = s.post("/api/v1/roles", &s.admin, extra).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "colour");
    // Nothing of the refused requests was created.
    assert_eq!(s.get("/api/v1/roles/gateway-viewer", &s.admin).await.status, 404);

    let ok = s.post("/api/v1/roles", &s.admin, base.clone()).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert_eq!(ok.body["permissions"], json!(["gateway-controls:list"]));
    let dup = s.post("/api/v1/roles", &s.admin, base).await;
    assert_eq!(dup.status, 409);
}

#[tokio::test]
async fn a_role_held_by_users_cannot_be_deleted() {
    let s = TestServer::start().await;
    s.role("auditor", &["user:list"]).await;
    s.user("a@example.com", "auditor").await;
    s.user("b@example.com", "auditor").await;
    let r = s.delete("/api/v1/roles/auditor", &s.admin).await;
    assert_eq!(r.status, 409);
    assert!(r.message().contains("2 users"), "{}", r.message());
    s.put("/api/v1/users/a@example.com", &s.admin, json!({"email": "a@example.com", "role": "member"})).await;
    s.put("/api/v1/users/b@example.com", &s.admin, json!({"email": "b@example.com", "role": "member"})).await;
    assert_eq!(s.delete("/api/v1/roles/auditor", &s.admin).await.status, 204);
    assert_eq!(s.get("/api/v1/roles/auditor", &s.admin).await.status, 404);
}

#[tokio::test]
async fn seed_flow_create_a_custom_role_and_assign_it() {
    // "Navigate to Access > Roles > Custom Roles ... Assign Roles to user ... Save Changes."
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    assert_eq!(s.get("/api/v1/virtual-accounts", &bob).await.body, json!([]));
    s.role("va-reader", &["virtual-account:read", "team:read"]).await;
    s.team("ml", &[], &[]).await;
    let va = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    assert_eq!(va.status, 201, "{:?}", va.body);
    // The change takes effect on the very next request, through the same token.
    let r = s
        .put("/api/v1/users/bob@example.com", &s.admin, json!({"email": "bob@example.com", "role": "va-reader"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "va-reader");
    let list = s.get("/api/v1/virtual-accounts", &bob).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    // One role at a time: the old one's permissions are gone.
    assert_eq!(s.get("/api/v1/users", &bob).await.body.as_array().unwrap().len(), 1, "only self without user:list");
    // team-manager is never assigned.
    let r = s
        .put("/api/v1/users/bob@example.com", &s.admin, json!({"email": "bob@example.com", "role": "team-manager"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "role");
    let r = s.put("/api/v1/users/bob@example.com", &s.admin, json!({"email": "bob@example.com", "role": "nope"})).await;
    assert_eq!(r.status, 400);
}

// ---------- teams and team managers ----------

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
    let list = s.get("/api/v1/virtual-accounts", &alice).await.body;
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

// ---------- tokens ----------

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

// ---------- no privilege escalation ----------

#[tokio::test]
async fn role_managers_cannot_grant_permissions_they_lack() {
    let s = TestServer::start().await;
    s.role("role-admin", &["role:manage", "role:list", "user:list"]).await;
    let ra = s.user("ra@example.com", "role-admin").await;
    let r = s
        .post(
            "/api/v1/roles",
            &ra,
            json!({"name": "sneaky", "display_name": "S", "description": "d", "permissions": ["user:manage"]}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "would_escalate");
    assert!(r.message().contains("user:manage"), "{}", r.message());
    // Not even into their own role, nor into member or team-manager.
    for role in ["role-admin", "member", "team-manager"] {
        let r = s
            .put(&format!("/api/v1/roles/{role}"), &ra, json!({"name": role, "display_name": "X", "description": "d", "permissions": ["role:manage", "settings:manage"]}))
            .await;
        assert_eq!(r.status, 403, "{role}: {:?}", r.body);
    }
    // Within what they hold, they may.
    let r = s
        .post(
            "/api/v1/roles",
            &ra,
            json!({"name": "viewer", "display_name": "V", "description": "d", "permissions": ["user:list"]}),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn user_managers_cannot_make_admins_or_stronger_users_or_touch_admins() {
    let s = TestServer::start().await;
    // hr holds what member holds, so it may create members.
    s.role("hr", &["user:manage", "user:list", "team:read", "role:list"]).await;
    s.role("ops", &["user:list", "settings:manage"]).await;
    let hr = s.user("hr@example.com", "hr").await;
    s.user("ops@example.com", "ops").await;
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "admin_only");
    assert!(r.message().contains("only an admin can make an admin"));
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "ops"})).await;
    assert_eq!(r.status, 403, "ops holds settings:manage, which hr lacks");
    assert_eq!(r.body["error"]["code"], "would_escalate");
    // hr may not promote themself either.
    let r = s.put("/api/v1/users/hr@example.com", &hr, json!({"email": "hr@example.com", "role": "admin"})).await;
    assert_eq!(r.status, 403);
    // Nor take over or disable an admin or a stronger user.
    for target in ["admin@example.com", "ops@example.com"] {
        let r = s.post(&format!("/api/v1/users/{target}/password"), &hr, json!({"password": "taken-over-1"})).await;
        assert_eq!(r.status, 403, "{target}");
        let r = s
            .put(&format!("/api/v1/users/{target}"), &hr, json!({"email": target, "role": "member", "active": false}))
            .await;
        assert_eq!(r.status, 403, "{target}");
        assert_eq!(s.delete(&format!("/api/v1/users/{target}"), &hr).await.status, 403, "{target}");
    }
    // Members are fine.
    let r = s.post("/api/v1/users", &hr, json!({"email": "new@example.com", "role": "member"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        s.post("/api/v1/users/new@example.com/password", &hr, json!({"password": "welcome-123"})).await.status,
        204
    );
    // A user may set their own password, but not someone else's.
    let new = s.login("new@example.com", "welcome-123").await.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.post(
            "/api/v1/users/new@example.com/password",
            &new,
            json!({"password": "mine-12345", "current_password": "welcome-123"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        s.post("/api/v1/users/hr@example.com/password", &new, json!({"password": "mine-12345"})).await.status,
        403
    );
    let short = s.post("/api/v1/users/new@example.com/password", &new, json!({"password": "short"})).await;
    assert_eq!(short.status, 400);
}

#[tokio::test]
async fn team_managers_cannot_hand_out_more_than_they_hold() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "team:manage", "settings:manage"]).await;
    s.role("team-maker", &["team:create", "team:read"]).await;
    let tm = s.user("tm@example.com", "team-maker").await;
    s.user("x@example.com", "member").await;
    // Creating a team and naming a manager would hand out settings:manage through team-manager.
    let r = s.post("/api/v1/teams", &tm, json!({"name": "t1", "managers": ["tm@example.com"]})).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.message().contains("settings:manage"), "{}", r.message());
    let r = s.post("/api/v1/teams", &tm, json!({"name": "t1", "members": ["tm@example.com", "x@example.com"]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A manager (who holds team-manager's permissions through the team) may add managers.
    s.set_role_permissions("team-manager", &["team:read", "team:manage"]).await;
    s.team("t2", &["x@example.com"], &[]).await;
    let x = s.token_for("x@example.com").await;
    let r = s.put("/api/v1/teams/t2", &x, json!({"name": "t2", "managers": ["x@example.com", "tm@example.com"]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_removed() {
    let s = TestServer::start().await;
    for body in [
        json!({"email": "admin@example.com", "role": "member"}),
        json!({"email": "admin@example.com", "role": "admin", "active": false}),
    ] {
        let r = s.put("/api/v1/users/admin@example.com", &s.admin, body).await;
        assert_eq!(r.status, 409, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "last_admin");
        assert!(r.message().contains("last active admin"));
    }
    let r = s.delete("/api/v1/users/admin@example.com", &s.admin).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "last_admin");
    // With a second admin, the first may step down.
    s.post("/api/v1/users", &s.admin, json!({"email": "admin2@example.com", "role": "admin"})).await;
    let r = s
        .put("/api/v1/users/admin@example.com", &s.admin, json!({"email": "admin@example.com", "role": "member"}))
        .await;
    assert_eq!(r.status, 200);
}

// ---------- engine endpoint, identity, lists ----------

#[tokio::test]
async fn authz_check_explains_and_is_limited_to_oneself_without_role_list() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &["team:read"]).await;
    let bob = s.user("bob@example.com", "member").await;
    let r = s
        .post(
            "/api/v1/authz/check",
            &bob,
            json!({"subject": "user:bob@example.com", "permission": "team:read", "resource": "team:ml"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allowed"], true);
    assert!(r.body["reason"].as_str().unwrap().contains("role member grants team:read"));
    let r = s
        .post(
            "/api/v1/authz/check",
            &bob,
            json!({"subject": "user:admin@example.com", "permission": "team:read", "resource": "team:ml"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .post(
            "/api/v1/authz/check",
            &s.admin,
            json!({"subject": "user:bob@example.com", "permission": "user:manage", "resource": "tenant"}),
        )
        .await;
    assert_eq!(r.body["allowed"], false);
    assert!(r.body["reason"].as_str().unwrap().contains("role member does not grant user:manage"));
    for (field, body) in [
        ("subject", json!({"subject": "group:x", "permission": "team:read", "resource": "tenant"})),
        ("permission", json!({"subject": "user:bob@example.com", "permission": "team:fly", "resource": "tenant"})),
        ("resource", json!({"subject": "user:bob@example.com", "permission": "team:read", "resource": "widget:x"})),
    ] {
        let r = s.post("/api/v1/authz/check", &s.admin, body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.body["error"]["param"], field);
    }
}

#[tokio::test]
async fn authz_checks_answer_in_order_exactly_as_single_checks() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &["team:read"]).await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["bob@example.com"], &[]).await;
    let questions = [
        json!({"permission": "team:read", "resource": "team:ml"}),
        json!({"subject": "user:bob@example.com", "permission": "user:manage", "resource": "tenant"}),
        json!({"permission": "team:manage", "resource": "team:ml"}),
        json!({"permission": "use", "resource": "model:nowhere/gpt"}),
    ];
    let r = s.post("/api/v1/authz/checks", &bob, json!({"checks": questions})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), questions.len());
    for (q, got) in questions.iter().zip(results) {
        let mut single = q.clone();
        single["subject"] = json!("user:bob@example.com");
        let one = s.post("/api/v1/authz/check", &bob, single).await;
        assert_eq!(one.status, 200, "{:?}", one.body);
        assert_eq!(*got, one.body, "{q}");
    }
    let allowed: Vec<bool> = results.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
    assert_eq!(allowed, [true, false, true, false]);
    assert!(results[1]["reason"].as_str().unwrap().contains("role member does not grant user:manage"));
    assert_eq!(s.post("/api/v1/authz/checks", &bob, json!({"checks": []})).await.body, json!({"results": []}));

    // Asking about someone else needs role:list, as for one check; the whole batch is refused.
    let about_admin = json!({"checks": [questions[0], {"subject": "user:admin@example.com", "permission": "team:read", "resource": "team:ml"}]});
    let r = s.post("/api/v1/authz/checks", &bob, about_admin.clone()).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert!(r.message().starts_with("checks[1]: "), "{}", r.message());
    let r = s.post("/api/v1/authz/checks", &s.admin, about_admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["results"][1]["allowed"], true);

    // Bad questions name the check and the field; too many name `checks`.
    for (field, item) in [
        ("checks[1].subject", json!({"subject": "group:x", "permission": "team:read", "resource": "tenant"})),
        ("checks[1].permission", json!({"permission": "team:fly", "resource": "tenant"})),
        ("checks[1].resource", json!({"permission": "team:read", "resource": "widget:x"})),
        ("checks[1].resource", json!({"permission": "team:read"})),
    ] {
        let r = s.post("/api/v1/authz/checks", &bob, json!({"checks": [questions[0], item]})).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], field);
    }
    let many: Vec<_> = (0..201).map(|_| questions[0].clone()).collect();
    let r = s.post("/api/v1/authz/checks", &bob, json!({"checks": many[..200]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s.post("/api/v1/authz/checks", &bob, json!({"checks": many})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "checks");
    assert!(r.message().contains("at most 200"), "{}", r.message());
}

#[tokio::test]
async fn seed_faq_members_can_be_allowed_to_list_gateway_controls() {
    let s = TestServer::start().await;
    s.user("bob@example.com", "member").await;
    assert!(!s.check("user:bob@example.com", "gateway-controls:list", "tenant").await);
    let cur = s.get("/api/v1/roles/member", &s.admin).await.body;
    let mut perms: Vec<String> = serde_json::from_value(cur["permissions"].clone()).unwrap();
    perms.push("gateway-controls:list".into());
    let refs: Vec<&str> = perms.iter().map(String::as_str).collect();
    s.set_role_permissions("member", &refs).await;
    assert!(s.check("user:bob@example.com", "gateway-controls:list", "tenant").await);
    assert!(!s.check("user:bob@example.com", "gateway-controls:manage", "tenant").await);
}

// ---------- request hygiene ----------

#[tokio::test]
async fn malformed_bodies_get_clear_4xx_and_change_nothing() {
    let s = TestServer::start().await;
    let r = s.raw(Method::POST, "/api/v1/users", Some(&s.admin), Some(b"{\"email\": ".to_vec())).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("malformed JSON"));
    let r = s.raw(Method::POST, "/api/v1/users", Some(&s.admin), Some(b"{\"email\": 5}".to_vec())).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "email");
    let r = s.post("/api/v1/users", &s.admin, json!({"role": "member"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "email");
    let r = s.post("/api/v1/users", &s.admin, json!({"email": "not-an-email"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "email");
    let big = format!("{{\"email\": \"{}@example.com\"}}", "a".repeat(2 * 1024 * 1024));
    let r = s.raw(Method::POST, "/api/v1/users", Some(&s.admin), Some(big.into_bytes())).await;
    assert_eq!(r.status, 413);
    let users = s.get("/api/v1/users", &s.admin).await.body;
    assert_eq!(users.as_array().unwrap().len(), 1, "nothing was created: {users}");
    let r = s.get("/api/v1/nowhere", &s.admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        s.raw(Method::GET, "/api/v1/nowhere", None, None).await.status,
        401,
        "deny by default, even for unknown routes"
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let s = TestServer::start().await;
    assert_eq!(s.raw(Method::GET, "/healthz", None, None).await.status, 200);
    let r = s.get("/openapi.json", &s.admin).await;
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/users", "post"),
        ("/api/v1/users/{email}", "put"),
        ("/api/v1/users/{email}/password", "post"),
        ("/api/v1/teams/{name}", "delete"),
        ("/api/v1/roles", "get"),
        ("/api/v1/virtual-accounts/{name}/rotate", "post"),
        ("/api/v1/virtual-accounts/{name}/tokens", "post"),
        ("/api/v1/personal-access-tokens/{id}", "delete"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/authz/check", "post"),
        ("/api/v1/authz/checks", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/permissions", "get"),
        ("/api/v1/apply", "put"),
        ("/api/v1/export", "get"),
        ("/api/v1/audit-events", "get"),
        ("/api/v1/provider-accounts", "post"),
        ("/api/v1/provider-accounts/{name}", "put"),
        ("/api/v1/provider-accounts/{name}/access", "get"),
        ("/api/v1/mcp-servers/{name}", "delete"),
        ("/api/v1/agents", "get"),
        ("/api/v1/gateway-controls/{name}", "get"),
        ("/api/v1/authz/subjects/{subject}/access", "get"),
        ("/api/v1/request-logs", "get"),
        ("/api/v1/usage", "get"),
        ("/api/v1/usage/series", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/messages", "post"),
        ("/v1/models", "get"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(r.body["components"]["schemas"]["RoleBody"].is_object());
}

// ---------- apply ----------

const MANIFEST: &str = r#"
type: user
email: alice@example.com
role: member
active: true
---
type: team
name: ml-platform
managers: [alice@example.com]
members: [bob@example.com]
---
type: user
email: bob@example.com
---
type: role
name: gateway-viewer
display_name: Gateway Viewer
description: Can see gateway controls
permissions: [gateway-controls:list]
---
type: virtual-account
name: checkout-service
owner_team: ml-platform
expires_at: 2027-06-30T00:00:00Z
"#;

async fn apply(s: &TestServer, body: &str, dry_run: bool) -> common::Resp {
    s.raw(Method::PUT, &format!("/api/v1/apply?dry_run={dry_run}"), Some(&s.admin), Some(body.as_bytes().to_vec()))
        .await
}

#[tokio::test]
async fn apply_is_atomic_idempotent_and_has_a_dry_run() {
    let s = TestServer::start().await;
    let dry = apply(&s, MANIFEST, true).await;
    assert_eq!(dry.status, 200, "{:?}", dry.body);
    assert!(dry.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "created"));
    assert_eq!(s.get("/api/v1/users/alice@example.com", &s.admin).await.status, 404, "dry run changed nothing");

    let r = apply(&s, MANIFEST, false).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let kinds: Vec<&str> = r.body["results"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["role", "user", "user", "team", "virtual-account"]);
    assert_eq!(
        s.get("/api/v1/teams/ml-platform", &s.admin).await.body["members"],
        json!(["alice@example.com", "bob@example.com"])
    );

    let again = apply(&s, MANIFEST, false).await;
    assert!(again.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{:?}", again.body);

    let changed = MANIFEST.replace("role: member\nactive: true", "role: gateway-viewer\nactive: true");
    let dry = apply(&s, &changed, true).await;
    let alice =
        dry.body["results"].as_array().unwrap().iter().find(|r| r["name"] == "alice@example.com").unwrap().clone();
    assert_eq!(alice["action"], "updated");
    assert_eq!(alice["changes"], json!(["role: \"member\" -> \"gateway-viewer\""]));
    assert_eq!(s.get("/api/v1/users/alice@example.com", &s.admin).await.body["role"], "member");

    // JSON lists work too.
    let json_body = json!([{"type": "team", "name": "json-team", "members": []}]).to_string();
    assert_eq!(apply(&s, &json_body, false).await.status, 200);
}

#[tokio::test]
async fn bad_manifests_are_rejected_whole_with_the_document_named() {
    let s = TestServer::start().await;
    let cases = [
        ("type: widget\nname: x\n", "document 2"),
        ("type: team\nname: t\ncolour: red\n", "colour"),
        ("type: team\nname: t\nmembers: [ghost@example.com]\n", "ghost@example.com"),
        ("type: user\nemail: a@example.com\nrole: no-such-role\n", "no-such-role"),
        ("type: role\nname: r\ndisplay_name: R\ndescription: d\npermissions: [user:fly]\n", "user:fly"),
        ("type: team\nname: t\n---\ntype: team\nname: t\n", "appears twice"),
        ("type: team\nname: [unclosed\n", "document 2"),
    ];
    for (body, needle) in cases {
        let full = format!("type: team\nname: good-team\n---\n{body}");
        let r = apply(&s, &full, false).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(r.message().contains(needle), "{body}: {}", r.message());
        assert_eq!(s.get("/api/v1/teams/good-team", &s.admin).await.status, 404, "nothing applied for {body}");
    }
    // Each object is checked with the caller's permissions.
    let bob = s.user("bob@example.com", "member").await;
    let r = s.raw(Method::PUT, "/api/v1/apply", Some(&bob), Some(b"type: team\nname: t\n".to_vec())).await;
    assert_eq!(r.status, 403);
    assert!(r.message().starts_with("document 1"), "{}", r.message());
}

// ---------- processes sharing a database ----------

#[tokio::test]
async fn bootstrap_against_a_running_servers_database_is_picked_up() {
    let cfg =
        gatehouse_server::ServerConfig { poll_interval: std::time::Duration::from_millis(100), ..Default::default() };
    let s = TestServer::start_with(cfg).await;
    // Another process demotes nobody but adds a user directly in the store, as `bootstrap` would.
    let store = gatehouse_store::open(&s.db_url).await.unwrap();
    let err = gatehouse_server::bootstrap::bootstrap_admin(
        store.as_ref(),
        "second@example.com",
        None,
        s.clock.as_ref(),
        &gatehouse_server::OsEntropy,
    )
    .await;
    assert!(err.unwrap_err().to_string().contains("already exists"));
    let user = gatehouse_core::User {
        email: gatehouse_core::Email::new("outside@example.com").unwrap(),
        display_name: "o".into(),
        role: gatehouse_core::RoleName::new("member").unwrap(),
        active: true,
    };
    store.commit(&[gatehouse_core::Change::PutUser(user)], &[]).await.unwrap();
    let mut seen = false;
    for _ in 0..50 {
        if s.get("/api/v1/users/outside@example.com", &s.admin).await.status == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the server never saw the other process's write");
}

#[tokio::test]
async fn state_survives_a_restart_on_every_backend() {
    for db in gatehouse_store::testing::all().await.unwrap() {
        let label = db.label;
        let s = TestServer::start_on(db, Default::default()).await;
        s.role("auditor", &["user:list", "team:read"]).await;
        let bob = s.user("bob@example.com", "auditor").await;
        s.team("ml", &["bob@example.com"], &[]).await;
        s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
        let va = s.post("/api/v1/virtual-accounts/checkout/tokens", &s.admin, json!({})).await.body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let rotated =
            s.post("/api/v1/virtual-accounts/checkout/rotate", &s.admin, json!({"grace_period_seconds": 60})).await;
        assert_eq!(rotated.status, 201, "{label}");
        let gone = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "gone"})).await.body;
        s.delete(&format!("/api/v1/personal-access-tokens/{}", gone["id"].as_str().unwrap()), &bob).await;
        s.get("/api/v1/me", &bob).await;
        s.app.flush_last_used().await.unwrap();

        // A second process on the same database sees exactly the same graph.
        let store = gatehouse_store::open(&s.db_url).await.unwrap();
        let again = gatehouse_server::AppState::new(
            store,
            s.clock.clone(),
            std::sync::Arc::new(gatehouse_server::OsEntropy),
            Default::default(),
            s.app.key.clone(),
        )
        .await
        .unwrap();
        let (a, b) = (s.app.snapshot().to_world(), again.snapshot().to_world());
        assert_eq!(a.roles, b.roles, "{label}");
        assert_eq!(a.users, b.users, "{label}");
        assert_eq!(a.teams, b.teams, "{label}");
        assert_eq!(a.virtual_accounts, b.virtual_accounts, "{label}");
        assert_eq!(a.tokens, b.tokens, "{label}");
        let now = s.now();
        assert!(again.snapshot().authenticate(&bob, now).is_ok(), "{label}");
        assert!(again.snapshot().authenticate(&va, now).is_ok(), "{label}: within the grace period");
        assert!(
            again.snapshot().authenticate(gone["token"].as_str().unwrap(), now).is_err(),
            "{label}: revoked stays revoked"
        );
        let bob_id = &bob[7..23];
        let used = again.last_used(&[gatehouse_core::TokenId::new(bob_id).unwrap()]).await.unwrap();
        assert_eq!(used.len(), 1, "{label}: last use was recorded");
    }
}

// ---------- audit ----------

#[tokio::test]
async fn every_change_and_token_is_audited_without_secrets() {
    let s = TestServer::start().await;
    let created = s
        .raw(
            Method::POST,
            "/api/v1/users",
            Some(&s.admin),
            Some(serde_json::to_vec(&json!({"email": "bob@example.com"})).unwrap()),
        )
        .await;
    let request_id = created.headers.get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let bob = s.token_for("bob@example.com").await;
    s.put(
        "/api/v1/users/bob@example.com",
        &s.admin,
        json!({"email": "bob@example.com", "role": "member", "display_name": "Bob B"}),
    )
    .await;
    s.team("ml", &["bob@example.com"], &[]).await;
    let bob_pats = s.get("/api/v1/personal-access-tokens", &bob).await.body;
    let pat_id = bob_pats[0]["id"].as_str().unwrap().to_owned();
    s.delete(&format!("/api/v1/personal-access-tokens/{pat_id}"), &bob).await;

    let r = s.get("/api/v1/audit-events?limit=1000", &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let events = r.body["events"].as_array().unwrap();
    let text = r.body.to_string();
    assert!(!text.contains(&bob[bob.len() - 64..]), "a token secret is in the audit log");
    assert!(!text.contains("password-123") && !text.contains("argon2"), "a password is in the audit log");
    let find =
        |action: &str, object: &str| events.iter().find(|e| e["action"] == action && e["object"] == object).cloned();
    let create = find("user.create", "user:bob@example.com").expect("user.create");
    assert_eq!(create["actor"], "user:admin@example.com");
    assert_eq!(create["request_id"], request_id.as_str());
    assert_eq!(create["changes"]["role"], "member");
    let update = find("user.update", "user:bob@example.com").expect("user.update");
    assert_eq!(update["changes"], json!({"display_name": {"from": "bob", "to": "Bob B"}}));
    assert!(find("user.password", "user:bob@example.com").is_some());
    assert!(find("team.create", "team:ml").is_some());
    let issued = find("token.issue", &format!("token:{pat_id}")).expect("token.issue");
    assert_eq!(issued["actor"], "user:bob@example.com");
    assert_eq!(issued["changes"]["owner"], "user:bob@example.com");
    let revoked = find("token.revoke", &format!("token:{pat_id}")).expect("token.revoke");
    assert_eq!(revoked["actor"], "user:bob@example.com");
    // Newest first, and the bootstrap is there too.
    assert!(events.windows(2).all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64()));
    assert!(events.iter().any(|e| e["actor"] == "system" && e["action"] == "token.issue"));

    // Filters and paging.
    let by_bob = s.get("/api/v1/audit-events?actor=user:bob@example.com", &s.admin).await.body;
    assert!(by_bob["events"].as_array().unwrap().iter().all(|e| e["actor"] == "user:bob@example.com"));
    let on_team = s.get("/api/v1/audit-events?object=team:ml", &s.admin).await.body;
    assert_eq!(on_team["events"].as_array().unwrap().len(), 1);
    let page = s.get("/api/v1/audit-events?limit=2", &s.admin).await.body;
    let next = page["next_before_id"].as_i64().unwrap();
    let page2 = s.get(&format!("/api/v1/audit-events?limit=2&before_id={next}"), &s.admin).await.body;
    assert!(page2["events"][0]["id"].as_i64().unwrap() < next);
    let future = (s.now() + time::Duration::days(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let none = s.get(&format!("/api/v1/audit-events?since={future}"), &s.admin).await.body;
    assert_eq!(none["events"], json!([]));
    assert_eq!(s.get("/api/v1/audit-events?since=yesterday", &s.admin).await.status, 400);
    assert_eq!(s.get("/api/v1/audit-events?colour=red", &s.admin).await.status, 400);
    // Admins only.
    assert_eq!(s.get("/api/v1/audit-events", &bob).await.status, 401, "revoked above");
    let carol = s.user("carol@example.com", "member").await;
    assert_eq!(s.get("/api/v1/audit-events", &carol).await.status, 403);
}

// ---------- resources: provider accounts, MCP servers, agents, gateway controls ----------

fn openai_account(name: &str, collaborators: serde_json::Value) -> serde_json::Value {
    json!({
        "type": "openai",
        "name": name,
        "base_url": "http://127.0.0.1:9/v1",
        "auth": {"api_key": "sk-very-secret-key"},
        "models": [
            {"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"]},
            {"name": "embed", "model_id": "text-embedding-3-small", "types": ["embedding"]}
        ],
        "collaborators": collaborators
    })
}

#[tokio::test]
async fn seed_provider_account_user_and_manager() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let mgr = s.user("mgr@example.com", "member").await;
    let usr = s.user("usr@example.com", "member").await;
    let other = s.user("other@example.com", "member").await;
    let acct = openai_account(
        "openai-main",
        json!([
            {"subject": "user:mgr@example.com", "role": "provider-account-manager"},
            {"subject": "user:usr@example.com", "role": "provider-account-user"}
        ]),
    );
    let r = s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(!r.body.to_string().contains("sk-very-secret-key"), "credentials in a response");
    assert_eq!(r.body["type"], "openai");

    // User: uses every model, reads the account, changes nothing.
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/embed").await);
    assert_eq!(s.get("/api/v1/provider-accounts/openai-main", &usr).await.status, 200);
    let mut edited = acct.clone();
    edited["base_url"] = json!("http://127.0.0.1:10/v1");
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &usr, edited.clone()).await.status, 403);
    // Others: neither use nor see it, and listing hides it.
    assert!(!s.check("user:other@example.com", "use", "model:openai-main/gpt-4o").await);
    assert_eq!(s.get("/api/v1/provider-accounts/openai-main", &other).await.status, 403);
    assert_eq!(s.get("/api/v1/provider-accounts", &other).await.body, json!([]));

    // Manager: changes settings, adds a model (which the user can use at once), manages access. (Not the
    // base_url: a new destination needs the credentials again.)
    edited.as_object_mut().unwrap().remove("auth");
    edited["base_url"] = acct["base_url"].clone();
    edited["models"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "gpt-4o-mini", "model_id": "gpt-4o-mini", "types": ["chat"]}));
    let r = s.put("/api/v1/provider-accounts/openai-main", &mgr, edited.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(s.check("user:usr@example.com", "use", "model:openai-main/gpt-4o-mini").await);
    edited["collaborators"]
        .as_array_mut()
        .unwrap()
        .push(json!({"subject": "user:other@example.com", "role": "provider-account-user"}));
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &mgr, edited.clone()).await.status, 200);
    assert!(s.check("user:other@example.com", "use", "model:openai-main/gpt-4o").await);
    // The manager may not delete the account (that is provider-account:delete).
    assert_eq!(s.delete("/api/v1/provider-accounts/openai-main", &mgr).await.status, 403);
    // A user may not promote themself.
    let mut promote = edited.clone();
    promote["collaborators"][1]["role"] = json!("provider-account-manager");
    assert_eq!(s.put("/api/v1/provider-accounts/openai-main", &usr, promote).await.status, 403);
    // Admins use every model without a grant; the credentials never come back.
    assert!(s.check("user:admin@example.com", "use", "model:openai-main/gpt-4o").await);
    let got = s.get("/api/v1/provider-accounts/openai-main", &s.admin).await;
    assert!(!got.body.to_string().contains("sk-very-secret-key"));
    let _ = other;
}

#[tokio::test]
async fn seed_team_and_virtual_account_grants_and_pats_inherit() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com"]).await;
    s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "checkout", "owner_team": "ml"})).await;
    let acct = openai_account(
        "openai-main",
        json!([
            {"subject": "team:ml", "role": "provider-account-user"},
            {"subject": "virtualaccount:checkout", "role": "provider-account-user"}
        ]),
    );
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    // Everyone in the team, and the virtual account, get every model.
    assert!(s.check("user:alice@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("virtualaccount:checkout", "use", "model:openai-main/embed").await);
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/gpt-4o").await);
    // Adding bob to the team gives him (and every PAT of his, live) the account.
    s.put("/api/v1/teams/ml", &s.admin, json!({"name": "ml", "members": ["alice@example.com", "bob@example.com"]}))
        .await;
    let r = s
        .post(
            "/api/v1/authz/check",
            &bob,
            json!({"subject": "user:bob@example.com", "permission": "use", "resource": "model:openai-main/gpt-4o"}),
        )
        .await;
    assert_eq!(r.body["allowed"], true, "{:?}", r.body);
    assert!(r.body["reason"]
        .as_str()
        .unwrap()
        .contains("team:ml is provider-account-user on provider-account:openai-main"));
    // A model that does not exist: denied, with the same answer as one that is not allowed.
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/nope").await);
}

#[tokio::test]
async fn authorized_subjects_narrow_one_model() {
    let s = TestServer::start().await;
    s.user("alice@example.com", "member").await;
    s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com", "bob@example.com"]).await;
    let mut acct = openai_account("openai-main", json!([{"subject": "team:ml", "role": "provider-account-user"}]));
    acct["models"][0]["authorized_subjects"] = json!(["user:alice@example.com"]);
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    assert!(s.check("user:alice@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(!s.check("user:bob@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(s.check("user:bob@example.com", "use", "model:openai-main/embed").await, "other models are not narrowed");
    assert!(s.check("user:admin@example.com", "use", "model:openai-main/gpt-4o").await);
}

#[tokio::test]
async fn use_integrations_lets_a_role_use_every_model() {
    let s = TestServer::start().await;
    s.role("ml-engineer", &["provider-account:use-integrations"]).await;
    s.user("eng@example.com", "ml-engineer").await;
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    assert!(s.check("user:eng@example.com", "use", "model:openai-main/gpt-4o").await);
    assert!(!s.check("user:eng@example.com", "provider-account:manage", "provider-account:openai-main").await);
}

#[tokio::test]
async fn every_provider_type_is_accepted_and_credentials_stay_hidden() {
    let s = TestServer::start().await;
    let accounts = [
        json!({"type": "anthropic", "name": "claude", "auth": {"api_key": "sk-ant-SECRET1"}, "models": [{"name": "sonnet", "model_id": "claude-3-5-sonnet-20241022", "types": ["chat"]}]}),
        json!({"type": "aws-bedrock", "name": "bedrock", "region": "us-east-1", "auth": {"access_key_id": "AKIDSECRET2", "secret_access_key": "SECRET3", "session_token": "SECRET4"}, "models": [{"name": "titan", "model_id": "amazon.titan-text-express-v1", "types": ["chat"]}]}),
        json!({"type": "azure-openai", "name": "azure", "endpoint": "https://x.openai.azure.com", "api_version": "2024-10-21", "auth": {"api_key": "SECRET5"}, "models": [{"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"]}], "deployments": {"gpt-4o": "my-gpt4o"}}),
        json!({"type": "openai-compatible", "name": "vllm", "base_url": "http://127.0.0.1:8000/v1", "models": [{"name": "llama3.1:8b", "model_id": "meta-llama/Llama-3.1-8B-Instruct", "types": ["chat", "completion"]}]}),
    ];
    for a in &accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a.clone()).await;
        assert_eq!(r.status, 201, "{a}: {:?}", r.body);
    }
    let list = s.get("/api/v1/provider-accounts", &s.admin).await.body.to_string();
    let export = s.get("/api/v1/export", &s.admin).await;
    let audit = s.get("/api/v1/audit-events?limit=1000", &s.admin).await.body.to_string();
    for secret in ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"] {
        assert!(!list.contains(secret), "{secret} in a list");
        assert!(!export.body.to_string().contains(secret), "{secret} in the export");
        assert!(!audit.contains(secret), "{secret} in the audit log");
    }
    // The stored form is encrypted.
    let bad = json!({"type": "aws-bedrock", "name": "b2", "auth": {"access_key_id": "a", "secret_access_key": "b"}, "models": []});
    let r = s.post("/api/v1/provider-accounts", &s.admin, bad).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "region");
}

#[tokio::test]
async fn model_pricing_is_validated_and_round_trips() {
    let s = TestServer::start().await;
    let price = json!({"input_per_million_tokens": 2.5, "output_per_million_tokens": 10});
    let body = json!({"type": "openai", "name": "oa", "models": [
        {"name": "gpt-4o", "model_id": "gpt-4o", "types": ["chat"], "pricing": price},
        {"name": "free", "model_id": "free", "types": ["chat"]},
    ]});
    let r = s.post("/api/v1/provider-accounts", &s.admin, body.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let got = s.get("/api/v1/provider-accounts/oa", &s.admin).await.body;
    assert_eq!(
        got["models"][0]["pricing"],
        json!({"input_per_million_tokens": 2.5, "output_per_million_tokens": 10.0})
    );
    assert!(got["models"][1].get("pricing").is_none(), "absent pricing is left out: {got}");

    // Every way in names the field.
    for (pricing, field) in [
        (
            json!({"input_per_million_tokens": -1, "output_per_million_tokens": 1}),
            "models[0].pricing.input_per_million_tokens",
        ),
        (
            json!({"input_per_million_tokens": 1, "output_per_million_tokens": -0.01}),
            "models[0].pricing.output_per_million_tokens",
        ),
        (json!({"input_per_million_tokens": 1}), "models[0].pricing.output_per_million_tokens"),
        (
            json!({"input_per_million_tokens": "cheap", "output_per_million_tokens": 1}),
            "models[0].pricing.input_per_million_tokens",
        ),
        (
            json!({"input_per_million_tokens": 1, "output_per_million_tokens": 1, "currency": "EUR"}),
            "models[0].pricing.currency",
        ),
    ] {
        let mut bad = body.clone();
        bad["models"][0]["pricing"] = pricing;
        let r = s.put("/api/v1/provider-accounts/oa", &s.admin, bad).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], field);
    }
    let r = apply(
        &s,
        "type: provider-account/openai\nname: oa\nmodels:\n  - {name: gpt-4o, model_id: gpt-4o, types: [chat], pricing: {input_per_million_tokens: .inf, output_per_million_tokens: 1}}\n",
        false,
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["param"], "document 1: models[0].pricing.input_per_million_tokens");

    // Export prints it, apply takes the export back unchanged, and a new price is an update.
    let exported =
        s.get("/api/v1/export?type=provider-account&name=oa", &s.admin).await.body.as_str().unwrap().to_owned();
    assert!(
        exported.contains("input_per_million_tokens: 2.5") && exported.contains("output_per_million_tokens: 10.0"),
        "{exported}"
    );
    let r = apply(&s, &exported, false).await;
    assert_eq!(r.body["results"][0]["action"], "unchanged", "{:?}", r.body);
    let r = apply(&s, &exported.replace("2.5", "3.0"), false).await;
    assert_eq!(r.body["results"][0]["action"], "updated", "{:?}", r.body);
    assert_eq!(
        s.get("/api/v1/provider-accounts/oa", &s.admin).await.body["models"][0]["pricing"]["input_per_million_tokens"],
        3.0
    );
}

#[tokio::test]
async fn seed_faq_mcp_server_create_only() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    s.role("mcp-creator", &["mcp-server:create"]).await;
    let c = s.user("creator@example.com", "mcp-creator").await;
    let existing = json!({"name": "github", "url": "https://mcp.example.com/github", "auth": {"type": "bearer", "token": "ghp_SECRET"}});
    assert_eq!(s.post("/api/v1/mcp-servers", &s.admin, existing.clone()).await.status, 201);
    // Cannot see or change any other.
    assert_eq!(s.get("/api/v1/mcp-servers/github", &c).await.status, 403);
    assert_eq!(s.get("/api/v1/mcp-servers", &c).await.body, json!([]));
    assert_eq!(s.put("/api/v1/mcp-servers/github", &c, existing).await.status, 403);
    assert_eq!(s.delete("/api/v1/mcp-servers/github", &c).await.status, 403);
    // Creates one without naming themself: cannot see it afterwards.
    let r = s.post("/api/v1/mcp-servers", &c, json!({"name": "mine-1", "url": "https://mcp.example.com/a"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/mcp-servers/mine-1", &c).await.status, 403);
    // Names themself manager while creating: may update and use it.
    let mine = json!({"name": "mine-2", "url": "https://mcp.example.com/b", "collaborators": [{"subject": "user:creator@example.com", "role": "mcp-server-manager"}]});
    assert_eq!(s.post("/api/v1/mcp-servers", &c, mine.clone()).await.status, 201);
    assert_eq!(s.get("/api/v1/mcp-servers/mine-2", &c).await.status, 200);
    let mut upd = mine.clone();
    upd["url"] = json!("https://mcp.example.com/c");
    assert_eq!(s.put("/api/v1/mcp-servers/mine-2", &c, upd).await.status, 200);
    assert!(s.check("user:creator@example.com", "mcp-server:use", "mcp-server:mine-2").await);
    // Creating "over" an existing server is a change to it, which they may not make.
    let over = json!({"name": "github", "url": "https://x.example.com", "collaborators": [{"subject": "user:creator@example.com", "role": "mcp-server-manager"}]});
    assert_eq!(s.post("/api/v1/mcp-servers", &c, over).await.status, 403);
    assert_eq!(s.get("/api/v1/mcp-servers/github", &s.admin).await.body["url"], "https://mcp.example.com/github");
}

#[tokio::test]
async fn agents_have_collaborators() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let v = s.user("viewer@example.com", "member").await;
    let agent = json!({"name": "triage", "description": "Routes tickets", "definition": {"model": "openai-main/gpt-4o", "steps": [1, 2]}, "collaborators": [{"subject": "user:viewer@example.com", "role": "agent-viewer"}]});
    assert_eq!(s.post("/api/v1/agents", &s.admin, agent.clone()).await.status, 201);
    let got = s.get("/api/v1/agents/triage", &v).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["definition"]["steps"], json!([1, 2]));
    assert_eq!(s.put("/api/v1/agents/triage", &v, agent).await.status, 403);
}

#[tokio::test]
async fn seed_faq_gateway_controls_list_and_manage() {
    let s = TestServer::start().await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml-platform", &[], &[]).await;
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    let limits = json!({"type": "gateway-rate-limiting-config", "name": "default-limits", "rules": [{"id": "per-user", "when": {"subjects": ["team:ml-platform"], "models": ["openai-main/gpt-4o"]}, "limit_to": 100, "unit": "requests_per_minute", "rate_limit_applies_per": ["user"]}]});
    assert_eq!(s.post("/api/v1/gateway-controls", &bob, limits.clone()).await.status, 403);
    let r = s.post("/api/v1/gateway-controls", &s.admin, limits.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/gateway-controls", &bob).await.body, json!([]));
    assert_eq!(s.get("/api/v1/gateway-controls/default-limits", &bob).await.status, 403);
    // "Edit default Member role ... add List Gateway Controls": every user sees them, none may change them.
    let cur = s.get("/api/v1/roles/member", &s.admin).await.body;
    let mut perms: Vec<String> = serde_json::from_value(cur["permissions"].clone()).unwrap();
    perms.push("gateway-controls:list".into());
    s.set_role_permissions("member", &perms.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(s.get("/api/v1/gateway-controls", &bob).await.body.as_array().unwrap().len(), 1);
    assert_eq!(s.get("/api/v1/gateway-controls/default-limits", &bob).await.body["rules"][0]["limit_to"], 100);
    assert_eq!(s.put("/api/v1/gateway-controls/default-limits", &bob, limits.clone()).await.status, 403);
    // Validation names the field; references must exist; regular expressions must compile.
    let bad_regex = json!({"type": "gateway-guardrails-config", "name": "re", "rules": [{"id": "r", "when": {}, "input_guardrails": [{"type": "block-regex", "pattern": "(unclosed"}]}]});
    let r = s.post("/api/v1/gateway-controls", &s.admin, bad_regex).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "rules[0].input_guardrails[0].pattern");
    let mut bad = limits.clone();
    bad["rules"][0]["limit_to"] = json!(0);
    let r = s.put("/api/v1/gateway-controls/default-limits", &s.admin, bad).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "rules[0].limit_to");
    let mut bad = limits.clone();
    bad["rules"][0]["when"]["models"] = json!(["openai-main/nope"]);
    let r = s.put("/api/v1/gateway-controls/default-limits", &s.admin, bad).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    for kind in [
        json!({"type": "gateway-budget-config", "name": "budget", "rules": [{"id": "monthly", "when": {}, "limit_to": 250.5, "unit": "cost_per_month", "mode": "audit", "alerts": {"thresholds": [50, 90]}}]}),
        json!({"type": "gateway-guardrails-config", "name": "guards", "rules": [{"id": "no-secrets", "when": {}, "input_guardrails": [{"type": "block-keywords", "keywords": ["password"]}], "output_guardrails": []}]}),
        json!({"type": "gateway-load-balancing-config", "name": "lb", "rules": [{"id": "split", "when": {"models": ["openai-main/gpt-4o"]}, "type": "weight-based-routing", "load_balance_targets": [{"target": "openai-main/gpt-4o", "weight": 70}, {"target": "openai-main/embed", "weight": 30}]}]}),
    ] {
        let r = s.post("/api/v1/gateway-controls", &s.admin, kind.clone()).await;
        assert_eq!(r.status, 201, "{kind}: {:?}", r.body);
    }
    // Deleting a model still referenced by a control is refused, naming the control.
    let mut acct = openai_account("openai-main", json!([]));
    acct.as_object_mut().unwrap().remove("auth");
    acct["models"] = json!([{"name": "embed", "model_id": "e", "types": ["embedding"]}]);
    let r = s.put("/api/v1/provider-accounts/openai-main", &s.admin, acct).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

#[tokio::test]
async fn explanations_of_a_subject_and_of_a_provider_account() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &["team:read"]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com"]).await;
    let acct = openai_account(
        "openai-main",
        json!([{"subject": "team:ml", "role": "provider-account-user"}, {"subject": "user:bob@example.com", "role": "provider-account-manager"}]),
    );
    s.post("/api/v1/provider-accounts", &s.admin, acct).await;
    let r = s.get("/api/v1/authz/subjects/user:alice@example.com/access", &alice).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let uses = r.body["entries"].as_array().unwrap().iter().find(|e| e["action"] == "use").unwrap().clone();
    assert_eq!(uses["resource"], "provider-account:openai-main");
    assert_eq!(
        uses["via"],
        json!([
            "user:alice@example.com is a member of team:ml",
            "team:ml is provider-account-user on provider-account:openai-main"
        ])
    );
    assert_eq!(s.get("/api/v1/authz/subjects/user:bob@example.com/access", &alice).await.status, 403);

    let r = s.get("/api/v1/provider-accounts/openai-main/access", &bob).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let text = r.body.to_string();
    assert!(text.contains("alice@example.com") && text.contains("team:ml"), "{text}");
    assert!(text.contains("admin@example.com"), "admins can use every model: {text}");
    assert_eq!(
        s.get("/api/v1/provider-accounts/openai-main/access", &alice).await.status,
        403,
        "users of an account do not see who else uses it"
    );
}

#[tokio::test]
async fn a_large_manifest_round_trips_through_export() {
    let s = TestServer::start().await;
    let mut docs = vec![
        "type: role\nname: ml-engineer\ndisplay_name: ML Engineer\ndescription: Uses models\npermissions: [provider-account:use-integrations, team:read]\n".to_owned(),
        "type: role\nname: member\ndisplay_name: Member\ndescription: Default role\npermissions: [user:list, team:read, role:list, gateway-controls:list]\n".to_owned(),
    ];
    for i in 0..125 {
        docs.push(format!(
            "type: user\nemail: user{i}@example.com\nrole: {}\n",
            if i % 3 == 0 { "ml-engineer" } else { "member" }
        ));
    }
    for t in 0..20 {
        let members: Vec<String> = (0..6).map(|k| format!("user{}@example.com", (t * 6 + k) % 120)).collect();
        docs.push(format!(
            "type: team\nname: team-{t}\ndescription: Team {t}\nmanagers: [{}]\nmembers: [{}]\n",
            members[0],
            members.join(", ")
        ));
        docs.push(format!(
            "type: virtual-account\nname: app-{t}\nowner_team: team-{t}\nexpires_at: 2099-01-01T00:00:00Z\n"
        ));
    }
    for p in 0..15 {
        docs.push(format!(
            "type: provider-account/openai\nname: acct-{p}\nauth: {{api_key: sk-{p}}}\nmodels:\n  - {{name: m1, model_id: gpt-4o, types: [chat], pricing: {{input_per_million_tokens: 2.5, output_per_million_tokens: 10}}}}\n  - {{name: m2, model_id: gpt-4o-mini, types: [chat], authorized_subjects: [team:team-{p}]}}\ncollaborators:\n  - {{subject: team:team-{p}, role: provider-account-user}}\n  - {{subject: virtualaccount:app-{p}, role: provider-account-user}}\n  - {{subject: user:user{p}@example.com, role: provider-account-manager}}\n"
        ));
    }
    for m in 0..10 {
        docs.push(format!("type: mcp-server/remote\nname: mcp-{m}\nurl: https://mcp.example.com/{m}\ncollaborators: [{{subject: team:team-{m}, role: mcp-server-user}}]\n"));
        docs.push(format!("type: agent\nname: agent-{m}\ndescription: Agent {m}\ndefinition: {{model: acct-{m}/m1, temperature: 0.5}}\n"));
    }
    docs.push("type: gateway-rate-limiting-config\nname: limits\nrules:\n  - {id: per-user, when: {subjects: [team:team-1], models: [acct-1/m1]}, limit_to: 100, unit: requests_per_minute, rate_limit_applies_per: [user]}\n".into());
    docs.push("type: gateway-budget-config\nname: budgets\nrules:\n  - {id: monthly, when: {}, limit_to: 500, unit: cost_per_month}\n".into());
    assert!(docs.len() > 200);
    let manifest = docs.join("---\n");
    let r = apply(&s, &manifest, false).await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let first = s.get("/api/v1/export", &s.admin).await.body.as_str().unwrap().to_owned();
    assert!(!first.contains("sk-1"), "credentials in the export");
    assert!(first.contains("input_per_million_tokens: 2.5"), "pricing missing from the export");

    // A fresh database with the same admin, fed the export, exports the same thing.
    let t = TestServer::start().await;
    let r = apply(&t, &first, false).await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let second = t.get("/api/v1/export", &t.admin).await.body.as_str().unwrap().to_owned();
    assert_eq!(first, second);
    // And applying it again changes nothing.
    let again = apply(&t, &second, false).await;
    assert!(again.body["results"].as_array().unwrap().iter().all(|r| r["action"] == "unchanged"), "{:?}", again.body);
    // Re-applying the original to the first server changes nothing but the credentials it carries, which
    // are always stored anew (comparing them with the stored ones would tell a guesser when they match).
    let same = apply(&s, &manifest, false).await;
    for r in same.body["results"].as_array().unwrap() {
        if r["type"] == "provider-account/openai" {
            assert_eq!((&r["action"], &r["changes"]), (&json!("updated"), &json!(["auth: changed"])), "{r:?}");
        } else {
            assert_eq!(r["action"], "unchanged", "{r:?}");
        }
    }
}

/// The `type` of each document of a multi-document YAML export.
fn exported_types(yaml: &str) -> Vec<String> {
    gatehouse_server::manifest::parse_documents(yaml)
        .map(|docs| docs.into_iter().map(|d| d.manifest_type.as_str().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn export_narrows_to_one_kind_or_one_object() {
    let s = TestServer::start().await;
    let manifest = r#"
type: role
name: ml-engineer
display_name: ML Engineer
description: Uses models
permissions: [team:read]
---
type: user
email: bob@example.com
role: member
---
type: team
name: ml
managers: [bob@example.com]
---
type: virtual-account
name: ml-app
owner_team: ml
---
type: provider-account/openai
name: openai-main
auth: {api_key: sk-secret-1}
models: [{name: gpt-4o, model_id: gpt-4o, types: [chat]}]
---
type: provider-account/anthropic
name: claude-main
auth: {api_key: sk-secret-2}
models: [{name: sonnet, model_id: claude-sonnet, types: [chat]}]
---
type: mcp-server/remote
name: github
url: https://mcp.example.com/github
---
type: agent
name: helper
definition: {model: openai-main/gpt-4o}
---
type: gateway-rate-limiting-config
name: limits
rules:
  - {id: per-user, when: {}, limit_to: 100, unit: requests_per_minute, rate_limit_applies_per: [user]}
---
type: gateway-budget-config
name: budgets
rules:
  - {id: monthly, when: {}, limit_to: 500, unit: cost_per_month}
"#;
    let r = apply(&s, manifest, false).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let full = s.get("/api/v1/export", &s.admin).await.body.as_str().unwrap().to_owned();
    let full_docs: Vec<&str> = full.split("---\n").filter(|d| !d.is_empty()).collect();
    let server = &s;
    let export = |query: &'static str| async move {
        let r = server.get(&format!("/api/v1/export?{query}"), &server.admin).await;
        assert_eq!(r.status, 200, "{query}: {:?}", r.body);
        r.body.as_str().unwrap_or("").to_owned()
    };

    for (query, types) in [
        ("type=provider-account", vec!["provider-account/anthropic", "provider-account/openai"]),
        ("type=provider-account/openai", vec!["provider-account/openai"]),
        ("type=mcp-server", vec!["mcp-server/remote"]),
        ("type=agent", vec!["agent"]),
        ("type=gateway-controls", vec!["gateway-budget-config", "gateway-rate-limiting-config"]),
        ("type=gateway-budget-config", vec!["gateway-budget-config"]),
        ("type=virtual-account", vec!["virtual-account"]),
        ("type=team", vec!["team"]),
        ("type=provider-account/azure-openai", vec![]),
    ] {
        let text = export(query).await;
        assert_eq!(exported_types(&text), types, "{query}");
        // Each document is exactly the one the full export prints.
        for doc in text.split("---\n").filter(|d| !d.is_empty()) {
            assert!(full_docs.contains(&doc), "{query}: {doc}");
        }
    }
    assert!(!export("type=provider-account").await.contains("sk-secret"), "credentials in the export");
    let roles = export("type=role").await;
    assert!(exported_types(&roles).iter().all(|t| t == "role") && roles.contains("name: ml-engineer"));

    // One object: its document alone, which applies back unchanged.
    let bob = export("type=user&name=bob@example.com").await;
    assert_eq!(exported_types(&bob), ["user"]);
    assert!(bob.contains("email: bob@example.com") && full_docs.contains(&&bob[4..]), "{bob}");
    let again = apply(&s, &bob, false).await;
    assert_eq!(again.body["results"][0]["action"], "unchanged", "{:?}", again.body);
    let one = export("name=openai-main").await;
    assert_eq!(exported_types(&one), ["provider-account/openai"]);
    assert_eq!(exported_types(&export("type=gateway-controls&name=limits").await), ["gateway-rate-limiting-config"]);

    // Unknown types are refused by name; a name that matches nothing readable is a 404, the same whether
    // the object is missing or hidden from the caller.
    for bad in ["widget", "provider", "provider-account/", "gateway"] {
        let r = s.get(&format!("/api/v1/export?type={bad}"), &s.admin).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], "type");
    }
    let ghost = s.get("/api/v1/export?name=ghost", &s.admin).await;
    assert_eq!(ghost.status, 404, "{:?}", ghost.body);
    assert_eq!(s.get("/api/v1/export?type=team&name=ml-app", &s.admin).await.status, 404);
    s.set_role_permissions("member", &[]).await;
    let bob_token = s.token_for("bob@example.com").await;
    let hidden = s.get("/api/v1/export?name=openai-main", &bob_token).await;
    assert_eq!(hidden.status, 404, "{:?}", hidden.body);
    assert_eq!(hidden.message(), ghost.message());
    let own = s.get("/api/v1/export?name=bob@example.com", &bob_token).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(exported_types(own.body.as_str().unwrap()), ["user"]);
    assert_eq!(s.get("/api/v1/export?colour=red", &s.admin).await.status, 400);
    let doc = s.get("/openapi.json", &s.admin).await.body;
    let params: Vec<&str> = doc["paths"]["/api/v1/export"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["type", "name"]);
}

#[tokio::test]
async fn bad_resource_manifests_are_rejected_whole() {
    let s = TestServer::start().await;
    s.team("ml", &[], &[]).await;
    let cases = [
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat]}]\ncollaborators: [{subject: team:ghosts, role: provider-account-user}]\n", "team:ghosts"),
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat]}]\ncollaborators: [{subject: team:ml, role: mcp-server-user}]\n", "collaborators[0]"),
        ("type: provider-account/openai\nname: a\nmodels: [{name: m, model_id: x, types: [chat], colour: red}]\n", "colour"),
        ("type: provider-account/gemini\nname: a\n", "provider-account/gemini"),
        ("type: gateway-rate-limiting-config\nname: l\nrules: [{id: r, when: {models: [nope/m]}, limit_to: 1, unit: requests_per_minute}]\n", "nope/m"),
        ("type: mcp-server/remote\nname: m\nurl: ftp://x\n", "url"),
    ];
    for (body, needle) in cases {
        let full = format!("type: team\nname: good-team\n---\n{body}");
        let r = apply(&s, &full, false).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.message().contains(needle) || r.body["error"]["param"].as_str().unwrap_or("").contains(needle),
            "{body}: {:?}",
            r.body
        );
        assert!(r.message().contains("document 2"), "{body}: {}", r.message());
        assert_eq!(s.get("/api/v1/teams/good-team", &s.admin).await.status, 404, "nothing applied for {body}");
    }
}

#[tokio::test]
async fn a_server_refuses_a_key_that_cannot_open_the_stored_credentials() {
    let s = TestServer::start().await;
    assert!(gatehouse_server::crypto::check_key(&s.app.snapshot(), &s.app.key).is_ok(), "nothing stored yet");
    assert_eq!(
        s.post("/api/v1/provider-accounts", &s.admin, openai_account("openai-main", json!([]))).await.status,
        201
    );
    assert!(gatehouse_server::crypto::check_key(&s.app.snapshot(), &s.app.key).is_ok());
    let other = gatehouse_server::crypto::SecretKey::from_bytes([8; 32]);
    let err = gatehouse_server::crypto::check_key(&s.app.snapshot(), &other).unwrap_err();
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
}

// ---------- gateway ----------

use gatehouse_mock_upstream::{Endpoint, MockConfig, MockHandle};

/// Accounts of three provider types on one mock upstream; `usr@example.com` is a `provider-account-user`
/// on each but `secret`, where nobody is.
async fn gateway_world(s: &TestServer) -> (MockHandle, String) {
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

fn chat_body(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

/// Posts and returns the status and the raw body (for streams).
async fn post_raw(s: &TestServer, path: &str, headers: &[(&str, &str)], body: serde_json::Value) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{}{}", s.base, path)).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The text of a chat completion stream, and whether it ended with `[DONE]`.
fn stream_text(body: &str) -> (String, bool) {
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

// ---------- request log ----------

/// A gateway request as the gateway would log it, with bodies (which the server drops unless configured).
fn gateway_request(s: &TestServer, subject: &str, model: &str, status: u16, tokens: Option<(i64, i64)>) -> RequestLog {
    RequestLog {
        at: s.now(),
        subject: subject.to_owned(),
        subject_id: None,
        token_id: "0123456789abcdef".to_owned(),
        virtual_account: subject.strip_prefix("virtualaccount:").map(str::to_owned),
        model: model.to_owned(),
        route: "chat".to_owned(),
        status,
        latency_us: 2_000,
        upstream_latency_us: Some(1_500),
        input_tokens: tokens.map(|t| t.0),
        output_tokens: tokens.map(|t| t.1),
        request_id: Some(format!("req-{subject}")),
        prompt: Some("the secret plan".to_owned()),
        completion: Some("a secret answer".to_owned()),
    }
}

/// Waits (bounded) until the background writer has stored `n` entries in all.
async fn flushed(s: &TestServer, n: u64) {
    for _ in 0..400 {
        if s.app.request_logs_written() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the request log writer stored {} of {n} entries", s.app.request_logs_written());
}

fn subjects(page: &serde_json::Value) -> Vec<String> {
    page["requests"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn request_logs_and_usage_show_each_caller_what_they_may_read() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &["bob@example.com"]).await;
    s.team("web", &[], &[]).await;
    for (va, team) in [("ml-app", "ml"), ("web-app", "web")] {
        let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": va, "owner_team": team})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let entries = [
        gateway_request(&s, "user:alice@example.com", "oa/gpt", 200, Some((10, 2))),
        gateway_request(&s, "user:bob@example.com", "oa/gpt", 200, Some((7, 1))),
        gateway_request(&s, "virtualaccount:ml-app", "an/claude", 200, Some((100, 20))),
        gateway_request(&s, "virtualaccount:ml-app", "an/claude", 502, None),
        gateway_request(&s, "virtualaccount:web-app", "oa/gpt", 200, Some((1, 1))),
        gateway_request(&s, "user:admin@example.com", "an/claude", 429, None),
    ];
    for e in entries.clone() {
        s.app.log_request(e);
    }
    flushed(&s, entries.len() as u64).await;

    // Admins see everything, newest first, without the bodies the server was not configured to keep.
    let all = s.get("/api/v1/request-logs", &s.admin).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let mut want: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
    want.reverse();
    assert_eq!(subjects(&all.body), want);
    for r in all.body["requests"].as_array().unwrap() {
        assert!(r.get("prompt").is_none() && r.get("completion").is_none(), "{r}");
    }
    assert_eq!(all.body["requests"][0]["status"], 429);
    assert_eq!(all.body["requests"][2]["virtual_account"], "ml-app");
    assert_eq!(all.body["requests"][3]["input_tokens"], 100);
    assert!(all.body["next_before_id"].is_null());

    // A member sees their own requests only, whatever the team.
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &bob).await.body), ["user:bob@example.com"]);
    // A manager of ml, whose role may manage ml's virtual accounts, sees theirs and ml-app's, not web-app's.
    let mine = s.get("/api/v1/request-logs", &alice).await.body;
    assert_eq!(subjects(&mine), ["virtualaccount:ml-app", "virtualaccount:ml-app", "user:alice@example.com"]);
    // The virtual account itself sees its own.
    let tok = s.post("/api/v1/virtual-accounts/ml-app/tokens", &alice, json!({})).await;
    let va = tok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &va).await.body).len(), 2);
    // Access is worked out live: without virtual-account:manage, alice is back to her own.
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read"]).await;
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &alice).await.body), ["user:alice@example.com"]);
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;

    // Filters and paging.
    let gpt = s.get("/api/v1/request-logs?model=oa/gpt", &s.admin).await.body;
    assert_eq!(subjects(&gpt).len(), 3);
    let page = s.get("/api/v1/request-logs?limit=4", &s.admin).await.body;
    assert_eq!(subjects(&page).len(), 4);
    let next = page["next_before_id"].as_i64().unwrap();
    let rest = s.get(&format!("/api/v1/request-logs?limit=4&before_id={next}"), &s.admin).await.body;
    assert_eq!(subjects(&rest), ["user:bob@example.com", "user:alice@example.com"]);
    let later = (s.now() + time::Duration::seconds(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = s.get(&format!("/api/v1/request-logs?since={later}"), &s.admin).await;
    assert_eq!(subjects(&r.body).len(), 0);
    for (query, param) in [("limit=0", "limit"), ("limit=1001", "limit"), ("since=yesterday", "since")] {
        let r = s.get(&format!("/api/v1/request-logs?{query}"), &s.admin).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
    assert_eq!(s.get("/api/v1/request-logs?colour=red", &s.admin).await.status, 400);
    assert_eq!(s.get("/api/v1/usage?limit=5", &s.admin).await.status, 400);

    // Usage sums per subject and model, over the same requests.
    let usage = s.get("/api/v1/usage", &alice).await;
    assert_eq!(usage.status, 200, "{:?}", usage.body);
    assert_eq!(
        usage.body["usage"],
        json!([
            {"subject": "user:alice@example.com", "model": "oa/gpt", "requests": 1, "errors": 0,
             "input_tokens": 10, "output_tokens": 2, "avg_latency_us": 2000.0, "cost_usd": null},
            {"subject": "virtualaccount:ml-app", "model": "an/claude", "requests": 2, "errors": 1,
             "input_tokens": 100, "output_tokens": 20, "avg_latency_us": 2000.0, "cost_usd": null},
        ])
    );
    let claude = s.get("/api/v1/usage?model=an/claude", &s.admin).await.body;
    let rows: Vec<(&str, i64, i64)> = claude["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["subject"].as_str().unwrap(), r["requests"].as_i64().unwrap(), r["errors"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, [("user:admin@example.com", 1, 1), ("virtualaccount:ml-app", 2, 1)]);
    assert_eq!(s.get("/api/v1/usage", &bob).await.body["usage"].as_array().unwrap().len(), 1);

    let doc = s.get("/openapi.json", &s.admin).await.body;
    for path in ["/api/v1/request-logs", "/api/v1/usage"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing from the OpenAPI document");
    }
    assert_eq!(s.app.request_logs_dropped(), 0);
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn usage_series_buckets_groups_and_prices_what_each_caller_may_read() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &["bob@example.com"]).await;
    let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "ml-app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let priced =
        |input: f64, output: f64| json!({"input_per_million_tokens": input, "output_per_million_tokens": output});
    for body in [
        json!({"type": "openai", "name": "oa", "models": [
            {"name": "gpt", "model_id": "gpt-4o", "types": ["chat"], "pricing": priced(2.5, 10.0)},
            {"name": "mini", "model_id": "gpt-4o-mini", "types": ["chat"], "pricing": priced(1.0, 2.0)}]}),
        json!({"type": "anthropic", "name": "an", "models": [{"name": "claude", "model_id": "claude", "types": ["chat"]}]}),
    ] {
        let r = s.post("/api/v1/provider-accounts", &s.admin, body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // The test clock stands at a whole UTC hour.
    let now = s.now();
    let hour = |h: i64| now + time::Duration::hours(h);
    let at = |when: time::OffsetDateTime, mut log: RequestLog| {
        log.at = when;
        log
    };
    let entries = [
        at(
            hour(-2) + time::Duration::seconds(10),
            gateway_request(&s, "user:alice@example.com", "oa/gpt", 200, Some((1_000_000, 100_000))),
        ),
        at(
            hour(-2) + time::Duration::seconds(20),
            gateway_request(&s, "user:alice@example.com", "oa/mini", 200, Some((1_000_000, 1_000_000))),
        ),
        at(
            hour(-2) + time::Duration::seconds(30),
            gateway_request(&s, "user:alice@example.com", "an/claude", 200, Some((5, 5))),
        ),
        at(hour(-1), gateway_request(&s, "user:bob@example.com", "oa/gpt", 200, Some((2_000_000, 0)))),
        at(now + time::Duration::minutes(5), gateway_request(&s, "virtualaccount:ml-app", "an/claude", 502, None)),
        at(hour(-72), gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, Some((4, 4)))),
    ];
    for e in entries.clone() {
        s.app.log_request(e);
    }
    flushed(&s, entries.len() as u64).await;
    let point = |start: time::OffsetDateTime,
                 key: &str,
                 requests: i64,
                 errors: i64,
                 input: i64,
                 output: i64,
                 cost: serde_json::Value| {
        json!({"start": rfc3339(start), "key": key, "requests": requests, "errors": errors,
               "input_tokens": input, "output_tokens": output, "cost_usd": cost})
    };

    // Defaults: hourly, per model, the 24 hours up to the end of the current one.
    let r = s.get("/api/v1/usage/series", &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"bucket": "hour", "group_by": "model", "since": rfc3339(hour(-23)), "until": rfc3339(hour(1)), "series": [
            point(hour(-2), "an/claude", 1, 0, 5, 5, json!(null)),
            point(hour(-2), "oa/gpt", 1, 0, 1_000_000, 100_000, json!(3.5)),
            point(hour(-2), "oa/mini", 1, 0, 1_000_000, 1_000_000, json!(3.0)),
            point(hour(-1), "oa/gpt", 1, 0, 2_000_000, 0, json!(5.0)),
            point(now, "an/claude", 1, 1, 0, 0, json!(null)),
        ]})
    );
    // Per subject, each model's tokens at its own price; models without pricing add nothing, and a group
    // of only such models has no cost.
    let r = s.get("/api/v1/usage/series?group_by=subject", &s.admin).await;
    assert_eq!(
        r.body["series"],
        json!([
            point(hour(-2), "user:alice@example.com", 3, 0, 2_000_005, 1_100_005, json!(6.5)),
            point(hour(-1), "user:bob@example.com", 1, 0, 2_000_000, 0, json!(5.0)),
            point(now, "virtualaccount:ml-app", 1, 1, 0, 0, json!(null)),
        ])
    );
    // Exactly the visibility of /usage: alice manages ml-app's account, bob sees his own.
    let keys = |body: &serde_json::Value| -> Vec<String> {
        body["series"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_owned()).collect()
    };
    let mine = s.get("/api/v1/usage/series?group_by=subject", &alice).await;
    assert_eq!(keys(&mine.body), ["user:alice@example.com", "virtualaccount:ml-app"]);
    assert_eq!(keys(&s.get("/api/v1/usage/series?group_by=subject", &bob).await.body), ["user:bob@example.com"]);
    // Daily buckets reach back 30 days; model narrows; an explicit window is taken as given.
    let day_start = |t: time::OffsetDateTime| t.replace_time(time::Time::MIDNIGHT);
    let r = s.get("/api/v1/usage/series?bucket=day&model=oa/gpt", &s.admin).await;
    assert_eq!(r.body["until"], rfc3339(day_start(now) + time::Duration::days(1)));
    let days: Vec<(String, i64)> = r.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_str().unwrap().to_owned(), p["requests"].as_i64().unwrap()))
        .collect();
    let mut want = vec![(rfc3339(day_start(hour(-72))), 1)];
    if day_start(hour(-2)) == day_start(hour(-1)) {
        want.push((rfc3339(day_start(hour(-1))), 2));
    } else {
        want.extend([(rfc3339(day_start(hour(-2))), 1), (rfc3339(day_start(hour(-1))), 1)]);
    }
    assert_eq!(days, want);
    let r = s.get(&format!("/api/v1/usage/series?since={}&until={}", rfc3339(hour(-1)), rfc3339(now)), &s.admin).await;
    assert_eq!(r.body["series"], json!([point(hour(-1), "oa/gpt", 1, 0, 2_000_000, 0, json!(5.0))]));

    // Bad parameters are named; a window of more than 2,000 buckets is refused with a way out.
    let long_ago = rfc3339(hour(-24 * 100));
    for (query, param) in [
        ("bucket=week".to_owned(), "bucket"),
        ("group_by=team".to_owned(), "group_by"),
        ("since=yesterday".to_owned(), "since"),
        ("until=tomorrow".to_owned(), "until"),
        (format!("since={long_ago}"), "since"),
        (format!("since={}&until={}", rfc3339(now), rfc3339(hour(-1))), "since"),
    ] {
        let r = s.get(&format!("/api/v1/usage/series?{query}"), &s.admin).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
    let r = s.get(&format!("/api/v1/usage/series?since={long_ago}"), &s.admin).await;
    assert!(r.message().contains("at most 2000") && r.message().contains("bucket=day"), "{}", r.message());
    assert_eq!(s.get(&format!("/api/v1/usage/series?bucket=day&since={long_ago}"), &s.admin).await.status, 200);

    // /usage carries the same costs.
    let usage = s.get("/api/v1/usage", &alice).await.body;
    let costs: Vec<(&str, &serde_json::Value)> =
        usage["usage"].as_array().unwrap().iter().map(|r| (r["model"].as_str().unwrap(), &r["cost_usd"])).collect();
    assert_eq!(
        costs,
        [("an/claude", &json!(null)), ("oa/gpt", &json!(3.5)), ("oa/mini", &json!(3.0)), ("an/claude", &json!(null))]
    );
    let doc = s.get("/openapi.json", &s.admin).await.body;
    assert!(doc["paths"]["/api/v1/usage/series"]["get"].is_object());
}

#[tokio::test]
async fn request_bodies_are_stored_only_when_configured() {
    let config = ServerConfig { log_bodies: true, ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    s.app.log_request(gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, Some((3, 4))));
    flushed(&s, 1).await;
    let r = s.get("/api/v1/request-logs", &s.admin).await.body;
    assert_eq!(r["requests"][0]["prompt"], "the secret plan");
    assert_eq!(r["requests"][0]["completion"], "a secret answer");
    // The helper the gateway uses follows the same setting.
    let kept = s.app.apply_body_policy(gateway_request(&s, "user:x@example.com", "oa/gpt", 200, None));
    assert!(kept.prompt.is_some());
}

#[tokio::test]
async fn a_full_request_log_drops_entries_instead_of_blocking() {
    let config = ServerConfig {
        request_log_capacity: 4,
        request_log_flush_interval: std::time::Duration::from_millis(10),
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(config).await;
    let entry = gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, None);
    assert!(s.app.apply_body_policy(entry.clone()).prompt.is_none());
    // No await in between: on this single-threaded runtime the writer cannot run, so the channel fills.
    let started = std::time::Instant::now();
    for _ in 0..100 {
        s.app.log_request(entry.clone());
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "logging must not wait for the writer");
    assert_eq!(s.app.request_logs_dropped(), 96);
    flushed(&s, 4).await;
    let r = s.get("/api/v1/request-logs", &s.admin).await.body;
    assert_eq!(subjects(&r).len(), 4);
    // Once drained there is room again.
    s.app.log_request(entry);
    flushed(&s, 5).await;
    assert_eq!(s.app.request_logs_dropped(), 96);
    assert_eq!(s.app.request_logs_lost(), 0);
}

#[tokio::test]
async fn graceful_shutdown_drains_the_request_log() {
    use gatehouse_core::clock::ManualClock;
    use std::sync::Arc;
    let db = gatehouse_store::testing::sqlite();
    let store = gatehouse_store::open(&db.url).await.unwrap();
    // Batches would wait an hour to fill: only the shutdown's drain can write these in time.
    let config =
        ServerConfig { request_log_flush_interval: std::time::Duration::from_secs(3600), ..ServerConfig::default() };
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
    let app = gatehouse_server::AppState::new(store.clone(), clock, Arc::new(gatehouse_server::OsEntropy), config, key)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gatehouse_server::serve(listener, app.clone(), async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let entry = RequestLog {
        at: app.now(),
        subject: "user:admin@example.com".into(),
        subject_id: None,
        token_id: "0123456789abcdef".into(),
        virtual_account: None,
        model: "oa/gpt".into(),
        route: "embeddings".into(),
        status: 200,
        latency_us: 10,
        upstream_latency_us: None,
        input_tokens: Some(5),
        output_tokens: None,
        request_id: None,
        prompt: None,
        completion: None,
    };
    for _ in 0..3 {
        app.log_request(entry.clone());
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.request_logs_written(), 0, "still gathering");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), served).await.unwrap().unwrap().unwrap();
    let stored = store.request_logs(&gatehouse_store::RequestLogFilter::default()).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].1, entry);
    // After shutdown the log is closed: entries are counted as dropped, never waited on.
    app.log_request(entry);
    assert_eq!(app.request_logs_dropped(), 1);
}

#[tokio::test]
async fn gateway_calls_are_written_to_the_request_log() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("compat/gpt", false)).await;
    assert_eq!(status, 200);
    let mut streamed = chat_body("claude/sonnet", true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, _) = post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], streamed).await;
    assert_eq!(status, 200);
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("secret/hidden", false)).await;
    assert_eq!(status, 403);

    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &usr).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    let find = |model: &str| rows.iter().find(|r| r["model"] == model).cloned().unwrap();
    let whole = find("compat/gpt");
    assert_eq!((whole["status"].as_u64(), whole["route"].as_str()), (Some(200), Some("chat")));
    assert!(whole["input_tokens"].as_i64().unwrap() > 0 && whole["output_tokens"].as_i64().unwrap() > 0, "{whole}");
    assert!(whole["upstream_latency_us"].as_i64().is_some());
    assert_eq!(whole["subject"], "user:usr@example.com");
    let stream = find("claude/sonnet");
    assert_eq!(stream["status"].as_u64(), Some(200));
    assert!(stream["output_tokens"].as_i64().unwrap() > 0, "{stream}");
    let denied = find("secret/hidden");
    assert_eq!(denied["status"].as_u64(), Some(403));
    assert!(denied.get("prompt").is_none_or(|p| p.is_null()), "bodies are not stored by default");
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
