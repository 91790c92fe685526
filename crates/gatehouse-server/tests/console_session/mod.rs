//! The console's sign-in over HTTP: the session cookie, its CSRF token, expiry, sign-out, and the
//! deactivated-account answer.

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::TestServer;

struct Signed {
    cookie: String,
    csrf: String,
    headers: HeaderMap,
}

async fn sign_in(s: &TestServer, email: &str, password: &str) -> Result<Signed, (StatusCode, Value)> {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/session", s.base))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let set = headers.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let value = set.split(';').next().unwrap().strip_prefix("gatehouse_session=").unwrap().to_owned();
    Ok(Signed { cookie: value, csrf: body["csrf_token"].as_str().unwrap().to_owned(), headers })
}

async fn with_cookie(
    s: &TestServer,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", s.base))
        .header(COOKIE, format!("theme=dark; gatehouse_session={cookie}"));
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_console_is_served_at_the_root_without_a_token_with_a_strict_content_security_policy() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    for (path, kind) in [("/", "text/html"), ("/console/app.js", "text/javascript"), ("/console/app.css", "text/css")] {
        let r = http.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
    }
    let head = http.head(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    // Only those files are open: anything else under /console still needs a token.
    let other = http.get(format!("{}/console/secrets", s.base)).send().await.unwrap();
    assert_eq!(other.status(), 401);
}

#[tokio::test]
async fn every_console_module_is_served_open_and_every_import_names_a_served_module() {
    let s = TestServer::start().await;
    let http = reqwest::Client::new();
    let served: Vec<&str> = gatehouse_server::console::assets::SCRIPTS.iter().map(|(p, _)| *p).collect();
    assert!(served.contains(&"/console/app.js"), "the entry module");
    for path in &served {
        let r = http.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"), "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let text = r.text().await.unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let file = line.rsplit_once("from './").and_then(|(_, f)| f.split_once('\'')).map(|(f, _)| f);
            let file = file.unwrap_or_else(|| panic!("{path}: an import that is not a sibling module: {line}"));
            assert!(
                served.contains(&format!("/console/{file}").as_str()),
                "{path} imports {file}, which is not served"
            );
        }
    }
    // The page loads the entry as a module; other scripts under /console are not open.
    let page = http.get(format!("{}/", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/console/app.js"></script>"#), "{page}");
    let other = http.get(format!("{}/console/nope.js", s.base)).send().await.unwrap();
    assert_eq!(other.status(), 401);
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_cookie_that_authenticates_reads() {
    let s = TestServer::start().await;
    let signed = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    let set = signed.headers[SET_COOKIE].to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(signed.headers["cache-control"], "no-store");
    let (status, me) = with_cookie(&s, Method::GET, "/api/v1/me", &signed.cookie, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["subject"], "user:admin@example.com");
    let (status, session) = with_cookie(&s, Method::GET, "/api/v1/auth/session", &signed.cookie, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(session["csrf_token"], signed.csrf.as_str());
    assert!(session["expires_at"].is_string());
    // The CSRF token is for the cookie; asked with the session as a bearer token there is none to give.
    let r = s.get("/api/v1/auth/session", &signed.cookie).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[tokio::test]
async fn behind_tls_the_cookie_is_secure() {
    // Behind a proxy the operator trusts (here the test's own address): see security_signin for others.
    let config = gatehouse_server::ServerConfig {
        trusted_proxies: vec![gatehouse_server::client::IpNet::parse("127.0.0.1").unwrap()],
        ..Default::default()
    };
    let s = TestServer::start_with(config).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/session", s.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "admin@example.com", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_write_with_only_the_cookie_needs_the_sessions_csrf_token() {
    let s = TestServer::start().await;
    let a = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    let b = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    let team = |n: &str| Some(json!({"name": n}));
    let (status, body) = with_cookie(&s, Method::POST, "/api/v1/teams", &a.cookie, None, team("t1")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("x-csrf-token"));
    // Another session's token does not do.
    let (status, _) = with_cookie(&s, Method::POST, "/api/v1/teams", &a.cookie, Some(&b.csrf), team("t1")).await;
    assert_eq!(status, 403);
    assert_eq!(s.get("/api/v1/teams/t1", &s.admin).await.status, 404);
    let (status, body) = with_cookie(&s, Method::POST, "/api/v1/teams", &a.cookie, Some(&a.csrf), team("t1")).await;
    assert_eq!(status, 201, "{body}");
    // DELETE and PUT too.
    let (status, _) = with_cookie(&s, Method::DELETE, "/api/v1/teams/t1", &a.cookie, None, None).await;
    assert_eq!(status, 403);
    assert_eq!(s.get("/api/v1/teams/t1", &s.admin).await.status, 200);
}

#[tokio::test]
async fn a_form_post_cannot_sign_anyone_in() {
    let s = TestServer::start().await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/session", s.base))
        .header("content-type", "text/plain")
        .body(r#"{"email":"admin@example.com","password":"correct-horse"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "content-type");
}

#[tokio::test]
async fn only_a_login_session_is_accepted_in_the_cookie_and_a_header_wins() {
    let s = TestServer::start().await;
    let (status, _) = with_cookie(&s, Method::GET, "/api/v1/me", &s.admin, None, None).await;
    assert_eq!(status, 401, "a PAT in the cookie");
    let bob = s.user("bob@example.com", "member").await;
    let signed = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/me", s.base))
        .bearer_auth(&bob)
        .header(COOKIE, format!("gatehouse_session={}", signed.cookie))
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["subject"], "user:bob@example.com");
    // A bearer token needs no CSRF token: a browser never adds one on its own.
    let r = s.post("/api/v1/personal-access-tokens", &bob, json!({"name": "x"})).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn a_session_expires_and_signing_out_ends_it_and_clears_the_cookie() {
    let s = TestServer::start().await;
    let signed = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    s.advance(12 * 3600 - 1);
    assert_eq!(with_cookie(&s, Method::GET, "/api/v1/me", &signed.cookie, None, None).await.0, 200);
    s.advance(2);
    assert_eq!(with_cookie(&s, Method::GET, "/api/v1/me", &signed.cookie, None, None).await.0, 401);

    let signed = sign_in(&s, "admin@example.com", "correct-horse").await.unwrap();
    let r = reqwest::Client::new()
        .delete(format!("{}/api/v1/auth/session", s.base))
        .header(COOKIE, format!("gatehouse_session={}", signed.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "signing out is a write: it needs the CSRF token too");
    let r = reqwest::Client::new()
        .delete(format!("{}/api/v1/auth/session", s.base))
        .header(COOKIE, format!("gatehouse_session={}", signed.cookie))
        .header("x-csrf-token", &signed.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("gatehouse_session=;") && set.contains("Max-Age=0"), "{set}");
    assert_eq!(with_cookie(&s, Method::GET, "/api/v1/me", &signed.cookie, None, None).await.0, 401);
}

#[tokio::test]
async fn a_deactivated_account_is_told_so_only_with_the_right_password() {
    let s = TestServer::start().await;
    s.user("dana@example.com", "member").await;
    let open = sign_in(&s, "dana@example.com", "password-123").await.unwrap();
    let r =
        s.put("/api/v1/users/dana@example.com", &s.admin, json!({"email": "dana@example.com", "active": false})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(with_cookie(&s, Method::GET, "/api/v1/me", &open.cookie, None, None).await.0, 401);

    let (status, body) = sign_in(&s, "dana@example.com", "password-123").await.err().unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "account_deactivated");
    let (status, wrong) = sign_in(&s, "dana@example.com", "wrong-password").await.err().unwrap();
    assert_eq!(status, 401);
    let (_, unknown) = sign_in(&s, "nobody@example.com", "password-123").await.err().unwrap();
    assert_eq!(wrong, unknown, "a wrong password says nothing about the account");
    // The API's login keeps the contract: the same answer as a wrong password.
    let r = s.login("dana@example.com", "password-123").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, unknown);
}
