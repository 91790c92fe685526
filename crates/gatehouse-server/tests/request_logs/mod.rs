//! The request log and usage.

use gatehouse_server::ServerConfig;
use gatehouse_store::RequestLog;
use serde_json::json;

use crate::common::gateway::{chat_body, gateway_world, post_raw};
use crate::common::TestServer;

mod sizes;
mod stored_costs;

/// A gateway request as the gateway would log it, with bodies (which the server drops unless configured).
fn gateway_request(s: &TestServer, subject: &str, model: &str, status: u16, tokens: Option<(i64, i64)>) -> RequestLog {
    RequestLog {
        at: s.now(),
        subject: subject.to_owned(),
        subject_id: None,
        token_id: "0123456789abcdef".to_owned(),
        virtual_account: subject.strip_prefix("virtualaccount:").map(str::to_owned),
        model: model.to_owned(),
        route: "chat".to_owned(),
        status,
        latency_us: 2_000,
        upstream_latency_us: Some(1_500),
        input_tokens: tokens.map(|t| t.0),
        output_tokens: tokens.map(|t| t.1),
        request_id: Some(format!("req-{subject}")),
        prompt: Some("the secret plan".to_owned()),
        completion: Some("a secret answer".to_owned()),
        cost_usd: None,
        refused_by: None,
        request_bytes: Some(1_234),
        response_bytes: Some(5_678),
        guardrails: Vec::new(),
    }
}

