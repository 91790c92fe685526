//! Budget alerts: once per counter, period and threshold, as an audit event and a signed webhook POST.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use gatehouse_server::limits::alerts::{signature, Webhook};
use gatehouse_server::ServerConfig;
use serde_json::{json, Value};

use super::{control, send, world};
use crate::common::TestServer;

const SECRET: &str = "webhook-secret-0123456789";

/// A webhook receiver that refuses its first delivery (to show retries) and records the rest.
async fn receiver() -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let rec = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let rec = rec.clone();
            let calls = calls.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n == 1 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                rec.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn thresholds_fire_once_as_an_audit_event_and_a_signed_retried_webhook() {
    let (url, got) = receiver().await;
    let hook = Webhook { url: url.parse().unwrap(), secret: gatehouse_core::Secret::new(SECRET.to_owned()) };
    let s = TestServer::start_with(ServerConfig { alert_webhook: Some(hook), ..ServerConfig::default() }).await;
    let (_mock, usr, _) = world(&s, 0).await;
    // 9 tokens a call against 40 per UTC day, counted per user: 50% is reached by the third call, 90% by
    // the fourth (36 tokens); more calls past them fire nothing more.
    control(
        &s,
        json!({"type": "gateway-budget-config", "name": "tokens", "rules": [
        {"id": "daily", "limit_to": 40, "unit": "tokens_per_day", "budget_applies_per": ["user"], "mode": "audit",
         "alerts": {"thresholds": [50, 90]}}]}),
    )
    .await;
    for _ in 0..6 {
        assert_eq!(send(&s, &usr, super::chat("acct/m"), None).await.status(), 200);
    }
    // The first delivery of the first alert is refused, retried a second later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while got.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "alerts not delivered: {:?}", got.lock().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let deliveries = got.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let mut thresholds = Vec::new();
    for (headers, body) in &deliveries {
        let sig = headers["x-gatehouse-signature"].to_str().unwrap();
        let t: i64 = sig.trim_start_matches("t=").split(',').next().unwrap().parse().unwrap();
        assert_eq!(sig, signature(SECRET, t, body.as_bytes()), "signed with the shared secret");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "budget.alert");
        assert_eq!(v["rule"], "daily");
        assert_eq!(v["applies_to"]["user"], "usr@example.com");
        assert_eq!(v["limit"], 40);
        thresholds.push(v["threshold_percent"].as_u64().unwrap());
    }
    thresholds.sort();
    assert_eq!(thresholds, vec![50, 90]);
    let events = s.get("/api/v1/audit-events?limit=1000", &s.admin).await.body;
    let alerts: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["action"] == "budget.alert").collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(!events.to_string().contains(SECRET));
}
