//! First-run setup: the one-time code a server without an admin prints, and the open routes that spend it.

use std::sync::Arc;

use gatehouse_core::clock::ManualClock;
use gatehouse_server::bootstrap::bootstrap_admin;
use gatehouse_server::{AppState, OsEntropy, ServerConfig};
use gatehouse_store::testing::{self, TestDatabase};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A server on a fresh database where nobody has run `gatehouse bootstrap`.
struct Fresh {
    base: String,
    app: gatehouse_server::App,
    _db: TestDatabase,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fresh() -> Fresh {
    let db = testing::sqlite();
    let store = gatehouse_store::open(&db.url).await.unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let key = Arc::new(gatehouse_server::crypto::SecretKey::from_bytes([7; 32]));
    let app = AppState::new(store, clock, Arc::new(OsEntropy), ServerConfig::default(), key).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    let task = tokio::spawn(async move {
        gatehouse_server::serve(listener, served, std::future::pending()).await.unwrap();
    });
    Fresh { base, app, _db: db, task }
}

struct Answer {
    status: StatusCode,
    body: Value,
    cookie: Option<String>,
}

async fn status(f: &Fresh) -> Value {
    let r = reqwest::get(format!("{}/api/v1/setup", f.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn setup(f: &Fresh, body: Value) -> Answer {
    let r = reqwest::Client::new().post(format!("{}/api/v1/setup", f.base)).json(&body).send().await.unwrap();
    let status = r.status();
    let cookie = r.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or(Value::Null);
    Answer { status, body, cookie }
}

fn body(code: &str, email: &str) -> Value {
    json!({"code": code, "email": email, "password": "a long password"})
}

fn code_of(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_code_creates_the_first_admin_signs_them_in_and_is_audited() {
    let f = fresh().await;
    assert_eq!(status(&f).await, json!({"needed": true, "code_issued": false}));
    let code = gatehouse_server::setup::issue(&f.app).unwrap().into_inner();
    assert_eq!(code.len(), 29, "{code}");
    assert_eq!(status(&f).await, json!({"needed": true, "code_issued": true}));

    let wrong = setup(&f, body("AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", "root@example.com")).await;
    assert_eq!((wrong.status, code_of(&wrong)), (StatusCode::FORBIDDEN, "invalid_setup_code"), "{:?}", wrong.body);
    assert!(wrong.cookie.is_none());

    // Typed in lower case, without the hyphens: still the code.
    let typed = code.replace('-', "").to_lowercase();
    let ok = setup(&f, body(&typed, "root@example.com")).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["subject"], "user:root@example.com");
    let cookie = ok.cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let me: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/me", f.base))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin", "{me}");
    assert_eq!(status(&f).await, json!({"needed": false, "code_issued": false}));

    // The new admin signs in with the password they chose, and no token was minted behind their back.
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", f.base))
        .json(&json!({"email": "root@example.com", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let pats: Value = http
        .get(format!("{}/api/v1/personal-access-tokens", f.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pats.as_array().map(Vec::len), Some(0), "{pats}");

    let events: Value = http
        .get(format!("{}/api/v1/audit-events?limit=100", f.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = events.to_string();
    let setup_event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "setup.complete")
        .unwrap_or_else(|| panic!("no setup.complete event in {text}"));
    assert_eq!(setup_event["object"], "user:root@example.com", "{setup_event}");
    assert!(setup_event["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{setup_event}");
    assert!(text.contains("\"user.create\""), "{text}");
    assert!(!text.to_uppercase().contains(&code.replace('-', "")), "the code leaked into the audit log");
    assert!(!text.contains(&code), "the code leaked into the audit log");

    // Spent, and there is an admin now: the same code is refused as setup being done.
    let again = setup(&f, body(&code, "other@example.com")).await;
    assert_eq!((again.status, code_of(&again)), (StatusCode::FORBIDDEN, "already_set_up"), "{:?}", again.body);
    assert!(gatehouse_server::setup::issue(&f.app).is_none(), "no code once an admin exists");
}

#[tokio::test]
async fn an_admin_made_by_bootstrap_ends_setup_even_with_a_valid_code() {
    let f = fresh().await;
    let code = gatehouse_server::setup::issue(&f.app).unwrap().into_inner();
    bootstrap_admin(f.app.store.as_ref(), "cli@example.com", None, f.app.clock.as_ref(), &OsEntropy).await.unwrap();
    let r = setup(&f, body(&code, "late@example.com")).await;
    assert_eq!((r.status, code_of(&r)), (StatusCode::FORBIDDEN, "already_set_up"), "{:?}", r.body);
    assert!(r.cookie.is_none());
    assert_eq!(status(&f).await["needed"], false);
}

#[tokio::test]
async fn without_a_printed_code_nothing_is_accepted() {
    let f = fresh().await;
    let r = setup(&f, body("", "root@example.com")).await;
    assert_eq!((r.status, code_of(&r)), (StatusCode::FORBIDDEN, "invalid_setup_code"), "{:?}", r.body);
    let r = setup(&f, body("0000-0000-0000-0000-0000-0000", "root@example.com")).await;
    assert_eq!(code_of(&r), "invalid_setup_code");
    assert_eq!(status(&f).await, json!({"needed": true, "code_issued": false}));
}

#[tokio::test]
async fn bad_fields_are_named_and_do_not_spend_the_code() {
    let f = fresh().await;
    let code = gatehouse_server::setup::issue(&f.app).unwrap().into_inner();
    let r = setup(&f, body(&code, "not an email")).await;
    assert_eq!((r.status, r.body["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("email")), "{:?}", r.body);
    let r = setup(&f, json!({"code": code, "email": "root@example.com", "password": "short"})).await;
    assert_eq!(
        (r.status, r.body["error"]["param"].as_str()),
        (StatusCode::BAD_REQUEST, Some("password")),
        "{:?}",
        r.body
    );
    let r = setup(&f, json!({"code": code, "email": "root@example.com"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let form = reqwest::Client::new()
        .post(format!("{}/api/v1/setup", f.base))
        .header("content-type", "text/plain")
        .body(body(&code, "root@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST, "a cross-site form cannot post it");
    assert_eq!(status(&f).await["code_issued"], true);
    let ok = setup(&f, body(&code, "root@example.com")).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn guessing_the_code_is_throttled_like_sign_in() {
    let f = fresh().await;
    let code = gatehouse_server::setup::issue(&f.app).unwrap().into_inner();
    let mut statuses = Vec::new();
    for i in 0..7 {
        let r = setup(&f, body(&format!("AAAA-AAAA-AAAA-AAAA-AAAA-AAA{i}"), "root@example.com")).await;
        statuses.push((r.status.as_u16(), code_of(&r).to_owned()));
    }
    // Five free, as for a sign-in from one address; the sixth failure starts a block.
    assert_eq!(statuses[..6].iter().filter(|(s, c)| *s == 403 && c == "invalid_setup_code").count(), 6, "{statuses:?}");
    assert_eq!(statuses[6], (429, "too_many_attempts".to_owned()));
    // Blocked before the code is looked at: even the right one waits.
    let r = setup(&f, body(&code, "root@example.com")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(r.cookie.is_none());
}

#[tokio::test]
async fn the_setup_routes_are_in_the_openapi_document() {
    let doc = serde_json::to_value(gatehouse_server::openapi::document()).unwrap();
    let path = &doc["paths"]["/api/v1/setup"];
    assert!(path["get"].is_object() && path["post"].is_object(), "{path}");
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SetupBody"]["properties"]["code"].is_object(), "{}", schemas["SetupBody"]);
    assert!(schemas["SetupStatus"]["properties"]["code_issued"].is_object());
}