/// Waits (bounded) until the background writer has stored `n` entries in all.
async fn flushed(s: &TestServer, n: u64) {
    for _ in 0..400 {
        if s.app.request_logs_written() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the request log writer stored {} of {n} entries", s.app.request_logs_written());
}

fn subjects(page: &serde_json::Value) -> Vec<String> {
    page["requests"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn request_logs_and_usage_show_each_caller_what_they_may_read() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &["bob@example.com"]).await;
    s.team("web", &[], &[]).await;
    for (va, team) in [("ml-app", "ml"), ("web-app", "web")] {
        let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": va, "owner_team": team})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let entries = [
        gateway_request(&s, "user:alice@example.com", "oa/gpt", 200, Some((10, 2))),
        gateway_request(&s, "user:bob@example.com", "oa/gpt", 200, Some((7, 1))),
        gateway_request(&s, "virtualaccount:ml-app", "an/claude", 200, Some((100, 20))),
        gateway_request(&s, "virtualaccount:ml-app", "an/claude", 502, None),
        gateway_request(&s, "virtualaccount:web-app", "oa/gpt", 200, Some((1, 1))),
        gateway_request(&s, "user:admin@example.com", "an/claude", 429, None),
    ];
    for e in entries.clone() {
        s.app.log_request(e);
    }
    flushed(&s, entries.len() as u64).await;

    // Admins see everything, newest first, without the bodies the server was not configured to keep.
    let all = s.get("/api/v1/request-logs", &s.admin).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let mut want: Vec<String> = entries.iter().map(|e| e.subject.clone()).collect();
    want.reverse();
    assert_eq!(subjects(&all.body), want);
    for r in all.body["requests"].as_array().unwrap() {
        assert!(r.get("prompt").is_none() && r.get("completion").is_none(), "{r}");
    }
    assert_eq!(all.body["requests"][0]["status"], 429);
    assert_eq!(all.body["requests"][2]["virtual_account"], "ml-app");
    assert_eq!(all.body["requests"][3]["input_tokens"], 100);
    assert!(all.body["next_before_id"].is_null());

    // A member sees their own requests only, whatever the team.
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &bob).await.body), ["user:bob@example.com"]);
    // A manager of ml, whose role may manage ml's virtual accounts, sees theirs and ml-app's, not web-app's.
    let mine = s.get("/api/v1/request-logs", &alice).await.body;
    assert_eq!(subjects(&mine), ["virtualaccount:ml-app", "virtualaccount:ml-app", "user:alice@example.com"]);
    // The virtual account itself sees its own.
    let tok = s.post("/api/v1/virtual-accounts/ml-app/tokens", &alice, json!({})).await;
    let va = tok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &va).await.body).len(), 2);
    // Access is worked out live: without virtual-account:manage, alice is back to her own.
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read"]).await;
    assert_eq!(subjects(&s.get("/api/v1/request-logs", &alice).await.body), ["user:alice@example.com"]);
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;

    // Filters and paging.
    let gpt = s.get("/api/v1/request-logs?model=oa/gpt", &s.admin).await.body;
    assert_eq!(subjects(&gpt).len(), 3);
    let page = s.get("/api/v1/request-logs?limit=4", &s.admin).await.body;
    assert_eq!(subjects(&page).len(), 4);
    let next = page["next_before_id"].as_i64().unwrap();
    let rest = s.get(&format!("/api/v1/request-logs?limit=4&before_id={next}"), &s.admin).await.body;
    assert_eq!(subjects(&rest), ["user:bob@example.com", "user:alice@example.com"]);
    let later = (s.now() + time::Duration::seconds(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = s.get(&format!("/api/v1/request-logs?since={later}"), &s.admin).await;
    assert_eq!(subjects(&r.body).len(), 0);
    for (query, param) in [("limit=0", "limit"), ("limit=1001", "limit"), ("since=yesterday", "since")] {
        let r = s.get(&format!("/api/v1/request-logs?{query}"), &s.admin).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
    assert_eq!(s.get("/api/v1/request-logs?colour=red", &s.admin).await.status, 400);
    assert_eq!(s.get("/api/v1/usage?limit=5", &s.admin).await.status, 400);

    // Usage sums per subject and model, over the same requests.
    let usage = s.get("/api/v1/usage", &alice).await;
    assert_eq!(usage.status, 200, "{:?}", usage.body);
    assert_eq!(
        usage.body["usage"],
        json!([
            {"subject": "user:alice@example.com", "model": "oa/gpt", "requests": 1, "errors": 0,
             "input_tokens": 10, "output_tokens": 2, "avg_latency_us": 2000.0, "cost_usd": null},
            {"subject": "virtualaccount:ml-app", "model": "an/claude", "requests": 2, "errors": 1,
             "input_tokens": 100, "output_tokens": 20, "avg_latency_us": 2000.0, "cost_usd": null},
        ])
    );
    let claude = s.get("/api/v1/usage?model=an/claude", &s.admin).await.body;
    let rows: Vec<(&str, i64, i64)> = claude["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["subject"].as_str().unwrap(), r["requests"].as_i64().unwrap(), r["errors"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, [("user:admin@example.com", 1, 1), ("virtualaccount:ml-app", 2, 1)]);
    assert_eq!(s.get("/api/v1/usage", &bob).await.body["usage"].as_array().unwrap().len(), 1);

    let doc = s.get("/openapi.json", &s.admin).await.body;
    for path in ["/api/v1/request-logs", "/api/v1/usage"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing from the OpenAPI document");
    }
    assert_eq!(s.app.request_logs_dropped(), 0);
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test]
async fn usage_series_buckets_groups_and_prices_what_each_caller_may_read() {
    let s = TestServer::start().await;
    s.set_role_permissions("team-manager", &["team:read", "virtual-account:read", "virtual-account:manage"]).await;
    let alice = s.user("alice@example.com", "member").await;
    let bob = s.user("bob@example.com", "member").await;
    s.team("ml", &["alice@example.com"], &["bob@example.com"]).await;
    let r = s.post("/api/v1/virtual-accounts", &s.admin, json!({"name": "ml-app", "owner_team": "ml"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let priced =
        |input: f64, output: f64| json!({"input_per_million_tokens": input, "output_per_million_tokens": output});
    for body in [
        json!({"type": "openai", "name": "oa", "models": [
            {"name": "gpt", "model_id": "gpt-4o", "types": ["chat"], "pricing": priced(2.5, 10.0)},
            {"name": "mini", "model_id": "gpt-4o-mini", "types": ["chat"], "pricing": priced(1.0, 2.0)}]}),
        json!({"type": "anthropic", "name": "an", "models": [{"name": "claude", "model_id": "claude", "types": ["chat"]}]}),
    ] {
        let r = s.post("/api/v1/provider-accounts", &s.admin, body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    // The test clock stands at a whole UTC hour.
    let now = s.now();
    let hour = |h: i64| now + time::Duration::hours(h);
    let at = |when: time::OffsetDateTime, mut log: RequestLog| {
        log.at = when;
        log
    };
    let entries = [
        at(
            hour(-2) + time::Duration::seconds(10),
            gateway_request(&s, "user:alice@example.com", "oa/gpt", 200, Some((1_000_000, 100_000))),
        ),
        at(
            hour(-2) + time::Duration::seconds(20),
            gateway_request(&s, "user:alice@example.com", "oa/mini", 200, Some((1_000_000, 1_000_000))),
        ),
        at(
            hour(-2) + time::Duration::seconds(30),
            gateway_request(&s, "user:alice@example.com", "an/claude", 200, Some((5, 5))),
        ),
        at(hour(-1), gateway_request(&s, "user:bob@example.com", "oa/gpt", 200, Some((2_000_000, 0)))),
        at(now + time::Duration::minutes(5), gateway_request(&s, "virtualaccount:ml-app", "an/claude", 502, None)),
        at(hour(-72), gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, Some((4, 4)))),
    ];
    for e in entries.clone() {
        s.app.log_request(e);
    }
    flushed(&s, entries.len() as u64).await;
    let point = |start: time::OffsetDateTime,
                 key: &str,
                 requests: i64,
                 errors: i64,
                 input: i64,
                 output: i64,
                 cost: serde_json::Value| {
        json!({"start": rfc3339(start), "key": key, "requests": requests, "errors": errors,
               "input_tokens": input, "output_tokens": output, "cost_usd": cost})
    };

    // Defaults: hourly, per model, the 24 hours up to the end of the current one.
    let r = s.get("/api/v1/usage/series", &s.admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"bucket": "hour", "group_by": "model", "since": rfc3339(hour(-23)), "until": rfc3339(hour(1)), "series": [
            point(hour(-2), "an/claude", 1, 0, 5, 5, json!(null)),
            point(hour(-2), "oa/gpt", 1, 0, 1_000_000, 100_000, json!(3.5)),
            point(hour(-2), "oa/mini", 1, 0, 1_000_000, 1_000_000, json!(3.0)),
            point(hour(-1), "oa/gpt", 1, 0, 2_000_000, 0, json!(5.0)),
            point(now, "an/claude", 1, 1, 0, 0, json!(null)),
        ]})
    );
    // Per subject, each model's tokens at its own price; models without pricing add nothing, and a group
    // of only such models has no cost.
    let r = s.get("/api/v1/usage/series?group_by=subject", &s.admin).await;
    assert_eq!(
        r.body["series"],
        json!([
            point(hour(-2), "user:alice@example.com", 3, 0, 2_000_005, 1_100_005, json!(6.5)),
            point(hour(-1), "user:bob@example.com", 1, 0, 2_000_000, 0, json!(5.0)),
            point(now, "virtualaccount:ml-app", 1, 1, 0, 0, json!(null)),
        ])
    );
    // Exactly the visibility of /usage: alice manages ml-app's account, bob sees his own.
    let keys = |body: &serde_json::Value| -> Vec<String> {
        body["series"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_owned()).collect()
    };
    let mine = s.get("/api/v1/usage/series?group_by=subject", &alice).await;
    assert_eq!(keys(&mine.body), ["user:alice@example.com", "virtualaccount:ml-app"]);
    assert_eq!(keys(&s.get("/api/v1/usage/series?group_by=subject", &bob).await.body), ["user:bob@example.com"]);
    // Daily buckets reach back 30 days; model narrows; an explicit window is taken as given.
    let day_start = |t: time::OffsetDateTime| t.replace_time(time::Time::MIDNIGHT);
    let r = s.get("/api/v1/usage/series?bucket=day&model=oa/gpt", &s.admin).await;
    assert_eq!(r.body["until"], rfc3339(day_start(now) + time::Duration::days(1)));
    let days: Vec<(String, i64)> = r.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_str().unwrap().to_owned(), p["requests"].as_i64().unwrap()))
        .collect();
    let mut want = vec![(rfc3339(day_start(hour(-72))), 1)];
    if day_start(hour(-2)) == day_start(hour(-1)) {
        want.push((rfc3339(day_start(hour(-1))), 2));
    } else {
        want.extend([(rfc3339(day_start(hour(-2))), 1), (rfc3339(day_start(hour(-1))), 1)]);
    }
    assert_eq!(days, want);
    let r = s.get(&format!("/api/v1/usage/series?since={}&until={}", rfc3339(hour(-1)), rfc3339(now)), &s.admin).await;
    assert_eq!(r.body["series"], json!([point(hour(-1), "oa/gpt", 1, 0, 2_000_000, 0, json!(5.0))]));

    // Bad parameters are named; a window of more than 2,000 buckets is refused with a way out.
    let long_ago = rfc3339(hour(-24 * 100));
    for (query, param) in [
        ("bucket=week".to_owned(), "bucket"),
        ("group_by=team".to_owned(), "group_by"),
        ("since=yesterday".to_owned(), "since"),
        ("until=tomorrow".to_owned(), "until"),
        (format!("since={long_ago}"), "since"),
        (format!("since={}&until={}", rfc3339(now), rfc3339(hour(-1))), "since"),
    ] {
        let r = s.get(&format!("/api/v1/usage/series?{query}"), &s.admin).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["param"], param, "{query}");
    }
    let r = s.get(&format!("/api/v1/usage/series?since={long_ago}"), &s.admin).await;
    assert!(r.message().contains("at most 2000") && r.message().contains("bucket=day"), "{}", r.message());
    assert_eq!(s.get(&format!("/api/v1/usage/series?bucket=day&since={long_ago}"), &s.admin).await.status, 200);

    // /usage carries the same costs.
    let usage = s.get("/api/v1/usage", &alice).await.body;
    let costs: Vec<(&str, &serde_json::Value)> =
        usage["usage"].as_array().unwrap().iter().map(|r| (r["model"].as_str().unwrap(), &r["cost_usd"])).collect();
    assert_eq!(
        costs,
        [("an/claude", &json!(null)), ("oa/gpt", &json!(3.5)), ("oa/mini", &json!(3.0)), ("an/claude", &json!(null))]
    );
    let doc = s.get("/openapi.json", &s.admin).await.body;
    assert!(doc["paths"]["/api/v1/usage/series"]["get"].is_object());
}

#[tokio::test]
async fn request_bodies_are_stored_only_when_configured() {
    let config = ServerConfig { log_bodies: true, ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    s.app.log_request(gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, Some((3, 4))));
    flushed(&s, 1).await;
    let r = s.get("/api/v1/request-logs", &s.admin).await.body;
    assert_eq!(r["requests"][0]["prompt"], "the secret plan");
    assert_eq!(r["requests"][0]["completion"], "a secret answer");
    // The helper the gateway uses follows the same setting.
    let kept = s.app.apply_body_policy(gateway_request(&s, "user:x@example.com", "oa/gpt", 200, None));
    assert!(kept.prompt.is_some());
}

#[tokio::test]
async fn a_full_request_log_drops_entries_instead_of_blocking() {
    let config = ServerConfig {
        request_log_capacity: 4,
        request_log_flush_interval: std::time::Duration::from_millis(10),
        ..ServerConfig::default()
    };
    let s = TestServer::start_with(config).await;
    let entry = gateway_request(&s, "user:admin@example.com", "oa/gpt", 200, None);
    assert!(s.app.apply_body_policy(entry.clone()).prompt.is_none());
    // No await in between: on this single-threaded runtime the writer cannot run, so the channel fills.
    let started = std::time::Instant::now();
    for _ in 0..100 {
        s.app.log_request(entry.clone());
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "logging must not wait for the writer");
    assert_eq!(s.app.request_logs_dropped(), 96);
    flushed(&s, 4).await;
    let r = s.get("/api/v1/request-logs", &s.admin).await.body;
    assert_eq!(subjects(&r).len(), 4);
    // Once drained there is room again.
    s.app.log_request(entry);
    flushed(&s, 5).await;
    assert_eq!(s.app.request_logs_dropped(), 96);
    assert_eq!(s.app.request_logs_lost(), 0);
}

#[tokio::test]
async fn graceful_shutdown_drains_the_request_log_and_the_spend_ledger() {
    use gatehouse_core::clock::ManualClock;
    use std::sync::Arc;
    let db = gatehouse_store::testing::sqlite();
    let store = gatehouse_store::open(&db.url).await.unwrap();
    // Batches would wait an hour to fill: only the shutdown's drain can write these in time.
    let config =
        ServerConfig { request_log_flush_interval: std::time::Duration::from_secs(3600), ..ServerConfig::default() };
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
    let app = gatehouse_server::AppState::new(store.clone(), clock, Arc::new(gatehouse_server::OsEntropy), config, key)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gatehouse_server::serve(listener, app.clone(), async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let entry = RequestLog {
        at: app.now(),
        subject: "user:admin@example.com".into(),
        subject_id: None,
        token_id: "0123456789abcdef".into(),
        virtual_account: None,
        model: "oa/gpt".into(),
        route: "embeddings".into(),
        status: 200,
        latency_us: 10,
        upstream_latency_us: None,
        input_tokens: Some(5),
        output_tokens: None,
        request_id: None,
        prompt: None,
        completion: None,
        cost_usd: None,
        refused_by: None,
        request_bytes: Some(1_234),
        response_bytes: Some(5_678),
        guardrails: Vec::new(),
    };
    for _ in 0..3 {
        app.log_request(entry.clone());
        // Budget spend is flushed at the request log's interval, and drained with it.
        app.spend_ledger.record("budget/monthly", 1_798_761_600, 250);
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(app.request_logs_written(), 0, "still gathering");
    assert_eq!(store.spend_of("budget/monthly", 1_798_761_600).await.unwrap(), 0, "still gathering");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), served).await.unwrap().unwrap().unwrap();
    let stored = store.request_logs(&gatehouse_store::RequestLogFilter::default()).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].1, entry);
    assert_eq!(store.spend_of("budget/monthly", 1_798_761_600).await.unwrap(), 750);
    // After shutdown the log is closed: entries are counted as dropped, never waited on.
    app.log_request(entry);
    assert_eq!(app.request_logs_dropped(), 1);
}

