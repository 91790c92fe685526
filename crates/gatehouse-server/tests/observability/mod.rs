//! Health, readiness, Prometheus metrics, and trace context to the upstreams (with OTLP export).

mod tracing;

use reqwest::Method;
use serde_json::json;

use crate::common::gateway::{chat_body, gateway_world, post_raw};
use crate::common::TestServer;

/// The metrics as the loopback reads them.
async fn metrics(s: &TestServer) -> String {
    let r = reqwest::get(format!("{}/metrics", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test]
async fn healthz_and_readyz_are_open_and_report_the_snapshot() {
    let s = TestServer::start().await;
    let r = s.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, json!({"status": "ok"})));
    // A write moves the version readiness reports.
    s.user("someone@example.com", "member").await;
    let r = s.raw(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["checks"]["database"]["status"], "ok");
    assert_eq!(r.body["checks"]["snapshot"]["status"], "ok");
    assert_eq!(r.body["snapshot"]["version"].as_i64().unwrap(), s.app.published().version);
    let age = r.body["snapshot"]["age_seconds"].as_f64().unwrap();
    assert!((0.0..5.0).contains(&age), "{age}");
}

/// A TCP relay the test can cut: the server's database connections go through it, so cutting it is a real
/// outage of the database as the server sees it.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(port: u16, target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { break };
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    /// Closes the listener and every relayed connection (the join set is dropped with the task).
    async fn cut(self) -> u16 {
        self.task.abort();
        let _ = self.task.await;
        self.port
    }
}

#[tokio::test]
async fn readyz_is_503_while_the_database_is_unreachable_and_recovers() {
    let Ok(admin_url) = std::env::var(gatehouse_store::testing::POSTGRES_ENV) else {
        println!("skipping: {} is not set", gatehouse_store::testing::POSTGRES_ENV);
        return;
    };
    let mut db = gatehouse_store::testing::postgres(&admin_url).await.unwrap();
    let url = reqwest::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(0, target.clone()).await;
    let mut relayed = url.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.port)).unwrap();
    // Dropping it still removes the database by its name.
    db.url = relayed.to_string();
    let s = TestServer::start_on(db, gatehouse_server::ServerConfig::default()).await;
    let r = s.raw(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    let port = relay.cut().await;
    let started = std::time::Instant::now();
    let r = s.raw(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "bounded by the ping's timeout");
    assert_eq!(r.body["status"], "not_ready");
    assert_eq!(r.body["checks"]["database"]["status"], "failing");
    assert_eq!(r.body["checks"]["snapshot"]["status"], "ok");
    assert!(r.body["snapshot"]["version"].as_i64().unwrap() > 0);
    let text = r.body.to_string();
    assert!(!text.contains("postgres") && !text.contains(&relay_port_text(port)), "the body names no address: {text}");
    // The process itself is alive.
    assert_eq!(s.raw(Method::GET, "/healthz", None, None).await.status, 200);

    let _relay = Relay::start(port, target).await;
    let mut ready = false;
    for _ in 0..50 {
        if s.raw(Method::GET, "/readyz", None, None).await.status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again once the database answers");
}

fn relay_port_text(port: u16) -> String {
    format!(":{port}")
}

#[tokio::test]
async fn metrics_count_requests_decisions_upstreams_and_controls() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let h = [("authorization", auth.as_str())];
    for _ in 0..3 {
        assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("compat/gpt", false)).await.0, 200);
    }
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("compat/broken", false)).await.0, 502);
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("secret/hidden", false)).await.0, 403);
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("made-up/x-9f3a", false)).await.0, 403);
    // A raw path with a name in it, and one that matches no route.
    assert_eq!(s.get("/api/v1/users/usr@example.com", &s.admin).await.status, 200);
    assert_eq!(s.get("/no/such/path-7c1e", &s.admin).await.status, 404);
    let check = json!({"subject": "user:usr@example.com", "permission": "use", "resource": "model:secret/hidden"});
    assert_eq!(s.post("/api/v1/authz/check", &s.admin, check).await.body["allowed"], false);
    // A guardrail that blocks, and a rate limit of one call.
    let controls = r#"
type: gateway-guardrails-config
name: words
rules:
  - id: kw
    when: {models: [compat/gpt]}
    input_guardrails: [{type: block-keywords, keywords: [forbidden-word]}]
---
type: gateway-rate-limiting-config
name: rl
rules:
  - id: one
    when: {models: [claude/sonnet]}
    limit_to: 1
    unit: requests_per_minute
