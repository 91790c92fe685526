//! Explanations of a subject's access and of a resource's.

use serde_json::json;

use crate::common::resources::openai_account;
use crate::common::TestServer;

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
