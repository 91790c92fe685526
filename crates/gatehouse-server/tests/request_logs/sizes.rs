//! Request and answer sizes in the request log, for model calls whole and streamed.

use serde_json::Value;

use crate::common::gateway::{chat_body, gateway_world};
use crate::common::TestServer;

/// Sends `body` as the gateway's client would and returns the bytes of the request and of the answer.
async fn sizes_of(s: &TestServer, token: &str, body: &Value) -> (u64, u64) {
    let text = serde_json::to_vec(body).unwrap();
    let sent = text.len() as u64;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    (sent, r.bytes().await.unwrap().len() as u64)
}

/// The newest log rows, once there are `n`.
async fn rows(s: &TestServer, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let rows =
            s.get("/api/v1/request-logs", &s.admin).await.body["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} request log rows");
}

#[tokio::test]
async fn request_and_answer_sizes_are_logged_for_whole_and_streamed_answers() {
    let s = TestServer::start().await;
    let (_mock, usr) = gateway_world(&s).await;
    let whole = sizes_of(&s, &usr, &chat_body("compat/gpt", false)).await;
    let streamed = sizes_of(&s, &usr, &chat_body("compat/gpt", true)).await;
    // A body that does not parse: its size is still known, and nothing was answered by an upstream.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .bearer_auth(&usr)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let refused = r.bytes().await.unwrap().len() as u64;

    let rows = rows(&s, 3).await;
    let size = |r: &Value| (r["request_bytes"].as_u64(), r["response_bytes"].as_u64());
    assert_eq!(size(&rows[2]), (Some(whole.0), Some(whole.1)), "{}", rows[2]);
    // A stream: every event as sent, the end marker included.
    assert!(streamed.1 > whole.1, "{streamed:?}");
    assert_eq!(size(&rows[1]), (Some(streamed.0), Some(streamed.1)), "{}", rows[1]);
    assert_eq!(size(&rows[0]), (Some(10), Some(refused)), "{}", rows[0]);
}
