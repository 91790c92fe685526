//! Explanations come from the deciding code (per-model narrowing included), and the resource-type catalogue
//! drives the collections, manifests and export.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn an_explanation_leaves_out_a_model_narrowed_to_someone_else() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com", "member").await;
    s.user("bob@example.com", "member").await;
    s.team("ml", &[], &["alice@example.com", "bob@example.com"]).await;
    let acct = json!({"type": "openai", "name": "acct", "auth": {"api_key": "sk"},
        "models": [{"name": "open", "model_id": "gpt-4o", "types": ["chat"]},
                   {"name": "narrow", "model_id": "gpt-4o", "types": ["chat"], "authorized_subjects": ["user:bob@example.com"]}],
        "collaborators": [{"subject": "team:ml", "role": "provider-account-user"}]});
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct).await.status, 201);
    let uses = |body: &serde_json::Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "use")
            .map(|e| e["resource"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = s.get("/api/v1/authz/subjects/user:alice@example.com/access", &alice).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = uses(&r.body);
    assert!(a.contains(&"model:acct/open".to_owned()), "{a:?}");
    assert!(!a.contains(&"model:acct/narrow".to_owned()), "narrowed to bob: {a:?}");
    let r = s.get("/api/v1/authz/subjects/user:bob@example.com/access", &s.admin).await;
    let b = uses(&r.body);
    assert!(b.contains(&"model:acct/narrow".to_owned()), "{b:?}");
    let entries = r.body["entries"].as_array().unwrap();
    let narrow = entries.iter().find(|e| e["resource"] == "model:acct/narrow").unwrap();
    assert_eq!(
        narrow["via"],
        json!([
            "user:bob@example.com is a member of team:ml",
            "team:ml is provider-account-user on provider-account:acct"
        ])
    );
}

#[tokio::test]
async fn export_families_and_unknown_types_come_from_the_catalogue() {
    let s = TestServer::start().await;
    let r = s.get("/api/v1/export?type=widget", &s.admin).await;
    assert_eq!(r.status, 400);
    let msg = r.body["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains(
            "provider-account, mcp-server, gateway-controls, role, user, team, virtual-account, provider-account/openai"
        ),
        "{msg}"
    );
    for t in ["provider-account", "mcp-server", "gateway-controls", "agent", "mcp-server/remote", "user"] {
        assert_eq!(s.get(&format!("/api/v1/export?type={t}"), &s.admin).await.status, 200, "{t}");
    }
}
