//! The audit log.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

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
