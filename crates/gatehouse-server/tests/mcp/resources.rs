//! Resources and prompts follow the tools rule: a remote server's manifest may enable only some; lists are
//! filtered, and reading, subscribing to or getting anything else is the gateway's JSON-RPC error, never
//! sent upstream.

use std::sync::Arc;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Seen;
use crate::common::TestServer;

/// An MCP server with three resources, two templates and two prompts; answers what it is asked.
async fn library() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/mcp",
        post(move |headers: axum::http::HeaderMap, Json(m): Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((headers, m.clone()));
                let result = match m["method"].as_str().unwrap_or("") {
                    "resources/list" => json!({"resources": [
                        {"uri": "file:///docs/readme.md", "name": "readme"},
                        {"uri": "file:///docs/secret.md", "name": "secret"},
                        {"uri": "users://42/profile", "name": "profile"}]}),
                    "resources/templates/list" => json!({"resourceTemplates": [
                        {"uriTemplate": "users://{id}/profile", "name": "profile"},
                        {"uriTemplate": "db://{table}", "name": "table"}]}),
                    "prompts/list" => json!({"prompts": [{"name": "review"}, {"name": "leak"}]}),
                    "resources/read" => json!({"contents": [{"uri": m["params"]["uri"], "text": "contents"}]}),
                    "prompts/get" => json!({"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]}),
                    _ => json!({}),
                };
                Json(json!({"jsonrpc": "2.0", "id": m["id"], "result": result}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn resources_and_prompts_are_filtered_like_tools() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com", "member").await;
    let (url, seen) = library().await;
    let server = |resources: Value, prompts: Value| {
        json!({"type": "remote", "name": "lib", "url": url, "resources": resources, "prompts": prompts,
               "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}]})
    };
    // Bad lists: a 400 naming the entry.
    for (resources, prompts, field) in [
        (json!(["readme.md"]), json!([]), "resources[0]"),
        (json!(["file:///a", "file:///a"]), json!([]), "resources[1]"),
        (json!([]), json!(["no spaces please"]), "prompts[0]"),
    ] {
        let r = s.post("/api/v1/mcp-servers", &s.admin, server(resources, prompts)).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert!(r.body.to_string().contains(field), "{field}: {:?}", r.body);
    }
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            server(json!(["file:///docs/readme.md", "users://{id}/profile"]), json!(["review"])),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let got = s.get("/api/v1/mcp-servers/lib", &s.admin).await;
    assert_eq!(got.body["prompts"], json!(["review"]), "{:?}", got.body);

    let ask = |id: u64, method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (base, alice) = (s.base.clone(), alice.clone());
        async move {
            let r = reqwest::Client::new().post(format!("{base}/mcp/lib")).bearer_auth(&alice).json(&body).send().await;
            let r = r.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let names = |a: &Value, list: &str, key: &str| -> Vec<String> {
        a["result"][list].as_array().unwrap().iter().map(|r| r[key].as_str().unwrap().to_owned()).collect()
    };
    let a = ask(1, "resources/list", json!({})).await;
    assert_eq!(names(&a, "resources", "uri"), ["file:///docs/readme.md", "users://42/profile"], "{a}");
    let a = ask(2, "resources/templates/list", json!({})).await;
    assert_eq!(names(&a, "resourceTemplates", "uriTemplate"), ["users://{id}/profile"], "{a}");
    let a = ask(3, "prompts/list", json!({})).await;
    assert_eq!(names(&a, "prompts", "name"), ["review"], "{a}");

    let a = ask(4, "resources/read", json!({"uri": "users://7/profile"})).await;
    assert_eq!(a["result"]["contents"][0]["text"], "contents", "{a}");
    let a = ask(5, "prompts/get", json!({"name": "review"})).await;
    assert_eq!(a["result"]["messages"][0]["content"]["text"], "hi", "{a}");
    let before = seen.lock().unwrap().len();
    for (id, method, params, message) in [
        (6, "resources/read", json!({"uri": "file:///docs/secret.md"}), "resource file:///docs/secret.md"),
        (7, "resources/subscribe", json!({"uri": "db://users"}), "resource db://users"),
        (8, "prompts/get", json!({"name": "leak"}), "prompt leak"),
        (
            9,
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "leak"}, "argument": {"name": "a", "value": ""}}),
            "prompt leak",
        ),
    ] {
        let a = ask(id, method, params).await;
        assert_eq!(a["id"], id);
        assert_eq!(a["error"]["code"], -32602, "{a}");
        assert_eq!(a["error"]["message"], format!("{message} is not available on MCP server lib"), "{a}");
    }
    assert_eq!(seen.lock().unwrap().len(), before, "a refused request reached the upstream");
}
