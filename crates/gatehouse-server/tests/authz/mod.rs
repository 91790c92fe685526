//! The engine endpoint (`/authz/check`, `/authz/checks`), identity and lists.

use serde_json::json;

use crate::common::TestServer;

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
