//! Webhook guardrails sign their requests with the deployment's secret: a receiver that checks the
//! signature (as docs/gateway.md shows) accepts the gateway's requests and refuses a tampered or unsigned one.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_core::Secret;
use gatehouse_server::ServerConfig;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::{chat, control, guardrails, post as call, world};
use crate::common::TestServer;

const SECRET: &str = "whsec-0123456789abcdef";
/// The test server's clock (a `ManualClock`): the receiver's "now".
const NOW: i64 = 1_800_000_000;

/// What the receiver got: the signature header and the raw body, for replaying.
type Seen = Arc<Mutex<Vec<(String, Bytes)>>>;

/// The receiver's check, as the docs describe it: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
/// over the raw body, compared in constant time, and at most five minutes old.
fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> bool {
    let Some(header) = header else { return false };
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

async fn receiver() -> (String, Seen) {
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> Response {
        let sig = headers.get("x-gatehouse-signature").map(|v| v.to_str().unwrap().to_owned());
        seen.lock().unwrap().push((sig.clone().unwrap_or_default(), body.clone()));
        if !verify(SECRET, sig.as_deref(), &body, NOW) {
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        Json(json!({"action": "allow"})).into_response()
    }
    let seen: Seen = Arc::default();
    let app = Router::new().route("/check", post(hook)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn rule(base: &str) -> serde_json::Value {
    let hook = json!({"type": "webhook", "url": format!("{base}/check"), "timeout_ms": 2000});
    guardrails("ext", json!([{"id": "signed", "input_guardrails": [hook], "output_guardrails": [hook]}]))
}

#[tokio::test]
async fn webhook_requests_are_signed_and_a_tampered_one_is_refused() {
    let config =
        ServerConfig { guardrail_webhook_secret: Some(Secret::new(SECRET.to_owned())), ..ServerConfig::default() };
    let s = TestServer::start_with(config).await;
    let (_mock, usr) = world(&s).await;
    let (base, seen) = receiver().await;
    control(&s, rule(&base)).await;
    for stream in [false, true] {
        let a = call(&s, &usr, "/v1/chat/completions", chat("oa/gpt", "hello there", stream), None).await;
        assert_eq!((a.status, a.applied()), (200, "guardrail:ext/signed".to_owned()), "{}", a.body);
    }
    // Input and output, whole and streamed: every request verified.
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    let (sig, body) = got[0].clone();
    assert!(sig.starts_with(&format!("t={NOW},v1=")), "{sig}");
    assert!(verify(SECRET, Some(&sig), &body, NOW));
    assert!(!verify("another-secret-0123", Some(&sig), &body, NOW), "another secret does not verify");
    assert!(!verify(SECRET, Some(&sig), &body, NOW + 301), "an old request is refused");
    // A replay with a changed body (or a moved timestamp) under the captured signature is refused.
    let tampered = String::from_utf8(body.to_vec()).unwrap().replace("hello there", "hello thEre");
    let moved = sig.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
    let http = reqwest::Client::new();
    for (sig, body) in [(sig.clone(), tampered), (moved, String::from_utf8(body.to_vec()).unwrap())] {
        let r = http
            .post(format!("{base}/check"))
            .header("x-gatehouse-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // The same body with the captured signature is accepted: it is the bytes that were signed.
    let r = http
        .post(format!("{base}/check"))
        .header("x-gatehouse-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn without_the_secret_requests_go_unsigned_and_a_checking_receiver_refuses_them() {
    let s = TestServer::start().await;
    let (mock, usr) = world(&s).await;
    let (base, seen) = receiver().await;
    control(&s, rule(&base)).await;
    let msg = call(&s, &usr, "/v1/chat/completions", chat("oa/gpt", "hello", false), None).await.blocked();
    assert!(msg.ends_with("failed: the webhook answered 401"), "{msg}");
    assert_eq!(seen.lock().unwrap()[0].0, "", "no signature header");
    assert_eq!(mock.request_count(), 0);
}
