//! What the console's forms rely on: a `creator_cannot_read` warning when a create-only caller creates what
//! they cannot read (none once they name themself manager, none for an admin), and the connection tests of
//! unsaved provider accounts and MCP servers (against the mock upstream, and a dead port), which save nothing
//! and need the permission the write needs.

use gatehouse_mock_upstream::MockConfig;
use serde_json::{json, Value};

use crate::common::apply::apply;
use crate::common::TestServer;

/// A port nothing listens on: bound, then let go.
async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn codes(warnings: &Value) -> Vec<String> {
    warnings.as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_create_only_caller_is_warned_and_can_name_themself_manager() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    s.role("creators", &["mcp-server:create", "provider-account:create", "agent:create"]).await;
    let c = s.user("creator@example.com", "creators").await;

    let r = s.post("/api/v1/mcp-servers", &c, json!({"name": "blind", "url": "https://mcp.example.com/a"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(codes(&r.body["warnings"]), ["creator_cannot_read"]);
    assert_eq!(r.body["warnings"][0]["resource"], "mcp-server:blind");
    let message = r.body["warnings"][0]["message"].as_str().unwrap();
    assert!(message.contains("blind") && message.contains("mcp-server-manager"), "{message}");
    assert_eq!(s.get("/api/v1/mcp-servers/blind", &c).await.status, 403);

    let me = json!([{"subject": "user:creator@example.com", "role": "provider-account-manager"}]);
    let acct = json!({"type": "openai-compatible", "name": "seen", "base_url": "http://127.0.0.1:9/v1",
                      "models": [{"name": "m", "model_id": "m", "types": ["chat"]}], "collaborators": me});
    let r = s.post("/api/v1/provider-accounts", &c, acct.clone()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["warnings"], json!([]));
    // The answer can be sent back as it is: `warnings` is read-only.
    let mut back = s.get("/api/v1/provider-accounts/seen", &c).await.body;
    back["warnings"] = r.body["warnings"].clone();
    assert_eq!(s.put("/api/v1/provider-accounts/seen", &c, back).await.status, 200);

    // Apply says the same per object, in a dry run before anything is saved.
    let yaml = "type: agent\nname: ghost\ndefinition: {model: x}\n---\ntype: agent\nname: kept\ndefinition: {model: x}\ncollaborators:\n  - {subject: 'user:creator@example.com', role: agent-manager}\n";
    let r = s.raw(reqwest::Method::PUT, "/api/v1/apply?dry_run=true", Some(&c), Some(yaml.as_bytes().to_vec())).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let by_name =
        |name: &str| r.body["results"].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap().clone();
    assert_eq!(codes(&by_name("ghost")["warnings"]), ["creator_cannot_read"]);
    assert_eq!(by_name("kept")["warnings"], json!([]));
    assert_eq!(s.get("/api/v1/agents/ghost", &s.admin).await.status, 404);
}

#[tokio::test]
async fn an_admin_is_not_warned() {
    let s = TestServer::start().await;
    let r = s.post("/api/v1/mcp-servers", &s.admin, json!({"name": "plain", "url": "https://mcp.example.com/a"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["warnings"], json!([]));
    let r = apply(&s, "type: agent\nname: a1\ndefinition: {model: x}\n", false).await;
    assert_eq!(r.body["results"][0]["warnings"], json!([]), "{:?}", r.body);
}

#[tokio::test]
async fn a_provider_account_test_lists_the_mock_models_and_saves_nothing() {
    let s = TestServer::start().await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let base = mock.base_url();
    let acct = json!({"type": "openai-compatible", "name": "tested", "base_url": format!("{base}/v1"),
                      "auth": {"api_key": "sk-test-connection-key"},
                      "models": [{"name": "m", "model_id": "m", "types": ["chat"]}]});
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, acct.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], true, "{:?}", r.body);
    let models: Vec<&str> = r.body["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(models.contains(&"gpt-4o") && models.contains(&"mock-model"), "{models:?}");
    assert_eq!(s.get("/api/v1/provider-accounts/tested", &s.admin).await.status, 404);

    // Anthropic's shape, from its own headers.
    let claude = json!({"type": "anthropic", "name": "c", "base_url": base, "auth": {"api_key": "sk-ant-key"},
                        "models": [{"name": "s", "model_id": "s", "types": ["chat"]}]});
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, claude).await;
    assert_eq!(r.body["ok"], true, "{:?}", r.body);
    assert_eq!(r.body["models"][0], "claude-sonnet-4-20250514");

    // The mock refuses a call without a key: the provider's own words come back, not an error status.
    let mut keyless = acct.clone();
    keyless.as_object_mut().unwrap().remove("auth");
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, keyless).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], false);
    assert!(r.body["error"].as_str().unwrap().contains("401"), "{:?}", r.body);

    // An existing account without `auth` in the body is tested with its stored credentials.
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await.status, 201);
    let mut stored = acct.clone();
    stored.as_object_mut().unwrap().remove("auth");
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, stored.clone()).await;
    assert_eq!(r.body["ok"], true, "{:?}", r.body);
    assert!(!r.body.to_string().contains("sk-test-connection-key"));
    // ...but never sent to a new destination.
    stored["base_url"] = json!(format!("http://127.0.0.1:{}/v1", dead_port().await));
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, stored).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[tokio::test]
async fn a_dead_port_is_a_clear_error() {
    let s = TestServer::start().await;
    let port = dead_port().await;
    let acct = json!({"type": "openai-compatible", "name": "dead", "base_url": format!("http://127.0.0.1:{port}/v1"),
                      "models": [{"name": "m", "model_id": "m", "types": ["chat"]}]});
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, acct).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], false);
    assert!(r.body["error"].as_str().unwrap().contains("could not be reached"), "{:?}", r.body);
    assert!(r.body.get("models").is_none());

    let server = json!({"name": "dead-mcp", "url": format!("http://127.0.0.1:{port}/mcp")});
    let r = s.post("/api/v1/test-connection/mcp-servers", &s.admin, server).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], false);
    assert!(r.body["error"].as_str().unwrap().contains("dead-mcp"), "{:?}", r.body);
    assert_eq!(s.get("/api/v1/mcp-servers/dead-mcp", &s.admin).await.status, 404);
}

