//! Rate limits on tool calls (`when.mcp_servers`): refused by the gateway before the upstream, apart from
//! model calls both ways, shared with a virtual server's tools, and the rules checked when written.

use std::time::Duration;

use serde_json::{json, Value};

use super::{upstream, Seen};
use crate::common::TestServer;

async fn post(
    s: &TestServer,
    token: &str,
    server: &str,
    session: Option<&str>,
    meta: Option<&str>,
    body: Value,
) -> (u16, Value, Option<String>) {
    let mut rb = reqwest::Client::new().post(format!("{}/mcp/{server}", s.base)).bearer_auth(token).json(&body);
    if let Some(id) = session {
        rb = rb.header("mcp-session-id", id);
    }
    if let Some(m) = meta {
        rb = rb.header("x-gatehouse-metadata", m);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap(), sid)
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

/// Tool calls that reached an upstream.
fn calls(seen: &Seen) -> usize {
    seen.lock().unwrap().iter().filter(|(_, m)| m["method"] == "tools/call").count()
}

async fn control(s: &TestServer, body: Value) -> crate::common::Resp {
    s.post("/api/v1/gateway-controls", &s.admin, body).await
}

/// Remote servers `alpha` and `beta` on two recording upstreams, which `alice` may use.
async fn servers(s: &TestServer) -> (String, Seen, Seen) {
    let alice = s.user("alice@example.com", "member").await;
    let (a, seen_a) = upstream().await;
    let (b, seen_b) = upstream().await;
    for (name, url) in [("alpha", a), ("beta", b)] {
        let r = s
            .post(
                "/api/v1/mcp-servers",
                &s.admin,
                json!({"type": "remote", "name": name, "url": url,
                       "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    (alice, seen_a, seen_b)
}

async fn chat(s: &TestServer, token: &str) -> u16 {
    let body = json!({"model": "acct/m", "messages": [{"role": "user", "content": "hi"}]});
    let r = reqwest::Client::new().post(format!("{}/v1/chat/completions", s.base)).bearer_auth(token).json(&body);
    r.send().await.unwrap().status().as_u16()
}

pub async fn logged(s: &TestServer, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let rows = s.get("/api/v1/request-logs?limit=100", &s.admin).await.body["requests"].clone();
        if rows.as_array().is_some_and(|r| r.len() >= n) {
            return rows.as_array().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the request log never held {n} entries");
}

#[tokio::test]
async fn the_call_over_a_tool_limit_never_reaches_the_upstream_and_models_are_counted_apart() {
    let s = TestServer::start().await;
    let (alice, seen_a, seen_b) = servers(&s).await;
    let mock = gatehouse_mock_upstream::start(gatehouse_mock_upstream::MockConfig::default()).await;
    let account = json!({"type": "openai-compatible", "name": "acct", "base_url": format!("{}/v1", mock.base_url()),
        "auth": {"api_key": "sk-test"}, "models": [{"name": "m", "model_id": "mock-tokens-7", "types": ["chat"]}],
        "collaborators": [{"subject": "user:alice@example.com", "role": "provider-account-user"}]});
    assert_eq!(s.post("/api/v1/provider-accounts", &s.admin, account).await.status, 201);
    let tools = json!({"type": "gateway-rate-limiting-config", "name": "tools", "rules": [
        {"id": "alpha-add", "when": {"mcp_servers": ["alpha/add"]}, "limit_to": 2, "unit": "requests_per_minute",
         "rate_limit_applies_per": ["user"]}]});
    assert_eq!(control(&s, tools).await.status, 201);
    // A default for models, matching every call: it must not count tool calls.
    let models = json!({"type": "gateway-rate-limiting-config", "name": "models", "rules": [
        {"id": "all", "limit_to": 2, "unit": "requests_per_minute"}]});
    assert_eq!(control(&s, models).await.status, 201);

    assert_eq!(chat(&s, &alice).await, 200);
    for _ in 0..2 {
        let (status, body, _) = post(&s, &alice, "alpha", None, None, call("add")).await;
        assert_eq!(status, 200);
        assert_eq!(body["result"]["content"][0]["type"], "text", "{body}");
    }
    assert_eq!(calls(&seen_a), 2);
    let (status, body, _) = post(&s, &alice, "alpha", None, None, call("add")).await;
    assert_eq!(status, 200, "a JSON-RPC error, not an HTTP one");
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32029, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("rate limit tools/alpha-add reached: 2 requests of 2 requests used per minute"),
        "{message}"
    );
    assert!(message.contains("try again in"), "{message}");
    assert_eq!(body["error"]["data"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["data"]["rule"], "tools/alpha-add");
    let retry = body["error"]["data"]["retry_after"].as_i64().unwrap();
    assert!((1..=65).contains(&retry), "{retry}");
    assert_eq!(calls(&seen_a), 2, "the refused call reached the upstream");

    // Another tool of the server, and the same tool of another server: not limited, and the model default
    // counted none of these.
    for _ in 0..3 {
        assert!(post(&s, &alice, "alpha", None, None, call("drop_db")).await.1.get("result").is_some());
        assert!(post(&s, &alice, "beta", None, None, call("add")).await.1.get("result").is_some());
    }
    assert_eq!((calls(&seen_a), calls(&seen_b)), (5, 3));
    // The tool limit counted no model call either: the model default is at 1 of 2.
    assert_eq!(chat(&s, &alice).await, 200);
    assert_eq!(chat(&s, &alice).await, 429);

    // In a batch, only the call over the limit is refused: the rest goes upstream without it.
    let batch =
        json!([call("add"), {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "drop_db"}}]);
    let (status, body, _) = post(&s, &alice, "alpha", None, None, batch).await;
    assert_eq!(status, 200);
    assert!(body.as_array().unwrap().iter().any(|a| a["id"] == 7 && a["error"]["code"] == -32029), "{body}");
    let forwarded = seen_a.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(forwarded.as_array().map(|a| a.len()), Some(1), "{forwarded}");
    assert_eq!(forwarded[0]["params"]["name"], "drop_db");

    // The request log: the refusal with its rule, as route mcp and `<server>/<tool>`.
    let rows = logged(&s, 14).await;
    let refused: Vec<&Value> = rows.iter().filter(|r| r["route"] == "mcp" && r["status"] == 429).collect();
    assert_eq!(refused.len(), 2, "{rows:?}");
    assert!(refused.iter().all(|r| r["model"] == "alpha/add" && r["refused_by"] == "tools/alpha-add"));
    let chat_refused = rows.iter().find(|r| r["route"] == "chat" && r["status"] == 429).unwrap();
    assert_eq!(chat_refused["refused_by"], "models/all");

    // A sliding minute later, the tool can be called again.
    s.advance(66);
    assert!(post(&s, &alice, "alpha", None, None, call("add")).await.1.get("result").is_some());
    assert_eq!(calls(&seen_a), 6);
}

#[tokio::test]
async fn virtual_servers_metadata_and_the_rules_as_written() {
    let s = TestServer::start().await;
    let (alice, seen_a, seen_b) = servers(&s).await;
    let r = s
        .post(
            "/api/v1/mcp-servers",
            &s.admin,
            json!({"type": "virtual", "name": "triage", "tools": [{"server": "alpha", "tool": "add", "as": "plus"}],
                   "collaborators": [{"subject": "user:alice@example.com", "role": "mcp-server-user"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Rules that cannot count tool calls are refused where they are written, naming the field.
    let rl = |when: Value, unit: &str| {
        json!({"type": "gateway-rate-limiting-config", "name": "bad", "rules": [
            {"id": "r", "when": when, "limit_to": 1, "unit": unit}]})
    };
    for (body, param, says) in [
        (rl(json!({"mcp_servers": ["alpha"]}), "tokens_per_minute"), "rules[0].unit", "requests_per_minute"),
        (
            rl(json!({"mcp_servers": ["gamma"]}), "requests_per_minute"),
            "rules[0].when.mcp_servers[0]",
            "does not exist",
        ),
        (
            rl(json!({"mcp_servers": ["triage/add"]}), "requests_per_minute"),
            "rules[0].when.mcp_servers[0]",
            "no tool add",
        ),
        (
            json!({"type": "gateway-budget-config", "name": "bad", "rules": [
                {"id": "r", "when": {"mcp_servers": ["alpha"]}, "limit_to": 1, "unit": "cost_per_day"}]}),
            "rules[0].when.mcp_servers",
            "gateway-rate-limiting-config",
        ),
    ] {
        let r = control(&s, body).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{:?}", r.body);
        assert!(r.message().contains(says), "{}", r.message());
    }

    // One limit on alpha's `add`, however it is reached; one on beta for production traffic only.
    let limits = json!({"type": "gateway-rate-limiting-config", "name": "tools", "rules": [
        {"id": "add", "when": {"mcp_servers": ["alpha/add"]}, "limit_to": 1, "unit": "requests_per_minute",
         "rate_limit_applies_per": ["model"]},
        {"id": "prod", "when": {"mcp_servers": ["beta"], "metadata": {"env": "prod"}}, "limit_to": 1,
         "unit": "requests_per_hour"}]});
    assert_eq!(control(&s, limits).await.status, 201);

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}});
    let (_, _, sid) = post(&s, &alice, "triage", None, None, init).await;
    let sid = sid.unwrap();
    let (_, body, _) = post(&s, &alice, "triage", Some(&sid), None, call("plus")).await;
    assert!(body.get("result").is_some(), "{body}");
    assert_eq!(calls(&seen_a), 1);
    // The direct call shares the counter of the tool behind `plus`.
    let (_, body, _) = post(&s, &alice, "alpha", None, None, call("add")).await;
    assert_eq!(body["error"]["data"]["rule"], "tools/add", "{body}");
    let (_, body, _) = post(&s, &alice, "triage", Some(&sid), None, call("plus")).await;
    assert_eq!(body["error"]["code"], -32029, "{body}");
    assert_eq!(calls(&seen_a), 1);

    // Metadata from the MCP request's header, matched as for model calls.
    let prod = Some(r#"{"env":"prod"}"#);
    assert!(post(&s, &alice, "beta", None, prod, call("add")).await.1.get("result").is_some());
    assert_eq!(post(&s, &alice, "beta", None, prod, call("add")).await.1["error"]["data"]["rule"], "tools/prod");
    assert!(post(&s, &alice, "beta", None, None, call("add")).await.1.get("result").is_some());
    let (status, body, _) = post(&s, &alice, "beta", None, Some("[1]"), call("add")).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["data"]["code"], "invalid_metadata", "{body}");
    assert_eq!(calls(&seen_b), 2);

    // What a rule names stays: the server, and a virtual server's tool it names.
    let r = s.delete("/api/v1/mcp-servers/alpha", &s.admin).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "mcp_server_in_use_by_control");
    assert!(r.message().contains("gateway control tools"), "{}", r.message());
    let pin = json!({"type": "gateway-rate-limiting-config", "name": "pin", "rules": [
        {"id": "plus", "when": {"mcp_servers": ["triage/plus"]}, "limit_to": 5, "unit": "requests_per_day"}]});
    assert_eq!(control(&s, pin).await.status, 201);
    let renamed =
        json!({"type": "virtual", "name": "triage", "tools": [{"server": "alpha", "tool": "add", "as": "sum"}]});
    let r = s.put("/api/v1/mcp-servers/triage", &s.admin, renamed).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.message().contains("triage/plus"), "{}", r.message());
}
