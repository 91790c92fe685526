//! Guardrails on tool calls (`when.mcp_servers`): arguments checked before the call (a block never reaches
//! the upstream, a redaction is what it receives), results after it; rules for models leave tools alone;
//! verdicts in the request log and, with the limits', in the answer's headers.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::Seen;
use crate::common::TestServer;

/// An MCP server whose tool `echo` answers `echo: <arguments.text>`, as text and as structured content.
async fn echo_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/mcp",
        post(move |headers: axum::http::HeaderMap, Json(m): Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((headers, m.clone()));
                let text = format!("echo: {}", m["params"]["arguments"]["text"].as_str().unwrap_or(""));
                let result = match m["method"].as_str() {
                    Some("tools/call") => {
                        json!({"content": [{"type": "text", "text": text}], "structuredContent": {"said": text}})
                    }
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

struct Answer {
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}

async fn call(s: &TestServer, token: &str, server: &str, text: &str) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": text}}});
    let r = reqwest::Client::new().post(format!("{}/mcp/{server}", s.base)).bearer_auth(token).json(&body).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 200);
    Answer { headers: r.headers().clone(), body: r.json().await.unwrap() }
}

fn sent(seen: &Seen) -> Vec<String> {
    let seen = seen.lock().unwrap();
    seen.iter()
        .filter(|(_, m)| m["method"] == "tools/call")
        .map(|(_, m)| m["params"]["arguments"]["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn guardrails_check_tool_arguments_and_results() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com", "member").await;
    let (url, seen) = echo_upstream().await;
    let grant = json!([{"subject": "user:alice@example.com", "role": "mcp-server-user"}]);
    for (name, url) in [("up", url.clone()), ("other", url)] {
        let r = s
            .post(
                "/api/v1/mcp-servers",
                &s.admin,
                json!({"type": "remote", "name": name, "url": url, "collaborators": grant}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "virtual", "name": "v", "tools": [{"server": "up", "tool": "echo", "as": "echo"}],
                   "collaborators": grant}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // A rule for one tool of `up`, one that only audits, and one with no `when`: that one is for models.
    let g = json!({"type": "gateway-guardrails-config", "name": "g", "rules": [
        {"id": "tools", "when": {"mcp_servers": ["up/echo"]},
         "input_guardrails": [{"type": "block-keywords", "keywords": ["drop table"]},
                              {"type": "redact-pii", "entities": ["email"]}],
         "output_guardrails": [{"type": "block-keywords", "keywords": ["TOPSECRET"]},
                               {"type": "redact-pii", "entities": ["credit_card"]}]},
        {"id": "watch", "when": {"mcp_servers": ["up"]},
         "input_guardrails": [{"type": "block-keywords", "keywords": ["weather"], "strategy": "audit"}]},
        {"id": "models", "input_guardrails": [{"type": "block-keywords", "keywords": ["echo", "hello"]}]}
    ]});
    let r = s.post("/api/v1/gateway-controls", &s.admin, g).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let l = json!({"type": "gateway-rate-limiting-config", "name": "l", "rules": [
        {"id": "up", "when": {"mcp_servers": ["up"]}, "limit_to": 100, "unit": "requests_per_minute"}]});
    let r = s.post("/api/v1/gateway-controls", &s.admin, l).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Redacted on the way in: the upstream receives the redacted arguments.
    let a = call(&s, &alice, "up", "hello, mail bob@example.com").await;
    assert_eq!(sent(&seen), ["hello, mail [REDACTED:email]"]);
    assert_eq!(a.body["result"]["content"][0]["text"], "echo: hello, mail [REDACTED:email]", "{}", a.body);
    assert_eq!(
        a.header("x-gatehouse-applied-controls"),
        "rate-limit:l/up, guardrail:g/tools;redacted, guardrail:g/watch"
    );
    assert_eq!(a.header("x-ratelimit-limit-requests"), "100");
    assert_eq!(a.header("x-ratelimit-remaining-requests"), "99");
    assert!(a.header("x-ratelimit-reset-requests").ends_with('s'));

    // Blocked on the way in: a JSON-RPC error naming the rule and check, not the text; nothing sent.
    let a = call(&s, &alice, "up", "please DROP TABLE users").await;
    assert_eq!(a.body["error"]["code"], -32040, "{}", a.body);
    assert_eq!(
        a.body["error"]["message"],
        "guardrail g/tools blocked the input: the block-keywords check (input_guardrails[0]) found a blocked keyword"
    );
    assert_eq!(a.body["error"]["data"]["rule"], "g/tools");
    assert!(!a.body.to_string().to_lowercase().contains("drop table"));
    assert_eq!(sent(&seen).len(), 1, "a blocked call reached the upstream");
    assert_eq!(
        a.header("x-gatehouse-applied-controls"),
        "rate-limit:l/up, guardrail:g/tools;blocked, guardrail:g/watch"
    );

    // Results: redacted in the text and in the structured content, or blocked.
    let a = call(&s, &alice, "up", "card 4111 1111 1111 1111").await;
    assert_eq!(a.body["result"]["content"][0]["text"], "echo: card [REDACTED:credit_card]", "{}", a.body);
    assert_eq!(a.body["result"]["structuredContent"]["said"], "echo: card [REDACTED:credit_card]");
    let a = call(&s, &alice, "up", "the TOPSECRET plan").await;
    assert_eq!(a.body["error"]["code"], -32040, "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("blocked the output"), "{}", a.body);
    assert!(!a.body.to_string().contains("plan"));
    assert_eq!(sent(&seen).len(), 3, "the call was made: its result was blocked");

    // Audit: flagged, passed through.
    let a = call(&s, &alice, "up", "the weather").await;
    assert_eq!(a.body["result"]["content"][0]["text"], "echo: the weather");
    assert!(a.header("x-gatehouse-applied-controls").contains("guardrail:g/watch;flagged"));

    // Another server: no tool rule applies, and the model rule does not either.
    let a = call(&s, &alice, "other", "drop table, echo, bob@example.com").await;
    assert_eq!(a.body["result"]["content"][0]["text"], "echo: drop table, echo, bob@example.com", "{}", a.body);
    assert_eq!(a.header("x-gatehouse-applied-controls"), "");
    assert_eq!(a.header("x-ratelimit-limit-requests"), "");

    // A virtual server's tool is checked by the rules of the tool behind it.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}});
    let r = reqwest::Client::new().post(format!("{}/mcp/v", s.base)).bearer_auth(&alice).json(&init).send().await;
    let sid = r.unwrap().headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "drop table"}}});
    let r = reqwest::Client::new()
        .post(format!("{}/mcp/v", s.base))
        .bearer_auth(&alice)
        .header("mcp-session-id", &sid)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["x-gatehouse-applied-controls"].to_str().unwrap().contains("guardrail:g/tools;blocked"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["data"]["code"], "guardrail_blocked", "{v}");

    // The request log: blocks refused by their rule.
    let rows = super::limits::logged(&s, 7).await;
    let blocked: Vec<&Value> = rows.iter().filter(|r| r["refused_by"] == "g/tools").collect();
    assert_eq!(blocked.len(), 3, "{rows:?}");
    assert!(blocked.iter().all(|r| r["status"] == 400 && r["route"] == "mcp"), "{blocked:?}");
    let _ = Mutex::new(());
}
