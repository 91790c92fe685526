//! `GET /api/v1/mcp-servers/{name}/tools`: what the caller may call, listed through the gateway with their
//! own access, refused like the proxy refuses, and an upstream's failure told without its secrets.

use serde_json::{json, Value};

use super::upstream;
use crate::common::TestServer;

fn names(body: &Value) -> Vec<&str> {
    body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_tools_a_caller_may_call_are_listed_through_the_gateway() {
    let s = TestServer::start().await;
    let (url, seen) = upstream().await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    let grant = json!([{"subject": "user:alice@example.com", "role": "mcp-server-user"}]);
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "remote", "name": "up", "url": url, "tools": ["add"],
                   "auth": {"type": "bearer", "token": "key-upstream-123"}, "collaborators": grant}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "virtual", "name": "triage", "tools": [{"server": "up", "tool": "add", "as": "plus"},
                   {"server": "up", "tool": "drop_db"}], "collaborators": grant}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // The manifest's filter: `drop_db` is the upstream's, not the caller's.
    let r = s.get("/api/v1/mcp-servers/up/tools", &alice).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["server"], "up");
    assert_eq!(r.body["type"], "remote");
    assert_eq!(names(&r.body), ["add"]);
    assert_eq!(r.body["tools"][0]["input_schema"], json!({"type": "object"}));
    // It went through the gateway's upstream path: the server's credential, never the caller's token.
    let listed = seen.lock().unwrap().iter().filter(|(_, m)| m["method"] == "tools/list").count();
    assert_eq!(listed, 1);
    for (h, _) in seen.lock().unwrap().iter() {
        assert_eq!(h["authorization"], "Bearer key-upstream-123");
    }
    // A virtual server's own names, and only the tools its remote server enables.
    let r = s.get("/api/v1/mcp-servers/triage/tools", &alice).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["type"], "virtual");
    assert_eq!(names(&r.body), ["plus"]);

    // Refused as the proxy refuses: the same 403 whether or not the server exists.
    let denied = s.get("/api/v1/mcp-servers/up/tools", &bob).await;
    let missing = s.get("/api/v1/mcp-servers/nothing/tools", &bob).await;
    for r in [&denied, &missing] {
        assert_eq!(r.status, 403, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "mcp_server_access_denied");
    }
    assert_eq!(denied.message().replace("up", "X"), missing.message().replace("nothing", "X"));
    // Those who may read every server learn nothing new from a 404.
    let r = s.get("/api/v1/mcp-servers/nothing/tools", &s.admin).await;
    assert_eq!(r.status, 404, "{:?}", r.body);

    // An upstream that cannot be reached: a 502 naming the server, not its address or credential.
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "remote", "name": "dead", "url": "http://127.0.0.1:9/mcp?key=url-secret-456",
                   "auth": {"type": "bearer", "token": "key-dead-789"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = s.get("/api/v1/mcp-servers/dead/tools", &s.admin).await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "upstream_failed");
    let text = r.body.to_string();
    assert!(r.message().contains("MCP server dead"), "{text}");
    for secret in ["127.0.0.1:9", "url-secret-456", "key-dead-789"] {
        assert!(!text.contains(secret), "{text}");
    }

    // Documented.
    let doc = s.get("/openapi.json", &s.admin).await.body;
    assert!(doc["paths"]["/api/v1/mcp-servers/{name}/tools"]["get"].is_object());
    assert!(doc["components"]["schemas"]["McpToolsOut"].is_object());
}