"#;
    let r = crate::common::apply::apply(&s, controls, false).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let blocked = json!({"model": "compat/gpt", "messages": [{"role": "user", "content": "the forbidden-word"}]});
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, blocked).await.0, 400);
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("claude/sonnet", false)).await.0, 200);
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("claude/sonnet", false)).await.0, 429);
    s.app.drain_request_log(std::time::Duration::from_secs(5)).await;

    let m = metrics(&s).await;
    let chat = r#"method="POST",route="/v1/chat/completions""#;
    assert!(value(&m, &format!("gatehouse_http_requests_total{{{chat},status=\"200\"}}")) >= 4.0);
    assert_eq!(value(&m, &format!("gatehouse_http_requests_total{{{chat},status=\"502\"}}")), 1.0);
    assert_eq!(value(&m, &format!("gatehouse_http_requests_total{{{chat},status=\"403\"}}")), 2.0);
    assert!(
        value(&m, &format!("gatehouse_http_request_duration_seconds_bucket{{{chat},class=\"2xx\",le=\"+Inf\"}}"))
            >= 4.0
    );
    assert!(sample(
        &m,
        &format!("gatehouse_http_request_duration_seconds_bucket{{{chat},class=\"2xx\",le=\"0.005\"}}")
    )
    .is_some());
    assert!(sample(&m, &format!("gatehouse_http_request_duration_seconds_sum{{{chat},class=\"2xx\"}}")).is_some());
    // Route templates, never raw paths.
    assert_eq!(
        value(&m, r#"gatehouse_http_requests_total{method="GET",route="/api/v1/users/{email}",status="200"}"#),
        1.0
    );
    assert_eq!(value(&m, r#"gatehouse_http_requests_total{method="GET",route="unmatched",status="404"}"#), 1.0);
    assert!(!m.contains("usr@example.com") && !m.contains("path-7c1e") && !m.contains("x-9f3a"), "{m}");
    // Decisions by reason class.
    assert!(value(&m, r#"gatehouse_authz_decisions_total{source="gateway",decision="allowed",reason="grant"}"#) >= 6.0);
    assert_eq!(
        value(&m, r#"gatehouse_authz_decisions_total{source="gateway",decision="denied",reason="not_granted"}"#),
        2.0
    );
    assert_eq!(
        value(&m, r#"gatehouse_authz_decisions_total{source="check_api",decision="denied",reason="not_granted"}"#),
        1.0
    );
    // Calls by the model that served; a refused one is `unknown`.
    assert!(value(&m, r#"gatehouse_gateway_calls_total{route="chat",model="compat/gpt",status="200"}"#) >= 3.0);
    assert_eq!(value(&m, r#"gatehouse_gateway_calls_total{route="chat",model="unknown",status="403"}"#), 2.0);
    // Upstreams per provider account.
    assert!(value(&m, r#"gatehouse_upstream_duration_seconds_count{account="compat",route="chat"}"#) >= 4.0);
    assert!(
        sample(&m, r#"gatehouse_upstream_duration_seconds_bucket{account="compat",route="chat",le="0.1"}"#).is_some()
    );
    assert_eq!(value(&m, r#"gatehouse_upstream_errors_total{account="compat",route="chat",error="status_5xx"}"#), 1.0);
    // Controls.
    assert_eq!(value(&m, r#"gatehouse_gateway_refusals_total{kind="guardrail"}"#), 1.0);
    assert_eq!(value(&m, r#"gatehouse_gateway_refusals_total{kind="rate_limit"}"#), 1.0);
    assert_eq!(
        value(&m, r#"gatehouse_guardrail_verdicts_total{config="words",check="block-keywords",outcome="blocked"}"#),
        1.0
    );
    // The snapshot, the request log and the pool.
    assert_eq!(value(&m, "gatehouse_snapshot_version"), s.app.published().version as f64);
    assert!((0.0..5.0).contains(&value(&m, "gatehouse_snapshot_age_seconds")));
    assert!(sample(&m, r#"gatehouse_snapshot_reload_duration_seconds_bucket{le="+Inf"}"#).is_some());
    assert!(value(&m, "gatehouse_request_log_written_total") >= 8.0);
    assert_eq!(value(&m, "gatehouse_request_log_dropped_total"), 0.0);
    assert_eq!(value(&m, "gatehouse_request_log_queue_depth"), 0.0);
    assert!(value(&m, "gatehouse_db_pool_max_connections") >= 1.0);
    assert!(sample(&m, "gatehouse_db_pool_idle_connections").is_some());
    // Every sample line is `name{labels} number`, and every family is typed.
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let (_, v) = line.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok(), "{line}");
        let name = line.split(['{', ' ']).next().unwrap();
        let family = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        assert!(m.contains(&format!("# TYPE {family} ")) || m.contains(&format!("# TYPE {name} ")), "{line}");
    }
}

#[tokio::test]
async fn counters_move_with_each_call() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let series = r#"gatehouse_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}"#;
    let before = sample(&metrics(&s).await, series).unwrap_or(0.0);
    for _ in 0..5 {
        post_raw(&s, "/v1/chat/completions", &[("authorization", auth.as_str())], chat_body("compat/gpt", false)).await;
    }
    assert_eq!(value(&metrics(&s).await, series), before + 5.0);
}

#[tokio::test]
async fn metrics_relayed_from_elsewhere_need_the_token() {
    let token = "metrics-token-0123456789";
    let config = gatehouse_server::ServerConfig {
        metrics_token: Some(gatehouse_core::Secret::new(token.into())),
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let get = |bearer: Option<&str>| {
        // Through a proxy: the peer is the loopback, the client is not.
        let mut req =
            reqwest::Client::new().get(format!("{}/metrics", s.base)).header("x-forwarded-for", "203.0.113.7");
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move { req.send().await.unwrap() }
    };
    let r = get(None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "missing_token");
    assert_eq!(get(Some("metrics-token-012345678")).await.status(), 401);
    assert_eq!(get(Some(&s.admin)).await.status(), 401, "an API token is not the metrics token");
    let r = get(Some(token)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("# TYPE gatehouse_http_requests_total counter"));

    // Without a configured token, only the loopback itself.
    let s = TestServer::start().await;
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", s.base))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_openapi_document_lists_the_operating_routes() {
    let s = TestServer::start().await;
    let doc = s.get("/openapi.json", &s.admin).await.body;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(doc["components"]["schemas"]["Readiness"].is_object());
}
