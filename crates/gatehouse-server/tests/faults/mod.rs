//! Upstream faults: resets, stalls before and during an answer, garbage bytes, endless and huge answers,
//! slow trickles. Each is a clear error (502 `upstream_failed` or 504 `upstream_timeout`, or an error event in a
//! stream that already started) or, for a trickle that keeps coming, a normal answer; and the server keeps
//! serving afterwards.

use std::time::{Duration, Instant};

use gatehouse_mock_upstream::MockConfig;
use serde_json::{json, Value};

use crate::common::gateway::{chat_body, post_raw, stream_text};
use crate::common::TestServer;

const MAX_BODY: usize = 64 * 1024;

struct Faulty {
    s: TestServer,
    auth: String,
    _mock: gatehouse_mock_upstream::MockHandle,
}

/// A server with short upstream timeouts and a 64 KiB body cap, and one account per provider type whose
/// models are the faults (the mock upstream reads them from the model id).
async fn faulty() -> Faulty {
    let cfg = gatehouse_server::ServerConfig {
        upstream_first_byte_timeout: Duration::from_millis(800),
        upstream_timeout: Duration::from_secs(2),
        max_upstream_body: MAX_BODY,
        ..Default::default()
    };
    let s = TestServer::start_with(cfg).await;
    let mock = gatehouse_mock_upstream::start(MockConfig::default()).await;
    let base = mock.base_url();
    let models: Vec<Value> = [
        ("ok", "mock-gpt"),
        ("reset", "cut-10"),
        ("stall", "drip-3000ms-tokens-6"),
        ("silent", "slow-5000ms"),
        ("garbage", "garbage-5000"),
        ("endless", "endless-4096"),
        ("huge", "huge-200000"),
        ("big", "huge-2000"),
        ("trickle", "drip-150ms-tokens-12"),
    ]
    .into_iter()
    .map(|(name, id)| json!({"name": name, "model_id": id, "types": ["chat"]}))
    .collect();
    let accounts = [
        json!({"type": "openai-compatible", "name": "oa", "base_url": format!("{base}/v1"),
               "auth": {"api_key": "sk"}, "models": models}),
        json!({"type": "anthropic", "name": "an", "base_url": base, "auth": {"api_key": "sk-ant"}, "models": models}),
        json!({"type": "aws-bedrock", "name": "br", "base_url": base, "region": "us-east-1",
               "auth": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "aws-secret"}, "models": models}),
    ];
    for a in accounts {
        let r = s.post("/api/v1/provider-accounts", &s.admin, a).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let auth = format!("Bearer {}", s.admin);
    Faulty { s, auth, _mock: mock }
}

impl Faulty {
    async fn call(&self, model: &str, stream: bool) -> (u16, String) {
        post_raw(&self.s, "/v1/chat/completions", &[("authorization", &self.auth)], chat_body(model, stream)).await
    }

    /// A whole answer that must be refused with `status` and the upstream error code.
    async fn refused(&self, model: &str, stream: bool, status: u16, says: &str) {
        let (got, body) = self.call(model, stream).await;
        assert_eq!(got, status, "{model} (stream {stream}): {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{model}: not JSON: {body}"));
        assert_eq!(v["error"]["type"], "upstream_error", "{model}: {body}");
        let code = if status == 504 { "upstream_timeout" } else { "upstream_failed" };
        assert_eq!(v["error"]["code"], code, "{model}: {body}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{model}: {message:?} should say {says:?}");
    }

    /// A stream that started (200) and then failed: an error event, and no `[DONE]`.
    async fn cut_stream(&self, model: &str, says: &str) {
        let (status, body) = self.call(model, true).await;
        assert_eq!(status, 200, "{model}: {body}");
        let (_, done) = stream_text(&body);
        assert!(!done, "{model}: a failed stream must not end with [DONE]: {body}");
        assert!(body.contains("upstream_error") && body.contains(says), "{model}: {body}");
        let event =
            body.lines().filter_map(|l| l.strip_prefix("data: ")).find(|l| l.contains("\"error\"")).unwrap_or_default();
        let code = serde_json::from_str::<Value>(event).map(|v| v["error"]["code"].clone()).unwrap_or_default();
        assert!(code == "upstream_failed" || code == "upstream_timeout", "{model}: {body}");
    }

    async fn still_serving(&self) {
        for p in ["oa", "an", "br"] {
            let (status, body) = self.call(&format!("{p}/ok"), false).await;
            assert_eq!(status, 200, "{p}: {body}");
        }
    }
}

#[tokio::test]
async fn a_connection_reset_is_a_502() {
    let f = faulty().await;
    for p in ["oa", "an", "br"] {
        f.refused(&format!("{p}/reset"), false, 502, "upstream").await;
    }
    f.still_serving().await;
}

#[tokio::test]
async fn an_upstream_silent_before_its_headers_is_a_504() {
    let f = faulty().await;
    let started = Instant::now();
    f.refused("oa/silent", false, 504, "did not answer in time").await;
    f.refused("oa/silent", true, 504, "did not answer in time").await;
    assert!(started.elapsed() < Duration::from_secs(4), "the first-byte timeout must cut the wait");
    f.still_serving().await;
}

#[tokio::test]
async fn a_stream_stalling_midway_ends_in_an_error_event() {
    let f = faulty().await;
    for p in ["oa", "an", "br"] {
        f.cut_stream(&format!("{p}/stall"), "stalled").await;
    }
    f.still_serving().await;
}

#[tokio::test]
async fn garbage_bytes_are_a_502() {
    let f = faulty().await;
    for p in ["oa", "an", "br"] {
        f.refused(&format!("{p}/garbage"), false, 502, "malformed").await;
    }
    // In a stream: a 502, or an error event if the stream had started; never a 200 that claims to be done
    // (garbage without a single event once ended as an empty, finished answer).
    for p in ["oa", "an", "br"] {
        let (status, body) = f.call(&format!("{p}/garbage"), true).await;
        assert!(status == 502 || status == 200, "{p}: {status} {body}");
        assert!(!stream_text(&body).1, "{p}: garbage must not end in [DONE]: {body}");
        assert!(body.contains("upstream_failed"), "{p}: {body}");
    }
    f.still_serving().await;
}

#[tokio::test]
async fn endless_and_huge_answers_are_cut_at_the_body_cap() {
    let f = faulty().await;
    for p in ["oa", "an", "br"] {
        let started = Instant::now();
        f.refused(&format!("{p}/endless"), false, 502, &format!("exceeds {MAX_BODY} bytes")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{p}: an endless answer must be cut at the cap");
        f.refused(&format!("{p}/huge"), false, 502, &format!("exceeds {MAX_BODY} bytes")).await;
        // Under the cap but not an answer: malformed, not a crash.
        f.refused(&format!("{p}/big"), false, 502, "malformed").await;
    }
    // A stream counts as started at its first bytes, so an endless event ends it with an error event.
    for p in ["oa", "an"] {
        let started = Instant::now();
        f.cut_stream(&format!("{p}/endless"), &format!("exceeds {MAX_BODY} bytes")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{p}: an endless event must be cut at the cap");
    }
    f.still_serving().await;
}

#[tokio::test]
async fn a_slow_trickle_that_keeps_coming_is_served() {
    let f = faulty().await;
    for p in ["oa", "an", "br"] {
        let (status, body) = f.call(&format!("{p}/trickle"), true).await;
        assert_eq!(status, 200, "{p}: {body}");
        let (text, done) = stream_text(&body);
        assert!(done && !text.is_empty(), "{p}: {body}");
    }
}
