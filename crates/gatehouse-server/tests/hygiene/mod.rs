//! Request hygiene: malformed bodies, and the OpenAPI document.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

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
