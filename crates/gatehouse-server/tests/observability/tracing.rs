//! `traceparent` to the upstreams, and spans exported over OTLP/HTTP to a collector the test runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::common::gateway::{chat_body, gateway_world, post_raw};
use crate::common::TestServer;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT}-01")
}

#[tokio::test]
async fn without_export_the_incoming_context_goes_upstream_as_it_came() {
    let s = TestServer::start().await;
    let (mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let tp = traceparent();
    let h = [("authorization", auth.as_str()), ("traceparent", tp.as_str()), ("tracestate", "vendor=abc,other=1")];
    for model in ["compat/gpt", "claude/sonnet", "bedrock/haiku"] {
        mock.clear();
        assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body(model, false)).await.0, 200, "{model}");
        let seen = mock.last_request().unwrap();
        assert_eq!(seen.header("traceparent"), Some(tp.as_str()), "{model}");
        assert_eq!(seen.header("tracestate"), Some("vendor=abc,other=1"), "{model}");
    }
    // None is made up, and a malformed one is not passed on.
    mock.clear();
    post_raw(&s, "/v1/chat/completions", &h[..1], chat_body("compat/gpt", false)).await;
    assert_eq!(mock.last_request().unwrap().header("traceparent"), None);
    let bad = [("authorization", auth.as_str()), ("traceparent", "00-zz-00f067aa0ba902b7-01"), ("tracestate", "a=b")];
    mock.clear();
    post_raw(&s, "/v1/chat/completions", &bad, chat_body("compat/gpt", false)).await;
    let seen = mock.last_request().unwrap();
    assert_eq!((seen.header("traceparent"), seen.header("tracestate")), (None, None));
}

/// An OTLP/HTTP collector on the loopback that keeps every export request.
async fn collector() -> (String, Arc<Mutex<Vec<ExportTraceServiceRequest>>>) {
    let got: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(ExportTraceServiceRequest::decode(body).unwrap());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn spans(got: &Mutex<Vec<ExportTraceServiceRequest>>) -> Vec<Span> {
    got.lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        _ => None,
    })
}

#[tokio::test]
async fn a_chat_call_is_exported_as_a_span_of_the_incoming_trace_with_a_child_per_attempt() {
    let (endpoint, got) = collector().await;
    let config = gatehouse_server::ServerConfig {
        otlp_endpoint: Some(endpoint),
        otlp_export_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let (mock, usr) = gateway_world(&s).await;
    let auth = format!("Bearer {usr}");
    let tp = traceparent();
    let h = [("authorization", auth.as_str()), ("traceparent", tp.as_str())];
    mock.clear();
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h, chat_body("compat/gpt", false)).await.0, 200);
    // The upstream sees the same trace, under a span of ours.
    let seen = mock.last_request().unwrap().header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = seen.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE_ID, "01"), "{seen}");
    assert_ne!(parts[2], PARENT, "a new span id for the upstream");

    let mut exported = Vec::new();
    for _ in 0..100 {
        exported = spans(&got);
        if exported.iter().any(|s| s.name == "upstream attempt") && exported.iter().any(|s| s.name == "gateway chat") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = exported.iter().find(|s| s.name == "gateway chat").expect("the call's span arrives");
    assert_eq!(hex::encode(&call.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&call.parent_span_id), PARENT);
    assert_eq!(attribute(call, "gatehouse.route").as_deref(), Some("chat"));
    assert_eq!(attribute(call, "gatehouse.model").as_deref(), Some("compat/gpt"));
    assert_eq!(attribute(call, "gatehouse.provider_account").as_deref(), Some("compat"));
    assert_eq!(attribute(call, "http.response.status_code").as_deref(), Some("200"));
    let attempt = exported.iter().find(|s| s.name == "upstream attempt").unwrap();
    assert_eq!(attempt.trace_id, call.trace_id);
    assert_eq!(attempt.parent_span_id, call.span_id);
    assert_eq!(hex::encode(&attempt.span_id), parts[2], "the upstream's parent is the attempt");

    // Without an incoming context, export starts a trace of its own and the upstream is told of it.
    mock.clear();
    assert_eq!(post_raw(&s, "/v1/chat/completions", &h[..1], chat_body("compat/gpt", false)).await.0, 200);
    let seen = mock.last_request().unwrap().header("traceparent").unwrap().to_owned();
    assert!(!seen.contains(TRACE_ID), "{seen}");
}

#[tokio::test]
async fn mcp_upstreams_get_the_trace_context_too() {
    let s = TestServer::start().await;
    let mock = gatehouse_mock_upstream::start(gatehouse_mock_upstream::MockConfig::default()).await;
    let usr = s.user("dana@example.com", "member").await;
    let server = serde_json::json!({"type": "remote", "name": "up", "url": mock.url("/mcp"),
        "auth": {"type": "bearer", "token": "key-upstream-123"},
        "collaborators": [{"subject": "user:dana@example.com", "role": "mcp-server-user"}]});
    let r = s.post("/api/v1/mcp-servers", &s.admin, server).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let tp = traceparent();
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18"}});
    mock.clear();
    let r = reqwest::Client::new()
        .post(format!("{}/mcp/up", s.base))
        .bearer_auth(&usr)
        .header("accept", "application/json, text/event-stream")
        .header("traceparent", &tp)
        .header("tracestate", "vendor=abc")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.header("traceparent"), Some(tp.as_str()));
    assert_eq!(seen.header("tracestate"), Some("vendor=abc"));
    let m = reqwest::get(format!("{}/metrics", s.base)).await.unwrap().text().await.unwrap();
    assert!(m.contains(r#"gatehouse_authz_decisions_total{source="mcp",decision="allowed",reason="grant"} 1"#), "{m}");
}
