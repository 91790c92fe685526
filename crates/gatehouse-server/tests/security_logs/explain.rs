//! Explanations of someone else's access need read rights on that subject and on the resources named, not
//! only `role:list`; about yourself stays open.

use serde_json::json;

use crate::common::TestServer;

fn account(name: &str, collaborators: serde_json::Value) -> serde_json::Value {
    json!({"type": "openai", "name": name, "auth": {"api_key": "sk"},
           "models": [{"name": "gpt", "model_id": "gpt-4o", "types": ["chat"]}],
           "collaborators": collaborators})
}

#[tokio::test]
async fn explaining_someone_else_needs_read_rights_on_them_and_on_what_is_named() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &["role:list"]).await;
    s.role("directory", &["role:list", "user:list", "team:read", "virtual-account:read"]).await;
    let carol = s.user("carol@example.com", "member").await;
    let dave = s.user("dave@example.com", "directory").await;
    s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["bob@example.com"]).await;
    assert_eq!(
        s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "app", "owner_team": "ml"})).await.status,
        201
    );
    let grants = json!([{"subject": "user:bob@example.com", "role": "provider-account-user"},
                        {"subject": "team:ml", "role": "provider-account-user"},
                        {"subject": "virtualaccount:app", "role": "provider-account-user"}]);
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, account("secret-acct", grants)).await.status, 201);
    let visible = json!([{"subject": "user:dave@example.com", "role": "provider-account-user"},
                         {"subject": "user:bob@example.com", "role": "provider-account-user"}]);
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, account("shared", visible)).await.status, 201);

    // role:list alone no longer explains anyone else.
    for subject in ["user:bob@example.com", "team:ml", "virtualaccount:app", "user:ghost@example.com"] {
        let r = s.get(&format!("/api/v1/authz/subjects/{subject}/access"), &carol).await;
        assert_eq!(r.status, 403, "{subject}: {:?}", r.body);
    }
    // About yourself stays open.
    assert_eq!(s.get("/api/v1/authz/subjects/user:carol@example.com/access", &carol).await.status, 200);

    // With read rights on the subject: the explanation, without the resources the caller may not read.
    for subject in ["user:bob@example.com", "team:ml", "virtualaccount:app"] {
        let r = s.get(&format!("/api/v1/authz/subjects/{subject}/access"), &dave).await;
        assert_eq!(r.status, 200, "{subject}: {:?}", r.body);
        let text = r.body.to_string();
        assert!(!text.contains("secret-acct"), "{subject}: {text}");
    }
    let bob = s.get("/api/v1/authz/subjects/user:bob@example.com/access", &dave).await.body;
    let resources: Vec<&str> =
        bob["entries"].as_array().unwrap().iter().map(|e| e["resource"].as_str().unwrap()).collect();
    assert!(resources.contains(&"provider-account:shared"), "{bob}");
    assert!(resources.contains(&"tenant"), "{bob}");
    // An admin sees it all.
    let all = s.get("/api/v1/authz/subjects/user:bob@example.com/access", &s.admin).await.body.to_string();
    assert!(all.contains("provider-account:secret-acct"), "{all}");

    // A provider account's explanation needs provider-account:read on it, whether or not it exists.
    for name in ["secret-acct", "nosuch"] {
        let r = s.get(&format!("/api/v1/provider-accounts/{name}/access"), &dave).await;
        assert_eq!(r.status, 403, "{name}: {:?}", r.body);
    }
    let r = s.get("/api/v1/provider-accounts/shared/access", &dave).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(s.get("/api/v1/provider-accounts/secret-acct/access", &s.admin).await.status, 200);
}