#[tokio::test]
async fn an_mcp_server_test_lists_its_tools_and_saves_nothing() {
    let s = TestServer::start().await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let server = json!({"name": "tools-test", "url": format!("{}/mcp", mock.base_url()),
                        "auth": {"type": "bearer", "token": "mcp-test-token"}, "tools": ["echo"]});
    let r = s.post("/api/v1/test-connection/mcp-servers", &s.admin, server.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ok"], true, "{:?}", r.body);
    let tools = r.body["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "add"]);
    assert_eq!(tools[0]["enabled"], true);
    assert_eq!(tools[1]["enabled"], false);
    assert_eq!(s.get("/api/v1/mcp-servers/tools-test", &s.admin).await.status, 404);

    // Without credentials the mock refuses: a failure, said plainly.
    let mut bare = server.clone();
    bare.as_object_mut().unwrap().remove("auth");
    let r = s.post("/api/v1/test-connection/mcp-servers", &s.admin, bare).await;
    assert_eq!(r.body["ok"], false, "{:?}", r.body);
}

#[tokio::test]
async fn a_test_needs_the_permission_the_write_needs() {
    let s = TestServer::start().await;
    s.set_role_permissions("member", &[]).await;
    let nobody = s.user("nobody@example.com", "member").await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let acct = json!({"type": "openai-compatible", "name": "p", "base_url": format!("{}/v1", mock.base_url()),
                      "models": [{"name": "m", "model_id": "m", "types": ["chat"]}]});
    let r = s.post("/api/v1/test-connection/provider-accounts", &nobody, acct.clone()).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let server = json!({"name": "q", "url": format!("{}/mcp", mock.base_url())});
    assert_eq!(s.post("/api/v1/test-connection/mcp-servers", &nobody, server).await.status, 403);
    // Nothing reached the upstream.
    let seen: Value = reqwest::get(format!("{}/__mock/requests", mock.base_url())).await.unwrap().json().await.unwrap();
    assert_eq!(seen.as_array().map(Vec::len), Some(0), "{seen}");

    // An existing account: manage on it, not create, is what counts.
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, acct.clone()).await.status, 201);
    s.role("p-creator", &["provider-account:create"]).await;
    let creator = s.user("pc@example.com", "p-creator").await;
    assert_eq!(s.post("/api/v1/test-connection/provider-accounts", &creator, acct).await.status, 403);

    // Bad input names the field.
    let r = s.post("/api/v1/test-connection/provider-accounts", &s.admin, json!({"type": "nope", "name": "x"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["param"], "type", "{:?}", r.body);
}

#[tokio::test]
async fn manifests_parse_to_objects() {
    let s = TestServer::start().await;
    let yaml =
        "type: mcp-server/remote\nname: a\nurl: https://x.example.com\ntools: [echo]\n---\ntype: agent\nname: b\n";
    let r =
        s.raw(reqwest::Method::POST, "/api/v1/manifests/parse", Some(&s.admin), Some(yaml.as_bytes().to_vec())).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["documents"][0],
        json!({"type": "mcp-server/remote", "name": "a", "url": "https://x.example.com", "tools": ["echo"]})
    );
    assert_eq!(r.body["documents"][1]["type"], "agent");
    let r = s.raw(reqwest::Method::POST, "/api/v1/manifests/parse", Some(&s.admin), Some(b"name: [".to_vec())).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}
