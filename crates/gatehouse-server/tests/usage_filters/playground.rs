//! The console playground's way into the gateway: the signed-in user's session cookie, with the CSRF token
//! for the call, acting as that user with exactly their access and logged like any call.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Method;
use serde_json::{json, Value};

use super::flushed;
use crate::common::gateway::{gateway_world, stream_text};
use crate::common::TestServer;

struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(s: &TestServer, email: &str) -> Session {
    let r = s.post(&format!("/api/v1/users/{email}/password"), &s.admin, json!({"password": "password-123"})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/session", s.base))
        .json(&json!({"email": email, "password": "password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().strip_prefix("gatehouse_session=").unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    Session { cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() }
}

/// A request with the session cookie, and the CSRF token when given; the status, headers and raw body.
async fn with_session(
    s: &TestServer,
    method: Method,
    path: &str,
    session: &Session,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", s.base))
        .header(COOKIE, format!("gatehouse_session={}", session.cookie));
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

fn chat(model: &str) -> Value {
    json!({"model": model, "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello from the playground"}]})
}

#[tokio::test]
async fn a_console_session_calls_the_gateway_as_its_user_with_the_csrf_token_and_no_more() {
    let s = TestServer::start().await;
    let (_mock, _usr) = gateway_world(&s).await;
    let usr = sign_in(&s, "usr@example.com").await;
    let other = s.user("other@example.com", "member").await;
    drop(other);
    let other = sign_in(&s, "other@example.com").await;

    // The models offered are the user's own: not the account nobody was granted.
    let (status, _, body) = with_session(&s, Method::GET, "/v1/models", &usr, None, None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"compat/gpt".to_owned()), "{ids:?}");
    assert!(!ids.iter().any(|m| m.starts_with("secret/")), "{ids:?}");
    let (_, _, body) = with_session(&s, Method::GET, "/v1/models", &other, None, None).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["data"], json!([]));

    // A call with the cookie alone is what another site could make the browser send: refused, not logged.
    let (status, _, body) =
        with_session(&s, Method::POST, "/v1/chat/completions", &usr, None, Some(chat("compat/gpt"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("csrf_header_required"), "{body}");
    // Another session's token does not do either.
    let (status, _, _) =
        with_session(&s, Method::POST, "/v1/chat/completions", &usr, Some(&other.csrf), Some(chat("compat/gpt"))).await;
    assert_eq!(status, 403);

    // With its token the call streams, as the user, with the usage asked for.
    let (status, headers, body) =
        with_session(&s, Method::POST, "/v1/chat/completions", &usr, Some(&usr.csrf), Some(chat("compat/gpt"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let (text, done) = stream_text(&body);
    assert!(done && !text.is_empty(), "{body}");
    assert!(body.contains("\"usage\""), "no usage chunk: {body}");
    let request_id = headers["x-request-id"].to_str().unwrap().to_owned();

    // No more than the user's access: a model they may not use is refused as for their token.
    let (status, _, body) =
        with_session(&s, Method::POST, "/v1/chat/completions", &usr, Some(&usr.csrf), Some(chat("secret/hidden")))
            .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("model_access_denied"), "{body}");
    let (status, _, _) =
        with_session(&s, Method::POST, "/v1/chat/completions", &other, Some(&other.csrf), Some(chat("compat/gpt")))
            .await;
    assert_eq!(status, 403);

    // Logged like any call: the user's, under the call's request id, readable by them in Usage.
    flushed(&s, 3).await;
    let path = format!("/api/v1/request-logs?request_id={request_id}");
    let (status, _, body) = with_session(&s, Method::GET, &path, &usr, None, None).await;
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let row = &page["requests"][0];
    assert_eq!(page["requests"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(row["subject"], "user:usr@example.com");
    assert_eq!(row["model"], "compat/gpt");
    assert_eq!(row["status"], 200);
    assert!(row["output_tokens"].as_i64().unwrap() > 0, "{row}");
    let (_, _, body) = with_session(&s, Method::GET, "/api/v1/usage?user=usr@example.com", &usr, None, None).await;
    let usage: Value = serde_json::from_str(&body).unwrap();
    let gpt = usage["usage"].as_array().unwrap().iter().find(|u| u["model"] == "compat/gpt").unwrap();
    assert_eq!(gpt["requests"], 1, "{usage}");
}
