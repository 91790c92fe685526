//! The permission catalogue, default and custom roles.

use serde_json::json;

use crate::common::TestServer;

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