#[tokio::test]
async fn gateway_calls_are_written_to_the_request_log() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("compat/gpt", false)).await;
    assert_eq!(status, 200);
    let mut streamed = chat_body("claude/sonnet", true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, _) = post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], streamed).await;
    assert_eq!(status, 200);
    let (status, _) =
        post_raw(&s, "/v1/chat/completions", &[("authorization", &auth)], chat_body("secret/hidden", false)).await;
    assert_eq!(status, 403);

    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = s.get("/api/v1/request-logs", &usr).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    let find = |model: &str| rows.iter().find(|r| r["model"] == model).cloned().unwrap();
    let whole = find("compat/gpt");
    assert_eq!((whole["status"].as_u64(), whole["route"].as_str()), (Some(200), Some("chat")));
    assert!(whole["input_tokens"].as_i64().unwrap() > 0 && whole["output_tokens"].as_i64().unwrap() > 0, "{whole}");
    assert!(whole["upstream_latency_us"].as_i64().is_some());
    assert_eq!(whole["subject"], "user:usr@example.com");
    let stream = find("claude/sonnet");
    assert_eq!(stream["status"].as_u64(), Some(200));
    assert!(stream["output_tokens"].as_i64().unwrap() > 0, "{stream}");
    let denied = find("secret/hidden");
    assert_eq!(denied["status"].as_u64(), Some(403));
    assert!(denied.get("prompt").is_none_or(|p| p.is_null()), "bodies are not stored by default");
}
