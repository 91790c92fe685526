//! The usage pages' filters: the request log, usage and usage series by user, team, virtual account and
//! model; the request log as CSV; the audit log by part of a name or action; and the playground's way in,
//! a console session calling the gateway.

use gatehouse_store::RequestLog;
use serde_json::{json, Value};

use crate::common::TestServer;

mod audit;
mod csv;
mod playground;

/// A gateway request as the gateway would log it.
pub fn logged(s: &TestServer, subject: &str, model: &str, request_id: &str) -> RequestLog {
    RequestLog {
        at: s.now(),
        subject: subject.to_owned(),
        subject_id: None,
        token_id: "0123456789abcdef".to_owned(),
        virtual_account: subject.strip_prefix("virtualaccount:").map(str::to_owned),
        model: model.to_owned(),
        route: "chat".to_owned(),
        status: 200,
        latency_us: 2_000,
        upstream_latency_us: Some(1_500),
        input_tokens: Some(10),
        output_tokens: Some(2),
        request_id: Some(request_id.to_owned()),
        prompt: None,
        completion: None,
        cost_usd: None,
        refused_by: None,
        request_bytes: Some(100),
        response_bytes: Some(200),
        guardrails: Vec::new(),
    }
}

/// Waits (bounded) until the background writer has stored `n` entries in all.
pub async fn flushed(s: &TestServer, n: u64) {
    for _ in 0..400 {
        if s.app.request_logs_written() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the request log writer stored {} of {n} entries", s.app.request_logs_written());
}

fn subjects(page: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        page["requests"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

/// Two teams, each with a virtual account, and a request of each member and account.
pub async fn world(s: &TestServer) -> (String, String) {
    let bob = s.user("bob@example.com", "member").await;
    s.user("alice@example.com", "member").await;
    let carol = s.user("carol@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &["bob@example.com"]).await;
    s.team("web", &[], &["carol@example.com"]).await;
    for (va, team) in [("ml-app", "ml"), ("web-app", "web")] {
        let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": va, "owner_team": team})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let entries = [
        logged(s, "user:alice@example.com", "oa/gpt", "r-alice"),
        logged(s, "user:bob@example.com", "oa/gpt", "r-bob"),
        logged(s, "user:carol@example.com", "an/claude", "r-carol"),
        logged(s, "virtualaccount:ml-app", "an/claude", "r-ml-app"),
        logged(s, "virtualaccount:web-app", "oa/gpt", "r-web-app"),
    ];
    let n = entries.len() as u64;
    for e in entries {
        s.app.log_request(e);
    }
    flushed(s, n).await;
    (bob, carol)
}

#[tokio::test]
async fn the_request_log_usage_and_series_filter_by_user_team_virtual_account_and_model() {
    let s = TestServer::start().await;
    let (bob, _) = world(&s).await;
    // A role without team:read, which members have for every team.
    s.role("no-teams", &["user:list"]).await;
    let dave = s.user("dave@example.com", "no-teams").await;
    let log = |q: &str| {
        let s = &s;
        let q = q.to_owned();
        async move {
            let r = s.get(&format!("/api/v1/request-logs?{q}"), &s.admin).await;
            assert_eq!(r.status, 200, "{q}: {:?}", r.body);
            subjects(&r.body)
        }
    };
    assert_eq!(log("user=bob@example.com").await, ["user:bob@example.com"]);
    // A team stands for its members and its virtual accounts.
    assert_eq!(log("team=ml").await, ["user:alice@example.com", "user:bob@example.com", "virtualaccount:ml-app"]);
    assert_eq!(log("team=ml&model=an/claude").await, ["virtualaccount:ml-app"]);
    assert_eq!(log("virtual_account=web-app").await, ["virtualaccount:web-app"]);
    assert_eq!(log("team=web&model=oa/gpt").await, ["virtualaccount:web-app"]);
    // Filters all hold at once: alice is not in web.
    assert!(log("user=alice@example.com&team=web").await.is_empty());
    assert!(log("user=alice@example.com&virtual_account=ml-app").await.is_empty());
    // Emails are compared as the server normalises them.
    assert_eq!(log("user=Bob@Example.com").await, ["user:bob@example.com"]);
    // A call's rows by their request id.
    assert_eq!(log("request_id=r-carol").await, ["user:carol@example.com"]);

    // Usage and the usage series take the same filters.
    let usage = s.get("/api/v1/usage?team=ml", &s.admin).await;
    assert_eq!(usage.status, 200, "{:?}", usage.body);
    let rows: Vec<&str> =
        usage.body["usage"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap()).collect();
    assert_eq!(rows, ["user:alice@example.com", "user:bob@example.com", "virtualaccount:ml-app"]);
    let series = s.get("/api/v1/usage/series?group_by=subject&virtual_account=web-app", &s.admin).await;
    assert_eq!(series.status, 200, "{:?}", series.body);
    let keys: Vec<&str> =
        series.body["series"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["virtualaccount:web-app"]);

    // A filter only ever narrows what the caller may read: bob asking for alice's requests gets none.
    let r = s.get("/api/v1/request-logs?user=alice@example.com", &bob).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(subjects(&r.body).is_empty());
    let r = s.get("/api/v1/usage?user=alice@example.com", &bob).await;
    assert_eq!(r.body["usage"], json!([]));

    // Bad filters are named. A team the caller may not read answers as one that does not exist.
    assert!(!s.check("user:dave@example.com", "team:read", "team:ml").await);
    for (who, q, param) in [
        (&s.admin, "team=nope", "team"),
        (&dave, "team=ml", "team"),
        (&s.admin, "user=not-an-email", "user"),
        (&s.admin, "virtual_account=Not%20A%20Name", "virtual_account"),
    ] {
        for path in ["/api/v1/request-logs", "/api/v1/usage", "/api/v1/usage/series", "/api/v1/request-logs.csv"] {
            let r = s.get(&format!("{path}?{q}"), who).await;
            assert_eq!(r.status, 400, "{path}?{q}: {:?}", r.body);
            assert_eq!(r.body["error"]["param"], param, "{path}?{q}");
        }
    }
    let nope = s.get("/api/v1/request-logs?team=nope", &s.admin).await;
    let hidden = s.get("/api/v1/request-logs?team=ml", &dave).await;
    assert_eq!(nope.message().replace("nope", "ml"), hidden.message());

    // The OpenAPI document describes the new parameters.
    let doc = s.get("/openapi.json", &s.admin).await.body;
    for path in ["/api/v1/request-logs", "/api/v1/usage", "/api/v1/usage/series", "/api/v1/request-logs.csv"] {
        let names: Vec<&str> = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for want in ["user", "team", "virtual_account", "model"] {
            assert!(names.contains(&want), "{path} lacks {want}: {names:?}");
        }
    }
}
